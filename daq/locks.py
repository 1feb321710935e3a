"""Lock files that say "a process is writing this", the same way on Linux, macOS and Windows.

A process that writes a run file (a RunWriter, `loopscope fit`, a reanalysis replacing it)
holds an exclusive lock on a *sidecar* beside it, `<run file>.lock`, from before the run file
is created or opened until after it is closed; then it deletes the sidecar. The lock is on the
sidecar, never on the run file: on Windows a lock is a mandatory byte-range lock, and one on
the HDF5 file would stop HDF5's own writes (and every reader). The operating system drops the
locks of a process that dies (SIGKILL and power cuts included), so:

- no sidecar, or a sidecar nobody holds the lock of (a stale one, left by a killed writer):
  no writer is alive;
- a sidecar whose lock is held: a writer is alive.

Checking takes a *shared* lock for an instant and never reads the sidecar (on Windows the
locked range cannot be read). portalocker provides the locks (flock on POSIX, LockFileEx on
Windows) and is imported only when a lock is taken, so importing loopscope needs nothing
POSIX-only. On Windows without pywin32 portalocker has no shared locks; checks then take an
exclusive one for an instant and look again before they conclude a writer lives.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

LOCK_SUFFIX = ".lock"

# How long a writer waits for a lock that another process holds only to check it (microseconds
# in practice); a writer's lock is held for hours, so anything longer means a live writer.
ACQUIRE_WAIT_S = 1.0
# Checks with the exclusive fallback (no shared locks): attempts, spaced by this much.
_CHECK_ATTEMPTS = 5
_CHECK_SPACING_S = 0.02


class LockBusy(RuntimeError):
    """The lock is held by another process (or, for a check, a writer is alive)."""


def sidecar_path(path: str | Path) -> Path:
    """The lock file of a run file: `<run file>.lock` beside the file the path resolves to
    (through symbolic links, so every spelling of a path shares one lock)."""
    real = Path(os.path.realpath(path))
    return real.with_name(real.name + LOCK_SUFFIX)


def _portalocker():
    import portalocker

    return portalocker


def _try_lock(fh, exclusive: bool) -> tuple[bool, bool]:
    """(got it, it was a shared lock). Never blocks."""
    pl = _portalocker()
    kind = pl.LockFlags.EXCLUSIVE if exclusive else pl.LockFlags.SHARED
    try:
        pl.lock(fh, kind | pl.LockFlags.NON_BLOCKING)
    except ImportError:
        # Windows without pywin32: no shared locks. An exclusive one answers "is it held?" too.
        if exclusive:
            raise
        got, _ = _try_lock(fh, True)
        return got, False
    except pl.AlreadyLocked:
        return False, not exclusive
    return True, not exclusive


def _unlock(fh) -> None:
    pl = _portalocker()
    try:
        pl.unlock(fh)
    except pl.LockException:
        pass


def lock_held(lock_file: str | Path) -> bool:
    """True while some process holds the lock of `lock_file` (a lock file, not a run file).

    Never creates the file and never reads it."""
    try:
        fh = open(lock_file, "rb")
    except FileNotFoundError:
        return False
    with fh:
        for _ in range(_CHECK_ATTEMPTS):
            got, shared = _try_lock(fh, exclusive=False)
            if got:
                _unlock(fh)
                if os.path.exists(lock_file) and not _same_file(fh, Path(lock_file)):
                    # a writer let go and deleted it while the next one made a new one: ask that one
                    return lock_held(lock_file)
                return False
            if shared:
                return True  # only an exclusive holder refuses a shared lock: a writer
            time.sleep(_CHECK_SPACING_S)  # the exclusive fallback: perhaps another check, for an instant
        return True


def writer_alive(path: str | Path) -> bool:
    """True while a process (on this machine, or one sharing this folder) writes the run file:
    it holds the lock of the file's sidecar."""
    return lock_held(sidecar_path(path))


def _same_file(fh, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fh.fileno())
    if not on_disk.st_ino or not held.st_ino:  # a file system without file ids
        return True
    return (on_disk.st_ino, on_disk.st_dev) == (held.st_ino, held.st_dev)


class FileLock:
    """An exclusive lock on a lock file, held until release() (or the end of a with block).

    remove=True deletes the lock file on release (a run file's sidecar); a queue keeps its
    lock file. acquire() raises LockBusy when another process holds the lock."""

    def __init__(self, lock_file: str | Path, remove: bool = True):
        self.lock_file = Path(lock_file)
        self.remove = remove
        self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self, wait_s: float = ACQUIRE_WAIT_S) -> "FileLock":
        deadline = time.monotonic() + wait_s
        while True:
            fh = open(self.lock_file, "ab")  # created if missing, never truncated
            try:
                os.set_inheritable(fh.fileno(), False)  # no child process keeps it
                got, _ = _try_lock(fh, exclusive=True)
                if got:
                    if _same_file(fh, self.lock_file):
                        self._fh = fh
                        return self
                    # the holder before us deleted the file as it let go: lock the new one
                    _unlock(fh)
            except BaseException:
                fh.close()
                raise
            fh.close()
            if time.monotonic() >= deadline:
                raise LockBusy(f"{self.lock_file} is locked by another process")
            time.sleep(0.01)

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        removed = False
        if self.remove:
            try:
                # POSIX: delete while still holding it, so nobody locks a name about to vanish
                os.unlink(self.lock_file)
                removed = True
            except OSError:
                pass  # Windows: an open file cannot be deleted; tried again once closed
        # unlock explicitly: a forked child that inherited the descriptor would keep the lock
        _unlock(fh)
        fh.close()
        if self.remove and not removed:
            try:
                os.unlink(self.lock_file)
            except OSError:
                pass  # open for a check right now: a sidecar nobody holds means "no writer" anyway

    def __enter__(self) -> "FileLock":
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class RunFileLock(FileLock):
    """The writer's lock of a run file (on its sidecar); deleted again on release."""

    def __init__(self, path: str | Path):
        super().__init__(sidecar_path(path), remove=True)
        self.path = Path(path)


def hdf5_lock_blocks_writers(path: str | Path) -> bool:
    """True when a process holds HDF5's own *exclusive* file lock on `path` (a writer that did
    not open it in SWMR mode, e.g. an h5py session with mode "r+"); False when only readers
    hold HDF5's shared lock, or nobody.

    HDF5 locks files only on POSIX (flock, as portalocker does there); on Windows its file
    locking does nothing, and this returns False without touching the file."""
    if os.name != "posix":
        return False
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return False
    with fh:
        got, _ = _try_lock(fh, exclusive=False)
        if got:
            _unlock(fh)
        return not got

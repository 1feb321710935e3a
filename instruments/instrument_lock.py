"""One run at a time on an instrument: a lock per VISA resource, held from connect to close.

Two programs driving one magnet is the accident this prevents: a second `loopscope run`, the
window's readout poller or a notebook on the same station gets a clear refusal naming who
holds the instrument, before it sends a single byte (or waits, when asked to).

The lock is an operating-system file lock (portalocker: flock on POSIX, LockFileEx on
Windows) on a small file per resource in the lock directory: the system drops it when the
holding process ends, SIGKILL and power cuts included, so a lock is never stale. Beside it,
``<name>.holder.json`` says who holds it (process, host, user, command, station, since); it
is informational only: a holder file whose lock is free is what a dead process left, and is
replaced.

The lock directory is ``$LOOPSCOPE_LOCK_DIR`` or ``<system temp>/loopscope-instrument-locks``,
machine-wide on POSIX (one directory for every user of the PC). The same instrument reached
through two spellings of one resource (``TCPIP0::localhost::7180::SOCKET`` and
``TCPIP::127.0.0.1::7180::SOCKET``) is one lock; two PCs sharing one instrument over a
network are not seen by this lock (the instrument's own single-session limit is all there is).
"""
from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import portalocker

from loopscope.instruments.roles import InstrumentError

POLL_S = 0.1


class InstrumentBusyError(InstrumentError):
    """Another process holds the instrument. Not transient: a run does not retry it."""


def lock_dir() -> Path:
    configured = os.environ.get("LOOPSCOPE_LOCK_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "loopscope-instrument-locks"
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        try:  # every user of the PC takes locks here (sticky, like /tmp)
            os.chmod(path, 0o1777)
        except OSError:
            pass
    return path


def canonical_resource(resource: str) -> str:
    """One spelling per instrument: upper case, no board number, localhost as 127.0.0.1."""
    parts = [p.strip().upper() for p in resource.strip().split("::")]
    if parts[0].startswith("ASRL"):
        # a serial resource's "board" is the port itself (ASRL3 = ASRLCOM3 = COM3,
        # ASRL/dev/ttyUSB0): two ports are two instruments
        parts[0] = re.sub(r"^ASRLCOM(?=\d+$)", "ASRL", parts[0])
    else:
        parts[0] = re.sub(r"\d+$", "", parts[0])
    return "::".join("127.0.0.1" if i and p in ("LOCALHOST", "[::1]") else p for i, p in enumerate(parts))


def _lock_name(resource: str) -> str:
    canon = canonical_resource(resource)
    readable = re.sub(r"[^A-Za-z0-9.]+", "_", canon).strip("_")[:60]
    return f"{readable}-{hashlib.sha1(canon.encode()).hexdigest()[:10]}"


def _holder_record(instrument: str, station: str) -> dict:
    try:
        user = getpass.getuser()
    except Exception:  # no user name on some service accounts
        user = "?"
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    return {"pid": os.getpid(), "host": socket.gethostname(), "user": user, "command": command[:200],
            "station": station, "instrument": instrument,
            "since": datetime.now().astimezone().isoformat(timespec="seconds")}


def describe_holder(holder: dict | None) -> str:
    if not holder:
        return "another process (it left no holder record)"
    return (f"process {holder.get('pid')} of {holder.get('user')} on {holder.get('host')} "
            f"(`{holder.get('command')}`, station {holder.get('station')!r}, as {holder.get('instrument')!r}, "
            f"since {holder.get('since')})")


def read_holder(resource: str) -> dict | None:
    """Who holds the resource's lock, from its holder file (None: nobody recorded)."""
    try:
        return json.loads((lock_dir() / f"{_lock_name(resource)}.holder.json").read_text())
    except (OSError, ValueError):
        return None


class InstrumentLock:
    """A held lock on one resource. release() (or close of the role) gives it back."""

    # resources this process holds, by canonical name: a second session of the same process
    # (a window's poller and its own run) is refused too, and named as this process
    _held: dict[str, "InstrumentLock"] = {}
    _held_lock = threading.Lock()

    def __init__(self, resource: str, handle, holder_path: Path, record: dict):
        self.resource = resource
        self._handle = handle
        self._holder_path = holder_path
        self.record = record

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with InstrumentLock._held_lock:
            InstrumentLock._held.pop(canonical_resource(self.resource), None)
        try:
            self._holder_path.unlink()
        except OSError:
            pass
        try:
            portalocker.unlock(handle)
        except Exception:  # closing the handle drops the lock anyway
            pass
        handle.close()

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __repr__(self) -> str:
        return f"<InstrumentLock {self.resource} {'held' if self.held else 'released'}>"


def acquire(resource: str, *, instrument: str = "", station: str = "", wait_s: float = 0.0) -> InstrumentLock:
    """Take the lock of `resource` or raise InstrumentBusyError naming the holder (after
    waiting up to wait_s seconds for it to be released)."""
    canon = canonical_resource(resource)
    directory = lock_dir()
    name = _lock_name(resource)
    path = directory / f"{name}.lock"
    holder_path = directory / f"{name}.holder.json"
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        with InstrumentLock._held_lock:
            mine = InstrumentLock._held.get(canon)
        if mine is None:
            handle = _open_lock_file(path, resource)
            try:
                portalocker.lock(handle, portalocker.LOCK_EX | portalocker.LOCK_NB)
            except (portalocker.exceptions.LockException, OSError):
                handle.close()
            else:
                record = _holder_record(instrument, station)
                _write_holder(holder_path, record)
                lock = InstrumentLock(resource, handle, holder_path, record)
                with InstrumentLock._held_lock:
                    InstrumentLock._held[canon] = lock
                return lock
        if time.monotonic() >= deadline:
            holder = mine.record if mine is not None else read_holder(resource)
            waited = f" (waited {wait_s:g} s)" if wait_s > 0 else ""
            raise InstrumentBusyError(
                f"instrument {instrument or resource!r} at {resource} is in use by {describe_holder(holder)}"
                f"{waited}; one run at a time drives an instrument. Wait for it to finish, or pass --wait SECONDS")
        time.sleep(POLL_S)


def _open_lock_file(path: Path, resource: str):
    mode = "r+b"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        # a lock file another user made, not writable by us: read-only is enough to lock
        mode = "rb"
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise InstrumentError(f"cannot open the lock file of {resource} in {path.parent}: {exc}") from None
    except OSError as exc:
        raise InstrumentError(f"cannot open the lock file of {resource} in {path.parent}: {exc}") from None
    if mode == "r+b":
        try:
            os.chmod(path, 0o666)  # against the umask: the next user must be able to open it
        except OSError:
            pass
    os.set_inheritable(fd, False)  # a child process must never keep a run's instrument locked
    return os.fdopen(fd, mode)


def _write_holder(path: Path, record: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    except OSError:  # the record only informs; the lock is what counts
        try:
            tmp.unlink()
        except OSError:
            pass

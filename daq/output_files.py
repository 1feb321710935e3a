"""Output files that never destroy anything by accident.

Every command that writes a file checks it first with `check_new_output` and writes it with
`atomic_output`:

- an existing file is refused unless the command was asked to replace it (--overwrite);
- a file the command reads (one of its inputs) is refused, even with --overwrite;
- a run file that is being written (its writer's lock is held, daq/locks.py) is refused,
  even with --overwrite;
- the new file is written under a temporary name in the same folder and moved into place
  (os.replace) only once it is complete: a crash, a full disk or an error leaves the old file
  (or no file), never half of one.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterable, Iterator

# On Windows a file another program has open (a reader for an instant, a spreadsheet for
# longer) cannot be replaced: os.replace is tried again for this long before giving up.
REPLACE_WAIT_S = 2.0


class OutputFileError(ValueError):
    """An output file that must not be written. The message names the file and why."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when a and b name the same file (also through links, case-insensitive names ...)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_new_output(path: str | Path, overwrite: bool = False, inputs: Iterable[str | Path] = (),
                     what: str = "output file") -> Path:
    """Refuse an output path before anything is written; returns it as a Path.

    Refused: one of `inputs` (even with overwrite), a folder, a run file being written (even
    with overwrite), and any existing file without overwrite."""
    from loopscope.daq.locks import writer_alive

    path = Path(path)
    for source in inputs:
        if same_file(path, source):
            raise OutputFileError(f"{what} {path} is also an input of this command; "
                                  "choose another name (it is never replaced, even with --overwrite)")
    if path.is_dir():
        raise OutputFileError(f"{what} {path} is a folder")
    if path.exists() or path.is_symlink():
        if writer_alive(path):
            raise OutputFileError(f"{what} {path} is being written by another process (a run is recording "
                                  "into it); it is never replaced, even with --overwrite: choose another name")
        if not overwrite:
            raise OutputFileError(f"{what} {path} already exists; pass --overwrite to replace it, "
                                  "or choose another name")
    return path


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return  # Windows makes the rename durable itself; folders cannot be opened there
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_file(src: str | Path, dst: str | Path, wait_s: float = REPLACE_WAIT_S) -> None:
    """os.replace(src, dst), tried again for a while on Windows while another program has dst
    open; then the folder is synced so that the new name survives a power cut (POSIX)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.replace(src, dst)
            break
        except PermissionError as exc:
            if os.name != "nt" or time.monotonic() >= deadline:
                raise OutputFileError(f"cannot replace {dst}: {exc.strerror or exc} (another program may have "
                                      "it open: close it and try again)") from None
            time.sleep(0.05)
    _fsync_dir(Path(dst).parent if str(Path(dst).parent) else Path("."))


def temporary_name(path: str | Path, tag: str = "part") -> Path:
    """A hidden name beside `path`, with the same suffix (some writers choose the format by it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{tag}-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Write a file completely under a temporary name, then move it into place.

        with atomic_output("out.csv") as tmp:
            write_csv(tmp)

    On success the temporary file is flushed to disk and os.replace'd onto `path` (a reader
    sees the old file or the new, never half of one); on any error it is deleted and `path`
    is untouched. The folder is created if needed."""
    path = Path(path)
    if str(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        replace_file(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()

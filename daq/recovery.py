"""Open and repair run files left behind by a process that died while writing them.

Run files are written in HDF5's single-writer/multiple-reader (SWMR) mode, which keeps the
file consistent at every instant, so a SIGKILL or a power cut loses at most the unflushed
block. HDF5 marks such a file "open for write" in its superblock (the file consistency
flags), and after a crash that mark stays: plain `h5py.File(path)` then refuses the file
until the mark is cleared (what HDF5's `h5clear -s` does). `clear_write_flags` does the same
in pure Python, so recovery needs no HDF5 command-line tools.

Superblock version 2/3 layout (HDF5 file format spec, "Superblock"): signature (8 bytes),
version (1), size of offsets (1), size of lengths (1), file consistency flags (1), four
addresses of `size of offsets` bytes, then a Jenkins lookup3 checksum of everything before it.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`, the checksum HDF5 puts on its metadata."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _MASK
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & _MASK
        a = (a - c) & _MASK; a ^= _rot(c, 4); c = (c + b) & _MASK
        b = (b - a) & _MASK; b ^= _rot(a, 6); a = (a + c) & _MASK
        c = (c - b) & _MASK; c ^= _rot(b, 8); b = (b + a) & _MASK
        a = (a - c) & _MASK; a ^= _rot(c, 16); c = (c + b) & _MASK
        b = (b - a) & _MASK; b ^= _rot(a, 19); a = (a + c) & _MASK
        c = (c - b) & _MASK; c ^= _rot(b, 4); b = (b + a) & _MASK
        i += 12
        length -= 12
    if length == 0:
        return c
    tail = data[i:] + b"\x00" * (12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + int.from_bytes(tail[8:12], "little")) & _MASK
    c ^= b; c = (c - _rot(b, 14)) & _MASK
    a ^= c; a = (a - _rot(c, 11)) & _MASK
    b ^= a; b = (b - _rot(a, 25)) & _MASK
    c ^= b; c = (c - _rot(b, 16)) & _MASK
    a ^= c; a = (a - _rot(c, 4)) & _MASK
    b ^= a; b = (b - _rot(a, 14)) & _MASK
    c ^= b; c = (c - _rot(b, 24)) & _MASK
    return c


def _superblock_offset(fh) -> int:
    # The superblock sits at 0, 512, 1024, 2048 ... (a user block may precede it).
    offset = 0
    size = os.fstat(fh.fileno()).st_size
    while offset < size:
        fh.seek(offset)
        if fh.read(8) == SIGNATURE:
            return offset
        offset = 512 if offset == 0 else offset * 2
    raise OSError("not an HDF5 file: no superblock signature found")


def write_flags_set(path: str | Path) -> bool:
    """True when the file is marked open-for-write (by a writer alive or dead)."""
    with open(path, "rb") as fh:
        base = _superblock_offset(fh)
        fh.seek(base + 8)
        version, _, _, flags = fh.read(4)
    return version >= 2 and flags != 0


def clear_write_flags(path: str | Path) -> bool:
    """Clear the open-for-write mark of a file whose writer is gone. Returns True if cleared.

    Only call this when no process is writing the file (the caller holds the file's writer
    lock, daq.locks.RunFileLock, and has checked that nothing holds HDF5's own exclusive
    lock); clearing under a live writer is harmless to the data already on disk but lets a
    second writer in.
    """
    with open(path, "r+b") as fh:
        base = _superblock_offset(fh)
        fh.seek(base + 8)
        version, size_of_offsets, _, flags = fh.read(4)
        if version < 2 or flags == 0:
            return False
        fh.seek(base)
        body_length = 12 + 4 * size_of_offsets
        body = bytearray(fh.read(body_length))
        stored = int.from_bytes(fh.read(4), "little")
        if lookup3(bytes(body)) != stored:
            raise OSError(f"{path}: superblock checksum does not match; not touching the file")
        body[11] = 0
        # In SWMR mode the end-of-file address in the superblock lags the data written
        # after it (HDF5 updates it at close): raise it to the real file size, as
        # `h5clear --increment` does, or readers refuse the newer blocks.
        eoa_at = 12 + 2 * size_of_offsets
        stored_eoa = int.from_bytes(body[eoa_at:eoa_at + size_of_offsets], "little")
        real_size = os.fstat(fh.fileno()).st_size - base
        if real_size > stored_eoa:
            body[eoa_at:eoa_at + size_of_offsets] = real_size.to_bytes(size_of_offsets, "little")
        fh.seek(base)
        fh.write(bytes(body))
        fh.write(lookup3(bytes(body)).to_bytes(4, "little"))
        fh.flush()
        os.fsync(fh.fileno())
    return True


def hdf5_locking_option() -> bool:
    """True when h5py can switch HDF5's own file locking off per file (h5py >= 3.5 built
    with HDF5 >= 1.12.1 or 1.10.7)."""
    if tuple(h5py.version.version_tuple[:2]) < (3, 5):
        return False
    v = tuple(h5py.version.hdf5_version_tuple[:3])
    return v >= (1, 12, 1) or (1, 10, 7) <= v < (1, 11, 0)


def no_inherit(f: h5py.File) -> h5py.File:
    """Mark the descriptor HDF5 opened the file with close-on-exec (HDF5 opens without
    O_CLOEXEC): a program this process starts does not keep the file, nor HDF5's lock, open.
    POSIX only: on Windows HDF5's descriptor may belong to another C runtime than Python's,
    and Python starts programs without handing them its handles anyway (close_fds)."""
    if os.name != "posix":
        return f
    try:
        fd = f.id.get_vfd_handle()
        if isinstance(fd, int) and fd >= 0:
            os.set_inheritable(fd, False)
    except (OSError, ValueError, TypeError, AttributeError):  # another driver: no descriptor
        pass
    return f


def open_run_file(path: str | Path, locking: bool = False) -> h5py.File:
    """Open a run file for reading, also one still being written or left by a crash.

    HDF5's own file lock is not taken (locking=False, where h5py can): a reader holding it
    makes a writer that opens the file at that moment fail ("unable to lock file"), and
    whether a writer lives is what the run file's lock sidecar says (daq.locks). Readers
    take no lock of loopscope's either: they never stop a run from starting or resuming."""
    # A file this process already has open (a writer, another reader) must be opened again
    # with the same locking setting (HDF5 shares one file between them): then we use that.
    choices = [{"locking": locking}, {}] if hdf5_locking_option() else [{}]
    for kw in choices:
        try:
            return no_inherit(_open_for_reading(path, kw))
        except OSError as exc:
            if "locking flag values don't match" not in str(exc) or kw is choices[-1]:
                raise
    raise AssertionError("unreachable")


def _open_for_reading(path: str | Path, kw: dict) -> h5py.File:
    try:
        return h5py.File(path, "r", **kw)
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise
    return h5py.File(path, "r", swmr=True, **kw)

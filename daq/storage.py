"""The run file: self-describing, crash-safe HDF5 (layout in docs/file_format.md).

A RunWriter creates the whole structure up front (metadata, one resizable dataset per
quantity), then switches the file to SWMR mode: from then on only dataset contents change,
so the file is consistent on disk at every instant and another process can read it while
it grows. Points are buffered in memory and written in blocks by a background flusher at
least every `max_data_at_risk_s`, so a crash loses at most that much data; the acquisition
thread only appends a tuple to a list.

Before it creates, replaces or opens a file a writer takes the lock of the file's sidecar
`<file>.lock` (daq/locks.py) and holds it until the file is closed: that is how any process
tells a live run (refused: a second writer, --overwrite, a fit) from one whose writer died.
The structure is written under a temporary name and moved into place complete, then the
file is opened directly in SWMR-write mode, so a kill at any moment leaves either no file
(or the old one) or a consistent one that resumes.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np

from loopscope.daq.locks import LockBusy, RunFileLock, hdf5_lock_blocks_writers, sidecar_path, writer_alive

FILE_FORMAT = "loopscope-run"
FILE_FORMAT_VERSION = "1"
STATUS_LENGTH = 32
REASON_LENGTH = 1024
TIME_LENGTH = 64
LOG_MESSAGE_LENGTH = 512
LOG_LEVEL_LENGTH = 16

STATUSES = ("running", "completed", "aborted", "failed", "interrupted")
# Opening a run file to append: how long to wait for readers holding HDF5's shared file lock
# (then it is opened without it) and for a program holding HDF5's exclusive lock (then refused).
HDF5_READER_WAIT_S = 2.0
HDF5_WRITER_WAIT_S = 10.0


class StorageError(RuntimeError):
    """The run file cannot be created or written. The message names the file."""


@dataclass(frozen=True)
class Column:
    """One measured quantity: a dataset under /entry/data."""

    name: str
    units: str
    long_name: str = ""
    dtype: str = "f8"


# The columns every run has, in this order, before the plan's own quantities.
BOOK_KEEPING = (
    Column("point_index", "1", "point index in acquisition order", "i8"),
    Column("timestamp", "s", "wall-clock time since the Unix epoch"),
    Column("elapsed_s", "s", "experiment time since the start of the run"),
)


@dataclass
class RunMetadata:
    title: str
    plan_kind: str
    plan_text: str = ""
    station_text: str = ""
    operator: str = ""
    sample: dict = field(default_factory=dict)
    snapshot: dict = field(default_factory=dict)
    software_version: str = ""
    start_time: str = ""
    extra: dict = field(default_factory=dict)


class _RowBuffer:
    """Points waiting for the disk, kept as float64 blocks so that a flush converts nothing."""

    def __init__(self, width: int, block_rows: int = 4096):
        self.width, self.block_rows = width, block_rows
        self.blocks: list[np.ndarray] = []
        self.current = np.empty((block_rows, width))
        self.fill = 0

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks) + self.fill

    def append(self, row: tuple) -> None:
        if len(row) != self.width:
            raise StorageError(f"a point has {len(row)} values, the file has {self.width} quantities")
        self.current[self.fill] = row
        self.fill += 1
        if self.fill == self.block_rows:
            self.blocks.append(self.current)
            self.current = np.empty((self.block_rows, self.width))
            self.fill = 0

    def take(self) -> np.ndarray:
        parts = self.blocks + ([self.current[:self.fill].copy()] if self.fill else [])
        self.blocks, self.fill = [], 0
        if not parts:
            return np.empty((0, self.width))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def put_back(self, block: np.ndarray) -> None:
        """Return rows that could not be written, ahead of any newer ones."""
        if len(block):
            newer = self.take()
            self.blocks = [block] + ([newer] if len(newer) else [])


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


def check_output_path(path: str | Path, overwrite: bool = False, min_free_bytes: int = 50_000_000) -> Path:
    """Refuse an output file before anything is touched: exists, unwritable, or a full disk."""
    path = Path(path)
    if path.suffix not in {".h5", ".hdf5", ".nxs"}:
        raise StorageError(f"output file {path}: use a .h5, .hdf5 or .nxs name")
    if path.exists() and not overwrite:
        raise StorageError(
            f"output file {path} already exists; choose another name or pass --overwrite")
    if path.exists() and path.is_dir():
        raise StorageError(f"output file {path} is a directory")
    if path.exists() and writer_alive(path):
        raise StorageError(
            f"output file {path} is being written by another process (a run is recording into it); "
            "--overwrite never replaces a file that is being written: choose another name")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the output directory {directory}: {exc.strerror}") from exc
    if not os.access(directory, os.W_OK):
        raise StorageError(f"output directory {directory} is not writable")
    free = shutil.disk_usage(directory).free
    if free < min_free_bytes:
        raise StorageError(
            f"output directory {directory} has only {free / 1e6:.1f} MB free; "
            f"a run needs at least {min_free_bytes / 1e6:.0f} MB")
    return path


def unique_path(path: str | Path) -> Path:
    """path, or path with _1, _2 ... before the suffix: the first name not taken."""
    path = Path(path)
    if not path.exists():
        return path
    for n in range(1, 100000):
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise StorageError(f"no free file name near {path}")


def _fixed(text: str, length: int) -> np.bytes_:
    raw = text.encode("utf-8")[:length]
    return np.bytes_(raw)


def _str_dataset(group: h5py.Group, name: str, text: str) -> None:
    group.create_dataset(name, data=text, dtype=h5py.string_dtype("utf-8"))


class RunWriter:
    """Write one run. Create, append points, log, close with a status.

    >>> w = RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
    ...               metadata=RunMetadata(title="t", plan_kind="linear"))
    >>> w.append((0, time.time(), 0.0, 0.1)); w.close("completed")
    """

    def __init__(
        self,
        path: str | Path,
        columns: Sequence[Column],
        *,
        signal: str,
        axes: Sequence[str],
        metadata: RunMetadata,
        max_data_at_risk_s: float = 1.0,
        overwrite: bool = False,
        chunk_rows: int = 8192,
        background_flush: bool = True,
        resume: bool = False,
    ):
        """resume=True opens the run file an interrupted run left behind and appends to it
        (the columns must match); otherwise a new file is created."""
        self.path = Path(path) if resume else check_output_path(path, overwrite=overwrite)
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise StorageError(f"duplicate quantity names in {names}")
        self.columns = list(BOOK_KEEPING) + [c for c in columns if c.name not in {b.name for b in BOOK_KEEPING}]
        self.column_index = {c.name: i for i, c in enumerate(self.columns)}
        for name in [signal, *axes]:
            if name not in self.column_index:
                raise StorageError(f"signal/axis {name!r} is not one of the quantities {names}")
        if max_data_at_risk_s <= 0:
            raise StorageError("max_data_at_risk_s must be positive")
        self.max_data_at_risk_s = float(max_data_at_risk_s)
        self.rows_written = 0
        # the longest time any point waited in memory before reaching the disk (seconds)
        self.max_data_at_risk_seen_s = 0.0
        self._oldest_pending: float | None = None
        self._log: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._closed = False
        self._flush_error: BaseException | None = None
        self._rows = _RowBuffer(len(self.columns))
        # The writer's lock, on the run file's sidecar (daq/locks.py): taken before the file is
        # created, replaced or opened, held until it is closed. HDF5 drops its own file lock in
        # SWMR mode; this one tells other processes a live run from one whose writer died, and
        # keeps a second writer, an --overwrite or a fit out of a file being written.
        self._alive_lock = RunFileLock(self.path)
        try:
            self._alive_lock.acquire()
        except LockBusy:
            raise StorageError(f"cannot {'resume' if resume else 'write'} {self.path}: another process is "
                               f"writing it (it holds {sidecar_path(self.path).name})") from None
        except OSError as exc:
            raise StorageError(f"cannot {'resume' if resume else 'write'} {self.path}: cannot take its lock "
                               f"{sidecar_path(self.path)}: {exc.strerror or exc}") from None
        try:
            if resume:
                self._file = self._open_existing()
            else:
                self._file = self._create(metadata, signal, list(axes), chunk_rows, overwrite)
        except BaseException:
            self._alive_lock.release()
            raise
        self._stop_flusher = threading.Event()
        self._flusher: threading.Thread | None = None
        if background_flush:
            self._flusher = threading.Thread(target=self._flush_loop, name="run-file-flusher", daemon=True)
            self._flusher.start()

    # -- creation -------------------------------------------------------------------------
    def _create(self, md: RunMetadata, signal: str, axes: list[str], chunk_rows: int,
                overwrite: bool) -> h5py.File:
        """Write the whole structure to a temporary file beside the run file, move it into
        place complete, then open it for appending in SWMR mode.

        So the run file's name never holds half a structure: a crash while creating leaves no
        run file (or, with overwrite, the old one intact), a crash after it a complete file
        that resumes. Nothing at the name is truncated or replaced before our lock is held."""
        self._remove_stale_temporaries()
        tmp = self.path.with_name(f".{self.path.name}.creating-{os.getpid()}.tmp")
        try:
            f = h5py.File(tmp, "w-", libver="latest")
        except OSError as exc:
            raise StorageError(f"cannot create {self.path}: {exc}") from exc
        try:
            try:
                self._write_structure(f, md, signal, axes, chunk_rows)
            finally:
                f.close()
            self._place(tmp, overwrite)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        f = self._open_swmr_write("write")
        try:
            self._bind(f)
            f.flush()
        except Exception as exc:
            f.close()
            raise StorageError(f"cannot open {self.path} for writing: {exc}") from exc
        return f

    def _remove_stale_temporaries(self) -> None:
        # temporaries of writers of this file that died while creating it (we hold its lock,
        # so none is in use)
        for stale in self.path.parent.glob(f".{glob.escape(self.path.name)}.creating-*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass

    def _place(self, tmp: Path, overwrite: bool) -> None:
        """Move the finished temporary file to the run file's name.

        With overwrite, os.replace swaps it in in one step: until then the old file is intact,
        and a crash leaves the old or the new one. Windows cannot replace a file another
        program has open: refused, the old file kept. Without overwrite the name must still
        be free, even if a file appeared there since the check: a hard link refuses an
        existing name (POSIX), and so does os.rename on Windows; on a POSIX file system
        without hard links, the name is checked just before the rename (our lock keeps other
        loopscope writers out)."""
        path = self.path
        try:
            if overwrite:
                os.replace(tmp, path)
            elif os.name == "nt":
                os.rename(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise
                except OSError:
                    if path.exists():
                        raise FileExistsError(path) from None
                    os.rename(tmp, path)
                else:
                    tmp.unlink()
        except FileExistsError:
            raise StorageError(f"output file {path} already exists; choose another name or pass --overwrite") \
                from None
        except PermissionError as exc:
            raise StorageError(f"cannot replace {path}: another program has it open ({exc.strerror}); "
                               f"close it or choose another name ({path} is unchanged)") from None
        except OSError as exc:
            raise StorageError(f"cannot create {path}: {exc}") from exc

    def _write_structure(self, f: h5py.File, md: RunMetadata, signal: str, axes: list[str],
                         chunk_rows: int) -> None:
        try:
            f.attrs["default"] = "entry"
            f.attrs["file_format"] = FILE_FORMAT
            f.attrs["file_format_version"] = FILE_FORMAT_VERSION
            f.attrs["creator"] = f"loopscope {md.software_version}".strip()
            entry = f.create_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            entry.attrs["default"] = "data"
            _str_dataset(entry, "title", md.title)
            _str_dataset(entry, "start_time", md.start_time or now_iso())
            entry.create_dataset("end_time", data=_fixed("", TIME_LENGTH), dtype=f"S{TIME_LENGTH}")
            entry.create_dataset("status", data=_fixed("running", STATUS_LENGTH), dtype=f"S{STATUS_LENGTH}")
            entry.create_dataset("status_reason", data=_fixed("", REASON_LENGTH), dtype=f"S{REASON_LENGTH}")
            hb = entry.create_dataset("heartbeat", data=time.time())
            hb.attrs["units"] = "s"
            _str_dataset(entry, "plan", md.plan_text)
            _str_dataset(entry, "plan_kind", md.plan_kind)
            _str_dataset(entry, "station", md.station_text)
            _str_dataset(entry, "loopscope_version", md.software_version)
            _str_dataset(entry, "operator", md.operator)
            for key, value in md.extra.items():
                _str_dataset(entry, key, value if isinstance(value, str) else json.dumps(value))

            sample = entry.create_group("sample")
            sample.attrs["NX_class"] = "NXsample"
            for key, value in md.sample.items():
                if value is None:
                    continue
                if key == "mass_kg":
                    ds = sample.create_dataset("mass", data=float(value))
                    ds.attrs["units"] = "kg"
                elif isinstance(value, (int, float)):
                    sample.create_dataset(key, data=value)
                else:
                    _str_dataset(sample, key, str(value))

            instrument = entry.create_group("instrument")
            instrument.attrs["NX_class"] = "NXinstrument"
            _str_dataset(instrument, "snapshot_json", json.dumps(md.snapshot, default=str, indent=1))
            # a Station snapshot nests its instruments under "instruments"; a bare dict is per instrument
            per_instrument = md.snapshot.get("instruments", md.snapshot)
            for name, snap in per_instrument.items():
                if not isinstance(snap, dict):
                    continue
                g = instrument.create_group(name)
                g.attrs["NX_class"] = "NXcollection"
                if isinstance(snap, dict):
                    for key in ("driver", "resource", "role", "idn"):
                        if key in snap and snap[key] is not None:
                            g.attrs[key] = str(snap[key])

            data = entry.create_group("data")
            data.attrs["NX_class"] = "NXdata"
            data.attrs["signal"] = signal
            data.attrs["axes"] = np.array(axes, dtype=h5py.string_dtype())
            for ax in axes:
                data.attrs[f"{ax}_indices"] = 0
            for col in self.columns:
                ds = data.create_dataset(col.name, shape=(0,), maxshape=(None,), dtype=col.dtype,
                                         chunks=(chunk_rows,))
                ds.attrs["units"] = col.units
                if col.long_name:
                    ds.attrs["long_name"] = col.long_name
            # point_index as the HDF5 dimension scale of every column: netCDF readers
            # (xarray's h5netcdf engine) then see one dimension with its coordinate instead of
            # an anonymous phony_dim_0 per column. Made now, before the file goes SWMR.
            if "point_index" in data:
                scale = data["point_index"]
                scale.make_scale("point_index")
                for col in self.columns:
                    if col.name != "point_index":
                        data[col.name].dims[0].attach_scale(scale)

            log = entry.create_group("log")
            log.attrs["NX_class"] = "NXcollection"
            log.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8", chunks=(256,)).attrs["units"] = "s"
            log.create_dataset("level", shape=(0,), maxshape=(None,), dtype=f"S{LOG_LEVEL_LENGTH}", chunks=(256,))
            log.create_dataset("message", shape=(0,), maxshape=(None,), dtype=f"S{LOG_MESSAGE_LENGTH}",
                               chunks=(256,))
            f.flush()
        except Exception as exc:
            raise StorageError(f"cannot write the structure of {self.path}: {exc}") from exc

    def _wait_for_hdf5_writers(self, what: str) -> None:
        """Refuse (after waiting a little) while a process holds HDF5's exclusive lock on the
        file: something writing it outside loopscope, without SWMR (e.g. h5py mode "r+")."""
        deadline = time.monotonic() + HDF5_WRITER_WAIT_S
        while hdf5_lock_blocks_writers(self.path):
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"cannot {what} {self.path}: another program has it open for writing (it holds HDF5's "
                    "file lock: an h5py session with mode 'r+', an HDF5 editor?); close it and try again")
            time.sleep(0.05)

    def _open_swmr_write(self, what: str) -> h5py.File:
        """Open the run file for appending, directly in SWMR-write mode.

        From the open on, every write keeps the file consistent on disk, so a kill at any
        moment leaves a file that readers open (mode "r+" and then swmr_mode = True would leave
        a moment in which a kill marks the file open-for-write without SWMR, which no reader
        opens until the mark is cleared). HDF5 takes its own file lock for the open (on POSIX;
        on Windows it locks nothing). A reader holding HDF5's shared lock at that instant makes
        the open fail ("unable to lock file"): we wait for it a little, then open without
        HDF5's lock, since ours (the sidecar) is what keeps a second writer out. A process
        holding HDF5's exclusive lock is a real writer: refused."""
        from h5py import h5f, h5p

        from loopscope.daq.recovery import hdf5_locking_option, no_inherit

        try:  # the name as h5py passes it to HDF5 (on Windows the encoding depends on HDF5's version)
            from h5py._hl.compat import filename_encode
        except ImportError:  # pragma: no cover - a future h5py
            def filename_encode(p):
                return str(p).encode("utf-8") if os.name == "nt" else os.fsencode(p)
        name = filename_encode(self.path)
        readers_deadline = time.monotonic() + HDF5_READER_WAIT_S
        use_hdf5_lock = True
        while True:
            self._wait_for_hdf5_writers(what)
            fapl = h5p.create(h5p.FILE_ACCESS)
            fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
            if not use_hdf5_lock:
                fapl.set_file_locking(False, True)
            try:
                fid = h5f.open(name, h5f.ACC_RDWR | h5f.ACC_SWMR_WRITE, fapl=fapl)
                break
            except OSError as exc:
                if "unable to lock file" not in str(exc):
                    raise StorageError(f"cannot {what} {self.path}: {exc}") from exc
                if time.monotonic() < readers_deadline:
                    time.sleep(0.02)
                elif hdf5_locking_option() and not hdf5_lock_blocks_writers(self.path):
                    use_hdf5_lock = False
                    self._log.append((time.time(), "warning",
                                      "another program had the file open for reading (HDF5's shared file lock); "
                                      "opened it without HDF5's lock"))
                else:
                    raise StorageError(f"cannot {what} {self.path}: another program holds HDF5's file lock "
                                       f"on it ({exc}); close it and try again") from exc
        return no_inherit(h5py.File(fid))

    def _bind(self, f: h5py.File) -> None:
        entry = f["entry"]
        self._datasets = [entry["data"][c.name] for c in self.columns]
        log = entry["log"]
        self._log_time, self._log_level, self._log_message = log["time"], log["level"], log["message"]
        self._status, self._reason = entry["status"], entry["status_reason"]
        self._end_time, self._heartbeat = entry["end_time"], entry["heartbeat"]

    def _open_existing(self) -> h5py.File:
        from loopscope.daq.recovery import clear_write_flags

        if not self.path.exists():
            raise StorageError(f"cannot resume {self.path}: no such file")
        # no other loopscope writer: we hold the file's lock; nothing else writing it: checked
        # here, before the dead writer's open-for-write mark is cleared
        self._wait_for_hdf5_writers("resume")
        clear_write_flags(self.path)
        f = self._open_swmr_write("resume")
        try:
            data = f["entry"]["data"]
            missing = [c.name for c in self.columns if c.name not in data]
            if missing:
                raise StorageError(f"cannot resume {self.path}: it has no {', '.join(missing)}; "
                                   "the plan or station changed since it was started")
            self._bind(f)
            lengths = {ds.shape[0] for ds in self._datasets}
            # a crash between the resizes of one block leaves columns of unequal length:
            # keep the rows every column has
            self.rows_written = min(lengths)
            for ds in self._datasets:
                ds.resize((self.rows_written,))
            self._status[()] = _fixed("running", STATUS_LENGTH)
            self._reason[()] = _fixed("", REASON_LENGTH)
            self._end_time[()] = _fixed("", TIME_LENGTH)
            f.flush()
        except Exception:
            f.close()
            raise
        return f

    def last_row(self) -> dict[str, float] | None:
        """The last point on disk (for a resumed run: where to go on from)."""
        if self.rows_written == 0:
            return None
        with self._io_lock:
            return {c.name: float(ds[self.rows_written - 1]) for c, ds in zip(self.columns, self._datasets)}

    # -- acquisition side -----------------------------------------------------------------
    def append(self, row: tuple) -> None:
        """Queue one point: values in the order of self.columns (book-keeping first)."""
        if self._flush_error is not None:
            raise StorageError(f"writing {self.path} failed: {self._flush_error}") from self._flush_error
        with self._lock:
            if self._oldest_pending is None:
                self._oldest_pending = time.monotonic()
            self._rows.append(row)
            oldest = self._oldest_pending
        if time.monotonic() - oldest > 0.8 * self.max_data_at_risk_s:
            # the background flusher fell behind (a busy CPU): keep the promise ourselves
            self.flush()

    def extend(self, rows: Iterable[tuple]) -> None:
        if self._flush_error is not None:
            raise StorageError(f"writing {self.path} failed: {self._flush_error}") from self._flush_error
        with self._lock:
            if self._oldest_pending is None:
                self._oldest_pending = time.monotonic()
            for row in rows:
                self._rows.append(row)

    def log(self, level: str, message: str, when: float | None = None) -> None:
        with self._lock:
            self._log.append((time.time() if when is None else when, level, message))

    @property
    def pending_rows(self) -> int:
        return len(self._rows)

    # -- writing side ---------------------------------------------------------------------
    def flush(self) -> None:
        """Write every queued point and log line to disk now."""
        with self._lock:
            rows = self._rows.take()
            logs, self._log = self._log, []
            oldest, self._oldest_pending = self._oldest_pending, None
        with self._io_lock:
            if self._closed:
                return
            try:
                self._write_rows(rows)
                self._write_logs(logs)
                self._heartbeat[()] = time.time()
                self._file.flush()
                if oldest is not None:
                    self.max_data_at_risk_seen_s = max(self.max_data_at_risk_seen_s, time.monotonic() - oldest)
            except Exception:
                # Keep what could not be written so that a later flush (after space was
                # freed, say) can still save it; nothing already on disk is touched.
                with self._lock:
                    self._rows.put_back(rows)
                    self._log[:0] = logs
                    if oldest is not None:
                        self._oldest_pending = oldest
                raise

    def _write_rows(self, block: np.ndarray) -> None:
        if not len(block):
            return
        n0 = self.rows_written
        n1 = n0 + block.shape[0]
        for j, ds in enumerate(self._datasets):
            ds.resize((n1,))
            ds[n0:n1] = block[:, j]
        for ds in self._datasets:
            ds.flush()
        self.rows_written = n1

    def _write_logs(self, logs: list[tuple[float, str, str]]) -> None:
        if not logs:
            return
        n0 = self._log_time.shape[0]
        n1 = n0 + len(logs)
        for ds in (self._log_time, self._log_level, self._log_message):
            ds.resize((n1,))
        self._log_time[n0:n1] = [t for t, _, _ in logs]
        self._log_level[n0:n1] = [_fixed(lv, LOG_LEVEL_LENGTH) for _, lv, _ in logs]
        self._log_message[n0:n1] = [_fixed(m, LOG_MESSAGE_LENGTH) for _, _, m in logs]
        for ds in (self._log_time, self._log_level, self._log_message):
            ds.flush()

    def _flush_loop(self) -> None:
        # Flush on a fixed cadence (not "interval after the last flush ended") at a quarter
        # of the bound: a block that takes long to write, on a CPU the acquisition keeps
        # busy, still lands within the bound.
        interval = self.max_data_at_risk_s / 4
        next_flush = time.monotonic() + interval
        while not self._stop_flusher.wait(max(0.0, next_flush - time.monotonic())):
            next_flush += interval
            try:
                self.flush()
            except Exception as exc:  # reported to the acquisition thread on its next append
                self._flush_error = exc
                return
            next_flush = max(next_flush, time.monotonic())

    # -- ending ---------------------------------------------------------------------------
    def close(self, status: str = "completed", reason: str = "") -> None:
        """Write what is left, record how the run ended, close the file."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        if self._closed:
            return
        self._stop_flusher.set()
        if self._flusher is not None:
            self._flusher.join()
        error = None
        try:
            self.flush()
        except Exception as exc:
            error = exc
            status = "failed"
            reason = f"{reason}; " if reason else ""
            reason += f"could not write the last block: {exc}"
        with self._io_lock:
            try:
                self._status[()] = _fixed(status, STATUS_LENGTH)
                self._reason[()] = _fixed(reason, REASON_LENGTH)
                self._end_time[()] = _fixed(now_iso(), TIME_LENGTH)
                self._heartbeat[()] = time.time()
            finally:
                self._closed = True
                self._file.close()
                self._alive_lock.release()
        if error is not None:
            raise StorageError(f"{self.path}: {error}") from error


# lock_held(lock file) and writer_alive(run file) live in daq.locks (imported above): a writer
# holds the lock of the run file's sidecar `<file>.lock`, which the kernel drops when the
# process dies (SIGKILL included).


def read_status(path: str | Path) -> tuple[str, str]:
    """(status, reason) of a run file; a 'running' file with no live writer is 'interrupted'."""
    from loopscope.daq.recovery import open_run_file

    with open_run_file(path) as f:
        entry = f["entry"]
        status = entry["status"][()].decode().strip("\x00 ")
        reason = entry["status_reason"][()].decode().strip("\x00 ")
        heartbeat = float(entry["heartbeat"][()])
    if status == "running" and not writer_alive(path):
        when = datetime.fromtimestamp(heartbeat, timezone.utc).astimezone().isoformat(timespec="seconds")
        return "interrupted", f"the writing process stopped; last data flushed at {when}"
    return status, reason

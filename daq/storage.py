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


@dataclass(frozen=True)
class TraceAxis:
    """The fixed axis of a trace: the same 1-D values at every point (the current setpoints
    of an I-V curve, the frequencies of a lock-in scan). Stored once, as
    /entry/<trace>/<name>."""

    name: str
    units: str
    long_name: str = ""
    values: Sequence[float] = ()


@dataclass(frozen=True)
class Trace:
    """A whole array per point: its own NXdata group /entry/<name>, every signal a 2-D
    dataset (points x len(axis.values)). `signal` is the one a viewer plots (default: the
    first of `signals`); the others are its auxiliary signals."""

    name: str
    axis: TraceAxis
    signals: Sequence[Column]
    signal: str | None = None


# Names directly under /entry that a trace group cannot take.
_ENTRY_MEMBERS = frozenset({"data", "log", "sample", "instrument", "analysis", "title", "start_time", "end_time",
                            "status", "status_reason", "heartbeat", "plan", "plan_kind", "station",
                            "loopscope_version", "operator"})


class _TraceLayout:
    """A Trace checked and fixed: axis values as float64, signal order, chunk shape."""

    def __init__(self, trace: Trace, scalar_names: set[str], taken: set[str], extra: Iterable[str]):
        where = f"trace {trace.name!r}"
        if not isinstance(trace.name, str) or not trace.name or "/" in trace.name or trace.name.startswith("."):
            raise StorageError(f"trace name {trace.name!r}: use a plain name such as 'iv_curve'")
        if trace.name in _ENTRY_MEMBERS or trace.name in set(extra):
            raise StorageError(f"{where}: /entry/{trace.name} is part of every run file; name the trace differently")
        self.name = trace.name
        self.axis = trace.axis
        try:
            values = np.asarray(trace.axis.values, dtype=np.float64)
        except (TypeError, ValueError):
            raise StorageError(f"{where}: axis {trace.axis.name!r} values are not numbers") from None
        if values.ndim != 1 or values.size == 0:
            raise StorageError(f"{where}: axis {trace.axis.name!r} needs a non-empty 1-D list of values, "
                               f"got shape {values.shape}")
        self.axis_values = values
        self.length = values.size
        self.signals = list(trace.signals)
        if not self.signals:
            raise StorageError(f"{where}: no signals")
        names = [trace.axis.name] + [c.name for c in self.signals]
        for name in names:
            if not isinstance(name, str) or not name or "/" in name:
                raise StorageError(f"{where}: bad quantity name {name!r}")
            if name == "point_index" or name in scalar_names:
                # the row's scalars are linked into the trace group under their own names
                raise StorageError(f"{where}: {name!r} is also a column of /entry/data; "
                                   "give the trace's quantity another name")
            if name in taken:
                raise StorageError(f"{where}: the name {name!r} is used twice in the run "
                                   "(every trace signal and axis needs its own name)")
            taken.add(name)
        for c in self.signals:
            if np.dtype(c.dtype).kind != "f":
                raise StorageError(f"{where}: signal {c.name!r} has dtype {c.dtype}; trace signals are "
                                   "floating point (a missing trace is stored as NaN)")
        self.signal_names = [c.name for c in self.signals]
        self.signal_index = {n: j for j, n in enumerate(self.signal_names)}
        self.main = trace.signal or self.signal_names[0]
        if self.main not in self.signal_index:
            raise StorageError(f"{where}: signal {self.main!r} is not one of its signals {self.signal_names}")
        # A missing trace: one frame of NaN, shared (read-only) by every row that lacks it.
        self.missing = np.full((len(self.signals), self.length), np.nan)
        self.missing.flags.writeable = False

    def frame(self, given) -> np.ndarray:
        """One point's arrays as a (signals, axis) float64 block; a signal not given is NaN."""
        if given is None:
            return self.missing
        if not isinstance(given, dict):
            raise StorageError(f"trace {self.name!r}: give its signals as a dict name -> array, "
                               f"got {type(given).__name__}")
        unknown = [n for n in given if n not in self.signal_index]
        if unknown:
            raise StorageError(f"trace {self.name!r}: no signal {unknown[0]!r}; its signals are "
                               f"{', '.join(self.signal_names)}")
        out = np.full((len(self.signals), self.length), np.nan)
        for name, values in given.items():
            try:
                arr = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                raise StorageError(f"trace {self.name!r} signal {name!r}: values are not numbers") from None
            if arr.shape != (self.length,):
                got = f"{arr.size} values" if arr.ndim == 1 else f"shape {arr.shape}"
                raise StorageError(f"trace {self.name!r} signal {name!r} has {got}, its axis "
                                   f"{self.axis.name!r} has {self.length}")
            out[self.signal_index[name]] = arr
        return out

    def chunk_rows(self, chunk_rows: int) -> int:
        # chunks of about 256 kB whatever the axis length, never more rows than the columns'
        return max(1, min(chunk_rows, (256 * 1024) // (8 * self.length)))


class _TraceBuffer:
    """One trace's frames waiting for the disk, in step with the rows of _RowBuffer."""

    def __init__(self, layout: _TraceLayout):
        self.shape = (len(layout.signals), layout.length)
        self.frames: list[np.ndarray] = []

    def take(self) -> np.ndarray:
        frames, self.frames = self.frames, []
        if not frames:
            return np.empty((0,) + self.shape)
        return np.stack(frames)

    def put_back(self, block: np.ndarray) -> None:
        if len(block):
            self.frames[:0] = list(block)


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


def _attr_text(obj, name: str) -> str:
    value = obj.attrs.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return "" if value is None else str(value)


def _str_dataset(group: h5py.Group, name: str, text: str) -> None:
    group.create_dataset(name, data=text, dtype=h5py.string_dtype("utf-8"))


class RunWriter:
    """Write one run. Create, append points, log, close with a status.

    >>> w = RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
    ...               metadata=RunMetadata(title="t", plan_kind="linear"))
    >>> w.append((0, time.time(), 0.0, 0.1)); w.close("completed")

    With traces (an array per point, each its own NXdata group /entry/<name>):

    >>> iv = Trace("iv_curve", TraceAxis("current_setpoint_A", "A", values=currents),
    ...            [Column("voltage_V", "V"), Column("current_A", "A")])
    >>> w = RunWriter(path, columns, signal=..., axes=[...], metadata=..., traces=[iv])
    >>> w.append(row, traces={"iv_curve": {"voltage_V": v, "current_A": i}})
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
        traces: Sequence[Trace] = (),
    ):
        """resume=True opens the run file an interrupted run left behind and appends to it
        (the columns and traces must match); otherwise a new file is created. `traces`: the
        arrays recorded at every point, each its own NXdata group /entry/<trace.name>."""
        self.path = Path(path) if resume else check_output_path(path, overwrite=overwrite)
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise StorageError(f"duplicate quantity names in {names}")
        self.columns = list(BOOK_KEEPING) + [c for c in columns if c.name not in {b.name for b in BOOK_KEEPING}]
        self.column_index = {c.name: i for i, c in enumerate(self.columns)}
        for name in [signal, *axes]:
            if name not in self.column_index:
                raise StorageError(f"signal/axis {name!r} is not one of the quantities {names}")
        trace_names = [t.name for t in traces]
        if len(set(trace_names)) != len(trace_names):
            raise StorageError(f"duplicate trace names in {trace_names}")
        taken: set[str] = set()
        self.traces = [_TraceLayout(t, set(self.column_index), taken, metadata.extra)
                       for t in traces]
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
        self._trace_buffers = [_TraceBuffer(t) for t in self.traces]
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

            for trace in self.traces:
                self._write_trace_structure(entry, trace, chunk_rows)

            log = entry.create_group("log")
            log.attrs["NX_class"] = "NXcollection"
            log.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8", chunks=(256,)).attrs["units"] = "s"
            log.create_dataset("level", shape=(0,), maxshape=(None,), dtype=f"S{LOG_LEVEL_LENGTH}", chunks=(256,))
            log.create_dataset("message", shape=(0,), maxshape=(None,), dtype=f"S{LOG_MESSAGE_LENGTH}",
                               chunks=(256,))
            f.flush()
        except Exception as exc:
            raise StorageError(f"cannot write the structure of {self.path}: {exc}") from exc

    def _write_trace_structure(self, entry: h5py.Group, trace: _TraceLayout, chunk_rows: int) -> None:
        """/entry/<trace>: an NXdata of 2-D signals (points x axis) on the axes point_index
        and the trace's axis, both HDF5 dimension scales, with the row's scalars linked in.

        The scalars (field_T, temperature_K, ...) are soft links to /entry/data's datasets,
        each marked a NeXus coordinate of the point dimension (@<name>_indices = 0): the same
        data, not a copy (nothing more to write per point, and nothing that could disagree),
        /entry/data left exactly as without traces, and silx, nexusformat (an NXlink) and
        xarray's h5netcdf engine (a variable on point_index) all read them."""
        g = entry.create_group(trace.name)
        g.attrs["NX_class"] = "NXdata"
        g.attrs["signal"] = trace.main
        others = [n for n in trace.signal_names if n != trace.main]
        if others:
            g.attrs["auxiliary_signals"] = np.array(others, dtype=h5py.string_dtype())
        g.attrs["axes"] = np.array(["point_index", trace.axis.name], dtype=h5py.string_dtype())
        g.attrs["point_index_indices"] = 0
        g.attrs[f"{trace.axis.name}_indices"] = 1
        # its own point_index (same values as /entry/data's, written with the same rows):
        # each group then has its dimension in netCDF's sense, and opens on its own
        index = g.create_dataset("point_index", shape=(0,), maxshape=(None,), dtype="i8", chunks=(chunk_rows,))
        index.attrs["units"] = "1"
        index.attrs["long_name"] = BOOK_KEEPING[0].long_name
        axis = g.create_dataset(trace.axis.name, data=trace.axis_values)
        axis.attrs["units"] = trace.axis.units
        if trace.axis.long_name:
            axis.attrs["long_name"] = trace.axis.long_name
        index.make_scale("point_index")
        axis.make_scale(trace.axis.name)
        rows = trace.chunk_rows(chunk_rows)
        for col in trace.signals:
            ds = g.create_dataset(col.name, shape=(0, trace.length), maxshape=(None, trace.length),
                                  dtype=col.dtype, chunks=(rows, trace.length), fillvalue=np.nan)
            ds.attrs["units"] = col.units
            if col.long_name:
                ds.attrs["long_name"] = col.long_name
            ds.dims[0].attach_scale(index)
            ds.dims[1].attach_scale(axis)
        for col in self.columns:
            if col.name != "point_index":
                g[col.name] = h5py.SoftLink(f"/entry/data/{col.name}")
                g.attrs[f"{col.name}_indices"] = 0

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
        # per trace: its signal datasets (in the order of trace.signals), then its point_index
        self._trace_datasets = [[entry[t.name][n] for n in t.signal_names] + [entry[t.name]["point_index"]]
                                for t in self.traces]
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
            self._check_traces_match(f["entry"])
            self._bind(f)
            trace_datasets = [ds for group in self._trace_datasets for ds in group]
            lengths = {ds.shape[0] for ds in self._datasets + trace_datasets}
            # a crash between the resizes of one block leaves columns of unequal length:
            # keep the rows every column (and every trace) has
            self.rows_written = min(lengths)
            for ds in self._datasets:
                ds.resize((self.rows_written,))
            for ds in trace_datasets:
                ds.resize((self.rows_written,) + ds.shape[1:])
            self._status[()] = _fixed("running", STATUS_LENGTH)
            self._reason[()] = _fixed("", REASON_LENGTH)
            self._end_time[()] = _fixed("", TIME_LENGTH)
            f.flush()
        except Exception:
            f.close()
            raise
        return f

    def _check_traces_match(self, entry: h5py.Group) -> None:
        """Refuse to resume when the traces asked for are not the file's (names, axes, signals)."""
        in_file = {name: g for name, g in entry.items()
                   if name != "data" and isinstance(g, h5py.Group) and _attr_text(g, "NX_class") == "NXdata"}
        problems = []
        asked = {t.name: t for t in self.traces}
        for name in sorted(set(in_file) - set(asked)):
            problems.append(f"the file has a trace {name!r} the run does not record")
        for name in sorted(set(asked) - set(in_file)):
            problems.append(f"the run records a trace {name!r} the file does not have")
        for name in sorted(set(asked) & set(in_file)):
            t, g = asked[name], in_file[name]
            axis = g.get(t.axis.name)
            if axis is None or _attr_text(g, f"{t.axis.name}_indices") != "1":
                problems.append(f"{name}: its axis in the file is not {t.axis.name!r}")
            elif axis.shape != t.axis_values.shape:
                problems.append(f"{name}: axis {t.axis.name!r} has {axis.shape[0]} values in the file, "
                                f"{t.length} asked")
            elif not np.array_equal(axis[()], t.axis_values) or _attr_text(axis, "units") != t.axis.units:
                problems.append(f"{name}: axis {t.axis.name!r} has other values or units in the file")
            file_signals = [n for n, ds in g.items()
                            if isinstance(g.get(n, getlink=True), h5py.HardLink) and isinstance(ds, h5py.Dataset)
                            and ds.ndim == 2]
            if sorted(file_signals) != sorted(t.signal_names):
                problems.append(f"{name}: signals {', '.join(sorted(file_signals))} in the file, "
                                f"{', '.join(sorted(t.signal_names))} asked")
            else:
                changed = [c.name for c in t.signals if _attr_text(g[c.name], "units") != c.units]
                if changed:
                    problems.append(f"{name}: signal {changed[0]!r} has other units in the file")
        if problems:
            raise StorageError(f"cannot resume {self.path}: its traces differ from the run's: " + "; ".join(problems))

    def rows_on_disk(self, count: int) -> tuple[dict, dict]:
        """The first `count` points on disk: ({column: values}, {trace: {signal: (count, m)
        values}}) (a resumed adaptive plan's replay)."""
        with self._io_lock:
            columns = {c.name: ds[:count] for c, ds in zip(self.columns, self._datasets)}
            traces = {t.name: {sig: group[k][:count] for k, sig in enumerate(t.signal_names)}
                      for t, group in zip(self.traces, self._trace_datasets)}
        return columns, traces

    def last_row(self) -> dict[str, float] | None:
        """The last point on disk (for a resumed run: where to go on from)."""
        if self.rows_written == 0:
            return None
        with self._io_lock:
            return {c.name: float(ds[self.rows_written - 1]) for c, ds in zip(self.columns, self._datasets)}

    # -- acquisition side -----------------------------------------------------------------
    def append(self, row: tuple, traces: dict | None = None) -> None:
        """Queue one point: values in the order of self.columns (book-keeping first), and
        its traces as {trace name: {signal name: 1-D array}}; a trace (or a signal) not given
        is stored as NaN. Nothing is queued when anything is wrong."""
        if self._flush_error is not None:
            raise StorageError(f"writing {self.path} failed: {self._flush_error}") from self._flush_error
        frames = self._frames(traces) if self.traces or traces else None
        with self._lock:
            if self._oldest_pending is None:
                self._oldest_pending = time.monotonic()
            self._rows.append(row)
            if frames is not None:
                for buffer, frame in zip(self._trace_buffers, frames):
                    buffer.frames.append(frame)
            oldest = self._oldest_pending
        if time.monotonic() - oldest > 0.8 * self.max_data_at_risk_s:
            # the background flusher fell behind (a busy CPU): keep the promise ourselves
            self.flush()

    def extend(self, rows: Iterable[tuple], traces: Iterable[dict | None] | None = None) -> None:
        """Queue several points; `traces`, when given, one dict (or None) per row as for append."""
        if self._flush_error is not None:
            raise StorageError(f"writing {self.path} failed: {self._flush_error}") from self._flush_error
        if not self.traces and traces is None:
            with self._lock:
                if self._oldest_pending is None:
                    self._oldest_pending = time.monotonic()
                for row in rows:
                    self._rows.append(row)
            return
        rows = list(rows)
        per_row = [None] * len(rows) if traces is None else list(traces)
        if len(per_row) != len(rows):
            raise StorageError(f"extend: {len(rows)} rows but {len(per_row)} trace entries")
        frames = [self._frames(t) for t in per_row]  # every row checked before any is queued
        with self._lock:
            if self._oldest_pending is None:
                self._oldest_pending = time.monotonic()
            for row, row_frames in zip(rows, frames):
                self._rows.append(row)
                for buffer, frame in zip(self._trace_buffers, row_frames):
                    buffer.frames.append(frame)

    def _frames(self, traces: dict | None) -> list[np.ndarray]:
        """One frame per trace of the file, in its order, from append's `traces` argument."""
        traces = traces or {}
        if not isinstance(traces, dict):
            raise StorageError(f"traces: a dict trace name -> {{signal: array}}, got {type(traces).__name__}")
        known = {t.name for t in self.traces}
        unknown = [n for n in traces if n not in known]
        if unknown:
            have = f"its traces are {', '.join(sorted(known))}" if known else "it records no traces"
            raise StorageError(f"{self.path}: no trace {unknown[0]!r}; {have}")
        return [t.frame(traces.get(t.name)) for t in self.traces]

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
            frames = [b.take() for b in self._trace_buffers]
            logs, self._log = self._log, []
            oldest, self._oldest_pending = self._oldest_pending, None
        with self._io_lock:
            if self._closed:
                return
            try:
                if frames:
                    self._write_traces(frames, rows)
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
                    for buffer, block in zip(self._trace_buffers, frames):
                        buffer.put_back(block)
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

    def _write_traces(self, frames: list[np.ndarray], rows: np.ndarray) -> None:
        """Write the traces of a block of rows before the rows themselves, each dataset
        flushed before the next is grown: HDF5 then reaches the disk in that order, so at any
        instant (a SIGKILL) every trace holds at least the rows /entry/data holds, and at most
        this block more, which the reader and a resume cut off. Rows are written at
        rows_written, so a retry after a failure rewrites the same places."""
        if not len(rows):
            return
        n0 = self.rows_written
        n1 = n0 + rows.shape[0]
        index = rows[:, 0].astype(np.int64)
        for block, datasets in zip(frames, self._trace_datasets):
            *signals, point_index = datasets
            for j, ds in enumerate(signals):
                ds.resize((n1, ds.shape[1]))
                ds[n0:n1] = block[:, j, :]
                ds.flush()
            point_index.resize((n1,))
            point_index[n0:n1] = index
            point_index.flush()

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

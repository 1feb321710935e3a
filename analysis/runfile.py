"""Read loopscope run files (docs/file_format.md) and write fit results into them.

    run = read_run("sweep.h5")          # arrays + units + metadata
    run.quantities["moment_Am2"], run.units["moment_Am2"], run.metadata["sample_mass_kg"]
    result = fit_run("sweep.h5", "susceptibility", write=True)

Fit results go to /entry/analysis/<name> (NXprocess); raw data under /entry/data is only read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

class RunFileError(ValueError):
    """The run file cannot be used as asked; the message names the file and the problem."""


@dataclass
class TraceData:
    """One trace of a run file (/entry/<name>): an array per point along a fixed axis.

    signals[name] is a float64 array (points x len(axis_values)), row i belonging to the
    point point_index[i] of /entry/data; a point recorded without this trace is a row of NaN."""

    name: str
    axis: str
    axis_values: np.ndarray
    axis_units: str
    axis_long_name: str
    point_index: np.ndarray
    signals: dict
    units: dict
    long_names: dict
    signal: str

    @property
    def shape(self):
        return (len(self.point_index), len(self.axis_values))


@dataclass
class RunData:
    path: Path
    quantities: dict
    units: dict
    long_names: dict
    metadata: dict
    signal: str | None = None
    axes: list = field(default_factory=list)
    analyses: list = field(default_factory=list)
    traces: dict = field(default_factory=dict)   # name -> TraceData

    def __len__(self):
        return len(next(iter(self.quantities.values()))) if self.quantities else 0

    def get(self, name):
        """A stored or derived quantity (float64 array)."""
        if name in self.quantities:
            return np.asarray(self.quantities[name], dtype=np.float64)
        if name == "moment_Am2" and self._flux_per_moment() is not None:
            # the SQUID's flux over the pickup's calibration (the station's
            # flux_per_moment_phi0_per_Am2 of the flux readout, recorded in the file)
            return np.asarray(self.quantities["flux_phi0"], dtype=np.float64) / self._flux_per_moment()
        if name == "moment_per_H_m3" and {"moment_Am2", "field_H_A_per_m"} <= set(self.available()):
            return self.get("moment_Am2") / self.get("field_H_A_per_m")
        if name == "field_H_A_per_m" and "field_T" in self.quantities:
            from loopscope.analysis.constants import MU_0

            return self.quantities["field_T"] / MU_0
        raise RunFileError(f"{self.path}: no quantity {name!r} in /entry/data; "
                           f"available: {', '.join(self.available())}")

    def unit_of(self, name):
        if name in self.units:
            return self.units[name]
        return {"moment_per_H_m3": "m^3", "field_H_A_per_m": "A/m", "moment_Am2": "A m^2"}.get(name, "")

    def _flux_per_moment(self):
        value = self.metadata.get("flux_per_moment_phi0_per_Am2")
        return float(value) if value and "flux_phi0" in self.quantities else None

    def to_pandas(self, trace=None):
        """The data table as a pandas DataFrame, one row per point (index: point_index when
        the file has it); units and long names in ``df.attrs`` and each column's name.

        trace="iv_curve": that trace in long form instead, one row per point and axis value
        (index: point_index, the axis), its signals and the point's scalar quantities as
        columns, so ``df.groupby("field_T")`` gives one curve per field."""
        try:
            import pandas as pd
        except ImportError:
            raise RunFileError(f"{self.path}: to_pandas needs pandas (pip install pandas)") from None
        if trace is not None:
            return self._trace_to_pandas(pd, trace)
        columns = {name: np.asarray(values) for name, values in self.quantities.items()}
        index = columns.pop("point_index", None)
        df = pd.DataFrame(columns, index=None if index is None else pd.Index(index, name="point_index"))
        df.attrs.update({"units": dict(self.units), "long_names": dict(self.long_names),
                         "source": str(self.path), "signal": self.signal, "axes": list(self.axes)})
        return df

    def _trace_to_pandas(self, pd, name):
        t = self.trace(name)
        n, m = t.shape
        index = pd.MultiIndex.from_arrays([np.repeat(t.point_index, m), np.tile(t.axis_values, n)],
                                          names=["point_index", t.axis])
        columns = {s: np.asarray(v).reshape(-1) for s, v in t.signals.items()}
        for q, values in self.quantities.items():
            if q != "point_index":
                columns[q] = np.repeat(np.asarray(values), m)
        df = pd.DataFrame(columns, index=index)
        units = {**self.units, t.axis: t.axis_units, **t.units}
        long_names = {**self.long_names, t.axis: t.axis_long_name, **t.long_names}
        df.attrs.update({"units": units, "long_names": long_names, "source": str(self.path),
                         "signal": t.signal, "trace": t.name, "axes": ["point_index", t.axis]})
        return df

    def trace(self, name):
        """The trace `name` (a TraceData); RunFileError naming the ones there are otherwise."""
        try:
            return self.traces[name]
        except KeyError:
            have = f"its traces are {', '.join(self.traces)}" if self.traces else "it has no traces"
            raise RunFileError(f"{self.path}: no trace {name!r}; {have}") from None

    def to_xarray(self, grid: bool | None = None):
        """The data as an xarray Dataset on the dimension ``point`` (coordinate point_index
        when the file has it; the plan's axes as further coordinates along it), every variable
        with its ``units`` and ``long_name``. Each trace signal is a variable on
        (``point``, <its axis>), the axis a coordinate with its units.

        A grid plan's file (an outer loop over temperature or frequency around a field sweep)
        comes back 2-D, on (``outer_index``, ``field_setpoint_T``), every sweep in field order
        whichever way it ran, with the outer setpoint as a coordinate along ``outer_index``
        and ``point_index`` kept as a variable (a point not measured, as in an aborted grid, is
        NaN); ``grid=False`` gives the points as they were taken."""
        flat = self._to_xarray_points()
        if grid is None:
            grid = self.metadata.get("plan_kind") == "grid"
        if not grid:
            return flat
        if not {"outer_index", "field_setpoint_T"} <= set(self.quantities):
            raise RunFileError(f"{self.path}: not a grid (no outer_index and field_setpoint_T to reshape on)")
        return _grid_of(flat)

    def _to_xarray_points(self):
        try:
            import xarray as xr
        except ImportError:
            raise RunFileError(f"{self.path}: to_xarray needs xarray (pip install xarray)") from None

        def attrs(name):
            out = {"units": self.units.get(name, "")}
            if self.long_names.get(name):
                out["long_name"] = self.long_names[name]
            return out

        n = len(self)
        coords = {"point": ("point", np.asarray(self.quantities.get("point_index", np.arange(n))),
                            {"long_name": "point index"})}
        for axis in self.axes:
            if axis in self.quantities and axis != "point_index":
                coords[axis] = ("point", np.asarray(self.quantities[axis]), attrs(axis))
        data_vars = {name: ("point", np.asarray(values), attrs(name))
                     for name, values in self.quantities.items()
                     if name != "point_index" and name not in coords}
        for t in self.traces.values():
            axis_attrs = {"units": t.axis_units, **({"long_name": t.axis_long_name} if t.axis_long_name else {})}
            coords[t.axis] = (t.axis, np.asarray(t.axis_values), axis_attrs)
            for name, values in t.signals.items():
                var_attrs = {"units": t.units.get(name, ""), "trace": t.name}
                if t.long_names.get(name):
                    var_attrs["long_name"] = t.long_names[name]
                data_vars[name] = (("point", t.axis), np.asarray(values), var_attrs)
        return xr.Dataset(data_vars, coords=coords,
                          attrs={"source": str(self.path), "signal": self.signal or ""})

    def available(self):
        names = list(self.quantities)
        if "moment_Am2" not in names and self._flux_per_moment() is not None:
            names.append("moment_Am2")
        if {"moment_Am2", "field_H_A_per_m"} <= set(names):
            names.append("moment_per_H_m3")
        if "field_T" in names and "field_H_A_per_m" not in names:
            names.append("field_H_A_per_m")
        return names


def _grid_of(flat):
    """A grid run's points reshaped on (outer_index, field_setpoint_T)."""
    ds = flat.reset_coords()                       # every coordinate along point becomes a variable
    ds["point_index"] = ("point", np.asarray(ds["point"].values), {"long_name": "point index"})
    ds = ds.drop_vars("point")
    ds = ds.assign_coords(outer_index=("point", ds["outer_index"].values.astype(np.int64)),
                          field_setpoint_T=("point", ds["field_setpoint_T"].values))
    ds = ds.set_index(point=["outer_index", "field_setpoint_T"]).unstack("point")
    ds["field_setpoint_T"].attrs.update(flat["field_setpoint_T"].attrs)
    for outer in ("temperature_setpoint_K", "frequency_Hz"):
        if outer in ds and "outer_index" in ds[outer].dims:
            values = ds[outer].mean("field_setpoint_T", skipna=True)
            ds = ds.assign_coords({f"outer_{outer}": ("outer_index", values.values, dict(flat[outer].attrs))})
            break
    return ds


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _text(v[()])
    return v


def read_run(path) -> RunData:
    """Read /entry/data (every quantity, with units), sample and entry metadata."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise RunFileError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        try:
            # a file still open for writing, or left so by a writer that was killed: its
            # SWMR mark refuses plain readers, and a SWMR reader sees every flushed point
            f = h5py.File(path, "r", swmr=True)
        except OSError:
            raise RunFileError(f"{path}: not a readable HDF5 file ({exc})") from None
    with f:
        if "entry" not in f:
            raise RunFileError(f"{path}: no /entry group (not a loopscope run file)")
        entry = f["entry"]
        if "data" not in entry or not isinstance(entry["data"], h5py.Group):
            raise RunFileError(f"{path}: no /entry/data group: the file holds no data")
        data = entry["data"]
        quantities, units, long_names = {}, {}, {}
        for name, ds in data.items():
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
                continue
            try:
                arr = ds[()]
            except OSError as exc:
                raise RunFileError(f"{path}: dataset /entry/data/{name} is damaged or truncated ({exc})") from None
            if arr.dtype.kind not in "fiub":
                continue
            quantities[name] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
            units[name] = str(_text(ds.attrs.get("units", "")))
            long_names[name] = str(_text(ds.attrs.get("long_name", "")))
        if not quantities:
            raise RunFileError(f"{path}: /entry/data holds no datasets")
        lengths = {n: len(a) for n, a in quantities.items()}
        if len(set(lengths.values())) > 1:
            longest = max(lengths.values())
            short = {n: l for n, l in lengths.items() if l < longest}
            raise RunFileError(f"{path}: truncated datasets in /entry/data: "
                               + ", ".join(f"{n} has {l} points" for n, l in short.items())
                               + f" where others have {longest}")
        if max(lengths.values()) == 0:
            raise RunFileError(f"{path}: /entry/data has no points (the run recorded nothing)")
        meta = {}
        for key in ("title", "start_time", "end_time", "status", "status_reason", "plan_kind",
                    "operator", "loopscope_version"):
            if key in entry:
                meta[key] = str(_text(entry[key][()]))
        sample = entry.get("sample")
        if sample is not None:
            for key, ds in sample.items():
                if isinstance(ds, h5py.Dataset):
                    meta[f"sample_{key}"] = _text(ds[()])
            if "mass" in sample:
                mass = float(sample["mass"][()])
                unit = str(_text(sample["mass"].attrs.get("units", "kg")))
                scale = {"kg": 1.0, "g": 1e-3, "mg": 1e-6}.get(unit)
                if scale is None:
                    raise RunFileError(f"{path}: /entry/sample/mass has unknown units {unit!r}")
                meta["sample_mass_kg"] = mass * scale
        calibration = _flux_per_moment_of(entry)
        if calibration is not None:
            meta["flux_per_moment_phi0_per_Am2"] = calibration
        signal = _text(data.attrs.get("signal"))
        axes = data.attrs.get("axes")
        if axes is not None:
            axes = [str(_text(a)) for a in np.atleast_1d(axes)]
        analyses = list(entry["analysis"].keys()) if "analysis" in entry else []
        traces = _read_traces(path, entry, quantities)
    return RunData(path, quantities, units, long_names, meta, signal, axes or [], analyses, traces)


def _flux_per_moment_of(entry):
    """The flux readout's pickup calibration from the station snapshot, or None."""
    import json
    try:
        snapshot = json.loads(_text(entry["instrument"]["snapshot_json"][()]))
    except (KeyError, ValueError, TypeError):
        return None
    for inst in (snapshot.get("instruments") or {}).values():
        if isinstance(inst, dict) and inst.get("role") == "flux_readout":
            value = (inst.get("station_settings") or {}).get("flux_per_moment_phi0_per_Am2")
            if value:
                return float(value)
    return None


def _read_traces(path, entry, quantities):
    """Every trace group (an NXdata under /entry other than data), cut to the points of
    /entry/data: a writer killed mid-flush leaves its last block in the traces only (they are
    written first), and a trace row belongs to the run once its point is in /entry/data."""
    import h5py

    n = len(next(iter(quantities.values())))
    data_index = quantities.get("point_index")
    traces = {}
    for name, g in entry.items():
        if name == "data" or not isinstance(g, h5py.Group) or _text(g.attrs.get("NX_class")) != "NXdata":
            continue
        where = f"{path}: trace /entry/{name}"
        axes = [str(_text(a)) for a in np.atleast_1d(g.attrs.get("axes", []))]
        if len(axes) != 2 or axes[0] != "point_index" or axes[1] not in g or "point_index" not in g:
            raise RunFileError(f"{where}: not a trace (@axes {axes}, expected ['point_index', <axis>])")
        axis_ds = g[axes[1]]
        axis_values = axis_ds[()].astype(np.float64)
        signals, units, long_names = {}, {}, {}
        for sname in g:
            if not isinstance(g.get(sname, getlink=True), h5py.HardLink):
                continue  # the row's scalars, linked in from /entry/data
            ds = g[sname]
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 2:
                continue
            if ds.shape[0] < n or ds.shape[1] != axis_values.size:
                raise RunFileError(f"{where}/{sname} has shape {ds.shape}; /entry/data has {n} points "
                                   f"and the axis {axes[1]} {axis_values.size} values")
            try:
                signals[sname] = ds[:n].astype(np.float64)
            except OSError as exc:
                raise RunFileError(f"{where}/{sname} is damaged or truncated ({exc})") from None
            units[sname] = str(_text(ds.attrs.get("units", "")))
            long_names[sname] = str(_text(ds.attrs.get("long_name", "")))
        index = g["point_index"][()]
        if len(index) < n or (data_index is not None and not np.array_equal(index[:n], data_index)):
            raise RunFileError(f"{where}/point_index does not match /entry/data/point_index")
        signal = str(_text(g.attrs.get("signal", "")))
        # the writer's order: the signal, then its auxiliary signals (h5py lists by name)
        order = [signal] + [str(_text(a)) for a in np.atleast_1d(g.attrs.get("auxiliary_signals", []))]
        order = [o for o in order if o in signals] + [o for o in signals if o not in order]
        signals = {o: signals[o] for o in order}
        traces[name] = TraceData(name, axes[1], axis_values, str(_text(axis_ds.attrs.get("units", ""))),
                                 str(_text(axis_ds.attrs.get("long_name", ""))), index[:n], signals, units,
                                 long_names, signal if signal in signals else next(iter(signals), ""))
    return traces


def select(run: RunData, x_name, y_name, sigma_name=None, xmin=None, xmax=None, use_abs=False):
    """Pick x, y (and sigma) for a fit; NaN/inf are an error, not silently dropped."""
    x = run.get(x_name)
    y = run.get(y_name)
    s = run.get(sigma_name) if sigma_name else None
    mask = np.ones(x.shape, dtype=bool)
    xv = np.abs(x) if use_abs else x
    if xmin is not None:
        mask &= xv >= xmin
    if xmax is not None:
        mask &= xv <= xmax
    x, y = x[mask], y[mask]
    s = s[mask] if s is not None else None
    for name, arr in ((x_name, x), (y_name, y)) + (((sigma_name, s),) if s is not None else ()):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise RunFileError(f"{run.path}: {name} has {int(bad.sum())} NaN/inf value(s) in the selection "
                               f"(first at selected index {int(np.argmax(bad))})")
    if s is not None and np.any(s <= 0):
        raise RunFileError(f"{run.path}: {sigma_name} has values <= 0; cannot weight the fit with it")
    return x, y, s, mask


def fit_run(path, model, params=None, x=None, y=None, sigma=None, fixed=None, xmin=None, xmax=None,
            use_abs=False, name=None, write=True, write_unconverged=False, atomic=True):
    """Fit a model to a run file and (write=True) store the result at /entry/analysis/<name>.

    Everything is validated and fitted before the file is opened for writing: a bad model,
    parameter, quantity or data leaves the file untouched, and so does a fit that did not
    converge (unless write_unconverged=True; it is then stored with converged = False).
    With write=True the file's writer lock (daq/locks.py) is held throughout, so a file a run
    is still recording into is refused, and (atomic=True) the fit is written into a copy that
    then replaces the file in one step: a crash while writing cannot damage the raw data.
    atomic=False writes in place, for a caller that works on its own copy (reanalysis).
    Returns the FitResult.
    """
    if write and atomic:
        from loopscope.daq.locks import LockBusy, RunFileLock

        if not Path(path).exists():
            raise RunFileError(f"{path}: no such file")
        lock = RunFileLock(path)
        try:
            lock.acquire()
        except LockBusy:
            raise RunFileError(f"{path}: another process is writing it (a run is recording into it); fit it "
                               "once the run has ended, or use --dry-run to fit without writing") from None
        except OSError as exc:
            raise RunFileError(f"{path}: cannot take its lock {lock.lock_file}: {exc.strerror or exc}") from None
        try:
            return _fit_run(path, model, params, x, y, sigma, fixed, xmin, xmax, use_abs, name, write,
                            write_unconverged, atomic)
        finally:
            lock.release()
    return _fit_run(path, model, params, x, y, sigma, fixed, xmin, xmax, use_abs, name, write,
                    write_unconverged, atomic)


def _fit_run(path, model, params, x, y, sigma, fixed, xmin, xmax, use_abs, name, write, write_unconverged,
             atomic):
    from loopscope.analysis.fitting import fit
    from loopscope.analysis.models import get_model

    spec = get_model(model) if isinstance(model, str) else model
    run = read_run(path)
    x_name = x or spec.x
    y_name = y or spec.y
    xs, ys, ss, mask = select(run, x_name, y_name, sigma, xmin, xmax, use_abs)
    meta = dict(run.metadata)
    meta["x_max_abs"] = float(np.max(np.abs(xs))) if xs.size else 0.0
    params = dict(params or {})
    if "T" in spec.param_names and "T" not in params and "temperature_K" in run.quantities:
        t = run.quantities["temperature_K"][mask]
        if np.all(np.isfinite(t)) and t.size:
            params["T"] = float(np.median(t))
    result = fit(spec, xs, ys, params=params, sigma=ss, fixed=fixed, metadata=meta)
    if write and (result.converged or write_unconverged):
        selection = {"x": x_name, "y": y_name, "sigma": sigma, "xmin": xmin, "xmax": xmax,
                     "abs": bool(use_abs), "n_points": int(xs.size),
                     "x_units": run.unit_of(x_name), "y_units": run.unit_of(y_name)}
        if atomic:
            _write_fit_in_copy(path, name or spec.name, result, selection, xs, spec(xs, result.values))
        else:
            write_fit(path, name or spec.name, result, selection, xs, spec(xs, result.values))
    return result


def _write_fit_in_copy(path, name, result, selection, x, y_fit):
    """write_fit into a copy of the run file beside it, then os.replace the copy onto the file
    (the caller holds the file's lock): the run file itself is never open for writing."""
    import os
    import shutil

    from loopscope.daq.output_files import OutputFileError, replace_file, temporary_name

    real = os.path.realpath(path)
    tmp = temporary_name(real, "fit")
    try:
        shutil.copy2(real, tmp)
        write_fit(tmp, name, result, selection, x, y_fit)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            replace_file(tmp, real)
        except OutputFileError as exc:
            raise RunFileError(f"{path}: the fit was not stored: {exc}") from None
    except OSError as exc:
        raise RunFileError(f"{path}: cannot store the fit: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_fit(path, name, result, selection, x, y_fit):
    """Write /entry/analysis/<name> as an NXprocess (replacing an earlier fit of that name)."""
    import h5py

    from loopscope import __version__ as version

    if not name or "/" in name:
        raise RunFileError(f"bad analysis name {name!r}")
    with h5py.File(path, "r+") as f:
        entry = f["entry"]
        ana = entry.require_group("analysis")
        ana.attrs.setdefault("NX_class", "NXcollection")
        if name in ana:
            del ana[name]
        try:
            g = ana.create_group(name)
            g.attrs["NX_class"] = "NXprocess"
            g["program"] = "loopscope fit"
            g["version"] = version
            g["date"] = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
            g["model"] = result.model
            g["model_version"] = result.model_version
            g["converged"] = bool(result.converged)
            g["status"] = int(result.status)
            g["message"] = result.message
            g["chi_square"] = float(result.chi_square)
            g["reduced_chi_square"] = float(result.reduced_chi_square)
            g["dof"] = int(result.dof)
            g["n_points"] = int(result.n_points)
            g["iterations"] = int(result.iterations)
            g["function_evaluations"] = int(result.nfev)
            g["absolute_sigma"] = bool(result.absolute_sigma)
            g["selection"] = json.dumps(selection)
            p = g.create_group("parameters")
            p.attrs["NX_class"] = "NXcollection"
            for n, v, s, u in zip(result.names, result.values, result.stderr, result.units):
                d = p.create_dataset(n, data=float(v))
                d.attrs["units"] = u
                d.attrs["stderr"] = float(s)
                d.attrs["fixed"] = n in result.fixed
            if result.derived:
                dg = g.create_group("derived")
                dg.attrs["NX_class"] = "NXcollection"
                for n, (v, s, u) in result.derived.items():
                    d = dg.create_dataset(n, data=float(v))
                    d.attrs["units"] = u
                    d.attrs["stderr"] = float(s)
            cov = g.create_dataset("covariance", data=np.asarray(result.covariance, dtype=np.float64))
            cov.attrs["parameter_names"] = json.dumps(list(result.names))
            g["parameter_names"] = np.array([n.encode() for n in result.names])
            g["stderr"] = np.asarray(result.stderr, dtype=np.float64)
            # the fitted curve at the selected points, plottable by NeXus viewers
            c = g.create_group("fit_curve")
            c.attrs["NX_class"] = "NXdata"
            c.attrs["signal"] = "y_fit"
            c.attrs["axes"] = ["x"]
            dx = c.create_dataset("x", data=np.asarray(x, dtype=np.float64))
            dx.attrs["units"] = selection.get("x_units", "")
            dx.attrs["long_name"] = selection["x"]
            dy = c.create_dataset("y_fit", data=np.asarray(y_fit, dtype=np.float64))
            dy.attrs["units"] = selection.get("y_units", "")
            dy.attrs["long_name"] = f"{result.model} fit of {selection['y']}"
        except Exception:
            if name in ana:
                del ana[name]
            raise


def read_fit(path, name):
    """Read /entry/analysis/<name> back: dict with parameters {name: (value, stderr, units)}, etc."""
    import h5py

    with h5py.File(path, "r") as f:
        try:
            g = f["entry"]["analysis"][name]
        except KeyError:
            raise RunFileError(f"{path}: no analysis {name!r}") from None
        params = {n: (float(d[()]), float(d.attrs["stderr"]), str(_text(d.attrs["units"])))
                  for n, d in g["parameters"].items()}
        order = [_text(v) for v in g["parameter_names"][()]]
        out = {"parameters": {n: params[n] for n in order},
               "model": str(_text(g["model"][()])), "model_version": str(_text(g["model_version"][()])),
               "chi_square": float(g["chi_square"][()]), "dof": int(g["dof"][()]),
               "converged": bool(g["converged"][()]), "selection": json.loads(_text(g["selection"][()])),
               "covariance": g["covariance"][()], "x": g["fit_curve/x"][()], "y_fit": g["fit_curve/y_fit"][()]}
        if "derived" in g:
            out["derived"] = {n: (float(d[()]), float(d.attrs["stderr"]), str(_text(d.attrs["units"])))
                              for n, d in g["derived"].items()}
        return out

"""Read a run file back: a summary for people, and CSV export."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from loopscope.daq.recovery import open_run_file
from loopscope.daq.storage import read_status


def _text(ds) -> str:
    value = ds[()]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00 ")
    return str(value)


def summarize(path: str | Path) -> dict:
    """Everything `loopscope inspect` prints, as a dict."""
    path = Path(path)
    status, reason = read_status(path)
    with open_run_file(path) as f:
        if "entry" not in f:
            raise ValueError(f"{path}: not a loopscope run file (no /entry group)")
        entry = f["entry"]
        data = entry["data"]
        quantities = {}
        for name, ds in data.items():
            arr = ds[()]
            finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
            quantities[name] = {
                "units": str(ds.attrs.get("units", "")),
                "points": int(arr.shape[0]),
                "min": float(finite.min()) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
            }
        points = max((q["points"] for q in quantities.values()), default=0)
        traces = _trace_summaries(entry)
        sample = {}
        for k, ds in entry.get("sample", {}).items():
            sample[k] = _text(ds) if ds.dtype.kind in "SOU" else float(ds[()])
        snapshot = {}
        if "instrument" in entry and "snapshot_json" in entry["instrument"]:
            try:
                snapshot = json.loads(_text(entry["instrument"]["snapshot_json"]))
            except json.JSONDecodeError:
                snapshot = {}
        log_levels = []
        if "log" in entry and "level" in entry["log"]:
            log_levels = [x.decode().rstrip("\x00") for x in entry["log"]["level"][()]]
        messages = []
        if "log" in entry and "message" in entry["log"]:
            messages = [x.decode("utf-8", "replace").rstrip("\x00") for x in entry["log"]["message"][()]]
        return {
            "path": str(path),
            "title": _text(entry["title"]),
            "plan_kind": _text(entry["plan_kind"]),
            "status": status,
            "reason": reason,
            "start_time": _text(entry["start_time"]),
            "end_time": _text(entry["end_time"]),
            "operator": _text(entry["operator"]) if "operator" in entry else "",
            "loopscope_version": _text(entry["loopscope_version"]) if "loopscope_version" in entry else "",
            "points": points,
            "signal": str(data.attrs.get("signal", "")),
            "axes": [str(a) for a in np.atleast_1d(data.attrs.get("axes", []))],
            "quantities": quantities,
            "traces": traces,
            "sample": sample,
            "instruments": {k: v.get("idn") for k, v in snapshot.get("instruments", snapshot).items()
                            if isinstance(v, dict)},
            "plan": _text(entry["plan"]) if "plan" in entry else "",
            "warnings": sum(1 for lv in log_levels if lv in ("warning", "error")),
            "log": list(zip(log_levels, messages)),
            "analyses": sorted(entry["analysis"].keys()) if "analysis" in entry else [],
        }


def _trace_summaries(entry) -> dict:
    """The traces (/entry/<name>: NXdata groups beside /entry/data): axis, signals, shapes, units."""
    import h5py

    out = {}
    for name, g in entry.items():
        if name == "data" or not isinstance(g, h5py.Group) or g.attrs.get("NX_class") != "NXdata":
            continue
        axes = [str(a) for a in np.atleast_1d(g.attrs.get("axes", []))]
        axis = axes[1] if len(axes) == 2 and axes[1] in g else None
        values = g[axis][()] if axis else np.empty(0)
        signals = {}
        for sname in g:
            if not isinstance(g.get(sname, getlink=True), h5py.HardLink):
                continue  # the row's scalars, soft links to /entry/data
            ds = g[sname]
            if isinstance(ds, h5py.Dataset) and ds.ndim == 2:
                signals[sname] = {"units": str(ds.attrs.get("units", "")), "shape": list(ds.shape)}
        main = str(g.attrs.get("signal", ""))
        signals = dict(sorted(signals.items(), key=lambda item: item[0] != main))  # the signal first
        out[name] = {"axis": axis, "axis_units": str(g[axis].attrs.get("units", "")) if axis else "",
                     "axis_points": int(values.size),
                     "axis_min": float(values.min()) if values.size else None,
                     "axis_max": float(values.max()) if values.size else None,
                     "signal": str(g.attrs.get("signal", "")), "signals": signals}
    return out


def format_summary(s: dict) -> str:
    lines = [
        f"{s['path']}",
        f"  title      {s['title']}",
        f"  plan       {s['plan_kind']}",
        f"  status     {s['status']}" + (f" ({s['reason']})" if s["reason"] else ""),
        f"  started    {s['start_time']}",
        f"  ended      {s['end_time'] or '-'}",
        f"  points     {s['points']}",
        f"  signal     {s['signal']} against {', '.join(s['axes'])}",
    ]
    if s["operator"]:
        lines.append(f"  operator   {s['operator']}")
    if s["sample"]:
        lines.append("  sample     " + ", ".join(f"{k}={v}" for k, v in s["sample"].items() if v not in ("", None)))
    lines.append("  quantities")
    for name, q in s["quantities"].items():
        rng = "" if q["min"] is None else f"{q['min']:.6g} .. {q['max']:.6g}"
        lines.append(f"    {name:<26} [{q['units']}]  {rng}")
    if s.get("traces"):
        lines.append("  traces")
        for name, t in s["traces"].items():
            rng = "" if t["axis_min"] is None else f"  {t['axis_min']:.6g} .. {t['axis_max']:.6g}"
            lines.append(f"    {name:<26} along {t['axis']} [{t['axis_units']}], {t['axis_points']} values{rng}")
            for sname, sig in t["signals"].items():
                shape = " x ".join(str(n) for n in sig["shape"])
                main = "  (signal)" if sname == t["signal"] else ""
                lines.append(f"      {sname:<24} [{sig['units']}]  {shape}{main}")
    if s["instruments"]:
        lines.append("  instruments")
        for name, idn in s["instruments"].items():
            lines.append(f"    {name:<26} {idn}")
    if s["log"]:
        lines.append(f"  log ({len(s['log'])} lines, {s['warnings']} warnings or errors)")
        for level, message in s["log"][-10:]:
            lines.append(f"    {level:<8} {message}")
    if s["analyses"]:
        lines.append("  analyses   " + ", ".join(s["analyses"]))
    return "\n".join(lines)


class NotARunFile(ValueError):
    """The file is HDF5 but its /entry/data is not a loopscope data table."""


def export_csv(path: str | Path, out: str | Path) -> int:
    """Write /entry/data as CSV, one column per quantity, header 'name [units]'. Returns rows.

    Raises NotARunFile (a ValueError) naming the file and what is wrong when /entry/data is
    not a group of one-dimensional numeric datasets; nothing is written then."""
    import h5py

    with open_run_file(path) as f:
        data = f.get("entry/data")
        if not isinstance(data, h5py.Group):
            what = "missing" if data is None else f"a {type(data).__name__.lower()}, not a group"
            raise NotARunFile(f"{path}: not a loopscope run file (/entry/data is {what})")
        names = list(data.keys())
        for n in names:
            ds = data[n]
            if not isinstance(ds, h5py.Dataset):
                raise NotARunFile(f"{path}: not a loopscope run file (/entry/data/{n} is a group, "
                                  f"not a column)")
            if ds.ndim != 1 or ds.dtype.kind not in "biuf":
                raise NotARunFile(f"{path}: not a loopscope run file (/entry/data/{n} is "
                                  f"{ds.ndim}-dimensional {ds.dtype}, not a column of numbers)")
        order = [n for n in ("point_index", "timestamp", "elapsed_s") if n in names]
        order += [n for n in names if n not in order]
        columns = [data[n][()] for n in order]
        units = [str(data[n].attrs.get("units", "")) for n in order]
    n = min((len(c) for c in columns), default=0)
    table = np.column_stack([np.asarray(c[:n], dtype=np.float64) for c in columns]) if columns else np.empty((0, 0))
    with open(out, "w", newline="") as fh:
        csv.writer(fh).writerow([f"{name} [{u}]" for name, u in zip(order, units)])
        np.savetxt(fh, table, delimiter=",", fmt="%.17g")  # round-trips every float64 exactly
    return n

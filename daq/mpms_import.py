"""Import Quantum Design MPMS3 `.dat` files (MultiVu) into a loopscope run file.

    import_mpms("mvsh9.dat", "mvsh9.h5")            # -> Path("mvsh9.h5")
    loopscope import-mpms mvsh9.dat --out mvsh9.h5

The file has a `[Header]` of `INFO,value,KEY` lines (the value may itself contain commas) and
a `[Data]` CSV table. CGS is converted to SI here, at the edge (PHYSICS.md section 3):
H [A/m] = Oe * 1e-4 / mu0, field_T = mu0 H = Oe * 1e-4, moment [A m^2] = emu * 1e-3,
SAMPLE_MASS is in mg. DC-mode files leave "Moment (emu)" empty and report the moment in
"DC Moment Fixed Ctr (emu)"; rows with no moment at all are skipped (counted in the log).

A row that is not whole is dropped, never read as a plausible number: fewer fields than the
header (a file cut off mid-row, e.g. "...,0.38" where more columns follow), more fields than
the header, or a last row the file ends inside (no line end after it and its last field not
empty: "0.38" may have been "0.3812"). Dropped rows are counted with their reasons, in the
import's messages and in the run file's log and status reason.
"""
from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path

import click
import numpy as np

MU_0 = 1.25663706127e-6
OE_TO_T = 1e-4
EMU_TO_AM2 = 1e-3

# (quantity, units, long name) of the run-file columns this importer writes
COLUMNS = (
    ("field_T", "T", "applied field mu0 H"),
    ("field_H_A_per_m", "A/m", "applied field H"),
    ("moment_Am2", "A m^2", "magnetic moment"),
    ("moment_err_Am2", "A m^2", "standard error of the moment"),
    ("temperature_K", "K", "sample temperature"),
)

MOMENT_COLUMNS = (("Moment (emu)", "M. Std. Err. (emu)"),
                  ("DC Moment Fixed Ctr (emu)", "DC Moment Err Fixed Ctr (emu)"),
                  ("DC Moment Free Ctr (emu)", "DC Moment Err Free Ctr (emu)"))


class MPMSImportError(ValueError):
    """The .dat file cannot be imported; the message names the file and the problem."""


def parse_mpms_dat(src):
    """Parse a MultiVu .dat file: returns (info: dict KEY -> value, header lines, column names, rows)."""
    info, header, names, rows, _ = _parse(src)
    return info, header, names, rows


def _parse(src):
    """parse_mpms_dat, and whether the file ends with a line end (its last row is whole)."""
    src = Path(src)
    try:
        text = src.read_text(encoding="latin-1")
    except OSError as exc:
        raise MPMSImportError(f"{src}: cannot read ({exc})") from None
    ends_with_newline = text.endswith(("\n", "\r"))
    lines = text.splitlines()
    try:
        i_data = next(i for i, line in enumerate(lines) if line.strip() == "[Data]")
    except StopIteration:
        raise MPMSImportError(f"{src}: no [Data] section (not a MultiVu .dat file)") from None
    if not lines or lines[0].strip() != "[Header]":
        raise MPMSImportError(f"{src}: does not start with [Header] (not a MultiVu .dat file)")
    info = {}
    header = []
    for line in lines[1:i_data]:
        if line.startswith(";"):
            continue
        header.append(line)
        parts = next(csv.reader([line]))
        if parts and parts[0] == "INFO" and len(parts) >= 3:
            info[parts[-1].strip()] = ",".join(parts[1:-1]).strip()
        elif parts and parts[0] in ("TITLE", "FILEOPENTIME", "BYAPP"):
            info[parts[0]] = ",".join(parts[1:]).strip()
    reader = csv.reader(io.StringIO("\n".join(lines[i_data + 1:])))
    try:
        names = [n.strip() for n in next(reader)]
    except StopIteration:
        raise MPMSImportError(f"{src}: [Data] has no column header") from None
    rows = [r for r in reader if any(c.strip() for c in r)]
    return info, header, names, rows, ends_with_newline


def whole_rows(names, rows, ends_with_newline=True):
    """(rows that are whole, {reason: [1-based data row numbers]} of the dropped ones)."""
    n = len(names)
    kept, dropped = [], {}
    for i, r in enumerate(rows):
        reason = None
        if len(r) < n:
            reason = f"cut short (fewer fields than the header's {n})"
        elif len(r) > n:
            reason = f"more fields than the header's {n}"
        elif i == len(rows) - 1 and not ends_with_newline and r[-1].strip():
            reason = "the file ends inside it (no line end after the last row)"
        if reason is None:
            kept.append(r)
        else:
            dropped.setdefault(reason, []).append(i + 1)
    return kept, dropped


def describe_dropped(dropped, total):
    """One line: how many rows were dropped and why ('' for none)."""
    if not dropped:
        return ""
    count = sum(len(v) for v in dropped.values())
    parts = []
    for reason, numbers in dropped.items():
        shown = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
        parts.append(f"{len(numbers)} {reason}: data row{'s' if len(numbers) > 1 else ''} {shown}")
    return f"{count} of {total} data rows dropped, not imported: " + "; ".join(parts)


def _column(names, rows, name):
    if name not in names:
        return None
    j = names.index(name)
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        if j < len(r) and r[j].strip():
            try:
                out[i] = float(r[j])
            except ValueError:
                pass
    return out


def _multivu_epoch_offset(info):
    """Seconds to subtract from MultiVu time stamps to get Unix time.

    FILEOPENTIME holds the same instant as a MultiVu stamp and as a local date/time string;
    the time zone is not recorded, so the date is read as UTC (an offset of hours at most)."""
    try:
        stamp, date, clock = [p.strip() for p in info["FILEOPENTIME"].split(",")[:3]]
        local = datetime.strptime(f"{date} {clock}", "%m/%d/%Y %I:%M %p").replace(tzinfo=timezone.utc)
        return float(stamp) - local.timestamp()
    except (KeyError, ValueError):
        return None


def _float_or_none(v):
    try:
        x = float(v)
        return x if math.isfinite(x) else None
    except (TypeError, ValueError):
        return None


def convert(src):
    """Parse and convert to SI: returns (quantities, signal, axis, metadata)."""
    src = Path(src)
    info, header, names, all_rows, ends_with_newline = _parse(src)
    if not all_rows:
        raise MPMSImportError(f"{src}: [Data] has no rows")
    rows, dropped = whole_rows(names, all_rows, ends_with_newline)
    if not rows:
        raise MPMSImportError(f"{src}: no whole data row ({describe_dropped(dropped, len(all_rows))})")
    field_oe = _column(names, rows, "Magnetic Field (Oe)")
    temp = _column(names, rows, "Temperature (K)")
    stamp = _column(names, rows, "Time Stamp (sec)")
    if field_oe is None or temp is None or stamp is None:
        raise MPMSImportError(f"{src}: missing one of the columns 'Magnetic Field (Oe)', "
                              "'Temperature (K)', 'Time Stamp (sec)'")
    moment = np.full(len(rows), np.nan)
    err = np.full(len(rows), np.nan)
    source = {}
    for mcol, ecol in MOMENT_COLUMNS:  # first non-empty moment column wins, per row
        m = _column(names, rows, mcol)
        if m is None:
            continue
        e = _column(names, rows, ecol)
        take = np.isnan(moment) & np.isfinite(m)
        moment[take] = m[take]
        if e is not None:
            err[take] = e[take]
        if take.any():
            source[mcol] = int(take.sum())
    keep = np.isfinite(moment) & np.isfinite(field_oe) & np.isfinite(temp) & np.isfinite(stamp)
    if not keep.any():
        raise MPMSImportError(f"{src}: no row has a moment, field, temperature and time stamp")
    offset = _multivu_epoch_offset(info)
    ts = stamp[keep]
    q = {
        "field_T": field_oe[keep] * OE_TO_T,
        "field_H_A_per_m": field_oe[keep] * OE_TO_T / MU_0,
        "moment_Am2": moment[keep] * EMU_TO_AM2,
        "moment_err_Am2": err[keep] * EMU_TO_AM2,
        "temperature_K": temp[keep],
        "timestamp": ts - offset if offset is not None else ts,
        "elapsed_s": ts - ts[0],
        "point_index": np.arange(int(keep.sum()), dtype=np.int64),
    }
    # M(T) when the temperature sweeps and the field stays put; otherwise M(H)
    f_span = np.ptp(q["field_T"])
    t_span = np.ptp(q["temperature_K"])
    is_mt = t_span > 5.0 and f_span <= 0.02 * np.max(np.abs(q["field_T"])) + 1e-4
    axis = "temperature_K" if is_mt else "field_T"
    mass_mg = _float_or_none(info.get("SAMPLE_MASS"))
    meta = {
        "title": info.get("TITLE") or f"MPMS3 import of {src.name}",
        "info": info,
        "header": "\n".join(header),
        "sample_mass_kg": mass_mg * 1e-6 if mass_mg else None,
        "material": info.get("SAMPLE_MATERIAL", ""),
        "description": info.get("SAMPLE_COMMENT", ""),
        "source_file": src.name,
        "moment_source": source,
        "skipped_rows": int((~keep).sum()),
        "dropped_rows": {reason: list(numbers) for reason, numbers in dropped.items()},
        "dropped_text": describe_dropped(dropped, len(all_rows)),
        "kind": "M(T)" if is_mt else "M(H)",
    }
    return q, "moment_Am2", axis, meta


def write_run_file(out, quantities, units, long_names, signal, axes, entry, sample, instruments, log=()):
    """Write a complete (not growing) run file in the layout of docs/file_format.md.

    entry: dict of /entry string fields (title, start_time, end_time, status, plan, plan_kind, ...).
    sample: dict for /entry/sample (mass in kg as float, others str). instruments: {name: attrs dict}.
    """
    import h5py

    from loopscope import __version__

    str_dt = h5py.string_dtype("utf-8")
    with h5py.File(out, "w") as f:
        f.attrs["default"] = "entry"
        f.attrs["file_format"] = "loopscope-run"
        f.attrs["file_format_version"] = "1"
        f.attrs["creator"] = f"loopscope {__version__}"
        e = f.create_group("entry")
        e.attrs["NX_class"] = "NXentry"
        e.attrs["default"] = "data"
        for key in ("title", "start_time", "end_time", "status", "status_reason", "plan", "plan_kind",
                    "station", "loopscope_version", "operator"):
            e.create_dataset(key, data=str(entry.get(key, "")), dtype=str_dt)
        e["heartbeat"] = float(entry.get("heartbeat", 0.0))
        s = e.create_group("sample")
        s.attrs["NX_class"] = "NXsample"
        for key, val in sample.items():
            if val is None:
                continue
            if key == "mass":
                d = s.create_dataset("mass", data=float(val))
                d.attrs["units"] = "kg"
            else:
                s.create_dataset(key, data=str(val), dtype=str_dt)
        ins = e.create_group("instrument")
        ins.attrs["NX_class"] = "NXinstrument"
        ins.create_dataset("snapshot_json", data=json.dumps(instruments, default=str), dtype=str_dt)
        for name, attrs in instruments.items():
            g = ins.create_group(name)
            g.attrs["NX_class"] = "NXcollection"
            for k, v in attrs.items():
                g.attrs[k] = str(v)
        d = e.create_group("data")
        d.attrs["NX_class"] = "NXdata"
        d.attrs["signal"] = signal
        d.attrs["axes"] = list(axes)
        for name, arr in quantities.items():
            arr = np.asarray(arr)
            ds = d.create_dataset(name, data=arr, maxshape=(None,), chunks=True)
            ds.attrs["units"] = units[name]
            ds.attrs["long_name"] = long_names.get(name, name)
        lg = e.create_group("log")
        lg.attrs["NX_class"] = "NXcollection"
        now = datetime.now(timezone.utc).timestamp()
        lg.create_dataset("time", data=np.array([now] * len(log), dtype=np.float64), maxshape=(None,))
        lg.create_dataset("level", data=np.array([lv for lv, _ in log], dtype=object), dtype=str_dt, maxshape=(None,))
        lg.create_dataset("message", data=np.array([m for _, m in log], dtype=object), dtype=str_dt, maxshape=(None,))


def _iso(t):
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def import_mpms(src, out, overwrite=False, messages=None) -> Path:
    """Convert an MPMS3 .dat file to a loopscope run file at `out`; returns its path.

    messages: a list to which warnings are appended (rows dropped, and why)."""
    src, out = Path(src), Path(out)
    if out.suffix not in {".h5", ".hdf5", ".nxs"}:
        raise MPMSImportError(f"output file {out}: use a .h5, .hdf5 or .nxs name")
    from loopscope.daq.output_files import OutputFileError, atomic_output, check_new_output

    try:  # never the .dat itself, nor a run being written; an existing file only with overwrite
        check_new_output(out, overwrite, inputs=[src], what="output file")
    except OutputFileError as exc:
        raise MPMSImportError(str(exc)) from None
    q, signal, axis, meta = convert(src)  # everything parsed before the output is touched
    units = {n: u for n, u, _ in COLUMNS}
    units.update(timestamp="s", elapsed_s="s", point_index="1")
    long_names = {n: ln for n, _, ln in COLUMNS}
    long_names.update(timestamp="wall-clock time since the Unix epoch",
                      elapsed_s="experiment time since the first point", point_index="point index")
    info = meta["info"]
    from loopscope import __version__

    entry = {
        "title": meta["title"], "status": "completed", "status_reason": meta["dropped_text"],
        "start_time": _iso(q["timestamp"][0]), "end_time": _iso(q["timestamp"][-1]),
        "heartbeat": float(q["timestamp"][-1]), "plan": meta["header"], "plan_kind": "mpms_import",
        "station": "", "loopscope_version": __version__, "operator": "",
    }
    sample = {"name": meta["material"] or src.stem, "material": meta["material"],
              "description": meta["description"], "mass": meta["sample_mass_kg"]}
    serials = {k: v for k, v in info.items() if k.endswith(("SERIAL_NUMBER", "HW_VERSION", "SOFTWARE_VERSION",
                                                            "MODULE_NAME"))}
    instruments = {"mpms3": {"driver": "Quantum Design MPMS3 (imported .dat)", "role": "magnetometer",
                             "resource": src.name, "idn": info.get("APPNAME", ""),
                             **serials,
                             **{k: v for k, v in info.items() if k.startswith("SAMPLE_")}}}
    log = [("info", f"imported {src.name}: {len(q['point_index'])} points ({meta['kind']}), "
                    f"moment from {meta['moment_source']}, {meta['skipped_rows']} rows without a moment skipped")]
    if meta["dropped_text"]:
        log.append(("warning", f"{src.name}: {meta['dropped_text']}"))
        if messages is not None:
            messages.append(f"{src}: {meta['dropped_text']}")
    try:
        with atomic_output(out) as tmp:  # complete or not at all; an old file stays until then
            write_run_file(tmp, q, units, long_names, signal, [axis], entry, sample, instruments, log)
    except OutputFileError as exc:
        raise MPMSImportError(str(exc)) from None
    return out


@click.command("import-mpms")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="run file to write (.h5)")
@click.option("--overwrite", is_flag=True, help="replace an existing output file")
def import_mpms_cmd(src, out, overwrite):
    """Convert a Quantum Design MPMS3 .dat file (CGS) to a loopscope run file (SI)."""
    messages = []
    try:
        path = import_mpms(src, out, overwrite=overwrite, messages=messages)
    except MPMSImportError as exc:
        raise click.ClickException(str(exc)) from None
    for message in messages:
        click.echo(f"warning: {message}", err=True)
    click.echo(f"wrote {path}")

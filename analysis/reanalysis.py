"""Offline reanalysis: fit one model to many run files, on this machine or a Dask cluster.

    opts = ReanalysisOptions("persistent_current", params={"area": 2.8e-13})
    report = reanalyze(["runs/2025/"], opts, workers=4, summary="pc2025")
    report.rows          # one dict per run: metadata, parameters, errors, chi-square, status
    report.counts        # {"fitted": 980, "up to date": 0, "failed": 3, "skipped": 1, "error": 16}

Each run is handled by `reanalyze_one(path, options, select, force)`, a plain function of a
path and small dicts: a process pool or a Dask worker reads the file itself, so nothing but
paths, options and result rows crosses process or network boundaries.

Writing is atomic. The fit reads and writes a copy of the run file next to it
(`.<name>.reanalysis-<pid>.tmp`), marks the analysis group complete last
(`reanalysis_options_hash`), and only then renames the copy over the original. The original is
never opened for writing, so a killed reanalysis leaves every file either as it was or fully
updated, and a fit that fails or does not converge leaves no trace. While the copy is made,
the original is held under an exclusive advisory lock, the lock a live RunWriter holds shared:
a file still being written is skipped, and a writer cannot start appending during the update.

Skip rule (idempotency, resume): a run whose /entry/analysis/<name> carries the same options
hash (model name, model version, starting values, fixed parameters, quantities, ranges) and was
fitted on the same number of data rows is "up to date" and is not refitted unless force=True.
"""
from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import math
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RUN_SUFFIXES = (".h5", ".hdf5", ".nxs")
# fit_status values, in the order the summary counts them
STATUSES = ("fitted", "up to date", "failed", "skipped", "error")
# a 'running' file whose writer is not visible through the lock (another machine) but whose
# heartbeat is this recent is taken as still being written
LIVE_HEARTBEAT_S = 120.0
META_COLUMNS = ("path", "title", "plan_kind", "start_time", "sample_name", "sample_material",
                "temperature_K", "run_status", "n_rows")
FIT_COLUMNS = ("fit_status", "reason", "model", "model_version", "options_hash", "converged",
               "chi_square", "reduced_chi_square", "dof", "n_points")


class ReanalysisError(ValueError):
    """Bad reanalysis request (options, selection, paths); raised before any file is touched."""


# ------------------------------------------------------------------ options
@dataclass(frozen=True)
class ReanalysisOptions:
    """What to fit: the model and the `loopscope fit` options, the same for every run."""

    model: str
    params: dict = field(default_factory=dict)
    fix: tuple = ()
    free: tuple = ()
    x: str | None = None
    y: str | None = None
    sigma: str | None = None
    xmin: float | None = None
    xmax: float | None = None
    use_abs: bool = False
    name: str | None = None

    def spec(self):
        from loopscope.analysis.models import get_model

        try:
            return get_model(self.model)
        except KeyError as exc:
            raise ReanalysisError(str(exc.args[0])) from None

    def validate(self):
        spec = self.spec()
        unknown = [n for n in list(self.params) + list(self.fix) + list(self.free) if n not in spec.param_names]
        if unknown:
            raise ReanalysisError(f"model {spec.name!r} has no parameter(s) {', '.join(unknown)}; "
                                  f"its parameters: {', '.join(spec.param_names)}")
        name = self.analysis_name
        if not name or "/" in name:
            raise ReanalysisError(f"bad analysis name {name!r}")
        for k, v in self.params.items():
            if not math.isfinite(float(v)):
                raise ReanalysisError(f"starting value of {k} is not finite: {v!r}")
        return spec

    @property
    def analysis_name(self):
        return self.name or self.model

    def fixed(self, spec=None):
        spec = spec or self.spec()
        return ([n for n in spec.default_fixed if n not in self.free]
                + [n for n in self.fix if n not in spec.default_fixed])

    def canonical(self) -> dict:
        """Everything that changes a fit's result, in a stable form (hashed, stored in files)."""
        spec = self.spec()
        return {"model": spec.name, "model_version": str(spec.version), "name": self.analysis_name,
                "params": {k: float(self.params[k]) for k in sorted(self.params)},
                "fixed": sorted(self.fixed(spec)), "x": self.x or spec.x, "y": self.y or spec.y,
                "sigma": self.sigma, "xmin": self.xmin, "xmax": self.xmax, "abs": bool(self.use_abs)}

    def options_hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fix"], d["free"] = list(self.fix), list(self.free)
        return d

    @classmethod
    def from_dict(cls, d) -> "ReanalysisOptions":
        d = dict(d)
        d["fix"], d["free"] = tuple(d.get("fix", ())), tuple(d.get("free", ()))
        return cls(**d)


# ------------------------------------------------------------------ selection
_OPS = ("!=", "<=", ">=", "=", "<", ">")


def parse_select(items) -> list[tuple[str, str, str]]:
    """`KEY=GLOB`, `KEY!=GLOB`, `KEY<VALUE`, `KEY<=VALUE`, `KEY>VALUE`, `KEY>=VALUE` -> (key, op, value).

    Keys: path, title, plan_kind, status (= run_status), start_time, operator, temperature_K,
    n_rows, sample.name, sample.material, sample.description (any sample.<field>).
    `=` and `!=` match shell-style globs, case-insensitively; the comparisons are numeric when
    both sides are numbers, else string comparisons (ISO dates compare correctly).
    """
    out = []
    for item in items or ():
        for op in _OPS:
            i = item.find(op)
            if i > 0:
                key, value = item[:i].strip(), item[i + len(op):].strip()
                # '<=' must not be read as '<' followed by '=value'
                if op in ("<", ">") and item[i + 1:i + 2] == "=":
                    continue
                break
        else:
            raise ReanalysisError(f"--select {item!r}: use KEY=GLOB, KEY!=GLOB or KEY<VALUE, KEY>=VALUE ...")
        if not key:
            raise ReanalysisError(f"--select {item!r}: no key")
        out.append((_select_key(key), op, value))
    return out


def _select_key(key):
    key = key.lower()
    if key == "status":
        return "run_status"
    if key.startswith("sample."):
        return "sample_" + key.split(".", 1)[1]
    return key


def _compare(actual, op, wanted):
    if op in ("=", "!="):
        hit = actual is not None and fnmatch.fnmatchcase(str(actual).lower(), wanted.lower())
        return hit if op == "=" else not hit
    if actual is None or actual == "":
        return False
    try:
        a, w = float(actual), float(wanted)
    except (TypeError, ValueError):
        a, w = str(actual), wanted
    if isinstance(a, float) and math.isnan(a):
        return False
    return {"<": a < w, "<=": a <= w, ">": a > w, ">=": a >= w}[op]


def matches(meta: dict, select) -> bool:
    if not select:
        return True
    lower = {str(k).lower(): v for k, v in meta.items()}
    return all(_compare(lower.get(k), op, v) for k, op, v in select)


# ------------------------------------------------------------------ finding runs
def find_runs(paths) -> list[str]:
    """Run files named by PATHS: files, folders (searched recursively for .h5/.hdf5/.nxs) and
    glob patterns (`**` allowed). A path that does not exist is kept, so that the summary
    reports it. Returns absolute paths, sorted, without duplicates."""
    found = []
    for p in paths:
        p = os.path.expanduser(str(p))
        if glob.has_magic(p):
            hits = sorted(glob.glob(p, recursive=True))
            for h in hits:
                found.extend(_expand(h))
            if not hits:
                found.append(p)
        else:
            found.extend(_expand(p))
    out, seen = [], set()
    for p in found:
        a = os.path.abspath(p)
        if a not in seen:
            seen.add(a)
            out.append(a)
    return sorted(out)


def _expand(p):
    if os.path.isdir(p):
        hits = []
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            hits.extend(os.path.join(root, f) for f in sorted(files)
                        if f.lower().endswith(RUN_SUFFIXES) and not f.startswith("."))
        return hits
    return [p]


# ------------------------------------------------------------------ locks (the RunWriter protocol)
def _lock_exclusive(path):
    """The run file's writer lock (daq/locks.py: on its sidecar `<file>.lock`), held; or None
    if another process holds it (a live RunWriter, a fit, another reanalysis)."""
    from loopscope.daq.locks import LockBusy, RunFileLock

    lock = RunFileLock(path)
    try:
        return lock.acquire()
    except LockBusy:
        return None


def _writer_alive(path) -> bool:
    from loopscope.daq.locks import writer_alive

    return writer_alive(path)


# ------------------------------------------------------------------ reading a run's metadata
def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").strip("\x00 ")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _text(v[()])
    if isinstance(v, str):
        return v.strip("\x00 ")
    return v


def _open_read(path):
    """(h5py.File, open_for_write_mark): also a file left marked open-for-write by a writer.

    Without HDF5's own file lock (as daq.recovery.open_run_file): a probe never makes a run
    that resumes at that moment fail; the writer lock says whether a writer lives."""
    from loopscope.daq.recovery import open_run_file

    f = open_run_file(path)
    return f, bool(f.swmr_mode)  # opened in SWMR mode only when the mark is set


def probe(path, analysis_name=None) -> dict:
    """Identifying metadata of a run file, and the state of /entry/analysis/<analysis_name>.

    Raises OSError for a file HDF5 cannot open and ReanalysisError for one without /entry."""
    import h5py

    f, write_mark = _open_read(path)
    with f:
        if "entry" not in f or not isinstance(f["entry"], h5py.Group):
            raise ReanalysisError("foreign HDF5 file: no /entry group (not a loopscope run file)")
        e = f["entry"]
        meta = {"path": str(path), "write_mark": write_mark}
        for key in ("title", "plan_kind", "start_time", "status", "status_reason", "operator"):
            if key in e and isinstance(e[key], h5py.Dataset):
                try:
                    meta[key] = str(_text(e[key][()]))
                except (OSError, TypeError):
                    meta[key] = ""
        meta["run_status"] = meta.pop("status", "")
        try:
            meta["heartbeat"] = float(e["heartbeat"][()]) if "heartbeat" in e else math.nan
        except (OSError, TypeError, ValueError):
            meta["heartbeat"] = math.nan
        s = e.get("sample")
        if isinstance(s, h5py.Group):
            for key, ds in s.items():
                if isinstance(ds, h5py.Dataset) and ds.shape == ():
                    try:
                        v = _text(ds[()])
                    except OSError:
                        continue
                    meta[f"sample_{key}"] = v.item() if isinstance(v, np.generic) else v
        data = e.get("data")
        n_rows = 0
        temperature = math.nan
        if isinstance(data, h5py.Group):
            one_d = {n: ds for n, ds in data.items() if isinstance(ds, h5py.Dataset) and ds.ndim == 1}
            meta["quantities"] = sorted(one_d)
            n_rows = min(ds.shape[0] for ds in one_d.values()) if one_d else 0
            t = data.get("temperature_K")
            if isinstance(t, h5py.Dataset) and t.ndim == 1 and t.shape[0]:
                try:
                    tv = np.asarray(t[()], dtype=np.float64)
                    tv = tv[np.isfinite(tv)]
                    temperature = float(np.median(tv)) if tv.size else math.nan
                except OSError:
                    pass
        meta["n_rows"] = int(n_rows)
        meta["temperature_K"] = temperature
        done = None
        if analysis_name:
            g = e.get("analysis", {}).get(analysis_name) if "analysis" in e else None
            if isinstance(g, h5py.Group):
                done = {"options_hash": _text(g.attrs.get("reanalysis_options_hash", "")),
                        "data_rows": int(g.attrs.get("reanalysis_data_rows", -1))}
        meta["existing"] = done
    return meta


# ------------------------------------------------------------------ one run
def _row(meta, options: ReanalysisOptions, status, reason="", result=None, stored=None):
    row = {k: meta.get(k, "") for k in META_COLUMNS}
    row["path"] = str(meta.get("path", ""))
    if row["temperature_K"] == "":
        row["temperature_K"] = math.nan
    if row["n_rows"] == "":
        row["n_rows"] = 0
    row.update({"fit_status": status, "reason": reason, "model": options.model, "model_version": "",
                "options_hash": "", "converged": False, "chi_square": math.nan,
                "reduced_chi_square": math.nan, "dof": 0, "n_points": 0})
    params, units = {}, {}
    if result is not None:
        row.update(model_version=result.model_version, converged=bool(result.converged),
                   chi_square=float(result.chi_square), reduced_chi_square=float(result.reduced_chi_square),
                   dof=int(result.dof), n_points=int(result.n_points))
        for n, v, s, u in zip(result.names, result.values, result.stderr, result.units):
            params[n] = (float(v), float(s))
            units[n] = u
        for n, (v, s, u) in result.derived.items():
            params[n] = (float(v), float(s))
            units[n] = u
    elif stored is not None:
        chi2, dof = stored["chi_square"], stored["dof"]
        row.update(model_version=stored["model_version"], converged=stored["converged"], chi_square=chi2,
                   reduced_chi_square=chi2 / dof if dof > 0 else math.nan, dof=dof,
                   n_points=int(stored["selection"].get("n_points", len(stored["x"]))))
        for n, (v, s, u) in {**stored["parameters"], **stored.get("derived", {})}.items():
            params[n] = (v, s)
            units[n] = u
    row["params"] = params
    row["units"] = units
    return row


def reanalyze_one(path, options, select=None, force=False) -> dict:
    """Fit one run file and store the fit in it (atomically); never raises for a bad file.

    path: str; options: ReanalysisOptions or its to_dict(); select: parse_select() output.
    Returns a summary row (plain dict): metadata, fit_status, reason, parameters with errors.
    """
    if not isinstance(options, ReanalysisOptions):
        options = ReanalysisOptions.from_dict(options)
    path = str(path)
    meta = {"path": path}
    try:
        return _reanalyze_one(path, options, select, force, meta)
    except Exception as exc:  # one bad file never stops the batch
        return _row(meta, options, "error", f"unexpected {type(exc).__name__}: {exc}")


def _reanalyze_one(path, options, select, force, meta):
    from loopscope.analysis.fitting import FitError
    from loopscope.analysis.runfile import RunFileError, fit_run, read_fit

    spec = options.spec()
    name = options.analysis_name
    if not os.path.exists(path):
        return _row(meta, options, "error", "no such file")
    if os.path.isdir(path):
        return _row(meta, options, "error", "is a directory")
    try:
        if _writer_alive(path):  # before HDF5 opens it: a live writer's file is not touched at all
            return _row(meta, options, "skipped", "still being written")
    except PermissionError as exc:
        return _row(meta, options, "error", f"unreadable: {exc.strerror or exc}")
    try:
        probed = probe(path, name)
    except PermissionError as exc:
        return _row(meta, options, "error", f"unreadable: {exc.strerror or exc}")
    except ReanalysisError as exc:
        return _row(meta, options, "error", str(exc))
    except OSError as exc:
        hint = " (an MPMS .dat file: convert it with `loopscope import-mpms` first)" \
            if path.lower().endswith(".dat") else ""
        what = "not an HDF5 file" if "signature not found" in str(exc) else \
            "not a readable HDF5 file (corrupt or truncated)"
        return _row(meta, options, "error", f"{what}: {exc}{hint}")
    meta.update(probed)
    if meta.get("run_status") == "running" or meta.get("write_mark"):
        age = time.time() - meta.get("heartbeat", math.nan)
        if meta.get("run_status") == "running" and age < LIVE_HEARTBEAT_S:
            return _row(meta, options, "skipped",
                        f"still being written (heartbeat {age:.0f} s ago; the writer may be on another machine)")
        meta["run_status"] = "interrupted"
    if not matches(meta, select):
        return _row(meta, options, "excluded", "not selected")
    if meta["n_rows"] == 0:
        return _row(meta, options, "error", "the run has no data points")
    missing = _missing_quantities(meta.get("quantities", []), options, spec)
    if missing:
        return _row(meta, options, "error", f"no quantity {', '.join(map(repr, missing))} in /entry/data "
                                            f"(the model needs it); available: {', '.join(meta.get('quantities', []))}")
    h = options.options_hash()
    done = meta.get("existing")
    if not force and done and done["options_hash"] == h and done["data_rows"] == meta["n_rows"]:
        try:
            stored = read_fit(path, name)
        except Exception as exc:  # an unreadable stored fit is refitted below
            stored = None
            reason = f"stored fit unreadable ({exc}); refitted"
        else:
            row = _row(meta, options, "up to date", "", stored=stored)
            row["options_hash"] = h
            return row
    else:
        reason = ""
    if not os.access(path, os.W_OK) or not os.access(os.path.dirname(path) or ".", os.W_OK):
        return _row(meta, options, "error", "no write permission for the file or its folder")
    fixed = options.fixed(spec)
    real = os.path.realpath(path)
    lock = _lock_exclusive(real)
    if lock is None:
        return _row(meta, options, "skipped", "still being written")
    tmp = os.path.join(os.path.dirname(real), f".{os.path.basename(real)}.reanalysis-{os.getpid()}.tmp")
    try:
        shutil.copy2(real, tmp)
        if meta.get("write_mark"):
            # an interrupted run whose writer died: clear the stale open-for-write mark on the
            # copy (what daq.recovery does before a resume); the data are consistent (SWMR)
            from loopscope.daq.recovery import clear_write_flags

            clear_write_flags(tmp)
        try:
            result = fit_run(tmp, spec, params=dict(options.params), x=options.x, y=options.y,
                             sigma=options.sigma, fixed=fixed, xmin=options.xmin, xmax=options.xmax,
                             use_abs=options.use_abs, name=name, write=True, atomic=False)
        except (RunFileError, FitError) as exc:
            return _row(meta, options, "error", str(exc).replace(tmp, path))
        if not result.converged:
            return _row(meta, options, "failed", f"fit did not converge: {result.message}", result=result)
        _mark_complete(tmp, name, options, h, meta["n_rows"])
        from loopscope.daq.output_files import OutputFileError, replace_file

        try:
            replace_file(tmp, real)  # on Windows tried again while a reader has the file open
        except OutputFileError as exc:
            return _row(meta, options, "error", str(exc))
    finally:
        lock.release()
        if os.path.exists(tmp):
            os.unlink(tmp)
    row = _row(meta, options, "fitted", reason, result=result)
    row["options_hash"] = h
    return row


# quantities analysis.runfile.RunData.get derives from stored ones
_DERIVED = {"moment_per_H_m3": ("moment_Am2", "field_H_A_per_m"), "field_H_A_per_m": ("field_T",)}


def _missing_quantities(stored, options, spec):
    """Quantities the fit needs that the file neither stores nor can derive (checked before any copy)."""
    stored = set(stored)
    missing = []
    for q in (options.x or spec.x, options.y or spec.y, options.sigma):
        if q and q not in stored and not set(_DERIVED.get(q, ("-",))) <= stored:
            missing.append(q)
    return missing


def _mark_complete(path, name, options, h, n_rows):
    """Mark /entry/analysis/<name> as a finished reanalysis: the last thing written."""
    import h5py

    with h5py.File(path, "r+") as f:
        g = f["entry"]["analysis"][name]
        g.attrs["reanalysis_options"] = json.dumps(options.canonical(), sort_keys=True)
        g.attrs["reanalysis_data_rows"] = int(n_rows)
        g.attrs["reanalysis_options_hash"] = h
        f.flush()
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _run_chunk(paths, options, select, force):
    return [reanalyze_one(p, options, select, force) for p in paths]


def warm(model="persistent_current"):
    """Load the compiled fitter (numba on-disk cache, cache=True) in this process: a tiny fit.

    Returns the seconds it took and the worker identity."""
    from loopscope.analysis.fitting import fit
    from loopscope.analysis.models import get_model

    t = time.perf_counter()
    spec = get_model(model)
    x = np.linspace(1.0, 2.0, 64)
    try:
        y = spec(x, np.asarray(spec.defaults, dtype=np.float64))
        if np.all(np.isfinite(y)):
            fit(spec, x, y)
    except Exception:  # warming is an optimisation; the real fit reports real problems
        pass
    return time.perf_counter() - t, f"{socket.gethostname()}:{os.getpid()}"


def _pool_init(model):
    warm(model)


# ------------------------------------------------------------------ the batch
@dataclass
class ReanalysisReport:
    rows: list  # the summary rows, sorted by path (excluded runs left out)
    options: ReanalysisOptions
    excluded: int = 0
    elapsed_s: float = 0.0
    first_result_s: float = math.nan
    workers: int = 1
    engine: str = "serial"
    files: dict = field(default_factory=dict)  # {"csv": path, "hdf5": path}

    @property
    def counts(self) -> dict:
        c = {s: 0 for s in STATUSES}
        for r in self.rows:
            c[r["fit_status"]] = c.get(r["fit_status"], 0) + 1
        return c

    def table(self):
        return summary_table(self.rows)


def _chunks(paths, n_workers):
    # small tasks keep every worker busy to the end and the progress bar moving; a few runs
    # per task keep scheduler overhead (Dask: ~1 ms a task) small against ~10 ms a run
    size = max(1, min(8, len(paths) // max(1, 8 * n_workers)))
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def reanalyze(paths, options: ReanalysisOptions, select=None, workers=None, scheduler=None, force=False,
              summary=None, progress=True, client=None) -> ReanalysisReport:
    """Fit `options.model` to every run file under `paths` and write each fit into its file.

    workers: local processes (default: all cores; 1 = in this process). scheduler: address of a
    Dask distributed scheduler (tcp://host:port), or client: a distributed.Client; the workers
    must see the files under the same paths. select: list of KEY=GLOB strings or parse_select()
    output. summary: output prefix for <prefix>.csv and <prefix>.h5. Never raises for a bad run
    file: its row says why.
    """
    t0 = time.perf_counter()
    options.validate()
    if select and isinstance(select[0], str):
        select = parse_select(select)
    files = find_runs(paths)
    if summary:
        from loopscope.daq.output_files import same_file

        for out in summary_outputs(summary):
            if any(same_file(out, f) for f in files):
                raise ReanalysisError(f"summary file {out} is one of the run files being reanalysed; "
                                      "choose another --summary prefix")
    opt = options.to_dict()
    results = []
    first = [math.nan]

    n_workers, engine, pool = 1, "serial", None
    if client is not None or scheduler:
        engine = "dask"
    else:
        n_workers = min(max(1, int(workers or os.cpu_count() or 1)), max(1, len(files)))
        if n_workers > 1:
            engine = "processes"
            pool = _start_pool(n_workers, options.model)  # before the progress bar starts a thread
        else:
            warm(options.model)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), unit="run", desc=f"reanalyze {options.model}", dynamic_ncols=True)

    def done(rows):
        if math.isnan(first[0]):
            first[0] = time.perf_counter() - t0
        results.extend(rows)
        if bar is not None:
            bar.update(len(rows))
            c = {}
            for r in results:
                c[r["fit_status"]] = c.get(r["fit_status"], 0) + 1
            bar.set_postfix(c, refresh=False)

    try:
        if engine == "dask":
            n_workers = _run_dask(files, opt, select, force, scheduler, client, done, options.model)
        elif engine == "processes":
            _run_pool(pool, files, opt, select, force, n_workers, done)
        else:
            for p in files:
                done([reanalyze_one(p, opt, select, force)])
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    excluded = sum(1 for r in results if r["fit_status"] == "excluded")
    rows = sorted((r for r in results if r["fit_status"] != "excluded"), key=lambda r: r["path"])
    report = ReanalysisReport(rows, options, excluded, time.perf_counter() - t0, first[0], n_workers, engine)
    if summary:
        report.files = write_summary(report, summary)
    return report


def _start_pool(n_workers, model):
    """A process pool with every worker started and its compiled fitter loaded."""
    import multiprocessing as mp
    import threading
    from concurrent.futures import ProcessPoolExecutor

    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1 and not _hdf5_files_open():
        # fork from a single-threaded parent: fast, and the workers inherit the fitter the
        # parent loaded from numba's cache, so each starts warm. Never with an HDF5 file open
        # here: a forked worker would inherit its descriptor, and with it HDF5's file lock,
        # which then outlives the file's close in this process (a run could not resume it)
        warm(model)
        ctx = mp.get_context("fork")
        ex = ProcessPoolExecutor(n_workers, mp_context=ctx)
    else:
        # threads in this process (a Dask client, a GUI, a live RunWriter's flusher) make fork
        # unsafe; forkserver workers start from a clean server and load the fitter themselves
        ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            ctx.set_forkserver_preload(["loopscope.analysis.reanalysis", "loopscope.analysis.fitting", "loopscope.analysis.runfile", "h5py"])
        ex = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_pool_init, initargs=(model,))
    for f in [ex.submit(os.getpid) for _ in range(n_workers)]:
        f.result()
    return ex


def _hdf5_files_open() -> bool:
    """True when this process has an HDF5 file open (through h5py)."""
    import sys

    if "h5py" not in sys.modules:
        return False
    import h5py

    return bool(h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE))


def _run_pool(ex, files, opt, select, force, n_workers, done):
    from concurrent.futures import as_completed

    futures = {ex.submit(_run_chunk, chunk, opt, select, force): chunk for chunk in _chunks(files, n_workers)}
    for fut in as_completed(futures):
        try:
            rows = fut.result()
        except Exception as exc:  # a worker died (out of memory, killed): report its runs
            rows = [_row({"path": p}, ReanalysisOptions.from_dict(opt), "error",
                         f"worker process failed: {type(exc).__name__}: {exc}") for p in futures[fut]]
        done(rows)


def _run_dask(files, opt, select, force, scheduler, client, done, model):
    from distributed import Client, as_completed

    own = client is None
    if own:
        client = Client(scheduler, timeout="30s")
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        client.run(warm, model)  # every worker loads the compiled fitter before the clock of its first run
        chunks = _chunks(files, n_workers)
        futures = client.map(_run_chunk, chunks, options=opt, select=select, force=force, pure=False)
        which = {f.key: c for f, c in zip(futures, chunks)}
        for fut in as_completed(futures):
            try:
                rows = fut.result()
            except Exception as exc:
                rows = [_row({"path": p}, ReanalysisOptions.from_dict(opt), "error",
                             f"Dask task failed: {type(exc).__name__}: {exc}") for p in which[fut.key]]
            done(rows)
            fut.release()
    finally:
        if own:
            client.close()
    return n_workers


# ------------------------------------------------------------------ the summary table
def summary_table(rows):
    """(columns, units) of the summary: metadata, fit columns, then each parameter and its stderr."""
    pnames, units = [], {}
    for r in rows:
        for n in r.get("params", {}):
            if n not in units:
                pnames.append(n)
                units[n] = r["units"].get(n, "")
    cols = list(META_COLUMNS) + list(FIT_COLUMNS)
    col_units = {"temperature_K": "K"}
    for n in pnames:
        cols += [n, f"{n}_stderr"]
        col_units[n] = col_units[f"{n}_stderr"] = units[n]
    return cols, col_units


def _cell(row, col):
    if col in row:
        return row[col]
    if col.endswith("_stderr") and col[:-7] in row.get("params", {}):
        return row["params"][col[:-7]][1]
    if col in row.get("params", {}):
        return row["params"][col][0]
    return math.nan


def _summary_prefix(prefix) -> str:
    prefix = str(prefix)
    for ext in (".csv", ".h5"):
        if prefix.endswith(ext):
            prefix = prefix[: -len(ext)]
    return prefix


def summary_outputs(prefix, series_kinds=()) -> list[str]:
    """Every file `--summary prefix` (with these --series) writes."""
    prefix = _summary_prefix(prefix)
    out = [prefix + ".csv", prefix + ".h5"]
    for kind in series_kinds:
        out += [f"{prefix}_{kind}.png", f"{prefix}_{kind}.json"]
    return out


def write_summary(report: ReanalysisReport, prefix) -> dict:
    """Write <prefix>.csv and <prefix>.h5 (one row per run), each atomically."""
    import csv

    import h5py

    from loopscope.daq.output_files import atomic_output

    prefix = _summary_prefix(prefix)
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    cols, col_units = summary_table(report.rows)
    csv_path, h5_path = prefix + ".csv", prefix + ".h5"
    with atomic_output(csv_path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in report.rows:
            w.writerow([_fmt(_cell(r, c)) for c in cols])
    with atomic_output(h5_path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["file_format"] = "loopscope-reanalysis-summary"
        f.attrs["file_format_version"] = "1"
        f.attrs["default"] = "summary"
        g = f.create_group("summary")
        g.attrs["NX_class"] = "NXcollection"
        g.attrs["model"] = report.options.model
        g.attrs["options"] = json.dumps(report.options.canonical(), sort_keys=True)
        g.attrs["options_hash"] = report.options.options_hash()
        g.attrs["columns"] = json.dumps(cols)
        g.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        for c in cols:
            vals = [_cell(r, c) for r in report.rows]
            if c in META_COLUMNS[:6] or c in ("run_status", "fit_status", "reason", "model", "model_version",
                                              "options_hash"):
                d = g.create_dataset(c, data=np.array([str(v) for v in vals], dtype=object),
                                     dtype=h5py.string_dtype("utf-8"))
            elif c == "converged":
                d = g.create_dataset(c, data=np.array(vals, dtype=bool))
            elif c in ("dof", "n_points", "n_rows"):
                d = g.create_dataset(c, data=np.array(vals, dtype=np.int64))
            else:
                d = g.create_dataset(c, data=np.array([_num(v) for v in vals], dtype=np.float64))
            if c in col_units:
                d.attrs["units"] = col_units[c]
    return {"csv": csv_path, "hdf5": h5_path}


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _fmt(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return v


def read_summary(path) -> list[dict]:
    """Rows of a summary written by write_summary (.csv or .h5), with params rebuilt."""
    path = str(path)
    if path.endswith(".csv"):
        import csv

        with open(path, newline="") as fh:
            raw = list(csv.DictReader(fh))
        cols = list(raw[0].keys()) if raw else []
        units = {}
    else:
        import h5py

        with h5py.File(path, "r") as f:
            g = f["summary"]
            cols = json.loads(g.attrs["columns"])
            data = {c: g[c][()] for c in cols}
            units = {c: _text(g[c].attrs.get("units", "")) for c in cols}
        n = len(data[cols[0]]) if cols else 0
        raw = [{c: _text(data[c][i]) for c in cols} for i in range(n)]
    fixed = set(META_COLUMNS) | set(FIT_COLUMNS)
    pnames = [c for c in cols if c not in fixed and not c.endswith("_stderr")]
    rows = []
    for r in raw:
        row = {c: r[c] for c in fixed if c in r}
        for c in ("temperature_K", "chi_square", "reduced_chi_square"):
            row[c] = _num(row.get(c))
        row["params"] = {n: (_num(r[n]), _num(r.get(f"{n}_stderr"))) for n in pnames}
        row["units"] = {n: units.get(n, "") for n in pnames}
        rows.append(row)
    return rows

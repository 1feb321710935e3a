"""`loopscope reanalyze`: fit one model to many run files (docs/reanalysis.md).

    loopscope reanalyze runs/2025/ --model persistent_current --select sample.name=rings \
        --summary out/pc2025 --series thouless --series exponential
    loopscope reanalyze 'runs/**/*.h5' -m susceptibility --scheduler tcp://10.0.0.5:8786 --summary out/chi

Exit status: 0 when every selected run was fitted or up to date (runs skipped because they are
still being written do not count against it); 1 when some or every run failed or was in error
(a line on stderr says which and how many); 2 for a bad request.

Imports stay inside the command so that `loopscope --help` does not load numba or dask.
"""
from __future__ import annotations

import json
import re
import sys

import click

from loopscope.analysis.cli import _parse_params, fit_selection_options

MAX_LISTED = 20
#: a Dask scheduler address: [protocol://]host:port
_SCHEDULER_RE = re.compile(r"(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):(\d{1,5})/?")


def _check_scheduler(address: str) -> None:
    m = _SCHEDULER_RE.fullmatch(address)
    if m is None or not 0 < int(m.group(3)) <= 65535:
        raise click.ClickException(f"--scheduler {address!r} is not a Dask scheduler address; give "
                                   f"[tcp://]HOST:PORT, e.g. tcp://10.0.0.5:8786")


def _failure_line(counts: dict, total: int) -> str:
    """'' when every selected run was fitted (or up to date), else what went wrong."""
    bad = counts.get("failed", 0) + counts.get("error", 0)
    if not bad:
        return ""
    detail = ", ".join(f"{counts[k]} {k}" for k in ("error", "failed") if counts.get(k))
    if bad == total:
        return f"reanalyze: every run failed ({total} of {total}: {detail})"
    return f"reanalyze: some runs failed ({bad} of {total}: {detail}); the others were fitted"


def _shown(path):
    """A path as the user would type it: relative when under the current folder."""
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


@click.command("reanalyze")
@click.argument("paths", nargs=-1, required=True)
@click.option("--model", "-m", "model_name", required=True, help="model name (see `loopscope fit --list-models`)")
@fit_selection_options
@click.option("--select", "select", multiple=True, metavar="KEY=GLOB",
              help="only runs whose metadata match: KEY=GLOB, KEY!=GLOB, KEY<VALUE, KEY>=VALUE ... "
                   "(keys: title, plan_kind, status, sample.name, start_time, temperature_K, path ...; repeatable, all must match)")
@click.option("--workers", "-j", type=click.IntRange(min=1), help="local worker processes (default: all cores)")
@click.option("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster (tcp://host:port)")
@click.option("--summary", "summary", metavar="OUT_PREFIX",
              help="write OUT_PREFIX.csv and OUT_PREFIX.h5 (one row per run) and the series outputs")
@click.option("--series", "series", multiple=True, metavar="KIND[:COLUMN]",
              help="fit a temperature law across the runs: thouless, exponential, ballistic (|I1| vs T) or "
                   "curie-weiss (chi vs T); COLUMN overrides the quantity (e.g. exponential:I2); repeatable")
@click.option("--overwrite", is_flag=True,
              help="replace existing summary files (OUT_PREFIX.csv, .h5, series plots); never one of the run files")
@click.option("--force", is_flag=True, help="refit runs already fitted with the same model version and options")
@click.option("--no-progress", is_flag=True, help="no progress bar")
@click.option("--json", "as_json", is_flag=True, help="print the counts (and series results) as JSON")
def reanalyze(paths, model_name, params, fix, free_, x_name, y_name, sigma_name, xmin, xmax, use_abs,
              analysis_name, select, workers, scheduler, summary, series, overwrite, force, no_progress, as_json):
    """Fit MODEL to every run under PATHS (files, folders searched recursively, glob patterns)
    and store each fit in its own file at /entry/analysis/<NAME>; summarize them in one table."""
    from loopscope.analysis.reanalysis import ReanalysisError, ReanalysisOptions, parse_select, reanalyze as run
    from loopscope.analysis.series import SERIES_MODELS, SeriesError, fit_series

    if workers and scheduler:
        raise click.UsageError("give --workers or --scheduler, not both")
    if scheduler:
        _check_scheduler(scheduler)
    series_req = []
    for item in series:
        kind, _, column = item.partition(":")
        if kind not in SERIES_MODELS:
            raise click.BadParameter(f"{kind!r}: use one of {', '.join(SERIES_MODELS)}", param_hint="--series")
        series_req.append((kind, column or None))
    options = ReanalysisOptions(model_name, params=_parse_params(params), fix=tuple(fix), free=tuple(free_),
                                x=x_name, y=y_name, sigma=sigma_name, xmin=xmin, xmax=xmax, use_abs=use_abs,
                                name=analysis_name)
    try:
        options.validate()
        sel = parse_select(select)
    except ReanalysisError as exc:
        raise click.UsageError(str(exc)) from None
    if summary:
        # before any fit: an existing summary only with --overwrite, a run file never
        from loopscope.analysis.reanalysis import find_runs, summary_outputs
        from loopscope.daq.output_files import OutputFileError, check_new_output

        inputs = find_runs(paths)
        try:
            for out_file in summary_outputs(summary, [kind for kind, _ in series_req]):
                check_new_output(out_file, overwrite, inputs=inputs, what="summary file")
        except OutputFileError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        report = run(paths, options, select=sel, workers=workers, scheduler=scheduler, force=force,
                     summary=summary, progress=not no_progress)
    except ReanalysisError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the Dask scheduler cannot be reached, the summary cannot be written
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    except ValueError as exc:  # e.g. Dask refusing a scheduler address the check above let by
        if not scheduler:
            raise
        raise click.ClickException(f"--scheduler {scheduler!r}: {exc}") from None

    counts = report.counts
    out = {"runs": len(report.rows), "excluded": report.excluded, **counts,
           "elapsed_s": round(report.elapsed_s, 3), "engine": report.engine, "workers": report.workers,
           "summary": report.files, "series": {}}
    for kind, column in series_req:
        try:
            s = fit_series(report.rows, kind, column)
        except SeriesError as exc:
            out["series"][kind] = {"error": str(exc)}
            continue
        entry = s.to_dict()
        if summary:
            from loopscope.daq.output_files import atomic_output

            png = f"{report.files['csv'][:-4]}_{kind}.png"
            with atomic_output(png) as tmp:
                s.plot(str(tmp), title=f"{kind} series, {len(s.T)} runs fitted with {model_name}")
            with atomic_output(png[:-4] + ".json") as tmp, open(tmp, "w") as fh:
                json.dump(entry, fh, indent=1)
            entry["plot"] = png
        out["series"][kind] = entry
        if not as_json:
            click.echo(s.text())
            if summary:
                click.echo(f"  plot: {png}")
    failure = _failure_line(counts, len(report.rows))
    if as_json:
        click.echo(json.dumps(out, indent=1, default=str))
        if failure:
            click.echo(failure, err=True)
            sys.exit(1)
        return
    where = {"serial": "in this process", "processes": f"on {report.workers} local worker processes",
             "dask": f"on {report.workers} Dask worker threads"}[report.engine]
    click.echo(f"{len(report.rows)} runs ({report.excluded} more not selected) in {report.elapsed_s:.1f} s "
               f"{where}: "
               + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
    bad = [r for r in report.rows if r["fit_status"] not in ("fitted", "up to date")]
    for r in bad[:MAX_LISTED]:
        click.echo(f"  {r['fit_status']}: {_shown(r['path'])}: {r['reason']}")
    if len(bad) > MAX_LISTED:
        click.echo(f"  ... and {len(bad) - MAX_LISTED} more (see the summary)")
    for kind, entry in out["series"].items():
        if "error" in entry:
            click.echo(f"series {kind}: {entry['error']}", err=True)
    if report.files:
        click.echo(f"summary: {report.files['csv']}, {report.files['hdf5']}")
    elif series_req:
        click.echo("(give --summary OUT_PREFIX to save the table and the series plots)")
    if failure:
        click.echo(failure, err=True)
        sys.exit(1)

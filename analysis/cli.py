"""`loopscope fit` and `loopscope plot` (click commands, registered by loopscope/cli.py).

Imports are kept inside the commands: `loopscope fit` in a fresh process pays only for
numpy, h5py and loading the cached compiled fitter.
"""
from __future__ import annotations

import json
import sys

import click


def _parse_params(items):
    out = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: use name=value", param_hint="--param")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise click.BadParameter(f"{item!r}: value {v!r} is not a number", param_hint="--param") from None
    return out


def _list_models():
    from loopscope.analysis.models import list_models

    for spec in list_models():
        click.echo(f"{spec.name}  (version {spec.version}; x = {spec.x}, y = {spec.y})")
        click.echo(f"    {spec.description}")
        for n, u, d in zip(spec.param_names, spec.units, spec.defaults):
            tag = "  [fixed by default]" if n in spec.default_fixed else ""
            click.echo(f"    {n:<12s} {u:<10s} default {d:g}{tag}")


def fit_selection_options(command):
    """The options that say what to fit and how: shared by `fit` and `reanalyze`."""
    for option in reversed([
        click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
                     help="starting value of a parameter (repeatable)"),
        click.option("--fix", multiple=True, metavar="NAME", help="hold a parameter at its starting value (repeatable)"),
        click.option("--free", "free_", multiple=True, metavar="NAME",
                     help="fit a parameter the model fixes by default"),
        click.option("--x", "x_name", metavar="QUANTITY", help="x quantity (default: the model's)"),
        click.option("--y", "y_name", metavar="QUANTITY", help="y quantity (default: the model's)"),
        click.option("--sigma", "sigma_name", metavar="QUANTITY", help="uncertainty quantity to weight with"),
        click.option("--xmin", type=float, help="use points with x >= XMIN"),
        click.option("--xmax", type=float, help="use points with x <= XMAX"),
        click.option("--abs", "use_abs", is_flag=True,
                     help="apply --xmin/--xmax to |x| (e.g. the high-field part of a loop)"),
        click.option("--name", "analysis_name", help="analysis group name (default: the model name)"),
    ]):
        command = option(command)
    return command


@click.command("fit")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--model", "-m", "model_name", help="model name (see --list-models)")
@fit_selection_options
@click.option("--json", "as_json", is_flag=True, help="print {parameter: {value, stderr, units}} as JSON")
@click.option("--dry-run", is_flag=True, help="fit and print, write nothing")
@click.option("--keep-unconverged", is_flag=True, help="store a fit that did not converge (marked so)")
@click.option("--list-models", is_flag=True, help="list the models with their parameters and exit")
def fit(file, model_name, params, fix, free_, x_name, y_name, sigma_name, xmin, xmax, use_abs,
        analysis_name, as_json, dry_run, keep_unconverged, list_models):
    """Fit MODEL to the run FILE and store the result in /entry/analysis/<NAME> of the same file."""
    if list_models:
        _list_models()
        return
    if not file:
        raise click.UsageError("give a run FILE (or --list-models)")
    if not model_name:
        raise click.UsageError("give --model NAME (see --list-models)")
    from loopscope.analysis.fitting import FitError
    from loopscope.analysis.models import get_model
    from loopscope.analysis.runfile import RunFileError, fit_run

    try:
        spec = get_model(model_name)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--model") from None
    start = _parse_params(params)
    unknown = [n for n in list(start) + list(fix) + list(free_) if n not in spec.param_names]
    if unknown:
        raise click.BadParameter(f"model {spec.name!r} has no parameter(s) {', '.join(unknown)}; "
                                 f"its parameters: {', '.join(spec.param_names)}", param_hint="--param/--fix")
    fixed = [n for n in spec.default_fixed if n not in free_] + [n for n in fix if n not in spec.default_fixed]
    try:
        result = fit_run(file, spec, params=start, x=x_name, y=y_name, sigma=sigma_name, fixed=fixed,
                         xmin=xmin, xmax=xmax, use_abs=use_abs, name=analysis_name, write=not dry_run,
                         write_unconverged=keep_unconverged)
    except (RunFileError, FitError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(str(result))
        if not dry_run and (result.converged or keep_unconverged):
            click.echo(f"written to {file}:/entry/analysis/{analysis_name or spec.name}")
    if not result.converged:
        kept = "stored, marked unconverged" if keep_unconverged and not dry_run else "nothing written"
        click.echo(f"error: {result.message} ({kept})", err=True)
        sys.exit(3)


@click.command("plot")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--fit", "fit_name", help="overlay the fit stored at /entry/analysis/<NAME>")
@click.option("--x", "x_name", metavar="QUANTITY", help="x quantity (default: the fit's, else the file's axis)")
@click.option("--y", "y_name", metavar="QUANTITY", help="y quantity (default: the fit's, else the file's signal)")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="output image (.png, .pdf, .svg)")
@click.option("--overwrite", is_flag=True, help="replace an existing image file")
def plot(file, fit_name, x_name, y_name, out, overwrite):
    """Plot the data of a run FILE (and a stored fit), axes labelled with units."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.figure import Figure

    from loopscope.analysis.models import get_model
    from loopscope.analysis.runfile import RunFileError, read_fit, read_run
    from loopscope.daq.output_files import OutputFileError, atomic_output, check_new_output

    formats = Figure().canvas.get_supported_filetypes()
    image_format = Path(out).suffix.lstrip(".").lower()
    if image_format not in formats:
        raise click.ClickException(f"--out {out}: not an image format matplotlib writes; use one of "
                                   + ", ".join(f".{ext}" for ext in sorted(formats)))
    try:
        check_new_output(out, overwrite, inputs=[file], what="image file")
    except OutputFileError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        run = read_run(file)
        fit_info = read_fit(file, fit_name) if fit_name else None
        sel = fit_info["selection"] if fit_info else {}
        xq = x_name or sel.get("x") or (run.axes[0] if run.axes else None)
        yq = y_name or sel.get("y") or run.signal
        if not xq or not yq:
            raise RunFileError(f"{file}: no @signal/@axes; give --x and --y")
        x = run.get(xq)
        y = run.get(yq)
    except RunFileError as exc:
        raise click.ClickException(str(exc)) from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, y, ".", ms=3, label=yq)
    if fit_info:
        spec = get_model(fit_info["model"])
        pvals = np.array([v[0] for v in fit_info["parameters"].values()])
        xs = fit_info["x"]
        if spec.ordered:
            xf, yf = xs, fit_info["y_fit"]
        else:
            xf = np.linspace(xs.min(), xs.max(), 1000)
            yf = spec(xf, pvals)
        ax.plot(xf, yf, "-", lw=1.5, label=f"{fit_info['model']} fit")
        text = "\n".join(f"{n} = {v:.4g} ± {s:.2g} {u}" for n, (v, s, u) in fit_info["parameters"].items())
        ax.text(0.02, 0.98, text, transform=ax.transAxes, va="top", fontsize=7, family="monospace")
    ax.set_xlabel(f"{xq} ({run.unit_of(xq)})")
    ax.set_ylabel(f"{yq} ({run.unit_of(yq)})")
    ax.set_title(run.metadata.get("title", str(file)), fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        with atomic_output(out) as tmp:  # complete or not at all
            fig.savefig(tmp, dpi=120, format=image_format)
    except (OutputFileError, OSError) as exc:
        raise click.ClickException(f"{out}: {exc}") from None
    finally:
        plt.close(fig)
    click.echo(f"wrote {out}")

"""Command-line commands of the sweep engine: run, demo, inspect, export."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from daq.plans import PlanError, load_plan
from daq.storage import StorageError, check_output_path, unique_path



class ProgressPrinter:
    """A tqdm progress bar (with ETA) fed by runner events; warnings printed above it."""

    def __init__(self, total: int, title: str, quiet: bool = False):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=title[:40], unit="pt", disable=quiet, dynamic_ncols=True,
                        file=sys.stderr)
        self.quiet = quiet

    def __call__(self, event) -> None:
        if event.kind == "progress":
            self.bar.n = event.data["done"]
            self.bar.refresh()
        elif event.kind in ("warning", "error"):
            self.bar.write(f"{event.kind}: {event.data.get('message', '')}", file=sys.stderr)
        elif event.kind == "state" and event.data["state"] in ("paused", "safe_state"):
            self.bar.write(f"state: {event.data['state']}", file=sys.stderr)
        elif event.kind == "finished":
            self.bar.close()


def run_with_ctrl_c(runner, quiet: bool = False):
    """Run in a thread so that Ctrl-C becomes an orderly abort to the safe state."""
    printer = ProgressPrinter(runner.plan.total_points(), runner.plan.title, quiet=quiet)
    runner.subscribe(printer)
    thread = runner.start()
    interrupted = False
    while thread.is_alive():
        try:
            thread.join(0.2)
        except KeyboardInterrupt:
            if not interrupted:
                click.echo("\nCtrl-C: aborting; bringing the field to its safe state and closing the file ...",
                           err=True)
                runner.abort("interrupted with Ctrl-C")
                interrupted = True
            else:
                click.echo("still going to the safe state; please wait", err=True)
    return runner.result


def describe_result(result) -> str:
    from daq.inspect import summarize

    s = summarize(result.path)
    names = ", ".join(f"{n} [{q['units']}]" for n, q in s["quantities"].items()
                      if n not in ("point_index", "timestamp", "elapsed_s"))
    lines = [f"{result.status}: {result.points} points in {result.path}"]
    if result.reason:
        lines.append(f"  reason: {result.reason}")
    lines.append(f"  quantities: {names}")
    lines.append(f"  inspect with: loopscope inspect {result.path}")
    return "\n".join(lines)


def prepare_run(plan_path, station_path, out, overwrite, new_name, resources=None):
    """Validate plan, station and output file, in that order, before touching an instrument."""
    from daq.station_check import plan_instruments
    from daq.runner import check_plan_against_station
    from instruments.station import validate_station

    plan = load_plan(plan_path)
    config = validate_station(station_path, resources=resources)
    check_plan_against_station(plan, plan_instruments(config))
    out = Path(out) if out else Path(f"{Path(str(plan_path)).stem}.h5")
    if new_name:
        out = unique_path(out)
    check_output_path(out, overwrite=overwrite)
    return plan, out


@click.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@click.option("--station", "station_file", type=click.Path(dir_okay=False), default=None,
              help="Station YAML (default: the simulated lab on its default ports, see `loopscope sim`).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Output HDF5 file (default: PLAN.h5).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--new-name", is_flag=True, help="If the output file exists, write FILE_1.h5, FILE_2.h5 ...")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(plan_file, station_file, out, overwrite, new_name, quiet):
    """Run a sweep plan on a station and record it to HDF5. Ctrl-C aborts to the safe state."""
    from instruments.station import StationError, load_station
    from loopscope import __version__
    from daq.runner import Runner

    station_file = station_file or default_station_path()
    try:
        plan, out_path = prepare_run(plan_file, station_file, out, overwrite, new_name)
    except (PlanError, StationError, StorageError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        station = load_station(station_file)
    except Exception as exc:
        raise click.ClickException(f"station {station_file}: {exc}") from None
    try:
        runner = Runner(station, plan, out_path, overwrite=overwrite, software_version=__version__)
        result = run_with_ctrl_c(runner, quiet=quiet)
    finally:
        station.close()
    click.echo(describe_result(result))
    if result.status != "completed":
        sys.exit(1)


def default_station_path() -> Path:
    from daq.paths import SIMULATED_STATION

    if not SIMULATED_STATION.exists():
        raise click.ClickException("no --station given and the simulated station file is not installed "
                                   f"({SIMULATED_STATION}); pass --station STATION.yaml")
    return SIMULATED_STATION


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="loopscope-demo",
              help="Directory for the two run files.")
@click.option("--speed", type=float, default=200.0, show_default=True,
              help="Simulated clock speed-up.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--quiet", is_flag=True)
def demo(out_dir, speed, seed, quiet):
    """Start the simulated lab in-process and run two sweeps on it.

    A persistent-current field sweep of normal-metal rings read by a SQUID, and a hysteresis
    loop of a soft-magnetic core; each written to its own HDF5 file in OUT.
    """
    from daq.demo import run_demo

    results = run_demo(Path(out_dir), speed=speed, seed=seed, quiet=quiet)
    for r in results:
        click.echo(describe_result(r))
    if any(r.status != "completed" for r in results):
        sys.exit(1)


@click.command(name="inspect")
@click.argument("run_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect_cmd(run_file, as_json):
    """Summarize a run file: plan, status, points, quantities and units, instruments."""
    from daq.inspect import format_summary, summarize

    try:
        s = summarize(run_file)
    except (OSError, KeyError, ValueError) as exc:
        raise click.ClickException(f"{run_file}: cannot read it as a run file: {exc}") from None
    if as_json:
        click.echo(json.dumps(s, indent=1, default=str))
    else:
        click.echo(format_summary(s))


@click.command()
@click.argument("run_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), required=True, help="CSV file to write.")
@click.option("--overwrite", is_flag=True)
def export(run_file, csv_out, overwrite):
    """Export a run's data table as CSV (header: name [units])."""
    from daq.inspect import export_csv

    if Path(csv_out).exists() and not overwrite:
        raise click.ClickException(f"{csv_out} exists; pass --overwrite to replace it")
    try:
        n = export_csv(run_file, csv_out)
    except (OSError, KeyError) as exc:
        raise click.ClickException(f"{run_file}: {exc}") from None
    click.echo(f"wrote {n} rows to {csv_out}")


@click.group()
def queue():
    """Unattended queues of runs: run, status, resume."""


def _queue_command(queue_file, station_file, resume, quiet):
    from daq.queue import QueueError, format_status, run_queue
    from instruments.station import StationError
    from loopscope import __version__

    def attach(runner):
        runner.subscribe(ProgressPrinter(runner.plan.total_points(), runner.plan.title, quiet=quiet))

    try:
        result = run_queue(queue_file, resume=resume, station=station_file, progress=attach,
                           software_version=__version__)
    except (QueueError, StationError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("\nqueue interrupted; `loopscope queue resume` goes on from here", err=True)
        sys.exit(130)
    click.echo(format_status(result.status))
    if result.state != "completed":
        sys.exit(1)


@queue.command(name="run")
@click.argument("queue_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--station", "station_file", type=click.Path(dir_okay=False), default=None,
              help="Station YAML (default: the queue's own 'station' key).")
@click.option("--quiet", is_flag=True)
def queue_run(queue_file, station_file, quiet):
    """Run every plan of QUEUE_FILE in order, one HDF5 file each, with a status file beside it."""
    _queue_command(queue_file, station_file, False, quiet)


@queue.command(name="resume")
@click.argument("queue_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--station", "station_file", type=click.Path(dir_okay=False), default=None)
@click.option("--quiet", is_flag=True)
def queue_resume(queue_file, station_file, quiet):
    """Go on after a crash or power cut: the interrupted run continues in its file from its next point."""
    _queue_command(queue_file, station_file, True, quiet)


@queue.command(name="status")
@click.argument("queue_file", type=click.Path(exists=True, dir_okay=False))
def queue_status_cmd(queue_file):
    """What is done, running and left, and why anything failed."""
    from daq.queue import QueueError, queue_status

    try:
        click.echo(queue_status(queue_file))
    except QueueError as exc:
        raise click.ClickException(str(exc)) from None

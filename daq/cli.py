"""Command-line commands of the sweep engine: run, demo, inspect, export."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from loopscope.daq.plans import PlanError, load_plan
from loopscope.daq.storage import StorageError, check_output_path, unique_path



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


def run_until_finished(runner, quiet: bool = False):
    """Run in the runner's thread and wait for its own "finished" flag (the sessions stay
    open until then: the safe-state ramp needs them). A stop signal meanwhile aborts the
    run to the safe state (daq.interrupts)."""
    from loopscope.daq.interrupts import InterruptGuard

    printer = ProgressPrinter(runner.plan.total_points(), runner.plan.title, quiet=quiet)
    runner.subscribe(printer)
    guard = InterruptGuard(on_stop=lambda reason: runner.abort(reason, signal=guard.signal),
                           on_hold=runner.hold_where_it_is,
                           echo=lambda message: click.echo(message, err=True))
    with guard:  # nested in the command's own guard where there is one
        runner.start()
        while runner.wait(0.5) is None:
            pass
    return runner.result


def exit_code(result, guard) -> int:
    """What the process's exit code says (docs/safety.md): 0 completed, 1 failed at the safe
    state, 3 the field NOT at the safe state, 128 + N stopped by signal N at the safe state."""
    from loopscope.daq.interrupts import EXIT_COMPLETED, EXIT_FAILED, EXIT_NOT_SAFE, exit_code_for_signal

    if result is not None and not result.safe_state_reached:
        return EXIT_NOT_SAFE
    if result is not None and result.status == "completed":
        return EXIT_COMPLETED  # the signal came after the last point: the run is whole
    if guard.signal:
        return exit_code_for_signal(guard.signal)
    if result is None or result.status != "completed":
        return EXIT_FAILED
    return EXIT_COMPLETED


def describe_result(result) -> str:
    from loopscope.daq.inspect import summarize

    s = summarize(result.path)
    names = ", ".join(f"{n} [{q['units']}]" for n, q in s["quantities"].items()
                      if n not in ("point_index", "timestamp", "elapsed_s"))
    lines = [f"{result.status}: {result.points} points in {result.path}"]
    if result.reason:
        lines.append(f"  reason: {result.reason}")
    lines.append(f"  quantities: {names}")
    lines.append(f"  inspect with: {how_to_call()} inspect {shlex.quote(str(result.path))}")
    return "\n".join(lines)


def default_output(plan_path) -> Path:
    """PLAN.h5 for PLAN.yaml; FILE_FUNCTION.h5 for a plan in Python, FILE.py:FUNCTION."""
    text = str(plan_path)
    if ".py:" in text:
        file, _, function = text.rpartition(":")
        return Path(f"{Path(file).stem}_{function}.h5")
    return Path(f"{Path(text).stem}.h5")


def how_to_call() -> str:
    """The loopscope command as the user can type it from where they are: `loopscope` when it
    is on PATH, `python3 quickstart.py` when quickstart started us (it says so in
    LOOPSCOPE_COMMAND), else this interpreter with -m loopscope."""
    import os
    import shutil

    given = os.environ.get("LOOPSCOPE_COMMAND", "").strip()
    if given:
        return given
    if shutil.which("loopscope"):
        return "loopscope"
    return f"{shlex.quote(sys.executable)} -m loopscope"


def prepare_run(plan_path, station_path, out, overwrite, new_name, resources=None, time_scale=None):
    """Validate plan, station and output file, in that order, before touching an instrument."""
    from loopscope.daq.plan_against_station import plan_instruments
    from loopscope.daq.runner import check_plan_against_station
    from loopscope.instruments.station import validate_station

    plan = load_plan(plan_path)
    config = validate_station(station_path, resources=resources, time_scale=time_scale)
    check_plan_against_station(plan, plan_instruments(config))
    out = Path(out) if out else default_output(plan_path)
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
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait for instruments another run holds (default: refuse at once).")
@click.option("--time-scale", "time_scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Replace the station's time_scale: the simulated lab's --speed.")
def run(plan_file, station_file, out, overwrite, new_name, quiet, wait_s, time_scale):
    """Run a sweep plan on a station and record it to HDF5.

    Ctrl-C (or SIGTERM, Ctrl-Break) stops at the next safe point: the field goes to the
    station's safe state, the file is closed, then the command exits. A second Ctrl-C is
    refused; a third within 5 s leaves the supply holding where it is (NOT safe). Exit codes:
    0 completed, 1 failed (field at the safe state), 3 field NOT at the safe state,
    130/143 stopped by Ctrl-C/SIGTERM (field at the safe state)."""
    from loopscope.daq.interrupts import InterruptGuard
    from loopscope.instruments.station import StationError, load_station
    from loopscope import __version__
    from loopscope.daq.runner import Runner

    station_file = station_file or default_station_path()
    try:
        plan, out_path = prepare_run(plan_file, station_file, out, overwrite, new_name,
                                     time_scale=time_scale)
    except (PlanError, StationError, StorageError) as exc:
        raise click.ClickException(str(exc)) from None
    # this guard speaks to the operator and notes a signal that comes while connecting;
    # run_until_finished's own guard stops the run
    guard = InterruptGuard(echo=lambda message: click.echo(message, err=True))
    with guard:
        try:
            station = load_station(station_file, lock_wait_s=wait_s, time_scale=time_scale)
        except Exception as exc:
            raise click.ClickException(f"station {station_file}: {exc}") from None
        result = None
        try:
            if not guard.signal:  # a Ctrl-C while connecting: nothing was driven, stop here
                runner = Runner(station, plan, out_path, overwrite=overwrite, software_version=__version__)
                result = run_until_finished(runner, quiet=quiet)
        finally:
            station.close()
    if result is not None:
        click.echo(describe_result(result))
        if not result.safe_state_reached:
            click.echo("WARNING: the field is NOT at the station's safe state", err=True)
    else:
        click.echo(f"stopped by {guard.signal} before the run started; no instrument was driven", err=True)
    sys.exit(exit_code(result, guard))


def default_station_path() -> Path:
    from loopscope.daq.paths import SIMULATED_STATION

    if not SIMULATED_STATION.exists():
        raise click.ClickException("no --station given and the simulated station file is not installed "
                                   f"({SIMULATED_STATION}); pass --station STATION.yaml")
    return SIMULATED_STATION


DEFAULT_DEMO_DIR = "loopscope-demo"


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help=f"Directory for the two run files (default: {DEFAULT_DEMO_DIR}/, or "
                   f"{DEFAULT_DEMO_DIR}-1/, -2/ ... when it already holds a demo).")
@click.option("--speed", type=float, default=200.0, show_default=True,
              help="Simulated clock speed-up.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True,
              help="Replace the demo's files if OUT already has them (without it, nothing runs then).")
def demo(out_dir, speed, seed, quiet, overwrite):
    """Start the simulated lab in-process and run two sweeps on it.

    A persistent-current field sweep of normal-metal rings read by a SQUID, and a hysteresis
    loop of a soft-magnetic core; each written to its own HDF5 file in OUT
    (persistent_currents.h5, hysteresis_loop.h5). If an OUT given with --out already holds one
    of them, the demo refuses before it starts, unless --overwrite; without --out, an earlier
    demo is kept and the new one goes to the next free loopscope-demo-N/. A file being
    written is never replaced.
    """
    from loopscope.daq.demo import check_demo_outputs, run_demo
    from loopscope.daq.interrupts import InterruptGuard
    from loopscope.daq.output_files import OutputFileError

    if out_dir is None:
        out_dir = _free_demo_dir(overwrite)
    try:
        check_demo_outputs(Path(out_dir), overwrite)
    except OutputFileError as exc:
        raise click.ClickException(f"{exc} (or use --out ANOTHER_DIR)") from None
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"--out {out_dir}: cannot create the directory: "
                                   f"{exc.strerror or exc}") from None
    with InterruptGuard(echo=lambda message: click.echo(message, err=True)) as guard:
        results = run_demo(Path(out_dir), speed=speed, seed=seed, quiet=quiet, overwrite=overwrite)
    for r in results:
        click.echo(describe_result(r))
    worst = max((exit_code(r, guard) for r in results), key=lambda c: (c == 3, c))
    sys.exit(worst)


def _free_demo_dir(overwrite: bool) -> str:
    """loopscope-demo, or the first loopscope-demo-N that holds no demo file yet."""
    from loopscope.daq.demo import DEMO_RUNS

    def taken(d: Path) -> bool:
        return any((d / name).exists() for _, _, name in DEMO_RUNS)

    candidate = Path(DEFAULT_DEMO_DIR)
    n = 0
    while taken(candidate) and not overwrite:
        n += 1
        candidate = Path(f"{DEFAULT_DEMO_DIR}-{n}")
    if n:
        click.echo(f"{DEFAULT_DEMO_DIR}/ holds an earlier demo; this one goes to {candidate}/", err=True)
    return str(candidate)


@click.command(name="inspect")
@click.argument("run_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect_cmd(run_file, as_json):
    """Summarize a run file: plan, status, points, quantities and units, instruments."""
    from loopscope.daq.inspect import format_summary, summarize

    try:
        s = summarize(run_file)
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise click.ClickException(f"{run_file}: cannot read it as a run file: {exc}") from None
    if as_json:
        click.echo(json.dumps(s, indent=1, default=str))
    else:
        click.echo(format_summary(s))


@click.command()
@click.argument("run_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), required=True, help="CSV file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing CSV file (never the run file itself).")
def export(run_file, csv_out, overwrite):
    """Export a run's data table as CSV (header: name [units])."""
    from loopscope.daq.inspect import export_csv
    from loopscope.daq.output_files import OutputFileError, atomic_output, check_new_output

    try:
        # never the run file itself, nor a run being written; the CSV appears complete or not at all
        check_new_output(csv_out, overwrite, inputs=[run_file], what="CSV file")
        with atomic_output(csv_out) as tmp:
            n = export_csv(run_file, tmp)
    except OutputFileError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # NotARunFile: the message names the file
        raise click.ClickException(str(exc)) from None
    except (OSError, KeyError) as exc:
        raise click.ClickException(f"{run_file}: {exc}") from None
    click.echo(f"wrote {n} rows to {csv_out}")


@click.group()
def queue():
    """Unattended queues of runs: run, status, resume."""


def _queue_command(queue_file, station_file, resume, quiet):
    from loopscope.daq.interrupts import EXIT_NOT_SAFE, InterruptGuard, exit_code_for_signal
    from loopscope.daq.queue import QueueError, format_status, run_queue
    from loopscope.instruments.station import StationError
    from loopscope import __version__

    def attach(runner):
        runner.subscribe(ProgressPrinter(runner.plan.total_points(), runner.plan.title, quiet=quiet))

    # the queue's own guard (inside run_queue) stops the queue, the runner's the run under
    # way; this one only speaks to the operator
    guard = InterruptGuard(echo=lambda message: click.echo(message, err=True))
    with guard:
        try:
            result = run_queue(queue_file, resume=resume, station=station_file, progress=attach,
                               software_version=__version__)
        except (QueueError, StationError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(format_status(result.status))
    if any(not r.safe_state_reached for r in result.results):
        click.echo("WARNING: the field is NOT at the station's safe state", err=True)
        sys.exit(EXIT_NOT_SAFE)
    if guard.signal:
        click.echo("queue interrupted; `loopscope queue resume` goes on from here", err=True)
        sys.exit(exit_code_for_signal(guard.signal))
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
    from loopscope.daq.queue import QueueError, queue_status

    try:
        click.echo(queue_status(queue_file))
    except QueueError as exc:
        raise click.ClickException(str(exc)) from None

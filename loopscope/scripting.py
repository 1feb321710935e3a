"""What a script or a notebook needs, in a few names: ``import loopscope``.

    import loopscope
    with loopscope.simulated_lab(speed=200) as lab, loopscope.connect(lab) as station:
        result = loopscope.run({"kind": "linear", "source": "coil_supply",
                                "detectors": ["gaussmeter"],
                                "sweep": {"start": 0, "stop": 0.02, "points": 11}},
                               station, "sweep.h5")
    data = loopscope.read_run(result.path)

A plan may also be written in Python (``loopscope.daq.plans_as_code``: an ``@plan`` generator
of ``step(...)``), given as "my_plan.py:function" or as ``code_plan(function, **arguments)``.

``run`` is the same engine as ``loopscope run``: the plan is checked against the station
before anything moves; Ctrl-C (a notebook's "interrupt the kernel"), SIGTERM or any exception
in the loop ends at the station's safe state with the file closed, its status and reason
written, and only then is the interrupt or exception raised again. ``background=True``
returns a handle at once, to pause, resume, abort and wait on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def simulated_lab(config=None, *, seed: int = 0, speed: float = 100.0, **kwargs):
    """The simulated lab, started (a context manager: ``with ... as lab`` stops it after).

    ``speed``: simulated seconds per wall second; ``connect(lab)`` matches the station's clock
    to it. ``config``: a sim configuration file or dict (docs/simulated_lab.md)."""
    from loopscope.sim_devices.lab import SimulatedLab
    return SimulatedLab(config, seed=seed, speed=speed, **kwargs).start()


def connect(station=None, *, lock_wait_s: float = 0.0):
    """A connected Station (a context manager: ``with ... as station`` closes it after).

    ``station``: a station file, a dict, or a running simulated lab, for which the example
    station is pointed at the lab's resources with its ``time_scale`` set to the lab's speed
    (a station and a lab whose clocks disagreed would wait 100x too long or too short);
    None: the example station of the simulated lab on its default ports."""
    from loopscope.daq.paths import SIMULATED_STATION
    from loopscope.instruments.station import load_station
    from loopscope.sim_devices.lab import SimulatedLab

    if isinstance(station, SimulatedLab):
        from loopscope.daq.demo import simulated_station
        return load_station(simulated_station(station, station.clock.speed),
                            lock_wait_s=lock_wait_s)
    return load_station(SIMULATED_STATION if station is None else station,
                        lock_wait_s=lock_wait_s)


def load_plan(plan):
    """A checked Plan from a YAML file or text, a dict, the pydantic model of a YAML kind, a
    plan written in Python ("my_plan.py:function", or the @plan function itself), or a Plan."""
    from loopscope.daq.plans import Plan
    from loopscope.daq.plans import load_plan as _load_plan
    from pydantic import BaseModel

    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, BaseModel):
        return _load_plan(plan.model_dump(mode="json", exclude_none=True))
    return _load_plan(plan)


def code_plan(function, **arguments):
    """A plan written in Python (an @plan generator function), with these arguments."""
    from loopscope.daq.plans_as_code import load_code_plan
    return load_code_plan(function, arguments)


class RunHandle:
    """A run started in the background: pause, resume, abort, wait."""

    def __init__(self, runner) -> None:
        self.runner = runner

    @property
    def path(self) -> Path:
        return Path(self.runner.out_path)

    @property
    def points_done(self) -> int:
        return self.runner.points_done

    @property
    def finished(self) -> bool:
        return self.runner.finished

    def pause(self) -> None:
        self.runner.pause()

    def resume(self) -> None:
        self.runner.resume()

    def abort(self, reason: str = "aborted from the script") -> None:
        """Stop at the next safe point; the field goes to the safe state (wait() to see it)."""
        self.runner.abort(reason)

    def wait(self, timeout: float | None = None):
        """The RunResult once the run has ended (safe state reached, file closed), or None
        if ``timeout`` seconds pass first."""
        return self.runner.wait(timeout)

    def __repr__(self) -> str:
        state = "finished" if self.finished else "running"
        return f"<RunHandle {self.path.name}: {state}, {self.points_done} points>"


def run(plan, station, out=None, *, overwrite: bool = False, new_name: bool = False,
        resume: bool = False, progress: bool = True, background: bool = False, **runner_options: Any):
    """Run a plan on a connected station into an HDF5 file; returns the RunResult.

    ``plan``: YAML file or text, dict or Plan. ``out``: the run file (default: the plan's
    title as a file name in the current folder); an existing file is refused unless
    ``overwrite`` (replace it) or ``new_name`` (write NAME_1.h5, ...); ``resume``: go on in
    the file an interrupted run of the same plan left (after a crash, a kill): the points on
    disk are kept and the plan goes on from the next one. ``progress``: a
    progress bar (tqdm.auto: a widget in a notebook). ``background``: return a RunHandle at
    once instead of waiting."""
    from loopscope import __version__
    from loopscope.daq.storage import check_output_path, unique_path
    from loopscope.daq.runner import Runner, check_plan_against_station, station_instruments

    plan = load_plan(plan)
    check_plan_against_station(plan, station_instruments(station))
    out = Path(out) if out is not None else Path(_file_name(plan.title or plan.kind) + ".h5")
    if resume:
        if not out.exists():
            raise FileNotFoundError(f"{out}: no such run file to resume")
    else:
        if new_name:
            out = unique_path(out)
        check_output_path(out, overwrite=overwrite)
    runner = Runner(station, plan, out, overwrite=overwrite, software_version=__version__,
                    resume=resume, **runner_options)
    bar = _progress_bar(runner) if progress else None
    try:
        if background:
            runner.start()
            return RunHandle(runner)
        return runner.run()
    finally:
        if bar is not None and not background:
            bar.close()


def read_run(path):
    """A run file's data, units and metadata (loopscope.analysis.runfile.RunData)."""
    from loopscope.analysis.runfile import read_run as _read_run
    return _read_run(path)


def _file_name(title: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "_" for c in title.strip())
    return keep.strip("_")[:80] or "run"


def _progress_bar(runner):
    """A tqdm.auto bar fed by the runner's progress events (total known once the run starts)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=None, unit="pt", desc=Path(runner.out_path).stem, leave=True)

    def on_event(event) -> None:
        data = getattr(event, "data", {}) or {}
        if getattr(event, "kind", "") == "progress":
            total, done = data.get("total"), data.get("done")
            if total is not None and bar.total != total:
                bar.total = total
            if done is not None:
                bar.n = done
                bar.refresh()
        elif getattr(event, "kind", "") == "finished":
            bar.close()

    runner.subscribe(on_event)
    return bar

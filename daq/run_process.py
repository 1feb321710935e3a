"""Runs in a process of their own, followed and steered from another (the operator's window).

Drawing a million-point plot and running a sweep in one Python process share one interpreter
lock: every time an instrument's reply arrives, the runner waits for the window to let go.
In a process of its own the runner never waits for the window, and a window that crashes
leaves the run going to its normal end (file closed, safe state), as `loopscope run` would.

    proc = RunProcess(PlanJob(station=partial(load_station, "station.yaml"), plan=plan,
                              out_path="run.h5"))
    proc.subscribe(print)        # Events, from a reader thread, as from a Runner, then "job_done"
    proc.start(); proc.pause(); proc.resume(); proc.abort("why")
    result = proc.wait()         # daq.runner.RunResult of the last run

The run process opens the station itself (`job.station()`: a picklable factory such as
`functools.partial(load_station, source)`), so the caller should release its own sessions to
instruments that accept one connection only. A `QueueJob` runs a queue file with the engine of
`loopscope queue run` and streams every run's events in turn.

Pipe traffic: the run process batches events every BATCH_INTERVAL_S; point rows travel as one
float64 block per batch (an Event of kind "points" with data {"rows": array}), the traces of
those points (a plan's measurements at a point: an I-V curve, a frequency scan) right after
their rows (an Event of kind "traces" with data {"points": [(index, {trace: {signal: array}})]}),
everything else as it came. Commands go the other way: pause, resume, abort, stop_after_current.
SIGINT and SIGTERM in the run process abort the run to its safe state.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from loopscope.daq.events import Event

log = logging.getLogger(__name__)

BATCH_INTERVAL_S = 0.02  # 50 Hz: new rows at least as often as the window may redraw (40 Hz)


@dataclass
class PlanJob:
    """One plan into one file.

    A plan written in Python travels to the run process as its target and arguments
    ("file.py:function", {...}) and is loaded again there: its function may come from a module
    loaded from a file (an adaptive plan keeps it in Plan.code_function), which the spawned
    process could not unpickle. The caller checks the plan against the station before it is
    sent; the Runner checks the re-loaded plan again before anything moves."""
    station: Callable[[], Any]
    plan: Any  # daq.plans.Plan
    out_path: str | Path
    software_version: str = ""
    extra_metadata: dict = field(default_factory=dict)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        plan = state["plan"]
        if plan is not None and plan.kind == "code":
            state["plan"] = ("code plan", str(plan.model.function), dict(plan.model.arguments))
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def runnable_plan(self):
        """The plan itself: a plan in Python loaded again from its target and arguments."""
        if isinstance(self.plan, tuple) and self.plan[:1] == ("code plan",):
            from loopscope.daq.plans_as_code import load_code_plan
            _, target, arguments = self.plan
            self.plan = load_code_plan(target, arguments)
        return self.plan


@dataclass
class QueueJob:
    """A queue file, run or resumed as `loopscope queue run/resume` would."""
    station: Callable[[], Any]
    queue_path: str | Path
    resume: bool = False
    software_version: str = ""


# ------------------------------------------------------------------------ the run process
class _Forwarder:
    """Run-process side: subscriber of each runner, batches events onto the pipe."""

    def __init__(self, conn):
        self.conn = conn
        self.lock = threading.Lock()
        self.rows: list[tuple] = []
        self.traces: list[tuple] = []  # (point index, {trace: {signal: array}}) of the rows above
        self.pending: list[tuple] = []  # ("events", [...]) and other messages, in order
        self.broken = False
        self.runner = None  # the run whose events pass now
        self.wake = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="run-process-sender", daemon=True)
        self.thread.start()

    def on_event(self, ev: Event) -> None:
        with self.lock:
            if ev.kind == "point":
                self.rows.append(ev.data["row"])
                traces = ev.data.get("traces")
                if traces:
                    self.traces.append((ev.data["index"], traces))
                return
            self._cut_rows()
            if ev.kind == "finished" and self.runner is not None and self.runner.result is not None:
                # the runner sets its result before it announces the end: the other side
                # has the result (with start and end times) when it sees "finished"
                self.pending.append(("result", asdict(self.runner.result)))
            self.pending.append(("event", ev))
        self.wake.set()  # rare events go at once

    def message(self, kind: str, payload) -> None:
        with self.lock:
            self._cut_rows()
            self.pending.append((kind, payload))
        self.wake.set()

    def _cut_rows(self) -> None:
        # rows before an event stay before it on the other side
        if self.rows:
            self.pending.append(("points", np.asarray(self.rows, dtype=np.float64)))
            self.rows = []
        if self.traces:  # beside their rows, in the same batch
            self.pending.append(("traces", self.traces))
            self.traces = []

    def _loop(self) -> None:
        while True:
            self.wake.wait(BATCH_INTERVAL_S)
            self.wake.clear()
            with self.lock:
                self._cut_rows()
                batch, self.pending = self.pending, []
            if batch and not self.broken:
                try:
                    self.conn.send(batch)
                except (OSError, EOFError, ValueError):
                    # the window is gone: the run goes on to its end without an audience
                    self.broken = True
                    log.warning("the controlling process is gone; the run goes on to its normal end")
            if self.done.is_set() and not batch:
                with self.lock:
                    if not self.pending and not self.rows and not self.traces:
                        return

    def close(self) -> None:
        self.done.set()
        self.wake.set()
        self.thread.join(10)


class _Control:
    """Run-process side: commands from the pipe (and signals) applied to the current runner."""

    def __init__(self, conn):
        self.conn = conn
        self.runner = None
        self.stop_after_current = False
        self.abort_reason = ""
        self.lock = threading.Lock()

    def attach(self, runner) -> None:
        with self.lock:
            self.runner = runner
            if self.abort_reason:  # an abort that came between two runs of a queue
                runner.abort(self.abort_reason)

    def apply(self, command: tuple) -> None:
        with self.lock:
            runner = self.runner
            what = command[0]
            if what == "abort":
                self.abort_reason = command[1]
                self.stop_after_current = True
                if runner is not None:
                    runner.abort(command[1])
            elif what == "stop_after_current":
                self.stop_after_current = True
            elif runner is not None and what == "pause":
                runner.pause()
            elif runner is not None and what == "resume":
                runner.resume()

    def listen(self) -> None:
        while True:
            try:
                command = self.conn.recv()
            except (EOFError, OSError):
                return  # the window is gone: no more commands; the run goes on
            self.apply(command)


def _run_in_process(conn, job) -> None:
    """The run process's main: open the station, run the job, report, close."""
    from loopscope.daq.interrupts import InterruptGuard

    forward = _Forwarder(conn)
    control = _Control(conn)
    # SIGINT/SIGTERM (Ctrl-Break on Windows) abort the run to its safe state, as in `loopscope run`
    guard = InterruptGuard(on_stop=lambda reason: control.apply(("abort", f"run process {reason}")),
                           on_hold=lambda: control.runner is not None and control.runner.hold_where_it_is(),
                           echo=None)
    with guard:
        _serve_job(conn, job, forward, control)


def _serve_job(conn, job, forward, control) -> None:
    threading.Thread(target=control.listen, name="run-process-commands", daemon=True).start()
    outcome: dict = {"error": ""}
    station = None
    try:
        station = job.station()
        if isinstance(job, PlanJob):
            _run_plan(job, station, forward, control)
        else:
            outcome["queue_state"] = _run_queue(job, station, forward, control)
    except Exception as exc:  # reported to the window; no instrument was driven by a runner
        log.exception("run process failed")
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if station is not None:
            try:
                station.close()
            except Exception:  # closing sessions must not hide the outcome
                log.exception("closing the station failed")
        forward.message("job_done", outcome)
        forward.close()


def _announce(runner, forward: _Forwarder, control: _Control) -> None:
    from loopscope.instruments.roles import role_kind

    forward.runner = runner
    runner.subscribe(forward.on_event)
    # the traces the run's points will carry, with their axes (the "started" event lists columns)
    traces = {t.name: {"axis": t.axis.name, "axis_units": t.axis.units,
                       "axis_values": np.asarray(t.axis.values, dtype=np.float64),
                       "signals": [(c.name, c.units) for c in t.signals], "signal": t.signal or t.signals[0].name}
              for t in runner.traces}
    forward.message("run", {"source_name": runner.source_name, "out_path": str(runner.out_path),
                            "detectors": {n: role_kind(r) for n, r in runner.detectors.items()},
                            "total": runner.plan.total_points(), "traces": traces})
    control.attach(runner)


def _run_plan(job: PlanJob, station, forward: _Forwarder, control: _Control) -> None:
    from loopscope.daq.runner import Runner

    runner = Runner(station, job.runnable_plan(), job.out_path, overwrite=False, software_version=job.software_version,
                    extra_metadata=job.extra_metadata)
    _announce(runner, forward, control)
    runner.run()


def _run_queue(job: QueueJob, station, forward: _Forwarder, control: _Control) -> str:
    from loopscope.daq.queue import run_queue

    result = run_queue(job.queue_path, resume=job.resume, connected_station=station,
                       progress=lambda runner: _announce(runner, forward, control),
                       software_version=job.software_version, stop_requested=lambda: control.stop_after_current)
    return result.state


# ------------------------------------------------------------------------ the caller's side
class RunProcess:
    """Handle on a job in its own process: subscribe, start, pause, resume, abort, wait.

    Mirrors the parts of daq.runner.Runner a display needs: `state`, `result`, `source_name`,
    `detector_kinds`, `out_path`, `points_done`, and events to subscribers (called from this
    object's reader thread, in order)."""

    def __init__(self, job: PlanJob | QueueJob):
        self.job = job
        self.state = "starting"
        self.result = None
        self.source_name = ""
        self.detector_kinds: dict[str, str] = {}
        self.out_path = Path(job.out_path) if isinstance(job, PlanJob) else None
        self.total = 0
        #: {trace: {"axis", "axis_units", "axis_values", "signals": [(name, units)], "signal"}} of the run
        self.trace_layouts: dict[str, dict] = {}
        self.outcome: dict | None = None  # {"error": str, "queue_state": ...} when the job ended
        self.points_done = 0
        self._subscribers: list[Callable[[Event], None]] = []
        self._conn = None
        self._process = None
        self._reader: threading.Thread | None = None
        self._ended = threading.Event()

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._subscribers.append(callback)

    def start(self) -> "RunProcess":
        # spawn, not fork: the caller may have Qt and other threads, which fork cannot copy
        ctx = mp.get_context("spawn")
        parent_end, child_end = ctx.Pipe()
        # not a daemon: a daemon child is killed when its parent exits, which would cut a
        # run short without its safe state
        self._process = ctx.Process(target=_run_in_process, args=(child_end, self.job), name="loopscope-run")
        self._process.start()
        child_end.close()
        self._conn = parent_end
        self._reader = threading.Thread(target=self._read, name="run-process-reader", daemon=True)
        self._reader.start()
        return self

    # -- commands ---------------------------------------------------------------------------
    def _send(self, *command) -> None:
        try:
            self._conn.send(command)
        except (OSError, ValueError, AttributeError):
            pass  # the process has ended: nothing left to steer

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def abort(self, reason: str = "aborted by the operator") -> None:
        self._send("abort", reason)

    def stop_after_current(self) -> None:
        self._send("stop_after_current")

    # -- state ------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """False once the job has ended and every message has been delivered."""
        return not self._ended.is_set()

    def wait(self, timeout: float | None = None):
        self._ended.wait(timeout)
        if not self.alive and self._process is not None:
            self._process.join(5)
        return self.result

    @property
    def exitcode(self):
        return None if self._process is None else self._process.exitcode

    # -- reader thread ----------------------------------------------------------------------
    def _read(self) -> None:
        try:
            while True:
                try:
                    batch = self._conn.recv()
                except (EOFError, OSError):
                    break  # the run process is gone (normally after "job_done")
                for kind, payload in batch:
                    self._take(kind, payload)
                if self.outcome is not None:
                    break
        finally:
            self._conn.close()
            self._ended.set()

    def _take(self, kind: str, payload) -> None:
        from loopscope.daq.runner import RunResult

        if kind == "points":
            self.points_done += len(payload)
            self._deliver(Event("points", time.time(), {"rows": payload}))
        elif kind == "traces":
            self._deliver(Event("traces", time.time(), {"points": payload}))
        elif kind == "event":
            if payload.kind == "state":
                self.state = payload.data["state"]
            elif payload.kind == "started":
                self.points_done = payload.data.get("start_index", 0)
            self._deliver(payload)
        elif kind == "run":
            self.source_name = payload["source_name"]
            self.detector_kinds = payload["detectors"]
            self.out_path = Path(payload["out_path"])
            self.total = payload["total"]
            self.trace_layouts = payload.get("traces", {})
            self.result = None
        elif kind == "result":
            d = dict(payload)
            self.result = RunResult(Path(d.pop("path")), **d)
        elif kind == "job_done":
            self.outcome = payload
            self._deliver(Event("job_done", time.time(), dict(payload)))

    def _deliver(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a display's bug must not stop the stream
                log.exception("run-process subscriber %r failed on %s", callback, event.kind)

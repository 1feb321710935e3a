"""The runner: executes a Plan on a Station, records to a RunWriter, owns pause/resume/abort.

One runner for every user (CLI, GUI, overnight queue, scripts, tests). It is the only place
that decides what the instruments do during a run, and so the only place that has to get the
safe state right: any abort, unhandled error or quench ends with the field source in its
safe state (daq/safe_state.py) and the file closed with the reason.

The run loop is here; each of its jobs has its own module, mixed into Runner:
  daq/plan_against_station.py   the plan checked against the station before anything moves
  daq/run_columns.py            the file's columns, signal and axes; where values go in a row
  daq/point_readings.py         a point's readings, recorded and published
  daq/settling.py               waiting for the setpoint, a stable probe, the run's clock
  daq/temperature_steps.py      temperatures reached before the first point and per point
  daq/suspenders.py             conditions that hold a point until they clear
  daq/resonance_search.py       the cantilever's resonance at each field
  daq/continuous_ramp.py        the continuous kind: one ramp, read as it goes
  daq/adaptive_plans.py         plans in Python whose steps the readings steer
  daq/point_measurements.py     an I-V curve, a frequency scan: a trace per point
  daq/retries.py                bounded retries and reconnection of instrument calls
  daq/safe_state.py             the safe state, the operator's hold, the field at the end
  daq/run_states.py             the run's states and their transitions, RunResult
"""
from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import Callable

from loopscope.daq.adaptive_plans import AdaptivePlans
from loopscope.daq.continuous_ramp import ContinuousRamp
from loopscope.daq.events import Event, EventBus, EventKind
from loopscope.daq.plan_against_station import (check_plan_against_station,  # noqa: F401  (its old home)
                                                station_instruments)
from loopscope.daq.plans import Plan, PlanError, Point
from loopscope.daq.point_measurements import measurements_of, resolve_instrument
from loopscope.daq.point_readings import PointReadings
from loopscope.daq.resonance_search import ResonanceSearch
from loopscope.daq.retries import Retries
from loopscope.daq.run_columns import DETECTOR_QUANTITIES, RowLayout, RunColumns  # noqa: F401
from loopscope.daq.run_states import (ENDED_BY, RunAborted, RunResult, RunState,  # noqa: F401
                                      _Remeasure, allowed)
from loopscope.daq.safe_state import SafeState
from loopscope.daq.settling import POLL_INTERVAL_S, Settling
from loopscope.daq.storage import RunMetadata, RunWriter, StorageError, now_iso
from loopscope.daq.suspenders import Suspenders
from loopscope.daq.temperature_steps import TemperatureSteps
from loopscope.instruments.roles import (FieldSource, InstrumentError, LimitError, QuenchError, Role,
                                         role_kind)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- the runner
class Runner(RunColumns, PointReadings, ContinuousRamp, AdaptivePlans, Settling, TemperatureSteps, Suspenders,
             ResonanceSearch, Retries, SafeState):
    """Run one plan on one station into one file.

    runner = Runner(station, plan, "run.h5"); runner.subscribe(print); result = runner.run()
    or runner.start() to run in a thread, then runner.pause()/resume()/abort() from any thread.
    """

    def __init__(self, station, plan: Plan, out_path: str | Path, *, overwrite: bool = False,
                 software_version: str = "", bus: EventBus | None = None,
                 extra_metadata: dict | None = None, resume: bool = False):
        self.station = station
        self.resume_file = resume  # go on in the file an interrupted run left behind
        self.plan = plan
        self.out_path = Path(out_path)
        self.overwrite = overwrite
        self.software_version = software_version
        self.bus = bus or EventBus()
        self.extra_metadata = extra_metadata or {}
        self.time_scale = float(getattr(station, "time_scale", 1.0) or 1.0)
        instruments = station_instruments(station)
        self.source_name, self.detector_names = check_plan_against_station(plan, instruments)
        self.source: FieldSource = station.roles[self.source_name]
        #: a vector magnet (instruments/roles/vector_magnet.py): its fields are vectors
        self.vector_source = bool(getattr(self.source, "is_vector", False))
        self._vector_setpoint = None
        if self.vector_source:
            from loopscope.instruments.vector_field_limit import unit_vector
            self.source.use_direction(None if plan.model.direction is None
                                      else unit_vector(plan.model.direction, "direction"))
        self.detectors = {n: station.roles[n] for n in self.detector_names}
        self.state = RunState.IDLE
        #: (from, to) of every state change the transition table does not allow (an engine bug)
        self.invalid_transitions: list[tuple[RunState, RunState]] = []
        self._pause = threading.Event()
        self._abort = threading.Event()
        self._abort_reason = ""
        self._interrupted_by = ""
        # set once the supply must stop where it is, even on its way to the safe state
        self._hold = threading.Event()
        self._going_safe = False
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: RunResult | None = None
        self._points_done = 0
        self.writer: RunWriter | None = None
        self._t0 = 0.0
        self._last_progress = 0.0
        self._resonance_guess: float | None = None
        # reconnections so far, and at the start of the point being visited: a command sent
        # just before a connection dropped may never have arrived, so a point that saw a
        # reconnect while waiting for its setpoint is set again from the start
        self._reconnects = 0
        self._point_reconnects = 0
        self._in_point = False
        self._driven = False  # persistent-switch sources: heater known to be on
        self._ramping_continuously = False  # a continuous plan's measured ramp is under way
        m = plan.model
        self.ramp_rate = m.ramp_rate_T_per_min or self.source.limits.max_ramp_rate_T_per_min
        if m.limits.max_ramp_rate_T_per_min:
            self.ramp_rate = min(self.ramp_rate, m.limits.max_ramp_rate_T_per_min)
        self._columns, self._readers = self._plan_columns()
        # array measurements of a plan in Python (an I-V curve, a frequency scan): one trace each
        self._measurements = measurements_of(plan.steps) if plan.kind == "code" else []
        self._measured_roles = {
            m.name: station.roles[resolve_instrument(m, plan.origin, instruments, self.detector_names)]
            for m in self._measurements}
        self._suspenders = [(sus, self._suspender_role(sus)) for sus in m.suspenders]

    # -- public control -------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(callback)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="runner", daemon=True)
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> RunResult | None:
        """The result once the run has ended (file closed, safe state done); None on timeout.
        Waits on the run's own "finished" flag, not on the thread: a KeyboardInterrupt in
        Thread.join can leave a thread marked stopped while it still runs."""
        if self._thread is not None or self.state != "idle":
            self._finished.wait(timeout)
        return self.result

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def pause(self) -> None:
        if self.state == RunState.RUNNING:
            self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def abort(self, reason: str = "aborted by the operator", signal: str = "") -> None:
        """Stop at the next safe point; the field then goes to the station's safe state."""
        if not self._abort.is_set():
            self._abort_reason = reason
            self._interrupted_by = signal
        self._abort.set()
        self._pause.clear()

    def hold_where_it_is(self) -> None:
        """The operator's last word (a third Ctrl-C): stop any ramp, the safe-state ramp
        included, and leave the supply holding its present field. The run ends aborted,
        and its result and file say the field is NOT at the safe state."""
        self._hold.set()
        self.abort("the operator told the supply to hold where it is")

    @property
    def traces(self) -> list:
        """The run file's traces (daq/storage.py Trace): one per measurement the plan takes."""
        return [m.trace() for m in self._measurements]

    @property
    def points_done(self) -> int:
        return self._points_done

    # -- the run --------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Execute the plan. Blocking; never raises for instrument trouble (see the result).

        Called from the main thread (a script, a notebook, a queue), Ctrl-C, SIGTERM and
        Ctrl-Break stop the run at its next safe point (daq.interrupts): the field goes to
        the station's safe state, the file is closed with the reason, and only then is the
        interrupt raised again as the signal would have (KeyboardInterrupt; SystemExit for
        the others), unless an outer front end (a queue, the CLI) handles it. Any other
        exception that reaches the run loop ends the same way and is raised again after."""
        from loopscope.daq.interrupts import InterruptGuard

        guard = InterruptGuard(on_stop=lambda reason: self.abort(reason, signal=guard.signal),
                               on_hold=self.hold_where_it_is, reraise=True)
        try:
            with guard:
                return self._run()
        finally:
            self._finished.set()

    def _run(self) -> RunResult:
        started = now_iso()
        self._points_done = 0
        signal, axes = self._signal_and_axes()
        m = self.plan.model
        snapshot = self._snapshot()
        metadata = RunMetadata(
            title=m.title, plan_kind=self.plan.kind, plan_text=self.plan.text,
            station_text=getattr(self.station, "source_text", ""), operator=m.operator,
            sample=m.sample.model_dump(), snapshot=snapshot, software_version=self.software_version,
            start_time=started, extra=self.extra_metadata)
        try:
            self.writer = RunWriter(self.out_path, self._columns, signal=signal, axes=axes, metadata=metadata,
                                    max_data_at_risk_s=m.max_data_at_risk_s, overwrite=self.overwrite,
                                    resume=self.resume_file, traces=[x.trace() for x in self._measurements])
        except StorageError as exc:
            # nothing was driven yet: no safe state to reach, only the account to give
            reason = str(exc)
            self._set_state(RunState.FAILED)
            self._emit(EventKind.ERROR, message=reason)
            self.result = RunResult(self.out_path, "failed", reason, 0, started, now_iso(), ended_by="storage")
            self._emit(EventKind.FINISHED, status="failed", reason=reason, path=str(self.out_path), points=0, safe_state="")
            self.bus.drain()
            return self.result
        self._ix = RowLayout(self)
        start_index = self.writer.rows_written
        self._points_done = start_index
        self._t0 = time.time()
        if self.resume_file:
            last = self.writer.last_row()
            if last is not None:
                # experiment time goes on from the last point on disk
                self._t0 -= last["elapsed_s"] / self.time_scale
            message = (f"resumed at point {start_index} of {self.plan.total_points()} after an interruption; "
                       "points after the last flush before it were not on disk and are measured again")
            self.writer.log("warning", message)
            self.writer.flush()  # the record of the interruption goes to disk before anything else
            self._emit(EventKind.WARNING, message=message)
        self._set_state(RunState.RUNNING)
        total = self.plan.total_points()
        self._emit(EventKind.STARTED, path=str(self.writer.path), total=total, title=m.title, plan_kind=self.plan.kind,
                   columns=[c.name for c in self.writer.columns], units=[c.units for c in self.writer.columns],
                   signal=signal, axes=axes, start_index=start_index)
        status, reason, safe, reached, ended_by = "completed", "", "", True, "completed"
        pending: BaseException | None = None  # raised again once the field is safe and the file closed
        try:
            if m.temperature is not None:
                self._temperature_first()
            if self.plan.kind == "continuous":
                self._run_continuous(start_index, total)
            elif self.plan.adaptive:
                self._run_adaptive(start_index, total)
            else:
                for point in self.plan.points(start_index):
                    self._check_pause_and_abort()
                    self._do_point(point)
                    self._points_done += 1
                    self._progress(total)
            self._finish_field()
        except RunAborted:
            status, reason = "aborted", self._abort_reason or "aborted"
            ended_by = "interrupted" if self._interrupted_by else "aborted"
        except QuenchError as exc:
            status, reason, ended_by = "failed", f"quench: {exc}", "quench"
        except (InstrumentError, LimitError, PlanError, OSError, ValueError) as exc:
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            ended_by = ("instrument" if isinstance(exc, InstrumentError) else
                        "plan" if isinstance(exc, (LimitError, PlanError)) else
                        "storage" if isinstance(exc, (OSError, StorageError)) else "bug")
        except Exception as exc:  # a bug must still end in the safe state with the data kept
            log.exception("runner failed")
            status, reason, ended_by = "failed", f"unexpected {type(exc).__name__}: {exc}", "bug"
        except BaseException as exc:  # KeyboardInterrupt where no guard took the signal, SystemExit
            status, reason, pending = "aborted", f"interrupted ({type(exc).__name__})", exc
            ended_by = "interrupted"
        if status != "completed":
            self._set_state(RunState.SAFE_STATE)
            self._emit(EventKind.ERROR if status == "failed" else EventKind.WARNING, message=reason)
            self.writer.log("error" if status == "failed" else "warning", reason)
            safe, reached = self._go_safe()
            meters = "; ".join(a for a in (self._source_meters_safe(), self._thermometers_safe()) if a)
            if meters:
                safe = f"{safe}; {meters}" if safe else meters
            if safe:
                reason = f"{reason}; safe state: {safe}"
            self.writer.log("info" if reached else "error", f"safe state: {safe or 'reached'}")
        try:
            self.writer.close(status, reason)
        except Exception as exc:
            status, reason = "failed", f"{reason}; closing the file failed: {exc}"
        self._set_state(RunState(status))
        self.result = RunResult(self.writer.path, status, reason, self._points_done, started, now_iso(), safe,
                                safe_state_reached=reached, interrupted_by=self._interrupted_by,
                                ended_by=ended_by)
        self._emit(EventKind.FINISHED, status=status, reason=reason, path=str(self.writer.path),
                   points=self._points_done, safe_state=safe, safe_state_reached=reached)
        self.bus.drain()
        if pending is not None:
            raise pending
        return self.result

    def _snapshot(self) -> dict:
        try:
            return self.station.snapshot()
        except Exception as exc:  # a snapshot failure must not stop a run, but is recorded
            log.warning("station snapshot failed: %s", exc)
            return {"error": f"snapshot failed: {exc}"}

    # -- one point ------------------------------------------------------------------------
    def _do_point(self, p: Point) -> tuple:
        while True:
            self._point_reconnects = self._reconnects
            self._in_point = True
            try:
                return self._visit(p)
            except _Remeasure:
                continue  # a suspender held the point, or a setpoint may have been lost: again
            finally:
                self._in_point = False

    def _visit(self, p: Point) -> tuple:
        """Set, settle, measure and record one point; returns (row, traces)."""
        m = self.plan.model
        src = self.source
        self._retrying(src, src.check_quench)
        if p.temperature_K is not None:
            self._set_temperature(p.temperature_K)
        if p.frequency_Hz is not None:
            for role in self._roles_of("lockin"):
                self._retrying(role, role.set_frequency_Hz, p.frequency_Hz)
        target_T = None
        if p.field_vector_T is not None:
            target_T = math.sqrt(sum(b * b for b in p.field_vector_T))
            self._vector_setpoint = p.field_vector_T
            self._ramp_and_settle(target_T, p.field_vector_T)
        elif p.field is not None:
            target_T = p.field if m.axis == "field" else p.field * src.coil_constant_T_per_A
            if self.vector_source:
                d = src.direction
                self._vector_setpoint = (target_T * d[0], target_T * d[1], target_T * d[2])
            self._ramp_and_settle(target_T)
        if "enter_persistent" in p.actions:
            self._retrying(src, src.enter_persistent_mode, self._should_stop)
            self._driven = False
        if p.at_elapsed_s is not None:
            self._wait_until_elapsed(p.at_elapsed_s)
        resonance = None
        if p.find_resonance:
            resonance = self._find_resonance()
        traces = None
        if p.measure:
            traces = {m.name: m.measure(self, self._measured_roles[m.name]) for m in p.measure}
        return self._record(p, target_T, resonance, traces), traces

    def _ramp_and_settle(self, target_T: float, vector_T: tuple | None = None) -> None:
        """Ramp to the field (a vector magnet: along its direction, or to vector_T) and settle."""
        src = self.source
        if src.has_persistent_switch and not self._driven:
            # a magnet found persistent (or at zero with the switch cold) is first made
            # driven: leads matched to the magnet current, then heater on (the role's interlocks)
            if not self._retrying(src, src.switch_heater_is_on):
                self._retrying(src, src.leave_persistent_mode, self._should_stop)
            self._driven = True
        if vector_T is not None:
            self._retrying(src, src.start_ramp_vector, vector_T, self.ramp_rate)
        else:
            self._retrying(src, src.start_ramp, target_T, self.ramp_rate)
        self._settle()

    def _check_pause_and_abort(self) -> None:
        if self._abort.is_set():
            raise RunAborted()
        if self._pause.is_set():
            self._set_state(RunState.PAUSED)
            self.writer.log("info", "paused")
            while self._pause.is_set() and not self._abort.is_set():
                time.sleep(POLL_INTERVAL_S)
            if self._abort.is_set():
                raise RunAborted()
            self.writer.log("info", "resumed")
            self._set_state(RunState.RUNNING)

    # -- helpers --------------------------------------------------------------------------
    def _roles_of(self, kind: str) -> list[Role]:
        return [r for r in self.detectors.values() if role_kind(r) == kind]

    def _set_state(self, state: RunState) -> None:
        if state == self.state:
            return
        if not allowed(self.state, state):
            # a report gone wrong, never a reason to stop on the way to safety: recorded
            log.error("run state %s -> %s is not an allowed transition", self.state, state)
            self.invalid_transitions.append((self.state, state))
        self.state = state
        self._emit(EventKind.STATE, state=state)

    def _emit(self, event_kind: EventKind, **data) -> None:
        self.bus.publish(Event(event_kind, time.time(), data))

    def _progress(self, total: int) -> None:
        now = time.time()
        if now - self._last_progress < 0.2 and self._points_done != total:
            return
        self._last_progress = now
        elapsed = now - self._t0
        rate = self._points_done / elapsed if elapsed > 0 else 0.0
        # max(): a continuous ramp's total is an expectation, and may be passed
        eta = max(total - self._points_done, 0) / rate if rate > 0 else math.inf
        self._emit(EventKind.PROGRESS, done=self._points_done, total=total, eta_s=eta, rate_per_s=rate)









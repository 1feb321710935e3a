"""The runner: executes a Plan on a Station, records to a RunWriter, owns pause/resume/abort.

One runner for every user (CLI, GUI, overnight queue, tests). It is the only place that
decides what the instruments do during a run, and so the only place that has to get the
safe state right: any abort, unhandled error or quench ends with the field source in its
safe state (ramped to zero at the safe rate, or held, as the station says; persistent-switch
heater rules are the FieldSource's to enforce) and the file closed with the reason.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from loopscope.daq.events import Event, EventBus
from loopscope.daq.plans import MAX_FILE_BYTES, MAX_POINTS, Plan, PlanError, Point
from loopscope.daq.storage import Column, RunMetadata, RunWriter, StorageError, now_iso
from loopscope.instruments.roles import (FieldSource, InstrumentError, LimitError, QuenchError, Role,
                               TransientInstrumentError, role_kind)

log = logging.getLogger(__name__)

# role kind -> the quantities it contributes at every point, (name, units, long name)
DETECTOR_QUANTITIES = {
    "field_probe": [("probe_field_T", "T", "field measured by the Hall probe")],
    "flux_readout": [("flux_phi0", "Phi0", "SQUID flux in units of h/2e")],
    "lockin": [("lockin_x_V", "V", "lock-in X"), ("lockin_y_V", "V", "lock-in Y"),
               ("frequency_Hz", "Hz", "lock-in reference frequency")],
    "thermometer": [("temperature_K", "K", "sample temperature")],
}
# quantity -> the role method that reads it (lock-in X and Y come from one read_xy_V)
READ_METHOD = {"probe_field_T": "read_field_T", "flux_phi0": "read_flux_phi0", "frequency_Hz": "read_frequency_Hz",
               "temperature_K": "read_temperature_K"}
POLL_INTERVAL_S = 0.02  # wall-clock; short enough for a sped-up simulated lab


class RunAborted(Exception):
    """Raised inside the run loop when an abort was requested."""


class _HoldRequested(Exception):
    """Raised while going to the safe state when the operator asked the supply to hold."""


class _RowLayout:
    """Where each value goes in a point's row, worked out once per run (the per-point path
    then indexes a list instead of looking names up)."""

    def __init__(self, runner: "Runner"):
        col = runner.writer.column_index
        self.width = len(col)
        self.field_setpoint, self.field, self.current = col["field_setpoint_T"], col["field_T"], col["current_A"]
        self.current_setpoint = col.get("current_setpoint_A")
        self.magnet_current = col.get("magnet_current_A")
        self.resonance = col.get("resonance_frequency_Hz")
        self.temperature_setpoint = col.get("temperature_setpoint_K")
        self.labels = {name: col[name] for name in runner.plan.label_columns()}
        self.readings = runner.plan.model.averaging.readings
        # Asked together (every question out before the first answer is read): the source's
        # field and current, and each detector's single reading, one per instrument, where
        # the role can split its exchange. Single readings of roles that cannot (in-memory
        # ones, an unknown voltmeter) are plain calls: asking them "together" gains nothing.
        # The rest (averaged readings, lock-in X/Y pairs, a second quantity of one
        # instrument) are read one after another.
        source = runner.source
        single: list[tuple[Role, str, tuple[int, ...]]] = [
            (source, "read_field_and_current", (self.field, self.current))]
        self.readers = []
        asked = {id(source)}
        for name, role, q in runner._readers:
            if (self.readings == 1 and q in READ_METHOD and q != "frequency_Hz"
                    and id(role) not in asked):
                asked.add(id(role))
                single.append((role, READ_METHOD[q], (col[name],)))
            else:
                self.readers.append((col[name], role, q))
        split = [job for job in single if job[0].can_split_read(job[1])]
        self.together = split if len(split) > 1 else []
        self.direct = [(role, getattr(role, method), slots) for role, method, slots in single
                       if (role, method, slots) not in self.together]


class _Remeasure(Exception):
    """A suspender held a point; it has cleared and the point is to be measured again."""


@dataclass
class RunResult:
    path: Path
    status: str  # completed | aborted | failed
    reason: str
    points: int
    started: str
    ended: str
    safe_state: str = ""
    #: False when the field was left away from the station's safe state (the safe-state
    #: ramp failed, or the operator told the supply to hold where it is)
    safe_state_reached: bool = True
    #: the signal that stopped the run ("SIGINT", "SIGTERM", ...; "" for none)
    interrupted_by: str = ""
    #: why it ended, as a word a program can test (ENDED_BY); the reason says it in words
    ended_by: str = "completed"


#: what RunResult.ended_by may say
ENDED_BY = ("completed", "aborted", "interrupted", "quench", "instrument", "plan", "storage", "bug")


# ---------------------------------------------------------------------------- validation
def check_plan_against_station(plan: Plan, instruments: dict[str, tuple[str, dict]]) -> tuple[str, list[str]]:
    """Check a plan against a station before anything is touched.

    `instruments` maps station name -> (role kind, limits dict). Returns (source, detectors).
    Raises PlanError naming the plan key and value.
    """
    m = plan.model
    where = plan.origin
    sources = [n for n, (k, _) in instruments.items() if k == "field_source"]
    if not sources:
        raise PlanError(f"{where}: the station has no field_source")
    source = m.source or sources[0]
    if source not in instruments:
        raise PlanError(f"{where}: source: no instrument {source!r} in the station "
                        f"(it has {', '.join(instruments)})")
    if instruments[source][0] != "field_source":
        raise PlanError(f"{where}: source: {source!r} is a {instruments[source][0]}, not a field_source")
    if m.detectors is None:
        detectors = [n for n, (k, _) in instruments.items() if k != "field_source"]
    else:
        detectors = list(m.detectors)
        for d in detectors:
            if d not in instruments:
                raise PlanError(f"{where}: detectors: no instrument {d!r} in the station "
                                f"(it has {', '.join(instruments)})")
            if instruments[d][0] == "field_source":
                raise PlanError(f"{where}: detectors: {d!r} is a field source; it is read at every point anyway")
    kinds = {instruments[d][0] for d in detectors}
    if plan.kind == "resonance_tracking" and "lockin" not in kinds:
        raise PlanError(f"{where}: resonance_tracking needs a lockin among the detectors")
    if plan.kind == "grid":
        need = "thermometer" if m.outer.quantity == "temperature" else "lockin"
        if need not in kinds:
            raise PlanError(f"{where}: outer.quantity {m.outer.quantity} needs a {need} among the detectors")

    src_limits = instruments[source][1]
    coil_constant = float(src_limits.get("coil_constant_T_per_A", 1.0))
    max_field = float(src_limits.get("max_field_T", math.inf))
    max_current = float(src_limits.get("max_current_A", math.inf))
    max_rate = float(src_limits.get("max_ramp_rate_T_per_min", math.inf))
    lim = m.limits
    # every comparison below is written `not value <= limit`, so that a NaN (which compares
    # False with everything) is refused instead of slipping through
    for key, plan_value, station_value in (("max_field_T", lim.max_field_T, max_field),
                                           ("max_current_A", lim.max_current_A, max_current),
                                           ("max_ramp_rate_T_per_min", lim.max_ramp_rate_T_per_min, max_rate)):
        if plan_value is not None and not plan_value <= station_value:
            raise PlanError(f"{where}: limits.{key}: {plan_value:g} is above the station's {station_value:g}; "
                            "a plan may ask for less, never more")
    max_field = min(max_field, lim.max_field_T or math.inf)
    max_current = min(max_current, lim.max_current_A or math.inf)
    max_rate = min(max_rate, lim.max_ramp_rate_T_per_min or math.inf)

    extremes = plan.field_extremes()  # the same largest |value| as plan.field_values(), unbuilt
    for key, v in extremes:
        if not math.isfinite(v):
            raise PlanError(f"{where}: {key}: {v!r} is not a finite number")
    if extremes:
        key, v = max(extremes, key=lambda kv: abs(kv[1]))
        b = v if m.axis == "field" else v * coil_constant
        visits = f"{v:g} T" if m.axis == "field" else f"{v:g} A = {b:g} T"
        if not abs(b) <= max_field * (1 + 1e-12):
            raise PlanError(f"{where}: {key}: the plan visits {visits}, beyond the field limit ±{max_field:g} T "
                            f"of {source}")
        if not abs(b / coil_constant) <= max_current * (1 + 1e-12):
            raise PlanError(f"{where}: {key}: the plan visits {visits}, beyond the current limit "
                            f"±{max_current:g} A of {source}")
    if m.ramp_rate_T_per_min is not None and not m.ramp_rate_T_per_min <= max_rate:
        raise PlanError(f"{where}: ramp_rate_T_per_min: {m.ramp_rate_T_per_min:g} is above the limit "
                        f"{max_rate:g} T/min of {source}")
    if plan.kind == "code":
        _check_code_plan_steps(plan, where, instruments, detectors, source, src_limits, lim)
    if plan.kind == "persistent_step":
        if not src_limits.get("has_persistent_switch", False):
            raise PlanError(f"{where}: persistent_step needs a field source with a persistent switch; "
                            f"{source!r} has none")
    if plan.kind == "grid" and m.outer.quantity == "temperature":
        thermometers = [d for d in detectors if instruments[d][0] == "thermometer"]
        t_max = min(float(instruments[t][1].get("max_temperature_K", math.inf)) for t in thermometers)
        t_max = min(t_max, lim.max_temperature_K or math.inf)
        (low_key, low), (high_key, high) = m.outer.extremes()
        if not high <= t_max:
            raise PlanError(f"{where}: {high_key}: temperature {high:g} K is above the limit {t_max:g} K")
        if not low > 0:
            raise PlanError(f"{where}: {low_key}: temperature {low:g} K; temperatures must be above 0 K")
    lockins = [d for d in detectors if instruments[d][0] == "lockin"]
    if plan.kind == "grid" and m.outer.quantity == "frequency":
        (low_key, low), (high_key, high) = m.outer.extremes()
        for key, f in ((low_key, low), (high_key, high)):
            _check_frequency(where, key, f, instruments, lockins)
    if plan.kind == "resonance_tracking":
        lo, hi = m.resonance.window()
        _check_frequency(where, "resonance.center_Hz", m.resonance.center_Hz, instruments, lockins[:1])
        _check_frequency(where, "resonance.span_Hz", lo, instruments, lockins[:1],
                         what=f"the search window {lo:g}..{hi:g} Hz reaches")
        _check_frequency(where, "resonance.span_Hz", hi, instruments, lockins[:1],
                         what=f"the search window {lo:g}..{hi:g} Hz reaches")
    if m.temperature is not None:
        name = _first_of_kind(instruments, "thermometer", None, f"{where}: temperature")
        t_max = min(float(instruments[name][1].get("max_temperature_K", math.inf)),
                    lim.max_temperature_K or math.inf)
        if not m.temperature.setpoint_K <= t_max:
            raise PlanError(f"{where}: temperature.setpoint_K: {m.temperature.setpoint_K:g} K is above the "
                            f"limit {t_max:g} K of {name}")
    if plan.kind == "continuous":
        plan.coil_constant_T_per_A = coil_constant  # how long a ramp of amperes takes
        if not m.rate_T_per_min <= max_rate:
            raise PlanError(f"{where}: rate_T_per_min: {m.rate_T_per_min:g} is above the limit "
                            f"{max_rate:g} T/min of {source}")
        if not plan.max_points() <= MAX_POINTS:
            raise PlanError(f"{where}: interval_s: the ramp read every {m.interval_s:g} s makes up to "
                            f"{plan.max_points():.3g} readings, more than the limit of {MAX_POINTS:,} points")
    columns = 8 + len(plan.label_columns()) + sum(len(DETECTOR_QUANTITIES.get(instruments[d][0], ()))
                                                  for d in detectors)
    bound = plan.max_points()  # total_points() but for a continuous ramp, whose count is known only roughly
    expected = bound * columns * 8
    if expected > MAX_FILE_BYTES:
        raise PlanError(f"{where}: {bound:,} points of {columns} quantities make a run file of "
                        f"about {expected / 1e9:.1f} GB, more than the limit of {MAX_FILE_BYTES / 1e9:g} GB")
    for i, sus in enumerate(m.suspenders):
        key = f"{where}: suspenders[{i}]"
        if sus.kind == "temperature_band":
            _first_of_kind(instruments, "thermometer", sus.instrument, key)
        else:
            _first_of_kind(instruments, "field_probe", sus.probe, key)
    return source, detectors


def _check_code_plan_steps(plan: Plan, where: str, instruments: dict, detectors: list[str],
                           source: str, src_limits: dict, lim) -> None:
    """What a plan written in Python sets beyond the field, step by step (the field itself is
    checked with the other kinds' above): temperatures, lock-in frequencies, persistent mode."""
    temperatures = plan.temperature_setpoints()
    if temperatures:
        thermometers = [d for d in detectors if instruments[d][0] == "thermometer"]
        if not thermometers:
            raise PlanError(f"{where}: {temperatures[0][0]}: the plan sets a temperature but no "
                            f"thermometer is among the detectors")
        t_max = min(float(instruments[t][1].get("max_temperature_K", math.inf)) for t in thermometers)
        t_max = min(t_max, lim.max_temperature_K or math.inf)
        key, high = max(temperatures, key=lambda kv: kv[1])
        if not high <= t_max:
            raise PlanError(f"{where}: {key}: temperature {high:g} K is above the limit {t_max:g} K")
    frequencies = plan.frequency_setpoints()
    if frequencies:
        lockins = [d for d in detectors if instruments[d][0] == "lockin"]
        if not lockins:
            raise PlanError(f"{where}: {frequencies[0][0]}: the plan sets a frequency but no "
                            f"lockin is among the detectors")
        for key, f in (min(frequencies, key=lambda kv: kv[1]), max(frequencies, key=lambda kv: kv[1])):
            _check_frequency(where, key, f, instruments, lockins)
    persistent = [i for i, s in enumerate(plan.steps) if s.enter_persistent]
    if persistent and not src_limits.get("has_persistent_switch", False):
        raise PlanError(f"{where}: step {persistent[0]}: enter_persistent needs a field source with a "
                        f"persistent switch; {source!r} has none")


def frequency_range(info: dict) -> tuple[float, float]:
    """The frequencies a lock-in may be set to: its station limits within its driver's range."""
    lo = max(float(info.get("min_frequency_Hz") or 0.0), float(info.get("driver_min_frequency_Hz") or 0.0))
    hi = min(float(info.get("max_frequency_Hz") or math.inf),
             float(info.get("driver_max_frequency_Hz") or math.inf))
    return lo, hi


def _check_frequency(where: str, key: str, f: float, instruments: dict, lockins: list[str],
                     what: str = "") -> None:
    if not (math.isfinite(f) and f > 0):
        raise PlanError(f"{where}: {key}: {f!r} Hz is not a positive finite frequency")
    for name in lockins:
        lo, hi = frequency_range(instruments[name][1])
        if not lo <= f <= hi:
            shown = f"{what} {f:g} Hz" if what else f"{f:g} Hz is"
            raise PlanError(f"{where}: {key}: {shown} outside the range {lo:g}..{hi:g} Hz of {name}")


def _first_of_kind(instruments: dict, kind: str, name: str | None, where: str) -> str:
    if name is not None:
        if name not in instruments:
            raise PlanError(f"{where}: no instrument {name!r} in the station")
        if instruments[name][0] != kind:
            raise PlanError(f"{where}: {name!r} is a {instruments[name][0]}, not a {kind}")
        return name
    for n, (k, _) in instruments.items():
        if k == kind:
            return n
    raise PlanError(f"{where}: needs a {kind} and the station has none")


# ---------------------------------------------------------------------------- the runner
class Runner:
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
        self.source_name, self.detector_names = check_plan_against_station(plan, station_instruments(station))
        self.source: FieldSource = station.roles[self.source_name]
        self.detectors = {n: station.roles[n] for n in self.detector_names}
        self.state = "idle"
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
        if self.state == "running":
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
    def points_done(self) -> int:
        return self._points_done

    # -- columns --------------------------------------------------------------------------
    def _plan_columns(self) -> tuple[list[Column], list[tuple[str, Role, str]]]:
        cols = [Column("field_setpoint_T", "T", "field asked for by the plan")]
        if self.plan.model.axis == "current":
            cols.append(Column("current_setpoint_A", "A", "coil current asked for by the plan"))
        cols += [Column("field_T", "T", "field reported by the source"),
                 Column("current_A", "A", "supply output current")]
        if self.source.has_persistent_switch:
            cols.append(Column("magnet_current_A", "A", "current in the magnet"))
        readers = []
        taken = {c.name for c in cols}
        for name, role in self.detectors.items():
            kind = role_kind(role)
            for q, units, long_name in DETECTOR_QUANTITIES[kind]:
                col = q if q not in taken else f"{name}_{q}"
                taken.add(col)
                cols.append(Column(col, units, f"{long_name} ({name})"))
                readers.append((col, role, q))
        if self.plan.kind == "resonance_tracking":
            cols.append(Column("resonance_frequency_Hz", "Hz", "cantilever resonance found at this field"))
        if self.plan.kind == "grid" and self.plan.model.outer.quantity == "temperature":
            cols.append(Column("temperature_setpoint_K", "K", "outer-loop temperature setpoint"))
        if self.plan.kind == "code" and self.plan.temperature_setpoints():
            cols.append(Column("temperature_setpoint_K", "K", "temperature setpoint of the step"))
        for label in self.plan.label_columns():
            cols.append(Column(label, "1", label.replace("_", " ")))
        return cols, readers

    def _signal_and_axes(self) -> tuple[str, list[str]]:
        names = [c.name for c in self._columns]
        for candidate in ("flux_phi0", "resonance_frequency_Hz", "lockin_x_V", "probe_field_T", "temperature_K"):
            if candidate in names:
                signal = candidate
                break
        else:
            signal = "field_T"
        axis = "elapsed_s" if self.plan.kind in ("time_series", "persistent_step") else "field_T"
        if self.plan.kind == "code" and not self.plan.field_extremes():
            axis = "elapsed_s"     # a plan in Python that never sets the field
        if self.plan.kind == "grid" and self.plan.model.outer.quantity == "frequency" and signal == "lockin_x_V":
            axis = "field_T"
        return signal, [axis]

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
                                    resume=self.resume_file)
        except StorageError as exc:
            # nothing was driven yet: no safe state to reach, only the account to give
            reason = str(exc)
            self._set_state("failed")
            self._emit("error", message=reason)
            self.result = RunResult(self.out_path, "failed", reason, 0, started, now_iso(), ended_by="storage")
            self._emit("finished", status="failed", reason=reason, path=str(self.out_path), points=0, safe_state="")
            self.bus.drain()
            return self.result
        self._ix = _RowLayout(self)
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
            self._emit("warning", message=message)
        self._set_state("running")
        total = self.plan.total_points()
        self._emit("started", path=str(self.writer.path), total=total, title=m.title, plan_kind=self.plan.kind,
                   columns=[c.name for c in self.writer.columns], units=[c.units for c in self.writer.columns],
                   signal=signal, axes=axes, start_index=start_index)
        status, reason, safe, reached, ended_by = "completed", "", "", True, "completed"
        pending: BaseException | None = None  # raised again once the field is safe and the file closed
        try:
            if m.temperature is not None:
                self._temperature_first()
            if self.plan.kind == "continuous":
                self._run_continuous(start_index, total)
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
            self._set_state("safe_state")
            self._emit("error" if status == "failed" else "warning", message=reason)
            self.writer.log("error" if status == "failed" else "warning", reason)
            safe, reached = self._go_safe()
            if safe:
                reason = f"{reason}; safe state: {safe}"
            self.writer.log("info" if reached else "error", f"safe state: {safe or 'reached'}")
        try:
            self.writer.close(status, reason)
        except Exception as exc:
            status, reason = "failed", f"{reason}; closing the file failed: {exc}"
        self._set_state(status)
        self.result = RunResult(self.writer.path, status, reason, self._points_done, started, now_iso(), safe,
                                safe_state_reached=reached, interrupted_by=self._interrupted_by,
                                ended_by=ended_by)
        self._emit("finished", status=status, reason=reason, path=str(self.writer.path),
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

    def _go_safe(self) -> tuple[str, bool]:
        """Bring the field source to the station's safe state, through the sessions the run
        has open, with the usual bounded retries (an abort does not cut them short; only the
        operator's hold does). Returns (account, reached)."""
        self._going_safe = True
        src = self.source
        interrupts = 0
        while True:
            try:
                if self._hold.is_set():
                    raise _HoldRequested()
                account = self._retrying(src, src.go_to_safe_state, self._hold.is_set)
                if self._hold.is_set():
                    raise _HoldRequested()
                return account, True
            except _HoldRequested:
                return self._hold_here(), False
            except KeyboardInterrupt:
                # no guard took the signal (a run outside the main thread's reach): the ramp
                # to safety is started again; the third interrupt holds the supply instead
                interrupts += 1
                log.warning("interrupt during the ramp to the safe state (%d): going on", interrupts)
                if interrupts >= 2:
                    self._hold.set()
            except Exception as exc:
                message = f"could not bring {self.source_name} to its safe state: {exc}"
                log.error(message)
                self._emit("error", message=message)
                if self.writer is not None:
                    self.writer.log("error", message)
                return f"FAILED ({exc}); the field is NOT at the safe state", False

    def _hold_here(self) -> str:
        """Pause the supply where it is (the operator's hold): one attempt, no retries."""
        src = self.source
        try:
            src.pause_ramp()
        except Exception as exc:
            return (f"{self.source_name}: told to hold, but pausing it failed ({exc}); the field is NOT "
                    "at the safe state")
        try:
            where = f"{src.read_field_T():.4g} T"
        except Exception:
            where = "an unknown field (it did not answer)"
        message = f"{self.source_name}: holding at {where} on the operator's request; NOT at the safe state"
        self._emit("warning", message=message)
        return message

    def _finish_field(self) -> None:
        m = self.plan.model
        if m.end == "hold":
            return
        src = self.source
        if src.has_persistent_switch and self._retrying(src, src.in_persistent_mode):
            if m.kind == "persistent_step":
                return  # trapping the field was the point of the plan; leave it persistent
            self._retrying(src, src.leave_persistent_mode, self._should_stop)
        self._retrying(src, src.start_ramp, 0.0, self.ramp_rate)
        self._wait_holding(m.settle.timeout_s, resend=lambda: src.start_ramp(0.0, self.ramp_rate))

    # -- one point ------------------------------------------------------------------------
    def _do_point(self, p: Point) -> None:
        while True:
            self._point_reconnects = self._reconnects
            self._in_point = True
            try:
                return self._visit(p)
            except _Remeasure:
                continue  # a suspender held the point, or a setpoint may have been lost: again
            finally:
                self._in_point = False

    def _visit(self, p: Point) -> None:
        m = self.plan.model
        src = self.source
        self._retrying(src, src.check_quench)
        if p.temperature_K is not None:
            self._set_temperature(p.temperature_K)
        if p.frequency_Hz is not None:
            for role in self._roles_of("lockin"):
                self._retrying(role, role.set_frequency_Hz, p.frequency_Hz)
        target_T = None
        if p.field is not None:
            target_T = p.field if m.axis == "field" else p.field * src.coil_constant_T_per_A
        if target_T is not None:
            self._ramp_and_settle(target_T)
        if "enter_persistent" in p.actions:
            self._retrying(src, src.enter_persistent_mode, self._should_stop)
            self._driven = False
        if p.at_elapsed_s is not None:
            self._wait_until_elapsed(p.at_elapsed_s)
        resonance = None
        if p.find_resonance:
            resonance = self._find_resonance()
        self._record(p, target_T, resonance)

    def _ramp_and_settle(self, target_T: float) -> None:
        src = self.source
        if src.has_persistent_switch and not self._driven:
            # a magnet found persistent (or at zero with the switch cold) is first made
            # driven: leads matched to the magnet current, then heater on (the role's interlocks)
            if not self._retrying(src, src.switch_heater_is_on):
                self._retrying(src, src.leave_persistent_mode, self._should_stop)
            self._driven = True
        self._retrying(src, src.start_ramp, target_T, self.ramp_rate)
        self._settle()

    # -- a continuous plan: one ramp, read as it goes ---------------------------------------
    def _run_continuous(self, start_index: int, total: int) -> None:
        """Bring the field to the plan's start and settle as for any point; then start ONE ramp
        to stop at rate_T_per_min and read every detector every interval_s (experiment time)
        while it ramps, each row with the field reached and, as field_setpoint_T, where the
        ramp should be by then; a last row once the source holds at stop.

        A pause holds the ramp (pause_ramp) and a suspender that trips does too; afterwards
        the ramp starts again from where the field is. A run resumed in its file (after a
        crash, or the queue's retry) starts from the last field on disk instead of start:
        the field is brought there, settled, and the ramp to stop goes on, the rows appended."""
        m = self.plan.model
        src = self.source
        k = 1.0 if m.axis == "field" else src.coil_constant_T_per_A
        start_T, stop_T = m.start * k, m.stop * k
        sign = 1.0 if stop_T > start_T else -1.0
        first_T = start_T
        if start_index:
            last = self.writer.last_row()
            first_T = min(max(last["field_T"], min(start_T, stop_T)), max(start_T, stop_T))
            self.writer.log("info", f"continuous ramp resumed from {first_T:.6g} T, the last field on disk")
        while True:  # to the first field, settled, as a point is
            self._point_reconnects = self._reconnects
            self._in_point = True
            try:
                self._retrying(src, src.check_quench)
                self._ramp_and_settle(first_T)
                break
            except _Remeasure:
                continue
            finally:
                self._in_point = False
        limit = self.plan.max_points()
        rate_T_per_s = m.rate_T_per_min / 60.0
        index = start_index
        from_T = first_T
        self._ramping_continuously = True
        try:
            while True:  # one ramp; started again after a pause, a suspension, a re-opened connection
                self._retrying(src, src.start_ramp, stop_T, m.rate_T_per_min)
                ramp_t0 = (time.time() - self._t0) * self.time_scale
                reconnects = self._reconnects
                ramp_s = abs(stop_T - from_T) / rate_T_per_s
                deadline = time.monotonic() + (2.0 * ramp_s + m.settle.timeout_s) / self.time_scale
                try:
                    n = 0
                    while True:
                        if self._pause.is_set():
                            self._retrying(src, src.pause_ramp)  # the field holds while paused
                            self._check_pause_and_abort()
                            break  # resumed: ramp on from where the field is
                        self._check_pause_and_abort()
                        self._retrying(src, src.check_quench)
                        settled = self._retrying(src, src.is_settled)
                        if self._reconnects != reconnects:
                            # a ramp command may have been lost with the connection (the Kepco's
                            # software ramp stops with its session): start it again from here
                            self.writer.log("warning", "a connection was re-opened during the ramp; "
                                                       "starting it again from where the field is")
                            break
                        if not settled and index >= limit - 1:
                            message = (f"max_points {limit:g} reached during the ramp: no more readings "
                                       f"until {self.source_name} holds at {stop_T:g} T")
                            self.writer.log("warning", message)
                            self._emit("warning", message=message)
                            self._wait_holding(m.settle.timeout_s + 2.0 * ramp_s,
                                               resend=lambda: src.start_ramp(stop_T, m.rate_T_per_min))
                            settled = True
                        if settled:
                            self._record(Point(index, field=m.stop), stop_T, None)
                            self._points_done += 1
                            self._progress(total)
                            return
                        elapsed = (time.time() - self._t0) * self.time_scale - ramp_t0
                        setpoint_T = from_T + sign * min(rate_T_per_s * elapsed, abs(stop_T - from_T))
                        self._record(Point(index, field=setpoint_T / k), setpoint_T, None)
                        index += 1
                        self._points_done += 1
                        self._progress(total)
                        if time.monotonic() > deadline:
                            raise InstrumentError(f"{self.source_name}: not holding at {stop_T:g} T "
                                                  f"{2.0 * ramp_s + m.settle.timeout_s:g} s after the ramp "
                                                  f"started (state {self._retrying(src, src.state)})")
                        n += 1
                        self._wait_until_elapsed(ramp_t0 + n * m.interval_s)
                except _Remeasure:
                    pass  # a suspender held the ramp (see _record) and has cleared
                from_T = self._retrying(src, src.read_field_T)
        finally:
            self._ramping_continuously = False

    def _record(self, p: Point, target_T: float | None, resonance: float | None) -> None:
        src = self.source
        ix = self._ix
        row = [math.nan] * ix.width
        now = time.time()
        row[0], row[1], row[2] = p.index, now, (now - self._t0) * self.time_scale
        if target_T is not None:
            row[ix.field_setpoint] = target_T
        if ix.together:
            for (_, _, slots), value in zip(ix.together, self._read_together(ix.together)):
                if len(slots) == 1:
                    row[slots[0]] = value
                else:
                    row[slots[0]], row[slots[1]] = value
        for role, read, slots in ix.direct:
            if len(slots) == 1:
                row[slots[0]] = self._retrying(role, read)
            else:
                row[slots[0]], row[slots[1]] = self._retrying(role, read)
        if ix.current_setpoint is not None and p.field is not None:
            row[ix.current_setpoint] = p.field
        if ix.magnet_current is not None:
            row[ix.magnet_current] = self._retrying(src, src.read_magnet_current_A)
        lockin_cache: dict[int, tuple[float, float]] = {}
        n_avg = ix.readings
        for i, role, q in ix.readers:
            row[i] = self._read_quantity(role, q, n_avg, lockin_cache)
        if resonance is not None:
            row[ix.resonance] = resonance
        if p.temperature_K is not None and ix.temperature_setpoint is not None:
            row[ix.temperature_setpoint] = p.temperature_K
        if p.labels:
            for label, v in p.labels.items():
                row[ix.labels[label]] = v
        row = tuple(row)
        if self._suspenders:
            tripped = self._tripped_suspender(row)
            if tripped:
                if self._ramping_continuously:
                    self._retrying(src, src.pause_ramp)  # the ramp waits with the readings
                self._suspend(tripped)
                raise _Remeasure()
        self.writer.append(row)
        if self.bus.has_subscribers:
            # subscribers map the row to names with the columns of the "started" event
            self._emit("point", index=p.index, row=row)

    def _read_together(self, jobs) -> list:
        """One reading from each of several instruments, all asked before the first answer is
        read: the instruments measure at the same time and the point costs about one round
        trip instead of one per instrument. A reading that fails is retried on its own."""
        pending: list = []
        results: list = []
        try:
            for role, method, _ in jobs:
                try:
                    pending.append(role.begin_read(method))
                except Exception as exc:  # retried or raised below, once every reply is in
                    pending.append(exc)
        finally:
            # every question asked gets its answer read, whatever happened meanwhile:
            # a reply left on a session would be taken for the answer to the next question
            for p in pending:
                if isinstance(p, Exception):
                    results.append(p)
                    continue
                try:
                    results.append(p.finish())
                except Exception as exc:
                    results.append(exc)
        for k, value in enumerate(results):
            if isinstance(value, Exception):
                role, method, _ = jobs[k]
                if not isinstance(value, TransientInstrumentError):
                    raise value
                results[k] = self._retrying(role, getattr(role, method), first_error=value)
        return results

    def _read_quantity(self, role: Role, q: str, n_avg: int, lockin_cache: dict) -> float:
        if q in ("lockin_x_V", "lockin_y_V"):
            key = id(role)
            if key not in lockin_cache:
                xs = [self._retrying(role, role.read_xy_V) for _ in range(n_avg)]
                lockin_cache[key] = (float(np.mean([x for x, _ in xs])), float(np.mean([y for _, y in xs])))
            return lockin_cache[key][0 if q == "lockin_x_V" else 1]
        reader = getattr(role, READ_METHOD[q])
        if n_avg == 1 or q == "frequency_Hz":
            return self._retrying(role, reader)
        return float(np.mean([self._retrying(role, reader) for _ in range(n_avg)]))

    # -- settling and waiting -------------------------------------------------------------
    def _settle(self) -> None:
        s = self.plan.model.settle
        if s.wait_for_holding:
            self._wait_holding(s.timeout_s)
        if s.delay_s:
            self._sleep_experiment(s.delay_s)
        if s.stable_tolerance_T is not None:
            probes = self._roles_of("field_probe")
            if probes:
                self._wait_stable(probes[0], s.stable_tolerance_T, s.stable_readings, s.timeout_s)

    def _wait_holding(self, timeout_s: float, resend=None) -> None:
        src = self.source
        deadline = time.monotonic() + timeout_s / self.time_scale
        poll = POLL_INTERVAL_S / 32  # a small step is often settled at once: look again soon, then less often
        seen_reconnects = self._reconnects
        while not self._retrying(src, src.is_settled):
            self._retrying(src, src.check_quench)
            if self._reconnects != seen_reconnects:
                message = "a connection was re-opened while waiting for the setpoint; sending it again"
                self.writer.log("warning", message)
                if self._in_point:
                    raise _Remeasure()
                seen_reconnects = self._reconnects
                if resend is not None:
                    self._retrying(src, resend)
            if time.monotonic() > deadline:
                raise InstrumentError(f"{self.source_name}: not holding at its target after {timeout_s:g} s "
                                      f"(state {self._retrying(src, src.state)})")
            self._sleep_wall(poll)
            poll = min(2 * poll, POLL_INTERVAL_S)

    def _wait_stable(self, probe, tolerance: float, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s / self.time_scale
        readings: list[float] = []
        while True:
            readings.append(self._retrying(probe, probe.read_field_T))
            readings = readings[-n:]
            if len(readings) == n and max(readings) - min(readings) <= tolerance:
                return
            if time.monotonic() > deadline:
                raise InstrumentError(f"{probe.name}: field not stable within {tolerance:g} T after {timeout_s:g} s "
                                      f"(last readings {readings})")
            self._sleep_wall(POLL_INTERVAL_S)

    def _set_temperature(self, temperature_K: float) -> None:
        m = self.plan.model
        outer = m.temperature_steps if self.plan.kind == "code" else m.outer
        for th in self._roles_of("thermometer"):
            if outer.heater_range is not None and hasattr(th, "set_heater_range"):
                self._retrying(th, th.set_heater_range, outer.heater_range)
            self._retrying(th, th.set_setpoint_K, temperature_K)
            if outer.tolerance is not None:
                deadline = time.monotonic() + self.plan.model.settle.timeout_s / self.time_scale
                while abs(self._retrying(th, th.read_temperature_K) - temperature_K) > outer.tolerance:
                    if time.monotonic() > deadline:
                        raise InstrumentError(f"{th.name}: temperature not within {outer.tolerance:g} K of "
                                              f"{temperature_K:g} K in time")
                    self._sleep_wall(POLL_INTERVAL_S * 5)
        if outer.settle_s:
            self._sleep_experiment(outer.settle_s)

    def _wait_until_elapsed(self, target_s: float) -> None:
        remaining = target_s - (time.time() - self._t0) * self.time_scale
        if remaining > 0:
            self._sleep_experiment(remaining)

    def _sleep_experiment(self, seconds: float) -> None:
        self._sleep_wall(seconds / self.time_scale)

    def _sleep_wall(self, seconds: float) -> None:
        if self._going_safe:
            # on the way to the safe state an abort is what brought us here: only a hold stops
            if self._hold.wait(seconds):
                raise _HoldRequested()
            return
        if self._abort.wait(seconds):
            raise RunAborted()

    def _should_stop(self) -> bool:
        return self._abort.is_set()

    def _check_pause_and_abort(self) -> None:
        if self._abort.is_set():
            raise RunAborted()
        if self._pause.is_set():
            self._set_state("paused")
            self.writer.log("info", "paused")
            while self._pause.is_set() and not self._abort.is_set():
                time.sleep(POLL_INTERVAL_S)
            if self._abort.is_set():
                raise RunAborted()
            self.writer.log("info", "resumed")
            self._set_state("running")

    def _temperature_first(self) -> None:
        t = self.plan.model.temperature
        th = self.station.roles[_first_of_kind(
            {n: (role_kind(r), {}) for n, r in self.station.roles.items()}, "thermometer", None, "temperature")]
        if t.heater_range is not None and hasattr(th, "set_heater_range"):
            self._retrying(th, th.set_heater_range, t.heater_range)
        self._retrying(th, th.set_setpoint_K, t.setpoint_K)
        deadline = time.monotonic() + t.timeout_s / self.time_scale
        while abs(self._retrying(th, th.read_temperature_K) - t.setpoint_K) > t.tolerance_K:
            if time.monotonic() > deadline:
                raise InstrumentError(f"{th.name}: not within {t.tolerance_K:g} K of {t.setpoint_K:g} K "
                                      f"after {t.timeout_s:g} s")
            self._sleep_wall(POLL_INTERVAL_S * 5)
        if t.settle_s:
            self._sleep_experiment(t.settle_s)

    # -- suspenders -----------------------------------------------------------------------
    def _suspender_role(self, sus) -> Role:
        kind = "thermometer" if sus.kind == "temperature_band" else "field_probe"
        name = sus.instrument if sus.kind == "temperature_band" else sus.probe
        instruments = {n: (role_kind(r), {}) for n, r in self.station.roles.items()}
        return self.station.roles[_first_of_kind(instruments, kind, name, "suspenders")]

    def _tripped_suspender(self, row: tuple | None = None) -> str:
        """Why the point must wait ('' when every condition is fine)."""
        col = self.writer.column_index
        for sus, role in self._suspenders:
            if sus.kind == "temperature_band":
                if row is not None and "temperature_K" in col and self.detectors.get(role.name) is role:
                    temperature = row[col["temperature_K"]]
                else:
                    temperature = self._retrying(role, role.read_temperature_K)
                if not sus.min_K <= temperature <= sus.max_K:
                    return (f"temperature {temperature:.4g} K outside [{sus.min_K:g}, {sus.max_K:g}] K "
                            f"({role.name})")
            else:
                if row is not None and "probe_field_T" in col and self.detectors.get(role.name) is role:
                    probe, source = row[col["probe_field_T"]], row[col["field_T"]]
                else:
                    probe = self._retrying(role, role.read_field_T)
                    source = self._retrying(self.source, self.source.read_field_T)
                if abs(probe - source) > sus.tolerance_T:
                    return (f"{role.name} reads {probe:.6g} T but {self.source_name} says {source:.6g} T "
                            f"(tolerance {sus.tolerance_T:g} T)")
        return ""

    def _suspend(self, why: str) -> None:
        m = self.plan.model
        message = f"suspended: {why}; the point waits and is measured again when it clears"
        log.warning(message)
        self.writer.log("warning", message)
        self._emit("warning", message=message)
        self._set_state("suspended")
        deadline = time.monotonic() + m.suspend_timeout_s / self.time_scale
        while why:
            if time.monotonic() > deadline:
                raise InstrumentError(f"suspended for more than {m.suspend_timeout_s:g} s: {why}")
            self._sleep_wall(POLL_INTERVAL_S * 5)
            self._check_pause_and_abort()
            why = self._tripped_suspender()
        self.writer.log("info", "suspension cleared; re-measuring the point")
        self._set_state("running")

    # -- resonance ------------------------------------------------------------------------
    def _find_resonance(self) -> float:
        spec = self.plan.model.resonance
        lockin = self._roles_of("lockin")[0]
        tau = self._retrying(lockin, lockin.read_time_constant_s)
        wait_s = spec.settle_time_constants * tau
        center = self._resonance_guess or spec.center_Hz

        def response(f: float) -> tuple[float, float]:
            self._retrying(lockin, lockin.set_frequency_Hz, f)
            self._sleep_experiment(wait_s)
            return self._retrying(lockin, lockin.read_xy_V)

        if spec.method == "scan":
            f0 = _scan_for_resonance(response, center, spec.span_Hz, spec.scan_points)
        else:
            f0 = _pll_for_resonance(response, center, spec)
        self._retrying(lockin, lockin.set_frequency_Hz, f0)
        self._sleep_experiment(wait_s)
        self._resonance_guess = f0
        return f0

    # -- instrument calls with bounded retries --------------------------------------------
    def _retrying(self, role: Role, fn, *args, first_error: TransientInstrumentError | None = None):
        """fn(*args), with bounded retries of transient errors (first_error: the first
        attempt was already made, and failed so)."""
        if first_error is None:
            try:
                return fn(*args)  # the fast path: one call, no loop
            except TransientInstrumentError as exc:
                first_error = exc
        retries = self.plan.model.retries
        give_up_wall = self.plan.model.give_up_after_s / self.time_scale
        first_failure = time.monotonic()
        exc = first_error
        attempt = 0
        while True:
            waited = time.monotonic() - first_failure
            if attempt >= retries and waited >= give_up_wall:
                raise InstrumentError(f"{role.name}: gave up after {attempt + 1} attempts in "
                                      f"{waited * self.time_scale:.1f} s: {exc}") from exc
            if attempt == retries and give_up_wall > 0:
                self._set_state("waiting_for_instrument")
            limit = f"{retries + 1}" if give_up_wall == 0 else f"{retries + 1}+, for up to {self.plan.model.give_up_after_s:g} s"
            message = f"{role.name}: {exc} (attempt {attempt + 1} of {limit}, retrying)"
            log.warning(message)
            if self.writer is not None:
                self.writer.log("warning", message)
            self._emit("warning", message=message, instrument=role.name)
            # back off: quick retries for a glitch, then at most every 30 s for a dead connection
            self._sleep_wall(min(0.05 * 2 ** attempt, 30.0 / self.time_scale, max(give_up_wall - waited, 0.0))
                             if give_up_wall else min(0.05 * 2 ** attempt, 2.0))
            attempt += 1
            try:
                role.reconnect()
                self._reconnects += 1
            except Exception as rexc:  # reconnect failing is one more failed attempt
                log.warning("%s: reconnect failed: %s", role.name, rexc)
                if self.writer is not None:
                    self.writer.log("warning", f"{role.name}: reconnect failed: {rexc}")
            try:
                value = fn(*args)
            except TransientInstrumentError as again:
                exc = again
                continue
            if self.state == "waiting_for_instrument":
                self._set_state("running")
                if self.writer is not None:
                    self.writer.log("info", f"{role.name}: answering again after {attempt + 1} attempts")
            return value

    # -- helpers --------------------------------------------------------------------------
    def _roles_of(self, kind: str) -> list[Role]:
        return [r for r in self.detectors.values() if role_kind(r) == kind]

    def _set_state(self, state: str) -> None:
        self.state = state
        self._emit("state", state=state)

    def _emit(self, event_kind: str, **data) -> None:
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
        self._emit("progress", done=self._points_done, total=total, eta_s=eta, rate_per_s=rate)


def station_instruments(station) -> dict[str, tuple[str, dict]]:
    """A connected station as check_plan_against_station wants it: {name: (kind, limits)}."""
    return {name: (role_kind(role), _limits_of(role)) for name, role in station.roles.items()}


def _limits_of(role: Role) -> dict:
    out: dict = {}
    limits = getattr(role, "limits", None)
    if limits is not None:
        for key in ("max_field_T", "max_current_A", "max_ramp_rate_T_per_min"):
            out[key] = getattr(limits, key)
    if hasattr(role, "coil_constant_T_per_A"):
        out["coil_constant_T_per_A"] = role.coil_constant_T_per_A
    out["has_persistent_switch"] = bool(getattr(role, "has_persistent_switch", False))
    if hasattr(role, "max_temperature_K"):
        out["max_temperature_K"] = role.max_temperature_K
    if role_kind(role) == "lockin":
        values = getattr(role, "limit_values", None) or {}
        for key in ("min_frequency_Hz", "max_frequency_Hz"):
            if values.get(key) is not None:
                out[key] = float(values[key])
        driver_range = getattr(getattr(role, "driver_cls", None), "FREQUENCY_RANGE_HZ", None)
        if driver_range is not None:
            out["driver_min_frequency_Hz"], out["driver_max_frequency_Hz"] = map(float, driver_range)
    return out


def _scan_for_resonance(response, center: float, span: float, n: int) -> float:
    """Scan the drive frequency; the Lorentzian peak of R^2 gives the resonance.

    For a Lorentzian, 1/R^2 is a parabola in f: fit it near the peak, take its vertex."""
    freqs = np.linspace(center - span / 2, center + span / 2, n)
    r2 = np.array([x * x + y * y for x, y in (response(f) for f in freqs)])
    k = int(np.argmax(r2))
    lo, hi = max(0, k - 3), min(n, k + 4)
    if hi - lo < 3 or r2[lo:hi].min() <= 0:
        return float(freqs[k])
    a, b, _ = np.polyfit(freqs[lo:hi] - freqs[k], 1.0 / r2[lo:hi], 2)
    if a <= 0:
        return float(freqs[k])
    f0 = freqs[k] - b / (2 * a)
    return float(np.clip(f0, freqs[0], freqs[-1]))


def _pll_for_resonance(response, center: float, spec) -> float:
    """A software phase-locked loop: move the drive until the phase equals the target (secant)."""
    def phase_error(f: float) -> float:
        x, y = response(f)
        d = math.degrees(math.atan2(y, x)) - spec.target_phase_deg
        return (d + 180.0) % 360.0 - 180.0

    f_a, f_b = center, center + spec.span_Hz / 20
    e_a, e_b = phase_error(f_a), phase_error(f_b)
    for _ in range(spec.max_iterations):
        if abs(e_b) <= spec.phase_tolerance_deg:
            return f_b
        if e_b == e_a:
            break
        f_next = f_b - e_b * (f_b - f_a) / (e_b - e_a)
        # never leave the search window: a phase wrap would send the secant far away
        f_next = float(np.clip(f_next, center - spec.span_Hz / 2, center + spec.span_Hz / 2))
        f_a, e_a = f_b, e_b
        f_b, e_b = f_next, phase_error(f_next)
    if abs(e_b) <= spec.phase_tolerance_deg:
        return f_b
    raise InstrumentError(f"phase-locked loop did not lock within {spec.max_iterations} steps "
                          f"(phase error {e_b:.2f} deg at {f_b:.4f} Hz)")

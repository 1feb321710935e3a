"""Plans: what a run should do, as data. Validated completely before any instrument is touched.

A plan file is YAML (loaded with loopscope.safe_yaml: no code, no object tags, no duplicate
keys, at most 1 MB, no alias bombs). `load_plan` turns it into a Plan object; `Plan.points()`
yields the points the runner visits, each with its setpoints and labels, so that one runner
executes every kind of sweep and a run can resume from any point index. Every number must be
finite and the point counts stay under the limits below (MAX_POINTS, ...), worked out without
building any array. Kinds:

linear              field (or coil current) from start to stop
list                field (or coil current) at listed values
loop                hysteresis loop: optional virgin curve, then down and up branches, N cycles
grid                a field sweep inside an outer loop over temperature or drive frequency
time_series         readings at a fixed field over time (persistent-mode decay, drifts)
resonance_tracking  at each field, find the cantilever resonance with the lock-in
persistent_step     superconducting magnet: heater on, ramp, heater off, leads to zero, then
                    readings over time in persistent mode
continuous          one ramp from start to stop, every detector read every interval_s while the
                    field moves (the runner ramps and reads: it has no list of points)
field_angle         a vector magnet: a field of fixed magnitude whose polar or azimuthal angle
                    is swept (instruments/roles/vector_magnet.py)
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Union

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from loopscope.safe_yaml import SafeYAMLError, load_yaml_file, load_yaml_text

# --------------------------------------------------------------------------- limits
# What a plan may ask for, checked before anything is built or sent (docs/plans.md, "Limits").
#: points of one run (every kind; a grid counts outer values x sweep points)
MAX_POINTS = 10_000_000
#: the run file's expected size: points x columns x 8 bytes
MAX_FILE_BYTES = 2_000_000_000
#: resonance_tracking: frequencies of one scan
MAX_SCAN_POINTS = 10_000
#: angles of one field-angle sweep (each is checked against the vector limit before the run)
MAX_ANGLE_POINTS = 100_000
#: time_series duration_s and persistent_step hold_s, experiment seconds (a year)
MAX_DURATION_S = 366 * 86400.0


#: where a problem is in the plan: keys and list indices, e.g. ("sweep", "points"),
#: ("suspenders", 0, "max_K"), ("steps", 3, "field") for a plan written in Python, () for the plan
KeyPath = tuple


def format_key(key_path: KeyPath) -> str:
    """A key path as the one-line messages write it: "sweep.points", "values.3", "step 3: field"."""
    if len(key_path) >= 2 and key_path[0] == "steps" and isinstance(key_path[1], int):
        rest = format_key(tuple(key_path[2:]))
        return f"step {key_path[1]}" + (f": {rest}" if rest else "")
    return ".".join(str(k) for k in key_path)


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan: where (key_path), what (message), the value given and the
    plan's origin (its file, or "<plan>"). str() is the one-line text: "origin: key: message".

    shown_key: how the line names the key, when not format_key(key_path) ("" for a line that
    names none); related: other keys the problem is about (a loop's amplitude with its step)."""

    key_path: KeyPath
    message: str
    value: Any = None
    origin: str = ""
    shown_key: str | None = None
    related: tuple[KeyPath, ...] = ()

    @property
    def key(self) -> str:
        return format_key(self.key_path)

    @property
    def key_paths(self) -> tuple[KeyPath, ...]:
        """The key path and the related ones: every key the problem is about."""
        return (tuple(self.key_path),) + tuple(tuple(k) for k in self.related)

    def __str__(self) -> str:
        shown = self.key if self.shown_key is None else self.shown_key
        return ": ".join(part for part in (self.origin, shown, self.message) if part)


class PlanError(ValueError):
    """A plan that cannot run. The message names the file, the key and the bad value.

    ``problems`` holds each problem as a PlanProblem (key path, message, value, origin): the GUI
    marks each key path. str(error) is one line; with several problems, they are joined by
    "; ", and each one's line is in ``messages``."""

    def __init__(self, message: str | None = None, messages: list[str] | None = None,
                 problems: list[PlanProblem] | None = None):
        if problems:
            self.problems = list(problems)
            messages = [str(p) for p in self.problems]
            message = message if message is not None else "; ".join(messages)
        else:
            lines = list(messages) if messages else [message]
            # a line with no key path known: about the plan as a whole
            self.problems = [PlanProblem((), line, shown_key="") for line in lines]
        super().__init__(message)
        self.messages = list(messages) if messages else [message]

    @classmethod
    def at(cls, origin: str, key_path: KeyPath, message: str, value: Any = None, **kw) -> "PlanError":
        """A PlanError of one problem."""
        return cls(problems=[PlanProblem(tuple(key_path), message, value, origin, **kw)])

    def with_origin(self, origin: str) -> "PlanError":
        """The same problems, said of `origin` (a check made before the origin was known)."""
        return PlanError(problems=[replace(p, origin=origin) for p in self.problems])


class _Strict(BaseModel):
    # allow_inf_nan=False: .nan, .inf and -.inf are refused for every number of every plan
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- building blocks
class SampleInfo(_Strict):
    name: str = ""
    description: str = ""
    material: str = ""
    mass_kg: float | None = Field(default=None, gt=0)


class Settle(_Strict):
    """How to decide that a point is ready to be read."""

    wait_for_holding: bool = True  # wait until the supply reports it holds at the target
    delay_s: float = Field(default=0.0, ge=0)  # then a fixed delay (experiment time)
    stable_tolerance_T: float | None = Field(default=None, gt=0)  # then the probe stable within this
    stable_readings: int = Field(default=3, ge=2)
    timeout_s: float = Field(default=600.0, gt=0)  # give up waiting (experiment time)


class Averaging(_Strict):
    readings: int = Field(default=1, ge=1)


class PlanLimits(_Strict):
    """A plan may ask for tighter limits than the station's; never looser."""

    max_field_T: float | None = Field(default=None, gt=0)
    max_current_A: float | None = Field(default=None, gt=0)
    max_ramp_rate_T_per_min: float | None = Field(default=None, gt=0)
    max_temperature_K: float | None = Field(default=None, gt=0)


class Range(_Strict):
    """start..stop inclusive, by number of points or by step. Units from the axis."""

    start: float
    stop: float
    points: int | None = Field(default=None, ge=1, le=MAX_POINTS)
    step: float | None = Field(default=None, gt=0)

    @field_validator("step")
    @classmethod
    def _few_enough(cls, step, info: ValidationInfo):
        start, stop = info.data.get("start"), info.data.get("stop")
        if step is None or start is None or stop is None:
            return step
        steps = abs(stop - start) / step
        if not math.isfinite(steps) or steps >= MAX_POINTS:
            raise ValueError(f"from {start:g} to {stop:g} in steps of {step:g} makes {steps + 1:.3g} "
                             f"points, more than the limit of {MAX_POINTS:,} points")
        return step

    @model_validator(mode="after")
    def _one_of(self):
        if (self.points is None) == (self.step is None):
            raise ValueError("give exactly one of 'points' or 'step'")
        if self.points == 1 and self.start != self.stop:
            raise ValueError("one point needs start == stop")
        if self.step is not None and self.count() > MAX_POINTS:
            raise ValueError(f"step {self.step:g} from {self.start:g} to {self.stop:g} makes "
                             f"{self.count():,} points, more than the limit of {MAX_POINTS:,} points")
        return self

    def _steps(self) -> tuple[int, float]:
        span = self.stop - self.start
        return int(math.floor(abs(span) / self.step + 1e-9)) + 1, (1.0 if span >= 0 else -1.0)

    def _stop_reached(self, n: int, sign: float) -> bool:
        last = self.start + sign * self.step * (n - 1)
        return math.isclose(last, self.stop, rel_tol=0, abs_tol=1e-12 * max(1.0, abs(self.stop)))

    def count(self) -> int:
        """How many values, worked out without building them."""
        if self.points is not None:
            return self.points
        n, sign = self._steps()
        return n if self._stop_reached(n, sign) else n + 1

    def extremes(self, prefix: KeyPath = ("sweep",)) -> list[tuple[KeyPath, float]]:
        """(key path, value) of the first and last values (every value lies between them)."""
        start, stop = prefix + ("start",), prefix + ("stop",)
        if self.points is not None:
            return [(start, self.start), (stop, self.stop)]
        n, sign = self._steps()
        last = self.start + sign * self.step * (n - 1)  # the last stepped value, maybe a hair past stop
        return [(start, self.start), (stop, last), (stop, self.stop)]

    def values(self) -> np.ndarray:
        if self.points is not None:
            return np.linspace(self.start, self.stop, self.points)
        n, sign = self._steps()
        vals = self.start + sign * self.step * np.arange(n)
        if not self._stop_reached(n, sign):
            vals = np.append(vals, self.stop)
        return vals


class TemperatureFirst(_Strict):
    """Bring the sample to a temperature before the first point (and hold it there)."""

    setpoint_K: float = Field(gt=0)
    tolerance_K: float = Field(default=0.01, gt=0)
    heater_range: Literal["off", "low", "medium", "high"] | None = None
    settle_s: float = Field(default=0.0, ge=0)
    timeout_s: float = Field(default=7200.0, gt=0)


class TemperatureBand(_Strict):
    """Suspend while the temperature is outside [min_K, max_K]."""

    kind: Literal["temperature_band"]
    instrument: str | None = None  # a thermometer of the station; default the first one
    min_K: float = Field(ge=0)
    max_K: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.min_K >= self.max_K:
            raise ValueError(f"min_K {self.min_K:g} must be below max_K {self.max_K:g}")
        return self


class FieldAgreement(_Strict):
    """Suspend while the Hall probe and the supply disagree by more than tolerance_T."""

    kind: Literal["field_agreement"]
    probe: str | None = None  # a field_probe of the station; default the first one
    tolerance_T: float = Field(gt=0)


Suspender = Annotated[Union[TemperatureBand, FieldAgreement], Field(discriminator="kind")]


class _PlanBase(_Strict):
    title: str = Field(min_length=1)
    operator: str = ""
    sample: SampleInfo = SampleInfo()
    source: str | None = None  # a field_source of the station; default the station's first
    axis: Literal["field", "current"] = "field"  # units of the sweep values: T or A
    detectors: list[str] | None = None  # station instruments to read; default every non-source
    ramp_rate_T_per_min: float | None = Field(default=None, gt=0)
    # on a vector magnet: the direction [x, y, z] the plan's fields point along (default the
    # station's direction of that vector magnet); refused on any other field source
    direction: list[float] | None = Field(default=None, min_length=3, max_length=3)
    settle: Settle = Settle()
    averaging: Averaging = Averaging()
    end: Literal["zero", "hold"] = "zero"  # what the field does when the run completes
    limits: PlanLimits = PlanLimits()
    retries: int = Field(default=3, ge=0, le=100)
    # an instrument that stops answering: keep reconnecting (with back-off) this long, in
    # experiment seconds, before giving up to the safe state; 0: give up after `retries`
    give_up_after_s: float = Field(default=0.0, ge=0)
    temperature: TemperatureFirst | None = None
    suspenders: list[Suspender] = []
    suspend_timeout_s: float = Field(default=3600.0, gt=0)  # fail if a suspension lasts longer
    max_data_at_risk_s: float = Field(default=1.0, gt=0, le=60)


# --------------------------------------------------------------------------- plan kinds
class LinearPlan(_PlanBase):
    kind: Literal["linear"]
    sweep: Range


class ListPlan(_PlanBase):
    kind: Literal["list"]
    values: list[float] = Field(min_length=1)


class LoopPlan(_PlanBase):
    kind: Literal["loop"]
    amplitude: float = Field(gt=0)  # turning point of the loop, T (or A)
    step: float = Field(gt=0)
    cycles: int = Field(default=1, ge=1, le=MAX_POINTS)
    virgin: bool = True  # measure the virgin curve 0 -> +amplitude first

    @field_validator("step")
    @classmethod
    def _few_enough(cls, step, info: ValidationInfo):
        amplitude = info.data.get("amplitude")
        if amplitude is None:
            return step
        n = amplitude / step
        if not math.isfinite(n) or 4 * round(n) + 1 > MAX_POINTS:
            raise ValueError(f"amplitude {amplitude:g} in steps of {step:g} makes {4 * n + 1:.3g} points a "
                             f"cycle, more than the limit of {MAX_POINTS:,} points")
        return step

    @model_validator(mode="after")
    def _count(self):
        count = _loop_count(self.amplitude / self.step, self.cycles, self.virgin)
        if count > MAX_POINTS:
            raise ValueError(f"cycles: {self.cycles} cycles of amplitude {self.amplitude:g} in steps of "
                             f"{self.step:g} make {count:.3g} points, more than the limit of "
                             f"{MAX_POINTS:,} points")
        return self


def _loop_count(steps: float, cycles: int, virgin: bool) -> int | float:
    """Points of a loop with `steps` steps per amplitude (see _loop_values)."""
    n = round(steps)
    return (n + 1 if virgin else 1) + cycles * 4 * n


class OuterAxis(_Strict):
    quantity: Literal["temperature", "frequency"]
    values: list[float] | None = None  # K or Hz
    range: Range | None = None
    tolerance: float | None = Field(default=None, gt=0)  # K: wait until within this of the setpoint
    settle_s: float = Field(default=0.0, ge=0)
    # temperature: the controller's heater range to use (a setpoint does nothing with the heater off)
    heater_range: Literal["off", "low", "medium", "high"] | None = None

    @model_validator(mode="after")
    def _one_of(self):
        if (self.values is None) == (self.range is None):
            raise ValueError("give exactly one of 'values' or 'range'")
        if self.values is not None and not self.values:
            raise ValueError("values: give at least one value")
        return self

    def count(self) -> int:
        return len(self.values) if self.values is not None else self.range.count()

    def all_values(self) -> np.ndarray:
        return np.asarray(self.values, dtype=float) if self.values is not None else self.range.values()

    def extremes(self) -> list[tuple[KeyPath, float]]:
        """(key path, value) of the smallest and largest outer value, for limit checks."""
        if self.values is not None:
            pairs = [(("outer", "values", i), float(v)) for i, v in enumerate(self.values)]
        else:
            pairs = self.range.extremes(("outer", "range"))
        return [min(pairs, key=lambda kv: kv[1]), max(pairs, key=lambda kv: kv[1])]


class GridPlan(_PlanBase):
    kind: Literal["grid"]
    outer: OuterAxis
    sweep: Range
    return_between: bool = False  # ramp back to the sweep start without reading, or serpentine

    @field_validator("sweep")
    @classmethod
    def _few_enough(cls, sweep, info: ValidationInfo):
        outer = info.data.get("outer")
        if outer is not None and outer.count() * sweep.count() > MAX_POINTS:
            raise ValueError(f"{outer.count():,} outer values x {sweep.count():,} sweep points make "
                             f"{outer.count() * sweep.count():,} points, more than the limit of "
                             f"{MAX_POINTS:,} points")
        return sweep


class TimeSeriesPlan(_PlanBase):
    kind: Literal["time_series"]
    field: float | None = None  # T (or A); None leaves the field as it is
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    interval_s: float = Field(gt=0)

    @field_validator("interval_s")
    @classmethod
    def _few_enough(cls, interval_s, info: ValidationInfo):
        return _check_readings(info.data.get("duration_s"), interval_s, "duration_s")


def _check_readings(duration_s: float | None, interval_s: float, key: str) -> float:
    """interval_s, unless the readings over duration_s would be too many."""
    if duration_s is None:
        return interval_s
    steps = duration_s / interval_s
    if not math.isfinite(steps) or steps >= MAX_POINTS:
        raise ValueError(f"{key} {duration_s:g} s read every {interval_s:g} s makes {steps + 1:.3g} "
                         f"readings, more than the limit of {MAX_POINTS:,} points: use a longer interval_s")
    return interval_s


class ResonanceSearch(_Strict):
    method: Literal["scan", "pll"] = "scan"
    center_Hz: float = Field(gt=0)
    span_Hz: float = Field(gt=0)
    scan_points: int = Field(default=21, ge=5, le=MAX_SCAN_POINTS)
    settle_time_constants: float = Field(default=5.0, gt=0)
    #: the resonator's own amplitude ring-down time, Q/(pi f0) (s): after a change of the drive
    #: frequency the response settles through the resonator and then the lock-in's filter, so the
    #: wait is settle_time_constants x (lock-in time constant + ring_down_s). A high-Q lever rings
    #: far longer than the lock-in's filter (the lab's: 20000/(pi 2 kHz) = 3.2 s against 0.1 s).
    ring_down_s: float = Field(default=0.0, ge=0)
    target_phase_deg: float = 90.0  # pll: the phase held at resonance
    phase_tolerance_deg: float = Field(default=0.5, gt=0)
    max_iterations: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _window(self):
        if self.center_Hz - self.span_Hz / 2 <= 0:
            raise ValueError(f"span_Hz: {self.span_Hz:g} Hz around center_Hz {self.center_Hz:g} Hz reaches "
                             f"{self.center_Hz - self.span_Hz / 2:g} Hz; the search window must stay above 0 Hz")
        return self

    def window(self) -> tuple[float, float]:
        """The frequencies the first search may visit, Hz."""
        return self.center_Hz - self.span_Hz / 2, self.center_Hz + self.span_Hz / 2


class ResonanceTrackingPlan(_PlanBase):
    kind: Literal["resonance_tracking"]
    sweep: Range
    resonance: ResonanceSearch


class PersistentStepPlan(_PlanBase):
    kind: Literal["persistent_step"]
    target: float  # T (or A): the field to trap
    hold_s: float = Field(default=0.0, ge=0, le=MAX_DURATION_S)  # readings in persistent mode afterwards
    interval_s: float = Field(default=1.0, gt=0)
    leads_to_zero: bool = True

    @field_validator("interval_s")
    @classmethod
    def _few_enough(cls, interval_s, info: ValidationInfo):
        return _check_readings(info.data.get("hold_s"), interval_s, "hold_s")


class ContinuousPlan(_PlanBase):
    """Measure while the field ramps: the field is brought to `start` and settled like any
    point, then ONE ramp to `stop` at rate_T_per_min runs while every detector is read every
    interval_s (experiment time), and a last reading once the source holds at stop."""

    kind: Literal["continuous"]
    start: float  # T (or A)
    stop: float
    rate_T_per_min: float = Field(gt=0)  # the ramp that is measured (ramp_rate_T_per_min: the others)
    interval_s: float = Field(gt=0)
    # at most this many rows (the file checks use it); default: the expected count and a margin
    max_points: int | None = Field(default=None, ge=2, le=MAX_POINTS)

    @model_validator(mode="after")
    def _span(self):
        if self.start == self.stop:
            raise ValueError(f"stop: a ramp needs stop different from start (both {self.start:g})")
        if self.axis == "field" and self.max_points is None:
            bound = _continuous_bound(abs(self.stop - self.start) / (self.rate_T_per_min / 60.0), self.interval_s)
            if not bound <= MAX_POINTS:
                raise ValueError(f"interval_s: a ramp of {abs(self.stop - self.start):g} T at {self.rate_T_per_min:g} "
                                 f"T/min read every {self.interval_s:g} s makes up to {bound:.3g} readings, more "
                                 f"than the limit of {MAX_POINTS:,} points: use a longer interval_s")
        return self


def _continuous_expected(duration_s: float, interval_s: float) -> int:
    """Readings of a continuous ramp lasting duration_s: one at the start and every interval_s
    while it ramps, and the last one once the source holds at stop."""
    if not duration_s / interval_s < MAX_POINTS:
        return MAX_POINTS + 1  # refused by the checks; a number, not an overflow
    return int(math.floor(duration_s / interval_s + 1e-9)) + 2


def _continuous_bound(duration_s: float, interval_s: float) -> float:
    """The default max_points: a quarter more than expected and ten more, for a ramp slower
    than asked and its settling at stop (a float: it may be astronomically large)."""
    steps = duration_s / interval_s
    if not math.isfinite(steps) or steps >= MAX_POINTS:
        return math.inf
    return math.ceil(1.25 * steps) + 12


class FieldAnglePlan(_PlanBase):
    """A vector magnet's field at fixed magnitude, one of its angles swept: the polar angle
    from +z (at a fixed azimuth), or the azimuth from +x in the xy plane (at a fixed polar
    angle). B = |B| (sin(polar) cos(azimuth), sin(polar) sin(azimuth), cos(polar))."""

    kind: Literal["field_angle"]
    magnitude_T: float = Field(ge=0)
    angle: Literal["polar", "azimuth"] = "polar"   # which angle the sweep moves
    sweep: Range                                   # degrees
    polar_deg: float = 90.0     # the polar angle held while the azimuth is swept
    azimuth_deg: float = 0.0    # the azimuth held while the polar angle is swept

    @model_validator(mode="after")
    def _field_axis(self):
        if self.sweep.count() > MAX_ANGLE_POINTS:
            raise ValueError(f"sweep: {self.sweep.count():,} angles, more than the limit of "
                             f"{MAX_ANGLE_POINTS:,} for a field-angle sweep")
        if self.axis != "field":
            raise ValueError("axis: a field-angle sweep sets fields (axis: field), not currents")
        for key in ("polar_deg", "azimuth_deg"):
            if not math.isfinite(getattr(self, key)):
                raise ValueError(f"{key}: {getattr(self, key)!r} is not a finite angle")
        return self

    def angles_deg(self) -> tuple[np.ndarray, np.ndarray]:
        """(polar, azimuth) of every point, degrees."""
        swept = self.sweep.values()
        fixed = np.full(len(swept), self.azimuth_deg if self.angle == "polar" else self.polar_deg)
        return (swept, fixed) if self.angle == "polar" else (fixed, swept)

    def vectors_T(self) -> np.ndarray:
        from loopscope.instruments.vector_field_limit import spherical_to_vector
        polar, azimuth = self.angles_deg()
        return spherical_to_vector(self.magnitude_T, polar, azimuth)


PlanModel = Annotated[
    Union[LinearPlan, ListPlan, LoopPlan, GridPlan, TimeSeriesPlan, ResonanceTrackingPlan, PersistentStepPlan,
          ContinuousPlan, FieldAnglePlan],
    Field(discriminator="kind"),
]
PLAN_KINDS = ("linear", "list", "loop", "grid", "time_series", "resonance_tracking", "persistent_step",
              "continuous", "field_angle")


class _Wrapper(BaseModel):
    plan: PlanModel


# --------------------------------------------------------------------------- points
@dataclass(slots=True)
class Point:
    """One stop of the run: what to set, how to label it, what to do before reading."""

    index: int
    field: float | None = None  # in the plan's axis units (T or A); None: leave as is
    temperature_K: float | None = None
    frequency_Hz: float | None = None
    at_elapsed_s: float | None = None  # time series: read when the run clock reaches this
    labels: dict | None = None  # branch, cycle, outer_index
    actions: tuple[str, ...] = ()  # e.g. ("enter_persistent",) after the ramp of a persistent step
    find_resonance: bool = False
    measure: tuple = ()  # array measurements at the point (daq/point_measurements.py)
    field_vector_T: tuple | None = None  # a vector magnet's (Bx, By, Bz), T; None: see field


@dataclass
class Plan:
    model: _PlanBase
    text: str = ""
    origin: str = "<plan>"
    #: a plan written in Python (kind "code", daq/plans_as_code.py): its steps, listed once
    steps: list | None = None
    #: the field source's coil constant, filled in by check_plan_against_station: a continuous
    #: plan on axis current needs it to know how long its ramp (in T/min) takes
    coil_constant_T_per_A: float | None = None
    #: an adaptive plan in Python: (generator function, arguments); its steps come one at a time
    #: as the readings come in (Runner._run_adaptive), and ``steps`` holds only the first
    code_function: tuple | None = None

    @property
    def adaptive(self) -> bool:
        return self.code_function is not None

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def title(self) -> str:
        return self.model.title

    def label_columns(self) -> list[str]:
        m = self.model
        if m.kind == "loop":
            return ["branch", "cycle"]
        if m.kind == "grid":
            return ["outer_index"]
        if m.kind == "code":
            return list(m.labels)
        if m.kind == "field_angle":
            return ["polar_deg", "azimuth_deg"]
        return []

    def temperature_setpoints(self) -> list[tuple[KeyPath, float]]:
        """(key path, K) of every temperature a plan in Python sets (the YAML kinds: see grid)."""
        if self.steps is None:
            return []
        return [(("steps", i, "temperature_K"), s.temperature_K) for i, s in enumerate(self.steps)
                if s.temperature_K is not None]

    def frequency_setpoints(self) -> list[tuple[KeyPath, float]]:
        """(key path, Hz) of every lock-in frequency a plan in Python sets."""
        if self.steps is None:
            return []
        return [(("steps", i, "frequency_Hz"), s.frequency_Hz) for i, s in enumerate(self.steps)
                if s.frequency_Hz is not None]

    def field_values(self) -> np.ndarray:
        """Every field (or current) the plan visits, for limit checks and ETA."""
        m = self.model
        if m.kind in ("linear", "grid", "resonance_tracking"):
            return m.sweep.values()
        if m.kind == "list":
            return np.asarray(m.values, dtype=float)
        if m.kind == "loop":
            return np.array([0.0, m.amplitude, -m.amplitude])
        if m.kind == "time_series":
            return np.array([]) if m.field is None else np.array([m.field])
        if m.kind == "persistent_step":
            return np.array([m.target])
        if m.kind == "continuous":
            return np.array([m.start, m.stop])
        if m.kind == "code":
            return np.array([s.field for s in self.steps if s.field is not None], dtype=float)
        if m.kind == "field_angle":
            return np.full(m.sweep.count(), m.magnitude_T)
        raise AssertionError(m.kind)

    def field_extremes(self) -> list[tuple[KeyPath, float]]:
        """(key path, value) pairs holding the largest field (or current) the plan visits, for the
        limit checks, worked out without building the sweep: the ends of a sweep, every listed
        value, the loop's turning points."""
        m = self.model
        if m.kind in ("linear", "grid", "resonance_tracking"):
            return m.sweep.extremes(("sweep",))
        if m.kind == "list":
            return [(("values", i), float(v)) for i, v in enumerate(m.values)]
        if m.kind == "loop":
            return [(("amplitude",), 0.0), (("amplitude",), m.amplitude), (("amplitude",), -m.amplitude)]
        if m.kind == "time_series":
            return [] if m.field is None else [(("field",), m.field)]
        if m.kind == "persistent_step":
            return [(("target",), m.target)]
        if m.kind == "continuous":
            return [(("start",), m.start), (("stop",), m.stop)]  # one ramp: every field lies between
        if m.kind == "code":
            return [(("steps", i, "field"), s.field) for i, s in enumerate(self.steps)
                    if s.field is not None]
        if m.kind == "field_angle":
            return [(("magnitude_T",), m.magnitude_T)]
        raise AssertionError(m.kind)

    def field_vectors(self) -> tuple[list[KeyPath], np.ndarray]:
        """The field vectors a plan sets (every point of a field-angle sweep), with the key path
        of each, for the vector limit; none for the scalar kinds (their fields point along the
        plan's direction: daq/plan_against_station.py checks their extremes on that ray)."""
        m = self.model
        if m.kind == "field_angle":
            return [("sweep",)] * m.sweep.count(), m.vectors_T()
        return [], np.zeros((0, 3))

    def total_points(self) -> int:
        """The number of points, worked out without building them."""
        m = self.model
        if m.kind in ("linear", "resonance_tracking"):
            return m.sweep.count()
        if m.kind == "list":
            return len(m.values)
        if m.kind == "loop":
            return int(_loop_count(m.amplitude / m.step, m.cycles, m.virgin))
        if m.kind == "grid":
            return m.outer.count() * m.sweep.count()
        if m.kind == "time_series":
            return int(math.floor(m.duration_s / m.interval_s + 1e-9)) + 1
        if m.kind == "persistent_step":
            return int(math.floor(m.hold_s / m.interval_s + 1e-9)) + 1
        if m.kind == "continuous":
            # the count depends on the ramp as it happens: this is the expected one
            duration = self.continuous_ramp_s()
            if duration is None:  # axis current, not checked against a station yet
                return m.max_points or 2
            expected = _continuous_expected(duration, m.interval_s)
            return min(expected, m.max_points) if m.max_points else expected
        if m.kind == "code":
            return m.max_points if self.adaptive else len(self.steps)
        if m.kind == "field_angle":
            return m.sweep.count()
        raise AssertionError(m.kind)

    def max_points(self) -> int | float:
        """The most rows the run may write (the file checks use it): total_points(), except
        for a continuous plan, whose max_points (or default bound) is above its expected count."""
        m = self.model
        if m.kind != "continuous":
            return self.total_points()
        if m.max_points is not None:
            return m.max_points
        duration = self.continuous_ramp_s()
        return 2 if duration is None else _continuous_bound(duration, m.interval_s)

    def continuous_ramp_s(self) -> float | None:
        """A continuous plan: how long its ramp from start to stop takes, experiment seconds
        (None on axis current before the coil constant is known)."""
        m = self.model
        k = 1.0 if m.axis == "field" else self.coil_constant_T_per_A
        if k is None:
            return None
        return abs(m.stop - m.start) * k / (m.rate_T_per_min / 60.0)

    def points(self, start_index: int = 0) -> Iterator[Point]:
        """The points in order, from start_index on (to resume an interrupted run)."""
        # every kind numbers its points 0, 1, 2, ... in order
        if self.model.kind == "code":
            from loopscope.daq.plans_as_code import points_of
            return points_of(self.steps, start_index)
        return itertools.islice(self._all_points(), start_index, None)

    def _all_points(self) -> Iterator[Point]:
        """Every kind is a generator of steps (daq/plan_kinds_as_steps.py), numbered in order."""
        m = self.model
        if m.kind == "continuous":
            raise PlanError.at(self.origin, (), "a continuous plan has no list of points: the runner ramps "
                               "and reads as it goes (Runner._run_continuous)")
        from loopscope.daq.plan_kinds_as_steps import STEPS_OF_KIND
        from loopscope.daq.plans_as_code import point_of
        for i, s in enumerate(STEPS_OF_KIND[m.kind](m, self)):
            yield point_of(s, i)


def _loop_steps(m: LoopPlan) -> int:
    """Steps per amplitude; PlanError unless the amplitude is a whole number of steps."""
    a, s = m.amplitude, m.step
    n = int(round(a / s))
    if n < 1 or not math.isclose(n * s, a, rel_tol=1e-9):
        raise PlanError.at("", ("step",), f"amplitude {a:g} is not a whole number of steps of {s:g}",
                           s, shown_key="loop", related=(("amplitude",),))
    return n


def _loop_values(m: LoopPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = m.amplitude
    n = _loop_steps(m)
    up = np.linspace(-a, a, 2 * n + 1)
    vals, branch, cycle = [], [], []
    if m.virgin:
        v = np.linspace(0, a, n + 1)
        vals.append(v); branch.append(np.zeros(len(v))); cycle.append(np.zeros(len(v)))
    for c in range(m.cycles):
        first = c == 0 and not m.virgin
        down = up[::-1] if first else up[::-1][1:]  # the turning point is not measured twice
        vals.append(down); branch.append(np.ones(len(down))); cycle.append(np.full(len(down), c))
        vals.append(up[1:]); branch.append(np.full(2 * n, 2)); cycle.append(np.full(2 * n, c))
    return np.concatenate(vals), np.concatenate(branch), np.concatenate(cycle)


# --------------------------------------------------------------------------- loading
def _shown(value, limit: int = 80) -> str:
    """repr(value), cut to a readable length (a value may be a list of a million numbers)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


#: discriminator tags pydantic puts in an error's location ("linear", "temperature_band", ...):
#: not keys of the plan
_TAGS = set(PLAN_KINDS) | {"temperature_band", "field_agreement"}


def _format_errors(exc: ValidationError, origin: str) -> list[str]:
    """The one-line messages of a pydantic error (see plan_problems)."""
    return [str(p) for p in plan_problems(exc, origin)]


def plan_problems(exc: ValidationError, origin: str) -> list[PlanProblem]:
    """A PlanProblem for each error pydantic found, with its key path from the error's location."""
    problems = []
    for err in exc.errors():
        loc = [x for x in err["loc"] if x != "plan"]
        # the line shows the location as it always has (a suspender's tag included); the key
        # path drops every tag, so that it names keys of the plan only
        shown = [str(x) for x in loc if x not in PLAN_KINDS]
        path = [x for x in loc if not (isinstance(x, str) and x in _TAGS)]
        value = err.get("input")
        got = "" if isinstance(value, dict) else f" (got {_shown(value)})"
        msg = err["msg"].replace("Value error, ", "")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        # a check of a whole mapping names the key it is about first: "cycles: ..." (the
        # validators of this module write their messages so)
        keyed = re.match(r"([A-Za-z_]\w*): ", msg) if err["type"] == "value_error" else None
        if keyed:
            shown.append(keyed.group(1))
            path.append(keyed.group(1))
            msg = msg[keyed.end():]
            value = _value_at(err.get("input"), keyed.group(1))
        problems.append(PlanProblem(tuple(path), msg + got, value, origin,
                                    shown_key=".".join(shown) or "(top level)"))
    return problems


def _value_at(data, key: str):
    return data.get(key) if isinstance(data, dict) else None


def parse_plan(data: dict, text: str = "", origin: str = "<plan>") -> Plan:
    if not isinstance(data, dict):
        raise PlanError.at(origin, (), f"a plan is a mapping of keys to values, not {type(data).__name__}", data)
    kind = data.get("kind")
    if kind not in PLAN_KINDS:
        raise PlanError.at(origin, ("kind",), f"must be one of {', '.join(PLAN_KINDS)} (got {_shown(kind)})", kind)
    try:
        model = _Wrapper.model_validate({"plan": data}).plan
    except ValidationError as exc:
        raise PlanError(problems=plan_problems(exc, origin)) from None
    if model.kind == "loop":
        try:
            _loop_steps(model)  # amplitude/step consistency
        except PlanError as exc:
            raise exc.with_origin(origin) from None
    plan = Plan(model=model, text=text or yaml.safe_dump(data, sort_keys=False), origin=origin)
    return plan


def load_plan(source: str | Path | dict) -> Plan:
    """A Plan from a YAML file, YAML text, or a dict. Raises PlanError naming key and value.

    Files and text go through loopscope.safe_yaml (at most 1 MB, no duplicate keys, no alias
    bombs, UTF-8 text only)."""
    if isinstance(source, dict):
        return parse_plan(source)
    from loopscope.daq.plans_as_code import is_code_plan_target, load_code_plan
    if callable(source) or is_code_plan_target(source):
        return load_code_plan(source)   # a plan written in Python: "my_plan.py:function"
    path = Path(source) if not (isinstance(source, str) and "\n" in source) else None
    try:
        if path is not None:
            data, text = load_yaml_file(path, label="plan file")
            origin = str(path)
        else:
            text, origin = str(source), "<plan text>"
            data = load_yaml_text(text, origin)
    except SafeYAMLError as exc:
        # the file itself (missing, not YAML, too large ...): no key of the plan
        raise PlanError.at("", (), str(exc)) from None
    return parse_plan(data, text=text, origin=origin)

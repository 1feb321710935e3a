"""Plans: what a run should do, as data. Validated completely before any instrument is touched.

A plan file is YAML (loaded with yaml.safe_load: no code, no object tags). `load_plan` turns
it into a Plan object; `Plan.points()` yields the points the runner visits, each with its
setpoints and labels, so that one runner executes every kind of sweep and a run can resume
from any point index. Kinds:

linear              field (or coil current) from start to stop
list                field (or coil current) at listed values
loop                hysteresis loop: optional virgin curve, then down and up branches, N cycles
grid                a field sweep inside an outer loop over temperature or drive frequency
time_series         readings at a fixed field over time (persistent-mode decay, drifts)
resonance_tracking  at each field, find the cantilever resonance with the lock-in
persistent_step     superconducting magnet: heater on, ramp, heater off, leads to zero, then
                    readings over time in persistent mode
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Iterator, Literal, Union

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class PlanError(ValueError):
    """A plan that cannot run. The message names the file, the key and the bad value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    points: int | None = Field(default=None, ge=1)
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_of(self):
        if (self.points is None) == (self.step is None):
            raise ValueError("give exactly one of 'points' or 'step'")
        if self.points == 1 and self.start != self.stop:
            raise ValueError("one point needs start == stop")
        return self

    def values(self) -> np.ndarray:
        if self.points is not None:
            return np.linspace(self.start, self.stop, self.points)
        span = self.stop - self.start
        n = int(math.floor(abs(span) / self.step + 1e-9)) + 1
        vals = self.start + np.sign(span or 1.0) * self.step * np.arange(n)
        if not math.isclose(vals[-1], self.stop, rel_tol=0, abs_tol=1e-12 * max(1.0, abs(self.stop))):
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
    cycles: int = Field(default=1, ge=1)
    virgin: bool = True  # measure the virgin curve 0 -> +amplitude first


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
        return self

    def all_values(self) -> np.ndarray:
        return np.asarray(self.values, dtype=float) if self.values is not None else self.range.values()


class GridPlan(_PlanBase):
    kind: Literal["grid"]
    outer: OuterAxis
    sweep: Range
    return_between: bool = False  # ramp back to the sweep start without reading, or serpentine


class TimeSeriesPlan(_PlanBase):
    kind: Literal["time_series"]
    field: float | None = None  # T (or A); None leaves the field as it is
    duration_s: float = Field(gt=0)
    interval_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _count(self):
        if self.duration_s / self.interval_s > 50_000_000:
            raise ValueError("more than 50 million readings: use a longer interval_s")
        return self


class ResonanceSearch(_Strict):
    method: Literal["scan", "pll"] = "scan"
    center_Hz: float = Field(gt=0)
    span_Hz: float = Field(gt=0)
    scan_points: int = Field(default=21, ge=5)
    settle_time_constants: float = Field(default=5.0, gt=0)
    target_phase_deg: float = 90.0  # pll: the phase held at resonance
    phase_tolerance_deg: float = Field(default=0.5, gt=0)
    max_iterations: int = Field(default=30, ge=1)


class ResonanceTrackingPlan(_PlanBase):
    kind: Literal["resonance_tracking"]
    sweep: Range
    resonance: ResonanceSearch


class PersistentStepPlan(_PlanBase):
    kind: Literal["persistent_step"]
    target: float  # T (or A): the field to trap
    hold_s: float = Field(default=0.0, ge=0)  # readings in persistent mode afterwards
    interval_s: float = Field(default=1.0, gt=0)
    leads_to_zero: bool = True


PlanModel = Annotated[
    Union[LinearPlan, ListPlan, LoopPlan, GridPlan, TimeSeriesPlan, ResonanceTrackingPlan, PersistentStepPlan],
    Field(discriminator="kind"),
]
PLAN_KINDS = ("linear", "list", "loop", "grid", "time_series", "resonance_tracking", "persistent_step")


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


@dataclass
class Plan:
    model: _PlanBase
    text: str = ""
    origin: str = "<plan>"

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
        return []

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
        raise AssertionError(m.kind)

    def total_points(self) -> int:
        m = self.model
        if m.kind in ("linear", "resonance_tracking"):
            return len(m.sweep.values())
        if m.kind == "list":
            return len(m.values)
        if m.kind == "loop":
            return len(_loop_values(m)[0])
        if m.kind == "grid":
            return len(m.outer.all_values()) * len(m.sweep.values())
        if m.kind == "time_series":
            return int(math.floor(m.duration_s / m.interval_s + 1e-9)) + 1
        if m.kind == "persistent_step":
            return int(math.floor(m.hold_s / m.interval_s + 1e-9)) + 1
        raise AssertionError(m.kind)

    def points(self, start_index: int = 0) -> Iterator[Point]:
        """The points in order, from start_index on (to resume an interrupted run)."""
        # every kind numbers its points 0, 1, 2, ... in order
        return itertools.islice(self._all_points(), start_index, None)

    def _all_points(self) -> Iterator[Point]:
        m = self.model
        if m.kind in ("linear", "list", "resonance_tracking"):
            vals = m.values if m.kind == "list" else m.sweep.values().tolist()
            resonance = m.kind == "resonance_tracking"
            for i, v in enumerate(vals):
                yield Point(i, field=float(v), find_resonance=resonance)
        elif m.kind == "loop":
            vals, branch, cycle = _loop_values(m)
            for i, (v, b, c) in enumerate(zip(vals, branch, cycle)):
                yield Point(i, field=float(v), labels={"branch": int(b), "cycle": int(c)})
        elif m.kind == "grid":
            inner = m.sweep.values()
            i = 0
            for k, outer in enumerate(m.outer.all_values()):
                order = inner if (m.return_between or k % 2 == 0) else inner[::-1]
                for v in order:
                    kw = {"temperature_K": float(outer)} if m.outer.quantity == "temperature" \
                        else {"frequency_Hz": float(outer)}
                    yield Point(i, field=float(v), labels={"outer_index": k}, **kw)
                    i += 1
        elif m.kind == "time_series":
            for i in range(self.total_points()):
                yield Point(i, field=m.field, at_elapsed_s=i * m.interval_s)
        elif m.kind == "persistent_step":
            for i in range(self.total_points()):
                actions = ("enter_persistent",) if i == 0 else ()
                yield Point(i, field=m.target if i == 0 else None, at_elapsed_s=i * m.interval_s,
                            actions=actions)


def _loop_values(m: LoopPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, s = m.amplitude, m.step
    n = int(round(a / s))
    if not math.isclose(n * s, a, rel_tol=1e-9):
        raise PlanError(f"loop: amplitude {a:g} is not a whole number of steps of {s:g}")
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
def _format_errors(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"] if x != "plan"]
        # drop the discriminator tag pydantic inserts ("linear", ...) from the key path
        loc = [x for x in loc if x not in PLAN_KINDS]
        key = ".".join(loc) or "(top level)"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        msg = err["msg"].replace("Value error, ", "")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{origin}: {key}: {msg}{shown}")
    return "\n".join(lines)


def parse_plan(data: dict, text: str = "", origin: str = "<plan>") -> Plan:
    if not isinstance(data, dict):
        raise PlanError(f"{origin}: a plan is a mapping of keys to values, not {type(data).__name__}")
    kind = data.get("kind")
    if kind not in PLAN_KINDS:
        raise PlanError(f"{origin}: kind: must be one of {', '.join(PLAN_KINDS)} (got {kind!r})")
    try:
        model = _Wrapper.model_validate({"plan": data}).plan
    except ValidationError as exc:
        raise PlanError(_format_errors(exc, origin)) from None
    plan = Plan(model=model, text=text or yaml.safe_dump(data, sort_keys=False), origin=origin)
    if plan.kind == "loop":
        _loop_values(model)  # amplitude/step consistency
    return plan


def load_plan(source: str | Path | dict) -> Plan:
    """A Plan from a YAML file, YAML text, or a dict. Raises PlanError naming key and value."""
    if isinstance(source, dict):
        return parse_plan(source)
    path = Path(source) if not (isinstance(source, str) and "\n" in source) else None
    if path is not None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise PlanError(f"plan file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PlanError(f"plan file {path} cannot be read: {exc}") from None
        origin = str(path)
    else:
        text, origin = str(source), "<plan text>"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"{origin}: not valid YAML: {exc}") from None
    return parse_plan(data, text=text, origin=origin)

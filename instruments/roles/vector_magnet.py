"""A three-axis vector magnet as one field source: three supplies (one per axis, e.g. three AMI
430s, as QCoDeS's AMIModel4303D drives them) set and read as one field vector.

The safety rules, all kept here so that no plan can get around them:

- the target vector is checked against the vector limit (instruments/vector_field_limit.py)
  and against every axis's own limits before anything is sent (LimitError);
- the axes whose magnitude decreases are ramped first, and only once they hold are the others
  (an axis whose magnitude is unchanged, or grows, goes second): every vector on the way is then
  within the limit when the start and the target are (the limit is monotone in the components'
  magnitudes), whatever the axes' rates;
- the safe state ("zero") starts every axis toward zero at once (every magnitude decreases),
  then brings each to its own safe state with its own heater rules (a persistent z solenoid is
  matched and driven before it ramps); "hold" holds every axis (persistent where it can);
- a quench on any axis stops the run (QuenchError); the other axes still go to the safe state.

The runner talks to it as to any field source: ``start_ramp(field_T)`` goes along the plan's
(or the station's) direction, ``start_ramp_vector((Bx, By, Bz))`` anywhere, and ``is_settled()``
starts the second set of axes once the first holds, so polling it moves the ramp on.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from loopscope.instruments.roles import FieldLimits, FieldSource, InstrumentError, LimitError, StopCheck
from loopscope.instruments.vector_field_limit import AXES, VectorFieldLimit


@dataclass(frozen=True)
class VectorMagnetConfig:
    """A station file's ``vector_magnets`` entry, checked (instruments/station.py)."""

    name: str
    axes: dict            # {"x": instrument name, "y": ..., "z": ...}
    limit: VectorFieldLimit
    direction: tuple = (0.0, 0.0, 1.0)   # scalar sweeps on the vector magnet go along this
    field_tolerance_T: float = 1e-4      # an axis this close to its target is not ramped
    description: str = ""
    extra: dict = field(default_factory=dict)


class VectorMagnet(FieldSource):
    """Three axis field sources seen as one source of a field vector (see the module)."""

    KIND = "field_source"
    #: a vector magnet has three currents and no one coil constant: plans set fields
    coil_constant_T_per_A = 1.0
    is_vector = True

    def __init__(self, config: VectorMagnetConfig, axes: dict, safe_state: str = "zero") -> None:
        self.config = config
        self.name = config.name
        self.axes = {a: axes[a] for a in AXES}
        self.limit = config.limit
        self.safe_state = safe_state
        self.resource = "vector of " + ", ".join(f"{a}: {axes[a].name}" for a in AXES)
        self.station_direction = tuple(config.direction)
        self.direction = self.station_direction
        self._pending: dict[str, float] = {}   # the second set of axes, started once the first holds
        self._second_half = False               # the first set holds; the second is being started
        self._moving: set[str] = set()          # the axes ramping now
        self._rate = 0.0
        self._target = (math.nan, math.nan, math.nan)
        self._limits = None

    # limits ------------------------------------------------------------------------------------
    @property
    def limits(self) -> FieldLimits:
        """The largest |B| the vector limit allows, and the axes' lowest current and rate limits."""
        if self._limits is None:
            axes = list(self.axes.values())
            safe = [ax.limits.safe_ramp_rate_T_per_min or ax.limits.max_ramp_rate_T_per_min for ax in axes]
            self._limits = FieldLimits(
                max_field_T=self.limit.largest_magnitude_T,
                max_current_A=min(ax.limits.max_current_A for ax in axes),
                max_ramp_rate_T_per_min=min(ax.limits.max_ramp_rate_T_per_min for ax in axes),
                safe_ramp_rate_T_per_min=min(safe))
        return self._limits

    @property
    def safe_ramp_rate_T_per_min(self) -> float:
        return min(getattr(ax, "safe_ramp_rate_T_per_min", ax.limits.max_ramp_rate_T_per_min)
                   for ax in self.axes.values())

    def use_direction(self, direction) -> None:
        """The direction of the scalar fields a plan asks for (None: the station's)."""
        self.direction = tuple(direction) if direction is not None else self.station_direction

    def check_vector(self, vector, rate_T_per_min: float | None = None) -> tuple[float, float, float]:
        """Every limit a target vector must meet, before anything is sent: the vector limit,
        each axis's field and current, the rate. Returns the vector as floats."""
        vector = tuple(float(v) for v in vector)
        if len(vector) != 3 or not all(math.isfinite(v) for v in vector):
            raise LimitError(f"{self.name}: field vector {vector!r} is not three finite numbers")
        self.limit.check(vector, self.name)
        for a, b in zip(AXES, vector):
            ax = self.axes[a]
            ax.limits.check_field(b, f"{self.name} ({a} axis, {ax.name})")
            ax.limits.check_current(b / ax.coil_constant_T_per_A, f"{self.name} ({a} axis, {ax.name})")
        if rate_T_per_min is not None:
            self.limits.check_ramp_rate(rate_T_per_min, self.name)
        return vector

    # readings ------------------------------------------------------------------------------
    def read_field_vector_T(self) -> tuple[float, float, float]:
        return tuple(self.axes[a].read_field_T() for a in AXES)

    def read_vector_row(self) -> tuple:
        """(field along the direction, Bx, By, Bz, Ix, Iy, Iz): the three supplies asked
        together where their roles allow (every question out before the first answer)."""
        pending = [self.axes[a].begin_read("read_field_and_current") for a in AXES]
        values = [p.finish() for p in pending]
        b = [v[0] for v in values]
        d = self.direction
        return (b[0] * d[0] + b[1] * d[1] + b[2] * d[2], *b, *(v[1] for v in values))

    def read_field_T(self) -> float:
        """The field along the present direction, B.d."""
        b, d = self.read_field_vector_T(), self.direction
        return b[0] * d[0] + b[1] * d[1] + b[2] * d[2]

    def read_current_A(self) -> float:
        """A vector magnet has three currents (read_vector_row, or each axis): NaN here."""
        return math.nan

    def read_field_and_current(self) -> tuple[float, float]:
        return self.read_field_T(), math.nan

    def state(self) -> str:
        return ", ".join(f"{a}: {self.axes[a].state()}" for a in AXES)

    # ramps ----------------------------------------------------------------------------------
    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        """A scalar field along the present direction."""
        if not isinstance(field_T, (int, float)) or not math.isfinite(field_T):
            raise LimitError(f"{self.name}: field {field_T!r} is not a finite number")
        d = self.direction
        self.start_ramp_vector((field_T * d[0], field_T * d[1], field_T * d[2]), rate_T_per_min,
                               keep_direction=True)

    def start_ramp_vector(self, vector, rate_T_per_min: float, keep_direction: bool = False) -> None:
        """Begin the ramp to a field vector; returns at once. The axes that decrease go first;
        is_settled() starts the others once they hold."""
        target = self.check_vector(vector, rate_T_per_min)
        self.check_quench()
        present = self.read_field_vector_T()
        tol = self.config.field_tolerance_T
        first: dict[str, float] = {}
        second: dict[str, float] = {}
        for a, now, goal in zip(AXES, present, target):
            if abs(goal - now) <= tol:
                continue
            # an axis that changes sign passes through magnitudes up to the larger of its two
            # ends, so it belongs with the set of that end: no stop at zero is needed
            if abs(goal) < abs(now):
                first[a] = goal
            else:
                second[a] = goal
        self._target = target
        self._rate = rate_T_per_min
        if not keep_direction:
            norm = math.sqrt(sum(v * v for v in target))
            if norm > tol:
                self.direction = tuple(v / norm for v in target)
        self._moving = set()
        self._pending = second if first else {}
        self._second_half = not first
        self._start_axes(first or second)

    def _start_axes(self, targets: dict[str, float]) -> None:
        """Start each axis's ramp, taking it off ``targets`` once its supply has it: a retry
        after an axis failed to answer starts only those not yet started."""
        for a in list(targets):
            ax = self.axes[a]
            ax.start_ramp(targets[a], min(self._rate, ax.limits.max_ramp_rate_T_per_min))
            self._moving.add(a)
            del targets[a]

    def is_settled(self) -> bool:
        """True once every axis of the ramp holds; the first time the decreasing axes hold, the
        increasing ones are started (and False is returned)."""
        for a in sorted(self._moving):
            if not self.axes[a].is_settled():
                return False
        if self._pending:
            self.check_quench()
            if not self._second_half:
                self._second_half = True
                self._moving = set()
            self._start_axes(self._pending)
            return False
        return True

    def pause_ramp(self) -> None:
        """Every axis holds where it is (the ramp's second part is dropped)."""
        self._pending = {}
        errors = []
        for a in AXES:
            try:
                self.axes[a].pause_ramp()
            except Exception as exc:   # every axis must be told, whatever one of them says
                errors.append(f"{a}: {exc}")
        if errors:
            raise InstrumentError(f"{self.name}: pausing failed on {'; '.join(errors)}")

    def check_quench(self) -> None:
        for a in AXES:
            self.axes[a].check_quench()

    # persistent switches (the axes that have one) -------------------------------------------
    @property
    def has_persistent_switch(self) -> bool:
        return any(ax.has_persistent_switch for ax in self.axes.values())

    def _switched(self) -> list:
        return [ax for ax in self.axes.values() if ax.has_persistent_switch]

    def switch_heater_is_on(self) -> bool:
        return all(ax.switch_heater_is_on() for ax in self._switched())

    def leave_persistent_mode(self, should_stop: StopCheck | None = None) -> str:
        return "; ".join(ax.leave_persistent_mode(should_stop) for ax in self._switched())

    def enter_persistent_mode(self, should_stop: StopCheck | None = None) -> str:
        return "; ".join(ax.enter_persistent_mode(should_stop) for ax in self._switched())

    def in_persistent_mode(self) -> bool:
        return any(ax.in_persistent_mode() for ax in self._switched())

    def read_magnet_current_A(self) -> float:
        return math.nan

    # the safe state ----------------------------------------------------------------------------
    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        """zero: every driven axis is started toward 0 T at once (all magnitudes decrease, so
        the vector stays within the limit), then each axis is brought to its own safe state
        (its heater rules, its waits). hold: each axis's hold. An axis that fails is reported
        and the others still go."""
        self._pending = {}
        start = ""
        if self.safe_state == "zero":
            try:   # for the account: each axis's own says where it was when its turn came
                start = "from (" + ", ".join(f"{b:.4g}" for b in self.read_field_vector_T()) + ") T "
            except Exception:
                start = ""
            for ax in self.axes.values():
                try:   # a quenched axis refuses (check_quench) and is left to its own safe state
                    if not ax.has_persistent_switch or ax.switch_heater_is_on():
                        ax.start_ramp(0.0, ax.safe_ramp_rate_T_per_min)
                except Exception:   # the axis's own safe state below tries again and reports
                    pass
        accounts, failures = [], []
        for a in AXES:
            try:
                accounts.append(f"{a}: {self.axes[a].go_to_safe_state(should_stop)}")
            except Exception as exc:
                failures.append(f"{a} ({self.axes[a].name}): {exc}")
        if failures:
            raise InstrumentError(f"{self.name}: not every axis reached its safe state: "
                                  f"{'; '.join(failures)} (the others: {'; '.join(accounts)})")
        if self.safe_state == "zero":
            return f"every axis started toward 0 T at once {start}then: " + "; ".join(accounts)
        return "; ".join(accounts)

    # the role's life ---------------------------------------------------------------------------
    def connect(self) -> list:
        """The axes connect as instruments of their own; nothing to open here."""
        return []

    def reconnect(self) -> None:
        """A transient failure inside a vector call came from one of the axes: open them again."""
        for ax in self.axes.values():
            ax.reconnect()

    def close(self) -> None:
        """The axes are closed as instruments of their own."""

    def snapshot(self) -> dict:
        return {"role": "field_source", "vector_magnet": True,
                "axes": {a: self.axes[a].name for a in AXES},
                "limit": self.limit.as_dict(), "direction": list(self.station_direction),
                "field_tolerance_T": self.config.field_tolerance_T}

    def wait_settled(self, timeout_s: float, should_stop: StopCheck | None = None,
                     poll_s: float = 0.02) -> bool:
        """Poll is_settled() (which moves the ramp on); False if stopped, InstrumentError on timeout."""
        end = time.monotonic() + timeout_s
        while not self.is_settled():
            if should_stop is not None and should_stop():
                return False
            if time.monotonic() > end:
                raise InstrumentError(f"{self.name}: not settled after {timeout_s:.1f} s ({self.state()})")
            time.sleep(poll_s)
        return True

"""Measurements that give a whole array at a point: an I-V curve from a source-meter, a lock-in
frequency scan. A plan written in Python asks for them in a step:

    yield step(field=b, measure=[iv_curve(currents_A=np.linspace(-1e-6, 1e-6, 41))])
    yield step(temperature_K=t, measure=[frequency_scan(frequencies_Hz=np.geomspace(10, 1e4, 61))])

Each measurement is a trace in the run file (its own NXdata group /entry/<name>, one row per
point, the measurement's axis as its second dimension; daq/storage.py) beside the point's
scalar row. Everything a measurement will send is checked against the station before anything
moves (currents against the source-meter's limits, frequencies against the lock-in's range);
it runs after the point has settled and before its scalar readings, with the engine's retries,
pause and abort; a source-meter a plan uses is brought to its safe state (source at zero,
output off) with the field source's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loopscope.daq.plans import MAX_SCAN_POINTS, PlanError
from loopscope.daq.storage import Column, Trace, TraceAxis


@dataclass(frozen=True)
class IVCurve:
    """Source each current in turn through the sample and read the voltage it develops."""

    currents_A: tuple[float, ...]
    instrument: str | None = None       # the station's source-meter; None: its only one
    name: str = "iv_curve"              # the trace: /entry/<name>
    role_kind = "source_meter"

    def trace(self) -> Trace:
        return Trace(self.name, TraceAxis("bias_current_A", "A", "current asked of the source-meter",
                                          self.currents_A),
                     [Column("sample_voltage_V", "V", "voltage across the sample"),
                      Column("sample_current_A", "A", "current through the sample, as measured"),
                      Column("in_compliance", "1", "1 where the source-meter was at its voltage compliance")])

    def check(self, where: str, instrument: str, info: dict) -> None:
        limit = info.get("max_current_A")
        biggest = max(self.currents_A, key=abs)
        if limit is not None and not abs(biggest) <= float(limit):
            raise PlanError(f"{where}: currents_A: {biggest:g} A is outside the limit of "
                            f"±{float(limit):g} A of {instrument}")

    def measure(self, runner, role) -> dict[str, np.ndarray]:
        current, voltage = runner._retrying(role, role.iv_curve, self.currents_A, runner._should_stop)
        runner._check_pause_and_abort()  # an abort may have cut the curve short: the run ends here
        flags = np.asarray(getattr(role, "last_iv_compliance", np.zeros(len(current))), dtype=float)
        return {"sample_voltage_V": voltage, "sample_current_A": current, "in_compliance": flags}


@dataclass(frozen=True)
class FrequencyScan:
    """Step the lock-in's reference through frequencies, reading X and Y at each once the
    lock-in has settled (settle_time_constants of its time constant, experiment time)."""

    frequencies_Hz: tuple[float, ...]
    instrument: str | None = None       # the lock-in; None: the first lock-in among the detectors
    settle_time_constants: float = 5.0
    name: str = "frequency_scan"
    role_kind = "lockin"

    def trace(self) -> Trace:
        return Trace(self.name, TraceAxis("drive_frequency_Hz", "Hz", "lock-in reference frequency of the scan",
                                          self.frequencies_Hz),
                     [Column("scan_x_V", "V", "lock-in X during the scan"),
                      Column("scan_y_V", "V", "lock-in Y during the scan")])

    def check(self, where: str, instrument: str, info: dict) -> None:
        from loopscope.daq.plan_against_station import frequency_range
        lo, hi = frequency_range(info)
        for key, f in (("frequencies_Hz (lowest)", min(self.frequencies_Hz)),
                       ("frequencies_Hz (highest)", max(self.frequencies_Hz))):
            if not lo <= f <= hi:
                raise PlanError(f"{where}: {key}: {f:g} Hz is outside the range {lo:g}..{hi:g} Hz of "
                                f"{instrument}")

    def measure(self, runner, role) -> dict[str, np.ndarray]:
        tau = runner._retrying(role, role.read_time_constant_s)
        wait_s = self.settle_time_constants * tau
        before = runner._retrying(role, role.read_frequency_Hz)
        x = np.full(len(self.frequencies_Hz), math.nan)
        y = np.full(len(self.frequencies_Hz), math.nan)
        try:
            for k, f in enumerate(self.frequencies_Hz):
                runner._check_pause_and_abort()
                runner._retrying(role, role.set_frequency_Hz, f)
                runner._sleep_experiment(wait_s)
                x[k], y[k] = runner._retrying(role, role.read_xy_V)
        finally:
            # the point's own readings (and the next point) see the reference the plan set
            runner._retrying(role, role.set_frequency_Hz, before)
        runner._sleep_experiment(wait_s)
        return {"scan_x_V": x, "scan_y_V": y}


Measurement = IVCurve | FrequencyScan


def iv_curve(currents_A, *, instrument: str | None = None, name: str = "iv_curve") -> IVCurve:
    """An I-V curve at the step: each of currents_A (A) sourced in turn, the voltage read."""
    return IVCurve(_values(currents_A, "currents_A", name), instrument, name)


def frequency_scan(frequencies_Hz, *, instrument: str | None = None, settle_time_constants: float = 5.0,
                   name: str = "frequency_scan") -> FrequencyScan:
    """A lock-in frequency scan at the step: X and Y at each of frequencies_Hz (Hz)."""
    values = _values(frequencies_Hz, "frequencies_Hz", name)
    if not all(f > 0 for f in values):
        raise PlanError(f"{name}: frequencies_Hz: every frequency must be positive")
    if not (isinstance(settle_time_constants, (int, float)) and settle_time_constants >= 0):
        raise PlanError(f"{name}: settle_time_constants: {settle_time_constants!r} must be a number >= 0")
    return FrequencyScan(values, instrument, float(settle_time_constants), name)


def _values(values, key: str, name: str) -> tuple[float, ...]:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise PlanError(f"{name}: {key}: {values!r:.60} is not a list of numbers") from None
    if array.ndim != 1 or array.size == 0:
        raise PlanError(f"{name}: {key}: give a non-empty 1-D list of numbers")
    if array.size > MAX_SCAN_POINTS:
        raise PlanError(f"{name}: {key}: {array.size:,} values; at most {MAX_SCAN_POINTS:,} per measurement")
    if not np.all(np.isfinite(array)):
        raise PlanError(f"{name}: {key}: every value must be a finite number")
    return tuple(float(v) for v in array)


def measurements_of(steps) -> list[Measurement]:
    """The distinct measurements of a plan's steps, one per trace name, in the order first
    asked; the same name must mean the same measurement (axis values, instrument) at every step:
    a trace has one axis for the whole run."""
    seen: dict[str, tuple[int, Measurement]] = {}
    for n, s in enumerate(steps):
        for m in s.measure or ():
            first = seen.get(m.name)
            if first is None:
                seen[m.name] = (n, m)
            elif first[1] != m:
                raise PlanError(f"step {n}: measure: {m.name!r} differs from the {m.name!r} of step {first[0]} "
                                f"(a trace keeps one axis for the whole run: give it another name)")
    return [m for _, m in seen.values()]


def resolve_instrument(m: Measurement, where: str, instruments: dict, detectors: list[str]) -> str:
    """The station's instrument a measurement uses: the one it names, else the first of its
    kind among the detectors, else the station's first of its kind."""
    from loopscope.daq.plan_against_station import _first_of_kind
    if m.instrument is None:
        among = [d for d in detectors if instruments[d][0] == m.role_kind]
        if among:
            return among[0]
    return _first_of_kind(instruments, m.role_kind, m.instrument, where,
                          key=(m.name, "instrument") if m.instrument is not None else (m.name,))

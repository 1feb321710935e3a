"""Temperatures: the plan's `temperature` block reached before the first point, and the
temperature of a point (a grid's outer axis, a code plan's step) set and waited for.
"""
from __future__ import annotations

import time

from loopscope.daq.plan_against_station import _first_of_kind
from loopscope.daq.settling import POLL_INTERVAL_S
from loopscope.instruments.roles import InstrumentError, role_kind



class TemperatureSteps:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _set_temperature(self, temperature_K: float) -> None:
        m = self.plan.model
        outer = m.temperature_steps if self.plan.kind == "code" else m.outer
        for th in self._roles_of("thermometer"):
            if outer.heater_range is not None and hasattr(th, "set_heater_range"):
                self._retrying(th, th.set_heater_range, outer.heater_range)
            self._retrying(th, th.set_setpoint_K, temperature_K)
            if outer.tolerance is not None:
                self._wait_for_temperature(
                    th, temperature_K, outer.tolerance, self.plan.model.settle.timeout_s,
                    f"{th.name}: temperature not within {outer.tolerance:g} K of {temperature_K:g} K in time")
        if outer.settle_s:
            self._sleep_experiment(outer.settle_s)

    def _temperature_first(self) -> None:
        t = self.plan.model.temperature
        th = self.station.roles[_first_of_kind(
            {n: (role_kind(r), {}) for n, r in self.station.roles.items()}, "thermometer", None, "temperature")]
        if t.heater_range is not None and hasattr(th, "set_heater_range"):
            self._retrying(th, th.set_heater_range, t.heater_range)
        self._retrying(th, th.set_setpoint_K, t.setpoint_K)
        self._wait_for_temperature(th, t.setpoint_K, t.tolerance_K, t.timeout_s,
                                   f"{th.name}: not within {t.tolerance_K:g} K of {t.setpoint_K:g} K "
                                   f"after {t.timeout_s:g} s")
        if t.settle_s:
            self._sleep_experiment(t.settle_s)

    def _wait_for_temperature(self, th, target_K: float, tolerance_K: float, timeout_s: float,
                              too_late: str) -> None:
        """Until the thermometer reads within tolerance of target (experiment timeout)."""
        deadline = time.monotonic() + timeout_s / self.time_scale
        while abs(self._retrying(th, th.read_temperature_K) - target_K) > tolerance_K:
            if time.monotonic() > deadline:
                raise InstrumentError(too_late)
            self._sleep_wall(POLL_INTERVAL_S * 5)

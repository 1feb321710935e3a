"""Cryostat: sample temperature with a first-order lag toward what the heater can hold."""
from __future__ import annotations

import math


class Cryostat:
    #: heater range index -> name (LakeShore 336 outputs 1 and 2)
    RANGES = ("off", "low", "medium", "high")

    def __init__(self, base_temperature_K: float, time_constant_s: float,
                 max_temperature_K_per_range: list[float], initial_temperature_K: float | None = None):
        self.base_K = base_temperature_K
        self.tau = time_constant_s
        self.max_K = list(max_temperature_K_per_range)   # for ranges low, medium, high
        self.temperature_K = base_temperature_K if initial_temperature_K is None else initial_temperature_K
        self.setpoint_K = base_temperature_K
        self.heater_range = 0
        self.manual_output_pct = 0.0
        self.pid = (50.0, 20.0, 0.0)
        self.mode = 1          # 1 closed loop PID, 3 open loop
        #: the temperature the heater holds at full output, for a controller without heater
        #: ranges (the Mercury iTC sets it from its heater's voltage limit); None: the range's
        #: entry of max_K (the Lake Shore 336)
        self.full_power_K: float | None = None

    def _t_max(self) -> float:
        if self.full_power_K is not None:
            return self.full_power_K
        return self.max_K[self.heater_range - 1]

    def equilibrium_K(self) -> float:
        if self.heater_range == 0:
            return self.base_K
        t_max = self._t_max()
        if self.mode == 3:   # open loop: manual output, power ~ T^2 - T_base^2
            p = self.manual_output_pct / 100.0
            return math.sqrt(self.base_K ** 2 + p * (t_max ** 2 - self.base_K ** 2))
        return max(self.base_K, min(self.setpoint_K, t_max))

    def heater_output_pct(self) -> float:
        if self.heater_range == 0:
            return 0.0
        if self.mode == 3:
            return self.manual_output_pct
        t_max = self._t_max()
        t = self.temperature_K
        p = (t ** 2 - self.base_K ** 2) / (t_max ** 2 - self.base_K ** 2)
        # while warming the loop pushes harder (proportional term), while cooling less
        p += (self.equilibrium_K() - t) / max(t_max, 1e-9) * self.pid[0] / 10
        return 100.0 * min(1.0, max(0.0, p))

    def advance(self, dt: float) -> None:
        teq = self.equilibrium_K()
        self.temperature_K = teq + (self.temperature_K - teq) * math.exp(-dt / self.tau)

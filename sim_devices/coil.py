"""Helmholtz coil pair on a bipolar supply (Kepco BOP): an L-R load behind a current source
with voltage compliance, so the current slews at most (V_compliance - I R)/L."""
from __future__ import annotations

import math

from .fields import helmholtz_constant


class HelmholtzCoil:
    def __init__(self, radius_m: float, turns: int, inductance_H: float, resistance_ohm: float,
                 loop_time_constant_s: float, max_current_A: float, max_voltage_V: float):
        self.radius_m = radius_m
        self.turns = turns
        self.coil_constant_T_per_A = helmholtz_constant(radius_m, turns)
        self.L = inductance_H
        self.R = resistance_ohm
        self.tau_loop = loop_time_constant_s
        self.max_current_A = max_current_A
        self.max_voltage_V = max_voltage_V
        # supply state
        self.mode = "CURR"          # CURR or VOLT
        self.output_on = False
        self.current_setpoint_A = 0.0
        # power-up compliance at full scale, so a current setpoint works without a VOLT command
        self.voltage_setpoint_V = max_voltage_V
        self.current_A = 0.0
        self.didt = 0.0

    @property
    def field_T(self) -> float:
        return self.coil_constant_T_per_A * self.current_A

    @property
    def voltage_V(self) -> float:
        return self.R * self.current_A + self.L * self.didt

    def _target_and_compliance(self):
        if not self.output_on:
            return 0.0, self.max_voltage_V
        if self.mode == "CURR":
            return self.current_setpoint_A, abs(self.voltage_setpoint_V)
        # voltage mode: steady current V/R, limited by the current setpoint (compliance)
        i_lim = abs(self.current_setpoint_A)
        tgt = max(-i_lim, min(i_lim, self.voltage_setpoint_V / self.R))
        return tgt, abs(self.voltage_setpoint_V)

    def advance(self, dt: float) -> None:
        """Piecewise closed form: slew-limited L/R charge, then the loop's exponential approach."""
        target, v_c = self._target_and_compliance()
        # what the compliance lets the load carry at all
        i_max = v_c / self.R if self.R > 0 else math.inf
        target_eff = max(-i_max, min(i_max, target))
        t = 0.0
        i = self.current_A
        didt = 0.0
        for _ in range(4):
            if t >= dt:
                break
            err = target_eff - i
            if abs(err) < 1e-12:
                i, didt = target_eff, 0.0
                break
            s = 1.0 if err > 0 else -1.0
            v_end = s * v_c        # voltage at compliance, pushing toward the target
            i_inf = v_end / self.R
            slew = (v_end - self.R * i) / self.L
            loop_rate = err / self.tau_loop
            if abs(loop_rate) <= abs(slew):
                # loop-limited: exponential approach with the loop time constant
                rem = dt - t
                i = target_eff - err * math.exp(-rem / self.tau_loop)
                didt = (target_eff - i) / self.tau_loop
                t = dt
                break
            # slew-limited: I(t) = i_inf + (i - i_inf) exp(-R t / L), until loop takes over:
            # (target - I)/tau = (v_end - R I)/L  ->  I_sw
            tau_lr = self.L / self.R
            i_sw = (target_eff / self.tau_loop - v_end / self.L) / (1 / self.tau_loop - self.R / self.L)
            # time to reach i_sw
            frac = (i_sw - i_inf) / (i - i_inf)
            t_sw = -tau_lr * math.log(frac) if frac > 0 else math.inf
            rem = dt - t
            if t_sw >= rem:
                i = i_inf + (i - i_inf) * math.exp(-rem / tau_lr)
                didt = (v_end - self.R * i) / self.L
                t = dt
                break
            # from the switch point on, the loop's exponential approach
            t += t_sw
            rem = dt - t
            err = target_eff - i_sw
            i = target_eff - err * math.exp(-rem / self.tau_loop)
            didt = (target_eff - i) / self.tau_loop
            t = dt
            break
        self.current_A, self.didt = i, didt

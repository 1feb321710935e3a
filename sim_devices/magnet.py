"""Superconducting magnet with persistent switch, driven by an AMI 430-like supply.

Supply current I_s and magnet current I_m are distinct: with the switch heater ON the switch
is normal and I_m follows I_s; with it OFF (persistent mode) I_m stays (decaying with
tau = L/R_joint) while the leads may ramp on their own. Quench: |I_m| > I_max, a ramp faster
than the magnet tolerates, heater ON with |I_s - I_m| above a tolerance, an optional
quench field (fault injection), or an explicit QU 1. A quench dumps I_m with a short time
constant and the magnet voltage spikes (L dI/dt).
"""
from __future__ import annotations

import math

# AMI 430 state codes
RAMPING, HOLDING, PAUSED, MANUAL_UP, MANUAL_DOWN, ZEROING, QUENCH, AT_ZERO, HEATING, COOLING = range(1, 11)
#: ramp segments the AMI 430 holds
MAX_SEGMENTS = 10


class SuperconductingMagnet:
    def __init__(self, coil_constant_T_per_A: float, inductance_H: float, max_current_A: float,
                 max_ramp_rate_A_per_s: float, persistent_decay_tau_s: float,
                 switch_installed: bool, heater_warm_s: float, heater_cool_s: float,
                 mismatch_tolerance_A: float, quench_dump_tau_s: float,
                 voltage_limit_V: float, ramp_rate_A_per_s: float, current_limit_A: float):
        self.coil_constant = coil_constant_T_per_A
        self.L = inductance_H
        self.max_current_A = max_current_A
        self.max_ramp_rate = max_ramp_rate_A_per_s
        self.tau_persistent = persistent_decay_tau_s
        self.switch_installed = switch_installed
        self.heater_warm_s = heater_warm_s
        self.heater_cool_s = heater_cool_s
        self.mismatch_tol = mismatch_tolerance_A
        self.dump_tau = quench_dump_tau_s
        # supply settings
        self.voltage_limit_V = voltage_limit_V
        # ramp segments, as the AMI 430 keeps them: up to 10 of [rate A/s, upper bound A];
        # segment k applies from the bound of k-1 (0 A for the first) to its own, the last
        # in use beyond its bound too; segment_count of them are in use (RAMP:RATE:SEG)
        self.segments = [[ramp_rate_A_per_s, current_limit_A] for _ in range(MAX_SEGMENTS)]
        self.segment_count = 1
        self.current_limit_A = current_limit_A
        self.target_A = 0.0
        # state
        self.I_s = 0.0
        self.I_m = 0.0
        self.dIm_dt = 0.0
        self.state = PAUSED
        self.heater_on = not switch_installed   # no switch: magnet always follows the supply
        self._heater_timer = 0.0
        self.quenched = False
        self.quench_reason = ""
        self.quench_field_T: float | None = None   # fault injection: quench when |B| passes this
        self.quench_field_after_s = 0.0             # ... but only from this simulated time on
        self.t = 0.0
        self._zeroing = False

    # ----------------------------------------------------------------- derived quantities
    @property
    def field_T(self) -> float:
        return self.coil_constant * self.I_m

    @property
    def magnet_voltage_V(self) -> float:
        return self.L * self.dIm_dt

    @property
    def supply_voltage_V(self) -> float:
        return self.magnet_voltage_V if self.heater_on else 0.0

    @property
    def ramp_rate(self) -> float:
        """Segment 1's rate, A/s."""
        return self.segments[0][0]

    @ramp_rate.setter
    def ramp_rate(self, rate: float) -> None:
        self.segments[0][0] = rate

    def segment_at(self, current_A: float, outward: bool = True) -> int:
        """Index of the segment in use at current_A, moving away from zero (outward) or toward
        it: a bound belongs to the segment below it."""
        i, n = abs(current_A), self.segment_count
        for k in range(n - 1):
            upper = self.segments[k][1]
            if (upper > i) if outward else (upper >= i):
                return k
        return n - 1

    def _ramp_step(self, direction: float) -> tuple[float, float]:
        """(rate A/s, A to the edge of its segment) for a move from I_s in direction (+-1)."""
        outward = self.I_s == 0.0 or (direction > 0) == (self.I_s > 0)
        k = self.segment_at(self.I_s, outward)
        i, n = abs(self.I_s), self.segment_count
        if outward:
            room = self.segments[k][1] - i if k < n - 1 else math.inf
        else:
            room = i - (self.segments[k - 1][1] if k > 0 else 0.0)
        rate = self.segments[k][0]
        if self.heater_on or not self.switch_installed:   # the leads alone: no inductive load
            rate = min(rate, self.voltage_limit_V / self.L)
        return rate, room

    def ramp_target(self) -> float:
        """Where the supply current is heading, A: zero while zeroing, +-current limit in the
        manual up/down modes (the 430's INCR/DECR), the target setpoint otherwise."""
        if self._zeroing:
            return 0.0
        if self.state == MANUAL_UP:
            return self.current_limit_A
        if self.state == MANUAL_DOWN:
            return -self.current_limit_A
        return self.target_A

    def effective_ramp_rate(self) -> float:
        """The rate a ramp from the present supply current toward the target runs at, A/s."""
        target = self.ramp_target()
        return self._ramp_step(1.0 if target >= self.I_s else -1.0)[0]

    # ----------------------------------------------------------------- commands
    def quench(self, reason: str) -> None:
        if self.state != QUENCH:
            self.state = QUENCH
            self.quenched = True
            self.quench_reason = reason
            self.I_s = 0.0
            self._zeroing = False

    def reset_quench(self) -> None:
        if self.state == QUENCH:
            self.quenched = False
            self.state = PAUSED

    def ramp(self) -> str | None:
        if self.state in (QUENCH,):
            return "cannot ramp: magnet quenched"
        if self.state in (HEATING, COOLING):
            return "cannot ramp while the persistent switch is heating or cooling"
        self._zeroing = False
        self.state = RAMPING
        return None

    def pause(self) -> None:
        if self.state not in (QUENCH, HEATING, COOLING):
            self.state = PAUSED
            self._zeroing = False

    def manual(self, up: bool) -> str | None:
        """MANUAL UP / MANUAL DOWN (INCR/DECR): ramp toward +-current limit until PAUSE."""
        if self.state == QUENCH:
            return "cannot ramp: magnet quenched"
        if self.state in (HEATING, COOLING):
            return "cannot ramp while the persistent switch is heating or cooling"
        self._zeroing = False
        self.state = MANUAL_UP if up else MANUAL_DOWN
        return None

    def zero(self) -> str | None:
        if self.state == QUENCH:
            return "cannot zero: magnet quenched"
        if self.state in (HEATING, COOLING):
            return "cannot zero while the persistent switch is heating or cooling"
        self._zeroing = True
        self.state = ZEROING
        return None

    def set_heater(self, on: bool) -> str | None:
        if not self.switch_installed:
            return "no persistent switch installed"
        if self.state == QUENCH:
            return "magnet quenched"
        if on == self.heater_on and self.state not in (HEATING, COOLING):
            return None
        if on:
            if abs(self.I_s - self.I_m) > self.mismatch_tol:
                self.heater_on = True
                self.quench(f"switch heater ON with supply {self.I_s:.4g} A vs magnet {self.I_m:.4g} A")
                return None
            self.heater_on = True
            self.state = HEATING
            self._heater_timer = self.heater_warm_s
        else:
            self.heater_on = False
            self.state = COOLING
            self._heater_timer = self.heater_cool_s
        return None

    # ----------------------------------------------------------------- time evolution
    def advance(self, dt: float, total_field_T: float | None = None) -> None:
        if dt <= 0:
            return
        self.t += dt
        if self.state == QUENCH:
            i0 = self.I_m
            self.I_m = i0 * math.exp(-dt / self.dump_tau)
            self.dIm_dt = (self.I_m - i0) / dt
            return
        if self.state in (HEATING, COOLING):
            step = min(dt, self._heater_timer)
            self._heater_timer -= step
            self._evolve_persistent(step)
            if self._heater_timer <= 0:
                self.state = PAUSED
            rest = dt - step
            if rest > 0:
                self.t -= rest       # the recursive call counts it again
                self.advance(rest, total_field_T)
            return
        if self.state in (RAMPING, ZEROING, MANUAL_UP, MANUAL_DOWN):
            target = self.ramp_target()
            i_s_old = self.I_s
            left, fastest, reached = dt, 0.0, self.I_s == target
            for _ in range(2 * MAX_SEGMENTS + 2):   # one pass per segment edge crossed
                d = target - self.I_s
                if d == 0.0:
                    reached = True
                    break
                if left <= 0.0:
                    break
                rate, room = self._ramp_step(d)
                if rate <= 0:
                    break
                fastest = max(fastest, rate)
                dist = min(abs(d), room)
                t_need = dist / rate
                if left >= t_need:
                    left -= t_need
                    if dist == abs(d):
                        self.I_s = target
                    else:   # onto the segment's edge exactly, so the next pass starts past it
                        outward = self.I_s == 0.0 or (d > 0) == (self.I_s > 0)
                        edge = abs(self.I_s) + room if outward else abs(self.I_s) - room
                        self.I_s = math.copysign(edge, d if self.I_s == 0.0 else self.I_s)
                else:
                    self.I_s += math.copysign(rate * left, d)
                    left = 0.0
            if self.heater_on:
                self.I_m = self.I_s
                self.dIm_dt = (self.I_s - i_s_old) / dt
                # a ramp faster than the magnet tolerates quenches it
                if fastest > self.max_ramp_rate * (1 + 1e-9):
                    self.quench(f"ramped at {fastest:.4g} A/s, above the magnet's {self.max_ramp_rate:.4g} A/s")
                    return
            else:
                self._evolve_persistent(dt)
            if reached and self.state in (RAMPING, ZEROING):   # manual modes stay at the limit
                if self._zeroing:
                    self.state = AT_ZERO
                    self._zeroing = False
                else:
                    self.state = HOLDING
        else:
            if self.heater_on:
                self.I_m = self.I_s
                self.dIm_dt = 0.0
            else:
                self._evolve_persistent(dt)
        self._check_limits(total_field_T)

    def _evolve_persistent(self, dt: float) -> None:
        if self.heater_on and self.state != COOLING:
            self.I_m = self.I_s
            self.dIm_dt = 0.0
            return
        i0 = self.I_m
        self.I_m = i0 * math.exp(-dt / self.tau_persistent)
        self.dIm_dt = (self.I_m - i0) / dt if dt > 0 else 0.0

    def _check_limits(self, total_field_T: float | None) -> None:
        if abs(self.I_m) > self.max_current_A * (1 + 1e-9):
            self.quench(f"magnet current {self.I_m:.4g} A above its critical {self.max_current_A:.4g} A")
        elif (self.quench_field_T is not None and total_field_T is not None
              and self.t >= self.quench_field_after_s and abs(total_field_T) >= self.quench_field_T):
            self.quench(f"injected quench at |B| = {abs(self.field_T):.4g} T")

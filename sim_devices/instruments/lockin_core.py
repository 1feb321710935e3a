"""What SR830 and SR860 share: the cantilever seen through a lock-in.

The reference (internal) drives the cantilever piezo at FREQ with SLVL. Two first-order stages
take the output to the new steady state after any change: the oscillator's own ring-down
(tau = Q / (pi f0)) and the lock-in's time-constant filter. Both are advanced in closed form
between queries (target held constant over the interval).
"""
from __future__ import annotations

import cmath
import math


class LockinCore:
    def __init__(self, world, rng, noise_density_V_per_rtHz: float):
        self.world = world
        self.rng = rng
        self.noise_density = noise_density_V_per_rtHz
        self.frequency = 2000.0
        self.amplitude = 0.1
        self.phase_deg = 0.0
        self.time_constant = 0.1
        self.slope_db = 6
        self.harmonic = 1
        self.osc = 0j           # oscillator complex amplitude (V at the detector)
        self.out = 0j           # lock-in filter output (before phase rotation)
        self.t_last = None
        self.f_res_last = None

    def target(self) -> complex:
        cant = self.world.cantilever
        f_res = self.world.cantilever_resonance_Hz()
        if cant.frequency_noise_Hz > 0:
            f_res += float(self.rng.normal(0.0, cant.frequency_noise_Hz))
        self.f_res_last = f_res
        if self.harmonic != 1:
            return 0j
        return cant.response(self.frequency, self.amplitude, f_res)

    def update(self) -> None:
        t = self.world.t
        tgt = self.target()
        if self.t_last is None:
            self.osc = self.out = tgt
            self.t_last = t
            return
        dt = t - self.t_last
        self.t_last = t
        if dt <= 0:
            return
        t1 = self.world.cantilever.ring_time_s
        t2 = self.time_constant
        a1 = math.exp(-dt / t1)
        a2 = math.exp(-dt / t2)
        o0, y0 = self.osc, self.out
        # cascade x' = (T - x)/t1, y' = (x - y)/t2 with T constant: exact solution
        x = tgt + (o0 - tgt) * a1
        if abs(t1 - t2) < 1e-12 * max(t1, t2):
            y = tgt + (y0 - tgt) * a2 + (o0 - tgt) * (dt / t2) * a2
        else:
            y = tgt + (y0 - tgt) * a2 + (o0 - tgt) * t1 / (t1 - t2) * (a1 - a2)
        self.osc, self.out = x, y

    def enbw(self) -> float:
        n = {6: 1, 12: 2, 18: 3, 24: 4}[self.slope_db]
        return {1: 1 / 4, 2: 1 / 8, 3: 3 / 32, 4: 5 / 64}[n] / self.time_constant

    def xy(self) -> tuple[float, float]:
        """X, Y (V) in the lock-in's phase frame, with noise."""
        self.update()
        z = self.out * cmath.exp(-1j * math.radians(self.phase_deg))
        s = self.noise_density * math.sqrt(self.enbw())
        return z.real + float(self.rng.normal(0, s)), z.imag + float(self.rng.normal(0, s))

    def snapshot_values(self) -> dict:
        x, y = self.xy()
        return {"X": x, "Y": y, "R": math.hypot(x, y), "THETA": math.degrees(math.atan2(y, x)),
                "FREQ": self.frequency, "PHAS": self.phase_deg, "SAMP": self.amplitude}

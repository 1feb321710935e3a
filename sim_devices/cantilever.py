"""Torsional cantilever with rings on its tip (PHYSICS.md section 4, signal chains).

The resonance shifts by the rings' persistent currents,
  delta_f = -(f0 A^2 B^2 cos^2 theta / (2 k l^2)) sum_p (2 pi p/Phi0) I_p cos(2 pi p A B sin theta/Phi0 + phi_p),
plus a smooth background beta B^2 (the cantilever's own susceptibility). Driven at frequency f
with a piezo amplitude V_drive, the detected signal is a driven damped oscillator,
  V = g V_drive / (1 - (f/f_r)^2 + i f/(f_r Q)),
with g the static (f -> 0) gain.
"""
from __future__ import annotations

import math

from .rings import RingArray


class Cantilever:
    def __init__(self, f0_Hz, Q, spring_N_per_m, length_m, background_Hz_per_T2, static_gain_V_per_V,
                 frequency_noise_Hz, rings: RingArray):
        self.f0 = f0_Hz
        self.Q = Q
        self.k = spring_N_per_m
        self.l = length_m
        self.beta = background_Hz_per_T2
        self.gain = static_gain_V_per_V
        self.frequency_noise_Hz = frequency_noise_Hz
        self.rings = rings

    @property
    def ring_time_s(self) -> float:
        """Amplitude ring-down time Q/(pi f0)."""
        return self.Q / (math.pi * self.f0)

    def ring_shift_Hz(self, B: float, T: float) -> float:
        r = self.rings
        pref = self.f0 * (r.area_m2 * B * math.cos(r.theta_rad)) ** 2 / (2 * self.k * self.l ** 2)
        return -pref * r.didphi_weighted_cos(B, T)

    def resonance_Hz(self, B: float, T: float) -> float:
        return self.f0 + self.ring_shift_Hz(B, T) + self.beta * B * B

    def response(self, f_drive: float, v_drive: float, f_res: float) -> complex:
        u = f_drive / f_res
        return self.gain * v_drive / complex(1 - u * u, u / self.Q)

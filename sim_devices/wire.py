"""A normal-metal wire on the sample stage, wired four-terminal to the source-meter.

Its resistance follows the world's temperature T and field B:

    R(T, 0) = R_res + R_ph(T)
    R_ph(T) = (rho_A L / S) (T / Theta)^5 J5(Theta / T),  J5(y) = int_0^y x^5 / ((e^x - 1)(1 - e^-x)) dx
    R(T, B) = R(T, 0) [1 + (mu_eff(T) B)^2],  mu_eff(T) = mu_0 R_res / R(T, 0)

R_res = rho_0 L / S is the residual (impurity and grain-boundary) resistance, R_ph the
Bloch-Grueneisen phonon term with the resistive Debye temperature Theta, and the ordinary
magnetoresistance is Kohler's rule in its low-field (quadratic) form: Delta R / R(T, 0) is a
function of B / rho(T) only, so the effective mobility falls as the phonons add resistance
(mu_0 at T -> 0). The voltage across the voltage probes adds a thermoelectric offset (the
thermal EMFs of the cryostat's wiring: it does not reverse with the current) and the Johnson
noise of the wire, sqrt(4 k_B T R Delta f), for a measurement bandwidth Delta f.

The current leads add ``lead_resistance_ohm`` in a two-wire measurement (the source-meter's
SYST:RSEN OFF), never in a four-wire one.
"""
from __future__ import annotations

import math

from .constants import K_B


def bloch_gruneisen_j5(y: float, n: int = 400) -> float:
    """J5(y) = int_0^y x^5 / ((e^x - 1)(1 - e^-x)) dx (Simpson's rule; the integrand is x^3 near
    0 and decays as x^5 e^-x, so n = 400 panels give 1e-10 relative accuracy for any y)."""
    if y <= 0:
        return 0.0
    # beyond y = 60 the rest of the integral is below 1e-17 of J5(inf) = 5! zeta(5)
    y = min(y, 60.0)
    h = y / n
    total = 0.0
    for i in range(n + 1):
        x = i * h
        if x == 0.0:
            f = 0.0
        else:
            em = math.expm1(x)
            f = x ** 5 / (em * (-math.expm1(-x)))
        w = 1 if i in (0, n) else (4 if i % 2 else 2)
        total += w * f
    return total * h / 3


class MetalWire:
    def __init__(self, length_m: float, width_m: float, thickness_m: float,
                 residual_resistivity_ohm_m: float, phonon_resistivity_ohm_m: float,
                 debye_temperature_K: float, mobility_m2_per_Vs: float,
                 thermoelectric_offset_V: float, lead_resistance_ohm: float):
        if min(length_m, width_m, thickness_m) <= 0:
            raise ValueError("wire: length, width and thickness must be positive")
        self.geometry_per_m = length_m / (width_m * thickness_m)     # L / S
        self.R_res = residual_resistivity_ohm_m * self.geometry_per_m
        self.R_ph_coefficient = phonon_resistivity_ohm_m * self.geometry_per_m
        self.theta_K = debye_temperature_K
        self.mu0 = mobility_m2_per_Vs
        self.offset_V = thermoelectric_offset_V
        self.lead_ohm = lead_resistance_ohm
        self._ph_cache: tuple[float, float] | None = None

    def phonon_resistance_ohm(self, T: float) -> float:
        if T <= 0:
            return 0.0
        cached = self._ph_cache
        if cached is not None and cached[0] == T:     # readings at a settled temperature
            return cached[1]
        r = self.R_ph_coefficient * (T / self.theta_K) ** 5 * bloch_gruneisen_j5(self.theta_K / T)
        self._ph_cache = (T, r)
        return r

    def zero_field_resistance_ohm(self, T: float) -> float:
        return self.R_res + self.phonon_resistance_ohm(T)

    def resistance_ohm(self, T: float, B: float) -> float:
        r0 = self.zero_field_resistance_ohm(T)
        mu = self.mu0 * self.R_res / r0 if r0 > 0 else self.mu0
        return r0 * (1.0 + (mu * B) ** 2)

    @staticmethod
    def johnson_noise_V(T: float, R: float, bandwidth_Hz: float) -> float:
        return math.sqrt(4.0 * K_B * max(T, 0.0) * R * bandwidth_Hz)

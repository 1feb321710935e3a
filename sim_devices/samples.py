"""Samples chosen by configuration. Each gives a magnetic moment (A m^2) from the applied field
B (T), the temperature T (K) and the simulated time t (s); the SQUID sees flux = coupling x moment
(ring arrays are read through their current instead, see world.py)."""
from __future__ import annotations

import math

import numpy as np

from .constants import K_B, MU_0, MU_B
from .fields import bound_current_loops, field_of_loops, moment_of_loops


# Below |x| = 2 the Langevin function comes from Lambert's continued fraction
#   L(x) = coth x - 1/x = x / (3 + x^2 / (5 + x^2 / (7 + ...)))
# (all terms positive: no cancellation, a few ulp), above it from coth x - 1/x, whose
# cancellation costs (coth x + 1/x) / L(x) <= 3 ulp there (it was 3 eps / x^2 near zero field).
# 16 levels: the truncated tail at x = 2 is ~ 4^16 / (33!!)^2 < 1e-25 of the value.
_CF_EDGE = 2.0
_CF_DEPTH = 16


def _langevin_array(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    small = ax < _CF_EDGE
    xs = np.where(small, x, 0.0)
    x2 = xs * xs
    den = np.full_like(xs, 2.0 * _CF_DEPTH + 3.0)
    for n in range(_CF_DEPTH, 0, -1):
        den = (2.0 * n + 1.0) + x2 / den
    cf = xs / den
    xl = np.where(small, 1.0, x)
    with np.errstate(over="ignore"):
        direct = 1.0 / np.tanh(xl) - 1.0 / xl
    return np.where(small, cf, direct)


def brillouin(J: float, x):
    """B_J(x); J=1/2 gives tanh(x). Odd in x, finite at x=0.

    Written as a L(a x) - b L(b x) (a = (2J+1)/2J, b = 1/2J): the 1/x poles of the two coth
    terms cancel exactly in the algebra, and L has no cancellation (see above), so B_J keeps
    ~1e-15 relative from zero field (high temperature) to saturation."""
    x = np.asarray(x, dtype=float)
    a = (2 * J + 1) / (2 * J)
    b = 1 / (2 * J)
    return a * _langevin_array(a * x) - b * _langevin_array(b * x)


def langevin(x):
    """L(x) = coth x - 1/x, ~1e-15 relative for every x (continued fraction below |x| = 2)."""
    return _langevin_array(np.asarray(x, dtype=float))


def langevin_scalar(x: float) -> float:
    """L(x) for one float, without numpy's machinery (the soft core calls it a few times per
    integration step: 40 steps per a of field change, at every query of the lab)."""
    if abs(x) < 0.1:
        # series: 1/tanh(x) - 1/x loses digits to cancellation here; the next term, 2x^9/93555,
        # is below 1e-12 of the value
        x2 = x * x
        return x * (1 / 3 - x2 * (1 / 45 - x2 * (2 / 945 - x2 / 4725)))
    return 1 / math.tanh(x) - 1 / x


class Sample:
    kind = "none"

    def moment_Am2(self, B: float, T: float, t: float) -> float:
        return 0.0

    def advance_field(self, B: float) -> None:
        """History-dependent samples integrate their state along the field path."""


class UniformCylinder(Sample):
    kind = "uniform_cylinder"

    def __init__(self, radius_m, length_m, magnetization_A_per_m):
        self.R, self.L, self.M = radius_m, length_m, magnetization_A_per_m

    def loops(self, n_z=400):
        return bound_current_loops(lambda s: np.full_like(np.asarray(s, float), self.M),
                                   lambda s: np.zeros_like(np.asarray(s, float)),
                                   self.R, self.L, n_s=2, n_z=n_z)

    def field_T(self, rho, z):
        r, zz, i = self.loops()
        return field_of_loops(r, zz, i, rho, z)

    def moment_Am2(self, B, T, t):
        return self.M * math.pi * self.R ** 2 * self.L


class GradedCylinder(Sample):
    """M(s) = k s^2 z-hat: J_b = -2 k s phi-hat inside, K_b = k R^2 phi-hat on the side."""
    kind = "graded_cylinder"

    def __init__(self, radius_m, length_m, k_A_per_m3):
        self.R, self.L, self.k = radius_m, length_m, k_A_per_m3

    def loops(self, n_s=48, n_z=200):
        return bound_current_loops(lambda s: self.k * np.asarray(s) ** 2,
                                   lambda s: 2 * self.k * np.asarray(s), self.R, self.L, n_s, n_z)

    def field_T(self, rho, z):
        r, zz, i = self.loops()
        return field_of_loops(r, zz, i, rho, z)

    def axis_field_T(self, z, n_s=64):
        """On-axis B_z: the side current is a finite solenoid (n I = k R^2), the volume current a
        nest of finite solenoids (n I = -2 k s ds), each in closed form; exact inside the body too,
        where summing discrete loops converges slowly."""
        from .fields import gauss_legendre, uniform_cylinder_axis_closed_form as solenoid
        z = np.asarray(z, dtype=float)
        b = solenoid(z, self.R, self.L, self.k * self.R ** 2)
        ss, ws = gauss_legendre(0.0, self.R, n_s)
        for s_, w_ in zip(ss, ws):
            b = b + solenoid(z, s_, self.L, -2 * self.k * s_ * w_)
        return b

    def moment_Am2(self, B, T, t):
        r, _, i = self.loops()
        return moment_of_loops(r, i)


class Paramagnet(Sample):
    """Brillouin paramagnet (n, g, J) plus a temperature-independent diamagnetic background."""
    kind = "paramagnet"

    def __init__(self, n_per_m3, g, J, chi_dia, volume_m3):
        self.n, self.g, self.J, self.chi_dia, self.V = n_per_m3, g, J, chi_dia, volume_m3

    def magnetization(self, B, T):
        x = self.g * MU_B * self.J * np.asarray(B, float) / (K_B * T)
        return self.n * self.g * MU_B * self.J * brillouin(self.J, x) + self.chi_dia * np.asarray(B, float) / MU_0

    def moment_Am2(self, B, T, t):
        return float(self.magnetization(B, T) * self.V)


class SoftCore(Sample):
    """Jiles-Atherton soft-magnetic core (Ms, a, k, c, alpha), integrated in small steps of H."""
    kind = "soft_core"

    def __init__(self, Ms, a, k, c, alpha, volume_m3, max_step_A_per_m=None):
        self.Ms, self.a, self.k, self.c, self.alpha, self.V = Ms, a, k, c, alpha, volume_m3
        self.dH_max = max_step_A_per_m or a / 40
        self.H = 0.0
        self.M_irr = 0.0
        self.M = 0.0

    def _man(self, He):
        return self.Ms * langevin_scalar(He / self.a)

    def advance_field(self, B: float) -> None:
        H_new = B / MU_0
        dH_total = H_new - self.H
        n = max(1, int(math.ceil(abs(dH_total) / self.dH_max)))
        dH = dH_total / n
        delta = 1.0 if dH > 0 else -1.0
        for _ in range(n):
            He = self.H + self.alpha * self.M
            man = self._man(He)
            diff = man - self.M_irr
            if delta * diff > 0:
                dmirr = diff / (delta * self.k - self.alpha * diff) * dH
                self.M_irr += dmirr
            self.H += dH
            self.M = (1 - self.c) * self.M_irr + self.c * self._man(self.H + self.alpha * self.M)
        self.H = H_new

    def moment_Am2(self, B, T, t):
        return self.M * self.V


class SuperconductingLoop(Sample):
    """Trapped current I(t) = I0 exp(-t/tau) [1 - S ln(1 + t/t0)] in a loop of radius r."""
    kind = "sc_loop"

    def __init__(self, radius_m, trapped_current_A, tau_s, creep_rate_S, t0_s):
        self.r, self.I0, self.tau, self.S, self.t0 = radius_m, trapped_current_A, tau_s, creep_rate_S, t0_s

    def current_A(self, t):
        return self.I0 * math.exp(-t / self.tau) * (1 - self.S * math.log1p(t / self.t0))

    def moment_Am2(self, B, T, t):
        return self.current_A(t) * math.pi * self.r ** 2

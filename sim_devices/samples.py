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
    """Jiles-Atherton soft-magnetic core (Ms, a, k, c, alpha) of demagnetizing factor N.

    The domain walls feel the effective field H_e = H_int + alpha M with H_int = H_app - N M
    (the demagnetizing field -N M is a mean field of macroscopic origin, like alpha M), so
    H_e = H_app + (alpha - N) M. Jiles & Atherton's law for the irreversible part,
    dM_irr/dH_e = (M_an - M_irr)/(delta k), with dH_e = dH_app + (alpha - N) dM_irr (their
    approximation dM ~ dM_irr in the feedback), gives along the applied field

        dM_irr/dH_app = (M_an - M_irr) / (delta k - (alpha - N)(M_an - M_irr)),

    zero while M_an - M_irr opposes the sweep; M = (1 - c) M_irr + c M_an, M_an = Ms L(H_e/a),
    solved for M at every stage (Newton on a monotone function). Integrated to convergence by an
    adaptive Dormand-Prince 5(4) step in H_app (tolerance ~1e-12 Ms); the lab needs no
    smoothness in the parameters, only the right loop."""
    kind = "soft_core"

    def __init__(self, Ms, a, k, c, alpha, volume_m3, demagnetizing_factor=0.0, tolerance=1e-12):
        self.Ms, self.a, self.k, self.c, self.alpha, self.V = Ms, a, k, c, alpha, volume_m3
        self.N = demagnetizing_factor
        self.alpha_applied = alpha - demagnetizing_factor   # the feedback seen along H_app
        self.tol = tolerance * Ms
        self.H = 0.0
        self.M_irr = 0.0
        self.M = 0.0
        self.h_try = min(a, k) / 4     # carried between calls (the adaptive step's last size)

    def _total(self, H, m_irr, guess):
        """M solving M = (1-c) m_irr + c Ms L((H + alpha' M)/a): g(M) is increasing while
        c Ms alpha'/(3a) < 1 (always for alpha' <= 0), so Newton from the last M converges."""
        Ms, a, c, al = self.Ms, self.a, self.c, self.alpha_applied
        m = guess
        for _ in range(50):
            x = (H + al * m) / a
            if abs(x) < 0.1:
                x2 = x * x
                lv = x * (1 / 3 - x2 * (1 / 45 - x2 * (2 / 945 - x2 / 4725)))
                dl = 1 / 3 - x2 * (3 / 45 - x2 * (10 / 945 - x2 * 7 / 4725))
            else:
                lv = 1 / math.tanh(x) - 1 / x
                s = math.sinh(x) if abs(x) < 350 else math.inf
                dl = 1 / (x * x) - 1 / (s * s)
            g = m - (1 - c) * m_irr - c * Ms * lv
            step = g / (1 - c * Ms * al / a * dl)
            m -= step
            if abs(step) <= 1e-15 * Ms:
                break
        return m

    def _slope(self, H, m_irr, delta, guess):
        m = self._total(H, m_irr, guess)
        diff = self.Ms * langevin_scalar((H + self.alpha_applied * m) / self.a) - m_irr
        if delta * diff <= 0:
            return 0.0, m
        den = delta * self.k - self.alpha_applied * diff
        # the exact solution keeps delta*den > 0 (dM_irr/dH grows without bound as it nears
        # zero, which pulls diff back); a trial stage may not, and must not flip the sign
        if delta * den < 1e-3 * self.k:
            den = delta * 1e-3 * self.k
        return diff / den, m

    # Dormand-Prince 5(4) tableau (Hairer, Norsett & Wanner, Solving ODEs I, table 5.2)
    _C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
    _A = ((), (1 / 5,), (3 / 40, 9 / 40), (44 / 45, -56 / 15, 32 / 9),
          (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
          (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
          (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
    _E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)

    def advance_field(self, B: float) -> None:
        H_new = B / MU_0
        span = H_new - self.H
        if span == 0.0:
            return
        delta = 1.0 if span > 0 else -1.0
        H, m_irr, m = self.H, self.M_irr, self.M
        h = self.h_try
        while delta * (H_new - H) > 0:
            left = delta * (H_new - H)
            clamped = h > left
            hs = left if clamped else h
            dh = delta * hs
            ks = []
            guess = m
            for i in range(7):
                mi = m_irr + dh * sum(aij * kj for aij, kj in zip(self._A[i], ks))
                kv, guess = self._slope(H + self._C[i] * dh, mi, delta, guess)
                ks.append(kv)
            err = abs(dh * sum(e * kv for e, kv in zip(self._E, ks)))
            if err <= self.tol or hs < 1e-9 * self.a:
                H += dh
                m_irr = m_irr + dh * sum(aij * kj for aij, kj in zip(self._A[6], ks[:6]))
                m = self._total(H, m_irr, guess)
                grow = 5.0 if err == 0 else min(5.0, 0.9 * (self.tol / err) ** 0.2)
                # a step cut short by the end of the span does not shrink the next one
                h = min(max(hs * grow, h if clamped else 0.0), 4 * max(self.a, self.k))
            else:
                h = hs * max(0.1, 0.9 * (self.tol / err) ** 0.2)
        self.H, self.M_irr, self.M = H_new, m_irr, m
        self.h_try = h

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

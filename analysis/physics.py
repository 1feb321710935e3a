"""Magnetization curves, hysteresis, persistent-current and decay helpers (SI), vectorized.

Thin wrappers around the numba kernels in `loopscope.analysis.kernels.models`.
"""
from __future__ import annotations

import math

import numpy as np

from loopscope.analysis import constants as C


def _arr(x):
    a = np.asarray(x, dtype=np.float64)
    return a, np.ascontiguousarray(a).ravel()


def brillouin_function(J, x):
    """B_J(x); J > 0 (J = 1/2 gives tanh x, J -> inf the Langevin function)."""
    from loopscope.analysis.kernels.models import brillouin_array

    if not J > 0:
        raise ValueError(f"J must be > 0, got {J}")
    a, flat = _arr(x)
    return brillouin_array(float(J), flat).reshape(a.shape)


def langevin_function(x):
    """L(x) = coth x - 1/x, accurate at small x."""
    from loopscope.analysis.kernels.models import langevin_array

    a, flat = _arr(x)
    return langevin_array(flat).reshape(a.shape)


def brillouin_magnetization(B, T, n, g=2.0, J=0.5):
    """M = n g muB J B_J(g muB J B/(kB T)) (A/m for n in m^-3)."""
    x = g * C.MU_B * J * np.asarray(B, dtype=float) / (C.K_B * T)
    return n * g * C.MU_B * J * brillouin_function(J, x)


def curie_constant(n, g=2.0, J=0.5):
    """Curie constant C (K) of the volume susceptibility chi = C/T: mu0 n g^2 muB^2 J(J+1)/(3 kB)."""
    return C.MU_0 * n * g * g * C.MU_B ** 2 * J * (J + 1) / (3.0 * C.K_B)


def linear_magnetization(H, chi, M0=0.0):
    return chi * np.asarray(H, dtype=float) + M0


def curie_weiss_susceptibility(T, C_curie, theta, chi0=0.0):
    return C_curie / (np.asarray(T, dtype=float) - theta) + chi0


def jiles_atherton_curve(H, Ms, a, k, c, alpha, substeps=0):
    """M (A/m) along the field history H (A/m), starting demagnetized. substeps=0: the fit's own
    count per interval, from its field step over the model's scales (a fixed count may be too
    coarse for a stiff, sheared loop); n > 0 fixes n per interval."""
    from loopscope.analysis.kernels.models import jiles_atherton_m

    h = np.ascontiguousarray(H, dtype=np.float64)
    return jiles_atherton_m(h, float(Ms), float(a), float(k), float(c), float(alpha), int(substeps))


def hysteresis_loop(Ms, a, k, c, alpha, H_max, n_points=4000, cycles=2):
    """Simulate a Jiles-Atherton loop to +-H_max and measure it.

    Returns dict(H, M for the last full cycle, coercivity (A/m), remanence (A/m),
    loss_per_cycle = closed integral of H dB = mu0 closed integral of H dM (J/m^3)).
    """
    q = n_points // 4
    up = np.linspace(0.0, H_max, q, endpoint=False)
    down = np.linspace(H_max, -H_max, 2 * q, endpoint=False)
    back = np.linspace(-H_max, H_max, 2 * q + 1)
    H = np.concatenate([up] + [down, back] * cycles)
    M = jiles_atherton_curve(H, Ms, a, k, c, alpha)
    start = len(up) + (cycles - 1) * (len(down) + len(back))
    h = H[start:]
    m = M[start:]
    nd = len(down)
    hd, md = h[:nd + 1], m[:nd + 1]  # descending branch, +H_max -> -H_max
    # remanence: M at H = 0 on the descending branch; coercivity: H where M = 0 there
    rem = float(np.interp(0.0, hd[::-1], md[::-1]))
    sign = np.sign(md)
    idx = np.nonzero(np.diff(sign) != 0)[0]
    if len(idx):
        i = idx[0]
        hc = float(hd[i] - md[i] * (hd[i + 1] - hd[i]) / (md[i + 1] - md[i]))
    else:
        hc = math.nan
    loss = float(C.MU_0 * np.sum(0.5 * (h[1:] + h[:-1]) * np.diff(m)))
    return {"H": h, "M": m, "coercivity": abs(hc), "remanence": abs(rem), "loss_per_cycle": loss}


# ------------------------------------------------------------------ persistent currents
def flux_quantum(kind="h/e"):
    return {"h/e": C.PHI0, "h/2e": C.PHI0_SC}[kind]


def persistent_current(B, area, amplitudes, phases=None, theta=math.pi / 2, period="h/e"):
    """I(B) = sum_p I_p sin(2 pi p A B sin(theta)/Phi_per + phi_p), Phi_per = h/e or h/2e.

    theta is the angle between the field and the ring plane (pi/2: perpendicular)."""
    from loopscope.analysis.kernels.models import pc_series

    amps = np.atleast_1d(np.asarray(amplitudes, dtype=np.float64))
    ph = np.zeros_like(amps) if phases is None else np.atleast_1d(np.asarray(phases, dtype=np.float64))
    a, flat = _arr(B)
    return pc_series(flat, float(area), float(theta), amps, ph, flux_quantum(period)).reshape(a.shape)


def field_period(area, theta=math.pi / 2, period="h/e"):
    """Field period (T) of the h/e (or h/2e) oscillation: Phi / (A sin theta)."""
    return flux_quantum(period) / (area * math.sin(theta))


def ring_area_from_period(period_T, theta=math.pi / 2, period="h/e"):
    return flux_quantum(period) / (period_T * math.sin(theta))


def thouless_energy(diffusion_m2_per_s, radius_m):
    """E_c = hbar D / L^2 with L = 2 pi r (J)."""
    L = 2 * math.pi * radius_m
    return C.HBAR * diffusion_m2_per_s / L ** 2


def typical_current_T0(E_c):
    """Typical (rms) first-harmonic current at T = 0, one spin: 4 sqrt(6) E_c/Phi0 (A)."""
    return 4.0 * math.sqrt(6.0) * E_c / C.PHI0


def jp(p, theta):
    """Diffusive temperature integral j_p(theta), theta = kB T / E_c (j_p(0) = 12/p^5)."""
    from loopscope.analysis.kernels.models import jp_array

    a, flat = _arr(theta)
    return jp_array(float(p), flat).reshape(a.shape)


def typical_current(T, E_c, p=1):
    """rms current of harmonic p at temperature T (K) for Thouless energy E_c (J):
    sqrt(8 p^2 E_c^2 / Phi0^2 j_p(kB T/E_c))."""
    theta = C.K_B * np.asarray(T, dtype=float) / E_c
    return np.sqrt(8.0 * p * p * E_c ** 2 / C.PHI0 ** 2 * jp(p, theta))


def ballistic_factor(T, T_star, p=1):
    """x/sinh x with x = p T/T*."""
    from loopscope.analysis.kernels.models import pc_ballistic_T

    a, flat = _arr(T)
    return pc_ballistic_T(flat, np.array([1.0, float(T_star), float(p)])).reshape(a.shape)


# ------------------------------------------------------------------ superconducting decay
def decay_time_lower_bound(t_obs, delta):
    """tau > t_obs/delta: no change larger than the fractional resolution delta seen in t_obs."""
    if not (t_obs > 0 and delta > 0):
        raise ValueError("t_obs and delta must be > 0")
    return t_obs / delta

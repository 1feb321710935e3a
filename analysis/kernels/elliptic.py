"""Complete elliptic integrals without catastrophic cancellation.

`cel` is Bulirsch's generalized complete elliptic integral

    cel(kc, p, c, s) = int_0^{pi/2} (c cos^2 t + s sin^2 t) /
                       ((cos^2 t + p sin^2 t) sqrt(cos^2 t + kc^2 sin^2 t)) dt

computed with Bartky's transformation (quadratic convergence). K and E in the *parameter*
convention (m = k^2, scipy's ellipk/ellipe) follow from it. The combinations that appear in
the loop field and in Maxwell's mutual inductance vanish like m or m^2 at small m (near the
axis and far away); those use their own power series there, so they keep full relative
precision instead of subtracting two nearly equal numbers.
"""
import math

import numpy as np
from numba import njit

HALF_PI = 0.5 * math.pi
# Bartky iteration converges quadratically: stop when the relative gap is below sqrt(eps)-ish,
# the next step then lands at machine precision.
_CEL_TOL = 1e-9
_SERIES_M = 0.5  # below this m the small-m series is used for the cancelling combinations


@njit(cache=True)
def cel(kc, p, c, s):
    if kc == 0.0:
        return np.inf
    k = abs(kc)
    em = 1.0
    if p > 0.0:
        pp = math.sqrt(p)
        cc = c
        ss = s / pp
    else:
        f = kc * kc
        q = 1.0 - f
        g = 1.0 - p
        f = f - p
        q = q * (s - c * p)
        pp = math.sqrt(f / g)
        cc = (c - s) / g
        ss = -q / (g * g * pp) + cc * pp
    f = cc
    cc = cc + ss / pp
    g = k / pp
    ss = 2.0 * (ss + f * g)
    pp = g + pp
    g = em
    em = k + em
    kk = k
    for _ in range(60):
        if abs(g - k) <= g * _CEL_TOL:
            break
        k = 2.0 * math.sqrt(kk)
        kk = k * em
        f = cc
        cc = cc + ss / pp
        g = kk / pp
        ss = 2.0 * (ss + f * g)
        pp = g + pp
        g = em
        em = k + em
    return HALF_PI * (ss + cc * em) / (em * (em + pp))


@njit(cache=True)
def ellipk(m):
    """K(m), parameter convention; m < 1."""
    if m >= 1.0:
        return np.inf if m == 1.0 else np.nan
    return cel(math.sqrt(1.0 - m), 1.0, 1.0, 1.0)


@njit(cache=True)
def ellipe(m):
    """E(m), parameter convention; m <= 1."""
    if m == 1.0:
        return 1.0
    if m > 1.0:
        return np.nan
    kc2 = 1.0 - m
    return cel(math.sqrt(kc2), 1.0, 1.0, kc2)


@njit(cache=True)
def ellipk_kc(kc):
    """K from the complementary modulus kc = sqrt(1 - m): exact near the singularity."""
    return cel(kc, 1.0, 1.0, 1.0)


@njit(cache=True)
def ellipe_kc(kc):
    return cel(kc, 1.0, 1.0, kc * kc)


@njit(cache=True)
def _combo_series(m, u2, u1, v2, v1):
    """(pi/2) sum_n m^n [a_n (u2/(1-2n) + u1) + a_{n-1} (v2/(3-2n) + v1)],
    a_n = (binom(2n, n)/4^n)^2: the Taylor series of a linear combination of
    E, K, mE, mK written term by term (the leading terms cancel exactly, not numerically)."""
    total = 0.0
    a_prev = 1.0  # a_0
    mn = m
    n = 1
    while n < 200:
        a_n = a_prev * ((2.0 * n - 1.0) / (2.0 * n)) ** 2
        coef = a_n * (u2 / (1.0 - 2.0 * n) + u1) + a_prev * (v2 / (3.0 - 2.0 * n) + v1)
        term = coef * mn
        total += term
        if abs(term) <= 1e-18 * abs(total) and n > 3:
            break
        a_prev = a_n
        mn *= m
        n += 1
    return HALF_PI * total


@njit(cache=True)
def e_minus_kc2_k(m, kc):
    """g(m) = E - (1 - m) K  (~ pi m / 4 at small m)."""
    if m < _SERIES_M:
        # E: a_n/(1-2n); -(1-m)K: -a_n + a_{n-1} m
        return _combo_series(m, 1.0, -1.0, 0.0, 1.0)
    return ellipe_kc(kc) - kc * kc * ellipk_kc(kc)


@njit(cache=True)
def loop_rho_combo(m, kc):
    """f(m) = (2 - m) E - 2 (1 - m) K  (~ 3 pi m^2 / 16 at small m)."""
    if m < _SERIES_M:
        # 2E: 2a_n/(1-2n); -mE: -a_{n-1}/(3-2n); -2K: -2a_n; +2mK: +2a_{n-1}
        return _combo_series(m, 2.0, -2.0, -1.0, 2.0)
    kc2 = kc * kc
    return (1.0 + kc2) * ellipe_kc(kc) - 2.0 * kc2 * ellipk_kc(kc)


@njit(cache=True)
def maxwell_combo(m, kc):
    """h(m) = (2 - m) K - 2 E  (~ pi m^2 / 16 at small m)."""
    if m < _SERIES_M:
        # 2K: 2a_n; -mK: -a_{n-1}; -2E: -2a_n/(1-2n)
        return _combo_series(m, -2.0, 2.0, 0.0, -1.0)
    return (1.0 + kc * kc) * ellipk_kc(kc) - 2.0 * ellipe_kc(kc)


@njit(cache=True)
def ellip_ke_agm(kc, m):
    """K and E together from one arithmetic-geometric mean (kc = sqrt(1 - m) > 0; m passed
    as computed by the caller, more exact than 1 - kc^2):
    K = pi / (2 AGM(1, kc)), E = K (1 - sum_n 2^(n-1) c_n^2), c_0^2 = m."""
    a = 1.0
    b = kc
    total = 0.5 * m
    pw = 0.5
    for _ in range(60):
        c = 0.5 * (a - b)
        an = 0.5 * (a + b)
        b = math.sqrt(a * b)
        a = an
        pw *= 2.0
        total += pw * c * c
        # c falls quadratically (c_next = c^2 / 4a): below 1e-10 a the next term is < 1e-36.
        # Waiting for c <= 1e-17 a never ends once a and b differ by an ulp, and each further
        # step then added 2^n ulp^2 (5e-14 relative in E after 60 steps)
        if abs(c) <= 1e-10 * a:
            break
    K = HALF_PI / a
    return K, K * (1.0 - total)


@njit(cache=True)
def ellip_k_e_kme(kc, m):
    """K, E and K - E from one AGM (kc = sqrt(1 - m) > 0). K - E = K sum_n 2^(n-1) c_n^2 is a
    product of positive numbers: near the wire (kc -> 0, K ~ ln(4/kc)) the loop field needs
    K - E, and E = K (1 - sum) alone would be the difference of two numbers near K."""
    a = 1.0
    b = kc
    total = 0.5 * m
    pw = 0.5
    for _ in range(60):
        c = 0.5 * (a - b)
        an = 0.5 * (a + b)
        b = math.sqrt(a * b)
        a = an
        pw *= 2.0
        total += pw * c * c
        # c falls quadratically (c_next = c^2 / 4a): below 1e-10 a the next term is < 1e-36.
        # Waiting for c <= 1e-17 a never ends once a and b differ by an ulp, and each further
        # step then added 2^n ulp^2 (5e-14 relative in E after 60 steps)
        if abs(c) <= 1e-10 * a:
            break
    K = HALF_PI / a
    return K, K * (1.0 - total), K * total


def _series_coefficients(n_terms):
    """Taylor coefficients (without the pi/2) of E, E - (1-m) K and (2-m) E - 2 (1-m) K."""
    ce = np.zeros(n_terms)
    cg = np.zeros(n_terms)
    cf = np.zeros(n_terms)
    ce[0] = 1.0
    a_prev = 1.0
    for n in range(1, n_terms):
        a_n = a_prev * ((2.0 * n - 1.0) / (2.0 * n)) ** 2
        inv = 1.0 / (1.0 - 2.0 * n)
        ce[n] = a_n * inv
        cg[n] = a_n * (inv - 1.0) + a_prev
        cf[n] = a_n * (2.0 * inv - 2.0) + a_prev * (2.0 - 1.0 / (3.0 - 2.0 * n))
        a_prev = a_n
    return ce, cg, cf


_N_TERMS = 64  # 0.5^64 / (pi 64) ~ 3e-22: enough below m = 0.5
_CE, _CG, _CF = _series_coefficients(_N_TERMS)


@njit(cache=True)
def loop_combos(m, kc, kc2):
    """(E, E - (1-m) K, (2-m) E - 2 (1-m) K) for the loop field, each to full relative
    precision: one power series (Horner, tabulated coefficients) below m = 0.5, one AGM above."""
    if m < _SERIES_M:
        # terms needed for 1e-18 relative: m^n / n < 1e-18
        nt = _N_TERMS
        if m < 1e-3:
            nt = 8
        elif m < 0.05:
            nt = 16
        elif m < 0.2:
            nt = 32
        e_sum = 0.0
        g_sum = 0.0
        f_sum = 0.0
        for n in range(nt - 1, -1, -1):
            e_sum = e_sum * m + _CE[n]
            g_sum = g_sum * m + _CG[n]
            f_sum = f_sum * m + _CF[n]
        return HALF_PI * e_sum, HALF_PI * g_sum, HALF_PI * f_sum
    K, E = ellip_ke_agm(kc, m)
    return E, E - kc2 * K, (1.0 + kc2) * E - 2.0 * kc2 * K

"""Field kernels for axisymmetric currents (SI: m, A, T). Pure functions, numba-compiled.

Loop (radius a, current I, field point (rho, z) with the loop in the plane z = 0):
with D1 = (a-rho)^2 + z^2, D2 = (a+rho)^2 + z^2, m = 4 a rho / D2 (so p = 1 - m = D1/D2,
computed as that ratio) and f = (2-m) E - 2 (1-m) K (~ 3 pi m^2 / 16 at small m):

    B_rho = mu0 I z / (2 pi rho sqrt(D2)) * f / (2 p)
    B_z   = mu0 I / (2 pi sqrt(D2)) * [2 a^2 E / D2 - f / 2] / p          (m < 1/2)
    B_z   = mu0 I / (2 pi sqrt(D2)) * [(K - E) + 2 a (a - rho) E / D1]    (m >= 1/2)

PHYSICS.md section 2 rearranged (a^2 - rho^2 - z^2 = 2a(a+rho) - D2 = 2a(a-rho) - D1). The
earlier form [2 a (a+rho) E / D2 - (E - (1-m) K)] / (1-m) subtracted two numbers near 1/2 next
to the wire (5e-8 relative at 1e-8 a from it) and two of order a/r far away (a digit lost
per decade of r/a: 3e-9 at 1e7 a); in these forms the only cancellation left is at a zero of
the component. f comes from its power series below m = 1/2, K - E from the AGM as a product
(elliptic.ellip_k_e_kme).

Cylinder (radius R, length L, uniform M along z = solenoid with n I = M): Derby & Olbert,
Am. J. Phys. 78, 229 (2010), with Bulirsch's cel.
"""
import math

import numpy as np
from numba import njit, prange

from loopscope.analysis.constants import MU_0
from loopscope.analysis.kernels.elliptic import cel, ellip_k_e_kme, loop_combos, maxwell_combo

_SERIES_M = 0.5  # below: power series for E and f; above: the AGM and the near-wire B_z form

_TWO_PI = 2.0 * math.pi


@njit(cache=True)
def loop_field_point(a, current, rho, z):
    """(B_rho, B_z) of one loop at one point; rho >= 0."""
    if rho == 0.0:
        r2 = a * a + z * z
        return 0.0, MU_0 * current * a * a / (2.0 * r2 * math.sqrt(r2))
    d1 = (a - rho) ** 2 + z * z
    d2 = (a + rho) ** 2 + z * z
    if d1 == 0.0:
        return np.nan, np.nan  # on the wire
    m = 4.0 * a * rho / d2
    one_m = d1 / d2
    kc = math.sqrt(one_m)
    sd2 = math.sqrt(d2)
    pref = MU_0 * current / (_TWO_PI * sd2)
    if m < _SERIES_M:
        e, g, f = loop_combos(m, kc, one_m)
        bz = pref * (2.0 * a * a * e / d2 - 0.5 * f) / one_m
    else:
        K, e, kme = ellip_k_e_kme(kc, m)
        if kc < 1e-3:
            # E = K (1 - sum) keeps eps K relative (K ~ ln(4/kc)); Bulirsch's cel does not
            e = cel(kc, 1.0, 1.0, one_m)
        f = (1.0 + one_m) * e - 2.0 * one_m * K
        bz = pref * (kme + 2.0 * a * (a - rho) * e / d1)
    br = pref * z / rho * f / (2.0 * one_m)
    return br, bz


@njit(cache=True, parallel=True)
def loop_field(a, current, z0, rho, z, b_rho, b_z):
    """Sum of coaxial loops (radii a[k], currents current[k], planes z0[k]) at the points."""
    n = rho.shape[0]
    for i in prange(n):
        sr = 0.0
        sz = 0.0
        for k in range(a.shape[0]):
            br, bz = loop_field_point(a[k], current[k], abs(rho[i]), z[i] - z0[k])
            if rho[i] < 0.0:
                br = -br
            sr += br
            sz += bz
        b_rho[i] = sr
        b_z[i] = sz


@njit(cache=True)
def cylinder_field_point(radius, length, magnetization, rho, z):
    """Uniformly magnetized cylinder (M along z, centred at the origin) = finite solenoid."""
    b = 0.5 * length
    a = radius
    b0 = MU_0 * magnetization / math.pi
    zp = z + b
    zm = z - b
    if rho == 0.0:
        bz = 0.5 * MU_0 * magnetization * (zp / math.sqrt(zp * zp + a * a) - zm / math.sqrt(zm * zm + a * a))
        return 0.0, bz
    apr = a + rho
    amr = a - rho
    alp_p = 1.0 / math.sqrt(zp * zp + apr * apr)
    alp_m = 1.0 / math.sqrt(zm * zm + apr * apr)
    bet_p = zp * alp_p
    bet_m = zm * alp_m
    gam = amr / apr
    kp = math.sqrt((zp * zp + amr * amr) / (zp * zp + apr * apr))
    km = math.sqrt((zm * zm + amr * amr) / (zm * zm + apr * apr))
    if kp == 0.0 or km == 0.0:
        return np.nan, np.nan  # on the edge of an end face
    br = b0 * a * (alp_p * cel(kp, 1.0, 1.0, -1.0) - alp_m * cel(km, 1.0, 1.0, -1.0))
    g2 = gam * gam
    bz = b0 * a / apr * (bet_p * cel(kp, g2, 1.0, gam) - bet_m * cel(km, g2, 1.0, gam))
    return br, bz


@njit(cache=True, parallel=True)
def cylinder_field(radius, length, magnetization, rho, z, b_rho, b_z):
    for i in prange(rho.shape[0]):
        br, bz = cylinder_field_point(radius[i], length[i], magnetization[i], abs(rho[i]), z[i])
        if rho[i] < 0.0:
            br = -br
        b_rho[i] = br
        b_z[i] = bz


@njit(cache=True, parallel=True)
def loop_field_bcast(a, current, rho, z, b_rho, b_z):
    """One loop per point (arrays already broadcast to a common 1-D shape)."""
    for i in prange(rho.shape[0]):
        br, bz = loop_field_point(a[i], current[i], abs(rho[i]), z[i])
        if rho[i] < 0.0:
            br = -br
        b_rho[i] = br
        b_z[i] = bz


@njit(cache=True)
def mutual_inductance_coaxial(a, b, d):
    """Maxwell: M = mu0 sqrt(ab) [(2/k - k) K(k^2) - (2/k) E(k^2)], k^2 = 4ab/((a+b)^2+d^2)."""
    s = (a + b) ** 2 + d * d
    m = 4.0 * a * b / s
    kc = math.sqrt(((a - b) ** 2 + d * d) / s)
    k = math.sqrt(m)
    return MU_0 * math.sqrt(a * b) / k * maxwell_combo(m, kc)


@njit(cache=True, parallel=True)
def ring_sum_field(ring_rho, ring_z, ring_current, rho, z, b_rho, b_z):
    """Field of many coaxial current rings (bound currents of an axisymmetric magnetization)."""
    for i in prange(rho.shape[0]):
        sr = 0.0
        sz = 0.0
        for k in range(ring_rho.shape[0]):
            br, bz = loop_field_point(ring_rho[k], ring_current[k], abs(rho[i]), z[i] - ring_z[k])
            sr += br
            sz += bz
        if rho[i] < 0.0:
            sr = -sr
        b_rho[i] = sr
        b_z[i] = sz


_BLOCK = 512
_AGM_STEPS = 8  # enough for kc >= 1e-3 (checked in tests against the converging loop)


@njit(cache=True)
def _loop_block(a, current, rho, z, b_rho, b_z, lo, hi):
    """Points lo..hi of one loop, structure-of-arrays: the AGM runs a fixed number of steps
    over the whole block so the compiler can vectorize it; points near the axis or far away
    (m < 0.5, series) or near the wire (kc < 1e-3) take the scalar route."""
    nb = hi - lo
    am = np.empty(nb)
    bm = np.empty(nb)
    tot = np.empty(nb)
    kcs = np.empty(nb)
    onem = np.empty(nb)
    scalar = np.zeros(nb, dtype=np.bool_)
    for j in range(nb):
        r = abs(rho[lo + j])
        zz = z[lo + j]
        d1 = (a - r) ** 2 + zz * zz
        d2 = (a + r) ** 2 + zz * zz
        m = 4.0 * a * r / d2
        kc = math.sqrt(d1 / d2)
        kcs[j] = kc
        onem[j] = d1 / d2
        scalar[j] = (m < 0.5) or (kc < 1e-3) or (r == 0.0)
        am[j] = 1.0
        bm[j] = kc if kc > 1e-3 else 1e-3
        tot[j] = 0.5 * m
    pw = 0.5
    for _ in range(_AGM_STEPS):
        pw *= 2.0
        for j in range(nb):
            c = 0.5 * (am[j] - bm[j])
            an = 0.5 * (am[j] + bm[j])
            bm[j] = math.sqrt(am[j] * bm[j])
            am[j] = an
            tot[j] += pw * c * c
    for j in range(nb):
        i = lo + j
        if scalar[j]:
            br, bz = loop_field_point(a, current, abs(rho[i]), z[i])
        else:
            r = abs(rho[i])
            zz = z[i]
            d2 = (a + r) ** 2 + zz * zz
            d1 = (a - r) ** 2 + zz * zz
            one_m = onem[j]
            K = 0.5 * math.pi / am[j]
            E = K * (1.0 - tot[j])
            f = (1.0 + one_m) * E - 2.0 * one_m * K
            pref = MU_0 * current / (_TWO_PI * math.sqrt(d2))
            # m >= 1/2 here: the near-wire form, K - E = K tot (see the module docstring)
            bz = pref * (K * tot[j] + 2.0 * a * (a - r) * E / d1)
            br = pref * zz / r * f / (2.0 * one_m)
        b_rho[i] = -br if rho[i] < 0.0 else br
        b_z[i] = bz


@njit(cache=True, parallel=True)
def loop_field_scalar(a, current, rho, z, b_rho, b_z):
    """One loop (scalar radius and current) at many points, in blocks across cores."""
    n = rho.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for k in prange(nblocks):
        lo = k * _BLOCK
        hi = min(n, lo + _BLOCK)
        _loop_block(a, current, rho, z, b_rho, b_z, lo, hi)


@njit(cache=True, parallel=True)
def cylinder_field_scalar(radius, length, magnetization, rho, z, b_rho, b_z):
    """One cylinder (scalar dimensions and magnetization) at many points."""
    for i in prange(rho.shape[0]):
        br, bz = cylinder_field_point(radius, length, magnetization, abs(rho[i]), z[i])
        b_rho[i] = -br if rho[i] < 0.0 else br
        b_z[i] = bz

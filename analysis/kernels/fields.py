"""Field kernels for axisymmetric currents (SI: m, A, T). Pure functions, numba-compiled.

Loop (radius a, current I, field point (rho, z) with the loop in the plane z = 0):
with D1 = (a-rho)^2 + z^2, D2 = (a+rho)^2 + z^2, m = 4 a rho / D2 (so 1 - m = D1/D2):

    B_z   = mu0 I / (2 pi sqrt(D2)) * [2 a (a+rho) E / D2 - (E - (1-m) K)] / (1-m)
    B_rho = mu0 I z / (2 pi rho sqrt(D2)) * [(2-m) E - 2 (1-m) K] / (2 (1-m))

which is PHYSICS.md section 2 rearranged so that the two combinations that vanish near the
axis and far away are evaluated by series (see elliptic.py) instead of by cancellation.

Cylinder (radius R, length L, uniform M along z = solenoid with n I = M): Derby & Olbert,
Am. J. Phys. 78, 229 (2010), with Bulirsch's cel.
"""
import math

import numpy as np
from numba import njit, prange

from analysis.constants import MU_0
from analysis.kernels.elliptic import cel, e_minus_kc2_k, ellipe_kc, loop_rho_combo, maxwell_combo

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
    e = ellipe_kc(kc)
    g = e_minus_kc2_k(m, kc)
    bz = pref * (2.0 * a * (a + rho) * e / d2 - g) / one_m
    br = pref * z / rho * loop_rho_combo(m, kc) / (2.0 * one_m)
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

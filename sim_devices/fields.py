"""Fields of current loops and of magnetized matter seen as bound currents.

Pure functions of numbers and arrays (scipy's complete elliptic integrals, parameter
convention). This is an independent route from the numba kernels in ``analysis``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ellipe, ellipkm1, hyp2f1

from .constants import MU_0


# Below this parameter m the far/axis form is used, above it the near-wire form (see loop_field).
_NEAR_WIRE_M = 0.5


def _loop_rho_combo_small_m(m):
    """f(m) = (2 - m) E(m) - 2 (1 - m) K(m) = (3 pi / 16) m^2 2F1(1/2, 3/2; 3; m).

    Written through the hypergeometric function so that the leading terms of E and K, which
    cancel (f ~ m^2 while E, K ~ pi/2), never meet as floating-point numbers."""
    return 3 * np.pi / 16 * m * m * hyp2f1(0.5, 1.5, 3.0, m)


def loop_field(a, current, rho, z):
    """(B_rho, B_z) in T of a circular loop (radius a, current I, in the plane z=0, on the axis)
    at cylindrical point (rho, z). Arrays broadcast. Exact on the axis (rho=0); NaN on the wire.

    PHYSICS.md section 2's textbook form, B_z ~ K + (a^2 - rho^2 - z^2)/D1 E, subtracts nearly
    equal numbers in two places, so it is rearranged (D1 = (a-rho)^2 + z^2, D2 = (a+rho)^2 + z^2,
    m = 4 a rho / D2, p = 1 - m = D1/D2 computed directly, never as 1 - m):

      far from the wire (m < 1/2; near the axis and far away, where E and K both tend to pi/2):
        B_z   = mu0 I / (2 pi sqrt(D2)) [2 a^2 E / D2 - f / 2] / p
        B_rho = mu0 I z / (2 pi rho sqrt(D2)) f / (2 p),   f = (2-m) E - 2 p K ~ 3 pi m^2 / 16
      with f from its hypergeometric series (the 13-digit loss at 1e7 a is gone);
      near the wire (m >= 1/2, K large):
        B_z   = mu0 I / (2 pi sqrt(D2)) [(K - E) + 2 a (a - rho) E / D1]
      with K = scipy's ellipkm1(p) (p exact, instead of ellipk(1 - p) rounded), and the same B_rho.
    Both are identities of the textbook form (a^2 - rho^2 - z^2 = 2a(a-rho) - D1 = 2a(a+rho) - D2).
    The remaining relative error is a few ulp except near a zero of the component itself.
    """
    a, current, rho, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, current, rho, z)))
    rho = np.abs(rho)
    d_plus = (a + rho) ** 2 + z ** 2
    d_minus = (a - rho) ** 2 + z ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        m = 4 * a * rho / d_plus
        p = d_minus / d_plus
        pref = MU_0 * current / (2 * np.pi * np.sqrt(d_plus))
        near = m >= _NEAR_WIRE_M
        far = ~near
        # m = 4 a rho / D2 may round one ulp above 1 next to the wire (scipy: NaN there); E is
        # flat enough at m = 1 (dE/dm ~ K/2) that clipping costs below 1e-14 relative
        E = ellipe(np.minimum(m, 1.0))
        f = np.empty_like(m)
        bz = np.empty_like(m)
        # each branch on its own points only (the far one's series is the costly part)
        f[far] = _loop_rho_combo_small_m(m[far])
        bz[far] = pref[far] * (2 * a[far] ** 2 * E[far] / d_plus[far] - 0.5 * f[far]) / p[far]
        pn, En, K = p[near], E[near], ellipkm1(p[near])
        f[near] = (1 + pn) * En - 2 * pn * K
        bz[near] = pref[near] * ((K - En) + 2 * a[near] * (a[near] - rho[near]) * En / d_minus[near])
        brho = pref * z / rho * f / (2 * p)
    on_axis = rho < 1e-12 * np.maximum(a, 1e-300)
    bz = np.where(on_axis, MU_0 * current * a ** 2 / (2 * (a ** 2 + z ** 2) ** 1.5), bz)
    brho = np.where(on_axis, 0.0, brho)
    on_wire = d_minus == 0
    return np.where(on_wire, np.nan, brho), np.where(on_wire, np.nan, bz)


def helmholtz_constant(radius_m: float, turns: int) -> float:
    """Centre field per ampere of a Helmholtz pair (spacing = radius, N turns each), T/A."""
    return (4 / 5) ** 1.5 * MU_0 * turns / radius_m


def uniform_cylinder_axis_closed_form(z, radius, length, magnetization):
    """PHYSICS.md section 1: on-axis B_z of a uniformly magnetized cylinder (z from its centre)."""
    z = np.asarray(z, dtype=float)
    zp, zm = z + length / 2, z - length / 2
    return MU_0 * magnetization / 2 * (zp / np.sqrt(zp ** 2 + radius ** 2)
                                       - zm / np.sqrt(zm ** 2 + radius ** 2))


def gauss_legendre(lo: float, hi: float, n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def bound_current_loops(m_of_s, dm_ds, radius, length, n_s=48, n_z=96):
    """Current loops (radii, z positions, currents in A) equivalent to an axisymmetric
    M(s) z-hat in a cylinder of given radius and length, centred at z=0.

    Surface current K_b = M x n = M(R) phi-hat on the side (end caps give M x (+-z) = 0);
    volume current J_b = curl M = -dM/ds phi-hat. Both are integrated as loops with
    Gauss-Legendre weights, so a smooth M(s) converges fast.
    """
    zs, wz = gauss_legendre(-length / 2, length / 2, n_z)
    # side surface: current per length K = M(R)
    a_side = np.full(n_z, float(radius))
    i_side = m_of_s(radius) * wz
    # volume: current per area J = -dM/ds
    ss, ws = gauss_legendre(0.0, radius, n_s)
    S, Z = np.meshgrid(ss, zs, indexing="ij")
    W = np.outer(ws, wz)
    i_vol = -dm_ds(S) * W
    radii = np.concatenate([a_side, S.ravel()])
    zpos = np.concatenate([zs, Z.ravel()])
    cur = np.concatenate([i_side, i_vol.ravel()])
    return radii, zpos, cur


def field_of_loops(radii, zpos, currents, rho, z):
    """Summed (B_rho, B_z) of coaxial loops at the points (rho, z) (arrays of equal shape)."""
    rho = np.atleast_1d(np.asarray(rho, dtype=float))
    z = np.atleast_1d(np.asarray(z, dtype=float))
    br, bz = loop_field(radii[None, :], currents[None, :], rho[:, None], z[:, None] - zpos[None, :])
    return br.sum(axis=1), bz.sum(axis=1)


def moment_of_loops(radii, currents) -> float:
    """Magnetic moment (A m^2) of coaxial loops: sum of I pi a^2."""
    return float(np.sum(currents * np.pi * radii ** 2))

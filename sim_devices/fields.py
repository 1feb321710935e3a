"""Fields of current loops and of magnetized matter seen as bound currents.

Pure functions of numbers and arrays (scipy's complete elliptic integrals, parameter
convention). This is an independent route from the numba kernels in ``analysis``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ellipe, ellipk

from .constants import MU_0


def loop_field(a, current, rho, z):
    """(B_rho, B_z) in T of a circular loop (radius a, current I, in the plane z=0, on the axis)
    at cylindrical point (rho, z). Arrays broadcast. Exact on the axis (rho=0)."""
    a, current, rho, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, current, rho, z)))
    rho = np.abs(rho)
    den_plus = (a + rho) ** 2 + z ** 2
    den_minus = (a - rho) ** 2 + z ** 2
    m = 4 * a * rho / den_plus
    K, E = ellipk(m), ellipe(m)
    sq = np.sqrt(den_plus)
    pref = MU_0 * current / (2 * np.pi * sq)
    bz = pref * (K + (a ** 2 - rho ** 2 - z ** 2) / den_minus * E)
    on_axis = rho < 1e-12 * np.maximum(a, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        brho = pref * z / rho * (-K + (a ** 2 + rho ** 2 + z ** 2) / den_minus * E)
    bz = np.where(on_axis, MU_0 * current * a ** 2 / (2 * (a ** 2 + z ** 2) ** 1.5), bz)
    brho = np.where(on_axis, 0.0, brho)
    return brho, bz


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

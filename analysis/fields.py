"""Fields of current loops, coil pairs, solenoids and magnetized cylinders (SI).

Thin, validating wrappers around `loopscope.analysis.kernels.fields`. Every function broadcasts its
array arguments with numpy rules and returns arrays of the broadcast shape.
Coordinates are cylindrical (rho, z) about the common axis; the loop / pair / cylinder centre
is the origin unless stated.
"""
from __future__ import annotations

import numpy as np

from loopscope.analysis.constants import MU_0


def _as_f8(*arrays):
    out = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
    shape = out[0].shape
    return shape, [np.ascontiguousarray(a).ravel() for a in out]


def _points(rho, z):
    """rho, z broadcast to one shape, as contiguous 1-D float64 (no copy when already so)."""
    r = np.asarray(rho, dtype=np.float64)
    zz = np.asarray(z, dtype=np.float64)
    if r.shape != zz.shape:
        r, zz = np.broadcast_arrays(r, zz)
    shape = r.shape
    return shape, np.ascontiguousarray(r).reshape(-1), np.ascontiguousarray(zz).reshape(-1)


def _check_positive(name, value):
    v = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def loop_field(a, current, rho, z):
    """Field (B_rho, B_z) in T of a circular loop of radius `a` (m) carrying `current` (A),
    lying in the plane z = 0 centred on the axis, at points (rho, z) in m.

    Accurate to ~1e-15 relative everywhere except on the wire itself (NaN there).
    """
    from loopscope.analysis.kernels.fields import loop_field_bcast, loop_field_scalar

    _check_positive("a", a)
    if np.ndim(a) == 0 and np.ndim(current) == 0:
        shape, r_, z_ = _points(rho, z)
        br = np.empty_like(r_)
        bz = np.empty_like(r_)
        loop_field_scalar(float(a), float(current), r_, z_, br, bz)
        return br.reshape(shape), bz.reshape(shape)
    shape, (a_, i_, r_, z_) = _as_f8(a, current, rho, z)
    br = np.empty_like(r_)
    bz = np.empty_like(r_)
    loop_field_bcast(a_, i_, r_, z_, br, bz)
    return br.reshape(shape), bz.reshape(shape)


def coaxial_loops_field(radii, currents, positions, rho, z):
    """Sum of coaxial loops: radii (m), currents (A), axial positions (m) of the loops (1-D)."""
    from loopscope.analysis.kernels.fields import loop_field as _kern

    radii, currents, positions = (np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel()
                                  for v in (radii, currents, positions))
    if not (radii.size == currents.size == positions.size):
        raise ValueError("radii, currents and positions must have the same length")
    _check_positive("radii", radii)
    shape, (r_, z_) = _as_f8(rho, z)
    br = np.empty_like(r_)
    bz = np.empty_like(r_)
    _kern(radii, currents, positions, r_, z_, br, bz)
    return br.reshape(shape), bz.reshape(shape)


def helmholtz_field(radius, turns, current, rho, z, spacing=None, anti=False):
    """Field of a coil pair (thin coils of `turns` turns at z = +-spacing/2).

    spacing defaults to the radius (Helmholtz condition). anti=True reverses the current of
    the coil at -spacing/2... i.e. an anti-Helmholtz (quadrupole) pair with a field zero at the centre.
    """
    d = radius if spacing is None else spacing
    sign = -1.0 if anti else 1.0
    ni = turns * current
    return coaxial_loops_field([radius, radius], [ni, sign * ni], [d / 2.0, -d / 2.0], rho, z)


def helmholtz_centre_field(radius, turns, current):
    """Closed form (4/5)^{3/2} mu0 N I / R for the ideal Helmholtz pair."""
    return (0.8) ** 1.5 * MU_0 * turns * current / radius


def anti_helmholtz_gradient(radius, turns, current, spacing):
    """dB_z/dz at the centre of an anti-Helmholtz pair, T/m (dB_rho/drho is -1/2 of it)."""
    r2 = radius * radius
    h = spacing / 2.0
    return 3.0 * MU_0 * turns * current * r2 * h / (r2 + h * h) ** 2.5


def quadrupole_trap(radius, turns, current, spacing, current_ratio=1.0, search=None):
    """The |B| minimum of an anti-Helmholtz (quadrupole) trap.

    The coil at +spacing/2 carries `current`, the other -current_ratio*current. Returns a
    dict: z_min (m) and B_min (T) of |B| along the axis, gradient_z and gradient_rho (T/m)
    at the minimum (by central differences of the exact field).
    """
    from scipy.optimize import minimize_scalar

    ni = turns * current
    radii = [radius, radius]
    currents = [ni, -current_ratio * ni]
    pos = [spacing / 2.0, -spacing / 2.0]

    def bmag(zz):
        br, bz = coaxial_loops_field(radii, currents, pos, 0.0, zz)
        return float(abs(bz))

    lim = 0.45 * spacing if search is None else search
    res = minimize_scalar(bmag, bounds=(-lim, lim), method="bounded",
                          options={"xatol": 1e-12 * max(spacing, radius)})
    z_min = float(res.x)
    h = 1e-5 * radius
    _, bz_p = coaxial_loops_field(radii, currents, pos, 0.0, z_min + h)
    _, bz_m = coaxial_loops_field(radii, currents, pos, 0.0, z_min - h)
    br_p, _ = coaxial_loops_field(radii, currents, pos, h, z_min)
    return {"z_min": z_min, "B_min": bmag(z_min),
            "gradient_z": float((bz_p - bz_m) / (2 * h)), "gradient_rho": float(br_p / h)}


def solenoid_field(radius, length, turns, current, rho, z):
    """Finite solenoid (turns uniformly over `length`, current sheet at `radius`), centred."""
    return cylinder_field(radius, length, np.asarray(turns) * np.asarray(current) / np.asarray(length), rho, z)


def cylinder_field(radius, length, magnetization, rho, z):
    """Field (B_rho, B_z) in T of a cylinder uniformly magnetized along its axis.

    radius, length in m; magnetization in A/m; centred on the origin. The bound surface current
    K_b = M x n = M phi-hat on the side makes it an ideal solenoid with n I = M
    (Derby & Olbert 2010 with Bulirsch's cel). B (not mu0 H) also inside the magnet.
    """
    from loopscope.analysis.kernels.fields import cylinder_field as _kern
    from loopscope.analysis.kernels.fields import cylinder_field_scalar

    _check_positive("radius", radius)
    _check_positive("length", length)
    if np.ndim(radius) == 0 and np.ndim(length) == 0 and np.ndim(magnetization) == 0:
        shape, r_, z_ = _points(rho, z)
        br = np.empty_like(r_)
        bz = np.empty_like(r_)
        cylinder_field_scalar(float(radius), float(length), float(magnetization), r_, z_, br, bz)
        return br.reshape(shape), bz.reshape(shape)
    shape, (r_, l_, m_, rho_, z_) = _as_f8(radius, length, magnetization, rho, z)
    br = np.empty_like(rho_)
    bz = np.empty_like(rho_)
    _kern(r_, l_, m_, rho_, z_, br, bz)
    return br.reshape(shape), bz.reshape(shape)


def mutual_inductance(a, b, d):
    """Mutual inductance (H) of coaxial circular loops of radii a, b (m) at axial distance d (m)."""
    from loopscope.analysis.kernels.fields import mutual_inductance_coaxial

    _check_positive("a", a)
    _check_positive("b", b)
    shape, (a_, b_, d_) = _as_f8(a, b, d)
    out = np.array([mutual_inductance_coaxial(x, y, w) for x, y, w in zip(a_, b_, d_)])
    return out.reshape(shape) if shape else float(out[0])


def magnetization_field(m_rho, m_z, radius, length, rho, z, n_rho=64, n_z=64):
    """Field of an axisymmetric magnetization M(rho, z) filling a cylinder (radius, length), centred.

    m_rho, m_z: callables f(rho, z) -> A/m (numpy-vectorized) or None for zero.
    The magnetization is replaced by its bound currents, all azimuthal:
    volume J_b = curl M = (dM_rho/dz - dM_z/drho) phi-hat and surface K_b = M x n
    (side: +M_z, top face: -M_rho, bottom face: +M_rho). The volume current is integrated as
    thin cylindrical current sheets at Gauss-Legendre radii, each cut into n_z slabs along z
    (each slab a short solenoid, exact in z within the slab); the side current as n_z slabs
    at the radius; the face currents as rings at Gauss-Legendre radii. Derivatives of M by
    central differences. Outside the body this converges fast; inside it, B_z jumps across
    every sheet, so expect a relative accuracy of order 1/n_rho there.
    Returns (B_rho, B_z) in T.
    """
    from loopscope.analysis.kernels.fields import cylinder_field as cyl_kernel
    from loopscope.analysis.kernels.fields import ring_sum_field

    zero = lambda r, zz: np.zeros(np.broadcast(r, zz).shape)  # noqa: E731
    m_rho = m_rho or zero
    m_z = m_z or zero
    R, L = float(radius), float(length)
    xr, wr = np.polynomial.legendre.leggauss(n_rho)
    rr = 0.5 * R * (xr + 1.0)
    wr = 0.5 * R * wr
    edges = np.linspace(-L / 2, L / 2, n_z + 1)
    zc = 0.5 * (edges[1:] + edges[:-1])
    dz = L / n_z
    RR, ZZ = np.meshgrid(rr, zc, indexing="ij")
    h = 1e-6 * max(R, L)
    dmr_dz = (m_rho(RR, ZZ + h) - m_rho(RR, ZZ - h)) / (2 * h)
    dmz_dr = (m_z(RR + h, ZZ) - m_z(RR - h, ZZ)) / (2 * h)
    k_sheet = (dmr_dz - dmz_dr) * wr[:, None]  # sheet current density A/m of each (radius, slab)
    k_side = np.broadcast_to(m_z(np.full(n_z, R), zc), (n_z,))
    sheet_r = np.concatenate([RR.ravel(), np.full(n_z, R)])
    sheet_z = np.concatenate([ZZ.ravel(), zc])
    sheet_k = np.concatenate([k_sheet.ravel(), k_side]).astype(np.float64)
    keep = sheet_k != 0.0
    sheet_r, sheet_z, sheet_k = sheet_r[keep], sheet_z[keep], sheet_k[keep]
    shape, (r_, z_) = _as_f8(rho, z)
    br = np.zeros_like(r_)
    bz = np.zeros_like(r_)
    tr = np.empty_like(r_)
    tz = np.empty_like(r_)
    one = np.ones_like(r_)
    for rs, zs, ks in zip(sheet_r, sheet_z, sheet_k):
        cyl_kernel(one * rs, one * dz, one * ks, r_, z_ - zs, tr, tz)
        br += tr
        bz += tz
    face_i = np.concatenate([-m_rho(rr, np.full(n_rho, L / 2)) * wr, m_rho(rr, np.full(n_rho, -L / 2)) * wr])
    face_i = np.broadcast_to(np.asarray(face_i, dtype=np.float64), (2 * n_rho,))
    if np.any(face_i != 0):
        ring_r = np.concatenate([rr, rr])
        ring_z = np.concatenate([np.full(n_rho, L / 2), np.full(n_rho, -L / 2)])
        ring_sum_field(ring_r, ring_z, np.ascontiguousarray(face_i), r_, z_, tr, tz)
        br += tr
        bz += tz
    return br.reshape(shape), bz.reshape(shape)

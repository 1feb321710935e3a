"""Loop, coil-pair, solenoid/cylinder and bound-current fields against independent routes:
closed forms, Biot-Savart by numerical integration, magpylib, finite differences."""
import numpy as np
import pytest
from scipy.integrate import quad

import loopscope.analysis as A
from loopscope.analysis.constants import MU_0


def test_loop_on_axis_closed_form():
    a, I = 0.03, 2.5
    z = np.linspace(-1, 1, 101)
    br, bz = A.loop_field(a, I, 0.0, z)
    np.testing.assert_allclose(bz, MU_0 * I * a**2 / (2 * (a**2 + z**2) ** 1.5), rtol=1e-15)
    assert np.all(br == 0)
    # a hair off the axis: continuous, no loss of digits
    br2, bz2 = A.loop_field(a, I, 1e-9 * a, z)
    np.testing.assert_allclose(bz2, bz, rtol=1e-14)


def _biot_savart(a, I, rho, z):
    """Direct numerical integration of dB = mu0 I/(4 pi) dl x r / r^3 around the loop."""
    def integrand(phi, comp):
        dl = np.array([-np.sin(phi), np.cos(phi), 0.0]) * a
        r = np.array([rho - a * np.cos(phi), -a * np.sin(phi), z])
        return np.cross(dl, r)[comp] / np.linalg.norm(r) ** 3

    bx = quad(integrand, 0, 2 * np.pi, args=(0,), epsabs=0, epsrel=1e-13, limit=200)[0]
    bz = quad(integrand, 0, 2 * np.pi, args=(2,), epsabs=0, epsrel=1e-13, limit=200)[0]
    return MU_0 * I / (4 * np.pi) * bx, MU_0 * I / (4 * np.pi) * bz


@pytest.mark.parametrize("rho,z", [(0.3, 0.2), (1.7, -0.4), (0.99, 0.02), (5.0, 3.0), (0.01, 0.5), (40.0, 0.0)])
def test_loop_against_biot_savart_quadrature(rho, z):
    br, bz = A.loop_field(1.0, 3.0, rho, z)
    rbr, rbz = _biot_savart(1.0, 3.0, rho, z)
    scale = np.hypot(rbr, rbz)
    assert abs(br - rbr) < 1e-11 * scale
    assert abs(bz - rbz) < 1e-11 * scale


def _cyl_points(n, seed, scale):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-scale, scale, size=(n, 3))
    return pts


def _to_rho(pts, B):
    rho = np.hypot(pts[:, 0], pts[:, 1])
    brho = (B[:, 0] * pts[:, 0] + B[:, 1] * pts[:, 1]) / rho
    return rho, brho


def test_loop_against_magpylib_at_random_points():
    magpy = pytest.importorskip("magpylib")
    a, I = 0.02, 1.3
    pts = _cyl_points(5000, 1, 0.08)
    rho = np.hypot(pts[:, 0], pts[:, 1])
    far = np.hypot(rho - a, pts[:, 2]) > 1e-3 * a  # away from the wire
    pts = pts[far]
    B = magpy.current.Circle(current=I, diameter=2 * a).getB(pts)
    rho, brho = _to_rho(pts, B)
    br, bz = A.loop_field(a, I, rho, pts[:, 2])
    mag = np.hypot(brho, B[:, 2])
    assert np.max(np.abs(br - brho) / mag) < 1e-10
    assert np.max(np.abs(bz - B[:, 2]) / mag) < 1e-10


def test_cylinder_against_magpylib_at_random_points():
    magpy = pytest.importorskip("magpylib")
    R, L, M = 0.005, 0.012, 9.0e5
    pts = _cyl_points(5000, 2, 0.03)
    rho = np.hypot(pts[:, 0], pts[:, 1])
    z = pts[:, 2]
    # away from the surface (the edges are singular)
    dist = np.minimum(np.abs(rho - R) + np.where(np.abs(z) <= L / 2, 0, np.abs(z) - L / 2),
                      np.where(rho <= R, np.abs(np.abs(z) - L / 2), np.inf))
    ok = dist > 1e-3 * R
    pts, rho, z = pts[ok], rho[ok], z[ok]
    cyl = magpy.magnet.Cylinder(polarization=(0, 0, MU_0 * M), dimension=(2 * R, L))
    B = cyl.getB(pts)
    _, brho = _to_rho(pts, B)
    br, bz = A.cylinder_field(R, L, M, rho, z)
    mag = np.hypot(brho, B[:, 2])
    assert np.max(np.abs(br - brho) / mag) < 1e-10
    assert np.max(np.abs(bz - B[:, 2]) / mag) < 1e-10


def test_cylinder_on_axis_and_solenoid_equivalence():
    R, L, M = 0.01, 0.05, 1.0e5
    z = np.linspace(-0.1, 0.1, 41)
    _, bz = A.cylinder_field(R, L, M, 1e-12, z)
    ref = MU_0 * M / 2 * ((z + L / 2) / np.sqrt((z + L / 2) ** 2 + R**2) - (z - L / 2) / np.sqrt((z - L / 2) ** 2 + R**2))
    np.testing.assert_allclose(bz, ref, rtol=1e-12)
    # a solenoid of N turns at current I is the cylinder with M = N I / L
    br_s, bz_s = A.solenoid_field(R, L, 500, 2.0, 0.004, z)
    br_c, bz_c = A.cylinder_field(R, L, 500 * 2.0 / L, 0.004, z)
    np.testing.assert_allclose(bz_s, bz_c, rtol=1e-15)
    # and the sum of many thin loops converges to it (independent route: the loop kernel)
    n = 4000
    zs = (np.arange(n) + 0.5) / n * L - L / 2
    br_l, bz_l = A.coaxial_loops_field(np.full(n, R), np.full(n, M * L / n), zs, 0.03, 0.04)
    br_1, bz_1 = A.cylinder_field(R, L, M, 0.03, 0.04)
    assert bz_l == pytest.approx(bz_1, rel=1e-6)
    assert br_l == pytest.approx(br_1, rel=1e-6)


def test_helmholtz_centre_and_flatness():
    R, N, I = 0.15, 100, 1.5
    _, b0 = A.helmholtz_field(R, N, I, 0.0, 0.0)
    assert b0 == pytest.approx((4 / 5) ** 1.5 * MU_0 * N * I / R, rel=1e-14)
    assert A.helmholtz_centre_field(R, N, I) == pytest.approx(b0, rel=1e-14)
    # first three z-derivatives vanish: B(z) - B(0) ~ z^4
    h = 1e-2 * R
    _, bh = A.helmholtz_field(R, N, I, 0.0, h)
    _, b2h = A.helmholtz_field(R, N, I, 0.0, 2 * h)
    assert abs(bh - b0) / b0 < 1e-7
    assert (b2h - b0) / (bh - b0) == pytest.approx(16, rel=1e-2)


def test_anti_helmholtz_gradient_and_trap():
    R, N, I, d = 0.05, 50, 3.0, 0.06
    g = A.anti_helmholtz_gradient(R, N, I, d)
    assert g == pytest.approx(3 * MU_0 * N * I * R**2 * (d / 2) / (R**2 + d**2 / 4) ** 2.5, rel=1e-15)
    h = 1e-6
    _, bp = A.helmholtz_field(R, N, I, 0.0, h, spacing=d, anti=True)
    _, bm = A.helmholtz_field(R, N, I, 0.0, -h, spacing=d, anti=True)
    _, b0 = A.helmholtz_field(R, N, I, 0.0, 0.0, spacing=d, anti=True)
    assert abs(b0) < 1e-18
    assert (bp - bm) / (2 * h) == pytest.approx(g, rel=1e-8)
    br, _ = A.helmholtz_field(R, N, I, h, 0.0, spacing=d, anti=True)
    assert br / h == pytest.approx(-g / 2, rel=1e-8)
    trap = A.quadrupole_trap(R, N, I, d)
    assert abs(trap["z_min"]) < 1e-9 and trap["B_min"] < 1e-12
    assert trap["gradient_z"] == pytest.approx(g, rel=1e-6)
    # unbalanced currents move the zero along the axis, towards the weaker coil
    t2 = A.quadrupole_trap(R, N, I, d, current_ratio=1.1)
    assert t2["z_min"] > 0 and t2["B_min"] < 1e-9


def test_mutual_inductance():
    # PHYSICS.md table: a = 1 um, b = 2 um, d = 0.5 um: 0.96 pH
    assert A.mutual_inductance(1e-6, 2e-6, 0.5e-6) == pytest.approx(0.96e-12, rel=5e-3)
    # independent route: flux of loop a's field through loop b (integrate B_z over the disc)
    for a, b, d in [(1e-6, 2e-6, 0.5e-6), (0.1, 0.1, 0.3), (0.01, 0.5, 2.0)]:
        flux = quad(lambda r: A.loop_field(a, 1.0, r, d)[1] * 2 * np.pi * r, 0, b,
                    epsabs=0, epsrel=1e-12, limit=400, points=[a] if a < b else None)[0]
        assert A.mutual_inductance(a, b, d) == pytest.approx(flux, rel=1e-9)
    # far apart: dipole-dipole limit mu0 pi a^2 b^2 / (2 d^3), no cancellation
    a, b, d = 1e-3, 2e-3, 10.0
    assert A.mutual_inductance(a, b, d) == pytest.approx(MU_0 * np.pi * a**2 * b**2 / (2 * d**3), rel=1e-6)


def test_bound_currents_uniform_magnetization_is_the_cylinder():
    R, L, M = 0.01, 0.03, 2e5
    rho = np.array([0.0, 0.004, 0.02, 0.005, 0.03])
    z = np.array([0.03, -0.025, 0.0, 0.0, 0.05])
    br, bz = A.magnetization_field(None, lambda r, zz: M + 0 * r, R, L, rho, z, n_rho=8, n_z=8)
    br0, bz0 = A.cylinder_field(R, L, M, rho, z)
    scale = np.hypot(br0, bz0)
    assert np.max(np.abs(br - br0) / scale) < 1e-8
    assert np.max(np.abs(bz - bz0) / scale) < 1e-8


def test_bound_currents_ks2_long_cylinder():
    """M = k s^2 z-hat: J_b = -2ks phi-hat, K_b = k R^2 phi-hat on the side; in a long
    cylinder H = 0 so B = mu0 M = mu0 k s^2 (Griffiths 6.7). The volume current alone gives
    -mu0 k (R^2 - s^2), largest in magnitude on the axis."""
    k, R, L = 1e9, 0.01, 2.0
    s = np.array([0.0, 0.003, 0.006, 0.009])
    _, bz = A.magnetization_field(None, lambda r, zz: k * r**2, R, L, s, 0 * s, n_rho=200, n_z=1)
    np.testing.assert_allclose(bz, MU_0 * k * s**2, atol=1e-2 * MU_0 * k * R**2)
    # the volume current alone (no side sheet): -mu0 k (R^2 - s^2), strongest on the axis
    _, bz_vol = A.magnetization_field(None, lambda r, zz: k * r**2 - k * R**2, R, L, s, 0 * s, n_rho=200, n_z=1)
    np.testing.assert_allclose(bz_vol, -MU_0 * k * (R**2 - s**2), atol=1e-2 * MU_0 * k * R**2)
    assert np.argmax(np.abs(bz_vol)) == 0


def test_vectorized_broadcasting_and_validation():
    br, bz = A.loop_field(np.array([[0.01], [0.02]]), 1.0, np.linspace(0, 0.05, 5), 0.01)
    assert br.shape == (2, 5) and bz.shape == (2, 5)
    with pytest.raises(ValueError):
        A.loop_field(-1.0, 1.0, 0.1, 0.1)
    with pytest.raises(ValueError):
        A.cylinder_field(0.01, 0.0, 1.0, 0.1, 0.1)
    br, bz = A.loop_field(0.01, 1.0, 0.01, 0.0)  # on the wire
    assert np.isnan(bz)


def test_blocked_loop_path_equals_the_scalar_route():
    """Scalar a/current use a vectorized fixed-step AGM in blocks; arrays take the converging
    per-point route. Both must agree everywhere, including next to the wire (kc ~ 1e-3)."""
    rng = np.random.default_rng(4)
    a = 0.01
    rho = np.r_[rng.uniform(0, 0.05, 3000), a * (1 + rng.uniform(-2e-3, 2e-3, 500)), -0.02]
    z = np.r_[rng.uniform(-0.05, 0.05, 3000), a * rng.uniform(-2e-3, 2e-3, 500), 0.01]
    br1, bz1 = A.loop_field(a, 2.0, rho, z)
    br2, bz2 = A.loop_field(np.full(rho.shape, a), np.full(rho.shape, 2.0), rho, z)
    scale = np.hypot(br2, bz2)
    ok = np.isfinite(scale)
    assert np.max(np.abs(br1 - br2)[ok] / scale[ok]) < 2e-13
    assert np.max(np.abs(bz1 - bz2)[ok] / scale[ok]) < 2e-13

"""Issue 15's smaller physics items, each against an independent route: mpmath at 50 digits
(Brillouin, Langevin, the loop field, a Biot-Savart line integral), the level sum of a 1D ring
(ballistic persistent current), a Rayleigh-Ritz beam (flexural tip slope), and a numerical
second derivative of the rings' energy at the tilted tip (cantilever frequency shift)."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from loopscope.sim_devices.cantilever import FLEXURAL_TIP_SLOPE, Cantilever
from loopscope.sim_devices.constants import E_CHARGE, HBAR, K_B, MU_0, MU_B, PHI0_NORMAL
from loopscope.sim_devices.fields import loop_field
from loopscope.sim_devices.rings import RingArray
from loopscope.sim_devices.samples import Paramagnet, brillouin, langevin
from loopscope.sim_devices.world import World



@pytest.fixture(autouse=True)
def _fifty_digits():
    """mpmath at 50 digits inside these tests only (its precision is process-global)."""
    with mp.workdps(50):
        yield


# ------------------------------------------------------------------ Brillouin and Langevin
def _brillouin_mp(J, x):
    J, x = mp.mpf(J), mp.mpf(x)
    a, b = (2 * J + 1) / (2 * J), 1 / (2 * J)
    return a * mp.coth(a * x) - b * mp.coth(b * x)


XS = [10.0 ** e for e in np.linspace(-9, 3, 97)] + [1.999999, 2.0, 2.000001]


@pytest.mark.parametrize("J", [0.5, 1.0, 3.5, 7.5])
def test_brillouin_to_1e_15_from_zero_field_to_saturation(J):
    x = np.array(XS + [-v for v in XS])
    got = brillouin(J, x)
    ref = np.array([float(_brillouin_mp(J, v)) for v in x])
    # the old form a coth(ax) - b coth(bx) with a linear branch below 1e-6 was 4.6e-4 off here
    assert np.max(np.abs(got - ref) / np.abs(ref)) < 1.5e-15
    assert brillouin(J, 0.0) == 0.0


def test_langevin_to_1e_15_and_half_spin_is_tanh():
    x = np.array(XS + [-v for v in XS])
    ref = np.array([float(mp.coth(mp.mpf(v)) - 1 / mp.mpf(v)) for v in x])
    assert np.max(np.abs(langevin(x) - ref) / np.abs(ref)) < 1e-15
    t = np.array([1e-9, 1e-5, 0.3, 1.7, 5.0])
    np.testing.assert_allclose(brillouin(0.5, t), np.tanh(t), rtol=1e-15, atol=0)


def test_paramagnet_at_high_temperature_follows_curie_law_to_its_own_correction():
    """At 300 K and 1 mT (J = 7/2) x = 1.6e-5: the magnetization against mpmath; the old
    a coth(ax) - b coth(bx) was 1.6e-6 off here (eps/x^2), 4e-10 at 50 K and 10 mT."""
    n, g, J, V = 1e27, 2.0, 3.5, 1e-9
    s = Paramagnet(n, g, J, 0.0, V)
    for T, B in ((300.0, 1e-3), (1000.0, 1e-4), (50.0, 0.01)):
        x = g * MU_B * J * B / (K_B * T)
        ref = n * g * MU_B * J * _brillouin_mp(J, x) * V
        assert s.moment_Am2(B, T, 0.0) == pytest.approx(float(ref), rel=2e-15, abs=0)


# ------------------------------------------------------------------ loop field
def _loop_mp(a, rho, z):
    """PHYSICS.md section 2's textbook form at 50 digits (its cancellations are harmless there)."""
    a, rho, z = mp.mpf(a), mp.mpf(rho), mp.mpf(z)
    d2, d1 = (a + rho) ** 2 + z ** 2, (a - rho) ** 2 + z ** 2
    m = 4 * a * rho / d2
    K, E = mp.ellipk(m), mp.ellipe(m)
    pref = mp.mpf(MU_0) / (2 * mp.pi * mp.sqrt(d2))
    return (pref * z / rho * (-K + (a ** 2 + rho ** 2 + z ** 2) / d1 * E),
            pref * (K + (a ** 2 - rho ** 2 - z ** 2) / d1 * E))


def _biot_savart_mp(a, rho, z):
    """B of a unit-current loop by the line integral mu0/(4 pi) oint dl x r / r^3 (mpmath),
    split at the closest point of the wire (phi = 0) where the integrand peaks."""
    a, rho, z = mp.mpf(a), mp.mpf(rho), mp.mpf(z)

    def r3(phi):
        return (a * a + rho * rho + z * z - 2 * a * rho * mp.cos(phi)) ** 1.5

    c = mp.mpf(MU_0) * a / (4 * mp.pi)
    bz = c * 2 * mp.quad(lambda p: (a - rho * mp.cos(p)) / r3(p), [0, mp.mpf(10) ** -6, 1e-3, 0.1, mp.pi])
    br = c * 2 * mp.quad(lambda p: z * mp.cos(p) / r3(p), [0, mp.mpf(10) ** -6, 1e-3, 0.1, mp.pi])
    return br, bz


def _points(a):
    pts = []
    for d in (1e-9, 1e-6, 1e-3, 0.3):                     # around the wire, all sides
        for ang in np.linspace(0.1, 2 * np.pi + 0.1, 12, endpoint=False):
            pts.append((a * (1 + d * math.cos(ang)), a * d * math.sin(ang)))
    for R in (3.0, 1e2, 1e5, 1e7):                        # far away, on and off the plane
        for ang in (0.05, 0.6, 1.2, math.pi / 2):
            pts.append((a * R * math.sin(ang), a * R * math.cos(ang)))
    return pts


@pytest.mark.parametrize("a", [1e-9, 3e-7, 1.0, 1e3])
def test_loop_field_near_the_wire_and_far_away_against_mpmath(a):
    pts = np.array(_points(a))
    br, bz = loop_field(a, 1.0, pts[:, 0], pts[:, 1])
    ref = np.array([[float(v) for v in _loop_mp(a, r, z)] for r, z in pts])
    mag = np.hypot(ref[:, 0], ref[:, 1])
    err = np.hypot(br - ref[:, 0], bz - ref[:, 1]) / mag
    # before: 3e-10 at 1e-6 a from the wire, NaN at 1e-8 a, 7e-7 at 1e5 a, 5e-2 at 1e7 a
    assert err.max() < 5e-15
    big = np.abs(ref[:, 1]) > 1e-2 * mag                 # B_z to itself, away from its zeros
    assert np.max(np.abs(bz - ref[:, 1])[big] / np.abs(ref[big, 1])) < 1e-13


@pytest.mark.parametrize("rho_over_a, z_over_a", [(1 + 1e-6, 0.0), (1 - 7e-7, 7e-7), (0.5, 0.2),
                                                  (7e4, 7e4), (1e5, 0.0), (1e-3, 1e5)])
def test_loop_field_against_biot_savart_line_integral(rho_over_a, z_over_a):
    a = 2e-6
    br, bz = loop_field(a, 1.0, rho_over_a * a, z_over_a * a)
    rbr, rbz = _biot_savart_mp(a, rho_over_a * a, z_over_a * a)
    mag = float(mp.sqrt(rbr ** 2 + rbz ** 2))
    assert abs(float(bz) - float(rbz)) < 4e-15 * mag
    assert abs(float(br) - float(rbr)) < 4e-15 * mag


def test_loop_field_nan_on_the_wire_and_exact_on_the_axis():
    br, bz = loop_field(1.0, 2.0, 1.0, 0.0)
    assert math.isnan(float(bz)) and math.isnan(float(br))
    _, bz = loop_field(0.3, 2.0, 0.0, 0.4)
    assert float(bz) == pytest.approx(MU_0 * 2.0 * 0.09 / (2 * 0.25 ** 1.5), rel=1e-15, abs=0)


# ------------------------------------------------------------------ ring amplitudes
def _rings(model="ballistic", spin=2, radius=3e-7, n_harmonics=3, theta_deg=45.0, n_rings=1, vf=1.4e6, seed=0):
    return RingArray(radius, n_rings, 0.01, n_harmonics, model, 0.0, theta_deg, None, vf,
                     np.random.default_rng(seed), spin)


def _level_sum_harmonics(L, vf, T, spin, p_max=3, n_flux=256):
    """Free electrons on a ring of circumference L, E_n = hbar^2 (2 pi/L)^2 (n + Phi/Phi0)^2 / 2m*,
    grand canonical at T with mu at the Fermi level k_F L = 2 pi n_F (every harmonic then has
    its largest amplitude); I = -sum_n f(E_n) dE_n/dPhi, times the spin degeneracy. Returns the
    sine coefficients b_p of I(Phi) (from the FFT over one period). An independent route: no
    x/sinh x, no sawtooth, no e v_F/L in it."""
    n_f = 400                                            # k_F = 2 pi n_F / L
    m_eff = HBAR * 2 * math.pi * n_f / (L * vf)          # the mass that makes v_F = hbar k_F / m
    phi = np.arange(n_flux) / n_flux                     # Phi/Phi0 over one period
    n = np.arange(-3 * n_f, 3 * n_f + 1)[:, None]
    q = 2 * math.pi / L * (n + phi[None, :])
    e = (HBAR * q) ** 2 / (2 * m_eff)
    mu = (HBAR * 2 * math.pi * n_f / L) ** 2 / (2 * m_eff)
    occ = 0.5 * (1 - np.tanh((e - mu) / (2 * K_B * T))) if T > 0 else (e <= mu).astype(float)
    de_dphi = HBAR ** 2 * q / m_eff * (2 * math.pi / L) / PHI0_NORMAL    # dE/dPhi (J/Wb)
    current = -spin * np.sum(occ * de_dphi, axis=0)
    spec = np.fft.rfft(current) / n_flux
    return np.array([-2 * spec[p].imag for p in range(1, p_max + 1)])


@pytest.mark.parametrize("T", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("spin", [1, 2])
def test_ballistic_amplitude_and_decay_against_the_level_sum_of_a_1d_ring(T, spin):
    r = _rings(spin=spin)
    L = 2 * math.pi * r.radius_m
    b = _level_sum_harmonics(L, 1.4e6, T, spin)
    for p in (1, 2, 3):
        # |b_p| = spin (2/(pi p)) e v_F/L x/sinh x; the old code used the diffusive 0.7 nA scale
        assert r.typical_current_A(p, T) == pytest.approx(abs(b[p - 1]), rel=1e-6, abs=0)
    assert r.typical_current_A(1, 1e-12) == pytest.approx(spin * 2 / math.pi * E_CHARGE * 1.4e6 / L, rel=1e-12, abs=0)


def test_diffusive_amplitude_is_the_thouless_scale_times_spin():
    for radius in (1e-7, 3e-7, 2e-6):
        one, two = _rings("diffusive", 1, radius), _rings("diffusive", 2, radius)
        L = 2 * math.pi * radius
        E_c = HBAR * 0.01 / L ** 2
        # PHYSICS.md: I_1 = 4 sqrt(6) E_c/Phi0 = 1.56 e E_c/hbar for one spin; j_p(0) = 12/p^5
        assert one.typical_current_A(1, 1e-9) == pytest.approx(4 * math.sqrt(6) * E_c / PHI0_NORMAL, rel=1e-5, abs=0)
        assert one.typical_current_A(1, 1e-9) == pytest.approx(1.5594 * E_CHARGE * E_c / HBAR, rel=1e-4, abs=0)
        for p in (1, 2, 3):
            assert two.typical_current_A(p, 0.05) == pytest.approx(2 * one.typical_current_A(p, 0.05), rel=1e-14, abs=0)


def test_the_lab_counts_both_spins_by_default_and_one_on_request():
    w2, w1 = World(seed=4), World({"sample": {"rings": {"spin_degeneracy": 1}}}, seed=4)
    assert w2.sample.spin_degeneracy == 2 and w1.sample.spin_degeneracy == 1
    np.testing.assert_allclose(w2.sample.coefficients_A(0.03), 2 * w1.sample.coefficients_A(0.03), rtol=1e-14)
    with pytest.raises(ValueError, match="spin_degeneracy"):
        _rings(spin=3)


# ------------------------------------------------------------------ cantilever
def test_flexural_tip_slope_by_rayleigh_ritz():
    """First mode of a clamped-free beam from a Rayleigh-Ritz basis s^2, s^3, ... (clamped end
    built in; the free-end conditions are natural): tip slope L w'(L)/w(L) -> 1.3765."""
    from numpy.polynomial import polynomial as P
    from scipy.linalg import eigh

    powers = range(2, 12)
    basis = [np.eye(13)[k] for k in powers]
    d2 = [P.polyder(c, 2) for c in basis]

    def integral(c):
        ic = P.polyint(c)
        return P.polyval(1.0, ic) - P.polyval(0.0, ic)

    K = np.array([[integral(P.polymul(u, v)) for v in d2] for u in d2])
    M = np.array([[integral(P.polymul(u, v)) for v in basis] for u in basis])
    vals, vecs = eigh(K, M)
    c = sum(w * b for w, b in zip(vecs[:, 0], basis))
    assert vals[0] ** 0.25 == pytest.approx(1.8751040687, rel=1e-8)
    assert P.polyval(1.0, P.polyder(c)) / P.polyval(1.0, c) == pytest.approx(FLEXURAL_TIP_SLOPE, rel=1e-9)
    assert FLEXURAL_TIP_SLOPE == pytest.approx(1.3765, abs=1e-4)


def _shift_from_energy(cant: Cantilever, B, T):
    """f0 (sqrt(1 + k_mag/(k l^2)) - 1) with k_mag = d^2 F/d alpha^2 of the rings' free energy
    F(Phi) = sum_p c_p Phi0/(2 pi p) cos(2 pi p Phi/Phi0) (so that I = -dF/dPhi) at the flux
    Phi = A B sin(theta + alpha) of the tilted tip, differentiated numerically by mpmath."""
    r = cant.rings
    c = [mp.mpf(float(v)) for v in r.coefficients_A(T)]
    A, Bm, th, phi0 = mp.mpf(r.area_m2), mp.mpf(B), mp.mpf(r.theta_rad), mp.mpf(PHI0_NORMAL)

    def energy(alpha):
        flux = A * Bm * mp.sin(th + alpha)
        return sum(cp * phi0 / (2 * mp.pi * p) * mp.cos(2 * mp.pi * p * flux / phi0) for p, cp in enumerate(c, 1))

    k_mag = mp.diff(energy, 0, 2)
    k_alpha = mp.mpf(cant.k) * mp.mpf(cant.lever_m) ** 2
    return float(mp.mpf(cant.f0) * (mp.sqrt(1 + k_mag / k_alpha) - 1))


@pytest.mark.parametrize("theta_deg", [30.0, 45.0, 52.0, 60.0])
@pytest.mark.parametrize("mode", ["flexural", "torsional"])
def test_cantilever_shift_is_the_second_derivative_of_the_rings_energy(theta_deg, mode):
    rings = _rings("diffusive", 2, n_rings=1000, n_harmonics=4, theta_deg=theta_deg, seed=7)
    cant = Cantilever(2000.0, 2e4, 1e-3, 3e-4, 0.0, 1e-4, 0.0, rings, mode)
    for B in (1e-3, 7e-3, 0.05, 0.4, 2.0, 5.0):
        ref = _shift_from_energy(cant, B, 0.03)
        assert cant.ring_shift_Hz(B, 0.03) == pytest.approx(ref, rel=1e-6, abs=0), B


def test_size_of_the_current_term_in_the_cantilever_shift():
    """The I A B sin(theta) term against the dI/dPhi term, each divided by its own phase factor
    (sin and cos of 2 pi A B sin(theta)/Phi0 for one harmonic): the envelope ratio is
    Phi0 sin(theta) / (2 pi A B cos^2 theta), 3.3 at 1 mT and 3.3e-3 at 1 T for r = 300 nm, 45 deg."""
    rings = _rings("diffusive", 2, n_rings=1000, n_harmonics=1, theta_deg=45.0, seed=2)
    cant = Cantilever(2000.0, 2e4, 1e-3, 3e-4, 0.0, 1e-4, 0.0, rings, "flexural")
    for B0, expected in ((1e-3, 3.29), (1.0, 3.29e-3)):
        curvature, current = cant.ring_stiffness_terms(B0, 0.03)
        ph = 2 * math.pi * rings.flux_Wb(B0) / PHI0_NORMAL
        ratio = abs(current / math.sin(ph)) / abs(curvature / math.cos(ph))
        est = PHI0_NORMAL * math.sin(rings.theta_rad) / (2 * math.pi * rings.area_m2 * B0 * math.cos(rings.theta_rad) ** 2)
        assert ratio == pytest.approx(est, rel=1e-12)
        assert ratio == pytest.approx(expected, rel=2e-3)


def test_lab_cantilever_is_flexural_by_default():
    c = World().cantilever
    assert c.mode == "flexural" and c.lever_m == pytest.approx(c.l / 1.3765, rel=1e-4)
    t = World({"cantilever": {"mode": "torsional"}}).cantilever
    assert t.lever_m == t.l
    with pytest.raises(ValueError, match="cantilever.mode"):
        Cantilever(2000.0, 2e4, 1e-3, 3e-4, 0.0, 1e-4, 0.0, c.rings, "paddle")


def test_j_p_far_below_the_thouless_temperature_against_mpmath():
    """j_p(theta) at theta = 1e-7..1e-2 (the diffusive amplitude of a large ring at low T):
    2 % low below theta = 1e-5 before its quadrature was split into decades."""
    from loopscope.sim_devices.rings import j_p

    with mp.workdps(30):
        for p in (1, 2):
            for theta in (1e-7, 2e-6, 1e-5, 1e-3, 1e-2):
                th = mp.mpf(theta)
                f = lambda t: (mp.pi * th) ** 2 * mp.exp(-p * p / (4 * t)) / (  # noqa: E731
                    2 * mp.sqrt(mp.pi) * t ** 1.5 * mp.sinh(mp.pi * th * t) ** 2)
                ref = mp.quad(f, [0, p * p / 24, p * p / 6] + [p * p * 10.0 ** k for k in range(0, 10)] + [mp.inf])
                assert j_p(p, theta) == pytest.approx(float(ref), rel=1e-8, abs=0)

"""Magnetization curves, hysteresis, persistent-current laws and decay: limits, closed forms
and numerical integration (scipy) as the independent routes."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

import loopscope.analysis as A
from loopscope.analysis import constants as C
from loopscope.analysis.models import get_model


def test_brillouin_half_is_tanh_and_large_J_is_langevin():
    x = np.r_[np.linspace(-20, 20, 401), 1e-9, 1e-5, 0.05, 0.1, 0.11]
    np.testing.assert_allclose(A.brillouin_function(0.5, x), np.tanh(x), rtol=1e-13, atol=1e-300)
    # J -> infinity at fixed moment: B_J(x/J) -> L(x)
    y = np.linspace(0.01, 10, 50)
    np.testing.assert_allclose(A.brillouin_function(1e6, y), A.langevin_function(y), rtol=1e-5)
    # small x: B_J(x) = (J+1)/(3J) x (Curie law), keeping full precision
    for J in (0.5, 1.0, 3.5, 7.5):
        assert A.brillouin_function(J, 1e-8) == pytest.approx((J + 1) / (3 * J) * 1e-8, rel=1e-12)


def test_langevin_series_and_limits():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    x = np.array([1e-12, 1e-6, 0.01, 0.0999, 0.1001, 0.5, 1.0, 50.0, -3.0])
    ref = np.array([float(mpmath.coth(mpmath.mpf(v)) - 1 / mpmath.mpf(v)) for v in x])
    np.testing.assert_allclose(A.langevin_function(x), ref, rtol=1e-12)
    assert A.langevin_function(1e5) == pytest.approx(1 - 1e-5, rel=1e-15)


def test_curie_constant_from_brillouin_slope():
    n, T, J, g = 1e27, 10.0, 3.5, 2.0
    B = 1e-4
    M = A.brillouin_magnetization(B, T, n, g=g, J=J)
    chi = C.MU_0 * M / B
    assert chi == pytest.approx(A.curie_constant(n, g, J) / T, rel=1e-6)


def test_brillouin_model_fit_recovers_parameters():
    spec = get_model("brillouin")
    B = np.linspace(-7, 7, 300)
    true = {"Ms": 4e-4, "g": 2.0, "J": 7.5, "T": 2.0, "chi0": -2e-6}
    y = spec(B, true)
    rng = np.random.default_rng(5)
    y = y + rng.normal(0, 2e-7, B.size)
    res = A.fit("brillouin", B, y, params={"Ms": 3e-4, "J": 4.0, "T": 2.0})
    assert res.converged
    for k in ("Ms", "J", "chi0"):
        i = res.names.index(k)
        assert abs(res.values[i] - true[k]) < 4 * res.stderr[i]


def test_jiles_atherton_loop_properties():
    Ms, a, k, c, alpha = 1.6e6, 110.0, 400.0, 0.2, 1e-4
    loop = A.hysteresis_loop(Ms, a, k, c, alpha, H_max=5000.0)
    assert loop["coercivity"] > 0.3 * k and loop["coercivity"] < 3 * k
    assert 0 < loop["remanence"] < Ms
    # loss per cycle = closed integral of H dB; independent route: -closed integral of B dH
    H, M = loop["H"], loop["M"]
    Bf = C.MU_0 * (H + M)
    alt = -np.sum(0.5 * (Bf[1:] + Bf[:-1]) * np.diff(H))
    assert loop["loss_per_cycle"] == pytest.approx(alt, rel=1e-3)
    assert loop["loss_per_cycle"] > 0
    # more pinning, wider loop, more loss; a fully reversible material (c = 1) has none
    wide = A.hysteresis_loop(Ms, a, 2 * k, c, alpha, H_max=5000.0)
    assert wide["coercivity"] > loop["coercivity"] and wide["loss_per_cycle"] > loop["loss_per_cycle"]
    rev = A.hysteresis_loop(Ms, a, k, 1.0, alpha, H_max=5000.0)
    assert abs(rev["loss_per_cycle"]) < 1e-5 * loop["loss_per_cycle"]
    assert rev["coercivity"] < 1e-6 * k


def test_jp_zero_temperature_and_quadrature():
    for p in (1, 2, 3):
        assert A.jp(p, 0.0) == pytest.approx(12 / p**5, rel=1e-10)
        assert A.jp(p, 1e-9) == pytest.approx(12 / p**5, rel=1e-8)

    def direct(p, theta):
        def f(t):
            y = math.pi * theta * t  # (pi theta)^2 / sinh^2(y) written without overflow
            e = math.exp(-2 * y)
            return ((math.pi * theta) ** 2 * 4 * e / (1 - e) ** 2 * math.exp(-p * p / (4 * t))
                    / (2 * math.sqrt(math.pi) * t**1.5))
        return quad(f, 0, np.inf, epsabs=0, epsrel=1e-12, limit=500)[0]

    for p, theta in [(1, 0.1), (1, 1.0), (1, 5.0), (2, 0.5), (3, 2.0), (1, 20.0)]:
        assert A.jp(p, theta) == pytest.approx(direct(p, theta), rel=1e-9)


def test_diffusive_decay_scale():
    """PHYSICS.md: between 3 and 20 E_c the typical current falls ~exp(-T/T_1); measure T_1
    from j_1 itself (I ~ sqrt(j_1))."""
    theta = np.linspace(3, 20, 50)
    logI = 0.5 * np.log(A.jp(1, theta))
    slope = np.polyfit(theta, logI, 1)[0]
    # k_B T_1 = E_c / (-slope); PHYSICS.md quotes k_B T_1 ~ 9.7 E_c (check)
    assert -1 / slope == pytest.approx(9.7, rel=0.03)


def test_thouless_energy_from_a_temperature_series():
    Ec_K = 0.0215  # PHYSICS.md: r = 0.3 um, D = 0.01 m^2/s
    Ec = A.thouless_energy(0.01, 0.3e-6)
    assert Ec / C.K_B == pytest.approx(Ec_K, rel=0.01)
    I0 = A.typical_current_T0(Ec)
    assert I0 == pytest.approx(0.7e-9, rel=0.05)
    assert I0 == pytest.approx(1.56 * C.E_CHARGE * Ec / C.HBAR, rel=0.01)
    T = np.linspace(0.005, 0.3, 40)
    # independent: sqrt(8 E_c^2/Phi0^2 j_1) by scipy quadrature
    I_true = A.typical_current(T, Ec)
    rng = np.random.default_rng(7)
    sig = 0.01 * I0
    y = I_true + rng.normal(0, sig, T.size)
    res = A.fit("pc_diffusive_T", T, y, params={"I0": 0.5e-9, "Ec_K": 0.05}, sigma=np.full(T.size, sig),
                absolute_sigma=True)
    assert res.converged
    i = res.names.index("Ec_K")
    assert abs(res.values[i] - Ec / C.K_B) < 4 * res.stderr[i]
    assert res.derived["E_c"][0] == pytest.approx(res.values[i] * C.K_B)
    j = res.names.index("I0")
    assert abs(res.values[j] - math.sqrt(8 * 12) * Ec / C.PHI0) < 4 * res.stderr[j]


def test_ballistic_and_exponential_temperature_laws():
    T = np.linspace(0, 1, 30)
    f = A.ballistic_factor(T, 0.2, p=2)
    x = 2 * T / 0.2
    ref = np.where(x == 0, 1.0, x / np.sinh(np.where(x == 0, 1, x)))
    np.testing.assert_allclose(f, ref, rtol=1e-12)
    y = 3e-9 * np.exp(-T / 0.15)
    res = A.fit("pc_exponential_T", T, y)
    assert res.converged and res["T_p"] == pytest.approx(0.15, rel=1e-8)


def test_ring_area_from_the_field_period_fft_and_fit():
    area = math.pi * (0.3e-6) ** 2
    assert A.field_period(area) == pytest.approx(0.0146, rel=0.01)  # PHYSICS.md: 14.6 mT
    rng = np.random.default_rng(11)
    B = np.sort(rng.uniform(0, 0.6, 1500))  # non-uniform field grid
    I = A.persistent_current(B, area, [0.7e-9, 0.2e-9], [0.0, math.pi])
    y = I + 3e-10 * B + 2e-10 * B**2 + rng.normal(0, 0.05e-9, B.size)
    h = A.find_harmonics(B, y, area=area)
    assert h["area_h_e"] == pytest.approx(area, rel=0.01)
    assert not h["h2e_dominant"]
    assert h["amplitude_h_e"] == pytest.approx(0.7e-9, rel=0.1)
    assert h["amplitude_h_2e"] == pytest.approx(0.2e-9, rel=0.15)
    res = A.fit("persistent_current", B, y - 2e-10 * B**2)
    assert res.converged
    i = res.names.index("area")
    assert abs(res.values[i] - area) < 4 * res.stderr[i]
    assert res.derived["ring_radius"][0] == pytest.approx(0.3e-6, rel=1e-3)
    # field at 45 degrees: the period grows by 1/sin(theta)
    I45 = A.persistent_current(B, area, [1e-9], theta=math.pi / 4)
    h45 = A.find_harmonics(B, I45, theta=math.pi / 4)
    assert h45["area_h_e"] == pytest.approx(area, rel=0.01)


def test_ensemble_h2e_harmonic():
    area = 2.83e-13
    B = np.linspace(-0.2, 0.2, 2000)
    m = 1.2e-15 * np.sin(4 * math.pi * area * B / C.PHI0 + 0.4) + 1e-16 * B
    h = A.find_harmonics(B, m, area=area)
    assert h["h2e_dominant"]
    assert h["area_h_2e"] == pytest.approx(area, rel=0.01)
    res = A.fit("pc_ensemble", B, m)
    assert res.converged and res["area"] == pytest.approx(area, rel=1e-9)
    assert res["moment_amp"] == pytest.approx(1.2e-15, rel=1e-9)


def test_squid_and_cantilever_chains():
    Mrp = A.mutual_inductance(1e-6, 2e-6, 0.5e-6)
    spec = get_model("pc_squid")
    B = np.linspace(0, 0.3, 800)
    p = dict(M_rp=Mrp, area=math.pi * 1e-12, theta=math.pi / 2, I1=1e-9, phi1=0.3, I2=2e-10, phi2=0.0,
             chi_bg=0.05, c0=0.01)
    flux = spec(B, p)
    # independent evaluation: M I / (h/2e) + background
    I = A.persistent_current(B, p["area"], [1e-9, 2e-10], [0.3, 0.0])
    np.testing.assert_allclose(flux, Mrp * I / C.PHI0_SC + 0.05 * B + 0.01, rtol=1e-12, atol=1e-15)
    res = A.fit("pc_squid", B, flux, params={"M_rp": Mrp, "area": 0.99 * p["area"], "I1": 0.8e-9, "phi1": 0.2,
                                               "I2": 1e-10})
    assert res.converged and res["area"] == pytest.approx(p["area"], rel=1e-8)
    cant = get_model("pc_cantilever")
    B = np.linspace(1, 5, 2000)
    q = dict(f0=2000.0, k_spring=1e-3, lever=300e-6, area=2.83e-13, theta=math.pi / 4, I1=1e-9, phi1=0.0,
             I2=0.0, phi2=0.0, b2=0.0, b0=0.0)
    df = cant(B, q)
    env = q["f0"] * q["area"] ** 2 * B**2 * 0.5 / (2 * q["k_spring"] * q["lever"] ** 2) * 2 * math.pi / C.PHI0 * 1e-9
    np.testing.assert_allclose(np.abs(df).max(), env.max(), rtol=3e-2)  # B^2 envelope
    assert env.max() == pytest.approx(1.7e-5, rel=0.02)  # PHYSICS.md: 1.7e-5 Hz per ring per nA at 5 T, 45 deg


def test_superconducting_decay_models_and_bound():
    t = np.linspace(0, 1e5, 200)
    y = 50.0 * np.exp(-t / 3e6) * (1 - 0.03 * np.log1p(t / 10.0))
    res = A.fit("sc_decay", t, y, params={"I0": 49.0, "tau": 1e6, "S": 0.02, "t0": 5.0})
    assert res.converged
    assert res["S"] == pytest.approx(0.03, rel=1e-6) and res["tau"] == pytest.approx(3e6, rel=1e-5)
    assert A.decay_time_lower_bound(3.15e7, 1e-5) == pytest.approx(3.15e12)
    with pytest.raises(ValueError):
        A.decay_time_lower_bound(0, 1e-5)

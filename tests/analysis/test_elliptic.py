"""Elliptic integrals against scipy (safe region) and mpmath (hard regions, 50 digits)."""
import numpy as np
import pytest
from scipy.special import ellipe, ellipk

from loopscope.analysis.kernels import elliptic as el


def test_k_and_e_match_scipy_in_the_safe_region():
    m = np.linspace(0.01, 0.99, 199)
    K = np.array([el.ellipk(v) for v in m])
    E = np.array([el.ellipe(v) for v in m])
    np.testing.assert_allclose(K, ellipk(m), rtol=3e-15)
    np.testing.assert_allclose(E, ellipe(m), rtol=3e-15)


def test_limits():
    assert el.ellipk(0.0) == pytest.approx(np.pi / 2, rel=1e-15)
    assert el.ellipe(0.0) == pytest.approx(np.pi / 2, rel=1e-15)
    assert el.ellipe(1.0) == 1.0
    assert np.isinf(el.ellipk(1.0))


HARD_M = [1e-150, 1e-100, 1e-30, 1e-16, 1e-10, 1e-6, 1e-3, 0.1, 0.49, 0.5, 0.51, 0.9,
          1 - 1e-6, 1 - 1e-10, 1 - 1e-14]


@pytest.mark.parametrize("m", HARD_M)
def test_13_digits_everywhere_against_mpmath(m):
    mpmath = pytest.importorskip("mpmath")
    # the m^2 combinations need ~2 log10(1/m) extra digits in the reference
    mpmath.mp.dps = 40 + int(2 * max(0.0, -np.log10(m)))
    kc = np.sqrt(1.0 - m)
    mp = mpmath.mpf(m)
    K = mpmath.ellipk(mp)
    E = mpmath.ellipe(mp)
    checks = [
        (el.ellipk(m), K),
        (el.ellipe(m), E),
        # combinations that vanish like m and m^2: computed without cancellation
        (el.e_minus_kc2_k(m, kc), E - (1 - mp) * K),
        (el.loop_rho_combo(m, kc), (2 - mp) * E - 2 * (1 - mp) * K),
        (el.maxwell_combo(m, kc), (2 - mp) * K - 2 * E),
    ]
    e, g, f = el.loop_combos(m, kc, 1.0 - m)
    checks += [(e, E), (g, E - (1 - mp) * K), (f, (2 - mp) * E - 2 * (1 - mp) * K)]
    if m >= 1e-3:
        K2, E2 = el.ellip_ke_agm(kc, m)
        checks += [(K2, K), (E2, E)]
    for got, ref in checks:
        if ref == 0:
            continue
        assert abs(got / float(ref) - 1) < 1e-13, (m, got, float(ref))


def test_cel_generalized_against_quadrature():
    """Bulirsch's cel(kc, p, c, s) against its defining integral (scipy.integrate.quad)."""
    from scipy.integrate import quad

    rng = np.random.default_rng(3)
    for _ in range(40):
        kc = rng.uniform(0.05, 1.5)
        p = rng.choice([rng.uniform(0.05, 3.0), -rng.uniform(0.05, 0.9)])
        c, s = rng.normal(size=2)

        def f(t):
            ct, st = np.cos(t) ** 2, np.sin(t) ** 2
            return (c * ct + s * st) / ((ct + p * st) * np.sqrt(ct + kc * kc * st))

        if p > 0:
            ref = quad(f, 0, np.pi / 2, epsabs=0, epsrel=1e-13, limit=200)[0]
        else:
            continue  # Cauchy principal value; exercised through the cylinder field tests
        assert el.cel(kc, p, c, s) == pytest.approx(ref, rel=1e-11, abs=1e-13)

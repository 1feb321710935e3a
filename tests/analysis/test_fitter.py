"""The numba Levenberg-Marquardt against scipy.optimize (least_squares, curve_fit)."""
import math

import numpy as np
import pytest
from numba import njit
from scipy.optimize import curve_fit as scipy_curve_fit
from scipy.optimize import least_squares

import loopscope.analysis as A
from loopscope.analysis.constants import PHI0


# ----------------------------------------------------------------- hard problems as models
@njit(cache=True)
def rosenbrock(x, p):  # residuals 10 (p1 - p0^2), 1 - p0 at x = 0, 1 (y = 0)
    out = np.empty(x.shape[0])
    out[0] = 10.0 * (p[1] - p[0] * p[0])
    out[1] = 1.0 - p[0]
    return out


@njit(cache=True)
def two_exponentials(x, p):
    return p[0] * np.exp(-x / p[1]) + p[2] * np.exp(-x / p[3])


@njit(cache=True)
def sinusoid(x, p):
    return p[0] * np.sin(2.0 * np.pi * p[1] * x + p[2]) + p[3]


@njit(cache=True)
def kowalik_osborne(x, p):  # NIST StRD MGH09
    return p[0] * (x * x + x * p[1]) / (x * x + x * p[2] + p[3])


@njit(cache=True)
def box_bod(x, p):  # NIST StRD BoxBOD (higher difficulty)
    return p[0] * (1.0 - np.exp(-p[1] * x))


KO_X = np.array([4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])
KO_Y = np.array([0.1957, 0.1947, 0.1735, 0.16, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
BOX_X = np.array([1.0, 2, 3, 5, 7, 10])
BOX_Y = np.array([109.0, 149, 149, 191, 213, 224])


def _problems():
    rng = np.random.default_rng(42)
    t = np.linspace(0, 10, 400)
    y_exp = 3.0 * np.exp(-t / 0.7) + 1.2 * np.exp(-t / 3.1) + rng.normal(0, 0.01, t.size)
    ts = np.linspace(0, 2, 500)
    y_sin = 1.5 * np.sin(2 * np.pi * 3.3 * ts + 0.4) + 0.2 + rng.normal(0, 0.1, ts.size)
    return [
        ("rosenbrock", rosenbrock, np.arange(2.0), np.zeros(2), [-1.2, 1.0]),
        ("two_exponentials", two_exponentials, t, y_exp, [1.0, 0.3, 1.0, 5.0]),
        ("sinusoid_frequency", sinusoid, ts, y_sin, [1.0, 3.1, 0.0, 0.0]),
        ("kowalik_osborne", kowalik_osborne, KO_X, KO_Y, [0.25, 0.39, 0.415, 0.39]),
        ("box_bod", box_bod, BOX_X, BOX_Y, [100.0, 0.75]),
    ]


@pytest.mark.parametrize("name,model,x,y,p0", _problems(), ids=[p[0] for p in _problems()])
def test_same_optimum_as_scipy_least_squares(name, model, x, y, p0):
    ref = least_squares(lambda p: model(x, np.asarray(p, dtype=float)) - y, p0, method="lm",
                        xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=100000)
    if not ref.success:
        pytest.skip(f"scipy does not converge on {name} from this start")
    popt, pcov, info = A.curve_fit(model, x, y, p0, full_output=True)
    assert info["status"] > 0, info["message"]
    np.testing.assert_allclose(popt, ref.x, rtol=1e-6, atol=1e-12)
    assert info["chi_square"] == pytest.approx(2 * ref.cost, rel=1e-9, abs=1e-25)
    if name == "box_bod":  # NIST certified values
        np.testing.assert_allclose(popt, [213.80940889, 0.54723748542], rtol=1e-7)
    if name == "kowalik_osborne":
        np.testing.assert_allclose(popt, [1.9280693458e-01, 1.9128232873e-01, 1.2305650693e-01,
                                          1.3606233068e-01], rtol=5e-7)


def test_matches_scipy_curve_fit_values_and_covariance():
    spec = A.get_model("persistent_current")
    rng = np.random.default_rng(1)
    B = np.linspace(0, 0.5, 2000)
    true = np.array([2.83e-13, 1e-9, 0.3, 3e-10, -0.5, 2e-10])
    y = spec(B, true) + rng.normal(0, 5e-11, B.size)
    sigma = np.full(B.size, 5e-11)
    p0 = true * np.array([1.002, 0.8, 1, 0.7, 1, 0.5])

    def f(b, a, i1, f1, i2, f2, bg):
        w = 2 * np.pi * a / PHI0 * b
        return i1 * np.sin(w + f1) + i2 * np.sin(2 * w + f2) + bg * b

    ps, cs = scipy_curve_fit(f, B, y, p0, sigma=sigma, xtol=1e-14, ftol=1e-14, gtol=1e-14)
    for model in ("persistent_current", spec.kernel):  # analytic Jacobian / finite differences
        popt, pcov = A.curve_fit(model, B, y, p0, sigma=sigma)
        np.testing.assert_allclose(popt, ps, rtol=1e-7)
        np.testing.assert_allclose(np.sqrt(np.diag(pcov)), np.sqrt(np.diag(cs)), rtol=1e-4)
    # parameters within error bars of the truth
    assert np.all(np.abs(popt - true) < 4 * np.sqrt(np.diag(pcov)))


def test_bounds_and_fixed_parameters():
    x = np.linspace(0, 5, 100)
    y = 2.0 * np.exp(-x / 1.5)

    @njit
    def expo(x, p):
        return p[0] * np.exp(-x / p[1])

    popt, _ = A.curve_fit(expo, x, y, [1.0, 1.0], bounds=([0, 0], [1.8, 10]))
    ref = least_squares(lambda p: expo(x, p) - y, [1.0, 1.0], bounds=([0, 0], [1.8, 10]), xtol=1e-15, ftol=1e-15)
    assert popt[0] == pytest.approx(1.8)
    np.testing.assert_allclose(popt, ref.x, rtol=1e-6)
    res = A.fit("sc_exponential", x, y, params={"I0": 2.5, "tau": 1.0}, fixed=["I0"])
    assert res["I0"] == 2.5 and res.stderr[0] == 0.0
    ref = least_squares(lambda p: 2.5 * np.exp(-x / p[0]) - y, [1.0], xtol=1e-15, ftol=1e-15)
    assert res["tau"] == pytest.approx(ref.x[0], rel=1e-7)


def test_non_convergence_is_reported_never_silent():
    x = np.linspace(0, 1, 50)
    y = np.sin(x)

    @njit
    def slow(x, p):
        return p[0] * np.sin(p[1] * x) + p[2]

    popt, pcov, info = A.curve_fit(slow, x, y, [0.1, 9.0, 0.0], max_nfev=3, full_output=True)
    assert info["status"] == 0 and "NOT converged" in info["message"]
    with pytest.raises(RuntimeError, match="NOT converged"):
        A.curve_fit(slow, x, y, [0.1, 9.0, 0.0], max_nfev=3)
    res = A.fit("sc_exponential", x, np.exp(-x), params={"I0": 5.0, "tau": 0.05}, max_nfev=2)
    assert not res.converged and "NOT converged" in res.message


def test_bad_input_errors():
    x = np.linspace(0, 1, 10)
    y = x.copy()
    with pytest.raises(A.FitError, match="NaN"):
        A.curve_fit("susceptibility", x, np.where(x > 0.5, np.nan, y), [1.0, 0.0])
    with pytest.raises(A.FitError, match="too few"):
        A.curve_fit("susceptibility", x[:1], y[:1], [1.0, 0.0])
    with pytest.raises(A.FitError, match="no parameter"):
        A.fit("susceptibility", x, y, params={"chii": 1.0})
    with pytest.raises(KeyError, match="unknown model"):
        A.fit("nonsense", x, y)
    with pytest.raises(A.FitError, match="inf"):
        A.curve_fit("susceptibility", np.r_[x[:-1], np.inf], y, [1.0, 0.0])


def test_batch_fits_equal_single_fits():
    spec = A.get_model("persistent_current")
    rng = np.random.default_rng(9)
    B = np.linspace(0, 0.3, 600)
    K = 40
    P_true = np.array([2.83e-13, 1e-9, 0.3, 3e-10, -0.5, 2e-10]) * (1 + 0.02 * rng.normal(size=(K, 6)))
    Y = np.array([spec(B, p) for p in P_true]) + rng.normal(0, 2e-11, (K, B.size))
    P0 = P_true * (1 + 0.001 * rng.normal(size=(K, 6)))
    P0[:, 2] += 0.05
    P, info = A.curve_fit_batch("persistent_current", B, Y, P0)
    assert info["converged"].all()
    for k in range(0, K, 7):
        single, _ = A.curve_fit("persistent_current", B, Y[k], P0[k])
        np.testing.assert_allclose(P[k], single, rtol=1e-9)
    # user model path (first-class functions) in parallel too
    P2, info2 = A.curve_fit_batch(spec.kernel, B, Y[:8], P0[:8])
    np.testing.assert_allclose(P2, P[:8], rtol=1e-7)


def test_fit_result_named_parameters():
    x = np.linspace(1, 10, 50)
    y = 3e-9 * x + 1e-7
    res = A.fit("susceptibility", x, y, metadata={"sample_mass_kg": 1e-5})
    assert res.converged
    assert res.params["chi"] == pytest.approx(3e-9)
    d = res.to_dict()
    assert d["chi"]["units"] == "m^3"
    assert d["chi_mass"]["value"] == pytest.approx(3e-4) and d["chi_mass"]["units"] == "m^3/kg"
    assert d["chi_mass_cgs"]["value"] == pytest.approx(3e-4 / (4e-3 * math.pi))
    assert "chi" in str(res)

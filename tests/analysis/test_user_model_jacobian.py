"""A user's model traced into its exact Jacobian (analysis/user_model_jacobian.py).

The independent route: mpmath, at 30 digits, differentiating the same expression written with
mpmath's own functions (mpmath.diff), at parameters and points none of the fitter's tests use.
Models the tracer cannot record must fall back to forward differences and still fit."""
import math
import warnings

import mpmath
import numpy as np
import pytest
from scipy.optimize import curve_fit as scipy_curve_fit

from loopscope.analysis import fitting
from loopscope.analysis import user_model_jacobian as umj

mpmath.mp.dps = 30


class _Mp:
    """The numpy functions the models use, as mpmath computes them."""
    exp, expm1, log, log1p, sqrt, cbrt = mpmath.exp, mpmath.expm1, mpmath.log, mpmath.log1p, mpmath.sqrt, mpmath.cbrt
    sin, cos, tan, arcsin, arccos, arctan = mpmath.sin, mpmath.cos, mpmath.tan, mpmath.asin, mpmath.acos, mpmath.atan
    sinh, cosh, tanh = mpmath.sinh, mpmath.cosh, mpmath.tanh
    arcsinh, arccosh, arctanh = mpmath.asinh, mpmath.acosh, mpmath.atanh
    arctan2, hypot, abs = staticmethod(mpmath.atan2), staticmethod(mpmath.hypot), staticmethod(abs)
    log2 = staticmethod(lambda v: mpmath.log(v, 2))
    log10 = staticmethod(mpmath.log10)
    exp2 = staticmethod(lambda v: mpmath.power(2, v))
    square = staticmethod(lambda v: v * v)
    reciprocal = staticmethod(lambda v: 1 / v)


class _Np:
    exp, expm1, log, log1p, sqrt, cbrt = np.exp, np.expm1, np.log, np.log1p, np.sqrt, np.cbrt
    sin, cos, tan, arcsin, arccos, arctan = np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan
    sinh, cosh, tanh, arcsinh, arccosh, arctanh = np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh
    arctan2, hypot, abs, log2, log10 = np.arctan2, np.hypot, np.absolute, np.log2, np.log10
    exp2, square, reciprocal = np.exp2, np.square, np.reciprocal


# (name, expression in (x, p, F), parameters, x range): every traced operation, the physics
# shapes users fit (Lorentzian, Brillouin-like coth, Curie-Weiss, power laws), and domains kept
# inside each function's own
EXPRESSIONS = [
    ("decay_oscillation", lambda x, p, F: p[0] * F.exp(-x / p[1]) + p[2] * F.sin(p[3] * x + p[4]) + p[5],
     [1.7, 2.3, 0.45, 1.9, 0.35, -0.2], (0.0, 9.0)),
    ("lorentzian", lambda x, p, F: p[0] / (1 + ((x - p[1]) / p[2]) ** 2) + p[3],
     [3.1, 0.4, 0.07, 0.01], (-1.0, 1.0)),
    ("curie_weiss_power", lambda x, p, F: p[0] / (x - p[1]) ** p[2] + p[3] * x,
     [0.8, -3.5, 1.2, 1e-4], (2.0, 300.0)),
    ("coth_langevin", lambda x, p, F: p[0] * (1 / F.tanh(p[1] * x) - 1 / (p[1] * x)),
     [2.2, 0.9], (0.3, 8.0)),
    ("logs_and_roots", lambda x, p, F: F.log(p[0] * x) + F.log1p(p[1] * x) + F.sqrt(p[2] + x) + F.cbrt(p[3] * x)
     + F.log2(p[0] + x) + F.log10(p[1] + x), [1.3, 0.2, 0.6, 2.5], (0.1, 4.0)),
    ("inverse_trig", lambda x, p, F: F.arcsin(p[0] * x) + F.arccos(p[1] * x) + F.arctan(p[2] * x)
     + F.arctan2(p[0] * x, p[1] + x), [0.3, 0.2, 1.7], (-1.5, 1.5)),
    ("hyperbolic", lambda x, p, F: F.sinh(p[0] * x) + F.cosh(p[1] * x) + F.arcsinh(p[2] * x)
     + F.arccosh(1.5 + p[0] * x * x) + F.arctanh(p[1] * x / 3), [0.4, 0.6, 1.1], (-2.0, 2.0)),
    ("the_rest", lambda x, p, F: F.tan(p[0] * x) + F.expm1(p[1] * x) + F.exp2(p[2] * x) + F.square(p[0] - x)
     + F.reciprocal(p[1] + x * x) + F.hypot(p[2], x) + F.abs(x - p[0]) - (-p[1]) + (+p[2]) ** 3,
     [0.35, 0.8, -0.5], (-1.2, 1.2)),
    ("constant_powers", lambda x, p, F: 2.0 ** (p[0] * x) + (x - p[1]) ** 3 + np.float64(1.5) * x ** p[2],
     [0.7, 0.25, 2.5], (0.05, 2.0)),
]


@pytest.mark.parametrize("name,expr,params,span", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_traced_values_and_derivatives_agree_with_mpmath(name, expr, params, span):
    def model(x, p):
        return expr(x, p, _Np)
    m, fj, _ = umj.compile_traced(model, len(params))
    x = np.linspace(*span, 37)
    x = x[x != 0.0]
    p = np.array(params, dtype=float)
    f = np.empty_like(x)
    JT = np.empty((p.size, x.size))
    fj(x, p, f, JT)
    np.testing.assert_array_equal(m(x, p), f)
    for i, xi in enumerate(x):
        mp_p = [mpmath.mpf(v) for v in params]
        ref = expr(mpmath.mpf(xi), mp_p, _Mp)
        assert f[i] == pytest.approx(float(ref), rel=1e-13, abs=1e-13)
        for j in range(p.size):
            def along(v, j=j):
                q = list(mp_p)
                q[j] = v
                return expr(mpmath.mpf(xi), q, _Mp)
            d = float(mpmath.diff(along, mp_p[j]))
            assert JT[j, i] == pytest.approx(d, rel=1e-11, abs=1e-11 * (1 + abs(float(ref)))), (name, xi, j)


UNTRACEABLE = [
    ("np.where", lambda x, p: np.where(x > p[1], p[0] * x, p[2] + 0 * x)),
    ("slice of x", lambda x, p: np.concatenate((p[0] * x[:10], p[1] * x[10:]))),
    ("a reduction", lambda x, p: p[0] * x / x.max() + p[1] + p[2] * 0),
    ("a branch on a parameter", lambda x, p: p[0] * x if p[2] > 0 else p[1] * x),
    ("math.exp", lambda x, p: p[0] * np.exp(-x * math.fabs(p[1])) + p[2]),
    ("a slice of p", lambda x, p: p[:2].sum() * x + p[2]),
]


@pytest.mark.parametrize("name,model", UNTRACEABLE, ids=[u[0] for u in UNTRACEABLE])
def test_models_the_tracer_cannot_record_fall_back_to_forward_differences(name, model):
    rng = np.random.default_rng(11)
    x = np.linspace(0.5, 3.0, 300)
    truth = np.array([1.3, 0.6, 0.8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # np.where over stand-ins, polyval...: not the point here
        y = model(x, truth) + 1e-3 * rng.standard_normal(x.size)
    with pytest.raises(umj.NotTraceable):
        umj.trace(model, 3)
    popt, pcov, info = fitting.curve_fit(model, x, y, truth * 1.02, full_output=True)
    assert info["jacobian"] == "forward differences"


def test_a_wrong_traced_code_is_refused_before_it_is_used():
    """The check that guards every traced model: code for another function disagrees."""
    def model(x, p):
        return p[0] * np.exp(-x / p[1])

    def other(x, p):
        return p[0] * np.exp(-x / p[1]) * (1 + 1e-9 * x)
    m, fj, _ = umj.compile_traced(other, 2)
    x = np.linspace(0, 5, 100)
    ok, reason = umj.agrees_with(model, m, fj, x, np.array([1.0, 2.0]))
    assert not ok and "values differ" in reason
    m, fj, _ = umj.compile_traced(model, 2)
    assert umj.agrees_with(model, m, fj, x, np.array([1.0, 2.0])) == (True, "")


def test_a_traced_fit_agrees_with_scipy_and_with_forward_differences():
    """Same optimum and errors as scipy's curve_fit on the same function (its own MINPACK route),
    with fewer evaluations than forward differences need."""
    rng = np.random.default_rng(5)
    x = np.linspace(0, 12, 1500)

    def model(x, p):
        return p[0] / (1 + ((x - p[1]) / p[2]) ** 2) + p[3] * np.exp(-x / p[4])
    truth = np.array([2.0, 6.1, 0.45, 0.8, 3.3])
    y = model(x, truth) + 0.02 * rng.standard_normal(x.size)
    p0 = truth * np.array([0.9, 1.01, 1.2, 1.1, 0.9])
    popt, pcov, info = fitting.curve_fit(model, x, y, p0, full_output=True)
    popt_fd, pcov_fd, info_fd = fitting.curve_fit(model, x, y, p0, jac="2-point", full_output=True)
    sp, spcov = scipy_curve_fit(lambda x, *p: model(x, np.array(p)), x, y, p0)
    assert info["jacobian"] == "traced"
    err = np.sqrt(np.diag(spcov))
    assert np.all(np.abs(popt - sp) < 1e-5 * err)
    assert np.all(np.abs(popt - popt_fd) < 1e-5 * err)
    np.testing.assert_allclose(np.sqrt(np.diag(pcov)), err, rtol=1e-4)
    traced_cost = info["nfev"]                     # each evaluation gives values and Jacobian
    fd_cost = info_fd["nfev"] + 5 * info_fd["njev"]
    assert traced_cost < fd_cost


def test_a_model_not_finite_at_its_first_start_is_traced_at_a_later_one():
    def model(x, p):
        return p[0] * np.log(x - p[1])
    x = np.linspace(1.0, 4.0, 200)
    y = model(x, np.array([1.5, 0.2]))
    _, _, info = fitting.curve_fit(model, x, y, [1.0, 2.0], full_output=True)   # log of negatives
    assert info["status"] == -1
    popt, _, info = fitting.curve_fit(model, x, y, [1.0, 0.1], full_output=True)
    assert info["jacobian"] == "traced"
    assert popt == pytest.approx([1.5, 0.2], rel=1e-9)


def test_an_unknown_jac_word_is_refused():
    with pytest.raises(fitting.FitError, match="2-point"):
        fitting.curve_fit(lambda x, p: p[0] * x, np.arange(5.0), np.arange(5.0), [1.0], jac="3-point")


_NEXT_PROCESS = """
import numpy as np
from numba import types
from loopscope.analysis import user_model_jacobian as umj

def decay(x, p):
    return p[0] * np.exp(-x / p[1]) + p[2]

_, fj, _ = umj.compile_traced(decay, 3)
arr = types.float64[::1]
fj.compile(types.none(arr, arr, arr, types.float64[:, ::1]))
print(fj.stats.cache_hits.most_common(1)[0][1] if fj.stats.cache_hits else 0, fj.stats.cache_misses.total())
"""


def test_the_next_process_loads_a_traced_model_from_numbas_cache(tmp_path):
    """Traced code goes through a file in the cache folder, so a second process (a Dask worker,
    the next reanalysis) loads it compiled instead of compiling again."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "LOOPSCOPE_TRACED_CACHE": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", _NEXT_PROCESS], env=env, capture_output=True, text=True,
                           timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    hits = [tuple(int(v) for v in r.stdout.split()) for r in runs]
    assert hits[0] == (0, 1)          # the first process compiles it
    assert hits[1] == (1, 0)          # the second loads it
    assert len(list(tmp_path.glob("traced_*.py"))) == 1

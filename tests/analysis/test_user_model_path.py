"""A user's own model function (plain Python or numba) passed to curve_fit is compiled once,
fitted again without recompiling, and never makes numba print its 'experimental' warning."""
import warnings

import numpy as np
import pytest

from loopscope.analysis import fitting


def decay_and_oscillation(x, p):
    return p[0] * np.exp(-x / p[1]) + p[2] * np.sin(p[3] * x + p[4]) + p[5]


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 10, 2000)
    truth = np.array([2.0, 3.0, 0.5, 2.0, 0.3, 0.1])
    return x, decay_and_oscillation(x, truth) + 0.01 * rng.standard_normal(x.size), truth


@pytest.mark.parametrize("jac", [None, "2-point"])
def test_a_plain_function_is_compiled_once_and_fits_silently(data, jac):
    """Traced (jac=None) or with forward differences ("2-point"): one compiled model for all
    three fits."""
    x, y, truth = data
    p0 = np.array([1.5, 2.5, 0.4, 2.05, 0.2, 0.0])
    compiled = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            popt, pcov, info = fitting.curve_fit(decay_and_oscillation, x, y, p0, jac=jac, full_output=True)
            if jac is None:
                hit = fitting._TRACED[(id(decay_and_oscillation), 6)][1]
            else:
                hit = fitting._WAP_CACHE[(id(decay_and_oscillation), id(None))][2]
            compiled.append(id(hit))
    assert info["jacobian"] == ("traced" if jac is None else "forward differences")
    assert len(set(compiled)) == 1            # the same compiled model every time
    assert popt == pytest.approx(truth, abs=0.01)
    numba_warnings = [w for w in caught if "experimental" in str(w.message).lower()]
    assert numba_warnings == [], [str(w.message) for w in numba_warnings]


def test_a_numba_model_fits_silently_on_every_call(data):
    from numba import njit
    x, y, truth = data
    model = njit(decay_and_oscillation)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            popt, _ = fitting.curve_fit(model, x, y, [1.5, 2.5, 0.4, 2.05, 0.2, 0.0])
    assert popt == pytest.approx(truth, abs=0.01)
    assert not [w for w in caught if "experimental" in str(w.message).lower()]

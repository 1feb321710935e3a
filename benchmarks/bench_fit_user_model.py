"""A user's own model against scipy.optimize.curve_fit on that same function (issue: the
user-model path): 2,000 points, 6 parameters (a decay plus an oscillation), the same start.

Rows: a plain Python function passed to loopscope.curve_fit (first call: traces and compiles
it; later calls: the compiled code from the cache), the same function as a numba model, each
with its traced Jacobian (the default) and with forward differences (jac="2-point"), and scipy
calling the plain function and the numba model. Also: the model evaluations each fitter spends, and the 54 fits of
NIST's StRD problems (tests/analysis/nist_strd) with loopscope's defaults, their evaluations.
One core."""
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
import numpy as np  # noqa: E402

from _machine import best_time, machine_line  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def decay_and_oscillation(x, p):
    return p[0] * np.exp(-x / p[1]) + p[2] * np.sin(p[3] * x + p[4]) + p[5]


_FIRST_FIT = """
import time, numpy as np
from loopscope.analysis.fitting import curve_fit
import loopscope.analysis.kernels.lm
def decay_and_oscillation(x, p):
    return p[0] * np.exp(-x / p[1]) + p[2] * np.sin(p[3] * x + p[4]) + p[5]
x = np.linspace(0, 10, 2000)
y = decay_and_oscillation(x, np.array([2.0, 3.0, 0.5, 2.0, 0.3, 0.1]))
t = time.perf_counter()
curve_fit(decay_and_oscillation, x, y, np.array([1.5, 2.5, 0.4, 2.05, 0.2, 0.0]))
print((time.perf_counter() - t) * 1e3)
"""


def _first_fit_in_new_processes():
    """Two processes one after the other on an empty cache folder: the first traces and
    compiles, the second loads the compiled code from numba's cache."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "LOOPSCOPE_TRACED_CACHE": folder}
        times = [float(subprocess.run([sys.executable, "-c", _FIRST_FIT], env=env, capture_output=True,
                                      text=True, check=True).stdout) for _ in range(2)]
    return f"{times[0]:.0f} ms (compiles), then {times[1]:.0f} ms (numba's cache)"


def main():
    from numba import njit
    from scipy.optimize import curve_fit as scipy_curve_fit

    from loopscope.analysis.fitting import curve_fit

    print(machine_line("numpy", "scipy", "numba"))
    rng = np.random.default_rng(0)
    x = np.linspace(0, 10, 2000)
    truth = np.array([2.0, 3.0, 0.5, 2.0, 0.3, 0.1])
    y = decay_and_oscillation(x, truth) + 0.01 * rng.standard_normal(x.size)
    p0 = np.array([1.5, 2.5, 0.4, 2.05, 0.2, 0.0])

    t = time.perf_counter()
    curve_fit(decay_and_oscillation, x, y, p0)
    first = time.perf_counter() - t
    plain = best_time(lambda: curve_fit(decay_and_oscillation, x, y, p0))
    plain_fd = best_time(lambda: curve_fit(decay_and_oscillation, x, y, p0, jac="2-point"))
    compiled = njit(decay_and_oscillation)
    curve_fit(compiled, x, y, p0)
    numba_model = best_time(lambda: curve_fit(compiled, x, y, p0))
    numba_fd = best_time(lambda: curve_fit(compiled, x, y, p0, jac="2-point"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scipy = best_time(lambda: scipy_curve_fit(lambda x, *p: decay_and_oscillation(x, np.array(p)), x, y, p0))
        scipy_numba = best_time(lambda: scipy_curve_fit(lambda x, *p: compiled(x, np.array(p)), x, y, p0))
        info = curve_fit(decay_and_oscillation, x, y, p0, full_output=True)[2]
        info_fd = curve_fit(decay_and_oscillation, x, y, p0, jac="2-point", full_output=True)[2]
        sc = scipy_curve_fit(lambda x, *p: decay_and_oscillation(x, np.array(p)), x, y, p0, full_output=True)[2]
    print("user's model, 2000 points, 6 parameters, one core")
    print(f"  plain function, first call (traces, compiles) {first * 1e3:8.1f} ms")
    print(f"  plain function, traced Jacobian               {plain * 1e3:8.3f} ms   scipy / ours {scipy / plain:5.2f}x")
    print(f"  plain function, forward differences           {plain_fd * 1e3:8.3f} ms   scipy / ours {scipy / plain_fd:5.2f}x")
    print(f"  numba model, traced Jacobian                  {numba_model * 1e3:8.3f} ms   scipy on it / ours {scipy_numba / numba_model:5.2f}x")
    print(f"  numba model, forward differences              {numba_fd * 1e3:8.3f} ms   scipy on it / ours {scipy_numba / numba_fd:5.2f}x")
    print(f"  scipy curve_fit (lm), plain function          {scipy * 1e3:8.3f} ms")
    print(f"  scipy curve_fit (lm), the numba model         {scipy_numba * 1e3:8.3f} ms")
    print(f"  passes over the data: traced {info['nfev']} (values and Jacobian together, "
          f"jacobian={info['jacobian']}); forward differences {info_fd['nfev']} + {info_fd['njev']} "
          f"Jacobians x 6 columns = {info_fd['nfev'] + 6 * info_fd['njev']}; scipy (MINPACK, Jacobian "
          f"columns counted) {sc['nfev']}")

    print(f"  first traced fit in a new process: {_first_fit_in_new_processes()}")

    from tests.analysis.nist_problems import digits_agreeing, load, names
    total, solved, fits = 0, 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names():
            p = load(name)
            for start in p.starts:
                try:
                    popt, _, inf = curve_fit(p.model, p.x, p.y, start, full_output=True)
                except ValueError:      # a fitter that refuses the problem (Nelson's stacked x)
                    fits += 1
                    continue
                total += inf["nfev"] + inf["njev"]
                fits += 1
                solved += digits_agreeing(popt, p.certified) >= 4
    print(f"NIST StRD: {fits} fits, {solved} with 4 digits of every certified parameter, "
          f"{total} model evaluations and Jacobians in all")


if __name__ == "__main__":
    main()

"""10,000 independent fits (2,000 points, 6-parameter persistent-current model each) with
curve_fit_batch on all cores, against a scipy.optimize.curve_fit loop timed on a subset of
traces and extrapolated linearly to 10,000 (said in the output)."""
import time

import numpy as np


from _machine import machine_line  # noqa: E402


def machine():
    return machine_line("numpy", "scipy", "numba")


K = 10_000
SUBSET = 200


def main():
    from numba import get_num_threads
    from scipy.optimize import curve_fit as scipy_curve_fit

    import loopscope.analysis as A
    from loopscope.analysis.constants import PHI0

    spec = A.get_model("persistent_current")
    rng = np.random.default_rng(7)
    B = np.linspace(0.0, 0.5, 2000)
    base = np.array([2.83e-13, 1.0e-9, 0.3, 3.0e-10, -0.5, 2.0e-10])
    P_true = base * (1 + 0.01 * rng.normal(size=(K, 6)))
    Y = np.empty((K, B.size))
    for k in range(K):
        Y[k] = spec(B, P_true[k])
    Y += rng.normal(0, 5e-11, Y.shape)
    P0 = P_true * (1 + 0.001 * rng.normal(size=(K, 6)))
    P0[:, 2] += 0.1
    P0[:, 4] -= 0.1

    def f(b, area, i1, phi1, i2, phi2, bg):
        w = 2 * np.pi * area / PHI0 * b
        return i1 * np.sin(w + phi1) + i2 * np.sin(2 * w + phi2) + bg * b

    A.curve_fit_batch(spec, B, Y[:16], P0[:16])  # load compiled code
    t = time.perf_counter()
    P, info = A.curve_fit_batch(spec, B, Y, P0)
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    Ps = np.array([scipy_curve_fit(f, B, Y[k], P0[k])[0] for k in range(SUBSET)])
    t_sub = time.perf_counter() - t
    t_scipy = t_sub / SUBSET * K
    rel = np.max(np.abs(P[:SUBSET] / Ps - 1))
    print(machine())
    print(f"batch of {K} fits, 2000 points, 6 parameters; numba threads: {get_num_threads()}")
    print(f"  loopscope.curve_fit_batch  {t_batch:8.2f} s  ({t_batch / K * 1e6:.0f} us per fit), "
          f"converged {int(info['converged'].sum())}/{K}")
    print(f"  scipy curve_fit loop       {t_scipy:8.2f} s  (timed on {SUBSET} fits: {t_sub:.2f} s, extrapolated)")
    print(f"  ratio {t_scipy / t_batch:.1f}x; max rel. diff of optima on the subset {rel:.1e}")


if __name__ == "__main__":
    main()

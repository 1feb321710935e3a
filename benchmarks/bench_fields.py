"""Loop and cylinder fields at 1,000,000 random points: loopscope vs magpylib, same points,
timed in the same run; prints the speed-up and the largest relative difference."""
import time

import numpy as np


from _machine import best_time, machine_line  # noqa: E402


def machine():
    return machine_line("numpy", "scipy", "numba", "magpylib")


N = 1_000_000
MU_0 = 1.25663706127e-6


def main():
    import magpylib as magpy
    from numba import get_num_threads

    import loopscope.analysis as A

    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.05, 0.05, size=(N, 3))
    rho = np.hypot(pts[:, 0], pts[:, 1])
    z = pts[:, 2].copy()
    a, I = 0.02, 1.5
    R, L, M = 0.01, 0.03, 8e5
    loop = magpy.current.Circle(current=I, diameter=2 * a)
    cyl = magpy.magnet.Cylinder(polarization=(0, 0, MU_0 * M), dimension=(2 * R, L))

    def ours_loop():
        return A.loop_field(a, I, rho, z)

    def ours_cyl():
        return A.cylinder_field(R, L, M, rho, z)

    print(machine())
    print(f"fields at {N} points; numba threads: {get_num_threads()}")
    for name, ours, src in (("loop", ours_loop, loop), ("cylinder", ours_cyl, cyl)):
        t_ours = best_time(ours, repeat=5)
        t = time.perf_counter()
        Bm = src.getB(pts)
        t_magpy = time.perf_counter() - t
        t_magpy = min(t_magpy, best_time(lambda: src.getB(pts), repeat=2))
        br, bz = ours()
        brho = (Bm[:, 0] * pts[:, 0] + Bm[:, 1] * pts[:, 1]) / rho
        mag = np.hypot(brho, Bm[:, 2])
        if name == "loop":
            ok = np.hypot(rho - a, z) > 1e-3 * a
        else:
            ok = (np.abs(rho - R) > 1e-3 * R) | (np.abs(np.abs(z) - L / 2) > 1e-3 * R)
        rel = np.max(np.maximum(np.abs(br - brho), np.abs(bz - Bm[:, 2]))[ok] / mag[ok])
        print(f"  {name:<9s} loopscope {t_ours * 1e3:8.1f} ms   magpylib {t_magpy * 1e3:8.1f} ms   "
              f"ratio {t_magpy / t_ours:5.1f}x   max rel. diff {rel:.1e} (away from the surface)")


if __name__ == "__main__":
    main()

"""The Jiles-Atherton kernel's time per evaluation on the demo's loop (examples/plans/
hysteresis_loop.yaml: virgin curve and one cycle to 0.08 T in 2 mT steps, 201 fields), the
present kernel against model version 1 (midpoint rule, 16 fixed substeps, fixed-point H_e) taken
from git, side by side in one run, for the simulated lab's soft core and for the issue's old
parameters. Run: python benchmarks/bench_jiles_atherton.py"""
import importlib.util
import math
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from loopscope.analysis.kernels import models as K
from loopscope.sim_devices.config import DEFAULTS

MU_0 = 4e-7 * math.pi
V1_COMMIT = "9e3fcb1"   # the last commit with model version 1 of the kernel


def demo_path():
    n = 40
    steps = np.concatenate([np.arange(0, n + 1), np.arange(n - 1, -n - 1, -1), np.arange(-n + 1, n + 1)])
    return steps * 0.002 / MU_0


def load_v1():
    root = pathlib.Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "show", f"{V1_COMMIT}:analysis/kernels/models.py"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    path = pathlib.Path(tempfile.mkdtemp()) / "ja_models_v1.py"
    path.write_text(src.replace("cache=True", "cache=False"))
    spec = importlib.util.spec_from_file_location("ja_models_v1", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def per_call(f, x, p, repeat=20):
    f(x, p)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeat):
            f(x, p)
        best = min(best, (time.perf_counter() - t) / repeat)
    return best


def main():
    v1 = load_v1()
    x = demo_path()
    core = DEFAULTS["sample"]["soft_core"]
    lab = np.array([core["Ms"], core["a"], core["k"], core["c"], core["alpha"] - core["demagnetizing_factor"],
                    core["volume_m3"]])
    old = np.array([1.6e6, 1100.0, 400.0, 0.2, 1.6e-3, 1e-9])
    for name, p in (("lab's soft core (alpha - N)", lab), ("issue-15 old parameters", old)):
        t1, t2 = per_call(v1.jiles_atherton, x, p), per_call(K.jiles_atherton, x, p)
        peak = np.max(np.abs(v1.jiles_atherton(x, p))) / p[5] / p[0]
        print(f"{name:30s} v1 {t1 * 1e3:8.3f} ms (max |M|/Ms {peak:.3g})   now {t2 * 1e3:8.3f} ms"
              f"   ratio now/v1 {t2 / t1:6.2f}")


if __name__ == "__main__":
    sys.exit(main())

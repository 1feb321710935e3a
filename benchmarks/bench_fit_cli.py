"""Wall time of `loopscope fit` in a fresh process, first run (may compile) and second run
(compiled code loaded from numba's cache): python -m loopscope fit FILE --model susceptibility."""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


from _machine import machine_line  # noqa: E402


def machine():
    return machine_line("numpy", "scipy", "numba")


def main():
    from loopscope.daq.mpms_import import write_run_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.h5"
        H = np.linspace(-5e6, 5e6, 2000)
        m = 3e-12 * H + np.random.default_rng(0).normal(0, 1e-7, H.size)
        q = {"field_H_A_per_m": H, "field_T": H * 1.25663706127e-6, "moment_Am2": m,
             "point_index": np.arange(H.size)}
        units = {"field_H_A_per_m": "A/m", "field_T": "T", "moment_Am2": "A m^2", "point_index": "1"}
        write_run_file(path, q, units, {}, "moment_Am2", ["field_T"],
                       {"title": "bench", "status": "completed", "plan_kind": "linear"}, {}, {})
        cmd = [sys.executable, "-m", "loopscope", "fit", str(path), "--model", "susceptibility", "--json"]
        times = []
        for i in range(4):
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            if out.returncode != 0:
                raise SystemExit(out.stderr)
        print(machine())
        print("loopscope fit in a new process (python -m loopscope fit ... --model susceptibility)")
        print(f"  first run {times[0]:.2f} s; later runs (cached compiled code) "
              + ", ".join(f"{t:.2f}" for t in times[1:]) + " s")


if __name__ == "__main__":
    main()

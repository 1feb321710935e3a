"""Regenerate the figures of docs/reanalysis.md from synthetic runs (python docs/reanalysis/make_figures.py).

Writes a year's worth of small synthetic run files into a temporary folder: ring sweeps
(persistent current vs field) at 10 temperatures with E_c/k_B = 21.5 mK, M(H) runs of a
Curie-Weiss paramagnet at 9 temperatures (C = 2e-11 m^3 K, theta = -3 K, chi0 = -2e-14 m^3),
and two bad files, then runs `loopscope reanalyze` on them exactly as a user would.
"""
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from loopscope.analysis.constants import MU_0, PHI0
from loopscope.analysis.models import get_model
from loopscope.analysis.reanalyze_cli import reanalyze
from loopscope.daq.mpms_import import write_run_file
from loopscope.daq.storage import Column, RunMetadata, RunWriter

HERE = Path(__file__).resolve().parent
AREA = 2.83e-13


def ring_run(path, T, amplitude, seed):
    rng = np.random.default_rng(seed)
    n = 2000
    B = np.linspace(0.0, 0.4, n)
    I = (amplitude * np.sin(2 * math.pi * AREA * B / PHI0 + 0.3) + 0.1 * amplitude * np.sin(4 * math.pi * AREA * B / PHI0)
         + 2e-10 * B + rng.normal(0, 4e-11, n))
    Tk = T + rng.normal(0, 2e-4, n)
    w = RunWriter(path, [Column("field_T", "T"), Column("current_A", "A"), Column("temperature_K", "K")],
                  signal="current_A", axes=["field_T"], background_flush=False,
                  metadata=RunMetadata(title=f"ring array, {T * 1e3:.0f} mK", plan_kind="linear",
                                       sample={"name": "rings", "material": "Au"}))
    w.extend([(i, time.time(), float(i), B[i], I[i], Tk[i]) for i in range(n)])
    w.close("completed")


def mh_run(path, T, seed, C=2e-11, theta=-3.0, chi0=-2e-14):
    rng = np.random.default_rng(seed)
    n = 101
    H = np.linspace(-4e5, 4e5, n)
    m = (C / (T - theta) + chi0) * H + rng.normal(0, 2e-10, n)
    q = {"point_index": np.arange(n), "timestamp": 1.7e9 + np.arange(n), "elapsed_s": np.arange(n, dtype=float),
         "field_T": MU_0 * H, "field_H_A_per_m": H, "moment_Am2": m, "temperature_K": np.full(n, T)}
    units = {"point_index": "1", "timestamp": "s", "elapsed_s": "s", "field_T": "T", "field_H_A_per_m": "A/m",
             "moment_Am2": "A m^2", "temperature_K": "K"}
    write_run_file(path, q, units, {}, "moment_Am2", ["field_T"],
                   {"title": f"M(H) at {T:g} K", "status": "completed", "plan_kind": "mpms_import",
                    "start_time": "2025-03-01T10:00:00+00:00"}, {"name": "CuSO4", "mass": 2e-5}, {})


def main():
    work = Path(tempfile.mkdtemp(prefix="reanalysis-doc-"))
    try:
        runs = work / "runs"
        (runs / "rings").mkdir(parents=True)
        (runs / "mpms").mkdir()
        temps = np.array([0.01, 0.02, 0.035, 0.05, 0.07, 0.09, 0.12, 0.15, 0.18, 0.22])
        amps = get_model("pc_diffusive_T")(temps, [0.7e-9, 0.0215, 1.0])
        for k, (T, a) in enumerate(zip(temps, amps)):
            ring_run(runs / "rings" / f"ring_{k:02d}.h5", T, a, k)
        for k, T in enumerate([2.0, 4, 6, 10, 15, 25, 50, 100, 300]):
            mh_run(runs / "mpms" / f"cuso4_{k:02d}.h5", T, 100 + k)
        (runs / "rings" / "half_copied.h5").write_bytes((runs / "rings" / "ring_00.h5").read_bytes()[:5000])
        (runs / "rings" / "notes.h5").write_text("not a run\n")
        os.chdir(work)  # relative paths in the printed output, as a user would type them
        (work / "out").mkdir()
        for args in (["runs", "--model", "persistent_current", "--select", "sample.name=rings",
                      "--summary", "out/rings", "--series", "thouless", "--series", "exponential", "--no-progress"],
                     ["runs", "--model", "persistent_current", "--select", "sample.name=rings",
                      "--summary", "out/rings", "--no-progress"],
                     ["runs/mpms", "--model", "susceptibility", "--summary", "out/cuso4",
                      "--series", "curie-weiss", "--no-progress"]):
            print("$ loopscope reanalyze " + " ".join(args))
            print(CliRunner().invoke(reanalyze, args).output)
        for png in (work / "out").glob("*.png"):
            shutil.copy(png, HERE / png.name)
        print(open(work / "out" / "rings.csv").read()[:900], file=sys.stderr)
        os.chdir(HERE)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

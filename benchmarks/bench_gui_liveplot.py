"""The live plot's frame rate with 1,000,000 points on screen while a sweep appends.

`python benchmarks/bench_gui_liveplot.py` (offscreen Qt). The plot holds a million points
(time series: x = elapsed_s, clip-to-view on; and a hysteresis loop: x = field, three
branch curves), while a Runner on the in-memory station appends more through the same
RunController the window uses (the run in its own process, as in the window). Two figures per case:
  * capacity: frames per second when redraw + synchronous repaint run back to back;
  * achieved: redraws per second of the window's own redraw timer (40 Hz) during the sweep.
The sweep is paced at ~1000 points/s (settle delay 1 ms: a fast real sweep; the simulated
lab over TCP does 20-500) and, as a worst case, unpaced: the in-memory runner then spins at
tens of thousands of points per second, and the window must take them all in.
Target: >= 30 fps.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from _machine import machine_line  # noqa: E402


def synthetic_rows(columns, n, loop: bool):
    rows = np.zeros((n, len(columns)))
    idx = {c: i for i, c in enumerate(columns)}
    t = np.arange(n, dtype=float)
    rows[:, idx["point_index"]] = t
    rows[:, idx["elapsed_s"]] = t * 0.01
    if loop:
        third = n // 3
        b = np.full(n, 2.0)
        b[:third // 4] = 0
        b[third // 4: third // 4 + (n - third // 4) // 2] = 1
        phase = np.linspace(0, 1, n)
        field = np.where(b == 1, 0.1 - 0.2 * (phase - phase[b == 1][0]) / np.ptp(phase[b == 1]),
                         np.where(b == 0, 0.1 * phase / max(phase[b == 0][-1], 1e-9),
                                  -0.1 + 0.2 * (phase - phase[b == 2][0]) / np.ptp(phase[b == 2])))
        rows[:, idx["branch"]] = b
        rows[:, idx["cycle"]] = 0
    else:
        field = 0.05 * np.sin(t / 2e5)
    rows[:, idx["field_T"]] = field
    rows[:, idx["flux_phi0"]] = np.tanh(field * 50) + 1e-3 * np.random.default_rng(0).standard_normal(n)
    return rows


def run_case(app, loop: bool, n_points: int, seconds: float, workdir: Path, delay_s: float) -> dict:
    from loopscope.daq.plans import load_plan
    from loopscope.daq.run_process import PlanJob
    from loopscope.gui.live_plot import LivePlot
    from loopscope.gui.runctl import RunController
    from loopscope.instruments.memory import MemoryStation

    if loop:
        plan = load_plan({"title": "bench loop", "kind": "loop", "detectors": ["flux_readout"],
                          "amplitude": 0.5, "step": 1e-5, "cycles": 50, "virgin": False,
                          "settle": {"wait_for_holding": False, "delay_s": delay_s}})
    else:
        plan = load_plan({"title": "bench ts", "kind": "linear", "detectors": ["flux_readout"],
                          "sweep": {"start": 0, "stop": 0.1, "points": 2_000_000},
                          "settle": {"wait_for_holding": False, "delay_s": delay_s}})
    ctl = RunController()
    live = LivePlot()
    live.resize(1200, 700)
    live.show()
    started = {}
    ctl.run_started.connect(lambda d: started.update(d))
    ctl.start(PlanJob(MemoryStation, plan, workdir / f"bench_{'loop' if loop else 'ts'}_{delay_s:g}.h5"))
    while not started:
        app.processEvents()
    cols = started["columns"]
    live.start_run(cols, started["units"], "flux_phi0", ["elapsed_s"] if not loop else ["field_T"],
                   capacity=2 * n_points)
    live.set_x("elapsed_s" if not loop else "field_T")
    live.add_rows(synthetic_rows(cols, n_points, loop))
    ctl.points.connect(live.add_rows)
    live.redraw()
    app.processEvents()
    # capacity: redraw + synchronous repaint back to back while the sweep appends
    frames, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()  # drains the runner's points into the buffers
        live._dirty = True
        live.redraw()
        live.graphics.viewport().repaint()
        frames += 1
    capacity = frames / (time.perf_counter() - t0)
    # achieved: the window's own redraw timer, painting as it would on screen
    f0, p0, t0 = live.frames, live.total_points, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.001)
    achieved = (live.frames - f0) / (time.perf_counter() - t0)
    appended = live.total_points - p0
    on_screen = live.total_points
    ctl.runner.abort("benchmark done")
    ctl.runner.wait(30)
    app.processEvents()
    live.close()
    return {"case": ("loop (x = field, 3 branch curves)" if loop else "time series (x = elapsed_s)")
            + (f", sweep with {delay_s * 1e3:g} ms settle delay" if delay_s else ", sweep unpaced"),
            "points": on_screen, "capacity": capacity, "achieved": achieved,
            "append_rate": appended / seconds}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as d:
        results = [run_case(app, loop, a.points, a.seconds, Path(d), delay)
                   for delay in (1e-3, 0.0) for loop in (False, True)]
    print(f"machine: {machine_line()}")
    print("| case | points on screen (end) | capacity (fps) | achieved, 40 Hz timer (fps) | points appended per s |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['points']:,} | {r['capacity']:.0f} | {r['achieved']:.1f} | {r['append_rate']:,.0f} |")

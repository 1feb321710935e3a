"""Acquisition rate of a sweep with and without the operator's window open.

`python benchmarks/bench_gui_acquisition.py` (offscreen Qt). The same plan runs on the same
station, alternately:
  * without the window: the Runner alone in its thread (as `loopscope run`, with a subscriber
    that counts points, like its progress bar);
  * with the window: started from the window's editor (the run in its own process, as the
    window runs it), live plot redrawn within its frame budget, log, progress bar, the station panel.
Rates are points per wall-clock second over the whole run; rounds alternate so that machine
drift hits both alike; medians reported. Target: the window costs < 10 %. Runs last seconds
(3000 simulated points, 200,000 in-memory ones), so that what a run costs once (the window
building its plots, the run's process starting) does not pass for a cost per point.
The window runs each sweep in a process of its own (daq.run_process), so its drawing never
holds the interpreter lock the runner needs; what remains is sharing the machine's cores.
Stations: the simulated lab as `loopscope gui` starts it (in its own process, like a lab's
instruments outside the control program), and the in-memory station (worst case: the runner
never waits for an instrument, so every cycle the window takes shows).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PyQt6.QtWidgets import QApplication  # noqa: E402

from _machine import machine_line  # noqa: E402


def without_window(station, plan_dict, path):
    from loopscope.daq.plans import load_plan
    from loopscope.daq.runner import Runner

    runner = Runner(station, load_plan(plan_dict), path)
    seen = []
    runner.subscribe(lambda ev: seen.append(1) if ev.kind == "point" else None)
    runner.start()  # in its own thread, as `loopscope run` does (run_until_finished)
    res = runner.wait()
    assert res.status == "completed", res
    return res.points / run_seconds(res)


def run_seconds(res) -> float:
    """The runner's own start-to-end time (its result's time stamps), the same in both cases."""
    from datetime import datetime
    return (datetime.fromisoformat(res.ended) - datetime.fromisoformat(res.started)).total_seconds()


def with_window(app, window, plan_dict):
    from PyQt6.QtCore import QEventLoop

    window.poller.set_idle(True)
    window.editor.set_plan_dict(plan_dict)
    loop = QEventLoop()  # the window's event loop, as in the application (Qt sleeps, not Python)
    conn = window.controller.run_finished.connect(lambda d: loop.quit())
    cpu0 = time.process_time()
    assert window.start_run(), window.editor.errors
    loop.exec()
    window_cpu = time.process_time() - cpu0
    runner = window.controller.runner
    runner.wait(10)
    window.controller.run_finished.disconnect(conn)
    while window.station is None:  # the window connects again after the run
        app.processEvents()
        time.sleep(0.01)
    res = runner.result
    assert res.status == "completed", res
    return res.points / run_seconds(res), window_cpu / run_seconds(res)


def bench(app, session, plan_dict, rounds, workdir: Path, label: str):
    from loopscope.gui.main_window import MainWindow

    window = MainWindow(session, out_dir=workdir)
    window.out_dir.setText(str(workdir))
    window.resize(1400, 900)
    window.show()
    while window.station is None:
        app.processEvents()
        time.sleep(0.01)
    window.live.start_run  # noqa: B018
    a, b = [], []
    with_window(app, window, plan_dict)  # warm-up (imports, first file, first plots)
    for i in range(rounds):
        window.poller.set_idle(False)  # "without the window": nothing of it polls the instruments
        a.append(without_window(session.station, plan_dict, workdir / f"{label}_bare_{i}.h5"))
        window.poller.set_idle(True)
        rate, busy = with_window(app, window, plan_dict)
        b.append(rate)
        print(f"  {label} round {i}: without {a[-1]:,.1f}/s, with {rate:,.1f}/s; the window's process "
              f"used {100 * busy:.0f} % of a core meanwhile", flush=True)
    window.poller.stop()
    window.close()
    return statistics.median(a), statistics.median(b), [w / o for o, w in zip(a, b)]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--memory-points", type=int, default=200000)
    ap.add_argument("--sim-points", type=int, default=3000)
    ap.add_argument("--speed", type=float, default=1000.0)
    a = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from loopscope.gui.session import StationSession
    from loopscope.instruments.memory import MemoryStation

    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        plan = {"title": "bench sim", "kind": "linear", "source": "coil_supply",
                "detectors": ["gaussmeter", "squid_controller", "temperature_controller"],
                "sweep": {"start": 0, "stop": 0.05, "points": a.sim_points}, "ramp_rate_T_per_min": 6.0}
        sim = StationSession.simulated(speed=a.speed, sample="soft_core")
        sim.connect_blocking()
        rows.append((f"simulated lab over TCP in its own process (x{a.speed:g}), {a.sim_points} points, "
                     "3 detectors", *bench(app, sim, plan, a.rounds, d, "sim")))
        sim.close()
        mem = StationSession(None, description="memory", opener=MemoryStation)
        mem.connect_blocking()
        plan = {"title": "bench memory", "kind": "linear", "detectors": ["flux_readout", "field_probe"],
                "sweep": {"start": 0, "stop": 0.5, "points": a.memory_points}, "settle": {"wait_for_holding": False}}
        rows.append((f"in-memory station, {a.memory_points:,} points (worst case)", *bench(app, mem, plan, a.rounds, d, "mem")))
    print(f"machine: {machine_line()}")
    print("| station | without window (points/s) | with window (points/s) | window cost (medians of the rates) "
          "| window cost (median of the rounds' ratios) |")
    print("|---|---|---|---|---|")
    for name, bare, win, ratios in rows:
        print(f"| {name} | {bare:,.1f} | {win:,.1f} | {100 * (1 - win / bare):+.1f} % "
              f"| {100 * (1 - statistics.median(ratios)):+.1f} % (rounds: "
              f"{', '.join(f'{100 * (1 - r):+.0f}' for r in ratios)}) |")

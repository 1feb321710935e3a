"""(b) The sweep engine's own cost per point, with instant in-memory instruments, against QCoDeS do1d.

Both sweep one settable and read one gettable per point, with no delays, and record to their
own storage (loopscope: the HDF5 run file; QCoDeS: its SQLite dataset). The ratio of the two
times per point is the figure; both are measured in this one process, side by side.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _machine import machine_line
from loopscope.daq.plans import load_plan
from loopscope.daq.plans_as_code import load_code_plan as code_plan
from loopscope.daq.plans_as_code import plan as plan_in_python
from loopscope.daq.plans_as_code import step
from loopscope.daq.runner import Runner
from loopscope.instruments.memory import MemoryStation


@plan_in_python(title="overhead", settle={"wait_for_holding": False}, detectors=["flux_readout"])
def linear_steps(n=100):
    for i in range(n):
        yield step(field=0.1 * i / (n - 1))


def loopscope_per_point(n: int, workdir: Path, in_python: bool = False) -> float:
    station = MemoryStation()
    if in_python:   # the same sweep as a plan written in Python (daq/plans_as_code.py)
        plan = code_plan(linear_steps, {"n": n})
    else:
        plan = load_plan({"title": "overhead", "kind": "linear", "sweep": {"start": 0, "stop": 0.1, "points": n},
                          "settle": {"wait_for_holding": False}, "detectors": ["flux_readout"]})
    runner = Runner(station, plan, workdir / "loopscope.h5", overwrite=True)
    t0 = time.perf_counter()
    result = runner.run()
    dt = time.perf_counter() - t0
    assert result.status == "completed" and result.points == n
    return dt / n


def qcodes_per_point(n: int, workdir: Path) -> float | None:
    try:
        import qcodes  # noqa: F401  (is QCoDeS installed?)
        from qcodes.dataset import do1d, initialise_or_create_database_at, load_or_create_experiment
        from qcodes.parameters import Parameter
    except ImportError:
        return None
    initialise_or_create_database_at(str(workdir / "qcodes.db"))
    load_or_create_experiment("bench", sample_name="memory")
    state = {"x": 0.0}
    x = Parameter("field", unit="T", set_cmd=lambda v: state.__setitem__("x", v), get_cmd=lambda: state["x"])
    y = Parameter("flux", unit="Phi0", get_cmd=lambda: 0.05 * state["x"])
    t0 = time.perf_counter()
    do1d(x, 0, 0.1, n, 0.0, y, show_progress=False, do_plot=False)
    return (time.perf_counter() - t0) / n


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds; the figure is the median")
    a = ap.parse_args()
    ours, in_python, theirs = [], [], []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        loopscope_per_point(500, d)  # warm-up: imports, first file
        for _ in range(a.rounds):
            ours.append(loopscope_per_point(a.points, d))
            in_python.append(loopscope_per_point(a.points, d, in_python=True))
            qc = qcodes_per_point(a.points, d)
            if qc is not None:
                theirs.append(qc)
    ls = statistics.median(ours)
    print(f"machine: {machine_line()}")
    print(f"| engine | time per point (median of {a.rounds} rounds) | points per second |")
    print("|---|---|---|")
    print(f"| loopscope Runner (HDF5) | {ls * 1e6:.1f} µs | {1 / ls:,.0f} |")
    lp = statistics.median(in_python)
    print(f"| loopscope Runner, the plan written in Python | {lp * 1e6:.1f} µs | {1 / lp:,.0f} |")
    if not theirs:
        print("| QCoDeS do1d | not installed | |")
    else:
        qc = statistics.median(theirs)
        ratios = [q / o for o, q in zip(ours, theirs)]  # each pair measured back to back
        print(f"| QCoDeS do1d (SQLite) | {qc * 1e6:.1f} µs | {1 / qc:,.0f} |")
        print(f"\nloopscope is {statistics.median(ratios):.1f} times faster per point, median of back-to-back "
              f"rounds (rounds: {', '.join(f'{r:.1f}' for r in ratios)})")
        ratios_py = [q / o for o, q in zip(in_python, theirs)]
        print(f"a plan written in Python: {statistics.median(ratios_py):.1f} times faster "
              f"(rounds: {', '.join(f'{r:.1f}' for r in ratios_py)})")

"""(c) The run-file writer's sustained rows per second with the one-second durability bound.

Appends rows of 12 quantities as fast as one thread can for a fixed time, with the
background flusher writing SWMR blocks; reports the sustained rate (rows on disk per wall
second, final flush included) and the longest time any row waited in memory (data at risk).
"""
import argparse
import tempfile
import time
from pathlib import Path

from _machine import machine_line
from loopscope.daq.storage import Column, RunMetadata, RunWriter


def run(seconds: float, bound_s: float) -> dict:
    cols = [Column(f"q{i}", "V") for i in range(9)]
    with tempfile.TemporaryDirectory() as d:
        w = RunWriter(Path(d) / "bench.h5", cols, signal="q0", axes=["q1"],
                      metadata=RunMetadata(title="writer benchmark", plan_kind="linear"),
                      max_data_at_risk_s=bound_s)
        row_tail = tuple(float(i) for i in range(9))
        t0 = time.perf_counter()
        n = 0
        end = t0 + seconds
        while time.perf_counter() < end:
            for _ in range(1000):
                w.append((n, t0, 0.0) + row_tail)
                n += 1
        w.close("completed")
        dt = time.perf_counter() - t0
        return {"rows": n, "seconds": dt, "rows_per_s": n / dt, "max_at_risk_s": w.max_data_at_risk_seen_s}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bound", type=float, default=1.0, help="max_data_at_risk_s")
    a = ap.parse_args()
    r = run(a.seconds, a.bound)
    print(f"machine: {machine_line()}")
    print(f"| rows written | wall time | sustained rows/s | longest wait in memory (bound {a.bound:g} s) |")
    print("|---|---|---|---|")
    print(f"| {r['rows']:,} | {r['seconds']:.2f} s | {r['rows_per_s']:,.0f} | {r['max_at_risk_s']:.3f} s |")

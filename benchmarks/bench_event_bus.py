"""What publishing a point event costs the acquisition thread, with one subscriber.

`python benchmarks/bench_event_bus.py [--points 200000] [--rounds 3]`. The runner publishes
one "point" event per point; here a loop publishes them as fast as it can to an EventBus
with one subscriber that counts them (like the CLI's progress bar or the run process's
forwarder). Reported: wall time per publish in the publishing loop, and the process's CPU per
point including the subscriber's thread, until every event has been delivered.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import machine_line  # noqa: E402
from loopscope.daq.events import Event, EventBus  # noqa: E402


def one_round(n: int) -> tuple[float, float]:
    bus = EventBus()
    seen = [0]

    def count(ev):
        seen[0] += 1

    bus.subscribe(count)
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(n):
        bus.publish(Event("point", 0.0, {"index": i, "row": (0.0, 1.0, 2.0)}))
    t1 = time.perf_counter()
    bus.drain()
    assert seen[0] == n, seen[0]
    return (t1 - t0) / n, (time.process_time() - c0) / n


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    results = [one_round(a.points) for _ in range(a.rounds)]
    print(f"machine: {machine_line()}")
    print(f"| publishing {a.points:,} point events, one subscriber | median of {a.rounds} rounds (rounds) |")
    print("|---|---|")
    print(f"| wall time per publish | {1e6 * statistics.median(w for w, _ in results):.2f} us "
          f"({', '.join(f'{1e6 * w:.2f}' for w, _ in results)}) |")
    print(f"| process CPU per point, delivery included | {1e6 * statistics.median(c for _, c in results):.2f} us "
          f"({', '.join(f'{1e6 * c:.2f}' for _, c in results)}) |")

"""CPU per sweep point of the simulated lab and of the runner, with the soft-iron core's
Langevin function as the lab has it (scalar) and as it was (numpy on one float).

`python benchmarks/bench_sim_lab_cpu.py [--points 3000] [--rounds 3]`. Two simulated labs
(soft-iron core sample, x1000), each in its own process, the second with the soft core's
Langevin function replaced by the numpy version it used before; the same 3000-point coil
sweep (Hall probe, SQUID, thermometer) runs on each in turn. Reported per point: the lab
process's CPU (from /proc, Linux), the runner's process CPU, and the sweep rate. A sped-up lab
serves every query at once, so its CPU per point is what a sweep against it costs the machine.
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import machine_line  # noqa: E402

SPEED = 1000.0


def serve(queue, stop, numpy_langevin: bool):
    from loopscope.sim_devices import samples
    from loopscope.sim_devices.lab import SimulatedLab
    if numpy_langevin:
        samples.SoftCore._man = lambda self, He: self.Ms * float(samples.langevin(He / self.a))
    with SimulatedLab({"sample": {"kind": "soft_core"}}, seed=0, speed=SPEED) as lab:
        queue.put(lab.resources)
        stop.wait()


class _Ports:
    def __init__(self, resources):
        self.resources = resources


def process_cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sweep(resources, lab_pid: int, points: int, out: Path) -> tuple[float, float, float]:
    from loopscope.daq.demo import simulated_station
    from loopscope.daq.plans import load_plan
    from loopscope.daq.runner import Runner
    from loopscope.instruments.station import load_station
    plan = load_plan({"title": "lab cpu", "kind": "linear", "source": "coil_supply",
                      "detectors": ["gaussmeter", "squid_controller", "temperature_controller"],
                      "sweep": {"start": 0, "stop": 0.05, "points": points}, "ramp_rate_T_per_min": 6.0})
    with load_station(simulated_station(_Ports(resources), SPEED)) as station:
        runner = Runner(station, plan, out, overwrite=True)
        lab0, own0, t0 = process_cpu_s(lab_pid), time.process_time(), time.perf_counter()
        result = runner.run()
        wall = time.perf_counter() - t0
        assert result.status == "completed", result.reason
        return (process_cpu_s(lab_pid) - lab0) / points, (time.process_time() - own0) / points, points / wall


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    labs = {}
    try:
        for label, numpy_langevin in (("scalar Langevin (now)", False), ("numpy Langevin (before)", True)):
            queue, stop = mp.Queue(), mp.Event()
            proc = mp.Process(target=serve, args=(queue, stop, numpy_langevin), daemon=True)
            proc.start()
            labs[label] = (queue.get(timeout=60), proc, stop)
        results = {label: [] for label in labs}
        with tempfile.TemporaryDirectory() as d:
            for label, (resources, proc, _) in labs.items():
                sweep(resources, proc.pid, 200, Path(d) / "warm.h5")
            for _ in range(a.rounds):
                for label, (resources, proc, _) in labs.items():
                    results[label].append(sweep(resources, proc.pid, a.points, Path(d) / "s.h5"))
    finally:
        for _, proc, stop in labs.values():
            stop.set()
            proc.join(5)
    print(f"machine: {machine_line()}")
    print(f"| lab | lab CPU per point | runner CPU per point | points/s (median of {a.rounds} alternating rounds) |")
    print("|---|---|---|---|")
    for label, rows in results.items():
        lab_us = statistics.median(1e6 * r[0] for r in rows)
        run_us = statistics.median(1e6 * r[1] for r in rows)
        print(f"| {label} | {lab_us:.0f} us | {run_us:.0f} us | {statistics.median(r[2] for r in rows):.0f} |")

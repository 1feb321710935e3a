"""(a) Points per second of a sweep on the simulated lab: loopscope's Runner against a
hand-written pyvisa loop issuing the same queries.

The hand-written loop does per point what a careful person would and what the runner does:
write the coil current and read SYST:ERR? (the check the roles make after every setpoint),
poll MEAS:CURR? until it is within the settle tolerance (same poll back-off), read the
current, the Hall probe, the nanovoltmeter and the temperature. The
runner's own traffic is recorded once to check it issues the same queries per point. Both run
against the same simulated lab (in a separate process, so the lab's work does not share our
GIL), alternately, several times; the figure is the ratio of their rates. The runner's rate
includes what a run costs once (the snapshot of every instrument, creating the file, the ramp
back to zero at the end): about 0.1 s, which is why the sweep has 4000 points.
"""
import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

import pyvisa
from pyvisa.resources import MessageBasedResource

from _machine import machine_line

SPEED = 1000.0
PLAN = {"title": "benchmark sweep", "kind": "linear", "source": "coil_supply",
        "detectors": ["gaussmeter", "squid_controller", "temperature_controller"],
        "sweep": {"start": -0.05, "stop": 0.05, "points": 4000}, "settle": {"wait_for_holding": True}}


def serve(queue, stop):
    from loopscope.sim_devices.lab import SimulatedLab
    with SimulatedLab(seed=0, speed=SPEED) as lab:
        queue.put(lab.resources)
        stop.wait()


class _Ports:
    """The lab runs in another process: all the station needs of it is its resource strings."""

    def __init__(self, resources):
        self.resources = resources


def run_loopscope(resources, out: Path, overlap_reads: bool, record=None):
    from loopscope.daq.demo import simulated_station
    from loopscope.daq.plans import load_plan
    from loopscope.daq.runner import Runner
    from loopscope.instruments.station import load_station
    originals = MessageBasedResource.write, MessageBasedResource.read
    if record is not None:
        def write(self, message, *a, **k):
            record.append((self.resource_name, "w", message))
            return originals[0](self, message, *a, **k)

        def read(self, *a, **k):
            record.append((self.resource_name, "r", None))
            return originals[1](self, *a, **k)
        MessageBasedResource.write, MessageBasedResource.read = write, read
    try:
        with load_station(simulated_station(_Ports(resources), SPEED, overlap_reads=overlap_reads)) as station:
            runner = Runner(station, load_plan(PLAN), out, overwrite=True)
            if record is not None:
                record.clear()  # keep only the sweep, not the connection and identity checks
            t0 = time.perf_counter()
            result = runner.run()
            dt = time.perf_counter() - t0
    finally:
        MessageBasedResource.write, MessageBasedResource.read = originals
    assert result.status == "completed", result.reason
    return result.points / dt


TERMINATION = {"magnet_supply": "\r\n", "gaussmeter": "\r\n", "nanovoltmeter": "\r",
               "temperature_controller": "\r\n"}


def run_bare(resources, points):
    import socket
    import numpy as np
    rm = pyvisa.ResourceManager("@py")
    s = {}
    for name in ("coil_supply", "gaussmeter", "nanovoltmeter", "temperature_controller"):
        s[name] = rm.open_resource(resources[name], read_termination=TERMINATION.get(name, "\n"),
                                   write_termination="\n", timeout=2000)
        s[name].visalib.sessions[s[name].session].interface.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as a careful hand would (see instruments/visa_session.py)
    bop, probe, nvm, tc = s["coil_supply"], s["gaussmeter"], s["nanovoltmeter"], s["temperature_controller"]
    bop.write("FUNCtion:MODE CURR"); bop.write("VOLTage 30"); bop.write("OUTPut 1")
    k = 0.00827242
    rows = []
    t0 = time.perf_counter()
    for field in np.linspace(PLAN["sweep"]["start"], PLAN["sweep"]["stop"], points):
        target = field / k
        bop.write(f"CURRent {target:g}")
        error = bop.query("SYST:ERR?")
        if not error.startswith("0,"):
            raise RuntimeError(f"CURRent {target:g} refused: {error}")
        poll = 0.02 / 32
        while abs(float(bop.query("MEASure:CURRent?")) - target) > 0.002:
            time.sleep(poll)
            poll = min(2 * poll, 0.02)
        current = float(bop.query("MEASure:CURRent?"))
        rows.append((field, k * current, current, float(probe.query("RDGFIELD?")), float(nvm.query(":READ?")),
                     float(tc.query("KRDG? A"))))
    dt = time.perf_counter() - t0
    for r in s.values():
        r.close()
    return points / dt


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--overlap-reads", choices=("on", "off"), default="on",
                    help="the station's overlap_reads (ask every instrument of a point before reading)")
    a = ap.parse_args()
    queue, stop = mp.Queue(), mp.Event()
    lab = mp.Process(target=serve, args=(queue, stop), daemon=True)
    lab.start()
    resources = queue.get(timeout=60)
    try:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "bench.h5"
            traffic = []
            overlap = a.overlap_reads == "on"
            run_loopscope(resources, out, overlap, record=traffic)  # record the exact queries (and warm up)
            points = PLAN["sweep"]["points"]
            ours, bare = [], []
            for _ in range(a.repeats):
                ours.append(run_loopscope(resources, out, overlap))
                bare.append(run_bare(resources, points))
    finally:
        stop.set()
        lab.join(5)
    writes = [m for _, op, m in traffic if op == "w"]
    print(f"machine: {machine_line()}")
    print(f"station overlap_reads: {a.overlap_reads}")
    setpoints = [i for i, m in enumerate(writes) if m.startswith("CURRent ")]
    middle = len(setpoints) // 2
    one_point = writes[setpoints[middle]:setpoints[middle + 1]]
    print(f"runner traffic per point: {len(writes) / points:.1f} commands and queries "
          f"(a point in mid-sweep: {', '.join(one_point)})")
    ratios = [o / b for o, b in zip(ours, bare)]  # each pair measured back to back
    print("| sweep | points per second (median of %d) |" % a.repeats)
    print("|---|---|")
    print(f"| loopscope Runner + drivers + HDF5 | {statistics.median(ours):.0f} |")
    print(f"| hand-written pyvisa loop, same queries, no file | {statistics.median(bare):.0f} |")
    print(f"\nratio loopscope / hand-written, median of back-to-back pairs: {statistics.median(ratios):.2f} "
          f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)})")

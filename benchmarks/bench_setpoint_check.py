"""What the error check after a setpoint costs: a setpoint through the loopscope driver with
its SYST:ERR? (or *ESR?) read after it, against the same write without the check.

    python benchmarks/bench_setpoint_check.py [--n 2000] [--speed 1]

Cases: the Kepco BOP current setpoint (the software ramp writes one per step), the SR830
reference frequency (*ESR?) and the AMI 430 rate + target + PAUSE (three checks, as a ramp
start has). "Unchecked" is what the roles did before: the same writes and nothing else (a
write returns once the bytes are handed to the socket); an untimed *OPC? after each of them
lets the instrument finish before the next sample. The two paths alternate call by call on
one session, under the role's lock as in use; medians are reported, and the extra time of
the Kepco check is compared with the software ramp's step interval (100 ms of lab time by
default, at least 20 ms of wall time).
"""
from __future__ import annotations

import argparse
import statistics
import time

from _machine import machine_line

from loopscope.instruments.station import load_station
from loopscope.sim_devices.lab import SimulatedLab


def kepco_cases(role):
    bop = role.driver
    values = [0.001 * (i % 100) for i in range(100)]
    state = {"i": 0}

    def value():
        state["i"] += 1
        return values[state["i"] % len(values)]

    def checked():
        with role._setpoint_io("bench"):
            bop.current_setpoint = value()             # write + one SYST:ERR?

    def unchecked():
        with role._io("bench"):
            bop.adapter.write(f"CURRent {value():g}")
    return checked, unchecked, lambda: bop.adapter.connection.query("*OPC?")


def lockin_cases(role):
    li = role.driver
    freqs = [1000.0 + i for i in range(100)]
    state = {"i": 0}

    def value():
        state["i"] += 1
        return freqs[state["i"] % len(freqs)]

    def checked():
        with role._setpoint_io("bench"):
            li.frequency = value()                       # write + one *ESR?

    def unchecked():
        with role._io("bench"):
            li.adapter.write(f"FREQ{value():0.5e}")
    return checked, unchecked, lambda: li.adapter.connection.query("*OPC?")


def ami_cases(role):
    ami = role.driver

    def checked():
        with role._setpoint_io("bench"):
            ami.ramp_rate_field = 0.04                   # three writes, three SYST:ERR?
            ami.target_field = 0.0
            ami.pause()

    def unchecked():
        with role._io("bench"):
            for line in ("CONF:RAMP:RATE:FIELD 1,0.04,90", "CONF:FIELD:TARG 0", "PAUSE"):
                ami.adapter.write(line)
    return checked, unchecked, lambda: ami.adapter.connection.query("*OPC?")


CASES = {"Kepco BOP current setpoint (1 check)": ("coil_supply", kepco_cases),
         "SR830 frequency (1 *ESR? check)": ("lockin", lockin_cases),
         "AMI 430 rate + target + PAUSE (3 checks)": ("magnet_supply", ami_cases)}


def run(n: int, speed: float) -> list[dict]:
    rows = []
    with SimulatedLab(seed=0, speed=speed) as lab:
        from loopscope.daq.paths import SIMULATED_STATION
        station = load_station(SIMULATED_STATION, resources=lab.resources)
        try:
            for case, (name, make) in CASES.items():
                checked, unchecked, sync = make(station.get(name))
                for _ in range(20):                      # warm up
                    checked()
                    unchecked()
                    sync()
                times = {"checked": [], "unchecked": []}
                for _ in range(n):
                    for key, fn in (("checked", checked), ("unchecked", unchecked)):
                        t0 = time.perf_counter()
                        fn()
                        times[key].append(time.perf_counter() - t0)
                        sync()                           # untimed: the instrument is done
                med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
                rows.append({"case": case, **med, "extra": med["checked"] - med["unchecked"]})
        finally:
            station.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="setpoints per path and case")
    ap.add_argument("--speed", type=float, default=1.0, help="simulated-lab speed")
    args = ap.parse_args()
    rows = run(args.n, args.speed)
    print(f"# setpoint error check, {args.n} setpoints per path, simulated lab speed {args.speed:g}")
    print(f"# {machine_line('pyvisa', 'pyvisa-py', 'pymeasure')}")
    print("| setpoint | with the check (us) | unchecked (us) | extra (us) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['checked']:.0f} | {r['unchecked']:.0f} | {r['extra']:.0f} |")
    kepco = rows[0]["extra"]
    print(f"\nKepco ramp: {kepco:.0f} us per step = {kepco / 20e3:.2%} of the shortest step "
          f"interval (20 ms wall), {kepco / 100e3:.2%} of the default 100 ms")


if __name__ == "__main__":
    main()

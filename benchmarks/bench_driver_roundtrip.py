"""Driver-layer overhead: one query round trip through a loopscope role, through the
pymeasure driver under it, and through bare pyvisa, on the same simulated instrument.

    python benchmarks/bench_driver_roundtrip.py [--n 2000] [--speed 1]

The three paths are interleaved call by call (bare, driver, role, bare, ...) so drift of
the machine or the simulated world hits all three alike; medians are reported. Each path
has its own TCP session to the same simulated instrument. Target: the role adds < 20 %
over bare pyvisa.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import pyvisa

from loopscope.instruments.station import load_station
from loopscope.sim_devices.lab import SimulatedLab

CASES = {
    # name: (station instrument, sim instrument, bare query, read termination,
    #        driver read, role read)
    "Kepco BOP MEAS:CURR?": ("coil_supply", "coil_supply", "MEASure:CURRent?", "\n",
                             lambda d: d.current, lambda r: r.read_current_A()),
    "LS425 RDGFIELD?": ("gaussmeter", "gaussmeter", "RDGFIELD?", "\n",
                        lambda d: d.field_T, lambda r: r.read_field_T()),
    "SR830 SNAP? 1,2": ("lockin", "lockin", "SNAP? 1,2", "\n",
                        lambda d: d.xy_V, lambda r: r.read_xy_V()),
}


def bare_read(inst, query):
    reply = inst.query(query)
    return [float(x) for x in reply.strip().split(",")]


def run(n: int, speed: float) -> list[dict]:
    rows = []
    with SimulatedLab(seed=0, speed=speed) as lab:
        from loopscope.daq.paths import SIMULATED_STATION
        station = load_station(SIMULATED_STATION, resources=lab.resources)
        rm = pyvisa.ResourceManager("@py")
        try:
            for case, (st_name, sim_name, query, term, drv_read, role_read) in CASES.items():
                role = station.get(st_name)
                inst = rm.open_resource(lab.resources[sim_name], read_termination=term,
                                        write_termination="\n", timeout=2000)
                paths = {"bare pyvisa": lambda: bare_read(inst, query),
                         "pymeasure driver": lambda: drv_read(role.driver),
                         "loopscope role": lambda: role_read(role)}
                for fn in paths.values():          # warm up sessions, caches
                    for _ in range(20):
                        fn()
                times: dict[str, list[float]] = {k: [] for k in paths}
                for _ in range(n):
                    for key, fn in paths.items():
                        t0 = time.perf_counter()
                        fn()
                        times[key].append(time.perf_counter() - t0)
                inst.close()
                med = {k: statistics.median(v) for k, v in times.items()}
                rows.append({"case": case, **{k: v * 1e6 for k, v in med.items()},
                             "driver/bare": med["pymeasure driver"] / med["bare pyvisa"],
                             "role/bare": med["loopscope role"] / med["bare pyvisa"]})
        finally:
            station.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="round trips per path and case")
    ap.add_argument("--speed", type=float, default=1.0, help="simulated-lab speed")
    args = ap.parse_args()
    rows = run(args.n, args.speed)
    print(f"# driver round trip, {args.n} calls per path, simulated lab speed {args.speed:g}")
    print(f"# {platform.node()} {platform.machine()} {platform.processor() or ''} "
          f"Python {platform.python_version()}, pyvisa {pyvisa.__version__}, "
          f"{datetime.date.today().isoformat()}")
    print("| query | bare pyvisa (us) | pymeasure driver (us) | loopscope role (us) "
          "| driver / bare | role / bare |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['bare pyvisa']:.0f} | {r['pymeasure driver']:.0f} "
              f"| {r['loopscope role']:.0f} | {r['driver/bare']:.3f} | {r['role/bare']:.3f} |")


if __name__ == "__main__":
    main()

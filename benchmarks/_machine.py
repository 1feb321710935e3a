"""Shared by the benchmark scripts: the machine-and-date line of a report, and a robust timer."""
import os
import platform
import time
from datetime import date
from importlib.metadata import PackageNotFoundError, version


def machine_line(*packages: str) -> str:
    """Date, CPU model, core count, Python and OS, and the versions of the named packages."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    line = (f"{date.today().isoformat()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")
    for name in packages:
        try:
            line += f", {name} {version(name)}"
        except PackageNotFoundError:
            pass
    return line


def best_time(fn, repeat=7, number=1):
    """Best of `repeat` runs of `number` calls (s per call): the least disturbed by other load."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return best

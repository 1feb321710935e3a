"""Shared helpers for the benchmark scripts: machine description and robust timing."""
import os
import platform
import time
from datetime import datetime, timezone


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba
    import numpy
    import scipy

    return (f"{datetime.now(timezone.utc):%Y-%m-%d} | {cpu} | {os.cpu_count()} cores | Python "
            f"{platform.python_version()} | numpy {numpy.__version__} | scipy {scipy.__version__} | "
            f"numba {numba.__version__}")


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

"""Clients no one here wrote (QCoDeS, qcodes-contrib-drivers, pymeasure) driving the simulated
lab over pyvisa-py TCP: a parameter they cannot read or set is a gap in the simulator."""
import itertools
import time

import pytest

from sim_devices import SimulatedLab

qcodes = pytest.importorskip("qcodes")
from qcodes.instrument import Instrument  # noqa: E402

_names = itertools.count()


def unique(prefix):
    """A fresh QCoDeS instrument name (QCoDeS refuses two live instruments of one name)."""
    return f"{prefix}_{next(_names)}"


@pytest.fixture
def lab():
    lab = SimulatedLab(seed=0, speed=100).start()
    yield lab
    Instrument.close_all()
    lab.stop()


def unreadable(instrument, skip=()):
    """Every gettable parameter of the instrument and its submodules that fails to read:
    {full name: error}. ``skip`` names parameters the client itself cannot read (documented)."""
    failed = {}

    def walk(node):
        for p in node.parameters.values():
            if not p.gettable or p.name in skip or p.full_name in skip:
                continue
            try:
                p.get()
            except Exception as exc:        # noqa: BLE001 - collected and reported
                failed[p.full_name] = f"{type(exc).__name__}: {exc}"
        for sub in node.submodules.values():
            if hasattr(sub, "parameters"):
                walk(sub)

    walk(instrument)
    return failed


def wait_until(pred, timeout=10.0, interval=0.005):
    """Poll pred() until it holds or timeout seconds pass: progress, not sleeps."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(interval)
    return False

import time

import pytest
import pyvisa

from loopscope.sim_devices import SimulatedLab

TERM = {"coil_supply": "\n", "magnet_supply": "\n", "gaussmeter": "\n", "nanovoltmeter": "\r",
        "lockin": "\n", "lockin_sr860": "\n", "temperature_controller": "\r\n", "squid_controller": "\n"}


@pytest.fixture(scope="module")
def rm():
    r = pyvisa.ResourceManager("@py")
    yield r
    r.close()


def open_inst(rm, lab, name, timeout=2000):
    res = rm.open_resource(lab.resources[name], read_termination=TERM[name], write_termination="\n",
                           timeout=timeout)
    if name == "magnet_supply":
        res.read()
        res.read()
    return res


@pytest.fixture
def lab_factory():
    labs = []

    def make(config=None, seed=0, speed=100.0):
        lab = SimulatedLab(config, seed=seed, speed=speed).start()
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop()


def wait_until(pred, timeout=20.0, interval=0.005):
    """Poll pred() until it holds (True) or timeout seconds pass (False): progress, not sleeps."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(interval)
    return False

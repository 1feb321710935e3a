"""Fixtures: a simulated lab on free loopback ports, and the example station pointed at it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loopscope.instruments.station import load_station

REPO = Path(__file__).resolve().parents[2]
STATION_SIM = REPO / "examples" / "station_sim.yaml"
#: simulated seconds per wall second; the station's time_scale must say the same
SPEED = 1000.0
#: VISA timeout in tests: short so that a timeout fault surfaces quickly, long enough that a
#: busy CI machine does not turn a slow reply into a spurious timeout
TIMEOUT_S = 1.0


def sim_station_dict(**top) -> dict:
    data = yaml.safe_load(STATION_SIM.read_text())
    data["time_scale"] = SPEED
    data["timeout_s"] = TIMEOUT_S
    data.update(top)
    return data


@pytest.fixture
def lab():
    sim = pytest.importorskip("loopscope.sim_devices.lab")
    with sim.SimulatedLab(seed=0, speed=SPEED) as running:
        yield running


@pytest.fixture
def station(lab):
    st = load_station(sim_station_dict(), resources=lab.resources)
    try:
        yield st
    finally:
        st.close()

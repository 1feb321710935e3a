"""Fixtures for the sweep engine on the simulated lab: a lab on free ports and a station file for it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml


#: simulated seconds per wall second (the station's time_scale says the same)
SPEED = 1000.0


def write_station(lab, path: Path, speed: float = SPEED, **top) -> Path:
    from loopscope.daq.demo import simulated_station

    path.write_text(yaml.safe_dump(simulated_station(lab, speed, timeout_s=1.0, **top), sort_keys=False))
    return path


@pytest.fixture
def sim_lab_factory(tmp_path):
    """make(config=None, speed=SPEED) -> (lab, station_file); every lab is stopped afterwards."""
    from loopscope.sim_devices.lab import SimulatedLab

    labs = []

    def make(config=None, speed=SPEED, seed=0, **top):
        lab = SimulatedLab(config, seed=seed, speed=speed).start()
        labs.append(lab)
        return lab, write_station(lab, tmp_path / f"station_{len(labs)}.yaml", speed, **top)

    yield make
    for lab in labs:
        lab.stop()

"""A sweep on a station that mixes serial and LAN instruments, as real labs have them: the Kepco,
the LS425, the 2182A and the SR830 on the simulated lab's serial ports, the rest on TCP."""
import sys
from pathlib import Path

import h5py
import pytest
import yaml

from loopscope.daq.plans import load_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.station import load_station

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")

ROOT = Path(__file__).resolve().parents[2]
SERIAL = ["coil_supply", "gaussmeter", "nanovoltmeter", "lockin"]
SPEED = 1000.0


def test_a_sweep_runs_on_a_station_of_serial_and_tcp_instruments(tmp_path):
    from loopscope.sim_devices import SimulatedLab

    with SimulatedLab(None, seed=0, speed=SPEED, serial=SERIAL) as lab:
        data = yaml.safe_load((ROOT / "examples" / "station_sim_serial.yaml").read_text())
        data["time_scale"] = SPEED
        plan = load_plan({"title": "serial and LAN", "kind": "linear", "source": "coil_supply",
                          "detectors": ["gaussmeter", "squid_controller", "lockin",
                                        "temperature_controller"],
                          "sweep": {"start": 0.0, "stop": 0.02, "points": 25},
                          "settle": {"delay_s": 0.2}})
        with load_station(data, resources=lab.resources) as station:
            kinds = {name: role.resource.split("::")[0][:5] for name, role in station.roles.items()}
            assert kinds["coil_supply"] == kinds["gaussmeter"] == kinds["lockin"] == "ASRL/"
            assert kinds["magnet_supply"] == "TCPIP"
            runner = Runner(station, plan, tmp_path / "mixed.h5")
            runner.start()
            result = runner.wait(120)
        assert result.status == "completed", result.reason
        assert abs(lab.world.field_T) < 1e-4          # the coil went back to zero over RS-232
        counters = {name: lab.serial_framing(name)["counters"] for name in SERIAL}
    assert all(c["garbled"] == 0 for c in counters.values()), counters
    assert counters["gaussmeter"]["rate_limited"] == 0   # the driver kept the 425's 30 ms rule
    assert all(c["lines"] > 0 for c in counters.values()), counters
    with h5py.File(result.path, "r") as f:
        assert f["entry/data/point_index"].shape == (25,)

"""End to end: the example plan persistent_current_sweep.yaml on the example station whose SQUID
is read by a Keysight 34465A (examples/station_sim_keysight34465a.yaml), against the simulated
lab of the profile keysight34465a_squid_readout, from the command line as a user runs it.

The twin is watched while the run reads it: at each reading the world's flux-locked-loop output
(the flux the SQUID loop holds, Phi0) is noted, and each recorded flux must equal it within the
meter's noise at the station's 10 PLC on the 10 V range (1 uV rms, the Truevolt guide's
resolution table) and the SQUID's own 1e-7 Phi0. The final state is read from the twin itself."""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from loopscope.cli import main
from loopscope.daq.paths import PLANS_DIR
from loopscope.sim_devices import SimulatedLab

REPO = Path(__file__).resolve().parents[2]
STATION = REPO / "examples" / "station_sim_keysight34465a.yaml"
SPEED = 100.0
SLOT = "nanovoltmeter"


@pytest.fixture
def lab():
    with SimulatedLab("keysight34465a_squid_readout", seed=0, speed=SPEED) as running:
        yield running


def station_file(lab, path: Path) -> Path:
    data = yaml.safe_load(STATION.read_text())
    for name, entry in data["instruments"].items():
        entry["resource"] = lab.resources[name]
    data["instruments"]["squid_controller"]["voltmeter_resource"] = lab.resources[SLOT]
    path.write_text(yaml.safe_dump(data))
    return path


def watch_readings(lab) -> list[float]:
    """The world's FLL output flux at each reading the twin takes (the truth it measures)."""
    dmm, seen = lab.instruments[SLOT], []
    take = dmm._reading

    def reading():
        seen.append(lab.world.fll.output_flux_phi0())   # under the world's lock, as the reading
        return take()

    dmm._reading = reading
    return seen


def test_persistent_current_sweep_reads_the_squid_through_the_34465a(lab, tmp_path):
    truth = watch_readings(lab)
    out = tmp_path / "rings.h5"
    result = CliRunner().invoke(main, [
        "run", str(PLANS_DIR / "persistent_current_sweep.yaml"), "--station",
        str(station_file(lab, tmp_path / "station.yaml")), "--time-scale", str(SPEED),
        "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as f:
        entry = f["entry"]
        assert entry["status"][()].strip() == b"completed"
        flux = entry["data"]["flux_phi0"][:]
        snapshot = json.loads(entry["instrument"]["snapshot_json"][()])
    assert len(flux) == 401 and len(truth) == len(flux)    # one READ? per point
    dmm = lab.instruments[SLOT]
    v_per_phi0 = lab.world.fll.volts_per_phi0
    sigma = np.hypot(1e-6 / v_per_phi0, 1e-7)               # meter noise and the SQUID's own
    residual = flux - np.array(truth)
    assert abs(residual.mean()) < 5 * sigma / np.sqrt(len(flux))
    assert residual.std() == pytest.approx(sigma, rel=0.2)
    assert np.max(np.abs(residual)) < 5 * sigma
    # the rings' persistent-current signal is far above that noise: the sweep resolves it
    assert np.ptp(truth) > 20 * sigma
    # the meter as the run left it, read from the twin: the station's range and NPLC, written
    # once before the first reading, and nothing else
    assert (dmm.func, dmm.range, dmm.autorange, dmm.nplc, dmm.trig_source) == ("VOLT", 10.0, False, 10.0, "IMM")
    lines = [line for _, line in dmm.command_log]
    writes = [i for i, line in enumerate(lines) if "?" not in line]
    assert [lines[i] for i in writes] == ["CONF:VOLT:DC 10", "SENS:VOLT:DC:NPLC 10"]
    assert writes[-1] < lines.index("READ?")
    vm = snapshot["instruments"]["squid_controller"]["voltmeter"]     # recorded in the run file
    assert vm["driver"] == "Keysight34465A"
    assert vm["settings"]["nplc"] == 10.0 and vm["idn"].startswith("Keysight Technologies,34465A")
    # taken at the start, before the first reading: what was found, and what was then written
    assert vm["before_first_reading"] == {"range_V": 10.0, "nplc": 10.0, "written": False}

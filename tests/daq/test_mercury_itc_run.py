"""Field sweeps at several temperatures on the simulated VTI, end to end: the example plan
field_in_temperature.yaml run on examples/station_sim_mercury_itc.yaml against the
mercury_itc_vti profile, through the Runner, pyvisa-py and the Mercury iTC twin. The iTC's loop
and heater are then read back from the twin itself: a completed run leaves the loop regulating
at the last temperature within the station's heater limit; a run that does not complete (an
operator abort, a setpoint the iTC refuses) ends with the heater off."""
from __future__ import annotations

import time
from pathlib import Path

import h5py
import pytest
import yaml

from loopscope.daq.plans import load_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.station import load_station
from loopscope.sim_devices import SimulatedLab

REPO = Path(__file__).resolve().parents[2]
SPEED = 1000.0
#: the VTI's temperatures instead of the plan's 30-100 mK (below its 1.5 K base and the
#: sensor's calibration)
VTI_TEMPERATURES = [2.0, 4.2, 10.0]


def station_for(lab, path: Path) -> Path:
    """examples/station_sim_mercury_itc.yaml on the lab's free ports, at the lab's speed."""
    st = yaml.safe_load((REPO / "examples" / "station_sim_mercury_itc.yaml").read_text())
    st["time_scale"], st["timeout_s"] = SPEED, 1.0
    for name, entry in st["instruments"].items():
        if name in lab.resources:
            entry["resource"] = lab.resources[name]
        if "voltmeter_resource" in entry:
            entry["voltmeter_resource"] = lab.resources["nanovoltmeter"]
    path.write_text(yaml.safe_dump(st, sort_keys=False))
    return path


def example_plan(**outer) -> dict:
    plan = yaml.safe_load((REPO / "examples" / "plans" / "field_in_temperature.yaml").read_text())
    plan["outer"].update(outer)
    return plan


@pytest.fixture
def vti():
    lab = SimulatedLab("mercury_itc_vti", seed=0, speed=SPEED).start()
    yield lab
    lab.stop()


def twin(lab):
    return lab.instruments["temperature_controller"]


def test_field_sweeps_at_vti_temperatures(vti, tmp_path):
    plan = example_plan(values=VTI_TEMPERATURES, tolerance=0.02)
    assert plan["outer"]["heater_range"] == "low"
    with load_station(station_for(vti, tmp_path / "station.yaml")) as st:
        runner = Runner(st, load_plan(plan), tmp_path / "run.h5")
        runner.start()
        result = runner.wait(300)
    assert result is not None and result.status == "completed", result
    with h5py.File(tmp_path / "run.h5", "r") as f:
        data = f["entry/data"]
        T, sp = data["temperature_K"][()], data["temperature_setpoint_K"][()]
        assert sorted(set(sp.tolist())) == VTI_TEMPERATURES
        for setpoint in VTI_TEMPERATURES:           # every point measured at its temperature
            at = T[sp == setpoint]
            assert len(at) == plan["sweep"]["points"]
            assert abs(at - setpoint).max() < 0.02 + 3e-4 * setpoint, (setpoint, at.min(), at.max())
    log = vti.command_log()["temperature_controller"]
    sets = [line for line in log if line.startswith("SET:")]
    # the plan's heater range named the station's low limit (the runner sets range and
    # temperature at each point of the outer loop), then each temperature in turn
    assert sets[:2] == ["SET:DEV:MB0.H1:HTR:VLIM:5", "SET:DEV:MB1.T1:TEMP:LOOP:ENAB:ON"]
    assert {s for s in sets if ":VLIM:" in s} == {"SET:DEV:MB0.H1:HTR:VLIM:5"}
    tsets = [s for s in sets if ":TSET:" in s]
    assert [s for i, s in enumerate(tsets) if i == 0 or s != tsets[i - 1]] == \
        [f"SET:DEV:MB1.T1:TEMP:LOOP:TSET:{t:.4f}" for t in VTI_TEMPERATURES]
    # read back from the twin: a completed run leaves the loop regulating at the last
    # temperature (the runner's safe state is for runs that do not complete), within the
    # station's heater limit
    itc = twin(vti)
    assert itc.enabled and itc.loop_heater == "MB0.H1"
    assert itc.target_K == VTI_TEMPERATURES[-1] and itc.vlim == 5.0
    vti.world.advance()
    assert vti.world.cryostat.temperature_K == pytest.approx(VTI_TEMPERATURES[-1], abs=0.02)
    assert itc._heater_V() ** 2 / itc.heater_true_ohm <= 0.5
    assert abs(vti.world.field_T) < 1e-3                            # end: zero


def test_an_aborted_run_leaves_the_heater_off(vti, tmp_path):
    plan = example_plan(values=[6.0, 12.0], tolerance=0.05, heater_range="medium")
    with load_station(station_for(vti, tmp_path / "station.yaml")) as st:
        runner = Runner(st, load_plan(plan), tmp_path / "abort.h5")
        runner.start()
        deadline = time.monotonic() + 120
        while runner.points_done < 20:
            assert time.monotonic() < deadline and runner.result is None, runner.result
            time.sleep(0.005)
        itc = twin(vti)
        assert itc.enabled and itc.vlim == 10.0                     # regulating during the sweep
        runner.abort("operator abort in test")
        result = runner.wait(120)
    assert result.status == "aborted"
    assert "temperature_controller: heater off" in result.reason, result.reason
    # read back from the twin: the loop in manual at 0 %, no power in the heater, the insert
    # cooling to its base
    assert not itc.enabled and itc.manual_fraction == 0.0 and itc._heater_V() == 0.0
    assert vti.world.cryostat.mode == 3 and vti.world.cryostat.manual_output_pct == 0.0
    sets = [line for line in vti.command_log()["temperature_controller"] if line.startswith("SET:")]
    assert sets[-2:] == ["SET:DEV:MB1.T1:TEMP:LOOP:ENAB:OFF", "SET:DEV:MB1.T1:TEMP:LOOP:HSET:0"]
    start = vti.world.cryostat.temperature_K
    deadline = time.monotonic() + 30
    while True:
        vti.world.advance()
        if vti.world.cryostat.temperature_K < 2.0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert start > 5


def test_the_plan_as_shipped_is_refused_by_the_itc_and_ends_heater_off(vti, tmp_path):
    """30 mK is no VTI temperature: the role allows it (below max_temperature_K) but the iTC
    answers INVALID (below its sensor's calibration), the run fails naming the reply, and the
    heater is off."""
    plan = example_plan()
    with load_station(station_for(vti, tmp_path / "station.yaml")) as st:
        result = Runner(st, load_plan(plan), tmp_path / "refused.h5").run()
    assert result.status == "failed"
    assert "TSET:0.0300" in result.reason and "INVALID" in result.reason, result.reason
    assert "heater off" in result.reason
    assert not twin(vti).enabled and twin(vti).manual_fraction == 0.0

"""The thermometer role on the simulated Lake Shore 372 of the dilution refrigerator, over TCP and
over a serial pty: every driver property it uses, the scanner's pause and settling respected,
the station's heater ranges refused before anything is sent, the safe state read back from the
twin."""
from __future__ import annotations

import sys

import pytest
import yaml

from loopscope.instruments.roles import LimitError, role_kind
from loopscope.instruments.station import StationError, load_station, validate_station

from .conftest import REPO, SPEED, TIMEOUT_S

DR_STATION = REPO / "examples" / "station_sim_dilution_fridge.yaml"


def tc_only(**over):
    d = yaml.safe_load(DR_STATION.read_text())
    d["time_scale"], d["timeout_s"] = SPEED, TIMEOUT_S
    entry = dict(d["instruments"]["temperature_controller"])
    for key, value in over.items():
        entry[key] = dict(entry.get(key, {}), **value) if isinstance(value, dict) else value
    d["instruments"] = {"temperature_controller": entry}
    return d


@pytest.fixture
def dr_lab():
    from loopscope.sim_devices.lab import SimulatedLab
    with SimulatedLab("dilution_fridge", seed=0, speed=SPEED) as lab:
        yield lab


@pytest.fixture
def thermo(dr_lab):
    with load_station(tc_only(), resources=dr_lab.resources) as st:
        yield st.get("temperature_controller"), dr_lab


def twin(lab):
    return lab.instruments["temperature_controller"]


def test_connect_sends_only_queries_and_reads_the_loop(thermo):
    role, lab = thermo
    assert role_kind(role) == "thermometer"
    sent = lab.command_log()["temperature_controller"]
    assert sent and all("?" in line for line in sent), sent
    found = {f.setting: f for f in role.findings}
    assert {"control loop", "heater resistance", "scanner"} <= set(found)
    assert all(f.verdict == "ok" for f in found.values()), [f.message for f in found.values()]


def test_reads_the_mixing_chamber_through_the_curve(thermo):
    role, lab = thermo
    T = role.read_temperature_K()
    assert T == pytest.approx(lab.world.cryostat.temperature_K, rel=0.01)
    assert 0.009 < T < 0.011                                       # base, ~10 mK
    drv = role.driver
    assert drv.reading_status == 0
    assert drv.resistance_ohm > 1e6                                # a RuOx at 10 mK: Mohm
    assert drv.settle_status == (0, 0)
    assert drv.scanner == ("6", False)
    assert drv.heater_resistance_ohm == 120.0
    assert drv.output_mode == (5, "6")
    assert drv.still_output_percent > 0
    assert role.snapshot()["settings"]["scanner_channel"] == "6"


def test_setpoint_and_range_drive_the_fridge(thermo):
    role, lab = thermo
    role.set_heater_range("high")
    role.set_setpoint_K(0.05)
    assert twin(lab).ranges[0] == 5 and lab.world.cryostat.setpoint_K == 0.05
    assert role.read_heater_range() == "high" and role.read_setpoint_K() == 0.05
    with pytest.raises(LimitError, match="max_temperature_K"):
        role.set_setpoint_K(1.0)
    with pytest.raises(LimitError, match="heater range"):
        role.set_heater_range("maximum")
    assert lab.world.cryostat.setpoint_K == 0.05


def test_a_setpoint_waits_for_the_scanner_to_settle_on_its_channel(thermo):
    role, lab = thermo
    tc = twin(lab)
    role.driver.write("SCAN 2,0")                                 # someone looked at the still
    role.driver.ask("*OPC?")
    t0 = lab.world.t
    role.set_setpoint_K(0.02)
    log = lab.command_log()["temperature_controller"]
    assert "SCAN 6,0" in log
    assert log.index("SCAN 6,0") < log.index("SETP 0,0.02")
    # the setpoint went out only after the channel's 3 s pause and 10 s filter settle
    switched = [t for t, line in tc.command_log if line == "SCAN 6,0"][0]
    setp = [t for t, line in tc.command_log if line == "SETP 0,0.02"][0]
    assert setp - switched >= 3 + 10 and switched >= t0
    assert tc.scan == "6" and tc.autoscan == 0


def test_safe_state_turns_the_sample_heater_off_and_leaves_the_still(thermo):
    role, lab = thermo
    role.set_heater_range("medium")
    role.set_setpoint_K(0.06)
    still = lab.world.cryostat.still_power_W
    account = role.go_to_safe_state()
    assert "off" in account
    assert twin(lab).ranges[0] == 0 and lab.world.cryostat.heater_range == 0
    assert lab.world.cryostat.still_power_W == still > 0


def test_station_refuses_a_range_beyond_the_heater_power_before_anything_is_touched(dr_lab):
    with pytest.raises(StationError, match=r"range_high = 6 .* exceeds limits.max_heater_power_W"):
        validate_station(tc_only(settings={"range_high": 6}), resources=dr_lab.resources)
    with pytest.raises(StationError, match="1 to 2000 ohm"):
        validate_station(tc_only(settings={"heater_resistance_ohm": 5000.0}), resources=dr_lab.resources)
    with pytest.raises(StationError, match="range_low <= range_medium"):
        validate_station(tc_only(settings={"range_low": 5, "range_medium": 4}), resources=dr_lab.resources)
    with pytest.raises(StationError, match="max_heater_power_W"):
        bad = tc_only()
        del bad["instruments"]["temperature_controller"]["limits"]["max_heater_power_W"]
        validate_station(bad, resources=dr_lab.resources)
    assert dr_lab.command_log()["temperature_controller"] == []


def test_a_loop_on_another_channel_is_a_mismatch(dr_lab):
    tc = twin(dr_lab)
    tc.outmode[0][1] = "2"                                       # regulating on the still
    from loopscope.instruments.roles import InstrumentError
    with pytest.raises(InstrumentError, match="regulates on input 2"):
        with load_station(tc_only(), resources=dr_lab.resources):
            pass


@pytest.mark.skipif(sys.platform == "win32", reason="serial pseudo-terminals are POSIX")
def test_the_role_over_usb_serial():
    from loopscope.sim_devices.lab import SimulatedLab
    with SimulatedLab("dilution_fridge", seed=0, speed=SPEED, serial=["temperature_controller"]) as lab:
        resource = lab.resources["temperature_controller"]
        assert resource.startswith("ASRL")
        # a pseudo-terminal carries 8-bit characters only: 8N1 here where a real 372's USB
        # port is 7 data bits, odd parity (as examples/station_sim_serial.yaml does for the 425)
        with load_station(tc_only(resource=resource, data_bits=8, parity="none"), resources={}) as st:
            role = st.get("temperature_controller")
            assert role.read_temperature_K() == pytest.approx(lab.world.cryostat.temperature_K, rel=0.01)
            role.set_heater_range("low")
        framing = lab.serial_framing("temperature_controller")
        assert framing["client"]["baud_rate"] == 57600
        assert framing["counters"]["rate_limited"] == 0

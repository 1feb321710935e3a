"""The Cryomagnetics 4G driver and role against the twin: every driver property over a LAN
socket and over a serial pseudo-terminal (where the 4G echoes each command), the role's
connect (queries only) and its findings, the station's ratings, the heater rules and the
safe state. The outcome is read back from the twin's world, not from our driver."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from loopscope.instruments.commissioning import check_station
from loopscope.instruments.drivers.cryomagnetics4g import Cryomagnetics4G, parse_reading
from loopscope.instruments.roles import InstrumentError, LimitError
from loopscope.instruments.station import StationError, load_station, validate_station
from loopscope.instruments.visa_session import InterlockError
from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices import magnet as mg

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "examples" / "station_sim_cryomagnetics4g.yaml"
SPEED = 1000.0
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")


def station_dict(lab, **top) -> dict:
    data = yaml.safe_load(STATION.read_text())
    data["time_scale"] = SPEED
    data["timeout_s"] = 1.0
    data.update(top)
    for name, entry in data["instruments"].items():
        entry["resource"] = lab.resources[name]
    return data


def world(lab):
    with lab.world.lock:
        lab.world.advance()
        return lab.world.magnet


@pytest.fixture
def lab():
    with SimulatedLab("cryomagnetics4g_magnet", seed=0, speed=SPEED) as running:
        yield running


def open_driver(resource, **kw):
    return Cryomagnetics4G(resource, visa_library="@py", timeout=2000,
                           coil_constant_T_per_A=0.1, max_field_T=9.0, max_current_A=90.0,
                           max_ramp_rate_A_per_s=0.04, **kw)


def exercise_every_property(lab, drv):
    """Each property and setpoint method of the driver once, checked against the twin."""
    assert drv.check_identity().startswith("Cryomagnetics,4G,")
    assert drv.units == "A"
    assert drv.magnet_reading == (0.0, "A") and drv.supply_reading == (0.0, "A")
    assert drv.upper_limit == (0.0, "A") and drv.lower_limit == (0.0, "A")
    assert drv.voltage_limit == 2.0
    assert abs(drv.magnet_voltage) < 0.01 and abs(drv.output_voltage) < 0.01
    assert drv.sweep_status == "standby" and drv.mode == "Manual"
    assert drv.status_byte == 2 and drv.heater_on is False
    assert drv.ranges == [22.5, 45.0, 67.5, 81.0, 90.0]
    assert drv.rates == [0.02] * 6
    drv.discard_stale_errors()
    drv.switch_heater_on()
    assert world(lab).heater_on
    assert drv.heater_on is True
    import time
    deadline = time.monotonic() + 20
    while world(lab).state == mg.HEATING:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    for k in range(5):
        drv.set_rate(k, 0.04)
    assert world(lab).segments[0][0] == 0.04
    drv.set_sweep_limit(0.5, "A", upper=True)
    drv.set_sweep_limit(-0.5, "A", upper=False)
    assert drv.upper_limit == (0.5, "A") and drv.lower_limit == (-0.5, "A")
    drv.sweep("UP")
    while world(lab).state != mg.HOLDING:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert drv.supply_current_A == 0.5 and drv.magnet_current_A == 0.5
    drv.pause()
    assert drv.sweep_status == "sweep paused"
    drv.switch_heater_off()
    assert not world(lab).heater_on
    with pytest.raises(LimitError):
        drv.set_sweep_limit(95.0, "A", upper=True)      # nothing sent
    with pytest.raises(LimitError):
        drv.set_rate(0, 0.5)
    drv.reset_quench()
    return drv


def test_every_driver_property_over_the_lan_socket(lab):
    drv = open_driver(lab.resources["magnet_supply"])
    try:
        assert drv.echo is False
        exercise_every_property(lab, drv)
    finally:
        drv.adapter.close()
    sent = [line for _, line in lab.instruments["magnet_supply"].command_log]
    assert "ULIM 95.0000" not in sent and "RATE 0 0.5" not in sent
    assert sent.index("REMOTE") < sent.index("PSHTR ON")


@posix_only
def test_every_driver_property_over_rs232_with_the_echo():
    with SimulatedLab("cryomagnetics4g_magnet", seed=0, speed=SPEED,
                      serial=["magnet_supply"]) as lab:
        resource = lab.resources["magnet_supply"]
        drv = open_driver(resource, baud_rate=9600)
        try:
            assert drv.echo is True
            exercise_every_property(lab, drv)
        finally:
            drv.adapter.close()


def test_a_wrong_echo_is_an_error_not_a_reading(lab):
    # the LAN socket does not echo: a driver told to expect one reads the reply as the echo
    drv = open_driver(lab.resources["magnet_supply"], echo=True)
    try:
        with pytest.raises(InstrumentError, match="echo was 'A'"):
            drv.ask("UNITS?")
    finally:
        drv.adapter.close()


def test_readings_parse_with_their_units():
    assert parse_reading("12.3456kG", "IMAG?") == (12.3456, "kG")
    assert parse_reading("-0.5000A", "IOUT?") == (-0.5, "A")
    assert parse_reading("1.2 kG", "IMAG?") == (1.2, "kG")   # QCoDeS's sim file puts a space
    with pytest.raises(ValueError):
        parse_reading("12.3456", "IMAG?")


def test_connect_reads_only_and_reports(lab):
    lab.clear_command_log()
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        verdicts = {f.setting: f.verdict for f in role.findings}
    assert verdicts == {"units": "adapted", "mode": "ok", "sweep ranges": "note",
                        "voltage limit": "note", "persistent switch": "ok", "quench": "ok"}
    sent = lab.command_log()["magnet_supply"]
    assert sent and all("?" in line for line in sent), sent


def test_station_check_of_the_example_station_finds_nothing_and_sends_queries_only(lab):
    lab.clear_command_log()
    report = check_station(station_dict(lab))
    assert report.problems == 0
    interfaces = {r.name: r.interface for r in report.instruments}
    assert interfaces["magnet_supply"] == "LAN (raw socket)"
    sent = lab.command_log()["magnet_supply"]
    assert "*IDN?" in sent and all("?" in line for line in sent), sent
    assert not world(lab).heater_on and world(lab).I_s == 0.0


def test_a_slower_range_profile_than_the_station_refuses_connect(lab):
    m = lab.instruments["magnet_supply"]
    m.rates[:5] = [0.05, 0.01, 0.05, 0.05, 0.05]   # range 1 (22.5 A .. 45 A) below 0.04 A/s
    m._apply_ranges()
    with pytest.raises(InstrumentError, match="range 1 .* 0.01 A/s"):
        load_station(station_dict(lab))
    report = check_station(station_dict(lab))
    found = [(r.name, f.setting) for r in report.instruments for f in r.mismatches]
    assert found == [("magnet_supply", "sweep ranges")]


def test_units_kg_adapted_and_sweep_limits_sent_in_kg(lab):
    m = lab.instruments["magnet_supply"]
    m.units = "G"                          # the last user left it in kilogauss
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        role.enter_driven_mode()
        role.start_ramp(0.3, 0.24)
        assert role.wait_settled(30)
        assert role.read_field_T() == pytest.approx(0.3)
    assert world(lab).I_s == pytest.approx(3.0)
    assert "ULIM 3.0000" in [line for _, line in m.command_log]   # 3 kG = 0.3 T


def test_ratings_are_checked_before_anything_connects(lab):
    data = station_dict(lab)
    data["instruments"]["magnet_supply"]["limits"]["max_current_A"] = 120.0
    with pytest.raises(StationError, match="at most 100 A"):
        validate_station(data)
    data = station_dict(lab)
    data["instruments"]["magnet_supply"]["settings"]["coil_constant_T_per_A"] = 0.05
    with pytest.raises(StationError, match="needs 180 A"):
        validate_station(data)
    data = station_dict(lab)
    del data["instruments"]["magnet_supply"]["settings"]["coil_constant_T_per_A"]
    with pytest.raises(StationError, match="coil_constant_T_per_A"):
        validate_station(data)
    data = station_dict(lab)
    data["instruments"]["magnet_supply"]["limits"]["max_ramp_rate_T_per_min"] = 0.0
    with pytest.raises(StationError):
        validate_station(data)


def test_limits_refused_before_anything_is_sent(lab):
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        role.enter_driven_mode()
        lab.clear_command_log()
        for field, rate in ((9.5, 0.1), (1.0, 0.5), (float("nan"), 0.1)):
            with pytest.raises(LimitError):
                role.start_ramp(field, rate)
        assert not any(("ULIM" in line or "SWEEP" in line or "RATE" in line)
                       for line in lab.command_log()["magnet_supply"])


def test_heater_rules_persistent_cycle_and_safe_state_zero(lab):
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        with pytest.raises(InterlockError, match="heater is off"):
            role.start_ramp(0.5, 0.24)
        role.enter_driven_mode()
        role.start_ramp(0.5, 0.24)
        assert role.wait_settled(30)
        role.enter_persistent_mode()
        m = world(lab)
        assert not m.heater_on and m.I_s == 0.0 and m.I_m == pytest.approx(5.0, rel=1e-4)
        assert role.in_persistent_mode()
        # the leads at 0 A against 5 A in the magnet: heater on is refused, nothing sent
        lab.clear_command_log()
        with pytest.raises(InterlockError, match="differs from magnet current"):
            role.switch_heater_on()
        assert "PSHTR ON" not in lab.command_log()["magnet_supply"]
        assert not world(lab).quenched
        account = role.go_to_safe_state()
        assert "to 0 T" in account
    m = world(lab)
    assert m.I_s == 0.0 and abs(m.I_m) < 1e-6 and not m.quenched
    assert m.heater_on                       # the switch is open: supply and magnet agree


def test_safe_state_hold_leaves_the_magnet_persistent_with_the_heater_off(lab):
    with load_station(station_dict(lab, safe_state="hold")) as st:
        role = st["magnet_supply"]
        role.enter_driven_mode()
        role.start_ramp(0.4, 0.24)
        assert role.wait_settled(30)
        account = role.go_to_safe_state()
        assert "persistent" in account
    m = world(lab)
    assert not m.heater_on and m.I_s == 0.0 and m.I_m == pytest.approx(4.0, rel=1e-4)
    assert not m.quenched


def test_a_quench_is_reported_and_nothing_is_re_energised(lab):
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        role.enter_driven_mode()
        role.start_ramp(0.3, 0.24)
        assert role.wait_settled(30)
        with lab.world.lock:
            lab.world.magnet.quench("test")
        from loopscope.instruments.roles import QuenchError
        with pytest.raises(QuenchError, match="quench"):
            role.check_quench()
        lab.clear_command_log()
        assert "quenched" in role.go_to_safe_state()
        sent = lab.command_log()["magnet_supply"]
        assert all("?" in line for line in sent), sent      # left untouched


@posix_only
def test_the_role_over_rs232_takes_the_manuals_framing_and_ramps():
    with SimulatedLab("cryomagnetics4g_magnet", seed=0, speed=SPEED,
                      serial=["magnet_supply"]) as lab:
        data = station_dict(lab)
        assert data["instruments"]["magnet_supply"]["resource"].startswith("ASRL")
        with load_station(data) as st:          # 9600 8N1 CR LF from MODEL_DEFAULTS
            role = st["magnet_supply"]
            assert role.driver.echo is True
            role.enter_driven_mode()
            role.start_ramp(0.2, 0.24)
            assert role.wait_settled(30)
            assert role.read_field_T() == pytest.approx(0.2)
            role.go_to_safe_state()
        m = world(lab)
        assert m.I_s == 0.0 and abs(m.I_m) < 1e-6 and not m.quenched
        framing = lab.serial_framing("magnet_supply")
        assert framing["client"]["baud_rate"] == 9600
        assert framing["counters"]["garbled"] == 0 and framing["counters"]["lines"] > 20

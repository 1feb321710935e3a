"""The Mercury iPS driver and role against the twin over a LAN socket: every driver reading
and setpoint, each SET's VALID reply checked (INVALID and a reply for another signal raise),
the role's connect (READ queries only) and its findings, the station's ratings, the heater
rules, persistent mode and the safe state, a quench. The outcome is read back from the twin's
world, not from our driver."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from loopscope.instruments.commissioning import check_station
from loopscope.instruments.drivers.mercury_ips import MercuryIPS, firmware_psu_word, parse_value
from loopscope.instruments.roles import (InstrumentError, LimitError, QuenchError,
                                         RefusedCommandError)
from loopscope.instruments.station import StationError, load_station, validate_station
from loopscope.instruments.visa_session import InterlockError
from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices import magnet as mg

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "examples" / "station_sim_mercury_ips.yaml"
SPEED = 1000.0
P = "DEV:GRPZ:PSU"


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


def sent(lab) -> list[str]:
    return lab.command_log()["magnet_supply"]


@pytest.fixture
def lab():
    with SimulatedLab("mercury_ips_magnet", seed=0, speed=SPEED) as running:
        yield running


def open_driver(resource, **kw):
    return MercuryIPS(resource, visa_library="@py", timeout=2000, max_field_T=9.0,
                      max_current_A=90.0, max_ramp_rate_A_per_s=0.04, **kw)


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_every_driver_reading_and_setpoint_over_the_lan_socket(lab):
    drv = open_driver(lab.resources["magnet_supply"])
    try:
        assert drv.check_identity().startswith("IDN:OXFORD INSTRUMENTS:MERCURY iPS:")
        assert drv.psu_word == "PSU"
        assert drv.catalogue == "DEV:GRPZ:PSU" and drv.alarms == ""
        assert drv.current_to_field == 10.0 and drv.action == "HOLD" and drv.heater_on is False
        assert drv.output_current_A == 0.0 and drv.output_field_T == 0.0
        assert drv.persistent_current_A == 0.0 and drv.persistent_field_T == 0.0
        assert drv.current_ramp_rate == 1.2 and drv.field_ramp_rate == pytest.approx(0.12)
        assert abs(drv.output_voltage) < 0.01
        drv.switch_heater_on()
        assert world(lab).heater_on and drv.heater_on is True
        wait_for(lambda: world(lab).state != mg.HEATING)
        drv.set_current_ramp_rate(0.04)
        assert world(lab).segments[0][0] == pytest.approx(0.04)
        assert drv.current_ramp_rate == pytest.approx(2.4)
        drv.set_current_target(0.5, 10.0)
        assert drv.current_target == 0.5 and drv.field_target == pytest.approx(0.05)
        drv.set_action("RTOS")
        wait_for(lambda: world(lab).state == mg.HOLDING)
        assert drv.action == "HOLD" and drv.output_current_A == 0.5
        drv.switch_heater_off()
        assert not world(lab).heater_on
        with pytest.raises(LimitError):
            drv.set_current_target(95.0, 10.0)            # nothing sent
        with pytest.raises(LimitError):
            drv.set_current_target(5.0, 0.5)              # 10 T at ATOB 0.5: beyond 9 T
        with pytest.raises(LimitError):
            drv.set_current_ramp_rate(0.5)
        # the heater against a mismatch: refused by the driver before SWHT goes out
        wait_for(lambda: world(lab).state != mg.COOLING)
        drv.set_action("RTOZ")
        wait_for(lambda: world(lab).I_s == 0.0)
        with pytest.raises(InstrumentError, match="differs from the persistent current"):
            drv.switch_heater_on()
        assert not world(lab).quenched
    finally:
        drv.adapter.close()
    lines = [line for _, line in lab.instruments["magnet_supply"].command_log]
    assert not any("95.0000" in line or ":5.0000" in line or "RCST:30" in line for line in lines)
    assert lines.count(f"SET:{P}:SIG:SWHT:ON") == 1


def test_an_invalid_reply_and_a_reply_for_another_signal_raise(lab):
    drv = open_driver(lab.resources["magnet_supply"])
    try:
        drv.check_identity()
        assert drv.set_noun(f"{P}:ACTN", "CLMP") == "CLMP"
        with pytest.raises(RefusedCommandError, match="refused 'SET:DEV:GRPZ:PSU:ACTN:RTOS'"):
            drv.set_action("RTOS")                          # clamped: HOLD first
        drv.set_action("HOLD")
        with pytest.raises(RefusedCommandError, match="INVALID"):
            drv.set_noun(f"{P}:SIG:FLD", "1.0")             # read-only
        # a reply for another signal: the twin answers CSET, the driver expected FSET
        twin = lab.instruments["magnet_supply"]
        real = twin._set
        twin._set = lambda rest: real(rest.replace("FSET", "CSET"))
        try:
            with pytest.raises(RefusedCommandError, match="reply for another signal"):
                drv.set_noun(f"{P}:SIG:FSET", "0.1000")
        finally:
            twin._set = real
        with pytest.raises(InstrumentError, match="NOT_FOUND"):
            drv.read_noun("DEV:GRPX:PSU:SIG:FLD")
    finally:
        drv.adapter.close()


def test_values_and_firmware_words():
    assert parse_value("1.0000T", "T", "FLD") == 1.0
    assert parse_value("-0.6000A/m", "A/m", "RCST") == -0.6
    with pytest.raises(ValueError):
        parse_value("1.0000A", "T", "FLD")
    with pytest.raises(ValueError):
        parse_value("NOT_FOUND", "T", "FLD")
    assert firmware_psu_word("2.5.09.000") == "PSU"
    assert firmware_psu_word("2.6.04.000") == "SPSU" and firmware_psu_word("3.0") == "SPSU"


def test_connect_reads_only_and_reports(lab):
    lab.clear_command_log()
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        verdicts = {f.setting: f.verdict for f in role.findings}
    assert verdicts == {"group": "ok", "coil constant": "ok", "ramp rate": "note",
                        "persistent switch": "ok", "action": "ok", "quench": "ok"}
    lines = sent(lab)
    assert lines and all(line == "*IDN?" or line.startswith("READ:") for line in lines), lines


def test_station_check_finds_nothing_and_sends_queries_only(lab):
    lab.clear_command_log()
    report = check_station(station_dict(lab))
    assert report.problems == 0
    assert {r.name: r.interface for r in report.instruments}["magnet_supply"] == "LAN (raw socket)"
    lines = sent(lab)
    assert "*IDN?" in lines and all(line == "*IDN?" or line.startswith("READ:") for line in lines)
    assert not world(lab).heater_on and world(lab).I_s == 0.0


def test_a_coil_constant_other_than_atob_or_a_missing_group_refuses_connect(lab):
    data = station_dict(lab)
    data["instruments"]["magnet_supply"]["settings"]["coil_constant_T_per_A"] = 0.11
    with pytest.raises(InstrumentError, match="ATOB"):
        load_station(data)
    data = station_dict(lab)
    data["instruments"]["magnet_supply"]["settings"]["group"] = "GRPX"
    with pytest.raises(InstrumentError, match="no magnet group GRPX"):
        load_station(data)
    assert all(line == "*IDN?" or line.startswith("READ:") for line in sent(lab))


def test_ratings_are_checked_before_anything_connects(lab):
    for key, value, message in (("max_current_A", 130.0, "at most 120 A"),):
        data = station_dict(lab)
        data["instruments"]["magnet_supply"]["limits"][key] = value
        with pytest.raises(StationError, match=message):
            validate_station(data)
    data = station_dict(lab)
    data["instruments"]["magnet_supply"]["settings"]["coil_constant_T_per_A"] = 0.05
    with pytest.raises(StationError, match="needs 180 A"):
        validate_station(data)
    data = station_dict(lab)
    data["instruments"]["magnet_supply"]["settings"]["group"] = "GRPQ"
    with pytest.raises(StationError, match=r"settings\.group = 'GRPQ'"):
        validate_station(data)
    data = station_dict(lab)
    del data["instruments"]["magnet_supply"]["settings"]["coil_constant_T_per_A"]
    with pytest.raises(StationError, match="coil_constant_T_per_A"):
        validate_station(data)


def test_limits_refused_before_anything_is_sent(lab):
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        role.enter_driven_mode()
        lab.clear_command_log()
        for field, rate in ((9.5, 0.1), (1.0, 0.5), (float("nan"), 0.1)):
            with pytest.raises(LimitError):
                role.start_ramp(field, rate)
        assert not any(line.startswith("SET:") for line in sent(lab))


def test_a_ramp_from_a_clamped_output(lab):
    lab.instruments["magnet_supply"].action = "CLMP"
    with load_station(station_dict(lab)) as st:
        role = st["magnet_supply"]
        assert {f.setting: f.verdict for f in role.findings}["action"] == "note"
        role.enter_driven_mode()
        role.start_ramp(0.2, 0.24)
        assert role.wait_settled(30)
        assert role.read_field_T() == pytest.approx(0.2)
    assert world(lab).I_s == pytest.approx(2.0)


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
        assert role.in_persistent_mode() and role.read_field_T() == pytest.approx(0.5)
        lab.clear_command_log()
        with pytest.raises(InterlockError, match="differs from the persistent current"):
            role.switch_heater_on()
        assert f"SET:{P}:SIG:SWHT:ON" not in sent(lab)
        assert not world(lab).quenched
        account = role.go_to_safe_state()
        assert "to 0 T" in account
    m = world(lab)
    assert m.I_s == 0.0 and abs(m.I_m) < 1e-6 and not m.quenched
    assert m.heater_on


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
        with pytest.raises(QuenchError, match="Magnet quench"):
            role.check_quench()
        lab.clear_command_log()
        assert "quenched" in role.go_to_safe_state()
        assert all(line.startswith("READ:") for line in sent(lab)), sent(lab)

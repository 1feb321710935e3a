"""The Mercury iTC driver and its thermometer role. The driver's strict reading of replies is
checked on the forms a unit sends (the manual's, and pymeasure's recorded replies) with no
instrument; the role on the simulated VTI over TCP and over a serial pty: queries only at
connect, setpoints and heater ranges, the settle, the station's heater limits refused before
anything is sent, the safe state read back from the twin."""
from __future__ import annotations

import sys
import time

import pytest
import yaml
from pymeasure.test import expected_protocol

from loopscope.instruments.drivers.mercury_itc import MercuryITC, parse_quantity
from loopscope.instruments.roles import InstrumentError, LimitError, RefusedCommandError, role_kind
from loopscope.instruments.station import StationError, load_station, validate_station

from .conftest import REPO, SPEED, TIMEOUT_S

ITC_STATION = REPO / "examples" / "station_sim_mercury_itc.yaml"
TEMP = "DEV:MB1.T1:TEMP"
LOOP = TEMP + ":LOOP"
HTR = "DEV:MB0.H1:HTR"


# ----------------------------------------------------------------- the driver, no instrument
def test_replies_are_read_as_a_unit_sends_them():
    with expected_protocol(MercuryITC, [
            # pymeasure's recorded replies (tests/instruments/oxfordinstruments/test_mercuryitc.py)
            (f"READ:{TEMP}:SIG:TEMP", f"STAT:{TEMP}:SIG:TEMP:330.0725K"),
            (f"READ:{LOOP}:TSET", f"STAT:{LOOP}:TSET:61.0000K"),
            (f"READ:{LOOP}:ENAB", f"STAT:{LOOP}:ENAB:OFF"),
            (f"READ:{LOOP}:HSET", f"STAT:{LOOP}:HSET:0"),
            (f"READ:{HTR}:VLIM", f"STAT:{HTR}:VLIM:25"),
            (f"READ:{HTR}:PMAX", f"STAT:{HTR}:PMAX:12.5000"),
            (f"READ:{HTR}:RES", f"STAT:{HTR}:RES:50"),
            (f"READ:{LOOP}:RENA:RSET", f"STAT:{LOOP}:RENA:OFF:RSET:5.0000K/m"),
            (f"READ:{HTR}:SIG:VOLT:CURR:POWR", f"STAT:{HTR}:SIG:VOLT:-0.0481V:CURR:-0.0000A:POWR:0.0000W"),
            ("READ:SYS:CAT", "STAT:SYS:CAT:DEV:MB0.H1:HTR:DEV:MB1.T1:TEMP:DEV:DB4.G1:AUX"),
    ]) as itc:
        assert itc.temperature_K == 330.0725
        assert itc.setpoint_K == 61.0
        assert itc.loop_enabled is False
        assert itc.heater_percent == 0.0
        assert itc.voltage_limit_V == 25.0
        assert itc.heater_max_power_W == 12.5
        assert itc.heater_nominal_ohm == 50.0
        assert itc.ramp == (False, 5.0)
        assert itc.heater_signals() == (-0.0481, -0.0, 0.0)
        assert itc.catalogue() == [("MB0.H1", "HTR"), ("MB1.T1", "TEMP"), ("DB4.G1", "AUX")]
    assert parse_quantity("174.3112mV", "V", "SIG:VOLT", prefixed=True) == pytest.approx(0.1743112)
    for bad in ("174.3112mV", "4.2", "K", "4.2 K"):
        if bad != "4.2":
            with pytest.raises(ValueError):
                parse_quantity(bad, "K", "SIG:TEMP")
    assert parse_quantity("4.2", "K", "SIG:TEMP") == 4.2      # a bare number, as VLIM replies


def test_a_reply_for_another_address_is_not_taken():
    """A late answer to an earlier question must never be read as this one's (ValueError: the
    role counts it transient and reopens the session)."""
    with expected_protocol(MercuryITC, [
            (f"READ:{TEMP}:SIG:TEMP", f"STAT:{LOOP}:TSET:61.0000K"),
            (f"READ:{TEMP}:SIG:TEMP", "STAT:DEV:DB6.T1:TEMP:SIG:TEMP:4.2000K"),
            (f"READ:{LOOP}:P:I:D", f"STAT:{LOOP}:P:3.5:I:1.8"),
            (f"SET:{LOOP}:TSET:4.2000", f"STAT:SET:{LOOP}:ENAB:ON:VALID"),
    ], max_temperature_K=10.0) as itc:
        for _ in range(2):
            with pytest.raises(ValueError, match="another address"):
                itc.temperature_K
        with pytest.raises(ValueError, match="does not answer"):
            itc.pid
        with pytest.raises(ValueError, match="not this command's"):
            itc.set_setpoint_K(4.2)


def test_invalid_replies_raise_naming_the_word():
    with expected_protocol(MercuryITC, [
            (f"READ:{TEMP}:SIG:TEMP", f"STAT:{TEMP}:SIG:TEMP:INVALID"),
            (f"READ:{TEMP}:SIG:TEMP", "STAT:DEV:MB1.T1:NOT_FOUND"),
            (f"READ:{HTR}:VLIM", "STAT:DEV:MB0.H1:HTR:N/A"),
            (f"SET:{LOOP}:TSET:4.2000", f"STAT:SET:{LOOP}:TSET:4.2000:INVALID"),
            (f"SET:{LOOP}:ENAB:ON", f"STAT:SET:{LOOP}:ENAB:ON:DENIED"),
    ], max_temperature_K=10.0) as itc:
        with pytest.raises(InstrumentError, match="INVALID"):
            itc.temperature_K
        with pytest.raises(InstrumentError, match="NOT_FOUND .no board of that UID"):
            itc.temperature_K
        with pytest.raises(InstrumentError, match="N/A"):
            itc.voltage_limit_V
        with pytest.raises(RefusedCommandError, match="refused 'SET:DEV:MB1.T1:TEMP:LOOP:TSET:4.2000'") as info:
            itc.set_setpoint_K(4.2)
        assert info.value.errors[0][0] == "INVALID"
        with pytest.raises(RefusedCommandError, match="DENIED"):
            itc.set_loop_enabled(True)


def test_sets_are_read_back():
    with expected_protocol(MercuryITC, [
            (f"SET:{LOOP}:TSET:4.2000", f"STAT:SET:{LOOP}:TSET:4.2000:VALID"),
            (f"READ:{LOOP}:TSET", f"STAT:{LOOP}:TSET:4.2000K"),
            (f"SET:{LOOP}:TSET:5.0000", f"STAT:SET:{LOOP}:TSET:5.0000:VALID"),
            (f"READ:{LOOP}:TSET", f"STAT:{LOOP}:TSET:4.5000K"),          # a ramp on its way: fine
            (f"READ:{LOOP}:RENA:RSET", f"STAT:{LOOP}:RENA:ON:RSET:1.0000K/m"),
            (f"SET:{LOOP}:TSET:6.0000", f"STAT:SET:{LOOP}:TSET:6.0000:VALID"),
            (f"READ:{LOOP}:TSET", f"STAT:{LOOP}:TSET:4.5000K"),          # no ramp: not taken
            (f"READ:{LOOP}:RENA:RSET", f"STAT:{LOOP}:RENA:OFF:RSET:1.0000K/m"),
            (f"SET:{LOOP}:ENAB:ON", f"STAT:SET:{LOOP}:ENAB:ON:VALID"),
            (f"READ:{LOOP}:ENAB", f"STAT:{LOOP}:ENAB:OFF"),
    ], max_temperature_K=10.0) as itc:
        itc.set_setpoint_K(4.2)
        itc.set_setpoint_K(5.0)
        with pytest.raises(InstrumentError, match="TSET reads 4.5 K after TSET:6.0000"):
            itc.set_setpoint_K(6.0)
        with pytest.raises(InstrumentError, match="does not read ON"):
            itc.set_loop_enabled(True)


def test_limits_are_refused_before_anything_is_sent():
    with expected_protocol(MercuryITC, [], max_temperature_K=10.0,
                           allowed_voltage_limits_V=(5.0, 10.0)) as itc:
        for bad in (10.5, -1.0, float("nan"), "ten"):
            with pytest.raises(LimitError):
                itc.set_setpoint_K(bad)
        with pytest.raises(LimitError, match="allows .5.0, 10.0. V"):
            itc.set_voltage_limit_V(20.0)
        with pytest.raises(LimitError):
            itc.set_heater_percent(101)
    with pytest.raises(LimitError, match="not a heater board UID"):
        with expected_protocol(MercuryITC, [], heater="MB1.T1"):
            pass


# ----------------------------------------------------------------- the role on the simulated VTI
def tc_only(**over):
    d = yaml.safe_load(ITC_STATION.read_text())
    d["time_scale"], d["timeout_s"] = SPEED, TIMEOUT_S
    entry = dict(d["instruments"]["temperature_controller"])
    for key, value in over.items():
        entry[key] = dict(entry.get(key, {}), **value) if isinstance(value, dict) else value
    d["instruments"] = {"temperature_controller": entry}
    return d


@pytest.fixture
def vti():
    from loopscope.sim_devices.lab import SimulatedLab
    with SimulatedLab("mercury_itc_vti", seed=0, speed=SPEED) as lab:
        yield lab


@pytest.fixture
def thermo(vti):
    with load_station(tc_only(), resources=vti.resources) as st:
        yield st.get("temperature_controller"), vti


def twin(lab):
    return lab.instruments["temperature_controller"]


def settle(role, target, tolerance=0.01, timeout=30.0):
    """As the runner waits: until the reading is within tolerance (progress, not a sleep)."""
    deadline = time.monotonic() + timeout
    while abs(role.read_temperature_K() - target) > tolerance:
        assert time.monotonic() < deadline, (role.read_temperature_K(), target)
        time.sleep(0.01)


def test_connect_sends_only_queries_and_reads_the_loop(thermo):
    role, lab = thermo
    assert role_kind(role) == "thermometer" and role.model == "Oxford Instruments Mercury iTC"
    sent = lab.command_log()["temperature_controller"]
    assert sent[0] == "*IDN?" and all(line.startswith("READ:") for line in sent[1:]), sent
    found = {f.setting: f.verdict for f in role.findings}
    assert found == {"boards": "ok", "loop heater": "ok", "heater resistance": "ok",
                     "heater voltage limit": "ok", "loop": "warning", "setpoint ramp": "ok",
                     "sensor calibration": "ok"}
    assert role.read_temperature_K() == pytest.approx(lab.world.cryostat.temperature_K, rel=1e-3)
    pending = role.begin_read("read_temperature_K")             # asked now, answered later
    assert pending.finish() == pytest.approx(lab.world.cryostat.temperature_K, rel=1e-3)
    assert role.read_resistance_ohm() > 1000


def test_a_heater_range_and_setpoints_regulate_the_insert(thermo):
    role, lab = thermo
    role.set_heater_range("low")
    assert twin(lab).vlim == 5.0 and twin(lab).enabled
    assert role.read_heater_range() == "low"
    role.set_setpoint_K(20.0)
    assert twin(lab).target_K == 20.0 and role.read_setpoint_K() == 20.0
    settle(role, 20.0)
    assert lab.world.cryostat.temperature_K == pytest.approx(20.0, abs=0.02)
    assert 0 < role.read_heater_power_W() <= 0.5                     # 5 V into 50 ohm at most
    role.set_heater_range("medium")
    assert twin(lab).vlim == 10.0 and role.read_heater_range() == "medium"
    role.set_heater_range("off")
    assert not twin(lab).enabled and twin(lab).manual_fraction == 0.0
    assert role.read_heater_range() == "off"
    with pytest.raises(LimitError, match="max_temperature_K"):
        role.set_setpoint_K(301.0)
    with pytest.raises(LimitError, match="not one of"):
        role.set_heater_range("max")
    log = lab.command_log()["temperature_controller"]
    assert not any(line.startswith("SET:DEV:MB1.T1:TEMP:LOOP:TSET:301") for line in log)


def test_the_safe_state_turns_the_heater_off_read_back_from_the_twin(thermo):
    role, lab = thermo
    role.set_heater_range("medium")
    role.set_setpoint_K(30.0)
    settle(role, 30.0, tolerance=0.5)
    assert lab.world.cryostat.heater_output_pct() > 0
    account = role.go_to_safe_state()
    assert "heater off" in account and "0 W" in account
    itc = twin(lab)
    assert not itc.enabled and itc.manual_fraction == 0.0
    assert lab.world.cryostat.mode == 3 and lab.world.cryostat.manual_output_pct == 0.0
    log = lab.command_log()["temperature_controller"]
    assert [line for line in log if line.startswith("SET:")][-2:] == [f"SET:{LOOP}:ENAB:OFF",
                                                                      f"SET:{LOOP}:HSET:0"]
    assert log[-1] == f"READ:{HTR}:SIG:VOLT:CURR:POWR"             # the power read back last
    # the insert cools to its base once the heater is off
    start = role.read_temperature_K()
    deadline = time.monotonic() + 30
    while role.read_temperature_K() > 1.6:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert start > 20


def test_the_station_ramp_is_written_before_the_first_setpoint(vti):
    with load_station(tc_only(settings={"ramp_K_per_min": 30.0}), resources=vti.resources) as st:
        role = st.get("temperature_controller")
        role.set_heater_range("high")
        role.set_setpoint_K(5.0)
        role.set_setpoint_K(6.0)
        itc = twin(vti)
        assert itc.ramp_on and itc.ramp_K_per_min == 30.0
        sets = [line for line in vti.command_log()["temperature_controller"] if line.startswith("SET:")]
        assert sets == [f"SET:{HTR}:VLIM:20", f"SET:{LOOP}:ENAB:ON", f"SET:{LOOP}:RSET:30",
                        f"SET:{LOOP}:RENA:ON", f"SET:{LOOP}:TSET:5.0000", f"SET:{LOOP}:TSET:6.0000"]
        settle(role, 6.0, tolerance=0.02)


def test_a_setpoint_the_itc_refuses_is_reported(vti):
    """Above the sensor's calibration (CAL:HOTL 325 K) the iTC answers INVALID: the connect
    check warned, and the setpoint raises naming the command and the reply."""
    with load_station(tc_only(limits={"max_temperature_K": 400.0}), resources=vti.resources) as st:
        role = st.get("temperature_controller")
        assert {f.setting: f.verdict for f in role.findings}["sensor calibration"] == "warning"
        with pytest.raises(RefusedCommandError, match=r"TSET:350.0000.*INVALID"):
            role.set_setpoint_K(350.0)
        assert twin(vti).target_K == 1.5


BAD_STATIONS = [
    ({"settings": {"voltage_limit_high_V": 25.0}}, r"voltage_limit_high_V = 25 .25 V into 50 ohm = 12.5 W. "
                                                   r"exceeds limits.max_heater_power_W = 10 W"),
    ({"settings": {"voltage_limit_high_V": 45.0}, "limits": {"max_heater_power_W": 100.0}},
     r"voltage_limit_high_V = 45: the Mercury iTC's heater voltage limit is at most 40 V"),
    ({"settings": {"voltage_limit_low_V": 12.0}}, r"voltage_limit_low_V <= voltage_limit_medium_V"),
    ({"settings": {"heater_resistance_ohm": 10.0}}, r"heater_resistance_ohm = 10: .* 20 to 100 ohm"),
    ({"settings": {"sensor": "MB0.H1"}}, r"settings.sensor = 'MB0.H1': not a Mercury iTC sensor board UID"),
    ({"settings": {"heater": "heater1"}}, r"settings.heater = 'heater1'"),
    ({"resource": "USB0::0x1234::0x5678::SN1::INSTR"}, r"USB port is a virtual serial port"),
    ({"limits": {"max_heater_power_W": None}}, r"max_heater_power_W"),
]


@pytest.mark.parametrize("over,message", BAD_STATIONS)
def test_heater_limits_and_ports_are_refused_at_validation(vti, over, message):
    data = tc_only(**{k: v for k, v in over.items() if k != "limits"})
    limits = over.get("limits", {})
    for key, value in limits.items():
        if value is None:
            del data["instruments"]["temperature_controller"]["limits"][key]
        else:
            data["instruments"]["temperature_controller"]["limits"][key] = value
    resources = {} if "resource" in over else vti.resources
    with pytest.raises(StationError, match=message):
        validate_station(data, resources=resources)
    assert vti.command_log()["temperature_controller"] == []


def test_a_voltage_limit_above_the_station_power_refuses_the_connection(vti):
    twin(vti).vlim = 30.0                            # 18 W into 50 ohm, the station allows 10 W
    with pytest.raises(InstrumentError, match=r"voltage limit 30 V puts up to 18 W .* lower VLIM at the "
                                              r"iTC to 22.4 V or less"):
        with load_station(tc_only(), resources=vti.resources):
            pass
    assert all(not line.startswith("SET:") for line in vti.command_log()["temperature_controller"])


def test_a_loop_driving_no_heater_and_a_missing_board(vti):
    twin(vti).loop_heater = None
    with load_station(tc_only(), resources=vti.resources) as st:
        found = {f.setting: f for f in st.get("temperature_controller").findings}
        assert found["loop heater"].verdict == "warning"
    with pytest.raises(InstrumentError, match=r"no DB3.H1 \(HTR\) board"):
        with load_station(tc_only(settings={"heater": "DB3.H1"}), resources=vti.resources):
            pass


@pytest.mark.skipif(sys.platform == "win32", reason="serial pseudo-terminals are POSIX")
def test_the_role_over_rs232():
    from loopscope.sim_devices.lab import SimulatedLab
    with SimulatedLab("mercury_itc_vti", seed=0, speed=SPEED, serial=["temperature_controller"]) as lab:
        resource = lab.resources["temperature_controller"]
        assert resource.startswith("ASRL")
        # the station names no framing: the model's defaults (57600 8N2, LF) open the port
        with load_station(tc_only(resource=resource), resources={}) as st:
            role = st.get("temperature_controller")
            assert role.read_temperature_K() == pytest.approx(lab.world.cryostat.temperature_K, rel=1e-3)
            role.set_heater_range("low")
            role.set_setpoint_K(4.2)
            assert "heater off" in role.go_to_safe_state()
        framing = lab.serial_framing("temperature_controller")
        assert framing["client"]["baud_rate"] == 57600 and framing["client"]["stop_bits"] == 2
        assert framing["counters"]["garbled"] == 0
        assert twin(lab).target_K == 4.2 and not twin(lab).enabled

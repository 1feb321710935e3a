"""A setpoint the instrument refuses is an InstrumentError with the instrument's own words.

Every role reads its instrument's error report (SYST:ERR? or *ESR?) after each write that
changes the instrument; here the simulated lab refuses one, through a setting of its own (a
supply rated below the station's limit, a lowered current limit, no persistent switch) or
the ``refuse`` fault, and the role must say so, never carry on silently.
"""
from __future__ import annotations

import logging
import time

import pytest
import pyvisa

from loopscope.instruments.visa_session import InterlockError
from loopscope.instruments.roles import InstrumentError, RefusedCommandError, TransientInstrumentError
from loopscope.instruments.station import load_station

from .conftest import SPEED, sim_station_dict


def station_on(lab, **top):
    return load_station(sim_station_dict(**top), resources=lab.resources)


@pytest.fixture
def lab_with():
    """A simulated lab with a configuration of the test's own; stopped afterwards."""
    from loopscope.sim_devices.lab import SimulatedLab
    labs = []

    def make(config=None):
        lab = SimulatedLab(config, seed=0, speed=SPEED).start()
        labs.append(lab)
        return lab
    yield make
    for lab in labs:
        lab.stop()


def raw(lab, name):
    rm = pyvisa.ResourceManager("@py")
    res = rm.open_resource(lab.resources[name], read_termination="\n", write_termination="\n",
                           timeout=2000)
    if name == "magnet_supply":
        res.read(), res.read()       # the welcome lines
    return res


def assert_refused(info, who, command, reported):
    err = info.value
    assert isinstance(err, RefusedCommandError) and not isinstance(err, TransientInstrumentError)
    text = str(err)
    assert text.startswith(who), text
    assert "TCPIP0::127.0.0.1::" in text and command in text and reported in text, text


# ---------------------------------------------------------------- Kepco BOP
def test_kepco_current_above_the_supplys_own_rating_stops_the_ramp(lab_with):
    # a 5 A supply behind a station that allows 12 A: the BOP refuses, the ramp stops there
    lab = lab_with({"coil": {"max_current_A": 5.0}})
    st = station_on(lab)
    try:
        coil = st.get("coil_supply")
        coil.start_ramp(0.06, 6.0)                         # 7.25 A
        with pytest.raises(RefusedCommandError) as info:
            end = time.monotonic() + 10
            while not coil.is_settled():
                assert time.monotonic() < end
                time.sleep(0.005)
        assert_refused(info, "field_source 'coil_supply' (Kepco BOP 36-12 at", "write current setpoint",
                       'SYST:ERR? answered -222,"Data out of range"')
        assert "'CURRent 7.25" in str(info.value)
        assert lab.world.coil.current_setpoint_A <= 5.0    # what it held before the refusal
        assert "to 0 T" in coil.go_to_safe_state()          # and the safe state still works
    finally:
        st.close()


def test_kepco_current_written_directly_past_the_driver_is_reported(station, lab):
    coil = station.get("coil_supply")
    coil.driver.write("CURRent 13")                        # the validator would have refused it
    with pytest.raises(RefusedCommandError, match=r"refused 'CURRent 13': SYST:ERR\? answered "
                                                  r'-222,"Data out of range"'):
        coil.driver.check_set_errors()
    assert lab.world.coil.current_setpoint_A == 0.0


def test_one_error_query_per_setpoint_and_none_per_reading(station, lab):
    coil = station.get("coil_supply")
    lab.clear_command_log()
    coil.start_ramp(0.05, 6.0)
    end = time.monotonic() + 10
    while not coil.is_settled():
        assert time.monotonic() < end
        time.sleep(0.005)
    coil.read_field_T()
    log = lab.command_log()["coil_supply"]
    writes = [i for i, line in enumerate(log) if "?" not in line]
    assert len(writes) >= 3                                # output on, ramp steps, target
    assert all(log[i + 1] == "SYST:ERR?" for i in writes)  # each write is checked at once
    # one more: the errors from before this session's first setpoint are read once
    assert log.count("SYST:ERR?") == len(writes) + 1
    assert log[-1] == "MEASure:CURRent?"                   # a reading is not followed by a check
    coil.go_to_safe_state()


def test_errors_from_before_the_session_are_not_blamed_on_its_first_setpoint(station, lab, caplog):
    stranger = raw(lab, "coil_supply")
    stranger.query("GARBAGE:COMMAND 1;*OPC?")              # someone else's typo, hours ago
    stranger.close()
    coil = station.get("coil_supply")
    with caplog.at_level(logging.WARNING, logger="loopscope.instruments.drivers._base"):
        coil.start_ramp(0.001, 6.0)                         # no error: the typo is not ours
    assert "before this session's first setpoint" in caplog.text and "-113" in caplog.text
    coil.go_to_safe_state()


# ---------------------------------------------------------------- AMI 430
def test_ami_target_beyond_the_supplys_current_limit_is_refused_and_no_ramp_is_sent(station, lab):
    magnet = station.get("magnet_supply")
    magnet.enter_driven_mode()
    supply = raw(lab, "magnet_supply")
    supply.query("CONF:CURR:LIM 0.5;*OPC?")                # set at the front panel, say
    supply.close()
    lab.clear_command_log()
    with pytest.raises(RefusedCommandError) as info:
        magnet.start_ramp(0.1, 0.24)                       # 1 A
    assert_refused(info, "field_source 'magnet_supply' (AMI 430 at", "start ramp to 0.1 T",
                   "refused 'CONF:FIELD:TARG 1': SYST:ERR? answered -105,\"Out of range\"")
    log = lab.command_log()["magnet_supply"]
    assert "RAMP" not in log                               # the old target is not ramped to
    assert lab.world.magnet.target_A == 0.0


def test_ami_heater_on_without_a_switch_is_the_supplys_refusal(lab_with):
    lab = lab_with({"magnet": {"switch_installed": False}})
    # the station thinks there is a switch: connect reads PS:INST? and refuses first
    with pytest.raises(InstrumentError, match=r"persistent switch: the station says "
                                              r"persistent_switch: true but the supply reports "
                                              r"no switch installed \(PS:INST\? 0\)"):
        station_on(lab)
    # past that check (as station check connects), the supply's own refusal is the error
    st = load_station(sim_station_dict(), resources=lab.resources, connect=False)
    magnet = st.get("magnet_supply")
    magnet.refuse_mismatches = False
    try:
        magnet.connect()
        with pytest.raises(RefusedCommandError) as info:
            magnet.switch_heater_on()
        assert not isinstance(info.value, InterlockError)
        assert_refused(info, "field_source 'magnet_supply'", "switch heater on",
                       "refused 'PSwitch 1': SYST:ERR? answered -107,\"No switch installed\"")
    finally:
        st.close()


def test_ami_ramp_rate_refused_by_the_supply(station, lab):
    magnet = station.get("magnet_supply")
    magnet.enter_driven_mode()
    lab.inject_fault("magnet_supply", "refuse", match="CONF:RAMP:RATE", count=1)
    with pytest.raises(RefusedCommandError, match=r"CONF:RAMP:RATE:FIELD 1,0\.04,90': SYST:ERR\? "
                                                  r'answered -105,"Out of range"'):
        magnet.start_ramp(0.1, 0.24)
    assert lab.world.magnet.target_A == 0.0                # nothing after the refused rate


# ---------------------------------------------------------------- lock-ins, thermometer, FLL
@pytest.mark.parametrize("name,model,sent", [("lockin", "SR830", "FREQ1.50000e+03"),
                                             ("lockin_sr860", "SR860", "FREQ 1.500000e+03")])
def test_lockin_frequency_refused(station, lab, name, model, sent):
    li = station.get(name)
    before = li.read_frequency_Hz()
    lab.inject_fault(name, "refuse", match="FREQ", count=1)
    with pytest.raises(RefusedCommandError) as info:
        li.set_frequency_Hz(1500.0)
    assert_refused(info, f"lockin '{name}' ({model} at", "set frequency 1500 Hz",
                   f"refused '{sent}': *ESR? set bit 4 EXE (execution error)")
    assert li.read_frequency_Hz() == before
    li.set_frequency_Hz(1500.0)                            # the next one is accepted
    assert li.read_frequency_Hz() == pytest.approx(1500.0)


def test_thermometer_setpoint_and_heater_range_refused(station, lab):
    tc = station.get("temperature_controller")
    lab.inject_fault("temperature_controller", "refuse", match="SETP", count=1)
    with pytest.raises(RefusedCommandError) as info:
        tc.set_setpoint_K(0.5)
    assert_refused(info, "thermometer 'temperature_controller' (Lake Shore 336 at", "set setpoint 0.5 K",
                   "refused 'SETP 1,0.5': *ESR? set bit 4 EXE (execution error)")
    lab.inject_fault("temperature_controller", "refuse", match="RANGE", count=1)
    with pytest.raises(RefusedCommandError, match=r"set heater range low: .*'RANGE 1,1'.*bit 4 EXE"):
        tc.set_heater_range("low")
    assert tc.read_heater_range() == "off"


def test_flux_readout_gain_refused(station, lab):
    flux = station.get("squid_controller")
    lab.inject_fault("squid_controller", "refuse", match="GAIN", count=1)
    with pytest.raises(RefusedCommandError) as info:
        flux.set_gain(2.0)
    assert_refused(info, "flux_readout 'squid_controller'", "set gain",
                   "refused 'GAIN 2': SYST:ERR? answered -222,\"Data out of range\"")
    flux.set_gain(2.0)
    assert lab.world.fll.gain == 2.0


def test_a_refused_command_is_not_retried_as_transient(station, lab):
    # the runner retries TransientInstrumentError; a refusal must end the run instead
    li = station.get("lockin")
    lab.inject_fault("lockin", "refuse", match="FREQ", count=1)
    with pytest.raises(InstrumentError) as info:
        li.set_frequency_Hz(1500.0)
    assert not isinstance(info.value, TransientInstrumentError)

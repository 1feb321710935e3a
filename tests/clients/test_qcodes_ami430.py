"""QCoDeS's AMIModel430 (written by others, for real AMI 430s) driving the simulated 430 over
pyvisa-py TCP. Effects are checked on the simulated magnet (lab.world / the instrument's own
state), not by asking the same client back.

QCoDeS waits for the switch heater with fixed 0.5 s polls of STATE? (AMI430SwitchHeater._on /
_off) and for a ramp with 0.05 s polls: polls, not fixed waits, so they end as soon as the fast
simulator (speed 100: 20 s of heating in 0.2 s) has finished; no time.sleep is patched.
"""
from __future__ import annotations

import itertools

import pytest

qcodes = pytest.importorskip("qcodes")
from qcodes.instrument import Instrument  # noqa: E402
from qcodes.instrument_drivers.american_magnetics import AMI430Exception, AMIModel430  # noqa: E402

from loopscope.sim_devices import magnet as mg  # noqa: E402
from .conftest import RawLine, wait_until, world_now  # noqa: E402

_names = itertools.count()


@pytest.fixture
def ami(lab):
    inst = AMIModel430(f"ami430_{next(_names)}", lab.resources["magnet_supply"], visalib="@py",
                       terminator="\r\n", timeout=5)
    yield inst
    Instrument.close_all()


def supply(lab):
    return lab.instruments["magnet_supply"]


def settled(ami):
    """Wait until the supply has handled every line sent so far: a write has no reply, but
    replies come in order, so the answer to *OPC? comes after the writes before it."""
    assert ami.ask("*OPC?") == "1"


def test_welcome_message_on_connect(lab):
    """The two lines QCoDeS reads (and checks the first of) before its first command."""
    raw = RawLine(lab.resources["magnet_supply"], b"\r\n")
    try:
        assert raw.read_line() == b"American Magnetics Model 430 IP Interface"
        assert raw.read_line() == b"Hello."
        assert raw.ask(b"*IDN?").startswith(b"AMERICAN MAGNETICS INC.,MODEL 430,")
    finally:
        raw.close()


def test_snapshot_reads_every_parameter(ami, lab):
    snap = ami.snapshot(update=True)
    p = snap["parameters"]
    m = world_now(lab).magnet
    assert p["field_units"]["value"] == "kilogauss" and p["ramp_rate_units"]["value"] == "seconds"
    assert p["coil_constant"]["value"] == pytest.approx(m.coil_constant * 10)        # kG/A
    assert p["coil_constant"]["unit"] == "kG/A"
    assert p["current_limit"]["value"] == pytest.approx(m.current_limit_A)
    assert p["field_limit"]["value"] == pytest.approx(m.current_limit_A * m.coil_constant * 10)
    assert p["field"]["value"] == pytest.approx(0.0) and p["setpoint"]["value"] == pytest.approx(0.0)
    assert p["ramp_rate"]["value"] == pytest.approx(m.segments[0][0] * m.coil_constant * 10)
    assert p["is_quenched"]["value"] is False
    assert p["ramping_state"]["value"] == "paused"
    heater = snap["submodules"]["switch_heater"]["parameters"]
    assert heater["enabled"]["value"] is True and heater["state"]["value"] is False
    # switch installed and its heater off at power-up: the magnet is persistent (at 0 A)
    assert heater["in_persistent_mode"]["value"] is True
    assert heater["heat_time"]["value"] == round(m.heater_warm_s)
    assert heater["cool_time"]["value"] == round(m.heater_cool_s)
    assert heater["current"]["value"] == pytest.approx(supply(lab).heater_current_mA)
    assert all(not line.startswith("PERS") or line == "PERS?" for line in lab.command_log()["magnet_supply"])
    assert supply(lab).errors == []        # nothing QCoDeS asked was unknown to the 430


def test_units_coil_constant_and_ramp_rate_reach_the_supply(ami, lab):
    ami.field_units("tesla")
    ami.ramp_rate_units("minutes")
    assert (supply(lab).field_units, supply(lab).rate_units) == (1, 1)
    assert ami.coil_constant.unit == "T/A" and ami.ramp_rate.unit == "T/min"
    assert ami.coil_constant() == pytest.approx(0.1)
    ami.coil_constant(0.12)                                   # T/A
    settled(ami)
    assert lab.world.magnet.coil_constant == pytest.approx(0.12)
    ami.coil_constant(0.1)
    ami.current_limit(50.0)
    settled(ami)
    assert lab.world.magnet.current_limit_A == pytest.approx(50.0)
    assert ami.field_limit() == pytest.approx(5.0)           # T
    ami.ramp_rate(0.12)                                       # T/min = 0.02 A/s at 0.1 T/A
    settled(ami)
    m = lab.world.magnet
    assert m.segment_count == 1 and m.segments[0][0] == pytest.approx(0.02)
    ami.field_units("kilogauss")
    ami.ramp_rate_units("seconds")
    assert ami.ramp_rate() == pytest.approx(0.02)             # kG/s at 1 kG/A
    assert supply(lab).errors == []


def test_set_field_through_the_persistent_switch(ami, lab):
    """Heater on -> ramp -> heater off -> leads down: the persistent cycle a QCoDeS user runs."""
    ami.field_units("tesla")
    ami.ramp_rate(0.004)                                      # T/s = 0.04 A/s, the 2 V / 50 H limit
    m = lab.world.magnet
    # the heater is off at power-up: QCoDeS refuses to ramp a persistent magnet
    with pytest.raises(AMI430Exception):
        ami.set_field(0.2)
    assert not any(line.startswith("CONF:FIELD:TARG") for line in lab.command_log()["magnet_supply"])

    ami.switch_heater.state(True)                             # returns when no longer heating
    assert m.heater_on and m.state == mg.PAUSED
    assert ami.switch_heater.in_persistent_mode() is False
    ami.set_field(0.2)                                        # blocks until HOLDING
    m = world_now(lab).magnet
    assert m.state == mg.HOLDING
    assert m.I_m == pytest.approx(2.0) and lab.world.field_T == pytest.approx(0.2, abs=2e-3)

    ami.switch_heater.state(False)                            # returns when cooled
    assert not m.heater_on and ami.switch_heater.in_persistent_mode() is True
    ami.zero()                                                # run the leads down, magnet stays
    assert wait_until(lambda: world_now(lab).magnet.state == mg.AT_ZERO)
    assert m.I_s == pytest.approx(0.0) and m.I_m == pytest.approx(2.0, rel=1e-6)
    assert ami.field() == pytest.approx(0.2)      # the field when persistent mode was entered
    # a persistent magnet: QCoDeS refuses a new field ...
    with pytest.raises(AMI430Exception):
        ami.set_field(0.1)
    # ... while the 430 itself ramps the leads with the switch cold (the way back in):
    ami.write("CONF:CURR:TARG 2.0")
    ami.ramp()
    assert wait_until(lambda: world_now(lab).magnet.state == mg.HOLDING)
    assert m.I_s == pytest.approx(2.0) and m.I_m == pytest.approx(2.0, rel=1e-6)
    assert ami.get_error() == '0,"No errors"'
    ami.switch_heater.state(True)                             # currents agree: no quench
    assert not m.quenched and m.heater_on
    ami.set_field(0.0)
    assert world_now(lab).magnet.I_m == pytest.approx(0.0, abs=1e-9)


def test_every_state_code_has_its_manual_meaning(ami, lab):
    """STATE? 1-10 (430 manual, Table 4-5) as QCoDeS names them."""
    m = lab.world.magnet
    seen = {ami.ramping_state()}                              # paused (3) at power-up
    ami.switch_heater.state(True)
    ami.write("PS 0")
    seen.add(ami.ramping_state())                             # cooling switch (10)
    assert wait_until(lambda: world_now(lab).magnet.state == mg.PAUSED)
    ami.write("PS 1")
    seen.add(ami.ramping_state())                             # heating switch (9)
    assert wait_until(lambda: world_now(lab).magnet.state == mg.PAUSED)
    ami.write("CONF:CURR:TARG 1.0")
    ami.ramp()
    seen.add(ami.ramping_state())                             # ramping (1)
    assert wait_until(lambda: world_now(lab).magnet.state == mg.HOLDING)
    seen.add(ami.ramping_state())                             # holding (2)
    ami.write("INCR")
    seen.add(ami.ramping_state())                             # manual up (4)
    assert wait_until(lambda: world_now(lab).magnet.I_s > 1.05)
    ami.write("DECR")
    seen.add(ami.ramping_state())                             # manual down (5)
    assert wait_until(lambda: world_now(lab).magnet.I_s < 0.95)
    ami.zero()
    seen.add(ami.ramping_state())                             # zeroing current (6)
    assert wait_until(lambda: world_now(lab).magnet.state == mg.AT_ZERO)
    seen.add(ami.ramping_state())                             # at zero current (8)
    ami.set_quenched()
    seen.add(ami.ramping_state())                             # quench detected (7)
    assert ami.is_quenched() is True and m.quenched
    ami.reset_quench()
    settled(ami)
    assert not m.quenched and ami.ramping_state() == "paused"
    assert seen == set(ami.ramping_state.val_mapping)


def test_the_supply_refuses_what_a_real_430_refuses(ami, lab):
    m = lab.world.magnet
    ami.field_units("tesla")
    # beyond the current limit (90 A = 9 T): QCoDeS refuses first; sent anyway, the 430 does
    with pytest.raises(ValueError):
        ami.set_field(9.5)
    ami.write("CONF:FIELD:TARG 9.5")
    assert ami.get_error() == '-105,"Out of range"' and m.target_A == 0.0
    ami.write("CONF:PS:HTIME 200")                            # heating time 5..120 s
    assert ami.get_error() == '-105,"Out of range"'
    ami.switch_heater.heat_time(10)
    ami.switch_heater.cool_time(60)
    settled(ami)
    assert (m.heater_warm_s, m.heater_cool_s) == (10.0, 60.0)
    ami.switch_heater.current(35.5)
    settled(ami)
    assert supply(lab).heater_current_mA == pytest.approx(35.5)
    ami.write("NOSUCH 1")
    assert ami.get_error() == '-101,"Unrecognized command"'
    ami.write("NOSUCH?")
    assert ami.get_error() == '-201,"Unrecognized query"'
    ami.write("PS 2")
    assert ami.get_error() == '-103,"Non-boolean argument"'
    assert ami.get_error() == '0,"No errors"'
    # no switch installed: the 430 refuses to heat one, QCoDeS refuses to try
    ami.switch_heater.enabled(False)
    settled(ami)
    assert not m.switch_installed and m.heater_on
    assert ami.switch_heater.in_persistent_mode() is False
    with pytest.raises(AMI430Exception):
        ami.switch_heater.state(True)
    ami.write("PS 1")
    assert ami.get_error() == '-107,"No switch installed"'
    ami.switch_heater.enabled(True)                           # declared again: heater off, cools
    settled(ami)
    assert m.switch_installed and not m.heater_on and m.state == mg.COOLING
    # quenched: no ramp
    ami.set_quenched()
    ami.ramp()
    code = ami.get_error().split(",")[0]
    assert code == "-300" and m.state == mg.QUENCH

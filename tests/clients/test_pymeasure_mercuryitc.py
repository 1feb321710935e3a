"""pymeasure's stock Mercury iTC driver (pymeasure.instruments.oxfordinstruments.MercuryiTC,
written by its contributors against a unit) driving the simulated twin over pyvisa-py TCP:
every property it has reads, every setter reaches the twin (checked on the twin's state, not
by asking pymeasure back). Then the replies pymeasure recorded from a real unit, and the reply
forms ISIS's EPICS IOC parses (ISISComputingGroup/EPICS-MercuryiTC, mercuryitc.proto), are
matched by the twin's replies to the same commands.

QCoDeS has no Mercury iTC driver (its oxford drivers are the Mercury iPS and the Triton; the
contrib drivers have the ITC503, not the Mercury): pymeasure's is the one installed client.
"""
from __future__ import annotations

import re

import pytest
from pymeasure.instruments.oxfordinstruments import MercuryiTC

from loopscope.sim_devices import SimulatedLab

from .conftest import SPEED, RawLine, wait_until, world_now

TEMP = "DEV:MB1.T1:TEMP"
LOOP = TEMP + ":LOOP"
HTR = "DEV:MB0.H1:HTR"


@pytest.fixture
def vti():
    lab = SimulatedLab("mercury_itc_vti", seed=0, speed=SPEED).start()
    yield lab
    lab.stop()


@pytest.fixture
def itc(vti):
    client = MercuryiTC(vti.resources["temperature_controller"], visa_library="@py", timeout=3000)
    yield client, vti.instruments["temperature_controller"], vti
    client.adapter.close()


def test_every_property_reads(itc):
    client, twin, lab = itc
    assert client.identity.startswith("IDN:OXFORD INSTRUMENTS:MERCURY ITC:")
    ts, htr = client.TS_MB, client.HTR_MB
    assert ts.temperature == pytest.approx(lab.world.cryostat.temperature_K, rel=1e-3)
    assert ts.voltage == pytest.approx(1e-6 * 60.0 * (300 / ts.temperature) ** 0.85, rel=1e-3)
    assert ts.control_loop_PID_enabled is False
    assert (ts.control_loop_P, ts.control_loop_I, ts.control_loop_D) == (5.0, 1.0, 0.0)
    assert ts.control_loop_temperature_setpoint == pytest.approx(1.5)
    assert ts.control_loop_heater_percent == 0.0
    assert ts.control_loop_ramp_rate == 5.0
    assert ts.control_loop_ramp_enabled is False
    assert (htr.voltage, htr.current, htr.power) == (0.0, 0.0, 0.0)
    assert htr.voltage_limit == 10.0
    assert htr.resistance == 50.0
    assert htr.max_power == 2.0
    # nothing pymeasure read changed the twin
    assert all(line.startswith("READ:") or line == "*IDN?" for line in lab.command_log()["temperature_controller"])


def test_every_setter_reaches_the_twin(itc):
    client, twin, lab = itc
    ts, htr = client.TS_MB, client.HTR_MB
    htr.voltage_limit = 5
    htr.resistance = 50
    assert twin.vlim == 5.0 and twin.nominal_ohm == 50.0
    ts.control_loop_P, ts.control_loop_I, ts.control_loop_D = 8, 2.5, 0.5
    assert twin.pid == [8.0, 2.5, 0.5]
    ts.control_loop_ramp_rate = 60
    ts.control_loop_ramp_enabled = True
    assert twin.ramp_on and twin.ramp_K_per_min == 60.0
    ts.control_loop_ramp_enabled = False
    ts.control_loop_temperature_setpoint = 12
    assert twin.target_K == 12.0
    ts.control_loop_PID_enabled = True
    assert twin.enabled
    assert wait_until(lambda: abs(world_now(lab).cryostat.temperature_K - 12.0) < 0.02, timeout=30)
    assert ts.temperature == pytest.approx(12.0, abs=0.03)
    assert htr.power == pytest.approx(1.5e-4 * (144 - 2.25), rel=0.05)   # G (T^2 - T_base^2)
    ts.control_loop_PID_enabled = False
    ts.control_loop_heater_percent = 40
    assert not twin.enabled and twin.manual_fraction == pytest.approx(0.4)
    assert htr.voltage == pytest.approx(2.0)                          # 40 % of VLIM 5 V
    assert htr.power == pytest.approx(4.0 / 50.0, abs=1e-4)
    # each setter's reply was read (pymeasure's check_set_errors): the line stays in step
    assert ts.control_loop_heater_percent == 40.0


def test_what_pymeasure_does_not_check(itc):
    """Why loopscope's driver is not built on this one: its setpoint validator clamps 2500 K
    to 2000 K and sends it; the iTC refuses it (above the calibration) and pymeasure, reading
    the reply without looking at it, raises nothing."""
    client, twin, lab = itc
    client.TS_MB.control_loop_temperature_setpoint = 2500
    assert f"SET:{LOOP}:TSET:2000" in lab.command_log()["temperature_controller"]
    assert twin.target_K == 1.5                                       # the twin did not take it


# pymeasure's recorded (command, reply) pairs, tests/instruments/oxfordinstruments/
# test_mercuryitc.py (PR #1198, April 2025): the replies have a unit's odd values (-0.0481V,
# 330.0725K, 174.3112mV, a serial number), so they are taken as the forms a unit sends. Each
# becomes the pattern of its form: digits stand for digits, the rest must be the same.
RECORDED = [
    ("READ:DEV:MB0.H1:HTR:SIG:CURR", "STAT:DEV:MB0.H1:HTR:SIG:CURR:-0.0000A"),
    ("READ:DEV:MB0.H1:HTR:PMAX", "STAT:DEV:MB0.H1:HTR:PMAX:12.5000"),
    ("READ:DEV:MB0.H1:HTR:SIG:POWR", "STAT:DEV:MB0.H1:HTR:SIG:POWR:0.0000W"),
    ("READ:DEV:MB0.H1:HTR:RES", "STAT:DEV:MB0.H1:HTR:RES:50"),
    ("READ:DEV:MB0.H1:HTR:SIG:VOLT", "STAT:DEV:MB0.H1:HTR:SIG:VOLT:-0.0481V"),
    ("READ:DEV:MB0.H1:HTR:VLIM", "STAT:DEV:MB0.H1:HTR:VLIM:25"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:D", "STAT:DEV:MB1.T1:TEMP:LOOP:D:0.0"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:I", "STAT:DEV:MB1.T1:TEMP:LOOP:I:1.8"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:P", "STAT:DEV:MB1.T1:TEMP:LOOP:P:3.5"),
    ("SET:DEV:MB1.T1:TEMP:LOOP:ENAB:OFF", "STAT:SET:DEV:MB1.T1:TEMP:LOOP:ENAB:OFF:VALID"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:ENAB", "STAT:DEV:MB1.T1:TEMP:LOOP:ENAB:OFF"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:TSET", "STAT:DEV:MB1.T1:TEMP:LOOP:TSET:61.0000K"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:HSET", "STAT:DEV:MB1.T1:TEMP:LOOP:HSET:0"),
    ("SET:DEV:MB1.T1:TEMP:LOOP:RENA:OFF", "STAT:SET:DEV:MB1.T1:TEMP:LOOP:RENA:OFF:VALID"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:RENA", "STAT:DEV:MB1.T1:TEMP:LOOP:RENA:OFF"),
    ("READ:DEV:MB1.T1:TEMP:LOOP:RSET", "STAT:DEV:MB1.T1:TEMP:LOOP:RSET:5.0000K/m"),
    ("READ:DEV:MB1.T1:TEMP:SIG:TEMP", "STAT:DEV:MB1.T1:TEMP:SIG:TEMP:330.0725K"),
    ("READ:DEV:MB1.T1:TEMP:SIG:VOLT", "STAT:DEV:MB1.T1:TEMP:SIG:VOLT:174.3112mV"),
    ("*IDN?", "IDN:OXFORD INSTRUMENTS:MERCURY ITC:232150255:2.6.04.000"),
]


def form_of(recorded: str) -> re.Pattern:
    """The pattern of a recorded reply's form: each number stands for any number with the
    same decimals (a sign allowed), every other character for itself."""
    out, pos = [], 0
    for m in re.finditer(r"-?\d+(?:\.(\d+))?", recorded):
        out.append(re.escape(recorded[pos:m.start()]))
        out.append(r"-?\d+" + (rf"\.\d{{{len(m.group(1))}}}" if m.group(1) else ""))
        pos = m.end()
    out.append(re.escape(recorded[pos:]))
    return re.compile("".join(out))


def test_the_forms_take_the_recorded_replies():
    """The patterns would pass anything if they were wrong: each must take its own recorded
    reply and refuse a reply of another form."""
    for _, reply in RECORDED:
        assert form_of(reply).fullmatch(reply), reply
    assert not form_of("STAT:DEV:MB1.T1:TEMP:SIG:TEMP:330.0725K").fullmatch("STAT:DEV:MB1.T1:TEMP:SIG:TEMP:330.07K")
    assert not form_of("STAT:DEV:MB0.H1:HTR:VLIM:25").fullmatch("STAT:DEV:MB0.H1:HTR:VLIM:25.0000")
    assert not form_of("STAT:DEV:MB1.T1:TEMP:LOOP:P:3.5").fullmatch("STAT:DEV:MB1.T1:TEMP:LOOP:P:3.50")


@pytest.mark.parametrize("command,recorded", RECORDED, ids=[c for c, _ in RECORDED])
def test_the_twin_answers_in_the_recorded_forms(vti, command, recorded):
    raw = RawLine(vti.resources["temperature_controller"], b"\n")
    try:
        if command == "READ:DEV:MB0.H1:HTR:VLIM":
            raw.ask(b"SET:DEV:MB0.H1:HTR:VLIM:25")            # a whole number of volts, as recorded
        reply = raw.ask(command.encode()).decode()
    finally:
        raw.close()
    assert form_of(recorded).fullmatch(reply), (command, reply, recorded)


# ISIS's IOC (StreamDevice protocol file): command -> the reply it parses; %f a number, %s a
# word, %{OFF|ON} one of those, the rest literal (LF-terminated)
ISIS = [
    ("READ:SYS:CAT", r"STAT:SYS:CAT:DEV:.+"),
    (f"READ:{TEMP}:NICK", rf"STAT:{TEMP}:NICK:\S+"),
    (f"READ:{LOOP}:HTR", rf"STAT:{LOOP}:HTR:\S+"),
    (f"READ:{LOOP}:AUX", rf"STAT:{LOOP}:AUX:\S+"),
    (f"READ:{LOOP}:PIDT", rf"STAT:{LOOP}:PIDT:(OFF|ON)"),
    (f"SET:{LOOP}:PIDT:OFF", rf"STAT:SET:{LOOP}:PIDT:(OFF|ON):VALID"),
    (f"READ:{LOOP}:P", rf"STAT:{LOOP}:P:[-+\d.eE]+"),
    (f"SET:{LOOP}:P:5.000000", rf"STAT:SET:{LOOP}:P:[-+\d.eE]+:VALID"),
    (f"READ:{TEMP}:SIG:TEMP", rf"STAT:{TEMP}:SIG:TEMP:[-+\d.eE]+K"),
    (f"READ:{LOOP}:TSET", rf"STAT:{LOOP}:TSET:[-+\d.eE]+K"),
    (f"SET:{LOOP}:TSET:4.200000K", rf"STAT:SET:{LOOP}:TSET:[-+\d.eE]+K:VALID"),
    (f"READ:{TEMP}:SIG:RES", rf"STAT:{TEMP}:SIG:RES:[-+\d.eE]+O"),
    (f"READ:{LOOP}:ENAB", rf"STAT:{LOOP}:ENAB:(OFF|ON)"),
    (f"SET:{LOOP}:ENAB:OFF", rf"STAT:SET:{LOOP}:ENAB:(OFF|ON):VALID"),
    (f"READ:{LOOP}:HSET", rf"STAT:{LOOP}:HSET:[-+\d.eE]+"),
    (f"SET:{LOOP}:HSET:0.000000", rf"STAT:SET:{LOOP}:HSET:[-+\d.eE]+:VALID"),
    (f"READ:{HTR}:SIG:VOLT", r"STAT:DEV:[^:]+:HTR:SIG:VOLT:[-+\d.eE]+V"),
    (f"READ:{HTR}:SIG:CURR", r"STAT:DEV:[^:]+:HTR:SIG:CURR:[-+\d.eE]+A"),
    (f"READ:{HTR}:SIG:POWR", r"STAT:DEV:[^:]+:HTR:SIG:POWR:[-+\d.eE]+W"),
    (f"READ:{HTR}:VLIM", r"STAT:DEV:[^:]+:HTR:VLIM:[-+\d.eE]+"),
    (f"SET:{HTR}:VLIM:10.000000", r"STAT:SET:DEV:[^:]+:HTR:VLIM:[-+\d.eE]+:VALID"),
]


@pytest.mark.parametrize("command,pattern", ISIS, ids=[c for c, _ in ISIS])
def test_the_twin_answers_as_isis_ioc_parses(vti, command, pattern):
    raw = RawLine(vti.resources["temperature_controller"], b"\n")
    try:
        reply = raw.ask(command.encode()).decode()
    finally:
        raw.close()
    assert re.fullmatch(pattern, reply), (command, reply)

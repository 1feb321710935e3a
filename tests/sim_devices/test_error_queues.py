"""Error queues and status bytes of every simulated instrument, over TCP with pyvisa-py.

What each manual says is in docs/simulated_lab.md ("Errors and status bytes"); the tables
below are the same facts, instrument by instrument.
"""
from __future__ import annotations

import pytest

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices.config import ConfigError, validate_fault

from .conftest import open_inst

# instruments with an error queue (SYST:ERR?): the manual's codes and texts for an unknown
# command, an unknown query, a malformed argument and an out-of-range one, the *ESR? bit each
# sets, the queue's depth and what marks its overflow, and the *STB? "queue not empty" bit
QUEUES = {
    "coil_supply": dict(  # Kepco BOP, BIT 4886: SCPI standard codes and texts
        no_error='0,"No error"', command=(-113, "Undefined header", 32),
        query=(-113, "Undefined header", 32), bad=("CURR abc", -104, "Data type error", 32),
        out_of_range=("CURR 50", -222, "Data out of range", 16),
        depth=15, overflow=('-350,"Too many errors"', 8), eav=4),
    "magnet_supply": dict(  # AMI 430: its own codes; -2xx are query errors (*ESR? bit 2)
        no_error='0,"No errors"', command=(-101, "Unrecognized command", 32),
        query=(-201, "Unrecognized query", 4),
        bad=("CONF:CURR:LIM abc", -102, "Invalid argument", 32),
        out_of_range=("CONF:CURR:LIM 5000", -105, "Out of range", 32),
        depth=10, overflow=('-304,"Error buffer overflow"', 16), eav=0),
    "nanovoltmeter": dict(  # Keithley 2182A: SCPI codes, Keithley's text for -222
        no_error='0,"No error"', command=(-113, "Undefined header", 32),
        query=(-113, "Undefined header", 32),
        bad=("SENS:VOLT:NPLC abc", -104, "Data type error", 32),
        out_of_range=("SENS:VOLT:NPLC 100", -222, "Parameter data out of range", 16),
        depth=10, overflow=('-350,"Queue overflow"', 8), eav=4),
    "squid_controller": dict(  # our FLL (docs/squid_fll_protocol.md): SCPI codes
        no_error='0,"No error"', command=(-113, "Undefined header", 32),
        query=(-113, "Undefined header", 32), bad=("GAIN abc", -104, "Data type error", 32),
        out_of_range=("GAIN 1000", -222, "Data out of range", 16),
        depth=10, overflow=('-350,"Queue overflow"', 8), eav=4),
}

# instruments without one: a refused command sets *ESR? bit 5 (command error: unknown
# header, malformed argument) or bit 4 (execution error: out of range); *STB? when idle
ESR_ONLY = {
    "lockin": dict(bad="FREQ abc", out_of_range="FREQ 1E9", idle_stb=3),        # SCN, IFC
    "lockin_sr860": dict(bad="FREQ abc", out_of_range="FREQ 1E9", idle_stb=3),
    "temperature_controller": dict(bad="SETP 1,abc", out_of_range="SETP 1,-5", idle_stb=0),
    "gaussmeter": dict(bad="RANGE abc", out_of_range="RANGE 9", idle_stb=0),
}
ALL = sorted(QUEUES) + sorted(ESR_ONLY)


@pytest.fixture(scope="module")
def lab():
    with SimulatedLab(seed=0, speed=100.0) as running:
        yield running


class Session:
    """A pyvisa session to one simulated instrument, with its lab name."""

    def __init__(self, name, res):
        self.name, self.res = name, res

    def write(self, line: str) -> None:
        self.res.write(line)

    def ask(self, line: str) -> str:
        return self.res.query(line).strip()


@pytest.fixture
def inst(request, lab, rm):
    res = open_inst(rm, lab, request.param)
    res.write("*CLS;*ESE 0;*SRE 0")
    yield Session(request.param, res)
    res.close()


def ask(res, line: str) -> str:
    return res.ask(line) if isinstance(res, Session) else res.query(line).strip()


def entry(code: int, text: str) -> str:
    return f'{code},"{text}"'


@pytest.mark.parametrize("inst", sorted(QUEUES), indirect=True)
def test_error_queue_codes_texts_and_event_bits(inst):
    spec = QUEUES[inst.name]
    assert ask(inst, "SYST:ERR?") == spec["no_error"]
    assert ask(inst, "*ESR?") == "0"
    inst.write("BOGUS:HEADER 1")
    inst.write("BOGUS:HEADER?")       # no reply: only the error
    inst.write(spec["bad"][0])
    inst.write(spec["out_of_range"][0])
    assert int(ask(inst, "*STB?")) & 4 == spec["eav"]          # queue not empty (SCPI)
    cmd, qry, bad, rng = spec["command"], spec["query"], spec["bad"], spec["out_of_range"]
    assert int(ask(inst, "*ESR?")) == cmd[2] | qry[2] | bad[3] | rng[3]
    assert ask(inst, "*ESR?") == "0"                             # read and clear
    assert [ask(inst, "SYST:ERR?") for _ in range(4)] == [
        entry(*cmd[:2]), entry(*qry[:2]), entry(*bad[1:3]), entry(*rng[1:3])]
    assert ask(inst, "SYST:ERR?") == spec["no_error"]
    assert int(ask(inst, "*STB?")) & 4 == 0


@pytest.mark.parametrize("inst", sorted(QUEUES), indirect=True)
def test_error_queue_overflow_keeps_the_oldest_and_marks_the_last(inst):
    spec = QUEUES[inst.name]
    depth, (marker, bit) = spec["depth"], spec["overflow"]
    inst.write(";".join(f"BOGUS{i}" for i in range(depth + 3)))
    replies = [ask(inst, "SYST:ERR?") for _ in range(depth + 1)]
    assert replies[:depth - 1] == [entry(*spec["command"][:2])] * (depth - 1)
    assert replies[depth - 1] == marker
    assert replies[depth] == spec["no_error"]
    assert int(ask(inst, "*ESR?")) == spec["command"][2] | bit
    # once read, there is room again
    inst.write("BOGUS")
    assert ask(inst, "SYST:ERR?") == entry(*spec["command"][:2])


@pytest.mark.parametrize("inst", sorted(ESR_ONLY), indirect=True)
def test_instruments_without_a_queue_report_through_esr(inst):
    spec = ESR_ONLY[inst.name]
    assert ask(inst, "*ESR?") == "0"
    for line, bit in (("BOGUS 1", 32), ("BOGUS?", 32), (spec["bad"], 32),
                      (spec["out_of_range"], 16), ("SYST:ERR?", 32)):   # no error queue
        inst.write(line)
        assert int(ask(inst, "*ESR?")) == bit, line
        assert ask(inst, "*ESR?") == "0"
    assert int(ask(inst, "*STB?")) == spec["idle_stb"]


@pytest.mark.parametrize("inst", ALL, indirect=True)
def test_cls_clears_queue_and_events_but_not_the_enable_registers(inst):
    name = inst.name
    mav = 8 if name == "magnet_supply" else 16
    inst.write("*ESE 36;*SRE 32")
    inst.write("BOGUS")
    stb = int(ask(inst, "*STB?"))
    assert stb & 32 and stb & 64                          # ESB, and MSS since *SRE enables it
    assert int(ask(inst, "*IDN?;*STB?").split(";")[-1]) & mav   # a reply waiting: MAV
    inst.write("*CLS")
    assert int(ask(inst, "*STB?")) & (32 | 64) == 0
    assert ask(inst, "*ESE?") == "36" and ask(inst, "*SRE?") == "32"
    assert ask(inst, "*ESR?") == "0"
    if name in QUEUES:
        assert ask(inst, "SYST:ERR?") == QUEUES[name]["no_error"]
    inst.write("*ESE 0;*SRE 0")
    inst.write("*ESE 256")                                # not a register value
    assert int(ask(inst, "*ESR?")) in (16, 32)            # execution error (AMI: command error)
    assert ask(inst, "*ESE?") == "0"


@pytest.mark.parametrize("inst", ["coil_supply", "nanovoltmeter"], indirect=True)
def test_rst_leaves_the_error_queue_and_event_register_alone(inst):
    inst.write("BOGUS")
    inst.write("*RST")
    assert int(ask(inst, "*ESR?")) == 32
    assert ask(inst, "SYST:ERR?") == '-113,"Undefined header"'
    assert ask(inst, "*OPC;*ESR?") == "1"                 # OPC: everything is done at once


def test_power_on_bit_is_set_once(lab_factory, rm):
    lab = lab_factory()
    for name in ALL:
        res = open_inst(rm, lab, name)
        assert ask(res, "*ESR?") == "128", name           # PON, read and cleared
        assert ask(res, "*ESR?") == "0", name
        res.close()


@pytest.mark.parametrize("inst", ["lockin"], indirect=True)
def test_sr830_status_bytes_take_a_bit_number(inst):
    inst.write("*ESE 4,1;FREQ 1E9")
    assert ask(inst, "*ESE?") == "16" and ask(inst, "*ESE? 4") == "1"
    inst.write("BOGUS")
    assert ask(inst, "*ESR? 4") == "1"                    # reads and clears bit 4 only
    assert ask(inst, "*ESR?") == "32"
    assert ask(inst, "*OPC;*ESR?") == "0"                 # bit 0 is INP on an SR830, not OPC
    inst.write("LIAE 2,1;SENS 0")                         # 2 nV: the outputs overload
    ask(inst, "OUTP?1")
    assert int(ask(inst, "*STB?")) & 8                    # LIA: an enabled LIAS? bit is set
    inst.write("*CLS;LIAE 0;SENS 26")
    assert int(ask(inst, "*STB?")) == 3


@pytest.mark.parametrize("inst", ["magnet_supply"], indirect=True)
def test_ami_status_byte_reports_a_quench(inst):
    assert int(ask(inst, "*STB?")) & 4 == 0
    inst.write("QU 1")
    assert int(ask(inst, "*STB?")) & 4
    inst.write("QU 0")
    assert int(ask(inst, "*STB?")) & 4 == 0
    assert ask(inst, "SYST:ERR?") == '0,"No errors"'


def test_ami_without_a_switch_refuses_the_heater(lab_factory, rm):
    lab = lab_factory({"magnet": {"switch_installed": False}})
    res = open_inst(rm, lab, "magnet_supply")
    res.write("PS 1")
    assert ask(res, "SYST:ERR?") == '-107,"No switch installed"'
    res.write("QU 1;RAMP")                                # a ramp refused during a quench
    assert ask(res, "SYST:ERR?") == '-300,"cannot ramp: magnet quenched"'
    assert int(ask(res, "*ESR?")) == 128 | 32 | 16        # PON, command error, execution error
    res.close()


def test_keithley_buffer_full_is_the_measurement_summary_bit(lab_factory, rm):
    # what pymeasure's KeithleyBuffer.is_buffer_full() looks for: (*STB? & 65) == 65
    lab = lab_factory()
    res = open_inst(rm, lab, "nanovoltmeter")
    res.write("*SRE 1;TRAC:CLE;TRAC:POIN 2")
    assert int(ask(res, "*STB?")) & 65 == 0
    res.write("INIT")
    assert int(ask(res, "*STB?")) & 65 == 65
    res.close()


def test_pymeasure_check_errors_reads_the_queue_until_no_error(lab_factory):
    """pymeasure's own SCPIMixin.check_errors() on the stock drivers: it stops at code 0."""
    from pymeasure.instruments.ami import AMI430
    from pymeasure.instruments.keithley import Keithley2182
    from pymeasure.instruments.kepco import KepcoBOP3612
    lab = lab_factory()
    for cls, name, first in ((KepcoBOP3612, "coil_supply", -113), (AMI430, "magnet_supply", -101),
                             (Keithley2182, "nanovoltmeter", -113)):
        kwargs = {"write_termination": "\n"} if cls is Keithley2182 else {}
        drv = cls(lab.resources[name], visa_library="@py", **kwargs)
        drv.write("BOGUS 1")
        drv.write("ALSO:BOGUS 2")
        errors = drv.check_errors()
        assert [int(e[0]) for e in errors] == [first, first], name
        assert drv.check_errors() == [], name
        drv.adapter.close()


def test_refuse_fault_refuses_a_command_as_out_of_range(lab, rm):
    li = open_inst(rm, lab, "lockin")
    assert ask(li, "*CLS;FREQ 1500;*OPC?") == "1"        # done before the fault is armed
    lab.inject_fault("lockin", "refuse", match="FREQ", count=1)
    li.write("FREQ 1600")
    assert ask(li, "*ESR?") == "16"                       # execution error, as for 1E9
    assert float(ask(li, "FREQ?")) == 1500.0              # not executed; queries pass
    li.write("FREQ 1600")
    assert float(ask(li, "FREQ?")) == 1600.0 and ask(li, "*ESR?") == "0"
    kepco = open_inst(rm, lab, "coil_supply")
    assert ask(kepco, "*CLS;*OPC?") == "1"
    lab.inject_fault("coil_supply", "refuse", match="CURR", count=1)
    kepco.write("VOLT 30;CURR 1")
    assert ask(kepco, "SYST:ERR?") == '-222,"Data out of range"'
    assert ask(kepco, "SYST:ERR?") == '0,"No error"'
    li.close()
    kepco.close()


def test_refuse_fault_needs_a_header():
    with pytest.raises(ConfigError, match="match .*required"):
        validate_fault({"instrument": "lockin", "kind": "refuse"})
    assert validate_fault({"instrument": "lockin", "kind": "refuse", "match": "FREQ"})["match"] == "FREQ"

"""pymeasure's stock Keithley2400 (not loopscope's) driving the simulated 2400; each effect is
read from the simulated instrument and the world, never from the same client. Then pymeasure's
own recorded protocol test for the 2400 replayed byte for byte.

The pairs are quoted as data from the pymeasure repository (github.com/pymeasure/pymeasure),
tests/instruments/keithley/test_keithley2400.py. They were written from the driver: the
replies are hand-made ("0.1,0.2,9.91e37,1234,5678"; "KEITHLEY INSTRUMENTS INC., MODEL nnnn,
..."), so only the commands are replayed as they are, and each query's reply must have the
form the manual gives (a number, a 0/1, a word), not the pair's value.
"""
from __future__ import annotations

import re
import warnings

import pytest
from pymeasure.instruments.keithley import Keithley2400 as StockKeithley2400

from .conftest import RawLine, world_now


@pytest.fixture
def stock(lab):
    k = StockKeithley2400(lab.resources["source_meter"], read_termination="\n", timeout=2000)
    yield k
    k.adapter.close()


def sync(k):
    """One exchange on the connection: everything written before it has been taken."""
    assert k.ask("*OPC?").strip() == "1"


def test_stock_driver_sources_current_into_the_wire(lab, stock):
    sim = lab.instruments["source_meter"]
    sync(stock)
    assert sim.elements == ["VOLT", "CURR", "RES", "TIME", "STAT"]   # the constructor's format
    stock.source_mode = "current"
    stock.compliance_voltage = 1.0
    stock.wires = 4
    stock.source_current = 2e-5
    stock.source_enabled = True
    sync(stock)
    assert sim.source_func == "CURR" and sim.level["CURR"] == pytest.approx(2e-5)
    assert sim.protection["VOLT"] == 1.0 and sim.four_wire and sim.output
    stock.write(':SENS:FUNC "VOLT","CURR"')
    values = stock.values(":READ?")
    R = world_now(lab).wire_resistance_ohm()
    assert values[0] == pytest.approx(2e-5 * R + lab.world.wire.offset_V, rel=1e-3)
    assert values[1] == pytest.approx(2e-5, rel=1e-3)
    assert sim.errors == []


def test_stock_measure_all_and_properties(lab, stock):
    sim = lab.instruments["source_meter"]
    stock.source_mode = "current"
    stock.source_current = 1e-5
    stock.wires = 4
    stock.source_enabled = True
    result = stock.measure_all()
    R = world_now(lab).wire_resistance_ohm()
    assert result["resistance"] == pytest.approx(R, rel=2e-3)
    assert result["status"] & (1 << 15)                # I-source bit
    # the stock current/voltage are :MEASURE:<f>?: :CONFigure turns the output on (manual)
    stock.source_enabled = False
    sync(stock)
    assert sim.output is False
    v = stock.voltage
    assert v == pytest.approx(1e-5 * R + lab.world.wire.offset_V, rel=2e-3)
    assert sim.output is True
    stock.current_nplc = 0.5
    stock.filter_count = 20
    stock.display_enabled = False
    stock.beep(440, 0.1)
    sync(stock)
    assert sim.nplc == 0.5 and sim.filter_count == 20 and sim.display is False
    assert sim.beeps[-1] == (440.0, 0.1)
    assert sim.errors == []


def test_stock_shutdown_ramps_to_zero_and_switches_off(lab, stock):
    sim = lab.instruments["source_meter"]
    stock.source_mode = "current"
    stock.source_current = 5e-5
    stock.source_enabled = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stock.ramp_to_current(0.0, steps=3, pause=0.0)
        stock.disable_source()
    sync(stock)
    assert sim.level["CURR"] == 0.0 and sim.output is False
    assert [c for c in lab.command_log()["source_meter"] if c.startswith(":SOURCE:CURRENT ")][-3:] \
        == [":SOURCE:CURRENT 5e-05", ":SOURCE:CURRENT 2.5e-05", ":SOURCE:CURRENT 0"]


# --- pymeasure's pairs, tests/instruments/keithley/test_keithley2400.py ------------------------
INIT = b":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS"
#: setters: taken without an error
SETTERS = [b"OUTPUT 0", b"OUTPUT 1", b":SOURCE:FUNCTION VOLT", b":SOURCE:CLEAR:AUTO 1",
           b":SOURCE:DELAY 0.1", b":SOURCE:DELAY:AUTO 0", b":SYSTEM:AZERO:STATE 0",
           b":SYSTEM:AZERO:STATE ONCE", b":OUTPUT:SMODE ZERO", b":SENSE:AVERAGE 1",
           b":SENSE:AVERAGE:TCONTROL REP", b":SENSE:AVERAGE:COUNT 15", b":SENSE:RESISTANCE:MODE MAN",
           b":SENSE:FUNCTION:ALL", b":SENSE:CURRENT:RANGE 0.5", b":SENSE:CURRENT:RANGE:AUTO 0",
           b":SENSE:CURRENT:NPLCYCLES 0.1", b":SENSE:CURRENT:PROTECTION 0.5", b":SOURCE:CURRENT 0.5",
           b":SOURCE:CURRENT:RANGE 0.5", b":SOURCE:CURRENT:RANGE:AUTO 0",
           b":SENSE:VOLTAGE:NPLCYCLES 0.1", b":SENSE:VOLTAGE:PROTECTION 0.5", b":SOURCE:VOLTAGE 0.5",
           b":SOURCE:VOLTAGE:RANGE 0.5", b":SOURCE:VOLTAGE:RANGE:AUTO 0",
           b":SENSE:RESISTANCE:RANGE 0.5", b":SENSE:RESISTANCE:RANGE:AUTO 0",
           b":SENSE:RESISTANCE:NPLCYCLES 0.1", b"*TRG", b":ABORT", b":TRIGGER:CLEAR",
           b":TRIGGER:COUNT 10", b":ARM:COUNT 10", b":TRIGGER:DELAY 10", b":ARM:TIMER 10",
           b":TRIGGER:SOURCE TLIN", b":ARM:SOURCE TLIN", b":TRIGGER:OUTPUT NONE", b":ARM:OUTPUT NONE",
           b":TRIGGER:ILINE 1", b":ARM:ILINE 1", b":TRIGGER:OLINE 1", b":ARM:OLINE 1",
           b":ARM:SOURCE BUS", b":TRIGGER:SOURCE IMM", b":DISPLAY:ENABLE 0", b":SYSTEM:RSENSE 1",
           b":SYSTEM:LFREQUENCY 60", b":SYSTEM:LFREQUENCY:AUTO 0", b":ROUTE:TERMINALS REAR"]
NUMBER = re.compile(rb"^[+-]?\d+(\.\d+)?([Ee][+-]?\d+)?$")
BOOL = re.compile(rb"^[01]$")
#: queries, and the form of the reply (the pair's own reply in the comment)
QUERIES = [(b"OUTPUT?", BOOL), (b":SOURCE:FUNCTION?", re.compile(rb"^(CURR|VOLT)$")),
           (b":SOURCE:CLEAR:AUTO?", BOOL), (b":SOURCE:DELAY?", NUMBER), (b":SOURCE:DELAY:AUTO?", BOOL),
           (b":SYSTEM:AZERO:STATE?", BOOL), (b":OUTPUT:SMODE?", re.compile(rb"^(HIMP|NORM|ZERO|GUAR)$")),
           (b":SENSE:AVERAGE?", BOOL), (b":SENSE:AVERAGE:TCONTROL?", re.compile(rb"^(REP|MOV)$")),
           (b":SENSE:AVERAGE:COUNT?", NUMBER), (b":SENSE:CURRENT:RANGE?", NUMBER),
           (b":SENSE:CURRENT:RANGE:AUTO?", BOOL), (b":SENSE:CURRENT:NPLCYCLES?", NUMBER),
           (b":SENSE:CURRENT:PROTECTION?", NUMBER), (b":SOURCE:CURRENT?", NUMBER),
           (b":SOURCE:CURRENT:RANGE?", NUMBER), (b":SOURCE:CURRENT:RANGE:AUTO?", BOOL),
           (b":SENSE:VOLTAGE:RANGE?", NUMBER), (b":SENSE:VOLTAGE:RANGE:AUTO?", BOOL),
           (b":SENSE:VOLTAGE:NPLCYCLES?", NUMBER), (b":SENSE:VOLTAGE:PROTECTION?", NUMBER),
           (b":SOURCE:VOLTAGE?", NUMBER), (b":SOURCE:VOLTAGE:RANGE?", NUMBER),
           (b":SOURCE:VOLTAGE:RANGE:AUTO?", BOOL), (b":SENSE:RESISTANCE:RANGE?", NUMBER),
           (b":SENSE:RESISTANCE:RANGE:AUTO?", BOOL), (b":SENSE:RESISTANCE:NPLCYCLES?", NUMBER),
           (b":TRIGGER:COUNT?", NUMBER), (b":ARM:COUNT?", NUMBER), (b":TRIGGER:DELAY?", NUMBER),
           (b":ARM:TIMER?", NUMBER), (b":TRIGGER:SOURCE?", re.compile(rb"^(IMM|TLIN)$")),
           (b":ARM:SOURCE?", re.compile(rb"^(IMM|TLIN|TIM|MAN|BUS|NST|PST|BST)$")),
           (b":TRIGGER:OUTPUT?", re.compile(rb"^(SOUR|DEL|SENS|NONE)$")),
           (b":ARM:OUTPUT?", re.compile(rb"^(TENT|TEX|NONE)$")), (b":TRIGGER:ILINE?", NUMBER),
           (b":ARM:ILINE?", NUMBER), (b":TRIGGER:OLINE?", NUMBER), (b":ARM:OLINE?", NUMBER),
           (b":DISPLAY:ENABLE?", BOOL), (b":SYSTEM:RSENSE?", BOOL), (b":SYSTEM:LFREQUENCY?", NUMBER),
           (b":SYSTEM:LFREQUENCY:AUTO?", BOOL), (b":ROUTE:TERMINALS?", re.compile(rb"^(FRON|REAR)$"))]


@pytest.fixture
def line(lab):
    raw = RawLine(lab.resources["source_meter"], b"\n")
    yield raw
    raw.close()


def test_the_recorded_commands_are_taken(lab, line):
    sim = lab.instruments["source_meter"]
    assert line.answers_nothing(INIT)
    for cmd in SETTERS:
        assert line.answers_nothing(cmd), cmd
        assert line.ask(b"SYST:ERR?") == b'0,"No error"', cmd
    assert sim.four_wire and sim.terminals == "REAR" and sim.trig_count == 10 and sim.arm_count == 10
    assert sim.filter_count == 15 and sim.off_mode == "ZERO" and sim.display is False


def test_the_recorded_queries_have_the_manuals_form(line):
    for query, form in QUERIES:
        reply = line.ask(query)
        assert form.match(reply), (query, reply)
    assert line.ask(b"SYST:ERR?") == b'0,"No error"'
    idn = line.ask(b"*IDN?")
    assert re.match(rb"^KEITHLEY INSTRUMENTS INC\.,MODEL 2400,\d+,", idn)


def test_the_recorded_readings_have_five_elements(lab, line):
    # (":READ?", "0.1,0.2,9.91e37,1234,5678"): five elements, NAN where not measured
    assert line.answers_nothing(b":SOUR:FUNC CURR;:SOUR:CURR 1e-5;:SYST:RSEN 1;:OUTPUT 1")
    for query in (b":READ?", b":MEASURE:CURRENT?", b":MEASURE:VOLTAGE?", b":MEASURE:RESISTANCE?"):
        fields = line.ask(query).split(b",")
        assert len(fields) == 5 and all(NUMBER.match(f) for f in fields), query
    values = [float(f) for f in line.ask(b":MEASURE:RESISTANCE?").split(b",")]
    assert values[2] == pytest.approx(world_now(lab).wire_resistance_ohm(), rel=2e-3)
    assert values[0] == 9.91e37            # the voltage: neither sourced nor measured (18-50)
    assert values[1] == pytest.approx(1e-5)  # the current: the source value stands in

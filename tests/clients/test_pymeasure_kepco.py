"""pymeasure's stock KepcoBOP3612 driver on the simulated BOP 36-12 (BIT 4886), and the
command/reply pairs pymeasure recorded from a real unit (tests/instruments/kepco/
test_kepcobop.py in the pymeasure repository) replayed: same fields and number format."""
from __future__ import annotations

import re

import pytest

from pymeasure.instruments.kepco import KepcoBOP3612

from .conftest import RawLine, wait_until, world_now  # noqa: E402

#: Kepco's number form: "digits with decimal point and Exponent, e.g., 2.71E1" (no '+', no
#: leading zero in the exponent); the recorded replies 9.989E-2, 1.000E-1, 4.99E-3, 8.0E-3
KEPCO_NUMBER = re.compile(rb"^-?\d\.\d+E-?[1-9]?\d$|^-?\d\.\d+E0$")

# (command, a real unit's reply) as recorded in pymeasure's transcript
RECORDED = [(b"DIAG:TST?", b"0"), (b"*TST?", b"0"), (b"MEASure:CURRent?", b"4.99E-3"),
            (b"CURRent?", b"9.989E-2"), (b"OUTPut?", b"0"), (b"MEASure:VOLTage?", b"8.0E-3"),
            (b"VOLTage?", b"1.000E-1"),
            (b"*IDN?", b"KEPCO,BIT 4886 36-12  08-04-2023,H249977,4.04-1.82")]


@pytest.fixture
def bop(lab):
    inst = KepcoBOP3612(lab.resources["coil_supply"], timeout=5000)
    yield inst
    inst.adapter.close()


def test_recorded_pairs_have_the_same_form(lab):
    raw = RawLine(lab.resources["coil_supply"], b"\n")
    try:
        for command in (b"CURRent 0.1", b"VOLTage 0.1", b"SYSTem:BEEP"):   # recorded: no reply
            assert raw.answers_nothing(command)
        assert lab.world.coil.current_setpoint_A == pytest.approx(0.1)
        for command, real in RECORDED:
            reply = raw.ask(command)
            if command == b"*IDN?":
                fields, real_fields = reply.split(b","), real.split(b",")
                assert len(fields) == len(real_fields) == 4
                assert fields[0] == b"KEPCO" and fields[1].startswith(b"BIT 4886 36-12  ")
                assert re.fullmatch(rb"\d\d-\d\d-\d{4}", fields[1].split()[-1])
            elif b"E" in real:
                assert KEPCO_NUMBER.match(reply), (command, reply)
                assert KEPCO_NUMBER.match(real)
            else:
                assert reply == real, command
        assert raw.ask(b"CURRent?") == b"1.000E-1"
        assert raw.ask(b"SYST:ERR?") == b'0,"No error"'
    finally:
        raw.close()


def test_stock_driver_drives_the_coil(bop, lab):
    coil = lab.world.coil
    assert bop.id.startswith("KEPCO,BIT 4886 36-12")
    assert bop.confidence_test == 0 and bop.bop_test == 0
    bop.operating_mode = "CURR"
    bop.voltage_setpoint = 20.0                               # compliance
    bop.current_setpoint = 1.5
    bop.output_enabled = True
    assert bop.operating_mode == "CURR" and bop.output_enabled is True
    assert bop.current_setpoint == pytest.approx(1.5) and bop.voltage_setpoint == pytest.approx(20.0)
    assert coil.mode == "CURR" and coil.output_on and coil.current_setpoint_A == 1.5
    assert wait_until(lambda: abs(world_now(lab).coil.current_A - 1.5) < 1e-3)
    assert bop.current == pytest.approx(coil.current_A, abs=2e-3)
    assert bop.voltage == pytest.approx(coil.voltage_V, abs=5e-3)
    bop.output_enabled = False
    assert bop.output_enabled is False and not coil.output_on
    assert bop.check_errors() == []


def test_out_of_range_setpoint_is_refused(bop, lab):
    bop.write("CURR 20")                                      # beyond the 12 A rating
    assert bop.ask("SYST:ERR?").strip() == '-222,"Data out of range"'
    assert lab.world.coil.current_setpoint_A == 0.0
    bop.write("FUNC:MODE WATT")
    assert bop.ask("SYST:ERR?").strip() == '-224,"Illegal parameter value"'

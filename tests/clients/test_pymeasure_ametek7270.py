"""pymeasure's stock Ametek7270 (pymeasure.instruments.ametek) on the simulated 7270 over the
lab's LAN socket, with the NUL framing the stock driver uses, and the command/reply pairs of
pymeasure's tests/instruments/ametek/test_ametek7270.py (quoted as data; written from the
driver, nothing there says they were recorded on a unit) replayed byte for byte: every reply
must have the form the pair's reply has, every setter must be acknowledged with the empty
response and reach the twin."""
from __future__ import annotations

import re
import warnings

import pytest

from loopscope.sim_devices import SimulatedLab

from .conftest import SPEED, RawLine

ametek = pytest.importorskip("pymeasure.instruments.ametek")

#: the 7270's floating-point form in those pairs: "1.2E+04", "-1.64E-01", "0.0E+00"
FLOAT_7270 = re.compile(rb"^-?\d\.\d+E[+-]\d{2}$")
INTEGER = re.compile(rb"^\d+$")

#: (command, reply) from pymeasure's test_ametek7270.py getters
GETTERS = [(b"SEN", b"27"), (b"SLOPE", b"1"), (b"TC", b"30"), (b"X.", b"0.0E+00"),
           (b"Y.", b"0.0E+00"), (b"XY.", b"0.0E+00,0.0E+00"), (b"MAG.", b"0.0E+00"),
           (b"PHA.", b"-1.8E+02"), (b"REFN", b"7"), (b"REFP.", b"2.5E+02"), (b"OA.", b"0.0E+00"),
           (b"OF.", b"1.2E+04"), (b"DAC. 1", b"7.0E+00"), (b"DAC. 2", b"-7.0E+00"),
           (b"DAC. 3", b"2.6E+00"), (b"DAC. 4", b"5.5E+00"), (b"ADC. 1", b"0.0E+00"),
           (b"ADC. 2", b"0.0E+00"), (b"ADC. 3", b"-1.6E-01"), (b"ADC. 4", b"-1.64E-01")]
#: setters from the same file: each answered by the empty response (its SEN 0 is below, refused:
#: the manual's SEN table starts at 1 = 2 nV; pymeasure's table has a 0.0 placeholder there)
SETTERS = [b"SEN 1", b"SEN 18", b"SEN 27", b"SLOPE 1", b"TC 0", b"TC 6", b"TC 30"]


def form(reply: bytes) -> re.Pattern:
    if b"," in reply:
        return re.compile(rb"^" + rb",".join([FLOAT_7270.pattern[1:-1]] * 2) + rb"$")
    return FLOAT_7270 if b"E" in reply else INTEGER


@pytest.fixture
def lab():
    lab = SimulatedLab("ametek7270_cantilever", seed=0, speed=SPEED).start()
    yield lab
    lab.stop()


@pytest.fixture
def stock(lab):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)     # pymeasure's SCPI-unknown notice
        inst = ametek.Ametek7270(lab.resources["lockin"], visa_library="@py", timeout=2000)
    yield inst
    inst.adapter.close()


@pytest.mark.parametrize("command, reply", GETTERS, ids=[c.decode() for c, _ in GETTERS])
def test_each_recorded_getter_is_answered_in_its_form(lab, command, reply):
    line = RawLine(lab.resources["lockin"], terminator=b"\x00", end=b"\x00")
    try:
        got = line.ask(command)
    finally:
        line.close()
    assert form(reply).match(got), (command, got)


def test_the_recorded_setters_are_acknowledged_and_taken(lab):
    twin = lab.instruments["lockin"]
    line = RawLine(lab.resources["lockin"], terminator=b"\x00", end=b"\x00")
    try:
        for command in SETTERS:
            assert line.ask(command) == b"", command
            assert int(line.ask(b"ST")) & 6 == 0, command
    finally:
        line.close()
    assert twin.sen == 27 and twin.slope == 1 and twin.tc == 30
    # SEN 0 is no sensitivity (the table starts at 1): the twin refused it
    line = RawLine(lab.resources["lockin"], terminator=b"\x00", end=b"\x00")
    try:
        assert line.ask(b"SEN 0") == b"" and int(line.ask(b"ST")) & 4
    finally:
        line.close()


def test_stock_driver_properties_reach_the_twin(lab, stock):
    twin = lab.instruments["lockin"]
    stock.frequency = 2001.0
    stock.voltage = 0.5
    stock.time_constant = 0.2
    stock.slope = 24
    stock.sensitivity = 0.01
    stock.harmonic = 1
    stock.phase = 45.0
    stock.dac1 = 1.5
    assert twin.core.frequency == 2001.0 and twin.core.amplitude == 0.5
    assert twin.core.time_constant == 0.2 and twin.core.slope_db == 24
    assert twin.full_scale() == 0.01 and twin.core.phase_deg == pytest.approx(45.0)
    assert twin.dac[1] == 1.5
    assert stock.frequency == pytest.approx(2001.0, rel=1e-3)
    assert stock.time_constant == 0.2 and stock.slope == 24 and stock.sensitivity == 0.01
    x, y = stock.xy
    assert stock.mag == pytest.approx((x * x + y * y) ** 0.5, rel=0.1)
    assert -180 <= stock.theta <= 180
    assert stock.id == "7270/" + twin.firmware
    for name in ("adc1", "adc2", "adc3", "adc4", "dac2", "dac3", "dac4", "voltage", "harmonic"):
        getattr(stock, name)
    stock.set_voltage_mode()
    assert twin.settings["IMODE"] == 0
    stock.auto_gain = True
    assert stock.auto_gain is True and twin.settings["AUTOMATIC"] == 1


def test_dual_mode_outputs_are_empty_in_single_reference_mode(lab, stock):
    # pymeasure's test_failing_properties: X1. .. Y2. answer nothing outside the dual modes
    for name in ("x1", "y1", "x2", "y2"):
        with pytest.raises(ValueError):
            getattr(stock, name)


def test_shutdown_zeroes_the_oscillator(lab, stock):
    twin = lab.instruments["lockin"]
    stock.voltage = 1.0
    stock.shutdown()
    assert twin.core.amplitude == 0.0

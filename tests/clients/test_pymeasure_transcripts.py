"""pymeasure's command/reply pairs for the SR830, SR860 and Keithley 2182 replayed on the
simulated lab byte for byte: every reply must have the form the pair gives (fields, integer or
decimal or exponent, words), every setter must be taken without an error and reach the
simulated instrument.

The pairs are quoted as data from the pymeasure repository (github.com/pymeasure/pymeasure):
tests/instruments/srs/test_sr830.py, tests/instruments/srs/test_sr860.py and
tests/instruments/keithley/test_keithley2182.py. Which of them were taken on a unit:

- SR830: the SENS?, FREQ?, SNAP?, OEXP? and OUTP? pairs came with pymeasure PR #1069, whose
  author says he tested with hardware ("By testing with hardware I found ..."); the reply
  "-4.17234e-007" has the three-digit exponent the SR830 manual's own examples show, no
  hand-written reply would. The AUXV setters (PR #1495) test pymeasure's number formatting.
- SR860: written from the driver (TBMODE, DBLK, AUXV); nothing says they were recorded.
- Keithley 2182: written by hand: ":READ?" -> "3.1415" is pi, and "92" and "12" are not
  ranges any 2182 has; the command forms are the manual's, the replies are not.

The Lake Shore 3xx family (331, 336): pymeasure has no protocol tests for it (its
tests/instruments/lakeshore holds only the 211, 421 and 425, in all of its history), so there
is nothing to replay for the temperature controller; QCoDeS's LS336 driver is replayed in
test_qcodes_lakeshore336.py instead.
"""
from __future__ import annotations

import re

import pytest

from .conftest import RawLine

#: the SR830's numbers: C's %g (six significant digits, trailing zeros dropped) with a
#: three-digit exponent when there is one -- "-4.17234e-007", "-5.9605e-007", "-0.000500266"
SR830_NUMBER = re.compile(rb"^-?\d+(\.\d+)?(e[+-]\d{3})?$")
INTEGER = re.compile(rb"^\d+$")
#: a decimal without exponent: "121.98", "9.7", "10"
DECIMAL = re.compile(rb"^-?\d+(\.\d+)?$")
#: the 2182's reading (manual, Figure 15-1 "ASCII data format": ±1.23456789E±00)
K2182_READING = re.compile(rb"^[+-]\d\.\d{8}E[+-]\d{2}$")

# --- SR830: (command, the unit's reply), tests/instruments/srs/test_sr830.py -----------------
SR830_IDN = (b"*IDN?", b"Stanford_Research_Systems,SR830,s/n12345,ver1.07")
#: settings: put the lock-in where the unit was, and the reply must be the recorded one exactly
SR830_SETTINGS = [  # (the setter that puts the sim there, query, recorded reply)
    (b"SENS 0", b"SENS?", b"0"), (b"SENS 14", b"SENS?", b"14"), (b"SENS 25", b"SENS?", b"25"),
    (b"SENS 19", b"SENS?", b"19"), (b"FREQ 121.98", b"FREQ?", b"121.98"),
    (b"OEXP 1,9.7,1", b"OEXP? 1", b"9.7,1"), (b"OEXP 1,10,1", b"OEXP? 1", b"10,1")]
#: measurements: the form only (the values are the cantilever's, not the unit's)
SR830_MEASUREMENTS = [(b"SNAP? 1,2", b"-4.17234e-007,-5.9605e-007"), (b"OUTP?1", b"-0.000500266")]
#: setters (reply None): pymeasure's aux output 1 at sub-microvolt and full values
SR830_SETTERS = [(b"AUXV1,1e-09;", 1e-9), (b"AUXV1,1e-07;", 1e-7), (b"AUXV1,-1e-07;", -1e-7),
                 (b"AUXV1,10;", 10.0)]

# --- SR860, tests/instruments/srs/test_sr860.py ----------------------------------------------
SR860_SETTINGS = [(b"TBMODE 0", b"TBMODE?", b"0"), (b"TBMODE 1", b"TBMODE?", b"1"),
                  (b"DBLK 1", b"DBLK?", b"1")]
SR860_SETTERS = [(b"AUXV 0, 1e-09", 1e-9), (b"AUXV 0, 1e-07", 1e-7), (b"AUXV 0, -1e-07", -1e-7),
                 (b"AUXV 0, 10", 10.0)]

# --- Keithley 2182, tests/instruments/keithley/test_keithley2182.py --------------------------
K2182_NO_ERROR = b'0,"No error"'          # the pairs' own SYST:ERR? reply
K2182_SETUP_VOLTAGE = [b":SENS:CHAN 1;:SENS:FUNC 'VOLT';:SENS:VOLT:NPLC 5;", b":SENS:VOLT:RANG:AUTO 1"]
K2182_SETUP_TEMPERATURE = b":SENS:CHAN 2;:SENS:FUNC 'TEMP';:SENS:TEMP:NPLC 5"


def test_the_forms_take_the_recorded_replies():
    """The patterns below would pass anything if they were wrong: they must take the recorded
    replies themselves, and refuse the forms the simulators gave before."""
    for _, real in SR830_MEASUREMENTS:
        assert all(SR830_NUMBER.match(f) for f in real.split(b","))
    assert not SR830_NUMBER.match(b"-4.172340e-07")          # Python's %e: not the SR830's
    assert DECIMAL.match(b"121.98") and DECIMAL.match(b"10") and not DECIMAL.match(b"9.70e0")
    assert K2182_READING.match(b"+1.23456789E-03") and not K2182_READING.match(b"+1.234567890E-03")


@pytest.fixture
def sr830_line(lab):
    raw = RawLine(lab.resources["lockin"], b"\n")
    yield raw
    raw.close()


def test_sr830_identity_has_the_units_fields(sr830_line):
    fields, real = sr830_line.ask(SR830_IDN[0]).split(b","), SR830_IDN[1].split(b",")
    assert len(fields) == len(real) == 4
    assert fields[:2] == real[:2]
    assert re.fullmatch(rb"s/n\d+", fields[2]) and re.fullmatch(rb"ver\d\.\d\d", fields[3])


def test_sr830_settings_answer_as_the_unit_did(lab, sr830_line):
    sim = lab.instruments["lockin"]
    sr830_line.ask(b"*ESR?")                           # power-on bit away
    for setter, query, real in SR830_SETTINGS:
        assert sr830_line.answers_nothing(setter), setter
        assert sr830_line.ask(query) == real, (query, real)
    assert sim.sens == 19 and sim.core.frequency == pytest.approx(121.98)
    assert sim.expand[1] == (10.0, 1)
    assert sr830_line.ask(b"*ESR?") == b"0"


def test_sr830_measurements_have_the_units_number_form(lab, sr830_line):
    for command, real in SR830_MEASUREMENTS:
        reply = sr830_line.ask(command)
        fields = reply.split(b",")
        assert len(fields) == len(real.split(b",")), (command, reply)
        assert all(SR830_NUMBER.match(f) for f in fields), (command, reply)
    # the recorded values themselves, printed the sim's way, come out as the unit printed them
    sim = lab.instruments["lockin"]
    assert sim._number(-4.17234e-7) == "-4.17234e-007" and sim._number(-5.9605e-7) == "-5.9605e-007"
    assert sim._number(-0.000500266) == "-0.000500266"


def test_sr830_aux_output_setters_are_taken(lab, sr830_line):
    sim = lab.instruments["lockin"]
    sr830_line.ask(b"*ESR?")
    for command, volts in SR830_SETTERS:
        assert sr830_line.answers_nothing(command), command
        # the manual's aux output resolution is 1 mV: sub-millivolt settings give 0 V
        assert sim.aux_out[1] == pytest.approx(round(volts, 3)), command
        assert sr830_line.ask(b"*ESR?") == b"0", command
    assert sr830_line.ask(b"AUXV? 1") == b"10.000"


def test_sr860_pairs(lab):
    sim = lab.instruments["lockin_sr860"]
    raw = RawLine(lab.resources["lockin_sr860"], b"\n")
    try:
        raw.ask(b"*ESR?")
        for setter, query, real in SR860_SETTINGS:
            assert raw.answers_nothing(setter), setter
            assert raw.ask(query) == real, (query, real)
        assert sim.settings["TBMODE"] == 1 and sim.settings["DBLK"] == 1
        for command, volts in SR860_SETTERS:
            assert raw.answers_nothing(command), command
            assert sim.aux_out[0] == pytest.approx(round(volts, 3)), command
        assert raw.ask(b"*ESR?") == b"0"
        assert raw.answers_nothing(b"DBLK 2")          # not a blanking state: refused
        assert int(raw.ask(b"*ESR?")) & 16 and sim.settings["DBLK"] == 1
    finally:
        raw.close()


@pytest.fixture
def k2182_line(lab):
    raw = RawLine(lab.resources["nanovoltmeter"], b"\r", end=b"\r")
    yield raw
    raw.close()


def test_k2182_reading_has_the_manuals_form_not_the_transcripts(k2182_line):
    reply = k2182_line.ask(b":READ?")
    # EXCEPTION: pymeasure's pair is (":READ?", "3.1415"), a hand-written decimal; the manual's
    # ASCII reading is a mantissa and exponent (Figure 15-1), which the simulator keeps
    assert K2182_READING.match(reply), reply
    assert not K2182_READING.match(b"3.1415")


def test_k2182_channel_and_thermocouple_pairs(lab, k2182_line):
    sim = lab.instruments["nanovoltmeter"]
    assert k2182_line.ask(b":SENS:CHAN?") == b"1"                     # recorded "1"
    assert k2182_line.answers_nothing(b":SENS:CHAN 2") and sim.channel == 2
    assert k2182_line.answers_nothing(b":SENS:TEMP:TC S")             # where the pair's unit was
    assert k2182_line.ask(b":SENS:TEMP:TC?") == b"S"                  # recorded "S"
    assert k2182_line.answers_nothing(b":SENS:TEMP:TC K") and sim.tc == "K"
    assert k2182_line.ask(b"SYST:ERR?") == K2182_NO_ERROR
    assert k2182_line.answers_nothing(b":SENS:TEMP:TC Q")             # no such thermocouple
    assert k2182_line.ask(b"SYST:ERR?").startswith(b"-224,") and sim.tc == "K"


def test_k2182_range_pairs(lab, k2182_line):
    sim = lab.instruments["nanovoltmeter"]
    # (":SENS:VOLT:CHAN1:RANG?", "92"): a bare number, as the sim's; 92 V is no range of the
    # 2182 (10 mV .. 100 V), so only the form is compared
    reply = k2182_line.ask(b":SENS:VOLT:CHAN1:RANG?")
    assert DECIMAL.match(reply) and DECIMAL.match(b"92")
    assert float(reply) in (0.01, 0.1, 1.0, 10.0, 100.0)
    assert k2182_line.answers_nothing(b":SENS:VOLT:CHAN1:RANG 2")    # recorded setter
    assert sim.range[1] == 10.0 and sim.auto[1] is False
    assert k2182_line.ask(b"SYST:ERR?") == K2182_NO_ERROR
    # EXCEPTION: the pairs (":SENS:VOLT:CHAN2:RANG 15", None), (":SENS:VOLT:CHAN2:RANG?", "12")
    # have the meter cut 15 V to 12. The manual: channel 2 has 100 mV, 1 V and 10 V ranges and
    # reads to 12 V, so 15 is out of range (-222) and 12 is no range it can answer
    assert k2182_line.answers_nothing(b":SENS:VOLT:CHAN2:RANG 0.5")
    assert k2182_line.answers_nothing(b":SENS:VOLT:CHAN2:RANG 15")
    assert k2182_line.ask(b"SYST:ERR?").startswith(b"-222,")
    assert k2182_line.ask(b":SENS:VOLT:CHAN2:RANG?") == b"1" and sim.range[2] == 1.0
    assert k2182_line.answers_nothing(b":SENS:VOLT:CHAN2:RANG 12")    # the top is taken: 10 V
    assert k2182_line.ask(b":SENS:VOLT:CHAN2:RANG?") == b"10"
    assert k2182_line.ask(b"SYST:ERR?") == K2182_NO_ERROR


def test_k2182_setup_sequences_leave_no_error(lab, k2182_line):
    sim = lab.instruments["nanovoltmeter"]
    for other in (b":SENS:CHAN 2", b":SENS:FUNC 'TEMP'", b":SENS:VOLT:NPLC 1",
                  b":SENS:VOLT:CHAN1:RANG 1", b":SENS:TEMP:NPLC 1"):
        assert k2182_line.answers_nothing(other)                      # away from the setup
    for command in K2182_SETUP_VOLTAGE:
        assert k2182_line.answers_nothing(command), command
    assert k2182_line.ask(b"SYST:ERR?") == K2182_NO_ERROR
    assert (sim.channel, sim.func, sim.nplc, sim.auto[1]) == (1, "VOLT", 5.0, True)
    assert sim.temp_nplc == 1.0                       # the voltage rate is the voltage's own
    assert k2182_line.answers_nothing(K2182_SETUP_TEMPERATURE)
    assert k2182_line.ask(b"SYST:ERR?") == K2182_NO_ERROR
    assert (sim.channel, sim.func, sim.temp_nplc) == (2, "TEMP", 5.0)
    assert k2182_line.ask(b":SENS:TEMP:NPLC?") == b"5"

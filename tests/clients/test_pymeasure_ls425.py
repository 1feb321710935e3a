"""pymeasure's stock LakeShore425 driver on the simulated gaussmeter, and the command/reply
pairs pymeasure recorded from the 425 manual (tests/instruments/lakeshore/test_lakeshore425.py
in the pymeasure repository) replayed: same form of reply."""
from __future__ import annotations

import re

import pytest

from pymeasure.instruments.lakeshore import LakeShore425

from .conftest import RawLine  # noqa: E402

#: the 425's field format, +-nnn.nnnE+-nn (manual ch. 6; recorded reply "+123.456E-01")
LS425_NUMBER = re.compile(rb"^[+-]\d{3}\.\d{3}E[+-]\d{2}$")


@pytest.fixture
def gauss(lab):
    inst = LakeShore425(lab.resources["gaussmeter"], read_termination="\n", timeout=5000)
    yield inst
    inst.adapter.close()


def test_recorded_pairs_have_the_same_form(lab):
    raw = RawLine(lab.resources["gaussmeter"], b"\r\n")
    meter = lab.instruments["gaussmeter"]
    try:
        assert raw.ask(b"UNIT?") == b"1"                      # recorded: b"1" (gauss)
        assert raw.answers_nothing(b"UNIT 2") and meter.unit == 2
        reply = raw.ask(b"RDGFIELD?")                         # recorded: b"+123.456E-01"
        assert LS425_NUMBER.match(reply) and LS425_NUMBER.match(b"+123.456E-01")
        assert raw.answers_nothing(b"ZPROBE") and meter.offset_G == 0.0
        assert re.fullmatch(rb"LSCI,MODEL425,\d{7},\d\.\d", raw.ask(b"*IDN?"))
        assert re.fullmatch(rb"\d,\d,\d", raw.ask(b"RDGMODE?"))
        assert LS425_NUMBER.match(raw.ask(b"RDGMX?"))
        low, high = raw.ask(b"RDGMNMX?").split(b",")
        assert low == b"+000.000E+00" and LS425_NUMBER.match(high)
    finally:
        raw.close()


def test_stock_driver_reads_and_sets(gauss, lab):
    meter = lab.instruments["gaussmeter"]
    assert gauss.unit == "G" and gauss.range == 35000 and gauss.mode == (1, 0, 1)
    truth_G = lab.world.field_T * 1e4 + meter.offset_G
    assert gauss.field == pytest.approx(truth_G, abs=5 * 1e-4 * 35000)
    gauss.range = 35
    gauss.unit = "T"
    gauss.ac_mode(wideband=False)
    assert gauss.mode == (2, 1, 2)                            # a query: the writes are done
    assert (meter.range, meter.unit, meter.rdgmode) == (1, 2, (2, 1, 2))
    gauss.dc_mode()
    gauss.zero_probe()
    gauss.auto_range()
    assert gauss.unit == "T"
    assert meter.offset_G == 0.0 and meter.auto and meter.rdgmode == (1, 0, 1)
    mean, std = gauss.measure(5, delay=0)
    assert mean == pytest.approx(lab.world.field_T, abs=1e-6)


def test_refused_values_set_the_execution_error_bit(gauss, lab):
    meter = lab.instruments["gaussmeter"]
    gauss.write("RDGMODE 3,0,1")                              # mode is 1 (DC) or 2 (RMS)
    gauss.write("UNIT 7")
    assert int(gauss.ask("*ESR?")) & 16
    assert meter.rdgmode == (1, 0, 1) and meter.unit == 1

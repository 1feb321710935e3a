"""Stanford Research SR830 lock-in: pymeasure's SR830 with a strict frequency range."""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.srs import SR830 as StockSR830

from loopscope.instruments.drivers._base import float_reply, strict_limit
from loopscope.instruments.drivers._lockin import SRSLockIn


class SR830(SRSLockIn, StockSR830):
    """SR830; ``xy_V`` reads X and Y at one instant (``SNAP? 1,2``)."""

    # "Stanford_Research_Systems,SR830,s/n12345,ver1.07" (pymeasure,
    # tests/instruments/srs/test_sr830.py; the SR830 manual's *IDN? gives the same form).
    # An SR810 (one phase), SR850 or SR860 (other command sets) is refused.
    IDN_PATTERN = r"^Stanford[_ ]Research[_ ]Systems\s*,\s*SR830\s*,"
    IDN_EXPECTED = "'Stanford_Research_Systems,SR830,...'"
    MODEL = "SR830"

    DEFAULT_NAME = "Stanford Research Systems SR830 Lock-in amplifier"
    #: the reference frequencies the instrument accepts, Hz (plans are checked against it
    #: before anything is connected: daq.plan_against_station)
    FREQUENCY_RANGE_HZ = (0.001, 102000)

    frequency = Instrument.control(
        "FREQ?", "FREQ%0.5e",
        """Control the reference frequency in Hz (0.001 to 102 kHz; refuses others; *ESR? read after a set).""",
        validator=strict_limit, values=FREQUENCY_RANGE_HZ,
        get_process=float_reply("FREQ?"),
        check_set_errors=True)

    x = Instrument.measurement("OUTP?1", """Get X in V.""", get_process=float_reply("OUTP?1"))
    y = Instrument.measurement("OUTP?2", """Get Y in V.""", get_process=float_reply("OUTP?2"))

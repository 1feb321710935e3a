"""Stanford Research SR860 lock-in: pymeasure's SR860 with a strict frequency range."""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.srs import SR860 as StockSR860

from loopscope.instruments.drivers._base import float_reply, strict_limit
from loopscope.instruments.drivers._lockin import SRSLockIn


class SR860(SRSLockIn, StockSR860):
    """SR860; ``xy_V`` reads X and Y at one instant (``SNAP? X, Y``)."""

    # "Stanford_Research_Systems,SR860,002819,v1.51" and "Stanford_Research_Systems,SR865A,
    # 002725,v1.34" (SRS's own package thinkSRS/srsinst.sr860: getting_started.ipynb, README.md;
    # it drives the SR860, SR865 and SR865A with one command set, _IdString 'SR86[05][A]?,').
    # An SR865/SR865A is accepted; its wider frequency range is not used (the SR860's
    # 500 kHz stays the limit). An SR830 is refused (another command set).
    IDN_PATTERN = r"^Stanford[_ ]Research[_ ]Systems\s*,\s*SR86[05]A?\s*,"
    IDN_EXPECTED = "'Stanford_Research_Systems,SR860,...' (or SR865, SR865A)"
    MODEL = "SR860"
    DEFAULT_NAME = "Stanford Research Systems SR860 Lock-in amplifier"
    #: the reference frequencies the instrument accepts, Hz (plans are checked against it
    #: before anything is connected: daq.plan_against_station)
    FREQUENCY_RANGE_HZ = (0.001, 500000)

    frequency = Instrument.control(
        "FREQ?", "FREQ %0.6e",
        """Control the reference frequency in Hz (1 mHz to 500 kHz; refuses others; *ESR? read after a set).""",
        validator=strict_limit, values=FREQUENCY_RANGE_HZ,
        get_process=float_reply("FREQ?"),
        check_set_errors=True)

    x = Instrument.measurement("OUTP? 0", """Get X in V.""", get_process=float_reply("OUTP? 0"))
    y = Instrument.measurement("OUTP? 1", """Get Y in V.""", get_process=float_reply("OUTP? 1"))

"""Stanford Research SR865A lock-in: the SR860 driver with the SR865A's 4 MHz reference."""
from __future__ import annotations

from pymeasure.instruments import Instrument

from loopscope.instruments.drivers._base import float_reply, strict_limit
from loopscope.instruments.drivers.sr860 import SR860


class SR865A(SR860):
    """SR865A: the SR86x command set (SR865A operation manual rev. 2.07, chapter 4, is the
    SR860's command list); FREQ takes 1 mHz to 4 MHz (the manual's FREQINT / FREQ limits),
    so the family is one driver with the frequency range as its parameter."""

    # "Stanford_Research_Systems,SR865A,002725,v1.34" (thinkSRS/srsinst.sr860 README, a real
    # unit). Only an SR865A: an SR860 or SR865 would refuse frequencies this driver allows.
    IDN_PATTERN = r"^Stanford[_ ]Research[_ ]Systems\s*,\s*SR865A\s*,"
    IDN_EXPECTED = "'Stanford_Research_Systems,SR865A,...'"
    MODEL = "SR865A"
    DEFAULT_NAME = "Stanford Research Systems SR865A Lock-in amplifier"
    FREQUENCY_RANGE_HZ = (0.001, 4.0e6)

    frequency = Instrument.control(
        "FREQ?", "FREQ %0.6e",
        """Control the reference frequency in Hz (1 mHz to 4 MHz; refuses others; *ESR? read after a set).""",
        validator=strict_limit, values=FREQUENCY_RANGE_HZ,
        get_process=float_reply("FREQ?"),
        check_set_errors=True)

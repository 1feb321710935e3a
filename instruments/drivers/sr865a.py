"""Stanford Research SR865A lock-in: the SR860 driver with the SR865A's 4 MHz reference."""
from __future__ import annotations

from pymeasure.instruments import Instrument

from loopscope.instruments.drivers._base import float_reply, strict_limit
from loopscope.instruments.drivers.sr860 import SR860


class SR865A(SR860):
    """SR865A: the SR86x command set (the SR860's); FREQ takes 1 mHz to 4 MHz (the SR865A
    manual's title, "4 MHz DSP Lock-in Amplifier", with the SR86x FREQINT limit "1 mHz to the
    model's top frequency"; QCoDeS's SR865A: max_frequency=4e6). The family is one driver with
    the frequency range and the identity as its parameters."""

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

"""Stanford Research SR860 lock-in: pymeasure's SR860 with a strict frequency range."""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.srs import SR860 as StockSR860

from instruments.drivers._base import float_reply, strict_limit
from instruments.drivers._lockin import SRSLockIn


class SR860(SRSLockIn, StockSR860):
    """SR860; ``xy_V`` reads X and Y at one instant (``SNAP? X, Y``)."""

    IDN_PATTERN = r"Stanford.Research.Systems.*SR86[05]"
    MODEL = "SR860"
    DEFAULT_NAME = "Stanford Research Systems SR860 Lock-in amplifier"
    #: the reference frequencies the instrument accepts, Hz (plans are checked against it
    #: before anything is connected: daq.station_check)
    FREQUENCY_RANGE_HZ = (0.001, 500000)

    frequency = Instrument.control(
        "FREQ?", "FREQ %0.6e",
        """Control the reference frequency in Hz (1 mHz to 500 kHz; refuses others; *ESR? read after a set).""",
        validator=strict_limit, values=FREQUENCY_RANGE_HZ,
        get_process=float_reply("FREQ?"),
        check_set_errors=True)

    x = Instrument.measurement("OUTP? 0", """Get X in V.""", get_process=float_reply("OUTP? 0"))
    y = Instrument.measurement("OUTP? 1", """Get Y in V.""", get_process=float_reply("OUTP? 1"))

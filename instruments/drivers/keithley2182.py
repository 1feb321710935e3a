"""Keithley 2182A nanovoltmeter: pymeasure's Keithley2182 with a reading that must be a number."""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2182 as StockKeithley2182

from instruments.drivers._base import LabInstrument, float_reply


class Keithley2182(LabInstrument, StockKeithley2182):
    """Keithley 2182/2182A; ``voltage`` triggers and reads one value (``:READ?``)."""

    IDN_PATTERN = r"KEITHLEY.*2182"
    MODEL = "Keithley 2182A"
    SNAPSHOT_PROPERTIES = ("active_channel", "channel_function", "voltage_nplc")

    #: what the meter answers when the input exceeds the range
    OVERFLOW_V = 9.9e37

    def __init__(self, adapter, name="Keithley 2182A Nanovoltmeter", **kwargs):
        # replies end in CR (the stock driver's default, and the meter's)
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)

    READ_VOLTAGE = ":READ?"
    voltage = Instrument.measurement(
        READ_VOLTAGE, """Measure the voltage of the active channel in V.""",
        get_process=float_reply(READ_VOLTAGE))

    fetch = Instrument.measurement(
        ":FETCh?", """Get the latest reading without triggering a new one, in V.""",
        get_process=float_reply(":FETCh?"))

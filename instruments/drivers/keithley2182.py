"""Keithley 2182A nanovoltmeter: pymeasure's Keithley2182 with a reading that must be a number."""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2182 as StockKeithley2182

from loopscope.instruments.drivers._base import LabInstrument, float_reply


class Keithley2182(LabInstrument, StockKeithley2182):
    """Keithley 2182/2182A; ``voltage`` triggers and reads one value (``:READ?``)."""

    # "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,1193143,C02 /A02" (a real unit's reply, quoted in
    # public drivers); the "Model 2182/2182A Nanovoltmeter User's Manual" (2182A-900-01) gives
    # the form "KEITHLEY INSTRUMENTS INC., MODEL 2182, xxxxxxx, yyyyy/zzzzz". One manual and one
    # command set serve both: the 2182A adds delta and pulse modes with a 6220/6221 current
    # source, which this driver does not use, so a 2182 is accepted as well. Other Keithley
    # meters (2000, 2010, 6517B, ...) are refused.
    IDN_PATTERN = r"^KEITHLEY\s+INSTRUMENTS(?:\s+INC\.?)?\s*,\s*MODEL\s*2182A?\s*,"
    IDN_EXPECTED = "'KEITHLEY INSTRUMENTS INC.,MODEL 2182A,...' (or MODEL 2182)"
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

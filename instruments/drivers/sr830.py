"""Stanford Research SR830 lock-in: pymeasure's SR830 with a strict frequency range."""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.srs import SR830 as StockSR830

from instruments.drivers._base import LabInstrument, float_reply, strict_limit, to_float


class SR830(LabInstrument, StockSR830):
    """SR830; ``xy_V`` reads X and Y at one instant (``SNAP? 1,2``)."""

    IDN_PATTERN = r"Stanford.Research.Systems.*SR830"
    MODEL = "SR830"
    SNAPSHOT_PROPERTIES = ("frequency", "time_constant", "sensitivity", "phase",
                           "sine_voltage")

    def __init__(self, adapter, name="Stanford Research Systems SR830 Lock-in amplifier",
                 **kwargs):
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)

    frequency = Instrument.control(
        "FREQ?", "FREQ%0.5e",
        """Control the reference frequency in Hz (0.001 to 102 kHz; refuses others).""",
        validator=strict_limit, values=(0.001, 102000),
        get_process=float_reply("FREQ?"))

    x = Instrument.measurement("OUTP?1", """Get X in V.""", get_process=float_reply("OUTP?1"))
    y = Instrument.measurement("OUTP?2", """Get Y in V.""", get_process=float_reply("OUTP?2"))

    @property
    def xy_V(self) -> tuple[float, float]:
        """Get X and Y in V, sampled at the same instant."""
        reply = self.snap("X", "Y")
        if len(reply) != 2:
            raise ValueError(f"SNAP? 1,2: expected two numbers, got {reply!r}")
        return to_float(reply[0], "SNAP? X"), to_float(reply[1], "SNAP? Y")

"""What our SR830 and SR860 drivers share: LAN terminations and X, Y read at one instant."""
from __future__ import annotations

from loopscope.instruments.drivers._base import LabInstrument, to_float


class SRSLockIn(LabInstrument):
    """Mixed in before pymeasure's stock SR830 / SR860 class."""

    DEFAULT_NAME = "Stanford Research Systems lock-in amplifier"
    SNAPSHOT_PROPERTIES = ("frequency", "time_constant", "sensitivity", "phase", "sine_voltage")
    # no error queue: a refused command shows in the standard event status byte (SR830
    # manual, "Status byte definitions"; the SR860 is taken to do the same)
    ERROR_QUERY = "*ESR?"
    ESR_ERROR_BITS = {32: "CMD (illegal command)", 16: "EXE (execution error)",
                      4: "QRY (output queue overflow)", 1: "INP (input queue overflow)"}

    def __init__(self, adapter, name=None, **kwargs):
        # the stock drivers set no terminator (they assume GPIB or serial); over TCP both are \n
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name or self.DEFAULT_NAME, **kwargs)

    @property
    def xy_V(self) -> tuple[float, float]:
        """Get X and Y in V, sampled at the same instant (SNAP?)."""
        reply = self.snap("X", "Y")
        if len(reply) != 2:
            raise ValueError(f"SNAP? X, Y: expected two numbers, got {reply!r}")
        return to_float(reply[0], "SNAP? X"), to_float(reply[1], "SNAP? Y")

"""Signal Recovery (Ametek) 7270 DSP lock-in: pymeasure's Ametek7270 made strict and safe."""
from __future__ import annotations

import warnings

from pymeasure.instruments import Instrument
from pymeasure.instruments.ametek import Ametek7270 as StockAmetek7270

from loopscope.instruments.drivers._base import MAX_UNCHECKED, LabInstrument, float_reply, strict_choice, strict_limit, to_float
from loopscope.instruments.roles import InstrumentError

#: status byte bits that mean the last command was refused (7270 manual, table 6-1)
ST_ERROR_BITS = {2: "invalid command", 4: "command parameter error"}


class Ametek7270(LabInstrument, StockAmetek7270):
    """7270 over USB/Ethernet (NUL-terminated responses, the stock driver's framing) or RS-232.

    The stock driver writes nothing at connect; what is changed here: every property that
    sets reads the status byte (ST) afterwards instead of only the empty acknowledgement, so a
    refused setting raises; the frequency and sensitivity refuse values off the table instead
    of truncating them (pymeasure truncates); *IDN? is not a 7270 command: ID is asked."""

    IDN_PATTERN = r"^7270$"
    IDN_EXPECTED = "'7270' (the reply to ID)"
    MODEL = "Ametek 7270"
    DEFAULT_NAME = "Signal Recovery / Ametek 7270 DSP lock-in amplifier"
    SNAPSHOT_PROPERTIES = ("frequency", "time_constant", "sensitivity", "phase", "voltage")
    ERROR_QUERY = "ST"
    #: OF. takes 0 to 250 kHz (manual, OF command); 1 mHz is the lowest a plan may ask
    FREQUENCY_RANGE_HZ = (0.001, 250000.0)
    #: IE n (manual, reference channel): 0 internal, 1 external rear (TTL), 2 external front
    REFERENCE_SOURCES = {0: "INT", 1: "EXT LOGIC", 2: "EXT"}

    def __init__(self, adapter, name=None, **kwargs):
        # pymeasure's SCPIUnknownMixin warns on every construction that it does not know
        # whether the unit speaks SCPI; the manual says it does not (chapter 6: no IEEE 488.2
        # common commands), and nothing here uses the mixin's SCPI properties
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "It is not known whether this device", FutureWarning)
            super().__init__(adapter, name or self.DEFAULT_NAME, **kwargs)

    # identity: ID answers the model number
    def identify(self) -> str:
        return self.ask("ID").strip()

    # pymeasure's ask() strips; its read() of a set's empty acknowledgement gives ''
    def check_errors(self) -> list[tuple[int, str]]:
        """The status byte's error bits of the last command (manual table 6-1), read with ST."""
        value = int(to_float(self.ask("ST"), "ST"))
        return [(w, text) for w, text in ST_ERROR_BITS.items() if value & w]

    def write(self, command: str, **kwargs) -> None:
        # a 7270 query has no "?" (it is the name alone, manual 6.6): only a command with a
        # parameter changes the instrument and is remembered for the next check's message
        StockAmetek7270.write(self, command, **kwargs)
        if " " in command.strip():
            unchecked = self.__dict__.setdefault("_unchecked_commands", [])
            unchecked.append(command)
            del unchecked[:-MAX_UNCHECKED]

    def check_set_errors(self) -> list:
        # the stock driver's check: the acknowledgement of the set (a NUL) on USB/Ethernet
        if self._acknowledges():
            reply = self.read()
            if reply != "":
                raise InstrumentError(f"{self.who()}: a set was answered {reply!r}, not the empty "
                                      f"acknowledgement")
        return super().check_set_errors()

    def _acknowledges(self) -> bool:
        """Whether every command is answered (USB/Ethernet: the NUL terminator); on RS-232 a
        set answers nothing."""
        return getattr(self.adapter.connection, "read_termination", "") == "\x00"

    # the fixed-point form, OF in mHz: the floating-point OF. prints four digits (1 Hz at
    # 2 kHz), too coarse to scan a lever 0.1 Hz wide; OF sets and reads to 1 mHz
    frequency = Instrument.control(
        "OF", "OF %d",
        """Control the oscillator (internal reference) frequency in Hz, 1 mHz to 250 kHz (refused
        outside), set and read to 1 mHz through the fixed-point OF.""",
        validator=strict_limit, values=FREQUENCY_RANGE_HZ,
        set_process=lambda f: int(round(f * 1000.0)),
        get_process=lambda v: float_reply("OF")(v) / 1000.0, check_set_errors=True)

    sensitivity = Instrument.control(
        "SEN", "SEN %d",
        """Control the full-scale sensitivity in V (IMODE 0): one of 2 nV .. 1 V (SEN 1..27;
        refused off the table, where pymeasure truncates).""",
        validator=strict_choice,
        values={v: i for i, v in enumerate(StockAmetek7270.SENSITIVITIES) if i},
        map_values=True, check_set_errors=True)

    @property
    def reference_source(self) -> str:
        """Get the reference channel source (IE): INT, EXT LOGIC (rear TTL) or EXT (front)."""
        code = int(to_float(self.ask("IE"), "IE"))
        return self.REFERENCE_SOURCES.get(code, str(code))

    @property
    def xy_V(self) -> tuple[float, float]:
        """Get X and Y in V at one instant (XY.)."""
        reply = self.ask("XY.")
        parts = [p for p in reply.replace(";", ",").split(",") if p.strip()]
        if len(parts) != 2:
            raise ValueError(f"XY.: expected two numbers, got {reply!r}")
        return to_float(parts[0], "XY. X"), to_float(parts[1], "XY. Y")

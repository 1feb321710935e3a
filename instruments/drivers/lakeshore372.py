"""Lake Shore Model 372 AC resistance bridge and temperature controller: a new pymeasure
driver (pymeasure 0.16 has none; QCoDeS's LakeshoreModel372 is the independent client the
tests run against the simulated twin).

The commands are the Model 372 manual's (chapter 6): RDGK?/RDGR?/RDGST?/RDGSTL? readings,
SCAN/SCAN? the scanner, INSET?/FILTER? a channel's change pause, dwell and filter, SETP/RANGE/
OUTMODE?/HTRSET?/HTR? the sample heater (output 0), STILL? the still output. Nothing is written
at connect or by a reading; the writes (setpoint, heater range, scanner channel) refuse what
the station does not allow before they are sent, and read *ESR? after (the 372 has no error
queue: bits 5 CME and 4 EXE say a command was refused).
"""
from __future__ import annotations

from pymeasure.instruments import Instrument

from loopscope.instruments.drivers._base import LabInstrument, strict_limit, to_float
from loopscope.instruments.roles import LimitError

#: sample heater ranges (RANGE 0,<n>): full-scale current in A, manual's RANGE command
SAMPLE_HEATER_RANGE_A = {0: 0.0, 1: 31.6e-6, 2: 100e-6, 3: 316e-6, 4: 1.00e-3, 5: 3.16e-3,
                         6: 10.0e-3, 7: 31.6e-3, 8: 100e-3}
#: the sample heater's compliance (manual 4.6.1: 10 V)
SAMPLE_HEATER_COMPLIANCE_V = 10.0
#: OUTMODE mode codes of the 372 (manual's OUTMODE command; QCoDeS's LakeshoreModel372Output
#: names the same codes)
OUTPUT_MODES = {0: "off", 1: "monitor out", 2: "open loop", 3: "zone", 4: "still",
                5: "closed loop", 6: "warm up"}
#: RDGSTL? codes
SETTLE_STATES = {0: "valid", 1: "filter settling", 2: "hardware settling"}
CHANNELS = tuple(["A"] + [str(n) for n in range(1, 17)])


def range_max_power_W(rng: int, heater_ohm: float) -> float:
    """I_max^2 R of a sample-heater range into this heater, or V^2/R where the 10 V compliance
    caps it (manual 4.6.1: 'the lower of P = I^2 R and P = V^2/R')."""
    i = SAMPLE_HEATER_RANGE_A[rng]
    return 0.0 if not i else min(i * i * heater_ohm, SAMPLE_HEATER_COMPLIANCE_V ** 2 / heater_ohm)


class LakeShore372(LabInstrument, Instrument):
    """Lake Shore 372: one scanner channel (or the control input A) read, the sample heater
    (output 0) regulating on it."""

    # <manufacturer>,<model>,<instrument serial>/<option serial>,<firmware>: the Lake Shore
    # *IDN? format (Model 335/336/350/372 manuals: "LSCI,MODEL335,1234567/1234567,1.0"); a 370
    # (the 372's predecessor, its own command set) or a 336 is refused
    IDN_PATTERN = r"^LSCI\s*,\s*MODEL\s*372\s*,"
    IDN_EXPECTED = "'LSCI,MODEL372,...'"
    MODEL = "Lake Shore 372"
    ERROR_QUERY = "*ESR?"
    ESR_ERROR_BITS = {32: "CME (command error)", 16: "EXE (execution error)",
                      4: "QYE (query error)"}

    def __init__(self, adapter, name="Lake Shore 372 AC resistance bridge", *, channel: str = "6",
                 output: int = 0, max_temperature_K: float | None = None,
                 allowed_ranges: tuple[int, ...] = (0,), **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\r\n")
        kwargs.setdefault("includeSCPI", False)      # not SCPI: Lake Shore's own command set
        super().__init__(adapter, name, **kwargs)
        channel = str(channel).upper()
        if channel not in CHANNELS:
            raise LimitError(f"{self.who()}: channel {channel!r} is not A or 1..16")
        if output != 0:
            raise LimitError(f"{self.who()}: output {output!r}: only the sample heater (0) "
                             f"regulates the mixing chamber")
        self.channel = channel
        self.output = output
        self.max_temperature_K = max_temperature_K
        self.allowed_ranges = tuple(allowed_ranges)

    # ------------------------------------------------------------------ readings
    @property
    def read_temperature_command(self) -> str:
        return f"RDGK? {self.channel}"

    @property
    def temperature_K(self) -> float:
        """Get the channel's kelvin reading (``RDGK? <ch>``; 0 without a curve)."""
        return to_float(self.ask(self.read_temperature_command), "RDGK?")

    @property
    def resistance_ohm(self) -> float:
        """Get the channel's resistance reading in ohm (``RDGR? <ch>``)."""
        return to_float(self.ask(f"RDGR? {self.channel}"), "RDGR?")

    @property
    def reading_status(self) -> int:
        """Get the channel's status bits (``RDGST? <ch>``: 16 R.OVER, 32 R.UNDER, 64 T.OVER,
        128 T.UNDER, 1-8 overloads; 0 a valid reading)."""
        return int(to_float(self.ask(f"RDGST? {self.channel}"), "RDGST?"))

    @property
    def settle_status(self) -> tuple[int, int]:
        """Get (control input, scanned channel) settle states (``RDGSTL?``: 0 valid, 1 filter
        settling, 2 hardware settling)."""
        reply = self.ask("RDGSTL?")
        parts = [int(to_float(p, "RDGSTL?")) for p in reply.split(",")]
        if len(parts) != 2:
            raise ValueError(f"RDGSTL?: expected two states, got {reply!r}")
        return parts[0], parts[1]

    # ------------------------------------------------------------------ the scanner
    @property
    def scanner(self) -> tuple[str, bool]:
        """Get (channel, autoscan) of the scanner (``SCAN?``)."""
        reply = self.ask("SCAN?")
        parts = reply.split(",")
        if len(parts) != 2:
            raise ValueError(f"SCAN?: expected channel,autoscan, got {reply!r}")
        return str(int(to_float(parts[0], "SCAN?"))), bool(int(to_float(parts[1], "SCAN?")))

    def channel_timing(self) -> tuple[bool, float, float, bool, float]:
        """(enabled, dwell s, change pause s, filter on, filter settle s) of the channel
        (``INSET?`` and ``FILTER?``)."""
        inset = [to_float(x, "INSET?") for x in self.ask(f"INSET? {self.channel}").split(",")]
        filt = [to_float(x, "FILTER?") for x in self.ask(f"FILTER? {self.channel}").split(",")]
        if len(inset) != 5 or len(filt) != 3:
            raise ValueError("INSET?/FILTER?: unexpected reply")
        return bool(inset[0]), inset[1], inset[2], bool(filt[0]), filt[1]

    def select_channel(self) -> None:
        """Switch the scanner to the station's channel, autoscan off (``SCAN <ch>,0``)."""
        if self.channel == "A":
            return
        self.write(f"SCAN {int(self.channel)},0")
        self.check_set_errors()

    # ------------------------------------------------------------------ the sample heater
    @property
    def setpoint_K(self) -> float:
        return to_float(self.ask(f"SETP? {self.output}"), "SETP?")

    def set_setpoint_K(self, temperature_K: float) -> None:
        """Set the loop setpoint; refuses a value above the maximum temperature or below 0."""
        if self.max_temperature_K is None:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K refused: no maximum "
                             f"temperature configured")
        try:
            value = strict_limit(temperature_K, (0.0, self.max_temperature_K))
        except LimitError as exc:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K refused: {exc} K "
                             f"(station max_temperature_K)") from None
        self.write(f"SETP {self.output},{value:.6g}")
        self.check_set_errors()

    @property
    def heater_range(self) -> int:
        """Get the sample heater range code (``RANGE? 0``: 0 off, 1 = 31.6 uA .. 8 = 100 mA)."""
        code = int(to_float(self.ask(f"RANGE? {self.output}"), "RANGE?"))
        if code not in SAMPLE_HEATER_RANGE_A:
            raise ValueError(f"RANGE?: unknown sample heater range {code}")
        return code

    def set_heater_range(self, code: int) -> None:
        """Set the sample heater range; refuses one the station does not allow."""
        if code not in self.allowed_ranges:
            raise LimitError(f"{self.who()}: sample heater range {code!r} refused: the station "
                             f"allows {list(self.allowed_ranges)}")
        self.write(f"RANGE {self.output},{code}")
        self.check_set_errors()

    @property
    def output_mode(self) -> tuple[int, str]:
        """Get (mode code, control input) of the sample heater (``OUTMODE? 0``)."""
        reply = self.ask(f"OUTMODE? {self.output}")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) != 6:
            raise ValueError(f"OUTMODE?: expected six fields, got {reply!r}")
        inp = parts[1].upper()
        return int(to_float(parts[0], "OUTMODE?")), (inp if inp == "A" else str(int(to_float(inp, "OUTMODE?"))))

    @property
    def heater_resistance_ohm(self) -> float:
        """Get the sample heater resistance the 372 was told (``HTRSET? 0``)."""
        return to_float(self.ask(f"HTRSET? {self.output}").split(",")[0], "HTRSET?")

    @property
    def heater_output(self) -> float:
        """Get the sample heater output (``HTR?``: % of the range's current, or W)."""
        return to_float(self.ask("HTR?"), "HTR?")

    @property
    def still_output_percent(self) -> float:
        """Get the still output in % of its 10 V (``STILL?``)."""
        return to_float(self.ask("STILL?"), "STILL?")

    def settings_snapshot(self) -> dict:
        channel, autoscan = self.scanner
        return {"channel": self.channel, "output": self.output, "scanner_channel": channel,
                "autoscan": autoscan, "setpoint_K": self.setpoint_K,
                "heater_range": self.heater_range, "still_output_percent": self.still_output_percent,
                "max_temperature_K": self.max_temperature_K}

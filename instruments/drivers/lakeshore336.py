"""Lake Shore 336 temperature controller: pymeasure's LakeShore3xx with a setpoint ceiling.

The stock heater channel writes any setpoint. Here ``set_setpoint_K`` refuses a setpoint
above the station's maximum temperature (a sample, a cantilever or a SQUID can be destroyed
by heat) and the heater range must be one of the named ones.
"""
from __future__ import annotations

from pymeasure.instruments.lakeshore.lakeshore3xx import LakeShore3xx

from loopscope.instruments.drivers._base import LabInstrument, strict_choice, strict_limit, to_float
from loopscope.instruments.roles import LimitError

HEATER_RANGES = {"off": 0, "low": 1, "medium": 2, "high": 3}


class LakeShore336(LabInstrument, LakeShore3xx):
    """LakeShore 336: one control loop (output) regulating on one sensor input."""

    # <manufacturer>,<model>,<instrument serial>/<option card serial>,<firmware>, as the manuals
    # of the 335/336/350 family give *IDN? (e.g. "LSCI,MODEL350,1234567/1234567,1.0"); real 336
    # replies quoted in public lab scripts: "LSCI,MODEL336,LSA165V/#######,2.7",
    # "LSCI,MODEL336,LSA2CMQ/LSA2C8R,2.9". A 335 (two inputs, two outputs), 350 or 340 is
    # refused.
    IDN_PATTERN = r"^LSCI\s*,\s*MODEL\s*336\s*,"
    IDN_EXPECTED = "'LSCI,MODEL336,...'"
    MODEL = "Lake Shore 336"
    # no error queue: a refused command sets CME/EXE in *ESR? (read once after each setpoint)
    ERROR_QUERY = "*ESR?"
    ESR_ERROR_BITS = {32: "CME (command error)", 16: "EXE (execution error)",
                      4: "QYE (query error)"}

    def __init__(self, adapter, name="Lake Shore 336 temperature controller", *,
                 input_channel: str = "A", output_channel: int = 1,
                 max_temperature_K: float | None = None, **kwargs):
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)
        if input_channel not in "ABCD" or len(input_channel) != 1:
            raise LimitError(f"{self.who()}: input channel {input_channel!r} is not A, B, C or D")
        if output_channel not in (1, 2, 3, 4):
            raise LimitError(f"{self.who()}: output {output_channel!r} is not 1, 2, 3 or 4")
        self.input_channel = input_channel
        self.output_channel = output_channel
        self.max_temperature_K = max_temperature_K

    @property
    def read_temperature_command(self) -> str:
        return f"KRDG? {self.input_channel}"

    @property
    def temperature_K(self) -> float:
        """Get the temperature of the control input in K (``KRDG? <input>``)."""
        return to_float(self.ask(self.read_temperature_command), "KRDG?")

    @property
    def setpoint_K(self) -> float:
        """Get the control loop setpoint in K (``SETP? <output>``)."""
        return to_float(self.ask(f"SETP? {self.output_channel}"), "SETP?")

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
        self.write(f"SETP {self.output_channel},{value:g}")
        self.check_set_errors()

    @property
    def heater_range(self) -> str:
        """Get the heater range word: off, low, medium, high (``RANGE? <output>``)."""
        code = int(to_float(self.ask(f"RANGE? {self.output_channel}"), "RANGE?"))
        for word, number in HEATER_RANGES.items():
            if number == code:
                return word
        raise ValueError(f"RANGE?: unknown heater range code {code}")

    def set_heater_range(self, word: str) -> None:
        try:
            strict_choice(word, HEATER_RANGES)
        except LimitError as exc:
            raise LimitError(f"{self.who()}: heater range refused: {exc}") from None
        self.write(f"RANGE {self.output_channel},{HEATER_RANGES[word]}")
        self.check_set_errors()

    @property
    def output_mode(self) -> tuple[int, str, bool]:
        """Get (mode code, control input letter or "", powerup enable) of the output
        (``OUTMODE? <output>``: mode 0 off, 1 closed loop PID, 2 zone, 3 open loop, 4 monitor
        out, 5 warmup supply; input 0 none, 1-4 A-D, as the 336 manual gives them)."""
        reply = self.ask(f"OUTMODE? {self.output_channel}")
        fields = [int(to_float(f, "OUTMODE?")) for f in reply.split(",")]
        if len(fields) != 3:
            raise ValueError(f"OUTMODE?: expected mode,input,powerup, got {reply!r}")
        mode, inp, powerup = fields
        return mode, ("" if inp == 0 else "ABCD"[inp - 1]), bool(powerup)

    @property
    def heater_output_percent(self) -> float:
        return to_float(self.ask(f"HTR? {self.output_channel}"), "HTR?")

    def settings_snapshot(self) -> dict:
        return {"input_channel": self.input_channel, "output_channel": self.output_channel,
                "setpoint_K": self.setpoint_K, "heater_range": self.heater_range,
                "max_temperature_K": self.max_temperature_K}

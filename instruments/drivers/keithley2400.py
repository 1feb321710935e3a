"""Keithley 2400 SourceMeter: pymeasure's Keithley2400 made safe to drive a sample with.

What is changed from the stock driver, and why:

- Its constructor writes ``:FORMAT:ELEMENTS ...``; loopscope's connect sends queries only (a
  station check must not change an instrument), so the reading format is written by
  ``prepare_reading_format()``, which the role calls before its first reading.
- Its ``current`` and ``voltage`` are ``:MEASURE:<function>?``, which runs ``:CONFigure`` first:
  the manual (table 17-1, ":MEASure?") says that turns the output ON and resets the function's
  range and integration time. A reading must never switch a current into the sample, so both
  read ``:READ?`` here (an error, +803, with the output off) and take their element from it.
- ``source_mode`` refuses to change the source function while the output is on: a 2400
  sourcing 1 mA that is switched to voltage sourcing jumps to whatever voltage level it holds
  into the sample, a spike. Nothing is sent; the output must be switched off first.
- Setpoints (source current and voltage, compliances, output) refuse out-of-range values with
  LimitError instead of pymeasure's ValueError, and each is followed by ``SYST:ERR?``.
"""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2400 as StockKeithley2400
from pymeasure.instruments.validators import strict_discrete_set

from loopscope.instruments.drivers._base import LabInstrument, float_reply, strict_limit, to_float
from loopscope.instruments.roles import InstrumentError

#: the status word's compliance bit (manual 18-51, ":FORMat:ELEMents" STATus)
STATUS_COMPLIANCE = 1 << 3
#: what the 2400 reports for an element neither sourced nor measured, and for an overflow
NAN_READING, OVERFLOW_READING = 9.91e37, 9.9e37
READING_ELEMENTS = ("voltage", "current", "resistance", "time", "status")


class Keithley2400(LabInstrument, StockKeithley2400):
    """Keithley 2400 SourceMeter (the 2400 itself: ±1.05 A, ±210 V)."""

    # The manual (16-3, *IDN?) gives "KEITHLEY INSTRUMENTS INC.,MODEL 2400,xxxxxxx,yyyyy/zzzzz
    # /a/d" (pymeasure's tests/instruments/keithley/test_keithley2400.py quotes the same template
    # with "MODEL nnnn"). The other models of the series (2401, 2410 1100 V, 2420 3 A, 2425, 2430,
    # 2440 5 A) share the command set but not the ranges the limits below rest on: refused.
    IDN_PATTERN = r"^KEITHLEY\s+INSTRUMENTS(?:\s+INC\.?)?\s*,\s*MODEL\s*2400(?![0-9])"
    IDN_EXPECTED = "'KEITHLEY INSTRUMENTS INC.,MODEL 2400,...'"
    MODEL = "Keithley 2400"
    SNAPSHOT_PROPERTIES = ("source_mode", "source_enabled", "source_current", "compliance_voltage",
                           "source_current_range", "voltage_nplc", "wires", "auto_output_off_enabled")
    MAX_CURRENT_A, MAX_VOLTAGE_V = 1.05, 210.0

    def __init__(self, adapter, name="Keithley 2400 SourceMeter", **kwargs):
        # LF on GPIB and LAN-to-GPIB bridges (the stock driver sets none, pyvisa's default);
        # its RS-232 terminators come from instruments.visa_interfaces.MODEL_DEFAULTS
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        self.__dict__["_constructing"] = True
        try:
            super().__init__(adapter, name, **kwargs)
        finally:
            self.__dict__["_constructing"] = False

    def reset_data_format(self):
        """The stock constructor's write, deferred (see the module docstring)."""
        if self.__dict__.get("_constructing"):
            return
        super().reset_data_format()
        self.check_set_errors()

    prepare_reading_format = reset_data_format

    # -- source ------------------------------------------------------------------------------
    @property
    def source_mode(self) -> str:
        reply = str(self.ask(":SOURCE:FUNCTION?")).strip().upper()
        modes = {"CURR": "current", "VOLT": "voltage"}
        if reply not in modes:
            raise ValueError(f":SOURCE:FUNCTION?: unparsable reply {reply!r}")
        return modes[reply]

    @source_mode.setter
    def source_mode(self, mode: str) -> None:
        words = {"current": "CURR", "voltage": "VOLT"}
        strict_discrete_set(mode, words)
        if mode != self.source_mode and self.source_enabled:
            raise InstrumentError(
                f"{self.who()}: source_mode = {mode!r} refused with the output on: switching the "
                f"source function under load steps the sample to the other function's level; "
                f"switch the output off first")
        self.write(f":SOURCE:FUNCTION {words[mode]}")
        self.check_set_errors()

    source_enabled = Instrument.control(
        "OUTPUT?", "OUTPUT %d", """Control whether the source output is on (bool).""",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True,
        check_set_errors=True)

    source_current = Instrument.control(
        ":SOURCE:CURRENT?", ":SOURCE:CURRENT %g",
        """Control the source current in A (±1.05 A; refuses others).""",
        validator=strict_limit, values=(-MAX_CURRENT_A, MAX_CURRENT_A),
        get_process=float_reply(":SOURCE:CURRENT?"), check_set_errors=True)

    source_voltage = Instrument.control(
        ":SOURCE:VOLTAGE?", ":SOURCE:VOLTAGE %g",
        """Control the source voltage in V (±210 V; refuses others).""",
        validator=strict_limit, values=(-MAX_VOLTAGE_V, MAX_VOLTAGE_V),
        get_process=float_reply(":SOURCE:VOLTAGE?"), check_set_errors=True)

    source_current_range = Instrument.control(
        ":SOURCE:CURRENT:RANGE?", ":SOURCE:CURRENT:RANGE %g",
        """Control the source current range in A (the lowest range that holds the value;
        auto range off).""",
        validator=strict_limit, values=(-MAX_CURRENT_A, MAX_CURRENT_A),
        get_process=float_reply(":SOURCE:CURRENT:RANGE?"), check_set_errors=True)

    compliance_voltage = Instrument.control(
        ":SENSE:VOLTAGE:PROTECTION?", ":SENSE:VOLTAGE:PROTECTION %g",
        """Control the voltage compliance in V (0..210 V; refuses others).""",
        validator=strict_limit, values=(0, MAX_VOLTAGE_V),
        get_process=float_reply(":SENSE:VOLTAGE:PROTECTION?"), check_set_errors=True)

    compliance_current = Instrument.control(
        ":SENSE:CURRENT:PROTECTION?", ":SENSE:CURRENT:PROTECTION %g",
        """Control the current compliance in A (0..1.05 A; refuses others).""",
        validator=strict_limit, values=(0, MAX_CURRENT_A),
        get_process=float_reply(":SENSE:CURRENT:PROTECTION?"), check_set_errors=True)

    # -- readings ------------------------------------------------------------------------------
    READ_ALL = ":READ?"

    @staticmethod
    def parse_reading(reply, what: str = READ_ALL) -> dict:
        """The five elements of one reading (VOLT, CURR, RES, TIME, STAT) as a dict; NAN and
        overflow markers become float('nan') / float('inf')."""
        if isinstance(reply, str):
            fields = [f for f in reply.strip().split(",") if f.strip()]
        else:
            fields = list(reply)
        if len(fields) != len(READING_ELEMENTS):
            raise ValueError(f"{what}: expected {len(READING_ELEMENTS)} elements "
                             f"(voltage, current, resistance, time, status), got {reply!r}")
        values = [to_float(f, what) for f in fields]
        out = {}
        for key, v in zip(READING_ELEMENTS, values):
            if key != "status" and abs(v) >= NAN_READING * 0.999:
                v = float("nan")
            elif key != "status" and abs(v) >= OVERFLOW_READING * 0.999:
                v = float("inf")
            out[key] = v
        out["status"] = int(out["status"])
        out["compliance"] = bool(out["status"] & STATUS_COMPLIANCE)
        return out

    def read_all(self) -> dict:
        """One triggered reading (``:READ?``): needs the output on (else the 2400 answers
        error +803), never switches it on."""
        return self.parse_reading(self.ask(self.READ_ALL))

    voltage = Instrument.measurement(
        READ_ALL, """Measure the voltage in V (``:READ?``; never turns the output on).""",
        get_process_list=lambda v: Keithley2400.parse_reading(v)["voltage"])

    current = Instrument.measurement(
        READ_ALL, """Measure the current in A (``:READ?``; never turns the output on).""",
        get_process_list=lambda v: Keithley2400.parse_reading(v)["current"])

"""Cryomagnetics Model 4G superconducting magnet power supply, pymeasure-style.

pymeasure has no driver for the 4G (none under pymeasure/instruments/), so this is a plain
pymeasure ``Instrument`` with properties. Nothing is written at construction or by a reading:
connect sends *IDN? and queries only; REMOTE goes out with the first setpoint.

The command set (sim_devices/instruments/cryomagnetics4g.py names the sources; the manual
itself was not found): readings carry their unit, ``IMAG?`` / ``IOUT?`` / ``ULIM?`` /
``LLIM?`` as ``<number>A`` or ``<number>kG`` (A when ``UNITS?`` answers A; kilogauss when it
answers G, kG or T), ``VMAG?`` / ``VOUT?`` / ``VLIM?`` as ``<number>V``; sweep limits are set in
the present units, ``RANGE n`` bounds in A, ``RATE n`` rates in A/s (n = 0..4 the ranges,
5 the fast rate). ``SWEEP UP|DOWN|ZERO|PAUSE [FAST|SLOW]`` move the output; ``PSHTR ON|OFF``
the persistent-switch heater; ``QRESET`` clears a quench; ``*STB?`` bit 0 sweep active, 1
standby, 2 quench condition, 3 power module failure. No error queue: a refused command sets
*ESR? bits (CME, EXE), read after every setting command (``check_set_errors``).

RS-232: the 4G echoes every command line before its reply. On an ASRL resource this driver
reads the echo after each write and checks it is the command sent (a different line means
the exchange is out of step: InstrumentError, nothing guessed), so ``ask`` reads the reply
proper. GPIB and Ethernet do not echo.

Limits (construction): a sweep limit, ramp rate or fast rate beyond ``max_field_T`` /
``max_current_A`` / ``max_ramp_rate_A_per_s`` is refused before anything is sent (LimitError);
without limits every setpoint is refused. The heater is never switched on while the supply
current differs from the magnet current by more than ``mismatch_tolerance_A``.
"""
from __future__ import annotations

import re

from pymeasure.instruments import Instrument

from loopscope.instruments.drivers._base import LabInstrument, strict_limit, to_float
from loopscope.instruments.roles import InstrumentError, LimitError

#: UNITS? answers -> the unit the readings and sweep limits are in
READING_UNIT = {"A": "A", "G": "kG", "KG": "kG", "T": "kG"}
TESLA_PER_KG = 0.1
N_RANGES = 5        # RANGE/RATE 0..4
FAST_RATE = 5       # RATE 5: the fast sweep rate
#: *STB? bits (QCoDeS's CryomagneticsModel4G reads the same)
STB_SWEEPING, STB_STANDBY, STB_QUENCH, STB_POWER_FAILURE = 1, 2, 4, 8

_READING = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")


def parse_reading(reply: str, what: str) -> tuple[float, str]:
    """``"12.3456kG"`` -> (12.3456, "kG"); ValueError if garbled."""
    m = _READING.match(str(reply))
    if not m:
        raise ValueError(f"{what}: unparsable reply {reply!r} (expected <number><unit>)")
    unit = m.group(2)
    unit = {"KG": "kG", "kg": "kG", "a": "A", "v": "V"}.get(unit, unit)
    return float(m.group(1)), unit


def parse_volts(reply: str, what: str) -> float:
    value, unit = parse_reading(reply, what)
    if unit != "V":
        raise ValueError(f"{what}: expected volts, got {reply!r}")
    return value


class Cryomagnetics4G(LabInstrument, Instrument):
    """Cryomagnetics 4G with sweep-limit, rate and heater interlocks."""

    # "Cryomagnetics,4G,<serial>,<firmware>": QCoDeS's recorded sim reply is
    # "Cryomagnetics,4G,2239,1.02,208" (src/qcodes/instrument/sims/cryo4g.yaml). The older
    # CS-4 and other Cryomagnetics products (LM-510 level meter, TM-620) are refused.
    IDN_PATTERN = r"^CRYOMAGNETICS(?:\s*,\s*|\s+)(?:MODEL\s*)?4G(?![0-9A-Z])"
    IDN_EXPECTED = "'Cryomagnetics,4G,...'"
    MODEL = "Cryomagnetics 4G"
    ERROR_QUERY = "*ESR?"
    ESR_ERROR_BITS = {32: "CME (command error)", 16: "EXE (execution error)",
                      8: "DDE (device-dependent error)", 4: "QYE (query error)"}
    SNAPSHOT_PROPERTIES = ("units", "magnet_reading", "supply_reading", "upper_limit",
                           "lower_limit", "voltage_limit", "sweep_status", "heater_on",
                           "ranges", "rates")

    #: |supply - magnet| current, A, above which the heater must not be switched on
    mismatch_tolerance_A = 0.05

    def __init__(self, adapter, name="Cryomagnetics 4G superconducting magnet supply", *,
                 coil_constant_T_per_A: float | None = None, max_field_T: float | None = None,
                 max_current_A: float | None = None,
                 max_ramp_rate_A_per_s: float | None = None, echo: bool | None = None,
                 **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\r\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        self.coil_constant_T_per_A = coil_constant_T_per_A
        self.max_field_T = max_field_T
        self.max_current_A = max_current_A
        self.max_ramp_rate_A_per_s = max_ramp_rate_A_per_s
        if echo is None:
            echo = self.resource.upper().startswith("ASRL")
        #: the RS-232 port echoes each command line: read it back after every write
        self.echo = bool(echo)
        self._remote_sent = False

    # the RS-232 echo ---------------------------------------------------------------------
    def write(self, command: str, **kwargs) -> None:
        super().write(command, **kwargs)
        if self.echo:
            echoed = self.read().strip()
            if echoed != command.strip():
                raise InstrumentError(
                    f"{self.who()}: sent {command!r} but the echo was {echoed!r}; the exchange "
                    f"is out of step (another client on the port, or no echo here?)")

    # readings ------------------------------------------------------------------------------
    @property
    def units(self) -> str:
        """Get the units setting as answered by ``UNITS?`` (A, G, kG or T)."""
        reply = str(self.ask("UNITS?")).strip()
        if reply.upper() not in READING_UNIT:
            raise ValueError(f"UNITS?: unexpected reply {reply!r}")
        return reply

    def _reading(self, query: str) -> tuple[float, str]:
        value, unit = parse_reading(self.ask(query), query)
        if unit not in ("A", "kG"):
            raise ValueError(f"{query}: unexpected unit {unit!r} in {value}{unit}")
        return value, unit

    magnet_reading = property(lambda self: self._reading("IMAG?"), doc="""Get (value, unit)
        of IMAG?: the magnet current (A) or field (kG); with the heater off, what the supply
        put in the magnet when the heater last went off.""")
    supply_reading = property(lambda self: self._reading("IOUT?"), doc="""Get (value, unit)
        of IOUT?: the supply output current (A) or its field (kG).""")
    upper_limit = property(lambda self: self._reading("ULIM?"),
                           doc="Get (value, unit) of the upper sweep limit (ULIM?).")
    lower_limit = property(lambda self: self._reading("LLIM?"),
                           doc="Get (value, unit) of the lower sweep limit (LLIM?).")

    magnet_voltage = Instrument.measurement(
        "VMAG?", """Get the magnet voltage in V (VMAG?).""",
        get_process=lambda v: parse_volts(v, "VMAG?"))
    output_voltage = Instrument.measurement(
        "VOUT?", """Get the output voltage in V (VOUT?).""",
        get_process=lambda v: parse_volts(v, "VOUT?"))
    voltage_limit = Instrument.measurement(
        "VLIM?", """Get the output voltage limit in V (VLIM?).""",
        get_process=lambda v: parse_volts(v, "VLIM?"))
    sweep_status = Instrument.measurement(
        "SWEEP?", """Get the sweep status words (e.g. "sweep up fast", "sweep paused").""",
        get_process=lambda v: str(v).strip())
    mode = Instrument.measurement("MODE?", """Get the operating mode (Manual or Shim).""",
                                  get_process=lambda v: str(v).strip())
    status_byte = Instrument.measurement(
        "*STB?", """Get the status byte: bit 0 sweep active, 1 standby, 2 quench condition,
        3 power module failure.""", get_process=lambda v: int(to_float(v, "*STB?")))

    @property
    def heater_on(self) -> bool:
        """Get whether the persistent-switch heater is on (PSHTR?)."""
        reply = str(self.ask("PSHTR?")).strip()
        if reply not in ("0", "1"):
            raise ValueError(f"PSHTR?: expected 0 or 1, got {reply!r}")
        return reply == "1"

    def range_bound(self, k: int) -> float:
        """Upper bound of sweep range k in A (RANGE? k; range 4 runs to the maximum)."""
        return to_float(self.ask(f"RANGE? {int(k)}"), f"RANGE? {k}")

    def rate(self, k: int) -> float:
        """Sweep rate of range k in A/s (RATE? k; k = 5 the fast rate)."""
        return to_float(self.ask(f"RATE? {int(k)}"), f"RATE? {k}")

    @property
    def ranges(self) -> list[float]:
        return [self.range_bound(k) for k in range(N_RANGES)]

    @property
    def rates(self) -> list[float]:
        return [self.rate(k) for k in range(N_RANGES + 1)]

    # conversions ------------------------------------------------------------------------
    def _coil(self) -> float:
        if not self.coil_constant_T_per_A:
            raise LimitError("no coil constant configured for this driver")
        return float(self.coil_constant_T_per_A)

    def to_amperes(self, value: float, unit: str) -> float:
        return value if unit == "A" else value * TESLA_PER_KG / self._coil()

    def from_amperes(self, amps: float, unit: str) -> float:
        return amps if unit == "A" else amps * self._coil() / TESLA_PER_KG

    @property
    def magnet_current_A(self) -> float:
        return self.to_amperes(*self.magnet_reading)

    @property
    def supply_current_A(self) -> float:
        return self.to_amperes(*self.supply_reading)

    # setpoints --------------------------------------------------------------------------
    def _limits(self) -> tuple[float, float]:
        if self.max_current_A is None or self.max_ramp_rate_A_per_s is None:
            raise LimitError("no limit configured for this driver (construct it with "
                             "coil_constant_T_per_A, max_field_T, max_current_A and "
                             "max_ramp_rate_A_per_s)")
        max_A = float(self.max_current_A)
        if self.max_field_T is not None:
            max_A = min(max_A, float(self.max_field_T) / self._coil())
        return max_A, float(self.max_ramp_rate_A_per_s)

    def ensure_remote(self) -> None:
        """REMOTE, once per session: the 4G takes setting commands in remote mode only."""
        if not self._remote_sent:
            self.write("REMOTE")
            self.check_set_errors()
            self._remote_sent = True

    def set_sweep_limit(self, amps: float, unit: str, upper: bool) -> None:
        """ULIM / LLIM in the supply's present units (``unit`` from UNITS?), checked in A."""
        max_A, _ = self._limits()
        try:
            strict_limit(amps, (-max_A, max_A))
        except LimitError as exc:
            raise LimitError(f"{self.who()}: sweep limit {amps!r} A refused: {exc}") from None
        self.ensure_remote()
        self.write(f"{'ULIM' if upper else 'LLIM'} {self.from_amperes(amps, unit):.4f}")
        self.check_set_errors()

    def set_rate(self, k: int, rate_A_per_s: float) -> None:
        """RATE k rate (A/s), within the ramp-rate limit and positive."""
        _, max_rate = self._limits()
        if not 0 <= int(k) <= FAST_RATE:
            raise LimitError(f"{self.who()}: rate index {k} outside 0..{FAST_RATE}")
        try:
            strict_limit(rate_A_per_s, (0.0, max_rate))
        except LimitError as exc:
            raise LimitError(f"{self.who()}: RATE {k} {rate_A_per_s!r} A/s refused: {exc}") from None
        if not rate_A_per_s > 0:
            raise LimitError(f"{self.who()}: a sweep rate must be positive")
        self.ensure_remote()
        self.write(f"RATE {int(k)} {rate_A_per_s:.6g}")
        self.check_set_errors()

    def sweep(self, direction: str, fast: bool = False) -> None:
        """SWEEP UP / DOWN / ZERO, SLOW unless fast (FAST uses RATE 5)."""
        direction = direction.upper()
        if direction not in ("UP", "DOWN", "ZERO"):
            raise ValueError(f"sweep direction {direction!r}: UP, DOWN or ZERO")
        self.ensure_remote()
        self.write(f"SWEEP {direction} {'FAST' if fast else 'SLOW'}")
        self.check_set_errors()

    def pause(self) -> None:
        self.ensure_remote()
        self.write("SWEEP PAUSE")
        self.check_set_errors()

    def switch_heater_on(self) -> None:
        """PSHTR ON, only while the supply current matches the magnet current."""
        supply, magnet = self.supply_current_A, self.magnet_current_A
        if abs(supply - magnet) > self.mismatch_tolerance_A:
            raise InstrumentError(
                f"{self.who()}: refusing to switch the persistent-switch heater on: supply "
                f"current {supply:g} A differs from magnet current {magnet:g} A by more than "
                f"{self.mismatch_tolerance_A:g} A; sweep the leads to the magnet current first")
        self.ensure_remote()
        self.write("PSHTR ON")
        self.check_set_errors()

    def switch_heater_off(self) -> None:
        self.ensure_remote()
        self.write("PSHTR OFF")
        self.check_set_errors()

    def reset_quench(self) -> None:
        """QRESET. Only a person decides to do this."""
        self.ensure_remote()
        self.write("QRESET")
        self.check_set_errors()

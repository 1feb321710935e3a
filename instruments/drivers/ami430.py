"""AMI Model 430 superconducting magnet supply: pymeasure's AMI430 with limits and interlocks.

The stock driver sends any field, current or ramp rate it is given and switches the
persistent-switch heater on whatever the currents are. This subclass:

- refuses (LimitError, nothing sent) a target field, target current or ramp rate beyond the
  limits given at construction; without limits it refuses every setpoint;
- refuses to switch the heater on while the supply current differs from the magnet current
  (the classic way to quench a persistent magnet);
- fixes the stock ramp-rate command (the AMI wants ``segment,rate,upper bound``; the stock
  driver hard-codes an upper bound of 1, in whatever field unit the supply is in);
- reads ``SYST:ERR?`` after every command that changes the supply (rate, target, RAMP,
  PAUSE, ZERO, PSwitch, QU 0): a refused one raises RefusedCommandError with the 430's own
  code and text (e.g. ``-105,"Out of range"``), before the next command is sent.

Units. The 430 answers and takes every field in its FIELD:UNITS (0 kilogauss, 1 tesla), the
coil constant in kG/A or T/A, and every ramp rate per the time unit of RAMP:RATE:UNITS
(0 per second, 1 per minute); currents are in A either way. A supply keeps the units its last
user chose (QCoDeS sets tesla), so nothing is assumed: ``read_units()`` asks both (queries
only, nothing is changed) and until it has, every field or rate setpoint is refused. The
properties of the stock driver (``field``, ``target_field``, ``ramp_rate_field``,
``coilconst``) stay in the supply's units; ``field_T``, ``coil_constant_T_per_A``,
``to_tesla()``, ``from_tesla()``, ``rate_to_T_per_min()`` and ``rate_from_T_per_min()``
convert with the units last read. The limits are kept in SI and converted when checked.
"""
from __future__ import annotations

import pyvisa
from pymeasure.instruments import Instrument
from pymeasure.instruments.ami import AMI430 as StockAMI430

from loopscope.instruments.drivers._base import LabInstrument, float_reply, strict_limit, to_float
from loopscope.instruments.roles import InstrumentError, LimitError

STATE_WORDS = {
    1: "RAMPING", 2: "HOLDING", 3: "PAUSED", 4: "MANUAL UP", 5: "MANUAL DOWN",
    6: "ZEROING", 7: "QUENCH", 8: "AT ZERO", 9: "HEATING SWITCH", 10: "COOLING SWITCH",
}
RAMPING, HOLDING, PAUSED, ZEROING, QUENCH, AT_ZERO, HEATING, COOLING = 1, 2, 3, 6, 7, 8, 9, 10

#: FIELD:UNITS? codes (the 430 manual): the unit's name and tesla per unit
FIELD_UNITS = {0: "kG", 1: "T"}
TESLA_PER_FIELD_UNIT = {0: 0.1, 1: 1.0}
#: RAMP:RATE:UNITS? codes: the time unit of every ramp rate and seconds per unit
RATE_TIME_UNITS = {0: "s", 1: "min"}
SECONDS_PER_TIME_UNIT = {0: 1.0, 1: 60.0}

UNITS_UNKNOWN = ("the supply's field and ramp-rate units are not known: read them first "
                 "(read_units() asks FIELD:UNITS? and RAMP:RATE:UNITS?)")


class _Refusal:
    """A validator range that refuses every value, with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _optional_limit(value, limits):
    if isinstance(limits, _Refusal):
        raise LimitError(limits.reason)
    if limits is None:
        raise LimitError("no limit configured for this driver (construct it with max_field_T, "
                         "max_current_A and max_ramp_rate_T_per_min)")
    return strict_limit(value, limits)


def _unit_code(reply, query: str) -> int:
    code = to_float(reply, query)
    if code not in (0.0, 1.0):
        raise ValueError(f"{query}: expected 0 or 1, got {reply!r}")
    return int(code)


class AMI430(LabInstrument, StockAMI430):
    """AMI 430 with field, current and ramp-rate limits and a heater-mismatch interlock."""

    # "AMERICAN MAGNETICS INC.,MODEL 430,<serial>,<firmware>": AMI's own Magnet-DAQ reads the
    # serial number from the third field and the firmware from the last
    # (American-Magnetics-Inc/magnet-daq, Magnet-DAQ/socket.cpp); older firmware answers
    # without the serial ("AMERICAN MAGNETICS INC.,MODEL 430,1.62", in public socket scripts).
    # The older Model 420 programmer (another command set) and other AMI products are refused.
    IDN_PATTERN = r"^AMERICAN\s+MAGNETICS(?:\s+INC\.?)?\s*,\s*MODEL\s*430(?![0-9])"
    IDN_EXPECTED = "'AMERICAN MAGNETICS INC.,MODEL 430,...'"
    MODEL = "AMI 430"
    SNAPSHOT_PROPERTIES = ("field_units", "ramp_rate_units", "coilconst", "field",
                           "magnet_current", "supply_current", "target_field", "ramp_rate_field",
                           "ramp_segments", "state_word", "persistent_switch_heater_on",
                           "current_limit", "voltage_limit")

    #: |supply - magnet| current, in A, above which the heater must not be switched on
    mismatch_tolerance_A = 0.05

    def __init__(self, adapter, name="AMI 430 superconducting magnet supply", *,
                 max_field_T: float | None = None, max_current_A: float | None = None,
                 max_ramp_rate_T_per_min: float | None = None, **kwargs):
        # the stock __init__ reads the two welcome lines the AMI sends on connect; an
        # instrument that sends none is not an AMI 430 (or not one in remote mode)
        try:
            super().__init__(adapter, name, **kwargs)
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code != pyvisa.constants.StatusCode.error_timeout:
                raise
            resource = adapter if isinstance(adapter, str) else getattr(adapter, "resource_name", "")
            adapter_obj = self.__dict__.get("adapter")
            if adapter_obj is not None:
                adapter_obj.close()
            raise InstrumentError(
                f"wrong instrument at {resource}: no welcome message within the timeout; an "
                f"AMI 430 greets every new connection (is this an AMI 430?)") from None
        #: (FIELD:UNITS code, RAMP:RATE:UNITS code) as last read; None until read_units()
        self.units: tuple[int, int] | None = None
        self.set_limits(max_field_T, max_current_A, max_ramp_rate_T_per_min)

    def set_limits(self, max_field_T, max_current_A, max_ramp_rate_T_per_min) -> None:
        """The limits in SI; setpoints are checked against them in the supply's units."""
        self.max_field_T = max_field_T
        self.max_current_A = max_current_A
        self.max_ramp_rate_T_per_min = max_ramp_rate_T_per_min
        self._apply_limits()

    def _apply_limits(self) -> None:
        if self.max_field_T is None:
            self.target_field_values = None
        elif self.units is None:
            self.target_field_values = _Refusal(UNITS_UNKNOWN)
        else:
            limit = self.from_tesla(self.max_field_T)
            self.target_field_values = (-limit, limit)
        self.target_current_values = (None if self.max_current_A is None
                                      else (-self.max_current_A, self.max_current_A))

    # units ----------------------------------------------------------------------------
    field_units = Instrument.measurement(
        "FIELD:UNITS?", """Get the field unit code: 0 kilogauss, 1 tesla.""",
        get_process=lambda v: _unit_code(v, "FIELD:UNITS?"))

    ramp_rate_units = Instrument.measurement(
        "RAMP:RATE:UNITS?", """Get the ramp-rate time unit code: 0 per second, 1 per minute.""",
        get_process=lambda v: _unit_code(v, "RAMP:RATE:UNITS?"))

    def read_units(self) -> tuple[int, int]:
        """Ask FIELD:UNITS? and RAMP:RATE:UNITS? (queries only) and convert with them from now on.

        Returns (field code, rate code)."""
        units = (self.field_units, self.ramp_rate_units)
        self.units = units
        self._apply_limits()
        return units

    def _known_units(self) -> tuple[int, int]:
        if self.units is None:
            raise InstrumentError(f"{self.who()}: {UNITS_UNKNOWN}")
        return self.units

    @property
    def field_unit(self) -> str:
        """"kG" or "T": the unit of every field the supply takes and answers."""
        return FIELD_UNITS[self._known_units()[0]]

    @property
    def rate_unit(self) -> str:
        """"kG/s", "kG/min", "T/s" or "T/min": the unit of every field ramp rate."""
        field, time = self._known_units()
        return f"{FIELD_UNITS[field]}/{RATE_TIME_UNITS[time]}"

    def to_tesla(self, value: float) -> float:
        """A field (or, per ampere, a coil constant) in the supply's units -> T (T/A)."""
        return value * TESLA_PER_FIELD_UNIT[self._known_units()[0]]

    def from_tesla(self, value_T: float) -> float:
        return value_T / TESLA_PER_FIELD_UNIT[self._known_units()[0]]

    def rate_to_T_per_min(self, rate: float) -> float:
        """A field ramp rate in the supply's units -> T/min."""
        field, time = self._known_units()
        return rate * TESLA_PER_FIELD_UNIT[field] * 60.0 / SECONDS_PER_TIME_UNIT[time]

    def rate_from_T_per_min(self, rate_T_per_min: float) -> float:
        field, time = self._known_units()
        return rate_T_per_min / TESLA_PER_FIELD_UNIT[field] * SECONDS_PER_TIME_UNIT[time] / 60.0

    @property
    def field_T(self) -> float:
        """Get the magnet field in T (FIELD:MAG? in the supply's units, converted)."""
        return self.to_tesla(self.field)

    @property
    def coil_constant_T_per_A(self) -> float:
        """Get the coil constant in T/A (COIL? in kG/A or T/A, converted)."""
        return self.to_tesla(self.coilconst)

    # setpoints with limits ----------------------------------------------------------
    target_field = Instrument.control(
        "FIELD:TARG?", "CONF:FIELD:TARG %g",
        """Control the target field in the supply's unit (kG or T: FIELD:UNITS); refuses
        values beyond the field limit, and every value until the units are read.""",
        validator=_optional_limit, values=None, dynamic=True,
        get_process=float_reply("FIELD:TARG?"), check_set_errors=True)

    target_current = Instrument.control(
        "CURR:TARG?", "CONF:CURR:TARG %g",
        """Control the target current in A; refuses values beyond the current limit.""",
        validator=_optional_limit, values=None, dynamic=True,
        get_process=float_reply("CURR:TARG?"), check_set_errors=True)

    @property
    def ramp_rate_field(self) -> float:
        """Control the segment-1 field ramp rate in the supply's units (kG or T per s or min);
        refuses rates beyond the limit.

        Set writes ``CONF:RAMP:RATE:FIELD 1,<rate>,<upper bound>`` with the field limit as
        the upper bound of the single segment (``set_segment_rate`` writes another one)."""
        return self.ramp_segment_field(1)[0]

    @ramp_rate_field.setter
    def ramp_rate_field(self, rate: float) -> None:
        self.write(self._segment_rate_command(1, rate, None))
        self.check_set_errors()

    def set_segment_rate(self, segment: int, rate: float, upper: float | None) -> None:
        """Write ``CONF:RAMP:RATE:FIELD <segment>,<rate>,<upper>`` in the supply's units; the
        rate must be positive and within the ramp-rate limit. ``upper`` None: the field limit."""
        try:
            command = self._segment_rate_command(segment, rate, upper)
        except LimitError as exc:
            raise LimitError(f"{self.who()}: ramp segment {segment} rate {rate!r} refused: "
                             f"{exc}") from None
        self.write(command)
        self.check_set_errors()

    def _segment_rate_command(self, segment: int, rate: float, upper: float | None) -> str:
        if self.max_ramp_rate_T_per_min is None or self.max_field_T is None:
            _optional_limit(rate, None)
        if self.units is None:
            raise LimitError(UNITS_UNKNOWN)
        unit = self.rate_unit
        rate = strict_limit(rate, (0.0, self.rate_from_T_per_min(self.max_ramp_rate_T_per_min)))
        if rate <= 0:
            raise LimitError(f"value {rate:g} {unit}: a ramp rate must be positive")
        if upper is None:
            upper = self.from_tesla(self.max_field_T)
        return f"CONF:RAMP:RATE:FIELD {int(segment)},{rate:g},{upper:g}"

    # the stock actions, each followed by the error check --------------------------------
    def ramp(self) -> None:
        """Start ramping to the target (``RAMP``)."""
        self.write("RAMP")
        self.check_set_errors()

    def pause(self) -> None:
        """Pause the ramp, holding the present current (``PAUSE``)."""
        self.write("PAUSE")
        self.check_set_errors()

    def zero(self) -> None:
        """Ramp to zero current (``ZERO``)."""
        self.write("ZERO")
        self.check_set_errors()

    ramp_rate_current = property(
        lambda self: to_float(self.values("RAMP:RATE:CURR:1?")[0], "RAMP:RATE:CURR:1?"),
        doc="Get the segment-1 current ramp rate in A per second or minute (RAMP:RATE:UNITS).")

    ramp_segments = Instrument.measurement(
        "RAMP:RATE:SEG?", """Get the number of ramp segments in use (1 to 10).""",
        get_process=lambda v: int(to_float(v, "RAMP:RATE:SEG?")))

    def ramp_segment_field(self, segment: int) -> tuple[float, float]:
        """(rate, upper bound) of a ramp segment, ``RAMP:RATE:FIELD:<n>?``, in the supply's
        units: the segment applies from the previous segment's bound (0 for the first) to its
        own; the last one up to the current limit."""
        query = f"RAMP:RATE:FIELD:{int(segment)}?"
        reply = self.values(query)
        if len(reply) != 2:
            raise ValueError(f"{query}: expected 'rate,upper bound', got {reply!r}")
        return to_float(reply[0], query), to_float(reply[1], query)

    # readings that must be numbers -----------------------------------------------------
    field = Instrument.measurement("FIELD:MAG?", """Get the magnet field in the supply's unit
                                   (kG or T: FIELD:UNITS); ``field_T`` converts.""",
                                   get_process=float_reply("FIELD:MAG?"))
    magnet_current = Instrument.measurement("CURR:MAG?", """Get the magnet current in A.""",
                                            get_process=float_reply("CURR:MAG?"))
    supply_current = Instrument.measurement("CURR:SUPP?", """Get the supply current in A.""",
                                            get_process=float_reply("CURR:SUPP?"))
    magnet_voltage = Instrument.measurement("VOLT:MAG?", """Get the magnet voltage in V.""",
                                            get_process=float_reply("VOLT:MAG?"))
    coilconst = Instrument.measurement("COIL?", """Get the coil constant in kG/A or T/A
                                       (FIELD:UNITS); ``coil_constant_T_per_A`` converts.""",
                                       get_process=float_reply("COIL?"))
    current_limit = Instrument.measurement("CURR:LIM?", """Get the supply current limit in A.""",
                                           get_process=float_reply("CURR:LIM?"))
    voltage_limit = Instrument.measurement("VOLT:LIM?", """Get the ramping voltage limit in V.""",
                                           get_process=float_reply("VOLT:LIM?"))
    quench_detected = Instrument.measurement(
        "QU?", """Get whether the supply has detected a quench (bool).""",
        get_process=lambda v: bool(int(to_float(v, "QU?"))))
    state = Instrument.measurement(
        "STATE?", """Get the ramp state code (1 RAMPING ... 7 QUENCH, 8 AT ZERO ...).""",
        get_process=lambda v: int(to_float(v, "STATE?")))

    @property
    def state_word(self) -> str:
        code = self.state
        return STATE_WORDS.get(code, f"STATE {code}")

    @property
    def magnet_status(self) -> str:
        return self.state_word

    # persistent switch -------------------------------------------------------------------
    switch_installed = Instrument.measurement(
        "PS:INST?", """Get whether a persistent switch is installed (``PSwitch:INSTalled?``).""",
        get_process=lambda v: bool(int(to_float(v, "PS:INST?"))))

    @property
    def persistent_switch_heater_on(self) -> bool:
        """Get whether the persistent-switch heater is on (``PSwitch?``)."""
        return bool(int(to_float(self.ask("PSwitch?"), "PSwitch?")))

    def has_persistent_switch_enabled(self) -> bool:
        # the stock version returns bool("0") == True
        return self.persistent_switch_heater_on

    def enable_persistent_switch(self) -> None:
        """Switch the heater on, only if the supply current matches the magnet current."""
        supply, magnet = self.supply_current, self.magnet_current
        if abs(supply - magnet) > self.mismatch_tolerance_A:
            raise InstrumentError(
                f"{self.who()}: refusing to switch the persistent-switch heater on: supply "
                f"current {supply:g} A differs from magnet current {magnet:g} A by more than "
                f"{self.mismatch_tolerance_A:g} A; ramp the leads to the magnet current first")
        self.write("PSwitch 1")
        self.check_set_errors()

    def disable_persistent_switch(self) -> None:
        self.write("PSwitch 0")
        self.check_set_errors()

    def clear_quench(self) -> None:
        """Clear the quench flag (``QU 0``). Only a person decides to do this."""
        self.write("QU 0")
        self.check_set_errors()

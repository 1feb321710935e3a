"""AMI Model 430 superconducting magnet supply: pymeasure's AMI430 with limits and interlocks.

The stock driver sends any field, current or ramp rate it is given and switches the
persistent-switch heater on whatever the currents are. This subclass:

- refuses (LimitError, nothing sent) a target field, target current or ramp rate beyond the
  limits given at construction; without limits it refuses every setpoint;
- refuses to switch the heater on while the supply current differs from the magnet current
  (the classic way to quench a persistent magnet);
- fixes the stock ramp-rate command (the AMI wants ``segment,rate,upper bound``; the stock
  driver hard-codes an upper bound of 1 kG, so its rate only covered the first 0.1 T).

Units are the instrument's: kG, A, kG/s, A/s (the AMI defaults FIELD:UNITS 0 and
RAMP:RATE:UNITS 0). The role converts to SI.
"""
from __future__ import annotations

import pyvisa
from pymeasure.instruments import Instrument
from pymeasure.instruments.ami import AMI430 as StockAMI430

from instruments.drivers._base import LabInstrument, float_reply, strict_limit, to_float
from instruments.roles import InstrumentError, LimitError

STATE_WORDS = {
    1: "RAMPING", 2: "HOLDING", 3: "PAUSED", 4: "MANUAL UP", 5: "MANUAL DOWN",
    6: "ZEROING", 7: "QUENCH", 8: "AT ZERO", 9: "HEATING SWITCH", 10: "COOLING SWITCH",
}
RAMPING, HOLDING, PAUSED, ZEROING, QUENCH, AT_ZERO, HEATING, COOLING = 1, 2, 3, 6, 7, 8, 9, 10


def _optional_limit(value, limits):
    if limits is None:
        raise LimitError("no limit configured for this driver (construct it with max_field_T, "
                         "max_current_A and max_ramp_rate_T_per_min)")
    return strict_limit(value, limits)


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
    SNAPSHOT_PROPERTIES = ("coilconst", "field", "magnet_current", "supply_current",
                           "target_field", "ramp_rate_field", "state_word",
                           "persistent_switch_heater_on", "current_limit", "voltage_limit")

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
        self.set_limits(max_field_T, max_current_A, max_ramp_rate_T_per_min)

    def set_limits(self, max_field_T, max_current_A, max_ramp_rate_T_per_min) -> None:
        kg = None if max_field_T is None else 10.0 * max_field_T
        self.max_field_kG = kg
        self.target_field_values = None if kg is None else (-kg, kg)
        self.target_current_values = (None if max_current_A is None
                                      else (-max_current_A, max_current_A))
        self.max_ramp_rate_kG_per_s = (None if max_ramp_rate_T_per_min is None
                                       else 10.0 * max_ramp_rate_T_per_min / 60.0)

    # setpoints with limits ----------------------------------------------------------
    target_field = Instrument.control(
        "FIELD:TARG?", "CONF:FIELD:TARG %g",
        """Control the target field in kG; refuses values beyond the field limit.""",
        validator=_optional_limit, values=None, dynamic=True,
        get_process=float_reply("FIELD:TARG?"))

    target_current = Instrument.control(
        "CURR:TARG?", "CONF:CURR:TARG %g",
        """Control the target current in A; refuses values beyond the current limit.""",
        validator=_optional_limit, values=None, dynamic=True,
        get_process=float_reply("CURR:TARG?"))

    @property
    def ramp_rate_field(self) -> float:
        """Control the segment-1 field ramp rate in kG/s; refuses rates beyond the limit.

        Set writes ``CONF:RAMP:RATE:FIELD 1,<rate>,<upper bound>`` with the field limit as
        the upper bound of the single segment."""
        reply = self.values("RAMP:RATE:FIELD:1?")
        return to_float(reply[0], "RAMP:RATE:FIELD:1?")

    @ramp_rate_field.setter
    def ramp_rate_field(self, rate_kG_per_s: float) -> None:
        if self.max_ramp_rate_kG_per_s is None or self.max_field_kG is None:
            _optional_limit(rate_kG_per_s, None)
        rate = strict_limit(rate_kG_per_s, (0.0, self.max_ramp_rate_kG_per_s))
        if rate <= 0:
            raise LimitError(f"value {rate:g} kG/s: a ramp rate must be positive")
        self.write(f"CONF:RAMP:RATE:FIELD 1,{rate:g},{self.max_field_kG:g}")

    ramp_rate_current = property(
        lambda self: to_float(self.values("RAMP:RATE:CURR:1?")[0], "RAMP:RATE:CURR:1?"),
        doc="Get the segment-1 current ramp rate in A/s (set the field rate instead).")

    # readings that must be numbers -----------------------------------------------------
    field = Instrument.measurement("FIELD:MAG?", """Get the magnet field in kG.""",
                                   get_process=float_reply("FIELD:MAG?"))
    magnet_current = Instrument.measurement("CURR:MAG?", """Get the magnet current in A.""",
                                            get_process=float_reply("CURR:MAG?"))
    supply_current = Instrument.measurement("CURR:SUPP?", """Get the supply current in A.""",
                                            get_process=float_reply("CURR:SUPP?"))
    magnet_voltage = Instrument.measurement("VOLT:MAG?", """Get the magnet voltage in V.""",
                                            get_process=float_reply("VOLT:MAG?"))
    coilconst = Instrument.measurement("COIL?", """Get the coil constant in kG/A.""",
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

    def disable_persistent_switch(self) -> None:
        self.write("PSwitch 0")

    def clear_quench(self) -> None:
        """Clear the quench flag (``QU 0``). Only a person decides to do this."""
        self.write("QU 0")

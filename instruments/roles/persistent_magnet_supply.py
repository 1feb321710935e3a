"""Persistent mode and the safe state of a superconducting-magnet supply with a persistent switch.

One account of the heater rules for every such supply (AMI 430, Cryomagnetics 4G), so that a new
model cannot get them subtly wrong:

- the switch heater goes on only with the leads carrying the magnet's current (a mismatch across
  a warm switch dumps the difference into the magnet and can quench it);
- the heater goes off only with the output still;
- the safe state "zero" ramps the field to 0 T at the safe rate, through driven mode when the
  magnet is persistent; "hold" leaves the magnet persistent with its leads at 0 A;
- a quenched magnet is never touched again by software.

A model's role mixes this in ahead of FieldSourceRole and provides the model's own steps:
``start_lead_ramp(field_T, rate)``, ``switch_heater_on/off(should_stop)``,
``switch_heater_is_on()``, ``quench_reason()`` (empty, or what gave a quench away), ``pause_ramp()`` and:
"""
from __future__ import annotations

from loopscope.instruments.roles import QuenchError, StopCheck


class PersistentMagnetSupply:
    """Mixed into a field-source role of a supply with a persistent switch (see the module)."""

    #: the supply's own word for a ramp, in the accounts ("ramp" on the AMI, "sweep" on the 4G)
    RAMP_WORD = "ramp"
    #: how a quench is cleared on this model, by hand (the account of a quenched magnet)
    CLEAR_QUENCH_BY_HAND = "clear the quench at the supply by hand"

    def ramp_to_zero_for_safe_state(self, rate_T_per_min: float) -> None:
        """Start the supply's ramp of the field to 0 T (heater on) at the safe rate."""
        raise NotImplementedError

    def hold_output_still(self, should_stop: StopCheck | None = None) -> None:
        """Stop the output where it is, and return once it is still (heater rule: the heater is
        switched only with the output still). Default: pause; a model whose pause takes time
        to settle waits for it."""
        self.pause_ramp()

    def check_quench(self) -> None:
        """QuenchError if the supply reports a quench: never re-energise on our own."""
        reason = self.quench_reason()
        if reason:
            raise QuenchError(f"{self.who()}: magnet quench: {reason}; not re-energising")

    # persistent mode ------------------------------------------------------------------------------
    def enter_driven_mode(self, should_stop: StopCheck | None = None) -> str:
        """From persistent mode: ramp the leads to the magnet current, then heater on."""
        if not self.has_persistent_switch or self.switch_heater_is_on():
            return f"{self.name}: already driven"
        self.check_quench()
        coil = self.coil_constant_T_per_A
        magnet_A = self.read_magnet_current_A()
        field_T = magnet_A * coil
        rate = self.safe_ramp_rate_T_per_min
        mismatch_A = abs(self.read_current_A() - magnet_A)
        if mismatch_A > float(self.settings["mismatch_tolerance_A"]):
            self.start_lead_ramp(field_T, rate)
            if not self.wait_settled(self._ramp_timeout_s(mismatch_A * coil, rate), should_stop):
                return f"{self.name}: leads {self.RAMP_WORD}ing toward {field_T:.4g} T (stopped waiting)"
        self.switch_heater_on(should_stop)
        return f"{self.name}: driven at {field_T:.4g} T (leads matched, heater on)"

    def leave_persistent_mode(self, should_stop: StopCheck | None = None) -> str:
        """The runner's name for enter_driven_mode()."""
        return self.enter_driven_mode(should_stop)

    def in_persistent_mode(self) -> bool:
        """True when the switch is closed (heater off) on a magnet carrying field."""
        if not self.has_persistent_switch or self.switch_heater_is_on():
            return False
        magnet_T = self.read_magnet_current_A() * self.coil_constant_T_per_A
        return abs(magnet_T) > float(self.settings["field_tolerance_T"])

    def enter_persistent_mode(self, should_stop: StopCheck | None = None,
                              zero_leads: bool = True) -> str:
        """Heater off (waits for the switch), then ramp the leads to zero."""
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        field_T = self.read_field_T()
        self.switch_heater_off(should_stop)
        if zero_leads:
            supply_T = self.read_current_A() * self.coil_constant_T_per_A
            rate = self.safe_ramp_rate_T_per_min
            self.start_lead_ramp(0.0, rate)
            if not self.wait_settled(self._ramp_timeout_s(supply_T, rate), should_stop):
                return f"{self.name}: persistent at {field_T:.4g} T, leads {self.RAMP_WORD}ing to 0 A"
        return f"{self.name}: held at {field_T:.4g} T in persistent mode, leads at 0 A"

    # the safe state -------------------------------------------------------------------------------
    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        reason = self.quench_reason()
        if reason:
            return (f"{self.name}: magnet quenched ({reason}); left untouched: inspect the "
                    f"magnet and {self.CLEAR_QUENCH_BY_HAND}")
        if self.context.safe_state == "hold":
            if self.has_persistent_switch:
                if self.switch_heater_is_on():
                    self.hold_output_still(should_stop)
                return self.enter_persistent_mode(should_stop)
            self.pause_ramp()
            return f"{self.name}: {self.RAMP_WORD} paused at {self.read_field_T():.4g} T (no persistent switch)"
        # zero
        coil = self.coil_constant_T_per_A
        tol = float(self.settings["field_tolerance_T"])
        if self.has_persistent_switch and not self.switch_heater_is_on():
            if abs(self.read_magnet_current_A() * coil) <= tol:
                supply_T = self.read_current_A() * coil
                if abs(supply_T) > tol:
                    rate = self.safe_ramp_rate_T_per_min
                    self.start_lead_ramp(0.0, rate)
                    self.wait_settled(self._ramp_timeout_s(supply_T, rate), should_stop)
                return f"{self.name}: at 0 T (persistent switch closed, leads at 0 A)"
            account = self.enter_driven_mode(should_stop)
            if not self.switch_heater_is_on():
                return account
        start_T = self.read_field_T()
        rate = self.safe_ramp_rate_T_per_min
        self.ramp_to_zero_for_safe_state(rate)
        if not self.wait_settled(self._ramp_timeout_s(start_T, rate), should_stop):
            return f"{self.name}: {self.RAMP_WORD}ing from {start_T:.4g} T toward 0 T (stopped waiting)"
        return f"{self.name}: ramped from {start_T:.4g} T to 0 T at {rate:g} T/min"

"""The superconducting magnet role on an Oxford Instruments Mercury iPS: one magnet group's
target and rate, the persistent switch and its heater waits, quench detection and the
magnet's safe state.
"""
from __future__ import annotations

import time

from loopscope.instruments.connect_checks import MISMATCH, NOTE, OK, WARNING, Finding
from loopscope.instruments.roles import InstrumentError, RefusedCommandError, StopCheck
from loopscope.instruments.roles.field_source_common import FieldSourceRole
from loopscope.instruments.roles.persistent_magnet_supply import PersistentMagnetSupply
from loopscope.instruments.visa_session import InterlockError, Setting, _now

MOVING = ("RTOS", "RTOZ")


class MercuryIPSFieldSource(PersistentMagnetSupply, FieldSourceRole):
    """A superconducting magnet on one group of a Mercury iPS, with its persistent switch.

    - connect (queries only): READ:SYS:CAT (the station's group must be in it), ATOB (the
      supply's current/field ratio, compared with the station's coil constant: a different
      one refuses the connection), RCST, SWHT, ACTN and READ:SYS:ALRM (a quench);
    - limits: target field, implied current and rate are checked before anything is sent
      (LimitError), and again by the driver; every SET's VALID reply is checked by the driver;
    - a ramp: RCST (the rate), CSET (the target), then ACTN RTOS (RTOZ for 0 A); a clamped
      output (CLMP) is put to HOLD first;
    - heater ON is refused while the output current (CURR) differs from the persistent
      current (PCUR) (the driver checks); the heater is switched only while ACTN is not
      RTOS/RTOZ;
    - heater waits: after SWHT the role waits the station's ``heater_warmup_s`` /
      ``heater_cooldown_s`` (divided by the time scale), sending nothing meanwhile: they must
      cover the switch's own times;
    - with the heater off, ``start_ramp`` refuses (only the leads would move);
      ``start_lead_ramp`` moves them on purpose;
    - quench: a quench in READ:SYS:ALRM, or |VOLT| above ``quench_voltage_V``: QuenchError,
      nothing is re-energised;
    - safe state: ``zero`` ramps to 0 A at the safe rate (first matching the leads and
      switching the heater on if the magnet is persistent); ``hold`` leaves the magnet
      persistent at its field (heater off, leads to zero) or, without a switch, holds.
    """

    DRIVER = "loopscope.instruments.drivers.mercury_ips:MercuryIPS"

    SETTINGS = {
        "coil_constant_T_per_A": Setting(float, required=True, positive=True,
                                         doc="checked against the supply's ATOB at connect"),
        "group": Setting(str, default="GRPZ", doc="the magnet group's UID (GRPX, GRPY, GRPZ)"),
        "persistent_switch": Setting(bool, default=False),
        "heater_warmup_s": Setting(float, default=20.0, positive=True),
        "heater_cooldown_s": Setting(float, default=20.0, positive=True),
        "quench_voltage_V": Setting(float, positive=True),
        "mismatch_tolerance_A": Setting(float, default=0.05, positive=True),
        "field_tolerance_T": Setting(float, default=1e-4, positive=True),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.has_persistent_switch = bool(self.settings["persistent_switch"])
        self._coil = float(self.settings["coil_constant_T_per_A"])
        self._target_A = 0.0
        self.supply: dict = {}

    @property
    def coil_constant_T_per_A(self) -> float:
        return self._coil

    def _max_rate_A_per_s(self) -> float:
        return self.limits.max_ramp_rate_T_per_min / 60.0 / self._coil

    def driver_kwargs(self) -> dict:
        return {"group": str(self.settings["group"]), "max_field_T": self.limits.max_field_T,
                "max_current_A": self.limits.max_current_A,
                "max_ramp_rate_A_per_s": self._max_rate_A_per_s()}

    # connect ----------------------------------------------------------------------------
    def read_settings(self, drv) -> list[Finding]:
        """Queries only; a missing group or a coil constant other than the supply's refuses."""
        drv.mismatch_tolerance_A = float(self.settings["mismatch_tolerance_A"])
        findings: list[Finding] = []
        report: dict = {}
        group = str(self.settings["group"])
        with self._mapped("read catalogue (READ:SYS:CAT)"):
            cat = drv.catalogue
        report["catalogue"] = cat
        if f"DEV:{group}:" not in f"{cat}:":
            findings.append(Finding("group", f"READ:SYS:CAT = {cat}", f"group: {group}",
                                    MISMATCH, f"the supply has no magnet group {group}; name "
                                    f"one of its catalogue in the station's settings.group"))
            self.supply = report
            return findings
        findings.append(Finding("group", f"{group} in READ:SYS:CAT", f"group: {group}", OK))
        with self._mapped("read current/field ratio (ATOB)"):
            atob = drv.current_to_field
        report["atob_A_per_T"] = atob
        station_atob = 1.0 / self._coil
        if atob <= 0 or abs(atob - station_atob) > 1e-3 * station_atob:
            findings.append(Finding(
                "coil constant", f"ATOB = {atob:g} A/T", f"{station_atob:g} A/T "
                f"(coil_constant_T_per_A {self._coil:g})", MISMATCH,
                "the supply's fields and field limits use its ATOB; set the station's "
                f"coil_constant_T_per_A to {1.0 / atob if atob > 0 else float('nan'):.6g}"))
        else:
            findings.append(Finding("coil constant", f"ATOB = {atob:g} A/T",
                                    f"{station_atob:g} A/T", OK))
        with self._mapped("read ramp rate (RCST)"):
            report["rate_A_per_min"] = rcst = drv.current_ramp_rate
        findings.append(Finding("ramp rate", f"RCST = {rcst:g} A/min", "", NOTE,
                                "the role writes its own rate before each ramp"))
        with self._mapped("read switch heater (SWHT)"):
            heater = drv.heater_on
        report["heater_on"] = heater
        if heater and not self.has_persistent_switch:
            findings.append(Finding(
                "persistent switch", "heater ON (SWHT)", "persistent_switch: false", MISMATCH,
                "the supply's switch heater is on but the station says the magnet has no "
                "persistent switch; set persistent_switch: true"))
        else:
            findings.append(Finding("persistent switch", f"heater {'ON' if heater else 'OFF'}",
                                    f"persistent_switch: {str(self.has_persistent_switch).lower()}",
                                    OK))
        with self._mapped("read action (ACTN)"):
            report["action"] = action = drv.action
        findings.append(Finding("action", f"ACTN = {action}", "", NOTE if action == "CLMP" else OK,
                                "the output is clamped: the first ramp puts it to HOLD"
                                if action == "CLMP" else ""))
        with self._mapped("read alarms (READ:SYS:ALRM)"):
            report["alarms"] = alarms = drv.alarms
        if "quench" in alarms.lower():
            findings.append(Finding("quench", f"READ:SYS:ALRM = {alarms}", "", WARNING,
                                    "the supply reports a quench: every ramp is refused and the "
                                    "safe state leaves the magnet alone; inspect it and clear "
                                    "the alarm at the supply by hand"))
        else:
            findings.append(Finding("quench", f"no quench (READ:SYS:ALRM = {alarms!r})", "", OK))
        self.supply = report
        return findings

    # readings ---------------------------------------------------------------------------
    def read_field_T(self) -> float:
        return self.read_magnet_current_A() * self._coil

    def read_current_A(self) -> float:
        with self._io("read output current") as drv:
            return drv.output_current_A

    def read_magnet_current_A(self) -> float:
        """The output current with the heater on (the magnet follows it), PCUR with it off."""
        with self._io("read magnet current") as drv:
            if self.has_persistent_switch and not drv.heater_on:
                return drv.persistent_current_A
            return drv.output_current_A

    def state(self) -> str:
        with self._io("read action") as drv:
            return drv.action

    def switch_heater_is_on(self) -> bool:
        if not self.has_persistent_switch:
            return False
        with self._io("read switch heater") as drv:
            return drv.heater_on

    # quench -------------------------------------------------------------------------------
    def quench_reason(self) -> str:
        with self._io("quench check") as drv:
            alarms = drv.alarms
            if "quench" in alarms.lower():
                return f"READ:SYS:ALRM reports {alarms!r}"
            threshold = self.settings.get("quench_voltage_V")
            if threshold is not None:
                volts = drv.output_voltage
                if abs(volts) > threshold:
                    return (f"output voltage {volts:g} V exceeds the quench threshold "
                            f"{threshold:g} V")
        return ""

    # ramps --------------------------------------------------------------------------------
    def _send_ramp(self, target_A: float, rate_T_per_min: float, action: str) -> None:
        self.check_quench()
        rate_A = rate_T_per_min / 60.0 / self._coil
        with self._setpoint_io(action) as drv:
            if drv.action == "CLMP":
                drv.set_action("HOLD")
            drv.set_current_ramp_rate(rate_A)
            drv.set_current_target(target_A, 1.0 / self._coil)
            drv.set_action("RTOZ" if target_A == 0.0 else "RTOS")
        self._target_A = target_A

    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        self.check_setpoint(field_T, rate_T_per_min)
        if self.has_persistent_switch and not self.switch_heater_is_on():
            raise InterlockError(
                f"{self.who()}: refusing to ramp to {field_T:g} T: the persistent-switch "
                f"heater is off, so the magnet is persistent and only the leads would move. "
                f"Call enter_driven_mode() (matches the leads, heater on) first, or "
                f"start_lead_ramp() to move the leads on purpose")
        self._send_ramp(field_T / self._coil, rate_T_per_min, f"start ramp to {field_T:g} T")

    def start_lead_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        """Ramp the output (the leads) with the heater off: the magnet keeps its current."""
        self.check_setpoint(field_T, rate_T_per_min)
        if not self.has_persistent_switch:
            raise InterlockError(f"{self.who()}: no persistent switch: the leads are the magnet")
        if self.switch_heater_is_on():
            raise InterlockError(f"{self.who()}: refusing a lead ramp with the heater on "
                                 f"(it would ramp the magnet)")
        self._send_ramp(field_T / self._coil, rate_T_per_min, f"start lead ramp to {field_T:g} T")

    def is_settled(self) -> bool:
        with self._io("read action") as drv:
            quenched = "quench" in drv.alarms.lower()
            if not quenched:
                if drv.action in MOVING:
                    return False
                tol = float(self.settings["field_tolerance_T"]) / self._coil
                return abs(drv.output_current_A - self._target_A) <= max(tol, 1e-4)
        self.check_quench()
        return False

    def pause_ramp(self) -> None:
        with self._setpoint_io("hold") as drv:
            drv.set_action("HOLD")

    # persistent switch ------------------------------------------------------------------------
    def _moving(self, drv) -> bool:
        return drv.action in MOVING

    def switch_heater_on(self, should_stop: StopCheck | None = None) -> None:
        """Heater on (refused on a current mismatch), then the station's warm-up wait."""
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        self.check_quench()
        if self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater on") as drv:
            if self._moving(drv):
                raise InterlockError(f"{self.who()}: refusing heater on while the output ramps")
            try:
                drv.switch_heater_on()
            except RefusedCommandError:
                raise
            except InstrumentError as exc:
                raise InterlockError(str(exc)) from None
        self._sleep(float(self.settings["heater_warmup_s"]) / self.context.time_scale, should_stop)
        self.check_quench()

    def switch_heater_off(self, should_stop: StopCheck | None = None) -> None:
        """Heater off (only while the output is still), then the station's cool-down wait."""
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        if not self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater off") as drv:
            if self._moving(drv):
                raise InterlockError(f"{self.who()}: refusing heater off while the output ramps")
            drv.switch_heater_off()
        self._sleep(float(self.settings["heater_cooldown_s"]) / self.context.time_scale, should_stop)

    # persistent mode and the safe state: instruments/roles/persistent_magnet_supply.py; the
    # Mercury's steps
    CLEAR_QUENCH_BY_HAND = "clear the quench alarm at the supply by hand"

    def ramp_to_zero_for_safe_state(self, rate_T_per_min: float) -> None:
        self._send_ramp(0.0, rate_T_per_min, "ramp to zero (safe state)")

    def hold_output_still(self, should_stop: StopCheck | None = None) -> None:
        self.pause_ramp()
        deadline = _now() + 10 * self.timeout_s + 5.0
        while self.state() in MOVING:
            if should_stop is not None and should_stop():
                return
            if _now() > deadline:
                raise InstrumentError(f"{self.who()}: still ramping after ACTN HOLD")
            time.sleep(self.poll_interval_s)
        # the leads now hold the magnet's present current: the heater may go off
        self._target_A = self.read_current_A()

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["coil_constant_T_per_A"] = self._coil
        snap["has_persistent_switch"] = self.has_persistent_switch
        snap["supply"] = self.supply
        return snap

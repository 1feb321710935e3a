"""The superconducting magnet role on a Cryomagnetics Model 4G: sweep limits and range rates,
the persistent switch and its heater waits, quench detection and the magnet's safe state.
"""
from __future__ import annotations

import time

from loopscope.instruments.connect_checks import ADAPTED, MISMATCH, NOTE, OK, WARNING, Finding
from loopscope.instruments.drivers.cryomagnetics4g import (READING_UNIT, STB_POWER_FAILURE,
                                                           STB_QUENCH, STB_SWEEPING)
from loopscope.instruments.roles import InstrumentError, RefusedCommandError, StopCheck
from loopscope.instruments.roles.field_source_common import FieldSourceRole
from loopscope.instruments.roles.persistent_magnet_supply import PersistentMagnetSupply
from loopscope.instruments.visa_session import InterlockError, Setting, _now


class Cryomagnetics4GFieldSource(PersistentMagnetSupply, FieldSourceRole):
    """A superconducting magnet on a Cryomagnetics 4G, with its persistent switch.

    - units: every reading carries its unit (``12.3456A``, ``1.2346kG``) and is converted by
      it; UNITS? is asked again right before each sweep limit goes out, which is sent in
      those units (never changed by us). The 4G has no remote query of its coil constant, so
      the station's ``coil_constant_T_per_A`` is required;
    - connect (queries only): UNITS?, MODE? (Manual; Shim mode is refused), the range bounds
      and rates (RANGE?, RATE?), VLIM?, PSHTR? and *STB? (quench, power module failure);
    - limits: target field, implied current and rate are checked before anything is sent
      (LimitError), and again by the driver; the role writes its one rate into RATE 0..4 and
      sweeps SLOW (never FAST, RATE 5);
    - heater ON is refused while the supply current (IOUT?) differs from the magnet current
      (IMAG?) (the driver checks); the heater is switched only while nothing sweeps;
    - heater waits: the 4G does not report the switch's progress, so after PSHTR the role
      waits the station's ``heater_warmup_s`` / ``heater_cooldown_s`` (divided by the time
      scale), sending nothing meanwhile: they must cover the switch's own times;
    - with the heater off, ``start_ramp`` refuses (only the leads would move);
      ``start_lead_ramp`` moves them on purpose;
    - quench: *STB? bit 2, or |VMAG?| above ``quench_voltage_V``: QuenchError, nothing is
      re-energised (QRESET is a person's decision);
    - safe state: ``zero`` sweeps to 0 A at the safe rate (first matching the leads and
      switching the heater on if the magnet is persistent); ``hold`` leaves the magnet
      persistent at its field (heater off, leads to zero) or, without a switch, pauses.
    """

    DRIVER = "loopscope.instruments.drivers.cryomagnetics4g:Cryomagnetics4G"

    SETTINGS = {
        "coil_constant_T_per_A": Setting(float, required=True, positive=True,
                                         doc="the 4G has no remote query of it"),
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
        return {"coil_constant_T_per_A": self._coil, "max_field_T": self.limits.max_field_T,
                "max_current_A": self.limits.max_current_A,
                "max_ramp_rate_A_per_s": self._max_rate_A_per_s()}

    # connect ----------------------------------------------------------------------------
    def read_settings(self, drv) -> list[Finding]:
        """Queries only; the role adapts to the units, refuses Shim mode and a range-rate
        profile slower than the station's maximum rate."""
        drv.mismatch_tolerance_A = float(self.settings["mismatch_tolerance_A"])
        findings: list[Finding] = []
        report: dict = {}
        with self._mapped("read units (UNITS?)"):
            units = drv.units
        report["units"] = units
        findings.append(Finding("units", f"UNITS? = {units} (readings in "
                                f"{READING_UNIT[units.upper()]})", "tesla, ampere", ADAPTED))
        if READING_UNIT[units.upper()] == "kG":
            findings.append(Finding(
                "coil constant", "fields in kG use the supply's own field/current ratio",
                f"{self._coil:g} T/A (coil_constant_T_per_A)", NOTE,
                "the 4G reports fields in kG from its own field/current setting (no remote "
                "query); the station's coil constant converts them to currents: keep the two "
                "equal"))
        with self._mapped("read mode (MODE?)"):
            mode = drv.mode
        report["mode"] = mode
        if mode.lower().startswith("shim"):
            findings.append(Finding("mode", f"MODE? = {mode}", "Manual", MISMATCH,
                                    "the 4G is in Shim mode, where SWEEP drives a shim coil "
                                    "target; put it in Manual mode at the front panel"))
        else:
            findings.append(Finding("mode", f"MODE? = {mode}", "Manual", OK))
        with self._mapped("read sweep ranges (RANGE?, RATE?)"):
            bounds, rates = drv.ranges, drv.rates
        report["ranges_A"], report["rates_A_per_s"] = bounds, rates
        max_rate = self._max_rate_A_per_s()
        max_A = min(self.limits.max_current_A, self.limits.max_field_T / self._coil)
        lower, in_range = 0.0, []
        for k in range(5):
            if lower < max_A:
                in_range.append((k, lower, bounds[k], rates[k]))
            lower = bounds[k]
        distinct = {r for _, _, _, r in in_range}
        station = f"max_ramp_rate_T_per_min {self.limits.max_ramp_rate_T_per_min:g} ({max_rate:.4g} A/s)"
        slow = [(k, lo, hi, r) for k, lo, hi, r in in_range if r < max_rate * (1 - 1e-9)]
        if len(distinct) > 1 and slow:
            k, lo, hi, r = slow[0]
            findings.append(Finding(
                "sweep ranges", f"range {k} ({lo:g} A to {hi:g} A) at {r:g} A/s (RATE? {k})",
                station, MISMATCH,
                f"the supply's ranges hold a rate profile and range {k} ({lo:g} A to {hi:g} A) "
                f"sweeps at {r:g} A/s, below the station's {max_rate:.4g} A/s; the role sweeps "
                f"with one rate and would exceed it there. Lower max_ramp_rate_T_per_min to "
                f"{min(x[3] for x in in_range) * 60 * self._coil:.4g} T/min"))
        else:
            findings.append(Finding("sweep ranges", f"bounds {bounds} A, rates {rates} A/s",
                                    station, NOTE, "the role writes its own rate into RATE 0..4 "
                                    "before each sweep and sweeps SLOW (never RATE 5, FAST)"))
        with self._mapped("read voltage limit (VLIM?)"):
            report["voltage_limit_V"] = vlim = drv.voltage_limit
        findings.append(Finding("voltage limit", f"VLIM? = {vlim:g} V", "", NOTE))
        with self._mapped("read switch heater (PSHTR?)"):
            heater = drv.heater_on
        report["heater_on"] = heater
        if heater and not self.has_persistent_switch:
            findings.append(Finding(
                "persistent switch", "heater on (PSHTR? = 1)", "persistent_switch: false",
                MISMATCH, "the supply's switch heater is on but the station says the magnet "
                "has no persistent switch; set persistent_switch: true"))
        else:
            findings.append(Finding("persistent switch", f"heater {'on' if heater else 'off'} "
                                    f"(PSHTR? = {int(heater)})",
                                    f"persistent_switch: {str(self.has_persistent_switch).lower()}",
                                    OK))
        with self._mapped("read status (*STB?)"):
            stb = drv.status_byte
        report["status_byte"] = stb
        if stb & STB_QUENCH:
            findings.append(Finding("quench", f"*STB? = {stb} (bit 2: quench condition)", "",
                                    WARNING, "the supply reports a quench: every ramp is "
                                    "refused and the safe state leaves the magnet alone; "
                                    "inspect it and QRESET at the supply by hand"))
        else:
            findings.append(Finding("quench", f"no quench (*STB? = {stb})", "", OK))
        if stb & STB_POWER_FAILURE:
            findings.append(Finding("power module", f"*STB? = {stb} (bit 3)", "", WARNING,
                                    "the supply reports a power module failure"))
        self.supply = report
        return findings

    # readings ---------------------------------------------------------------------------
    def read_field_T(self) -> float:
        with self._io("read field") as drv:
            return drv.magnet_current_A * self._coil

    def read_current_A(self) -> float:
        with self._io("read supply current") as drv:
            return drv.supply_current_A

    def read_magnet_current_A(self) -> float:
        with self._io("read magnet current") as drv:
            return drv.magnet_current_A

    def _status(self) -> int:
        with self._io("read status") as drv:
            return drv.status_byte

    def state(self) -> str:
        with self._io("read sweep status") as drv:
            return drv.sweep_status

    def switch_heater_is_on(self) -> bool:
        if not self.has_persistent_switch:
            return False
        with self._io("read switch heater") as drv:
            return drv.heater_on

    # quench -------------------------------------------------------------------------------
    def quench_reason(self) -> str:
        with self._io("quench check") as drv:
            stb = drv.status_byte
            if stb & STB_QUENCH:
                return f"*STB? {stb} reports a quench condition"
            threshold = self.settings.get("quench_voltage_V")
            if threshold is not None:
                volts = drv.magnet_voltage
                if abs(volts) > threshold:
                    return (f"magnet voltage {volts:g} V exceeds the quench threshold "
                            f"{threshold:g} V")
        return ""

    # sweeps --------------------------------------------------------------------------------
    def _send_sweep(self, target_A: float, rate_T_per_min: float, action: str) -> None:
        self.check_quench()
        rate_A = rate_T_per_min / 60.0 / self._coil
        with self._setpoint_io(action) as drv:
            units = drv.units       # the sweep limit goes out in the units of this moment
            unit = READING_UNIT[units.upper()]
            for k in range(5):
                drv.set_rate(k, rate_A)
            if drv.status_byte & STB_SWEEPING:
                drv.pause()
            now_A = drv.supply_current_A
            if target_A == 0.0:
                drv.sweep("ZERO")
            elif target_A >= now_A:
                drv.set_sweep_limit(target_A, unit, upper=True)
                drv.sweep("UP")
            else:
                drv.set_sweep_limit(target_A, unit, upper=False)
                drv.sweep("DOWN")
        self._target_A = target_A

    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        self.check_setpoint(field_T, rate_T_per_min)
        if self.has_persistent_switch and not self.switch_heater_is_on():
            raise InterlockError(
                f"{self.who()}: refusing to ramp to {field_T:g} T: the persistent-switch "
                f"heater is off, so the magnet is persistent and only the leads would move. "
                f"Call enter_driven_mode() (matches the leads, heater on) first, or "
                f"start_lead_ramp() to move the leads on purpose")
        self._send_sweep(field_T / self._coil, rate_T_per_min, f"start ramp to {field_T:g} T")

    def start_lead_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        """Sweep the supply (the leads) with the heater off: the magnet keeps its current."""
        self.check_setpoint(field_T, rate_T_per_min)
        if not self.has_persistent_switch:
            raise InterlockError(f"{self.who()}: no persistent switch: the leads are the magnet")
        if self.switch_heater_is_on():
            raise InterlockError(f"{self.who()}: refusing a lead ramp with the heater on "
                                 f"(it would ramp the magnet)")
        self._send_sweep(field_T / self._coil, rate_T_per_min,
                         f"start lead ramp to {field_T:g} T")

    def is_settled(self) -> bool:
        with self._io("read status") as drv:
            stb = drv.status_byte
            if stb & STB_QUENCH:
                pass
            elif stb & STB_SWEEPING:
                return False
            else:
                supply = drv.supply_current_A
                tol = float(self.settings["field_tolerance_T"]) / self._coil
                return abs(supply - self._target_A) <= max(tol, 1e-4)
        self.check_quench()
        return False

    def pause_ramp(self) -> None:
        with self._setpoint_io("pause") as drv:
            drv.pause()

    # persistent switch ------------------------------------------------------------------------
    def _sweeping(self, drv) -> bool:
        return bool(drv.status_byte & STB_SWEEPING)

    def switch_heater_on(self, should_stop: StopCheck | None = None) -> None:
        """Heater on (refused on a current mismatch), then the station's warm-up wait."""
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        self.check_quench()
        if self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater on") as drv:
            if self._sweeping(drv):
                raise InterlockError(f"{self.who()}: refusing heater on while the leads sweep")
            try:
                drv.switch_heater_on()
            except RefusedCommandError:
                raise
            except InstrumentError as exc:
                raise InterlockError(str(exc)) from None
        self._sleep(float(self.settings["heater_warmup_s"]) / self.context.time_scale, should_stop)
        self.check_quench()

    def switch_heater_off(self, should_stop: StopCheck | None = None) -> None:
        """Heater off (only while nothing sweeps), then the station's cool-down wait."""
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        if not self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater off") as drv:
            if self._sweeping(drv):
                raise InterlockError(f"{self.who()}: refusing heater off while sweeping")
            drv.switch_heater_off()
        self._sleep(float(self.settings["heater_cooldown_s"]) / self.context.time_scale, should_stop)

    # persistent mode and the safe state: instruments/roles/persistent_magnet_supply.py; the 4G's steps
    RAMP_WORD = "sweep"
    CLEAR_QUENCH_BY_HAND = "QRESET the supply by hand"

    def ramp_to_zero_for_safe_state(self, rate_T_per_min: float) -> None:
        self._send_sweep(0.0, rate_T_per_min, "sweep to zero (safe state)")

    def hold_output_still(self, should_stop: StopCheck | None = None) -> None:
        self.pause_ramp()
        self._wait_still(should_stop)

    def _wait_still(self, should_stop: StopCheck | None = None) -> None:
        """After SWEEP PAUSE: until the sweep-active bit is clear (heater rules: the heater
        is switched only with the output still)."""
        deadline = _now() + 10 * self.timeout_s + 5.0
        while self._status() & STB_SWEEPING:
            if should_stop is not None and should_stop():
                return
            if _now() > deadline:
                raise InstrumentError(f"{self.who()}: still sweeping after SWEEP PAUSE")
            time.sleep(self.poll_interval_s)
        # the leads now hold the magnet's present current: the heater may go off
        self._target_A = self.read_current_A()

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["coil_constant_T_per_A"] = self._coil
        snap["has_persistent_switch"] = self.has_persistent_switch
        snap["supply"] = self.supply
        return snap

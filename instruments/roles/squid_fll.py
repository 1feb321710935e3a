"""The flux readout role: a SQUID's flux-locked loop, its output read by a voltmeter: a
Keithley 2182A nanovoltmeter (driver keithley2182, the default) or a Keysight 34465A DMM
(keysight34465a, instruments/roles/keysight34465a.py for what is checked and written).
"""
from __future__ import annotations

import math

from loopscope.instruments.drivers._base import LabInstrument, to_float
from loopscope.instruments.connect_checks import MISMATCH, NOTE, OK, WARNING, Finding, mismatches
from loopscope.instruments.roles import FluxReadout, InstrumentError
from loopscope.instruments.visa_session import Setting, VisaRole


class SquidFluxReadout(VisaRole, FluxReadout):
    """A SQUID behind a flux-locked loop, its output read by a Keithley 2182A or Keysight 34465A.

    flux [Phi0] = V / (V per Phi0), V per Phi0 asked from the controller (VPHI?) at
    connect and after every change made through this role; ``volts_per_phi0`` in the
    station settings overrides it (for controllers that cannot report it).
    """

    DRIVER = "loopscope.instruments.drivers.squid_fll:SquidFLL"

    KIND = "flux_readout"
    SETTINGS = {
        "volts_per_phi0": Setting(float, positive=True),
        "check_lock_each_read": Setting(bool, default=False),
        # the pickup's calibration, flux per sample moment (measured with a reference sample of
        # known moment): recorded in the run file, where the reader derives moment_Am2 from it
        "flux_per_moment_phi0_per_Am2": Setting(float, positive=True),
        # a voltmeter loopscope configures (the Keysight 34465A; not the 2182A, read as it is
        # set): DC range in V (absent: autorange) and integration time in power-line cycles,
        # written before the first reading, never at connect (station.py checks the choices)
        "voltmeter_range_V": Setting(float, positive=True),
        "voltmeter_nplc": Setting(float, positive=True),
    }

    def __init__(self, *args, voltmeter_resource: str = "", voltmeter_cls: type | None = None,
                 **kwargs) -> None:
        from loopscope.instruments.drivers.keithley2182 import Keithley2182
        super().__init__(*args, **kwargs)
        self.voltmeter_resource = voltmeter_resource
        self.voltmeter_cls = voltmeter_cls or Keithley2182
        self.voltmeter: LabInstrument | None = None
        self._v_per_phi0: float | None = None
        self._voltmeter_ready = False   # configured (or nothing to write) in this session

    @classmethod
    def from_config(cls, cfg, context, driver_cls=None):
        from loopscope.instruments.registry import resolve_driver
        vm_cls = resolve_driver(cfg.voltmeter_driver).driver_cls
        return cls(cfg.name, cfg.resource, driver_cls=driver_cls, settings=cfg.settings,
                   limits=cfg.limits, context=context, timeout_s=cfg.timeout_s,
                   driver_name=cfg.driver, voltmeter_resource=cfg.voltmeter_resource,
                   voltmeter_cls=vm_cls)

    def _drivers(self) -> list:
        return [d for d in (self.driver, self.voltmeter) if d is not None]

    def locked_resources(self) -> list[str]:
        return [r for r in (self.resource, self.voltmeter_resource) if r]

    def connect(self) -> None:
        with self._lock:
            super().connect()
            try:
                self.voltmeter = self._open_driver(self.voltmeter_cls, self.voltmeter_resource)
                self._v_per_phi0 = None
                self._refresh_v_per_phi0()
                self._voltmeter_ready = False
                self.findings.append(Finding(
                    "voltmeter", f"{getattr(self.voltmeter, '_idn', '')} at "
                    f"{self.voltmeter_resource}", "", NOTE))
                with self._mapped("read the voltmeter's settings at connect",
                                  self.voltmeter_resource):
                    vm_findings = self._voltmeter_findings()
                self.findings.extend(vm_findings)
                bad = mismatches(vm_findings)
                if bad and self.refuse_mismatches:
                    raise InstrumentError(
                        f"{self.who(self.voltmeter_resource)}: "
                        + "; ".join(f.message for f in bad)
                        + " (loopscope station check lists every setting)")
            except BaseException:
                self.close()
                raise

    def _voltmeter_findings(self) -> list[Finding]:
        """Queries only; a voltmeter loopscope does not configure (the 2182A) is not asked."""
        if not hasattr(self.voltmeter, "configure_dc_voltage"):
            return []
        from loopscope.instruments.roles.keysight34465a import voltmeter_findings
        return voltmeter_findings(self.voltmeter, self.settings, self._v_per_phi0)

    def _prepare_voltmeter(self) -> None:
        """Before the session's first reading (under the role's lock): write the configuration
        the station asks for, once. Connect and station check never come here."""
        if self._voltmeter_ready:
            return
        if hasattr(self.voltmeter, "configure_dc_voltage"):
            from loopscope.instruments.roles.keysight34465a import prepare_voltmeter
            with self._mapped("configure the voltmeter before the first reading",
                              self.voltmeter_resource):
                prepare_voltmeter(self.voltmeter, self.settings)
        self._voltmeter_ready = True

    def read_settings(self, fll) -> list[Finding]:
        """V per Phi0 (VPHI?) against the station's override, and the lock state."""
        reported = fll.volts_per_phi0
        override = self.settings.get("volts_per_phi0")
        findings = [Finding("V per flux quantum", f"{reported:g} V/Phi0 (VPHI?)",
                            "" if override is None else f"volts_per_phi0 {override:g} V/Phi0",
                            NOTE if override is None else
                            (OK if abs(reported - override) <= 1e-3 * abs(override) else WARNING),
                            "" if override is None or abs(reported - override) <= 1e-3 * abs(override)
                            else f"the controller reports {reported:g} V/Phi0 (VPHI?) but the "
                                 f"station's volts_per_phi0 {override:g} overrides it: fluxes are "
                                 f"computed with the station's value")]
        speed = fll.clock_speed
        scale = self.context.time_scale
        agree = abs(speed - scale) <= 0.01 * speed
        findings.append(Finding(
            "clock", f"x{speed:g} (CLOCK:SPEED?)", f"time_scale {scale:g}", OK if agree else MISMATCH,
            "" if agree else
            f"the simulated lab runs at x{speed:g} (CLOCK:SPEED?) but the station's time_scale is "
            f"{scale:g}: every wait and ramp would be {max(speed, scale) / min(speed, scale):g} "
            f"times too {'long' if scale < speed else 'short'}. Set time_scale: {speed:g} in the "
            f"station (or loopscope run --time-scale {speed:g})"))
        locked = bool(fll.locked)
        findings.append(Finding("flux lock", "locked" if locked else "unlocked", "",
                                OK if locked else WARNING,
                                "" if locked else "the flux-locked loop is unlocked: its output "
                                "means nothing until it is locked (reset_lock)"))
        return findings

    def close(self) -> None:
        with self._lock:
            super().close()
            self.voltmeter = None

    def _refresh_v_per_phi0(self) -> None:
        override = self.settings.get("volts_per_phi0")
        if override is not None:
            self._v_per_phi0 = float(override)
            return
        with self._mapped("read V per Phi0 (VPHI?)"):
            value = self.driver.volts_per_phi0
        if not value > 0:
            raise InstrumentError(f"{self.who()}: controller reports {value!r} V per Phi0")
        self._v_per_phi0 = value

    @property
    def volts_per_phi0(self) -> float:
        if self._v_per_phi0 is None:
            with self._io("read V per Phi0"):
                self._refresh_v_per_phi0()
        return self._v_per_phi0

    def read_voltage_V(self) -> float:
        with self._io("read FLL output voltage"):
            if self.settings["check_lock_each_read"] and not self.driver.locked:
                raise InstrumentError(f"{self.who()}: the flux-locked loop is unlocked")
            self._prepare_voltmeter()
            with self._mapped("read voltage (:READ?)", self.voltmeter_resource):
                volts = self.voltmeter.voltage
        return self._checked_volts(volts)

    def _checked_volts(self, volts: float) -> float:
        if abs(volts) >= getattr(self.voltmeter_cls, "OVERFLOW_V", math.inf):
            raise InstrumentError(
                f"{self.who(self.voltmeter_resource)}: voltmeter overflow ({volts:g}): the "
                f"flux-locked-loop output is beyond the "
                f"{getattr(self.voltmeter_cls, 'MODEL', 'voltmeter')} range")
        return volts

    def read_flux_phi0(self) -> float:
        volts = self.read_voltage_V()
        return volts / self.volts_per_phi0

    def can_split_read(self, method: str) -> bool:
        if self.settings["check_lock_each_read"] or not hasattr(self.voltmeter_cls, "READ_VOLTAGE"):
            return False  # two exchanges, or an unknown voltmeter
        return super().can_split_read(method)

    def _ask_read_flux_phi0(self, fll):
        if self._v_per_phi0 is None:
            self._refresh_v_per_phi0()  # before the question, under the same lock
        self._prepare_voltmeter()
        v_per_phi0, query = self._v_per_phi0, self.voltmeter.READ_VOLTAGE
        return self.voltmeter, query, lambda reply: self._checked_volts(to_float(reply, query)) / v_per_phi0, \
            self.voltmeter_resource

    def is_locked(self) -> bool:
        with self._io("read lock state") as fll:
            return bool(fll.locked)

    def reset_lock(self) -> None:
        with self._setpoint_io("reset the flux-locked loop") as fll:
            fll.reset()
            self._refresh_v_per_phi0()

    def set_gain(self, gain: float) -> None:
        with self._setpoint_io("set gain") as fll:
            fll.gain = gain
            self._refresh_v_per_phi0()

    def set_feedback_ohm(self, ohm: float) -> None:
        with self._setpoint_io("set feedback resistor") as fll:
            fll.feedback_ohm = ohm
            self._refresh_v_per_phi0()

    def set_locked(self, locked: bool) -> None:
        with self._setpoint_io("lock" if locked else "unlock") as fll:
            fll.locked = bool(locked)

    def snapshot(self) -> dict:
        snap = super().snapshot()
        with self._io("voltmeter snapshot"):
            with self._mapped("voltmeter snapshot", self.voltmeter_resource):
                vm = self.voltmeter.snapshot()
        snap["voltmeter"] = {"driver": self.voltmeter_cls.__name__, **vm}
        if hasattr(self.voltmeter, "configure_dc_voltage"):
            from loopscope.instruments.roles.keysight34465a import configures
            if configures(self.settings):
                # a run's snapshot is taken before its first reading: the meter's settings
                # above are the ones found, these the ones written before the first reading
                nplc = self.settings.get("voltmeter_nplc")
                snap["voltmeter"]["before_first_reading"] = {
                    "range_V": self.settings.get("voltmeter_range_V") or "autorange",
                    "nplc": 10.0 if nplc is None else nplc, "written": self._voltmeter_ready}
        snap["volts_per_phi0"] = self._v_per_phi0
        return snap

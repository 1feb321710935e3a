"""The source-meter role: a Keithley 2400 sourcing current into a sample, reading V and I.
"""
from __future__ import annotations

import math

from loopscope.instruments.connect_checks import MISMATCH, NOTE, OK, WARNING, Finding
from loopscope.instruments.roles import InstrumentError, SourceMeter, SourceMeterLimits, StopCheck
from loopscope.instruments.visa_session import Setting, VisaRole


class Keithley2400SourceMeter(VisaRole, SourceMeter):
    """A Keithley 2400 in current-source mode, measuring voltage and current concurrently.

    Before its first setpoint of a session the role writes its own configuration (output off
    only): current source on a fixed range that holds ``max_current_A`` (no range change, and
    so no glitch, in the middle of a curve), concurrent V and I measurements, the voltage
    compliance, 4-wire sense as the station says, NPLC, auto output-off disabled, the reading
    format. With the output on, a new current is reached in steps of at most ``max_step_A``.
    """

    DRIVER = "loopscope.instruments.drivers.keithley2400:Keithley2400"
    KIND = "source_meter"

    SETTINGS = {
        "compliance_voltage_V": Setting(float, positive=True,
                                        doc="voltage compliance written before sourcing "
                                            "(default: the limit max_voltage_V)"),
        "four_wire": Setting(bool, default=True, doc="remote (4-wire) sense, SYST:RSEN"),
        "nplc": Setting(float, default=1.0, positive=True, doc="integration time in line cycles"),
        "max_step_A": Setting(float, positive=True,
                              doc="largest change of the current in one write with the output "
                                  "on (default: a tenth of max_current_A)"),
    }
    LIMITS = {
        "max_current_A": Setting(float, required=True, positive=True),
        "max_voltage_V": Setting(float, required=True, positive=True),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = SourceMeterLimits(float(self.limit_values["max_current_A"]),
                                        float(self.limit_values["max_voltage_V"]))
        compliance = self.settings.get("compliance_voltage_V", self.limits.max_voltage_V)
        self.limits.check_compliance(compliance, self.who())
        self.settings["compliance_voltage_V"] = float(compliance)
        if not 0.01 <= float(self.settings["nplc"]) <= 10:
            from loopscope.instruments.roles import LimitError
            raise LimitError(f"{self.who()}: nplc {self.settings['nplc']!r} is outside 0.01..10")
        self.max_step_A = float(self.settings.get("max_step_A") or self.limits.max_current_A / 10)
        self._prepared_driver = None
        self._setpoint_A = 0.0
        self._last_compliance = False

    # -- connect --------------------------------------------------------------------------
    def read_settings(self, smu) -> list[Finding]:
        """Source function, output and level (OUTP?, SOUR:FUNC?, SOUR:CURR?), the compliance
        (SENS:VOLT:PROT?), the sense wiring (SYST:RSEN?) and NPLC: queries only."""
        findings = []
        mode, on = smu.source_mode, smu.source_enabled
        level = smu.source_current if mode == "current" else smu.source_voltage
        unit = "A" if mode == "current" else "V"
        said = f"{mode} source, output {'on' if on else 'off'} (SOUR:FUNC?, OUTP?), level {level:g} {unit}"
        if on and mode != "current":
            findings.append(Finding(
                "source function", said, "current source", MISMATCH,
                f"the 2400 sources voltage ({level:g} V) with its output on (SOUR:FUNC? VOLT, "
                f"OUTP? 1): switching to current sourcing under load would step the sample; "
                f"set the voltage to 0 and switch the output off first"))
        elif on and abs(level) > self.limits.max_current_A:
            findings.append(Finding(
                "source current", said, f"max_current_A {self.limits.max_current_A:g}", MISMATCH,
                f"the 2400 drives {level:g} A (SOUR:CURR?) into the sample, beyond the station's "
                f"max_current_A = {self.limits.max_current_A:g} A; bring it down at the unit"))
        elif on and level != 0:
            findings.append(Finding("source current", said, "", WARNING,
                                    f"the 2400 already drives {level:g} A: the first setpoint "
                                    f"steps from there"))
        else:
            findings.append(Finding("source function", said, "current source",
                                    OK if mode == "current" else NOTE,
                                    "" if mode == "current" else
                                    "the role selects current sourcing before its first "
                                    "setpoint (the output is off)"))
        compliance = smu.compliance_voltage
        station = self.settings["compliance_voltage_V"]
        if on and compliance > self.limits.max_voltage_V:
            findings.append(Finding(
                "voltage compliance", f"{compliance:g} V (SENS:VOLT:PROT?)",
                f"max_voltage_V {self.limits.max_voltage_V:g}", MISMATCH,
                f"the compliance is {compliance:g} V with the output on, above the station's "
                f"max_voltage_V = {self.limits.max_voltage_V:g} V: the sample is not protected"))
        else:
            findings.append(Finding("voltage compliance", f"{compliance:g} V (SENS:VOLT:PROT?)",
                                    f"{station:g} V", OK if math.isclose(compliance, station)
                                    else NOTE,
                                    "" if math.isclose(compliance, station) else
                                    f"the role writes {station:g} V before its first setpoint"))
        wires = smu.wires
        want = 4 if self.settings["four_wire"] else 2
        findings.append(Finding("sense wiring", f"{wires}-wire (SYST:RSEN?)", f"{want}-wire",
                                OK if wires == want else NOTE,
                                "" if wires == want else
                                f"the role sets {want}-wire sense before its first setpoint"))
        findings.append(Finding("integration time", f"{smu.voltage_nplc:g} NPLC (SENS:VOLT:NPLC?)",
                                f"{self.settings['nplc']:g} NPLC", NOTE))
        return findings

    def _prepare(self, smu) -> None:
        """Once per session, before the first setpoint (see the class docstring)."""
        if self._prepared_driver is smu:
            return
        on = smu.source_enabled
        if smu.source_mode != "current":
            if on:
                raise InstrumentError(f"{self.who()}: the 2400 sources voltage with its output on; "
                                      f"refusing to switch it to current sourcing under load")
            smu.source_mode = "current"
        if not on:
            smu.source_current = 0.0
            smu.source_current_range = self.limits.max_current_A
        smu.compliance_voltage = self.settings["compliance_voltage_V"]
        smu.write(':SENSE:FUNCTION:CONCURRENT 1;:SENSE:FUNCTION "VOLT","CURR"')
        smu.wires = 4 if self.settings["four_wire"] else 2
        smu.voltage_nplc = float(self.settings["nplc"])
        smu.write(":SOURCE:CLEAR:AUTO 0")
        smu.prepare_reading_format()     # also reads SYST:ERR? for the writes above
        self._setpoint_A = smu.source_current
        self._prepared_driver = smu

    # -- setpoints ----------------------------------------------------------------------------
    def set_current_A(self, current_A: float) -> None:
        self.limits.check_current(current_A, self.who())
        with self._setpoint_io(f"source {current_A:g} A") as smu:
            self._prepare(smu)
            target = float(current_A)
            if smu.source_enabled:
                start = self._setpoint_A
                n = max(1, math.ceil(abs(target - start) / self.max_step_A - 1e-9))
                for k in range(1, n + 1):
                    value = target if k == n else start + (target - start) * k / n
                    smu.source_current = value
                    self._setpoint_A = value
            else:
                smu.source_current = target
            self._setpoint_A = target

    def set_compliance_V(self, voltage_V: float) -> None:
        self.limits.check_compliance(voltage_V, self.who())
        with self._setpoint_io(f"compliance {voltage_V:g} V") as smu:
            self._prepare(smu)
            smu.compliance_voltage = float(voltage_V)
            self.settings["compliance_voltage_V"] = float(voltage_V)

    def read_compliance_V(self) -> float:
        with self._io("read compliance") as smu:
            return smu.compliance_voltage

    def output_on(self) -> None:
        """On at 0 A, then stepped to the current set while the output was off (a 2400
        switched on at a level applies it in one step)."""
        with self._setpoint_io("output on") as smu:
            self._prepare(smu)
            if smu.source_enabled:
                return
            wanted = self._setpoint_A
            smu.source_current = 0.0
            self._setpoint_A = 0.0
            smu.source_enabled = True
        if wanted:
            self.set_current_A(wanted)

    def output_off(self) -> None:
        self.set_current_A(0.0)
        with self._setpoint_io("output off") as smu:
            smu.source_enabled = False

    def output_is_on(self) -> bool:
        with self._io("read output state") as smu:
            return bool(smu.source_enabled)

    # -- readings ------------------------------------------------------------------------------
    def read_voltage_and_current(self) -> tuple[float, float]:
        with self._io("read V and I") as smu:
            if self._prepared_driver is not smu:
                # the reading format is the role's: written once (it changes nothing else)
                with self._mapped("set the reading format"):
                    smu.prepare_reading_format()
            reading = smu.read_all()
        self._last_compliance = reading["compliance"]
        return reading["voltage"], reading["current"]

    def in_compliance(self) -> bool:
        return self._last_compliance

    # -- safety ------------------------------------------------------------------------------
    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        with self._io("read output state") as smu:
            on = smu.source_enabled
            mode = smu.source_mode if on else "current"
            level = smu.source_current if on and mode == "current" else 0.0
        if not on:
            return f"{self.name}: output off"
        if mode != "current":
            # someone else left it sourcing voltage: to 0 V, then off (never switched to
            # current sourcing under load)
            with self._setpoint_io("voltage to 0 V, output off") as smu:
                smu.source_voltage = 0.0
                smu.source_enabled = False
            return f"{self.name}: voltage source set to 0 V, output off"
        self._setpoint_A = level
        self.output_off()
        return f"{self.name}: stepped from {level:.4g} A to 0 A, output off"

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["max_step_A"] = self.max_step_A
        return snap

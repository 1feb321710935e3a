"""The superconducting magnet role on an AMI 430: units read from the supply, the ramp, the
persistent switch and its heater waits, quench detection and the magnet's safe state.
"""
from __future__ import annotations

import time

from loopscope.instruments.connect_checks import ADAPTED, MISMATCH, NOTE, OK, WARNING, Finding
from loopscope.instruments.roles import InstrumentError, RefusedCommandError, StopCheck
from loopscope.instruments.roles.field_source_common import FieldSourceRole
from loopscope.instruments.roles.persistent_magnet_supply import PersistentMagnetSupply
from loopscope.instruments.visa_session import InterlockError, Setting, _now


class AMI430FieldSource(PersistentMagnetSupply, FieldSourceRole):
    """A superconducting magnet on an AMI 430, with its persistent switch and interlocks.

    - units: connect reads FIELD:UNITS? and RAMP:RATE:UNITS? (never changes them) and every
      field and rate sent or read is converted from the supply's units; they are asked again
      before each setpoint, and a change by another client refuses that ramp (the driver
      adapts); connect also compares COIL? (in T/A), CURR:LIM? and the ramp segments with the
      station and refuses what disagrees (``connect``);
    - limits: target field, implied current and ramp rate are checked before anything is
      sent (LimitError), and again by the driver;
    - heater ON is refused while supply and magnet currents differ (the driver checks);
    - heater waits: after switching the heater the role waits at least the station's
      ``heater_warmup_s`` / ``heater_cooldown_s`` (divided by time_scale) and until STATE?
      leaves HEATING / COOLING; nothing else is sent to the supply meanwhile;
    - with a switch installed and the heater off, ``start_ramp`` refuses (it would only move
      the leads); ``start_lead_ramp`` moves the leads on purpose;
    - quench: STATE? 7, QU? 1, or |VOLT:MAG?| above ``quench_voltage_V`` raise QuenchError;
      after a quench nothing is re-energised;
    - safe state: ``zero`` ramps to 0 T at the safe rate (first matching the leads and
      switching the heater on if the magnet is persistent); ``hold`` leaves the magnet
      persistent at its field (heater off, leads to 0 A) or, without a switch, pauses.
    """

    DRIVER = "loopscope.instruments.drivers.ami430:AMI430"

    SETTINGS = {
        "coil_constant_T_per_A": Setting(float, positive=True,
                                         doc="checked against COIL? at connect; read from it "
                                             "when absent"),
        "persistent_switch": Setting(bool, default=False),
        "heater_warmup_s": Setting(float, default=20.0),
        "heater_cooldown_s": Setting(float, default=20.0),
        "quench_voltage_V": Setting(float, positive=True),
        "mismatch_tolerance_A": Setting(float, default=0.05, positive=True),
        "field_tolerance_T": Setting(float, default=1e-4, positive=True),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.has_persistent_switch = bool(self.settings["persistent_switch"])
        self._coil_T_per_A: float | None = self.settings.get("coil_constant_T_per_A")
        self._target_T = 0.0
        #: what connect() found in the supply: its units, coil constant, current limit and
        #: ramp segments, each in its own units and in SI, with how they compare to the station
        self.supply: dict = {}
        #: with several ramp segments, their upper bounds in T: the role writes its rate into
        #: each, keeping the bounds; [] (one segment): segment 1, bounded by the field limit
        self._segment_bounds_T: list[float] = []

    def driver_kwargs(self) -> dict:
        return {"max_field_T": self.limits.max_field_T,
                "max_current_A": self.limits.max_current_A,
                "max_ramp_rate_T_per_min": self.limits.max_ramp_rate_T_per_min}

    def read_settings(self, ami) -> list[Finding]:
        """Read (queries only, nothing is changed) the supply's units, coil constant, current
        limit, ramp segments, persistent switch and quench flag, and compare them with the
        station: the role adapts to the units; a coil constant that differs, a current limit
        below what the station allows, a ramp segment slower than the station's maximum rate
        or a switch the station does not know of (or lacks) are mismatches (connect refuses)."""
        ami.mismatch_tolerance_A = float(self.settings["mismatch_tolerance_A"])
        changes = self.supply.get("unit_changes")
        findings: list[Finding] = []
        self.supply = self._read_supply(ami, findings)
        if changes:
            self.supply["unit_changes"] = changes
        return findings

    def _read_supply(self, ami, findings: list) -> dict:
        from loopscope.instruments.drivers.ami430 import FIELD_UNITS, RATE_TIME_UNITS
        with self._mapped("read units (FIELD:UNITS?, RAMP:RATE:UNITS?)"):
            field_code, rate_code = ami.read_units()
        fu, ru = ami.field_unit, ami.rate_unit
        report: dict = {
            "field_units": {"FIELD:UNITS": field_code, "unit": FIELD_UNITS[field_code]},
            "ramp_rate_units": {"RAMP:RATE:UNITS": rate_code,
                                "unit": f"per {RATE_TIME_UNITS[rate_code]}", "rate_unit": ru},
            "notes": []}
        findings.append(Finding("field units", f"{FIELD_UNITS[field_code]} (FIELD:UNITS? = "
                                f"{field_code})", "tesla", ADAPTED))
        findings.append(Finding("ramp-rate units", f"per {RATE_TIME_UNITS[rate_code]} "
                                f"(RAMP:RATE:UNITS? = {rate_code})", "per minute", ADAPTED))
        notes = report["notes"]
        # coil constant: COIL? is in kG/A or T/A; compare like with like, in T/A
        with self._mapped("read coil constant (COIL?)"):
            coil_raw = ami.coilconst
        reported = ami.to_tesla(coil_raw)
        said = f"COIL? = {coil_raw:g} {fu}/A"
        configured = self.settings.get("coil_constant_T_per_A")
        station = "" if configured is None else f"{configured:g} T/A (coil_constant_T_per_A)"
        if not reported > 0:
            findings.append(Finding("coil constant", said, station, MISMATCH,
                                    f"COIL? answered {coil_raw!r} {fu}/A; the supply has no "
                                    f"coil constant, so its fields mean nothing"))
            return report
        report["coil_constant"] = {"COIL?": coil_raw, "unit": f"{fu}/A", "T_per_A": reported}
        if configured is not None and abs(reported - configured) > 0.01 * configured:
            findings.append(Finding(
                "coil constant", said, station, MISMATCH,
                f"the supply's {reported:g} T/A (COIL? = {coil_raw:g} {fu}/A, FIELD:UNITS "
                f"{field_code} = {fu}) differs from the station's coil_constant_T_per_A "
                f"{configured:g} T/A by more than 1 %; fields would be wrong. Fix the station "
                f"file or the supply"))
        else:
            findings.append(Finding("coil constant", f"{reported:g} T/A ({said})", station,
                                    OK if configured is not None else ADAPTED))
        self._coil_T_per_A = reported
        # current limit: the supply refuses targets above it; the station must not allow more
        with self._mapped("read current limit (CURR:LIM?)"):
            limit_A = ami.current_limit
        lim = self.limits
        allowed_A = min(lim.max_current_A, lim.max_field_T / reported)
        report["current_limit"] = {"CURR:LIM?": limit_A, "A": limit_A,
                                   "station_allows_A": allowed_A}
        said, station = f"{limit_A:g} A (CURR:LIM?)", f"{allowed_A:g} A allowed"
        if allowed_A > limit_A * (1 + 1e-9):
            findings.append(Finding(
                "current limit", said, station, MISMATCH,
                f"the station allows {allowed_A:g} A (max_current_A {lim.max_current_A:g} A, "
                f"max_field_T {lim.max_field_T:g} T at {reported:g} T/A) but the supply's current "
                f"limit is {limit_A:g} A (CURR:LIM?); the supply would refuse those targets. "
                f"Lower the station's limits to {limit_A:g} A ({limit_A * reported:g} T) or raise "
                f"the supply's"))
        else:
            notes.append(f"current: the station's {allowed_A:g} A governs; the supply's own "
                         f"limit is {limit_A:g} A (CURR:LIM?)")
            findings.append(Finding("current limit", said, station, OK, notes[-1]))
        report["ramp_segments"] = self._read_segments(ami, notes, findings)
        self._read_switch_and_quench(ami, report, findings)
        return report

    def _read_switch_and_quench(self, ami, report: dict, findings: list) -> None:
        """PS:INST? against the station's persistent_switch; QU? (a warning: every ramp is
        refused while the flag is up, and the safe state leaves a quenched magnet alone)."""
        with self._mapped("read persistent switch (PS:INST?)"):
            installed = ami.switch_installed
        report["persistent_switch_installed"] = installed
        said = f"{'a' if installed else 'no'} persistent switch (PS:INST? = {int(installed)})"
        station = f"persistent_switch: {str(self.has_persistent_switch).lower()}"
        if installed == self.has_persistent_switch:
            findings.append(Finding("persistent switch", said, station, OK))
        elif installed:
            findings.append(Finding(
                "persistent switch", said, station, MISMATCH,
                "the supply has a persistent switch installed but the station says "
                "persistent_switch: false; the role would ramp without opening it and its safe "
                "state would not know persistent mode. Set persistent_switch: true"))
        else:
            findings.append(Finding(
                "persistent switch", said, station, MISMATCH,
                "the station says persistent_switch: true but the supply reports no switch "
                "installed (PS:INST? 0); heater commands would be refused. Set "
                "persistent_switch: false or configure the switch at the supply"))
        with self._mapped("read quench flag (QU?)"):
            quenched = ami.quench_detected
        report["quench_flagged"] = quenched
        if quenched:
            findings.append(Finding(
                "quench", "quench flagged (QU? = 1)", "", WARNING,
                "the supply reports a quench (QU? 1): every ramp is refused and the safe state "
                "leaves the magnet alone; inspect the magnet and clear it at the supply by hand"))
        else:
            findings.append(Finding("quench", "no quench (QU? = 0)", "", OK))

    def _read_segments(self, ami, notes: list, findings: list) -> list:
        """Read RAMP:RATE:SEG? and every segment; refuse a ramp profile slower than the station.

        The role ramps with one rate: into segment 1 (the field limit as its bound) when the
        supply uses one segment, into every segment (their bounds kept) when it uses several.
        Segments within the station's field range that all have one rate hold no profile: that
        rate is the last ramp's setting, which the role overwrites. Different rates there are a
        ramp profile (slower at high field, as a magnet's maker specifies): the station's
        maximum rate must not exceed the slowest of them."""
        lim = self.limits
        with self._mapped("read ramp segments (RAMP:RATE:SEG?)"):
            count = ami.ramp_segments
        if not 1 <= count <= 10:
            findings.append(Finding("ramp segments", f"{count} (RAMP:RATE:SEG?)", "", MISMATCH,
                                    f"RAMP:RATE:SEG? answered {count}, not 1 to 10"))
            return []
        segments, lower_T = [], 0.0
        for n in range(1, count + 1):
            with self._mapped(f"read ramp segment {n} (RAMP:RATE:FIELD:{n}?)"):
                rate, upper = ami.ramp_segment_field(n)
            seg = {"segment": n, "RAMP:RATE:FIELD?": [rate, upper], "unit": ami.rate_unit,
                   "rate_T_per_min": ami.rate_to_T_per_min(rate), "from_T": lower_T,
                   "to_T": ami.to_tesla(upper) if n < count else None,
                   "upper_T": ami.to_tesla(upper), "in_station_range": lower_T < lim.max_field_T}
            segments.append(seg)
            if n < count:
                lower_T = max(lower_T, ami.to_tesla(upper))
        in_range = [s for s in segments if s["in_station_range"]]
        rates = {s["RAMP:RATE:FIELD?"][0] for s in in_range}
        self._segment_bounds_T = [s["upper_T"] for s in segments] if count > 1 else []
        where = "every segment, keeping their bounds" if count > 1 else "segment 1"
        if len(in_range) <= 1 or len(rates) == 1:
            notes.append(
                f"ramp rate: the supply ramps at {in_range[0]['rate_T_per_min']:g} T/min up to "
                f"the station's {lim.max_field_T:g} T (its last setting, no profile); the role "
                f"writes its own rate (<= {lim.max_ramp_rate_T_per_min:g} T/min) into {where}")
            findings.append(Finding("ramp segments", f"{count} (RAMP:RATE:SEG?), one rate "
                                    f"{in_range[0]['rate_T_per_min']:g} T/min", "", NOTE,
                                    notes[-1]))
            return segments
        slowest = min(s["rate_T_per_min"] for s in in_range)
        said = f"{len(in_range)} segments within {lim.max_field_T:g} T, slowest {slowest:g} T/min"
        station = f"max_ramp_rate_T_per_min {lim.max_ramp_rate_T_per_min:g} T/min"
        for seg in in_range:
            if lim.max_ramp_rate_T_per_min > seg["rate_T_per_min"] * (1 + 1e-9):
                span = (f"{seg['from_T']:g} T to "
                        + (f"{seg['to_T']:g} T" if seg["to_T"] is not None else "the limit"))
                rate, upper = seg["RAMP:RATE:FIELD?"]
                findings.append(Finding(
                    "ramp segments", said, station, MISMATCH,
                    f"the station's max_ramp_rate_T_per_min {lim.max_ramp_rate_T_per_min:g} "
                    f"T/min is above the supply's ramp segment {seg['segment']} ({span}) rate "
                    f"{seg['rate_T_per_min']:g} T/min (RAMP:RATE:FIELD:{seg['segment']}? = "
                    f"{rate:g} {seg['unit']}, up to {upper:g} {ami.field_unit}); the role ramps "
                    f"with one rate and would exceed it there. Lower max_ramp_rate_T_per_min to "
                    f"{slowest:g} T/min or change the supply's segments"))
                return segments
        notes.append(
            f"ramp rate: the supply's {len(in_range)} ramp segments within "
            f"{lim.max_field_T:g} T allow {slowest:g} T/min "
            f"or more, at least the station's {lim.max_ramp_rate_T_per_min:g} T/min: the "
            f"station's limit governs; the role writes its rate into {where}")
        findings.append(Finding("ramp segments", said, station, OK, notes[-1]))
        return segments

    @property
    def coil_constant_T_per_A(self) -> float:
        if self._coil_T_per_A is None:
            with self._io("read coil constant") as ami:
                self._coil_T_per_A = ami.coil_constant_T_per_A
        return self._coil_T_per_A

    # readings ---------------------------------------------------------------------------
    def read_field_T(self) -> float:
        with self._io("read field") as ami:
            return ami.field_T

    def read_current_A(self) -> float:
        with self._io("read supply current") as ami:
            return ami.supply_current

    def read_magnet_current_A(self) -> float:
        with self._io("read magnet current") as ami:
            return ami.magnet_current

    def _state_code(self) -> int:
        with self._io("read state") as ami:
            return ami.state

    def state(self) -> str:
        from loopscope.instruments.drivers.ami430 import STATE_WORDS
        code = self._state_code()
        return STATE_WORDS.get(code, f"STATE {code}")

    def switch_heater_is_on(self) -> bool:
        if not self.has_persistent_switch:
            return False
        with self._io("read switch heater") as ami:
            return ami.persistent_switch_heater_on

    # quench --------------------------------------------------------------------------------
    def quench_reason(self) -> str:
        """Empty when no quench; else what gave it away."""
        from loopscope.instruments.drivers.ami430 import QUENCH
        with self._io("quench check") as ami:
            if ami.state == QUENCH:
                return "STATE? reports QUENCH"
            if ami.quench_detected:
                return "QU? reports a quench"
            threshold = self.settings.get("quench_voltage_V")
            if threshold is not None:
                volts = ami.magnet_voltage
                if abs(volts) > threshold:
                    return (f"magnet voltage {volts:g} V exceeds the quench threshold "
                            f"{threshold:g} V")
        return ""

    # ramps ------------------------------------------------------------------------------------
    def _send_ramp(self, field_T: float, rate_T_per_min: float, action: str) -> None:
        from loopscope.instruments.drivers.ami430 import COOLING, HEATING
        self.check_quench()
        with self._setpoint_io(action) as ami:
            code = ami.state
            if code in (HEATING, COOLING):
                raise InterlockError(f"{self.who()}: refusing to ramp while the persistent "
                                     f"switch is {'heating' if code == HEATING else 'cooling'}")
            self._confirm_units(ami, action)
            rate = ami.rate_from_T_per_min(rate_T_per_min)
            if self._segment_bounds_T:
                for n, upper_T in enumerate(self._segment_bounds_T, start=1):
                    ami.set_segment_rate(n, rate, ami.from_tesla(upper_T))
            else:
                ami.ramp_rate_field = rate
            ami.target_field = ami.from_tesla(field_T)
            ami.ramp()
        self._target_T = field_T

    def _confirm_units(self, ami, action: str) -> None:
        """Before a setpoint goes out: the units must still be those read at connect.

        Another client (the front panel, a QCoDeS session) may change them at any time; a
        setpoint in the wrong unit is 10x (kG/T) or 60x (per s/min) off. On a change the driver
        adapts to the new units and this ramp is refused: readings since the last check may be
        wrong, which a person should know. The next ramp (the safe state's) goes out right."""
        from loopscope.instruments.drivers.ami430 import FIELD_UNITS, RATE_TIME_UNITS
        before = ami.units
        after = ami.read_units()
        if after != before:
            def words(units):
                return (f"FIELD:UNITS {units[0]} ({FIELD_UNITS[units[0]]}), RAMP:RATE:UNITS "
                        f"{units[1]} (per {RATE_TIME_UNITS[units[1]]})") if units else "unknown"
            self.supply.setdefault("unit_changes", []).append({"from": before, "to": after})
            raise InstrumentError(
                f"{self.who()}: {action} refused: the supply's units changed from {words(before)} "
                f"to {words(after)} since they were read (another client?); readings since then "
                f"may be wrong. Now adapted to the new units")

    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        self.check_setpoint(field_T, rate_T_per_min)
        if self.has_persistent_switch and not self.switch_heater_is_on():
            raise InterlockError(
                f"{self.who()}: refusing to ramp to {field_T:g} T: the persistent-switch "
                f"heater is off, so the magnet is persistent and only the leads would move. "
                f"Call enter_driven_mode() (matches the leads, heater on) first, or "
                f"start_lead_ramp() to move the leads on purpose")
        self._send_ramp(field_T, rate_T_per_min, f"start ramp to {field_T:g} T")

    def start_lead_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        """Ramp the supply (the leads) with the heater off: the magnet keeps its current."""
        self.check_setpoint(field_T, rate_T_per_min)
        if not self.has_persistent_switch:
            raise InterlockError(f"{self.who()}: no persistent switch: the leads are the magnet")
        if self.switch_heater_is_on():
            raise InterlockError(f"{self.who()}: refusing a lead ramp with the heater on "
                                 f"(it would ramp the magnet)")
        self._send_ramp(field_T, rate_T_per_min, f"start lead ramp to {field_T:g} T")

    def is_settled(self) -> bool:
        from loopscope.instruments.drivers.ami430 import AT_ZERO, HOLDING, QUENCH
        code = self._state_code()
        if code == QUENCH:
            self.check_quench()
        return code in (HOLDING, AT_ZERO)

    def pause_ramp(self) -> None:
        with self._setpoint_io("pause") as ami:
            ami.pause()

    # persistent switch ------------------------------------------------------------------------
    def _wait_switch(self, transitional: int, minimum_s: float, what: str,
                     should_stop: StopCheck | None = None) -> None:
        scale = self.context.time_scale
        self._sleep(minimum_s / scale, should_stop)
        deadline = _now() + (3.0 * minimum_s + 30.0) / scale + 10 * self.timeout_s
        while self._state_code() == transitional:
            if should_stop is not None and should_stop():
                return
            if _now() > deadline:
                raise InstrumentError(f"{self.who()}: persistent switch still {what} after "
                                      f"{3 * minimum_s + 30:g} s (lab time)")
            time.sleep(self.poll_interval_s)
        self.check_quench()

    def switch_heater_on(self, should_stop: StopCheck | None = None) -> None:
        """Heater on (refused on a current mismatch), then wait for the switch to go normal."""
        from loopscope.instruments.drivers.ami430 import HEATING, RAMPING, ZEROING
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        self.check_quench()
        if self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater on") as ami:
            if ami.state in (RAMPING, ZEROING):
                raise InterlockError(f"{self.who()}: refusing heater on while the leads ramp")
            try:
                ami.enable_persistent_switch()
            except RefusedCommandError:
                raise               # the supply said no: its own words, not our interlock
            except InstrumentError as exc:
                raise InterlockError(str(exc)) from None
        self._wait_switch(HEATING, float(self.settings["heater_warmup_s"]), "heating",
                          should_stop)

    def switch_heater_off(self, should_stop: StopCheck | None = None) -> None:
        """Heater off (only while holding), then wait for the switch to go superconducting."""
        from loopscope.instruments.drivers.ami430 import COOLING, RAMPING, ZEROING
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        if not self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater off") as ami:
            if ami.state in (RAMPING, ZEROING):
                raise InterlockError(f"{self.who()}: refusing heater off while ramping")
            ami.disable_persistent_switch()
        self._wait_switch(COOLING, float(self.settings["heater_cooldown_s"]), "cooling",
                          should_stop)

    # persistent mode and the safe state: instruments/roles/persistent_magnet_supply.py; the 430's step
    def ramp_to_zero_for_safe_state(self, rate_T_per_min: float) -> None:
        self._send_ramp(0.0, rate_T_per_min, "ramp to zero (safe state)")

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["coil_constant_T_per_A"] = self.coil_constant_T_per_A
        snap["has_persistent_switch"] = self.has_persistent_switch
        snap["supply"] = self.supply
        return snap

"""The thermometer role on an Oxford Instruments Mercury iTC: the sample sensor's temperature
board read, its control loop driving the insert's heater (a VTI or a 1.5-300 K insert).

The iTC has no heater ranges: its heater board puts at most VLIM^2/R into the heater. So

- the plan's heater-range words name heater voltage limits in the station file (settings
  voltage_limit_low_V, _medium_V, _high_V): a word writes that VLIM and switches the loop to
  PID control (ENAB ON); "off" puts the loop in manual at 0 %. Station validation refuses a
  limit above the iTC's 40 V or one whose VLIM^2/R into the station's heater exceeds
  limits.max_heater_power_W, before anything is touched; connecting refuses a unit whose
  present VLIM already allows more than that (it is not changed at connect);
- a setpoint is the loop's TSET; with settings.ramp_K_per_min the session's first setpoint
  writes the ramp (RSET, RENA ON) first, without it the unit's ramp is left as it is (read at
  connect). The runner waits for the reading to settle within the plan's tolerance;
- the safe state (a run that does not complete): the heater off, the loop in manual at 0 %
  (ENAB OFF, HSET 0), read back with the heater's power; the insert then cools to its base.
"""
from __future__ import annotations

from loopscope.instruments.connect_checks import MISMATCH, OK, WARNING, Finding
from loopscope.instruments.roles import InstrumentError, LimitError, Thermometer
from loopscope.instruments.visa_session import Setting, VisaRole

RANGE_WORDS = ("low", "medium", "high")
#: a heater read back as off dissipates no more than this (the iTC prints 4 decimals of W)
OFF_POWER_W = 1e-4


class MercuryITCThermometer(VisaRole, Thermometer):
    """A Mercury iTC loop: one temperature board read, its loop's heater regulated on it."""

    DRIVER = "loopscope.instruments.drivers.mercury_itc:MercuryITC"

    KIND = "thermometer"
    SETTINGS = {
        "sensor": Setting(str, default="MB1.T1", doc="the temperature board's UID (SYS:CAT)"),
        "heater": Setting(str, default="MB0.H1", doc="the heater board's UID the loop drives"),
        "heater_resistance_ohm": Setting(float, required=True, positive=True),
        "voltage_limit_low_V": Setting(float, default=5.0, positive=True),
        "voltage_limit_medium_V": Setting(float, default=10.0, positive=True),
        "voltage_limit_high_V": Setting(float, default=20.0, positive=True),
        "ramp_K_per_min": Setting(float, positive=True),
    }
    LIMITS = {"max_temperature_K": Setting(float, required=True, positive=True),
              "max_heater_power_W": Setting(float, required=True, positive=True)}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_temperature_K = float(self.limit_values["max_temperature_K"])
        self.voltage_limits = {w: float(self.settings[f"voltage_limit_{w}_V"]) for w in RANGE_WORDS}
        self._ramp_written_on = None      # the driver session the station's ramp was written on

    def driver_kwargs(self) -> dict:
        return {"sensor": self.settings["sensor"], "heater": self.settings["heater"],
                "max_temperature_K": self.max_temperature_K,
                "allowed_voltage_limits_V": tuple(sorted(set(self.voltage_limits.values())))}

    # ------------------------------------------------------------------ connect
    def read_settings(self, tc) -> list[Finding]:
        """SYS:CAT (the station's boards there?), LOOP:HTR (the loop drives the station's
        heater?), HTR:RES and VLIM (the heater as the station has it, its full power within the
        station's limit?), LOOP:ENAB, the ramp, CAL:HOTL. Queries only."""
        found = []
        sensor, heater = self.settings["sensor"], self.settings["heater"]
        boards = dict(tc.catalogue())
        said = ", ".join(f"{u} {t}" for u, t in boards.items()) + " (SYS:CAT)"
        missing = [f"{u} ({t})" for u, t in ((sensor, "TEMP"), (heater, "HTR")) if boards.get(u) != t]
        if missing:
            return [Finding("boards", said, f"{sensor} TEMP, {heater} HTR", MISMATCH,
                            f"the iTC has no {' and no '.join(missing)} board (SYS:CAT lists "
                            f"{said}): the station's sensor or heater UID is wrong")]
        found.append(Finding("boards", said, f"{sensor} TEMP, {heater} HTR", OK))

        driven = tc.loop_heater
        said = f"the loop of {sensor} drives {driven or 'no heater'} (LOOP:HTR)"
        station = f"the loop of {sensor} driving {heater}"
        if driven == heater:
            found.append(Finding("loop heater", said, station, OK))
        elif driven is None:
            found.append(Finding("loop heater", said, station, WARNING,
                                 f"the loop of {sensor} drives no heater (LOOP:HTR None): "
                                 f"temperature setpoints will not be regulated; assign {heater} "
                                 f"to the loop at the iTC"))
        else:
            found.append(Finding("loop heater", said, station, MISMATCH,
                                 f"the loop of {sensor} drives {driven} (LOOP:HTR), not the "
                                 f"station's heater {heater}: setpoints would heat through "
                                 f"another heater than the one the station limits"))

        ohm, want = tc.heater_nominal_ohm, float(self.settings["heater_resistance_ohm"])
        same = abs(ohm - want) <= 1e-6 * want
        found.append(Finding("heater resistance", f"{ohm:g} ohm (HTR:RES)", f"{want:g} ohm",
                             OK if same else WARNING, "" if same else
                             f"the iTC was told {ohm:g} ohm (HTR:RES) but the station's heater "
                             f"is {want:g} ohm: its power reading is off by {want / ohm:.3g}x"))

        vlim, cap = tc.voltage_limit_V, float(self.limit_values["max_heater_power_W"])
        full = vlim ** 2 / want
        said = f"{vlim:g} V (HTR:VLIM): {full:.3g} W into {want:g} ohm"
        if full > cap * (1 + 1e-9):
            found.append(Finding("heater voltage limit", said, f"at most {cap:g} W", MISMATCH,
                                 f"the heater's voltage limit {vlim:g} V puts up to {full:.3g} W "
                                 f"into the {want:g} ohm heater, more than limits."
                                 f"max_heater_power_W = {cap:g} W; lower VLIM at the iTC to "
                                 f"{(cap * want) ** 0.5:.3g} V or less"))
        else:
            found.append(Finding("heater voltage limit", said, f"at most {cap:g} W", OK))

        on = tc.loop_enabled
        found.append(Finding("loop", f"{'PID (ENAB ON)' if on else 'manual (ENAB OFF)'}",
                             "PID once a heater range is set", OK if on else WARNING,
                             "" if on else f"the loop is in manual (LOOP:ENAB OFF, heater at "
                             f"{tc.heater_percent:g} %): a setpoint alone is not regulated; a "
                             f"plan's heater_range (low/medium/high) switches it to PID"))

        ramp_on, rate = tc.ramp
        said = f"ramp {'on' if ramp_on else 'off'}, {rate:g} K/min (LOOP:RENA, RSET)"
        asked = self.settings.get("ramp_K_per_min")
        if asked is None and ramp_on:
            found.append(Finding("setpoint ramp", said, "left as it is", WARNING,
                                 f"setpoints ramp at {rate:g} K/min (LOOP:RENA ON): a step of "
                                 f"dT takes dT/{rate:g} minutes before the loop holds it"))
        else:
            found.append(Finding("setpoint ramp", said, "left as it is" if asked is None else
                                 f"{asked:g} K/min from the first setpoint", OK))

        cold, hot = tc.calibration_limits_K
        said = f"{cold:g}..{hot:g} K (CAL:COLD, CAL:HOTL)"
        if self.max_temperature_K > hot:
            found.append(Finding("sensor calibration", said, f"setpoints up to "
                                 f"{self.max_temperature_K:g} K", WARNING,
                                 f"the sensor is calibrated to {hot:g} K (CAL:HOTL): the iTC "
                                 f"refuses setpoints above it, below the station's "
                                 f"max_temperature_K = {self.max_temperature_K:g} K"))
        else:
            found.append(Finding("sensor calibration", said,
                                 f"setpoints up to {self.max_temperature_K:g} K", OK))
        return found

    # ------------------------------------------------------------------ readings
    def read_temperature_K(self) -> float:
        with self._io("read temperature") as tc:
            return tc.temperature_K

    def _ask_read_temperature_K(self, tc):
        return tc, tc.read_temperature_command, tc.parse_temperature_reply, None

    def read_resistance_ohm(self) -> float:
        with self._io("read resistance") as tc:
            return tc.resistance_ohm

    def read_heater_power_W(self) -> float:
        with self._io("read heater power") as tc:
            return tc.heater_power_W

    # ------------------------------------------------------------------ the loop
    def set_setpoint_K(self, temperature_K: float) -> None:
        if not isinstance(temperature_K, (int, float)) or isinstance(temperature_K, bool) \
                or not 0 <= temperature_K <= self.max_temperature_K:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K is outside "
                             f"[0, {self.max_temperature_K:g}] K (max_temperature_K)")
        rate = self.settings.get("ramp_K_per_min")
        with self._setpoint_io(f"set setpoint {temperature_K:g} K") as tc:
            if rate is not None and self._ramp_written_on is not tc:
                tc.set_ramp(True, rate)
                self._ramp_written_on = tc
            tc.set_setpoint_K(temperature_K)

    def read_setpoint_K(self) -> float:
        with self._io("read setpoint") as tc:
            return tc.setpoint_K

    def set_heater_range(self, word: str) -> None:
        """"off": the loop in manual at 0 %; low/medium/high: the station's voltage limit for
        the word (HTR:VLIM), then the loop on PID (ENAB ON)."""
        if word == "off":
            with self._setpoint_io("heater off (heater range off)") as tc:
                tc.heater_off()
            return
        if word not in self.voltage_limits:
            raise LimitError(f"{self.who()}: heater range {word!r} is not one of "
                             f"{['off', *self.voltage_limits]}")
        volts = self.voltage_limits[word]
        with self._setpoint_io(f"set heater range {word} (VLIM {volts:g} V, loop on)") as tc:
            tc.set_voltage_limit_V(volts)
            tc.set_loop_enabled(True)

    def read_heater_range(self) -> str:
        with self._io("read heater range") as tc:
            on, vlim = tc.loop_enabled, tc.voltage_limit_V
            percent = None if on else tc.heater_percent
        if not on:
            return "off" if percent == 0 else f"manual {percent:g} %"
        for word, volts in self.voltage_limits.items():
            if abs(volts - vlim) <= 1e-4:
                return word
        return f"VLIM {vlim:g} V"

    def go_to_safe_state(self) -> str:
        """The heater off: the loop in manual at 0 % (ENAB OFF, HSET 0), read back with the
        heater's power. Returns what was done."""
        with self._setpoint_io("heater off (safe state)") as tc:
            watts = tc.heater_off()
        if watts > OFF_POWER_W:
            raise InstrumentError(f"{self.who()}: the heater still dissipates {watts:g} W "
                                  f"(HTR:SIG:POWR) after ENAB OFF, HSET 0")
        return (f"heater off (LOOP:ENAB OFF, HSET 0 read back; {self.settings['heater']} "
                f"{watts:g} W)")

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["max_temperature_K"] = self.max_temperature_K
        snap["heater_voltage_limits_V"] = dict(self.voltage_limits)
        return snap

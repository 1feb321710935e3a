"""The thermometer role on a Lake Shore 372: the mixing-chamber channel read, the sample heater
(output 0) regulating on it.

The bridge is respected:

- one bridge is switched among the scanner's channels; a channel's reading is trusted only
  once the scanner is on it and the channel's change pause and filter settle time have passed
  (INSET? pause, FILTER? settle; then RDGSTL? says "valid"). Before a setpoint the role puts
  the scanner on its channel (autoscan off) and waits that long, in experiment time;
- the sample heater's ranges are the station's: the words a plan uses (low, medium, high) name
  range codes in the station file (settings range_low/range_medium/range_high), and station
  validation refuses a range whose I^2 R into the station's heater exceeds limits.
  max_heater_power_W, before anything is touched;
- the safe state (a run that does not complete): the sample heater off (RANGE 0,0), the
  mixing chamber then cools to base. The still heater is left as it is: it keeps the 3He
  circulating, and turning it off would warm the mixing chamber instead.
"""
from __future__ import annotations

import time

from loopscope.instruments.connect_checks import MISMATCH, OK, WARNING, Finding
from loopscope.instruments.drivers._base import to_float
from loopscope.instruments.roles import InstrumentError, LimitError, Thermometer
from loopscope.instruments.visa_session import Setting, VisaRole

CHANNEL_CHOICES = tuple(["A"] + [str(n) for n in range(1, 17)])
RANGE_WORDS = ("low", "medium", "high")
#: a reading is waited for at most this long beyond pause + settle (lab seconds)
SETTLE_MARGIN_S = 30.0


class LakeShore372Thermometer(VisaRole, Thermometer):
    """A Lake Shore 372 loop: one channel read, the sample heater regulated on it."""

    DRIVER = "loopscope.instruments.drivers.lakeshore372:LakeShore372"

    KIND = "thermometer"
    SETTINGS = {
        "channel": Setting(str, default="6", choices=CHANNEL_CHOICES),
        "output": Setting(int, default=0, choices=(0,)),
        "heater_resistance_ohm": Setting(float, required=True, positive=True),
        "range_low": Setting(int, default=3, choices=tuple(range(1, 9))),
        "range_medium": Setting(int, default=4, choices=tuple(range(1, 9))),
        "range_high": Setting(int, default=5, choices=tuple(range(1, 9))),
    }
    LIMITS = {"max_temperature_K": Setting(float, required=True, positive=True),
              "max_heater_power_W": Setting(float, required=True, positive=True)}
    poll_interval_s = 0.05

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_temperature_K = float(self.limit_values["max_temperature_K"])
        self.ranges = {"off": 0, **{w: int(self.settings[f"range_{w}"]) for w in RANGE_WORDS}}

    def driver_kwargs(self) -> dict:
        return {"channel": self.settings["channel"], "output": int(self.settings["output"]),
                "max_temperature_K": self.max_temperature_K,
                "allowed_ranges": tuple(sorted(set(self.ranges.values())))}

    # ------------------------------------------------------------------ connect
    def read_settings(self, tc) -> list[Finding]:
        """OUTMODE? 0 (a closed loop on the station's channel?), HTRSET? 0 (the heater's
        resistance as the station has it?), SCAN? and INSET? (the channel enabled, the
        scanner on it?). Queries only."""
        found = []
        channel = self.settings["channel"]
        mode, control = tc.output_mode
        words = {0: "off", 1: "monitor out", 2: "open loop", 3: "zone", 4: "still", 5: "closed loop",
                 6: "warm up"}
        said = f"sample heater {words.get(mode, f'mode {mode}')} on input {control} (OUTMODE? 0)"
        station = f"sample heater regulating on channel {channel}"
        if mode in (3, 5) and control != channel:
            found.append(Finding("control loop", said, station, MISMATCH,
                                 f"the sample heater regulates on input {control} but the station "
                                 f"reads channel {channel}: setpoints would be held on another "
                                 f"sensor than the one recorded"))
        elif mode in (3, 5):
            found.append(Finding("control loop", said, station, OK))
        else:
            found.append(Finding("control loop", said, station, WARNING,
                                 f"the sample heater is {words.get(mode, mode)} (OUTMODE? 0), not a "
                                 f"closed loop: temperature setpoints will not be regulated"))
        ohm = tc.heater_resistance_ohm
        want = float(self.settings["heater_resistance_ohm"])
        found.append(Finding("heater resistance", f"{ohm:g} ohm (HTRSET? 0)", f"{want:g} ohm",
                             OK if abs(ohm - want) <= 1e-6 * want else WARNING,
                             "" if abs(ohm - want) <= 1e-6 * want else
                             f"the 372 was told {ohm:g} ohm (HTRSET? 0) but the station's heater is "
                             f"{want:g} ohm: its power display is off by {want / ohm:.3g}x"))
        if channel != "A":
            enabled, _, pause, _, settle = tc.channel_timing()
            if not enabled:
                found.append(Finding("channel", f"channel {channel} disabled (INSET?)",
                                     f"channel {channel} read", MISMATCH,
                                     f"channel {channel} is disabled on the scanner (INSET? "
                                     f"{channel}): it is never measured"))
            scan, auto = tc.scanner
            said = f"scanner on channel {scan}{', autoscan' if auto else ''} (SCAN?)"
            if scan == channel and not auto:
                found.append(Finding("scanner", said, f"channel {channel}", OK))
            else:
                found.append(Finding("scanner", said, f"channel {channel}", WARNING,
                                     f"channel {channel}'s reading is stale while the scanner is "
                                     f"elsewhere; the first setpoint puts it on channel {channel} "
                                     f"(SCAN {channel},0) and waits {pause + settle:g} s "
                                     f"(pause + filter settle)"))
        return found

    # ------------------------------------------------------------------ readings
    def read_temperature_K(self) -> float:
        with self._io("read temperature") as tc:
            value = tc.temperature_K
        return self._checked(value)

    def _checked(self, value: float) -> float:
        if value <= 0:
            raise InstrumentError(f"{self.who()}: RDGK? {self.settings['channel']} read "
                                  f"{value:g} K: the channel has no calibration curve (INSET? "
                                  f"curve 0) or no sensor")
        return value

    def _ask_read_temperature_K(self, tc):
        return tc, tc.read_temperature_command, lambda r: self._checked(to_float(r, "RDGK?")), None

    def read_resistance_ohm(self) -> float:
        with self._io("read resistance") as tc:
            return tc.resistance_ohm

    # ------------------------------------------------------------------ the scanner
    def select_channel(self) -> float:
        """Put the scanner on the station's channel (autoscan off) if it is not there, and wait
        until its reading can be trusted: the change pause and the filter's settle time (lab
        seconds, divided by the station's time scale), then RDGSTL? "valid". Returns the lab
        seconds waited (0 when the scanner was already there)."""
        channel = self.settings["channel"]
        if channel == "A":
            return 0.0
        with self._io("read the scanner") as tc:
            scan, auto = tc.scanner
            _, _, pause, filt_on, settle = tc.channel_timing()
        if scan == channel and not auto:
            return 0.0
        with self._setpoint_io(f"switch the scanner to channel {channel}") as tc:
            tc.select_channel()
        wait_s = pause + (settle if filt_on else 0.0)
        scale = self.context.time_scale
        time.sleep(wait_s / scale)
        deadline = time.monotonic() + SETTLE_MARGIN_S / scale + 10 * self.timeout_s
        while True:
            with self._io("read the settle state") as tc:
                state = tc.settle_status[1]
            if state == 0:
                return wait_s
            if time.monotonic() > deadline:
                raise InstrumentError(f"{self.who()}: channel {channel} still settling (RDGSTL? "
                                      f"{state}) {wait_s + SETTLE_MARGIN_S:g} s after the switch")
            time.sleep(self.poll_interval_s)

    # ------------------------------------------------------------------ the sample heater
    def set_setpoint_K(self, temperature_K: float) -> None:
        if not isinstance(temperature_K, (int, float)) or isinstance(temperature_K, bool) \
                or not 0 <= temperature_K <= self.max_temperature_K:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K is outside "
                             f"[0, {self.max_temperature_K:g}] K (max_temperature_K)")
        self.select_channel()
        with self._setpoint_io(f"set setpoint {temperature_K:g} K") as tc:
            tc.set_setpoint_K(temperature_K)

    def read_setpoint_K(self) -> float:
        with self._io("read setpoint") as tc:
            return tc.setpoint_K

    def set_heater_range(self, word: str) -> None:
        if word not in self.ranges:
            raise LimitError(f"{self.who()}: heater range {word!r} is not one of {list(self.ranges)}")
        with self._setpoint_io(f"set heater range {word} (RANGE 0,{self.ranges[word]})") as tc:
            tc.set_heater_range(self.ranges[word])

    def read_heater_range(self) -> str:
        with self._io("read heater range") as tc:
            code = tc.heater_range
        for word, number in self.ranges.items():
            if number == code:
                return word
        return f"range {code}"

    def go_to_safe_state(self) -> str:
        """The sample heater off (RANGE 0,0); the still heater left alone (it keeps the fridge
        cooling). Returns what was done, read back."""
        with self._setpoint_io("sample heater off (safe state)") as tc:
            tc.set_heater_range(0)
            code = tc.heater_range
        if code != 0:
            raise InstrumentError(f"{self.who()}: RANGE? 0 reads {code} after RANGE 0,0")
        return "sample heater off (RANGE? 0 = 0), still heater left on"

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["max_temperature_K"] = self.max_temperature_K
        snap["heater_ranges"] = dict(self.ranges)
        return snap

"""The thermometer role: one input and one heater loop of a Lake Shore 336.
"""
from __future__ import annotations

from loopscope.instruments.drivers._base import to_float
from loopscope.instruments.connect_checks import MISMATCH, OK, WARNING, Finding
from loopscope.instruments.roles import LimitError, Thermometer
from loopscope.instruments.visa_session import Setting, VisaRole


class LakeShore336Thermometer(VisaRole, Thermometer):
    """A Lake Shore 336 loop: one input read, one heater output regulated on it."""

    DRIVER = "loopscope.instruments.drivers.lakeshore336:LakeShore336"

    KIND = "thermometer"
    SETTINGS = {
        "input": Setting(str, default="A", choices=("A", "B", "C", "D")),
        "output": Setting(int, default=1, choices=(1, 2, 3, 4)),
    }
    LIMITS = {"max_temperature_K": Setting(float, required=True, positive=True)}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_temperature_K = float(self.limit_values["max_temperature_K"])

    def driver_kwargs(self) -> dict:
        return {"input_channel": self.settings["input"],
                "output_channel": int(self.settings["output"]),
                "max_temperature_K": self.max_temperature_K}

    def read_settings(self, tc) -> list[Finding]:
        """OUTMODE? of the station's output: is it a control loop, on the station's input?"""
        mode, control_input, _ = tc.output_mode
        words = {0: "off", 1: "closed-loop PID", 2: "zone", 3: "open loop", 4: "monitor out",
                 5: "warmup supply"}
        output, expected = int(self.settings["output"]), self.settings["input"]
        said = (f"output {output} {words.get(mode, f'mode {mode}')}"
                + (f" on input {control_input}" if control_input else "") + " (OUTMODE?)")
        station = f"output {output} regulating on input {expected}"
        if mode in (1, 2) and control_input != expected:
            return [Finding("control loop", said, station, MISMATCH,
                            f"output {output} regulates on input {control_input or 'none'} "
                            f"(OUTMODE? {output}) but the station reads input {expected}; the "
                            f"setpoints would be held on another sensor than the one recorded. "
                            f"Set the station's input to {control_input or 'the loop input'} or "
                            f"the controller's loop to {expected}")]
        if mode in (1, 2):
            return [Finding("control loop", said, station, OK)]
        return [Finding("control loop", said, station, WARNING,
                        f"output {output} is {words.get(mode, f'mode {mode}')} (OUTMODE?), not a "
                        f"closed loop: temperature setpoints will not be regulated; set "
                        f"OUTMODE {output},1,<input>,0 at the controller if the plan steps "
                        f"temperature")]

    def read_temperature_K(self) -> float:
        with self._io("read temperature") as tc:
            return tc.temperature_K

    def _ask_read_temperature_K(self, tc):
        return tc, tc.read_temperature_command, lambda reply: to_float(reply, "KRDG?"), None

    def set_setpoint_K(self, temperature_K: float) -> None:
        if not isinstance(temperature_K, (int, float)) or isinstance(temperature_K, bool) \
                or not 0 <= temperature_K <= self.max_temperature_K:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K is outside "
                             f"[0, {self.max_temperature_K:g}] K (max_temperature_K)")
        with self._setpoint_io(f"set setpoint {temperature_K:g} K") as tc:
            tc.set_setpoint_K(temperature_K)

    def read_setpoint_K(self) -> float:
        with self._io("read setpoint") as tc:
            return tc.setpoint_K

    def set_heater_range(self, word: str) -> None:
        from loopscope.instruments.drivers.lakeshore336 import HEATER_RANGES
        if word not in HEATER_RANGES:
            raise LimitError(f"{self.who()}: heater range {word!r} is not one of "
                             f"{list(HEATER_RANGES)}")
        with self._setpoint_io(f"set heater range {word}") as tc:
            tc.set_heater_range(word)

    def read_heater_range(self) -> str:
        with self._io("read heater range") as tc:
            return tc.heater_range

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["max_temperature_K"] = self.max_temperature_K
        return snap

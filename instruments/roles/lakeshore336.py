"""The thermometer role: one input and one heater loop of a Lake Shore 336.
"""
from __future__ import annotations

from instruments.drivers._base import to_float
from instruments.roles import LimitError, Thermometer
from instruments.visa_session import Setting, VisaRole


class LakeShore336Thermometer(VisaRole, Thermometer):
    """A Lake Shore 336 loop: one input read, one heater output regulated on it."""

    DRIVER = "instruments.drivers.lakeshore336:LakeShore336"

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
        from instruments.drivers.lakeshore336 import HEATER_RANGES
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

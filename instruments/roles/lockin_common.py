"""What the lock-in roles share: X and Y in volts, the reference frequency within the station's
limits, the time constant.
"""
from __future__ import annotations

import math

from instruments.roles import LimitError, LockIn
from instruments.visa_session import Setting, VisaRole


LOCKIN_LIMITS = {
    "min_frequency_Hz": Setting(float, positive=True),
    "max_frequency_Hz": Setting(float, positive=True),
}


class LockInRole(VisaRole, LockIn):
    KIND = "lockin"
    LIMITS = LOCKIN_LIMITS

    def read_xy_V(self) -> tuple[float, float]:
        with self._io("read X, Y") as li:
            return li.xy_V

    def set_frequency_Hz(self, frequency_Hz: float) -> None:
        lo = self.limit_values.get("min_frequency_Hz", 0.0)
        hi = self.limit_values.get("max_frequency_Hz", math.inf)
        if not isinstance(frequency_Hz, (int, float)) or not lo <= frequency_Hz <= hi:
            raise LimitError(f"{self.who()}: frequency {frequency_Hz!r} Hz is outside the "
                             f"station limits [{lo:g}, {hi:g}] Hz")
        with self._setpoint_io(f"set frequency {frequency_Hz:g} Hz") as li:
            li.frequency = frequency_Hz

    def read_frequency_Hz(self) -> float:
        with self._io("read frequency") as li:
            return li.frequency

    def read_time_constant_s(self) -> float:
        with self._io("read time constant") as li:
            return float(li.time_constant)

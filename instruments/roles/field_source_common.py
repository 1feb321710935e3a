"""What every field-source role shares: the station's field, current and ramp-rate limits,
checked before anything is sent, and the wait for a ramp to settle.
"""
from __future__ import annotations

import math
import time

from loopscope.instruments.roles import (FieldLimits, FieldSource, InstrumentError, LimitError,
                               StopCheck)
from loopscope.instruments.visa_session import Setting, VisaRole, _now


FIELD_LIMITS = {
    "max_field_T": Setting(float, required=True, positive=True),
    "max_current_A": Setting(float, required=True, positive=True),
    "max_ramp_rate_T_per_min": Setting(float, required=True, positive=True),
    "safe_ramp_rate_T_per_min": Setting(float, positive=True),
}


class FieldSourceRole(VisaRole, FieldSource):
    KIND = "field_source"
    LIMITS = FIELD_LIMITS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        lv = self.limit_values
        self.limits = FieldLimits(
            max_field_T=float(lv["max_field_T"]), max_current_A=float(lv["max_current_A"]),
            max_ramp_rate_T_per_min=float(lv["max_ramp_rate_T_per_min"]),
            safe_ramp_rate_T_per_min=(None if lv.get("safe_ramp_rate_T_per_min") is None
                                      else float(lv["safe_ramp_rate_T_per_min"])))

    @property
    def safe_ramp_rate_T_per_min(self) -> float:
        rate = self.limits.safe_ramp_rate_T_per_min or self.limits.max_ramp_rate_T_per_min
        return min(rate, self.limits.max_ramp_rate_T_per_min)

    @property
    def coil_constant_T_per_A(self) -> float:
        raise NotImplementedError

    def check_setpoint(self, field_T: float, rate_T_per_min: float) -> None:
        """All limit checks, before anything is sent."""
        who = self.who()
        for label, value in (("field", field_T), ("ramp rate", rate_T_per_min)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not math.isfinite(value):
                raise LimitError(f"{who}: {label} {value!r} is not a finite number")
        self.limits.check_field(field_T, who)
        self.limits.check_current(field_T / self.coil_constant_T_per_A, who)
        self.limits.check_ramp_rate(rate_T_per_min, who)

    def _ramp_timeout_s(self, delta_T: float, rate_T_per_min: float) -> float:
        """Wall seconds a ramp may take before we call it stuck (generous)."""
        sim_s = abs(delta_T) / rate_T_per_min * 60.0
        return 3.0 * sim_s / self.context.time_scale + 10.0 * self.timeout_s + 5.0

    def wait_settled(self, timeout_s: float, should_stop: StopCheck | None = None) -> bool:
        """Poll is_settled(); False if stopped, InstrumentError on timeout."""
        end = _now() + timeout_s
        while not self.is_settled():
            if should_stop is not None and should_stop():
                return False
            if _now() > end:
                raise InstrumentError(
                    f"{self.who()}: not settled after {timeout_s:.1f} s (state {self.state()})")
            time.sleep(self.poll_interval_s)
        return True

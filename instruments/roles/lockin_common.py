"""What the lock-in roles share: X and Y in volts, the reference frequency within the station's
limits, the time constant.
"""
from __future__ import annotations

import math

from loopscope.instruments.connect_checks import MISMATCH, NOTE, OK, Finding
from loopscope.instruments.roles import LimitError, LockIn
from loopscope.instruments.visa_session import Setting, VisaRole


LOCKIN_LIMITS = {
    "min_frequency_Hz": Setting(float, positive=True),
    "max_frequency_Hz": Setting(float, positive=True),
}


class LockInRole(VisaRole, LockIn):
    KIND = "lockin"
    LIMITS = LOCKIN_LIMITS

    SETTINGS = {
        "reference_source": Setting(str, default="internal",
                                    choices=("internal", "external", "dual", "chop"),
                                    doc="the reference the plans expect (internal: the lock-in's "
                                        "own oscillator sets the frequency)"),
    }
    #: the instrument's reference-source words -> the station's
    REFERENCE_WORDS: dict[str, str] = {}
    REFERENCE_QUERY = ""

    def read_settings(self, li) -> list[Finding]:
        """The reference source (a frequency set on an externally referenced lock-in does
        nothing), the time constant and the sensitivity."""
        raw = li.reference_source
        source = self.REFERENCE_WORDS.get(raw, str(raw).lower())
        expected = self.settings["reference_source"]
        said = f"{source} ({self.REFERENCE_QUERY} -> {raw})"
        findings = [Finding(
            "reference source", said, f"reference_source: {expected}",
            OK if source == expected else MISMATCH,
            "" if source == expected else
            f"the lock-in's reference is {source} ({self.REFERENCE_QUERY} answered {raw!r}) but "
            f"the station's reference_source is {expected}; "
            + ("frequencies the plans set would not be the reference" if expected == "internal"
               else "set reference_source to what the lock-in uses"))]
        findings.append(Finding("time constant", f"{float(li.time_constant):g} s", "", NOTE))
        findings.append(Finding("sensitivity", f"{float(li.sensitivity):g} V full scale", "", NOTE))
        return findings

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

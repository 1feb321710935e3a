"""The field probe role: a Hall probe on a Lake Shore 425 gaussmeter, read in tesla.
"""
from __future__ import annotations

from loopscope.instruments.connect_checks import ADAPTED, NOTE, Finding
from loopscope.instruments.roles import FieldProbe
from loopscope.instruments.visa_session import VisaRole


class LakeShore425Probe(VisaRole, FieldProbe):
    """A Hall probe on a Lake Shore 425; reads in T whatever UNIT the front panel shows."""

    DRIVER = "loopscope.instruments.drivers.lakeshore425:LakeShore425"

    KIND = "field_probe"

    def read_settings(self, gm) -> list[Finding]:
        """UNIT? (readings are converted from it) and RANGE? (its full scale: a field beyond it
        reads as an overload)."""
        from loopscope.instruments.drivers.lakeshore425 import RANGE_FULL_SCALE_T
        unit, range_G = gm.unit, gm.range
        self.full_scale_T = RANGE_FULL_SCALE_T.get(range_G)
        return [Finding("field units", f"{unit} (UNIT?)", "tesla", ADAPTED),
                Finding("range", f"{range_G:g} G full scale (RANGE?)", "", NOTE,
                        f"the probe reads up to {RANGE_FULL_SCALE_T.get(range_G, 0):g} T on this "
                        f"range (RANGE?); beyond it the probe shows OL (overload)")]

    def read_field_T(self) -> float:
        with self._io("read field") as gm:
            return gm.field_T

    def _ask_read_field_T(self, gm):
        scale = gm.tesla_per_unit  # UNIT? (once) before the question, not between it and its reply
        return gm, gm.READ_FIELD, lambda reply: gm.field_T_from_reply(reply, scale), None

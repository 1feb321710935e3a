"""The field probe role: a Hall probe on a Lake Shore 425 gaussmeter, read in tesla.
"""
from __future__ import annotations

from instruments.roles import FieldProbe
from instruments.visa_session import VisaRole


class LakeShore425Probe(VisaRole, FieldProbe):
    """A Hall probe on a Lake Shore 425; reads in T whatever UNIT the front panel shows."""

    DRIVER = "instruments.drivers.lakeshore425:LakeShore425"

    KIND = "field_probe"

    def read_field_T(self) -> float:
        with self._io("read field") as gm:
            return gm.field_T

    def _ask_read_field_T(self, gm):
        scale = gm.tesla_per_unit  # UNIT? (once) before the question, not between it and its reply
        return gm, gm.READ_FIELD, lambda reply: gm.field_T_from_reply(reply, scale), None

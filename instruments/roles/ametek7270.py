"""The lock-in role on a Signal Recovery (Ametek) 7270 DSP lock-in."""
from __future__ import annotations

from loopscope.instruments.roles.lockin_common import LockInRole


class Ametek7270LockIn(LockInRole):
    """A 7270 reading the cantilever; its reference channel (IE) is checked at connect."""

    DRIVER = "loopscope.instruments.drivers.ametek7270:Ametek7270"
    # IE 0 internal, 1 external rear panel (TTL logic), 2 external front panel (7270 manual,
    # reference channel commands); the driver gives the manual's words
    REFERENCE_WORDS = {"INT": "internal", "EXT LOGIC": "external", "EXT": "external"}
    REFERENCE_QUERY = "IE"

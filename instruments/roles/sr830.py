"""The lock-in role on a Stanford Research SR830.
"""
from __future__ import annotations

from loopscope.instruments.roles.lockin_common import LockInRole


class SR830LockIn(LockInRole):
    """An SR830 reading the cantilever."""

    DRIVER = "loopscope.instruments.drivers.sr830:SR830"
    # FMOD? 1 internal, 0 external (SR830 manual, reference commands); pymeasure maps the words
    REFERENCE_WORDS = {"Internal": "internal", "External": "external"}
    REFERENCE_QUERY = "FMOD?"

"""The lock-in role on a Stanford Research SR860.
"""
from __future__ import annotations

from loopscope.instruments.roles.lockin_common import LockInRole


class SR860LockIn(LockInRole):
    """An SR860 reading the cantilever."""

    DRIVER = "loopscope.instruments.drivers.sr860:SR860"
    # RSRC? 0 INT, 1 EXT, 2 DUAL, 3 CHOP (pymeasure maps the codes to these words)
    REFERENCE_WORDS = {"INT": "internal", "EXT": "external", "DUAL": "dual", "CHOP": "chop"}
    REFERENCE_QUERY = "RSRC?"

"""The lock-in role on a Stanford Research SR865A (the SR860's role, the SR865A's driver)."""
from __future__ import annotations

from loopscope.instruments.roles.sr860 import SR860LockIn


class SR865ALockIn(SR860LockIn):
    """An SR865A reading the cantilever; RSRC? is checked at connect as on the SR860."""

    DRIVER = "loopscope.instruments.drivers.sr865a:SR865A"

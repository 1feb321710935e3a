"""The lock-in role on a Stanford Research SR860.
"""
from __future__ import annotations

from instruments.roles.lockin_common import LockInRole


class SR860LockIn(LockInRole):
    """An SR860 reading the cantilever."""

    DRIVER = "instruments.drivers.sr860:SR860"

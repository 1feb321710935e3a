"""Simulated time: speed x wall time since start, so an 8-hour night runs in minutes."""
from __future__ import annotations

import threading
import time


class SimClock:
    """Simulated seconds since start = offset + speed x (wall seconds since the last rebase).

    Changing the speed rebases the clock, so simulated time never jumps.
    ``advance(dt)`` moves simulated time forward by dt (for tests and scripted runs).
    """

    def __init__(self, speed: float = 1.0, wall=time.monotonic):
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed!r}")
        self._wall = wall
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._t0_wall = wall()
        self._offset = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"clock speed must be > 0, got {value!r}")
        with self._lock:
            now = self._now_unlocked()
            self._offset, self._t0_wall, self._speed = now, self._wall(), float(value)

    def _now_unlocked(self) -> float:
        return self._offset + self._speed * (self._wall() - self._t0_wall)

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        with self._lock:
            return self._now_unlocked()

    def advance(self, dt: float) -> None:
        """Jump simulated time forward by dt seconds."""
        if dt < 0:
            raise ValueError("simulated time only moves forward")
        with self._lock:
            self._offset += dt

    def wall_seconds(self, sim_seconds: float) -> float:
        """Wall-clock seconds that sim_seconds of simulated time take."""
        return sim_seconds / self._speed

"""Fault injection: what a misbehaving instrument or magnet does, on a schedule.

Kinds: timeout (no reply to queries), garbage (a garbled reply), drop (close the connection),
slow (delay each reply by delay_s), quench (the magnet quenches when |B| passes field_T),
refuse (the instrument refuses a command whose header starts with ``match`` as out of range:
it is not executed, and the instrument's own out-of-range error goes to its error queue and
*ESR?, as for any refused command).
Each fault may start after ``after_s`` simulated seconds, last ``duration_s``, fire at most
``count`` times, and fire with ``probability`` (seeded) per query.
"""
from __future__ import annotations

import threading

import numpy as np

from .config import MAGNET_AXIS_OF_SLOT, validate_fault


class Fault:
    def __init__(self, spec: dict, rng: np.random.Generator, t_created: float):
        self.spec = spec
        self.instrument = spec["instrument"]
        self.kind = spec["kind"]
        self.after_s = float(spec.get("after_s", 0.0) or 0.0) + t_created
        self.duration_s = spec.get("duration_s")
        self.count = spec.get("count")
        self.probability = float(spec.get("probability", 1.0))
        self.delay_s = float(spec.get("delay_s", 1.0))
        self.field_T = spec.get("field_T")
        self.match = str(spec.get("match") or "").strip().lstrip(":").upper()
        self.fired = 0
        self.rng = rng

    def active(self, t: float) -> bool:
        if t < self.after_s:
            return False
        if self.duration_s is not None and t > self.after_s + float(self.duration_s):
            return False
        if self.count is not None and self.fired >= int(self.count):
            return False
        return True

    def refuses(self, cmd: str) -> bool:
        """For a refuse fault: whether this command (one of a line's ';' parts) is refused."""
        head = cmd.strip().lstrip(":").upper()
        return "?" not in head.split(" ")[0] and head.startswith(self.match)

    def fire(self, t: float) -> bool:
        if not self.active(t):
            return False
        if self.probability < 1.0 and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


class FaultManager:
    def __init__(self, world, seed: int):
        self.world = world
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ss = np.random.SeedSequence([seed, 7919])
        self._n = 0

    def add(self, spec: dict, relative_to_now: bool = True) -> Fault:
        spec = validate_fault(spec, "fault")
        with self._lock:
            rng = np.random.default_rng(self._ss.spawn(1)[0])
            t0 = self.world.clock.now() if relative_to_now else 0.0
            f = Fault(spec, rng, t0)
            self._faults.append(f)
            if f.kind == "quench":
                magnet = self.world.magnets[MAGNET_AXIS_OF_SLOT[f.instrument]]
                magnet.quench_field_T = float(f.field_T)
                magnet.quench_field_after_s = f.after_s
            return f

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            for magnet in self.world.magnets.values():
                magnet.quench_field_T = None

    def check(self, instrument: str, is_query: bool, line: str = "") -> Fault | None:
        """The fault (if any) that fires for this message."""
        t = self.world.clock.now()
        with self._lock:
            for f in self._faults:
                if f.instrument != instrument or f.kind == "quench":
                    continue
                if f.kind in ("timeout", "garbage", "slow") and not is_query:
                    continue
                if f.kind == "refuse" and not any(f.refuses(c) for c in line.split(";")):
                    continue
                if f.fire(t):
                    return f
        return None

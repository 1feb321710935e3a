"""A point's row: every detector read (asked together where the instruments allow), averaged as
the plan says, checked by the suspenders, then appended to the file and published.
"""
from __future__ import annotations

import math
import time

import numpy as np

from loopscope.daq.events import EventKind
from loopscope.daq.run_columns import READ_METHOD
from loopscope.daq.run_states import _Remeasure
from loopscope.daq.plans import Point
from loopscope.instruments.roles import Role, TransientInstrumentError



class PointReadings:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _record(self, p: Point, target_T: float | None, resonance: float | None,
                traces: dict | None = None) -> tuple:
        src = self.source
        ix = self._ix
        row = [math.nan] * ix.width
        now = time.time()
        row[0], row[1], row[2] = p.index, now, (now - self._t0) * self.time_scale
        if target_T is not None:
            row[ix.field_setpoint] = target_T
            if ix.vector_setpoint is not None and self._vector_setpoint is not None:
                for slot, b in zip(ix.vector_setpoint, self._vector_setpoint):
                    row[slot] = b
        if ix.together:
            for (_, _, slots), value in zip(ix.together, self._read_together(ix.together)):
                if len(slots) == 1:
                    row[slots[0]] = value
                else:
                    for slot, v in zip(slots, value):
                        row[slot] = v
        for role, read, slots in ix.direct:
            if len(slots) == 1:
                row[slots[0]] = self._retrying(role, read)
            else:
                for slot, v in zip(slots, self._retrying(role, read)):
                    row[slot] = v
        if ix.current_setpoint is not None and p.field is not None:
            row[ix.current_setpoint] = p.field
        if ix.magnet_current is not None:
            row[ix.magnet_current] = self._retrying(src, src.read_magnet_current_A)
        lockin_cache: dict[int, tuple[float, float]] = {}
        n_avg = ix.readings
        for i, role, q in ix.readers:
            row[i] = self._read_quantity(role, q, n_avg, lockin_cache)
        if resonance is not None:
            row[ix.resonance] = resonance
        if p.temperature_K is not None and ix.temperature_setpoint is not None:
            row[ix.temperature_setpoint] = p.temperature_K
        if p.labels:
            for label, v in p.labels.items():
                row[ix.labels[label]] = v
        row = tuple(row)
        if self._suspenders:
            tripped = self._tripped_suspender(row)
            if tripped:
                if self._ramping_continuously:
                    self._retrying(src, src.pause_ramp)  # the ramp waits with the readings
                self._suspend(tripped)
                raise _Remeasure()
        if traces:
            self.writer.append(row, traces=traces)
        else:
            self.writer.append(row)
        if self.bus.has_subscribers:
            # subscribers map the row to names with the columns of the "started" event
            if traces:
                self._emit(EventKind.POINT, index=p.index, row=row, traces=traces)
            else:
                self._emit(EventKind.POINT, index=p.index, row=row)
        return row

    def _read_together(self, jobs) -> list:
        """One reading from each of several instruments, all asked before the first answer is
        read: the instruments measure at the same time and the point costs about one round
        trip instead of one per instrument. A reading that fails is retried on its own."""
        pending: list = []
        results: list = []
        try:
            for role, method, _ in jobs:
                try:
                    pending.append(role.begin_read(method))
                except Exception as exc:  # retried or raised below, once every reply is in
                    pending.append(exc)
        finally:
            # every question asked gets its answer read, whatever happened meanwhile:
            # a reply left on a session would be taken for the answer to the next question
            for p in pending:
                if isinstance(p, Exception):
                    results.append(p)
                    continue
                try:
                    results.append(p.finish())
                except Exception as exc:
                    results.append(exc)
        for k, value in enumerate(results):
            if isinstance(value, Exception):
                role, method, _ = jobs[k]
                if not isinstance(value, TransientInstrumentError):
                    raise value
                results[k] = self._retrying(role, getattr(role, method), first_error=value)
        return results

    def _read_quantity(self, role: Role, q: str, n_avg: int, lockin_cache: dict) -> float:
        if q in ("lockin_x_V", "lockin_y_V"):
            key = id(role)
            if key not in lockin_cache:
                xs = [self._retrying(role, role.read_xy_V) for _ in range(n_avg)]
                lockin_cache[key] = (float(np.mean([x for x, _ in xs])), float(np.mean([y for _, y in xs])))
            return lockin_cache[key][0 if q == "lockin_x_V" else 1]
        reader = getattr(role, READ_METHOD[q])
        if n_avg == 1 or q == "frequency_Hz":
            return self._retrying(role, reader)
        return float(np.mean([self._retrying(role, reader) for _ in range(n_avg)]))

"""Bounded retries of instrument calls: a glitch is retried at once, a dead connection
reconnected and retried with back-off, for at most the plan's `retries` and `give_up_after_s`.
"""
from __future__ import annotations

import logging
import time

from loopscope.daq.events import EventKind
from loopscope.daq.run_states import RunState
from loopscope.instruments.roles import InstrumentError, Role, TransientInstrumentError

log = logging.getLogger(__name__)



class Retries:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _retrying(self, role: Role, fn, *args, first_error: TransientInstrumentError | None = None):
        """fn(*args), with bounded retries of transient errors (first_error: the first
        attempt was already made, and failed so)."""
        if first_error is None:
            try:
                return fn(*args)  # the fast path: one call, no loop
            except TransientInstrumentError as exc:
                first_error = exc
        retries = self.plan.model.retries
        give_up_wall = self.plan.model.give_up_after_s / self.time_scale
        first_failure = time.monotonic()
        exc = first_error
        attempt = 0
        while True:
            waited = time.monotonic() - first_failure
            if attempt >= retries and waited >= give_up_wall:
                raise InstrumentError(f"{role.name}: gave up after {attempt + 1} attempts in "
                                      f"{waited * self.time_scale:.1f} s: {exc}") from exc
            if attempt == retries and give_up_wall > 0 and not self._going_safe:
                # on the way to the safe state the run stays in SAFE_STATE while it retries
                self._state_before_waiting = self.state
                self._set_state(RunState.WAITING_FOR_INSTRUMENT)
            limit = f"{retries + 1}" if give_up_wall == 0 else f"{retries + 1}+, for up to {self.plan.model.give_up_after_s:g} s"
            message = f"{role.name}: {exc} (attempt {attempt + 1} of {limit}, retrying)"
            log.warning(message)
            if self.writer is not None:
                self.writer.log("warning", message)
            self._emit(EventKind.WARNING, message=message, instrument=role.name)
            # back off: quick retries for a glitch, then at most every 30 s for a dead connection
            self._sleep_wall(min(0.05 * 2 ** attempt, 30.0 / self.time_scale, max(give_up_wall - waited, 0.0))
                             if give_up_wall else min(0.05 * 2 ** attempt, 2.0))
            attempt += 1
            try:
                role.reconnect()
                self._reconnects += 1
            except Exception as rexc:  # reconnect failing is one more failed attempt
                log.warning("%s: reconnect failed: %s", role.name, rexc)
                if self.writer is not None:
                    self.writer.log("warning", f"{role.name}: reconnect failed: {rexc}")
            try:
                value = fn(*args)
            except TransientInstrumentError as again:
                exc = again
                continue
            if self.state == RunState.WAITING_FOR_INSTRUMENT:
                self._set_state(getattr(self, "_state_before_waiting", RunState.RUNNING))
                if self.writer is not None:
                    self.writer.log("info", f"{role.name}: answering again after {attempt + 1} attempts")
            return value

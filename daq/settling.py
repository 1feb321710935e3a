"""Settling and waiting: until the source holds at its setpoint, until a probe is stable, until
the run's clock reaches a time; every wait is cut short by an abort (or, on the way to the
safe state, only by the operator's hold).
"""
from __future__ import annotations

import time

from loopscope.daq.run_states import RunAborted, _HoldRequested, _Remeasure
from loopscope.instruments.roles import InstrumentError

POLL_INTERVAL_S = 0.02  # wall-clock; short enough for a sped-up simulated lab



class Settling:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _settle(self) -> None:
        s = self.plan.model.settle
        if s.wait_for_holding:
            self._wait_holding(s.timeout_s)
        if s.delay_s:
            self._sleep_experiment(s.delay_s)
        if s.stable_tolerance_T is not None:
            probes = self._roles_of("field_probe")
            if probes:
                self._wait_stable(probes[0], s.stable_tolerance_T, s.stable_readings, s.timeout_s)

    def _wait_holding(self, timeout_s: float, resend=None) -> None:
        src = self.source
        deadline = time.monotonic() + timeout_s / self.time_scale
        poll = POLL_INTERVAL_S / 32  # a small step is often settled at once: look again soon, then less often
        seen_reconnects = self._reconnects
        while not self._retrying(src, src.is_settled):
            self._retrying(src, src.check_quench)
            if self._reconnects != seen_reconnects:
                message = "a connection was re-opened while waiting for the setpoint; sending it again"
                self.writer.log("warning", message)
                if self._in_point:
                    raise _Remeasure()
                seen_reconnects = self._reconnects
                if resend is not None:
                    self._retrying(src, resend)
            if time.monotonic() > deadline:
                raise InstrumentError(f"{self.source_name}: not holding at its target after {timeout_s:g} s "
                                      f"(state {self._retrying(src, src.state)})")
            self._sleep_wall(poll)
            poll = min(2 * poll, POLL_INTERVAL_S)

    def _wait_stable(self, probe, tolerance: float, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s / self.time_scale
        readings: list[float] = []
        while True:
            readings.append(self._retrying(probe, probe.read_field_T))
            readings = readings[-n:]
            if len(readings) == n and max(readings) - min(readings) <= tolerance:
                return
            if time.monotonic() > deadline:
                raise InstrumentError(f"{probe.name}: field not stable within {tolerance:g} T after {timeout_s:g} s "
                                      f"(last readings {readings})")
            self._sleep_wall(POLL_INTERVAL_S)

    def _wait_until_elapsed(self, target_s: float) -> None:
        remaining = target_s - (time.time() - self._t0) * self.time_scale
        if remaining > 0:
            self._sleep_experiment(remaining)

    def _sleep_experiment(self, seconds: float) -> None:
        self._sleep_wall(seconds / self.time_scale)

    def _sleep_wall(self, seconds: float) -> None:
        if self._going_safe:
            # on the way to the safe state an abort is what brought us here: only a hold stops
            if self._hold.wait(seconds):
                raise _HoldRequested()
            return
        if self._abort.wait(seconds):
            raise RunAborted()

    def _should_stop(self) -> bool:
        return self._abort.is_set()

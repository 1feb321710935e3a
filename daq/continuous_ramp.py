"""The continuous kind: one ramp from start to stop, every detector read at an interval while
it ramps, with the field actually reached in each row.
"""
from __future__ import annotations

import time

from loopscope.daq.events import EventKind
from loopscope.daq.plans import Point
from loopscope.daq.run_states import _Remeasure
from loopscope.instruments.roles import InstrumentError



class ContinuousRamp:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _run_continuous(self, start_index: int, total: int) -> None:
        """Bring the field to the plan's start and settle as for any point; then start ONE ramp
        to stop at rate_T_per_min and read every detector every interval_s (experiment time)
        while it ramps, each row with the field reached and, as field_setpoint_T, where the
        ramp should be by then; a last row once the source holds at stop.

        A pause holds the ramp (pause_ramp) and a suspender that trips does too; afterwards
        the ramp starts again from where the field is. A run resumed in its file (after a
        crash, or the queue's retry) starts from the last field on disk instead of start:
        the field is brought there, settled, and the ramp to stop goes on, the rows appended."""
        m = self.plan.model
        src = self.source
        k = 1.0 if m.axis == "field" else src.coil_constant_T_per_A
        start_T, stop_T = m.start * k, m.stop * k
        sign = 1.0 if stop_T > start_T else -1.0
        first_T = start_T
        if start_index:
            last = self.writer.last_row()
            first_T = min(max(last["field_T"], min(start_T, stop_T)), max(start_T, stop_T))
            self.writer.log("info", f"continuous ramp resumed from {first_T:.6g} T, the last field on disk")
        while True:  # to the first field, settled, as a point is
            self._point_reconnects = self._reconnects
            self._in_point = True
            try:
                self._retrying(src, src.check_quench)
                self._ramp_and_settle(first_T)
                break
            except _Remeasure:
                continue
            finally:
                self._in_point = False
        limit = self.plan.max_points()
        rate_T_per_s = m.rate_T_per_min / 60.0
        index = start_index
        from_T = first_T
        self._ramping_continuously = True
        try:
            while True:  # one ramp; started again after a pause, a suspension, a re-opened connection
                self._retrying(src, src.start_ramp, stop_T, m.rate_T_per_min)
                ramp_t0 = (time.time() - self._t0) * self.time_scale
                reconnects = self._reconnects
                ramp_s = abs(stop_T - from_T) / rate_T_per_s
                deadline = time.monotonic() + (2.0 * ramp_s + m.settle.timeout_s) / self.time_scale
                try:
                    n = 0
                    while True:
                        if self._pause.is_set():
                            self._retrying(src, src.pause_ramp)  # the field holds while paused
                            self._check_pause_and_abort()
                            break  # resumed: ramp on from where the field is
                        self._check_pause_and_abort()
                        self._retrying(src, src.check_quench)
                        settled = self._retrying(src, src.is_settled)
                        if self._reconnects != reconnects:
                            # a ramp command may have been lost with the connection (the Kepco's
                            # software ramp stops with its session): start it again from here
                            self.writer.log("warning", "a connection was re-opened during the ramp; "
                                                       "starting it again from where the field is")
                            break
                        if not settled and index >= limit - 1:
                            message = (f"max_points {limit:g} reached during the ramp: no more readings "
                                       f"until {self.source_name} holds at {stop_T:g} T")
                            self.writer.log("warning", message)
                            self._emit(EventKind.WARNING, message=message)
                            self._wait_holding(m.settle.timeout_s + 2.0 * ramp_s,
                                               resend=lambda: src.start_ramp(stop_T, m.rate_T_per_min))
                            settled = True
                        if settled:
                            self._record(Point(index, field=m.stop), stop_T, None)
                            self._points_done += 1
                            self._progress(total)
                            return
                        elapsed = (time.time() - self._t0) * self.time_scale - ramp_t0
                        setpoint_T = from_T + sign * min(rate_T_per_s * elapsed, abs(stop_T - from_T))
                        self._record(Point(index, field=setpoint_T / k), setpoint_T, None)
                        index += 1
                        self._points_done += 1
                        self._progress(total)
                        if time.monotonic() > deadline:
                            raise InstrumentError(f"{self.source_name}: not holding at {stop_T:g} T "
                                                  f"{2.0 * ramp_s + m.settle.timeout_s:g} s after the ramp "
                                                  f"started (state {self._retrying(src, src.state)})")
                        n += 1
                        self._wait_until_elapsed(ramp_t0 + n * m.interval_s)
                except _Remeasure:
                    pass  # a suspender held the ramp (see _record) and has cleared
                from_T = self._retrying(src, src.read_field_T)
        finally:
            self._ramping_continuously = False

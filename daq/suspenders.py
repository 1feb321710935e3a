"""Suspenders: conditions (a temperature band, probe and source agreeing on the field) that
hold a point when they trip; the point waits, and is measured again once they clear.
"""
from __future__ import annotations

import logging
import time

from loopscope.daq.events import EventKind
from loopscope.daq.plan_against_station import _first_of_kind
from loopscope.daq.run_states import RunState
from loopscope.daq.settling import POLL_INTERVAL_S
from loopscope.instruments.roles import InstrumentError, Role, role_kind

log = logging.getLogger(__name__)



class Suspenders:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _suspender_role(self, sus) -> Role:
        kind = "thermometer" if sus.kind == "temperature_band" else "field_probe"
        name = sus.instrument if sus.kind == "temperature_band" else sus.probe
        instruments = {n: (role_kind(r), {}) for n, r in self.station.roles.items()}
        return self.station.roles[_first_of_kind(instruments, kind, name, "suspenders")]

    def _tripped_suspender(self, row: tuple | None = None) -> str:
        """Why the point must wait ('' when every condition is fine)."""
        col = self.writer.column_index
        for sus, role in self._suspenders:
            if sus.kind == "temperature_band":
                if row is not None and "temperature_K" in col and self.detectors.get(role.name) is role:
                    temperature = row[col["temperature_K"]]
                else:
                    temperature = self._retrying(role, role.read_temperature_K)
                if not sus.min_K <= temperature <= sus.max_K:
                    return (f"temperature {temperature:.4g} K outside [{sus.min_K:g}, {sus.max_K:g}] K "
                            f"({role.name})")
            else:
                if row is not None and "probe_field_T" in col and self.detectors.get(role.name) is role:
                    probe, source = row[col["probe_field_T"]], row[col["field_T"]]
                else:
                    probe = self._retrying(role, role.read_field_T)
                    source = self._retrying(self.source, self.source.read_field_T)
                if abs(probe - source) > sus.tolerance_T:
                    return (f"{role.name} reads {probe:.6g} T but {self.source_name} says {source:.6g} T "
                            f"(tolerance {sus.tolerance_T:g} T)")
        return ""

    def _suspend(self, why: str) -> None:
        m = self.plan.model
        message = f"suspended: {why}; the point waits and is measured again when it clears"
        log.warning(message)
        self.writer.log("warning", message)
        self._emit(EventKind.WARNING, message=message)
        self._set_state(RunState.SUSPENDED)
        deadline = time.monotonic() + m.suspend_timeout_s / self.time_scale
        while why:
            if time.monotonic() > deadline:
                raise InstrumentError(f"suspended for more than {m.suspend_timeout_s:g} s: {why}")
            self._sleep_wall(POLL_INTERVAL_S * 5)
            self._check_pause_and_abort()
            why = self._tripped_suspender()
        self.writer.log("info", "suspension cleared; re-measuring the point")
        self._set_state(RunState.RUNNING)

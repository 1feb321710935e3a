"""The safe state: where the field source goes when a run ends in any way but completion (an
abort, Ctrl-C, a failure, a quench), and how a completed run leaves the field (the plan's
`end`). The station says what safe means (ramp to zero at the safe rate, or hold); the
persistent-switch heater rules are the FieldSource role's to enforce. The operator's hold
stops the supply where it is instead, and the run says the field is NOT safe.
"""
from __future__ import annotations

import logging

from loopscope.daq.events import EventKind
from loopscope.daq.run_states import _HoldRequested
from loopscope.instruments.roles import role_kind

log = logging.getLogger(__name__)



class SafeState:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _go_safe(self) -> tuple[str, bool]:
        """Bring the field source to the station's safe state, through the sessions the run
        has open, with the usual bounded retries (an abort does not cut them short; only the
        operator's hold does). Returns (account, reached)."""
        self._going_safe = True
        src = self.source
        interrupts = 0
        while True:
            try:
                if self._hold.is_set():
                    raise _HoldRequested()
                account = self._retrying(src, src.go_to_safe_state, self._hold.is_set)
                if self._hold.is_set():
                    raise _HoldRequested()
                return account, True
            except _HoldRequested:
                return self._hold_here(), False
            except KeyboardInterrupt:
                # no guard took the signal (a run outside the main thread's reach): the ramp
                # to safety is started again; the third interrupt holds the supply instead
                interrupts += 1
                log.warning("interrupt during the ramp to the safe state (%d): going on", interrupts)
                if interrupts >= 2:
                    self._hold.set()
            except Exception as exc:
                self._report_not_safe(self.source_name, exc)
                return f"FAILED ({exc}); the field is NOT at the safe state", False

    def _source_meters_safe(self) -> str:
        """Every source-meter the plan drives: source at zero, output off (after the field
        source, whatever happened to it). Returns their accounts, '' when the plan has none."""
        accounts = []
        for role in {id(r): r for r in self._measured_roles.values()
                     if role_kind(r) == "source_meter"}.values():
            try:
                accounts.append(f"{role.name}: {self._retrying(role, role.go_to_safe_state)}")
            except Exception as exc:
                self._report_not_safe(role.name, exc)
                accounts.append(f"{role.name}: FAILED ({exc}); its output may still be on")
        return "; ".join(accounts)

    def _thermometers_safe(self) -> str:
        """Every thermometer of the run whose role has a safe state of its own (a Lake Shore
        372 or a Mercury iTC: its heater off), after the field source. Returns their accounts."""
        roles = [r for r in self.detectors.values() if role_kind(r) == "thermometer"]
        if getattr(self.plan.model, "temperature", None) is not None:
            roles += [r for r in self.station.roles.values() if role_kind(r) == "thermometer"][:1]
        accounts = []
        for role in {id(r): r for r in roles if hasattr(r, "go_to_safe_state")}.values():
            try:
                accounts.append(f"{role.name}: {self._retrying(role, role.go_to_safe_state)}")
            except Exception as exc:
                self._report_not_safe(role.name, exc)
                accounts.append(f"{role.name}: FAILED ({exc}); its heater may still be on")
        return "; ".join(accounts)

    def _report_not_safe(self, name: str, exc: Exception) -> None:
        """An instrument that could not be brought to its safe state: logged, published, filed."""
        message = f"could not bring {name} to its safe state: {exc}"
        log.error(message)
        self._emit(EventKind.ERROR, message=message)
        if self.writer is not None:
            self.writer.log("error", message)

    def _hold_here(self) -> str:
        """Pause the supply where it is (the operator's hold): one attempt, no retries."""
        src = self.source
        try:
            src.pause_ramp()
        except Exception as exc:
            return (f"{self.source_name}: told to hold, but pausing it failed ({exc}); the field is NOT "
                    "at the safe state")
        try:
            where = f"{src.read_field_T():.4g} T"
        except Exception:
            where = "an unknown field (it did not answer)"
        message = f"{self.source_name}: holding at {where} on the operator's request; NOT at the safe state"
        self._emit(EventKind.WARNING, message=message)
        return message

    def _finish_field(self) -> None:
        m = self.plan.model
        if m.end == "hold":
            return
        src = self.source
        if src.has_persistent_switch and self._retrying(src, src.in_persistent_mode):
            if m.kind == "persistent_step":
                return  # trapping the field was the point of the plan; leave it persistent
            self._retrying(src, src.leave_persistent_mode, self._should_stop)
        self._retrying(src, src.start_ramp, 0.0, self.ramp_rate)
        self._wait_holding(m.settle.timeout_s, resend=lambda: src.start_ramp(0.0, self.ramp_rate))

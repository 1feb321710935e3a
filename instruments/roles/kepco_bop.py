"""The coil supply role: a resistive (Helmholtz) coil on a Kepco BOP 36-12, ramped in software.
"""
from __future__ import annotations

import math
import threading

from loopscope.instruments.connect_checks import MISMATCH, NOTE, OK, WARNING, Finding
from loopscope.instruments.drivers._base import to_float
from loopscope.instruments.roles import StopCheck
from loopscope.instruments.roles.field_source_common import FieldSourceRole
from loopscope.instruments.visa_session import Setting, _now, _SplitRead


class KepcoFieldSource(FieldSourceRole):
    """A resistive (Helmholtz) coil on a Kepco BOP 36-12 in current mode.

    The BOP has no ramp generator: a new setpoint is reached as fast as the coil's L/R and
    the compliance voltage allow. ``start_ramp`` therefore steps the current setpoint in
    software from a background thread, at the requested rate in the lab's time (rate x
    time_scale in wall time), never faster; the thread writes a new setpoint every
    ``step_interval_s`` (lab seconds, at least 20 ms of wall time). The field the supply
    "makes" is coil_constant x measured output current.
    """

    DRIVER = "loopscope.instruments.drivers.kepco_bop:KepcoBOP"

    SETTINGS = {
        "coil_constant_T_per_A": Setting(float, required=True, positive=True,
                                         doc="field at the sample per ampere"),
        "compliance_voltage_V": Setting(float, required=True, positive=True,
                                        doc="voltage limit (VOLT) written before a ramp"),
        "settle_tolerance_A": Setting(float, default=0.002, positive=True),
        "step_interval_s": Setting(float, default=0.1, positive=True),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._target_A = 0.0
        self._last_setpoint_A = 0.0
        self._prepared_driver = None  # the driver session start_ramp last prepared
        self._thread: threading.Thread | None = None
        self._stop_ramp = threading.Event()
        self._ramp_error: BaseException | None = None
        self._paused = False

    @property
    def coil_constant_T_per_A(self) -> float:
        return float(self.settings["coil_constant_T_per_A"])

    def read_settings(self, bop) -> list[Finding]:
        """The operating mode and the output: a BOP in voltage mode with its output on is
        being driven by something else. (Its rating needs no check here: the identity pattern
        admits only a 36-12, and the station's limits are validated against that.)"""
        findings = []
        mode, on = bop.operating_mode, bop.output_enabled
        said = f"{'current' if mode == 'CURR' else 'voltage'} mode (FUNC:MODE?), output " \
               f"{'on' if on else 'off'} (OUTP?)"
        if mode != "CURR" and on:
            findings.append(Finding(
                "operating mode", said, "current mode", MISMATCH,
                "the supply is in voltage mode with its output on (FUNC:MODE? VOLT, OUTP? 1): "
                "something else drives the coil, and switching to current mode under load "
                "would kick it. Ramp it down and switch the output off first"))
        elif mode != "CURR":
            findings.append(Finding("operating mode", said, "current mode", NOTE,
                                    "the role sets current mode before its first ramp "
                                    "(the output is off)"))
        elif on:
            current = bop.current
            findings.append(Finding("operating mode", said + f", {current:.4g} A", "current mode",
                                    OK if abs(current) <= self.settings["settle_tolerance_A"]
                                    else WARNING,
                                    "" if abs(current) <= self.settings["settle_tolerance_A"] else
                                    f"the supply drives {current:.4g} A "
                                    f"({current * self.coil_constant_T_per_A:.4g} T) already: "
                                    f"the first ramp starts from there"))
        else:
            findings.append(Finding("operating mode", said, "current mode", OK))
        return findings

    # readings -----------------------------------------------------------------------------
    def read_current_A(self) -> float:
        # the settle poll asks this over and over: the one-exchange path of the split readings
        return _SplitRead(self, "read_output_current", self._ask_read_current_A).finish()

    def read_field_T(self) -> float:
        return self.coil_constant_T_per_A * self.read_current_A()

    def read_field_and_current(self) -> tuple[float, float]:
        current = self.read_current_A()  # the field is the coil constant times it: one query
        return self.coil_constant_T_per_A * current, current

    def _ask_read_current_A(self, bop):
        query = bop.MEASURE_CURRENT
        return bop, query, lambda reply: to_float(reply, query), None

    def _ask_read_field_and_current(self, bop):
        k, query = self.coil_constant_T_per_A, bop.MEASURE_CURRENT

        def parse(reply: str) -> tuple[float, float]:
            current = to_float(reply, query)
            return k * current, current
        return bop, query, parse, None

    # ramping -------------------------------------------------------------------------------
    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        self.check_setpoint(field_T, rate_T_per_min)
        self._stop_thread()
        target_A = field_T / self.coil_constant_T_per_A
        if self._prepared_driver is not self.driver:
            # once per session (a reconnect opens a new one): current mode, compliance, output on
            with self._setpoint_io("prepare current mode") as bop:
                if bop.operating_mode != "CURR":
                    bop.operating_mode = "CURR"
                compliance = float(self.settings["compliance_voltage_V"])
                if abs(bop.voltage_setpoint - compliance) > 1e-6:
                    bop.voltage_setpoint = compliance
                if not bop.output_enabled:
                    bop.current_setpoint = 0.0
                    bop.output_enabled = True
                self._last_setpoint_A = bop.current_setpoint
                self._prepared_driver = bop
        start_A = self._last_setpoint_A
        self._target_A = target_A
        self._paused = False
        self._ramp_error = None
        rate_A_per_s = rate_T_per_min / 60.0 / self.coil_constant_T_per_A
        if abs(target_A - start_A) / rate_A_per_s <= float(self.settings["step_interval_s"]):
            # a change smaller than one software step at this rate: the step is the ramp
            # (the coil's L/R slew smooths it), so write it at once, with no thread to wait for
            with self._setpoint_io("write current setpoint") as bop:
                bop.current_setpoint = target_A
                self._last_setpoint_A = target_A
            return
        self._stop_ramp.clear()
        self._thread = threading.Thread(
            target=self._ramp_loop, args=(start_A, target_A, rate_A_per_s),
            name=f"ramp-{self.name}", daemon=True)
        self._thread.start()

    def _ramp_loop(self, start_A: float, target_A: float, rate_A_per_s: float) -> None:
        scale = self.context.time_scale
        interval = max(0.02, float(self.settings["step_interval_s"]) / scale)
        duration_lab = abs(target_A - start_A) / rate_A_per_s
        t0 = _now()
        try:
            while not self._stop_ramp.is_set():
                elapsed_lab = (_now() - t0) * scale
                if elapsed_lab >= duration_lab:
                    setpoint = target_A
                else:
                    setpoint = start_A + math.copysign(rate_A_per_s * elapsed_lab,
                                                       target_A - start_A)
                with self._setpoint_io("write current setpoint") as bop:
                    if self._stop_ramp.is_set():
                        return
                    bop.current_setpoint = setpoint
                    self._last_setpoint_A = setpoint
                if setpoint == target_A:
                    return
                self._stop_ramp.wait(interval)
        except BaseException as exc:  # surfaced by the next is_settled()/state()
            self._ramp_error = exc

    def _stop_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._stop_ramp.set()
            thread.join(timeout=5 * self.timeout_s + 1)
        self._thread = None

    def _raise_ramp_error(self) -> None:
        exc, self._ramp_error = self._ramp_error, None
        if exc is not None:
            raise exc

    @property
    def ramping(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_settled(self) -> bool:
        self._raise_ramp_error()
        if self.ramping:
            return False
        return abs(self.read_current_A() - self._target_A) <= self.settings["settle_tolerance_A"]

    def state(self) -> str:
        self._raise_ramp_error()
        if self.ramping:
            return "RAMPING"
        with self._io("read output state") as bop:
            if not bop.output_enabled:
                return "OUTPUT OFF"
            current = bop.current
        if self._paused:
            return "PAUSED"
        if abs(current - self._target_A) <= self.settings["settle_tolerance_A"]:
            return "HOLDING"
        return "SETTLING"

    def pause_ramp(self) -> None:
        self._stop_thread()
        with self._io("read current setpoint") as bop:
            self._target_A = bop.current_setpoint
        self._paused = True

    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        """Ramp to 0 A at the safe rate (a resistive coil cannot hold field unpowered, so
        ``safe_state: hold`` does not apply). The output is left on at 0 A: switching a
        BOP off into an inductive load would kick the coil."""
        self._stop_thread()
        self._ramp_error = None
        with self._io("read output state") as bop:
            if not bop.output_enabled:
                return f"{self.name}: output off, 0 T"
            start_A = bop.current
        start_T = start_A * self.coil_constant_T_per_A
        rate = self.safe_ramp_rate_T_per_min
        self.start_ramp(0.0, rate)
        if not self.wait_settled(self._ramp_timeout_s(start_T, rate), should_stop):
            return f"{self.name}: ramping from {start_T:.4g} T toward 0 T (stopped waiting)"
        return f"{self.name}: ramped from {start_T:.4g} T to 0 T at {rate:g} T/min"

    def close(self) -> None:
        self._stop_thread()
        super().close()

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["coil_constant_T_per_A"] = self.coil_constant_T_per_A
        return snap

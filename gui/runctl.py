"""The bridge between a run in its own process and the Qt thread.

The runner works in a process of its own (daq.run_process): the window's drawing never holds
the interpreter lock the acquisition needs, and a window that crashes leaves the run going
to its normal end. The process's reader thread hands each event to `RunController`, which
only appends it to a deque there (no Qt call but one queued wake-up signal for rare events)
and drains the deque in the Qt thread: rare events (started, state, warning, finished ...)
are handled at once, point rows arrive as blocks and leave as one numpy block per drain. The
drain runs on the wake-up signal and on a timer, so hundreds of points per second cost a few
signals per second, and acquisition never waits for the window.
"""
from __future__ import annotations

import collections
import math
import threading
import time

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from loopscope.daq.events import Event

DRAIN_INTERVAL_MS = 20  # 50 Hz, faster than the redraw timer (40 Hz); points are never drawn one by one


class RunController(QObject):
    """Starts one job (a plan, or a queue file) at a time in its own process and re-emits
    its events as Qt signals (Qt thread)."""

    run_started = pyqtSignal(dict)      # the "started" event's data
    points = pyqtSignal(object)         # np.ndarray (k, n_columns) of new rows, in order
    traces = pyqtSignal(object)         # [(point index, {trace: {signal: array}})] of those rows
    progress = pyqtSignal(dict)         # done, total, eta_s, rate_per_s
    state_changed = pyqtSignal(str)     # running | paused | safe_state | completed | aborted | failed
    message = pyqtSignal(str, str)      # level (info, warning, error), text
    run_finished = pyqtSignal(dict)     # the "finished" event's data (once per run)
    job_finished = pyqtSignal(dict)     # the process has ended: {"error": str, "queue_state": ...}
    _wake = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runner = None  # the daq.run_process.RunProcess of the current (or last) job
        self._events: collections.deque[Event] = collections.deque()
        self._lock = threading.Lock()
        self._columns: list[str] = []
        self._finished_seen = True  # the current run's "finished" was handled
        self._job_done = True       # the current job's process has ended
        self._wake.connect(self._drain)
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)
        self.points_received = 0

    # -- control (Qt thread) ------------------------------------------------------------
    @property
    def active(self) -> bool:
        """A job is under way: its process holds the instruments until it has ended."""
        return self.runner is not None and not self._job_done

    @property
    def run_active(self) -> bool:
        """A run is between its start and its "finished" (a queue has gaps between runs)."""
        return self.active and not self._finished_seen

    def start(self, job):
        """Start a daq.run_process PlanJob or QueueJob in its own process."""
        from loopscope.daq.run_process import RunProcess

        if self.active:
            raise RuntimeError("a run is already active")
        with self._lock:
            self._events.clear()
        proc = RunProcess(job)
        self.runner = proc
        self._finished_seen = False
        self._job_done = False
        self._columns = []
        self.points_received = 0
        proc.subscribe(self._on_event)
        proc.start()
        self._timer.start()
        return proc

    def pause(self) -> None:
        if self.run_active:
            self.runner.pause()
            self.message.emit("info", "pause requested: the run stops before the next point")

    def resume(self) -> None:
        if self.run_active:
            self.runner.resume()
            self.message.emit("info", "resume requested")

    def abort(self, reason: str = "aborted by the operator") -> None:
        if self.active:
            self.runner.abort(reason)
            source = self.runner.source_name or "the field source"
            self.message.emit("warning", f"abort requested ({reason}): the runner ramps "
                                         f"{source} to its safe state and closes the file")

    def stop_after_current(self) -> None:
        if self.active:
            self.runner.stop_after_current()

    # -- reader thread of the run process: no Qt widget is touched here ---------------------
    def _on_event(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
        if event.kind not in ("points", "traces"):
            self._wake.emit()  # queued to the Qt thread

    # -- Qt thread -------------------------------------------------------------------------
    def _drain(self) -> None:
        with self._lock:
            events = list(self._events)
            self._events.clear()
        blocks: list[np.ndarray] = []
        traces: list = []
        for ev in events:
            if ev.kind == "points":
                blocks.append(ev.data["rows"])
                continue
            if ev.kind == "traces":  # the traces of rows just above: one signal per drain too
                traces.extend(ev.data["points"])
                continue
            self._emit_data(blocks, traces)
            blocks, traces = [], []
            self._handle(ev)
        self._emit_data(blocks, traces)
        self._check_process()

    def _emit_data(self, blocks: list[np.ndarray], traces: list) -> None:
        if blocks:
            self._emit_rows(blocks)
        if traces:
            self.traces.emit(traces)

    def _emit_rows(self, blocks: list[np.ndarray]) -> None:
        block = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        self.points_received += len(block)
        self.points.emit(block)

    def _handle(self, ev: Event) -> None:
        d = ev.data
        if ev.kind == "started":
            self._finished_seen = False  # the next run of a queue
            self._columns = list(d["columns"])
            self.message.emit("info", f"started {d['title']!r} ({d['plan_kind']}, {d['total']} points) "
                                      f"-> {d['path']}")
            self.run_started.emit(dict(d))
        elif ev.kind == "progress":
            self.progress.emit(dict(d))
        elif ev.kind == "state":
            state = d["state"]
            if state == "safe_state":
                self.message.emit("warning", "going to the safe state: ramping the field source "
                                             "at its safe rate; please wait")
            elif state in ("paused", "running"):
                self.message.emit("info", f"state: {state}")
            self.state_changed.emit(state)
        elif ev.kind in ("warning", "error"):
            self.message.emit(ev.kind, d.get("message", ""))
        elif ev.kind == "finished":
            self._finish(dict(d))
        elif ev.kind == "job_done":
            self._end_job(dict(d))

    def _check_process(self) -> None:
        # A run process that ended without saying so (killed, crashed before its report)
        proc = self.runner
        if proc is None or self._job_done or proc.alive:
            return
        with self._lock:
            if self._events:
                return
        code = proc.exitcode
        why = f"the run process ended unexpectedly (exit code {code}); see the terminal log"
        if not self._finished_seen:
            res = proc.result
            self._finish({"status": "failed", "reason": why, "path": str(proc.out_path or ""),
                          "points": proc.points_done, "safe_state": ""} if res is None else
                         {"status": res.status, "reason": res.reason, "path": str(res.path),
                          "points": res.points, "safe_state": res.safe_state})
        self._end_job({"error": why})

    def _finish(self, d: dict) -> None:
        if self._finished_seen:
            return
        self._finished_seen = True
        level = "info" if d["status"] == "completed" else ("warning" if d["status"] == "aborted" else "error")
        text = f"finished: {d['status']}, {d['points']} points in {d['path']}"
        if d.get("reason"):
            text += f" ({d['reason']})"
        self.message.emit(level, text)
        self.run_finished.emit(d)

    def _end_job(self, outcome: dict) -> None:
        if self._job_done:
            return
        if outcome.get("error") and not self._finished_seen:
            # the job ended before its run could start (station not reachable, plan refused)
            self._finish({"status": "failed", "reason": outcome["error"],
                          "path": str(self.runner.out_path or ""), "points": 0, "safe_state": ""})
        elif outcome.get("error"):
            self.message.emit("error", f"run process: {outcome['error']}")
        self._job_done = True
        self._timer.stop()
        self.job_finished.emit(outcome)

    def wait_finished(self, timeout_s: float) -> bool:
        """Block (Qt events processed) until the active job has ended. For closing and tests."""
        from PyQt6.QtWidgets import QApplication

        end = time.monotonic() + timeout_s
        while self.active and time.monotonic() < end:
            QApplication.processEvents()
            if self.runner is not None:
                self.runner.wait(0.02)
            self._drain()
        return not self.active


def format_eta(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "ETA --"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"ETA {seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"ETA {seconds // 60} min {seconds % 60:02d} s"
    return f"ETA {seconds} s"

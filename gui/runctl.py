"""The bridge between a Runner and the Qt thread.

The runner calls subscribers from its event dispatcher thread. `RunController` only appends
each event to a deque there (no Qt call but one queued wake-up signal for rare events), and
drains the deque in the Qt thread: rare events (started, state, warning, finished ...) are
handled at once, point rows are batched into one numpy block per drain. The drain runs on
the wake-up signal and on a timer, so hundreds of points per second cost a few signals per
second, and acquisition never waits for the window.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from daq.events import Event

DRAIN_INTERVAL_MS = 33  # ~30 Hz, the redraw rate; points are never drawn one by one


class RunController(QObject):
    """Starts one Runner at a time and re-emits its events as Qt signals (Qt thread)."""

    run_started = pyqtSignal(dict)      # the "started" event's data
    points = pyqtSignal(object)         # np.ndarray (k, n_columns) of new rows, in order
    progress = pyqtSignal(dict)         # done, total, eta_s, rate_per_s
    state_changed = pyqtSignal(str)     # running | paused | safe_state | completed | aborted | failed
    message = pyqtSignal(str, str)      # level (info, warning, error), text
    run_finished = pyqtSignal(dict)     # the "finished" event's data
    _wake = pyqtSignal()
    _attached = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runner = None
        self._events: collections.deque[Event] = collections.deque()
        self._lock = threading.Lock()
        self._columns: list[str] = []
        self._finished_seen = True
        self._wake.connect(self._drain)
        self._attached.connect(lambda: self._timer.start())
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)
        self.points_received = 0

    # -- control (Qt thread) ------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.runner is not None and not self._finished_seen

    def start(self, station, plan, out_path: str | Path, software_version: str = "",
              extra_metadata: dict | None = None):
        """Create the Runner (raises PlanError for a plan the station refuses) and start it."""
        from daq.runner import Runner

        if self.active:
            raise RuntimeError("a run is already active")
        runner = Runner(station, plan, out_path, overwrite=False, software_version=software_version,
                        extra_metadata=extra_metadata)
        self.runner = runner
        self._finished_seen = False
        self._columns = []
        self.points_received = 0
        runner.subscribe(self._on_event)
        runner.start()
        self._timer.start()
        return runner

    def attach(self, runner) -> None:
        """Follow a Runner someone else runs (a queue file's runs, from a worker thread):
        its events feed the same signals as a run started here. Thread-safe."""
        with self._lock:
            self._events.clear()
        self.runner = runner
        self._finished_seen = False
        self._columns = []
        self.points_received = 0
        runner.subscribe(self._on_event)
        self._attached.emit()  # the drain timer starts in the Qt thread

    def pause(self) -> None:
        if self.active:
            self.runner.pause()
            self.message.emit("info", "pause requested: the run stops before the next point")

    def resume(self) -> None:
        if self.active:
            self.runner.resume()
            self.message.emit("info", "resume requested")

    def abort(self, reason: str = "aborted by the operator") -> None:
        if self.active:
            self.runner.abort(reason)
            self.message.emit("warning", f"abort requested ({reason}): the runner ramps "
                                         f"{self.runner.source_name} to its safe state and closes the file")

    # -- runner side (dispatcher thread): no Qt widget is touched here ----------------------
    def _on_event(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
        if event.kind != "point":
            self._wake.emit()  # queued to the Qt thread

    # -- Qt thread -------------------------------------------------------------------------
    def _drain(self) -> None:
        with self._lock:
            events = list(self._events)
            self._events.clear()
        rows: list[tuple] = []
        for ev in events:
            if ev.kind == "point":
                rows.append(ev.data["row"])
                continue
            if rows:
                self._emit_rows(rows)
                rows = []
            self._handle(ev)
        if rows:
            self._emit_rows(rows)
        self._check_thread()

    def _emit_rows(self, rows: list[tuple]) -> None:
        block = np.asarray(rows, dtype=np.float64)
        self.points_received += len(rows)
        self.points.emit(block)

    def _handle(self, ev: Event) -> None:
        d = ev.data
        if ev.kind == "started":
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

    def _check_thread(self) -> None:
        # A runner thread that died without "finished" (e.g. the file could not be created)
        r = self.runner
        if r is None or self._finished_seen or r._thread is None or r._thread.is_alive():
            return
        with self._lock:
            if self._events:
                return
        if r.result is not None:
            res = r.result
            self._finish({"status": res.status, "reason": res.reason, "path": str(res.path),
                          "points": res.points, "safe_state": res.safe_state})
        else:
            self._finish({"status": "failed", "reason": "the run thread ended without a result "
                          "(see the terminal log)", "path": str(r.out_path), "points": r.points_done,
                          "safe_state": ""})

    def _finish(self, d: dict) -> None:
        if self._finished_seen:
            return
        self._finished_seen = True
        self._timer.stop()
        level = "info" if d["status"] == "completed" else ("warning" if d["status"] == "aborted" else "error")
        text = f"finished: {d['status']}, {d['points']} points in {d['path']}"
        if d.get("reason"):
            text += f" ({d['reason']})"
        self.message.emit(level, text)
        self.run_finished.emit(d)

    def wait_finished(self, timeout_s: float) -> bool:
        """Block (Qt events processed) until the active run has finished. For closing."""
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

"""The run queue: plans run one after the other, one file each, in an output folder.

Every queue runs through the engine of `loopscope queue run` (daq/queue.py, in the run
process as a daq.run_process.QueueJob): a queue file opened here runs as it is, and a queue
built here (plans added from the editor or from plan files) is first written as a queue file
in the output folder, with its plans beside it. The table shows each run's state, attempts
and points from the queue's status file, which the command line reads too
(`loopscope queue status`, `loopscope queue resume` after a crash)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox,
                             QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from loopscope.daq.plans import Plan, PlanError, load_plan


@dataclass
class QueueEntry:
    plan: Plan
    origin: str
    # the queue status file's states: pending | running | completed | aborted | failed |
    # skipped | interrupted
    status: str = "pending"
    path: str = ""
    detail: str = field(default="")
    attempts: int = 0
    points: int = 0  # points written (from the status file; the running one's from its progress)
    run_index: int | None = None  # its run in the queue file shown (None: not written yet)


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return s[:50] or "run"


class QueuePanel(QWidget):
    """Owns the list and the queue file it runs as; the main window runs the file (QueueJob)."""

    run_requested = pyqtSignal()      # the operator pressed "Run queue"
    add_current_requested = pyqtSignal()
    stop_requested = pyqtSignal()     # "Stop after current": no new run after the one going on

    COLUMNS = ("#", "title", "kind", "points", "attempts", "from", "status", "file")
    STATUS_COLUMN = 6

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entries: list[QueueEntry] = []
        self.running = False
        self.stop_after_current = False
        self.queue_file: Path | None = None  # the queue file the table shows (opened or written here)
        self.own_file = False  # queue_file was written here from the entries
        self.file_state = ""  # the queue's state in its status file ("" before it ran)
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.add_current = QPushButton("Add the editor's plan")
        self.add_current.setObjectName("queue_add_current")
        self.add_current.clicked.connect(self.add_current_requested)
        bar.addWidget(self.add_current)
        self.add_files = QPushButton("Add plan files ...")
        self.add_files.clicked.connect(self._choose_files)
        bar.addWidget(self.add_files)
        self.remove = QPushButton("Remove")
        self.remove.clicked.connect(self._remove_selected)
        bar.addWidget(self.remove)
        self.up = QPushButton("Up")
        self.up.clicked.connect(lambda: self._move(-1))
        bar.addWidget(self.up)
        self.down = QPushButton("Down")
        self.down.clicked.connect(lambda: self._move(1))
        bar.addWidget(self.down)
        self.open_queue_file = QPushButton("Open queue file ...")
        self.open_queue_file.setObjectName("queue_open_file")
        self.open_queue_file.setToolTip("A queue YAML, as `loopscope queue run` takes: its runs, their output "
                                        "files and its status file are shared with the command line")
        self.open_queue_file.clicked.connect(self._choose_queue_file)
        bar.addWidget(self.open_queue_file)
        bar.addStretch(1)
        layout.addLayout(bar)
        out = QHBoxLayout()
        out.addWidget(QLabel("output folder"))
        self.folder = QLineEdit()
        self.folder.setObjectName("queue_folder")
        out.addWidget(self.folder, 1)
        browse = QPushButton("Browse ...")
        browse.clicked.connect(self._choose_folder)
        out.addWidget(browse)
        # the queue engine's settings for a queue built here (a queue file brings its own)
        out.addWidget(QLabel("retries"))
        self.retries = QSpinBox()
        self.retries.setObjectName("queue_retries")
        self.retries.setRange(0, 20)
        self.retries.setValue(1)
        self.retries.setToolTip("a run that fails is tried again this often, going on in its own file "
                                "(never after a quench)")
        out.addWidget(self.retries)
        out.addWidget(QLabel("on failure"))
        self.on_failure = QComboBox()
        self.on_failure.setObjectName("queue_on_failure")
        self.on_failure.addItem("stop the queue", "stop")
        self.on_failure.addItem("go on with the next run", "continue")
        out.addWidget(self.on_failure)
        layout.addLayout(out)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("queue_table")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        hh = self.table.horizontalHeader()
        for i in range(len(self.COLUMNS) - 1):
            hh.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        run_bar = QHBoxLayout()
        self.run_button = QPushButton("Run queue")
        self.run_button.setObjectName("queue_run")
        self.run_button.clicked.connect(self.run_requested)
        run_bar.addWidget(self.run_button)
        self.stop_button = QPushButton("Stop after the current run")
        self.stop_button.clicked.connect(self._stop_after)
        self.stop_button.setEnabled(False)
        run_bar.addWidget(self.stop_button)
        self.status = QLabel("queue idle")
        run_bar.addWidget(self.status, 1)
        layout.addLayout(run_bar)

    # -- queue files (shared with `loopscope queue run/status/resume`) -----------------------------
    def _choose_queue_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open queue file", "", "Queues (*.yaml *.yml)")
        if path:
            self.load_queue_file(path)

    def load_queue_file(self, path) -> None:
        """Show a queue file's runs with the states its status file records."""
        from loopscope.daq.queue import QueueError, load_queue
        try:
            queue = load_queue(path)
        except QueueError as exc:
            QMessageBox.warning(self, "Invalid queue file", str(exc))
            return
        self.queue_file, self.own_file = Path(path), False
        self.entries = [QueueEntry(run.plan, f"{self.queue_file.name}: {run.name}", path=str(run.out),
                                   run_index=i) for i, run in enumerate(queue.runs)]
        self.folder.setText(str(queue.output_dir))
        self._settings_editable(False, queue.retries, queue.on_failure)
        self.reload_status()

    def _settings_editable(self, editable: bool, retries: int | None = None, on_failure: str | None = None):
        self.folder.setEnabled(editable)
        self.retries.setEnabled(editable)
        self.on_failure.setEnabled(editable)
        if retries is not None:
            self.retries.setValue(retries)
        if on_failure is not None:
            self.on_failure.setCurrentIndex(self.on_failure.findData(on_failure))

    def reload_status(self) -> None:
        """Take the run states from the queue's status file (written by whoever runs it)."""
        if self.queue_file is None:
            return
        from loopscope.daq.queue import QueueError, load_queue, read_queue_status
        try:
            status = read_queue_status(load_queue(self.queue_file))
        except (QueueError, OSError) as exc:  # e.g. the file moved away: the table stays as it was
            self.status.setText(f"queue file {self.queue_file.name}: {exc}")
            return
        if status is not None:
            for entry in self.entries:
                if entry.run_index is None or entry.run_index >= len(status["runs"]):
                    continue
                run = status["runs"][entry.run_index]
                entry.status, entry.detail = run["state"], run.get("reason", "")
                entry.attempts, entry.points, entry.path = run.get("attempts", 0), run.get("points", 0), run["out"]
            self.file_state = status["state"]
            self.status.setText(f"queue file {self.queue_file.name}: {status['state']}")
        self.refresh()

    def show_points(self, done: int) -> None:
        """The running entry's points as its run reports them (the status file has them at its end)."""
        for r, entry in enumerate(self.entries):
            if entry.status == "running":
                entry.points = done
                self.table.setItem(r, 3, QTableWidgetItem(self._points_text(entry)))

    # -- a queue built here, written as a queue file ----------------------------------------------
    def queue_file_to_run(self, station) -> tuple[Path, bool]:
        """(queue file, resume): the queue file that runs the table. A queue built here is
        written as one in the output folder (its runs: the entries still pending), unless the
        one written before still holds them (stopped after a run: it resumes). `station`: the
        window's station file, or its description as a dict (the simulated lab)."""
        from loopscope.daq.queue import QueueError, load_queue, read_queue_status, write_queue_file

        if self.queue_file is not None:
            status = read_queue_status(load_queue(self.queue_file))
            if self.own_file and status is not None and all(r["state"] in ("completed", "skipped")
                                                            for r in status["runs"]):
                raise QueueError("nothing to run: every run of the queue has ended (add plans to run more)")
            return self.queue_file, status is not None
        todo = [e for e in self.entries if e.status == "pending"]
        if not todo:
            raise QueueError("nothing to run: every run of the queue has ended (add plans to run more)")
        if station is None:
            raise QueueError("this station has no station file, which a queue file needs")
        folder = Path(self.folder.text() or ".")
        runs = [(e.plan, f"{self.entries.index(e) + 1:02d}_{slug(e.plan.title)}.h5") for e in todo]
        path = write_queue_file(folder, runs, station, name=f"built in the window ({len(todo)} runs)",
                                stem="queue_" + datetime.now().strftime("%Y%m%d-%H%M%S"),
                                retries=self.retries.value(), on_failure=self.on_failure.currentData())
        queue = load_queue(path)
        for i, (entry, run) in enumerate(zip(todo, queue.runs)):
            entry.run_index, entry.path = i, str(run.out)
        self.queue_file, self.own_file, self.file_state = path, True, ""
        self.refresh()
        return path, False

    def _edited(self) -> None:
        """The entries changed: a queue file written from them no longer says what to run."""
        if self.own_file:
            self.queue_file, self.own_file, self.file_state = None, False, ""
            for entry in self.entries:
                entry.run_index = None

    # -- editing ------------------------------------------------------------------------------
    def add_plan(self, plan: Plan, origin: str) -> None:
        if self.queue_file is not None and not self.own_file:
            # editing leaves the opened queue file: back to a queue of our own
            self.queue_file, self.file_state = None, ""
            self.entries = []
            self._settings_editable(True)
        self._edited()
        self.entries.append(QueueEntry(plan, origin))
        self.refresh()

    def _choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add plan files", "", "Plans (*.yaml *.yml)")
        for p in paths:
            try:
                self.add_plan(load_plan(p), Path(p).name)
            except PlanError as exc:
                QMessageBox.warning(self, "Invalid plan", str(exc))

    def _choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def _remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in rows:
            if self.entries[r].status != "running":
                del self.entries[r]
        if rows:
            self._edited()
        self.refresh()

    def _move(self, step: int) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if len(rows) != 1:
            return
        r, t = rows[0], rows[0] + step
        if 0 <= t < len(self.entries):
            self.entries[r], self.entries[t] = self.entries[t], self.entries[r]
            self._edited()
            self.refresh()
            self.table.selectRow(t)

    def _stop_after(self) -> None:
        self.stop_after_current = True
        self.status.setText("the queue stops after the current run")
        self.stop_requested.emit()

    # -- running (driven by the main window) ----------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.running = running
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for button in (self.add_files, self.remove, self.up, self.down, self.open_queue_file):
            button.setEnabled(not running)
        if not running:
            self.stop_after_current = False
            done = sum(e.status == "completed" for e in self.entries)
            text = f"queue idle: {done} of {len(self.entries)} completed"
            if self.queue_file is not None and self.file_state:
                text += f" (queue file {self.queue_file.name}: {self.file_state})"
            self.status.setText(text)
        else:
            self.status.setText("queue running")

    @staticmethod
    def _points_text(e: QueueEntry) -> str:
        total = e.plan.total_points()
        return f"{e.points} / {total}" if e.status != "pending" or e.points else str(total)

    def refresh(self) -> None:
        from PyQt6.QtGui import QColor

        self.table.setRowCount(len(self.entries))
        colours = {"completed": "#006000", "running": "#0050a0", "aborted": "#b06000", "failed": "#b00000",
                   "skipped": "#707070", "interrupted": "#b06000"}
        for r, e in enumerate(self.entries):
            values = (str(r + 1), e.plan.title, e.plan.kind, self._points_text(e), str(e.attempts or ""),
                      e.origin, e.status, e.path)
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c == self.STATUS_COLUMN and e.status in colours:
                    item.setForeground(QColor(colours[e.status]))
                if c == self.STATUS_COLUMN and e.detail:
                    item.setToolTip(e.detail)
                self.table.setItem(r, c, item)

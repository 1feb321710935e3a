"""The run queue: plans run one after the other, one file each, in an output folder."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox, QPushButton,
                             QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from loopscope.daq.plans import Plan, PlanError, load_plan


@dataclass
class QueueEntry:
    plan: Plan
    origin: str
    status: str = "queued"  # queued | running | completed | aborted | failed | skipped
    path: str = ""
    detail: str = field(default="")


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return s[:50] or "run"


class QueuePanel(QWidget):
    """Owns the list; the main window runs the entries (one Runner at a time)."""

    run_requested = pyqtSignal()      # the operator pressed "Run queue"
    add_current_requested = pyqtSignal()
    stop_requested = pyqtSignal()     # "Stop after current": no new run after the one going on

    COLUMNS = ("#", "title", "kind", "points", "from", "status", "file")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entries: list[QueueEntry] = []
        self.running = False
        self.stop_after_current = False
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
    queue_file: Path | None = None

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
        self.queue_file = Path(path)
        self.entries = [QueueEntry(run.plan, f"{self.queue_file.name}: {run.name}", path=str(run.out))
                        for run in queue.runs]
        self.folder.setText(str(queue.output_dir))
        self.folder.setEnabled(False)
        self.reload_status()

    def reload_status(self) -> None:
        """Take the run states from the queue's status file (written by whoever runs it)."""
        if self.queue_file is None:
            return
        from loopscope.daq.queue import load_queue, read_queue_status
        status = read_queue_status(load_queue(self.queue_file))
        if status is not None:
            for entry, run in zip(self.entries, status["runs"]):
                entry.status = "queued" if run["state"] == "pending" else run["state"]
                entry.detail = run.get("reason", "")
            self.status.setText(f"queue file {self.queue_file.name}: {status['state']}")
        self.refresh()

    # -- editing ------------------------------------------------------------------------------
    def add_plan(self, plan: Plan, origin: str) -> None:
        if self.queue_file is not None:  # editing leaves the queue file: back to a queue of our own
            self.queue_file = None
            self.entries = []
            self.folder.setEnabled(True)
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
        self.refresh()

    def _move(self, step: int) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if len(rows) != 1:
            return
        r, t = rows[0], rows[0] + step
        if 0 <= t < len(self.entries):
            self.entries[r], self.entries[t] = self.entries[t], self.entries[r]
            self.refresh()
            self.table.selectRow(t)

    def _stop_after(self) -> None:
        self.stop_after_current = True
        self.status.setText("the queue stops after the current run")
        self.stop_requested.emit()

    # -- running (driven by the main window) ----------------------------------------------------
    def next_entry(self) -> QueueEntry | None:
        if self.stop_after_current:
            return None
        return next((e for e in self.entries if e.status == "queued"), None)

    def out_path_for(self, entry: QueueEntry) -> Path:
        from loopscope.daq.storage import unique_path
        index = self.entries.index(entry) + 1
        folder = Path(self.folder.text() or ".")
        return unique_path(folder / f"{index:02d}_{slug(entry.plan.title)}.h5")

    def set_running(self, running: bool) -> None:
        self.running = running
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if not running:
            self.stop_after_current = False
            done = sum(e.status == "completed" for e in self.entries)
            self.status.setText(f"queue idle: {done} of {len(self.entries)} completed")
        else:
            self.status.setText("queue running")

    def refresh(self) -> None:
        self.table.setRowCount(len(self.entries))
        colours = {"completed": "#006000", "running": "#0050a0", "aborted": "#b06000", "failed": "#b00000"}
        for r, e in enumerate(self.entries):
            values = (str(r + 1), e.plan.title, e.plan.kind, str(e.plan.total_points()), e.origin, e.status,
                      e.path)
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c == 5 and e.status in colours:
                    from PyQt6.QtGui import QColor
                    item.setForeground(QColor(colours[e.status]))
                if c == 5 and e.detail:
                    item.setToolTip(e.detail)
                self.table.setItem(r, c, item)

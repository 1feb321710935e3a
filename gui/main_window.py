"""The operator's window: station, sweep editor with live plots, queue, data browser.

The window presents; the Runner decides. Every instrument action of a run (ramps, settling,
the safe state) happens in the Runner, in a process of its own (daq.run_process): the window
only starts, pauses, resumes and aborts it, and shows its events. While a run holds the
instruments the window's own sessions are closed; it connects again when the run has ended.
"""
from __future__ import annotations

import html
import time
from datetime import datetime
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QFileDialog, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMainWindow,
                             QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSplitter,
                             QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from loopscope.daq.plans import PlanError
from loopscope.gui.browser import DataBrowser
from loopscope.gui.code_plan_view import CodePlanView
from loopscope.gui.live_plot import LivePlot
from loopscope.gui.plan_form import PlanEditor
from loopscope.gui.queue_panel import QueuePanel, slug
from loopscope.gui.runctl import RunController, format_eta
from loopscope.gui.session import StationSession
from loopscope.gui.station_panel import ReadoutPoller, StationPanel
from loopscope.gui.trace_plot import TracePlot

# Widgets that change during a run are repainted at most this often: every repaint is CPU
# the instruments' side of the machine could have used (the plot keeps its own frame budget)
RUN_READOUT_INTERVAL_S = 0.5
LOG_COLOURS = {"info": "#202020", "warning": "#a05a00", "error": "#c00000"}
CLOSE_TIMEOUT_S = 600.0


class MainWindow(QMainWindow):
    station_ready = pyqtSignal()

    def __init__(self, session: StationSession, out_dir: str | Path = ".", parent=None):
        super().__init__(parent)
        from loopscope import __version__
        self.software_version = __version__
        self.session = session
        self.station = None  # the window's connected station (None while a run holds it)
        self.station_layout: dict = {}  # {name: (role kind, limits)} of the last connected station
        self.controller = RunController(self)
        self.poller = ReadoutPoller()
        self._queue_file_job = False  # the run process is running the queue panel's queue file
        self._run_columns: list[str] = []
        self._run_detectors: dict[str, str] = {}
        self._closing = False
        self._last_readout = 0.0
        self._last_progress = 0.0
        self._run_source = ""
        self.setWindowTitle("loopscope")
        self.resize(1400, 900)

        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        # station
        self.station_panel = StationPanel()
        self.tabs.addTab(self.station_panel, "Station")
        # sweep
        self.tabs.addTab(self._build_sweep_tab(), "Sweep")
        # queue
        self.queue = QueuePanel()
        self.queue.folder.setText(str(out_dir))
        self.tabs.addTab(self.queue, "Queue")
        # data
        self.browser = DataBrowser()
        self.tabs.addTab(self.browser, "Data")
        self.tabs.setCurrentIndex(1)

        self.state_label = QLabel("idle")
        self.state_label.setMinimumWidth(160)
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.statusBar().addPermanentWidget(self.state_label)

        # wiring
        session.connected.connect(self._station_connected)
        session.connect_failed.connect(self._station_failed)
        session.busy.connect(self.station_panel.set_connecting)
        self.station_panel.reconnect_requested.connect(self.reconnect)
        self.poller.readings.connect(self.station_panel.show_readings)
        self.poller.failed.connect(self.station_panel.show_instrument_error)
        c = self.controller
        c.run_started.connect(self._run_started)
        c.points.connect(self._points)
        c.traces.connect(self.traces.add_traces)
        c.progress.connect(self._progress)
        c.state_changed.connect(self._state)
        c.message.connect(self.log)
        c.run_finished.connect(self._run_finished)
        c.job_finished.connect(self._job_finished)
        self.queue.run_requested.connect(self.run_queue)
        self.queue.stop_requested.connect(self.controller.stop_after_current)
        # the queue's status file says each run's state: read again at every start and end
        self.controller.run_finished.connect(lambda d: self.queue.reload_status())
        self.controller.run_started.connect(lambda d: self.queue.reload_status())
        self.queue.add_current_requested.connect(self.add_editor_plan_to_queue)
        self.editor.validity_changed.connect(lambda ok: self._update_buttons())
        self.code_view.validity_changed.connect(lambda ok: self._update_buttons())
        self.code_view.back_requested.connect(self.show_form)
        self.code_view.function_requested.connect(
            lambda name: self.load_code_plan_file(self.code_view.path, name))
        self._update_buttons()
        if session.station is not None:
            self._station_connected(session.station)
        else:
            session.connect_async()

    # ------------------------------------------------------------------------------ layout
    def _build_sweep_tab(self) -> QWidget:
        tab = QWidget()
        outer = QHBoxLayout(tab)
        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split)
        # left: the editor
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        files = QHBoxLayout()
        self.load_button = QPushButton("Load plan ...")
        self.load_button.clicked.connect(self._choose_plan_file)
        self.save_button = QPushButton("Save plan ...")
        self.save_button.clicked.connect(self._choose_save_file)
        self.queue_button = QPushButton("Add to queue")
        self.queue_button.clicked.connect(self.add_editor_plan_to_queue)
        for b in (self.load_button, self.save_button, self.queue_button):
            files.addWidget(b)
        lv.addLayout(files)
        self.editor = PlanEditor(None)
        # the form of the YAML kinds, or a plan written in Python (read-only but its arguments)
        self.editor_stack = QStackedWidget()
        self.code_view = CodePlanView()
        for page in (self.editor, self.code_view):
            scroll = QScrollArea()
            scroll.setWidget(page)
            scroll.setWidgetResizable(True)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.editor_stack.addWidget(scroll)
        lv.addWidget(self.editor_stack, 1)
        left.setMinimumWidth(420)
        split.addWidget(left)
        # right: controls, progress, plots, log
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pause")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("resume")
        self.abort_button = QPushButton("Abort (to safe state)")
        self.abort_button.setObjectName("abort")
        self.abort_button.setStyleSheet("QPushButton:enabled { color: white; background: #b00000; font-weight: bold; }")
        self.start_button.setStyleSheet("QPushButton:enabled { font-weight: bold; }")
        self.start_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self.controller.pause)
        self.resume_button.clicked.connect(self.controller.resume)
        self.abort_button.clicked.connect(lambda: self.abort_run("aborted by the operator"))
        for b in (self.start_button, self.pause_button, self.resume_button, self.abort_button):
            controls.addWidget(b)
        controls.addWidget(QLabel("output folder"))
        self.out_dir = QLineEdit()
        self.out_dir.setObjectName("out_dir")
        controls.addWidget(self.out_dir, 1)
        browse = QPushButton("...")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._choose_out_dir)
        controls.addWidget(browse)
        rv.addLayout(controls)
        prog = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setFormat("%v / %m points")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        prog.addWidget(self.progress, 1)
        self.eta_label = QLabel("ETA --")
        self.eta_label.setMinimumWidth(230)
        prog.addWidget(self.eta_label)
        self.run_state = QLabel("idle")
        self.run_state.setObjectName("run_state")
        self.run_state.setMinimumWidth(120)
        self.run_state.setStyleSheet("font-weight: bold;")
        prog.addWidget(self.run_state)
        rv.addLayout(prog)
        self.file_label = QLabel("")
        self.file_label.setStyleSheet("color: #444;")
        rv.addWidget(self.file_label)
        vsplit = QSplitter(Qt.Orientation.Vertical)
        self.live = LivePlot()
        # the traces a plan in Python takes at each point, beside the scalars (shown for such runs)
        self.traces = TracePlot()
        self.traces.hide()
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.live)
        plots.addWidget(self.traces)
        plots.setSizes([400, 300])
        vsplit.addWidget(plots)
        self.log_pane = QPlainTextEdit()
        self.log_pane.setObjectName("log")
        self.log_pane.setReadOnly(True)
        self.log_pane.setMaximumBlockCount(5000)
        vsplit.addWidget(self.log_pane)
        vsplit.setStretchFactor(0, 4)
        vsplit.setStretchFactor(1, 1)
        vsplit.setSizes([640, 160])
        rv.addWidget(vsplit, 1)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([470, 930])
        return tab

    # ------------------------------------------------------------------------------ station
    def _station_connected(self, station) -> None:
        from loopscope.daq.runner import station_instruments

        self.station = station
        self.station_layout = station_instruments(station)
        self.station_panel.set_station(station, self.session.description, self.session.identities)
        self.editor.set_station(station)
        self.code_view.set_station(station)
        self.poller.start(station)
        self.poller.set_idle(True)
        self.log("info", f"station {station.name!r} connected: {', '.join(station.roles)}")
        self._update_buttons()
        self.station_ready.emit()

    def _station_failed(self, message: str) -> None:
        self.station_panel.set_failed(message)
        self.log("error", f"station not connected: {message}")
        self._update_buttons()

    def reconnect(self) -> None:
        if self.controller.active:
            QMessageBox.information(self, "Run active", "Reconnect after the run has ended.")
            return
        self.poller.set_idle(False)
        self.station = None
        self.editor.set_station(None)
        self.code_view.set_station(None)
        self._update_buttons()
        self.session.connect_async()

    # ------------------------------------------------------------------------------ plans
    def _choose_plan_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load plan", "",
                                              "Plans (*.yaml *.yml *.py);;Plans in Python (*.py)")
        if path:
            self.load_plan_file(path)

    # -- the plan the editor shows: the form's, or a plan written in Python ------------------
    @property
    def code_plan_shown(self) -> bool:
        return self.editor_stack.currentIndex() == 1

    @property
    def plan_valid(self) -> bool:
        return self.code_view.valid if self.code_plan_shown else self.editor.valid

    @property
    def plan_errors(self) -> list[str]:
        return self.code_view.errors if self.code_plan_shown else self.editor.errors

    def current_plan(self):
        """The shown plan, checked again (None when it is not valid)."""
        view = self.code_view if self.code_plan_shown else self.editor
        return view.plan if view.validate() else None

    def show_form(self) -> None:
        self.editor_stack.setCurrentIndex(0)
        self.save_button.setEnabled(True)
        self._update_buttons()

    def choose_code_function(self, path, names: list[str]) -> str | None:
        """Which plan function of a file with several (None: cancelled)."""
        name, ok = QInputDialog.getItem(self, "Plan in Python", f"{Path(path).name} has several plans; run:",
                                        names, 0, False)
        return name if ok else None

    def load_code_plan_file(self, path, name: str | None = None) -> bool:
        """Show a plan function of a .py file in place of the form (its defaults as arguments).
        A file that cannot be imported, or has no @plan function, changes nothing."""
        from loopscope.daq.plans_as_code import plan_functions_in

        try:
            functions = plan_functions_in(path)
            if not functions:
                raise PlanError(f"{path}: no @plan function (decorate a generator function with "
                                f"@plan(title=...) from loopscope.daq.plans_as_code)")
        except PlanError as exc:
            self.log("error", f"cannot load the plan: {exc}")
            if not self._quiet():
                QMessageBox.warning(self, "Cannot load the plan", str(exc))
            return False
        names = list(functions)
        if name is None:
            name = names[0] if len(names) == 1 else self.choose_code_function(path, names)
            if name is None:
                return False
        if name not in functions:
            self.log("error", f"cannot load the plan: {path} has no plan function {name!r}")
            return False
        self.code_view.set_station(self.station)
        self.code_view.load(path, name, functions[name], names)
        self.editor_stack.setCurrentIndex(1)
        self.save_button.setEnabled(False)  # the plan is its .py file
        self._update_buttons()
        self.log("info", f"plan in Python loaded: {name} of {self.code_view.path.name}"
                 + ("" if self.code_view.valid else f" (not valid: {'; '.join(self.code_view.errors)})"))
        return True

    def load_plan_file(self, path) -> None:
        text = str(path)
        if text.endswith(".py"):
            self.load_code_plan_file(path)
            return
        if ".py:" in text:  # file.py:function, as `loopscope run` takes it
            where, _, name = text.rpartition(".py:")
            self.load_code_plan_file(where + ".py", name)
            return
        try:
            unknown = self.editor.load_file(path)
        except (OSError, PlanError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot load the plan", str(exc))
            return
        self.show_form()
        self.log("info", f"plan loaded from {path}" + (f"; keys not in the form: {', '.join(unknown)}"
                                                        if unknown else ""))

    def _choose_save_file(self) -> None:
        try:
            self.editor.yaml_text()
        except PlanError as exc:
            QMessageBox.warning(self, "The plan is not valid", str(exc))
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save plan", f"{slug(self.editor.plan_dict().get('title', 'plan'))}.yaml",
                                              "Plans (*.yaml *.yml)")
        if path:
            self.editor.save_file(path)
            self.log("info", f"plan saved to {path}")

    def add_editor_plan_to_queue(self) -> None:
        plan = self.current_plan()
        if plan is None or not self.plan_valid:
            self.log("error", "not added to the queue: " + ("; ".join(self.plan_errors) or "connect a station first"))
            if not self._quiet():
                QMessageBox.warning(self, "The plan is not valid", "\n".join(self.plan_errors) or
                                    "connect a station first")
            return
        # a plan in Python goes into the queue file as {plan: file.py:function, arguments: {...}}
        origin = f"{self.code_view.path.name}:{self.code_view.name}" if self.code_plan_shown else "editor"
        self.queue.add_plan(plan, origin)
        self.log("info", f"added {plan.title!r} to the queue")

    def _choose_out_dir(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder", self.out_dir.text())
        if d:
            self.out_dir.setText(d)

    # ------------------------------------------------------------------------------ runs
    def _update_buttons(self) -> None:
        active = self.controller.active
        state = self.controller.runner.state if active else "idle"
        ready = self.station is not None and not self.session.connecting
        in_run = self.controller.run_active
        self.start_button.setEnabled(ready and not active and self.plan_valid)
        self.pause_button.setEnabled(in_run and state == "running")
        self.resume_button.setEnabled(in_run and state == "paused")
        self.abort_button.setEnabled(active and state in ("starting", "running", "paused"))
        self.queue.run_button.setEnabled(ready and not active and not self.queue.running)
        self.station_panel.reconnect_button.setEnabled(not active and not self.session.connecting)
        self.editor.setEnabled(not active)
        self.code_view.setEnabled(not active)
        self.load_button.setEnabled(not active)

    def default_out_path(self, title: str) -> Path:
        from loopscope.daq.storage import unique_path
        folder = Path(self.out_dir.text() or self.queue.folder.text() or ".")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return unique_path(folder / f"{slug(title)}_{stamp}.h5")

    def start_run(self) -> bool:
        plan = self.current_plan()
        if plan is None:
            self.log("error", "the plan is not valid: " + "; ".join(self.plan_errors))
            return False
        return self._start(plan, self.default_out_path(plan.title))

    def _start(self, plan, out_path: Path) -> bool:
        from loopscope.daq.run_process import PlanJob
        from loopscope.daq.runner import check_plan_against_station
        from loopscope.daq.storage import StorageError, check_output_path

        try:
            check_output_path(out_path)
            # refused here, before the run process opens any instrument
            check_plan_against_station(plan, self.station_layout)
        except (PlanError, StorageError, ValueError) as exc:
            self.log("error", f"cannot start: {exc}")
            QMessageBox.warning(self, "Cannot start the run", str(exc)) if not self._quiet() else None
            return False
        self._hand_over_station()
        try:
            self.controller.start(PlanJob(self.session.opener, plan, out_path, software_version=self.software_version,
                                          extra_metadata=self._extra_metadata()))
        except (OSError, RuntimeError) as exc:  # the run process could not be started
            self.log("error", f"cannot start the run process: {exc}")
            self.session.connect_async()
            return False
        self.progress.setRange(0, max(1, plan.total_points()))
        self.progress.setValue(0)
        self.eta_label.setText("ETA --")
        self.file_label.setText(f"starting the run process; it will write {out_path}")
        self.run_state.setText("starting")
        self._update_buttons()
        return True

    def _hand_over_station(self) -> None:
        """Close the window's instrument sessions: the run process opens its own."""
        self.poller.release_station()  # after the round of readings under way, if any
        self.station = None
        self.session.release()
        self.station_panel.set_handed_over()

    def _extra_metadata(self) -> dict:
        return {"gui": "loopscope gui", "station_description": self.session.description} \
            if self.session.description else {"gui": "loopscope gui"}

    def _quiet(self) -> bool:
        from PyQt6.QtGui import QGuiApplication
        return QGuiApplication.platformName() in ("offscreen", "minimal")

    def abort_run(self, reason: str) -> None:
        if self.controller.active:
            self.controller.abort(reason)
            self.run_state.setText("aborting: to safe state")
            self.run_state.setStyleSheet("font-weight: bold; color: #c00000;")
            self.abort_button.setEnabled(False)

    def _run_started(self, d: dict) -> None:
        proc = self.controller.runner
        self._run_source, self._run_detectors = proc.source_name, dict(proc.detector_kinds)
        self._run_columns = list(d["columns"])
        self.file_label.setText(f"writing {d['path']}")
        self.live.start_run(d["columns"], d["units"], d.get("signal", ""), d.get("axes"))
        self.live.set_run_active(True)
        self.traces.start_run(proc.trace_layouts)
        self.traces.setVisible(bool(proc.trace_layouts))
        self.progress.setRange(0, max(1, d["total"]))

    def _points(self, block) -> None:
        self.live.add_rows(block)
        now = time.monotonic()
        if now - self._last_readout > RUN_READOUT_INTERVAL_S and self._run_columns:
            self._last_readout = now
            self.station_panel.show_run_row(self._run_columns, block[-1], self._run_source, self._run_detectors)

    def _progress(self, d: dict) -> None:
        now = time.monotonic()
        if now - self._last_progress < RUN_READOUT_INTERVAL_S and d["done"] < d["total"]:
            return
        self._last_progress = now
        self.progress.setMaximum(max(1, d["total"]))
        self.progress.setValue(d["done"])
        rate = d.get("rate_per_s", 0.0)
        self.eta_label.setText(f"{format_eta(d.get('eta_s'))}, {rate:.1f} points/s")
        if self._queue_file_job:
            self.queue.show_points(d["done"])

    def _state(self, state: str) -> None:
        colours = {"running": "#0050a0", "paused": "#a05a00", "safe_state": "#c00000", "completed": "#006000",
                   "aborted": "#a05a00", "failed": "#c00000"}
        text = {"safe_state": "going to safe state"}.get(state, state)
        self.run_state.setText(text)
        self.run_state.setStyleSheet(f"font-weight: bold; color: {colours.get(state, '#202020')};")
        self.state_label.setText(text)
        self._update_buttons()

    def _run_finished(self, d: dict) -> None:
        self.live.set_run_active(False)
        self.live.redraw()
        status = d["status"]
        text = f"{status}: {d['points']} points in {d['path']}"
        if d.get("safe_state"):
            text += f"; safe state: {d['safe_state']}"
        self.file_label.setText(text)
        self._state(status)
        if status == "completed":
            self.progress.setValue(self.progress.maximum())
        self._update_buttons()

    def _job_finished(self, outcome: dict) -> None:
        """The run process has ended and let go of the instruments: the window takes the
        station back."""
        if self._queue_file_job:
            self._queue_file_job = False
            self._queue_file_finished(outcome.get("queue_state", "failed"), outcome.get("error", ""))
        self._update_buttons()
        if self._closing:
            self.close()
            return
        self.session.connect_async()

    # ------------------------------------------------------------------------------ queue
    def run_queue(self) -> None:
        """Run the queue panel's queue with the engine of `loopscope queue run`: a queue file
        opened there as it is, a queue built there first written as a queue file."""
        from loopscope.daq.queue import QueueError

        if self.controller.active or self.station is None:
            return
        try:
            path, resume = self.queue.queue_file_to_run(self._station_for_queue())
        except (QueueError, PlanError, OSError, ValueError) as exc:
            self.log("error", f"cannot run the queue: {exc}")
            if not self._quiet():
                QMessageBox.warning(self, "Cannot run the queue", str(exc))
            return
        self.queue.set_running(True)
        self._run_queue_file(path, resume)

    def _station_for_queue(self):
        """What a queue file written here names as its station: the window's station file,
        or the simulated lab's station as a dict (written beside the queue); None when the
        station came without a description (an opener alone)."""
        source = self.session.source
        if isinstance(source, dict):
            return source
        if isinstance(source, (str, Path)):
            return Path(source)
        return None

    def _run_queue_file(self, path: Path, resume: bool) -> None:
        """The same engine as `loopscope queue run/resume`, on the window's station, in the
        run process; the queue file's status file is the one the command line reads."""
        from loopscope.daq.run_process import QueueJob

        self.log("info", f"{'resuming' if resume else 'running'} queue file {path}")
        self._queue_file_job = True
        self._hand_over_station()
        try:
            self.controller.start(QueueJob(self.session.opener, path, resume=resume,
                                           software_version=self.software_version))
        except (OSError, RuntimeError) as exc:  # the run process could not be started
            self._queue_file_job = False
            self._queue_file_finished("failed", f"cannot start the run process: {exc}")
            self.session.connect_async()
            return
        self._update_buttons()

    def _queue_file_finished(self, state: str, error: str) -> None:
        if error:
            self.log("error", f"queue file: {error}")
        else:
            self.log("info" if state == "completed" else "warning", f"queue file: {state}")
        self.queue.reload_status()
        self.queue.set_running(False)
        self._update_buttons()

    # ------------------------------------------------------------------------------ log
    def log(self, level: str, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        colour = LOG_COLOURS.get(level, "#202020")
        weight = "bold" if level == "error" else "normal"
        self.log_pane.appendHtml(f'<span style="color:{colour}; font-weight:{weight}">{stamp} {level}: '
                                 f'{html.escape(text)}</span>')
        if level in ("warning", "error"):
            self.statusBar().showMessage(text, 10000)

    # ------------------------------------------------------------------------------ closing
    def confirm_close_during_run(self) -> bool:
        answer = QMessageBox.question(
            self, "A run is active",
            "A sweep is running. Abort it, bring the field to its safe state and close the window?\n\n"
            "The window stays open until the field source reports its safe state.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        if self.controller.active:
            if self._closing:
                event.ignore()  # already aborting; closes itself when the runner has finished
                return
            if not self.confirm_close_during_run():
                event.ignore()
                return
            self._closing = True
            self.queue.stop_after_current = True
            self.abort_run("window closed by the operator")
            self.log("warning", "closing: aborting the run and waiting for the safe state ...")
            event.ignore()
            return
        self.poller.stop()
        event.accept()
        super().closeEvent(event)

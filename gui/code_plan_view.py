"""A plan written in Python, shown in the window in place of the form (read-only but for its
arguments): its title, source, detectors, arguments, number of points and source text.

The plan is what `loopscope run file.py:function` would run: loaded with load_code_plan (its
steps listed and checked before anything moves) and checked against the connected station
as the form's plans are. The arguments are edited as simple values, each read as YAML
(yaml.safe_load: a number, a list of numbers, a text), never evaluated as Python.
"""
from __future__ import annotations

import inspect
import math
from pathlib import Path

import yaml
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                             QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from loopscope.daq import plans as P

SIMPLE = (bool, int, float, str, type(None))


def argument_text(value) -> str:
    """A default shown in its editor, as YAML on one line (a tuple shown as a list)."""
    if hasattr(value, "tolist"):  # numpy numbers and arrays
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


def _number_or_text(value):
    # YAML 1.1 reads "2e-5" (no dot) as a text: an operator means a number
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def parse_argument(text: str):
    """An argument from its editor's text: a number, a list of numbers, a text. ValueError
    otherwise (a mapping, a nested list, YAML that does not read)."""
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ValueError(f"cannot read {text!r}: {str(exc).splitlines()[0]}") from None
    value = _number_or_text(value)
    if isinstance(value, list):
        value = [_number_or_text(v) for v in value]
        if not all(isinstance(v, SIMPLE) for v in value):
            raise ValueError(f"{text!r}: a list of numbers or texts, not of lists or mappings")
        return value
    if not isinstance(value, SIMPLE):
        raise ValueError(f"{text!r}: give a number, a list of numbers or a text")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


class CodePlanView(QWidget):
    """One plan function of a .py file: its arguments editable, the rest shown."""

    validity_changed = pyqtSignal(bool)
    back_requested = pyqtSignal()
    function_requested = pyqtSignal(str)  # another plan function of the same file chosen

    def __init__(self, parent=None):
        super().__init__(parent)
        self.station = None
        self.path: Path | None = None
        self.name = ""
        self.function = None
        self.plan: P.Plan | None = None
        self.problems: list[P.PlanProblem] = []
        self.errors: list[str] = []
        self.argument_edits: dict[str, QLineEdit] = {}
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.heading = QLabel("")
        self.heading.setStyleSheet("font-weight: bold;")
        self.heading.setWordWrap(True)
        top.addWidget(self.heading, 1)
        self.back_button = QPushButton("Back to the form")
        self.back_button.setObjectName("code_plan_back")
        self.back_button.setToolTip("edit a plan of the built-in kinds again (this plan stays loaded until then)")
        self.back_button.clicked.connect(self.back_requested)
        top.addWidget(self.back_button)
        layout.addLayout(top)
        head = QFormLayout()
        self.function_box = QComboBox()
        self.function_box.setObjectName("code_plan_function")
        self.function_box.activated.connect(lambda i: self.function_requested.emit(self.function_box.itemData(i)))
        head.addRow("plan function", self.function_box)
        self.title_label = QLabel()
        self.source_label = QLabel()
        self.detectors_label = QLabel()
        self.points_label = QLabel()
        self.points_label.setObjectName("code_plan_points")
        for label in (self.title_label, self.source_label, self.detectors_label, self.points_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head.addRow("title", self.title_label)
        head.addRow("source", self.source_label)
        head.addRow("detectors", self.detectors_label)
        head.addRow("points", self.points_label)
        layout.addLayout(head)
        self.error_label = QLabel("")
        self.error_label.setObjectName("code_plan_errors")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.error_label)
        self.arguments_box = QGroupBox("arguments (numbers, lists of numbers, texts)")
        self.arguments_form = QFormLayout(self.arguments_box)
        layout.addWidget(self.arguments_box)
        layout.addWidget(QLabel("the plan's source"))
        self.source_text = QPlainTextEdit()
        self.source_text.setObjectName("code_plan_source")
        self.source_text.setReadOnly(True)
        self.source_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.source_text.setStyleSheet("font-family: monospace;")
        self.source_text.setMinimumHeight(180)
        layout.addWidget(self.source_text, 1)

    # -- loading -------------------------------------------------------------------------------
    def load(self, path: str | Path, name: str, function, names: list[str]) -> None:
        """Show `name` of the plan file `path` with its defaults as arguments, and check it."""
        self.path, self.name, self.function = Path(path).resolve(), name, function
        self.heading.setText(f"Plan in Python: {self.path.name}:{name}")
        self.function_box.blockSignals(True)
        self.function_box.clear()
        for n in names:
            self.function_box.addItem(n, n)
        self.function_box.setCurrentIndex(self.function_box.findData(name))
        self.function_box.blockSignals(False)
        self.function_box.setEnabled(len(names) > 1)
        while self.arguments_form.rowCount():
            self.arguments_form.removeRow(0)
        self.argument_edits = {}
        for pname, par in inspect.signature(function).parameters.items():
            if par.kind in (par.VAR_POSITIONAL, par.VAR_KEYWORD):
                continue
            edit = QLineEdit(argument_text(par.default) if par.default is not par.empty else "")
            edit.setObjectName(f"argument_{pname}")
            if par.default is par.empty:
                edit.setPlaceholderText("required")
            edit.editingFinished.connect(self.validate)
            self.arguments_form.addRow(pname, edit)
            self.argument_edits[pname] = edit
        self.arguments_box.setVisible(bool(self.argument_edits))
        try:
            text = inspect.getsource(function)
        except (OSError, TypeError):
            text = self.path.read_text(encoding="utf-8", errors="replace")
        self.source_text.setPlainText(text)
        self.validate()

    @property
    def target(self) -> str:
        return f"{self.path}:{self.name}"

    def set_station(self, station) -> None:
        self.station = station
        if self.function is not None:
            self.validate()

    def set_argument(self, name: str, text: str) -> None:
        """Type an argument's text and check the plan again (as finishing the edit does)."""
        self.argument_edits[name].setText(text)
        self.validate()

    # -- checking ------------------------------------------------------------------------------
    def arguments(self) -> tuple[dict, list[P.PlanProblem]]:
        values, problems = {}, []
        for pname, edit in self.argument_edits.items():
            if not edit.text().strip() and edit.placeholderText() == "required":
                problems.append(P.PlanProblem(("arguments", pname), "required: give a value", None, self.target))
                continue
            try:
                values[pname] = parse_argument(edit.text())
            except ValueError as exc:
                problems.append(P.PlanProblem(("arguments", pname), str(exc), edit.text(), self.target))
        return values, problems

    def validate(self, *args) -> bool:
        from loopscope.daq.plan_against_station import check_plan_against_station, station_instruments
        from loopscope.daq.plans_as_code import load_code_plan

        if self.function is None:
            return False
        plan = None
        values, problems = self.arguments()
        if not problems:
            try:
                plan = load_code_plan(self.target, values)
                if self.station is not None:
                    check_plan_against_station(plan, station_instruments(self.station))
            except P.PlanError as exc:
                problems = list(exc.problems)
        self.plan = plan if not problems else None
        self._show(plan, problems)
        ok = self.valid
        self.validity_changed.emit(ok)
        return ok

    @property
    def valid(self) -> bool:
        return self.plan is not None and not self.errors and self.station is not None

    def _show(self, plan, problems: list[P.PlanProblem]) -> None:
        self.problems = list(problems)
        self.errors = [str(p) for p in self.problems]
        header = getattr(self.function, "__loopscope_plan__", {})
        self.title_label.setText(str(header.get("title", "")))
        self.source_label.setText(str(header.get("source", "")))
        self.detectors_label.setText(", ".join(header.get("detectors", [])) or "none")
        if plan is not None:
            self.points_label.setText(f"adaptive, up to {plan.model.max_points}" if plan.adaptive
                                      else str(plan.total_points()))
        elif header.get("adaptive"):
            self.points_label.setText(f"adaptive, up to {header.get('max_points')}")
        else:
            self.points_label.setText("--")
        marked: dict[str, list[str]] = {}
        for p in self.problems:
            for path in p.key_paths:
                if len(path) >= 2 and path[0] == "arguments" and path[1] in self.argument_edits:
                    marked.setdefault(path[1], []).append(str(p))
        for pname, edit in self.argument_edits.items():
            bad = pname in marked
            edit.setProperty("invalid", bad)
            edit.setStyleSheet("border: 2px solid #d00000; background: #fff0f0;" if bad else "")
            edit.setToolTip("\n".join(marked.get(pname, [])))
        if self.problems:
            self.error_label.setText("\n".join("✗ " + str(p) for p in self.problems))
            self.error_label.setStyleSheet("color: #b00000;")
        elif self.station is None:
            self.error_label.setText("plan valid; connect a station to check it against its limits")
            self.error_label.setStyleSheet("color: #806000;")
        else:
            self.error_label.setText(f"✓ plan valid for this station: {self.points_label.text()} points")
            self.error_label.setStyleSheet("color: #006000;")

    def is_marked(self, name: str) -> bool:
        return bool(self.argument_edits[name].property("invalid"))

"""The sweep editor: one form per plan kind, built from the pydantic plan models.

Every field of the model becomes a widget (numbers and lists as text, so that an empty
field means "the default" and a typo is shown rather than swallowed), with its units and,
where the station bounds it, the limit. After every edit the form is turned into a dict and
validated with `load_plan` and `check_plan_against_station`: the same checks `loopscope run`
makes. Errors are marked on the widget they name, and Start stays disabled until none is left.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                             QLineEdit, QListWidget, QListWidgetItem, QSizePolicy, QVBoxLayout, QWidget)

from loopscope.daq import plans as P

KIND_MODELS = {
    "linear": P.LinearPlan, "list": P.ListPlan, "loop": P.LoopPlan, "grid": P.GridPlan,
    "time_series": P.TimeSeriesPlan, "resonance_tracking": P.ResonanceTrackingPlan,
    "persistent_step": P.PersistentStepPlan, "continuous": P.ContinuousPlan,
    "field_angle": P.FieldAnglePlan,
}
KIND_LABELS = {
    "linear": "linear sweep", "list": "list of fields", "loop": "hysteresis loop",
    "grid": "grid (field inside temperature / frequency)", "time_series": "time series at fixed field",
    "resonance_tracking": "resonance tracking (cantilever)", "persistent_step": "persistent-mode step (magnet)",
    "continuous": "continuous ramp, read while the field moves",
    "field_angle": "field angle (vector magnet, fixed |B|)",
}
# fields whose values are in the sweep axis units (T, or A for axis: current)
AXIS_FIELDS = {("sweep", "start"), ("sweep", "stop"), ("sweep", "step"), ("values",), ("amplitude",),
               ("step",), ("field",), ("target",), ("start",), ("stop",)}
OUTER_FIELDS = {("outer", "values"), ("outer", "range", "start"), ("outer", "range", "stop"),
                ("outer", "range", "step")}
HIDDEN = {("kind",)}
# short help shown as tooltip
HELP = {
    "title": "a one-line description stored in the file",
    "source": "the field source to sweep (default: the station's first)",
    "detectors": "instruments read at every point (all checked = every non-source instrument)",
    "axis": "field: values in tesla; current: values in ampere (the coil constant converts)",
    "end": "zero: ramp to 0 T when the run completes; hold: leave the field where it is",
    "max_data_at_risk_s": "at most this much data is lost in a crash",
    "virgin": "measure the virgin curve 0 -> +amplitude first",
    "return_between": "ramp back to the sweep start between outer values (else serpentine)",
    "direction": "a vector magnet: the direction [x, y, z] the plan's fields point along "
                 "(default: the station's)",
    "magnitude_T": "the field's magnitude, held while its angle turns",
    "angle": "polar: from +z toward the azimuth; azimuth: from +x in the plane at the polar angle",
}

INVALID_STYLE = "background-color: #ffe0e0; border: 1px solid #d00000;"
UNSET = object()


def _unwrap_optional(ann):
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return ann, False


def _units_for(path: tuple, name: str) -> str:
    for suffix, unit in (("_T_per_min", "T/min"), ("_kg", "kg"), ("_deg", "deg"), ("_Hz", "Hz"),
                         ("_K", "K"), ("_T", "T"), ("_A", "A"), ("_s", "s")):
        if name.endswith(suffix):
            return unit
    return ""


class FieldEditor:
    """One plan key: a widget, how to read it, write it and mark it."""

    def __init__(self, path: tuple, kind: str, widget: QWidget, default=None, choices=(), optional=False):
        self.path, self.kind, self.widget, self.default = path, kind, widget, default
        self.choices, self.optional = choices, optional
        self.units_label: QLabel | None = None
        self.base_tooltip = widget.toolTip()

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def get(self):
        w = self.widget
        if self.kind == "bool":
            return w.isChecked()
        if self.kind == "choice":
            value = w.currentData()
            return UNSET if value is None else value
        if self.kind == "detectors":
            checked = [w.item(i).data(Qt.ItemDataRole.UserRole) for i in range(w.count())
                       if w.item(i).checkState() == Qt.CheckState.Checked]
            return UNSET if len(checked) == w.count() else checked
        text = w.text().strip()
        if not text:
            return UNSET
        if self.kind == "float":
            try:
                return float(text)
            except ValueError:
                return text  # pydantic names the key and the bad value
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                try:
                    f = float(text)
                    return int(f) if f.is_integer() else text
                except ValueError:
                    return text
        if self.kind == "floats":
            parts = [p for p in re.split(r"[,\s;]+", text.strip("[]")) if p]
            try:
                return [float(p) for p in parts]
            except ValueError:
                return text
        return text

    def set(self, value) -> None:
        w = self.widget
        w.blockSignals(True)
        try:
            if self.kind == "bool":
                w.setChecked(bool(self.default if value is UNSET or value is None else value))
            elif self.kind == "choice":
                v = self.default if value is UNSET else value
                i = w.findData(v)
                if i < 0 and v is not None:
                    w.addItem(str(v), v)  # e.g. an instrument this station lacks: shown, then refused
                    i = w.count() - 1
                w.setCurrentIndex(max(i, 0))
            elif self.kind == "detectors":
                names = None if value is UNSET or value is None else list(value)
                present = {w.item(i).data(Qt.ItemDataRole.UserRole) for i in range(w.count())}
                for extra in [n for n in (names or []) if n not in present]:
                    item = QListWidgetItem(f"{extra}  (not in this station)")  # shown, then refused
                    item.setData(Qt.ItemDataRole.UserRole, extra)
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    w.addItem(item)
                for i in range(w.count()):
                    item = w.item(i)
                    on = names is None or item.data(Qt.ItemDataRole.UserRole) in names
                    item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            else:
                if value is UNSET or value is None:
                    w.setText("")
                elif self.kind == "floats" and isinstance(value, (list, tuple)):
                    w.setText(", ".join(f"{float(v):g}" for v in value))
                elif isinstance(value, float):
                    w.setText(f"{value:g}")
                else:
                    w.setText(str(value))
        finally:
            w.blockSignals(False)

    def mark(self, message: str | None) -> None:
        self.widget.setProperty("invalid", bool(message))
        self.widget.setStyleSheet(INVALID_STYLE if message else "")
        self.widget.setToolTip(message or self.base_tooltip)


class GroupEditor:
    """A nested model (sweep, settle, outer ...): a group box; optional ones are checkable."""

    def __init__(self, path: tuple, box: QGroupBox, required: bool, checkable: bool):
        self.path, self.box, self.required, self.checkable = path, box, required, checkable

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def mark(self, message: str | None) -> None:
        self.box.setProperty("invalid", bool(message))
        self.box.setStyleSheet("QGroupBox { border: 1px solid #d00000; }" if message else "")
        self.box.setToolTip(message or "")


class PlanForm(QWidget):
    """The form of one plan kind. `to_dict()` gives what a plan YAML file would hold."""

    changed = pyqtSignal()

    def __init__(self, kind: str, station_info: dict | None = None, parent=None):
        super().__init__(parent)
        self.kind = kind
        self.model = KIND_MODELS[kind]
        self.station_info = station_info or {}
        self.editors: dict[str, FieldEditor] = {}
        self.groups: dict[str, GroupEditor] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QFormLayout()
        top.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(top)
        self._build(self.model, (), top, None)
        layout.addStretch(1)
        self.update_units()

    # -- building -----------------------------------------------------------------------
    def _build(self, model: type[BaseModel], prefix: tuple, form: QFormLayout, outer_layout):
        names = list(model.model_fields)
        if not prefix:  # title, then what makes this kind, then what every kind shares
            base = P._PlanBase.model_fields
            names = (["title"] + [n for n in names if n not in base]
                     + [n for n in names if n in base and n != "title"])
        for name in names:
            info = model.model_fields[name]
            path = prefix + (name,)
            if path in HIDDEN:
                continue
            ann, optional = _unwrap_optional(info.annotation)
            default = None if info.is_required() else info.default
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                box = QGroupBox(name.replace("_", " "))
                box.setObjectName("group_" + ".".join(path))
                checkable = optional
                if checkable:
                    box.setCheckable(True)
                    box.setChecked(False)
                    box.toggled.connect(self._emit_changed)
                sub = QFormLayout(box)
                sub.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
                self.groups[".".join(path)] = GroupEditor(path, box, info.is_required(), checkable)
                self._build(ann, path, sub, None)
                form.addRow(box)
                continue
            editor = self._make_editor(path, name, ann, optional, default)
            units = QLabel("")
            units.setMinimumWidth(40)
            editor.units_label = units
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(editor.widget, 1)
            h.addWidget(units)
            label = QLabel(name.replace("_", " ") + ("*" if info.is_required() else ""))
            label.setToolTip(HELP.get(name, ""))
            form.addRow(label, row)
            self.editors[editor.key] = editor

    def _make_editor(self, path, name, ann, optional, default) -> FieldEditor:
        tip = HELP.get(name, "")
        if name == "source" and not path[:-1]:
            w = QComboBox()
            w.addItem("(station default)", None)
            for src in self.station_info.get("sources", []):
                w.addItem(src, src)
            w.currentIndexChanged.connect(self._emit_changed)
            w.currentIndexChanged.connect(self.update_units)
            ed = FieldEditor(path, "choice", w, default=None)
        elif name == "detectors" and not path[:-1]:
            w = QListWidget()
            for det in self.station_info.get("detectors", []):
                item = QListWidgetItem(f"{det}  ({self.station_info['kinds'][det]})")
                item.setData(Qt.ItemDataRole.UserRole, det)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
                w.addItem(item)
            w.setMaximumHeight(max(40, 20 * w.count() + 6))
            w.itemChanged.connect(self._emit_changed)
            ed = FieldEditor(path, "detectors", w)
        elif typing.get_origin(ann) is Literal:
            w = QComboBox()
            if optional:
                w.addItem("(none)", None)
            for choice in typing.get_args(ann):
                w.addItem(str(choice), choice)
            w.currentIndexChanged.connect(self._emit_changed)
            w.currentIndexChanged.connect(self.update_units)
            ed = FieldEditor(path, "choice", w, default=default, choices=typing.get_args(ann))
        elif ann is bool:
            w = QCheckBox()
            w.toggled.connect(self._emit_changed)
            ed = FieldEditor(path, "bool", w, default=bool(default))
        else:
            w = QLineEdit()
            kind = {float: "float", int: "int", str: "str"}.get(ann)
            if kind is None and typing.get_origin(ann) is list:
                kind = "floats"
                w.setPlaceholderText("comma-separated numbers")
            kind = kind or "str"
            if default not in (None, "") and kind != "floats":
                w.setPlaceholderText(f"default {default:g}" if isinstance(default, float) else f"default {default}")
            elif optional and kind != "floats":
                w.setPlaceholderText("(not set)")
            w.textChanged.connect(self._emit_changed)
            ed = FieldEditor(path, kind, w, default=default, optional=optional)
        w.setObjectName("field_" + ".".join(path))
        w.setToolTip(tip)
        ed.base_tooltip = tip
        ed.set(UNSET)
        return ed

    def _emit_changed(self, *args):
        self.changed.emit()

    # -- units and limits -----------------------------------------------------------------
    def source_name(self) -> str | None:
        ed = self.editors.get("source")
        value = ed.get() if ed else UNSET
        if value is UNSET:
            sources = self.station_info.get("sources", [])
            return sources[0] if sources else None
        return value

    def update_units(self, *args) -> None:
        axis = self.editors["axis"].get() if "axis" in self.editors else "field"
        axis = "field" if axis is UNSET else axis
        outer_q = self.editors.get("outer.quantity")
        outer_q = outer_q.get() if outer_q else UNSET
        lim = self.station_info.get("limits", {}).get(self.source_name() or "", {})
        for key, ed in self.editors.items():
            name = ed.path[-1]
            unit = _units_for(ed.path, name)
            hint = ""
            if self.kind == "field_angle" and ed.path[0] == "sweep" and name != "points":
                unit = "deg"           # a field-angle sweep turns the field: its sweep is in degrees
            elif ed.path in AXIS_FIELDS:
                unit = "T" if axis == "field" else "A"
                if name == "step":
                    pass
                elif axis == "field" and "max_field_T" in lim:
                    hint = f"|B| ≤ {lim['max_field_T']:g} T"
                elif axis == "current" and "max_current_A" in lim:
                    hint = f"|I| ≤ {lim['max_current_A']:g} A"
            elif ed.path in OUTER_FIELDS or key == "outer.tolerance":
                unit = "K" if outer_q in (UNSET, "temperature") else "Hz"
                if unit == "K" and self.station_info.get("max_temperature_K"):
                    hint = f"≤ {self.station_info['max_temperature_K']:g} K"
                if key == "outer.tolerance":
                    unit = "K"
            elif name in ("ramp_rate_T_per_min", "max_ramp_rate_T_per_min") and "max_ramp_rate_T_per_min" in lim:
                hint = f"≤ {lim['max_ramp_rate_T_per_min']:g}"
            elif name == "max_field_T" and "max_field_T" in lim:
                hint = f"≤ {lim['max_field_T']:g}"
            elif name == "max_current_A" and "max_current_A" in lim:
                hint = f"≤ {lim['max_current_A']:g}"
            elif name == "max_temperature_K" and self.station_info.get("max_temperature_K"):
                hint = f"≤ {self.station_info['max_temperature_K']:g}"
            if ed.units_label is not None:
                ed.units_label.setText(f"{unit}  ({hint})" if hint and unit else (unit or hint))

    # -- values ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind}
        skip = [g.path for g in self.groups.values() if g.checkable and not g.box.isChecked()]
        for ed in self.editors.values():
            if any(ed.path[:len(s)] == s for s in skip):
                continue
            value = ed.get()
            if value is UNSET:
                continue
            if ed.kind == "bool" and value == ed.default:
                continue
            if ed.kind == "choice" and value == ed.default:
                continue
            node = out
            for part in ed.path[:-1]:
                node = node.setdefault(part, {})
            node[ed.path[-1]] = value
        for g in self.groups.values():  # required groups appear even when empty (pydantic names what is missing)
            present = g.checkable and g.box.isChecked()
            if g.required or present:
                node = out
                for part in g.path:
                    node = node.setdefault(part, {})
        # the title first, as in the example files
        ordered = {"title": out.pop("title")} if "title" in out else {}
        ordered["kind"] = out.pop("kind")
        ordered.update(out)
        return ordered

    def set_values(self, data: dict) -> list[str]:
        """Fill the form from a plan dict; returns keys the form has no place for (their key
        paths in `unknown_paths`: a key may itself hold a dot)."""
        unknown: list[str] = []
        self.unknown_paths: list[tuple] = []

        def walk(d, prefix):
            for k, v in d.items():
                path = prefix + (k,)
                key = ".".join(path)
                if path in HIDDEN:
                    continue
                if key in self.groups and isinstance(v, dict):
                    walk(v, path)
                elif key not in self.editors:
                    unknown.append(key)
                    self.unknown_paths.append(path)

        for g in self.groups.values():
            if g.checkable:
                node = data
                for part in g.path:
                    node = node.get(part) if isinstance(node, dict) else None
                g.box.blockSignals(True)
                g.box.setChecked(isinstance(node, dict))
                g.box.blockSignals(False)
        for key, ed in self.editors.items():
            node = data
            for part in ed.path:
                node = node.get(part, UNSET) if isinstance(node, dict) else UNSET
            ed.set(node)
        walk(data, ())
        self.update_units()
        return unknown

    def clear_marks(self) -> None:
        for ed in self.editors.values():
            ed.mark(None)
        for g in self.groups.values():
            g.mark(None)


def station_info_from(station) -> dict:
    """What the editor shows of a connected station: sources, detectors, limits."""
    from loopscope.daq.runner import station_instruments

    instruments = station_instruments(station)
    kinds = {name: kind for name, (kind, _) in instruments.items()}
    limits = {name: lim for name, (_, lim) in instruments.items()}
    temps = [limits[n].get("max_temperature_K", math.inf) for n, k in kinds.items() if k == "thermometer"]
    t_max = min(temps) if temps else None
    return {"kinds": kinds, "limits": limits,
            "sources": [n for n, k in kinds.items() if k == "field_source"],
            "detectors": [n for n, k in kinds.items() if k != "field_source"],
            "max_temperature_K": t_max if t_max and math.isfinite(t_max) else None}


def check_plan(data: dict, station) -> tuple[P.Plan | None, list[P.PlanProblem]]:
    """(plan, []) when the plan is valid for the station, else (None or plan, its problems)."""
    from loopscope.daq.runner import check_plan_against_station, station_instruments

    try:
        plan = P.load_plan(data)
    except P.PlanError as exc:
        return None, list(exc.problems)
    if station is None:
        return plan, []
    try:
        check_plan_against_station(plan, station_instruments(station))
    except P.PlanError as exc:
        return plan, list(exc.problems)
    return plan, []


def form_key_for(key_path: tuple, form: "PlanForm") -> str | None:
    """The editor (or group) of the form that holds a plan key path: the longest leading part
    of it the form has. An index ends the search: a list's editor holds every item
    (("outer", "values", 2) -> "outer.values"); None when the form has no place for it."""
    names: list[str] = []
    for part in key_path:
        if not isinstance(part, str):
            break
        names.append(part)
    while names:
        key = ".".join(names)
        if key in form.editors or key in form.groups:
            return key
        names.pop()
    return None


def keys_for_problem(problem: P.PlanProblem, form: "PlanForm") -> list[str]:
    """Which editors (or groups) a problem is about: its key path and the related ones."""
    keys: list[str] = []
    for path in problem.key_paths:
        key = form_key_for(path, form)
        if key is not None and key not in keys:
            keys.append(key)
    return keys


def _shown(problem: P.PlanProblem) -> str:
    """A problem's line without the origin of a plan that has no file (the form's own)."""
    if problem.origin in ("<plan>", "<plan text>"):
        return str(dataclasses.replace(problem, origin=""))
    return str(problem)


class PlanEditor(QWidget):
    """Kind selector + the form of that kind + the list of problems; validates on every edit."""

    validity_changed = pyqtSignal(bool)

    def __init__(self, station=None, parent=None):
        super().__init__(parent)
        self.station = station
        self.station_info = station_info_from(station) if station is not None else {}
        self.plan: P.Plan | None = None
        self.problems: list[P.PlanProblem] = []  # what is wrong with the plan, each with its key path
        self.errors: list[str] = []  # the same, as one-line texts
        self.path: Path | None = None
        layout = QVBoxLayout(self)
        head = QFormLayout()
        self.kind_box = QComboBox()
        self.kind_box.setObjectName("plan_kind")
        for kind in P.PLAN_KINDS:
            self.kind_box.addItem(KIND_LABELS[kind], kind)
        head.addRow("plan kind", self.kind_box)
        self.limits_label = QLabel("")
        self.limits_label.setWordWrap(True)
        self.limits_label.setStyleSheet("color: #444;")
        head.addRow("station limits", self.limits_label)
        layout.addLayout(head)
        self.error_label = QLabel("")
        self.error_label.setObjectName("plan_errors")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.error_label)
        self.form_holder = QVBoxLayout()
        layout.addLayout(self.form_holder)
        self.forms: dict[str, PlanForm] = {}
        self.form: PlanForm | None = None
        self.kind_box.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    # -- station ----------------------------------------------------------------------------
    def set_station(self, station) -> None:
        data = self.form.to_dict() if self.form else None
        self.station = station
        self.station_info = station_info_from(station) if station is not None else {}
        for form in self.forms.values():
            form.setParent(None)
            form.deleteLater()
        self.forms.clear()
        self.form = None
        self._kind_changed()
        if data:
            self.set_plan_dict(data)

    def _limits_text(self) -> str:
        if not self.station_info:
            return "no station connected: limits unknown, Start disabled"
        parts = []
        for src in self.station_info["sources"]:
            lim = self.station_info["limits"][src]
            if "vector" in lim:        # a vector magnet: its limit, and its axes
                axes = ", ".join(f"{a}: {inst}" for a, (inst, _) in lim["vector"]["axes"].items())
                parts.append(f"{src}: {lim['vector']['limit'].describe()}, ramp ≤ "
                             f"{lim.get('max_ramp_rate_T_per_min', math.inf):g} T/min ({axes})")
                continue
            if "vector_axis_of" in lim:
                parts.append(f"{src}: an axis of {lim['vector_axis_of'][0]} (swept through it)")
                continue
            parts.append(f"{src}: |B| ≤ {lim.get('max_field_T', math.inf):g} T, "
                         f"|I| ≤ {lim.get('max_current_A', math.inf):g} A, "
                         f"ramp ≤ {lim.get('max_ramp_rate_T_per_min', math.inf):g} T/min"
                         + (", persistent switch" if lim.get("has_persistent_switch") else ""))
        if self.station_info.get("max_temperature_K"):
            parts.append(f"temperature ≤ {self.station_info['max_temperature_K']:g} K")
        return "\n".join(parts)

    # -- kind -------------------------------------------------------------------------------
    def _kind_changed(self, *args) -> None:
        kind = self.kind_box.currentData()
        old = self.form
        common = old.to_dict() if old is not None else {}
        if old is not None:
            old.hide()
            self.form_holder.removeWidget(old)
        form = self.forms.get(kind)
        if form is None:
            form = PlanForm(kind, self.station_info)
            form.changed.connect(self.validate)
            self.forms[kind] = form
        # keys every kind shares (title, source, detectors, settle ...) follow the operator
        shared = {k: v for k, v in common.items() if k in P._PlanBase.model_fields and k != "kind"}
        if shared:
            current = form.to_dict()
            current.update(shared)
            form.set_values(current)
        self.form_holder.addWidget(form)
        form.show()
        self.form = form
        self.limits_label.setText(self._limits_text())
        self.validate()

    # -- plan in and out ----------------------------------------------------------------------
    def set_plan_dict(self, data: dict) -> list[str]:
        kind = data.get("kind")
        if kind not in KIND_MODELS:
            self._set_problems([P.PlanProblem(("kind",), f"must be one of {', '.join(P.PLAN_KINDS)} "
                                                         f"(got {kind!r})", kind)])
            return ["kind"]
        self.kind_box.blockSignals(True)
        self.kind_box.setCurrentIndex(self.kind_box.findData(kind))
        self.kind_box.blockSignals(False)
        old = self.form
        if old is not None:
            old.hide()
            self.form_holder.removeWidget(old)
        self.form = None
        self._kind_changed_to(kind)
        unknown = self.form.set_values(data)
        self.validate()
        if unknown:
            self._set_problems(self.problems + [P.PlanProblem(path, "unknown key (not loaded into the form)",
                                                              shown_key=key)
                                                for key, path in zip(unknown, self.form.unknown_paths)])
        return unknown

    def _kind_changed_to(self, kind):
        form = self.forms.get(kind)
        if form is None:
            form = PlanForm(kind, self.station_info)
            form.changed.connect(self.validate)
            self.forms[kind] = form
        self.form_holder.addWidget(form)
        form.show()
        self.form = form
        self.limits_label.setText(self._limits_text())

    def load_file(self, path: str | Path) -> list[str]:
        from loopscope.safe_yaml import SafeYAMLError, load_yaml_file

        path = Path(path)
        try:
            data, _ = load_yaml_file(path, label="plan file")
        except SafeYAMLError as exc:
            raise P.PlanError(str(exc)) from None
        if not isinstance(data, dict):
            raise P.PlanError(f"{path}: a plan is a mapping of keys to values")
        self.path = path
        return self.set_plan_dict(data)

    def plan_dict(self) -> dict:
        return self.form.to_dict()

    def yaml_text(self) -> str:
        """The plan as YAML (only what differs from the defaults), as `loopscope run` reads it."""
        plan = P.load_plan(self.plan_dict())
        data = plan.model.model_dump(exclude_defaults=True, mode="json")
        ordered = {"title": data.pop("title"), "kind": data.pop("kind")}
        ordered.update(data)
        return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True)

    def save_file(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.yaml_text())
        self.path = path
        return path

    # -- validation --------------------------------------------------------------------------
    def validate(self, *args) -> bool:
        form = self.form
        if form is None:
            return False
        form.update_units()
        plan, problems = check_plan(form.to_dict(), self.station)
        if self.station is None and plan is not None:
            problems = []
        self.plan = plan if not problems else None
        self._set_problems(problems)
        ok = not problems and self.station is not None
        self.validity_changed.emit(ok)
        return ok

    def show_errors(self, problems: list[P.PlanProblem]) -> None:
        """Mark the editor of every problem's key path; list every problem under the kind."""
        form = self.form
        form.clear_marks()
        by_key: dict[str, list[str]] = {}
        for problem in problems:
            for key in keys_for_problem(problem, form):
                by_key.setdefault(key, []).append(_shown(problem))
        for key, messages in by_key.items():
            target = form.editors.get(key) or form.groups.get(key)
            target.mark("\n".join(messages))
        if problems:
            text = "\n".join("✗ " + _shown(p) for p in problems)
            self.error_label.setStyleSheet("color: #b00000;")
        elif self.station is None:
            text = "plan valid; connect a station to check it against its limits"
            self.error_label.setStyleSheet("color: #806000;")
        else:
            total = self.plan.total_points() if self.plan else 0
            text = f"✓ plan valid for this station: {total} points"
            self.error_label.setStyleSheet("color: #006000;")
        self.error_label.setText(text)

    def _set_problems(self, problems: list[P.PlanProblem]) -> None:
        self.problems = list(problems)
        self.errors = [str(p) for p in self.problems]  # the one-line texts, as `loopscope run` says them
        self.show_errors(self.problems)

    @property
    def valid(self) -> bool:
        return self.plan is not None and not self.errors and self.station is not None

    def is_marked(self, key: str) -> bool:
        target = self.form.editors.get(key) or self.form.groups.get(key)
        w = target.widget if isinstance(target, FieldEditor) else target.box
        return bool(w.property("invalid"))

    def widget_for(self, key: str) -> QWidget:
        target = self.form.editors.get(key) or self.form.groups.get(key)
        return target.widget if isinstance(target, FieldEditor) else target.box

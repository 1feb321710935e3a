"""The data browser: open run files (also one still being written), plot, fit, save a PNG.

Fits use the analysis layer's model registry (`loopscope.analysis.models.list_models`) and fitter
(`loopscope.analysis.fitting.fit`); they run in a worker thread (the first fit of a model may compile
or load numba code), the overlay and the parameter table appear when it is done.
"""
from __future__ import annotations

import math
import threading
from pathlib import Path

import h5py
import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView,
                             QLabel, QMessageBox, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                             QVBoxLayout, QWidget)

from loopscope.gui.live_plot import BRANCH_NAMES, BRANCH_PENS

SKIP_AXES = {"branch", "cycle", "outer_index"}


class RunData:
    """The columns, units and metadata of a run file, read at one instant."""

    def __init__(self, path: str | Path):
        from loopscope.daq.recovery import open_run_file
        from loopscope.daq.storage import read_status

        self.path = Path(path)
        with open_run_file(self.path) as f:
            entry = f["entry"]
            data = entry["data"]
            self.signal = data.attrs.get("signal", "")
            axes = data.attrs.get("axes", [])
            self.axes = [a.decode() if isinstance(a, bytes) else str(a) for a in np.atleast_1d(axes)]
            if isinstance(self.signal, bytes):
                self.signal = self.signal.decode()
            self.columns: dict[str, np.ndarray] = {}
            self.units: dict[str, str] = {}
            for name, ds in data.items():
                if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
                    continue
                self.columns[name] = np.asarray(ds[()], dtype=np.float64)
                u = ds.attrs.get("units", "")
                self.units[name] = u.decode() if isinstance(u, bytes) else str(u)
            self.title = _text(entry, "title")
            self.plan_kind = _text(entry, "plan_kind")
            mass = None
            if "sample" in entry and "mass" in entry["sample"]:
                mass = float(entry["sample"]["mass"][()])
            self.metadata = {"sample_mass_kg": mass}
        try:
            self.status, self.reason = read_status(self.path)
        except Exception as exc:  # status is a convenience here
            self.status, self.reason = "unknown", str(exc)
        self.n = min((len(v) for v in self.columns.values()), default=0)
        for k in self.columns:
            self.columns[k] = self.columns[k][:self.n]


def _text(group, name: str) -> str:
    if name not in group:
        return ""
    v = group[name][()]
    return (v.decode() if isinstance(v, bytes) else str(v)).strip("\x00 ")


class _FitWorker(QObject):
    done = pyqtSignal(object, object, object)  # result, x, y (or None, error message, None)

    def run(self, model, x, y, metadata):
        def work():
            try:
                from loopscope.analysis.fitting import fit
                result = fit(model, x, y, metadata=metadata)
                self.done.emit(result, x, y)
            except Exception as exc:  # shown in the table's place
                self.done.emit(None, f"{type(exc).__name__}: {exc}", None)
        threading.Thread(target=work, name="fit", daemon=True).start()


class DataBrowser(QWidget):
    fit_finished = pyqtSignal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run: RunData | None = None
        self.fit_result = None
        self.fit_curve: pg.PlotDataItem | None = None
        self.data_curves: list[pg.PlotDataItem] = []
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.open_button = QPushButton("Open run file ...")
        self.open_button.clicked.connect(self._choose_file)
        bar.addWidget(self.open_button)
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(self.reload)
        bar.addWidget(self.reload_button)
        self.follow = QCheckBox("follow (reload every 2 s)")
        self.follow.toggled.connect(lambda on: self._follow_timer.start() if on else self._follow_timer.stop())
        bar.addWidget(self.follow)
        self.file_label = QLabel("no file open")
        self.file_label.setWordWrap(True)
        bar.addWidget(self.file_label, 1)
        self.png_button = QPushButton("Save plot as PNG ...")
        self.png_button.clicked.connect(self._choose_png)
        bar.addWidget(self.png_button)
        layout.addLayout(bar)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        form = QFormLayout(left)
        self.x_box = QComboBox()
        self.x_box.setObjectName("browser_x")
        self.y_box = QComboBox()
        self.y_box.setObjectName("browser_y")
        self.x_box.currentIndexChanged.connect(self.replot)
        self.y_box.currentIndexChanged.connect(self.replot)
        form.addRow("x", self.x_box)
        form.addRow("y", self.y_box)
        self.model_box = QComboBox()
        self.model_box.setObjectName("browser_model")
        form.addRow("model", self.model_box)
        self.model_help = QLabel("")
        self.model_help.setWordWrap(True)
        self.model_help.setStyleSheet("color: #444;")
        form.addRow(self.model_help)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setObjectName("fit")
        self.fit_button.clicked.connect(self.start_fit)
        form.addRow(self.fit_button)
        self.fit_status = QLabel("")
        self.fit_status.setWordWrap(True)
        form.addRow(self.fit_status)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("fit_table")
        self.table.setHorizontalHeaderLabels(("parameter", "value", "± stderr", "units"))
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        form.addRow(self.table)
        left.setMinimumWidth(440)
        split.addWidget(left)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("browser_plot")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addLegend(offset=(10, 10))
        split.addWidget(self.plot)
        split.setStretchFactor(1, 1)
        split.setSizes([460, 1000])
        layout.addWidget(split, 1)

        self._fit_worker = _FitWorker()
        self._fit_worker.done.connect(self._fit_done)
        self._follow_timer = QTimer(self)
        self._follow_timer.setInterval(2000)
        self._follow_timer.timeout.connect(self.reload)
        self._models = {}
        try:
            from loopscope.analysis.models import list_models
            for spec in list_models():
                self._models[spec.name] = spec
                self.model_box.addItem(f"{spec.name}  ({spec.y} vs {spec.x})", spec.name)
                self.model_box.setItemData(self.model_box.count() - 1, spec.description,
                                           Qt.ItemDataRole.ToolTipRole)
        except Exception as exc:  # the analysis layer is optional for browsing
            self.model_box.addItem(f"(analysis unavailable: {exc})", None)
        self.model_box.currentIndexChanged.connect(self._model_changed)
        self._model_changed()

    # -- files -------------------------------------------------------------------------------
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open run file", "", "Run files (*.h5 *.hdf5 *.nxs)")
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> None:
        try:
            run = RunData(path)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot open the file", f"{path}:\n{exc}")
            return
        keep_x, keep_y = self.x_box.currentData(), self.y_box.currentData()
        same_file = self.run is not None and self.run.path == run.path
        self.run = run
        for box in (self.x_box, self.y_box):
            box.blockSignals(True)
            box.clear()
        for name in run.columns:
            label = f"{name} [{run.units.get(name, '')}]"
            if name not in SKIP_AXES:
                self.x_box.addItem(label, name)
            if name not in SKIP_AXES and name not in ("point_index", "timestamp"):
                self.y_box.addItem(label, name)
        x = keep_x if same_file and keep_x in run.columns else (run.axes[0] if run.axes else "field_T")
        y = keep_y if same_file and keep_y in run.columns else run.signal
        self.x_box.setCurrentIndex(max(0, self.x_box.findData(x)))
        self.y_box.setCurrentIndex(max(0, self.y_box.findData(y)))
        for box in (self.x_box, self.y_box):
            box.blockSignals(False)
        self.file_label.setText(f"{run.path.name}: {run.title!r}, {run.plan_kind}, {run.n} points, "
                                f"status {run.status}" + (f" ({run.reason})" if run.reason else ""))
        self.file_label.setToolTip(str(run.path))
        if not same_file:
            self._clear_fit()
        self.replot()

    def reload(self) -> None:
        if self.run is not None:
            self.open_file(self.run.path)

    # -- plot --------------------------------------------------------------------------------
    def xy(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.run is None:
            return None
        x, y = self.x_box.currentData(), self.y_box.currentData()
        if x not in self.run.columns or y not in self.run.columns:
            return None
        return self.run.columns[x], self.run.columns[y]

    def replot(self, *args) -> None:
        for c in self.data_curves:
            self.plot.removeItem(c)
        self.data_curves = []
        xy = self.xy()
        if xy is None:
            return
        x, y = xy
        run = self.run
        xn, yn = self.x_box.currentData(), self.y_box.currentData()
        if "branch" in run.columns:
            b = run.columns["branch"]
            for key in sorted(set(b[np.isfinite(b)].astype(int))):
                sel = b == key
                c = self.plot.plot(x[sel], y[sel], pen=pg.mkPen(BRANCH_PENS.get(key, (0, 0, 0)), width=1.5),
                                   symbol="o", symbolSize=3, symbolPen=None,
                                   symbolBrush=BRANCH_PENS.get(key, (0, 0, 0)), name=BRANCH_NAMES.get(key))
                self.data_curves.append(c)
        else:
            c = self.plot.plot(x, y, pen=pg.mkPen((31, 119, 180), width=1.5), symbol="o", symbolSize=3,
                               symbolPen=None, symbolBrush=(31, 119, 180), name=yn)
            c.setDownsampling(auto=True, method="peak")  # after addItem (plot() adds it)
            self.data_curves.append(c)
        ux, uy = run.units.get(xn, ""), run.units.get(yn, "")
        self.plot.setLabel("bottom", xn, units=None if ux in ("", "1") else ux)
        self.plot.setLabel("left", yn, units=None if uy in ("", "1") else uy)
        self.plot.setTitle(run.title)

    # -- fits --------------------------------------------------------------------------------
    def _model_changed(self, *args) -> None:
        spec = self._models.get(self.model_box.currentData())
        if spec is None:
            self.model_help.setText("")
            return
        self.model_help.setText(f"{spec.description}\nfits {spec.y} against {spec.x}")
        if self.run is not None:  # the model's own quantities when the file has them
            for box, name in ((self.x_box, spec.x), (self.y_box, spec.y)):
                i = box.findData(name)
                if i >= 0:
                    box.setCurrentIndex(i)

    def select(self, x: str | None = None, y: str | None = None, model: str | None = None) -> None:
        if model is not None:
            self.model_box.setCurrentIndex(self.model_box.findData(model))
        if x is not None:
            self.x_box.setCurrentIndex(self.x_box.findData(x))
        if y is not None:
            self.y_box.setCurrentIndex(self.y_box.findData(y))

    def start_fit(self) -> None:
        xy = self.xy()
        spec = self._models.get(self.model_box.currentData())
        if xy is None or spec is None:
            self.fit_status.setText("open a file and choose x, y and a model first")
            return
        x, y = xy
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        metadata = dict(self.run.metadata, x_max_abs=float(np.max(np.abs(x))) if x.size else 0.0)
        self.fit_button.setEnabled(False)
        self.fit_status.setText(f"fitting {spec.name} to {x.size} points ...")
        self._fit_worker.run(spec.name, x, y, metadata)

    def _clear_fit(self) -> None:
        if self.fit_curve is not None:
            self.plot.removeItem(self.fit_curve)
            self.fit_curve = None
        self.fit_result = None
        self.table.setRowCount(0)
        self.fit_status.setText("")

    def _fit_done(self, result, x, y) -> None:
        self.fit_button.setEnabled(True)
        if result is None:
            self._clear_fit()
            self.fit_status.setText(f"fit failed: {x}")
            self.fit_status.setStyleSheet("color: #b00000;")
            self.fit_finished.emit(False)
            return
        if self.fit_curve is not None:
            self.plot.removeItem(self.fit_curve)
        spec = self._models[result.model]
        if spec.ordered:
            xs = x
        else:
            xs = np.linspace(float(np.min(x)), float(np.max(x)), max(500, min(5000, 4 * x.size)))
        try:
            ys = spec(xs, result.values)
        except Exception as exc:  # draw the table even when the curve cannot be evaluated
            ys = np.full_like(xs, np.nan)
            self.fit_status.setText(f"cannot evaluate the model: {exc}")
        self.fit_curve = self.plot.plot(xs, ys, pen=pg.mkPen((0, 0, 0), width=2.5, style=Qt.PenStyle.DashLine),
                                        name=f"fit: {result.model}")
        self.fit_result = result
        rows = [(n, v, s, u + (" (fixed)" if n in result.fixed else ""))
                for n, v, s, u in zip(result.names, result.values, result.stderr, result.units)]
        rows += [(n + " (derived)", v, s, u) for n, (v, s, u) in result.derived.items()]
        rows.append(("reduced chi²", result.reduced_chi_square, math.nan, ""))
        self.table.setRowCount(len(rows))
        for r, (n, v, s, u) in enumerate(rows):
            for c, text in enumerate((n, f"{v:.6g}", "" if not math.isfinite(s) else f"{s:.2g}", u)):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.fit_status.setText(result.message)
        self.fit_status.setStyleSheet("color: #006000;" if result.converged else "color: #b06000;")
        self.fit_finished.emit(True)

    # -- export ------------------------------------------------------------------------------
    def _choose_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plot as PNG", "", "PNG image (*.png)")
        if path:
            self.save_png(path)

    def save_png(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        if not self.plot.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

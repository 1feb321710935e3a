"""Live plot of the traces a run takes at each point (an I-V curve, a lock-in frequency scan).

A plan in Python may measure a whole array at each point (daq/point_measurements.py); the run's
point events carry it as {trace: {signal: array}}, against the trace's fixed axis (the bias
currents, the drive frequencies), which the run process announces with the run
(RunProcess.trace_layouts). This plot shows the latest trace of the chosen signal in full
colour and the few before it faded, so a change from point to point is seen at a glance.

Traces come once per point, and a point that measures an array is slow (every value of the
array is an instrument reading): they are kept in a short history per trace and drawn by a
timer, only when new ones came in, never one by one.
"""
from __future__ import annotations

import collections

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

HISTORY = 6               # the latest trace and the five before it
REDRAW_INTERVAL_MS = 100  # traces come at most a few a second
LATEST_PEN = (214, 39, 40)
OLDER_PEN = (31, 119, 180)


class TracePlot(QWidget):
    """Trace and signal selectors above one plot: the latest trace and a faded short history."""

    redrawn = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layouts: dict[str, dict] = {}
        self.history: dict[str, collections.deque] = {}
        self.received = 0   # traces received this run (all names)
        self.frames = 0
        self._dirty = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("trace at each point"))
        self.trace_box = QComboBox()
        self.trace_box.setObjectName("trace_name")
        self.trace_box.currentIndexChanged.connect(self._trace_changed)
        bar.addWidget(self.trace_box)
        self.signal_box = QComboBox()
        self.signal_box.setObjectName("trace_signal")
        self.signal_box.currentIndexChanged.connect(self._signal_changed)
        bar.addWidget(self.signal_box)
        self.info = QLabel("no traces yet")
        bar.addWidget(self.info, 1)
        layout.addLayout(bar)
        self.graphics = pg.PlotWidget()
        self.graphics.setObjectName("trace_graphics")
        self.plot = self.graphics.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.getAxis("left").setWidth(70)
        layout.addWidget(self.graphics, 1)
        # oldest first, so the latest is drawn on top
        self.curves = []
        for k in range(HISTORY):
            age = HISTORY - 1 - k
            colour = LATEST_PEN if age == 0 else OLDER_PEN + (int(200 * (1 - age / HISTORY)),)
            curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=2 if age == 0 else 1), connect="finite")
            self.plot.addItem(curve)
            self.curves.append(curve)
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_INTERVAL_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    # -- a new run ---------------------------------------------------------------------------
    def start_run(self, layouts: dict[str, dict]) -> None:
        """`layouts`: RunProcess.trace_layouts of the run ({} when it takes no traces)."""
        self.layouts = dict(layouts)
        self.history = {name: collections.deque(maxlen=HISTORY) for name in self.layouts}
        self.received = 0
        self.trace_box.blockSignals(True)
        self.trace_box.clear()
        for name in self.layouts:
            self.trace_box.addItem(name, name)
        self.trace_box.blockSignals(False)
        self._trace_changed()
        self.info.setText("waiting for the first point" if self.layouts else "no traces in this run")

    def _trace_changed(self, *args) -> None:
        name = self.trace_box.currentData()
        self.signal_box.blockSignals(True)
        self.signal_box.clear()
        if name is not None:
            lay = self.layouts[name]
            for signal, units in lay["signals"]:
                self.signal_box.addItem(f"{signal} [{units}]", signal)
            self.signal_box.setCurrentIndex(max(0, self.signal_box.findData(lay["signal"])))
        self.signal_box.blockSignals(False)
        self._signal_changed()

    def _signal_changed(self, *args) -> None:
        name, signal = self.trace_box.currentData(), self.signal_box.currentData()
        if name is None or signal is None:
            for curve in self.curves:
                curve.setData([], [])
            self.plot.setLabel("bottom", "")
            self.plot.setLabel("left", "")
            return
        lay = self.layouts[name]
        units = dict(lay["signals"])[signal]
        self.plot.setLabel("bottom", lay["axis"], units=None if lay["axis_units"] == "1" else lay["axis_units"])
        self.plot.setLabel("left", signal, units=None if units == "1" else units)
        self.plot.enableAutoRange()
        self._dirty = True

    def set_signal(self, signal: str) -> None:
        self.signal_box.setCurrentIndex(self.signal_box.findData(signal))

    # -- data (Qt thread) ----------------------------------------------------------------------
    def add_traces(self, items: list) -> None:
        """[(point index, {trace: {signal: array}})] from RunController.traces. No drawing here."""
        for index, traces in items:
            for name, signals in traces.items():
                if name in self.history:
                    self.history[name].append((int(index), signals))
                    self.received += 1
        if items:
            self._dirty = True

    def latest(self, name: str):
        """(point index, {signal: array}) of the last trace of `name`, or None (tests, the view)."""
        h = self.history.get(name)
        return h[-1] if h else None

    # -- drawing -----------------------------------------------------------------------------
    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        name, signal = self.trace_box.currentData(), self.signal_box.currentData()
        if name is None or signal is None:
            return
        x = np.asarray(self.layouts[name]["axis_values"], dtype=float)
        shown = list(self.history[name])
        missing = HISTORY - len(shown)
        for k, curve in enumerate(self.curves):
            if k < missing:
                curve.setData([], [])
                continue
            _, signals = shown[k - missing]
            curve.setData(x, np.asarray(signals[signal], dtype=float))
        if shown:
            first, last = shown[0][0], shown[-1][0]
            self.info.setText(f"point {last} (red)" + (f"; points {first}-{last - 1} faded" if len(shown) > 1 else ""))
        self.frames += 1
        self.redrawn.emit()

    def curve_data(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(x, y) the latest curve shows (tests)."""
        curve = self.curves[-1]
        if curve.xData is None or len(curve.xData) == 0:
            return None
        return curve.xData, curve.yData

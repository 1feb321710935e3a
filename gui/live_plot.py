"""Live plots of a running sweep: any quantity against field or time, several at once.

Rows arrive in blocks (RunController.points) and go into preallocated column buffers that
grow by doubling, one buffer per loop branch, so the virgin, down and up branches are
separate curves with their own colours. Curves are redrawn by a QTimer at up to 40 Hz, and
only when new data came in, never per point (during a run, within a frame-time budget).
pyqtgraph's 'peak' downsampling keeps a million points smooth; clip-to-view is on when x only
grows (time, point index), where pyqtgraph's clipping (a bisection) is valid.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (QComboBox, QGraphicsItem, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                             QSplitter, QVBoxLayout, QWidget)

from loopscope.gui.buffers import ColumnBuffer

# 40 Hz: a 30 Hz timer can only just reach 30 frames a second, and loses frames to any jitter
REDRAW_INTERVAL_MS = 25


def run_frame_budget(cores: int | None) -> float:
    """Share of wall time the plot may spend drawing while a run is active. The run's process
    and the lab's (or the instruments' drivers) each keep a core busy: on a 2-core machine
    the window draws at most 2 % of the time (a 4 ms frame every 200 ms); with cores to spare
    it may draw up to half the time (full rate for frames up to 12 ms)."""
    spare = max(0, (cores or 2) - 2)
    return min(0.5, 0.02 + 0.25 * spare)


RUN_FRAME_BUDGET = run_frame_budget(os.cpu_count())
MAX_REDRAW_INTERVAL_MS = 1000
BRANCH_NAMES = {0: "virgin", 1: "down", 2: "up"}
BRANCH_PENS = {0: (90, 90, 90), 1: (31, 119, 180), 2: (214, 39, 40)}  # grey, blue, red (colour-blind safe pair)
SERIES_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
MONOTONIC_X = {"elapsed_s", "timestamp", "point_index"}
BOOKKEEPING = {"point_index", "timestamp"}
# preferred x axes, in order
X_CHOICES = ("field_T", "probe_field_T", "field_setpoint_T", "current_A", "elapsed_s", "point_index",
             "temperature_K", "frequency_Hz")

pg.setConfigOptions(antialias=False, background="w", foreground="k")


class LivePlot(QWidget):
    """Quantity selectors on the left, stacked plots (x linked) on the right."""

    redrawn = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.columns: list[str] = []
        self.units: list[str] = []
        self.branch_col: int | None = None
        self.cycle_col: int | None = None
        self.buffers: dict[int, ColumnBuffer] = {}
        self._last_cycle: dict[int, float] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, int], pg.PlotDataItem] = {}
        self._dirty = False
        self._follow: dict[str, bool] = {}
        self.frames = 0
        self.total_points = 0

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(QLabel("x axis"))
        self.x_box = QComboBox()
        self.x_box.setObjectName("live_x")
        self.x_box.currentIndexChanged.connect(self._rebuild_curves)
        sv.addWidget(self.x_box)
        sv.addWidget(QLabel("plotted quantities"))
        self.y_list = QListWidget()
        self.y_list.setObjectName("live_y")
        self.y_list.itemChanged.connect(self._rebuild_plots)
        sv.addWidget(self.y_list, 1)
        self.count_label = QLabel("no run yet")
        self.count_label.setWordWrap(True)
        sv.addWidget(self.count_label)
        side.setMaximumWidth(210)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("live_graphics")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(side)
        split.addWidget(self.graphics)
        split.setStretchFactor(1, 1)
        layout.addWidget(split)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(REDRAW_INTERVAL_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    # -- a new run ---------------------------------------------------------------------------
    def start_run(self, columns: list[str], units: list[str], signal: str = "", axes: list[str] | None = None,
                  capacity: int = 4096) -> None:
        self.columns, self.units = list(columns), list(units)
        self.branch_col = self.columns.index("branch") if "branch" in self.columns else None
        self.cycle_col = self.columns.index("cycle") if "cycle" in self.columns else None
        self.buffers = {}
        self._capacity = capacity
        self._last_cycle = {}
        self.total_points = 0
        x_default = (axes or [None])[0]
        if x_default not in self.columns:
            x_default = next((c for c in X_CHOICES if c in self.columns), self.columns[0])
        self.x_box.blockSignals(True)
        self.x_box.clear()
        for c, u in zip(self.columns, self.units):
            if c in ("branch", "cycle", "outer_index"):
                continue
            self.x_box.addItem(f"{c} [{u}]", c)
        self.x_box.setCurrentIndex(max(0, self.x_box.findData(x_default)))
        self.x_box.blockSignals(False)
        self.y_list.blockSignals(True)
        self.y_list.clear()
        for c, u in zip(self.columns, self.units):
            if c in BOOKKEEPING or c in ("branch", "cycle", "outer_index"):
                continue
            item = QListWidgetItem(f"{c} [{u}]")
            item.setData(Qt.ItemDataRole.UserRole, c)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if c == signal else Qt.CheckState.Unchecked)
            self.y_list.addItem(item)
        if signal not in self.columns and self.y_list.count():
            self.y_list.item(0).setCheckState(Qt.CheckState.Checked)
        self.y_list.blockSignals(False)
        self._rebuild_plots()
        self.count_label.setText("0 points")

    def set_y(self, names: list[str]) -> None:
        self.y_list.blockSignals(True)
        for i in range(self.y_list.count()):
            item = self.y_list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.y_list.blockSignals(False)
        self._rebuild_plots()

    def set_x(self, name: str) -> None:
        self.x_box.setCurrentIndex(self.x_box.findData(name))

    def selected_y(self) -> list[str]:
        return [self.y_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.y_list.count())
                if self.y_list.item(i).checkState() == Qt.CheckState.Checked]

    # -- data --------------------------------------------------------------------------------
    def add_rows(self, block: np.ndarray) -> None:
        """Append a (k, n_columns) block (Qt thread). Cheap: no drawing here."""
        if not self.columns or block.size == 0:
            return
        self.total_points += block.shape[0]
        if self.branch_col is None:
            self._buffer(-1).extend(block)
        else:
            branches = block[:, self.branch_col]
            # split into runs of equal branch, keeping order
            cuts = np.flatnonzero(np.diff(branches)) + 1
            for part in np.split(block, cuts):
                b = int(part[0, self.branch_col])
                buf = self._buffer(b)
                if self.cycle_col is not None:
                    cyc = part[0, self.cycle_col]
                    if b in self._last_cycle and self._last_cycle[b] != cyc:
                        buf.append_gap()  # a new cycle of this branch: do not join it to the last one
                    self._last_cycle[b] = part[-1, self.cycle_col]
                buf.extend(part)
        self._dirty = True

    def _buffer(self, key: int) -> ColumnBuffer:
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = ColumnBuffer(len(self.columns), getattr(self, "_capacity", 4096))
            self._rebuild_curves()
        return buf

    # -- drawing -----------------------------------------------------------------------------
    def _rebuild_plots(self, *args) -> None:
        self.graphics.clear()
        self.plots.clear()
        self.curves.clear()
        self._follow = {}
        names = self.selected_y()
        first = None
        for i, name in enumerate(names):
            unit = self.units[self.columns.index(name)]
            p = self.graphics.addPlot(row=i, col=0)
            p.setLabel("left", name, units=None if unit == "1" else unit)
            p.showGrid(x=True, y=True, alpha=0.25)
            p.getAxis("left").setWidth(70)
            for side in ("left", "bottom"):
                # Axes (with the grid, which they draw over the whole plot) are kept as pixmaps
                # and redrawn only when the range changes: every new curve segment lies under the
                # grid, and replaying the axes' text made a frame 2.8 times dearer
                # (benchmarks/bench_liveplot_axes.py)
                p.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # the range follows the data from the buffers' running bounds (no full scans);
            # zooming or panning by hand stops following, the "A" button resumes it
            p.vb.disableAutoRange()
            p.vb.sigRangeChangedManually.connect(lambda *a, n=name: self._follow.__setitem__(n, False))
            self._follow[name] = True
            if first is None:
                first = p
            else:
                p.setXLink(first)
            self.plots[name] = p
        self._rebuild_curves()

    def _rebuild_curves(self, *args) -> None:
        for (name, key), curve in list(self.curves.items()):
            self.plots[name].removeItem(curve)
        self.curves.clear()
        x = self.x_box.currentData()
        if x is None:
            return
        x_unit = self.units[self.columns.index(x)]
        clip = x in MONOTONIC_X
        keys = sorted(self.buffers) or ([-1] if self.branch_col is None else [])
        names = list(self.plots)
        for i, name in enumerate(names):
            p = self.plots[name]
            p.setLabel("bottom", x if i == len(names) - 1 else "", units=None if x_unit == "1" else x_unit)
            if self.branch_col is not None and p.legend is None:
                p.addLegend(offset=(10, 10))
            for key in keys:
                if key >= 0:
                    pen = pg.mkPen(BRANCH_PENS.get(key, (0, 0, 0)), width=1)
                    label = BRANCH_NAMES.get(key, f"branch {key}")
                else:
                    pen = pg.mkPen(SERIES_COLOURS[i % len(SERIES_COLOURS)], width=1)
                    label = None
                curve = pg.PlotDataItem(pen=pen, name=label, connect="finite", dynamicRangeLimit=None)
                # PlotItem.addItem imposes the plot's own downsampling mode: set it there
                p.setDownsampling(auto=True, mode="peak")
                p.setClipToView(clip)
                p.addItem(curve)
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(clip)
                self.curves[(name, key)] = curve
        self._dirty = True

    def set_run_active(self, active: bool) -> None:
        """During a run the redraw rate follows the frame budget; otherwise 40 Hz."""
        self._run_active = active
        if not active:
            self.timer.setInterval(REDRAW_INTERVAL_MS)

    def redraw(self) -> None:
        if not self._dirty or not self.columns:
            return
        t0 = time.perf_counter()
        self._draw()
        if getattr(self, "_run_active", False):
            # paint now, so the frame's whole cost is measured, then space frames to the budget
            self.graphics.viewport().repaint()
            cost_ms = 1000 * (time.perf_counter() - t0)
            self.last_frame_ms = cost_ms
            self.timer.setInterval(int(min(MAX_REDRAW_INTERVAL_MS, max(REDRAW_INTERVAL_MS, cost_ms / RUN_FRAME_BUDGET))))

    def _draw(self) -> None:
        self._dirty = False
        x = self.x_box.currentData()
        if x is None:
            return
        xi = self.columns.index(x)
        for (name, key), curve in self.curves.items():
            buf = self.buffers.get(key)
            if buf is None or buf.n == 0:
                continue
            yi = self.columns.index(name)
            curve.setData(buf.column(xi), buf.column(yi),
                          skipFiniteCheck=bool(buf.all_finite[xi] and buf.all_finite[yi]))
        for name, p in self.plots.items():
            vb = p.vb
            if any(vb.autoRangeEnabled()):  # the "A" button: follow the data again
                vb.disableAutoRange()
                self._follow[name] = True
            if not self._follow.get(name, True):
                continue
            yi = self.columns.index(name)
            bufs = [b for b in self.buffers.values() if b.n]
            if not bufs:
                continue
            x0, x1 = min(b.lo[xi] for b in bufs), max(b.hi[xi] for b in bufs)
            y0, y1 = min(b.lo[yi] for b in bufs), max(b.hi[yi] for b in bufs)
            if all(np.isfinite((x0, x1, y0, y1))):
                self._follow_range(vb, x0, x1, y0, y1)
        self.frames += 1
        self.count_label.setText(f"{self.total_points:,} points")
        self.redrawn.emit()

    @staticmethod
    def _follow_range(vb, x0, x1, y0, y1) -> None:
        """Keep the data in view; change the range only when the data leaves it or fills less
        than a third of it. Re-rendering the axes is most of a frame's cost, so the side the
        data grew out of gets 40 % headroom (a sweep re-ranges every 40 % of growth, not 10 %)."""
        (vx0, vx1), (vy0, vy1) = vb.viewRange()

        def needs(lo, hi, v0, v1):
            span = hi - lo
            return lo < v0 or hi > v1 or (span > 0 and span < 0.33 * (v1 - v0))

        def padded(lo, hi, v0, v1):
            if hi <= lo:
                return lo - 0.5 * (abs(lo) or 1.0), lo + 0.5 * (abs(lo) or 1.0)
            span = hi - lo
            return (lo - (0.4 if lo < v0 else 0.1) * span, hi + (0.4 if hi > v1 else 0.1) * span)

        if needs(x0, x1, vx0, vx1) or needs(y0, y1, vy0, vy1):
            vb.setRange(xRange=padded(x0, x1, vx0, vx1), yRange=padded(y0, y1, vy0, vy1), padding=0)

    def curve_points(self, name: str) -> int:
        """Points held by the curves of one quantity (tests)."""
        total = 0
        for (n, key), curve in self.curves.items():
            if n == name and curve.xData is not None:
                total += int(np.isfinite(curve.xData).sum())
        return total

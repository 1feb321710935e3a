"""What keeping the live plot's axes as pixmaps saves per frame.

`python benchmarks/bench_liveplot_axes.py [--points 100000] [--frames 40]` (offscreen Qt).
The window's own LivePlot with two quantities, its curves growing by 1000 points a frame;
each frame is the plot's redraw plus a synchronous repaint. Two cases side by side, in
alternating blocks: the axes as the plot sets them (kept as pixmaps, DeviceCoordinateCache,
redrawn only when the range changes) and the same plot with that cache switched off (each
frame then replays the axes' text and the grid they draw). Medians of the frame times.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PyQt6.QtWidgets import QApplication, QGraphicsItem  # noqa: E402

from _machine import machine_line  # noqa: E402

COLUMNS = ["point_index", "timestamp", "elapsed_s", "field_T", "flux_phi0", "probe_field_T"]
UNITS = ["1", "s", "s", "T", "Phi0", "T"]


def frame_times(app, cached: bool, n_points: int, frames: int) -> list[float]:
    from loopscope.gui.live_plot import LivePlot

    live = LivePlot()
    live.resize(1100, 800)
    live.show()
    live.start_run(COLUMNS, UNITS, "flux_phi0", ["field_T"], capacity=2 * n_points)
    live.set_y(["flux_phi0", "probe_field_T"])
    if not cached:
        for p in live.plots.values():
            for side in ("left", "bottom"):
                p.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.NoCache)
    field = np.linspace(-0.1, 0.1, n_points + 1000 * frames)
    rows = np.zeros((len(field), len(COLUMNS)))
    rows[:, 0] = np.arange(len(field))
    rows[:, 3] = field
    rows[:, 4] = np.tanh(50 * field)
    rows[:, 5] = field
    live.add_rows(rows[:n_points])
    live.redraw()
    live.graphics.viewport().repaint()
    app.processEvents()
    times = []
    for k in range(frames):
        t0 = time.perf_counter()
        live.add_rows(rows[n_points + 1000 * k: n_points + 1000 * (k + 1)])
        live.redraw()
        live.graphics.viewport().repaint()
        times.append(time.perf_counter() - t0)
    live.close()
    return times


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--blocks", type=int, default=3, help="alternating blocks of frames per case")
    a = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    cached, uncached = [], []
    for _ in range(a.blocks):
        uncached += frame_times(app, False, a.points, a.frames)
        cached += frame_times(app, True, a.points, a.frames)
    c, u = 1e3 * statistics.median(cached), 1e3 * statistics.median(uncached)
    print(f"machine: {machine_line('PyQt6', 'pyqtgraph')}")
    print(f"| axes | frame time, {a.points:,}+ points, two plots (median of {len(cached)} frames) |")
    print("|---|---|")
    print(f"| redrawn each frame (no cache) | {u:.1f} ms |")
    print(f"| kept as pixmaps (the live plot's setting) | {c:.1f} ms |")
    print(f"\nframes {u / c:.1f} times cheaper with the axes cached")

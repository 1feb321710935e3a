"""Screenshots of the window on the simulated lab, offscreen.

    loopscope gui --screenshot window.png       the Sweep tab after a short hysteresis loop
    python -m loopscope.gui.screenshots docs/screenshots          one PNG per tab (the user guide's pictures)
    python -m loopscope.gui.screenshots docs/screenshots queue    the queue tab's alone
    python -m loopscope.gui.screenshots docs/screenshots code     a plan in Python with its I-V traces
    python -m loopscope.gui.screenshots docs/screenshots angle    a field-angle sweep on a vector magnet
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

SHORT_LOOP = {
    "title": "Soft iron core hysteresis loop (screenshot)", "kind": "loop", "operator": "demo",
    "sample": {"name": "soft core", "material": "Fe-3%Si"},
    "source": "coil_supply", "detectors": ["gaussmeter", "squid_controller", "temperature_controller"],
    "amplitude": 0.08, "step": 0.002, "cycles": 1, "virgin": True, "ramp_rate_T_per_min": 3.0,
    "settle": {"wait_for_holding": True},
}
RING_SWEEP = {
    "title": "Persistent currents in Au rings (screenshot)", "kind": "linear",
    "source": "coil_supply", "detectors": ["gaussmeter", "squid_controller", "temperature_controller"],
    "sweep": {"start": -0.05, "stop": 0.05, "points": 201}, "ramp_rate_T_per_min": 6.0,
    "settle": {"wait_for_holding": True},
}


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication
    return QApplication.instance() or QApplication(sys.argv[:1])


def wait_until(condition, timeout_s: float = 60.0) -> bool:
    from PyQt6.QtWidgets import QApplication
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _window(session, out_dir):
    from loopscope.gui.main_window import MainWindow
    w = MainWindow(session, out_dir=out_dir)
    w.out_dir.setText(str(out_dir))
    w.resize(1500, 950)
    w.show()
    if not wait_until(lambda: w.station is not None, 60):
        raise RuntimeError("the station did not connect")
    return w


def _run(w, plan: dict, timeout_s: float = 300.0) -> dict:
    done = {}
    w.controller.run_finished.connect(lambda d: done.update(d))
    w.editor.set_plan_dict(plan)
    if not w.start_run():
        raise RuntimeError("could not start: " + "; ".join(w.editor.errors))
    if not wait_until(lambda: bool(done), timeout_s):
        raise RuntimeError("the sweep did not finish in time")
    wait_until(lambda: False, 0.3)  # the last redraw
    return done


def _save(widget, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(path), "PNG")
    return path


@contextlib.contextmanager
def _scratch_folder():
    """A temporary working folder; the window shows the relative name 'runs', so no
    machine-specific path ends up in a screenshot."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield "runs"
        finally:
            os.chdir(previous)


def window_screenshot(path: Path, speed: float = 500.0, station_file=None) -> Path:
    """A short hysteresis loop on the simulated lab, then the window saved as PNG."""
    app = _app()
    from loopscope.gui.session import StationSession
    session = (StationSession(station_file) if station_file else
               StationSession.simulated(speed=speed, sample="soft_core"))
    path = Path(path).resolve()
    with _scratch_folder() as tmp:
        w = _window(session, tmp)
        try:
            _run(w, SHORT_LOOP)
            w.live.set_y(["flux_phi0", "probe_field_T"])
            wait_until(lambda: False, 0.3)
            return _save(w, Path(path))
        finally:
            w.poller.stop()
            w.close()
            session.close()
            app.processEvents()


def _queue_tab(w, folder: str, path: Path) -> Path:
    """The queue tab: three plans built in the window, run through the queue engine, stopped
    after the second run (the third stays pending)."""
    from loopscope.daq.plans import load_plan
    w.queue.folder.setText(folder)
    w.queue.add_plan(load_plan(dict(RING_SWEEP, title="Field sweep A", sweep={"start": 0, "stop": 0.02, "points": 11})), "editor")
    # paced (50 lab-s a point): still running when "Stop after the current run" is pressed
    w.queue.add_plan(load_plan(dict(RING_SWEEP, title="Field sweep B", sweep={"start": 0, "stop": -0.02, "points": 11},
                                    settle={"wait_for_holding": True, "delay_s": 50.0})), "field_b.yaml")
    w.queue.add_plan(load_plan(dict(SHORT_LOOP, title="Loop after the sweeps")), "hysteresis_loop.yaml")
    w.tabs.setCurrentWidget(w.queue)
    w.run_queue()
    if not wait_until(lambda: w.queue.entries[1].status == "running", 120):
        raise RuntimeError("the queue's second run did not start")
    w.queue.stop_button.click()  # Stop after the current run
    wait_until(lambda: not w.controller.active, 120)
    wait_until(lambda: w.station is not None, 60)
    wait_until(lambda: False, 0.3)
    return _save(w, path)


def _one_picture(make, file_name: str, out_dir: Path, speed: float) -> Path:
    """One PNG alone: a window on a fresh simulated lab (soft core), `make(window, folder, path)`."""
    app = _app()
    from loopscope.gui.session import StationSession
    out_dir = Path(out_dir).resolve()
    with _scratch_folder() as tmp:
        session = StationSession.simulated(speed=speed, sample="soft_core")
        w = _window(session, tmp)
        try:
            return make(w, tmp, out_dir / file_name)
        finally:
            w.poller.stop()
            w.close()
            session.close()
            app.processEvents()


def queue_tab(out_dir: Path, speed: float = 500.0) -> Path:
    """The queue tab's PNG alone."""
    return _one_picture(_queue_tab, "queue.png", out_dir, speed)


IV_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plans_in_python" / "measurements_at_each_point.py"


def _code_plan_sweep(w, path: Path) -> Path:
    """The Sweep tab running the I-V example (a plan in Python): its view in place of the form,
    the scalar plot above, the latest I-V curves in the trace plot below."""
    w.tabs.setCurrentIndex(1)
    if not w.load_code_plan_file(IV_EXAMPLE, "iv_at_fields"):
        raise RuntimeError("the I-V example did not load")
    w.code_view.set_argument("fields", "9")
    done = {}
    w.controller.run_finished.connect(lambda d: done.update(d))
    if not w.start_run():
        raise RuntimeError("could not start: " + "; ".join(w.code_view.errors))
    if not wait_until(lambda: bool(done), 300):
        raise RuntimeError("the I-V run did not finish in time")
    w.live.set_y(["probe_field_T"])
    wait_until(lambda: False, 0.4)  # the last redraw of both plots
    return _save(w, path)


def code_plan_sweep(out_dir: Path, speed: float = 500.0) -> Path:
    """The PNG of a plan in Python run from the window, with its trace plot."""
    return _one_picture(lambda w, tmp, path: _code_plan_sweep(w, path), "sweep_plan_in_python.png",
                        out_dir, speed)


FIELD_ANGLE = {
    "title": "Rings against the field angle, 0.05 T (screenshot)", "kind": "field_angle",
    "source": "vector_magnet", "detectors": ["squid_controller", "gaussmeter", "temperature_controller"],
    "magnitude_T": 0.05, "angle": "polar", "azimuth_deg": 0.0,
    "sweep": {"start": 0.0, "stop": 90.0, "step": 1.0}, "ramp_rate_T_per_min": 0.2,
    "settle": {"wait_for_holding": True},
}


def field_angle_sweep(out_dir: Path, speed: float = 2000.0) -> Path:
    """The Sweep tab after a field-angle sweep on the simulated vector magnet: the rings' flux
    against the polar angle as the field turns out of their normal."""
    app = _app()
    from loopscope.gui.session import StationSession
    out_dir = Path(out_dir).resolve()
    with _scratch_folder() as tmp:
        session = StationSession.simulated(speed=speed, sample="rings",
                                           config={"vector_magnet": {"enabled": True}})
        w = _window(session, tmp)
        try:
            _run(w, FIELD_ANGLE, timeout_s=600)
            w.live.set_y(["flux_phi0"])
            wait_until(lambda: False, 0.4)
            return _save(w, out_dir / "sweep_field_angle.png")
        finally:
            w.poller.stop()
            w.close()
            session.close()
            app.processEvents()


def all_tabs(out_dir: Path, speed: float = 500.0) -> list[Path]:
    """One PNG per tab for the user guide."""
    app = _app()
    from loopscope.gui.session import StationSession
    out_dir = Path(out_dir).resolve()
    saved = []
    with _scratch_folder() as tmp:
        # rings: a ring sweep for the data browser's fit
        session = StationSession.simulated(speed=speed, sample="rings")
        w = _window(session, tmp)
        try:
            ring = _run(w, RING_SWEEP)
            w.tabs.setCurrentWidget(w.browser)
            w.browser.open_file(ring["path"])
            w.browser.select(model="pc_squid", x="field_T", y="flux_phi0")
            fitted = []
            w.browser.fit_finished.connect(fitted.append)
            w.browser.start_fit()
            wait_until(lambda: bool(fitted), 120)
            saved.append(_save(w, out_dir / "data_browser.png"))
        finally:
            w.poller.stop()
            w.close()
            session.close()
        # soft core: station, loop with live plots, queue
        session = StationSession.simulated(speed=speed, sample="soft_core")
        w = _window(session, tmp)
        try:
            wait_until(lambda: "--" not in w.station_panel.readout_labels[("coil_supply", "field_T")].text(), 10)
            w.tabs.setCurrentWidget(w.station_panel)
            saved.append(_save(w, out_dir / "station.png"))
            w.tabs.setCurrentIndex(1)
            _run(w, SHORT_LOOP)
            w.live.set_y(["flux_phi0", "probe_field_T"])
            wait_until(lambda: False, 0.3)
            saved.append(_save(w, out_dir / "sweep.png"))
            # an invalid entry, marked
            bad = dict(SHORT_LOOP, amplitude=0.2)
            w.editor.set_plan_dict(bad)
            wait_until(lambda: False, 0.2)
            saved.append(_save(w, out_dir / "sweep_invalid.png"))
            saved.append(_queue_tab(w, tmp, out_dir / "queue.png"))
            saved.append(_code_plan_sweep(w, out_dir / "sweep_plan_in_python.png"))
        finally:
            w.poller.stop()
            w.close()
            session.close()
    app.processEvents()
    return saved


if __name__ == "__main__":
    # python -m loopscope.gui.screenshots docs/screenshots [queue | code | angle]
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    alone = {"queue": queue_tab, "code": code_plan_sweep, "angle": field_angle_sweep}
    for p in [alone[sys.argv[2]](target)] if sys.argv[2:3] and sys.argv[2] in alone else all_tabs(target):
        print(p)

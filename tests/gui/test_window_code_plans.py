"""Plans written in Python run from the window: loaded from their .py file, arguments edited,
refused before anything is sent when bad, run in the run process (re-loaded there from their
target and arguments), their traces plotted live, and queued through the queue file."""
from pathlib import Path

import h5py
import numpy as np
import pytest
from PyQt6.QtCore import Qt

from tests.gui.conftest import SPEED

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans_in_python"
MEASUREMENTS = EXAMPLES / "measurements_at_each_point.py"


@pytest.fixture(scope="module")
def lab_session(qapp):
    """The simulated lab in this process (its instruments' state and command logs readable),
    the window's station on it."""
    from loopscope.daq.demo import simulated_station
    from loopscope.gui.session import StationSession
    from loopscope.sim_devices import SimulatedLab

    lab = SimulatedLab({"sample": {"kind": "soft_core"}}, seed=2, speed=SPEED).start()
    session = StationSession(simulated_station(lab, SPEED), lab=lab, description="simulated lab in-process")
    session.connect_blocking()
    yield session
    session.close()


@pytest.fixture
def window(qtbot, lab_session, tmp_path):
    from loopscope.gui.main_window import MainWindow

    w = MainWindow(lab_session, out_dir=tmp_path)
    w.out_dir.setText(str(tmp_path))
    w.queue.folder.setText(str(tmp_path / "queue"))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.station is not None and not lab_session.connecting, timeout=20000)
    yield w
    if w.controller.active:
        w.controller.runner.abort("test teardown")
        w.controller.wait_finished(60)
    w.poller.stop()


def load_iv(window, monkeypatch):
    """Load the examples file; the chooser (three plans in it) answered with iv_at_fields."""
    asked = []
    monkeypatch.setattr(window, "choose_code_function", lambda path, names: asked.append(names) or "iv_at_fields")
    window.load_plan_file(str(MEASUREMENTS))
    assert asked == [["iv_at_fields", "frequency_scan_at_temperatures", "resonance_by_bisection"]]
    assert window.code_plan_shown
    return window.code_view


def run_to_end(window, qtbot):
    qtbot.waitUntil(lambda: not window.controller.active, timeout=120000)


def test_iv_at_fields_runs_with_its_trace_plotted_and_ends_safe(window, qtbot, monkeypatch, lab_session):
    view = load_iv(window, monkeypatch)
    # the plan shown read-only with its defaults
    assert view.title_label.text() == "I-V of the gold wire at each field"
    assert view.source_label.text() == "coil_supply"
    assert view.points_label.text() == "7"
    assert view.argument_edits["fields"].text() == "7"
    assert "def iv_at_fields" in view.source_text.toPlainText()
    assert view.valid and window.start_button.isEnabled()
    # fewer fields and currents
    view.set_argument("fields", "3")
    view.set_argument("currents", "21")
    assert view.points_label.text() == "3"
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    run_to_end(window, qtbot)
    result = window.controller.runner.result
    assert result.status == "completed" and result.points == 3
    with h5py.File(result.path, "r") as f:
        assert f["entry/status"][()].decode() == "completed"
        assert f["entry/iv_curve/sample_voltage_V"].shape == (3, 21)
        stored_voltages = f["entry/iv_curve/sample_voltage_V"][-1]
    # the trace plot: every point's trace arrived, the latest drawn against its axis
    traces = window.traces
    assert traces.isVisible() and traces.received == 3
    qtbot.waitUntil(lambda: traces.curve_data() is not None and traces.latest("iv_curve")[0] == 2, timeout=5000)
    qtbot.waitUntil(lambda: np.array_equal(traces.curve_data()[1], stored_voltages), timeout=5000)
    x, y = traces.curve_data()
    assert np.allclose(x, np.linspace(-2e-5, 2e-5, 21))
    assert traces.plot.getAxis("bottom").labelText == "bias_current_A"
    assert traces.plot.getAxis("left").labelText == "sample_voltage_V"
    assert np.ptp(y) > 0  # a real I-V: the voltage follows the current
    assert window.live.total_points == 3
    # the safe state: source-meter at zero with its output off, the coil at zero
    lab = lab_session.lab
    meter = lab.instruments["source_meter"]
    assert meter.output is False and meter.level["CURR"] == 0.0
    assert abs(lab.world.coil.current_setpoint_A) < 1e-9
    assert abs(lab.world.coil.current_A) < 1e-3
    qtbot.waitUntil(lambda: window.start_button.isEnabled(), timeout=20000)  # connected again


def test_an_adaptive_plan_runs_from_the_window(window, qtbot):
    window.load_plan_file(f"{MEASUREMENTS}:resonance_by_bisection")
    view = window.code_view
    assert view.name == "resonance_by_bisection"
    assert view.points_label.text() == "adaptive, up to 40"
    view.set_argument("tolerance_Hz", "0.1")  # 10 Hz halved down to 0.1 Hz: 7 points after the first
    assert window.start_run()
    run_to_end(window, qtbot)
    result = window.controller.runner.result
    assert result.status == "completed", result.reason
    assert result.points == 8
    assert window.live.total_points == 8
    assert not window.traces.isVisible()  # no trace measured


def test_a_bad_argument_is_refused_and_nothing_is_sent(window, qtbot, monkeypatch, lab_session):
    lab = lab_session.lab
    view = load_iv(window, monkeypatch)
    before = lab.command_log()
    view.set_argument("top_T", "0.5")  # beyond the coil's 0.099 T
    assert not view.valid and not window.start_button.isEnabled()
    assert "0.5" in view.error_label.text() and "✗" in view.error_label.text()
    assert not window.start_run()
    assert window.controller.runner is None
    # an argument that is not a simple value: marked at its editor
    view.set_argument("top_T", "0.05")
    view.set_argument("fields", "{a: 1}")
    assert view.is_marked("fields") and not view.is_marked("top_T")
    assert "fields" in view.error_label.text()
    assert not window.start_run() and window.controller.runner is None
    window.add_editor_plan_to_queue()
    assert window.queue.entries == []
    after = lab.command_log()
    assert after["source_meter"] == before["source_meter"]
    # the window's readouts keep asking the coil supply; nothing set it
    new_coil = after["coil_supply"][len(before["coil_supply"]):]
    assert not [line for line in new_coil if not line.rstrip().endswith("?")]
    # a good value again: Start comes back
    view.set_argument("fields", "2")
    assert view.valid and window.start_button.isEnabled()
    # and back to the form
    qtbot.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    assert not window.code_plan_shown


def test_a_plan_in_python_added_to_the_queue_runs_through_it(window, qtbot, monkeypatch):
    import yaml

    from loopscope.daq.queue import load_queue, read_queue_status

    view = load_iv(window, monkeypatch)
    view.set_argument("fields", "2")
    view.set_argument("currents", "5")
    qtbot.mouseClick(window.queue_button, Qt.MouseButton.LeftButton)
    assert [(e.plan.kind, e.origin) for e in window.queue.entries] == [("code", "measurements_at_each_point.py:iv_at_fields")]
    qtbot.mouseClick(window.queue.run_button, Qt.MouseButton.LeftButton)
    assert type(window.controller.runner.job).__name__ == "QueueJob"
    qtbot.waitUntil(lambda: not window.queue.running and not window.controller.active, timeout=120000)
    queue_file = window.queue.queue_file
    entry = yaml.safe_load(queue_file.read_text())["runs"][0]
    assert entry["plan"] == f"{MEASUREMENTS}:iv_at_fields"
    assert entry["arguments"]["fields"] == 2 and entry["arguments"]["currents"] == 5
    status = read_queue_status(load_queue(queue_file))
    assert [(r["state"], r["points"]) for r in status["runs"]] == [("completed", 2)]
    with h5py.File(window.queue.entries[0].path, "r") as f:
        assert f["entry/iv_curve/sample_voltage_V"].shape == (2, 5)
    assert window.traces.received == 2  # the queue's run plotted its traces too

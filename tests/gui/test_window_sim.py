"""The window driving real sweeps on the simulated lab."""

import pytest
from PyQt6.QtCore import Qt

from tests.gui.conftest import SPEED, linear_plan

pytestmark = pytest.mark.timeout(120)


def _type(qtbot, widget, text):
    widget.clear()
    qtbot.keyClicks(widget, text)


def test_station_panel_shows_instruments_and_readouts(window, qtbot):
    panel = window.station_panel
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert "coil_supply" in names and "gaussmeter" in names
    idn = {panel.table.item(r, 0).text(): panel.table.item(r, 5).text() for r in range(panel.table.rowCount())}
    assert "KEPCO" in idn["coil_supply"]
    assert all(panel.table.item(r, 4).text() == "connected" for r in range(panel.table.rowCount()))
    label = panel.readout_labels[("coil_supply", "field_T")]
    qtbot.waitUntil(lambda: label.text().endswith(" T"), timeout=10000)
    assert panel.readout_labels[("temperature_controller", "temperature_K")].text().endswith(" K")
    assert panel.readout_labels[("magnet_supply", "state")].text() != "--"


def test_form_sweep_points_arrive_pause_resume_complete(window, qtbot, tmp_path):
    from loopscope.daq.storage import read_status

    editor = window.editor
    editor.kind_box.setCurrentIndex(editor.kind_box.findData("linear"))
    form = editor.form
    _type(qtbot, form.editors["title"].widget, "form-filled sweep")
    _type(qtbot, form.editors["sweep.start"].widget, "0")
    _type(qtbot, form.editors["sweep.stop"].widget, "0.03")
    _type(qtbot, form.editors["sweep.points"].widget, "601")
    _type(qtbot, form.editors["settle.delay_s"].widget, "5")  # 5 ms a point at x1000: still going at Pause
    _type(qtbot, form.editors["ramp_rate_T_per_min"].widget, "6")
    src = form.editors["source"].widget
    src.setCurrentIndex(src.findData("coil_supply"))
    det = form.editors["detectors"].widget
    for i in range(det.count()):
        item = det.item(i)
        on = item.data(Qt.ItemDataRole.UserRole) in ("gaussmeter", "squid_controller")
        item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
    assert editor.valid, editor.errors
    assert window.start_button.isEnabled()
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    # points reach the plot
    qtbot.waitUntil(lambda: window.controller.points_received >= 5, timeout=30000)
    qtbot.waitUntil(lambda: window.live.frames > 0, timeout=5000)
    # pause: the runner stops between points
    qtbot.waitUntil(lambda: window.pause_button.isEnabled(), timeout=20000)
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.run_state.text() == "paused", timeout=20000)
    assert window.resume_button.isEnabled() and not window.pause_button.isEnabled()
    n_paused = window.controller.points_received
    qtbot.wait(300)
    assert window.controller.points_received == n_paused
    qtbot.mouseClick(window.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.controller.active, timeout=60000)
    assert window.run_state.text() == "completed"
    assert window.live.curve_points("flux_phi0") == 601
    assert window.progress.value() == 601
    path = window.controller.runner.result.path
    assert read_status(path)[0] == "completed"
    log = window.log_pane.toPlainText()
    assert "state: paused" in log and "completed" in log
    # the run process has let go of the instruments: the window connects again
    qtbot.waitUntil(lambda: window.start_button.isEnabled(), timeout=20000)


def test_abort_returns_field_to_zero_and_file_says_aborted(window, qtbot):
    from loopscope.daq.storage import read_status

    # paced (10 lab-ms a point, 10 ms at x1000): the run is still going when Abort is pressed
    window.editor.set_plan_dict(linear_plan(points=400, stop=0.06, end="hold", settle={"delay_s": 10.0}))
    assert window.start_run()
    qtbot.waitUntil(lambda: window.live.curve_points("flux_phi0") >= 20, timeout=30000)
    qtbot.mouseClick(window.abort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.controller.active, timeout=60000)
    result = window.controller.runner.result
    assert result.status == "aborted"
    assert "safe state" in window.log_pane.toPlainText()
    assert window.run_state.text() == "aborted"
    status, reason = read_status(result.path)
    assert status == "aborted" and "operator" in reason
    # the run process has let go of the instruments: the window connects again
    qtbot.waitUntil(lambda: window.station is not None, timeout=20000)
    coil = window.station.roles["coil_supply"]
    assert abs(coil.read_field_T()) < 1e-4
    # idle again: the poller shows the field back at zero
    label = window.station_panel.readout_labels[("coil_supply", "field_T")]
    qtbot.waitUntil(lambda: label.text() not in ("--",) and abs(float(label.text().split()[0])) < 1e-4,
                    timeout=10000)


def test_loop_branches_are_separate_curves(window, qtbot):
    plan = {"title": "loop", "kind": "loop", "source": "coil_supply", "detectors": ["squid_controller"],
            "amplitude": 0.01, "step": 0.002, "cycles": 1, "virgin": True, "ramp_rate_T_per_min": 6.0}
    window.editor.set_plan_dict(plan)
    assert window.start_run()
    qtbot.waitUntil(lambda: not window.controller.active, timeout=60000)
    qtbot.waitUntil(lambda: window.live.curve_points("flux_phi0") == 6 + 10 + 10, timeout=5000)
    keys = {key for (name, key) in window.live.curves if name == "flux_phi0"}
    assert keys == {0, 1, 2}
    pens = {window.live.curves[("flux_phi0", k)].opts["pen"].color().name() for k in keys}
    assert len(pens) == 3


def test_queue_runs_plans_in_order_one_file_each(window, qtbot, tmp_path):
    """A queue built in the window runs as a queue file, with the engine of `loopscope queue run`."""
    from loopscope.daq.plans import load_plan
    from loopscope.daq.queue import load_queue, read_queue_status
    from loopscope.daq.storage import read_status

    window.queue.folder.setText(str(tmp_path / "queue"))
    window.queue.add_plan(load_plan(linear_plan(points=6, title="first")), "test")
    window.editor.set_plan_dict(linear_plan(points=5, stop=-0.01, title="second"))
    window.add_editor_plan_to_queue()
    assert [e.plan.title for e in window.queue.entries] == ["first", "second"]
    qtbot.mouseClick(window.queue.run_button, Qt.MouseButton.LeftButton)
    assert window.controller.runner is not None
    assert type(window.controller.runner.job).__name__ == "QueueJob"
    qtbot.waitUntil(lambda: all(e.status == "completed" for e in window.queue.entries), timeout=60000)
    qtbot.waitUntil(lambda: not window.queue.running, timeout=5000)
    paths = [e.path for e in window.queue.entries]
    assert paths[0].endswith("01_first.h5") and paths[1].endswith("02_second.h5")
    assert all(read_status(p)[0] == "completed" for p in paths)
    # the queue file beside the runs, and its status file, as `loopscope queue status` reads them
    queue_file = window.queue.queue_file
    assert queue_file.parent == tmp_path / "queue" and queue_file.name.startswith("queue_")
    status = read_queue_status(load_queue(queue_file))
    assert status["state"] == "completed"
    assert [(r["state"], r["points"], r["attempts"]) for r in status["runs"]] == [("completed", 6, 1),
                                                                                  ("completed", 5, 1)]
    assert [e.points for e in window.queue.entries] == [6, 5]
    qtbot.waitUntil(lambda: window.start_button.isEnabled(), timeout=20000)


def test_close_during_run_asks_then_aborts_to_safe_state(window, qtbot, monkeypatch):
    asked = []
    window.editor.set_plan_dict(linear_plan(points=400, stop=0.06, settle={"delay_s": 10.0}))  # >= 4 s
    assert window.start_run()
    qtbot.waitUntil(lambda: window.controller.points_received >= 5, timeout=30000)
    monkeypatch.setattr(window, "confirm_close_during_run", lambda: asked.append(1) or False)
    window.close()
    assert asked and window.isVisible() and window.controller.active  # "No": nothing happens
    monkeypatch.setattr(window, "confirm_close_during_run", lambda: asked.append(2) or True)
    window.close()
    assert window.isVisible()  # stays open until the safe state is reached
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60000)
    result = window.controller.runner.result
    assert result.status == "aborted" and "window closed" in result.reason
    with window.session.opener() as station:  # the closed window did not connect again
        assert abs(station.roles["coil_supply"].read_field_T()) < 1e-4


def test_queue_file_runs_from_the_window_with_the_same_status_file(window, qtbot, tmp_path):
    """The window runs a queue file with the engine of `loopscope queue run`; the CLI sees its status."""
    import yaml
    from click.testing import CliRunner

    from loopscope.daq.demo import simulated_station
    from loopscope.daq.storage import read_status
    from loopscope.cli import main

    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump(simulated_station(window.session.lab, SPEED)))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(linear_plan(points=8)))
    queue = tmp_path / "night.yaml"
    queue.write_text(yaml.safe_dump({"queue": "from the window", "station": "station.yaml", "output_dir": "runs",
                                     "runs": [{"plan": "plan.yaml", "out": "a.h5"},
                                              {"plan": "plan.yaml", "out": "b.h5",
                                               "set": {"sweep.stop": -0.01}}]}))
    window.queue.load_queue_file(queue)
    assert [e.status for e in window.queue.entries] == ["pending", "pending"]
    assert window.queue.entries[1].path.endswith("b.h5")
    qtbot.mouseClick(window.queue.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.queue.running, timeout=60000)
    assert [e.status for e in window.queue.entries] == ["completed", "completed"]
    assert all(read_status(tmp_path / "runs" / n)[0] == "completed" for n in ("a.h5", "b.h5"))
    shown = CliRunner().invoke(main, ["queue", "status", str(queue)])
    assert "queue from the window: completed" in shown.output and "2 completed" in shown.output
    assert window.live.total_points > 0  # the runs were plotted live

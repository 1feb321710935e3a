"""A queue built in the window runs through the queue engine of `loopscope queue run`
(daq/queue.py, as a QueueJob in the run process): retries, the quench stop, stop after the
current run, abort, and the status file the command line reads."""
import pytest
from click.testing import CliRunner
from PyQt6.QtCore import Qt

from tests.gui.conftest import SPEED, linear_plan

pytestmark = pytest.mark.timeout(180)

MAGNET_TO_QUENCH = {"title": "magnet", "kind": "linear", "source": "magnet_supply", "detectors": ["gaussmeter"],
                    "sweep": {"start": 0.0, "stop": 0.3, "points": 4}, "settle": {"timeout_s": 7200}}


def make_window(qtbot, session, folder):
    from loopscope.gui.main_window import MainWindow

    w = MainWindow(session, out_dir=folder)
    w.out_dir.setText(str(folder))
    w.queue.folder.setText(str(folder))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.station is not None, timeout=20000)
    return w


def close_window(w):
    if w.controller.active:
        w.controller.runner.abort("test teardown")
        w.controller.wait_finished(60)
    w.poller.stop()


@pytest.fixture
def window(qtbot, sim_session, tmp_path):
    w = make_window(qtbot, sim_session, tmp_path)
    yield w
    close_window(w)


@pytest.fixture
def quench_window(qtbot, qapp, tmp_path):
    """A lab whose magnet quenches when its field passes 0.15 T (sim_devices/faults.py)."""
    from loopscope.daq.demo import simulated_station
    from loopscope.gui.session import StationSession
    from loopscope.sim_devices.lab_process import LabProcess

    lab = LabProcess({"sample": {"kind": "soft_core"},
                      "faults": [{"instrument": "magnet_supply", "kind": "quench", "field_T": 0.15}]},
                     seed=1, speed=SPEED).start()
    session = StationSession(simulated_station(lab, SPEED), lab=lab, description="lab with a quench")
    session.connect_blocking()
    w = make_window(qtbot, session, tmp_path)
    yield w
    close_window(w)
    session.close()


def queue_of(window, *plans):
    from loopscope.daq.plans import load_plan

    for plan in plans:
        window.queue.add_plan(load_plan(plan), "test")


def run_to_end(window, qtbot):
    qtbot.waitUntil(lambda: window.queue.run_button.isEnabled(), timeout=20000)  # connected again
    qtbot.mouseClick(window.queue.run_button, Qt.MouseButton.LeftButton)
    assert window.queue.running and window.controller.active
    assert type(window.controller.runner.job).__name__ == "QueueJob"
    qtbot.waitUntil(lambda: not window.queue.running, timeout=120000)
    qtbot.waitUntil(lambda: not window.controller.active, timeout=20000)


def status_of(window) -> dict:
    from loopscope.daq.queue import load_queue, read_queue_status

    return read_queue_status(load_queue(window.queue.queue_file))


def cli_status(window) -> str:
    from loopscope.cli import main

    return CliRunner().invoke(main, ["queue", "status", str(window.queue.queue_file)]).output


def start_is_ready(window, qtbot):
    """Idle again: connected, and Start enabled for a good plan."""
    qtbot.waitUntil(lambda: window.station is not None, timeout=20000)
    window.editor.set_plan_dict(linear_plan(points=3))
    qtbot.waitUntil(lambda: window.start_button.isEnabled(), timeout=20000)
    assert window.queue.run_button.isEnabled()


def test_a_quench_stops_the_queue_and_nothing_is_tried_again(quench_window, qtbot):
    """As `loopscope queue` does: the quenched run is failed and not retried (retries are set),
    the rest of the queue is skipped, the queue is stopped with the quench as its reason."""
    w = quench_window
    w.queue.retries.setValue(2)
    w.queue.on_failure.setCurrentIndex(w.queue.on_failure.findData("continue"))
    queue_of(w, MAGNET_TO_QUENCH, linear_plan(points=4, title="after the quench"))
    run_to_end(w, qtbot)
    status = status_of(w)
    assert status["state"] == "stopped" and "quench" in status["reason"]
    first, second = status["runs"]
    assert first["state"] == "failed" and "quench" in first["reason"] and first["attempts"] == 1
    assert second["state"] == "skipped" and second["attempts"] == 0
    assert [e.status for e in w.queue.entries] == ["failed", "skipped"]
    assert w.queue.entries[0].detail == first["reason"]
    assert "stopped" in cli_status(w)
    start_is_ready(w, qtbot)


def test_a_failed_run_is_tried_again_in_its_file_then_the_queue_stops(window, qtbot):
    """A run that fails (the temperature is never reached: the heater is off) is tried
    `retries` more times, then on_failure: stop skips the rest, as the engine does."""
    w = window
    w.queue.retries.setValue(1)
    w.queue.on_failure.setCurrentIndex(w.queue.on_failure.findData("stop"))
    never_warm = linear_plan(points=4, title="never warm",
                             temperature={"setpoint_K": 9.5, "heater_range": "off", "timeout_s": 5.0})
    queue_of(w, never_warm, linear_plan(points=4, title="second"))
    run_to_end(w, qtbot)
    status = status_of(w)
    first, second = status["runs"]
    assert first["state"] == "failed" and first["attempts"] == 2 and "not within" in first["reason"]
    assert second["state"] == "skipped" and "on_failure: stop" in second["reason"]
    assert status["state"] == "stopped" and "on_failure: stop" in status["reason"]
    assert [(e.status, e.attempts) for e in w.queue.entries] == [("failed", 2), ("skipped", 0)]
    assert "2 attempts" in cli_status(w)
    start_is_ready(w, qtbot)


def test_stop_after_the_current_run_then_run_again_resumes_the_queue(window, qtbot):
    from loopscope.daq.storage import read_status

    w = window
    paced = linear_plan(points=300, stop=0.03, title="paced", settle={"delay_s": 10.0})  # 10 ms a point
    queue_of(w, paced, linear_plan(points=4, title="second"))
    qtbot.mouseClick(w.queue.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.queue.entries[0].status == "running" and w.controller.points_received >= 5,
                    timeout=30000)
    assert w.queue.stop_button.isEnabled()
    qtbot.mouseClick(w.queue.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.queue.running and not w.controller.active, timeout=60000)
    status = status_of(w)
    assert status["state"] == "paused"
    assert [r["state"] for r in status["runs"]] == ["completed", "pending"]
    assert [e.status for e in w.queue.entries] == ["completed", "pending"]
    assert w.queue.entries[0].points == 300
    # Run queue again: the same queue file goes on (resume), the second run completes
    written = w.queue.queue_file
    run_to_end(w, qtbot)
    assert w.queue.queue_file == written
    status = status_of(w)
    assert status["state"] == "completed"
    assert [r["state"] for r in status["runs"]] == ["completed", "completed"]
    assert all(read_status(e.path)[0] == "completed" for e in w.queue.entries)
    start_is_ready(w, qtbot)


def test_abort_in_a_queue_is_not_tried_again(window, qtbot):
    w = window
    w.queue.retries.setValue(3)
    paced = linear_plan(points=400, stop=0.04, title="paced", settle={"delay_s": 10.0})
    queue_of(w, paced, linear_plan(points=4, title="second"))
    qtbot.mouseClick(w.queue.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.controller.points_received >= 5 and w.abort_button.isEnabled(), timeout=30000)
    qtbot.mouseClick(w.abort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.queue.running and not w.controller.active, timeout=60000)
    status = status_of(w)
    first, second = status["runs"]
    assert first["state"] == "aborted" and first["attempts"] == 1
    assert second["state"] == "pending"
    assert status["state"] == "paused"
    start_is_ready(w, qtbot)


def test_a_written_queue_never_overwrites_a_file(window, qtbot, tmp_path):
    """The queue file and its runs' files take names no file has yet."""
    w = window
    (tmp_path / "01_first.h5").write_text("an older run")
    queue_of(w, linear_plan(points=3, title="first"))
    run_to_end(w, qtbot)
    assert (tmp_path / "01_first.h5").read_text() == "an older run"
    assert w.queue.entries[0].path.endswith("01_first_1.h5") and w.queue.entries[0].status == "completed"
    first_queue = w.queue.queue_file
    # a second queue built now gets a queue file of its own
    queue_of(w, linear_plan(points=3, title="first"))
    assert w.queue.queue_file is None  # the queue changed: the next Run writes a new file
    run_to_end(w, qtbot)
    assert w.queue.queue_file != first_queue and first_queue.exists()
    assert [e.status for e in w.queue.entries] == ["completed", "completed"]
    assert len({e.path for e in w.queue.entries}) == 2

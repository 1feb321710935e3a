"""GUI tests: real widgets, offscreen, on the simulated lab in-process (free ports, sped up)."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import pytest  # noqa: E402

SPEED = 1000.0


@pytest.fixture(scope="module")
def sim_session(qapp):
    """The simulated lab with a soft-iron core, connected once per test module."""
    from loopscope.gui.session import StationSession

    session = StationSession.simulated(speed=SPEED, sample="soft_core")
    session.connect_blocking()
    yield session
    session.close()


@pytest.fixture
def window(qtbot, sim_session, tmp_path):
    from loopscope.gui.main_window import MainWindow

    w = MainWindow(sim_session, out_dir=tmp_path)
    w.out_dir.setText(str(tmp_path))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.station is not None, timeout=20000)
    yield w
    if w.controller.active:
        w.controller.runner.abort("test teardown")
        w.controller.wait_finished(60)
    w.poller.stop()


def linear_plan(points=41, stop=0.04, **extra):
    plan = {"title": "gui test sweep", "kind": "linear", "source": "coil_supply",
            "detectors": ["gaussmeter", "squid_controller", "temperature_controller"],
            "sweep": {"start": 0.0, "stop": stop, "points": points}, "ramp_rate_T_per_min": 6.0}
    plan.update(extra)
    return plan

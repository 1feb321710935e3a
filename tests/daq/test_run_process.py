"""A run in its own process (what the window uses): every event arrives in order, commands
steer it, signals and a vanished caller still end in a completed or safe run with the data kept."""
import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from loopscope.daq.plans import load_plan
from loopscope.daq.run_process import PlanJob, RunProcess
from loopscope.daq.storage import read_status
from loopscope.instruments.memory import MemoryStation
from loopscope.instruments.station import load_station
from tests.daq.conftest import SPEED

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]


def memory_plan(points=2000, delay_s=0.0):
    return load_plan({"title": "run process test", "kind": "linear", "detectors": ["flux_readout", "field_probe"],
                      "sweep": {"start": 0, "stop": 0.2, "points": points},
                      "settle": {"wait_for_holding": False, "delay_s": delay_s}})


def sim_plan(points=400):
    # paced at 10 wall-ms a point (settle delay in lab seconds, divided by the lab's speed-up):
    # the run is still going when the tests pause, abort or signal it, however fast the machine
    return load_plan({"title": "run process sim", "kind": "linear", "source": "coil_supply",
                      "detectors": ["gaussmeter"], "sweep": {"start": 0.0, "stop": 0.06, "points": points},
                      "ramp_rate_T_per_min": 6.0, "settle": {"delay_s": 0.01 * SPEED}})


def test_every_event_arrives_in_order_with_every_row(tmp_path):
    events = []
    proc = RunProcess(PlanJob(MemoryStation, memory_plan(), tmp_path / "m.h5"))
    proc.subscribe(events.append)
    proc.start()
    result = proc.wait(120)
    assert result is not None and result.status == "completed" and result.points == 2000
    assert proc.outcome == {"error": ""} and proc.exitcode == 0
    kinds = [e.kind for e in events]
    assert kinds[-1] == "job_done" and kinds[-2] == "finished"
    assert kinds.index("started") < kinds.index("points")
    rows = np.concatenate([e.data["rows"] for e in events if e.kind == "points"])
    with h5py.File(result.path, "r") as f:
        on_disk = f["entry/data/point_index"][:]
    np.testing.assert_array_equal(rows[:, 0], on_disk)  # point_index is the first column
    assert proc.points_done == 2000 and proc.state == "completed"
    assert proc.detector_kinds == {"flux_readout": "flux_readout", "field_probe": "field_probe"}


def test_pause_resume_and_abort_reach_the_run(tmp_path, sim_lab_factory):
    _lab, station_file = sim_lab_factory()
    states = []
    proc = RunProcess(PlanJob(functools.partial(load_station, station_file), sim_plan(), tmp_path / "a.h5"))
    proc.subscribe(lambda e: states.append(e.data["state"]) if e.kind == "state" else None)
    proc.start()
    deadline = time.monotonic() + 60
    while proc.points_done < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.pause()
    while "paused" not in states and time.monotonic() < deadline:
        time.sleep(0.01)
    frozen = proc.points_done
    time.sleep(0.3)
    assert proc.points_done == frozen and proc.state == "paused"
    proc.resume()
    time.sleep(0.2)
    proc.abort("test abort")
    result = proc.wait(60)
    assert result.status == "aborted" and "test abort" in result.reason
    assert states[-2:] == ["safe_state", "aborted"]
    assert read_status(result.path)[0] == "aborted"
    with load_station(station_file) as st:
        assert abs(st.roles["coil_supply"].read_field_T()) < 1e-4


def test_sigterm_to_the_run_process_ends_in_the_safe_state(tmp_path, sim_lab_factory):
    _lab, station_file = sim_lab_factory()
    proc = RunProcess(PlanJob(functools.partial(load_station, station_file), sim_plan(), tmp_path / "t.h5"))
    proc.start()
    deadline = time.monotonic() + 60
    while proc.points_done < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc._process.pid, signal.SIGTERM)
    result = proc.wait(60)
    assert result.status == "aborted" and "SIGTERM" in result.reason
    assert read_status(result.path)[0] == "aborted"
    with load_station(station_file) as st:
        assert abs(st.roles["coil_supply"].read_field_T()) < 1e-4


def test_a_station_that_cannot_open_is_reported_and_nothing_runs(tmp_path):
    proc = RunProcess(PlanJob(functools.partial(load_station, tmp_path / "missing.yaml"), memory_plan(),
                              tmp_path / "never.h5"))
    events = []
    proc.subscribe(events.append)
    proc.start()
    assert proc.wait(60) is None
    assert "missing.yaml" in proc.outcome["error"]
    assert [e.kind for e in events] == ["job_done"]
    assert not (tmp_path / "never.h5").exists()


def test_the_run_goes_on_to_its_end_when_the_caller_dies(tmp_path):
    """A window that crashes (here: a caller killed with SIGKILL) does not cut the run short."""
    out = tmp_path / "orphan.h5"
    caller = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from loopscope.daq.run_process import PlanJob, RunProcess
        from loopscope.daq.plans import load_plan
        from loopscope.instruments.memory import MemoryStation
        plan = load_plan({{"title": "orphan", "kind": "linear", "detectors": ["field_probe"],
                           "sweep": {{"start": 0, "stop": 0.1, "points": 300}},
                           "settle": {{"wait_for_holding": False, "delay_s": 0.01}}}})
        proc = RunProcess(PlanJob(MemoryStation, plan, {str(out)!r})).start()
        while proc.points_done < 5:
            time.sleep(0.01)
        print("running", flush=True)
        time.sleep(600)
    """)
    p = subprocess.Popen([sys.executable, "-c", caller], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "running"
    finally:
        p.kill()
        p.wait(10)
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline:
        if out.exists():
            try:
                status = read_status(out)[0]
            except OSError:
                status = None  # being written
            if status == "completed":
                break
        time.sleep(0.2)
    assert status == "completed"
    with h5py.File(out, "r") as f:
        assert f["entry/data/point_index"].shape[0] == 300


def test_a_plan_in_python_goes_to_the_run_process_as_its_target_and_arguments(tmp_path):
    """An adaptive plan holds its generator function, from a module loaded from a file, which a
    spawned process cannot import by name: the job carries "file.py:function" and the arguments
    instead, and the plan is loaded again on the other side, with the arguments given."""
    import pickle

    from loopscope.daq.plans_as_code import load_code_plan

    target = f"{ROOT / 'examples' / 'plans_in_python' / 'measurements_at_each_point.py'}:resonance_by_bisection"
    plan = load_code_plan(target, {"tolerance_Hz": 0.1})
    job = PlanJob(station=None, plan=plan, out_path=tmp_path / "run.h5")
    sent = pickle.dumps(job)
    assert b"loopscope_user_plan_" not in sent  # no reference to the file's module travels
    received = pickle.loads(sent)
    assert job.plan is plan  # the caller's job keeps its plan
    again = received.runnable_plan()
    assert again.adaptive and again.model.function == target
    assert again.model.arguments == {"low_Hz": 1995.0, "high_Hz": 2005.0, "tolerance_Hz": 0.1}
    # a YAML plan travels as it is
    assert pickle.loads(pickle.dumps(PlanJob(None, memory_plan(3), tmp_path / "y.h5"))).runnable_plan().total_points() == 3

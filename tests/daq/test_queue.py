"""Overnight queues on the simulated lab: status file, policies, faults, notifications, kill-and-resume."""
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from loopscope.daq.queue import QueueError, load_queue, run_queue
from loopscope.cli import main


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sweep_plan(points=21, **kw):
    plan = {"title": "queued sweep", "kind": "linear", "source": "coil_supply",
            "detectors": ["gaussmeter", "temperature_controller"],
            "sweep": {"start": 0.0, "stop": 0.02, "points": points}}
    plan.update(kw)
    return plan


def make_queue(tmp_path, station, runs, plan=None, **top):
    write(tmp_path / "plan.yaml", plan or sweep_plan())
    data = {"queue": "test night", "station": str(station), "output_dir": "runs", "runs": runs}
    data.update(top)
    return write(tmp_path / "night.yaml", data)


def inject_when(lab, condition, **fault):
    """Inject a fault from a thread once condition(lab) holds (e.g. the sweep has begun)."""
    def wait_and_inject():
        deadline = time.monotonic() + 60
        while not condition(lab) and time.monotonic() < deadline:
            time.sleep(0.002)
        lab.inject_fault(**fault)
    t = threading.Thread(target=wait_and_inject, daemon=True)
    t.start()
    return t


def sweeping(lab):
    return lab.world.coil.current_A > 0.3  # the coil sweep is under way


def point_indices(path):
    with h5py.File(path, "r") as f:
        return f["entry/data/point_index"][:], f["entry/status"][()].strip().decode()


def test_queue_runs_in_order_with_a_status_file(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    q = make_queue(tmp_path, station, [
        {"plan": "plan.yaml", "out": "base.h5"},
        {"plan": "plan.yaml", "out": "warm.h5", "vary": {"key": "temperature.setpoint_K", "values": [0.05, 0.08]},
         "set": {"temperature": {"tolerance_K": 0.003, "heater_range": "low"}}},
    ])
    result = run_queue(q)
    assert result.state == "completed"
    status = yaml.safe_load((tmp_path / "night.status.yaml").read_text())
    assert [r["state"] for r in status["runs"]] == ["completed"] * 3
    assert [Path(r["out"]).name for r in status["runs"]] == ["base.h5", "warm_setpoint_K=0.05.h5",
                                                             "warm_setpoint_K=0.08.h5"]
    with h5py.File(tmp_path / "runs" / "warm_setpoint_K=0.08.h5", "r") as f:
        assert f["entry/data/temperature_K"][:] == pytest.approx(0.08, abs=0.004)
    shown = CliRunner().invoke(main, ["queue", "status", str(q)])
    assert shown.exit_code == 0 and "3 completed" in shown.output
    assert (tmp_path / "night.log").read_text().count("finished completed") == 3
    with pytest.raises(QueueError, match="queue resume"):
        run_queue(q)  # a second `run` would overwrite: refused


def test_bad_queue_refused_before_anything_runs(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    q = make_queue(tmp_path, station, [{"plan": "plan.yaml"}, {"plan": "plan.yaml", "set": {"sweep.stop": 0.5}}])
    with pytest.raises(QueueError, match=r"runs\[1\].*0.5 T.*±0.099 T"):
        load_queue(q)
    q = make_queue(tmp_path, station, [{"plan": "plan.yaml", "colour": "red"}])
    with pytest.raises(QueueError, match="colour: unknown key"):
        run_queue(q)
    assert not (tmp_path / "runs").exists() and lab.world.coil.output_on is False


def test_on_failure_continue_stop_and_retries(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    plan = sweep_plan(points=200, retries=1, settle={"delay_s": 0.5})
    runs = [{"plan": "plan.yaml", "out": "first.h5"}, {"plan": "plan.yaml", "out": "second.h5"}]
    q = make_queue(tmp_path, station, runs, plan=plan, on_failure="stop")
    # the gaussmeter falls silent during the first run (its next 10 replies never come)
    inject_when(lab, sweeping, instrument="gaussmeter", kind="timeout", count=10)
    result = run_queue(q)
    assert result.state == "stopped"
    status = result.status["runs"]
    assert status[0]["state"] == "failed" and "gaussmeter" in status[0]["reason"]
    assert status[1]["state"] == "skipped"
    # the same with retries: the failed run goes on in its own file and completes
    lab.clear_faults()
    (tmp_path / "night.status.yaml").unlink()
    for f in (tmp_path / "runs").iterdir():
        f.unlink()
    lab.world.coil.current_setpoint_A = 0.0
    while lab.world.coil.current_A > 0.01:
        time.sleep(0.01)
    q = make_queue(tmp_path, station, runs, plan=plan, on_failure="continue", retries=1)
    # three lost replies: a reading, the reconnect's *IDN?, the reading again: the run gives up
    inject_when(lab, sweeping, instrument="gaussmeter", kind="timeout", count=3)
    result = run_queue(q)
    assert result.state == "completed", result.status
    assert result.status["runs"][0]["attempts"] == 2
    idx, file_status = point_indices(tmp_path / "runs" / "first.h5")
    assert file_status == "completed" and list(idx) == list(range(200))


def test_instrument_silent_for_a_while_is_waited_for(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    plan = sweep_plan(points=100, give_up_after_s=3600, retries=1, settle={"delay_s": 0.5})
    q = make_queue(tmp_path, station, [{"plan": "plan.yaml", "out": "wait.h5"}], plan=plan)
    # silence in the middle of the sweep: more lost replies than `retries` allows, but the
    # plan waits up to an hour for the instrument to come back (reconnecting with back-off)
    inject_when(lab, sweeping, instrument="gaussmeter", kind="timeout", count=4)
    result = run_queue(q)
    assert result.state == "completed", result.status
    idx, _ = point_indices(tmp_path / "runs" / "wait.h5")
    assert list(idx) == list(range(100))
    with h5py.File(tmp_path / "runs" / "wait.h5", "r") as f:
        log = b"\n".join(f["entry/log/message"][:])
    assert b"answering again" in log and b"retrying" in log


def test_quench_stops_the_queue_and_notifies(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    told = tmp_path / "told.txt"
    plan = {"title": "magnet", "kind": "linear", "source": "magnet_supply", "detectors": ["gaussmeter"],
            "sweep": {"start": 0.0, "stop": 0.3, "points": 4}, "settle": {"timeout_s": 7200}}
    q = make_queue(tmp_path, station, [{"plan": "plan.yaml", "out": "a.h5"}, {"plan": "plan.yaml", "out": "b.h5"}],
                   plan=plan, notify={"command": [sys.executable, "-c",
                                                  f"import sys; open({str(told)!r}, 'a').write(sys.stdin.read())"]})
    lab.inject_fault("magnet_supply", "quench", field_T=0.15)
    result = run_queue(q)
    assert result.state == "stopped" and "quench" in result.status["reason"]
    assert result.status["runs"][1]["state"] == "skipped"
    assert lab.world.magnet.state == 7  # left quenched: nothing re-energised it
    text = told.read_text()
    assert "QUENCH" in text and "skipped" in text


def test_webhook_gets_the_summary(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        q = make_queue(tmp_path, station, [{"plan": "plan.yaml"}],
                       notify={"webhook": f"http://127.0.0.1:{server.server_port}/hook"})
        run_queue(q)
    finally:
        server.shutdown()
    assert received and received[-1]["status"]["state"] == "completed"
    assert "test night" in received[-1]["subject"]


def wait_for_log(path: Path, text: str, timeout: float = 60, count: int = 1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count(text) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_suspenders_hold_the_point_and_measure_it_again(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    plan = sweep_plan(points=400, settle={"delay_s": 2.0},
                      suspenders=[{"kind": "temperature_band", "min_K": 0.0, "max_K": 1.0},
                                  {"kind": "field_agreement", "probe": "gaussmeter", "tolerance_T": 0.002}])
    q = make_queue(tmp_path, station, [{"plan": "plan.yaml", "out": "s.h5"}], plan=plan)
    queue_log = tmp_path / "night.log"

    def disturb():
        deadline = time.monotonic() + 60
        while not sweeping(lab) and time.monotonic() < deadline:
            time.sleep(0.002)
        lab.world.cryostat.temperature_K = 3.0  # a helium transfer warms the sample; it relaxes back
        wait_for_log(queue_log, "suspended: temperature")
        # the run goes on (its second "running") once the sample is back in the band
        wait_for_log(queue_log, "s: running", count=2)
        lab.instruments["gaussmeter"].offset_G = 50.0  # 5 mT: the probe disagrees with the supply
        wait_for_log(queue_log, "suspended: gaussmeter reads")
        time.sleep(0.05)
        lab.instruments["gaussmeter"].offset_G = 0.0

    t = threading.Thread(target=disturb, daemon=True)
    t.start()
    result = run_queue(q)
    t.join(10)
    assert result.state == "completed"
    with h5py.File(tmp_path / "runs" / "s.h5", "r") as f:
        idx = f["entry/data/point_index"][:]
        temps = f["entry/data/temperature_K"][:]
        disagreement = np.abs(f["entry/data/probe_field_T"][:] - f["entry/data/field_T"][:])
        log = [m.decode() for m in f["entry/log/message"][:]]
    assert list(idx) == list(range(400))  # nothing lost, nothing twice
    assert temps.max() <= 1.0 and disagreement.max() <= 0.002  # no point recorded while suspended
    assert any("suspended: temperature" in m for m in log)
    assert any("suspended: gaussmeter reads" in m for m in log)
    assert sum("suspension cleared" in m for m in log) == 2


KILL_PLAN = sweep_plan(points=3000, detectors=["gaussmeter"])


def recorded_points(folder: Path) -> int:
    """Points on disk in every run file of the folder (read as another process would, SWMR,
    without HDF5's file lock: a reader must never stop a resuming writer)."""
    from loopscope.daq.recovery import open_run_file
    total = 0
    for path in folder.glob("*.h5") if folder.exists() else []:
        try:
            with open_run_file(path) as f:
                total += f["entry/data/point_index"].shape[0]
        except (OSError, KeyError):
            pass  # being created right now
    return total


def test_kill_at_random_moments_then_resume_loses_and_repeats_nothing(sim_lab_factory, tmp_path):
    """SIGKILL at random moments, resume each time. The moments are random in progress (points
    on disk, across run boundaries), never in time; LOOPSCOPE_KILL_SEED picks other moments
    (a shell loop over seeds hunts for flakes)."""
    lab, station = sim_lab_factory()
    runs = [{"plan": "plan.yaml", "out": f"{name}.h5"} for name in ("a", "b", "c")]
    q = make_queue(tmp_path, station, runs, plan=KILL_PLAN)
    rng = random.Random(int(os.environ.get("LOOPSCOPE_KILL_SEED", "20261122")))
    command = "run"
    kills = 0
    for attempt in range(20):
        proc = subprocess.Popen([sys.executable, "-m", "loopscope", "queue", command, str(q), "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        command = "resume"
        if kills < 4:
            # kill once this process has recorded a random number of points of its own (the
            # reader polling meanwhile is part of the test: it must not get in the resume's way)
            target = recorded_points(tmp_path / "runs") + rng.randint(50, 1800)
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                if recorded_points(tmp_path / "runs") >= target:
                    break
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                kills += 1
                shown = CliRunner().invoke(main, ["queue", "status", str(q)])
                assert "interrupted" in shown.output
                continue
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        break
    assert kills == 4
    resumed = 0
    for name in ("a.h5", "b.h5", "c.h5"):
        idx, status = point_indices(tmp_path / "runs" / name)
        assert status == "completed"
        assert list(idx) == list(range(3000)), f"{name}: points lost or repeated"
        with h5py.File(tmp_path / "runs" / name, "r") as f:
            resumed += sum(b"resumed at point" in m for m in f["entry/log/message"][:])
    assert resumed >= 2
    assert abs(lab.world.field_T) < 1e-4  # the field ended safe

"""Plans written in Python: a generator of steps run by the engine that owns the safety.

Checked from the simulated lab itself: what the coil was set to, what was (not) sent."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from loopscope.daq.plans import PlanError, load_plan
from loopscope.daq.queue import QueueError, load_queue

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plans_in_python" / "field_steps.py"

PLAN_FILE = '''
from loopscope.daq.plans_as_code import plan, step

@plan(title="ramp in steps", source="coil_supply", detectors=["gaussmeter"], labels=["lap"],
      settle={"delay_s": 0.05})
def laps(top_T=0.02, points=300, laps=2):
    for lap in range(laps):
        for i in range(points):
            yield step(field=top_T * i / (points - 1), labels={"lap": lap})

@plan(title="too far", source="coil_supply", detectors=["gaussmeter"])
def too_far():
    yield step(field=0.01)
    yield step(field=5.0)

@plan(title="bad label", source="coil_supply", detectors=["gaussmeter"], labels=["lap"])
def bad_label():
    yield step(field=0.0, labels={"lapp": 1})

@plan(title="not a number", source="coil_supply", detectors=["gaussmeter"])
def nan_step():
    yield step(field=float("nan"))

@plan(title="hot", source="coil_supply", detectors=["gaussmeter", "temperature_controller"])
def too_hot():
    yield step(field=0.0, temperature_K=500.0)

@plan(title="breaks", source="coil_supply", detectors=["gaussmeter"])
def breaks():
    yield step(field=0.0)
    raise RuntimeError("a bug in the plan")

def not_decorated():
    yield step(field=0.0)
'''


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "loopscope", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_the_example_runs_from_the_command_line(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    out = tmp_path / "steps.h5"
    done = cli("run", f"{EXAMPLE}:steps_up_and_back", "--station", str(station), "--out", str(out),
               "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    fields = [0.02 * k / 5 for k in range(6)]
    expected = np.repeat(fields + fields[-2::-1], 2)
    with h5py.File(out, "r") as f:
        assert f["entry/status"][()].strip(b"\x00 ") == b"completed"
        assert np.allclose(f["entry/data/field_setpoint_T"][:], expected)
        assert list(f["entry/data/repeat"][:]) == [1, 2] * 11
        # the Hall probe read back what each step set (independent of the plan's own record)
        assert np.allclose(f["entry/data/probe_field_T"][:], expected, atol=1e-3)
        plan_text = f["entry/plan"][()].decode()
    assert "steps_up_and_back" in plan_text and "def steps_up_and_back" in plan_text
    assert abs(lab.world.coil.current_setpoint_A) < 1e-9           # ended at zero


@pytest.mark.parametrize("function,message", [
    ("too_far", "step 1: field: the plan visits 5 T, beyond the field limit"),
    ("bad_label", "step 0: labels: 'lapp' is not declared"),
    ("nan_step", "step 0: field: nan is not a finite number"),
    ("too_hot", "step 0: temperature_K: temperature 500 K is above the limit"),
    ("breaks", "the plan function failed while its steps were listed (before anything moved): "
               "RuntimeError: a bug in the plan"),
    ("not_decorated", "not a plan: decorate the generator function with @plan"),
    ("missing", "has no function 'missing'"),
])
def test_a_bad_plan_in_python_fails_before_anything_is_sent(sim_lab_factory, tmp_path, function,
                                                            message):
    lab, station = sim_lab_factory()
    plans = write(tmp_path / "plans.py", PLAN_FILE)
    lab.clear_command_log()
    done = cli("run", f"{plans}:{function}", "--station", str(station), "--out",
               str(tmp_path / "x.h5"), "--quiet")
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-2000:]
    assert len([line for line in done.stderr.strip().splitlines() if line]) == 1, done.stderr
    assert not any(lab.command_log().values())          # not even *IDN?
    assert not (tmp_path / "x.h5").exists()


def test_steps_are_listed_once_and_given_again_the_same(tmp_path):
    plans = write(tmp_path / "plans.py", PLAN_FILE)
    plan = load_plan(f"{plans}:laps")
    assert plan.total_points() == 600 and plan.label_columns() == ["lap"]
    resumed = list(plan.points(450))
    assert [p.index for p in resumed] == list(range(450, 600))
    assert resumed[0].labels == {"lap": 1} and resumed[0].field == pytest.approx(0.02 * 150 / 299)
    with pytest.raises(PlanError, match="arguments"):
        import loopscope
        loopscope.code_plan(plan_function(plans, "laps"), laps_=3)
    three = __import__("loopscope").code_plan(plan_function(plans, "laps"), laps=3, points=10)
    assert three.total_points() == 30


def plan_function(path, name):
    from loopscope.daq.plans_as_code import _import_target
    return _import_target(f"{path}:{name}")[0]


def test_a_queue_of_python_plans_killed_at_random_moments_loses_and_repeats_nothing(
        sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    write(tmp_path / "plans.py", PLAN_FILE)
    q = tmp_path / "night.yaml"
    q.write_text(yaml.safe_dump({"queue": "python plans", "station": str(station),
                                 "output_dir": "runs",
                                 "runs": [{"plan": "plans.py:laps", "out": "laps.h5",
                                           "arguments": {"points": 400}}]}))
    assert load_queue(q).runs[0].plan.total_points() == 800
    rng = random.Random(11)
    command, kills = "run", 0
    out = tmp_path / "runs" / "laps.h5"
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, "-m", "loopscope", "queue", command, str(q),
                                 "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        command = "resume"
        if kills < 2:
            target = rows(out) + rng.randint(40, 300)
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline and rows(out) < target:
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                kills += 1
                continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        break
    assert kills == 2
    with h5py.File(out, "r") as f:
        assert f["entry/status"][()].strip(b"\x00 ") == b"completed"
        assert list(f["entry/data/point_index"][:]) == list(range(800))
        assert list(f["entry/data/lap"][:]) == [0] * 400 + [1] * 400
        expected = np.tile(0.02 * np.arange(400) / 399, 2)
        assert np.allclose(f["entry/data/field_setpoint_T"][:], expected)
    assert abs(lab.world.coil.current_setpoint_A) < 1e-9


def rows(path: Path) -> int:
    from loopscope.daq.recovery import open_run_file
    try:
        with open_run_file(path) as f:
            return f["entry/data/point_index"].shape[0]
    except (OSError, KeyError):
        return 0


def test_a_queue_entry_with_set_or_vary_is_refused_for_a_python_plan(sim_lab_factory, tmp_path):
    _, station = sim_lab_factory()
    write(tmp_path / "plans.py", PLAN_FILE)
    q = tmp_path / "q.yaml"
    q.write_text(yaml.safe_dump({"queue": "q", "station": str(station), "runs": [
        {"plan": "plans.py:laps", "set": {"title": "x"}}]}))
    with pytest.raises(QueueError, match="set: a plan written in Python takes 'arguments'"):
        load_queue(q)

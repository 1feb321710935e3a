"""Adaptive plans: steps steered by the readings, each checked against the station as it comes,
resumed after a crash by replaying the readings on disk."""
from pathlib import Path

import h5py
import numpy as np
import pytest

from loopscope.daq.plans import PlanError
from loopscope.daq.plans_as_code import load_code_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.memory import MemoryStation

PLANS = Path(__file__).parent / "plans_for_tests" / "measuring_plans.py"


def abort_at_reading(station, runner, n):
    """Abort the run from inside the probe's n-th reading: deterministic, whatever the speed."""
    probe = station.roles["field_probe"]
    read, count = probe.read_field_T, [0]

    def reading():
        count[0] += 1
        if count[0] == n:
            runner.abort("stopped halfway")
        return read()
    probe.read_field_T = reading


def code_plan(name, **arguments):
    return load_code_plan(f"{PLANS}:{name}", arguments)


def test_bisection_steered_by_the_lock_in_finds_the_resonance(tmp_path):
    station = MemoryStation()
    f0 = station.roles["lockin"].f0
    result = Runner(station, code_plan("bisect_for_resonance"), tmp_path / "b.h5").run()
    assert result.status == "completed", result.reason
    with h5py.File(result.path, "r") as f:
        freqs = f["entry/data/frequency_Hz"][:]
        x = f["entry/data/lockin_x_V"][:]
    # 200 Hz bracket halved to 0.01 Hz: 1 + ceil(log2(200 / 0.01)) points
    assert len(freqs) == 1 + int(np.ceil(np.log2(200 / 0.01)))
    assert abs(freqs[-1] - f0) < 0.01
    # the steps followed the readings: each step moved toward the sign change
    assert np.all(np.sign(x[freqs < f0 - 0.01]) > 0) and np.all(np.sign(x[freqs > f0 + 0.01]) < 0)


def test_a_step_beyond_the_limits_ends_the_run_as_a_plan_error_in_the_safe_state(tmp_path):
    station = MemoryStation()   # field source limit 1 T: 0.01, 0.02, ... 0.64, then 1.28 T
    result = Runner(station, code_plan("double_the_field"), tmp_path / "d.h5").run()
    assert result.status == "failed" and result.ended_by == "plan"
    assert "step 7" in result.reason and "1.28" in result.reason
    assert result.points == 7
    source = station.roles["field_source"]
    assert source.field_T == 0.0
    assert all(abs(f) <= 1.0 for _, f, *rest in [h for h in source.history if h[0] == "ramp"])
    with h5py.File(result.path, "r") as f:
        assert list(f["entry/data/field_setpoint_T"][:]) == pytest.approx([0.01 * 2 ** k for k in range(7)])


def test_the_first_step_is_checked_before_anything_moves(tmp_path):
    station = MemoryStation()
    with pytest.raises(PlanError, match="step 0: field: the plan visits 5 T, beyond the field limit"):
        Runner(station, code_plan("double_the_field", first_T=5.0), tmp_path / "x.h5")
    assert station.roles["field_source"].history == []
    assert not (tmp_path / "x.h5").exists()


def test_max_points_is_required_and_bounds_the_run(tmp_path):
    with pytest.raises(PlanError, match="max_points: an adaptive plan needs max_points"):
        code_plan("no_bound")
    result = Runner(MemoryStation(), code_plan("steps_until", threshold_T=10.0), tmp_path / "m.h5").run()
    assert result.status == "completed" and result.points == 500


def test_a_later_step_cannot_add_a_trace(tmp_path):
    result = Runner(MemoryStation(), code_plan("new_trace_later"), tmp_path / "n.h5").run()
    assert result.status == "failed" and "step 1" in result.reason and "first step" in result.reason
    assert result.points == 1


def test_resume_replays_the_readings_on_disk_and_repeats_nothing(tmp_path):
    path = tmp_path / "r.h5"
    full = Runner(MemoryStation(), code_plan("steps_until"), tmp_path / "full.h5").run()
    assert full.status == "completed"
    station = MemoryStation()
    first = Runner(station, code_plan("steps_until"), path)
    abort_at_reading(station, first, 40)
    stopped = first.run()
    assert stopped.status == "aborted" and 40 <= stopped.points < full.points
    again = Runner(MemoryStation(), code_plan("steps_until"), path, resume=True).run()
    assert again.status == "completed", again.reason
    with h5py.File(path, "r") as f, h5py.File(full.path, "r") as g:
        assert list(f["entry/data/point_index"][:]) == list(range(full.points))
        assert f["entry/data/field_setpoint_T"][:] == pytest.approx(g["entry/data/field_setpoint_T"][:])


def test_resume_refuses_a_plan_that_replays_other_steps(tmp_path):
    path = tmp_path / "r.h5"
    station = MemoryStation()
    r = Runner(station, code_plan("steps_until", step_T=0.001), path)
    abort_at_reading(station, r, 10)
    assert r.run().status == "aborted"
    again = Runner(MemoryStation(), code_plan("steps_until", step_T=0.002), path, resume=True).run()
    assert again.status == "failed" and "cannot be resumed" in again.reason

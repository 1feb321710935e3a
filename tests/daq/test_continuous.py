"""The continuous plan kind on the simulated lab: one ramp, read as it goes; abort, pause, resume,
limits refused before anything is sent."""
import time

import h5py
import numpy as np
import pytest

from loopscope.daq.cli import prepare_run
from loopscope.daq.plans import PlanError, load_plan
from loopscope.daq.runner import Runner
from loopscope.daq.storage import read_status
from loopscope.instruments.station import load_station

#: the simulated lab's speed here: slow enough that the Kepco's software ramp (a setpoint every
#: 20 ms of wall time) stays within its settle tolerance of the ideal ramp between readings
SPEED = 100.0
COIL_T_PER_A = 0.00827242  # examples/station_sim.yaml, coil_supply
SETTLE_TOLERANCE_A = 0.002  # the same file: the Kepco's settle tolerance


def ramp(**kw):
    # 0.1209 A to 0.2176 A at 1.6e-4 A/s (lab): about 600 lab s, read every 20 lab s (~32 rows)
    base = {"title": "continuous test", "kind": "continuous", "source": "coil_supply",
            "detectors": ["gaussmeter"], "start": 0.001, "stop": 0.0018,
            "rate_T_per_min": 8e-5, "interval_s": 20.0}
    base.update(kw)
    return load_plan(base)


def wait_points(runner, n, timeout=60):
    deadline = time.monotonic() + timeout
    while runner.points_done < n:
        assert time.monotonic() < deadline, f"only {runner.points_done} points after {timeout} s"
        assert runner.result is None, runner.result
        time.sleep(0.005)


def columns(path, *names):
    with h5py.File(path, "r") as f:
        return [f[f"entry/data/{n}"][:] for n in names]


@pytest.fixture
def lab_station(sim_lab_factory):
    lab, station_file = sim_lab_factory(speed=SPEED)
    # the gaussmeter on its 350 G range (front panel), so its noise is far below the ramp
    lab.instruments["gaussmeter"].range = 2
    return lab, station_file


def test_the_recorded_field_tracks_the_ramp(lab_station, tmp_path):
    lab, station_file = lab_station
    plan = ramp()
    with load_station(station_file) as station:
        result = Runner(station, plan, tmp_path / "c.h5").run()
    assert result.status == "completed", result.reason
    setpoint, field, current, probe, elapsed, index = columns(
        result.path, "field_setpoint_T", "field_T", "current_A", "probe_field_T", "elapsed_s", "point_index")
    n = len(field)
    assert list(index) == list(range(n)) and n == result.points
    # about the expected count (the ramp takes as long as asked, the last row waits for holding)
    assert abs(n - plan.total_points()) <= 3, (n, plan.total_points())
    # the first reading as the ramp starts (its setpoint a moment along it), the last at stop
    assert setpoint[0] == pytest.approx(0.001, abs=1e-6) and setpoint[-1] == 0.0018
    assert np.all(np.diff(setpoint) >= 0)
    # the field rises reading by reading while it ramps (the last row, once holding, may read
    # a noise's width below the one before it at stop)
    assert np.all(np.diff(field[:-1]) > 0), field
    # each reading within the Kepco's settle tolerance of where the ramp should be by then
    assert np.max(np.abs(field - setpoint)) <= SETTLE_TOLERANCE_A * COIL_T_PER_A, np.abs(field - setpoint).max()
    assert field == pytest.approx(current * COIL_T_PER_A, rel=1e-9)
    # the Hall probe agrees (its 0.2 G offset, noise 0.035 G on the 350 G range)
    assert np.max(np.abs(probe - field)) < 5e-5
    assert field[-1] == pytest.approx(0.0018, abs=SETTLE_TOLERANCE_A * COIL_T_PER_A)
    # readings every interval_s of experiment time (never early: each waits for its turn)
    steps = np.diff(elapsed)
    assert np.all(steps >= 0.5 * 20.0) and np.median(steps) == pytest.approx(20.0, rel=0.05), steps
    assert abs(lab.world.field_T) < 1e-4  # end: zero


def test_abort_mid_ramp_ends_at_zero_with_the_file_aborted(lab_station, tmp_path):
    lab, station_file = lab_station
    with load_station(station_file) as station:
        runner = Runner(station, ramp(), tmp_path / "abort.h5")
        runner.start()
        wait_points(runner, 8)
        assert lab.world.coil.current_A > 0.12  # mid-ramp, beyond start
        runner.abort("operator abort in test")
        result = runner.wait(60)
    assert result.status == "aborted" and "ramped" in result.reason
    assert abs(lab.world.coil.current_A) < 1e-3  # the coil is back at 0 A
    assert read_status(result.path) == ("aborted", result.reason)
    (field,) = columns(result.path, "field_T")
    assert 8 <= len(field) < ramp().total_points() and np.all(np.diff(field) > 0)


def test_pause_holds_the_ramp_and_resume_ramps_on_from_there(lab_station, tmp_path):
    lab, station_file = lab_station
    with load_station(station_file) as station:
        runner = Runner(station, ramp(), tmp_path / "pause.h5")
        runner.start()
        wait_points(runner, 6)
        runner.pause()
        deadline = time.monotonic() + 30
        while runner.state != "paused":
            assert time.monotonic() < deadline and runner.result is None
            time.sleep(0.005)
        n, held = runner.points_done, lab.world.coil.current_A
        time.sleep(0.5)  # 50 lab s paused: the ramp would have moved 8 mA
        assert runner.points_done == n and lab.world.coil.current_A == pytest.approx(held, abs=5e-4)
        runner.resume()
        result = runner.wait(60)
    assert result.status == "completed", result.reason
    field, setpoint = columns(result.path, "field_T", "field_setpoint_T")
    assert np.all(np.diff(field[:-1]) > 0) and field[-1] == pytest.approx(0.0018, abs=2e-5)
    assert np.max(np.abs(field - setpoint)) <= SETTLE_TOLERANCE_A * COIL_T_PER_A


def test_resumed_in_its_file_it_ramps_on_from_the_last_field_on_disk(lab_station, tmp_path):
    lab, station_file = lab_station
    out = tmp_path / "resume.h5"
    with load_station(station_file) as station:
        runner = Runner(station, ramp(), out)
        runner.start()
        wait_points(runner, 10)
        runner.abort("stand-in for a crash")
        first = runner.wait(60)
        assert first.status == "aborted" and abs(lab.world.coil.current_A) < 1e-3
        result = Runner(station, ramp(), out, resume=True).run()
    assert result.status == "completed", result.reason
    field, index, elapsed = columns(out, "field_T", "point_index", "elapsed_s")
    assert list(index) == list(range(len(index))) and len(index) > first.points
    # no second pass over the fields already measured: the ramp went on from where it was
    k = first.points
    assert np.all(np.diff(field[:k]) > 0) and np.all(np.diff(field[k:-1]) > 0), field
    assert field[k] == pytest.approx(field[k - 1], abs=SETTLE_TOLERANCE_A * COIL_T_PER_A)
    assert field[-1] == pytest.approx(0.0018, abs=SETTLE_TOLERANCE_A * COIL_T_PER_A)
    assert np.all(np.diff(elapsed) > 0)
    with h5py.File(out, "r") as f:
        messages = [m.decode() for m in f["entry/log/message"][:]]
    assert any(f"resumed at point {k}" in m for m in messages), messages
    assert any("continuous ramp resumed from" in m for m in messages), messages


def test_a_rate_above_the_station_limit_is_refused_before_anything_is_sent(lab_station, tmp_path):
    lab, station_file = lab_station
    lab.clear_command_log()
    plan_file = tmp_path / "fast.yaml"
    plan_file.write_text("title: too fast\nkind: continuous\nsource: coil_supply\nstart: 0.0\nstop: 0.05\n"
                         "rate_T_per_min: 7.5\ninterval_s: 0.1\n")
    with pytest.raises(PlanError, match=r"rate_T_per_min: 7.5 is above the limit 6 T/min of coil_supply"):
        prepare_run(plan_file, station_file, tmp_path / "fast.h5", False, False)
    plan_file.write_text(plan_file.read_text().replace("rate_T_per_min: 7.5", "rate_T_per_min: 2.0")
                         + "limits: {max_ramp_rate_T_per_min: 1.0}\n")
    with pytest.raises(PlanError, match=r"rate_T_per_min: 2 is above the limit 1 T/min"):
        prepare_run(plan_file, station_file, tmp_path / "fast.h5", False, False)
    plan_file.write_text(plan_file.read_text().replace("stop: 0.05", "stop: 0.2"))
    with pytest.raises(PlanError, match=r"stop: the plan visits 0.2 T, beyond the field limit"):
        prepare_run(plan_file, station_file, tmp_path / "fast.h5", False, False)
    assert not any(lab.command_log().values())  # not even *IDN?
    assert not (tmp_path / "fast.h5").exists()


def test_plan_checks_and_counts():
    plan = ramp()
    # 600 lab s read every 20 s: 31 readings while it ramps and one at stop
    assert plan.total_points() == 32 and plan.max_points() >= 42
    assert ramp(max_points=40).max_points() == 40
    with pytest.raises(PlanError, match="stop: a ramp needs stop different from start"):
        ramp(stop=0.001)
    with pytest.raises(PlanError, match="interval_s"):
        ramp(interval_s=0)
    with pytest.raises(PlanError, match="interval_s: .* more than the limit"):
        ramp(interval_s=1e-9)
    with pytest.raises(PlanError, match="no list of points"):
        list(plan.points())


def test_max_points_reached_during_the_ramp_waits_for_stop_without_more_readings(lab_station, tmp_path):
    lab, station_file = lab_station
    with load_station(station_file) as station:
        result = Runner(station, ramp(max_points=6), tmp_path / "max.h5").run()
    assert result.status == "completed", result.reason
    setpoint, field = columns(result.path, "field_setpoint_T", "field_T")
    # five readings on the way, then none until the source holds at stop: the last row is there
    assert len(field) == 6 == result.points
    assert setpoint[-1] == 0.0018 and field[-1] == pytest.approx(0.0018, abs=SETTLE_TOLERANCE_A * COIL_T_PER_A)
    assert setpoint[4] < 0.0012     # the first five were read early in the ramp, every 20 lab s
    with h5py.File(result.path, "r") as f:
        messages = [m.decode() for m in f["entry/log/message"][:]]
    assert any("max_points 6 reached during the ramp" in m for m in messages), messages


def test_on_the_current_axis_the_ramp_is_in_amperes(lab_station, tmp_path):
    lab, station_file = lab_station
    # the same ramp as ramp(), given in coil current: 0.1209 A to 0.2176 A
    plan = ramp(axis="current", start=0.001 / COIL_T_PER_A, stop=0.0018 / COIL_T_PER_A)
    with load_station(station_file) as station:
        result = Runner(station, plan, tmp_path / "amps.h5").run()
    assert result.status == "completed", result.reason
    current_setpoint, setpoint, current = columns(result.path, "current_setpoint_A", "field_setpoint_T",
                                                  "current_A")
    assert current_setpoint == pytest.approx(setpoint / COIL_T_PER_A, rel=1e-12)
    assert current_setpoint[0] == pytest.approx(0.1209, abs=2e-4) and current_setpoint[-1] == pytest.approx(0.2176, abs=2e-4)
    # the supply's own current follows the ramp within its settle tolerance
    assert np.max(np.abs(current - current_setpoint)) <= SETTLE_TOLERANCE_A
    assert abs(plan.total_points() - len(current)) <= 3


def test_a_suspender_that_trips_mid_ramp_holds_the_ramp_until_it_clears(lab_station, tmp_path):
    lab, station_file = lab_station
    cryostat = lab.world.cryostat
    base = cryostat.temperature_K
    plan = ramp(detectors=["gaussmeter", "temperature_controller"],
                suspenders=[{"kind": "temperature_band", "instrument": "temperature_controller",
                             "min_K": 0.0, "max_K": base + 1.0}], suspend_timeout_s=3600)
    states = []
    with load_station(station_file) as station:
        runner = Runner(station, plan, tmp_path / "suspended.h5")
        runner.subscribe(lambda e: states.append(e.data["state"]) if e.kind == "state" else None)
        runner.start()
        wait_points(runner, 6)
        cryostat.temperature_K = base + 5.0          # a heat pulse: out of the band, relaxes back
        deadline = time.monotonic() + 60
        while runner.state != "suspended":
            assert time.monotonic() < deadline and runner.result is None
            time.sleep(0.005)
        held = lab.world.coil.current_A
        while runner.state == "suspended":
            assert time.monotonic() < deadline and runner.result is None
            # while suspended the ramp holds (within the Kepco's settle tolerance)
            assert lab.world.coil.current_A == pytest.approx(held, abs=SETTLE_TOLERANCE_A)
            time.sleep(0.01)
        result = runner.wait(60)
    assert result.status == "completed", result.reason
    assert "suspended" in states and states[-1] == "completed"
    field, setpoint, temperature = columns(result.path, "field_T", "field_setpoint_T", "temperature_K")
    # no row was recorded out of the band, and the ramp went on from where it held
    assert np.all(temperature <= base + 1.0), temperature
    assert np.all(np.diff(field[:-1]) > 0) and field[-1] == pytest.approx(0.0018, abs=2e-5)
    with h5py.File(result.path, "r") as f:
        messages = [m.decode() for m in f["entry/log/message"][:]]
    assert any(m.startswith("suspended: temperature") for m in messages), messages


def test_on_the_persistent_switch_magnet(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory(speed=SPEED)
    plan = load_plan({"title": "continuous on the AMI 430", "kind": "continuous", "source": "magnet_supply",
                      "detectors": ["gaussmeter"], "start": 0.0, "stop": 0.02, "rate_T_per_min": 0.12,
                      "interval_s": 1.0, "settle": {"timeout_s": 600}})
    with load_station(station_file) as station:
        result = Runner(station, plan, tmp_path / "ami.h5").run()
    assert result.status == "completed", result.reason
    setpoint, field, magnet_current = columns(result.path, "field_setpoint_T", "field_T", "magnet_current_A")
    assert abs(len(field) - plan.total_points()) <= 3
    assert np.all(np.diff(setpoint) >= 0) and setpoint[-1] == 0.02
    # the magnet's field follows the ramp: 0.12 T/min is 2 mT a reading
    assert np.max(np.abs(field - setpoint)) < 1e-3, np.abs(field - setpoint)
    assert field[-1] == pytest.approx(0.02, abs=1e-4) and magnet_current[-1] == pytest.approx(0.2, abs=1e-3)
    magnet = lab.world.magnet
    assert abs(magnet.I_m) < 1e-3 and abs(magnet.I_s) < 1e-3   # end: zero, magnet and leads

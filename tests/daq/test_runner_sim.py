"""The runner against the simulated lab over VISA/TCP: abort, faults, quench, pause; the field ends safe."""
import time

import h5py
import pytest

from loopscope.daq.plans import load_plan
from loopscope.daq.runner import Runner
from loopscope.daq.storage import read_status
from loopscope.instruments.station import load_station


def sweep(**kw):
    base = {"title": "sim test", "kind": "linear", "source": "coil_supply",
            "detectors": ["gaussmeter", "squid_controller"],
            "sweep": {"start": 0.02, "stop": 0.08, "points": 300}, "settle": {"delay_s": 0.2}}
    base.update(kw)
    return load_plan(base)


def wait_points(runner, n, timeout=30):
    deadline = time.monotonic() + timeout
    while runner.points_done < n:
        assert time.monotonic() < deadline, f"only {runner.points_done} points after {timeout} s"
        assert runner.result is None, runner.result
        time.sleep(0.005)


def test_abort_mid_sweep_ramps_field_to_zero_and_keeps_data(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory()
    with load_station(station_file) as station:
        runner = Runner(station, sweep(), tmp_path / "abort.h5")
        runner.start()
        wait_points(runner, 30)
        assert lab.world.field_T > 0.019
        runner.abort("operator abort in test")
        result = runner.wait(30)
    assert result.status == "aborted"
    assert "operator abort in test" in result.reason and "ramped" in result.reason
    assert abs(lab.world.field_T) < 1e-4  # the coil is back at zero
    assert read_status(result.path) == ("aborted", result.reason)
    with h5py.File(result.path, "r") as f:
        n = f["entry/data/point_index"].shape[0]
        assert n == result.points and 30 <= n < 300
        assert f["entry/end_time"][()].strip()


def test_transient_timeouts_are_retried_and_recorded(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory()
    with load_station(station_file) as station:
        runner = Runner(station, sweep(sweep={"start": 0, "stop": 0.01, "points": 40}, retries=3),
                        tmp_path / "retry.h5")
        runner.start()
        wait_points(runner, 5)
        lab.inject_fault("gaussmeter", "timeout", count=2)
        result = runner.wait(60)
    assert result.status == "completed", result.reason
    with h5py.File(result.path, "r") as f:
        messages = [m.decode() for m in f["entry/log/message"][:]]
        assert f["entry/data/point_index"].shape == (40,)
    # two timeouts: one on a reading (retried), one on the reconnect's *IDN? (recorded too)
    assert any("gaussmeter" in m and "retrying" in m for m in messages), messages
    assert sum("gaussmeter" in m for m in messages) == 2, messages


def test_garbled_replies_are_retried(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory()
    with load_station(station_file) as station:
        runner = Runner(station, sweep(sweep={"start": 0, "stop": 0.01, "points": 30}), tmp_path / "g.h5")
        runner.start()
        wait_points(runner, 3)
        lab.inject_fault("squid_controller", "garbage", count=1)
        result = runner.wait(60)
    assert result.status == "completed", result.reason


def test_dead_instrument_fails_to_safe_state_with_data_kept(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory()
    with load_station(station_file) as station:
        runner = Runner(station, sweep(retries=2), tmp_path / "dead.h5")
        runner.start()
        wait_points(runner, 10)
        lab.inject_fault("gaussmeter", "timeout")  # from now on, never answers
        result = runner.wait(60)
    assert result.status == "failed"
    assert "gaussmeter" in result.reason and "gave up after 3 attempts" in result.reason
    assert abs(lab.world.field_T) < 1e-4
    status, reason = read_status(result.path)
    assert status == "failed" and "gaussmeter" in reason
    with h5py.File(result.path, "r") as f:
        assert f["entry/data/point_index"].shape[0] >= 10


def test_a_setpoint_the_supply_refuses_fails_the_run_in_its_own_words(sim_lab_factory, tmp_path):
    # not retried as a transient error: the run ends, the reason quotes the supply, field safe
    lab, station_file = sim_lab_factory()
    with load_station(station_file) as station:
        runner = Runner(station, sweep(retries=3), tmp_path / "refused.h5")
        runner.start()
        wait_points(runner, 10)
        lab.inject_fault("coil_supply", "refuse", match="CURR", count=1)
        result = runner.wait(60)
    assert result.status == "failed"
    assert "RefusedCommandError" in result.reason and "coil_supply" in result.reason
    assert 'SYST:ERR? answered -222,"Data out of range"' in result.reason
    assert "retrying" not in result.reason
    assert abs(lab.world.field_T) < 1e-4
    assert read_status(result.path)[0] == "failed"


def test_quench_on_the_magnet_ends_in_failed_run_and_no_reenergising(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory(speed=1000.0)
    plan = load_plan({"title": "quench", "kind": "linear", "source": "magnet_supply", "detectors": ["gaussmeter"],
                      "sweep": {"start": 0.0, "stop": 0.3, "points": 7}, "settle": {"timeout_s": 7200}})
    lab.inject_fault("magnet_supply", "quench", field_T=0.12)
    with load_station(station_file) as station:
        result = Runner(station, plan, tmp_path / "quench.h5").run()
    assert result.status == "failed" and "quench" in result.reason.lower()
    assert lab.world.magnet.state == 7  # still QUENCH: nothing re-energised it
    assert abs(lab.world.magnet.I_m) < 0.5


def test_pause_holds_the_field_then_resume_completes(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory()
    with load_station(station_file) as station:
        runner = Runner(station, sweep(sweep={"start": 0.0, "stop": 0.02, "points": 60}), tmp_path / "p.h5")
        runner.start()
        wait_points(runner, 10)
        runner.pause()
        time.sleep(0.3)
        n = runner.points_done
        held = lab.world.field_T
        time.sleep(0.3)
        assert runner.points_done == n and runner.state == "paused"
        assert lab.world.field_T == pytest.approx(held, abs=1e-5)
        runner.resume()
        result = runner.wait(60)
    assert result.status == "completed" and result.points == 60


def test_setpoint_lost_with_a_dropped_connection_is_sent_again(sim_lab_factory, tmp_path):
    lab, station_file = sim_lab_factory()
    with load_station(station_file) as station:
        runner = Runner(station, sweep(sweep={"start": 0.0, "stop": 0.02, "points": 40}), tmp_path / "drop.h5")
        runner.start()
        wait_points(runner, 5)
        # the next command the coil supply receives (a new current setpoint) is lost with its connection
        lab.inject_fault("coil_supply", "drop", count=1)
        result = runner.wait(60)
    assert result.status == "completed", result.reason
    with h5py.File(result.path, "r") as f:
        setpoints = f["entry/data/field_setpoint_T"][:]
        fields = f["entry/data/field_T"][:]
    assert fields == pytest.approx(setpoints, abs=5e-5)  # every point was really at its field


def _traffic_of_one_point(station_file, tmp_path, name):
    """Every command and read of a 12-point sweep, in order, as (op, text)."""
    from pyvisa.resources import MessageBasedResource

    traffic = []
    write, read = MessageBasedResource.write, MessageBasedResource.read

    def rec_write(self, message, *a, **k):
        traffic.append(("w", message.strip()))
        return write(self, message, *a, **k)

    def rec_read(self, *a, **k):
        traffic.append(("r", ""))
        return read(self, *a, **k)

    MessageBasedResource.write, MessageBasedResource.read = rec_write, rec_read
    try:
        with load_station(station_file) as station:
            runner = Runner(station, sweep(sweep={"start": 0.0, "stop": 0.01, "points": 12},
                                           settle={"wait_for_holding": True},
                                           detectors=["gaussmeter", "squid_controller", "temperature_controller"]),
                            tmp_path / name)
            result = runner.run()
    finally:
        MessageBasedResource.write, MessageBasedResource.read = write, read
    assert result.status == "completed"
    return traffic


def test_every_instrument_is_asked_before_the_first_answer_is_read(sim_lab_factory, tmp_path):
    _, station_file = sim_lab_factory(overlap_reads=True)  # a real lab's default
    traffic = _traffic_of_one_point(station_file, tmp_path, "together.h5")
    text = [t for op, t in traffic if op == "w"]
    questions = ["MEASure:CURRent?", "RDGFIELD?", ":READ?", "KRDG? A"]
    # the four questions of a point go out back to back, then the four answers are read
    starts = [i for i in range(len(traffic) - 8)
              if [t for _, t in traffic[i:i + 4]] == questions and all(op == "w" for op, _ in traffic[i:i + 4])]
    assert len(starts) >= 11, text[-40:]  # the first point also asks the probe's UNIT? once
    i = starts[-1]
    assert [op for op, _ in traffic[i + 4:i + 8]] == ["r"] * 4


def test_overlap_reads_false_asks_one_instrument_at_a_time(sim_lab_factory, tmp_path):
    _, station_file = sim_lab_factory(overlap_reads=False)
    traffic = _traffic_of_one_point(station_file, tmp_path, "one_by_one.h5")
    for (op1, t1), (op2, _) in zip(traffic, traffic[1:]):
        if op1 == "w" and t1.endswith("?"):
            assert op2 == "r", (t1, traffic[:20])  # every question answered before the next

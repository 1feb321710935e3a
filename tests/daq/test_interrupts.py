"""The interrupt path, tried as a panicking operator would: SIGINT, a second and a third SIGINT,
SIGTERM and KeyboardInterrupt at random moments of runs and queues on the simulated lab.

Every time, the outcome is read back from the simulated instruments themselves (the coil's
current and setpoint in the lab's world), from the run file (status, every point kept) and
from the process (exit code, no traceback, out within the ramp time plus a few seconds).
Moments are chosen by progress (points on disk, the coil's current), never by sleeping.
"""
from __future__ import annotations

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

from loopscope.daq.interrupts import InterruptGuard

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals sent to a child process")

STOP_POINTS = 2000


def sweep_plan(points=STOP_POINTS, stop=0.05, **kw):
    plan = {"title": "interrupted sweep", "kind": "linear", "source": "coil_supply",
            "detectors": ["gaussmeter"], "sweep": {"start": 0.0, "stop": stop, "points": points}}
    plan.update(kw)
    return plan


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def slow_safe_ramp(station: Path, rate_T_per_min: float) -> Path:
    """The station with a slow safe-state ramp, so that the ramp can be interrupted."""
    data = yaml.safe_load(station.read_text())
    data["instruments"]["coil_supply"]["limits"]["safe_ramp_rate_T_per_min"] = rate_T_per_min
    return write(station.with_name(station.stem + "_slow.yaml"), data)


def coil(lab) -> tuple[float, float]:
    """(setpoint, current) of the simulated coil supply, brought to the lab's present."""
    with lab.world.lock:
        lab.world.advance()
        return lab.world.coil.current_setpoint_A, lab.world.coil.current_A


def rows_on_disk(path: Path) -> int:
    from loopscope.daq.recovery import open_run_file
    try:
        with open_run_file(path) as f:
            return int(f["entry/data/point_index"].shape[0])
    except (OSError, KeyError):
        return 0  # not there yet, or being created right now


def run_file(path: Path) -> tuple[np.ndarray, str, str]:
    with h5py.File(path, "r") as f:
        return (f["entry/data/point_index"][:], f["entry/status"][()].strip(b"\x00 ").decode(),
                f["entry/status_reason"][()].strip(b"\x00 ").decode())


class Cli:
    """`loopscope ...` in a child process, its stderr collected line by line as it comes."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "loopscope", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.err.append(line)

    def stderr(self) -> str:
        return "".join(self.err)

    def wait_for(self, condition, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; stderr:\n{self.stderr()[-3000:]}")
            time.sleep(0.005)

    def said(self, text: str) -> bool:
        return text in self.stderr()

    def signal(self, sig) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        # stdout read here, stderr by the reader thread only (communicate() would take both)
        out = self.proc.stdout.read()
        self.proc.wait(timeout)
        self._reader.join(5)
        return self.proc.returncode, out, self.stderr()


def assert_safe(lab) -> None:
    setpoint, current = coil(lab)
    assert abs(setpoint) < 1e-9, f"coil setpoint left at {setpoint} A"
    assert abs(current) < 0.003, f"coil current left at {current} A"


# ------------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_at_random_moments_of_a_run_ends_at_the_safe_state(sim_lab_factory, tmp_path, sig):
    lab, station = sim_lab_factory(speed=200.0)
    plan = write(tmp_path / "plan.yaml", sweep_plan())
    rng = random.Random(1000 + int(sig))
    for rep in range(5):
        out = tmp_path / f"run{rep}.h5"
        cli = Cli("run", str(plan), "--station", str(station), "--out", str(out))
        # a random moment: as soon as the file exists, or after a random number of points
        k = rng.choice([0, 1, rng.randrange(2, STOP_POINTS - 300)])
        cli.wait_for(lambda: out.exists() and rows_on_disk(out) >= k, f"{k} points")
        seen = rows_on_disk(out)
        sent = time.monotonic()
        cli.signal(sig)
        code, stdout, stderr = cli.finish()
        took = time.monotonic() - sent
        assert "Traceback" not in stderr, stderr
        idx, status, reason = run_file(out)
        if status == "completed":  # the signal came after the last point: nothing to stop
            assert code == 0
            continue
        name = signal.Signals(sig).name
        assert code == 128 + int(sig), (code, stderr[-2000:])
        assert status == "aborted", (status, reason)
        assert ("Ctrl-C" if sig == signal.SIGINT else "SIGTERM") in reason
        assert "safe state" in reason and "NOT" not in reason
        assert list(idx) == list(range(len(idx))) and len(idx) >= seen  # every point kept
        assert_safe(lab)
        # the ramp from 0.05 T at the safe rate is 2.5 s of lab time, 12 ms here
        assert took < 15.0, f"{name}: {took:.1f} s to exit"
        assert "stopping at the next safe point" in stderr


def test_second_ctrl_c_is_refused_and_the_ramp_to_safety_goes_on(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory(speed=100.0)
    station = slow_safe_ramp(station, 0.05)  # 0.03 T down at 0.05 T/min: 36 s of lab time, 0.4 s here
    plan = write(tmp_path / "plan.yaml", sweep_plan(points=200, stop=0.03))
    out = tmp_path / "run.h5"
    cli = Cli("run", str(plan), "--station", str(station), "--out", str(out))
    cli.wait_for(lambda: coil(lab)[1] > 0.5, "the coil above 0.5 A")
    cli.signal(signal.SIGINT)
    cli.wait_for(lambda: cli.said("stopping at the next safe point"), "the first message")
    cli.signal(signal.SIGINT)
    code, _, stderr = cli.finish()
    assert "refused" in stderr and "Traceback" not in stderr, stderr
    assert code == 130, stderr[-2000:]
    idx, status, reason = run_file(out)
    assert status == "aborted" and "ramped from" in reason and "NOT" not in reason
    assert_safe(lab)


def test_third_ctrl_c_leaves_the_supply_holding_and_says_so(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory(speed=20.0)
    station = slow_safe_ramp(station, 0.01)  # 0.03 T down: 180 s of lab time, 9 s here
    plan = write(tmp_path / "plan.yaml", sweep_plan(points=60, stop=0.03))
    out = tmp_path / "run.h5"
    cli = Cli("run", str(plan), "--station", str(station), "--out", str(out))
    cli.wait_for(lambda: coil(lab)[1] > 1.0, "the coil above 1 A")
    cli.signal(signal.SIGINT)
    cli.wait_for(lambda: cli.said("stopping at the next safe point"), "the first message")
    # once the safe-state ramp is under way (the setpoint falls), two more within the window
    start = coil(lab)[0]
    cli.wait_for(lambda: coil(lab)[0] < start - 0.01, "the safe-state ramp")
    cli.signal(signal.SIGINT)
    cli.wait_for(lambda: cli.said("refused"), "the refusal")
    cli.signal(signal.SIGINT)
    code, _, stderr = cli.finish()
    assert code == 3, stderr[-2000:]
    assert "hold where it is" in stderr and "NOT at the safe state" in stderr
    _, status, reason = run_file(out)
    assert status == "aborted" and "NOT at the safe state" in reason
    setpoint, current = coil(lab)
    assert 0.1 < setpoint < start, "held part-way down"
    # holding, not ramping: nothing moves the setpoint once the process is gone
    assert coil(lab)[0] == setpoint


def test_sigint_during_a_queue_then_resume_loses_and_repeats_nothing(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory(speed=200.0)
    write(tmp_path / "plan.yaml", sweep_plan(points=1500))
    q = write(tmp_path / "night.yaml", {"queue": "interrupted night", "station": str(station), "output_dir": "runs",
                                        "runs": [{"plan": "plan.yaml", "out": "a.h5"},
                                                 {"plan": "plan.yaml", "out": "b.h5"}]})
    a = tmp_path / "runs" / "a.h5"
    rng = random.Random(7)
    cli = Cli("queue", "run", str(q), "--quiet")
    k = rng.randrange(1, 1200)
    cli.wait_for(lambda: a.exists() and rows_on_disk(a) >= k, f"{k} points of run a")
    cli.signal(signal.SIGINT)
    code, stdout, stderr = cli.finish()
    assert code == 130 and "Traceback" not in stderr, stderr[-2000:]
    assert "interrupted" in stdout
    assert_safe(lab)
    status = yaml.safe_load((tmp_path / "night.status.yaml").read_text())
    assert status["state"] == "interrupted"
    assert [r["state"] for r in status["runs"]] == ["interrupted", "pending"]
    assert run_file(a)[1] == "aborted"
    code, stdout, stderr = Cli("queue", "resume", str(q), "--quiet").finish(120)
    assert code == 0, stderr[-2000:]
    for name in ("a.h5", "b.h5"):
        idx, status, _ = run_file(tmp_path / "runs" / name)
        assert status == "completed" and list(idx) == list(range(1500)), name
    assert_safe(lab)


# ------------------------------------------------------------------------------ from Python
def test_keyboard_interrupt_in_python_ends_at_the_safe_state_then_is_raised(sim_lab_factory, tmp_path,
                                                                           interactive_ctrl_c):
    """As a notebook's kernel interrupt: SIGINT to the process while Runner.run() runs in the
    main thread. The run stops, the field goes safe, the file closes, then KeyboardInterrupt."""
    from loopscope.daq.plans import load_plan
    from loopscope.daq.runner import Runner
    from loopscope.instruments.station import load_station

    lab, station_file = sim_lab_factory(speed=200.0)
    plan = load_plan(sweep_plan())
    rng = random.Random(3)
    for rep in range(5):
        k = rng.randrange(0, STOP_POINTS - 300)
        with load_station(station_file) as station:
            runner = Runner(station, plan, tmp_path / f"py{rep}.h5")

            def interrupt_after_k_points():
                deadline = time.monotonic() + 60
                while runner.points_done < k + 1 and time.monotonic() < deadline and not runner.finished:
                    time.sleep(0.002)
                signal.raise_signal(signal.SIGINT)  # the handler runs in the main thread, as Ctrl-C's

            threading.Thread(target=interrupt_after_k_points, daemon=True).start()
            with pytest.raises(KeyboardInterrupt):
                runner.run()
            result = runner.result
            assert result.status == "aborted" and "Ctrl-C" in result.reason
            assert result.safe_state_reached and result.interrupted_by == "SIGINT"
            idx, status, _ = run_file(result.path)
            assert status == "aborted" and list(idx) == list(range(result.points))
            assert_safe(lab)
    # the previous handler is back: pytest's own Ctrl-C still works after a run
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_keyboard_interrupt_raised_inside_the_run_still_ends_safe(tmp_path):
    """A KeyboardInterrupt that no guard turned into an abort (raised by code the run calls)
    ends the same way: safe state, file closed with a status, then raised again."""
    from loopscope.daq.plans import load_plan
    from loopscope.daq.runner import Runner
    from loopscope.instruments.memory import MemoryStation

    station = MemoryStation()
    probe = station.roles["field_probe"]
    calls = {"n": 0}
    real = probe.read_field_T

    def flaky():
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real()

    probe.read_field_T = flaky
    plan = sweep_plan(points=100, stop=0.02, source="field_source", detectors=["field_probe"])
    runner = Runner(station, load_plan(plan), tmp_path / "k.h5")
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    assert runner.result.status == "aborted" and "KeyboardInterrupt" in runner.result.reason
    assert runner.result.safe_state_reached
    assert abs(station.roles["field_source"].read_field_T()) < 1e-9
    assert run_file(tmp_path / "k.h5")[1] == "aborted"


# ------------------------------------------------------------------------------ the guard itself
def test_guard_counts_refuses_then_holds_within_the_window():
    said, stops, holds = [], [], []
    guard = InterruptGuard(on_stop=stops.append, on_hold=lambda: holds.append(1), echo=said.append,
                           hold_window_s=5.0)
    guard.deliver("SIGINT", when=100.0)
    guard.deliver("SIGINT", when=101.0)
    assert stops == ["interrupted by Ctrl-C"] and holds == [] and "refused" in said[-1]
    guard.deliver("SIGINT", when=107.0)  # too late for the window: refused again, window re-armed
    assert holds == [] and "refused" in said[-1]
    guard.deliver("SIGINT", when=108.0)
    assert holds == [1] and "NOT at the safe state" in said[-1]
    guard.deliver("SIGTERM", when=108.5)
    assert holds == [1] and stops == ["interrupted by Ctrl-C"]


def test_guard_turns_a_real_signal_into_a_call_and_reraises_on_exit():
    stopped = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        with InterruptGuard(on_stop=lambda reason: stopped.set(), echo=None, reraise=True) as guard:
            signal.raise_signal(signal.SIGINT)
            assert stopped.wait(10), "on_stop was not called"
            # the main thread went on: no KeyboardInterrupt in the middle of this block
            assert guard.received == ["SIGINT"]
    with pytest.raises(SystemExit) as exc:
        with InterruptGuard(echo=None, reraise=True) as guard:
            signal.raise_signal(signal.SIGTERM)
            assert guard.stopped.wait(10)
    assert exc.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

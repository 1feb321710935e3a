"""The runner's logic on instant in-memory instruments: every plan kind, abort, retries, safe state.

The same behaviours are checked again over TCP against the simulated lab in test_runner_sim.py.
"""
import threading
import time

import h5py
import numpy as np
import pytest

from loopscope.daq.plans import PlanError, load_plan
from loopscope.daq.runner import Runner
from loopscope.daq.storage import read_status
from loopscope.instruments.memory import MemoryStation


def plan(**kw):
    return load_plan({"title": "memory test", **kw})


ALL_KINDS = [
    dict(kind="linear", sweep={"start": -0.05, "stop": 0.05, "points": 21}),
    dict(kind="list", values=[0.0, 0.01, -0.01]),
    dict(kind="loop", amplitude=0.02, step=0.01, cycles=2),
    dict(kind="grid", outer={"quantity": "temperature", "values": [2.0, 4.0]},
         sweep={"start": 0, "stop": 0.02, "points": 3}),
    dict(kind="grid", outer={"quantity": "frequency", "values": [1000.0, 2000.0]},
         sweep={"start": 0, "stop": 0.02, "points": 3}),
    dict(kind="time_series", field=0.01, duration_s=0.2, interval_s=0.05),
    dict(kind="resonance_tracking", sweep={"start": 0, "stop": 0.02, "points": 3},
         resonance={"center_Hz": 1999.5, "span_Hz": 4, "method": "scan"}),
    dict(kind="resonance_tracking", sweep={"start": 0, "stop": 0.02, "points": 3},
         resonance={"center_Hz": 1999.5, "span_Hz": 4, "method": "pll"}),
]


@pytest.mark.parametrize("spec", ALL_KINDS, ids=lambda s: s["kind"])
def test_every_kind_completes_and_records_every_point(tmp_path, spec):
    p = plan(**spec)
    result = Runner(MemoryStation(), p, tmp_path / "r.h5").run()
    assert result.status == "completed", result.reason
    with h5py.File(result.path, "r") as f:
        data = f["entry/data"]
        assert list(data["point_index"][:]) == list(range(p.total_points()))
        assert data.attrs["signal"] in data
        for ax in data.attrs["axes"]:
            assert ax in data
        if spec["kind"] == "resonance_tracking":
            assert data["resonance_frequency_Hz"][:] == pytest.approx(2000.0, abs=0.01)
        if spec["kind"] == "loop":
            assert set(data["branch"][:]) == {0, 1, 2}


def test_persistent_step_traps_field_and_leaves_magnet_persistent(tmp_path):
    st = MemoryStation(persistent_switch=True)
    result = Runner(st, plan(kind="persistent_step", target=0.5, hold_s=0.1, interval_s=0.05), tmp_path / "p.h5").run()
    assert result.status == "completed", result.reason
    src = st.roles["field_source"]
    assert [h[0] for h in src.history] == ["leave_persistent", "ramp", "persistent"]
    assert src.magnet_field_T == 0.5 and src.field_T == 0.0  # leads at zero, magnet persistent


def test_abort_mid_sweep_goes_safe_and_keeps_data(tmp_path):
    st = MemoryStation()
    p = plan(kind="linear", sweep={"start": 0.1, "stop": 0.5, "points": 200}, settle={"delay_s": 0.01})
    r = Runner(st, p, tmp_path / "a.h5")
    seen = []
    r.subscribe(lambda e: seen.append(e) if e.kind == "point" else None)
    r.start()
    while r.points_done < 20:
        time.sleep(0.005)
    r.abort("test abort")
    result = r.wait(10)
    assert result.status == "aborted"
    assert "test abort" in result.reason and "ramped to 0 T" in result.reason
    assert st.roles["field_source"].field_T == 0.0
    assert read_status(result.path)[0] == "aborted"
    with h5py.File(result.path, "r") as f:
        n = f["entry/data/point_index"].shape[0]
    assert 20 <= n < 200 and n == result.points


def test_pause_and_resume(tmp_path):
    p = plan(kind="linear", sweep={"start": 0, "stop": 0.1, "points": 100}, settle={"delay_s": 0.005})
    r = Runner(MemoryStation(), p, tmp_path / "p.h5")
    states = []
    r.subscribe(lambda e: states.append(e.data["state"]) if e.kind == "state" else None)
    r.start()
    while r.points_done < 10:
        time.sleep(0.002)
    r.pause()
    time.sleep(0.3)
    frozen = r.points_done
    time.sleep(0.2)
    assert r.points_done == frozen and r.state == "paused"
    r.resume()
    result = r.wait(10)
    assert result.status == "completed" and result.points == 100
    assert "paused" in states and states[-1] == "completed"


def test_transient_faults_are_retried_and_logged(tmp_path):
    st = MemoryStation()
    st.roles["flux_readout"].fail_next = 2
    result = Runner(st, plan(kind="linear", sweep={"start": 0, "stop": 0.01, "points": 5}), tmp_path / "t.h5").run()
    assert result.status == "completed"
    with h5py.File(result.path, "r") as f:
        messages = [m.decode() for m in f["entry/log/message"][:]]
    assert sum("retrying" in m for m in messages) == 2


def test_persistent_failure_aborts_to_safe_state(tmp_path):
    st = MemoryStation()
    p = plan(kind="linear", sweep={"start": 0.1, "stop": 0.2, "points": 500}, retries=2, settle={"delay_s": 0.005})
    r = Runner(st, p, tmp_path / "f.h5")
    r.start()
    while r.points_done < 5:
        time.sleep(0.001)
    st.roles["flux_readout"].fail_next = 10
    result = r.wait(10)
    assert result.status == "failed"
    assert "gave up after 3 attempts" in result.reason
    assert st.roles["field_source"].field_T == 0.0
    assert read_status(result.path)[0] == "failed"


def test_quench_fails_run_and_goes_safe(tmp_path):
    st = MemoryStation()
    r = Runner(st, plan(kind="linear", sweep={"start": 0, "stop": 0.2, "points": 100}, settle={"delay_s": 0.002}),
               tmp_path / "q.h5")
    r.start()
    while r.points_done < 5:
        time.sleep(0.001)
    st.roles["field_source"].quenched = True
    result = r.wait(10)
    assert result.status == "failed" and "quench" in result.reason
    assert result.ended_by == "quench"          # what a queue tests, not the words


def test_slow_or_broken_subscriber_never_stalls_acquisition(tmp_path):
    p = plan(kind="linear", sweep={"start": 0, "stop": 0.1, "points": 2000}, settle={"wait_for_holding": False})
    r = Runner(MemoryStation(), p, tmp_path / "s.h5")
    blocker = threading.Event()

    def stuck(event):
        blocker.wait(30)

    def broken(event):
        raise RuntimeError("subscriber bug")

    r.subscribe(stuck)
    r.subscribe(broken)
    t0 = time.perf_counter()
    r.start()
    r._thread.join(20)
    assert not r._thread.is_alive()
    assert time.perf_counter() - t0 < 15
    blocker.set()
    assert r.result.status == "completed" and r.result.points == 2000


def test_limit_refused_before_touching(tmp_path):
    st = MemoryStation()
    with pytest.raises(PlanError, match="beyond the field limit"):
        Runner(st, plan(kind="linear", sweep={"start": 0, "stop": 5, "points": 3}), tmp_path / "x.h5")
    assert st.roles["field_source"].history == []
    assert not (tmp_path / "x.h5").exists()


def test_current_axis_uses_coil_constant(tmp_path):
    st = MemoryStation()
    result = Runner(st, plan(kind="list", axis="current", values=[1.0, 2.0]), tmp_path / "c.h5").run()
    with h5py.File(result.path, "r") as f:
        assert f["entry/data/current_setpoint_A"][:] == pytest.approx([1, 2])
        assert f["entry/data/field_setpoint_T"][:] == pytest.approx([0.01, 0.02])


def test_events_carry_progress_with_eta(tmp_path):
    events = []
    r = Runner(MemoryStation(), plan(kind="linear", sweep={"start": 0, "stop": 0.01, "points": 50}), tmp_path / "e.h5")
    r.subscribe(events.append)
    r.run()
    kinds = [e.kind for e in events]
    assert kinds[0] in ("state", "started") and kinds[-1] == "finished"
    progress = [e for e in events if e.kind == "progress"]
    assert progress[-1].data["done"] == 50 and progress[-1].data["eta_s"] == 0
    assert sum(k == "point" for k in kinds) == 50


def test_output_refused_at_start_ends_with_a_finished_event(tmp_path):
    (tmp_path / "taken.h5").write_bytes(b"x")
    events = []
    r = Runner(MemoryStation(), plan(kind="list", values=[0.0]), tmp_path / "taken.h5")
    r.subscribe(events.append)
    r.start()
    result = r.wait(10)
    assert result.status == "failed" and "already exists" in result.reason
    assert events[-1].kind == "finished" and events[-1].data["status"] == "failed"
    assert r.station.roles["field_source"].history == []


class _Pending:
    def __init__(self, log, name, outcome):
        self.log, self.name, self.outcome = log, name, outcome
        log.append(("asked", name))

    def finish(self):
        self.log.append(("answered", self.name))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_readings_asked_together_a_transient_failure_is_retried_alone(tmp_path):
    from loopscope.instruments.roles import TransientInstrumentError

    st = MemoryStation()
    probe, flux = st.roles["field_probe"], st.roles["flux_readout"]
    log, failures = [], [TransientInstrumentError("field_probe: garbled reply")]
    probe.begin_read = lambda method: _Pending(log, "probe", failures.pop() if failures else probe.read_field_T())
    flux.begin_read = lambda method: _Pending(log, "flux", flux.read_flux_phi0())
    probe.can_split_read = flux.can_split_read = lambda method: True
    r = Runner(st, plan(kind="list", values=[0.01, 0.02]), tmp_path / "t.h5")
    result = r.run()
    assert result.status == "completed" and result.points == 2
    # both instruments asked before either answer is read; the failed reading retried on its own
    assert log[:4] == [("asked", "probe"), ("asked", "flux"), ("answered", "probe"), ("answered", "flux")]
    with h5py.File(result.path, "r") as f:
        messages = [m.decode() for m in f["entry/log/message"][:]]
        assert np.all(np.isfinite(f["entry/data/probe_field_T"][:]))
    assert any("garbled reply" in m and "retrying" in m for m in messages)


def test_readings_that_cannot_be_split_are_plain_calls(tmp_path):
    """Only roles that can send a question and read its answer later are asked together; with
    fewer than two of them there is nothing to overlap and every reading is a plain call."""
    st = MemoryStation()
    probe, flux = st.roles["field_probe"], st.roles["flux_readout"]
    log = []
    probe.begin_read = lambda method: _Pending(log, "probe", probe.read_field_T())
    flux.begin_read = lambda method: _Pending(log, "flux", flux.read_flux_phi0())
    probe.can_split_read = lambda method: True      # one splittable role: nothing to overlap
    result = Runner(st, plan(kind="list", values=[0.01, 0.02]), tmp_path / "p.h5").run()
    assert result.status == "completed" and result.points == 2 and log == []
    with h5py.File(result.path, "r") as f:
        assert np.all(np.isfinite(f["entry/data/probe_field_T"][:]))
        assert np.all(np.isfinite(f["entry/data/flux_phi0"][:]))


def test_readings_asked_together_every_answer_is_read_before_a_failure_ends_the_run(tmp_path):
    from loopscope.instruments.roles import InstrumentError

    st = MemoryStation()
    probe, flux = st.roles["field_probe"], st.roles["flux_readout"]
    log = []
    probe.begin_read = lambda method: _Pending(log, "probe", InstrumentError("field_probe: overload"))
    flux.begin_read = lambda method: _Pending(log, "flux", 0.5)
    probe.can_split_read = flux.can_split_read = lambda method: True
    result = Runner(st, plan(kind="list", values=[0.01, 0.02]), tmp_path / "f.h5").run()
    assert result.status == "failed" and "overload" in result.reason
    assert ("answered", "flux") in log  # the other instrument's reply was not left on its session
    assert st.roles["field_source"].field_T == 0.0  # safe state

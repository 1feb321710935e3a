"""The run's states: the transition table, and real runs that go through every state without
leaving it (completed, paused, suspended, waiting for an instrument, aborted, failed)."""
import threading

import pytest

from loopscope.daq.events import EventKind
from loopscope.daq.plans import load_plan
from loopscope.daq.run_states import FINAL_STATES, TRANSITIONS, RunState, allowed
from loopscope.daq.runner import Runner
from loopscope.instruments.memory import MemoryStation


def test_the_table_reaches_every_state_from_idle_and_final_states_are_final():
    seen, todo = {RunState.IDLE}, [RunState.IDLE]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(RunState)
    for state in FINAL_STATES:
        assert TRANSITIONS[state] == frozenset() and state.is_final
    # once on the way to the safe state, a run only ends: it never runs again
    assert TRANSITIONS[RunState.SAFE_STATE] == {RunState.ABORTED, RunState.FAILED}
    assert not allowed(RunState.PAUSED, RunState.COMPLETED)
    assert RunState.RUNNING == "running" and str(RunState.SAFE_STATE) == "safe_state"


def _run(tmp_path, station, spec, during=None):
    p = load_plan({"title": "states", **spec})
    r = Runner(station, p, tmp_path / f"{spec['kind']}_{len(list(tmp_path.iterdir()))}.h5")
    states, kinds = [], []
    lock = threading.Lock()

    def listen(e):
        with lock:
            kinds.append(e.kind)
            if e.kind == EventKind.STATE:
                states.append(e.data["state"])

    r.subscribe(listen)
    if during is None:
        result = r.run()
    else:
        r.start()
        during(r)
        result = r.wait(30)
    r.bus.drain()
    assert r.invalid_transitions == [], r.invalid_transitions
    assert all(isinstance(s, RunState) for s in states)
    assert all(isinstance(k, EventKind) for k in kinds), [k for k in kinds if not isinstance(k, EventKind)]
    chain = [RunState.IDLE] + states
    for a, b in zip(chain, chain[1:]):
        assert allowed(a, b), f"{a} -> {b} in {chain}"
    assert chain[-1] == result.status
    return result, chain


def _wait(predicate, timeout=20.0):
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


SWEEP = dict(kind="linear", sweep={"start": 0, "stop": 0.05, "points": 40}, settle={"delay_s": 0.002})


def test_completed(tmp_path):
    result, chain = _run(tmp_path, MemoryStation(), SWEEP)
    assert chain == [RunState.IDLE, RunState.RUNNING, RunState.COMPLETED]


def test_paused_then_aborted_while_paused(tmp_path):
    def during(r):
        _wait(lambda: r.points_done >= 5)
        r.pause()
        _wait(lambda: r.state == RunState.PAUSED)
        r.abort("while paused")
    result, chain = _run(tmp_path, MemoryStation(), SWEEP, during)
    assert result.status == "aborted"
    assert chain[-3:] == [RunState.PAUSED, RunState.SAFE_STATE, RunState.ABORTED]


def test_suspended_then_cleared(tmp_path):
    station = MemoryStation()
    thermometer = station.roles["thermometer"]

    def during(r):
        _wait(lambda: r.points_done >= 5)
        thermometer.temperature = 9.0          # out of the band: the next point is held
        _wait(lambda: r.state == RunState.SUSPENDED)
        thermometer.temperature = 4.2
    spec = dict(SWEEP, detectors=["flux_readout", "thermometer"],
                suspenders=[{"kind": "temperature_band", "min_K": 4.0, "max_K": 4.5}])
    result, chain = _run(tmp_path, station, spec, during)
    assert result.status == "completed" and RunState.SUSPENDED in chain


def test_waiting_for_an_instrument_then_it_answers(tmp_path):
    station = MemoryStation()
    station.roles["flux_readout"].fail_next = 4
    spec = dict(SWEEP, retries=1, give_up_after_s=60)
    result, chain = _run(tmp_path, station, spec)
    assert result.status == "completed"
    assert chain[1:4] == [RunState.RUNNING, RunState.WAITING_FOR_INSTRUMENT, RunState.RUNNING]


def test_an_instrument_that_stays_dead_fails_through_the_safe_state(tmp_path):
    station = MemoryStation()
    station.roles["flux_readout"].fail_permanently = True
    result, chain = _run(tmp_path, station, SWEEP)
    assert result.status == "failed"
    assert chain == [RunState.IDLE, RunState.RUNNING, RunState.SAFE_STATE, RunState.FAILED]


def test_retrying_on_the_way_to_the_safe_state_stays_in_the_safe_state(tmp_path):
    station = MemoryStation()
    source = station.roles["field_source"]

    def during(r):
        _wait(lambda: r.points_done >= 5)
        source.fail_next = 3                   # the ramp to zero needs retries
        r.abort("abort with a flaky supply")
    spec = dict(SWEEP, retries=1, give_up_after_s=60)
    result, chain = _run(tmp_path, station, spec, during)
    assert result.status == "aborted" and source.field_T == 0.0
    assert chain[-2:] == [RunState.SAFE_STATE, RunState.ABORTED]
    assert RunState.WAITING_FOR_INSTRUMENT not in chain[chain.index(RunState.SAFE_STATE):]


@pytest.mark.parametrize("status", ["completed", "aborted", "failed"])
def test_a_result_status_is_a_final_state(status):
    assert RunState(status).is_final

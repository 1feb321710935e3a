"""The event bus: order, batching of points, and what a subscriber that falls behind loses."""
import threading
import time

from loopscope.daq.events import POINT_LATENCY_S, Event, EventBus


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def test_every_event_in_order_with_points_batched():
    bus = EventBus()
    seen, threads = [], set()
    bus.subscribe(lambda ev: (seen.append((ev.kind, ev.data.get("i"))), threads.add(threading.get_ident())))
    sent = []
    for i in range(5000):
        kind = "state" if i % 997 == 0 else "point"
        bus.publish(Event(kind, time.time(), {"i": i}))
        sent.append((kind, i))
    bus.drain()
    assert seen == sent
    assert threading.get_ident() not in threads   # delivered from the subscriber's own thread


def test_a_lone_point_after_a_quiet_spell_still_arrives_promptly():
    bus = EventBus()
    seen = []
    bus.subscribe(lambda ev: seen.append((ev.kind, time.monotonic())))
    for _ in range(3):
        time.sleep(5 * POINT_LATENCY_S)           # the dispatcher has gone to sleep
        t0 = time.monotonic()
        bus.publish(Event("point", time.time(), {}))
        _wait_for(lambda: len(seen) and seen[-1][1] >= t0)
        assert seen[-1][1] - t0 < 1.0
    bus.drain()
    assert len(seen) == 3


def test_a_state_change_is_not_held_back_behind_batched_points():
    bus = EventBus()
    seen = []
    bus.subscribe(lambda ev: seen.append(ev.kind))
    for _ in range(100):
        bus.publish(Event("point", time.time(), {}))
    bus.publish(Event("state", time.time(), {"state": "paused"}))
    _wait_for(lambda: "state" in seen)
    assert seen.count("point") == 100 and seen[-1] == "state"
    bus.drain()


def test_a_stuck_subscriber_loses_only_points_and_the_count_is_kept():
    bus = EventBus(max_backlog=10)
    release = threading.Event()
    seen = []

    def stuck(ev):
        release.wait(10)
        seen.append(ev.kind)

    bus.subscribe(stuck)
    bus.publish(Event("state", time.time(), {}))      # the subscriber is now stuck on this one
    time.sleep(0.05)
    for _ in range(100):
        bus.publish(Event("point", time.time(), {}))
    bus.publish(Event("warning", time.time(), {}))
    bus.publish(Event("finished", time.time(), {}))
    assert bus.dropped_points == 90
    release.set()
    bus.drain()
    assert seen == ["state"] + ["point"] * 10 + ["warning", "finished"]

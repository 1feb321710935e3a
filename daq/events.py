"""Events from the runner to any number of subscribers (CLI progress, GUI, queue, tests).

The acquisition thread only appends to a queue; each subscriber is called from its own
dispatcher thread, so a slow or broken subscriber can never stall acquisition. A subscriber
that falls far behind (max_backlog events waiting) loses further *point* events (counted and
reported), never a state change, warning, error or the end of the run.

Point events are delivered in batches, at most POINT_LATENCY_S after they happen; every other
event wakes its subscribers at once: waking a dispatcher thread for each point made the two
threads hand the interpreter lock back and forth (benchmarks/bench_event_bus.py).
"""
from __future__ import annotations

import collections
import enum
import logging
import threading
from typing import Callable, NamedTuple

log = logging.getLogger(__name__)

POINT_LATENCY_S = 0.01


class EventKind(str, enum.Enum):
    """What an event says. A str, so that subscribers testing `event.kind == "point"` keep working."""

    STARTED = "started"      # path, total, title, plan_kind, columns, units, signal, axes, start_index
    POINT = "point"          # index, row (the values in the order of the started event's columns)
    PROGRESS = "progress"    # done, total, eta_s, rate_per_s
    STATE = "state"          # state (a daq.run_states.RunState)
    WARNING = "warning"      # message (instrument)
    ERROR = "error"          # message
    FINISHED = "finished"    # status, reason, path, points, safe_state, safe_state_reached

    def __str__(self) -> str:
        return self.value


class Event(NamedTuple):
    kind: EventKind
    time: float
    data: dict


Subscriber = Callable[[Event], None]


class _Dispatcher:
    def __init__(self, callback: Subscriber, max_backlog: int):
        self.callback = callback
        self.max_backlog = max_backlog
        self.queue: collections.deque[Event] = collections.deque()
        self.dropped_points = 0
        self.cond = threading.Condition()
        self.closed = False
        self.sleeping = False  # waiting with no deadline: the next event of any kind wakes it
        self.thread = threading.Thread(target=self._loop, name=f"events->{getattr(callback, '__name__', 'subscriber')}",
                                       daemon=True)
        self.thread.start()

    def put(self, event: Event) -> None:
        with self.cond:
            if event.kind == "point":
                if len(self.queue) >= self.max_backlog:
                    self.dropped_points += 1
                    return
                self.queue.append(event)
                if self.sleeping:  # the first point after a quiet spell; the rest are collected
                    self.sleeping = False
                    self.cond.notify()
                return
            self.queue.append(event)
            self.sleeping = False
            self.cond.notify()

    def _loop(self) -> None:
        points_seen = False
        while True:
            with self.cond:
                if not self.queue and not self.closed:
                    if points_seen:
                        # points are coming: collect them for a while instead of waking per point
                        self.cond.wait(POINT_LATENCY_S)
                    if not self.queue and not self.closed:
                        self.sleeping = True
                        while not self.queue and not self.closed:
                            self.cond.wait()
                        self.sleeping = False
                if not self.queue and self.closed:
                    return
                batch, self.queue = self.queue, collections.deque()
            points_seen = False
            for event in batch:
                if event.kind == "point":
                    points_seen = True
                try:
                    self.callback(event)
                except Exception:  # a subscriber's bug must not reach the acquisition
                    log.exception("event subscriber %r failed on %s", self.callback, event.kind)

    def close(self, timeout: float) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()
        self.thread.join(timeout)


class EventBus:
    def __init__(self, max_backlog: int = 100_000):
        self.max_backlog = max_backlog
        self._dispatchers: list[_Dispatcher] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every event from now on; returns an unsubscribe function."""
        d = _Dispatcher(callback, self.max_backlog)
        with self._lock:
            self._dispatchers.append(d)

        def unsubscribe() -> None:
            with self._lock:
                if d in self._dispatchers:
                    self._dispatchers.remove(d)
            d.close(timeout=1.0)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for d in self._dispatchers:
            d.put(event)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._dispatchers)

    @property
    def dropped_points(self) -> int:
        return sum(d.dropped_points for d in self._dispatchers)

    def drain(self, timeout: float = 5.0) -> None:
        """Let every subscriber see what was published so far (end of a run)."""
        for d in list(self._dispatchers):
            d.close(timeout)
        with self._lock:
            self._dispatchers.clear()

"""The interrupt path: Ctrl-C, SIGTERM, Ctrl-Break and a closed terminal become an orderly
stop at the safe state, the same way for every front end (the CLI, queues, run processes,
scripts and notebooks).

    with InterruptGuard(on_stop=runner.abort, on_hold=runner.hold_where_it_is) as guard:
        runner.run()
    guard.received   # the signals that came, e.g. ["SIGINT"]

While a guard is entered in the main thread, the process's stop signals no longer raise
KeyboardInterrupt at whatever line the main thread happens to be on (which can leave a
thread marked stopped while it still runs, or a VISA session half-read). Instead:

1. the first signal calls ``on_stop(reason)``: the run stops at its next safe point, the
   field goes to the station's safe state through the open sessions, the file is closed;
2. a second one is refused, with a message: the ramp to safety goes on;
3. a third within HOLD_WINDOW_S of the second calls ``on_hold()``: the supply is told to hold
   where it is (a ramp paused, never a setpoint left half-written), and the message says the
   field is NOT at the safe state.

The signal handler itself only puts the signal on a queue.SimpleQueue (safe to call from a
handler: it takes no lock the interrupted code could hold); a watcher thread does the rest,
so nothing that takes a lock (threading.Event.set, printing) ever runs inside the handler.

Guards nest: only the outermost installs handlers, and every guard entered gets every
signal (a queue stops after its run while the run itself goes to the safe state). On exit,
the outermost guard puts the previous handlers back and, with ``reraise=True`` (for scripts
and notebooks), re-raises the interrupt once everything is closed: KeyboardInterrupt for
SIGINT, SystemExit(128 + signal number) for the others.

Windows: SIGINT is Ctrl-C and SIGBREAK is Ctrl-Break (and what the console sends when its
window is closed: Windows then ends the process after about 5 s, whatever it is doing).
SIGTERM and SIGHUP are used where the platform has them.
"""
from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from typing import Callable

HOLD_WINDOW_S = 5.0

#: the signals that mean "stop": what exists on this platform, in this order
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK", "SIGHUP")
                     if hasattr(signal, name))

#: exit codes of the loopscope commands (docs/safety.md)
EXIT_COMPLETED = 0
EXIT_FAILED = 1          # the run failed (an instrument, a quench, a bad reply); field at the safe state
EXIT_NOT_SAFE = 3        # the field is NOT at the safe state (it failed, or the operator held the supply)


def exit_code_for_signal(name: str) -> int:
    """128 + the signal number, as a shell reports a process ended by that signal."""
    return 128 + int(getattr(signal, name, signal.SIGINT))


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_SPOKEN = {"SIGINT": "Ctrl-C", "SIGBREAK": "Ctrl-Break", "SIGTERM": "SIGTERM", "SIGHUP": "a closed terminal (SIGHUP)"}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class InterruptGuard:
    """Stop signals become on_stop / on_hold calls while entered (see the module doc)."""

    _lock = threading.Lock()
    _active: list["InterruptGuard"] = []   # entered guards, outermost first
    _previous: dict[int, object] = {}
    _queue: "queue.SimpleQueue | None" = None
    _watcher: threading.Thread | None = None
    _installed = False

    def __init__(self, on_stop: Callable[[str], None] | None = None, on_hold: Callable[[], None] | None = None,
                 *, echo: Callable[[str], None] | None = _stderr, reraise: bool = False,
                 hold_window_s: float = HOLD_WINDOW_S):
        self.on_stop = on_stop
        self.on_hold = on_hold
        self.echo = echo
        self.reraise = reraise
        self.hold_window_s = hold_window_s
        self.received: list[str] = []      # signal names, in order
        self.held = False                  # on_hold was called
        self._refused_at: float | None = None
        self.installed = False             # this guard put the handlers in
        self.stopped = threading.Event()   # set at the first signal

    # -- life cycle ------------------------------------------------------------------------
    def __enter__(self) -> "InterruptGuard":
        cls = InterruptGuard
        with cls._lock:
            cls._active.append(self)
            if not cls._installed and threading.current_thread() is threading.main_thread():
                cls._queue = queue.SimpleQueue()
                cls._previous = {}
                try:
                    for sig in STOP_SIGNALS:
                        cls._previous[sig] = signal.signal(sig, cls._handler)
                except (ValueError, OSError):  # an embedded interpreter that keeps its handlers
                    for sig, prev in cls._previous.items():
                        signal.signal(sig, prev)
                    cls._previous = {}
                else:
                    cls._installed = self.installed = True
                    cls._watcher = threading.Thread(target=cls._watch, args=(cls._queue,),
                                                    name="interrupt-watcher", daemon=True)
                    cls._watcher.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        cls = InterruptGuard
        with cls._lock:
            if self in cls._active:
                cls._active.remove(self)
            if self.installed:
                for sig, prev in cls._previous.items():
                    try:
                        signal.signal(sig, prev)
                    except (ValueError, OSError):
                        pass
                cls._previous = {}
                cls._installed = False
                q, watcher = cls._queue, cls._watcher
                cls._queue = cls._watcher = None
        if self.installed:
            q.put(None)  # the watcher finishes what it was doing, then ends
            if watcher is not threading.current_thread():
                watcher.join(5.0)
        if exc_type is None and self.reraise and self.installed and self.received:
            first = self.received[0]
            if first == "SIGINT":
                raise KeyboardInterrupt
            raise SystemExit(exit_code_for_signal(first))
        return False

    # -- the signal side -------------------------------------------------------------------
    @staticmethod
    def _handler(signum, frame) -> None:
        q = InterruptGuard._queue
        if q is not None:
            q.put((signum, time.monotonic()))  # SimpleQueue.put is reentrant: safe in a handler

    @staticmethod
    def _watch(q: "queue.SimpleQueue") -> None:
        while True:
            item = q.get()
            if item is None:
                return
            signum, when = item
            with InterruptGuard._lock:
                guards = list(InterruptGuard._active)
            # the outermost guard speaks; it offers the hold when any guard can carry it out
            hold_offered = any(g.on_hold is not None for g in guards)
            for guard in guards:
                try:
                    guard.deliver(signal_name(signum), when, speak=guard is guards[0],
                                  hold_offered=hold_offered)
                except Exception as exc:  # a callback that fails must not stop the others
                    _stderr(f"interrupt handling failed: {type(exc).__name__}: {exc}")

    def deliver(self, name: str, when: float | None = None, speak: bool = True,
                hold_offered: bool | None = None) -> None:
        """What a stop signal does to this guard (also callable directly, e.g. by a test or
        a window's Abort button pressed three times). hold_offered: whether a third signal
        holds the supply (default: this guard has on_hold)."""
        when = time.monotonic() if when is None else when
        if hold_offered is None:
            hold_offered = self.on_hold is not None
        self.received.append(name)
        say = self.echo if (speak and self.echo is not None) else (lambda message: None)
        spoken = _SPOKEN.get(name, name)
        if len(self.received) == 1:
            say(f"\n{spoken}: stopping at the next safe point; the field goes to its safe state, then "
                "the file is closed. Please wait.")
            self.stopped.set()
            if self.on_stop is not None:
                self.on_stop(f"interrupted by {spoken}")
            return
        if self.held:
            say(f"{spoken}: the supply is already holding; the file is being closed. Please wait.")
            return
        if self._refused_at is not None and when - self._refused_at <= self.hold_window_s and hold_offered:
            self.held = True
            say(f"{spoken} again: telling the supply to hold where it is. The field is NOT at the "
                "safe state: ramp it down by hand or with the next run.")
            if self.on_hold is not None:
                self.on_hold()
            return
        self._refused_at = when
        if hold_offered:
            say(f"{spoken} refused: still bringing the field to its safe state. Press it once more within "
                f"{self.hold_window_s:g} s to leave the supply holding where it is instead (NOT safe).")
        else:
            say(f"{spoken} refused: still bringing the field to its safe state; please wait.")

    @property
    def signal(self) -> str:
        """The first signal received ('' for none)."""
        return self.received[0] if self.received else ""

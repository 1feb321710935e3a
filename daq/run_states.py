"""The states of a run, the transitions allowed between them, what a run gives back, and the
exceptions that move the run loop from one state to another.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class RunState(str, enum.Enum):
    """What a run is doing. A str, so that `state == "running"` and JSON keep working."""

    IDLE = "idle"                          # built, not started
    RUNNING = "running"
    PAUSED = "paused"                      # the operator paused; the field holds
    SUSPENDED = "suspended"                # a suspender holds the point until it clears
    WAITING_FOR_INSTRUMENT = "waiting_for_instrument"  # retries used up, give_up_after_s not yet
    SAFE_STATE = "safe_state"              # ending in any way but completion: going to the safe state
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({RunState.COMPLETED, RunState.ABORTED, RunState.FAILED})

#: state -> the states a run may go to from it. Anything else is a bug in the engine: the runner
#: records it (Runner.invalid_transitions, and an error in the log) but never stops for it, as
#: the state is a report, and the safe state must not depend on a report being right.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.IDLE: frozenset({RunState.RUNNING, RunState.FAILED}),
    RunState.RUNNING: frozenset({RunState.PAUSED, RunState.SUSPENDED, RunState.WAITING_FOR_INSTRUMENT,
                                 RunState.SAFE_STATE, RunState.COMPLETED, RunState.FAILED}),
    RunState.PAUSED: frozenset({RunState.RUNNING, RunState.SAFE_STATE}),
    # a suspended point waits on the operator too: pause and abort are honoured while it waits
    RunState.SUSPENDED: frozenset({RunState.RUNNING, RunState.PAUSED, RunState.WAITING_FOR_INSTRUMENT,
                                   RunState.SAFE_STATE}),
    RunState.WAITING_FOR_INSTRUMENT: frozenset({RunState.RUNNING, RunState.SUSPENDED, RunState.SAFE_STATE}),
    RunState.SAFE_STATE: frozenset({RunState.ABORTED, RunState.FAILED}),
    RunState.COMPLETED: frozenset(),
    RunState.ABORTED: frozenset(),
    RunState.FAILED: frozenset(),
}


def allowed(old: RunState, new: RunState) -> bool:
    return new in TRANSITIONS[RunState(old)]


class RunAborted(Exception):
    """Raised inside the run loop when an abort was requested."""


class _HoldRequested(Exception):
    """Raised while going to the safe state when the operator asked the supply to hold."""


class _Remeasure(Exception):
    """A suspender held a point; it has cleared and the point is to be measured again."""


@dataclass
class RunResult:
    path: Path
    status: str  # RunState.COMPLETED | ABORTED | FAILED (a str: "completed", ...)
    reason: str
    points: int
    started: str
    ended: str
    safe_state: str = ""
    #: False when the field was left away from the station's safe state (the safe-state
    #: ramp failed, or the operator told the supply to hold where it is)
    safe_state_reached: bool = True
    #: the signal that stopped the run ("SIGINT", "SIGTERM", ...; "" for none)
    interrupted_by: str = ""
    #: why it ended, as a word a program can test (ENDED_BY); the reason says it in words
    ended_by: str = "completed"


ENDED_BY = ("completed", "aborted", "interrupted", "quench", "instrument", "plan", "storage", "bug")

"""What every loopscope driver adds to a pymeasure Instrument: identity check, snapshot,
range validators that name the instrument, a resource name for messages, and a check of the
instrument's own error report after every command that changes it.

Error checks follow pymeasure's convention: ``check_errors()`` reads (and so empties) what the
instrument reports and returns it; ``check_set_errors()`` is what pymeasure's ``control``
properties call after a set when defined with ``check_set_errors=True``. Here it raises
``RefusedCommandError`` naming the instrument, every command written since the last check and
the instrument's own code and text, so that a refused setpoint is never silent. Drivers of
instruments with an error queue read ``SYST:ERR?`` until it answers code 0 (at most
MAX_ERROR_READS times); the others (``ERROR_QUERY = "*ESR?"``) read the standard event status
register once (reading clears it) and report its error bits with the manual's names.

Drivers subclass pymeasure's stock classes; this mixin goes first in the bases so its
``__setattr__`` can put the instrument's name and resource into a LimitError raised by a
validator inside a pymeasure ``control`` property.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Callable, Sequence

from loopscope.instruments.roles import InstrumentError, LimitError, RefusedCommandError

log = logging.getLogger(__name__)

#: SYST:ERR? reads one check makes at most: the queues here hold at most 15 entries, so an
#: instrument still reporting errors after this many is broken, not busy
MAX_ERROR_READS = 32
#: commands remembered for the message of the next check (the oldest are forgotten)
MAX_UNCHECKED = 16


def strict_limit(value: float, limits: Sequence[float]) -> float:
    """A pymeasure validator that refuses (never clamps) a value outside [lo, hi].

    Raises LimitError (a ValueError); LabInstrument adds instrument, resource and property."""
    lo, hi = limits
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"value {value!r} is not a number") from None
    if not lo <= number <= hi:  # NaN fails too
        raise LimitError(f"value {number:g} is outside the range [{lo:g}, {hi:g}]")
    return number


def strict_choice(value: Any, choices) -> Any:
    """A pymeasure validator that refuses a value not in choices (no rounding to the next one)."""
    if value not in choices:
        raise LimitError(f"value {value!r} is not one of {sorted(choices)!r}")
    return value


def parse_error_entry(reply: str, query: str = "SYST:ERR?") -> tuple[int, str]:
    """``-222,"Data out of range"`` -> (-222, "Data out of range"); ValueError if garbled."""
    text = reply.strip()
    code, sep, message = text.partition(",")
    try:
        number = int(float(code))
    except ValueError:
        raise ValueError(f"{query}: unparsable reply {reply!r}") from None
    if not sep and number != 0:
        raise ValueError(f"{query}: unparsable reply {reply!r} (no error text)")
    return number, message.strip().strip('"')


def format_errors(query: str, errors) -> str:
    if query == "*ESR?":
        return "*ESR? set " + ", ".join(f"bit {weight.bit_length() - 1} {name}"
                                        for weight, name in errors)
    return f"{query} answered " + "; ".join(f'{code},"{text}"' for code, text in errors)


def to_float(reply: Any, what: str) -> float:
    """pymeasure keeps an unparsable reply as a string; a garbled reply must be an error."""
    if isinstance(reply, (list, tuple)):
        if len(reply) != 1:
            raise ValueError(f"{what}: expected one number, got {reply!r}")
        reply = reply[0]
    try:
        return float(reply)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: unparsable reply {reply!r}") from None


class LabInstrument:
    """Mixin for pymeasure Instrument subclasses used by loopscope roles."""

    #: a regular expression the *IDN? reply must match (case-insensitive, searched from the
    #: start: anchor it with ^). Each driver names the real units' replies it was written from
    #: (manuals, recorded transcripts) next to its pattern; tests/instruments/test_identity.py
    #: holds them as a table, with wrong models that must be refused.
    IDN_PATTERN: str = ""
    #: the accepted *IDN? forms in words, for the refusal message
    IDN_EXPECTED: str = ""
    #: the model in the lab's words, for messages ("Kepco BOP 36-12")
    MODEL: str = ""
    #: property names recorded by snapshot(); each is read once
    SNAPSHOT_PROPERTIES: Sequence[str] = ()
    #: how the instrument reports a refused command: "SYST:ERR?" (an error queue, read until
    #: code 0) or "*ESR?" (no queue: the standard event status register, read once)
    ERROR_QUERY: str = "SYST:ERR?"
    #: *ESR? bits that mean a refused command, weight -> the manual's name (ERROR_QUERY *ESR?)
    ESR_ERROR_BITS: dict[int, str] = {32: "CME (command error)", 16: "EXE (execution error)",
                                      8: "DDE (device-dependent error)", 4: "QYE (query error)"}

    def __init__(self, adapter, *args, message_gap_s: float = 0.0, **kwargs):
        # message_gap_s: loopscope's own option (instruments.visa_interfaces), not pyvisa's
        super().__init__(adapter, *args, **kwargs)
        if message_gap_s > 0:
            from loopscope.instruments.visa_interfaces import pace_session
            pace_session(self.adapter.connection, message_gap_s)

    @property
    def resource(self) -> str:
        adapter = self.__dict__.get("adapter")
        return str(getattr(adapter, "resource_name", None) or "protocol")

    def who(self) -> str:
        return f"{self.MODEL or type(self).__name__} at {self.resource}"

    # pymeasure's CommonBase.__getattribute__ runs Python code on every attribute read (about
    # 24 per query) only to hide the bookkeeping names of dynamic properties, which live under
    # a reserved prefix anyway. Plain attribute lookup keeps a query round trip within a few
    # percent of bare pyvisa (benchmarks/bench_driver_roundtrip.py).
    __getattribute__ = object.__getattribute__

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except LimitError as exc:
            raise LimitError(f"{self.who()}: {name} = {value!r} refused: {exc}") from None

    # writes and the instrument's error report -------------------------------------------
    def write(self, command: str, **kwargs) -> None:
        super().write(command, **kwargs)
        if "?" not in command:    # a query's answer is its own check
            unchecked = self.__dict__.setdefault("_unchecked_commands", [])
            unchecked.append(command)
            del unchecked[:-MAX_UNCHECKED]

    def _take_unchecked(self) -> list[str]:
        unchecked = self.__dict__.get("_unchecked_commands") or []
        self.__dict__["_unchecked_commands"] = []
        return unchecked

    def check_errors(self) -> list[tuple[int, str]]:
        """Read what the instrument reports about refused commands, emptying the report.

        SYST:ERR? instruments: every queue entry up to code 0, as [(code, text)]. *ESR?
        instruments: the error bits of one *ESR? read, as [(bit weight, name)]. Reporting
        is not raising (pymeasure's convention): see check_set_errors()."""
        if self.ERROR_QUERY == "*ESR?":
            value = int(to_float(self.ask("*ESR?"), "*ESR?"))
            if not 0 <= value <= 255:
                raise ValueError(f"*ESR?: {value} is not a register value 0..255")
            return [(w, name) for w, name in sorted(self.ESR_ERROR_BITS.items(), reverse=True)
                    if value & w]
        errors: list[tuple[int, str]] = []
        for _ in range(MAX_ERROR_READS):
            code, text = parse_error_entry(self.ask(self.ERROR_QUERY), self.ERROR_QUERY)
            if code == 0:
                return errors
            errors.append((code, text))
        raise InstrumentError(
            f"{self.who()}: {self.ERROR_QUERY} still reports errors after {MAX_ERROR_READS} "
            f"reads ({format_errors(self.ERROR_QUERY, errors[-3:])}, ...)")

    def check_set_errors(self) -> list:
        """After a command that changes the instrument: raise RefusedCommandError if the
        instrument refused anything sent since the last check. pymeasure calls this after
        setting a ``control`` defined with ``check_set_errors=True``; the drivers' setpoint
        methods call it after their writes. Costs one query when nothing was refused."""
        commands = self._take_unchecked()
        errors = self.check_errors()
        if errors:
            sent = ", ".join(repr(c) for c in commands) or "(nothing since the last check)"
            detail = (f"the instrument refused {sent}: "
                      f"{format_errors(self.ERROR_QUERY, errors)}")
            raise RefusedCommandError(f"{self.who()}: {detail}", detail=detail,
                                      commands=commands, errors=errors)
        return errors

    def discard_stale_errors(self) -> list:
        """Read and forget what the instrument reported before this session's first
        setpoint (another program's mistakes, the power-on bit), so that the check after a
        setpoint reports only that setpoint. Queries only. Returns what was discarded."""
        self._take_unchecked()
        stale = self.check_errors()
        if stale:
            log.warning("%s: reported before this session's first setpoint (discarded): %s",
                        self.who(), format_errors(self.ERROR_QUERY, stale))
        return stale

    # identity ------------------------------------------------------------------------
    def identify(self) -> str:
        """Ask *IDN? (every instrument we drive answers it, SCPI or not)."""
        return self.ask("*IDN?").strip()

    @classmethod
    def identity_matches(cls, idn: str) -> bool:
        """Whether an *IDN? reply names the model this driver drives (nothing is sent)."""
        return not cls.IDN_PATTERN or re.search(cls.IDN_PATTERN, idn.strip(),
                                                re.IGNORECASE) is not None

    def check_identity(self) -> str:
        """Ask *IDN? and raise InstrumentError unless it names the model this driver drives.

        Only a query: nothing is written that could change the instrument."""
        idn = self.identify()
        if not self.identity_matches(idn):
            forms = f": {self.IDN_EXPECTED}" if self.IDN_EXPECTED else ""
            raise InstrumentError(
                f"wrong instrument at {self.resource}: *IDN? answered {idn!r}, "
                f"expected a {self.MODEL}{forms} (pattern {self.IDN_PATTERN!r})")
        self._idn = idn
        return idn

    # snapshot ------------------------------------------------------------------------
    def settings_snapshot(self) -> dict:
        out: dict = {}
        for prop in self.SNAPSHOT_PROPERTIES:
            value = getattr(self, prop)
            if isinstance(value, tuple):
                value = list(value)
            out[prop] = value
        return out

    def snapshot(self) -> dict:
        """Identity and settings, JSON-serialisable."""
        return {"model": self.MODEL, "resource": self.resource,
                "idn": self.identify(), "settings": self.settings_snapshot()}


def float_reply(what: str) -> Callable[[Any], float]:
    return lambda v: to_float(v, what)

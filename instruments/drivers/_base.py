"""What every loopscope driver adds to a pymeasure Instrument: identity check, snapshot,
range validators that name the instrument, and a resource name for messages.

Drivers subclass pymeasure's stock classes; this mixin goes first in the bases so its
``__setattr__`` can put the instrument's name and resource into a LimitError raised by a
validator inside a pymeasure ``control`` property.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from instruments.roles import InstrumentError, LimitError


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

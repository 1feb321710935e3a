"""Common machinery of the simulated instruments: line parsing, SCPI header matching,
error queue, noise generator. An instrument answers one command line with a reply string
(or None for no reply); the server adds the instrument's reply terminator."""
from __future__ import annotations

import re
from collections import deque

import numpy as np

#: lines kept in each instrument's command log (the oldest are dropped)
COMMAND_LOG_LENGTH = 10_000

_ALIASES = {"MAGNET": "MAG", "SUPPLY": "SUPP", "TARGET": "TARG", "LIMIT": "LIM", "QUENCH": "QU",
            "PSWITCH": "PS", "SEGMENTS": "SEG", "SEGMENT": "SEG", "LFREQUENCY": "LFR", "RJUNCTION": "RJUN",
            "RSELECT": "RSEL", "SIMULATED": "SIM", "RTEMPERATURE": "RTEM", "NPLCYCLES": "NPLC",
            "INSTALLED": "INST", "FIELD": "FIELD", "UNITS": "UNITS", "ERROR": "ERR", "NEXT": "NEXT"}
_VOWELS = set("AEIOU")


def short_node(node: str) -> str:
    """SCPI short form of one header node (long and short forms map to the same key)."""
    m = re.fullmatch(r"([A-Z*]+)(\d*)", node.upper())
    if not m:
        return node.upper()
    letters, digits = m.groups()
    if letters in _ALIASES:
        letters = _ALIASES[letters]
    elif len(letters) > 4:
        letters = letters[:3] if letters[3] in _VOWELS else letters[:4]
    return letters + digits


def normalize_header(header: str) -> str:
    h = header.strip().lstrip(":")
    q = h.endswith("?")
    if q:
        h = h[:-1]
    key = ":".join(short_node(n) for n in h.split(":") if n != "")
    return key + ("?" if q else "")


class CommandError(Exception):
    """Raised by a handler: goes to the error queue as (code, message)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def fmt(x: float) -> str:
    return f"{x:+.6E}"


class SimInstrument:
    """Base class. Subclasses set idn, reply_termination and fill ``commands``:
    a dict from normalized header (e.g. 'MEAS:CURR?') or regex (for suffix forms) to handler(args)."""

    name = ""
    model = ""
    idn = ""
    reply_termination = "\n"
    welcome: list[str] = []
    scpi = True      # SCPI header normalization; False: SRS/LakeShore style "NAME[?] args"

    def __init__(self, world, rng: np.random.Generator, params: dict | None = None):
        self.world = world
        self.rng = rng
        self.params = params or {}
        self.errors: list[tuple[int, str]] = []
        #: every line received, as (simulated time s, line), the last COMMAND_LOG_LENGTH of them:
        #: tests use it to prove what was (or that nothing was) sent
        self.command_log: deque[tuple[float, str]] = deque(maxlen=COMMAND_LOG_LENGTH)
        self.commands: dict = {}
        self.patterns: list = []
        self.register("*IDN?", lambda a: self.idn)
        self.register("*RST", lambda a: self.reset())
        self.register("*CLS", lambda a: self.errors.clear())
        self.register("*OPC?", lambda a: "1")
        self.register("*OPC", lambda a: None)
        self.register("*WAI", lambda a: None)
        self.register("*TST?", lambda a: "0")
        self.register("*ESR?", lambda a: "0")
        self.register("*STB?", lambda a: "0")
        self.register("*SRE", lambda a: None)
        self.register("*ESE", lambda a: None)
        if self.scpi:
            self.register("SYST:ERR?", lambda a: self.pop_error())
            self.register("SYST:ERR:NEXT?", lambda a: self.pop_error())
        self.setup()

    # ----------------------------------------------------------------- to override
    def setup(self) -> None:
        pass

    def reset(self) -> None:
        pass

    # ----------------------------------------------------------------- helpers
    def register(self, header: str, fn) -> None:
        key = normalize_header(header) if self.scpi else header.upper()
        self.commands[key] = fn

    def register_pattern(self, regex: str, fn) -> None:
        self.patterns.append((re.compile(regex, re.IGNORECASE), fn))

    def pop_error(self) -> str:
        if not self.errors:
            return '0,"No error"'
        code, msg = self.errors.pop(0)
        return f'{code},"{msg}"'

    def noise(self, sigma: float) -> float:
        return float(self.rng.normal(0.0, sigma)) if sigma > 0 else 0.0

    @staticmethod
    def floats(args: str) -> list[float]:
        try:
            return [float(x) for x in args.replace(" ", "").split(",") if x != ""]
        except ValueError:
            raise CommandError(-104, f"Data type error: {args!r}") from None

    def one_float(self, args: str) -> float:
        v = self.floats(args)
        if len(v) != 1:
            raise CommandError(-109, f"Missing parameter: {args!r}")
        return v[0]

    # ----------------------------------------------------------------- dispatch
    def split_line(self, line: str) -> list[str]:
        return [p.strip() for p in line.split(";") if p.strip()]

    def parse(self, cmd: str) -> tuple[str, str]:
        if self.scpi:
            m = re.match(r"^\s*([^\s]+)\s*(.*)$", cmd)
            return normalize_header(m.group(1)), m.group(2).strip()
        m = re.match(r"^\s*([A-Za-z*]+)\s*(\?)?\s*(.*)$", cmd)
        if not m:
            return cmd.upper(), ""
        return m.group(1).upper() + (m.group(2) or ""), m.group(3).strip()

    def handle_line(self, line: str) -> str | None:
        """Handle one received line (possibly several ';'-separated commands)."""
        with self.world.lock:
            self.world.advance()
            self.command_log.append((self.world.t, line))
            replies = []
            for cmd in self.split_line(line):
                try:
                    r = self.handle(cmd)
                except CommandError as exc:
                    self.errors.append((exc.code, exc.message))
                    r = None
                if r is not None:
                    replies.append(str(r))
            if not replies:
                return None
            return ";".join(replies)

    def handle(self, cmd: str):
        key, args = self.parse(cmd)
        fn = self.commands.get(key)
        if fn is not None:
            return fn(args)
        raw = cmd.strip().lstrip(":")
        for rx, fn in self.patterns:
            m = rx.fullmatch(raw)
            if m:
                return fn(*m.groups())
        raise CommandError(-113, f"Undefined header: {cmd!r}")

"""Common machinery of the simulated instruments: line parsing, SCPI header matching,
error queue and status registers, noise generator. An instrument answers one command line
with a reply string (or None for no reply); the server adds the instrument's reply terminator.

Errors. Handlers raise ``CommandError`` with a code of the SCPI standard error list (the
vocabulary every SCPI manual here uses): -104 data type, -109 missing parameter,
-113 undefined header, -221 settings conflict, -222 data out of range, -224 illegal parameter
value, -200 execution error. Each instrument turns that into its own manual's code and text
(``error_texts``; the AMI 430 has its own numbering) and then

- sets the standard event status register (*ESR?) bit of the error's class (``esr_bit``:
  SCPI -1xx command error bit 5, -2xx execution error bit 4, -3xx device error bit 3,
  -4xx query error bit 2; the AMI 430 classes its own codes differently);
- puts it in the error queue (``SYST:ERR?``) if the instrument has one: FIFO, at most
  ``error_queue_size`` entries; on overflow the newest entry is replaced by
  ``queue_overflow`` and later errors are dropped until one is read (SCPI's SYSTem:ERRor,
  as the Keithley, Kepco and AMI manuals describe it).

Instruments without an error queue (SR830/SR860, Lake Shore: ``error_queue_size = 0``) report
a refused command only through *ESR?. *ESR? reads and clears; *CLS clears the queue and the
event register (not the enable registers); *ESE/*SRE are stored and queryable; *STB? is
computed from the present state (``status_byte``); *RST resets the instrument's settings and,
as IEEE 488.2 has it for *RST, leaves the status registers and the queue alone. PON (bit 7) is set
at power-on, i.e. when the simulated lab starts.
"""
from __future__ import annotations

import re
from collections import deque

import numpy as np

#: lines kept in each instrument's command log (the oldest are dropped)
COMMAND_LOG_LENGTH = 10_000

_ALIASES = {"MAGNET": "MAG", "SUPPLY": "SUPP", "TARGET": "TARG", "LIMIT": "LIM", "QUENCH": "QU",
            "PSWITCH": "PS", "SEGMENTS": "SEG", "SEGMENT": "SEG", "LFREQUENCY": "LFR", "RJUNCTION": "RJUN",
            "RSELECT": "RSEL", "SIMULATED": "SIM", "RTEMPERATURE": "RTEM", "NPLCYCLES": "NPLC",
            "INSTALLED": "INST", "FIELD": "FIELD", "UNITS": "UNITS", "ERROR": "ERR", "NEXT": "NEXT",
            # the AMI 430's PSwitch:HeatTIME / :CoolTIME, short forms HTIME / CTIME (as truncated here)
            "HEATTIME": "HTIM", "COOLTIME": "CTIM"}
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
    """Raised by a handler: the instrument refuses the command.

    ``code`` is a SCPI standard code (the instrument translates it to its own manual's code
    and text) unless ``native`` is true, when code and message are the instrument's own."""

    def __init__(self, code: int, message: str = "", native: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.native = native
        self.query = False       # set by dispatch: the refused header was a query


class BinaryReply(str):
    """A reply that is an IEEE 488.2 binary block (latin-1 characters, one per byte): sent as
    it is, with no reply terminator (the SR860's CAPTUREGET? and the SR830's TRCB?/TRCL?
    end with the last data byte, as their manuals have it)."""


class LanAcknowledge(str):
    """The reply of a command that answers nothing, on an instrument whose USB/Ethernet
    interface still ends every command's (empty) response with its terminator (the Ametek
    7270's NUL): sent on the LAN socket, not on RS-232, where such a command sends nothing."""


def fmt(x: float) -> str:
    return f"{x:+.6E}"


#: SCPI standard error texts, the texts the Kepco and SCPI-style
#: manuals use; instruments override single entries in ``error_texts``
SCPI_ERRORS: dict[int, str] = {
    -100: "Command error", -102: "Syntax error", -104: "Data type error",
    -108: "Parameter not allowed", -109: "Missing parameter", -113: "Undefined header",
    -200: "Execution error", -221: "Settings conflict", -222: "Data out of range",
    -224: "Illegal parameter value", -300: "Device-specific error", -350: "Queue overflow",
}

# standard event status register bits (IEEE 488.2 11.5.1)
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME, ESR_PON = 1, 4, 8, 16, 32, 128
# status byte bits (IEEE 488.2; SCPI makes bit 2 "error/event queue not empty")
STB_EAV, STB_MAV, STB_ESB, STB_MSS = 4, 16, 32, 64


def scpi_esr_bit(code: int) -> int:
    """The *ESR? bit an error of this SCPI class sets."""
    if -199 <= code <= -100:
        return ESR_CME
    if -299 <= code <= -200:
        return ESR_EXE
    if -499 <= code <= -400:
        return ESR_QYE
    return ESR_DDE if code != 0 else 0      # -3xx and instrument-specific (positive) codes


class SimInstrument:
    """Base class. Subclasses set idn, reply_termination and fill ``commands``:
    a dict from normalized header (e.g. 'MEAS:CURR?') or regex (for suffix forms) to handler(args)."""

    name = ""
    model = ""
    idn = ""
    reply_termination = "\n"
    welcome: list[str] = []
    #: the query that names the model (*IDN? on all but the Ametek 7270, which answers ID)
    identity_query = "*IDN?"
    #: the RS-232 port of the real unit, per its manual, when the lab may serve the instrument
    #: over a serial pseudo-terminal (sim_devices/serial_port.py); None: no serial port modelled.
    #: baud_rate, data_bits, parity, stop_bits, flow_control as the station file spells them;
    #: reply_termination on that port; line_ends: the characters that end a received message
    serial_port: dict | None = None
    #: (minimum gap after an exchange in s, messages per second) the serial interface takes;
    #: a message sent sooner is lost (None: no limit)
    serial_pacing: tuple[float, int] | None = None
    scpi = True      # SCPI header normalization; False: SRS/LakeShore style "NAME[?] args"

    # error reporting, per manual (see the module docstring) -------------------------------
    #: entries the error queue holds; 0: no queue (no SYST:ERR?), errors only set *ESR? bits
    error_queue_size = 10
    #: SYST:ERR? with an empty queue
    no_error: tuple[int, str] = (0, "No error")
    #: what replaces the newest entry when the queue overflows
    queue_overflow: tuple[int, str] = (-350, "Queue overflow")
    #: the instrument's (code, text) for a SCPI code where its manual differs from SCPI_ERRORS
    error_texts: dict[int, tuple[int, str]] = {}
    #: the same for an undefined *query* header (the AMI 430 tells queries from commands)
    query_error_texts: dict[int, tuple[int, str]] = {}
    #: the instrument's own (code, text) for an *ESE/*SRE value outside 0..255 (None: -222)
    register_value_error: tuple[int, str] | None = None
    #: the *ESR? bit *OPC sets (0 where the manual has no OPC bit: the SR830's bit 0 is INP)
    esr_opc_bit = ESR_OPC
    #: *STB? bit for "error queue not empty" (0: none) and for "message available"
    stb_eav_bit = STB_EAV
    stb_mav_bit = STB_MAV

    def __init__(self, world, rng: np.random.Generator, params: dict | None = None):
        self.world = world
        self.rng = rng
        self.params = params or {}
        #: the error queue, oldest first: (code, text) as SYST:ERR? reports them
        self.errors: list[tuple[int, str]] = []
        self.esr = ESR_PON          # standard event status register; power-on sets PON
        self.ese = 0                # standard event status enable register
        self.sre = 0                # service request enable register
        self._output_pending = False  # a reply of this line is waiting (the MAV bit)
        #: every line received, as (simulated time s, line), the last COMMAND_LOG_LENGTH of them:
        #: tests use it to prove what was (or that nothing was) sent
        self.command_log: deque[tuple[float, str]] = deque(maxlen=COMMAND_LOG_LENGTH)
        self.commands: dict = {}
        self.patterns: list = []
        self.register("*IDN?", lambda a: self.idn)
        self.register("*RST", lambda a: self.reset())
        self.register("*CLS", lambda a: self.clear_status())
        self.register("*OPC?", lambda a: "1")
        self.register("*OPC", lambda a: self._set_esr(self.esr_opc_bit))
        self.register("*WAI", lambda a: None)
        self.register("*TST?", lambda a: "0")
        self.register("*ESR?", lambda a: str(self.read_esr()))
        self.register("*STB?", lambda a: str(self.status_byte()))
        self.register("*ESE", lambda a: setattr(self, "ese", self._register_value(a)))
        self.register("*ESE?", lambda a: str(self.ese))
        self.register("*SRE", lambda a: setattr(self, "sre", self._register_value(a) & ~STB_MSS))
        self.register("*SRE?", lambda a: str(self.sre))
        if self.scpi and self.error_queue_size:
            self.register("SYST:ERR?", lambda a: self.pop_error())
            self.register("SYST:ERR:NEXT?", lambda a: self.pop_error())
        self.setup()

    # ----------------------------------------------------------------- to override
    def setup(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def summary_bits(self) -> int:
        """Instrument-specific bits of *STB? (e.g. the 2182A's measurement summary, bit 0)."""
        return 0

    def status_byte(self) -> int:
        """*STB?: the summary bits of the present state; bit 6 (MSS) from the enabled ones."""
        stb = self.summary_bits()
        if self.errors:
            stb |= self.stb_eav_bit
        if self._output_pending:
            stb |= self.stb_mav_bit
        if self.esr & self.ese:
            stb |= STB_ESB
        if stb & self.sre & ~STB_MSS:
            stb |= STB_MSS
        return stb

    def esr_bit(self, code: int) -> int:
        """The *ESR? bit the instrument's own error code sets (SCPI classes by default)."""
        return scpi_esr_bit(code)

    # ----------------------------------------------------------------- errors and status
    def error_text(self, exc: CommandError) -> tuple[int, str]:
        """The instrument's own (code, text) for a refused command."""
        if exc.native:
            return exc.code, exc.message
        if exc.query and exc.code in self.query_error_texts:
            return self.query_error_texts[exc.code]
        if exc.code in self.error_texts:
            return self.error_texts[exc.code]
        return exc.code, SCPI_ERRORS.get(exc.code, exc.message)

    def push_error(self, code: int, text: str) -> None:
        """Record an error (the instrument's own code and text): its *ESR? bit, and the queue."""
        self._set_esr(self.esr_bit(code))
        if not self.error_queue_size:
            return
        if len(self.errors) < self.error_queue_size:
            self.errors.append((code, text))
        elif self.errors[-1] != self.queue_overflow:
            # the newest entry makes way for the overflow marker; later errors are lost
            # until one is read (the oldest stay: they explain what went wrong first)
            self.errors[-1] = self.queue_overflow
            self._set_esr(self.esr_bit(self.queue_overflow[0]))

    def refuse(self, exc: CommandError) -> None:
        self.push_error(*self.error_text(exc))

    def pop_error(self) -> str:
        code, msg = self.errors.pop(0) if self.errors else self.no_error
        return f'{code},"{msg}"'

    def read_esr(self) -> int:
        value, self.esr = self.esr, 0
        return value

    def clear_status(self) -> None:
        """*CLS: the error queue and the event register (not the enable registers)."""
        self.errors.clear()
        self.esr = 0

    def _set_esr(self, bit: int) -> None:
        self.esr |= bit

    def _register_value(self, a: str) -> int:
        v = self.one_float(a)
        if v != int(v) or not 0 <= v <= 255:
            if self.register_value_error is not None:
                raise CommandError(*self.register_value_error, native=True)
            raise CommandError(-222, f"register value {a!r} not an integer 0..255")
        return int(v)

    # ----------------------------------------------------------------- helpers
    def register(self, header: str, fn) -> None:
        key = normalize_header(header) if self.scpi else header.upper()
        self.commands[key] = fn

    def register_pattern(self, regex: str, fn) -> None:
        self.patterns.append((re.compile(regex, re.IGNORECASE), fn))

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

    def handle_line(self, line: str, refuse=None) -> str | None:
        """Handle one received line (possibly several ';'-separated commands).

        ``refuse(cmd)`` (an injected fault) returns true for a command the instrument is to
        refuse as out of range instead of executing it."""
        with self.world.lock:
            self.world.advance()
            self.command_log.append((self.world.t, line))
            replies = []
            for cmd in self.split_line(line):
                self._output_pending = bool(replies)
                try:
                    if refuse is not None and refuse(cmd):
                        raise CommandError(-222, "refused by an injected fault")
                    r = self.handle(cmd)
                except CommandError as exc:
                    self.refuse(exc)
                    r = None
                except ValueError:      # a handler's float()/int() of a malformed argument
                    self.refuse(CommandError(-104))
                    r = None
                except IndexError:      # a handler's args.split(",")[n] of a missing one
                    self.refuse(CommandError(-109))
                    r = None
                if r is not None:
                    replies.append(r if isinstance(r, BinaryReply) else str(r))
            self._output_pending = False
            if not replies:
                return None
            if len(replies) == 1 and isinstance(replies[0], BinaryReply):
                return replies[0]
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
        exc = CommandError(-113, f"Undefined header: {cmd!r}")
        exc.query = key.endswith("?")
        raise exc

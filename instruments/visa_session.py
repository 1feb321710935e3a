"""The VISA session behind every role: one place for connecting, locking and error mapping.

Every instrument exchange goes through ``VisaRole._io``, which

- serialises access (a role may run a background ramp thread next to the runner's reads),
- maps failures: pyvisa timeouts, garbled replies (ValueError while parsing), connection
  resets and closed sockets -> TransientInstrumentError; anything else -> InstrumentError;
  LimitError, QuenchError and InstrumentError raised on purpose pass through unchanged.
  Every message names role, station name, instrument model and resource;
- after a transient error, reopens the VISA session before the next exchange, so a reply
  that arrives late (a slow or garbled instrument) can never be read as the answer to the
  next question.

Writes that change an instrument (setpoints, outputs, heater, frequency, ...) go through
``VisaRole._setpoint_io``: the driver reads the instrument's error report after each of them
(SYST:ERR? or *ESR?, one query) and a refused command raises RefusedCommandError naming the
role, the command and the instrument's own code and text. Before a session's first setpoint
the role reads and logs what the instrument reported earlier, so that only its own commands
are blamed.

The roles of each instrument model live in instruments/roles/<model>.py, built on VisaRole;
instruments/registry.py maps a station file's ``driver:`` names to them. Roles are built from
a station entry (instruments.station.InstrumentConfig) by ``Role.from_config``; ``connect()``
opens the session and checks *IDN? without writing anything; settings are written only when a
method that changes the instrument is called.
"""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import pyvisa

from loopscope.instruments import visa_interfaces  # the interface options (serial, GPIB) of _open_driver
from loopscope.instruments.connect_checks import Finding, mismatches
from loopscope.instruments.drivers._base import LabInstrument
from loopscope.instruments.roles import (DeferredRead, InstrumentError, LimitError, PendingRead,
                               RefusedCommandError, Role, StopCheck, TransientInstrumentError)


class InterlockError(InstrumentError):
    """A safety interlock refused an action (nothing unsafe was sent)."""


#: failures worth a bounded retry: the instrument may answer next time
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    pyvisa.errors.VisaIOError, pyvisa.errors.InvalidSession, ValueError, KeyError,
    IndexError, OSError, EOFError)


@dataclass
class RoleContext:
    """What a role needs from the station as a whole."""

    time_scale: float = 1.0
    safe_state: str = "zero"
    visa_library: str = ""       # "" = pyvisa's choice, found once per process
    # Readings of one point are asked of every instrument before the first answer is read
    # (each instrument has its own session and buffers its reply). False for a bus where
    # that is not so, e.g. several instruments behind one serial GPIB adapter session.
    overlap_reads: bool = True
    # One run at a time per instrument (instruments.instrument_lock): the station's name for
    # the holder record, and how long connect() waits for another holder to let go
    station: str = ""
    lock_wait_s: float = 0.0


_VISA_LIBRARY_CACHE: dict[str, str] = {}


def resolve_visa_library(spec: str = "") -> str:
    """The VISA library to open sessions with.

    pyvisa's automatic choice ("") searches for a vendor VISA each time a ResourceManager is
    made (~0.1-0.3 s); pymeasure makes one per instrument. Resolve it once and reuse it."""
    if spec:
        return spec
    if "" not in _VISA_LIBRARY_CACHE:
        lib = pyvisa.ResourceManager().visalib
        path = str(getattr(lib, "library_path", ""))
        _VISA_LIBRARY_CACHE[""] = "@py" if path == "py" else path
    return _VISA_LIBRARY_CACHE[""]


@dataclass
class Setting:
    """A key allowed under ``settings:`` or ``limits:`` of a station entry."""

    kind: type | tuple = float          # float, int, bool, str
    default: Any = None
    required: bool = False
    positive: bool = False
    choices: tuple = ()
    doc: str = ""


def load_target(target: str):
    """"module:Class" -> the object."""
    import importlib
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _now() -> float:
    return time.monotonic()


class VisaRole(Role):
    """A role that owns one or more loopscope drivers over VISA."""

    #: station role kind: field_source, field_probe, flux_readout, lockin, thermometer
    KIND = ""
    #: allowed ``settings:`` keys
    SETTINGS: dict[str, Setting] = {}
    #: allowed ``limits:`` keys
    LIMITS: dict[str, Setting] = {}
    #: the driver ("module:Class") used when the station names none
    DRIVER: str = ""
    #: connect() refuses when the instrument's settings contradict the station
    refuse_mismatches: bool = True

    def __init__(self, name: str, resource: str, *, driver_cls: type | None = None,
                 settings: dict | None = None, limits: dict | None = None,
                 context: RoleContext | None = None, timeout_s: float = 2.0,
                 driver_name: str = "") -> None:
        self.name = name
        self.resource = resource
        self.driver_cls = driver_cls or load_target(self.DRIVER)
        self.driver_name = driver_name or getattr(self.driver_cls, "__name__", "")
        self.settings = _with_defaults(self.SETTINGS, settings or {})
        self.limit_values = _with_defaults(self.LIMITS, limits or {})
        self.context = context or RoleContext()
        self.timeout_s = float(timeout_s)
        self.driver: LabInstrument | None = None
        self.idn = ""
        self._lock = threading.RLock()
        self._stale = False
        self._instrument_locks: list = []  # held from connect() to close(), kept over reconnects
        self._reconnecting = False
        self._errors_read_on = None  # the driver session whose earlier errors were read
        #: what connect() read from the instrument (instruments.connect_checks.Finding)
        self.findings: list[Finding] = []

    @classmethod
    def from_config(cls, cfg, context: RoleContext, driver_cls: type | None = None):
        """Build (not connect) from an instruments.station.InstrumentConfig."""
        return cls(cfg.name, cfg.resource, driver_cls=driver_cls, settings=cfg.settings,
                   limits=cfg.limits, context=context, timeout_s=cfg.timeout_s,
                   driver_name=cfg.driver)

    # identity in messages ---------------------------------------------------------------
    @property
    def model(self) -> str:
        return getattr(self.driver_cls, "MODEL", "") or self.driver_name

    def who(self, resource: str | None = None) -> str:
        return f"{self.KIND} {self.name!r} ({self.model} at {resource or self.resource})"

    # connection ------------------------------------------------------------------------
    def driver_kwargs(self) -> dict:
        """Constructor keywords for the driver beyond the VISA ones (limits, channels)."""
        return {}

    def _open_driver(self, driver_cls: type, resource: str, **extra) -> LabInstrument:
        ms = int(self.timeout_s * 1000)
        try:
            library = resolve_visa_library(self.context.visa_library)
            driver = driver_cls(resource, visa_library=library, timeout=ms, open_timeout=ms,
                                **visa_interfaces.open_kwargs(self, driver_cls, resource),
                                **extra)
        except InstrumentError as exc:
            raise type(exc)(f"{self.who(resource)}: {exc}") from None
        except TRANSIENT_ERRORS as exc:
            raise TransientInstrumentError(
                f"{self.who(resource)}: cannot reach the instrument: {_describe(exc)}") from exc
        except Exception as exc:
            raise InstrumentError(
                f"{self.who(resource)}: cannot open the VISA session: {_describe(exc)}") from exc
        _disable_nagle(driver)
        try:
            with self._mapped("identity check (*IDN?)", resource):
                try:
                    driver.check_identity()
                except InstrumentError as exc:
                    raise type(exc)(f"{self.who(resource)}: {exc}") from None
        except BaseException:
            _quiet_close(driver)
            raise
        return driver

    def locked_resources(self) -> list[str]:
        """The resources this role drives, each locked from connect() to close()."""
        return [self.resource]

    def _take_instrument_locks(self) -> None:
        """Before a single byte goes out: refuse an instrument another process holds."""
        from loopscope.instruments.instrument_lock import acquire
        if self._instrument_locks:
            return  # a reconnect: still ours
        taken = []
        try:
            for resource in self.locked_resources():
                taken.append(acquire(resource, instrument=self.name, station=self.context.station,
                                     wait_s=self.context.lock_wait_s))
        except BaseException:
            for lock in taken:
                lock.release()
            raise
        self._instrument_locks = taken

    def _release_instrument_locks(self) -> None:
        locks, self._instrument_locks = self._instrument_locks, []
        for lock in locks:
            lock.release()

    def connect(self) -> None:
        """Take the instrument's lock, open the session, check *IDN?, then read the settings
        the role depends on and compare them with the station (``read_settings``): a
        mismatch refuses the connection (unless ``refuse_mismatches`` is False, as for
        ``loopscope station check``). Only queries are sent."""
        with self._lock:
            self._take_instrument_locks()
            try:
                self.driver = self._open_driver(self.driver_cls, self.resource,
                                                **self.driver_kwargs())
            except BaseException:
                if not self._reconnecting:
                    self._release_instrument_locks()
                raise
            self.idn = getattr(self.driver, "_idn", "")
            self._stale = False
            try:
                with self._mapped("read its settings at connect"):
                    self.findings = list(self.read_settings(self.driver))
                bad = mismatches(self.findings)
                if bad and self.refuse_mismatches:
                    raise InstrumentError(f"{self.who()}: " + "; ".join(f.message for f in bad)
                                          + " (loopscope station check lists every setting)")
            except BaseException:
                self.close()
                raise

    def read_settings(self, driver) -> list[Finding]:
        """Queries only: the settings this role depends on, each compared with the station.
        Roles of models with something to check override this."""
        return []

    def close(self) -> None:
        """Close the session(s) and give the instrument's lock back (kept over a reconnect)."""
        with self._lock:
            for drv in self._drivers():
                _quiet_close(drv)
            self.driver = None
            if not self._reconnecting:
                self._release_instrument_locks()

    def _drivers(self) -> list:
        return [d for d in (self.driver,) if d is not None]

    def reconnect(self) -> None:
        """Close and reopen the VISA session(s), checking *IDN? again. The instrument's lock
        is held throughout: no other process can slip in between."""
        with self._lock:
            self._reconnecting = True
            try:
                self.close()
                self.connect()
            finally:
                self._reconnecting = False

    # error mapping -----------------------------------------------------------------------
    @contextmanager
    def _mapped(self, action: str, resource: str | None = None) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            mapped = self._map_exception(action, exc, resource)
            if mapped is None:
                raise
            raise mapped from exc

    def begin_read(self, method: str) -> PendingRead:
        """Split readings: a role offers `_ask_<method>(driver)` returning (session, command,
        parse, resource), called under the role's lock before anything is sent; the reply is
        parsed by `parse(reply)` when the reading is finished (resource: named in errors)."""
        if not self.can_split_read(method):
            return DeferredRead(getattr(self, method))
        return _SplitRead(self, method, getattr(self, "_ask_" + method))

    def can_split_read(self, method: str) -> bool:
        return self.context.overlap_reads and hasattr(self, "_ask_" + method)

    def _io(self, action: str) -> "_Exchange":
        """``with self._io("read field") as driver:`` exchange with the instrument under the
        role lock, errors mapped; reopens the session first after a transient error."""
        return _Exchange(self, action)

    def _setpoint_io(self, action: str) -> "_Exchange":
        """As _io, for writes that change the instrument (the driver checks its error report
        after each). Before the session's first one, what the instrument reported earlier is
        read and logged (queries only), so that the checks blame only our own commands."""
        return _SetpointExchange(self, action)

    def _map_exception(self, action: str, exc: BaseException,
                       resource: str | None = None) -> BaseException | None:
        """The exception to raise instead of exc (None: raise exc unchanged)."""
        if isinstance(exc, RefusedCommandError) and not exc.located:
            return exc.located_at(f"{self.who(resource)}: {action}")
        if isinstance(exc, (InstrumentError, LimitError, NotImplementedError)):
            return None
        if isinstance(exc, TRANSIENT_ERRORS):
            self._stale = True
            return TransientInstrumentError(
                f"{self.who(resource)}: {action} failed: {_describe(exc)}")
        if isinstance(exc, Exception):
            return InstrumentError(f"{self.who(resource)}: {action} failed: {_describe(exc)}")
        return None

    # snapshot ------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        with self._io("snapshot") as drv:
            snap = drv.snapshot()
        return {"role": self.KIND, "driver": self.driver_name, "model": self.model,
                "resource": self.resource, "idn": snap["idn"], "settings": snap["settings"],
                "station_settings": dict(self.settings), "limits": dict(self.limit_values),
                "read_at_connect": [f.as_dict() for f in self.findings]}

    # waiting in (scaled) time ----------------------------------------------------------------
    @property
    def poll_interval_s(self) -> float:
        return max(0.005, 0.5 / self.context.time_scale)

    def _sleep(self, seconds: float, should_stop: StopCheck | None = None) -> bool:
        """Sleep wall-clock seconds; returns False early if should_stop() turns true."""
        end = _now() + seconds
        while True:
            if should_stop is not None and should_stop():
                return False
            left = end - _now()
            if left <= 0:
                return True
            time.sleep(min(left, self.poll_interval_s))


class _Exchange:
    """The context manager behind VisaRole._io (a class: cheaper than a generator per call)."""

    __slots__ = ("role", "action")

    def __init__(self, role: VisaRole, action: str) -> None:
        self.role = role
        self.action = action

    def __enter__(self) -> LabInstrument:
        _lock_session(self.role, self.action)
        return self.role.driver

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is not None:
                mapped = self.role._map_exception(self.action, exc)
                if mapped is not None:
                    raise mapped from exc
            return False
        finally:
            self.role._lock.release()


class _SetpointExchange(_Exchange):
    """The context manager behind VisaRole._setpoint_io."""

    __slots__ = ()

    def __enter__(self) -> LabInstrument:
        driver = super().__enter__()
        role = self.role
        if role._errors_read_on is not driver:
            try:
                driver.discard_stale_errors()
            except BaseException as exc:
                try:
                    mapped = role._map_exception(f"{self.action} (reading earlier errors)", exc)
                finally:
                    role._lock.release()
                if mapped is not None:
                    raise mapped from exc
                raise
            role._errors_read_on = driver
        return driver


def _lock_session(role: VisaRole, action: str) -> None:
    """Take the role's lock, reopening a stale session first; the lock is released again if
    that fails. `action` ("read_field_T" or "read field") names the exchange in errors."""
    role._lock.acquire()
    try:
        if role.driver is None or role._stale:
            with role._mapped(f"reconnect before {action.replace('_', ' ')}"):
                role.reconnect()
    except BaseException:
        role._lock.release()
        raise


class _SplitRead(PendingRead):
    """One reading asked now, answered at finish(): the role's lock is held in between, so
    nothing else can use the session while its reply is on the way."""

    __slots__ = ("role", "method", "session", "parse", "resource")

    def __init__(self, role: VisaRole, method: str, split) -> None:
        self.role, self.method, self.resource = role, method, None
        _lock_session(role, method)
        try:
            instrument, command, self.parse, self.resource = split(role.driver)
            # the instrument's VISA session itself: the question and its answer are one
            # exchange to us, and pymeasure's per-message layers cost more than the parse
            self.session = instrument.adapter.connection
            self.session.write(command)
        except BaseException as exc:
            self._fail(exc, self.resource)

    @property
    def action(self) -> str:  # for messages only: "read_field_T" -> "read field T"
        return self.method.replace("_", " ")

    def finish(self):
        try:
            value = self.parse(self.session.read())
        except BaseException as exc:
            self._fail(exc, self.resource)
        self.role._lock.release()
        return value

    def _fail(self, exc: BaseException, resource: str | None):
        try:
            mapped = self.role._map_exception(self.action, exc, resource)
        finally:
            self.role._lock.release()
        if mapped is not None:
            raise mapped from exc
        raise exc


def _with_defaults(spec: dict[str, Setting], given: dict) -> dict:
    out = {k: s.default for k, s in spec.items() if s.default is not None}
    out.update(given)
    return out


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, pyvisa.errors.VisaIOError):
        if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
            return f"VISA timeout ({text})"
        return f"VISA I/O error ({text})"
    return f"{type(exc).__name__}: {text}"


def _quiet_close(driver) -> None:
    try:
        driver.adapter.close()
    except Exception:  # closing a dead session must not hide the real error
        pass


def _disable_nagle(driver) -> None:
    """Set TCP_NODELAY on a pyvisa-py raw-socket session (pyvisa-py leaves it off and cannot
    set it through VI_ATTR_TCPIP_NODELAY). Without it a write followed by a query waits for
    the instrument's delayed ACK: about 40 ms per exchange on Linux, 60 times the round trip."""
    connection = getattr(getattr(driver, "adapter", None), "connection", None)
    try:
        session = connection.visalib.sessions[connection.session]
    except (AttributeError, KeyError, TypeError):
        return  # not pyvisa-py (a vendor VISA manages its own sockets) or not a session
    sock = getattr(session, "interface", None)
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

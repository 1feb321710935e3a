"""Concrete roles over real VISA: each wraps one loopscope driver and speaks SI.

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

Roles are built from a station entry (instruments.station.InstrumentConfig) by
``Role.from_config``; ``connect()`` opens the session and checks *IDN? without writing
anything; settings are written only when a method that changes the instrument is called.
"""
from __future__ import annotations

import math
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import pyvisa

from instruments import visa_interfaces  # the interface options (serial, GPIB) of _open_driver
from instruments.drivers._base import LabInstrument, to_float
from instruments.roles import (DeferredRead, FieldLimits, FieldProbe, FieldSource, FluxReadout,
                               InstrumentError, LimitError, LockIn, PendingRead, QuenchError,
                               RefusedCommandError, Role, StopCheck, Thermometer,
                               TransientInstrumentError)


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
                                **visa_interfaces.open_kwargs(self, driver_cls, resource),  # serial, GPIB options
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
        from instruments.instrument_lock import acquire
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
        """Take the instrument's lock, open the session and check *IDN?; writes nothing."""
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
                "station_settings": dict(self.settings), "limits": dict(self.limit_values)}

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


# ======================================================================================
# Field sources
# ======================================================================================

FIELD_LIMITS = {
    "max_field_T": Setting(float, required=True, positive=True),
    "max_current_A": Setting(float, required=True, positive=True),
    "max_ramp_rate_T_per_min": Setting(float, required=True, positive=True),
    "safe_ramp_rate_T_per_min": Setting(float, positive=True),
}


class _FieldSourceBase(VisaRole, FieldSource):
    KIND = "field_source"
    LIMITS = FIELD_LIMITS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        lv = self.limit_values
        self.limits = FieldLimits(
            max_field_T=float(lv["max_field_T"]), max_current_A=float(lv["max_current_A"]),
            max_ramp_rate_T_per_min=float(lv["max_ramp_rate_T_per_min"]),
            safe_ramp_rate_T_per_min=(None if lv.get("safe_ramp_rate_T_per_min") is None
                                      else float(lv["safe_ramp_rate_T_per_min"])))

    @property
    def safe_ramp_rate_T_per_min(self) -> float:
        rate = self.limits.safe_ramp_rate_T_per_min or self.limits.max_ramp_rate_T_per_min
        return min(rate, self.limits.max_ramp_rate_T_per_min)

    @property
    def coil_constant_T_per_A(self) -> float:
        raise NotImplementedError

    def check_setpoint(self, field_T: float, rate_T_per_min: float) -> None:
        """All limit checks, before anything is sent."""
        who = self.who()
        for label, value in (("field", field_T), ("ramp rate", rate_T_per_min)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not math.isfinite(value):
                raise LimitError(f"{who}: {label} {value!r} is not a finite number")
        self.limits.check_field(field_T, who)
        self.limits.check_current(field_T / self.coil_constant_T_per_A, who)
        self.limits.check_ramp_rate(rate_T_per_min, who)

    def _ramp_timeout_s(self, delta_T: float, rate_T_per_min: float) -> float:
        """Wall seconds a ramp may take before we call it stuck (generous)."""
        sim_s = abs(delta_T) / rate_T_per_min * 60.0
        return 3.0 * sim_s / self.context.time_scale + 10.0 * self.timeout_s + 5.0

    def wait_settled(self, timeout_s: float, should_stop: StopCheck | None = None) -> bool:
        """Poll is_settled(); False if stopped, InstrumentError on timeout."""
        end = _now() + timeout_s
        while not self.is_settled():
            if should_stop is not None and should_stop():
                return False
            if _now() > end:
                raise InstrumentError(
                    f"{self.who()}: not settled after {timeout_s:.1f} s (state {self.state()})")
            time.sleep(self.poll_interval_s)
        return True


class KepcoFieldSource(_FieldSourceBase):
    """A resistive (Helmholtz) coil on a Kepco BOP 36-12 in current mode.

    The BOP has no ramp generator: a new setpoint is reached as fast as the coil's L/R and
    the compliance voltage allow. ``start_ramp`` therefore steps the current setpoint in
    software from a background thread, at the requested rate in the lab's time (rate x
    time_scale in wall time), never faster; the thread writes a new setpoint every
    ``step_interval_s`` (lab seconds, at least 20 ms of wall time). The field the supply
    "makes" is coil_constant x measured output current.
    """

    DRIVER = "instruments.drivers.kepco_bop:KepcoBOP"

    SETTINGS = {
        "coil_constant_T_per_A": Setting(float, required=True, positive=True,
                                         doc="field at the sample per ampere"),
        "compliance_voltage_V": Setting(float, required=True, positive=True,
                                        doc="voltage limit (VOLT) written before a ramp"),
        "settle_tolerance_A": Setting(float, default=0.002, positive=True),
        "step_interval_s": Setting(float, default=0.1, positive=True),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._target_A = 0.0
        self._last_setpoint_A = 0.0
        self._prepared_driver = None  # the driver session start_ramp last prepared
        self._thread: threading.Thread | None = None
        self._stop_ramp = threading.Event()
        self._ramp_error: BaseException | None = None
        self._paused = False

    @property
    def coil_constant_T_per_A(self) -> float:
        return float(self.settings["coil_constant_T_per_A"])

    # readings -----------------------------------------------------------------------------
    def read_current_A(self) -> float:
        # the settle poll asks this over and over: the one-exchange path of the split readings
        return _SplitRead(self, "read_output_current", self._ask_read_current_A).finish()

    def read_field_T(self) -> float:
        return self.coil_constant_T_per_A * self.read_current_A()

    def read_field_and_current(self) -> tuple[float, float]:
        current = self.read_current_A()  # the field is the coil constant times it: one query
        return self.coil_constant_T_per_A * current, current

    def _ask_read_current_A(self, bop):
        query = bop.MEASURE_CURRENT
        return bop, query, lambda reply: to_float(reply, query), None

    def _ask_read_field_and_current(self, bop):
        k, query = self.coil_constant_T_per_A, bop.MEASURE_CURRENT

        def parse(reply: str) -> tuple[float, float]:
            current = to_float(reply, query)
            return k * current, current
        return bop, query, parse, None

    # ramping -------------------------------------------------------------------------------
    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        self.check_setpoint(field_T, rate_T_per_min)
        self._stop_thread()
        target_A = field_T / self.coil_constant_T_per_A
        if self._prepared_driver is not self.driver:
            # once per session (a reconnect opens a new one): current mode, compliance, output on
            with self._setpoint_io("prepare current mode") as bop:
                if bop.operating_mode != "CURR":
                    bop.operating_mode = "CURR"
                compliance = float(self.settings["compliance_voltage_V"])
                if abs(bop.voltage_setpoint - compliance) > 1e-6:
                    bop.voltage_setpoint = compliance
                if not bop.output_enabled:
                    bop.current_setpoint = 0.0
                    bop.output_enabled = True
                self._last_setpoint_A = bop.current_setpoint
                self._prepared_driver = bop
        start_A = self._last_setpoint_A
        self._target_A = target_A
        self._paused = False
        self._ramp_error = None
        rate_A_per_s = rate_T_per_min / 60.0 / self.coil_constant_T_per_A
        if abs(target_A - start_A) / rate_A_per_s <= float(self.settings["step_interval_s"]):
            # a change smaller than one software step at this rate: the step is the ramp
            # (the coil's L/R slew smooths it), so write it at once, with no thread to wait for
            with self._setpoint_io("write current setpoint") as bop:
                bop.current_setpoint = target_A
                self._last_setpoint_A = target_A
            return
        self._stop_ramp.clear()
        self._thread = threading.Thread(
            target=self._ramp_loop, args=(start_A, target_A, rate_A_per_s),
            name=f"ramp-{self.name}", daemon=True)
        self._thread.start()

    def _ramp_loop(self, start_A: float, target_A: float, rate_A_per_s: float) -> None:
        scale = self.context.time_scale
        interval = max(0.02, float(self.settings["step_interval_s"]) / scale)
        duration_lab = abs(target_A - start_A) / rate_A_per_s
        t0 = _now()
        try:
            while not self._stop_ramp.is_set():
                elapsed_lab = (_now() - t0) * scale
                if elapsed_lab >= duration_lab:
                    setpoint = target_A
                else:
                    setpoint = start_A + math.copysign(rate_A_per_s * elapsed_lab,
                                                       target_A - start_A)
                with self._setpoint_io("write current setpoint") as bop:
                    if self._stop_ramp.is_set():
                        return
                    bop.current_setpoint = setpoint
                    self._last_setpoint_A = setpoint
                if setpoint == target_A:
                    return
                self._stop_ramp.wait(interval)
        except BaseException as exc:  # surfaced by the next is_settled()/state()
            self._ramp_error = exc

    def _stop_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._stop_ramp.set()
            thread.join(timeout=5 * self.timeout_s + 1)
        self._thread = None

    def _raise_ramp_error(self) -> None:
        exc, self._ramp_error = self._ramp_error, None
        if exc is not None:
            raise exc

    @property
    def ramping(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_settled(self) -> bool:
        self._raise_ramp_error()
        if self.ramping:
            return False
        return abs(self.read_current_A() - self._target_A) <= self.settings["settle_tolerance_A"]

    def state(self) -> str:
        self._raise_ramp_error()
        if self.ramping:
            return "RAMPING"
        with self._io("read output state") as bop:
            if not bop.output_enabled:
                return "OUTPUT OFF"
            current = bop.current
        if self._paused:
            return "PAUSED"
        if abs(current - self._target_A) <= self.settings["settle_tolerance_A"]:
            return "HOLDING"
        return "SETTLING"

    def pause_ramp(self) -> None:
        self._stop_thread()
        with self._io("read current setpoint") as bop:
            self._target_A = bop.current_setpoint
        self._paused = True

    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        """Ramp to 0 A at the safe rate (a resistive coil cannot hold field unpowered, so
        ``safe_state: hold`` does not apply). The output is left on at 0 A: switching a
        BOP off into an inductive load would kick the coil."""
        self._stop_thread()
        self._ramp_error = None
        with self._io("read output state") as bop:
            if not bop.output_enabled:
                return f"{self.name}: output off, 0 T"
            start_A = bop.current
        start_T = start_A * self.coil_constant_T_per_A
        rate = self.safe_ramp_rate_T_per_min
        self.start_ramp(0.0, rate)
        if not self.wait_settled(self._ramp_timeout_s(start_T, rate), should_stop):
            return f"{self.name}: ramping from {start_T:.4g} T toward 0 T (stopped waiting)"
        return f"{self.name}: ramped from {start_T:.4g} T to 0 T at {rate:g} T/min"

    def close(self) -> None:
        self._stop_thread()
        super().close()

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["coil_constant_T_per_A"] = self.coil_constant_T_per_A
        return snap


class AMI430FieldSource(_FieldSourceBase):
    """A superconducting magnet on an AMI 430, with its persistent switch and interlocks.

    - units: connect reads FIELD:UNITS? and RAMP:RATE:UNITS? (never changes them) and every
      field and rate sent or read is converted from the supply's units; they are asked again
      before each setpoint, and a change by another client refuses that ramp (the driver
      adapts); connect also compares COIL? (in T/A), CURR:LIM? and the ramp segments with the
      station and refuses what disagrees (``connect``);
    - limits: target field, implied current and ramp rate are checked before anything is
      sent (LimitError), and again by the driver;
    - heater ON is refused while supply and magnet currents differ (the driver checks);
    - heater waits: after switching the heater the role waits at least the station's
      ``heater_warmup_s`` / ``heater_cooldown_s`` (divided by time_scale) and until STATE?
      leaves HEATING / COOLING; nothing else is sent to the supply meanwhile;
    - with a switch installed and the heater off, ``start_ramp`` refuses (it would only move
      the leads); ``start_lead_ramp`` moves the leads on purpose;
    - quench: STATE? 7, QU? 1, or |VOLT:MAG?| above ``quench_voltage_V`` raise QuenchError;
      after a quench nothing is re-energised;
    - safe state: ``zero`` ramps to 0 T at the safe rate (first matching the leads and
      switching the heater on if the magnet is persistent); ``hold`` leaves the magnet
      persistent at its field (heater off, leads to 0 A) or, without a switch, pauses.
    """

    DRIVER = "instruments.drivers.ami430:AMI430"

    SETTINGS = {
        "coil_constant_T_per_A": Setting(float, positive=True,
                                         doc="checked against COIL? at connect; read from it "
                                             "when absent"),
        "persistent_switch": Setting(bool, default=False),
        "heater_warmup_s": Setting(float, default=20.0),
        "heater_cooldown_s": Setting(float, default=20.0),
        "quench_voltage_V": Setting(float, positive=True),
        "mismatch_tolerance_A": Setting(float, default=0.05, positive=True),
        "field_tolerance_T": Setting(float, default=1e-4, positive=True),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.has_persistent_switch = bool(self.settings["persistent_switch"])
        self._coil_T_per_A: float | None = self.settings.get("coil_constant_T_per_A")
        self._target_T = 0.0
        #: what connect() found in the supply: its units, coil constant, current limit and
        #: ramp segments, each in its own units and in SI, with how they compare to the station
        self.supply: dict = {}
        #: with several ramp segments, their upper bounds in T: the role writes its rate into
        #: each, keeping the bounds; [] (one segment): segment 1, bounded by the field limit
        self._segment_bounds_T: list[float] = []

    def driver_kwargs(self) -> dict:
        return {"max_field_T": self.limits.max_field_T,
                "max_current_A": self.limits.max_current_A,
                "max_ramp_rate_T_per_min": self.limits.max_ramp_rate_T_per_min}

    def connect(self) -> None:
        """Open the session, check *IDN?, then read (queries only, nothing is changed) the
        supply's units, coil constant, current limit and ramp segments and compare them with
        the station: the role adapts to the units; a coil constant that differs, a current
        limit below what the station allows or a ramp segment slower than the station's
        maximum rate refuse the connection."""
        super().connect()
        self.driver.mismatch_tolerance_A = float(self.settings["mismatch_tolerance_A"])
        changes = self.supply.get("unit_changes")
        try:
            self.supply = self._read_supply(self.driver)
            if changes:
                self.supply["unit_changes"] = changes
        except BaseException:
            self.close()
            raise

    def _read_supply(self, ami) -> dict:
        from instruments.drivers.ami430 import FIELD_UNITS, RATE_TIME_UNITS
        who = self.who()
        with self._mapped("read units (FIELD:UNITS?, RAMP:RATE:UNITS?)"):
            field_code, rate_code = ami.read_units()
        fu, ru = ami.field_unit, ami.rate_unit
        report: dict = {
            "field_units": {"FIELD:UNITS": field_code, "unit": FIELD_UNITS[field_code]},
            "ramp_rate_units": {"RAMP:RATE:UNITS": rate_code,
                                "unit": f"per {RATE_TIME_UNITS[rate_code]}", "rate_unit": ru},
            "notes": []}
        notes = report["notes"]
        # coil constant: COIL? is in kG/A or T/A; compare like with like, in T/A
        with self._mapped("read coil constant (COIL?)"):
            coil_raw = ami.coilconst
        reported = ami.to_tesla(coil_raw)
        if not reported > 0:
            raise InstrumentError(f"{who}: coil constant: COIL? answered {coil_raw!r} {fu}/A; the "
                                  f"supply has no coil constant, so its fields mean nothing")
        report["coil_constant"] = {"COIL?": coil_raw, "unit": f"{fu}/A", "T_per_A": reported}
        configured = self.settings.get("coil_constant_T_per_A")
        if configured is not None and abs(reported - configured) > 0.01 * configured:
            raise InstrumentError(
                f"{who}: coil constant: the supply's {reported:g} T/A (COIL? = {coil_raw:g} "
                f"{fu}/A, FIELD:UNITS {field_code} = {fu}) differs from the station's "
                f"coil_constant_T_per_A {configured:g} T/A by more than 1 %; fields would be "
                f"wrong. Fix the station file or the supply")
        self._coil_T_per_A = reported
        # current limit: the supply refuses targets above it; the station must not allow more
        with self._mapped("read current limit (CURR:LIM?)"):
            limit_A = ami.current_limit
        lim = self.limits
        allowed_A = min(lim.max_current_A, lim.max_field_T / reported)
        report["current_limit"] = {"CURR:LIM?": limit_A, "A": limit_A,
                                   "station_allows_A": allowed_A}
        if allowed_A > limit_A * (1 + 1e-9):
            raise InstrumentError(
                f"{who}: current limit: the station allows {allowed_A:g} A (max_current_A "
                f"{lim.max_current_A:g} A, max_field_T {lim.max_field_T:g} T at "
                f"{reported:g} T/A) but the supply's current limit is {limit_A:g} A (CURR:LIM?); "
                f"the supply would refuse those targets. Lower the station's limits to "
                f"{limit_A:g} A ({limit_A * reported:g} T) or raise the supply's")
        notes.append(f"current: the station's {allowed_A:g} A governs; the supply's own limit "
                     f"is {limit_A:g} A (CURR:LIM?)")
        report["ramp_segments"] = self._read_segments(ami, notes)
        return report

    def _read_segments(self, ami, notes: list) -> list:
        """Read RAMP:RATE:SEG? and every segment; refuse a ramp profile slower than the station.

        The role ramps with one rate: into segment 1 (the field limit as its bound) when the
        supply uses one segment, into every segment (their bounds kept) when it uses several.
        Segments within the station's field range that all have one rate hold no profile: that
        rate is the last ramp's setting, which the role overwrites. Different rates there are a
        ramp profile (slower at high field, as a magnet's maker specifies): the station's
        maximum rate must not exceed the slowest of them."""
        who, lim = self.who(), self.limits
        with self._mapped("read ramp segments (RAMP:RATE:SEG?)"):
            count = ami.ramp_segments
        if not 1 <= count <= 10:
            raise InstrumentError(f"{who}: ramp segments: RAMP:RATE:SEG? answered {count}, "
                                  f"not 1 to 10")
        segments, lower_T = [], 0.0
        for n in range(1, count + 1):
            with self._mapped(f"read ramp segment {n} (RAMP:RATE:FIELD:{n}?)"):
                rate, upper = ami.ramp_segment_field(n)
            seg = {"segment": n, "RAMP:RATE:FIELD?": [rate, upper], "unit": ami.rate_unit,
                   "rate_T_per_min": ami.rate_to_T_per_min(rate), "from_T": lower_T,
                   "to_T": ami.to_tesla(upper) if n < count else None,
                   "upper_T": ami.to_tesla(upper), "in_station_range": lower_T < lim.max_field_T}
            segments.append(seg)
            if n < count:
                lower_T = max(lower_T, ami.to_tesla(upper))
        in_range = [s for s in segments if s["in_station_range"]]
        rates = {s["RAMP:RATE:FIELD?"][0] for s in in_range}
        self._segment_bounds_T = [s["upper_T"] for s in segments] if count > 1 else []
        where = "every segment, keeping their bounds" if count > 1 else "segment 1"
        if len(in_range) <= 1 or len(rates) == 1:
            notes.append(
                f"ramp rate: the supply ramps at {in_range[0]['rate_T_per_min']:g} T/min up to "
                f"the station's {lim.max_field_T:g} T (its last setting, no profile); the role "
                f"writes its own rate (<= {lim.max_ramp_rate_T_per_min:g} T/min) into {where}")
            return segments
        for seg in in_range:
            if lim.max_ramp_rate_T_per_min > seg["rate_T_per_min"] * (1 + 1e-9):
                span = (f"{seg['from_T']:g} T to "
                        + (f"{seg['to_T']:g} T" if seg["to_T"] is not None else "the limit"))
                rate, upper = seg["RAMP:RATE:FIELD?"]
                raise InstrumentError(
                    f"{who}: ramp segments: the station's max_ramp_rate_T_per_min "
                    f"{lim.max_ramp_rate_T_per_min:g} T/min is above the supply's ramp segment "
                    f"{seg['segment']} ({span}) rate {seg['rate_T_per_min']:g} T/min "
                    f"(RAMP:RATE:FIELD:{seg['segment']}? = {rate:g} {seg['unit']}, up to "
                    f"{upper:g} {ami.field_unit}); the role ramps with one rate and would exceed "
                    f"it there. Lower max_ramp_rate_T_per_min to "
                    f"{min(s['rate_T_per_min'] for s in in_range):g} T/min or change the "
                    f"supply's segments")
        notes.append(
            f"ramp rate: the supply's {len(in_range)} ramp segments within "
            f"{lim.max_field_T:g} T allow {min(s['rate_T_per_min'] for s in in_range):g} T/min "
            f"or more, at least the station's {lim.max_ramp_rate_T_per_min:g} T/min: the "
            f"station's limit governs; the role writes its rate into {where}")
        return segments

    @property
    def coil_constant_T_per_A(self) -> float:
        if self._coil_T_per_A is None:
            with self._io("read coil constant") as ami:
                self._coil_T_per_A = ami.coil_constant_T_per_A
        return self._coil_T_per_A

    # readings ---------------------------------------------------------------------------
    def read_field_T(self) -> float:
        with self._io("read field") as ami:
            return ami.field_T

    def read_current_A(self) -> float:
        with self._io("read supply current") as ami:
            return ami.supply_current

    def read_magnet_current_A(self) -> float:
        with self._io("read magnet current") as ami:
            return ami.magnet_current

    def _state_code(self) -> int:
        with self._io("read state") as ami:
            return ami.state

    def state(self) -> str:
        from instruments.drivers.ami430 import STATE_WORDS
        code = self._state_code()
        return STATE_WORDS.get(code, f"STATE {code}")

    def switch_heater_is_on(self) -> bool:
        if not self.has_persistent_switch:
            return False
        with self._io("read switch heater") as ami:
            return ami.persistent_switch_heater_on

    # quench --------------------------------------------------------------------------------
    def quench_reason(self) -> str:
        """Empty when no quench; else what gave it away."""
        from instruments.drivers.ami430 import QUENCH
        with self._io("quench check") as ami:
            if ami.state == QUENCH:
                return "STATE? reports QUENCH"
            if ami.quench_detected:
                return "QU? reports a quench"
            threshold = self.settings.get("quench_voltage_V")
            if threshold is not None:
                volts = ami.magnet_voltage
                if abs(volts) > threshold:
                    return (f"magnet voltage {volts:g} V exceeds the quench threshold "
                            f"{threshold:g} V")
        return ""

    def check_quench(self) -> None:
        reason = self.quench_reason()
        if reason:
            raise QuenchError(f"{self.who()}: magnet quench: {reason}; not re-energising")

    # ramps ------------------------------------------------------------------------------------
    def _send_ramp(self, field_T: float, rate_T_per_min: float, action: str) -> None:
        from instruments.drivers.ami430 import COOLING, HEATING
        self.check_quench()
        with self._setpoint_io(action) as ami:
            code = ami.state
            if code in (HEATING, COOLING):
                raise InterlockError(f"{self.who()}: refusing to ramp while the persistent "
                                     f"switch is {'heating' if code == HEATING else 'cooling'}")
            self._confirm_units(ami, action)
            rate = ami.rate_from_T_per_min(rate_T_per_min)
            if self._segment_bounds_T:
                for n, upper_T in enumerate(self._segment_bounds_T, start=1):
                    ami.set_segment_rate(n, rate, ami.from_tesla(upper_T))
            else:
                ami.ramp_rate_field = rate
            ami.target_field = ami.from_tesla(field_T)
            ami.ramp()
        self._target_T = field_T

    def _confirm_units(self, ami, action: str) -> None:
        """Before a setpoint goes out: the units must still be those read at connect.

        Another client (the front panel, a QCoDeS session) may change them at any time; a
        setpoint in the wrong unit is 10x (kG/T) or 60x (per s/min) off. On a change the driver
        adapts to the new units and this ramp is refused: readings since the last check may be
        wrong, which a person should know. The next ramp (the safe state's) goes out right."""
        from instruments.drivers.ami430 import FIELD_UNITS, RATE_TIME_UNITS
        before = ami.units
        after = ami.read_units()
        if after != before:
            def words(units):
                return (f"FIELD:UNITS {units[0]} ({FIELD_UNITS[units[0]]}), RAMP:RATE:UNITS "
                        f"{units[1]} (per {RATE_TIME_UNITS[units[1]]})") if units else "unknown"
            self.supply.setdefault("unit_changes", []).append({"from": before, "to": after})
            raise InstrumentError(
                f"{self.who()}: {action} refused: the supply's units changed from {words(before)} "
                f"to {words(after)} since they were read (another client?); readings since then "
                f"may be wrong. Now adapted to the new units")

    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        self.check_setpoint(field_T, rate_T_per_min)
        if self.has_persistent_switch and not self.switch_heater_is_on():
            raise InterlockError(
                f"{self.who()}: refusing to ramp to {field_T:g} T: the persistent-switch "
                f"heater is off, so the magnet is persistent and only the leads would move. "
                f"Call enter_driven_mode() (matches the leads, heater on) first, or "
                f"start_lead_ramp() to move the leads on purpose")
        self._send_ramp(field_T, rate_T_per_min, f"start ramp to {field_T:g} T")

    def start_lead_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        """Ramp the supply (the leads) with the heater off: the magnet keeps its current."""
        self.check_setpoint(field_T, rate_T_per_min)
        if not self.has_persistent_switch:
            raise InterlockError(f"{self.who()}: no persistent switch: the leads are the magnet")
        if self.switch_heater_is_on():
            raise InterlockError(f"{self.who()}: refusing a lead ramp with the heater on "
                                 f"(it would ramp the magnet)")
        self._send_ramp(field_T, rate_T_per_min, f"start lead ramp to {field_T:g} T")

    def is_settled(self) -> bool:
        from instruments.drivers.ami430 import AT_ZERO, HOLDING, QUENCH
        code = self._state_code()
        if code == QUENCH:
            self.check_quench()
        return code in (HOLDING, AT_ZERO)

    def pause_ramp(self) -> None:
        with self._setpoint_io("pause") as ami:
            ami.pause()

    # persistent switch ------------------------------------------------------------------------
    def _wait_switch(self, transitional: int, minimum_s: float, what: str,
                     should_stop: StopCheck | None = None) -> None:
        scale = self.context.time_scale
        self._sleep(minimum_s / scale, should_stop)
        deadline = _now() + (3.0 * minimum_s + 30.0) / scale + 10 * self.timeout_s
        while self._state_code() == transitional:
            if should_stop is not None and should_stop():
                return
            if _now() > deadline:
                raise InstrumentError(f"{self.who()}: persistent switch still {what} after "
                                      f"{3 * minimum_s + 30:g} s (lab time)")
            time.sleep(self.poll_interval_s)
        self.check_quench()

    def switch_heater_on(self, should_stop: StopCheck | None = None) -> None:
        """Heater on (refused on a current mismatch), then wait for the switch to go normal."""
        from instruments.drivers.ami430 import HEATING, RAMPING, ZEROING
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        self.check_quench()
        if self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater on") as ami:
            if ami.state in (RAMPING, ZEROING):
                raise InterlockError(f"{self.who()}: refusing heater on while the leads ramp")
            try:
                ami.enable_persistent_switch()
            except RefusedCommandError:
                raise               # the supply said no: its own words, not our interlock
            except InstrumentError as exc:
                raise InterlockError(str(exc)) from None
        self._wait_switch(HEATING, float(self.settings["heater_warmup_s"]), "heating",
                          should_stop)

    def switch_heater_off(self, should_stop: StopCheck | None = None) -> None:
        """Heater off (only while holding), then wait for the switch to go superconducting."""
        from instruments.drivers.ami430 import COOLING, RAMPING, ZEROING
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        if not self.switch_heater_is_on():
            return
        with self._setpoint_io("switch heater off") as ami:
            if ami.state in (RAMPING, ZEROING):
                raise InterlockError(f"{self.who()}: refusing heater off while ramping")
            ami.disable_persistent_switch()
        self._wait_switch(COOLING, float(self.settings["heater_cooldown_s"]), "cooling",
                          should_stop)

    def enter_driven_mode(self, should_stop: StopCheck | None = None) -> str:
        """From persistent mode: ramp the leads to the magnet current, then heater on."""
        if not self.has_persistent_switch or self.switch_heater_is_on():
            return f"{self.name}: already driven"
        self.check_quench()
        magnet_A = self.read_magnet_current_A()
        field_T = magnet_A * self.coil_constant_T_per_A
        rate = self.safe_ramp_rate_T_per_min
        if abs(self.read_current_A() - magnet_A) > float(self.settings["mismatch_tolerance_A"]):
            self.start_lead_ramp(field_T, rate)
            delta = abs(self.read_current_A() - magnet_A) * self.coil_constant_T_per_A
            if not self.wait_settled(self._ramp_timeout_s(delta, rate), should_stop):
                return f"{self.name}: leads ramping toward {field_T:.4g} T (stopped waiting)"
        self.switch_heater_on(should_stop)
        return f"{self.name}: driven at {field_T:.4g} T (leads matched, heater on)"

    def in_persistent_mode(self) -> bool:
        """True when the switch is closed (heater off) on a magnet carrying field."""
        if not self.has_persistent_switch or self.switch_heater_is_on():
            return False
        magnet_T = self.read_magnet_current_A() * self.coil_constant_T_per_A
        return abs(magnet_T) > float(self.settings["field_tolerance_T"])

    def leave_persistent_mode(self, should_stop: StopCheck | None = None) -> str:
        """The runner's name for enter_driven_mode()."""
        return self.enter_driven_mode(should_stop)

    def enter_persistent_mode(self, should_stop: StopCheck | None = None,
                              zero_leads: bool = True) -> str:
        """Heater off (waits for the switch), then ramp the leads to zero."""
        if not self.has_persistent_switch:
            raise NotImplementedError(f"{self.name} has no persistent switch")
        field_T = self.read_field_T()
        self.switch_heater_off(should_stop)
        if zero_leads:
            supply_T = self.read_current_A() * self.coil_constant_T_per_A
            rate = self.safe_ramp_rate_T_per_min
            self.start_lead_ramp(0.0, rate)
            if not self.wait_settled(self._ramp_timeout_s(supply_T, rate), should_stop):
                return f"{self.name}: persistent at {field_T:.4g} T, leads ramping to 0 A"
        return f"{self.name}: held at {field_T:.4g} T in persistent mode, leads at 0 A"

    # safe state ----------------------------------------------------------------------------------
    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        reason = self.quench_reason()
        if reason:
            return (f"{self.name}: magnet quenched ({reason}); left untouched: inspect the "
                    f"magnet and clear the quench at the supply by hand")
        if self.context.safe_state == "hold":
            if self.has_persistent_switch:
                if self.switch_heater_is_on():
                    self.pause_ramp()
                return self.enter_persistent_mode(should_stop)
            self.pause_ramp()
            return f"{self.name}: ramp paused at {self.read_field_T():.4g} T (no persistent switch)"
        # zero
        tol = float(self.settings["field_tolerance_T"])
        if self.has_persistent_switch and not self.switch_heater_is_on():
            magnet_T = self.read_magnet_current_A() * self.coil_constant_T_per_A
            if abs(magnet_T) <= tol:
                supply_T = self.read_current_A() * self.coil_constant_T_per_A
                if abs(supply_T) > tol:
                    rate = self.safe_ramp_rate_T_per_min
                    self.start_lead_ramp(0.0, rate)
                    self.wait_settled(self._ramp_timeout_s(supply_T, rate), should_stop)
                return f"{self.name}: at 0 T (persistent switch closed, leads at 0 A)"
            account = self.enter_driven_mode(should_stop)
            if not self.switch_heater_is_on():
                return account
        start_T = self.read_field_T()
        rate = self.safe_ramp_rate_T_per_min
        self._send_ramp(0.0, rate, "ramp to zero (safe state)")
        if not self.wait_settled(self._ramp_timeout_s(start_T, rate), should_stop):
            return f"{self.name}: ramping from {start_T:.4g} T toward 0 T (stopped waiting)"
        return f"{self.name}: ramped from {start_T:.4g} T to 0 T at {rate:g} T/min"

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["coil_constant_T_per_A"] = self.coil_constant_T_per_A
        snap["has_persistent_switch"] = self.has_persistent_switch
        snap["supply"] = self.supply
        return snap


# ======================================================================================
# Field probe, flux readout, lock-ins, thermometer
# ======================================================================================

class LakeShore425Probe(VisaRole, FieldProbe):
    """A Hall probe on a Lake Shore 425; reads in T whatever UNIT the front panel shows."""

    DRIVER = "instruments.drivers.lakeshore425:LakeShore425"

    KIND = "field_probe"

    def read_field_T(self) -> float:
        with self._io("read field") as gm:
            return gm.field_T

    def _ask_read_field_T(self, gm):
        scale = gm.tesla_per_unit  # UNIT? (once) before the question, not between it and its reply
        return gm, gm.READ_FIELD, lambda reply: gm.field_T_from_reply(reply, scale), None


class SquidFluxReadout(VisaRole, FluxReadout):
    """A SQUID behind a flux-locked loop, its output read by a Keithley 2182A.

    flux [Phi0] = V / (V per Phi0), V per Phi0 asked from the controller (VPHI?) at
    connect and after every change made through this role; ``volts_per_phi0`` in the
    station settings overrides it (for controllers that cannot report it).
    """

    DRIVER = "instruments.drivers.squid_fll:SquidFLL"

    KIND = "flux_readout"
    SETTINGS = {
        "volts_per_phi0": Setting(float, positive=True),
        "check_lock_each_read": Setting(bool, default=False),
    }

    def __init__(self, *args, voltmeter_resource: str = "", voltmeter_cls: type | None = None,
                 **kwargs) -> None:
        from instruments.drivers.keithley2182 import Keithley2182
        super().__init__(*args, **kwargs)
        self.voltmeter_resource = voltmeter_resource
        self.voltmeter_cls = voltmeter_cls or Keithley2182
        self.voltmeter: LabInstrument | None = None
        self._v_per_phi0: float | None = None

    @classmethod
    def from_config(cls, cfg, context, driver_cls=None):
        from instruments.drivers import resolve_driver
        vm_cls = resolve_driver(cfg.voltmeter_driver).driver_cls
        return cls(cfg.name, cfg.resource, driver_cls=driver_cls, settings=cfg.settings,
                   limits=cfg.limits, context=context, timeout_s=cfg.timeout_s,
                   driver_name=cfg.driver, voltmeter_resource=cfg.voltmeter_resource,
                   voltmeter_cls=vm_cls)

    def _drivers(self) -> list:
        return [d for d in (self.driver, self.voltmeter) if d is not None]

    def locked_resources(self) -> list[str]:
        return [r for r in (self.resource, self.voltmeter_resource) if r]

    def connect(self) -> None:
        with self._lock:
            super().connect()
            try:
                self.voltmeter = self._open_driver(self.voltmeter_cls, self.voltmeter_resource)
                self._v_per_phi0 = None
                self._refresh_v_per_phi0()
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        with self._lock:
            super().close()
            self.voltmeter = None

    def _refresh_v_per_phi0(self) -> None:
        override = self.settings.get("volts_per_phi0")
        if override is not None:
            self._v_per_phi0 = float(override)
            return
        with self._mapped("read V per Phi0 (VPHI?)"):
            value = self.driver.volts_per_phi0
        if not value > 0:
            raise InstrumentError(f"{self.who()}: controller reports {value!r} V per Phi0")
        self._v_per_phi0 = value

    @property
    def volts_per_phi0(self) -> float:
        if self._v_per_phi0 is None:
            with self._io("read V per Phi0"):
                self._refresh_v_per_phi0()
        return self._v_per_phi0

    def read_voltage_V(self) -> float:
        with self._io("read FLL output voltage"):
            if self.settings["check_lock_each_read"] and not self.driver.locked:
                raise InstrumentError(f"{self.who()}: the flux-locked loop is unlocked")
            with self._mapped("read voltage (:READ?)", self.voltmeter_resource):
                volts = self.voltmeter.voltage
        return self._checked_volts(volts)

    def _checked_volts(self, volts: float) -> float:
        if abs(volts) >= getattr(self.voltmeter_cls, "OVERFLOW_V", math.inf):
            raise InstrumentError(
                f"{self.who(self.voltmeter_resource)}: voltmeter overflow ({volts:g}): the "
                f"flux-locked-loop output is beyond the 2182A range")
        return volts

    def read_flux_phi0(self) -> float:
        volts = self.read_voltage_V()
        return volts / self.volts_per_phi0

    def can_split_read(self, method: str) -> bool:
        if self.settings["check_lock_each_read"] or not hasattr(self.voltmeter_cls, "READ_VOLTAGE"):
            return False  # two exchanges, or an unknown voltmeter
        return super().can_split_read(method)

    def _ask_read_flux_phi0(self, fll):
        if self._v_per_phi0 is None:
            self._refresh_v_per_phi0()  # before the question, under the same lock
        v_per_phi0, query = self._v_per_phi0, self.voltmeter.READ_VOLTAGE
        return self.voltmeter, query, lambda reply: self._checked_volts(to_float(reply, query)) / v_per_phi0, \
            self.voltmeter_resource

    def is_locked(self) -> bool:
        with self._io("read lock state") as fll:
            return bool(fll.locked)

    def reset_lock(self) -> None:
        with self._setpoint_io("reset the flux-locked loop") as fll:
            fll.reset()
            self._refresh_v_per_phi0()

    def set_gain(self, gain: float) -> None:
        with self._setpoint_io("set gain") as fll:
            fll.gain = gain
            self._refresh_v_per_phi0()

    def set_feedback_ohm(self, ohm: float) -> None:
        with self._setpoint_io("set feedback resistor") as fll:
            fll.feedback_ohm = ohm
            self._refresh_v_per_phi0()

    def set_locked(self, locked: bool) -> None:
        with self._setpoint_io("lock" if locked else "unlock") as fll:
            fll.locked = bool(locked)

    def snapshot(self) -> dict:
        snap = super().snapshot()
        with self._io("voltmeter snapshot"):
            with self._mapped("voltmeter snapshot", self.voltmeter_resource):
                vm = self.voltmeter.snapshot()
        snap["voltmeter"] = {"driver": self.voltmeter_cls.__name__, **vm}
        snap["volts_per_phi0"] = self._v_per_phi0
        return snap


LOCKIN_LIMITS = {
    "min_frequency_Hz": Setting(float, positive=True),
    "max_frequency_Hz": Setting(float, positive=True),
}


class _LockInBase(VisaRole, LockIn):
    KIND = "lockin"
    LIMITS = LOCKIN_LIMITS

    def read_xy_V(self) -> tuple[float, float]:
        with self._io("read X, Y") as li:
            return li.xy_V

    def set_frequency_Hz(self, frequency_Hz: float) -> None:
        lo = self.limit_values.get("min_frequency_Hz", 0.0)
        hi = self.limit_values.get("max_frequency_Hz", math.inf)
        if not isinstance(frequency_Hz, (int, float)) or not lo <= frequency_Hz <= hi:
            raise LimitError(f"{self.who()}: frequency {frequency_Hz!r} Hz is outside the "
                             f"station limits [{lo:g}, {hi:g}] Hz")
        with self._setpoint_io(f"set frequency {frequency_Hz:g} Hz") as li:
            li.frequency = frequency_Hz

    def read_frequency_Hz(self) -> float:
        with self._io("read frequency") as li:
            return li.frequency

    def read_time_constant_s(self) -> float:
        with self._io("read time constant") as li:
            return float(li.time_constant)


class SR830LockIn(_LockInBase):
    """An SR830 reading the cantilever."""

    DRIVER = "instruments.drivers.sr830:SR830"


class SR860LockIn(_LockInBase):
    """An SR860 reading the cantilever."""

    DRIVER = "instruments.drivers.sr860:SR860"


class LakeShore336Thermometer(VisaRole, Thermometer):
    """A Lake Shore 336 loop: one input read, one heater output regulated on it."""

    DRIVER = "instruments.drivers.lakeshore336:LakeShore336"

    KIND = "thermometer"
    SETTINGS = {
        "input": Setting(str, default="A", choices=("A", "B", "C", "D")),
        "output": Setting(int, default=1, choices=(1, 2, 3, 4)),
    }
    LIMITS = {"max_temperature_K": Setting(float, required=True, positive=True)}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_temperature_K = float(self.limit_values["max_temperature_K"])

    def driver_kwargs(self) -> dict:
        return {"input_channel": self.settings["input"],
                "output_channel": int(self.settings["output"]),
                "max_temperature_K": self.max_temperature_K}

    def read_temperature_K(self) -> float:
        with self._io("read temperature") as tc:
            return tc.temperature_K

    def _ask_read_temperature_K(self, tc):
        return tc, tc.read_temperature_command, lambda reply: to_float(reply, "KRDG?"), None

    def set_setpoint_K(self, temperature_K: float) -> None:
        if not isinstance(temperature_K, (int, float)) or isinstance(temperature_K, bool) \
                or not 0 <= temperature_K <= self.max_temperature_K:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K is outside "
                             f"[0, {self.max_temperature_K:g}] K (max_temperature_K)")
        with self._setpoint_io(f"set setpoint {temperature_K:g} K") as tc:
            tc.set_setpoint_K(temperature_K)

    def read_setpoint_K(self) -> float:
        with self._io("read setpoint") as tc:
            return tc.setpoint_K

    def set_heater_range(self, word: str) -> None:
        from instruments.drivers.lakeshore336 import HEATER_RANGES
        if word not in HEATER_RANGES:
            raise LimitError(f"{self.who()}: heater range {word!r} is not one of "
                             f"{list(HEATER_RANGES)}")
        with self._setpoint_io(f"set heater range {word}") as tc:
            tc.set_heater_range(word)

    def read_heater_range(self) -> str:
        with self._io("read heater range") as tc:
            return tc.heater_range

    def snapshot(self) -> dict:
        snap = super().snapshot()
        snap["max_temperature_K"] = self.max_temperature_K
        return snap


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

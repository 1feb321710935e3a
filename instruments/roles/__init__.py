"""Role interfaces: what the sweep engine needs from an instrument, in the lab's language.

The runner (daq) talks only to these roles, never to a driver. A role wraps one driver (a
pymeasure Instrument) and converts its units to SI: tesla, ampere, kelvin, volt, second.
Concrete roles live in instruments/roles/<model>.py, on the VISA session machinery of
instruments/visa_session.py; in-memory roles for tests and benchmarks
implement the same classes.

Every method that talks to an instrument may raise InstrumentError (or a subclass): the
runner retries TransientInstrumentError a bounded number of times and treats anything
else as a failure that ends in the safe state.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable


class InstrumentError(RuntimeError):
    """An instrument misbehaved. The message names the instrument and its resource."""


class TransientInstrumentError(InstrumentError):
    """A timeout, a garbled reply or a dropped connection: worth a bounded retry."""


class LimitError(ValueError):
    """A setpoint outside the station's limits. Raised before anything is sent."""


class QuenchError(InstrumentError):
    """The magnet quenched. Never re-energise on our own."""


class RefusedCommandError(InstrumentError):
    """The instrument refused a command it was sent: its error queue (SYST:ERR?) or its
    standard event status register (*ESR?) said so right after. Not transient: the same
    command would be refused again.

    ``commands``: what was sent since the previous check; ``errors``: what the instrument
    reported, as (code, text) (for *ESR?: (bit weight, bit name)); ``detail``: the message
    without the instrument's name, for a role to put its own in front."""

    def __init__(self, message: str, *, detail: str = "", commands=(), errors=(),
                 located: bool = False) -> None:
        super().__init__(message)
        self.detail = detail or message
        self.commands = tuple(commands)
        self.errors = tuple(errors)
        self.located = located   # the message already names the role

    def located_at(self, where: str) -> "RefusedCommandError":
        return RefusedCommandError(f"{where}: {self.detail}", detail=self.detail,
                                   commands=self.commands, errors=self.errors, located=True)


@dataclass(frozen=True)
class FieldLimits:
    """Hard limits of a field source, from the station file. A plan can ask for less, never more."""

    max_field_T: float
    max_current_A: float
    max_ramp_rate_T_per_min: float
    safe_ramp_rate_T_per_min: float | None = None  # rate used on the way to the safe state

    def check_field(self, field_T: float, who: str) -> None:
        if not abs(field_T) <= self.max_field_T:
            raise LimitError(
                f"{who}: field {field_T:g} T is outside the limit of ±{self.max_field_T:g} T")

    def check_current(self, current_A: float, who: str) -> None:
        if not abs(current_A) <= self.max_current_A:
            raise LimitError(
                f"{who}: current {current_A:g} A is outside the limit of ±{self.max_current_A:g} A")

    def check_ramp_rate(self, rate_T_per_min: float, who: str) -> None:
        if not 0 < rate_T_per_min <= self.max_ramp_rate_T_per_min:
            raise LimitError(
                f"{who}: ramp rate {rate_T_per_min:g} T/min is outside (0, "
                f"{self.max_ramp_rate_T_per_min:g}] T/min")


StopCheck = Callable[[], bool]


class Role(ABC):
    """Common to every role: a name from the station file, a snapshot, a way to close."""

    #: the role's name in the station file, e.g. "field_source"
    name: str = ""
    #: the VISA resource (or "memory" for in-memory roles)
    resource: str = ""

    @abstractmethod
    def snapshot(self) -> dict:
        """Identity (*IDN?) and every setting that matters, JSON-serialisable, SI units."""

    def close(self) -> None:
        """Release the connection. Never changes the instrument's output."""

    def reconnect(self) -> None:
        """Open the connection again after a drop. Default: nothing to do."""

    def can_split_read(self, method: str) -> bool:
        """True when begin_read(method) sends the question at once and leaves the answer
        for finish(): only then is asking several instruments together worth it."""
        return False

    def begin_read(self, method: str) -> "PendingRead":
        """Start the reading `method` (e.g. "read_field_T"): the question goes out now and
        `.finish()` returns the value, so that several instruments can be asked before the
        first one answers. finish() must be called exactly once. A role that cannot split
        the exchange (the default) does the whole reading in finish()."""
        return DeferredRead(getattr(self, method))


class PendingRead:
    def finish(self):
        raise NotImplementedError


class DeferredRead(PendingRead):
    """A reading done entirely when it is finished."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[], Any]) -> None:
        self.read = read

    def finish(self):
        return self.read()


class FieldSource(Role):
    """A coil or magnet supply seen as a source of field at the sample."""

    limits: FieldLimits
    #: field at the sample per ampere of supply current (from the station file)
    coil_constant_T_per_A: float = 1.0
    #: True when the hardware has a persistent switch (superconducting magnet supplies)
    has_persistent_switch: bool = False

    @abstractmethod
    def read_field_T(self) -> float:
        """The field the supply believes it makes (coil constant x output current)."""

    @abstractmethod
    def read_current_A(self) -> float:
        """The supply's output current."""

    def read_field_and_current(self) -> tuple[float, float]:
        """(field_T, current_A) in as few exchanges as the hardware allows."""
        return self.read_field_T(), self.read_current_A()

    @abstractmethod
    def start_ramp(self, field_T: float, rate_T_per_min: float) -> None:
        """Begin ramping toward field_T at rate_T_per_min; returns at once.

        Raises LimitError (nothing sent) for a field or rate beyond the limits."""

    @abstractmethod
    def is_settled(self) -> bool:
        """True when the supply holds at its target (AMI: HOLDING; BOP: output at setpoint)."""

    @abstractmethod
    def state(self) -> str:
        """The supply's own state word, e.g. RAMPING, HOLDING, PAUSED, QUENCH, AT ZERO."""

    def pause_ramp(self) -> None:
        """Hold the present field. Default: nothing (supplies that step instantly)."""

    def check_quench(self) -> None:
        """Raise QuenchError if the supply reports a quench. Default: never quenches."""

    @abstractmethod
    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        """Bring the field to a safe state at the safe rate, respecting heater rules.

        Returns a one-line account of what was done ("ramped to 0 T", "held at 3 T in
        persistent mode", ...). Must not raise for a supply that is already safe."""

    # persistent mode; only for supplies with has_persistent_switch
    def switch_heater_on(self) -> None:
        raise NotImplementedError(f"{self.name} has no persistent switch")

    def switch_heater_off(self) -> None:
        raise NotImplementedError(f"{self.name} has no persistent switch")

    def switch_heater_is_on(self) -> bool:
        return False

    def enter_persistent_mode(self, should_stop: StopCheck | None = None) -> None:
        """Heater off (wait for the switch to cool), then ramp the leads to zero.

        The magnet keeps its current; the supply ends at zero output."""
        raise NotImplementedError(f"{self.name} has no persistent switch")

    def leave_persistent_mode(self, should_stop: StopCheck | None = None) -> None:
        """Ramp the leads to the magnet's current, then heater on (wait for it to warm).

        Interlock: refuses (InstrumentError) if the currents do not match when the heater
        would go on; a mismatch with the heater on can quench the magnet."""
        raise NotImplementedError(f"{self.name} has no persistent switch")

    def in_persistent_mode(self) -> bool:
        """True when the switch is cold (heater off) with current trapped in the magnet."""
        return False

    def read_magnet_current_A(self) -> float:
        """The current in the magnet (differs from the supply current in persistent mode)."""
        return self.read_current_A()


class FieldProbe(Role):
    """A magnetometer (Hall gaussmeter) reading the field at the sample."""

    @abstractmethod
    def read_field_T(self) -> float:
        """The measured field. Raises InstrumentError on overload."""


class FluxReadout(Role):
    """A SQUID behind a flux-locked loop, read through a voltmeter."""

    @abstractmethod
    def read_flux_phi0(self) -> float:
        """The flux through the SQUID in units of the superconducting flux quantum h/2e."""

    def read_voltage_V(self) -> float:
        """The raw flux-locked-loop output voltage."""
        raise NotImplementedError

    def reset_lock(self) -> None:
        """Reset the flux-locked loop (clears integrator, re-locks)."""


class LockIn(Role):
    """A lock-in amplifier reading the cantilever."""

    @abstractmethod
    def read_xy_V(self) -> tuple[float, float]:
        """In-phase and quadrature outputs in volts."""

    @abstractmethod
    def set_frequency_Hz(self, frequency_Hz: float) -> None:
        """Set the reference (drive) frequency."""

    @abstractmethod
    def read_frequency_Hz(self) -> float:
        """The reference frequency."""

    def read_time_constant_s(self) -> float:
        """The output filter time constant; settling needs several of them."""
        return 0.0


class Thermometer(Role):
    """A temperature controller: reads the sample temperature, may hold a setpoint."""

    @abstractmethod
    def read_temperature_K(self) -> float:
        """The sample temperature."""

    def set_setpoint_K(self, temperature_K: float) -> None:
        raise NotImplementedError(f"{self.name} cannot regulate temperature")

    def read_setpoint_K(self) -> float:
        raise NotImplementedError(f"{self.name} cannot regulate temperature")

    max_temperature_K: float = float("inf")


@dataclass(frozen=True)
class SourceMeterLimits:
    """Hard limits of a source-meter, from the station file: checked before anything is sent."""

    max_current_A: float
    max_voltage_V: float

    def check_current(self, current_A: float, who: str) -> None:
        if not isinstance(current_A, (int, float)) or not abs(current_A) <= self.max_current_A:
            raise LimitError(f"{who}: current {current_A!r} A is outside the limit of "
                             f"±{self.max_current_A:g} A")

    def check_compliance(self, voltage_V: float, who: str) -> None:
        if not isinstance(voltage_V, (int, float)) or not 0 < voltage_V <= self.max_voltage_V:
            raise LimitError(f"{who}: compliance {voltage_V!r} V is outside (0, "
                             f"{self.max_voltage_V:g}] V")


class SourceMeter(Role):
    """A source-meter on a sample: sources a current, reads the voltage it develops and the
    current that flows (the two differ in compliance: the voltage is clamped at the
    compliance and the current is what that voltage drives)."""

    limits: SourceMeterLimits

    @abstractmethod
    def set_current_A(self, current_A: float) -> None:
        """Source this current. LimitError (nothing sent) beyond the station's limit. With the
        output on, the change is made in steps no larger than the role's step, never a jump."""

    @abstractmethod
    def read_voltage_and_current(self) -> tuple[float, float]:
        """(voltage_V, current_A) of one reading; needs the output on."""

    def read_voltage_V(self) -> float:
        return self.read_voltage_and_current()[0]

    def read_current_A(self) -> float:
        return self.read_voltage_and_current()[1]

    @abstractmethod
    def set_compliance_V(self, voltage_V: float) -> None:
        """The voltage the source may reach; LimitError beyond the station's max_voltage_V."""

    @abstractmethod
    def read_compliance_V(self) -> float:
        """The voltage compliance in force."""

    def in_compliance(self) -> bool:
        """Whether the last reading was clamped by the compliance."""
        return False

    @abstractmethod
    def output_on(self) -> None:
        """Switch the output on: at 0 A, then stepped to the current set while it was off."""

    @abstractmethod
    def output_off(self) -> None:
        """Step the current to 0 A, then switch the output off."""

    @abstractmethod
    def output_is_on(self) -> bool:
        """The output state."""

    def iv_curve(self, currents_A, should_stop: StopCheck | None = None):
        """Source each current in turn and read the sample: returns (current_A array, voltage_V
        array) as measured. Every current is checked against the limits before anything is
        sent. The output is switched on (from 0 A) if it was off; afterwards the source steps
        back to 0 A and the output is left as it was found. ``last_iv_compliance`` holds the
        compliance flag of each point. ``should_stop()`` ends the curve early (the arrays then
        hold the points taken)."""
        import numpy as np
        points = [float(c) for c in np.atleast_1d(np.asarray(currents_A, dtype=float))]
        for c in points:
            self.limits.check_current(c, self.name)
        was_on = self.output_is_on()
        if not was_on:
            self.output_on()
        measured_I, measured_V, flags = [], [], []
        try:
            for c in points:
                if should_stop is not None and should_stop():
                    break
                self.set_current_A(c)
                v, i = self.read_voltage_and_current()
                measured_V.append(v)
                measured_I.append(i)
                flags.append(self.in_compliance())
        finally:
            if was_on:
                self.set_current_A(0.0)
            else:
                self.output_off()
        self.last_iv_compliance = np.asarray(flags, dtype=bool)
        return np.asarray(measured_I, dtype=float), np.asarray(measured_V, dtype=float)

    @abstractmethod
    def go_to_safe_state(self, should_stop: StopCheck | None = None) -> str:
        """Source to zero, then the output off. Returns a one-line account; must not raise
        for a source-meter that is already safe."""


#: the role kinds a station file names, and the interface each stands for
ROLE_CLASSES = {"field_source": FieldSource, "field_probe": FieldProbe, "flux_readout": FluxReadout,
                "lockin": LockIn, "thermometer": Thermometer, "source_meter": SourceMeter}
ROLE_KINDS = tuple(ROLE_CLASSES)


def role_kind(role: Role) -> str:
    """The station kind of a role object ("field_source", ...)."""
    for kind, cls in ROLE_CLASSES.items():
        if isinstance(role, cls):
            return kind
    raise TypeError(f"{role!r} is none of the role kinds {ROLE_KINDS}")

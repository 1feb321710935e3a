"""Instant in-memory instruments: a station with no I/O at all.

For dry runs of a plan (`loopscope run PLAN --dry-run`), for tests of the sweep engine's
logic, and for measuring the engine's own overhead per point. The physics here is
deliberately minimal (the simulated lab in sim_devices is the physics-true one): the field
is wherever it was last set, the probe reads it, the SQUID sees a periodic flux.
"""
from __future__ import annotations

import math

from loopscope.instruments.roles import (FieldLimits, FieldProbe, FieldSource, FluxReadout, InstrumentError, LockIn,
                               SourceMeter, SourceMeterLimits, Thermometer, TransientInstrumentError)


class _FaultMixin:
    """Make the next `n` calls of any method fail with a transient (or permanent) error."""

    fail_next = 0
    fail_permanently = False

    def _maybe_fail(self, what: str) -> None:
        if self.fail_permanently:
            raise InstrumentError(f"{self.name} (memory): {what}: instrument dead")
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TransientInstrumentError(f"{self.name} (memory): {what}: injected timeout")


class MemoryFieldSource(_FaultMixin, FieldSource):
    def __init__(self, name="field_source", limits: FieldLimits | None = None, coil_constant_T_per_A=0.01,
                 persistent_switch=False):
        self.name, self.resource = name, "memory"
        self.limits = limits or FieldLimits(max_field_T=1.0, max_current_A=100.0, max_ramp_rate_T_per_min=10.0)
        self.coil_constant_T_per_A = coil_constant_T_per_A
        self.has_persistent_switch = persistent_switch
        self.field_T = 0.0
        self.magnet_field_T = 0.0
        self.heater_on = not persistent_switch
        self.quenched = False
        self.history: list[tuple[str, float]] = []

    def snapshot(self):
        return {"driver": "memory", "resource": "memory", "role": "field_source", "idn": "loopscope,memory-source",
                "coil_constant_T_per_A": self.coil_constant_T_per_A}

    def read_field_T(self):
        self._maybe_fail("read field")
        return self.magnet_field_T if self.has_persistent_switch else self.field_T

    def read_current_A(self):
        self._maybe_fail("read current")
        return self.field_T / self.coil_constant_T_per_A

    def read_magnet_current_A(self):
        return self.magnet_field_T / self.coil_constant_T_per_A

    def start_ramp(self, field_T, rate_T_per_min):
        self.limits.check_field(field_T, self.name)
        self.limits.check_ramp_rate(rate_T_per_min, self.name)
        self.limits.check_current(field_T / self.coil_constant_T_per_A, self.name)
        self._maybe_fail("start ramp")
        if self.has_persistent_switch and not self.heater_on:
            raise InstrumentError(f"{self.name}: heater is off; ramping would only move the leads")
        self.field_T = field_T
        self.magnet_field_T = field_T
        self.history.append(("ramp", field_T))

    def is_settled(self):
        self._maybe_fail("state")
        return True

    def state(self):
        return "QUENCH" if self.quenched else "HOLDING"

    def check_quench(self):
        if self.quenched:
            from loopscope.instruments.roles import QuenchError
            raise QuenchError(f"{self.name}: quench")

    def go_to_safe_state(self, should_stop=None):
        if self.has_persistent_switch and not self.heater_on:
            self.field_T = self.magnet_field_T
            self.heater_on = True
        self.field_T = 0.0
        self.magnet_field_T = 0.0
        self.history.append(("safe", 0.0))
        return "ramped to 0 T"

    def switch_heater_is_on(self):
        return self.heater_on

    def in_persistent_mode(self):
        return self.has_persistent_switch and not self.heater_on and self.magnet_field_T != 0

    def enter_persistent_mode(self, should_stop=None):
        self.heater_on = False
        self.field_T = 0.0
        self.history.append(("persistent", self.magnet_field_T))

    def leave_persistent_mode(self, should_stop=None):
        self.field_T = self.magnet_field_T
        self.heater_on = True
        self.history.append(("leave_persistent", self.magnet_field_T))


class MemoryFieldProbe(_FaultMixin, FieldProbe):
    def __init__(self, source: MemoryFieldSource, name="field_probe"):
        self.name, self.resource, self.source = name, "memory", source

    def snapshot(self):
        return {"driver": "memory", "resource": "memory", "role": "field_probe", "idn": "loopscope,memory-probe"}

    def read_field_T(self):
        self._maybe_fail("read field")
        return self.source.magnet_field_T if self.source.has_persistent_switch else self.source.field_T


class MemoryFluxReadout(_FaultMixin, FluxReadout):
    """Flux = a linear background plus an h/e-periodic ring signal (period in tesla)."""

    def __init__(self, source: MemoryFieldSource, name="flux_readout", period_T=0.0146, amplitude_phi0=1e-3,
                 background_phi0_per_T=0.05):
        self.name, self.resource, self.source = name, "memory", source
        self.period_T, self.amplitude_phi0, self.background = period_T, amplitude_phi0, background_phi0_per_T

    def snapshot(self):
        return {"driver": "memory", "resource": "memory", "role": "flux_readout", "idn": "loopscope,memory-squid"}

    def read_flux_phi0(self):
        self._maybe_fail("read flux")
        b = self.source.field_T
        return self.background * b + self.amplitude_phi0 * math.sin(2 * math.pi * b / self.period_T)


class MemoryLockIn(_FaultMixin, LockIn):
    """A driven oscillator seen by a lock-in: X, Y of a Lorentzian; phase 0 below, 90 at, 180 deg above resonance."""

    def __init__(self, name="lockin", f0_Hz=2000.0, q=5000.0, amplitude_V=1e-3):
        self.name, self.resource = name, "memory"
        self.f0, self.q, self.amplitude = f0_Hz, q, amplitude_V
        self.frequency = f0_Hz

    def snapshot(self):
        return {"driver": "memory", "resource": "memory", "role": "lockin", "idn": "loopscope,memory-lockin"}

    def read_xy_V(self):
        self._maybe_fail("read X,Y")
        f, f0 = self.frequency, self.f0
        z = self.amplitude * f0 * f0 / complex(f0 * f0 - f * f, -f * f0 / self.q)
        return z.real, z.imag

    def set_frequency_Hz(self, frequency_Hz):
        self.frequency = float(frequency_Hz)

    def read_frequency_Hz(self):
        return self.frequency

    def read_time_constant_s(self):
        return 0.0


class MemoryThermometer(_FaultMixin, Thermometer):
    def __init__(self, name="thermometer", temperature_K=4.2, max_temperature_K=300.0):
        self.name, self.resource = name, "memory"
        self.temperature = temperature_K
        self.max_temperature_K = max_temperature_K

    def snapshot(self):
        return {"driver": "memory", "resource": "memory", "role": "thermometer", "idn": "loopscope,memory-thermo"}

    def read_temperature_K(self):
        self._maybe_fail("read temperature")
        return self.temperature

    def set_setpoint_K(self, temperature_K):
        if temperature_K > self.max_temperature_K:
            from loopscope.instruments.roles import LimitError
            raise LimitError(f"{self.name}: setpoint {temperature_K} K above {self.max_temperature_K} K")
        self.temperature = temperature_K

    def read_setpoint_K(self):
        return self.temperature


class MemorySourceMeter(_FaultMixin, SourceMeter):
    """A current source on an ohmic sample (resistance_ohm, a thermoelectric offset_V): V = I R +
    offset, clamped at the compliance, where the current is what the compliance allows.
    ``history`` records every setpoint and output change, for tests of the engine."""

    def __init__(self, name="source_meter", resistance_ohm=400.0, offset_V=0.0,
                 limits: SourceMeterLimits | None = None, compliance_V=None):
        self.name, self.resource = name, "memory"
        self.limits = limits or SourceMeterLimits(max_current_A=1e-3, max_voltage_V=10.0)
        self.resistance_ohm, self.offset_V = float(resistance_ohm), float(offset_V)
        self.compliance_V = float(compliance_V if compliance_V is not None else self.limits.max_voltage_V)
        self.limits.check_compliance(self.compliance_V, name)
        self.setpoint_A = 0.0
        self.on = False
        self._compliance = False
        self.history: list[tuple[str, float]] = []

    def snapshot(self):
        return {"driver": "memory", "resource": "memory", "role": "source_meter",
                "idn": "loopscope,memory-source-meter", "setpoint_A": self.setpoint_A,
                "output": self.on, "compliance_V": self.compliance_V}

    def set_current_A(self, current_A):
        self.limits.check_current(current_A, self.name)
        self._maybe_fail("set current")
        self.setpoint_A = float(current_A)
        self.history.append(("current", self.setpoint_A))

    def read_voltage_and_current(self):
        self._maybe_fail("read V and I")
        if not self.on:
            raise InstrumentError(f"{self.name} (memory): reading with the output off")
        i = self.setpoint_A
        v = i * self.resistance_ohm + self.offset_V
        self._compliance = abs(v) > self.compliance_V
        if self._compliance:
            v = math.copysign(self.compliance_V, v)
            i = (v - self.offset_V) / self.resistance_ohm
        return v, i

    def in_compliance(self):
        return self._compliance

    def set_compliance_V(self, voltage_V):
        self.limits.check_compliance(voltage_V, self.name)
        self.compliance_V = float(voltage_V)

    def read_compliance_V(self):
        return self.compliance_V

    def output_on(self):
        self._maybe_fail("output on")
        if not self.on:
            self.on = True       # from 0 A to the setpoint, as the VISA role steps it
            self.history.append(("output", 1.0))

    def output_off(self):
        self.set_current_A(0.0)
        self.on = False
        self.history.append(("output", 0.0))

    def output_is_on(self):
        return self.on

    def go_to_safe_state(self, should_stop=None):
        if not self.on:
            return f"{self.name}: output off"
        level = self.setpoint_A
        self.output_off()
        self.history.append(("safe", 0.0))
        return f"{self.name}: stepped from {level:.4g} A to 0 A, output off"


class MemoryStation:
    """A station of in-memory roles with the same surface as instruments.station.Station."""

    def __init__(self, persistent_switch=False, time_scale=1.0):
        self.name = "memory"
        self.time_scale = time_scale
        self.safe_state = "zero"
        self.source_text = "station: memory\n"
        source = MemoryFieldSource(persistent_switch=persistent_switch)
        self.roles = {
            "field_source": source,
            "field_probe": MemoryFieldProbe(source),
            "flux_readout": MemoryFluxReadout(source),
            "lockin": MemoryLockIn(),
            "thermometer": MemoryThermometer(),
        }

    def get(self, name):
        return self.roles[name]

    @property
    def default_field_source(self):
        return "field_source"

    def snapshot(self):
        return {name: role.snapshot() for name, role in self.roles.items()}

    def close(self):
        pass

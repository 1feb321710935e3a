"""The station file: which instruments a lab has, at which VISA resources, with which limits.

    from loopscope.instruments.station import load_station, validate_station
    config = validate_station("examples/station_sim.yaml")          # touches nothing
    with load_station("examples/station_sim.yaml") as station:     # connects, checks *IDN?
        magnet = station.get(station.default_field_source)

Loading is in three passes so that a mistake never half-drives a lab:

1. validate the whole file (keys, roles, drivers, resource strings, settings, limits);
2. open every instrument and check its *IDN? (queries only, nothing written);
3. hand the roles over. Settings are written later, only by role methods that change things.

Any failure in 1 raises StationError (one line, naming the station file, the instrument, the
key and the value; the file is read with loopscope.safe_yaml, so an instrument named twice, a
binary or oversized file is refused too); in 2, InstrumentError (TransientInstrumentError when
the instrument does not answer), after closing whatever was already open.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from loopscope.instruments.roles import FieldLimits, InstrumentError, Role, role_kind
from loopscope.instruments.visa_interfaces import (OPTION_KEYS, InterfaceOptionError, check_options,
                                                interface_of)
from loopscope.safe_yaml import SafeYAMLError, load_yaml_file, load_yaml_text

from loopscope.instruments.roles import ROLE_KINDS  # noqa: E402  (one list of role kinds)
SAFE_STATES = ("zero", "hold")
DEFAULT_TIMEOUT_S = 2.0

TOP_KEYS = {"station", "time_scale", "safe_state", "timeout_s", "visa_library", "description",
            "overlap_reads", "instruments", "vector_magnets"}
#: the keys of a ``vector_magnets`` entry (instruments/roles/vector_magnet.py)
VECTOR_MAGNET_KEYS = {"axes", "limit", "direction", "field_tolerance_T", "description"}
# the interface options (baud_rate, parity, ..., read_termination) are
# instruments.visa_interfaces.OPTION_KEYS, checked there against the resource's interface
INSTRUMENT_KEYS = {"role", "driver", "resource", "settings", "limits", "timeout_s",
                   "description", "voltmeter_resource", "voltmeter_driver", *OPTION_KEYS}
FLUX_ONLY_KEYS = {"voltmeter_resource", "voltmeter_driver"}
#: the simulated lab's name for the voltmeter of a flux readout (see resources= below)
SIM_VOLTMETER_NAME = "nanovoltmeter"


class StationError(ValueError):
    """A station file that cannot be used. The message names the file, instrument, key and value."""


@dataclass(frozen=True)
class InstrumentConfig:
    name: str
    role: str
    driver: str
    resource: str
    settings: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    voltmeter_resource: str | None = None
    voltmeter_driver: str = "keithley2182"
    description: str = ""
    #: the station file's interface options for ``resource`` (instruments.visa_interfaces)
    visa_options: dict = field(default_factory=dict)

    @property
    def resources(self) -> list[str]:
        return [r for r in (self.resource, self.voltmeter_resource) if r]


@dataclass(frozen=True)
class StationConfig:
    name: str
    time_scale: float
    safe_state: str
    instruments: dict[str, InstrumentConfig]
    source_text: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    description: str = ""
    path: str | None = None
    visa_library: str = ""
    #: ask every instrument of a point before the first answers (see RoleContext)
    overlap_reads: bool = True
    #: three-axis magnets made of three field sources: name -> VectorMagnetConfig
    vector_magnets: dict = field(default_factory=dict)

    def vector_axis_of(self, name: str):
        """(vector magnet, axis) when instrument ``name`` is an axis of one, else None."""
        for vm in self.vector_magnets.values():
            for axis, inst in vm.axes.items():
                if inst == name:
                    return vm.name, axis
        return None

    def of_kind(self, kind: str) -> dict[str, InstrumentConfig]:
        return {n: c for n, c in self.instruments.items() if c.role == kind}


# ======================================================================================
# validation
# ======================================================================================

def _read_source(source) -> tuple[dict, str, str | None]:
    if isinstance(source, Mapping):
        return dict(source), yaml.safe_dump(dict(source), sort_keys=False), None
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and (
            source.endswith((".yaml", ".yml")) or Path(source).exists())):
        path = Path(source)
        try:
            data, text = load_yaml_file(path, label="station file")
        except SafeYAMLError as exc:
            if exc.kind == "missing":
                raise StationError(f"station file {path} cannot be read: it does not exist") from None
            raise StationError(str(exc)) from None
        where = str(path)
    elif isinstance(source, str):
        text, where = source, None
        try:
            data = load_yaml_text(text, "<station text>")
        except SafeYAMLError as exc:
            raise StationError(str(exc)) from None
    else:
        raise StationError(f"station source must be a path, YAML text or a dict, got "
                           f"{type(source).__name__}")
    if not isinstance(data, dict):
        raise StationError(f"station file {where or '<text>'} must be a mapping with keys "
                           f"{sorted(TOP_KEYS)}, got {type(data).__name__}")
    return data, text, where


def _number(value, where: str, *, positive=False, allow_zero=True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StationError(f"{where} = {value!r} must be a finite number")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise StationError(f"{where} = {value!r} must be > 0")
    return float(value)


def check_resource_string(resource, where: str) -> str:
    """A VISA resource string pyvisa can parse, e.g. TCPIP0::host::port::SOCKET."""
    from pyvisa import rname
    if not isinstance(resource, str) or not resource.strip():
        raise StationError(f"{where} = {resource!r} must be a VISA resource string such as "
                           f"'TCPIP0::192.168.1.20::7180::SOCKET'")
    try:
        rname.parse_resource_name(resource)
    except Exception as exc:  # InvalidResourceName and friends
        raise StationError(f"{where} = {resource!r} is not a valid VISA resource string: "
                           f"{exc}") from None
    return resource


def _check_block(block, spec: dict, where: str) -> dict:
    """Check a settings/limits mapping against a role's Setting spec."""
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise StationError(f"{where} must be a mapping, got {block!r}")
    out = {}
    for key, value in block.items():
        if key not in spec:
            allowed = ", ".join(sorted(spec)) or "none"
            raise StationError(f"{where}: unknown key {key!r} (value {value!r}); allowed: "
                               f"{allowed}")
        s = spec[key]
        here = f"{where}.{key}"
        if s.kind is bool:
            if not isinstance(value, bool):
                raise StationError(f"{here} = {value!r} must be true or false")
        elif s.kind is str:
            if not isinstance(value, str):
                raise StationError(f"{here} = {value!r} must be a string")
        elif s.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise StationError(f"{here} = {value!r} must be an integer")
        else:
            value = _number(value, here, positive=s.positive, allow_zero=not s.positive)
        if s.choices and value not in s.choices:
            raise StationError(f"{here} = {value!r} must be one of {list(s.choices)}")
        out[key] = value
    for key, s in spec.items():
        if s.required and key not in out:
            raise StationError(f"{where}: missing required key {key!r}")
    return out


def _check_instrument(name, entry, defaults_timeout: float,
                      resources: Mapping[str, str]) -> InstrumentConfig:
    from loopscope.instruments.registry import UnknownDriverError, resolve_driver
    where = f"instrument {name!r}"
    if not isinstance(entry, dict):
        raise StationError(f"{where} must be a mapping with keys role, driver, resource, ..., "
                           f"got {entry!r}")
    for key in entry:
        if key not in INSTRUMENT_KEYS:
            raise StationError(f"{where}: unknown key {key!r} (value {entry[key]!r}); "
                               f"allowed: {', '.join(sorted(INSTRUMENT_KEYS))}")
    role = entry.get("role")
    if role is None:
        raise StationError(f"{where}: missing key 'role' (one of {', '.join(ROLE_KINDS)})")
    if role not in ROLE_KINDS:
        raise StationError(f"{where}: unknown role {role!r}; known roles: "
                           f"{', '.join(ROLE_KINDS)}")
    driver = entry.get("driver")
    if driver is None:
        raise StationError(f"{where}: missing key 'driver'")
    try:
        resolved = resolve_driver(driver)
    except UnknownDriverError as exc:
        raise StationError(f"{where}: {exc}") from None
    if resolved.role_cls is None or resolved.kind != role:
        raise StationError(f"{where}: driver {driver!r} serves the role "
                           f"{resolved.kind or 'none (a helper)'!r}, not {role!r}")
    if "resource" not in entry:
        raise StationError(f"{where}: missing key 'resource'")
    resource = resources.get(name, entry["resource"])
    check_resource_string(resource, f"{where}.resource")
    try:
        visa_options = check_options(entry, resource, where)
    except InterfaceOptionError as exc:
        raise StationError(str(exc)) from None
    role_cls = resolved.role_cls
    settings = _check_block(entry.get("settings"), role_cls.SETTINGS, f"{where}.settings")
    limits = _check_block(entry.get("limits"), role_cls.LIMITS, f"{where}.limits")
    timeout = _number(entry.get("timeout_s", defaults_timeout), f"{where}.timeout_s",
                      positive=True, allow_zero=False)
    extra: dict[str, Any] = {}
    if role == "flux_readout":
        if "voltmeter_resource" not in entry:
            raise StationError(f"{where}: missing key 'voltmeter_resource' (the voltmeter, a "
                               f"Keithley 2182A or Keysight 34465A, reading the flux-locked-loop "
                               f"output)")
        vm = resources.get(f"{name}.voltmeter",
                           resources.get(SIM_VOLTMETER_NAME, entry["voltmeter_resource"]))
        extra["voltmeter_resource"] = check_resource_string(vm, f"{where}.voltmeter_resource")
        vm_driver = entry.get("voltmeter_driver", "keithley2182")
        try:
            vm_cls = resolve_driver(vm_driver).driver_cls
        except UnknownDriverError as exc:
            raise StationError(f"{where}.voltmeter_driver: {exc}") from None
        _check_voltmeter(where, vm_cls, extra["voltmeter_resource"], settings)
        extra["voltmeter_driver"] = vm_driver
    else:
        for key in FLUX_ONLY_KEYS & set(entry):
            raise StationError(f"{where}: key {key!r} only applies to a flux_readout")
    _check_role_consistency(name, role, driver, settings, limits)
    _check_model_interface(name, driver, resource)
    description = entry.get("description", "")
    return InstrumentConfig(name=name, role=role, driver=driver, resource=resource,
                            settings=settings, limits=limits, timeout_s=timeout,
                            description=str(description), visa_options=visa_options, **extra)


def _check_voltmeter(where: str, vm_cls: type, resource: str, settings: dict) -> None:
    """The voltmeter of a flux readout: an interface the model has, and the range and
    integration time the station asks for among its choices (pass 1: no I/O)."""
    model = getattr(vm_cls, "MODEL", vm_cls.__name__)
    interfaces = getattr(vm_cls, "INTERFACES", None)
    if interfaces:
        from loopscope.instruments.visa_interfaces import interface_of
        try:
            interface = interface_of(resource)
        except Exception:   # noqa: BLE001 - check_resource_string already reported a bad one
            interface = ""
        if interface and interface not in interfaces:
            raise StationError(f"{where}.voltmeter_resource = {resource!r}: a {model} has no "
                               f"{interface} interface (it has {', '.join(interfaces)})")
    asked = {k: settings.get(k) for k in ("voltmeter_range_V", "voltmeter_nplc")
             if settings.get(k) is not None}
    if not asked:
        return
    if not hasattr(vm_cls, "configure_dc_voltage"):
        raise StationError(f"{where}.settings: {', '.join(asked)} configure the voltmeter, but "
                           f"loopscope reads a {model} as it is set (remove them, or set the "
                           f"meter itself)")
    for key, value, choices in (("voltmeter_range_V", asked.get("voltmeter_range_V"), vm_cls.RANGES_V),
                                ("voltmeter_nplc", asked.get("voltmeter_nplc"), vm_cls.NPLCS)):
        if value is not None and value not in choices:
            raise StationError(f"{where}.settings.{key} = {value:g}: a {model} has "
                               f"{', '.join(f'{c:g}' for c in choices)}")


def _check_role_consistency(name: str, role: str, driver: str, settings: dict,
                            limits: dict) -> None:
    where = f"instrument {name!r}"
    if role == "source_meter" and driver == "keithley2400":
        _check_source_meter(name, settings, limits)
    if role == "lockin":
        _check_lockin_range(name, driver, limits)
    if role == "thermometer" and driver == "lakeshore372":
        _check_ls372_heater(name, settings, limits)
    if role == "thermometer" and driver == "mercury_itc":
        _check_mercury_itc(name, settings, limits)
    if role == "field_source":
        safe = limits.get("safe_ramp_rate_T_per_min")
        if safe is not None and safe > limits["max_ramp_rate_T_per_min"]:
            raise StationError(f"{where}.limits.safe_ramp_rate_T_per_min = {safe:g} exceeds "
                               f"max_ramp_rate_T_per_min = {limits['max_ramp_rate_T_per_min']:g}")
        compliance = settings.get("compliance_voltage_V")
        if driver == "kepco_bop" and compliance is not None and compliance > 36:
            raise StationError(f"{where}.settings.compliance_voltage_V = {compliance:g}: a Kepco "
                               f"BOP 36-12 cannot exceed 36 V")
        if driver == "cryomagnetics4g":
            _check_cryomagnetics4g(name, settings, limits)
        if driver == "mercury_ips":
            _check_mercury_ips(name, settings, limits)
        if driver == "kepco_bop" and limits["max_current_A"] > 12:
            raise StationError(f"{where}.limits.max_current_A = {limits['max_current_A']:g}: "
                               f"a Kepco BOP 36-12 cannot source more than 12 A")


def _check_model_interface(name: str, driver: str, resource: str) -> None:
    """A model reached by a port it does not have (pass 1: no I/O)."""
    if driver == "lakeshore475" and interface_of(resource) == "USB":
        # Model 475 manual 6.0: an IEEE-488 and a serial interface; a TCPIP resource stays
        # allowed (a LAN-GPIB bridge, the simulated lab)
        raise StationError(f"instrument {name!r}.resource = {resource!r}: a Lake Shore 475 has "
                           f"IEEE-488 (GPIB) and RS-232 ports only, no USB")
    if driver == "mercury_itc" and interface_of(resource) == "USB":
        # Mercury iTC manual 4.2.5: its USB port is a virtual serial port (Serial2 USB), not a
        # USBTMC device: it is reached as ASRL (COMn, /dev/ttyACMn)
        raise StationError(f"instrument {name!r}.resource = {resource!r}: a Mercury iTC's USB port "
                           f"is a virtual serial port; name it as a serial resource "
                           f"(ASRL/dev/ttyACM0::INSTR, ASRLCOM3::INSTR), not USB...::INSTR")


def _check_lockin_range(name: str, driver: str, limits: dict) -> None:
    """A lock-in's frequency limits within what its model can set (the driver's
    FREQUENCY_RANGE_HZ, from the manual): an SR860 station allowing 1 MHz is refused here,
    before anything is connected, not at the first frequency the plan sets (pass 1: no I/O)."""
    from loopscope.instruments.registry import resolve_driver
    model_range = getattr(resolve_driver(driver).driver_cls, "FREQUENCY_RANGE_HZ", None)
    if model_range is None:
        return
    lo, hi = map(float, model_range)
    model = getattr(resolve_driver(driver).driver_cls, "MODEL", driver)
    for key in ("min_frequency_Hz", "max_frequency_Hz"):
        value = limits.get(key)
        if value is not None and not lo <= value <= hi:
            raise StationError(f"instrument {name!r}.limits.{key} = {value:g} Hz is outside the "
                               f"{model}'s reference range {lo:g}..{hi:g} Hz (driver {driver!r})")
    if limits.get("min_frequency_Hz") is not None and limits.get("max_frequency_Hz") is not None \
            and limits["min_frequency_Hz"] > limits["max_frequency_Hz"]:
        raise StationError(f"instrument {name!r}.limits: min_frequency_Hz = "
                           f"{limits['min_frequency_Hz']:g} exceeds max_frequency_Hz = "
                           f"{limits['max_frequency_Hz']:g}")


def _check_cryomagnetics4g(name: str, settings: dict, limits: dict) -> None:
    """The Cryomagnetics 4G's ratings (pass 1: no I/O): its output is at most 100 A (the
    4G-100), and the field limit must not ask more current than that at the coil constant."""
    where = f"instrument {name!r}"
    if limits["max_current_A"] > 100:
        raise StationError(f"{where}.limits.max_current_A = {limits['max_current_A']:g}: a "
                           f"Cryomagnetics 4G supplies at most 100 A")
    coil = settings.get("coil_constant_T_per_A")
    if coil and limits["max_field_T"] / coil > 100 * (1 + 1e-9):
        raise StationError(f"{where}.limits.max_field_T = {limits['max_field_T']:g} T needs "
                           f"{limits['max_field_T'] / coil:g} A at {coil:g} T/A; a "
                           f"Cryomagnetics 4G supplies at most 100 A")


def _check_mercury_ips(name: str, settings: dict, limits: dict) -> None:
    """The Mercury iPS's ratings (pass 1: no I/O): its output is at most 120 A (the iPS-120),
    the field limit must not ask more current than that at the coil constant, and the group
    is one of the supply's magnet groups."""
    where = f"instrument {name!r}"
    if limits["max_current_A"] > 120:
        raise StationError(f"{where}.limits.max_current_A = {limits['max_current_A']:g}: a "
                           f"Mercury iPS supplies at most 120 A")
    coil = settings.get("coil_constant_T_per_A")
    if coil and limits["max_field_T"] / coil > 120 * (1 + 1e-9):
        raise StationError(f"{where}.limits.max_field_T = {limits['max_field_T']:g} T needs "
                           f"{limits['max_field_T'] / coil:g} A at {coil:g} T/A; a "
                           f"Mercury iPS supplies at most 120 A")
    group = settings.get("group", "GRPZ")
    if group not in ("GRPX", "GRPY", "GRPZ"):
        raise StationError(f"{where}.settings.group = {group!r}: a Mercury iPS magnet group is "
                           f"GRPX, GRPY or GRPZ")


def _check_ls372_heater(name: str, settings: dict, limits: dict) -> None:
    """A Lake Shore 372's sample-heater ranges against the station's heater power limit (pass
    1: no I/O): each range a plan may name (range_low/medium/high) dissipates at most
    I_max^2 R (or (10 V)^2 / R at the compliance) in the mixing-chamber heater."""
    from loopscope.instruments.drivers.lakeshore372 import SAMPLE_HEATER_RANGE_A, range_max_power_W
    where = f"instrument {name!r}"
    ohm = settings["heater_resistance_ohm"]
    if not 1 <= ohm <= 2000:
        raise StationError(f"{where}.settings.heater_resistance_ohm = {ohm:g}: the 372's sample "
                           f"heater drives 1 to 2000 ohm")
    codes = {w: settings.get(f"range_{w}", d) for w, d in (("low", 3), ("medium", 4), ("high", 5))}
    if not codes["low"] <= codes["medium"] <= codes["high"]:
        raise StationError(f"{where}.settings: range_low <= range_medium <= range_high, got "
                           f"{codes['low']}, {codes['medium']}, {codes['high']}")
    cap = limits["max_heater_power_W"]
    for word, code in codes.items():
        p = range_max_power_W(code, ohm)
        if p > cap * (1 + 1e-9):
            raise StationError(f"{where}.settings.range_{word} = {code} "
                               f"({SAMPLE_HEATER_RANGE_A[code] * 1e3:g} mA into {ohm:g} ohm = "
                               f"{p:.3g} W) exceeds limits.max_heater_power_W = {cap:.3g} W")


def _check_mercury_itc(name: str, settings: dict, limits: dict) -> None:
    """A Mercury iTC's board UIDs, heater and heater voltage limits against the station's
    heater power limit (pass 1: no I/O): each voltage limit a plan may name (voltage_limit_low/
    medium/high_V) is at most the iTC's 40 V and puts at most VLIM^2/R into the heater."""
    from loopscope.instruments.drivers.mercury_itc import (HEATER_OHM_RANGE, MAX_VOLTAGE_LIMIT_V,
                                                           UID_PATTERN)
    where = f"instrument {name!r}"
    for key, default, letter in (("sensor", "MB1.T1", "T"), ("heater", "MB0.H1", "H")):
        uid = settings.get(key, default)
        m = UID_PATTERN.match(uid)
        if not m or m.group(2) != letter:
            raise StationError(f"{where}.settings.{key} = {uid!r}: not a Mercury iTC {key} board "
                               f"UID (MB<n>.{letter}<n> or DB<n>.{letter}<n>, as SYS:CAT lists them)")
    ohm = settings["heater_resistance_ohm"]
    lo, hi = HEATER_OHM_RANGE
    if not lo <= ohm <= hi:
        raise StationError(f"{where}.settings.heater_resistance_ohm = {ohm:g}: the Mercury iTC's "
                           f"heater takes a nominal resistance of {lo:g} to {hi:g} ohm (HTR:RES)")
    volts = {w: settings.get(f"voltage_limit_{w}_V", d)
             for w, d in (("low", 5.0), ("medium", 10.0), ("high", 20.0))}
    if not volts["low"] <= volts["medium"] <= volts["high"]:
        raise StationError(f"{where}.settings: voltage_limit_low_V <= voltage_limit_medium_V <= "
                           f"voltage_limit_high_V, got {volts['low']:g}, {volts['medium']:g}, "
                           f"{volts['high']:g}")
    cap = limits["max_heater_power_W"]
    for word, v in volts.items():
        if v > MAX_VOLTAGE_LIMIT_V:
            raise StationError(f"{where}.settings.voltage_limit_{word}_V = {v:g}: the Mercury iTC's "
                               f"heater voltage limit is at most {MAX_VOLTAGE_LIMIT_V:g} V (HTR:VLIM)")
        p = v * v / ohm
        if p > cap * (1 + 1e-9):
            raise StationError(f"{where}.settings.voltage_limit_{word}_V = {v:g} ({v:g} V into "
                               f"{ohm:g} ohm = {p:.3g} W) exceeds limits.max_heater_power_W = "
                               f"{cap:.3g} W")


def _check_source_meter(name: str, settings: dict, limits: dict) -> None:
    """A source-meter's compliance within its limits, and the 2400's ratings (pass 1: no I/O)."""
    where = f"instrument {name!r}"
    compliance = settings.get("compliance_voltage_V")
    if compliance is not None and compliance > limits["max_voltage_V"]:
        raise StationError(f"{where}.settings.compliance_voltage_V = {compliance:g} exceeds "
                           f"limits.max_voltage_V = {limits['max_voltage_V']:g}")
    if limits["max_current_A"] > 1.05 or limits["max_voltage_V"] > 210:
        raise StationError(f"{where}.limits: a Keithley 2400 sources at most 1.05 A and 210 V "
                           f"(max_current_A = {limits['max_current_A']:g}, max_voltage_V = "
                           f"{limits['max_voltage_V']:g})")
    nplc = settings.get("nplc")
    if nplc is not None and not 0.01 <= nplc <= 10:
        raise StationError(f"{where}.settings.nplc = {nplc:g} is outside 0.01..10")


def validate_station(source, resources: Mapping[str, str] | None = None,
                     time_scale: float | None = None) -> StationConfig:
    """Check a station file (path, YAML text or dict) completely; touches no instrument.

    ``resources`` overrides resource strings by instrument name (tests on free ports):
    ``{name: resource}``; the voltmeter of a flux readout by ``"<name>.voltmeter"`` or,
    as the simulated lab calls it, ``"nanovoltmeter"``. Names the station does not use are
    ignored, so ``SimulatedLab.resources`` can be passed as it is.

    ``time_scale``: replaces the file's (the simulated lab's speed, `loopscope run
    --time-scale`).

    Every StationError about a file starts with the file's name."""
    data, text, where = _read_source(source)
    if time_scale is not None:
        data = {**data, "time_scale": time_scale}
    try:
        return _validate(data, text, where, resources)
    except StationError as exc:
        if where and not str(exc).startswith(where):
            raise StationError(f"{where}: {exc}") from None
        raise


def _validate(data: dict, text: str, where: str | None,
              resources: Mapping[str, str] | None) -> StationConfig:
    resources = dict(resources or {})
    for key in data:
        if key not in TOP_KEYS:
            raise StationError(f"station: unknown key {key!r} (value {data[key]!r}); allowed: "
                               f"{', '.join(sorted(TOP_KEYS))}")
    name = data.get("station")
    if not isinstance(name, str) or not name.strip():
        raise StationError(f"station: key 'station' must name the station, got {name!r}")
    time_scale = _number(data.get("time_scale", 1.0), "station.time_scale", positive=True,
                         allow_zero=False)
    safe_state = data.get("safe_state", "zero")
    if safe_state not in SAFE_STATES:
        raise StationError(f"station.safe_state = {safe_state!r} must be one of "
                           f"{list(SAFE_STATES)}")
    timeout = _number(data.get("timeout_s", DEFAULT_TIMEOUT_S), "station.timeout_s",
                      positive=True, allow_zero=False)
    visa_library = data.get("visa_library", "")
    if not isinstance(visa_library, str):
        raise StationError(f"station.visa_library = {visa_library!r} must be a string such as "
                           f"'@py' (pyvisa-py) or a VISA library path")
    overlap_reads = data.get("overlap_reads", True)
    if not isinstance(overlap_reads, bool):
        raise StationError(f"station.overlap_reads = {overlap_reads!r} must be true or false")
    instruments = data.get("instruments")
    if not isinstance(instruments, dict) or not instruments:
        raise StationError(f"station: key 'instruments' must be a non-empty mapping, got "
                           f"{instruments!r}")
    configs: dict[str, InstrumentConfig] = {}
    for inst_name, entry in instruments.items():
        if not isinstance(inst_name, str) or not inst_name:
            raise StationError(f"station: instrument name {inst_name!r} must be a string")
        configs[inst_name] = _check_instrument(inst_name, entry, timeout, resources)
    seen: dict[str, str] = {}
    for inst_name, cfg in configs.items():
        for res in cfg.resources:
            if res in seen:
                raise StationError(f"instrument {inst_name!r}: resource {res!r} is already used "
                                   f"by {seen[res]!r}; one session per instrument")
            seen[res] = inst_name
    vector_magnets = _check_vector_magnets(data.get("vector_magnets"), configs)
    return StationConfig(name=name, time_scale=time_scale, safe_state=safe_state,
                         instruments=configs, source_text=text, timeout_s=timeout,
                         description=str(data.get("description", "")), path=where,
                         visa_library=visa_library, overlap_reads=overlap_reads,
                         vector_magnets=vector_magnets)


def _check_vector_magnets(block, configs: dict) -> dict:
    """``vector_magnets: {name: {axes: {x: .., y: .., z: ..}, limit: {...}, direction, ...}}``:
    each axis a field source of the station on field (not current), no instrument on two axes."""
    from loopscope.instruments.roles.vector_magnet import VectorMagnetConfig
    from loopscope.instruments.vector_field_limit import AXES, limit_from_mapping, unit_vector
    if block is None:
        return {}
    if not isinstance(block, dict) or not block:
        raise StationError(f"station.vector_magnets must be a mapping of name to "
                           f"{{axes, limit}}, got {block!r}")
    out: dict = {}
    taken: dict[str, str] = {}
    for vname, entry in block.items():
        where = f"vector_magnets.{vname}"
        if not isinstance(vname, str) or not vname:
            raise StationError(f"station.vector_magnets: name {vname!r} must be a string")
        if vname in configs:
            raise StationError(f"{where}: the name is already an instrument's; give the vector "
                               f"magnet its own")
        if not isinstance(entry, dict):
            raise StationError(f"{where} must be a mapping with keys axes, limit, got {entry!r}")
        for key in entry:
            if key not in VECTOR_MAGNET_KEYS:
                raise StationError(f"{where}: unknown key {key!r} (value {entry[key]!r}); allowed: "
                                   f"{', '.join(sorted(VECTOR_MAGNET_KEYS))}")
        axes = entry.get("axes")
        if not isinstance(axes, dict) or set(axes) != set(AXES):
            raise StationError(f"{where}.axes = {axes!r} must name an instrument for each of x, y, z")
        for axis in AXES:
            inst = axes[axis]
            if inst not in configs:
                raise StationError(f"{where}.axes.{axis} = {inst!r}: no such instrument in the station "
                                   f"(it has {', '.join(configs)})")
            if configs[inst].role != "field_source":
                raise StationError(f"{where}.axes.{axis} = {inst!r} is a {configs[inst].role}, not a "
                                   f"field_source")
            if inst in taken:
                raise StationError(f"{where}.axes.{axis} = {inst!r} is already the {taken[inst]}; "
                                   f"one supply drives one axis")
            taken[inst] = f"{axis} axis of {vname}"
        if "limit" not in entry:
            raise StationError(f"{where}: missing key 'limit' (e.g. {{shape: sphere, max_field_T: 1.0}}): "
                               f"a vector magnet is rated as a whole, not only axis by axis")
        limit = limit_from_mapping(entry["limit"], f"{where}.limit", StationError)
        direction = unit_vector(entry.get("direction", [0, 0, 1]), f"{where}.direction", StationError)
        tol = _number(entry.get("field_tolerance_T", 1e-4), f"{where}.field_tolerance_T",
                      positive=True, allow_zero=False)
        out[vname] = VectorMagnetConfig(vname, {a: axes[a] for a in AXES}, limit, direction, tol,
                                        str(entry.get("description", "")))
    return out


# ======================================================================================
# the connected station
# ======================================================================================

class Station:
    """Connected roles by station name. Close it (or use ``with``) to release the sessions."""

    def __init__(self, config: StationConfig, roles: dict[str, Role]):
        self.config = config
        self.roles = roles

    name = property(lambda self: self.config.name)
    time_scale = property(lambda self: self.config.time_scale)
    safe_state = property(lambda self: self.config.safe_state)
    source_text = property(lambda self: self.config.source_text)

    def get(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            source = f" ({self.config.path})" if self.config.path else ""
            raise StationError(f"station {self.name!r}{source} has no instrument {name!r}; it has "
                               f"{', '.join(self.roles) or 'none'}") from None

    def __getitem__(self, name: str) -> Role:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.roles

    def of_kind(self, kind: str) -> dict[str, Role]:
        if kind not in ROLE_KINDS:
            raise StationError(f"unknown role kind {kind!r}; known: {', '.join(ROLE_KINDS)}")
        return {n: r for n, r in self.roles.items() if self._kind_of(n, r) == kind}

    def _kind_of(self, name: str, role: Role) -> str:
        """The station kind of an instrument (its file's role), or of a vector magnet."""
        cfg = self.config.instruments.get(name)
        return cfg.role if cfg is not None else role_kind(role)

    @property
    def default_field_source(self) -> str | None:
        """The name of the first field_source in the file (None without one)."""
        return next(iter(self.of_kind("field_source")), None)

    def limits_for(self, name: str):
        """FieldLimits for a field source; the limits mapping (maybe empty) for the others."""
        role = self.get(name)
        limits = getattr(role, "limits", None)
        if isinstance(limits, FieldLimits):
            return limits
        return dict(self.config.instruments[name].limits)

    def snapshot(self) -> dict:
        """Every instrument's identity and settings; a failing one records its error."""
        instruments: dict[str, Any] = {}
        for name, role in self.roles.items():
            try:
                instruments[name] = role.snapshot()
            except InstrumentError as exc:
                instruments[name] = {"role": self._kind_of(name, role),
                                     "resource": role.resource, "error": str(exc)}
        return {"station": self.name, "time_scale": self.time_scale,
                "safe_state": self.safe_state, "overlap_reads": self.config.overlap_reads,
                "instruments": instruments}

    def close(self) -> None:
        for role in self.roles.values():
            try:
                role.close()
            except Exception:  # closing must reach every instrument
                pass

    def __enter__(self) -> "Station":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Station {self.name!r}: {', '.join(self.roles)}>"


def build_roles(config: StationConfig, lock_wait_s: float = 0.0) -> dict[str, Role]:
    """Role objects for every instrument, not connected. Each takes its instrument's lock
    when it connects (instruments.instrument_lock), waiting up to lock_wait_s for it."""
    from loopscope.instruments.registry import resolve_driver
    from loopscope.instruments.visa_session import RoleContext
    context = RoleContext(time_scale=config.time_scale, safe_state=config.safe_state,
                          visa_library=config.visa_library, overlap_reads=config.overlap_reads,
                          station=config.name, lock_wait_s=lock_wait_s)
    roles: dict[str, Role] = {}
    for name, cfg in config.instruments.items():
        resolved = resolve_driver(cfg.driver)
        role = resolved.role_cls.from_config(cfg, context, driver_cls=resolved.driver_cls)
        # read by instruments.visa_interfaces.open_kwargs when the role opens its driver
        role.station_visa_options = {cfg.resource: dict(cfg.visa_options)}
        roles[name] = role
    from loopscope.instruments.roles.vector_magnet import VectorMagnet
    for name, vm in config.vector_magnets.items():
        roles[name] = VectorMagnet(vm, {a: roles[inst] for a, inst in vm.axes.items()},
                                   safe_state=config.safe_state)
    return roles


def load_station(source, resources: Mapping[str, str] | None = None,
                 connect: bool = True, lock_wait_s: float = 0.0,
                 time_scale: float | None = None) -> Station:
    """Validate, then (connect=True) take every instrument's lock, open it and check its *IDN?.

    Nothing is written to any instrument here. An instrument that another process holds is
    refused with InstrumentBusyError naming the holder, before anything is sent to it
    (after waiting up to lock_wait_s for it). On any failure the sessions already opened
    are closed (their locks released) and the error (StationError, InstrumentError) is raised."""
    config = validate_station(source, resources, time_scale=time_scale)
    roles = build_roles(config, lock_wait_s=lock_wait_s)
    if connect:
        opened: list[Role] = []
        try:
            for role in roles.values():
                opened.append(role)  # closed on failure too: a half-connected role lets go of its lock
                role.connect()
        except BaseException:
            for role in opened:
                role.close()
            raise
    return Station(config, roles)

"""The driver registry: the short names a station file uses under ``driver:``.

Each entry names a loopscope driver (a pymeasure Instrument subclass) and the role class
that wraps it. A station may also give a dotted path ``"package.module:Class"`` naming

- a subclass of one of the registered drivers (the role of its registered base is used), or
- a subclass of a VisaRole (used as the role directly, with its own DRIVER).

Imports happen on lookup, so validating a station file never opens a connection. Adding an
instrument model means adding its driver (instruments/drivers/<model>.py), its role
(instruments/roles/<model>.py) and one entry here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class DriverSpec:
    name: str
    kind: str           # the station role kind it serves ("" = helper, e.g. a voltmeter)
    driver: str         # "module:Class"
    role: str           # "module:Class" ("" for helpers)
    doc: str

    @property
    def driver_cls(self) -> type:
        return _load(self.driver)

    @property
    def role_cls(self) -> type:
        return _load(self.role)


DRIVERS: dict[str, DriverSpec] = {s.name: s for s in (
    DriverSpec("kepco_bop", "field_source", "loopscope.instruments.drivers.kepco_bop:KepcoBOP",
               "loopscope.instruments.roles.kepco_bop:KepcoFieldSource",
               "Kepco BOP 36-12 bipolar supply on a resistive coil"),
    DriverSpec("ami430", "field_source", "loopscope.instruments.drivers.ami430:AMI430",
               "loopscope.instruments.roles.ami430:AMI430FieldSource",
               "AMI 430 superconducting magnet supply (persistent switch)"),
    DriverSpec("cryomagnetics4g", "field_source",
               "loopscope.instruments.drivers.cryomagnetics4g:Cryomagnetics4G",
               "loopscope.instruments.roles.cryomagnetics4g:Cryomagnetics4GFieldSource",
               "Cryomagnetics Model 4G superconducting magnet supply (persistent switch)"),
    DriverSpec("mercury_ips", "field_source",
               "loopscope.instruments.drivers.mercury_ips:MercuryIPS",
               "loopscope.instruments.roles.mercury_ips:MercuryIPSFieldSource",
               "Oxford Instruments Mercury iPS superconducting magnet supply (persistent switch)"),
    DriverSpec("lakeshore425", "field_probe", "loopscope.instruments.drivers.lakeshore425:LakeShore425",
               "loopscope.instruments.roles.lakeshore425:LakeShore425Probe", "Lake Shore 425 gaussmeter"),
    DriverSpec("lakeshore475", "field_probe", "loopscope.instruments.drivers.lakeshore475:LakeShore475",
               "loopscope.instruments.roles.lakeshore475:LakeShore475Probe",
               "Lake Shore 475 DSP gaussmeter"),
    DriverSpec("squid_fll", "flux_readout", "loopscope.instruments.drivers.squid_fll:SquidFLL",
               "loopscope.instruments.roles.squid_fll:SquidFluxReadout",
               "SQUID flux-locked-loop controller read by a Keithley 2182A or Keysight 34465A"),
    DriverSpec("sr830", "lockin", "loopscope.instruments.drivers.sr830:SR830",
               "loopscope.instruments.roles.sr830:SR830LockIn", "Stanford Research SR830 lock-in"),
    DriverSpec("sr860", "lockin", "loopscope.instruments.drivers.sr860:SR860",
               "loopscope.instruments.roles.sr860:SR860LockIn", "Stanford Research SR860 lock-in"),
    DriverSpec("sr865a", "lockin", "loopscope.instruments.drivers.sr865a:SR865A",
               "loopscope.instruments.roles.sr865a:SR865ALockIn",
               "Stanford Research SR865A lock-in (4 MHz)"),
    DriverSpec("ametek7270", "lockin", "loopscope.instruments.drivers.ametek7270:Ametek7270",
               "loopscope.instruments.roles.ametek7270:Ametek7270LockIn",
               "Signal Recovery / Ametek 7270 DSP lock-in"),
    DriverSpec("lakeshore336", "thermometer", "loopscope.instruments.drivers.lakeshore336:LakeShore336",
               "loopscope.instruments.roles.lakeshore336:LakeShore336Thermometer",
               "Lake Shore 336 temperature controller"),
    DriverSpec("lakeshore372", "thermometer", "loopscope.instruments.drivers.lakeshore372:LakeShore372",
               "loopscope.instruments.roles.lakeshore372:LakeShore372Thermometer",
               "Lake Shore 372 AC resistance bridge on a dilution refrigerator"),
    DriverSpec("mercury_itc", "thermometer", "loopscope.instruments.drivers.mercury_itc:MercuryITC",
               "loopscope.instruments.roles.mercury_itc:MercuryITCThermometer",
               "Oxford Instruments Mercury iTC temperature controller (VTI, 1.5-300 K inserts)"),
    DriverSpec("keithley2400", "source_meter", "loopscope.instruments.drivers.keithley2400:Keithley2400",
               "loopscope.instruments.roles.keithley2400:Keithley2400SourceMeter",
               "Keithley 2400 SourceMeter sourcing current into a sample"),
    DriverSpec("keithley2182", "", "loopscope.instruments.drivers.keithley2182:Keithley2182", "",
               "Keithley 2182A nanovoltmeter (the voltmeter of a flux_readout)"),
    DriverSpec("keysight34465a", "", "loopscope.instruments.drivers.keysight34465a:Keysight34465A", "",
               "Keysight 34465A multimeter (the voltmeter of a flux_readout without a 2182A)"),
)}



class UnknownDriverError(LookupError):
    pass


@dataclass(frozen=True)
class ResolvedDriver:
    spec_name: str
    kind: str
    driver_cls: type
    role_cls: type | None


def _load(target: str):
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def resolve_driver(name: str) -> ResolvedDriver:
    """Short name or ``"pkg.mod:Class"`` -> driver class, its role kind and role class."""
    if not isinstance(name, str) or not name:
        raise UnknownDriverError(f"driver must be a non-empty string, got {name!r}")
    spec = DRIVERS.get(name)
    if spec is not None:
        return ResolvedDriver(name, spec.kind, spec.driver_cls,
                              spec.role_cls if spec.role else None)
    if ":" not in name:
        raise UnknownDriverError(
            f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}, or a dotted path "
            f"'package.module:Class'")
    try:
        target = _load(name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UnknownDriverError(f"driver {name!r} cannot be imported: {exc}") from None
    from loopscope.instruments.visa_session import VisaRole
    if isinstance(target, type) and issubclass(target, VisaRole):
        return ResolvedDriver(name, target.KIND, _load(target.DRIVER), target)
    if isinstance(target, type):
        for spec in DRIVERS.values():
            if issubclass(target, spec.driver_cls):
                return ResolvedDriver(name, spec.kind, target,
                                      spec.role_cls if spec.role else None)
    raise UnknownDriverError(
        f"driver {name!r} is neither a subclass of a registered loopscope driver "
        f"({', '.join(sorted(DRIVERS))}) nor a VisaRole")

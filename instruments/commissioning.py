"""Commissioning a station: ``loopscope station check STATION.yaml``.

Connects to every instrument of a station file the way a run does (its lock, *IDN?), but with
the roles' refusal turned off, so that every setting each role depends on is read and compared
with the file (instruments/connect_checks.py), and every mismatch shows at once instead of the
first one ending the connection. Then it compares the instruments with each other (a Hall
probe whose range is below the magnet's limit). Only queries are sent: nothing moves and no
setting changes; each instrument's error queue is left unread (reading it would empty it).

Exit code: 0 when nothing mismatches, 1 when something does or an instrument cannot be
reached, 2 for a station file that does not validate.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import click

from loopscope.instruments.connect_checks import MISMATCH, NOTE, OK, WARNING, Finding, interface_of

MARKS = {OK: "ok", "adapted": "adapted", NOTE: "note", WARNING: "WARNING", MISMATCH: "MISMATCH"}


@dataclass
class InstrumentReport:
    name: str
    role: str
    model: str
    resource: str
    interface: str
    idn: str = ""
    findings: list[Finding] = field(default_factory=list)
    unreachable: str = ""   # why the instrument could not be read ("" = it was)

    @property
    def mismatches(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == MISMATCH]

    def as_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "model": self.model,
                "resource": self.resource, "interface": self.interface, "idn": self.idn,
                "unreachable": self.unreachable,
                "findings": [f.as_dict() for f in self.findings]}


@dataclass
class StationReport:
    station: str
    path: str
    instruments: list[InstrumentReport]
    across: list[Finding]             # comparisons between instruments

    @property
    def problems(self) -> int:
        return (sum(len(r.mismatches) + bool(r.unreachable) for r in self.instruments)
                + sum(f.verdict == MISMATCH for f in self.across))

    def as_dict(self) -> dict:
        return {"station": self.station, "path": self.path, "problems": self.problems,
                "instruments": [r.as_dict() for r in self.instruments],
                "across_instruments": [f.as_dict() for f in self.across]}


def check_station(source, resources=None, lock_wait_s: float = 0.0,
                  time_scale: float | None = None) -> StationReport:
    """Read every instrument of a station (queries only) and compare it with the file.

    Raises StationError for a file that does not validate (before anything connects)."""
    from loopscope.instruments.roles import InstrumentError
    from loopscope.instruments.station import build_roles, validate_station

    config = validate_station(source, resources, time_scale=time_scale)
    roles = build_roles(config, lock_wait_s=lock_wait_s)
    reports: list[InstrumentReport] = []
    try:
        for name, role in roles.items():
            if name not in config.instruments:
                continue           # a vector magnet: its axes are the instruments (below)
            cfg = config.instruments[name]
            report = InstrumentReport(name, cfg.role, getattr(role, "model", cfg.driver),
                                      cfg.resource, interface_of(cfg.resource))
            reports.append(report)
            role.refuse_mismatches = False
            try:
                role.connect()
            except InstrumentError as exc:
                report.unreachable = str(exc)
                continue
            report.idn = getattr(role, "idn", "")
            report.findings = list(getattr(role, "findings", []))
        across = _across_instruments(config, roles, reports)
    finally:
        for role in roles.values():
            role.close()
    return StationReport(config.name, str(config.path or ""), reports, across)


def _across_instruments(config, roles, reports) -> list[Finding]:
    """A Hall probe must cover the fields the station's sources may make."""
    out: list[Finding] = []
    reachable = {r.name for r in reports if not r.unreachable}
    sources = {n: roles[n] for n in config.of_kind("field_source") if n in reachable}
    for probe_name in config.of_kind("field_probe"):
        full_scale = getattr(roles[probe_name], "full_scale_T", None)
        if probe_name not in reachable or full_scale is None:
            continue
        for source_name, source in sources.items():
            max_T = source.limits.max_field_T
            if max_T > full_scale:
                out.append(Finding(
                    f"{probe_name} range vs {source_name}",
                    f"{full_scale:g} T full scale ({probe_name}, RANGE?)",
                    f"{source_name} max_field_T {max_T:g} T", WARNING,
                    f"{probe_name} reads up to {full_scale:g} T on its present range but "
                    f"{source_name} may go to {max_T:g} T (max_field_T): above that the probe "
                    f"shows an overload and the run fails; choose a wider range at the "
                    f"gaussmeter (its front panel) or lower max_field_T"))
            else:
                out.append(Finding(f"{probe_name} range vs {source_name}",
                                   f"{full_scale:g} T full scale", f"max_field_T {max_T:g} T", OK))
    for vname, vm in config.vector_magnets.items():
        out.extend(_vector_magnet_findings(vname, vm, roles, reachable))
    return out


def _vector_magnet_findings(vname, vm, roles, reachable) -> list[Finding]:
    """A vector magnet's axes, read (queries only): where the field vector is now against the
    vector limit, and each axis's own field limit against what the vector limit allows along it."""
    from loopscope.instruments.vector_field_limit import AXES
    out: list[Finding] = []
    limit = vm.limit
    for a in AXES:
        along = [1.0 if b == a else 0.0 for b in AXES]
        reach = 1.0 / max(1e-300, 1.0 + float(limit.excess([along])[0]))   # |B| the limit allows along a
        own = roles[vm.axes[a]].limits.max_field_T
        if own > reach * (1 + 1e-9):
            out.append(Finding(f"{vname} {a} axis", f"{vm.axes[a]} max_field_T {own:g} T",
                               f"vector limit {limit.describe()}", NOTE,
                               f"along {a} the vector limit allows {reach:g} T, less than the axis's "
                               f"own {own:g} T: the vector limit governs"))
    if not all(vm.axes[a] in reachable for a in AXES):
        return out
    try:
        present = [roles[vm.axes[a]].read_field_T() for a in AXES]
    except Exception as exc:   # a commissioning report goes on
        out.append(Finding(f"{vname} field vector", "unreadable", "", WARNING, str(exc)))
        return out
    said = "(" + ", ".join(f"{b:.6g}" for b in present) + ") T"
    if limit.allows(present):
        out.append(Finding(f"{vname} field vector", said, limit.describe(), OK))
    else:
        out.append(Finding(f"{vname} field vector", said, limit.describe(), WARNING,
                           f"the magnet is outside its vector limit now; a run's first ramp brings the "
                           f"shrinking axes down first, but find out who set it there"))
    return out


def format_report(report: StationReport) -> str:
    lines = [f"station {report.station!r}" + (f" ({report.path})" if report.path else "")]
    for r in report.instruments:
        lines.append("")
        lines.append(f"{r.name}: {r.role}, {r.model}")
        lines.append(f"  resource   {r.resource}  [{r.interface}]")
        if r.unreachable:
            lines.append(f"  UNREACHABLE  {r.unreachable}")
            continue
        lines.append(f"  identity   {r.idn}")
        for f in r.findings:
            lines.append(_finding_line(f))
    if report.across:
        lines.append("")
        lines.append("across instruments:")
        lines.extend(_finding_line(f) for f in report.across)
    lines.append("")
    n = report.problems
    lines.append("nothing mismatches: the station file agrees with the instruments" if n == 0
                 else f"{n} problem{'s' if n != 1 else ''}: fix the station file or the instrument "
                      f"before a run (a run refuses to connect while a mismatch remains)")
    return "\n".join(lines)


def _finding_line(f: Finding) -> str:
    text = f"  {MARKS[f.verdict]:<9}{f.setting}: {f.instrument}"
    if f.station:
        text += f" | station: {f.station}"
    if f.detail and f.verdict in (MISMATCH, WARNING):
        text += f"\n{'':11}-> {f.detail}"
    return text


@click.group()
def station():
    """Station files: check one against the instruments it names."""


@station.command(name="check")
@click.argument("station_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait for an instrument another run holds.")
@click.option("--time-scale", "time_scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Replace the station's time_scale: the simulated lab's --speed.")
def check_cmd(station_file, as_json, wait_s, time_scale):
    """Read every instrument of STATION_FILE (queries only: nothing moves, no setting changes)
    and list where it disagrees with the file: identity, interface, units, coil constant,
    limits, ramp segments, persistent switch, modes, reference source, control loop."""
    from loopscope.instruments.station import StationError

    try:
        report = check_station(station_file, lock_wait_s=wait_s, time_scale=time_scale)
    except StationError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))
    sys.exit(1 if report.problems else 0)

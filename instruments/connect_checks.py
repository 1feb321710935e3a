"""What a role reads from its instrument at connect, and how it compares with the station file.

At connect every role asks its instrument (queries only, nothing is changed) for the settings
it depends on (the AMI 430's units, coil constant, current limit, ramp segments and switch; the
Kepco's operating mode and rating; the lock-in's reference source; ...) and records each as a
``Finding``:

- ``ok``:       the instrument agrees with the station file;
- ``adapted``:  the role follows the instrument (units it converts from);
- ``note``:     worth knowing, nothing to compare (a range, a reading);
- ``warning``:  the run can go on, but a person should look (a quench flag, a heater loop off);
- ``mismatch``: the run would be wrong or unsafe; connect() refuses, naming both values.

``loopscope station check`` (instruments/commissioning.py) connects with refusal turned off
and lists every finding of every instrument, so that all mismatches show at once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

OK, ADAPTED, NOTE, WARNING, MISMATCH = "ok", "adapted", "note", "warning", "mismatch"
VERDICTS = (OK, ADAPTED, NOTE, WARNING, MISMATCH)


@dataclass(frozen=True)
class Finding:
    setting: str          # in the lab's words: "coil constant", "reference source"
    instrument: str       # what the instrument said, with the query: "0.1 T/A (COIL? = 1 kG/A)"
    station: str = ""     # what the station file says ("" where it says nothing)
    verdict: str = NOTE
    detail: str = ""      # a sentence with both values, what goes wrong and what to change

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")

    @property
    def message(self) -> str:
        """One line: the setting, both values and the consequence."""
        if self.detail:
            return f"{self.setting}: {self.detail}"
        text = f"{self.setting}: the instrument's {self.instrument}"
        return text + (f", the station's {self.station}" if self.station else "")

    def as_dict(self) -> dict:
        return asdict(self)


def mismatches(findings) -> list[Finding]:
    return [f for f in findings if f.verdict == MISMATCH]


def interface_of(resource: str) -> str:
    """The kind of connection a VISA resource string names, as a lab says it."""
    head = resource.strip().upper()
    if head.startswith("TCPIP"):
        return "LAN (VXI-11)" if head.endswith("::INSTR") else "LAN (raw socket)"
    if head.startswith("ASRL"):
        return "serial (RS-232 / USB-serial)"
    if head.startswith("GPIB"):
        return "GPIB (IEEE-488)"
    if head.startswith("USB"):
        return "USB (USBTMC)"
    return "unknown"

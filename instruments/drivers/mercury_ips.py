"""Oxford Instruments Mercury iPS superconducting magnet power supply, pymeasure-style.

pymeasure has no driver for the Mercury iPS, so this is a plain pymeasure ``Instrument``.
Nothing is written at construction or by a reading: connect sends *IDN? and READ queries only.

The protocol (Mercury iPS Operator's Manual, Issue 14, 10.3; the PSU signal table was not
found, the signal names are QCoDeS's, see sim_devices/instruments/mercury_ips.py): lines end
with LF, the verbs are READ and SET, every reply starts with STAT. A READ is answered with
the command echoed and the value, ``STAT:DEV:GRPZ:PSU:SIG:FLD:1.0000T``; a SET with the value
set and VALID or INVALID, ``STAT:SET:DEV:GRPZ:PSU:SIG:FSET:1.0000:VALID``. There is no error
queue: the refusal is in the reply itself, so every SET's reply is checked here, and a reply
for another signal, INVALID, NOT_FOUND or anything else raises (RefusedCommandError naming
the command and the reply). A READ reply that does not echo the signal asked for raises too
(the exchange is out of step: nothing is guessed).

Signals (``DEV:<UID>:PSU:SIG:``): CURR output current (A), FLD output field (T), PCUR / PFLD
the magnet's persistent current / field, CSET / FSET the targets, RCST / RFST the ramp rates
per minute (A/min, T/min), VOLT the output voltage, SWHT the switch heater (ON/OFF);
``DEV:<UID>:PSU:ACTN`` HOLD, RTOS (ramp to set), RTOZ (ramp to zero), CLMP (clamp);
``DEV:<UID>:PSU:ATOB`` the current/field ratio (A/T); ``SYS:ALRM`` the alarms. Firmware from
2.6 on spells the PSU "SPSU" (QCoDeS); the driver follows the firmware *IDN? reports.

Limits (construction): a target beyond ``max_field_T`` / ``max_current_A`` or a rate beyond
``max_ramp_rate_A_per_s`` is refused before anything is sent (LimitError); without limits every
setpoint is refused. The heater is never switched on while the output current differs from the
magnet's persistent current by more than ``mismatch_tolerance_A``.
"""
from __future__ import annotations

import re

from pymeasure.instruments import Instrument

from loopscope.instruments.drivers._base import LabInstrument, strict_limit
from loopscope.instruments.roles import InstrumentError, LimitError, RefusedCommandError

#: ACTN words (QCoDeS's mapping: HOLD, TO SET, TO ZERO, CLAMP)
ACTIONS = ("HOLD", "RTOS", "RTOZ", "CLMP")
#: the unit each signal's value carries
UNITS = {"CURR": "A", "FLD": "T", "PCUR": "A", "PFLD": "T", "CSET": "A", "FSET": "T",
         "RCST": "A/m", "RFST": "T/m", "VOLT": "V"}
_NUMBER = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([A-Za-z/]*)$")


def firmware_psu_word(firmware: str) -> str:
    """"PSU", or "SPSU" from firmware 2.6 on (QCoDeS: the 2.5 -> 2.6 update changed it)."""
    parts = re.findall(r"\d+", firmware)[:2]
    major, minor = (int(p) for p in (parts + ["0", "0"])[:2])
    return "SPSU" if (major, minor) >= (2, 6) else "PSU"


def parse_value(text: str, unit: str, what: str) -> float:
    """``"1.0000T"`` with unit T -> 1.0; ValueError if garbled or in another unit."""
    m = _NUMBER.match(text.strip())
    if not m or m.group(2) not in (unit, ""):
        raise ValueError(f"{what}: unparsable value {text!r} (expected <number>{unit})")
    return float(m.group(1))


class MercuryIPS(LabInstrument, Instrument):
    """Mercury iPS, one magnet group, with target, rate and heater interlocks."""

    # "IDN:OXFORD INSTRUMENTS:MERCURY dd:ss:ff" (manual 10.3.2; QCoDeS's recorded sim reply
    # "IDN:OXFORD INSTRUMENTS:SIMULATED MERCURY iPS:000:000"). The Mercury iTC (a temperature
    # controller on the same protocol) and the older IPS120 are refused.
    IDN_PATTERN = r"^IDN:OXFORD INSTRUMENTS:(?:SIMULATED )?MERCURY\s*IPS(?![0-9A-Z])"
    IDN_EXPECTED = "'IDN:OXFORD INSTRUMENTS:MERCURY iPS:<serial>:<firmware>'"
    MODEL = "Oxford Instruments Mercury iPS"
    SNAPSHOT_PROPERTIES = ("catalogue", "action", "heater_on", "current_to_field",
                           "current_ramp_rate", "current_target")

    #: |output - persistent| current, A, above which the heater must not be switched on
    mismatch_tolerance_A = 0.05

    def __init__(self, adapter, name="Oxford Instruments Mercury iPS magnet supply", *,
                 group: str = "GRPZ", max_field_T: float | None = None,
                 max_current_A: float | None = None,
                 max_ramp_rate_A_per_s: float | None = None, **kwargs):
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        if not re.fullmatch(r"[A-Z0-9.]+", group):
            raise ValueError(f"group {group!r}: a UID such as GRPZ")
        self.group = group
        self.max_field_T = max_field_T
        self.max_current_A = max_current_A
        self.max_ramp_rate_A_per_s = max_ramp_rate_A_per_s
        self.psu_word = "PSU"

    # identity and errors --------------------------------------------------------------------
    def check_identity(self) -> str:
        idn = super().check_identity()
        self.psu_word = firmware_psu_word(idn.split(":")[-1])
        return idn

    def check_errors(self) -> list:
        """No error queue or status register: each SET's reply says VALID or INVALID and is
        checked where it is read (``set``), so there is nothing left to read here."""
        self._take_unchecked()
        return []

    # the exchange ------------------------------------------------------------------------------
    @property
    def psu(self) -> str:
        return f"DEV:{self.group}:{self.psu_word}"

    def read_noun(self, noun: str) -> str:
        """READ:<noun>; the reply must echo it: returns what follows."""
        reply = str(self.ask(f"READ:{noun}")).strip()
        head = f"STAT:{noun}:"
        if not reply.startswith(head) or reply.endswith(":INVALID") or reply.endswith("NOT_FOUND"):
            raise InstrumentError(f"{self.who()}: READ:{noun} answered {reply!r} (expected "
                                  f"{head}<value>)")
        return reply[len(head):]

    def set_noun(self, noun: str, value: str) -> str:
        """SET:<noun>:<value>; the reply must be STAT:SET:<noun>:<value set>:VALID."""
        command = f"SET:{noun}:{value}"
        reply = str(self.ask(command)).strip()
        head = f"STAT:SET:{noun}:"
        if reply.startswith(head) and reply.endswith(":VALID") and not reply.endswith(":INVALID"):
            return reply[len(head):-len(":VALID")]
        if reply.startswith(head) and reply.endswith(":INVALID"):
            detail = f"the supply refused {command!r}: it answered {reply!r}"
        else:
            detail = (f"{command!r} was answered {reply!r}, not STAT:SET:{noun}:...:VALID (a "
                      f"reply for another signal, or the exchange is out of step)")
        raise RefusedCommandError(f"{self.who()}: {detail}", detail=detail,
                                  commands=[command], errors=[(0, reply)])

    def signal(self, sig: str) -> float:
        noun = f"{self.psu}:SIG:{sig}"
        return parse_value(self.read_noun(noun), UNITS[sig], f"READ:{noun}")

    # readings ----------------------------------------------------------------------------------
    catalogue = property(lambda self: self.read_noun("SYS:CAT"),
                         doc="Get the hardware catalogue (READ:SYS:CAT), e.g. DEV:GRPZ:PSU.")
    alarms = property(lambda self: self.read_noun("SYS:ALRM"),
                      doc="Get the alarm text (READ:SYS:ALRM); empty without alarms.")
    output_current_A = property(lambda self: self.signal("CURR"), doc="Get CURR (A).")
    output_field_T = property(lambda self: self.signal("FLD"), doc="Get FLD (T).")
    persistent_current_A = property(lambda self: self.signal("PCUR"), doc="Get PCUR (A).")
    persistent_field_T = property(lambda self: self.signal("PFLD"), doc="Get PFLD (T).")
    current_target = property(lambda self: self.signal("CSET"), doc="Get CSET (A).")
    field_target = property(lambda self: self.signal("FSET"), doc="Get FSET (T).")
    output_voltage = property(lambda self: self.signal("VOLT"), doc="Get VOLT (V).")
    current_ramp_rate = property(lambda self: self.signal("RCST"), doc="Get RCST (A/min).")
    field_ramp_rate = property(lambda self: self.signal("RFST"), doc="Get RFST (T/min).")

    @property
    def current_to_field(self) -> float:
        """ATOB, the supply's current/field ratio (A/T)."""
        noun = f"{self.psu}:ATOB"
        return parse_value(self.read_noun(noun), "", f"READ:{noun}")

    @property
    def heater_on(self) -> bool:
        """Get the switch heater (SIG:SWHT, ON or OFF)."""
        reply = self.read_noun(f"{self.psu}:SIG:SWHT")
        if reply not in ("ON", "OFF"):
            raise ValueError(f"SIG:SWHT: expected ON or OFF, got {reply!r}")
        return reply == "ON"

    @property
    def action(self) -> str:
        """Get ACTN: HOLD, RTOS, RTOZ or CLMP."""
        reply = self.read_noun(f"{self.psu}:ACTN")
        if reply not in ACTIONS:
            raise ValueError(f"ACTN: expected one of {ACTIONS}, got {reply!r}")
        return reply

    # setpoints ---------------------------------------------------------------------------------
    def _limits(self) -> tuple[float, float]:
        if self.max_current_A is None or self.max_ramp_rate_A_per_s is None:
            raise LimitError("no limit configured for this driver (construct it with "
                             "max_field_T, max_current_A and max_ramp_rate_A_per_s)")
        return float(self.max_current_A), float(self.max_ramp_rate_A_per_s)

    def set_current_target(self, amps: float, atob_A_per_T: float) -> None:
        """CSET, within the current limit and (by ATOB) the field limit."""
        max_A, _ = self._limits()
        if self.max_field_T is not None:
            max_A = min(max_A, float(self.max_field_T) * atob_A_per_T)
        try:
            strict_limit(amps, (-max_A, max_A))
        except LimitError as exc:
            raise LimitError(f"{self.who()}: target {amps!r} A refused: {exc}") from None
        self.set_noun(f"{self.psu}:SIG:CSET", f"{amps:.4f}")

    def set_current_ramp_rate(self, rate_A_per_s: float) -> None:
        """RCST in A/min from a rate in A/s, positive and within the rate limit."""
        _, max_rate = self._limits()
        try:
            strict_limit(rate_A_per_s, (0.0, max_rate))
        except LimitError as exc:
            raise LimitError(f"{self.who()}: ramp rate {rate_A_per_s!r} A/s refused: {exc}") from None
        if not rate_A_per_s > 0:
            raise LimitError(f"{self.who()}: a ramp rate must be positive")
        self.set_noun(f"{self.psu}:SIG:RCST", f"{rate_A_per_s * 60.0:.6g}")

    def set_action(self, word: str) -> None:
        if word not in ACTIONS:
            raise ValueError(f"ACTN {word!r}: one of {ACTIONS}")
        self.set_noun(f"{self.psu}:ACTN", word)

    def switch_heater_on(self) -> None:
        """SWHT ON, only while the output current matches the persistent current."""
        supply, magnet = self.output_current_A, self.persistent_current_A
        if abs(supply - magnet) > self.mismatch_tolerance_A:
            raise InstrumentError(
                f"{self.who()}: refusing to switch the persistent-switch heater on: output "
                f"current {supply:g} A differs from the persistent current {magnet:g} A by more "
                f"than {self.mismatch_tolerance_A:g} A; ramp the leads to it first")
        self.set_noun(f"{self.psu}:SIG:SWHT", "ON")

    def switch_heater_off(self) -> None:
        self.set_noun(f"{self.psu}:SIG:SWHT", "OFF")

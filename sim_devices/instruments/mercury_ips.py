"""Oxford Instruments Mercury iPS superconducting magnet power supply driving the lab's magnet.

The same superconducting magnet (sim_devices/magnet.py) the AMI 430 and Cryomagnetics 4G twins
drive: the ramp moves the supply current I_s at the set rate, limited by the magnet's
inductance and the voltage limit (L dI/dt <= VLIM); the persistent-switch heater takes the
magnet's warm/cool times and a persistent magnet's current decays with the shared model's L/R
time constant. One magnet group (GRPZ), as a single-axis Mercury iPS.

Sources.

- The Mercury iPS Operator's Manual (Oxford Instruments NanoScience, Issue 14, Mar 2016,
  UMC0071; pages 108-109 and 120 read on manualshive.com): the SCPI-like protocol. Commands are
  case-sensitive, keywords at most four characters, separated by colons, lines end with LF
  (10.3.1); ``*IDN?`` answers ``IDN:OXFORD INSTRUMENTS:MERCURY dd:ss:ff`` (type, serial,
  firmware; 10.3.2) and is the only IEEE 488.2 common command the iPS supports; the verbs are
  READ and SET, both answered with STAT, a SET "followed by the value set" (10.3.3-10.3.4);
  a setting of a read-only noun is invalid; the invalid responses ``<VERB>:INVALID``,
  ``<VERB>:<NOUN>:INVALID``, NOT_FOUND for a UID that does not exist (10.3.6).
  The manual's table of the PSU signals was NOT found: the signal names and reply forms below
  come from the clients.
- QCoDeS's OxfordMercuryiPS (qcodes/instrument_drivers/oxford/MercuryiPS_VISA.py): the
  signals ``READ/SET:DEV:<UID>:PSU:SIG:{SWHT,VOLT,CURR,PCUR,CSET,FSET,RCST,RFST,FLD,PFLD}``,
  ``...:PSU:ATOB`` (A/T), ``...:PSU:ACTN`` with HOLD, RTOS (to set), RTOZ (to zero), CLMP
  (clamp; RTOS refused while clamped, HOLD first), rates per minute (RCST A/min, RFST
  T/min), the SET reply ending in VALID with the value second from last, the READ reply
  echoing the command after STAT, the LAN socket on port 7020, firmware >= 2.6 spelling
  the PSU "SPSU" (this twin reports 2.5, so PSU);
- Lab::Measurement's OI_Mercury (metacpan): READ:SYS:CAT answering
  ``STAT:SYS:CAT:DEV:GRPX:PSU:...``, the typical replies ``STAT:DEV:GRPZ:PSU:SIG:CURR:0.0002A``
  and ``...:SIG:SWHT:OFF``; other public clients quote ``...:SIG:FLD:0.5000T`` and rates
  in T/m.

What the twin decides itself (docs/simulated_lab.md lists it): the reply to an unknown or
refused noun is ``STAT:<the command after its verb>:INVALID`` (``STAT:SET:...:INVALID`` for a
SET), a UID other than GRPZ answers ``STAT:<nouns up to the UID>:NOT_FOUND``; a target beyond
the current limit, a rate <= 0, CLMP with the output away from 0 A, RTOS/RTOZ while clamped or
while the switch heats or cools, and a heater change while the output moves are refused
(INVALID); ATOB is read-only; ACTN reads HOLD again once a ramp has arrived; PCUR/PFLD report
the magnet current the supply left in it at heater-off (with the heater on, the magnet current);
a quench is reported by ``READ:SYS:ALRM`` (the manual's directory of alarms was not read).
"""
from __future__ import annotations

import re

from .. import magnet as mg
from .base import SimInstrument

UID = "GRPZ"
#: the 120 A Mercury iPS (the model's rating: station validation refuses more)
MAX_OUTPUT_A = 120.0
#: a value with an optional unit, as a SET carries it ("1.5", "1.5T", "0.6T/m")
_VALUE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z/]*)\s*$")
SETTABLE = ("CSET", "FSET", "RCST", "RFST", "SWHT")
READABLE = ("CURR", "FLD", "PCUR", "PFLD", "CSET", "FSET", "RCST", "RFST", "VOLT", "SWHT")
ACTIONS = ("HOLD", "RTOS", "RTOZ", "CLMP")


class MercuryIPS(SimInstrument):
    name = "magnet_supply"
    model = "Oxford Instruments Mercury iPS"
    # the manual's form IDN:OXFORD INSTRUMENTS:MERCURY dd:ss:ff (10.3.2)
    idn = "IDN:OXFORD INSTRUMENTS:MERCURY iPS:IPS-0317:2.5.09.000"
    reply_termination = "\n"
    scpi = False
    error_queue_size = 0

    def setup(self):
        m = self.world.magnet
        m.current_limit_A = min(m.current_limit_A, MAX_OUTPUT_A)
        self.cset_A = 0.0
        self.rate_A_per_s = m.ramp_rate
        self.action = "HOLD"
        #: the supply current when the heater last went off, A (PCUR while persistent)
        self.persistent_current_A = m.I_m
        self._apply_rate()

    def reset(self):
        """No *RST on the iPS (10.3.1: only *IDN? of the common commands)."""

    # ---------------------------------------------------------------- dispatch
    def handle_line(self, line: str, refuse=None) -> str | None:
        with self.world.lock:
            self.world.advance()
            self.command_log.append((self.world.t, line))
            text = line.strip()
            if not text:
                return None
            if text == "*IDN?":
                return self.idn
            verb, _, rest = text.partition(":")
            if verb not in ("READ", "SET") or not rest:
                return f"{verb}:INVALID"
            if refuse is not None and refuse(text):       # an injected fault: refused
                return self._invalid(verb, rest)
            if verb == "READ":
                return self._read(rest)
            return self._set(rest)

    @staticmethod
    def _invalid(verb: str, rest: str) -> str:
        return f"STAT:SET:{rest}:INVALID" if verb == "SET" else f"STAT:{rest}:INVALID"

    def _uid_check(self, nouns: list[str]) -> str | None:
        """NOT_FOUND for a device other than this supply's one group."""
        if len(nouns) >= 2 and nouns[0] == "DEV" and nouns[1] != UID:
            return ":".join(nouns[:2])
        return None

    # ---------------------------------------------------------------- READ
    def _read(self, rest: str) -> str:
        nouns = rest.split(":")
        missing = self._uid_check(nouns)
        if missing:
            return f"STAT:{missing}:NOT_FOUND"
        if nouns == ["SYS", "CAT"]:
            return f"STAT:SYS:CAT:DEV:{UID}:PSU"
        if nouns == ["SYS", "ALRM"]:
            return f"STAT:SYS:ALRM:{self._alarms()}"
        if nouns[:3] == ["DEV", UID, "PSU"]:
            tail = nouns[3:]
            if tail == ["ACTN"]:
                return f"STAT:{rest}:{self._action_now()}"
            if tail == ["ATOB"]:
                return f"STAT:{rest}:{1.0 / self.world.magnet.coil_constant:.4f}"
            if len(tail) == 2 and tail[0] == "SIG" and tail[1] in READABLE:
                return f"STAT:{rest}:{self._signal(tail[1])}"
        return f"STAT:{rest}:INVALID"

    def _alarms(self) -> str:
        m = self.world.magnet
        return f"DEV:{UID}:PSU:Magnet quench;" if m.quenched else ""

    def _signal(self, sig: str) -> str:
        m = self.world.magnet
        coil = m.coil_constant
        if sig == "CURR":
            return f"{m.I_s:.4f}A"
        if sig == "FLD":
            return f"{m.I_s * coil:.4f}T"
        if sig == "PCUR":
            return f"{self._magnet_current():.4f}A"
        if sig == "PFLD":
            return f"{self._magnet_current() * coil:.4f}T"
        if sig == "CSET":
            return f"{self.cset_A:.4f}A"
        if sig == "FSET":
            return f"{self.cset_A * coil:.4f}T"
        if sig == "RCST":
            return f"{self.rate_A_per_s * 60:.4f}A/m"
        if sig == "RFST":
            return f"{self.rate_A_per_s * 60 * coil:.4f}T/m"
        if sig == "VOLT":
            return f"{m.supply_voltage_V + self.noise(1e-4):.4f}V"
        # SWHT
        return "ON" if (m.switch_installed and m.heater_on) else "OFF"

    def _magnet_current(self) -> float:
        m = self.world.magnet
        if m.switch_installed and not m.heater_on and not m.quenched:
            return self.persistent_current_A
        return m.I_m

    def _action_now(self) -> str:
        """ACTN: RTOS/RTOZ while the output moves, HOLD once it has arrived."""
        m = self.world.magnet
        if self.action in ("RTOS", "RTOZ") and m.state not in (mg.RAMPING, mg.ZEROING):
            self.action = "HOLD"
        return self.action

    # ---------------------------------------------------------------- SET
    def _set(self, rest: str) -> str:
        nouns = rest.split(":")
        missing = self._uid_check(nouns)
        if missing:
            return f"STAT:SET:{missing}:NOT_FOUND"
        ok = False
        if nouns[:3] == ["DEV", UID, "PSU"]:
            tail = nouns[3:]
            if len(tail) == 2 and tail[0] == "ACTN":
                ok = self._set_action(tail[1])
            elif len(tail) == 3 and tail[0] == "SIG" and tail[1] in SETTABLE:
                ok = self._set_signal(tail[1], tail[2])
        return f"STAT:SET:{rest}:{'VALID' if ok else 'INVALID'}"

    def _number(self, text: str) -> float | None:
        match = _VALUE.match(text)
        return float(match.group(1)) if match else None

    def _set_signal(self, sig: str, value: str) -> bool:
        m = self.world.magnet
        if sig == "SWHT":
            return self._set_heater(value)
        v = self._number(value)
        if v is None:
            return False
        if sig in ("FSET", "RFST"):
            v /= m.coil_constant
        if sig in ("RCST", "RFST"):
            if not v > 0:
                return False
            self.rate_A_per_s = v / 60.0
            self._apply_rate()
            return True
        if abs(v) > m.current_limit_A * (1 + 1e-9):
            return False
        self.cset_A = v
        if self._action_now() == "RTOS":      # a ramp under way follows the new target
            m.target_A = v
        return True

    def _apply_rate(self):
        m = self.world.magnet
        m.segment_count = 1
        m.segments[0] = [self.rate_A_per_s, m.current_limit_A]

    def _set_heater(self, value: str) -> bool:
        m = self.world.magnet
        if value not in ("ON", "OFF") or not m.switch_installed:
            return False
        if self._action_now() in ("RTOS", "RTOZ"):
            return False
        was_on = m.heater_on
        if m.set_heater(value == "ON"):
            return False
        if was_on and not m.heater_on:
            self.persistent_current_A = m.I_m
        return True

    def _set_action(self, word: str) -> bool:
        m = self.world.magnet
        if word not in ACTIONS:
            return False
        now = self._action_now()
        if word == "HOLD":
            m.pause()
            self.action = "HOLD"
            return True
        if word == "CLMP":
            if m.I_s != 0.0 or now in ("RTOS", "RTOZ"):
                return False
            m.pause()
            self.action = "CLMP"
            return True
        if now == "CLMP":
            return False
        if word == "RTOS":
            m.target_A = self.cset_A
            err = m.ramp()
        else:
            err = m.zero()
        if err:
            return False
        self.action = word
        return True

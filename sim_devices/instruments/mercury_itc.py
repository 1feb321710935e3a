"""Oxford Instruments Mercury iTC temperature controller on the first-order cryostat (a VTI or
a 1.5-300 K insert): one temperature board (MB1.T1, a Cernox-like NTC sensor on the sample)
whose control loop drives the heater board MB0.H1 (the cryostat's heater).

Follows the Mercury iTC manual's SCPI command set (Handbook 59-UMC0071 Issue 01, Nov 2011,
chapter 10 "Command reference guide", printed pages 105-113; Operator's Manual Issue 05, Feb
2015, section 8.3, pages 104-114); docs/simulated_lab.md lists what comes from which page, and
what comes from public clients instead (marked "client" below).

The protocol (10.3.1-10.3.5 / 8.3.3-8.3.6):

- lines end with LF, keywords are case-sensitive and at most four characters; a line is
  ``<VERB>:<NOUN>:<NOUN>...`` with the verbs READ and SET; the iTC answers both with STAT:
  ``READ:DEV:MB1.T1:TEMP:SIG:TEMP`` -> ``STAT:DEV:MB1.T1:TEMP:SIG:TEMP:4.2000K`` (a signal is a
  value followed by its scale and unit, n/u/m/k/M prefixes: ``12.345:mV`` in the manual's
  example, ``174.3112mV`` in pymeasure's recorded replies); ``SET:<noun>:<value>`` ->
  ``STAT:SET:<noun>:<value>:VALID`` (the value set echoed, as pymeasure's transcript
  ``STAT:SET:DEV:MB1.T1:TEMP:LOOP:ENAB:OFF:VALID`` has it). Several keys of one group may go
  in one line (``READ:...:LOOP:P:I:D``, ``SET:...:LOOP:P:5:I:2:D:0``: the manual's sensor
  configuration example sets several at once; PSI's frappy driver reads and sets them so);
- what cannot be interpreted is answered with INVALID right after the term (8.3.3): a verb
  (``<VERB>:INVALID``), a noun, a value out of range, a read-only noun set; NOT_FOUND for a
  UID the unit does not have; N/A for a function that does not apply (the gas-flow keys on a
  unit without an auxiliary board). A READ may end with ``?`` (the Issue 01 examples);
- ``*IDN?`` -> ``IDN:OXFORD INSTRUMENTS:MERCURY ITC:<serial>:<firmware>`` (8.3.2; pymeasure's
  recorded ``IDN:OXFORD INSTRUMENTS:MERCURY ITC:232150255:2.6.04.000``); no other common
  command, no error queue, no status registers: every command's reply says whether it was
  taken.

Nouns (the tables of 10.3.4.1-10.3.4.6): SYS:CAT (the boards: ``STAT:SYS:CAT:DEV:MB0.H1:HTR:
DEV:MB1.T1:TEMP``, the form Lab::Measurement and ISIS's IOC parse), SYS:TIME; DEV:MB1.T1:TEMP:
NICK, TYPE, EXCT:TYPE/MAG, CAL:FILE/INT/SCAL/OFFS/HOTL/COLD, MAN:HVER/FVER/SERL (read here:
the twin has one calibrated sensor), SIG:TEMP/RES/VOLT/CURR/POWR/SLOP; the loop DEV:MB1.T1:
TEMP:LOOP: HTR (the heater the loop drives, a UID, 0 or None to unset), ENAB (ON: the PID loop
drives the heater; OFF: the heater is at HSET), HSET (heater output in % of VLIM), TSET (cold
to hot limit of the calibration), PIDT, P/I/D (PSET/ISET/DSET in Issue 01; P, I, D as Issue 05's
sister manuals and every client have them: 0-199.9, 0-199.9, 0-299.9), RSET and RENA (the
setpoint ramp in K/min: from pymeasure's, frappy's and ISIS's clients, not in the pages read;
TSET then reads the working setpoint, as frappy reads it), FSET/FAUT (N/A: no gas-flow board);
DEV:MB0.H1:HTR: NICK, VLIM (0-40 V), RES (nominal resistance, 20-100 ohm), PMAX (VLIM^2/RES),
SIG:VOLT/CURR/POWR (VOLT and POWR may be set when no PID loop drives the heater).

The physics: the heater's voltage V (HSET % of VLIM in manual, the loop's output in auto)
dissipates V^2/R in the cryostat's heater (cryostat.heater_resistance_ohm; the iTC's POWR is
V^2/RES with its nominal RES, as the hardware computes it, CURR is V/R measured); full output
VLIM^2/R holds T with G (T^2 - T_base^2) = P (cryostat.heater_conductance_W_per_K2), which is
what the shared first-order cryostat relaxes toward, as under the Lake Shore 336's ranges.

Interfaces (manual 4.2.5, 7): Ethernet (a TCP socket, port 7020 on the unit: the port every
client uses, Lab::Measurement, mercuryitc, QCoDeS's Mercury iPS; the page naming it was not
found), USB (a virtual serial port: the ``Serial2 USB`` of 4.2.5), RS-232 (served here on a
pty: 57600 baud, 8 data bits, no parity, 2 stop bits, no handshake as ISIS's IOC opens it; the
manual's RS-232 settings page was not found) and optional GPIB. The legacy ITC503 command set
(7.2, CR-terminated single letters) is not modelled.
"""
from __future__ import annotations

import math
import re
import time

from loopscope.sim_devices.cryostat import Cryostat

from .base import SimInstrument

SENSOR = "MB1.T1"
HEATER = "MB0.H1"
#: device types the manual names (DEV:<UID>:<TYPE>); one that is not the board's is N/A
DEVICE_TYPES = ("TEMP", "HTR", "LVL", "GAS", "AUX", "PRES", "PSU")
#: a number, optionally followed by a unit (``4.2K``, ``5K/m``, ``inf``)
VALUE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf)([A-Za-z/%]*)$")
#: the sensor's calibration limits (CAL:COLD, CAL:HOTL): TSET must lie between them
COLD_LIMIT_K, HOT_LIMIT_K = 1.2, 325.0
#: the temperature board's excitation (EXCT:MAG), unipolar
EXCITATION_A = 1.0e-6
#: the temperature reading's relative noise
READING_NOISE = 1.0e-4


class _Refused(Exception):
    """A term the iTC cannot take: answered with ``word`` (INVALID, N/A) after it."""

    def __init__(self, word: str = "INVALID"):
        super().__init__(word)
        self.word = word


def cernox_ohm(T: float) -> float:
    """An NTC sensor of the Cernox kind: 60 ohm at 300 K, 2.3 kohm at 4.2 K, 5.4 kohm at 1.5 K
    (a power law of the right shape, not a calibration)."""
    return 60.0 * (300.0 / max(T, 0.05)) ** 0.85


def _number(text: str, units=("",), lo=-math.inf, hi=math.inf) -> float:
    m = VALUE.match(text)
    if not m or m.group(2) not in units:
        raise _Refused()
    value = float(m.group(1))
    if not lo <= value <= hi:
        raise _Refused()
    return value


def _on_off(text: str) -> bool:
    if text not in ("ON", "OFF"):
        raise _Refused()
    return text == "ON"


class MercuryITC(SimInstrument):
    name = "temperature_controller"
    model = "Oxford Instruments Mercury iTC"
    idn = "IDN:OXFORD INSTRUMENTS:MERCURY ITC:232160478:2.6.04.000"
    reply_termination = "\n"
    scpi = False
    error_queue_size = 0     # every command's reply says VALID or INVALID; nothing to read later
    stb_eav_bit = 0
    # RS-232 as ISIS's IOC opens a Mercury iTC (client, the manual's page not found); SCPI
    # lines end with LF (10.3.1)
    serial_port = {"baud_rate": 57600, "data_bits": 8, "parity": "none", "stop_bits": 2,
                   "flow_control": "none", "reply_termination": "\n", "line_ends": "\n"}

    def setup(self):
        self.cryostat = self.world.cryostat
        if not isinstance(self.cryostat, Cryostat):
            raise ValueError("the Mercury iTC needs the first-order cryostat (cryostat.kind: "
                             "first_order): it runs VTIs and 1.5-300 K inserts")
        cr = self.world.config["cryostat"]
        self.heater_true_ohm = float(cr["heater_resistance_ohm"])
        self.conductance = float(cr["heater_conductance_W_per_K2"])
        self._defaults()
        self._apply()

    def _defaults(self):
        """The unit as it was left at the front panel: the loop on MB1.T1 assigned the heater
        MB0.H1, in manual (ENAB OFF) with the heater at 0 %, 10 V voltage limit into 50 ohm."""
        self.nick = {SENSOR: "VTI_T", HEATER: "VTI_H"}
        self.loop_heater = HEATER
        self.enabled = False
        self.manual_fraction = 0.0        # heater voltage / VLIM when no PID loop drives it
        self.target_K = round(self.cryostat.base_K, 4)
        self.ramp = None                  # (start K, start t, target K) while ramping
        self.ramp_on, self.ramp_K_per_min = False, 5.0
        self.pid_table = False
        self.pid = [5.0, 1.0, 0.0]
        self.vlim, self.nominal_ohm = 10.0, 50.0

    def reset(self):
        self._defaults()
        self._apply()

    # ------------------------------------------------------------------ dispatch
    def handle_line(self, line: str, refuse=None) -> str:
        """Every line is answered (the iTC has no silent commands in its SCPI set)."""
        with self.world.lock:
            self.world.advance()
            self.command_log.append((self.world.t, line))
            line = line.strip()
            if refuse is not None and refuse(line):
                return self._refused_by_fault(line)
            reply = self._answer(line)
            self._apply()
            return reply

    def handle(self, cmd: str):
        return self._answer(cmd)

    def _answer(self, line: str) -> str:
        if line == "*IDN?":
            return self.idn
        verb, sep, noun = line.partition(":")
        if verb not in ("READ", "SET") or not sep:
            return f"{verb}:INVALID"
        if verb == "READ" and noun.endswith("?"):
            noun = noun[:-1]
        head = "STAT:" if verb == "READ" else "STAT:SET:"
        tokens = noun.split(":")
        if tokens[0] == "SYS":
            tree, prefix, rest = self._sys_tree(), ["SYS"], tokens[1:]
        elif tokens[0] == "DEV" and len(tokens) >= 2:
            uid = tokens[1]
            boards = {SENSOR: ("TEMP", self._temp_tree), HEATER: ("HTR", self._htr_tree)}
            if uid not in boards:
                return f"{head}DEV:{uid}:NOT_FOUND"
            kind, build = boards[uid]
            if len(tokens) < 3 or tokens[2] not in DEVICE_TYPES:
                return f"{head}DEV:{uid}:{tokens[2] if len(tokens) > 2 else ''}:INVALID"
            if tokens[2] != kind:
                return f"{head}DEV:{uid}:{tokens[2]}:N/A"
            tree, prefix, rest = build(), ["DEV", uid, kind], tokens[3:]
        else:
            return f"{head}{tokens[0]}:INVALID"
        node, path = tree, list(prefix)
        while rest and isinstance(node.get(rest[0]), dict):
            node = node[rest[0]]
            path.append(rest.pop(0))
        if not rest:
            return head + ":".join(path) + ":INVALID"
        parts = [head + ":".join(path)]
        if verb == "READ":
            for key in rest:
                parts.append(f"{key}:{self._read_leaf(node, key)}")
            return ":".join(parts)
        pairs = [rest[i:i + 2] for i in range(0, len(rest), 2)]
        for pair in pairs:
            if len(pair) == 1:
                parts.append(f"{pair[0]}:INVALID")
                continue
            key, value = pair
            parts.append(f"{key}:{value}:{self._set_leaf(node, key, value)}")
        return ":".join(parts)

    def _read_leaf(self, node: dict, key: str) -> str:
        leaf = node.get(key)
        if leaf is None or isinstance(leaf, dict):
            return "INVALID"
        try:
            return leaf[0]()
        except _Refused as exc:
            return exc.word

    def _set_leaf(self, node: dict, key: str, value: str) -> str:
        leaf = node.get(key)
        if leaf is None or isinstance(leaf, dict) or leaf[1] is None:
            return "INVALID"             # unknown, or a read-only noun (10.3.3)
        try:
            leaf[1](value)
        except _Refused as exc:
            return exc.word
        return "VALID"

    def _refused_by_fault(self, line: str) -> str:
        verb, _, noun = line.partition(":")
        if verb == "SET":
            return f"STAT:SET:{noun}:INVALID"
        return f"STAT:{noun}:INVALID" if verb == "READ" else f"{verb}:INVALID"

    # ------------------------------------------------------------------ the noun trees
    # a leaf is (getter, setter or None); a dict is a group of keys
    def _sys_tree(self) -> dict:
        return {"CAT": (lambda: f"DEV:{HEATER}:HTR:DEV:{SENSOR}:TEMP", None),
                "TIME": (lambda: time.strftime("%H:%M:%S"), None)}

    def _manufacturing(self, serial: str) -> dict:
        return {"HVER": (lambda: "1.0", None), "FVER": (lambda: "2.6.04.000", None),
                "SERL": (lambda: serial, None)}

    def _nick(self, uid: str):
        def set_nick(value):
            if not value or len(value) > 32:
                raise _Refused()
            self.nick[uid] = value
        return (lambda: self.nick[uid], set_nick)

    def _temp_tree(self) -> dict:
        ro = lambda text: (lambda: text, None)  # noqa: E731 - a read-only constant
        return {
            "NICK": self._nick(SENSOR), "MAN": self._manufacturing("151620011"),
            "TYPE": ro("NTC"),
            "EXCT": {"TYPE": ro("UNIP"), "MAG": ro(f"{EXCITATION_A * 1e6:.4f}uA")},
            "CAL": {"FILE": ro("CX1050.dat"), "INT": ro("SPL"), "SCAL": ro("1.0000"),
                    "OFFS": ro("0.0000"), "HOTL": ro(f"{HOT_LIMIT_K:.4f}K"),
                    "COLD": ro(f"{COLD_LIMIT_K:.4f}K")},
            "SIG": {"TEMP": (lambda: f"{self._reading_K():.4f}K", None),
                    "RES": (lambda: f"{cernox_ohm(self._reading_K()):.4f}O", None),
                    "VOLT": (lambda: f"{cernox_ohm(self._reading_K()) * EXCITATION_A * 1e3:.4f}mV", None),
                    "CURR": (lambda: f"{EXCITATION_A * 1e6:.4f}uA", None),
                    "POWR": (lambda: f"{cernox_ohm(self._reading_K()) * EXCITATION_A ** 2 * 1e9:.4f}nW", None),
                    "SLOP": (lambda: f"{self._slope_ohm_per_K():.4f}O/K", None)},
            "LOOP": self._loop_tree(),
        }

    def _loop_tree(self) -> dict:
        def gain(i, hi):
            def put(value):
                self.pid[i] = _number(value, lo=0.0, hi=hi)
            return (lambda: f"{self.pid[i]:.1f}", put)

        def not_here():
            raise _Refused("N/A")      # no gas-flow (auxiliary) board on this unit

        def gas_set(value):
            raise _Refused("N/A")
        loop = {
            "HTR": (lambda: self.loop_heater or "None", self._set_loop_heater),
            "AUX": (lambda: "None", self._set_none),
            "ENAB": (lambda: "ON" if self.enabled else "OFF", self._set_enabled),
            "HSET": (lambda: f"{round(100.0 * self._output_fraction(), 4):g}", self._set_hset),
            "TSET": (lambda: f"{self._working_setpoint_K():.4f}K", self._set_tset),
            "PIDT": (lambda: "ON" if self.pid_table else "OFF",
                     lambda v: setattr(self, "pid_table", _on_off(v))),
            "RSET": (lambda: f"{self.ramp_K_per_min:.4f}K/m", self._set_rset),
            "RENA": (lambda: "ON" if self.ramp_on else "OFF", self._set_rena),
            "FSET": (not_here, gas_set), "FAUT": (not_here, gas_set),
        }
        for i, (short, long_, hi) in enumerate((("P", "PSET", 199.9), ("I", "ISET", 199.9),
                                                ("D", "DSET", 299.9))):
            loop[short] = loop[long_] = gain(i, hi)
        return loop

    def _htr_tree(self) -> dict:
        return {
            "NICK": self._nick(HEATER), "MAN": self._manufacturing("151620042"),
            "VLIM": (lambda: f"{self.vlim:g}", self._set_vlim),
            "RES": (lambda: f"{self.nominal_ohm:g}", self._set_res),
            "PMAX": (lambda: f"{self.vlim ** 2 / self.nominal_ohm:.4f}", None),
            "SIG": {"VOLT": (lambda: f"{self._heater_V():.4f}V", self._set_heater_volt),
                    "CURR": (lambda: f"{self._heater_V() / self.heater_true_ohm:.4f}A", None),
                    "POWR": (lambda: f"{self._heater_V() ** 2 / self.nominal_ohm:.4f}W",
                             self._set_heater_power)},
        }

    # ------------------------------------------------------------------ setters
    def _set_none(self, value):
        if value not in ("0", "None"):
            raise _Refused()

    def _set_loop_heater(self, value):
        if value in ("0", "None"):
            self.loop_heater = None
        elif value == HEATER:
            self.loop_heater = HEATER
        else:
            raise _Refused()

    def _set_enabled(self, value):
        self.enabled = _on_off(value)

    def _set_hset(self, value):
        self.manual_fraction = _number(value, ("", "%"), 0.0, 100.0) / 100.0

    def _set_tset(self, value):
        target = _number(value, ("", "K"), COLD_LIMIT_K, HOT_LIMIT_K)
        now = self._working_setpoint_K()
        if self.ramp_on and self.ramp_K_per_min > 0 and not math.isinf(self.ramp_K_per_min) \
                and target != now:
            self.ramp = (now, self.world.t, target)     # ramps from where it stands
        else:
            self.ramp = None
        self.target_K = target

    def _set_rset(self, value):
        self._working_setpoint_K()
        rate = _number(value, ("", "K/m"), 0.0, math.inf)
        self.ramp_K_per_min = rate
        if self.ramp is not None:                          # the ramp goes on at the new rate
            self.ramp = (self._working_setpoint_K(), self.world.t, self.target_K)

    def _set_rena(self, value):
        on = _on_off(value)
        if not on:
            self.ramp = None                               # the setpoint steps to the target
        self.ramp_on = on

    def _set_vlim(self, value):
        self.vlim = _number(value, ("", "V"), 0.0, 40.0)

    def _set_res(self, value):
        self.nominal_ohm = _number(value, ("", "O"), 20.0, 100.0)

    def _under_pid(self) -> bool:
        return self.enabled and self.loop_heater == HEATER

    def _set_heater_volt(self, value):
        if self._under_pid():
            raise _Refused()              # the loop drives it
        volts = _number(value, ("", "V"), 0.0, self.vlim)
        self.manual_fraction = volts / self.vlim if self.vlim else 0.0

    def _set_heater_power(self, value):
        if self._under_pid():
            raise _Refused()
        watts = _number(value, ("", "W"), 0.0, self.vlim ** 2 / self.nominal_ohm)
        self.manual_fraction = math.sqrt(watts * self.nominal_ohm) / self.vlim if self.vlim else 0.0

    # ------------------------------------------------------------------ the loop and the heater
    def _working_setpoint_K(self) -> float:
        """The setpoint the loop holds now: the target, or on its way there at RSET K/min."""
        if self.ramp is None:
            return self.target_K
        start, t0, target = self.ramp
        step = self.ramp_K_per_min / 60.0 * (self.world.t - t0)
        if step >= abs(target - start):
            self.ramp = None
            return target
        return start + math.copysign(step, target - start)

    def _output_fraction(self) -> float:
        """The heater voltage as a fraction of VLIM."""
        if self._under_pid():
            return math.sqrt(self.cryostat.heater_output_pct() / 100.0)
        return self.manual_fraction

    def _heater_V(self) -> float:
        return self._output_fraction() * self.vlim

    def _apply(self) -> None:
        """The loop and heater as the shared cryostat sees them."""
        c = self.cryostat
        full_W = self.vlim ** 2 / self.heater_true_ohm
        c.full_power_K = math.sqrt(c.base_K ** 2 + full_W / self.conductance)
        c.heater_range = 1 if self.vlim > 0 else 0
        c.setpoint_K = self._working_setpoint_K()
        c.pid = tuple(self.pid)
        if self._under_pid():
            c.mode = 1
        else:
            c.mode = 3           # open loop: power fraction = (voltage fraction)^2
            c.manual_output_pct = 100.0 * self.manual_fraction ** 2

    # ------------------------------------------------------------------ the sensor
    def _reading_K(self) -> float:
        return self.cryostat.temperature_K * (1.0 + self.noise(READING_NOISE))

    def _slope_ohm_per_K(self) -> float:
        T = self.cryostat.temperature_K
        return -0.85 * cernox_ohm(T) / max(T, 0.05)

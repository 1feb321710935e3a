"""Oxford Instruments Mercury iTC temperature controller: a new pymeasure driver that reads
its replies strictly.

pymeasure 0.16 has a stock driver (pymeasure.instruments.oxfordinstruments.MercuryiTC). It is
not the base here: it keeps the last colon-separated field of any reply, so a reply for another
address (a late answer to an earlier question) or an INVALID would be read as a value; its
setpoint and heater validators truncate (clamp) instead of refusing, and a set does not look
for VALID. It is the independent client that drives the simulated twin in tests/clients.

The commands are the manual's SCPI set (Mercury iTC Handbook 59-UMC0071, 10.3; Operator's
Manual Issue 05, 8.3): ``READ:<noun>`` is answered ``STAT:<noun>:<value>``, ``SET:<noun>:<value>``
``STAT:SET:<noun>:<value>:VALID`` (INVALID, NOT_FOUND, N/A or DENIED instead when refused).
Every reply is checked to repeat the noun that was asked; a refusal raises at once, naming the
command and the word. The iTC has no error queue and no status register: the reply of each
command is its own check, so nothing is read after a set but the set value itself (read back).
Nothing is written at connect or by a reading.
"""
from __future__ import annotations

import re

from pymeasure.instruments import Instrument

from loopscope.instruments.drivers._base import LabInstrument, strict_limit
from loopscope.instruments.roles import InstrumentError, LimitError, RefusedCommandError

#: what the iTC answers instead of a value when it does not take a command (manual 10.3.5)
REFUSALS = ("INVALID", "NOT_FOUND", "N/A", "DENIED")
REFUSAL_MEANING = {"INVALID": "the noun or the value cannot be interpreted",
                   "NOT_FOUND": "no board of that UID in this unit",
                   "N/A": "the function does not apply to that board",
                   "DENIED": "not permitted (engineering mode)"}
#: the manual's scale prefixes of a signal (n, u, m, none, k, M)
PREFIXES = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6}
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf"
#: a board's UID: motherboard or daughter board slot, then the device (T temperature, H heater)
UID_PATTERN = re.compile(r"^(MB|DB)\d+\.(T|H)\d+$")
#: the heater's voltage limit (HTR:VLIM, manual 10.3.4.3: 0.0 to 40.00)
MAX_VOLTAGE_LIMIT_V = 40.0
#: the nominal heater resistance the iTC takes (HTR:RES, manual 10.3.4.3: 20.00 to 100.00)
HEATER_OHM_RANGE = (20.0, 100.0)


def parse_quantity(text: str, unit: str, what: str, prefixed: bool = False) -> float:
    """``"4.2000K"`` -> 4.2; ``"174.3112mV"`` -> 0.1743112 (``prefixed``); a bare number is
    taken where the iTC gives none (VLIM, PMAX, HSET, P). ValueError for anything else."""
    prefix = "[numkM]?" if prefixed else ""
    m = re.fullmatch(rf"({_NUMBER})({prefix})({re.escape(unit)})?", text)
    if not m or (m.group(2) and not m.group(3)):
        raise ValueError(f"{what}: unparsable value {text!r} (expected a number in {unit or 'no unit'})")
    return float(m.group(1)) * PREFIXES[m.group(2)]


def parse_on_off(text: str, what: str) -> bool:
    if text not in ("ON", "OFF"):
        raise ValueError(f"{what}: expected ON or OFF, got {text!r}")
    return text == "ON"


class MercuryITC(LabInstrument, Instrument):
    """Mercury iTC: one temperature board's loop (``sensor``) driving one heater (``heater``)."""

    # IDN:OXFORD INSTRUMENTS:MERCURY <type>:<main board serial>:<firmware> (Operator's Manual
    # 8.3.2: "IDN:OXFORD INSTRUMENTS:MERCURY dd:ss:ff", dd the instrument type: iTC, iPS,
    # Cryojet); a real iTC's reply in pymeasure's recorded test:
    # "IDN:OXFORD INSTRUMENTS:MERCURY ITC:232150255:2.6.04.000". A Mercury iPS is refused.
    IDN_PATTERN = r"^IDN:OXFORD INSTRUMENTS:MERCURY ITC:"
    IDN_EXPECTED = "'IDN:OXFORD INSTRUMENTS:MERCURY ITC:<serial>:<firmware>'"
    MODEL = "Oxford Instruments Mercury iTC"
    #: Ethernet (socket), RS-232 and USB (a virtual serial port: ASRL), GPIB (option): manual
    #: 4.2.5. No USBTMC: a USB resource string is refused before connecting (station.py)
    INTERFACES = ("TCPIP", "ASRL", "GPIB")

    def __init__(self, adapter, name="Oxford Instruments Mercury iTC", *, sensor: str = "MB1.T1",
                 heater: str = "MB0.H1", max_temperature_K: float | None = None,
                 allowed_voltage_limits_V: tuple[float, ...] = (), **kwargs):
        # every interface: lines end with LF (manual 10.3.1)
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        kwargs.setdefault("includeSCPI", False)      # not SCPI: Oxford's READ/SET/STAT
        super().__init__(adapter, name, **kwargs)
        for uid, letter, what in ((sensor, "T", "sensor"), (heater, "H", "heater")):
            m = UID_PATTERN.match(str(uid))
            if not m or m.group(2) != letter:
                raise LimitError(f"{self.who()}: {what} {uid!r} is not a {what} board UID "
                                 f"(MB<n>.{letter}<n> or DB<n>.{letter}<n>)")
        self.sensor, self.heater = sensor, heater
        self.max_temperature_K = max_temperature_K
        self.allowed_voltage_limits_V = tuple(float(v) for v in allowed_voltage_limits_V)

    # ------------------------------------------------------------------ the exchanges
    def check_errors(self) -> list:
        """The iTC keeps no report of refused commands: each reply says VALID or INVALID."""
        return []

    def check_set_errors(self) -> list:
        self._take_unchecked()
        return []

    def _refusal(self, reply: str, echo: str) -> str | None:
        """The refusal word when ``reply`` refuses the command echoed as ``echo`` (the iTC
        repeats the noun up to the term it could not take, then the word)."""
        head, _, word = reply.rpartition(":")
        if word in REFUSALS and (echo + ":").startswith(head + ":"):
            return word
        return None

    def read_keys(self, group: str, keys: list[str]) -> list[str]:
        """``READ:<group>:<k1>:<k2>...`` -> the values, checked to answer for this group and
        these keys in order. InstrumentError for a refusal, ValueError for a reply that is
        not this question's (the session is then reopened before the next exchange)."""
        noun = f"{group}:{':'.join(keys)}"
        reply = self.ask(f"READ:{noun}").strip()
        head = f"STAT:{group}:"
        word = self._refusal(reply, f"STAT:{noun}")
        if word is not None:
            raise InstrumentError(f"{self.who()}: READ:{noun} answered {reply!r}: {word} "
                                  f"({REFUSAL_MEANING[word]})")
        if not reply.startswith(head):
            raise ValueError(f"READ:{noun}: the reply {reply!r} is for another address")
        fields = reply[len(head):].split(":")
        if len(fields) != 2 * len(keys) or fields[0::2] != list(keys):
            raise ValueError(f"READ:{noun}: the reply {reply!r} does not answer {keys}")
        values = fields[1::2]
        for key, value in zip(keys, values):
            if value in REFUSALS:
                raise InstrumentError(f"{self.who()}: READ:{noun} answered {reply!r}: {key} "
                                      f"{value} ({REFUSAL_MEANING[value]})")
        return values

    def read_noun(self, noun: str) -> str:
        group, _, key = noun.rpartition(":")
        return self.read_keys(group, [key])[0]

    def set_noun(self, noun: str, value: str) -> None:
        """``SET:<noun>:<value>``; the reply must be ``STAT:SET:<noun>:<value>:VALID``.
        RefusedCommandError when the iTC answers INVALID (or NOT_FOUND, N/A, DENIED)."""
        command = f"SET:{noun}:{value}"
        reply = self.ask(command).strip()
        self._take_unchecked()
        if reply == f"STAT:{command}:VALID":
            return
        word = self._refusal(reply, f"STAT:{command}")
        if word is not None:
            detail = (f"the instrument refused {command!r}: it answered {reply!r} "
                      f"({word}: {REFUSAL_MEANING[word]})")
            raise RefusedCommandError(f"{self.who()}: {detail}", detail=detail, commands=[command],
                                      errors=[(word, REFUSAL_MEANING[word])])
        raise ValueError(f"{command}: the reply {reply!r} is not this command's")

    # ------------------------------------------------------------------ addresses
    @property
    def _temp(self) -> str:
        return f"DEV:{self.sensor}:TEMP"

    @property
    def _loop(self) -> str:
        return f"DEV:{self.sensor}:TEMP:LOOP"

    @property
    def _htr(self) -> str:
        return f"DEV:{self.heater}:HTR"

    # ------------------------------------------------------------------ the unit
    def catalogue(self) -> list[tuple[str, str]]:
        """The boards of the unit, as (UID, type) (``READ:SYS:CAT``)."""
        reply = self.ask("READ:SYS:CAT").strip()
        head = "STAT:SYS:CAT:"
        if not reply.startswith(head):
            raise ValueError(f"READ:SYS:CAT: the reply {reply!r} is not the catalogue")
        fields = reply[len(head):].split(":")
        if len(fields) % 3 or any(f != "DEV" for f in fields[0::3]):
            raise ValueError(f"READ:SYS:CAT: unparsable catalogue {reply!r}")
        return list(zip(fields[1::3], fields[2::3]))

    # ------------------------------------------------------------------ the sensor
    @property
    def read_temperature_command(self) -> str:
        return f"READ:{self._temp}:SIG:TEMP"

    def parse_temperature_reply(self, reply: str) -> float:
        """The reply to read_temperature_command, read as read_keys reads it."""
        noun = self.read_temperature_command[len("READ:"):]
        reply = reply.strip()
        word = self._refusal(reply, f"STAT:{noun}")
        if word is not None:
            raise InstrumentError(f"{self.who()}: READ:{noun} answered {reply!r}: {word} "
                                  f"({REFUSAL_MEANING[word]})")
        if not reply.startswith(f"STAT:{noun}:"):
            raise ValueError(f"READ:{noun}: the reply {reply!r} is for another address")
        return parse_quantity(reply[len(noun) + 6:], "K", "SIG:TEMP")

    @property
    def temperature_K(self) -> float:
        """Get the sensor's temperature in K (``SIG:TEMP``)."""
        return parse_quantity(self.read_noun(f"{self._temp}:SIG:TEMP"), "K", "SIG:TEMP")

    @property
    def resistance_ohm(self) -> float:
        """Get the sensor's resistance in ohm (``SIG:RES``, unit O)."""
        return parse_quantity(self.read_noun(f"{self._temp}:SIG:RES"), "O", "SIG:RES", prefixed=True)

    @property
    def calibration_limits_K(self) -> tuple[float, float]:
        """Get (cold, hot) limits of the sensor's calibration (``CAL:COLD``, ``CAL:HOTL``):
        the iTC takes setpoints between them only."""
        cold, hot = self.read_keys(f"{self._temp}:CAL", ["COLD", "HOTL"])
        return parse_quantity(cold, "K", "CAL:COLD"), parse_quantity(hot, "K", "CAL:HOTL")

    # ------------------------------------------------------------------ the loop
    @property
    def setpoint_K(self) -> float:
        """Get the loop's working setpoint in K (``LOOP:TSET``; on its way to the target while
        a ramp runs)."""
        return parse_quantity(self.read_noun(f"{self._loop}:TSET"), "K", "LOOP:TSET")

    def set_setpoint_K(self, temperature_K: float) -> None:
        """Set the loop's setpoint; refuses (nothing sent) a value above the maximum temperature
        or below 0. Read back: TSET must be the value unless a ramp is running."""
        if self.max_temperature_K is None:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K refused: no maximum "
                             f"temperature configured")
        try:
            value = strict_limit(temperature_K, (0.0, self.max_temperature_K))
        except LimitError as exc:
            raise LimitError(f"{self.who()}: setpoint {temperature_K!r} K refused: {exc} K "
                             f"(station max_temperature_K)") from None
        text = f"{value:.4f}"
        self.set_noun(f"{self._loop}:TSET", text)
        now = self.setpoint_K
        if abs(now - float(text)) > 5e-5 and not self.ramp[0]:
            raise InstrumentError(f"{self.who()}: LOOP:TSET reads {now:g} K after TSET:{text} "
                                  f"(no ramp running)")

    @property
    def loop_heater(self) -> str | None:
        """Get the UID of the heater the loop drives (``LOOP:HTR``), None when unset."""
        uid = self.read_noun(f"{self._loop}:HTR")
        return None if uid in ("None", "0", "") else uid

    @property
    def loop_enabled(self) -> bool:
        """Get whether the PID loop drives the heater (``LOOP:ENAB`` ON) or HSET does (OFF)."""
        return parse_on_off(self.read_noun(f"{self._loop}:ENAB"), "LOOP:ENAB")

    def set_loop_enabled(self, on: bool) -> None:
        self.set_noun(f"{self._loop}:ENAB", "ON" if on else "OFF")
        if self.loop_enabled != bool(on):
            raise InstrumentError(f"{self.who()}: LOOP:ENAB does not read {'ON' if on else 'OFF'} "
                                  f"after it was set")

    @property
    def heater_percent(self) -> float:
        """Get the heater output in % (``LOOP:HSET``)."""
        return parse_quantity(self.read_noun(f"{self._loop}:HSET"), "%", "LOOP:HSET")

    def set_heater_percent(self, percent: float) -> None:
        """Set the manual heater output (loop ENAB OFF), read back."""
        try:
            value = strict_limit(percent, (0.0, 100.0))
        except LimitError as exc:
            raise LimitError(f"{self.who()}: heater output {percent!r} % refused: {exc}") from None
        self.set_noun(f"{self._loop}:HSET", f"{value:g}")
        now = self.heater_percent
        if not self.loop_enabled and abs(now - value) > 1e-3:
            raise InstrumentError(f"{self.who()}: LOOP:HSET reads {now:g} % after HSET:{value:g}")

    @property
    def pid(self) -> tuple[float, float, float]:
        """Get (P, I, D) of the loop (``LOOP:P:I:D`` in one exchange)."""
        return tuple(parse_quantity(v, "", f"LOOP:{k}")
                     for k, v in zip("PID", self.read_keys(self._loop, ["P", "I", "D"])))

    @property
    def ramp(self) -> tuple[bool, float]:
        """Get (ramp enabled, rate in K/min) of the setpoint (``LOOP:RENA``, ``LOOP:RSET``)."""
        on, rate = self.read_keys(self._loop, ["RENA", "RSET"])
        return parse_on_off(on, "LOOP:RENA"), parse_quantity(rate, "K/m", "LOOP:RSET")

    def set_ramp(self, on: bool, rate_K_per_min: float | None = None) -> None:
        """Ramp the setpoint at rate (RSET) or step it (RENA OFF); read back."""
        if rate_K_per_min is not None:
            if not 0 < rate_K_per_min < float("inf"):
                raise LimitError(f"{self.who()}: ramp rate {rate_K_per_min!r} K/min refused")
            self.set_noun(f"{self._loop}:RSET", f"{rate_K_per_min:g}")
        self.set_noun(f"{self._loop}:RENA", "ON" if on else "OFF")
        now_on, now_rate = self.ramp
        if now_on != bool(on) or (rate_K_per_min is not None
                                  and abs(now_rate - rate_K_per_min) > 1e-4 * rate_K_per_min):
            raise InstrumentError(f"{self.who()}: the ramp reads {now_on}, {now_rate:g} K/min "
                                  f"after it was set")

    # ------------------------------------------------------------------ the heater board
    @property
    def voltage_limit_V(self) -> float:
        """Get the heater's voltage limit (``HTR:VLIM``)."""
        return parse_quantity(self.read_noun(f"{self._htr}:VLIM"), "V", "HTR:VLIM")

    def set_voltage_limit_V(self, volts: float) -> None:
        """Set the heater's voltage limit to one the station allows, read back."""
        if not any(abs(volts - v) <= 1e-9 for v in self.allowed_voltage_limits_V):
            raise LimitError(f"{self.who()}: heater voltage limit {volts!r} V refused: the station "
                             f"allows {list(self.allowed_voltage_limits_V)} V")
        strict_limit(volts, (0.0, MAX_VOLTAGE_LIMIT_V))
        self.set_noun(f"{self._htr}:VLIM", f"{volts:g}")
        now = self.voltage_limit_V
        if abs(now - volts) > 1e-4:
            raise InstrumentError(f"{self.who()}: HTR:VLIM reads {now:g} V after VLIM:{volts:g}")

    @property
    def heater_nominal_ohm(self) -> float:
        """Get the heater resistance the iTC was told (``HTR:RES``)."""
        return parse_quantity(self.read_noun(f"{self._htr}:RES"), "O", "HTR:RES")

    @property
    def heater_max_power_W(self) -> float:
        """Get the heater's full power, VLIM^2/RES (``HTR:PMAX``)."""
        return parse_quantity(self.read_noun(f"{self._htr}:PMAX"), "W", "HTR:PMAX")

    def heater_signals(self) -> tuple[float, float, float]:
        """(voltage V, current A, power W) of the heater now (``HTR:SIG:VOLT:CURR:POWR``)."""
        v, i, p = self.read_keys(f"{self._htr}:SIG", ["VOLT", "CURR", "POWR"])
        return (parse_quantity(v, "V", "SIG:VOLT", True), parse_quantity(i, "A", "SIG:CURR", True),
                parse_quantity(p, "W", "SIG:POWR", True))

    @property
    def heater_power_W(self) -> float:
        return self.heater_signals()[2]

    def heater_off(self) -> float:
        """The loop to manual with the heater at 0 % (ENAB OFF, HSET 0), read back; returns
        the heater power read after (W)."""
        self.set_loop_enabled(False)
        self.set_heater_percent(0.0)
        return self.heater_power_W

    def settings_snapshot(self) -> dict:
        on, rate = self.ramp
        return {"sensor": self.sensor, "heater": self.heater, "loop_heater": self.loop_heater,
                "loop_enabled": self.loop_enabled, "setpoint_K": self.setpoint_K,
                "heater_percent": self.heater_percent, "voltage_limit_V": self.voltage_limit_V,
                "heater_nominal_ohm": self.heater_nominal_ohm, "pid": list(self.pid),
                "ramp_enabled": on, "ramp_K_per_min": rate,
                "max_temperature_K": self.max_temperature_K}

"""Keithley 2182A nanovoltmeter. Channel 1 reads the SQUID flux-locked-loop output voltage,
channel 2 a shorted input (noise only), channel 0 the internal temperature.

Noise per reading scales with the range and 1/sqrt(NPLC). Overrange answers +9.9E37 like the
real meter. The reply terminator is CR, matching the stock pymeasure driver's default.

Headers follow SCPI (2182 manual, section 14 "SCPI command reference"): short or long forms,
any case, optional nodes left out or given -- ``[SENSe[1]:]``, ``VOLTage[:DC]``,
``[:STATe]`` after AZERo, LPASs and DFILter, ``[:IMMediate]`` -- so ``SYST:AZER?`` and
``:SYSTem:AZERo:STATe?`` are the same query. Every setting has its query form, including
``SENS:VOLT:RANG?`` / ``SENS:VOLT:RANG:AUTO?`` for the present channel. Booleans answer 1/0.
"""
from __future__ import annotations

import math

import numpy as np

from .base import CommandError, SimInstrument, normalize_header

RANGES = (0.01, 0.1, 1.0, 10.0, 100.0)
#: 2182 manual, "Voltage measurements": DCV1 has five ranges (10 mV .. 100 V) and reads to 120 V,
#: DCV2 three (100 mV, 1 V, 10 V) and reads to 12 V; RANGe takes the expected reading up to those
CHANNEL_RANGES = {1: RANGES, 2: (0.1, 1.0, 10.0)}
CHANNEL_LIMIT_V = {1: 120.0, 2: 12.0}
#: the thermocouple types the 2182 linearizes (manual, "Temperature measurements")
THERMOCOUPLES = ("J", "K", "T", "E", "R", "S", "B", "N")
OVERFLOW = "+9.9E37"


class Keithley2182A(SimInstrument):
    name = "nanovoltmeter"
    model = "Keithley 2182A"
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,4017523,C02  /A02"
    reply_termination = "\r"
    # RS-232 (2182/2182A user's manual, "RS-232 interface reference"): eight data bits, one stop
    # bit, no parity, fixed; baud 300..19.2k, factory 9600; flow control none or XON/XOFF (no
    # hardware handshake); replies end with LF, CR, LFCR or CRLF as selected (CR here, as on
    # this lab's socket); "incoming commands are processed after the <CR> character".
    serial_port = {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r", "line_ends": "\r"}
    # 2182 manual, 11 "Queues" and 15 ":SYSTem:ERRor?": a 10-message FIFO; when full, -350
    # "Queue overflow" takes the last place; empty: 0,"No error"; Keithley's text for -222
    error_queue_size = 10
    error_texts = {-222: (-222, "Parameter data out of range")}

    def parse(self, cmd):
        """SCPI header with the 2182's optional nodes taken out, so every spelling of one
        command lands on the same key."""
        key, args = super().parse(cmd)
        return _canonical(key), args

    def register(self, header, fn):
        self.commands[_canonical(normalize_header(header))] = fn

    def setup(self):
        self.noise10 = float(self.params.get("noise_V_10mV_range", 3e-9))
        self._defaults()
        r = self.register
        r("READ?", lambda a: self._read_fmt())
        r("FETC?", lambda a: self._fmt(self.last) if self.last is not None else self._read_fmt())
        r("MEAS:VOLT?", lambda a: self._read_fmt())
        r("MEAS:VOLT:DC?", lambda a: self._read_fmt())
        r("SENS:FUNC", self._func)
        r("SENS:FUNC?", lambda a: '"VOLT:DC"' if self.func == "VOLT" else '"TEMP"')
        r("SENS:CHAN", lambda a: self._chan(a))
        r("SENS:CHAN?", lambda a: str(self.channel))
        for ch in (1, 2):
            r(f"SENS:VOLT:CHAN{ch}:RANG", lambda a, ch=ch: self._set_range(ch, a))
            r(f"SENS:VOLT:CHAN{ch}:RANG?", lambda a, ch=ch: f"{self.range[ch]:g}")
            r(f"SENS:VOLT:CHAN{ch}:RANG:AUTO", lambda a, ch=ch: self.auto.__setitem__(ch, self._bool(a)))
            r(f"SENS:VOLT:CHAN{ch}:RANG:AUTO?", lambda a, ch=ch: str(int(self.auto[ch])))
            r(f"SENS:VOLT:CHAN{ch}:REF", lambda a, ch=ch: self.ref.__setitem__(ch, self.one_float(a)))
            r(f"SENS:VOLT:CHAN{ch}:REF?", lambda a, ch=ch: f"{self.ref[ch]:g}")
            r(f"SENS:VOLT:CHAN{ch}:REF:STAT", lambda a, ch=ch: self.ref_on.__setitem__(ch, self._bool(a)))
            r(f"SENS:VOLT:CHAN{ch}:REF:STAT?", lambda a, ch=ch: str(int(self.ref_on[ch])))
            r(f"SENS:VOLT:CHAN{ch}:REF:ACQ", lambda a, ch=ch: self.ref.__setitem__(ch, self._raw(ch)))
            r(f"SENS:TEMP:CHAN{ch}:REF", lambda a: None)
            r(f"SENS:TEMP:CHAN{ch}:REF?", lambda a: "0")
            r(f"SENS:TEMP:CHAN{ch}:REF:STAT", lambda a: None)
            r(f"SENS:TEMP:CHAN{ch}:REF:STAT?", lambda a: "0")
            r(f"SENS:TEMP:CHAN{ch}:REF:ACQ", lambda a: None)
        r("SENS:VOLT:RANG:AUTO", lambda a: self.auto.__setitem__(self._volt_channel(), self._bool(a)))
        r("SENS:VOLT:RANG:AUTO?", lambda a: str(int(self.auto[self._volt_channel()])))
        r("SENS:VOLT:RANG", lambda a: self._set_range(self._volt_channel(), a))
        r("SENS:VOLT:RANG?", lambda a: f"{self.range[self._volt_channel()]:g}")
        r("SENS:VOLT:APER", self._aperture)
        r("SENS:VOLT:APER?", lambda a: f"{self.nplc / self.line_freq:g}")
        r("SENS:VOLT:LPAS:STAT", lambda a: setattr(self, "analog_filter", self._bool(a)))
        r("SENS:VOLT:LPAS:STAT?", lambda a: str(int(self.analog_filter)))
        r("SENS:VOLT:DFIL:STAT", lambda a: setattr(self, "digital_filter", self._bool(a)))
        r("SENS:VOLT:DFIL:STAT?", lambda a: str(int(self.digital_filter)))
        r("SENS:VOLT:DFIL:COUN", self._filter_count)
        r("SENS:VOLT:DFIL:COUN?", lambda a: str(self.filter_count))
        r("SENS:VOLT:DFIL:TCON", self._filter_type)
        r("SENS:VOLT:DFIL:TCON?", lambda a: self.filter_type)
        r("SENS:VOLT:NPLC", self._nplc)
        r("SENS:VOLT:NPLC?", lambda a: f"{self.nplc:g}")
        r("SENS:TEMP:NPLC", lambda a: setattr(self, "temp_nplc", self._nplc_value(a)))
        r("SENS:TEMP:NPLC?", lambda a: f"{self.temp_nplc:g}")
        r("SENS:TEMP:TC", self._thermocouple)
        r("SENS:TEMP:TC?", lambda a: self.tc)
        r("SENS:TEMP:RJUN:RSEL", lambda a: setattr(self, "rsel", a.strip().upper()))
        r("SENS:TEMP:RJUN:RSEL?", lambda a: self.rsel)
        r("SENS:TEMP:RJUN:SIM", lambda a: setattr(self, "rjsim", self.one_float(a)))
        r("SENS:TEMP:RJUN:SIM?", lambda a: f"{self.rjsim:g}")
        r("SENS:TEMP:RTEM?", lambda a: f"{24.6 + self.noise(0.05):.2f}")
        r("SYST:AZER:STAT", lambda a: setattr(self, "azero", self._bool(a)))
        r("SYST:AZER:STAT?", lambda a: str(int(self.azero)))
        r("SYST:LFR?", lambda a: f"{self.line_freq:g}")
        r("SYST:PRES", lambda a: self.reset())
        r("DISP:ENAB", lambda a: setattr(self, "display", self._bool(a)))
        r("DISP:ENAB?", lambda a: str(int(self.display)))
        r("TRIG:COUN", lambda a: setattr(self, "trig_count", int(self.one_float(a))))
        r("TRIG:COUN?", lambda a: str(self.trig_count))
        r("TRIG:DEL", self._trig_delay)
        r("TRIG:DEL?", lambda a: f"{self.trig_delay:g}")
        r("TRIG:SOUR", self._trig_source)
        r("TRIG:SOUR?", lambda a: self.trig_source)
        r("*TRG", lambda a: self._store())
        r("INIT", lambda a: self._init())
        r("ABOR", lambda a: None)
        r("CALC2:FORM", lambda a: setattr(self, "calc2", a.strip().upper()))
        r("CALC2:STAT", lambda a: None)
        r("CALC2:IMM?", lambda a: self._calc2())
        r("STAT:PRES", lambda a: None)
        r("STAT:QUE:CLE", lambda a: self.errors.clear())
        r("STAT:QUE?", lambda a: self.pop_error())          # the same queue as SYST:ERR?
        r("STAT:QUE:NEXT?", lambda a: self.pop_error())
        r("SYST:CLE", lambda a: self.errors.clear())
        r("STAT:MEAS:ENAB", lambda a: None)
        r("TRAC:POIN", lambda a: setattr(self, "buffer_points", int(self.one_float(a))))
        r("TRAC:POIN?", lambda a: str(self.buffer_points))
        r("TRAC:CLE", lambda a: self.buffer.clear())
        r("TRAC:FEED", lambda a: None)
        r("TRAC:FEED:CONT", lambda a: None)
        r("TRAC:DATA?", lambda a: ",".join(self._fmt(v) for v in self.buffer))
        r("FORM:DATA", lambda a: None)
        r("*OPT?", lambda a: "0")        # no options installed

    def _defaults(self):
        self.func = "VOLT"
        self.channel = 1
        self.range = {1: 10.0, 2: 10.0}
        self.auto = {1: True, 2: True}
        self.ref = {1: 0.0, 2: 0.0}
        self.ref_on = {1: False, 2: False}
        self.nplc = 5.0
        self.temp_nplc = 5.0               # each function keeps its own rate (SENS:TEMP:NPLC)
        self.line_freq = 60.0
        self.analog_filter = False
        self.digital_filter = True         # *RST: the digital filter on, 10 readings, moving
        self.filter_count, self.filter_type = 10, "MOV"
        self.tc, self.rsel, self.rjsim = "K", "INT", 23.0
        self.azero, self.display = True, True
        self.trig_count, self.trig_delay, self.trig_source = 1, 0.0, "IMM"
        self.calc2 = "MEAN"
        self.buffer: list[float] = []
        self.buffer_points = 2
        self.last = None

    def reset(self):
        self._defaults()

    def summary_bits(self) -> int:
        # bit 0, measurement summary: the buffer is full (what pymeasure's KeithleyBuffer waits for)
        return 1 if len(self.buffer) >= self.buffer_points else 0

    @staticmethod
    def _bool(a):
        v = a.strip().upper()
        if v in ("1", "ON"):
            return True
        if v in ("0", "OFF"):
            return False
        raise CommandError(-224, f"Illegal parameter value: {a!r}")

    def _func(self, a):
        v = a.strip().strip("'\"").upper()
        if v.startswith("VOLT"):
            self.func = "VOLT"
        elif v.startswith("TEMP"):
            self.func = "TEMP"
        else:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")

    def _chan(self, a):
        v = int(self.one_float(a))
        if v not in (0, 1, 2):
            raise CommandError(-222, f"channel {v} not in 0..2")
        self.channel = v

    def _set_range(self, ch, a):
        v = abs(self.one_float(a))
        if v > CHANNEL_LIMIT_V[ch]:
            raise CommandError(-222, f"channel {ch} range {v} V above {CHANNEL_LIMIT_V[ch]:g} V")
        self.range[ch] = next((r for r in CHANNEL_RANGES[ch] if v <= r * 1.0001), CHANNEL_RANGES[ch][-1])
        self.auto[ch] = False

    def _thermocouple(self, a):
        v = a.strip().upper()
        if v not in THERMOCOUPLES:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.tc = v

    def _volt_channel(self):
        """The channel SENS:VOLT:RANG without a CHANnel node applies to (the present one)."""
        if self.channel not in (1, 2):
            raise CommandError(-221, "Settings conflict: no voltage channel selected")
        return self.channel

    def _aperture(self, a):
        v = self.one_float(a)
        lo, hi = 0.01 / self.line_freq, 60.0 / self.line_freq
        if not lo * 0.9999 <= v <= hi * 1.0001:
            raise CommandError(-222, f"aperture {v} s outside {lo:g}..{hi:g}")
        self.nplc = v * self.line_freq

    def _filter_count(self, a):
        v = self.one_float(a)
        if v != int(v) or not 1 <= v <= 100:
            raise CommandError(-222, f"filter count {v} outside 1..100")
        self.filter_count = int(v)

    def _filter_type(self, a):
        v = a.strip().upper()
        v = {"MOVING": "MOV", "REPEAT": "REP"}.get(v, v)
        if v not in ("MOV", "REP"):
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.filter_type = v

    def _trig_source(self, a):
        v = a.strip().upper()
        v = {"IMMEDIATE": "IMM", "TIMER": "TIM", "MANUAL": "MAN", "EXTERNAL": "EXT"}.get(v, v)
        if v not in ("IMM", "TIM", "MAN", "BUS", "EXT"):
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.trig_source = v

    def _trig_delay(self, a):
        v = self.one_float(a)
        if not 0 <= v <= 999999.999:
            raise CommandError(-222, f"trigger delay {v} s outside 0..999999.999")
        self.trig_delay = v

    def _nplc(self, a):
        self.nplc = self._nplc_value(a)

    def _nplc_value(self, a):
        v = self.one_float(a)
        if not 0.01 <= v <= 60:
            raise CommandError(-222, f"NPLC {v} outside 0.01..60")
        return v

    def _raw(self, ch):
        """The true input voltage of a channel (no meter noise)."""
        if ch == 1:
            fll = self.world.fll
            v = fll.output_V()
            if fll.locked:
                # the SQUID's own flux noise comes through the loop (drawn by the FLL's generator)
                v += self.world.fll_noise_source() * fll.volts_per_phi0
            return v
        return 0.0

    def _read(self):
        if self.func == "TEMP" or self.channel == 0:
            return 24.6 + self.noise(0.05)
        ch = self.channel
        v = self._raw(ch)
        if self.auto[ch]:
            ranges = CHANNEL_RANGES[ch]
            self.range[ch] = next((r for r in ranges if abs(v) <= r * 1.2), ranges[-1])
        rg = self.range[ch]
        if abs(v) > rg * 1.2:
            return math.inf
        sigma = self.noise10 * max(1.0, rg / 0.01) ** 0.5 * math.sqrt(5.0 / self.nplc)
        v += self.noise(sigma)
        if self.ref_on[ch]:
            v -= self.ref[ch]
        return v

    def _fmt(self, v):
        # the manual's ASCII reading, Figure 15-1: "±1.23456789E±00" (eight decimals)
        return OVERFLOW if not math.isfinite(v) else f"{v:+.8E}"

    def _read_fmt(self):
        vals = [self._read() for _ in range(max(1, self.trig_count))]
        self.last = vals[-1]
        return ",".join(self._fmt(v) for v in vals)

    def _store(self):
        if len(self.buffer) < self.buffer_points:
            self.buffer.append(self._read())

    def _init(self):
        while len(self.buffer) < self.buffer_points:
            self.buffer.append(self._read())

    def _calc2(self):
        data = np.array(self.buffer if self.buffer else [self._read()])
        f = {"MEAN": np.mean, "MAX": np.max, "MIN": np.min, "SDEV": np.std}.get(self.calc2, np.mean)
        return self._fmt(float(f(data)))


#: optional nodes of the 2182's command tree (2182 manual, section 14): the node, and the
#: node it may follow (None: at the start of the header)
_OPTIONAL_LEADING = ("SENS", "SENS1")
_OPTIONAL_AFTER = {"DC": "VOLT", "IMM": None, "STAT": None}
#: headers whose last node STATe may be left out (elsewhere, as REF:STAT, it is needed)
_STATE_OPTIONAL = ("AZER", "LPAS", "DFIL")
#: the headers that only exist under SENSe (the rest start with another root node)
_SENSE_ROOTS = ("VOLT", "TEMP", "FUNC", "CHAN", "DATA")


def _canonical(key: str) -> str:
    """``[SENSe[1]:]VOLTage[:DC]:...`` and ``...:AZERo[:STATe]``, ``...[:IMMediate]`` -> one key."""
    q = key.endswith("?")
    nodes = (key[:-1] if q else key).split(":")
    if nodes and nodes[0] in _OPTIONAL_LEADING:
        nodes = nodes[1:]
    if nodes and nodes[0] in _SENSE_ROOTS:
        nodes = ["SENS"] + nodes
    out = []
    for n in nodes:
        if n == "DC" and out and out[-1] == "VOLT":
            continue
        if n == "IMM" and out:
            continue
        out.append(n)
    if len(out) >= 2 and out[-1] == "STAT" and out[-2] in _STATE_OPTIONAL:
        out.pop()
    if out and out[-1] in _STATE_OPTIONAL:
        out.append("STAT")
    return ":".join(out) + ("?" if q else "")

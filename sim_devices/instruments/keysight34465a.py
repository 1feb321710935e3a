"""Keysight Truevolt 34465A 6.5-digit multimeter in the lab's nanovoltmeter slot: its HI-LO
input on the SQUID flux-locked-loop output, the same world quantity the Keithley 2182A's
channel 1 reads (``World.fll.output_V()`` plus the SQUID's flux noise through the loop).

From the Keysight Truevolt Series Operating and Service Guide (one guide for the 34460A,
34461A, 34465A and 34470A; "SCPI Programming Reference" chapter; page numbers of the guide's
edition quoted by the public copies):

- ``*IDN?`` (p. 270): "Keysight Technologies,34465A,<serial>,h.ff.ff-pp.pp-mm.mm-gg.gg-bb-fp";
- ``CONFigure[:VOLTage][:DC] [{<range>|AUTO|MIN|MAX|DEF} [,{<resolution>|MIN|MAX|DEF}]]``,
  ``CONFigure?``, ``MEASure[:VOLTage][:DC]?`` (CONFigure then READ?), ``READ?``, ``INITiate``,
  ``FETCh?``, ``*TRG`` (p. 275: accepted only with TRIG:SOUR BUS, in wait-for-trigger);
- ``[SENSe:]VOLTage[:DC]:RANGe`` 100 mV .. 1000 V, ``:RANGe:AUTO {OFF|ON|ONCE}``,
  ``:NPLC`` (p. 329 for CURRent, the same list for VOLTage: 0.02, 0.06, 0.2, 1, 10, 100 on a
  34465A without the DIG option; default 10), ``:RESolution``, ``:ZERO:AUTO {OFF|ON|ONCE}``
  (the Truevolt's autozero; there is no AZERo header), ``:APERture[:ENABled]``,
  ``:IMPedance:AUTO``; ``TRIGger:SOURce {IMMediate|BUS|EXTernal}``, ``:COUNt``, ``:DELay[:AUTO]``,
  ``:SLOPe``; ``SAMPle:COUNt``; ``SYSTem:LFRequency?``, ``SYSTem:VERSion?``; ``DISPlay``;
- readings in the form +1.23456789E-03, several separated by commas; an overload answers
  +9.9E+37 (-9.9E+37 negative), i.e. "+9.90000000E+37" in that format;
- the error queue: 20 entries, SCPI codes and texts, -350 "Queue overflow", +0 "No error";
  READ? with TRIG:SOUR BUS is -214 "Trigger deadlock" (nothing is returned); FETCh? with no
  reading in memory -230 "Data stale"; *TRG outside wait-for-trigger -211 "Trigger ignored";
- *STB? (p. 275): bit 2 error queue not empty, 4 message available, 5 standard event summary.

Noise per reading: the guide's "Range, Resolution and NPLC" table (p. 452-453) gives the
34465A's resolution as ResFactor x range, ResFactor 3, 1.5, 0.7, 0.3, 0.1, 0.03 ppm at 0.02,
0.06, 0.2, 1, 10, 100 PLC (QCoDeS's Keysight 344xxA driver carries the same numbers). The twin
draws Gaussian noise of that rms on the 1 V .. 1000 V ranges; on the 100 mV range it keeps the
1 V range's absolute figure (0.1 uV rms at 10 PLC), because the input amplifier's own noise
does not shrink with the range. At 10 PLC that is 1 uV on the 10 V range the FLL output needs
(1e-6 Phi0 at 1 V/Phi0) and 0.1 uV on 100 mV, against about 9.5 nV for the 2182A twin at its
default 5 PLC on 100 mV: a sample voltage of microvolts is not for this meter. The
datasheet's own noise table was not found; ``noise_floor_V_1V_10PLC`` is not a setting here.

Not modelled: the DIG option (0.001..0.006 PLC, level triggers, digitizing), reading memory
beyond what INIT/FETCh? need, the math subsystem, timing of measurements (a reading is taken
when asked, as the 2182A twin does). The meter's other functions read what the input
actually sees: AC volts only the converter's noise (a DC source), current 0 A (nothing on the current
terminals), resistance an overload (its test current into a driven output).
"""
from __future__ import annotations

import math

from .base import CommandError, SimInstrument, normalize_header

#: DC voltage ranges (guide, "DC Voltage" of CONFigure: 100 mV, 1 V, 10 V, 100 V, 1000 V)
RANGES = (0.1, 1.0, 10.0, 100.0, 1000.0)
#: NPLC choices of a 34465A without the DIG option, and the resolution factor of each (p. 452-453)
NPLCS = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)
RES_FACTORS = dict(zip(NPLCS, (3e-6, 1.5e-6, 0.7e-6, 0.3e-6, 0.1e-6, 0.03e-6)))
#: readings up to 120 % of range, 1050 V on the 1000 V range; beyond, the overload value
OVER_RANGE = 1.2
OVERLOAD = 9.9e37
#: SENSe:FUNCtion names as the meter answers them (quoted)
FUNCTIONS = {"VOLT": "VOLT", "VOLT:DC": "VOLT", "VOLT:AC": "VOLT:AC", "CURR": "CURR",
             "CURR:DC": "CURR", "CURR:AC": "CURR:AC", "RES": "RES", "FRES": "FRES"}
#: the other functions' ranges (guide, CONFigure: AC volts to 750 V, current 100 uA .. 10 A,
#: resistance 100 ohm .. 1 Gohm); kept per function so that setting one leaves DC volts alone
OTHER_RANGES = {"VOLT:AC": (0.1, 1.0, 10.0, 100.0, 750.0),
                "CURR": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0, 10.0),
                "CURR:AC": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0, 10.0),
                "RES": (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9),
                "FRES": (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9)}
TRIGGER_SOURCES = {"IMM": "IMM", "IMMEDIATE": "IMM", "BUS": "BUS", "EXT": "EXT", "EXTERNAL": "EXT"}


class Keysight34465A(SimInstrument):
    name = "nanovoltmeter"
    model = "Keysight 34465A"
    # the guide's form, firmware fields h.ff.ff-pp.pp-mm.mm-gg.gg-bb-fp (values of a 2.x unit)
    idn = "Keysight Technologies,34465A,MY57508823,A.02.17-02.40-02.17-00.52-04-01"
    # LAN socket (port 5025), USB-TMC, GPIB: every reply ends with LF; a command line ends
    # with LF (CR LF is taken too). No RS-232 port, so no serial_port here.
    reply_termination = "\n"
    error_queue_size = 20
    error_texts = {-230: (-230, "Data stale"), -214: (-214, "Trigger deadlock"),
                   -211: (-211, "Trigger ignored")}

    def pop_error(self) -> str:
        # the guide's form: -113,"Undefined header"; an empty queue +0,"No error"
        code, msg = self.errors.pop(0) if self.errors else self.no_error
        return f'{code:+d},"{msg}"'

    def parse(self, cmd):
        key, args = super().parse(cmd)
        return _canonical(key), args

    def register(self, header, fn):
        self.commands[_canonical(normalize_header(header))] = fn

    def setup(self):
        self._defaults()
        r = self.register
        for header, func in (("VOLT:DC", "VOLT"), ("VOLT:AC", "VOLT:AC"), ("CURR:DC", "CURR"),
                             ("CURR:AC", "CURR:AC"), ("RES", "RES"), ("FRES", "FRES")):
            r(f"CONF:{header}", lambda a, func=func: self._configure(func, a))
            r(f"MEAS:{header}?", lambda a, func=func: self._measure(func, a))
        r("CONF?", lambda a: self._conf_query())
        r("READ?", lambda a: self._read_query())
        r("INIT", lambda a: self._init())
        r("FETC?", lambda a: self._fetch())
        r("ABOR", lambda a: self._abort())
        r("*TRG", lambda a: self._trigger())
        r("SENS:FUNC", self._set_function)
        r("SENS:FUNC?", lambda a: f'"{self.func}"')
        r("SENS:VOLT:RANG", self._set_range)
        r("SENS:VOLT:RANG?", lambda a: self._fmt_setting(self._query_arg(a, self.range, RANGES)))
        r("SENS:VOLT:RANG:AUTO", self._set_autorange)
        r("SENS:VOLT:RANG:AUTO?", lambda a: str(int(self.autorange)))
        for f, choices in OTHER_RANGES.items():
            r(f"SENS:{f}:RANG", lambda a, f=f: self._set_other_range(f, a))
            r(f"SENS:{f}:RANG?", lambda a, f=f, c=choices: self._fmt_setting(
                self._query_arg(a, self.other_range[f], c)))
            r(f"SENS:{f}:RANG:AUTO", lambda a, f=f: self.other_auto.__setitem__(f, self._bool(a)))
            r(f"SENS:{f}:RANG:AUTO?", lambda a, f=f: str(int(self.other_auto[f])))
        # NPLC, resolution, autozero and aperture: one setting for the DC functions here (the
        # slot reads DC volts only; the unit keeps one per function)
        for f in ("VOLT", "CURR", "RES", "FRES"):
            r(f"SENS:{f}:NPLC", self._set_nplc)
            r(f"SENS:{f}:NPLC?", lambda a: self._fmt_setting(self._query_arg(a, self.nplc, NPLCS, 10.0)))
            r(f"SENS:{f}:RES", self._set_resolution)
            r(f"SENS:{f}:RES?", lambda a: self._fmt_setting(self._resolution()))
            r(f"SENS:{f}:ZERO:AUTO", self._set_autozero)
            r(f"SENS:{f}:ZERO:AUTO?", lambda a: str(int(self.autozero)))
            r(f"SENS:{f}:APER", self._set_aperture)
            r(f"SENS:{f}:APER?", lambda a: self._fmt_setting(self.aperture))
            r(f"SENS:{f}:APER:ENAB", lambda a: setattr(self, "aperture_on", self._bool(a)))
            r(f"SENS:{f}:APER:ENAB?", lambda a: str(int(self.aperture_on)))
        r("SENS:VOLT:IMP:AUTO", lambda a: setattr(self, "high_impedance", self._bool(a)))
        r("SENS:VOLT:IMP:AUTO?", lambda a: str(int(self.high_impedance)))
        r("TRIG:SOUR", self._set_trigger_source)
        r("TRIG:SOUR?", lambda a: self.trig_source)
        r("TRIG:COUN", lambda a: setattr(self, "trig_count", self._count(a, 1_000_000_000, inf=True)))
        r("TRIG:COUN?", lambda a: self._fmt_setting(OVERLOAD if math.isinf(self.trig_count)
                                                    else self.trig_count))
        r("TRIG:DEL", self._set_trigger_delay)
        r("TRIG:DEL?", lambda a: self._fmt_setting(self.trig_delay))
        r("TRIG:DEL:AUTO", lambda a: setattr(self, "trig_delay_auto", self._bool(a)))
        r("TRIG:DEL:AUTO?", lambda a: str(int(self.trig_delay_auto)))
        r("TRIG:SLOP", self._set_slope)
        r("TRIG:SLOP?", lambda a: self.trig_slope)
        # 50 000 readings of memory without the MEM option; the count answers as an integer
        r("SAMP:COUN", lambda a: setattr(self, "sample_count", self._count(a, 50_000)))
        r("SAMP:COUN?", lambda a: f"{self.sample_count:+d}")
        # SAMPle:SOURce {IMMediate|TIMer} and the timer between samples. The twin takes timed
        # samples at the trigger's instant (it does not model the reading rate); the minimum
        # timer is its estimate: one integration, two with autozero on
        r("SAMP:SOUR", self._set_sample_source)
        r("SAMP:SOUR?", lambda a: self.sample_source)
        r("SAMP:TIM", self._set_sample_timer)
        r("SAMP:TIM?", lambda a: self._fmt_setting(self._timer_min() if a.strip().upper().startswith("MIN")
                                                   else self.sample_timer))
        r("SYST:LFR?", lambda a: f"{self.line_freq:+d}")
        r("SYST:VERS?", lambda a: "1994.0")
        r("SYST:PRES", lambda a: self.reset())
        r("*OPT?", lambda a: "0,0")          # neither DIG nor MEM installed
        r("DISP:STAT", lambda a: setattr(self, "display", self._bool(a)))
        r("DISP:STAT?", lambda a: str(int(self.display)))
        r("DISP:TEXT", lambda a: setattr(self, "display_text", a.strip().strip('"')))
        r("DISP:TEXT?", lambda a: f'"{self.display_text}"')
        r("DISP:TEXT:CLE", lambda a: setattr(self, "display_text", ""))
        r("DATA:POIN?", lambda a: f"{len(self.memory):+d}")

    def _defaults(self):
        # *RST (guide, *RST): DC volts, autorange, 10 PLC, autozero on, immediate trigger
        self.func = "VOLT"
        self.range = 10.0
        self.autorange = True
        self.other_range = {f: c[-2] if f != "VOLT:AC" else 10.0 for f, c in OTHER_RANGES.items()}
        self.other_auto = {f: True for f in OTHER_RANGES}
        self.nplc = 10.0
        self.aperture_on = False
        self.line_freq = 60
        self.aperture = self.nplc / self.line_freq
        self.autozero = True
        self.high_impedance = False         # 10 Mohm on every range (IMP:AUTO OFF)
        self.trig_source = "IMM"
        self.trig_count = 1
        self.trig_delay, self.trig_delay_auto = 0.0, True
        self.trig_slope = "NEG"
        self.sample_count = 1
        self.sample_timer = 1.0
        self.sample_source = "IMM"
        self.display, self.display_text = True, ""
        self.memory: list[float] = []
        self.waiting_triggers = 0           # INIT with TRIG:SOUR BUS: triggers still to come

    def reset(self):
        self._defaults()

    # ------------------------------------------------------------------ parameters
    @staticmethod
    def _bool(a):
        v = a.strip().upper()
        if v in ("1", "ON"):
            return True
        if v in ("0", "OFF"):
            return False
        raise CommandError(-224, f"Illegal parameter value: {a!r}")

    def _count(self, a, top, inf=False):
        v = a.strip().upper()
        if inf and v.startswith("INF"):
            return math.inf
        if v in ("MIN", "DEF"):
            return 1
        if v == "MAX":
            return top
        n = self.one_float(a)
        if n != int(n) or not 1 <= n <= top:
            raise CommandError(-222, f"count {a!r} outside 1..{top}")
        return int(n)

    @staticmethod
    def _fmt_setting(v):
        return f"{float(v):+.8E}"

    @staticmethod
    def _query_arg(a, present, choices, default=None):
        v = a.strip().upper()
        if v.startswith("MIN"):
            return choices[0]
        if v.startswith("MAX"):
            return choices[-1]
        if v.startswith("DEF"):
            return default if default is not None else present
        return present

    def _range_value(self, a):
        """{<range>|MIN|MAX|DEF} -> a range (the smallest that holds the value); None: AUTO."""
        v = a.strip().upper()
        if v in ("AUTO", "DEF"):
            return None
        if v == "MIN":
            return RANGES[0]
        if v == "MAX":
            return RANGES[-1]
        x = abs(self.one_float(a))
        if x > RANGES[-1] * OVER_RANGE * 1.0001:
            raise CommandError(-222, f"range {x:g} V above 1000 V")
        return next((r for r in RANGES if x <= r * 1.0001), RANGES[-1])

    def _set_range(self, a):
        r = 10.0 if a.strip().upper() == "DEF" else self._range_value(a)
        if r is None:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.range, self.autorange = r, False

    def _set_other_range(self, func, a):
        choices = OTHER_RANGES[func]
        v = a.strip().upper()
        if v in ("MIN", "MAX"):
            x = choices[0] if v == "MIN" else choices[-1]
        else:
            x = abs(self.one_float(a))
            if x > choices[-1] * 1.0001:
                raise CommandError(-222, f"{func} range {x:g} above {choices[-1]:g}")
            x = next(c for c in choices if x <= c * 1.0001)
        self.other_range[func], self.other_auto[func] = x, False

    def _set_autorange(self, a):
        if a.strip().upper() == "ONCE":
            self.range = self._autorange_for(self._input_V())
            self.autorange = False
            return
        self.autorange = self._bool(a)

    def _nplc_value(self, a):
        v = a.strip().upper()
        if v == "MIN":
            return NPLCS[0]
        if v == "MAX":
            return NPLCS[-1]
        if v == "DEF":
            return 10.0
        x = self.one_float(a)
        if not NPLCS[0] * 0.9999 <= x <= NPLCS[-1] * 1.0001:
            raise CommandError(-222, f"NPLC {x:g} outside {NPLCS[0]:g}..{NPLCS[-1]:g}")
        # a value between two choices takes the next longer one (never a noisier reading)
        return next(n for n in NPLCS if x <= n * 1.0001)

    def _set_nplc(self, a):
        self.nplc = self._nplc_value(a)
        self.aperture_on = False
        self.aperture = self.nplc / self.line_freq

    def _set_aperture(self, a):
        v = a.strip().upper()
        lo, hi = 0.3e-3, 2.0 if self.line_freq == 50 else 1.67
        x = {"MIN": lo, "MAX": hi, "DEF": 10.0 / self.line_freq}.get(v)
        if x is None:
            x = self.one_float(a)
        if not lo * 0.9999 <= x <= hi * 1.0001:
            raise CommandError(-222, f"aperture {x:g} s outside {lo:g}..{hi:g}")
        self.aperture, self.aperture_on = x, True
        # the noise follows the integration time: the NPLC choice at or above it
        plc = x * self.line_freq
        self.nplc = next((n for n in NPLCS if plc <= n * 1.0001), NPLCS[-1])

    def _resolution(self):
        return RES_FACTORS[self.nplc] * self.range

    def _set_resolution(self, a):
        v = a.strip().upper()
        if v in ("MIN", "MAX", "DEF"):
            self.nplc = {"MIN": NPLCS[-1], "MAX": NPLCS[0], "DEF": 10.0}[v]
            return
        self.nplc = self._nplc_for_resolution(self.one_float(a), self.range)

    @staticmethod
    def _nplc_for_resolution(res, rng):
        """The shortest integration whose resolution is at least as fine as asked."""
        fits = [n for n in NPLCS if RES_FACTORS[n] * rng <= res * 1.0001]
        if not fits:
            raise CommandError(-222, f"resolution {res:g} V finer than the {rng:g} V range gives")
        return fits[0]

    def _set_autozero(self, a):
        if a.strip().upper() == "ONCE":
            self.autozero = False           # one zero taken now, then off (the guide's ONCE)
            return
        self.autozero = self._bool(a)

    def _set_trigger_source(self, a):
        v = TRIGGER_SOURCES.get(a.strip().upper())
        if v is None:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.trig_source = v

    def _set_trigger_delay(self, a):
        v = a.strip().upper()
        x = {"MIN": 0.0, "MAX": 3600.0, "DEF": 0.0}.get(v)
        if x is None:
            x = self.one_float(a)
        if not 0 <= x <= 3600:
            raise CommandError(-222, f"trigger delay {x:g} s outside 0..3600")
        self.trig_delay, self.trig_delay_auto = x, False

    def _set_slope(self, a):
        v = {"POS": "POS", "POSITIVE": "POS", "NEG": "NEG", "NEGATIVE": "NEG"}.get(a.strip().upper())
        if v is None:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.trig_slope = v

    def _set_sample_source(self, a):
        v = {"IMM": "IMM", "IMMEDIATE": "IMM", "TIM": "TIM", "TIMER": "TIM"}.get(a.strip().upper())
        if v is None:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.sample_source = v

    def _timer_min(self):
        return self.aperture * (2 if self.autozero else 1)

    def _set_sample_timer(self, a):
        v = a.strip().upper()
        x = {"MIN": self._timer_min(), "MAX": 3600.0, "DEF": 1.0}.get(v)
        if x is None:
            x = self.one_float(a)
        if not 0 <= x <= 3600:
            raise CommandError(-222, f"sample timer {x:g} s outside 0..3600")
        self.sample_timer = x

    def _set_function(self, a):
        v = FUNCTIONS.get(a.strip().strip("'\"").upper())
        if v is None:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.func = v

    def _configure(self, func, a):
        """CONFigure: function, range (AUTO/DEF: autorange) and resolution; like the guide's
        CONFigure it also sets one sample, one trigger, immediate source, and autozero on."""
        parts = [p.strip() for p in a.split(",")] if a.strip() else []
        if len(parts) > 2:
            raise CommandError(-108, f"Parameter not allowed: {a!r}")
        if func != "VOLT":
            # another function: its own range; DC volts' settings stay as they were
            if parts and parts[0].upper() not in ("AUTO", "DEF"):
                self._set_other_range(func, parts[0])
            else:
                self.other_auto[func] = True
            self.func = func
            self.sample_count = self.trig_count = 1
            self.trig_source, self.trig_delay_auto = "IMM", True
            self.memory.clear()
            self.waiting_triggers = 0
            return
        rng = self._range_value(parts[0]) if parts else None
        nplc = 10.0
        if len(parts) == 2:
            res = parts[1].upper()
            if res in ("MIN", "MAX", "DEF"):
                nplc = {"MIN": NPLCS[-1], "MAX": NPLCS[0], "DEF": 10.0}[res]
            else:
                nplc = self._nplc_for_resolution(self.one_float(parts[1]), rng or 10.0)
        self.func = func
        self.autorange = rng is None
        if rng is not None:
            self.range = rng
        self.nplc, self.aperture_on = nplc, False
        self.aperture = nplc / self.line_freq
        self.sample_count = self.trig_count = 1
        self.trig_source, self.trig_delay_auto = "IMM", True
        self.autozero = True
        self.memory.clear()
        self.waiting_triggers = 0

    def _conf_query(self):
        # the guide's CONFigure? form: "VOLT +1.00000000E+01,+3.00000000E-06"
        if self.func != "VOLT":
            rng = self.other_range[self.func]
            return f'"{self.func} {rng:+.8E},{RES_FACTORS[self.nplc] * rng:+.8E}"'
        return f'"{self.func} {self.range:+.8E},{self._resolution():+.8E}"'

    # ------------------------------------------------------------------ readings
    def _input_V(self):
        """What the HI-LO input sees: the flux-locked-loop output (as the 2182A's channel 1)."""
        fll = self.world.fll
        v = fll.output_V()
        if fll.locked:
            # the SQUID's own flux noise comes through the loop (drawn by the FLL's generator)
            v += self.world.fll_noise_source() * fll.volts_per_phi0
        return v

    @staticmethod
    def _autorange_for(v):
        return next((r for r in RANGES if abs(v) <= r * OVER_RANGE), RANGES[-1])

    def _reading(self):
        if self.func in ("CURR", "CURR:AC"):
            return self.noise(RES_FACTORS[self.nplc] * 1e-4)   # nothing on the current terminals
        if self.func in ("RES", "FRES"):
            return OVERLOAD                     # its test current into a driven output
        if self.func == "VOLT:AC":
            # a DC source: the true-rms converter sees no signal, only its own noise (a small
            # positive rms, here 1e-6 of the AC range)
            return abs(self.noise(1e-6 * self.other_range["VOLT:AC"]))
        v = self._input_V()
        if self.autorange:
            self.range = self._autorange_for(v)
        if abs(v) > self.range * OVER_RANGE:
            return math.copysign(OVERLOAD, v)
        sigma = RES_FACTORS[self.nplc] * max(self.range, 1.0)
        return v + self.noise(sigma)

    @staticmethod
    def _fmt(v):
        return f"{v:+.8E}"

    def _take(self):
        return [self._reading() for _ in range(self.sample_count)]

    def _read_query(self):
        if self.trig_source == "BUS":
            raise CommandError(-214, "READ? with TRIG:SOUR BUS")
        if math.isinf(self.trig_count):
            # readings without end cannot be one reply; the twin refuses (the unit would
            # stream until ABORt)
            raise CommandError(-221, "READ? with TRIG:COUN INF")
        values = []
        for _ in range(self.trig_count):
            values += self._take()
        return ",".join(self._fmt(v) for v in values)

    def _measure(self, func, a):
        self._configure(func, a)
        return self._read_query()

    def _init(self):
        self.memory.clear()
        if self.trig_source == "BUS":
            self.waiting_triggers = self.trig_count
            return
        if math.isinf(self.trig_count):
            raise CommandError(-221, "INIT with TRIG:COUN INF")
        # immediate (and, here, external) triggers: the readings are in memory at once
        for _ in range(self.trig_count):
            self.memory += self._take()
        self.waiting_triggers = 0

    def _trigger(self):
        if self.trig_source != "BUS" or self.waiting_triggers <= 0:
            raise CommandError(-211, "*TRG outside wait-for-trigger")
        self.memory += self._take()
        self.waiting_triggers -= 1

    def _fetch(self):
        if not self.memory:
            raise CommandError(-230, "FETCh? with no reading in memory")
        return ",".join(self._fmt(v) for v in self.memory)

    def _abort(self):
        self.waiting_triggers = 0


#: optional nodes of the Truevolt's command tree: [SENSe:], [:VOLTage] after CONFigure and
#: MEASure, [:DC] after VOLTage, [:IMMediate] after INITiate/TRIGger
_SENSE_ROOTS = ("VOLT", "CURR", "RES", "FRES", "FUNC")


def _canonical(key: str) -> str:
    q = key.endswith("?")
    nodes = (key[:-1] if q else key).split(":")
    if nodes and nodes[0] == "SENS":
        nodes = nodes[1:]
    if nodes and nodes[0] in _SENSE_ROOTS:
        nodes = ["SENS"] + nodes
    if nodes and nodes[0] in ("CONF", "MEAS"):
        if len(nodes) == 1:
            nodes = [nodes[0], "VOLT", "DC"]            # CONF? stays the query below
        elif nodes[1] in ("DC", "AC"):
            nodes = [nodes[0], "VOLT"] + nodes[1:]
        elif nodes[1] == "VOLT" and len(nodes) == 2:
            nodes = nodes + ["DC"]
    out = []
    for n in nodes:
        if n == "DC" and out and out[-1] in ("VOLT", "CURR") and out[0] == "SENS":
            continue
        if n == "IMM" and out:
            continue
        out.append(n)
    key = ":".join(out)
    if q and key == "CONF:VOLT:DC":
        return "CONF?"          # CONFigure? is the configuration query, not CONF:VOLT:DC?
    return key + ("?" if q else "")

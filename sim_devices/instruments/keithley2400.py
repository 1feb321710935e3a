"""Keithley 2400 SourceMeter, as the Series 2400 User's Manual (2400S-900-01) describes it,
connected to the gold wire on the sample stage (sim_devices/wire.py).

What the manual says and the twin does:

- Section 18 (SCPI command reference), short or long forms, optional nodes left out or given:
  ``[:SENSe[1]]``, ``[:SOURce[1]]:CURRent[:LEVel][:IMMediate][:AMPLitude]``,
  ``:OUTPut[1][:STATe]``, ``VOLTage[:DC]``, ``:TRIGger[:SEQuence[1]]``, ``:ARM[:SEQuence[1]][:LAYer[1]]``,
  ``:FORMat[:DATA]``, ``:FORMat:ELEMents[:SENSe[1]]``. Every setting has its query form.
- *RST (tables 18-4 .. 18-9, confirmed on a unit by pymeasure's tests/instruments/keithley/
  test_keithley2400_with_device.py): voltage source at 0 V, output off (NORMal off-state),
  compliance 105 uA / 21 V, source and measurement ranges 105 uA / 21 V on auto, NPLC 1,
  source delay 1 ms with auto delay on, auto output-off disabled, filter off (repeat, 10),
  concurrent measurements on with the current function enabled, front terminals, 2-wire sense,
  auto-zero on, trigger and arm counts 1, immediate. The reading elements go back to all five.
- :FORMat:ELEMents (18-50): VOLTage, CURRent, RESistance, TIME, STATus, in that order whatever
  order they are named in; a source value stands in for an unmeasured one of the same kind,
  +9.91e37 (NAN) for one neither sourced nor measured. The status word (18-51): bit 0 OFLO,
  1 filter, 2 front terminals, 3 compliance, 5 math, 6 null, 11 V-meas, 12 I-meas, 13 ohms-meas,
  14 V-source, 15 I-source, 16 range compliance, 22 remote sense.
- Compliance (section 6, "Compliance limits"): the measured quantity of the other kind never
  exceeds the compliance, nor (the "range compliance") a fixed measurement range below it.
  The source then gives what the limit allows and bit 3 (bit 16 for the range) is set.
- :READ? (17-4) with the output off and auto output-off disabled: error +803 "Not permitted
  with OUTPUT off" (table B-1). :MEASure[:<function>]? does :CONFigure:<function> and :READ?;
  :CONFigure turns the output on (table 17-1) and selects that one function, concurrent off.
- Errors: a 10-entry queue (:SYSTem:ERRor?), Keithley's texts; -113 for what the manual lacks.

The wire is measured through the 2400's ADC: its noise (a fraction of the range, scaled as
1/sqrt(NPLC)) and the wire's Johnson noise sqrt(4 k T R df), df = 1/(2 t) for an integration
time t = NPLC / 60 Hz, add in quadrature; the repeat filter averages ``filter_count`` of them.
"""
from __future__ import annotations

import math

from .base import CommandError, SimInstrument, fmt, normalize_header

#: current ranges (manual, section 1 specifications): 1 uA .. 1 A, full scale 105 % of each
CURRENT_RANGES = (1.05e-6, 1.05e-5, 1.05e-4, 1.05e-3, 1.05e-2, 1.05e-1, 1.05)
#: voltage ranges 200 mV .. 200 V, full scale 105 %
VOLTAGE_RANGES = (0.21, 2.1, 21.0, 210.0)
#: resistance ranges 20 ohm .. 200 Mohm (reported full scale)
RESISTANCE_RANGES = (21.0, 210.0, 2.1e3, 2.1e4, 2.1e5, 2.1e6, 2.1e7, 2.1e8)
MAX_CURRENT_A, MAX_VOLTAGE_V = 1.05, 210.0
NAN_READING = 9.91e37         # 18-50: an element neither sourced nor measured
OVERFLOW_READING = 9.9e37     # a reading above its (fixed) range
ELEMENTS = ("VOLT", "CURR", "RES", "TIME", "STAT")
LINE_FREQUENCY_HZ = 60.0

# status word bits (manual 18-50 .. 18-51)
ST_OFLO, ST_FILTER, ST_FRONT, ST_COMPLIANCE = 1 << 0, 1 << 1, 1 << 2, 1 << 3
ST_V_MEAS, ST_I_MEAS, ST_R_MEAS, ST_V_SOUR, ST_I_SOUR = 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15
ST_RANGE_COMPLIANCE, ST_REMOTE_SENSE = 1 << 16, 1 << 22

#: measurement event register (manual 15-14): bit 14 compliance, bit 6 reading available
MEAS_EVENT_COMPLIANCE, MEAS_EVENT_RAV, MEAS_EVENT_BFL = 1 << 14, 1 << 6, 1 << 9


def _pick(ranges, value):
    """The lowest range that holds |value| (the largest if none does)."""
    v = abs(value)
    return next((r for r in ranges if v <= r * 1.000001), ranges[-1])


class Keithley2400(SimInstrument):
    name = "source_meter"
    model = "Keithley 2400"
    # the manual's *IDN? form (16-3): "KEITHLEY INSTRUMENTS INC.,MODEL 2400,xxxxxxx,yyyyy/zzzzz /a/d"
    # (pymeasure's test_keithley2400.py quotes the same template)
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4112836,C32   Oct  4 2010 14:20:11/A02  /K/J"
    reply_termination = "\n"
    # RS-232 (manual 14-17 .. 14-18, "RS-232 interface operation"): 8 data bits, 1 stop bit, no
    # parity; baud 300..57600, factory 9600; flow control none or XON/XOFF; the terminator of
    # what it sends is CR, CR LF, LF or LF CR (a menu choice: CR is the factory one); received
    # messages end with CR (LF taken as well)
    serial_port = {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r", "line_ends": "\r\n"}
    error_queue_size = 10
    # the texts of the manual's table B-1 where they differ from the SCPI list
    error_texts = {-222: (-222, "Parameter data out of range"),
                   -221: (-221, "Settings conflict"),
                   -224: (-224, "Illegal parameter value")}
    queue_overflow = (-350, "Queue overflow")

    def esr_bit(self, code: int) -> int:
        # table B-1: the +800 "additional command execution errors" set the EXE bit (4)
        if 800 <= code <= 899:
            return 16
        return super().esr_bit(code)

    def parse(self, cmd):
        key, args = super().parse(cmd)
        return _canonical(key), args

    def register(self, header, fn):
        self.commands[_canonical(normalize_header(header))] = fn

    # ------------------------------------------------------------------ set-up
    def setup(self):
        self.v_noise_fraction = float(self.params.get("voltage_noise_fraction_of_range", 5e-6))
        self.i_noise_fraction = float(self.params.get("current_noise_fraction_of_range", 1e-5))
        self.t0 = self.world.t                 # the timestamp counts from power-on
        self.line_freq = LINE_FREQUENCY_HZ
        self.measurement_events = 0
        self.measurement_enable = 0
        self._defaults()
        self.elements = list(ELEMENTS)
        r = self.register
        # source
        r("SOUR:FUNC", self._source_func)
        r("SOUR:FUNC?", lambda a: self.source_func)
        for q in ("CURR", "VOLT"):
            r(f"SOUR:{q}", lambda a, q=q: self._source_level(q, a))
            r(f"SOUR:{q}?", lambda a, q=q: fmt(self.level[q]))
            r(f"SOUR:{q}:RANG", lambda a, q=q: self._source_range(q, a))
            r(f"SOUR:{q}:RANG?", lambda a, q=q: fmt(self.source_range[q]))
            r(f"SOUR:{q}:RANG:AUTO", lambda a, q=q: self.source_auto.__setitem__(q, self._bool(a)))
            r(f"SOUR:{q}:RANG:AUTO?", lambda a, q=q: str(int(self.source_auto[q])))
            r(f"SOUR:{q}:MODE", lambda a: self._source_mode(a))
            r(f"SOUR:{q}:MODE?", lambda a: "FIX")
            # sense side
            r(f"SENS:{q}:PROT", lambda a, q=q: self._protection(q, a))
            r(f"SENS:{q}:PROT?", lambda a, q=q: fmt(self.protection[q]))
            r(f"SENS:{q}:PROT:TRIP?", lambda a, q=q: str(int(self._tripped(q))))
            r(f"SENS:{q}:RANG", lambda a, q=q: self._sense_range(q, a))
            r(f"SENS:{q}:RANG?", lambda a, q=q: fmt(self._present_sense_range(q)))
            r(f"SENS:{q}:RANG:AUTO", lambda a, q=q: self.sense_auto.__setitem__(q, self._bool(a)))
            r(f"SENS:{q}:RANG:AUTO?", lambda a, q=q: str(int(self.sense_auto[q])))
        for q in ("CURR", "VOLT", "RES"):
            r(f"SENS:{q}:NPLC", self._nplc)
            r(f"SENS:{q}:NPLC?", lambda a: f"{self.nplc:g}")
        r("SENS:RES:RANG", lambda a: self._res_range(a))
        r("SENS:RES:RANG?", lambda a: fmt(self.res_range))
        r("SENS:RES:RANG:AUTO", lambda a: setattr(self, "res_auto", self._bool(a)))
        r("SENS:RES:RANG:AUTO?", lambda a: str(int(self.res_auto)))
        r("SENS:RES:MODE", self._res_mode)
        r("SENS:RES:MODE?", lambda a: self.res_mode)
        r("SENS:FUNC:CONC", lambda a: self._concurrent(self._bool(a)))
        r("SENS:FUNC:CONC?", lambda a: str(int(self.concurrent)))
        r("SENS:FUNC", self._func_on)
        r("SENS:FUNC?", lambda a: ",".join(f'"{f}"' for f in self._func_names()))
        r("SENS:FUNC:OFF", self._func_off)
        r("SENS:FUNC:ALL", lambda a: self._func_all(True))
        r("SENS:FUNC:OFF:ALL", lambda a: self._func_all(False))
        r("SENS:FUNC:STAT?", lambda a: str(int(self._func_state(a))))
        r("SENS:AVER", lambda a: setattr(self, "filter_on", self._bool(a)))
        r("SENS:AVER?", lambda a: str(int(self.filter_on)))
        r("SENS:AVER:TCON", self._filter_type)
        r("SENS:AVER:TCON?", lambda a: self.filter_type)
        r("SENS:AVER:COUN", self._filter_count)
        r("SENS:AVER:COUN?", lambda a: str(self.filter_count))
        r("SOUR:DEL", self._source_delay)
        r("SOUR:DEL?", lambda a: fmt(self.source_delay))
        r("SOUR:DEL:AUTO", lambda a: setattr(self, "source_delay_auto", self._bool(a)))
        r("SOUR:DEL:AUTO?", lambda a: str(int(self.source_delay_auto)))
        r("SOUR:CLE:AUTO", lambda a: setattr(self, "auto_clear", self._bool(a)))
        r("SOUR:CLE:AUTO?", lambda a: str(int(self.auto_clear)))
        r("SOUR:CLE", lambda a: setattr(self, "output", False))
        # output
        r("OUTP", lambda a: setattr(self, "output", self._bool(a)))
        r("OUTP?", lambda a: str(int(self.output)))
        r("OUTP:SMOD", self._off_mode)
        r("OUTP:SMOD?", lambda a: self.off_mode)
        # readings
        r("READ?", lambda a: self._read())
        r("FETC?", lambda a: self._fetch())
        r("INIT", lambda a: self._initiate())
        r("ABOR", lambda a: None)
        r("MEAS?", lambda a: self._measure(None))
        for f in ("CURR", "VOLT", "RES"):
            r(f"MEAS:{f}?", lambda a, f=f: self._measure(f))
            r(f"CONF:{f}", lambda a, f=f: self._configure(f))
        r("CONF?", lambda a: ",".join(f'"{f}"' for f in self._func_names()))
        r("FORM:ELEM", self._elements)
        r("FORM:ELEM?", lambda a: ",".join(self.elements))
        r("FORM:DATA", self._data_format)
        r("FORM:DATA?", lambda a: "ASC")
        # trigger model
        r("TRIG:COUN", lambda a: self._count("trig_count", a))
        r("TRIG:COUN?", lambda a: fmt(self.trig_count))
        r("ARM:COUN", lambda a: self._count("arm_count", a))
        r("ARM:COUN?", lambda a: fmt(self.arm_count))
        r("TRIG:DEL", lambda a: self._delay("trig_delay", a))
        r("TRIG:DEL?", lambda a: fmt(self.trig_delay))
        r("TRIG:SOUR", lambda a: self._choice("trig_source", a, {"IMM": "IMM", "IMMEDIATE": "IMM",
                                                                  "TLIN": "TLIN", "TLINK": "TLIN"}))
        r("TRIG:SOUR?", lambda a: self.trig_source)
        r("ARM:SOUR", lambda a: self._choice("arm_source", a, {
            "IMM": "IMM", "IMMEDIATE": "IMM", "TLIN": "TLIN", "TLINK": "TLIN", "TIM": "TIM",
            "TIMER": "TIM", "MAN": "MAN", "MANUAL": "MAN", "BUS": "BUS", "NST": "NST", "PST": "PST",
            "BST": "BST"}))
        r("ARM:SOUR?", lambda a: self.arm_source)
        r("ARM:TIM", self._arm_timer)
        r("ARM:TIM?", lambda a: fmt(self.arm_timer))
        r("TRIG:OUTP", lambda a: self._choice("trig_output", a, {
            "SOUR": "SOUR", "SOURCE": "SOUR", "DEL": "DEL", "DELAY": "DEL", "SENS": "SENS",
            "SENSE": "SENS", "NONE": "NONE"}))
        r("TRIG:OUTP?", lambda a: self.trig_output)
        r("ARM:OUTP", lambda a: self._choice("arm_output", a, {
            "TENT": "TENT", "TEX": "TEX", "NONE": "NONE"}))
        r("ARM:OUTP?", lambda a: self.arm_output)
        for layer in ("TRIG", "ARM"):
            for line in ("ILIN", "OLIN"):
                attr = f"{layer}_{line}".lower()
                r(f"{layer}:{line}", lambda a, attr=attr: self._line(attr, a))
                r(f"{layer}:{line}?", lambda a, attr=attr: str(getattr(self, attr)))
        r("TRIG:CLE", lambda a: None)
        r("*TRG", lambda a: None)
        # system, route, display, beeper
        r("SYST:RSEN", lambda a: setattr(self, "four_wire", self._bool(a)))
        r("SYST:RSEN?", lambda a: str(int(self.four_wire)))
        r("SYST:AZER:STAT", self._azero)
        r("SYST:AZER:STAT?", lambda a: str(int(self.azero)))
        r("SYST:LFR", self._line_frequency)
        r("SYST:LFR?", lambda a: f"{self.line_freq:g}")
        r("SYST:LFR:AUTO", lambda a: setattr(self, "lfr_auto", self._bool(a)))
        r("SYST:LFR:AUTO?", lambda a: str(int(self.lfr_auto)))
        r("SYST:TIME:RES", lambda a: setattr(self, "t0", self.world.t))
        r("SYST:TIME?", lambda a: fmt(self.world.t - self.t0))
        r("SYST:PRES", lambda a: self.reset())
        r("SYST:BEEP", self._beep)
        r("SYST:BEEP:STAT", lambda a: setattr(self, "beeper", self._bool(a)))
        r("SYST:BEEP:STAT?", lambda a: str(int(self.beeper)))
        r("SYST:KEY", lambda a: None)
        r("SYST:LOC", lambda a: None)
        r("SYST:REM", lambda a: None)
        r("ROUT:TERM", lambda a: self._choice("terminals", a, {"FRON": "FRON", "FRONT": "FRON",
                                                               "REAR": "REAR"}))
        r("ROUT:TERM?", lambda a: self.terminals)
        r("DISP:ENAB", lambda a: setattr(self, "display", self._bool(a)))
        r("DISP:ENAB?", lambda a: str(int(self.display)))
        r("DISP:WIND:TEXT:DATA", lambda a: setattr(self, "display_text", a.strip().strip("'\"")))
        r("DISP:WIND:TEXT:DATA?", lambda a: f'"{self.display_text}"')
        r("DISP:WIND:TEXT:STAT", lambda a: setattr(self, "display_text_on", self._bool(a)))
        r("DISP:WIND:TEXT:STAT?", lambda a: str(int(self.display_text_on)))
        # status and buffer (pymeasure's KeithleyBuffer)
        r("STAT:PRES", lambda a: setattr(self, "measurement_enable", 0))
        r("STAT:MEAS:ENAB", lambda a: setattr(self, "measurement_enable", int(self.one_float(a))))
        r("STAT:MEAS:ENAB?", lambda a: str(self.measurement_enable))
        r("STAT:MEAS?", lambda a: str(self._read_measurement_events()))
        r("STAT:MEAS:COND?", lambda a: str(self._measurement_condition()))
        r("STAT:QUE?", lambda a: self.pop_error())
        r("STAT:QUE:NEXT?", lambda a: self.pop_error())
        r("STAT:QUE:CLE", lambda a: self.errors.clear())
        r("SYST:CLE", lambda a: self.errors.clear())
        r("TRAC:CLE", lambda a: self.buffer.clear())
        r("TRAC:POIN", self._buffer_points)
        r("TRAC:POIN?", lambda a: str(self.buffer_points))
        r("TRAC:POIN:ACT?", lambda a: str(len(self.buffer)))
        r("TRAC:FEED", lambda a: None)
        r("TRAC:FEED:CONT", lambda a: setattr(self, "buffer_feed", a.strip().upper()[:4]))
        r("TRAC:FEED:CONT?", lambda a: self.buffer_feed)
        r("TRAC:DATA?", lambda a: ",".join(",".join(row) for row in self.buffer))
        r("CALC3:FORM", lambda a: setattr(self, "calc3", a.strip().upper()[:4]))
        r("CALC3:FORM?", lambda a: self.calc3)
        r("CALC3:DATA?", lambda a: self._calc3())
        r("*OPT?", lambda a: "0")

    def _defaults(self):
        self.source_func = "VOLT"
        self.level = {"CURR": 0.0, "VOLT": 0.0}
        self.source_range = {"CURR": 1.05e-4, "VOLT": 21.0}
        self.source_auto = {"CURR": True, "VOLT": True}
        self.protection = {"CURR": 1.05e-4, "VOLT": 21.0}
        self.sense_range = {"CURR": 1.05e-4, "VOLT": 21.0}
        self.sense_auto = {"CURR": True, "VOLT": True}
        self.res_range, self.res_auto, self.res_mode = 2.1e5, True, "AUTO"
        self.nplc = 1.0
        self.concurrent = True
        self.functions = {"CURR"}
        self.filter_on, self.filter_type, self.filter_count = False, "REP", 10
        self.source_delay, self.source_delay_auto = 0.001, True
        self.auto_clear = False
        self.output = False
        self.off_mode = "NORM"
        self.trig_count = self.arm_count = 1
        self.trig_delay = 0.0
        self.trig_source = self.arm_source = "IMM"
        self.arm_timer = 0.1
        self.trig_output = self.arm_output = "NONE"
        self.trig_ilin = self.arm_ilin = 1
        self.trig_olin = self.arm_olin = 2
        self.four_wire = False
        self.azero = True
        self.lfr_auto = True
        self.terminals = "FRON"
        self.display, self.display_text, self.display_text_on = True, "", False
        self.beeper = True
        self.elements = list(ELEMENTS)
        self.last_readings: list[list[str]] = []
        self.buffer: list[list[str]] = []
        self.buffer_points = 100
        self.buffer_feed = "NEV"
        self.calc3 = "MEAN"
        self.in_compliance = False
        self.beeps: list[tuple[float, float]] = []

    def reset(self):
        self._defaults()

    # ------------------------------------------------------------------ parameter helpers
    @staticmethod
    def _bool(a):
        v = a.strip().upper()
        if v in ("1", "ON"):
            return True
        if v in ("0", "OFF"):
            return False
        raise CommandError(-224, f"Illegal parameter value: {a!r}")

    def _number(self, a, default, lo, hi):
        """<NRf> | DEFault | MINimum | MAXimum (manual 18-2)."""
        word = a.strip().upper()
        if word in ("DEF", "DEFAULT"):
            return default
        if word in ("MIN", "MINIMUM"):
            return lo
        if word in ("MAX", "MAXIMUM"):
            return hi
        return self.one_float(a)

    def _choice(self, attr, a, words):
        v = a.strip().upper()
        if v not in words:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        setattr(self, attr, words[v])

    # ------------------------------------------------------------------ source
    def _source_func(self, a):
        v = a.strip().upper()
        v = {"CURRENT": "CURR", "VOLTAGE": "VOLT", "MEMORY": "MEM"}.get(v, v)
        if v not in ("CURR", "VOLT"):
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.source_func = v

    def _source_mode(self, a):
        v = a.strip().upper()
        if v not in ("FIX", "FIXED"):
            # sweeps and lists (SWE, LIST) are not modelled: refused rather than ignored
            raise CommandError(-224, f"Illegal parameter value: {a!r} (only FIXed is simulated)")

    def _source_level(self, q, a):
        limit = MAX_CURRENT_A if q == "CURR" else MAX_VOLTAGE_V
        v = self._number(a, 0.0, -limit, limit)
        if abs(v) > limit * 1.000001:
            raise CommandError(-222, f"source level {v} outside ±{limit}")
        if not self.source_auto[q] and abs(v) > self.source_range[q] * 1.000001:
            # a level beyond a fixed source range: the 2400 refuses it (-221 settings conflict)
            raise CommandError(-221, f"level {v} above the fixed source range {self.source_range[q]}")
        self.level[q] = v
        if self.source_auto[q]:
            self.source_range[q] = _pick(CURRENT_RANGES if q == "CURR" else VOLTAGE_RANGES, v)

    def _source_range(self, q, a):
        ranges = CURRENT_RANGES if q == "CURR" else VOLTAGE_RANGES
        v = self._number(a, ranges[2], ranges[0], ranges[-1])
        if abs(v) > ranges[-1] * 1.000001:
            raise CommandError(-222, f"source range {v} above {ranges[-1]}")
        self.source_range[q] = _pick(ranges, v)
        self.source_auto[q] = False

    def _present_source_range(self, q):
        # auto range is a state: it moves when the level is set (and reads back after *RST as
        # the manual's default range, 105 uA / 21 V, as pymeasure's device test found)
        return self.source_range[q]

    def _source_delay(self, a):
        v = self._number(a, 0.0, 0.0, 9999.999)
        if not 0 <= v <= 9999.999:
            raise CommandError(-222, f"source delay {v} outside 0..9999.999 s")
        self.source_delay = v
        self.source_delay_auto = False

    def _off_mode(self, a):
        self._choice("off_mode", a, {"HIMP": "HIMP", "HIMPEDANCE": "HIMP", "NORM": "NORM",
                                     "NORMAL": "NORM", "ZERO": "ZERO", "GUAR": "GUAR", "GUARD": "GUAR"})

    # ------------------------------------------------------------------ sense
    def _protection(self, q, a):
        limit = MAX_CURRENT_A if q == "CURR" else MAX_VOLTAGE_V
        low = 1e-9 if q == "CURR" else 2e-4
        v = self._number(a, 1.05e-4 if q == "CURR" else 21.0, low, limit)
        if abs(v) > limit * 1.000001:
            raise CommandError(-222, f"compliance {v} above {limit}")
        # the compliance is a magnitude (the manual: "limit ... both polarities"), at least the
        # smallest settable value
        self.protection[q] = max(abs(v), low)

    def _sense_range(self, q, a):
        ranges = CURRENT_RANGES if q == "CURR" else VOLTAGE_RANGES
        v = self._number(a, ranges[2], ranges[0], ranges[-1])
        if abs(v) > ranges[-1] * 1.000001:
            raise CommandError(-222, f"measurement range {v} above {ranges[-1]}")
        if q == self.source_func:
            # 18-71: measuring the source function reads the source back on the source range;
            # its measurement range cannot be set apart (the settings conflict pymeasure's
            # device test notes for voltage_range)
            raise CommandError(-221, "measurement range of the sourced function is the source range")
        self.sense_range[q] = _pick(ranges, v)
        self.sense_auto[q] = False

    def _present_sense_range(self, q):
        if q == self.source_func:
            return self._present_source_range(q)
        return self.sense_range[q]

    def _autorange(self, v, i):
        """Auto range: the measurement range moves to the reading (a state, like the source's)."""
        for q, value in (("VOLT", v), ("CURR", i)):
            if self.sense_auto[q] and q != self.source_func:
                self.sense_range[q] = _pick(CURRENT_RANGES if q == "CURR" else VOLTAGE_RANGES, value)

    def _res_range(self, a):
        v = self._number(a, 2.1e5, 0.0, 2.1e8)
        if not 0 <= v <= 2.1e8 * 1.000001:
            raise CommandError(-222, f"resistance range {v} outside 0..2.1e8")
        self.res_range = _pick(RESISTANCE_RANGES, v)
        self.res_auto = False

    def _res_mode(self, a):
        self._choice("res_mode", a, {"AUTO": "AUTO", "MAN": "MAN", "MANUAL": "MAN"})

    def _nplc(self, a):
        v = self._number(a, 1.0, 0.01, 10.0)
        if not 0.01 <= v <= 10.0:
            raise CommandError(-222, f"NPLC {v} outside 0.01..10")
        self.nplc = v       # 18-68: one integration rate for every function

    def _func_list(self, a):
        names = []
        for part in a.split(","):
            v = part.strip().strip("'\"").upper()
            if not v:
                continue
            v = v.split(":")[0]
            v = {"CURRENT": "CURR", "VOLTAGE": "VOLT", "RESISTANCE": "RES"}.get(v, v)
            if v not in ("CURR", "VOLT", "RES"):
                raise CommandError(-224, f"Illegal parameter value: {a!r}")
            names.append(v)
        if not names:
            raise CommandError(-109, "Missing parameter")
        return names

    def _func_on(self, a):
        names = self._func_list(a)
        if self.concurrent:
            self.functions.update(names)
        else:
            if len(names) > 1:
                raise CommandError(-221, "one function at a time with concurrent measurements off")
            self.functions = {names[0]}

    def _func_off(self, a):
        for n in self._func_list(a):
            self.functions.discard(n)

    def _func_all(self, on):
        self.functions = {"CURR", "VOLT", "RES"} if on else set()
        if on:
            self.concurrent = True

    def _func_state(self, a):
        return self._func_list(a)[0] in self.functions

    def _concurrent(self, on):
        self.concurrent = on
        if not on and len(self.functions) > 1:
            # 18-66: with concurrent off only one function stays: the first of V, I, ohms
            first = next(f for f in ("VOLT", "CURR", "RES") if f in self.functions)
            self.functions = {first}

    def _func_names(self):
        return [{"VOLT": "VOLT:DC", "CURR": "CURR:DC", "RES": "RES"}[f]
                for f in ("VOLT", "CURR", "RES") if f in self.functions]

    def _filter_type(self, a):
        self._choice("filter_type", a, {"REP": "REP", "REPEAT": "REP", "MOV": "MOV", "MOVING": "MOV"})

    def _filter_count(self, a):
        v = self._number(a, 10, 1, 100)
        if v != int(v) or not 1 <= v <= 100:
            raise CommandError(-222, f"filter count {v} outside 1..100")
        self.filter_count = int(v)

    # ------------------------------------------------------------------ format, trigger, system
    def _elements(self, a):
        chosen = set()
        for part in a.split(","):
            v = part.strip().upper()
            if not v:
                continue
            v = {"VOLTAGE": "VOLT", "CURRENT": "CURR", "RESISTANCE": "RES", "STATUS": "STAT"}.get(v, v)
            if v not in ELEMENTS:
                raise CommandError(-224, f"Illegal parameter value: {part.strip()!r}")
            chosen.add(v)
        if not chosen:
            raise CommandError(-109, "Missing parameter")
        self.elements = [e for e in ELEMENTS if e in chosen]   # 18-50: always in this order

    def _data_format(self, a):
        v = a.split(",")[0].strip().upper()
        if v not in ("ASC", "ASCII"):
            # REAL,32 / SREal are binary: not simulated, and refused rather than answered in ASCII
            raise CommandError(-224, f"Illegal parameter value: {a!r} (only ASCii is simulated)")

    def _count(self, attr, a):
        v = self._number(a, 1, 1, 2500)
        if v != int(v) or not 1 <= v <= 2500:
            raise CommandError(-222, f"count {v} outside 1..2500")
        other = self.arm_count if attr == "trig_count" else self.trig_count
        if int(v) * other > 2500:
            raise CommandError(-221, "arm count x trigger count above 2500")
        setattr(self, attr, int(v))

    def _delay(self, attr, a):
        v = self._number(a, 0.0, 0.0, 999.9999)
        if not 0 <= v <= 999.9999:
            raise CommandError(-222, f"delay {v} outside 0..999.9999 s")
        setattr(self, attr, v)

    def _arm_timer(self, a):
        v = self._number(a, 0.1, 0.001, 99999.99)
        if not 0.001 <= v <= 99999.99:
            raise CommandError(-222, f"timer {v} outside 0.001..99999.99 s")
        self.arm_timer = v

    def _line(self, attr, a):
        v = self.one_float(a)
        if v != int(v) or not 1 <= v <= 4:
            raise CommandError(-222, f"trigger line {v} outside 1..4")
        setattr(self, attr, int(v))

    def _azero(self, a):
        if a.strip().upper() == "ONCE":
            return
        self.azero = self._bool(a)

    def _line_frequency(self, a):
        v = self.one_float(a)
        if v not in (50, 60):
            raise CommandError(-224, f"line frequency {v}: 50 or 60")
        self.line_freq = v

    def _beep(self, a):
        f, d = self.floats(a)
        if not 65 <= f <= 2e6 or not 0 <= d <= 7.9:
            raise CommandError(-222, f"beep {f} Hz for {d} s: 65 Hz..2 MHz, 0..7.9 s")
        if self.beeper:
            self.beeps.append((f, d))

    def _buffer_points(self, a):
        v = self.one_float(a)
        if v != int(v) or not 1 <= v <= 2500:
            raise CommandError(-222, f"buffer size {v} outside 1..2500")
        self.buffer_points = int(v)

    # ------------------------------------------------------------------ the measurement
    def _solve(self):
        """(V across the sense terminals, I through the wire, in compliance, range compliance)
        with no noise: the source regulates its quantity until the other reaches its limit."""
        world = self.world
        R = world.wire_resistance_ohm()
        if not self.four_wire:
            R += world.wire.lead_ohm
        offset = world.wire.offset_V
        if not self.output:
            return 0.0, 0.0, False, False
        if self.source_func == "CURR":
            i = self.level["CURR"]
            v = i * R + offset
            limit, by_range = self._limit("VOLT")
            if abs(v) > limit:
                v = math.copysign(limit, v)
                i = (v - offset) / R
                return v, i, True, by_range
            return v, i, False, False
        v = self.level["VOLT"]
        i = (v - offset) / R
        limit, by_range = self._limit("CURR")
        if abs(i) > limit:
            i = math.copysign(limit, i)
            v = i * R + offset
            return v, i, True, by_range
        return v, i, False, False

    def _limit(self, q):
        """The compliance of quantity q, and whether a fixed range below it is what limits
        (the manual's "range compliance")."""
        limit = self.protection[q]
        if not self.sense_auto[q] and q != self.source_func and self.sense_range[q] < limit:
            return self.sense_range[q], True
        return limit, False

    def _tripped(self, q):
        _, _, comp, _ = self._solve()
        return comp and q != self.source_func

    def _noise(self, v, i):
        t_int = self.nplc / self.line_freq
        bandwidth = 1.0 / (2.0 * t_int)
        R = self.world.wire_resistance_ohm()
        T = self.world.temperature_K
        v_range = self._present_sense_range("VOLT")
        i_range = self._present_sense_range("CURR")
        scale = 1.0 / math.sqrt(self.nplc)
        sigma_v = math.hypot(self.v_noise_fraction * v_range * scale,
                             self.world.wire.johnson_noise_V(T, R, bandwidth))
        sigma_i = self.i_noise_fraction * i_range * scale
        if self.filter_on and self.filter_type == "REP":
            n = math.sqrt(self.filter_count)
            sigma_v, sigma_i = sigma_v / n, sigma_i / n
        return v + self.noise(sigma_v), i + self.noise(sigma_i)

    def _one_reading(self) -> list[str]:
        v_true, i_true, comp, by_range = self._solve()
        self._autorange(v_true, i_true)
        v, i = self._noise(v_true, i_true)
        status = ST_V_SOUR if self.source_func == "VOLT" else ST_I_SOUR
        if self.terminals == "FRON":
            status |= ST_FRONT
        if self.filter_on:
            status |= ST_FILTER
        if self.four_wire:
            status |= ST_REMOTE_SENSE
        if comp:
            status |= ST_COMPLIANCE
            self.measurement_events |= MEAS_EVENT_COMPLIANCE
        if by_range:
            status |= ST_RANGE_COMPLIANCE
        self.in_compliance = comp
        values = {"VOLT": NAN_READING, "CURR": NAN_READING, "RES": NAN_READING}
        # a measured value where its function is on; the source value (what it was set to)
        # for the sourced quantity otherwise (18-50)
        for q, measured in (("VOLT", v), ("CURR", i)):
            if q in self.functions:
                rg = self._present_sense_range(q)
                if abs(measured) > rg * 1.0001 and not comp:
                    values[q] = OVERFLOW_READING
                    status |= ST_OFLO
                else:
                    values[q] = measured
                status |= ST_V_MEAS if q == "VOLT" else ST_I_MEAS
            elif q == self.source_func:
                values[q] = self.level[q]
        if "RES" in self.functions:
            status |= ST_R_MEAS
            values["RES"] = v / i if i != 0 else NAN_READING
        values["TIME"] = self.world.t - self.t0
        values["STAT"] = float(status)
        self.measurement_events |= MEAS_EVENT_RAV
        return [fmt(values[e]) for e in self.elements]

    def _take(self):
        if not self.output and not self.auto_clear:
            raise CommandError(803, "Not permitted with OUTPUT off", native=True)
        switched_on = not self.output
        if switched_on:
            self.output = True         # auto output-off: on for the source-measure cycle
        try:
            rows = [self._one_reading() for _ in range(max(1, self.trig_count * self.arm_count))]
        finally:
            if switched_on or self.auto_clear:
                self.output = False
        self.last_readings = rows
        if self.buffer_feed == "NEXT":
            space = self.buffer_points - len(self.buffer)
            self.buffer.extend(rows[:max(space, 0)])
            if len(self.buffer) >= self.buffer_points:
                self.buffer_feed = "NEV"
                self.measurement_events |= MEAS_EVENT_BFL
        return rows

    def _read(self):
        return ",".join(",".join(row) for row in self._take())

    def _initiate(self):
        self._take()

    def _fetch(self):
        if not self.last_readings:
            # -230 "Data corrupt or stale": nothing has been acquired since the last change
            raise CommandError(-230, "Data corrupt or stale", native=True)
        return ",".join(",".join(row) for row in self.last_readings)

    def _configure(self, f):
        # table 17-1 / 17-3: the function alone, its controls at their *RST values, immediate
        # triggers, and the output on
        self.concurrent = False
        self.functions = {f}
        if f in ("CURR", "VOLT"):
            self.sense_auto[f] = True
        else:
            self.res_auto = True
        self.nplc = 1.0
        self.trig_source = self.arm_source = "IMM"
        self.output = True

    def _measure(self, f):
        if f is not None:
            self._configure(f)
        else:
            self.output = True
        return self._read()

    def _measurement_condition(self):
        cond = 0
        if self._solve()[2]:
            cond |= MEAS_EVENT_COMPLIANCE
        if len(self.buffer) >= self.buffer_points:
            cond |= MEAS_EVENT_BFL
        return cond

    def _read_measurement_events(self):
        value, self.measurement_events = self.measurement_events, 0
        return value

    def summary_bits(self) -> int:
        # status byte bit 0, measurement summary: an enabled measurement event (pymeasure's
        # KeithleyBuffer enables buffer-full, 512, and waits for this bit)
        events = self.measurement_events | self._measurement_condition()
        return 1 if events & self.measurement_enable else 0

    def _calc3(self):
        if not self.buffer:
            raise CommandError(-230, "Data corrupt or stale", native=True)
        cols = list(zip(*[[float(x) for x in row] for row in self.buffer]))
        out = []
        for col in cols[:3]:
            n = len(col)
            mean = sum(col) / n
            if self.calc3 == "MAX":
                out.append(max(col))
            elif self.calc3 == "MIN":
                out.append(min(col))
            elif self.calc3 in ("SDEV", "SDEVIATION"):
                out.append(math.sqrt(sum((x - mean) ** 2 for x in col) / max(n - 1, 1)))
            else:
                out.append(mean)
        return ",".join(fmt(x) for x in out)


#: the 2400's optional nodes (manual section 18): dropped to reach one key per command
_DROP_ANYWHERE = ("LEV", "IMM", "AMPL", "SEQ", "SEQ1", "LAY", "LAY1", "WIND1")
_SENSE_ROOTS = ("VOLT", "CURR", "RES", "FUNC", "AVER", "DATA")


def _canonical(key: str) -> str:
    q = key.endswith("?")
    nodes = (key[:-1] if q else key).split(":")
    if not nodes or nodes[0].startswith("*"):
        return key
    head = nodes[0]
    head = {"SENS1": "SENS", "SOUR1": "SOUR", "OUTP1": "OUTP", "CALC": "CALC"}.get(head, head)
    nodes[0] = head
    if head in _SENSE_ROOTS:
        nodes = ["SENS"] + nodes
    out = []
    for i, n in enumerate(nodes):
        if i > 0 and n in _DROP_ANYWHERE:
            continue
        if n == "DC" and out and out[-1] in ("VOLT", "CURR"):
            continue
        if n == "WIND" and out and out[-1] == "DISP":
            out.append("WIND")
            continue
        out.append(n)
    if out[:1] == ["OUTP"] and out[-1:] == ["STAT"]:
        out.pop()
    if out[:1] == ["FORM"] and len(out) >= 3 and out[1] == "ELEM" and out[2] in ("SENS", "SENS1"):
        out = out[:2]
    if out == ["FORM"]:
        out = ["FORM", "DATA"]
    if out[:2] == ["SENS", "AVER"] and out[-1:] == ["STAT"]:
        out.pop()
    if out[:2] == ["SYST", "AZER"] and len(out) == 2:
        out.append("STAT")
    if out[:2] == ["DISP", "ENAB"] or out[:2] == ["DISP", "WIND"]:
        pass
    if out[:1] == ["DISP"] and len(out) >= 2 and out[1] == "TEXT":
        out = ["DISP", "WIND"] + out[1:]
    if out[:1] == ["INIT"] or out[:1] == ["ABOR"]:
        out = out[:1]
    return ":".join(out) + ("?" if q else "")

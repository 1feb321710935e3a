"""Stanford Research Systems SR830 DSP lock-in reading the cantilever.

Outputs beyond the sensitivity clip at 1.09 x full scale and set the output-overload bit (4)
of LIAS?, as a real SR830 does when its display shows OVLD.

No error queue (no SYST:ERR?): a refused command sets a bit of the standard event status byte
(*ESR?, manual "Status byte definitions"): bit 5 CMD for an illegal command (unknown header,
malformed argument), bit 4 EXE for an execution error (a parameter out of range); bit 7 PON at
power-on. Serial poll status (*STB?): bit 0 SCN (no scan in progress), bit 1 IFC (no command
in progress), bit 2 ERR / bit 3 LIA (an enabled bit of ERRS? / LIAS? set), bit 4 MAV, bit 5
ESB, bit 6 SRQ. *ESE, *ESR?, *SRE, *STB?, LIAE, ERRE and their queries take an optional bit
number (``*ESR? 4`` reads and clears bit 4 only). *CLS clears every status byte.

Command set as the SR830 manual, chapter 5, lists it: every setting takes only the indices
its table has (anything else is an execution error, EXE, and changes nothing), SNAP? takes
2 to 6 of the parameters 1-11 (X, Y, R, theta, Aux In 1-4, reference frequency, CH1 and CH2
display), OUTR? reads a display, and the data buffer (SRAT, SEND, TSTR, STRT, PAUS, REST,
TRIG, SPTS?, TRCA?, TRCB?, TRCL?) stores the two displays at the sample rate in simulated time
(16383 points; single shot stops when full, loop keeps the newest). *RST restores the
manual's default settings ("Standard settings", chapter 4 / *RST in chapter 5).
"""
from __future__ import annotations

import math
import struct

from .base import STB_MSS, BinaryReply, CommandError, SimInstrument
from .lockin_core import LockinCore

SENSITIVITIES = [2e-9, 5e-9, 10e-9, 20e-9, 50e-9, 100e-9, 200e-9, 500e-9, 1e-6, 2e-6, 5e-6, 10e-6, 20e-6,
                 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 200e-3,
                 500e-3, 1]
TIME_CONSTANTS = [10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3, 1, 3, 10, 30,
                  100, 300, 1e3, 3e3, 10e3, 30e3]
SLOPES = [6, 12, 18, 24]


#: the data buffer's sample rates, SRAT 0..13 (Hz); 14 is "trigger"
SAMPLE_RATES = [0.0625 * 2 ** i for i in range(14)]
BUFFER_POINTS = 16383


class SR830(SimInstrument):
    name = "lockin"
    model = "SRS SR830"
    idn = "Stanford_Research_Systems,SR830,s/n48151,ver1.07"
    reply_termination = "\n"
    # RS-232 (SR830 manual, chapter 5): replies end with <cr> there (with <lf> on GPIB, as on
    # this lab's LAN socket); a command ends with <cr> or <lf>. Baud rate and parity are set in
    # the SETUP menu; 9600 baud 8N1 is assumed here (the pages with the menu's defaults could
    # not be had).
    serial_port = {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r", "line_ends": "\r\n"}
    scpi = False
    sensitivities = SENSITIVITIES
    time_constants = TIME_CONSTANTS
    freq_range = (0.001, 102000.0)
    amp_range = (0.004, 5.0)
    harmonic_max = 19999
    #: SNAP? / OUTP? parameter numbers (manual, SNAP? and OUTP?)
    snap_map = {1: "X", 2: "Y", 3: "R", 4: "THETA", 5: "AUX1", 6: "AUX2", 7: "AUX3", 8: "AUX4",
                9: "FREQ", 10: "CH1", 11: "CH2"}
    snap_count = (2, 6)
    outp_map = {1: "X", 2: "Y", 3: "R", 4: "THETA"}
    aux_channels = (1, 2, 3, 4)
    error_queue_size = 0     # no SYST:ERR?: errors only set *ESR? bits
    stb_eav_bit = 0          # bit 2 is ERR (ERRS? & ERRE), never set here
    esr_opc_bit = 0          # the SR830's *ESR? bit 0 is INP (input queue overflow), not OPC
    #: the settings that are a bare index, with their legal range (manual, chapter 5)
    index_settings = {"SYNC": 1, "ISRC": 3, "IGND": 1, "ICPL": 1, "ILIN": 3, "FMOD": 1, "RSLP": 2,
                      "RMOD": 2, "SEND": 1, "TSTR": 1, "OUTX": 1, "OVRM": 1, "FAST": 2}
    #: *RST values of those (manual: internal reference, sine, A input, float, AC, no notch,
    #: normal reserve, sync off, loop mode, no trigger start, 1 Hz sample rate)
    reset_settings = {"SYNC": 0, "ISRC": 0, "IGND": 0, "ICPL": 0, "ILIN": 0, "FMOD": 1, "RSLP": 0,
                      "RMOD": 1, "SEND": 1, "TSTR": 0, "FAST": 0}
    reset_frequency, reset_amplitude = 1000.0, 1.0
    reset_tc, reset_slope_index, reset_sens = 0.1, 1, 1

    def setup(self):
        self.core = LockinCore(self.world, self.rng, float(self.params.get("input_noise_V_per_rtHz", 1e-8)))
        self.lias = 0
        self.liae = 0
        self.erre = 0
        # power-up: the settings the lab was left with (the lock-in keeps them through a power
        # cycle); the drive is the cantilever's, see lockin_core
        self.settings = dict(self.reset_settings, OUTX=1, OVRM=1)
        self.sens = self.sensitivities.index(self.reset_sens)
        self.core.time_constant = self.reset_tc
        self.tc_index = self.time_constants.index(self.reset_tc)
        self.slope_index = 0
        self.core.slope_db = SLOPES[0]
        self._reset_displays()
        self._reset_buffer()
        self.srat = 4
        r = self.register
        r("FREQ?", lambda a: f"{self.core.frequency:.6g}")
        r("FREQ", self._freq)
        r("SLVL?", lambda a: f"{self.core.amplitude:.3f}")
        r("SLVL", self._slvl)
        r("PHAS?", lambda a: f"{self.core.phase_deg:.2f}")
        r("PHAS", self._phas)
        r("SENS?", lambda a: str(self.sens))
        r("SENS", lambda a: setattr(self, "sens", self._index(a, self.sensitivities)))
        r("OFLT?", lambda a: str(self.tc_index))
        r("OFLT", self._oflt)
        r("OFSL?", lambda a: str(self.slope_index))
        r("OFSL", self._ofsl)
        r("HARM?", lambda a: str(self.core.harmonic))
        r("HARM", self._harm)
        r("OUTP?", self._outp)
        r("OUTR?", self._outr)
        r("SNAP?", self._snap)
        r("LIAS?", self._lias)
        r("ERRS?", lambda a: self._bit_query(0, a))       # no hardware errors, ever
        r("*ESR?", self._esr_query)
        r("*ESE", lambda a: setattr(self, "ese", self._bit_set(self.ese, a)))
        r("*ESE?", lambda a: self._bit_query(self.ese, a))
        r("*SRE", lambda a: setattr(self, "sre", self._bit_set(self.sre, a) & ~STB_MSS))
        r("*SRE?", lambda a: self._bit_query(self.sre, a))
        r("*STB?", lambda a: self._bit_query(self.status_byte(), a))
        r("LIAE", lambda a: setattr(self, "liae", self._bit_set(self.liae, a)))
        r("LIAE?", lambda a: self._bit_query(self.liae, a))
        r("ERRE", lambda a: setattr(self, "erre", self._bit_set(self.erre, a)))
        r("ERRE?", lambda a: self._bit_query(self.erre, a))
        r("AUXV?", lambda a: f"{self.aux_out[self._aux(a)]:.3f}")
        r("AUXV", self._auxv)
        r("OAUX?", lambda a: f"{self._aux_in(self._aux(a)):.4f}")
        r("DDEF?", lambda a: "{},{}".format(*self.display[self._display_channel(a)]))
        r("DDEF", self._ddef)
        # offset as the unit prints it: "9.7,1", "10,1" (pymeasure's SR830 pairs, taken on a
        # unit: tests/instruments/srs/test_sr830.py); 0.01 % steps are kept by _oexp
        r("OEXP?", lambda a: "{:g},{}".format(*self.expand[self._expand_channel(a)]))
        r("OEXP", self._oexp)
        r("AGAN", lambda a: self._auto_gain())
        r("ARSV", lambda a: None)
        r("APHS", lambda a: self._auto_phase())
        r("AOFF", self._aoff)
        for k, top in self.index_settings.items():
            r(k + "?", lambda a, k=k: str(self.settings[k]))
            r(k, lambda a, k=k, top=top: self.settings.__setitem__(k, self._index(a, range(top + 1))))
        # the data buffer
        r("SRAT?", lambda a: str(self.srat))
        r("SRAT", self._srat)
        r("SPTS?", lambda a: str(self._fill() or len(self.buffer[1])))
        r("REST", lambda a: self._reset_buffer())
        r("STRT", lambda a: self._start())
        r("STRD", lambda a: self._start())
        r("PAUS", lambda a: self._pause())
        r("TRIG", lambda a: self._trigger())
        r("TRCA?", self._trca)
        r("TRCB?", lambda a: self._trace_binary(a, "ieee"))
        r("TRCL?", lambda a: self._trace_binary(a, "lia"))
        r("SSET", lambda a: self._index(a, range(1, 10)) and None)
        r("RSET", lambda a: self._index(a, range(1, 10)) and None)
        r("LOCL", lambda a: None)
        r("LOCL?", lambda a: "0")

    def reset(self):
        c = self.core
        c.update()
        c.frequency, c.amplitude, c.phase_deg, c.harmonic = (self.reset_frequency, self.reset_amplitude,
                                                              0.0, 1)
        self.sens = self.sensitivities.index(self.reset_sens)
        self.tc_index = self.time_constants.index(self.reset_tc)
        c.time_constant = self.reset_tc
        self.slope_index = self.reset_slope_index
        c.slope_db = SLOPES[self.slope_index]
        self.settings.update(self.reset_settings)
        self._reset_displays()
        self._reset_buffer()
        self.srat = 4
        self.lias = 0

    def _reset_displays(self):
        self.aux_out = {ch: 0.0 for ch in self.aux_channels}
        self.display = {1: (0, 0), 2: (0, 0)}          # (display, ratio) per channel
        self.expand = {1: (0.0, 0), 2: (0.0, 0), 3: (0.0, 0)}

    # ------------------------------------------------------------------ status bytes
    def summary_bits(self) -> int:
        bits = 1 | 2                      # SCN: no scan in progress; IFC: interface ready
        if self.lias & self.liae:
            bits |= 8                     # LIA
        return bits

    def clear_status(self) -> None:
        super().clear_status()
        self.lias = 0

    def _bit(self, a: str) -> int:
        i = int(self.one_float(a))
        if not 0 <= i <= 7:
            raise CommandError(-222, f"bit {i} outside 0..7")
        return i

    def _bit_set(self, value: int, a: str) -> int:
        """``CMD j`` sets the register to j; ``CMD i,j`` sets bit i to j."""
        v = self.floats(a)
        if len(v) == 2:
            i = self._bit(str(v[0]))
            if v[1] not in (0, 1):
                raise CommandError(-222, f"bit value {v[1]} not 0 or 1")
            return (value | (1 << i)) if v[1] else (value & ~(1 << i))
        return self._register_value(a)

    def _bit_query(self, value: int, a: str) -> str:
        return str((value >> self._bit(a)) & 1) if a.strip() else str(value)

    def _esr_query(self, a: str) -> str:
        if not a.strip():
            return str(self.read_esr())
        i = self._bit(a)
        out = (self.esr >> i) & 1
        self.esr &= ~(1 << i)               # reading a bit clears that bit only
        return str(out)

    # ------------------------------------------------------------------ helpers
    def _index(self, a, table):
        v = self.one_float(a)
        i = int(v)
        lo, hi = (table.start, table.stop) if isinstance(table, range) else (0, len(table))
        if v != i or not lo <= i < hi:
            raise CommandError(-222, f"index {a!r} outside {lo}..{hi - 1}")
        return i

    def _args(self, a, n):
        v = self.floats(a)
        if len(v) != n:
            raise CommandError(-109, f"{n} parameters wanted: {a!r}")
        return v

    def _aux(self, a):
        i = int(self.one_float(a))
        if i not in self.aux_channels:
            raise CommandError(-222, f"aux channel {i}")
        return i

    def _aux_in(self, ch):
        return self.noise(1e-4)           # nothing is wired to the aux inputs

    def _display_channel(self, a):
        i = int(self.one_float(a))
        if i not in (1, 2):
            raise CommandError(-222, f"display {i} not 1 or 2")
        return i

    def _expand_channel(self, a):
        i = int(self.one_float(a))
        if i not in (1, 2, 3):
            raise CommandError(-222, f"OEXP channel {i} not 1..3")
        return i

    def _freq(self, a):
        v = self.one_float(a)
        lo, hi = self.freq_range
        if not lo <= v <= hi:
            raise CommandError(-222, f"frequency {v} Hz outside {lo}..{hi}")
        if v * self.core.harmonic > hi:
            raise CommandError(-222, f"harmonic {self.core.harmonic} x {v} Hz above {hi} Hz")
        self.core.update()
        self.core.frequency = v

    def _harm(self, a):
        i = self._index(a, range(1, self.harmonic_max + 1))
        if i * self.core.frequency > self.freq_range[1]:
            raise CommandError(-222, f"harmonic {i} x {self.core.frequency} Hz above the limit")
        self.core.update()
        self.core.harmonic = i

    def _slvl(self, a):
        v = self.one_float(a)
        lo, hi = self.amp_range
        if not lo <= v <= hi:
            raise CommandError(-222, f"amplitude {v} V outside {lo}..{hi}")
        self.core.update()
        self.core.amplitude = v

    def _phas(self, a):
        v = self.one_float(a)
        if not -360.0 <= v <= 729.99:
            raise CommandError(-222, f"phase {v} deg outside -360..729.99")
        self.core.phase_deg = (v + 180.0) % 360.0 - 180.0

    def _oflt(self, a):
        self.core.update()
        self.tc_index = self._index(a, self.time_constants)
        self.core.time_constant = self.time_constants[self.tc_index]

    def _ofsl(self, a):
        self.slope_index = self._index(a, SLOPES)
        self.core.slope_db = SLOPES[self.slope_index]

    def _auxv(self, a):
        ch, v = self._args(a, 2)
        ch = self._aux(str(ch))
        if not -10.5 <= v <= 10.5:
            raise CommandError(-222, f"aux output {v} V outside -10.5..10.5")
        self.aux_out[ch] = round(v, 3)

    def _ddef(self, a):
        ch, d, ratio = self._args(a, 3)
        ch = self._display_channel(str(ch))
        if d not in range(5) or ratio not in range(3):
            raise CommandError(-222, f"DDEF {a}")
        self.display[ch] = (int(d), int(ratio))

    def _oexp(self, a):
        ch, off, ex = self._args(a, 3)
        ch = self._expand_channel(str(ch))
        if not -105.0 <= off <= 105.0 or ex not in (0, 1, 2):
            raise CommandError(-222, f"OEXP {a}")
        self.expand[ch] = (round(off, 2), int(ex))

    def _aoff(self, a):
        ch = self._expand_channel(a)
        d = self.values()
        value = {1: d["X"], 2: d["Y"], 3: d["R"]}[ch]
        off = max(-105.0, min(105.0, 100.0 * value / self.full_scale()))
        self.expand[ch] = (round(off, 2), self.expand[ch][1])

    def full_scale(self):
        return self.sensitivities[self.sens]

    def noise_V(self):
        """The rms noise on X (and Y) in the present bandwidth: the X noise / Y noise display."""
        return self.core.noise_density * math.sqrt(self.core.enbw())

    def values(self):
        """X, Y, R, theta, aux inputs, frequency and the two displays, at one instant, with
        overload clipping and status."""
        d = self.core.snapshot_values()
        fs = self.full_scale()
        over = False
        for k in ("X", "Y", "R"):
            if abs(d[k]) > fs:
                over = True
                d[k] = math.copysign(1.09 * fs, d[k])
        if over:
            self.lias |= 4
        for i, ch in enumerate(self.aux_channels):
            d[f"AUX{i + 1}"] = self._aux_in(ch)
        d["CH1"], d["CH2"] = self._display_value(1, d), self._display_value(2, d)
        return d

    def _display_value(self, ch, d):
        disp, ratio = self.display[ch]
        shown = {1: ("X", "R", "XN", "AUX1", "AUX2"), 2: ("Y", "THETA", "YN", "AUX3", "AUX4")}[ch][disp]
        v = self.noise_V() if shown in ("XN", "YN") else d[shown]
        if ratio:
            aux = d[f"AUX{ratio + (0 if ch == 1 else 2)}"]
            v = v / aux if aux else math.copysign(math.inf, v)
        return v

    def _auto_gain(self):
        d = self.core.snapshot_values()
        need = max(abs(d["R"]), 1e-12)
        ok = [i for i, s in enumerate(self.sensitivities) if s >= need * 1.1]
        if ok:
            self.sens = min(ok, key=lambda i: self.sensitivities[i])

    def _auto_phase(self):
        d = self.core.snapshot_values()
        self.core.phase_deg = (self.core.phase_deg + d["THETA"] + 180) % 360 - 180

    def _outp(self, a):
        i = int(self.one_float(a))
        if i not in self.outp_map:
            raise CommandError(-222, f"OUTP? index {i}")
        return self._number(self.values()[self.outp_map[i]])

    def _outr(self, a):
        return self._number(self.values()[f"CH{self._display_channel(a)}"])

    @staticmethod
    def _number(v: float) -> str:
        """OUTP?, OUTR? and SNAP? numbers as the SR830 prints them: six significant digits,
        trailing zeros dropped, a three-digit exponent when there is one (manual: "-1.01026",
        "0.951359,0.0253297,..."; a unit's replies "-4.17234e-007,-5.9605e-007" and
        "-0.000500266" in pymeasure's tests/instruments/srs/test_sr830.py)."""
        return _three_digit_exponent(f"{v:g}")

    def _snap_indices(self, a):
        idx = []
        for t in (t.strip() for t in a.split(",")):
            try:
                idx.append(int(t))
            except ValueError:
                raise CommandError(-104, f"SNAP? parameter {t!r}") from None
        return idx

    def _snap(self, a):
        idx = self._snap_indices(a)
        lo, hi = self.snap_count
        if not lo <= len(idx) <= hi or any(i not in self.snap_map for i in idx):
            raise CommandError(-222, f"SNAP? {a}")
        d = self.values()
        return ",".join(self._number(d[self.snap_map[i]]) for i in idx)

    def _lias(self, a):
        self.values()
        v = self.lias
        if a.strip():
            bit = self._bit(a)
            out = (v >> bit) & 1
            self.lias &= ~(1 << bit)
            return str(out)
        self.lias = 0
        return str(v)

    # ------------------------------------------------------------------ data buffer
    def _reset_buffer(self):
        """REST: empty both buffers and stop storing."""
        self.buffer = {1: [], 2: []}
        self.storing = False
        self.stored_since_start = 0
        self.t_start = None

    def _srat(self, a):
        self.srat = self._index(a, range(15))

    def _start(self):
        if self.storing:
            return                            # STRT is ignored while storage runs
        self.storing = True
        self.t_start = self.world.t
        self.stored_since_start = 0

    def _pause(self):
        self._fill()
        self.storing = False

    def _store_point(self):
        d = self.values()
        for ch in (1, 2):
            self.buffer[ch].append(d[f"CH{ch}"])
        if len(self.buffer[1]) > BUFFER_POINTS:
            if self.settings["SEND"] == 0:        # single shot: full, storage ends
                for ch in (1, 2):
                    self.buffer[ch].pop()
                self.storing = False
                return False
            for ch in (1, 2):                   # loop: the oldest point makes way
                self.buffer[ch].pop(0)
        return True

    def _fill(self):
        """Store the points the sample rate has produced since the last look (simulated time).
        Returns None, so ``self._fill() or n`` reads the count after filling."""
        if not self.storing or self.srat == 14 or self.t_start is None:
            return None
        due = int((self.world.t - self.t_start) * SAMPLE_RATES[self.srat])
        n = min(due - self.stored_since_start, BUFFER_POINTS + 1)
        self.stored_since_start = due
        for _ in range(max(0, n)):
            if not self._store_point():
                break
        return None

    def _trigger(self):
        if not self.storing and self.settings["TSTR"] == 1 and self.t_start is None:
            self._start()                       # trigger starts the scan (TSTR 1)
            return
        if self.storing and self.srat == 14:
            self._store_point()                 # one point per trigger

    def _trace_range(self, a):
        ch, j, k = (int(x) for x in self._args(a, 3))
        if ch not in (1, 2):
            raise CommandError(-222, f"buffer {ch} not 1 or 2")
        self._fill()
        n = len(self.buffer[ch])
        if j < 0 or k < 1 or j + k > n:
            raise CommandError(-222, f"points {j}..{j + k - 1} beyond the {n} stored")
        return self.buffer[ch][j:j + k]

    def _trca(self, a):
        # manual's TRCA? example: "-1.234567e-009,+7.654321e-009," (sign, 7 digits, 3-digit exponent)
        return ",".join(_three_digit_exponent(f"{v:+.6e}") for v in self._trace_range(a)) + ","

    def _trace_binary(self, a, form):
        data = self._trace_range(a)
        if form == "ieee":                      # TRCB?: 4-byte IEEE floats, little endian
            raw = struct.pack(f"<{len(data)}f", *data)
        else:                                   # TRCL?: mantissa, exponent; m * 2^(e - 124)
            raw = b"".join(struct.pack("<hh", *_lia_float(v)) for v in data)
        return BinaryReply(raw.decode("latin-1"))


def _three_digit_exponent(text: str) -> str:
    """'-4.17234e-07' -> '-4.17234e-007': the SR830's exponent has three digits."""
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    return f"{mantissa}e{exponent[0]}{int(exponent[1:]):03d}"


def _lia_float(v: float) -> tuple[int, int]:
    """The SR830's non-normalized float (TRCL?): a 16-bit mantissa m and an exponent e with
    value = m * 2^(e - 124)."""
    if v == 0 or not math.isfinite(v):
        return 0, 124
    m, e = math.frexp(v)                 # v = m * 2**e, 0.5 <= |m| < 1
    mant = int(round(m * 2 ** 15))
    if mant == 2 ** 15:
        mant //= 2
        e += 1
    return max(-32768, min(32767, mant)), e - 15 + 124

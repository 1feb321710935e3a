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
"""
from __future__ import annotations

import math

from .base import STB_MSS, CommandError, SimInstrument
from .lockin_core import LockinCore

SENSITIVITIES = [2e-9, 5e-9, 10e-9, 20e-9, 50e-9, 100e-9, 200e-9, 500e-9, 1e-6, 2e-6, 5e-6, 10e-6, 20e-6,
                 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 200e-3,
                 500e-3, 1]
TIME_CONSTANTS = [10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3, 1, 3, 10, 30,
                  100, 300, 1e3, 3e3, 10e3, 30e3]
SLOPES = [6, 12, 18, 24]


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
    snap_map = {1: "X", 2: "Y", 3: "R", 4: "THETA", 9: "FREQ"}
    outp_map = {1: "X", 2: "Y", 3: "R", 4: "THETA"}
    error_queue_size = 0     # no SYST:ERR?: errors only set *ESR? bits
    stb_eav_bit = 0          # bit 2 is ERR (ERRS? & ERRE), never set here
    esr_opc_bit = 0          # the SR830's *ESR? bit 0 is INP (input queue overflow), not OPC

    def setup(self):
        self.core = LockinCore(self.world, self.rng, float(self.params.get("input_noise_V_per_rtHz", 1e-8)))
        self.sens = self.sensitivities.index(1)     # *RST value: 1 V full scale
        self.core.time_constant = 0.1
        self.tc_index = self.time_constants.index(0.1)
        self.slope_index = 0
        self.lias = 0
        self.liae = 0
        self.erre = 0
        self.settings = {"SYNC": 0, "ISRC": 0, "IGND": 0, "ICPL": 0, "ILIN": 0, "FMOD": 1, "RSLP": 0,
                         "RMOD": 1, "SRAT": 4, "TSTR": 0}
        self.aux_out = [0.0] * 4
        self.display = {1: 0, 2: 0}
        self.expand = {1: (0.0, 0), 2: (0.0, 0), 3: (0.0, 0)}
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
        r("HARM", lambda a: setattr(self.core, "harmonic", max(1, int(self.one_float(a)))))
        r("OUTP?", self._outp)
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
        r("AUXV?", lambda a: f"{self.aux_out[int(self.floats(a)[0]) - 1]:.3f}")
        r("AUXV", self._auxv)
        r("OAUX?", lambda a: f"{self.noise(1e-4):.4f}")
        r("DDEF?", lambda a: f"{self.display[int(self.floats(a)[0])]},0")
        r("DDEF", self._ddef)
        r("OEXP?", lambda a: "{:.2f},{}".format(*self.expand[int(self.floats(a)[0])]))
        r("OEXP", self._oexp)
        r("AGAN", lambda a: self._auto_gain())
        r("ARSV", lambda a: None)
        r("APHS", lambda a: self._auto_phase())
        r("AOFF", lambda a: None)
        for k in self.settings:
            r(k + "?", lambda a, k=k: str(self.settings[k]))
            r(k, lambda a, k=k: self.settings.__setitem__(k, int(self.one_float(a))))
        r("SPTS?", lambda a: "0")
        r("REST", lambda a: None)
        r("STRT", lambda a: None)
        r("PAUS", lambda a: None)
        r("TRIG", lambda a: None)
        r("FAST", lambda a: None)
        r("STRD", lambda a: None)
        r("OUTX", lambda a: None)
        r("OUTX?", lambda a: "1")
        r("SSET", lambda a: None)
        r("RSET", lambda a: None)
        r("LOCL", lambda a: None)

    def reset(self):
        c = self.core
        c.frequency, c.amplitude, c.phase_deg, c.harmonic = 1000.0, 0.1, 0.0, 1
        self.sens = self.sensitivities.index(1)
        self.lias = 0

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
        i = int(self.one_float(a))
        if not 0 <= i < len(table):
            raise CommandError(-222, f"index {i} outside 0..{len(table) - 1}")
        return i

    def _freq(self, a):
        v = self.one_float(a)
        lo, hi = self.freq_range
        if not lo <= v <= hi:
            raise CommandError(-222, f"frequency {v} Hz outside {lo}..{hi}")
        self.core.update()
        self.core.frequency = v

    def _slvl(self, a):
        v = self.one_float(a)
        lo, hi = self.amp_range
        if not lo <= v <= hi:
            raise CommandError(-222, f"amplitude {v} V outside {lo}..{hi}")
        self.core.update()
        self.core.amplitude = v

    def _phas(self, a):
        v = self.one_float(a)
        self.core.phase_deg = (v + 180.0) % 360.0 - 180.0

    def _oflt(self, a):
        self.core.update()
        self.tc_index = self._index(a, self.time_constants)
        self.core.time_constant = self.time_constants[self.tc_index]

    def _ofsl(self, a):
        self.slope_index = self._index(a, SLOPES)
        self.core.slope_db = SLOPES[self.slope_index]

    def _auxv(self, a):
        v = self.floats(a)
        self.aux_out[int(v[0]) - 1] = v[1]

    def _ddef(self, a):
        v = self.floats(a)
        self.display[int(v[0])] = int(v[1])

    def _oexp(self, a):
        v = self.floats(a)
        self.expand[int(v[0])] = (v[1], int(v[2]))

    def full_scale(self):
        return self.sensitivities[self.sens]

    def values(self):
        """X, Y, R, theta ... with overload clipping and status."""
        d = self.core.snapshot_values()
        fs = self.full_scale()
        over = False
        for k in ("X", "Y", "R"):
            if abs(d[k]) > fs:
                over = True
                d[k] = math.copysign(1.09 * fs, d[k])
        if over:
            self.lias |= 4
        return d

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
        return f"{self.values()[self.outp_map[i]]:.6e}"

    def _snap(self, a):
        idx = [int(x) for x in self.floats(a)]
        if not 2 <= len(idx) <= 6 or any(i not in self.snap_map for i in idx):
            raise CommandError(-222, f"SNAP? {a}")
        d = self.values()
        return ",".join(f"{d[self.snap_map[i]]:.6e}" for i in idx)

    def _lias(self, a):
        self.values()
        v = self.lias
        if a.strip():
            bit = int(self.one_float(a))
            out = (v >> bit) & 1
            self.lias &= ~(1 << bit)
            return str(out)
        self.lias = 0
        return str(v)

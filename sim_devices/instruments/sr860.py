"""Stanford Research Systems SR860 lock-in (same cantilever physics as the SR830; its own
tables: SCAL 0 = 1 V ... 27 = 1 nV, OFLT 0 = 1 us ... 21 = 30 ks, aux channels 0..3).

SNAP? takes 2 or 3 of the parameters 0-16 of the SR860's list (X, Y, R, theta, Aux In 1-4,
X noise, Y noise, Aux Out 1-2, reference phase, sine amplitude, DC level, internal and
external reference frequency), as numbers or names; OUTP? and CDSP (the four data channels
SNAPD? reads) take the same list.

The capture buffer (CAPTURELEN, CAPTURECFG, CAPTURERATE, CAPTURESTART, CAPTURESTOP,
CAPTURESTAT?, CAPTUREBYTES?, CAPTUREPROG?, CAPTUREGET?) stores 4-byte floats of X / X,Y /
R,theta / X,Y,R,theta at the capture rate in simulated time. CAPTUREGET? answers an IEEE 488.2
definite-length block with no terminator.
"""
from __future__ import annotations

import math
import struct

from .base import BinaryReply, CommandError
from .sr830 import SR830

SENS_860 = [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05,
            1e-05, 5e-06, 2e-06, 1e-06, 5e-07, 2e-07, 1e-07, 5e-08, 2e-08, 1e-08, 5e-09, 2e-09, 1e-09]
TC_860 = [1e-6, 3e-6, 10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3, 1, 3, 10, 30,
          100, 300, 1e3, 3e3, 10e3, 30e3]
#: the SR860's parameter list (SNAP?, OUTP?, CDSP), number -> our key
PARAMS_860 = {0: "X", 1: "Y", 2: "R", 3: "THETA", 4: "AUX1", 5: "AUX2", 6: "AUX3", 7: "AUX4",
              8: "XN", 9: "YN", 10: "AOUT1", 11: "AOUT2", 12: "PHAS", 13: "SAMP", 14: "SOFF",
              15: "FREQ", 16: "FEXT"}
#: the names the manual gives those parameters (short and long forms)
NAMES_860 = {"X": 0, "Y": 1, "R": 2, "TH": 3, "THETA": 3, "IN1": 4, "IN2": 5, "IN3": 6, "IN4": 7,
             "XNO": 8, "XNOISE": 8, "YNO": 9, "YNOISE": 9, "OUT1": 10, "OUT2": 11, "PHA": 12,
             "PHASE": 12, "SAM": 13, "SAMP": 13, "LEV": 14, "LEVEL": 14, "FI": 15, "FINT": 15,
             "FE": 16, "FEXT": 16}
#: capture configurations: the quantities each stores per sample
CAPTURE_CFG = {0: ("X",), 1: ("X", "Y"), 2: ("R", "THETA"), 3: ("X", "Y", "R", "THETA")}
CAPTURE_CFG_NAMES = {"X": 0, "XY": 1, "RT": 2, "XYRT": 3}
#: the fastest capture rate (Hz) of the SR860's 1.25 MHz output stream
CAPTURE_RATE_TOP = 1.25e6


class SR860(SR830):
    name = "lockin_sr860"
    model = "SRS SR860"
    idn = "Stanford_Research_Systems,SR860,003285,v1.51"
    reply_termination = "\n"
    serial_port = None   # the SR860's RS-232 is not modelled (its manual was not read for it)
    sensitivities = SENS_860
    time_constants = TC_860
    freq_range = (0.001, 500000.0)
    amp_range = (1e-9, 2.0)
    harmonic_max = 99
    snap_map = PARAMS_860
    snap_count = (2, 3)
    outp_map = PARAMS_860
    aux_channels = (0, 1, 2, 3)
    index_settings = {"SYNC": 1, "ISRC": 1, "IGND": 1, "ICPL": 1, "RSRC": 3, "IVMD": 1, "IRNG": 4,
                      "ICUR": 1, "ADVFILT": 1, "REFM": 1, "RTRG": 2, "HARMDUAL": 99, "TBMODE": 1,
                      "REFZ": 1, "OUTX": 1, "OVRM": 1, "DBLK": 1}
    reset_settings = {"SYNC": 0, "ISRC": 0, "IGND": 0, "ICPL": 0, "RSRC": 0, "IVMD": 0, "IRNG": 0,
                      "ICUR": 0, "ADVFILT": 0, "REFM": 0, "RTRG": 0, "HARMDUAL": 1, "TBMODE": 0,
                      "REFZ": 0}

    def setup(self):
        super().setup()
        self.settings["HARMDUAL"] = 1
        # DBLK 0 / 1, the screen blanking: once taken and forgotten (DBLK? always 0), now kept
        # so DBLK? answers what was set; *RST leaves it (its reset value could not be found)
        self.settings["DBLK"] = 0
        self.dc_level = 0.0
        self.data_channels = [0, 1, 2, 3]           # CDSP: X, Y, R, theta
        self.channel_offsets = {0: 0.0, 1: 0.0, 2: 0.0}
        self.channel_expand = {0: 0, 1: 0, 2: 0}
        self._reset_capture()
        self._reset_presets()
        r = self.register
        r("SCAL?", lambda a: str(self.sens))
        r("SCAL", lambda a: setattr(self, "sens", self._index(a, self.sensitivities)))
        r("FREQINT?", lambda a: f"{self.core.frequency:.6g}")
        r("FREQINT", self._freq)
        r("FREQDET?", lambda a: f"{self.core.frequency:.6g}")
        r("FREQEXT?", lambda a: "0")                 # nothing drives the reference input
        r("SOFF?", lambda a: f"{self.dc_level:.3f}")
        r("SOFF", self._soff)
        r("SNAPD?", lambda a: self._snap_values(self.data_channels))
        r("CDSP?", lambda a: str(self.data_channels[self._data_channel(a)]))
        r("CDSP", self._cdsp)
        r("COFP?", lambda a: f"{self.channel_offsets[self._output_channel(a)]:.2f}")
        r("COFP", self._cofp)
        r("CEXP?", lambda a: str(self.channel_expand[self._output_channel(a)]))
        r("CEXP", self._cexp)
        r("ENBW?", lambda a: f"{self.core.enbw():.6g}")
        r("CUROVLDSTAT?", lambda a: "16" if self._overloaded() else "0")
        r("ILVL?", lambda a: "1")
        r("ARNG", lambda a: None)                     # input range: already the smallest that fits
        r("ASCL", lambda a: self._auto_gain())
        r("TBSTAT?", lambda a: "0")
        r("DLAY", lambda a: None)
        r("DLAY?", lambda a: "0")
        r("CAPTURELEN", self._capture_len)
        r("CAPTURELEN?", lambda a: str(self.capture_len_kb))
        r("CAPTURECFG", self._capture_cfg)
        r("CAPTURECFG?", lambda a: str(self.capture_cfg))
        r("CAPTURERATEMAX?", lambda a: f"{self._capture_rate_max():g}")
        r("CAPTURERATE", self._capture_rate)
        r("CAPTURERATE?", lambda a: f"{self._capture_rate_max() / 2 ** self.capture_rate_n:g}")
        r("CAPTURESTART", self._capture_start)
        r("CAPTURESTOP", lambda a: self._capture_stop())
        r("CAPTURESTAT?", lambda a: str(self._capture_status()))
        r("CAPTUREBYTES?", lambda a: str(self._capture_fill() or self._captured_bytes()))
        r("CAPTUREPROG?", self._capture_prog)
        r("CAPTUREGET?", self._capture_get)
        r("TRIG", lambda a: self._capture_trigger())
        # front-panel presets (4 each) of frequency, sine amplitude and DC level
        for cmd, table, (lo, hi) in (("PSTF", self.preset_freq, self.freq_range),
                                     ("PSTA", self.preset_amp, self.amp_range),
                                     ("PSTL", self.preset_level, (-5.0, 5.0))):
            r(cmd + "?", lambda a, t=table: f"{t[self._preset(a)]:.6g}")
            r(cmd, lambda a, t=table, lo=lo, hi=hi: self._set_preset(t, a, lo, hi))
        # the screen: strip chart traces on/off (CGRF) and the horizontal scale (GSPD 0..16)
        r("CGRF?", lambda a: str(self.graph[self._data_channel(a)]))
        r("CGRF", self._cgrf)
        r("GSPD?", lambda a: str(self.graph_speed))
        r("GSPD", lambda a: setattr(self, "graph_speed", self._index(a, range(17))))

    def reset(self):
        super().reset()
        self.dc_level = 0.0
        self.data_channels = [0, 1, 2, 3]
        self.channel_offsets = {0: 0.0, 1: 0.0, 2: 0.0}
        self.channel_expand = {0: 0, 1: 0, 2: 0}
        self._reset_capture()

    def _reset_presets(self):
        # the SR860's power-on presets: 1, 10, 100, 1000 Hz; 1 mV .. 1 V; 0 V DC
        self.preset_freq = {0: 1.0, 1: 10.0, 2: 100.0, 3: 1000.0}
        self.preset_amp = {0: 1e-3, 1: 1e-2, 2: 0.1, 3: 1.0}
        self.preset_level = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}
        self.graph = {0: 1, 1: 1, 2: 0, 3: 0}
        self.graph_speed = 0

    def _preset(self, a):
        return self._index(a.split(",")[0], range(4))

    def _set_preset(self, table, a, lo, hi):
        i, v = self._args(a, 2)
        i = self._preset(str(int(i)))
        if not lo <= v <= hi:
            raise CommandError(-222, f"preset {v} outside {lo}..{hi}")
        table[i] = v

    def _cgrf(self, a):
        ch, on = self._args(a, 2)
        self.graph[self._data_channel(str(int(ch)))] = self._index(str(on), range(2))

    def _overloaded(self):
        d = self.core.snapshot_values()
        return abs(d["R"]) > self.full_scale()

    def _phas(self, a):
        v = self.one_float(a)
        if not -360000.0 <= v <= 360000.0:
            raise CommandError(-222, f"phase {v} deg outside -360000..360000")
        self.core.phase_deg = (v + 180.0) % 360.0 - 180.0

    def _soff(self, a):
        v = self.one_float(a)
        if not -5.0 <= v <= 5.0:
            raise CommandError(-222, f"DC level {v} V outside -5..5")
        self.dc_level = v

    def values(self):
        d = super().values()
        d.update(XN=self.noise_V(), YN=self.noise_V(), AOUT1=self.aux_out[0], AOUT2=self.aux_out[1],
                 PHAS=self.core.phase_deg, SAMP=self.core.amplitude, SOFF=self.dc_level, FEXT=0.0)
        return d

    # -------------------------------------------------------------- parameter lists
    def _param_number(self, t: str) -> int:
        t = t.strip().upper()
        if t.lstrip("-").isdigit():
            i = int(t)
        elif t in NAMES_860:
            i = NAMES_860[t]
        else:
            raise CommandError(-104, f"parameter {t!r}")
        if i not in PARAMS_860:
            raise CommandError(-222, f"parameter {i} outside 0..16")
        return i

    def _snap_indices(self, a):
        return [self._param_number(t) for t in a.split(",") if t.strip()]

    @staticmethod
    def _number(v: float) -> str:
        # the SR860's own form (7 digits, 2-digit exponent) as before; the SR830's three-digit
        # exponent comes from its older firmware, and no SR860 reply was found to say otherwise
        return f"{v:.6e}"

    def _outp(self, a):
        return self._number(self.values()[PARAMS_860[self._param_number(a)]])

    def _snap_values(self, idx):
        d = self.values()
        return ",".join(self._number(d[PARAMS_860[i]]) for i in idx)

    def _data_channel(self, a):
        i = int(self.one_float(a))
        if i not in (0, 1, 2, 3):
            raise CommandError(-222, f"data channel {i} not 0..3")
        return i

    def _cdsp(self, a):
        ch, p = a.split(",", 1)
        self.data_channels[self._data_channel(ch)] = self._param_number(p)

    def _output_channel(self, a):
        t = a.strip().upper()
        i = {"XY": 0, "X": 0, "R": 1, "RTH": 2, "TH": 2}.get(t)
        if i is None:
            i = int(self.one_float(a))
        if i not in (0, 1, 2):
            raise CommandError(-222, f"output channel {i} not 0..2")
        return i

    def _cofp(self, a):
        ch, v = self._args(a, 2)
        if not -999.99 <= v <= 999.99:
            raise CommandError(-222, f"offset {v} % outside -999.99..999.99")
        self.channel_offsets[self._output_channel(str(int(ch)))] = v

    def _cexp(self, a):
        ch, v = self._args(a, 2)
        self.channel_expand[self._output_channel(str(int(ch)))] = self._index(str(v), range(3))

    # -------------------------------------------------------------- capture buffer
    def _reset_capture(self):
        self.capture_len_kb = 256
        self.capture_cfg = 1
        self.capture_rate_n = 0
        self.capture = bytearray()
        self.capture_running = False
        self.capture_waiting = False      # TRIG start: armed, waiting for the trigger
        self.capture_wrapped = False
        self.capture_mode = ("ONE", "IMM")
        self.capture_t0 = None
        self.capture_samples_due = 0

    def _capture_rate_max(self) -> float:
        """CAPTURERATEMAX?: 1.25 MHz halved until it is no faster than the time constant's
        filter needs (500 samples per 2 pi tau: the simulator's rule, the manual's table was not had)."""
        rate = CAPTURE_RATE_TOP
        need = 500.0 / (2 * math.pi * self.core.time_constant)
        while rate / 2 >= need and rate > CAPTURE_RATE_TOP / 2 ** 20:
            rate /= 2
        return rate

    def _capture_idle(self, what):
        if self.capture_running or self.capture_waiting:
            raise CommandError(-200, f"{what} while a capture runs")

    def _capture_len(self, a):
        self._capture_idle("CAPTURELEN")
        n = self._index(a, range(1, 4097))
        self.capture_len_kb = n + (n % 2)        # the buffer is kept in 2 kB blocks

    def _capture_cfg(self, a):
        self._capture_idle("CAPTURECFG")
        t = a.strip().upper().replace(",", "")
        self.capture_cfg = CAPTURE_CFG_NAMES[t] if t in CAPTURE_CFG_NAMES else self._index(a, range(4))

    def _capture_rate(self, a):
        self._capture_idle("CAPTURERATE")
        self.capture_rate_n = self._index(a, range(21))

    def _capture_start(self, a):
        parts = [p.strip().upper() for p in a.split(",")]
        if len(parts) != 2:
            raise CommandError(-109, "CAPTURESTART needs acquisition, trigger")
        acq = {"ONE": "ONE", "ONESHOT": "ONE", "0": "ONE", "CONT": "CONT", "CONTINUOUS": "CONT", "1": "CONT"}
        trg = {"IMM": "IMM", "IMMEDIATE": "IMM", "0": "IMM", "TRIG": "TRIG", "TRIGSTART": "TRIG", "1": "TRIG",
               "SAMP": "SAMP", "SAMPPERTRIG": "SAMP", "2": "SAMP"}
        if parts[0] not in acq or parts[1] not in trg:
            raise CommandError(-224, f"CAPTURESTART {a}")
        self.capture = bytearray()
        self.capture_wrapped = False
        self.capture_mode = (acq[parts[0]], trg[parts[1]])
        self.capture_samples_due = 0
        if self.capture_mode[1] == "IMM":
            self._capture_begin()
        else:
            self.capture_running, self.capture_waiting = False, True

    def _capture_begin(self):
        self.capture_running, self.capture_waiting = True, False
        self.capture_t0 = self.world.t
        self.capture_samples_due = 0

    def _capture_stop(self):
        self._capture_fill()
        self.capture_running = self.capture_waiting = False

    def _capture_trigger(self):
        mode = self.capture_mode[1]
        if self.capture_waiting and mode == "TRIG":
            self._capture_begin()
        elif (self.capture_waiting or self.capture_running) and mode == "SAMP":
            self.capture_waiting = False
            self.capture_running = True
            self._capture_sample()

    def _capture_sample(self) -> bool:
        d = self.values()
        names = CAPTURE_CFG[self.capture_cfg]
        self.capture += struct.pack(f"<{len(names)}f", *(d[k] for k in names))
        size = self.capture_len_kb * 1024
        if len(self.capture) >= size:
            if self.capture_mode[0] == "ONE":
                del self.capture[size:]
                self.capture_running = False
                return False
            del self.capture[:len(self.capture) - size]   # continuous: the newest data stay
            self.capture_wrapped = True
        return True

    def _capture_fill(self):
        """Store the samples due since the last look; returns None."""
        if not self.capture_running or self.capture_mode[1] == "SAMP" or self.capture_t0 is None:
            return None
        rate = self._capture_rate_max() / 2 ** self.capture_rate_n
        due = int((self.world.t - self.capture_t0) * rate)
        per_sample = 4 * len(CAPTURE_CFG[self.capture_cfg])
        n = min(due - self.capture_samples_due, self.capture_len_kb * 1024 // per_sample + 1)
        self.capture_samples_due = due
        for _ in range(max(0, n)):
            if not self._capture_sample():
                break
        return None

    def _captured_bytes(self) -> int:
        return len(self.capture)

    def _capture_status(self) -> int:
        """CAPTURESTAT?: bit 0 capture running, bit 1 waiting for a trigger, bit 2 one-shot
        capture complete, bit 3 the continuous buffer has wrapped."""
        self._capture_fill()
        stat = 0
        if self.capture_running:
            stat |= 1
        if self.capture_waiting:
            stat |= 2
        if (not self.capture_running and self.capture_mode[0] == "ONE"
                and len(self.capture) >= self.capture_len_kb * 1024):
            stat |= 4
        if self.capture_wrapped:
            stat |= 8
        return stat

    def _capture_prog(self, a):
        self._capture_fill()
        self._capture_idle("CAPTUREPROG?")
        if self.capture_wrapped:
            return str(self.capture_len_kb)
        return str(2 * math.ceil(len(self.capture) / 2048))

    def _capture_get(self, a):
        off_kb, size_kb = (int(x) for x in self._args(a, 2))
        self._capture_fill()
        held_kb = 2 * math.ceil(len(self.capture) / 2048)
        if size_kb < 1 or size_kb > 64 or off_kb < 0 or off_kb >= max(held_kb, 1) or size_kb > held_kb:
            raise CommandError(-222, f"CAPTUREGET? {a}: {held_kb} kB held, at most 64 kB a read")
        data = bytes(self.capture)
        start = off_kb * 1024
        chunk = data[start:start + size_kb * 1024]
        if len(chunk) < size_kb * 1024 and start + size_kb * 1024 > len(data):
            # the block wraps to the start of the buffer, and is padded with zeros past the data
            chunk += data[:size_kb * 1024 - len(chunk)]
            chunk = chunk[:size_kb * 1024]
        count = str(len(chunk))
        return BinaryReply(f"#{len(count)}{count}" + chunk.decode("latin-1"))


class SR865A(SR860):
    """The SR865A: the SR86x command set of the SR860, with a reference up to 4 MHz (the SR860:
    500 kHz). Sources: the SR865A operation manual (rev. 2.07, "SR865A 4 MHz DSP Lock-in
    Amplifier", a public copy whose title pages were read, not its command pages); the SR865
    manual's FREQINT text (rev. 1.26: f rounded to 6 digits, limited to 1 mHz up to the model's
    top frequency; HARM: i x f within it), the same chapter 4 for the family; QCoDeS's SR865A
    (SR86x with max_frequency=4e6). So FREQ / FREQINT take 1 mHz <= f <= 4 MHz and HARM i needs
    i x f <= 4 MHz. Its *IDN? names the model: "Stanford_Research_Systems,SR865A,002725,v1.34"
    (SRS's thinkSRS/srsinst.sr860 README, a real unit). Everything else (sensitivities, time
    constants, parameter lists, capture buffer) is the SR860's; the SR865A's own top capture
    rate was not found in the pages read, so the SR860's is kept."""

    model = "SRS SR865A"
    idn = "Stanford_Research_Systems,SR865A,002725,v1.34"
    freq_range = (0.001, 4.0e6)

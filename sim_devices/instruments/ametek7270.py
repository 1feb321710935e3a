"""Signal Recovery (Ametek) 7270 DSP lock-in reading the cantilever (the same LockinCore as the
SR830 and SR860 twins: the reference drives the cantilever piezo at OF. with OA.).

Command set from the 7270 instruction manual, chapter 6 "Computer operation" (sections 6.3-6.7;
pages 6-4/6-5 for the status byte, prompt and delimiter, 6-16 for TC / SLOPE, 6-34/6-35 for
RS, DD, ST, N, ID): commands are a name, optionally followed by parameters separated by
spaces; a name with a trailing "." is the floating-point form (X. in volts, OF. in hertz)
and without it the fixed-point form (X in per-ten-thousand of full scale, OF in mHz). A
command sent without its optional parameter reports the present value. Two-value responses
(XY., MP.) are separated by the delimiter, a comma unless DD sets another (13 or 32..125).

Controls: IMODE 0..2, VMODE 0..3, FLOAT 0/1, FET 0/1, CP 0/1, LF n1 n2, AUTOMATIC 0/1,
ACGAIN 0..9, SEN 1..27 (2 nV .. 1 V at IMODE 0; SEN. reads volts), TC 0..30 (10 us .. 100 ks in
1-2-5 steps; TC. reads seconds), SLOPE 0..3 (6..24 dB/oct), IE 0..2 (internal, external rear
TTL, external front), REFN 1..127, REFP./REFP (degrees / millidegrees), OF./OF (0..250 kHz),
OA./OA (0..5 V / uV), DAC. n, ADC. n, REFMODE 0..2, REMOTE, LTS. Outputs: X., Y., XY., MAG.,
PHA., MP., FRQ., their fixed-point forms, ENBW., NHZ.. Status: ST (bit 0 command complete,
1 invalid command, 2 parameter error, 3 reference unlock, 4 output overload, 6 input
overload, 7 data available), N (overload byte: bit 0 X, bit 1 Y beyond 300 % FS).
Identification: ID answers "7270", VER the firmware version. The 7270 has no IEEE 488.2
common commands (*IDN?, *ESR? ...): they are invalid commands here (ST bit 1).

Interfaces (manual 6.3-6.5): RS-232, USB and Ethernet. On USB and Ethernet every command's
response, even an empty one, ends with a NUL (USBTERM 0; what pymeasure's Ametek7270 reads
after each set): the lab's LAN socket does this, and takes a command ended by NUL, CR or LF.
On RS-232 a response ends with CR LF and a command that answers nothing sends nothing; the
prompt character the RS-232 port can send after each command (* or ?) is not modelled (taken
as switched off in the RS-232 settings menu, which a program reading lines needs anyway).
"""
from __future__ import annotations

import math

from .base import CommandError, LanAcknowledge, SimInstrument
from .lockin_core import LockinCore

#: SEN n -> full scale (V) at IMODE 0; index 0 is not a setting (manual SEN table)
SENSITIVITIES_7270 = [math.nan] + [m * 10.0 ** e for e in range(-9, 0) for m in (2, 5, 10)] + [1.0]
SENSITIVITIES_7270 = SENSITIVITIES_7270[:28]
#: TC n -> time constant (s): 10 us .. 100 ks, 1-2-5 (manual TC table, NOISEMODE 0)
TIME_CONSTANTS_7270 = [m * 10.0 ** e for e in range(-5, 5) for m in (1, 2, 5)] + [1e5]
SLOPES_7270 = [6, 12, 18, 24]
REFERENCE_SOURCES = {0: "INT", 1: "EXT LOGIC", 2: "EXT"}
FREQ_RANGE_7270 = (0.0, 250000.0)
AMP_RANGE_7270 = (0.0, 5.0)

ST_COMPLETE, ST_INVALID, ST_PARAMETER, ST_UNLOCK, ST_OVERLOAD, ST_INPUT_OVL, ST_DATA = 1, 2, 4, 8, 16, 64, 128


def float_reply(v: float) -> str:
    """A floating-point response as the 7270 prints it: mantissa, E, signed 2-digit exponent
    ("1.2E+04", "-2.14E-07", "0.0E+00": pymeasure's tests/instruments/ametek/test_ametek7270.py
    and tests/instruments/signalrecovery/test_dspbase.py transcripts)."""
    if not math.isfinite(v):
        return "0.0E+00"
    mant, _, exp = f"{v:.3E}".partition("E")
    mant = mant.rstrip("0")
    if mant.endswith("."):
        mant += "0"
    if float(mant) == 0:
        mant, exp = "0.0", "+00"
    return f"{mant}E{exp}"


class Ametek7270(SimInstrument):
    name = "lockin"
    model = "Ametek 7270"
    idn = "7270"
    identity_query = "ID"
    firmware = "2.12"
    scpi = False
    reply_termination = "\x00"
    lan_line_ends = "\r\n\x00"
    serial_port = {"baud_rate": 9600, "data_bits": 7, "parity": "even", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r\n", "line_ends": "\r\n"}
    error_queue_size = 0
    sensitivities = SENSITIVITIES_7270
    time_constants = TIME_CONSTANTS_7270

    def setup(self):
        self.core = LockinCore(self.world, self.rng, float(self.params.get("input_noise_V_per_rtHz", 1e-8)))
        # the IEEE 488.2 commands the base class offers are not the 7270's
        for key in [k for k in self.commands if k.startswith("*")]:
            del self.commands[key]
        self.status = 0
        self.overload = 0
        self.delimiter = ","
        self.settings = {"IMODE": 0, "VMODE": 1, "FLOAT": 0, "FET": 1, "CP": 0, "AUTOMATIC": 0,
                         "ACGAIN": 0, "IE": 0, "REFMODE": 0, "REMOTE": 0, "LTS": 1}
        self.sen = 27
        self.tc = TIME_CONSTANTS_7270.index(0.1)
        self.core.time_constant = 0.1
        self.slope = 1
        self.core.slope_db = 12
        self.dac = {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
        r = self.register
        tops = {"IMODE": 2, "VMODE": 3, "FLOAT": 1, "FET": 1, "CP": 1, "AUTOMATIC": 1, "ACGAIN": 9,
                "IE": 2, "REFMODE": 2, "REMOTE": 1, "LTS": 1}
        for k, top in tops.items():
            r(k, lambda a, k=k, top=top: self._setting(k, a, top))
        r("ID", lambda a: self.idn)
        r("VER", lambda a: self.firmware)
        r("ST", lambda a: str(self.status_byte()))
        r("N", lambda a: str(self._overload_byte()))
        r("DD", self._dd)
        r("SEN", self._sen)
        r("SEN.", lambda a: self._read_only(a, float_reply(self.full_scale())))
        r("TC", self._tc)
        r("TC.", lambda a: self._read_only(a, float_reply(self.core.time_constant)))
        r("SLOPE", self._slope)
        r("REFN", self._refn)
        r("REFP.", lambda a: self._phase(a, 1.0))
        r("REFP", lambda a: self._phase(a, 1000.0))
        r("OF.", lambda a: self._freq(a, 1.0))
        r("OF", lambda a: self._freq(a, 1000.0))
        r("OA.", lambda a: self._amp(a, 1.0))
        r("OA", lambda a: self._amp(a, 1e6))
        r("FRQ.", lambda a: self._read_only(a, float_reply(self._detected_frequency())))
        r("FRQ", lambda a: self._read_only(a, str(int(round(self._detected_frequency() * 1000)))))
        r("LF", self._lf)
        r("DAC.", self._dac)
        r("ADC.", lambda a: float_reply(self._adc(a)))
        r("X.", lambda a: self._read_only(a, float_reply(self._xy()[0])))
        r("Y.", lambda a: self._read_only(a, float_reply(self._xy()[1])))
        r("XY.", lambda a: self._read_only(a, self.delimiter.join(float_reply(v) for v in self._xy())))
        r("MAG.", lambda a: self._read_only(a, float_reply(math.hypot(*self._xy()))))
        r("PHA.", lambda a: self._read_only(a, float_reply(math.degrees(math.atan2(*self._xy()[::-1])))))
        r("MP.", lambda a: self._read_only(a, self._mp()))
        r("X", lambda a: self._read_only(a, str(self._fixed(self._xy()[0]))))
        r("Y", lambda a: self._read_only(a, str(self._fixed(self._xy()[1]))))
        r("XY", lambda a: self._read_only(a, self.delimiter.join(str(self._fixed(v)) for v in self._xy())))
        r("MAG", lambda a: self._read_only(a, str(self._fixed(math.hypot(*self._xy())))))
        r("PHA", lambda a: self._read_only(a, str(int(round(100 * math.degrees(math.atan2(*self._xy()[::-1])))))))
        r("ENBW.", lambda a: self._read_only(a, float_reply(self.core.enbw())))
        r("NHZ.", lambda a: self._read_only(a, float_reply(self.core.noise_density)))

    # ---------------------------------------------------------------- dispatch
    def parse(self, cmd):
        # NAME or NAME. then space-separated parameters (manual 6.6, "Command format")
        parts = cmd.strip().split(None, 1)
        return parts[0].upper(), (parts[1].strip() if len(parts) > 1 else "")

    def handle_line(self, line, refuse=None):
        # bits 1 and 2 describe the last command; ST (and N) read them without clearing
        if line.strip().upper() not in ("ST", "N"):
            self.status &= ~(ST_INVALID | ST_PARAMETER)
        reply = super().handle_line(line, refuse)
        return LanAcknowledge("") if reply is None else reply

    def refuse(self, exc: CommandError) -> None:
        """An unknown command sets ST bit 1 (invalid command), a bad or out-of-range
        parameter bit 2 (command parameter error) (manual 6.3, table 6-1)."""
        self.status |= ST_INVALID if exc.code == -113 else ST_PARAMETER

    def status_byte(self) -> int:
        st = self.status | ST_COMPLETE
        if self._overload_byte():
            st |= ST_OVERLOAD
        return st

    # ---------------------------------------------------------------- helpers
    def _ints(self, a):
        out = []
        for t in a.split():
            v = float(t)
            if v != int(v):
                raise CommandError(-222, f"{t!r} is not an integer")
            out.append(int(v))
        return out

    def _read_only(self, a, value):
        if a.strip():
            raise CommandError(-222, f"this output takes no parameter: {a!r}")
        return value

    def _setting(self, key, a, top):
        if not a.strip():
            return str(self.settings[key])
        (v,) = self._ints(a)
        if not 0 <= v <= top:
            raise CommandError(-222, f"{key} {v} outside 0..{top}")
        self.settings[key] = v
        return None

    def _dd(self, a):
        if not a.strip():
            return str(ord(self.delimiter))
        (v,) = self._ints(a)
        if not (v == 13 or 32 <= v <= 125):
            raise CommandError(-222, f"DD {v}: 13 or 32..125")
        self.delimiter = chr(v)
        return None

    def full_scale(self) -> float:
        return self.sensitivities[self.sen] * (1e-6 if self.settings["IMODE"] else 1.0)

    def _sen(self, a):
        if not a.strip():
            return str(self.sen)
        (v,) = self._ints(a)
        if not 1 <= v <= 27:
            raise CommandError(-222, f"SEN {v} outside 1..27")
        self.sen = v
        return None

    def _tc(self, a):
        if not a.strip():
            return str(self.tc)
        (v,) = self._ints(a)
        if not 0 <= v < len(TIME_CONSTANTS_7270):
            raise CommandError(-222, f"TC {v} outside 0..{len(TIME_CONSTANTS_7270) - 1}")
        self.core.update()
        self.tc = v
        self.core.time_constant = TIME_CONSTANTS_7270[v]
        return None

    def _slope(self, a):
        if not a.strip():
            return str(self.slope)
        (v,) = self._ints(a)
        if not 0 <= v <= 3:
            raise CommandError(-222, f"SLOPE {v} outside 0..3")
        self.slope = v
        self.core.slope_db = SLOPES_7270[v]
        return None

    def _refn(self, a):
        if not a.strip():
            return str(self.core.harmonic)
        (v,) = self._ints(a)
        if not 1 <= v <= 127 or v * self.core.frequency > FREQ_RANGE_7270[1]:
            raise CommandError(-222, f"REFN {v}")
        self.core.update()
        self.core.harmonic = v
        return None

    def _phase(self, a, per_degree):
        if not a.strip():
            value = self.core.phase_deg * per_degree
            return float_reply(value) if per_degree == 1.0 else str(int(round(value)))
        v = self.one_float(a) / per_degree
        if not -360.0 <= v <= 360.0:
            raise CommandError(-222, f"REFP {v} deg outside -360..360")
        self.core.phase_deg = (v + 180.0) % 360.0 - 180.0
        return None

    def _freq(self, a, per_hz):
        if not a.strip():
            value = self.core.frequency * per_hz
            return float_reply(value) if per_hz == 1.0 else str(int(round(value)))
        v = self.one_float(a) / per_hz
        lo, hi = FREQ_RANGE_7270
        if not lo <= v <= hi or v * self.core.harmonic > hi:
            raise CommandError(-222, f"OF {v} Hz outside {lo:g}..{hi:g}")
        self.core.update()
        self.core.frequency = v
        return None

    def _amp(self, a, per_volt):
        if not a.strip():
            value = self.core.amplitude * per_volt
            return float_reply(value) if per_volt == 1.0 else str(int(round(value)))
        v = self.one_float(a) / per_volt
        lo, hi = AMP_RANGE_7270
        if not lo <= v <= hi:
            raise CommandError(-222, f"OA {v} V outside {lo:g}..{hi:g}")
        self.core.update()
        self.core.amplitude = v
        return None

    def _lf(self, a):
        if not a.strip():
            return self.delimiter.join(str(x) for x in self.settings.get("LF", (0, 0)))
        v = self._ints(a)
        if len(v) != 2 or not 0 <= v[0] <= 3 or not 0 <= v[1] <= 1:
            raise CommandError(-222, f"LF {a}")
        self.settings["LF"] = tuple(v)
        return None

    def _dac(self, a):
        parts = a.split()
        if not parts:
            raise CommandError(-109, "DAC. needs the output number")
        n = self._ints(parts[0])[0]
        if n not in self.dac:
            raise CommandError(-222, f"DAC {n}")
        if len(parts) == 1:
            return float_reply(self.dac[n])
        v = float(parts[1])
        if not -10.0 <= v <= 10.0:
            raise CommandError(-222, f"DAC. {n} {v} V outside -10..10")
        self.dac[n] = v
        return None

    def _adc(self, a):
        (n,) = self._ints(a)
        if n not in (1, 2, 3, 4):
            raise CommandError(-222, f"ADC {n}")
        return self.noise(1e-4)          # nothing is wired to the ADC inputs

    def _detected_frequency(self) -> float:
        # FRQ.: the internal oscillator in INT mode; nothing drives the reference input, so
        # an external reference reads 0 (unlocked)
        return self.core.frequency if self.settings["IE"] == 0 else 0.0

    def _xy(self):
        x, y = self.core.xy()
        fs = self.full_scale()
        self.overload = (1 if abs(x) > 3 * fs else 0) | (2 if abs(y) > 3 * fs else 0)
        # outputs saturate at 300 % of full scale (manual: X, Y fixed point +-30000)
        return tuple(math.copysign(min(abs(v), 3 * fs), v) for v in (x, y))

    def _overload_byte(self) -> int:
        return self.overload

    def _fixed(self, v: float) -> int:
        return int(round(10000 * v / self.full_scale()))

    def _mp(self):
        x, y = self._xy()
        return self.delimiter.join((float_reply(math.hypot(x, y)), float_reply(math.degrees(math.atan2(y, x)))))

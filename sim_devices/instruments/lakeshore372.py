"""Lake Shore Model 372 AC resistance bridge and temperature controller on a dilution
refrigerator (sim_devices/dilution_refrigerator.py), with a 3726 scanner (16 channels).

Follows the Model 372 user's manual, chapter 6 (Computer Interface Operation; page numbers of
the printed manual): 6.4.3 (p.140) TCP socket on port 7777; 6.3.5 (p.134) USB message flow: no
new message within 50 ms of the last, at most 20 a second; commands and queries terminated by
CR LF, replies CR LF; no error queue, a refused command sets *ESR? bit 5 CME (unknown command,
malformed argument) or bit 4 EXE (a value the instrument cannot take).

What the channels read (the wiring of a typical cryogen-free dilution refrigerator; the
ones without a sensor read zero with R.OVER/T.UNDER status):
  A   control input: a RuOx on the mixing-chamber plate (its own bridge, never scanned)
  1   4K plate, RuOx (RX-202A standard curve 21)
  2   still, RuOx (curve 21)
  3   cold plate, RuOx (curve 21)
  6   mixing chamber, calibrated RuOx (curve 22, calibrated down to 8 mK)

The measurement input is one bridge switched by the scanner (SCAN <ch>,<autoscan>, p.175).
After a switch the reading of the new channel is held at its last value for the channel's
change pause (INSET <ch>,<enabled>,<dwell>,<pause>,<curve>,<tempco>: pause 3-200 s, dwell
1-200 s, p.167); then, with the reading filter on (FILTER <ch>,<on>,<settle s>,<window %>,
p.162), it approaches the true value over the filter's settle time. RDGSTL? (p.175) says which:
0 valid, 1 firmware filter settling, 2 hardware settling. A channel the scanner is not on reads
its last value (RDGST?, p.174: "the status will represent the last state prior to the channel
change"). Autoscan steps through the enabled channels, each for pause + dwell.

Readings (p.174): RDGR? ohm, RDGK? kelvin through the channel's curve (format 4: log ohm/K,
linear interpolation, CRVHDR/CRVPT p.158-159; RDGK? is 0 without a curve), RDGPWR? the
excitation power I^2 R, RDGST? status bits (1 CS OVL, 2 VCM OVL, 4 VMIX OVL, 8 VDIF OVL,
16 R.OVER, 32 R.UNDER, 64 T.OVER, 128 T.UNDER). INTYPE <ch>,<mode>,<excitation>,<autorange>,
<range>,<cs shunt>,<units> (mode 0 voltage, 1 current; current excitation n = 10^(-12+(n-1)/2) A,
1 pA .. 31.6 mA, n 1-22; voltage 2 uV .. 632 mV, n 1-12; range 1-22 = 2 mohm .. 63.2 Mohm):
the excitation sets the sensor's self-heating (sim_devices/ruox.py) and the reading noise.

Outputs (p.163, 168, 173): 0 sample heater (RANGE 0,<0..8>: off, 31.6 uA .. 100 mA into the
HTRSET resistance, 1-2000 ohm; OUTMODE 0,<mode>,<input>,<powerup>,<polarity>,<filter>,<delay>
with mode 0 off, 2 open loop, 3 zone, 5 closed loop; SETP 0,<K>; PID 0,P,I,D; MOUT 0,<%>;
HTR? % of the range's current or W, as HTRSET's display says), 1 warm-up heater (RANGE 1,<0|1>),
2 analog/still output (OUTMODE 2,4,...: still mode; STILL <%> of its 10 V into the still
heater; AOUT? 2). *RST restores the defaults below (the sample heater off).
"""
from __future__ import annotations

import math

from loopscope.sim_devices.dilution_refrigerator import SAMPLE_HEATER_RANGE_A
from loopscope.sim_devices.ruox import RuOxSensor

from .base import CommandError, SimInstrument

# status bits of RDGST?
R_OVER, T_UNDER = 16, 128
#: the measurement ranges (INTYPE <range> 1..22): full scale in ohm, 2 mohm .. 63.2 Mohm
RANGE_OHM = {n: 2e-3 * 10 ** ((n - 1) / 2) for n in range(1, 23)}
STILL_FULL_SCALE_V = 10.0      # the analog/still output's 0-10 V
CHANNELS = [str(n) for n in range(1, 17)]


def excitation_A(mode: int, n: int, resistance_ohm: float) -> float:
    """The current through the sensor: current mode 10^(-12+(n-1)/2) A (1 pA .. 31.6 mA);
    voltage mode 2 uV x 10^((n-1)/2) across it (2 uV .. 632 mV)."""
    if mode == 1:
        return 1e-12 * 10 ** ((n - 1) / 2)
    return 2e-6 * 10 ** ((n - 1) / 2) / max(resistance_ohm, 1e-3)


class _Channel:
    """One input's settings and what it last read."""

    def __init__(self, name, stage, curve, enabled, dwell, pause, exc_n):
        self.name, self.stage = name, stage           # stage: world attribute it sits on, or None
        self.curve, self.enabled, self.dwell, self.pause, self.tempco = curve, enabled, dwell, pause, 1
        # INTYPE: mode (0 voltage: 2 uV x 10^((n-1)/2) across the sensor, so the power falls
        # as the RuOx's resistance rises on cooling), excitation, autorange, range, cs shunt,
        # units (1 K)
        self.intype = [0, exc_n, 1, 13, 0, 1]
        self.filter = [1, 10, 5]                      # on, settle 10 s, window 5 %
        self.last_ohm = 0.0                           # last reading (held while not scanned)
        self.from_ohm = 0.0                           # what it showed when the scanner came to it
        self.last_status = R_OVER | T_UNDER if stage is None else 0


class LakeShore372(SimInstrument):
    name = "temperature_controller"
    model = "Lake Shore 372"
    # <manufacturer>,<model>,<instrument serial>/<option serial>,<firmware>: the Lake Shore
    # *IDN? format of the 335/336/350/372 manuals (e.g. "LSCI,MODEL335,1234567/1234567,1.0")
    idn = "LSCI,MODEL372,LSA2B4C/3726A17,1.4"
    reply_termination = "\r\n"
    scpi = False
    error_queue_size = 0
    stb_eav_bit = 0
    # 6.3 USB: a virtual serial port at 57600 baud, 7 data bits, odd parity, 1 stop bit;
    # 6.3.5: 50 ms after each message, at most 20 messages a second
    serial_port = {"baud_rate": 57600, "data_bits": 7, "parity": "odd", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r\n", "line_ends": "\r\n"}
    serial_pacing = (0.050, 20)

    #: curve headers: name, serial, format (4 log ohm/K), limit K, coefficient (1 negative)
    CURVES = {21: ("RX-202A", "STANDARD", 4, 40.0, 1, 0.050),
              22: ("RX-202A-MXC", "U22MXC", 4, 40.0, 1, 0.008)}

    def setup(self):
        self.fridge = self.world.cryostat
        if getattr(self.fridge, "kind", "") != "dilution_refrigerator":
            raise ValueError("the Lake Shore 372 needs the dilution refrigerator (cryostat.kind: "
                             "dilution_refrigerator)")
        dr_cfg = self.world.config["cryostat"]["dilution_refrigerator"]
        self.sensor = RuOxSensor(dr_cfg["sensor_thermal_conductance_W_per_K2"])
        self.noise_fraction = dr_cfg["reading_noise_fraction"]
        self._curve_tables = {}
        for n, (*_, t_min) in self.CURVES.items():
            self._curve_tables[n] = self.sensor.calibration_points(120, t_min, 40.0)
        self._initial_still_pct = 100.0 * math.sqrt(self.fridge.still_power_W
                                                    * self.fridge.still_heater_ohm) / STILL_FULL_SCALE_V
        self._defaults()
        r = self.register
        r("RDGR?", lambda a: f"{self._reading(a)[0]:+.5E}")
        r("RDGK?", lambda a: f"{self._kelvin(a):+.5E}")
        # KRDG?/SRDG? are not in the 372 manual's command list; they are the 33x/340 forms,
        # and QCoDeS's LakeshoreModel372 (tested on real 372s, microsoft/Qcodes PR #972) reads
        # temperature and sensor units with them: taken here as RDGK?/RDGR?
        r("KRDG?", lambda a: f"{self._kelvin(a):+.5E}")
        r("SRDG?", lambda a: f"{self._reading(a)[0]:+.5E}")
        r("TLIMIT", self._set_tlimit)
        r("TLIMIT?", lambda a: f"{self.tlimit[self._ch(a)]:+.4f}")
        r("RAMP", self._set_ramp)
        r("RAMP?", lambda a: "{},{:+.3f}".format(*self.ramp[self._loop_out(a)]))
        r("RAMPST?", lambda a: "1" if self._ramping(self._loop_out(a)) else "0")
        r("RDGPWR?", lambda a: f"{self._reading(a)[2]:+.5E}")
        r("RDGST?", lambda a: f"{self._reading(a)[1]:03d}")
        r("RDGSTL?", lambda a: f"{self._settle_status('A')},{self._settle_status(self._scan_channel())}")
        r("SCAN", self._set_scan)
        r("SCAN?", lambda a: f"{int(self._scan_channel()):02d},{self.autoscan}")
        r("INSET", self._set_inset)
        r("INSET?", lambda a: "{},{},{},{},{}".format(*self._inset(self._ch(a))))
        r("INTYPE", self._set_intype)
        r("INTYPE?", lambda a: ",".join(str(x) for x in self.channels[self._ch(a)].intype))
        r("FILTER", self._set_filter)
        r("FILTER?", lambda a: "{},{},{}".format(*self.channels[self._ch(a)].filter))
        r("INNAME", self._set_inname)
        r("INNAME?", lambda a: self.channels[self._ch(a)].name)
        r("INCRV", self._set_incrv)
        r("INCRV?", lambda a: str(self.channels[self._ch(a)].curve))
        r("CRVHDR?", self._crvhdr)
        r("CRVPT?", self._crvpt)
        r("RANGE", self._set_range)
        r("RANGE?", lambda a: str(self.ranges[self._out(a)]))
        r("SETP", self._set_setp)
        r("SETP?", lambda a: f"{self._sp_now(self._out(a)):+.6E}")
        r("PID", self._set_pid)
        r("PID?", lambda a: "{:+.1f},{:+.1f},{:+.1f}".format(*self.pid[self._loop_out(a)]))
        r("OUTMODE", self._set_outmode)
        r("OUTMODE?", lambda a: self._outmode_reply(self._out(a)))
        r("HTRSET", self._set_htrset)
        r("HTRSET?", self._htrset_reply)
        r("HTR?", lambda a: f"{self._htr():+.5E}" if self.htrset[0][3] == 2 else f"{self._htr():+.3f}")
        r("HTRST?", lambda a: self._loop_out(a) is not None and "0")
        r("MOUT", self._set_mout)
        r("MOUT?", lambda a: f"{self.mout[self._out(a)]:+.3f}")
        r("STILL", self._set_still)
        r("STILL?", lambda a: f"{self.still_pct:+.3f}")
        r("AOUT?", self._aout)

    # ------------------------------------------------------------------ settings
    def _defaults(self):
        """*RST (and power-up): the sample heater off, the loop on the mixing chamber (channel 6),
        the scanner on channel 6 without autoscan, the still output in still mode at the still
        power the fridge runs at."""
        self.channels = {
            "A": _Channel("MXC control", "mc", 22, 1, 1, 3, 2),
            "1": _Channel("4K plate", "plate_4K_K", 21, 1, 5, 3, 5),
            "2": _Channel("Still", "still_K", 21, 1, 5, 3, 4),
            "3": _Channel("Cold plate", "cold_plate_K", 21, 1, 5, 3, 3),
            "6": _Channel("MXC", "mc", 22, 1, 10, 3, 2),
        }
        for ch in CHANNELS:
            self.channels.setdefault(ch, _Channel(f"Channel {int(ch):02d}", None, 0, 0, 10, 3, 3))
        self.scan = "6"
        self.autoscan = 0
        self.scan_t0 = self.world.t - 1e3      # on it since long before: settled
        self.ranges = {0: 0, 1: 0, 2: 1}
        self.setpoints = {0: 0.0, 1: 0.0, 2: 0.0}
        self.pid = {0: (10.0, 20.0, 0.0), 1: (10.0, 20.0, 0.0)}
        self.mout = {0: 0.0, 1: 0.0, 2: 0.0}
        # OUTMODE: mode, input, powerup enable, polarity, filter, delay
        self.outmode = {0: [5, "6", 0, 0, 0, 1], 1: [0, "6", 0, 0, 0, 1], 2: [4, "6", 0, 0, 0, 1]}
        # HTRSET 0: resistance, max current (0 for the sample heater), max user current, display
        self.htrset = {0: [self.fridge.heater_ohm, 0, 0.0, 1], 1: [1, 2, 0.0, 1]}
        self.still_pct = self._initial_still_pct
        self.ramp = {0: (0, 0.0), 1: (0, 0.0)}          # on/off, K/min
        self.ramp_state = {0: None, 1: None}          # (from K, t0, target K) while ramping
        self.tlimit = {ch: 0.0 for ch in self.channels}
        self._settle_readings()
        self._apply()

    def reset(self):
        self._defaults()

    def _apply(self):
        """The sample heater and the still output as the fridge sees them."""
        dr = self.fridge
        mode = self.outmode[0][0]
        dr.heater_range = self.ranges[0]
        dr.mode = {5: "closed", 3: "closed", 2: "open"}.get(mode, "off")
        dr.setpoint_K = self.setpoints[0]
        dr.manual_output_pct = self.mout[0]
        dr.set_loop()
        still_on = self.outmode[2][0] == 4 and self.ranges[2] == 1
        v = STILL_FULL_SCALE_V * self.still_pct / 100.0 if still_on else 0.0
        dr.still_power_W = v ** 2 / dr.still_heater_ohm

    # ------------------------------------------------------------------ parsing
    @staticmethod
    def _ch(a):
        ch = a.split(",")[0].strip().upper().lstrip("0") or "0"
        if ch != "A" and ch not in CHANNELS:
            raise CommandError(-222, f"input/channel {ch!r} not A or 1..16")
        return ch

    @staticmethod
    def _out(a):
        try:
            n = int(a.split(",")[0].strip() or "0")
        except ValueError:
            raise CommandError(-104, f"bad output {a!r}") from None
        if n not in (0, 1, 2):
            raise CommandError(-222, f"output {n} not 0, 1 or 2")
        return n

    def _loop_out(self, a):
        n = self._out(a)
        if n == 2:
            raise CommandError(-222, "output 2 (analog/still) has no PID loop or heater status")
        return n

    # ------------------------------------------------------------------ the scanner
    def _enabled(self):
        return [c for c in CHANNELS if self.channels[c].enabled]

    def _scan_channel(self) -> str:
        """The channel the scanner is on now; autoscan steps on after pause + dwell."""
        if self.autoscan:
            enabled = self._enabled()
            while True:
                c = self.channels[self.scan]
                t_next = self.scan_t0 + c.pause + c.dwell
                if self.world.t < t_next or len(enabled) < 2:
                    break
                self._take(self.scan, self.scan_t0, t_next)      # what it read when it left
                i = enabled.index(self.scan) if self.scan in enabled else -1
                self.scan, self.scan_t0 = enabled[(i + 1) % len(enabled)], t_next
                self.channels[self.scan].from_ohm = self.channels[self.scan].last_ohm
        return self.scan

    def _set_scan(self, a):
        parts = a.split(",")
        if len(parts) != 2:
            raise CommandError(-109, "SCAN needs channel,autoscan")
        ch, auto = self._ch(parts[0]), int(float(parts[1]))
        if ch == "A" or auto not in (0, 1):
            raise CommandError(-222, f"SCAN {a}: channel 1..16, autoscan 0 or 1")
        current = self._scan_channel()
        self._take(current, self.scan_t0, self.world.t)
        if ch != current:
            self.scan, self.scan_t0 = ch, self.world.t
            self.channels[ch].from_ohm = self.channels[ch].last_ohm
        self.autoscan = auto

    def _settle_status(self, ch: str) -> int:
        """RDGSTL?: 2 within the change pause, 1 while the filter settles, 0 valid."""
        if ch == "A":
            return 0
        c = self.channels[ch]
        age = self.world.t - self.scan_t0
        if age < c.pause:
            return 2
        if c.filter[0] and age < c.pause + c.filter[1]:
            return 1
        return 0

    def _settle_readings(self):
        for ch, c in self.channels.items():
            if c.stage is not None:
                c.last_ohm, c.last_status = self._true_reading(c)[:2]

    # ------------------------------------------------------------------ readings
    def _stage_K(self, c: _Channel) -> float:
        if c.stage == "mc":
            return self.fridge.temperature_K
        return getattr(self.fridge, c.stage)

    def _true_reading(self, c: _Channel):
        """(ohm, status, excitation power W) the bridge measures on this channel now."""
        if c.stage is None:
            return 0.0, R_OVER | T_UNDER, 0.0
        mode, exc_n, _, rng, shunt, _ = c.intype
        T = self._stage_K(c)
        r_plate = self.sensor.resistance_ohm(T)
        i = 0.0 if shunt else excitation_A(mode, exc_n, r_plate)
        Ts = self.sensor.sensor_temperature_K(T, i) if i else T
        R = self.sensor.resistance_ohm(Ts)
        v = i * R
        # the bridge's noise: relative 1e-4 at >= 10 uV across the sensor, worse below
        rel = self.noise_fraction * max(1.0, 1e-5 / max(v, 1e-12))
        R *= 1 + self.noise(rel)
        status = 0
        if shunt:
            return 0.0, 0, 0.0
        if not c.intype[2] and R > RANGE_OHM[rng]:
            status |= R_OVER
        return R, status, i * i * R

    def _take(self, ch, t0, t_now):
        """Record what channel ch shows when the scanner leaves it (or is asked)."""
        c = self.channels[ch]
        if c.stage is None:
            return
        age = t_now - t0
        if age < c.pause:
            return                                   # still held at its old value
        R, status, _ = self._true_reading(c)
        if c.filter[0] and age < c.pause + c.filter[1] and c.from_ohm > 0 and R > 0:
            # the filter's running average: from what the channel showed when the scanner came
            # to it toward the present value (log-space, 95 % of the way at the settle time)
            w = 1.0 - math.exp(-3.0 * (age - c.pause) / max(c.filter[1], 1e-9))
            R = c.from_ohm * (R / c.from_ohm) ** w
        c.last_ohm, c.last_status = R, status

    def _reading(self, a):
        """(ohm, status, power) of an input: A and the scanned channel live, the others held."""
        ch = self._ch(a)
        c = self.channels[ch]
        if ch == "A":
            R, status, p = self._true_reading(c)
            c.last_ohm, c.last_status = R, status
            return R, status, p
        if ch == self._scan_channel():
            self._take(ch, self.scan_t0, self.world.t)
        R = c.last_ohm
        mode, exc_n = c.intype[:2]
        i = excitation_A(mode, exc_n, R) if R > 0 and not c.intype[4] else 0.0
        return R, c.last_status, i * i * R

    def _kelvin(self, a):
        ch = self._ch(a)
        R, status, _ = self._reading(a)
        c = self.channels[ch]
        if c.curve == 0 or R <= 0 or c.curve not in self._curve_tables:
            return 0.0           # "If no curve is present for the channel, the returned reading will be zero"
        T, under = self._interpolate(self._curve_tables[c.curve], R)
        c.last_status = status | (T_UNDER if under else 0)
        limit = self.tlimit.get(ch, 0.0)
        if limit > 0 and T > limit and ch == self.outmode[0][1] and self.ranges[0]:
            # TLIMIT: the control input above its limit turns the sample heater off (checked
            # when the input is read: the lab advances lazily)
            self.ranges[0] = 0
            self._apply()
        return T

    @staticmethod
    def _interpolate(table, R):
        """Format 4 (log ohm / K), linear interpolation between the curve's points; beyond
        the coldest point the reading stays at its temperature with T.UNDER."""
        if R >= table[-1][0]:
            return table[-1][1], True
        if R <= table[0][0]:
            return table[0][1], False
        lo, hi = 0, len(table) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if table[mid][0] <= R:
                lo = mid
            else:
                hi = mid
        (r0, t0), (r1, t1) = table[lo], table[hi]
        f = (math.log10(R) - math.log10(r0)) / (math.log10(r1) - math.log10(r0))
        return t0 + f * (t1 - t0), False

    # ------------------------------------------------------------------ input settings
    def _inset(self, ch):
        c = self.channels[ch]
        return c.enabled, c.dwell, c.pause, c.curve, c.tempco

    def _set_inset(self, a):
        parts = a.split(",")
        if len(parts) != 6:
            raise CommandError(-109, "INSET needs channel,enabled,dwell,pause,curve,tempco")
        ch = self._ch(parts[0])
        enabled, dwell, pause, curve, tempco = (int(float(x)) for x in parts[1:])
        if enabled not in (0, 1) or not 1 <= dwell <= 200 or not 3 <= pause <= 200 \
                or not 0 <= curve <= 59 or tempco not in (1, 2):
            raise CommandError(-222, f"INSET {a}: dwell 1-200 s, pause 3-200 s, curve 0-59")
        c = self.channels[ch]
        c.enabled, c.dwell, c.pause, c.curve, c.tempco = enabled, dwell, pause, curve, tempco

    def _set_intype(self, a):
        parts = a.split(",")
        if len(parts) != 7:
            raise CommandError(-109, "INTYPE needs input,mode,excitation,autorange,range,cs shunt,units")
        ch = self._ch(parts[0])
        mode, exc, auto, rng, shunt, units = (int(float(x)) for x in parts[1:])
        top = 22 if mode == 1 else 12
        if mode not in (0, 1) or not 1 <= exc <= top or auto not in (0, 1, 2) or not 1 <= rng <= 22 \
                or shunt not in (0, 1) or units not in (1, 2):
            raise CommandError(-222, f"INTYPE {a}")
        self.channels[ch].intype = [mode, exc, auto, rng, shunt, units]

    def _set_filter(self, a):
        parts = a.split(",")
        if len(parts) != 4:
            raise CommandError(-109, "FILTER needs channel,on/off,settle time,window")
        on, settle, window = (int(float(x)) for x in parts[1:])
        if on not in (0, 1) or not 1 <= settle <= 200 or not 1 <= window <= 80:
            raise CommandError(-222, f"FILTER {a}: settle 1-200 s, window 1-80 %")
        targets = CHANNELS if parts[0].strip() == "0" else [self._ch(parts[0])]
        for ch in targets:
            self.channels[ch].filter = [on, settle, window]

    def _set_inname(self, a):
        ch, name = a.split(",", 1)
        self.channels[self._ch(ch)].name = name.strip().strip('"')[:15]

    def _set_incrv(self, a):
        ch, n = a.split(",")
        n = int(float(n))
        if not 0 <= n <= 59:
            raise CommandError(-222, f"curve {n} outside 0..59")
        self.channels[self._ch(ch)].curve = n

    def _crvhdr(self, a):
        n = int(float(a))
        if not 1 <= n <= 59:
            raise CommandError(-222, f"curve {n} outside 1..59")
        name, sn, form, limit, coeff, _ = self.CURVES.get(n, ("", "", 0, 0.0, 1, 0.0))
        return f"{name:<15},{sn:<10},{form},{limit:+.3f},{coeff}"

    def _crvpt(self, a):
        n, i = (int(float(x)) for x in a.split(","))
        if not 1 <= n <= 59 or not 1 <= i <= 200:
            raise CommandError(-222, f"CRVPT? {a}: curve 1-59, index 1-200")
        table = self._curve_tables.get(n, [])
        if i > len(table):
            return "+0.00000E+00,+0.00000E+00"
        r, t = table[i - 1]
        # format 4 stores log10 of the resistance (the "log ohm/K" of CRVHDR)
        return f"{math.log10(r):+.6E},{t:+.6E}"

    # ------------------------------------------------------------------ outputs
    def _set_range(self, a):
        parts = a.split(",")
        if len(parts) != 2:
            raise CommandError(-109, "RANGE needs output,range")
        n, r = self._out(parts[0]), int(float(parts[1]))
        if r not in (range(9) if n == 0 else (0, 1)):
            raise CommandError(-222, f"range {r} not a range of output {n}")
        self.ranges[n] = r
        self._apply()

    def _set_setp(self, a):
        parts = a.split(",")
        if len(parts) != 2:
            raise CommandError(-109, "SETP needs output,value")
        n, v = self._out(parts[0]), float(parts[1])
        if v < 0:
            raise CommandError(-222, f"setpoint {v} K below 0")
        now = self._sp_now(n)
        on, rate = self.ramp.get(n, (0, 0.0))
        if on and rate > 0 and v != now:
            self.ramp_state[n] = (now, self.world.t, v)      # ramps from where it stands
        else:
            if n in self.ramp_state:
                self.ramp_state[n] = None
            self.setpoints[n] = v
            self._apply()

    def _sp_now(self, n):
        """The setpoint as it stands now: a ramping one moves at the ramp rate (K/min, RAMP
        p.173) from where it was toward the target, in simulated time."""
        st = self.ramp_state.get(n)
        if st is None:
            return self.setpoints[n]
        start, t0, target = st
        step = self.ramp[n][1] / 60.0 * (self.world.t - t0)
        if step >= abs(target - start):
            self.ramp_state[n] = None
            v = target
        else:
            v = start + math.copysign(step, target - start)
            self.ramp_state[n] = (v, self.world.t, target)
        if v != self.setpoints[n]:
            self.setpoints[n] = v
            self._apply()
        return v

    def _ramping(self, n):
        self._sp_now(n)
        return self.ramp_state[n] is not None

    def _set_ramp(self, a):
        parts = a.split(",")
        if len(parts) != 3:
            raise CommandError(-109, "RAMP needs output,on/off,rate")
        n = self._loop_out(parts[0])
        on, rate = int(float(parts[1])), float(parts[2])
        if on not in (0, 1) or not (rate == 0 or 0.001 <= rate <= 100):
            raise CommandError(-222, f"RAMP {a}: on/off 0 or 1, rate 0.001-100 K/min")
        self._sp_now(n)
        self.ramp[n] = (on, rate)

    def _set_tlimit(self, a):
        ch, v = a.split(",")
        v = float(v)
        if v < 0:
            raise CommandError(-222, f"temperature limit {v} K below 0")
        self.tlimit[self._ch(ch)] = v

    def _set_pid(self, a):
        parts = a.split(",")
        if len(parts) != 4:
            raise CommandError(-109, "PID needs output,P,I,D")
        n = self._loop_out(parts[0])
        p, i, d = (float(x) for x in parts[1:])
        if not (0 <= p <= 1000 and 0 <= i <= 10000 and 0 <= d <= 2500):
            raise CommandError(-222, f"PID {a}: P 0-1000, I 0-10000, D 0-2500")
        self.pid[n] = (p, i, d)

    def _outmode_reply(self, n):
        mode, inp, powerup, polarity, filt, delay = self.outmode[n]
        return f"{mode},{inp},{powerup},{polarity},{filt},{delay}"

    def _set_outmode(self, a):
        parts = [x.strip() for x in a.split(",")]
        if len(parts) != 7:
            raise CommandError(-109, "OUTMODE needs output,mode,input,powerup,polarity,filter,delay")
        n = self._out(parts[0])
        mode = int(float(parts[1]))
        inp = self._ch(parts[2])
        powerup, polarity, filt, delay = (int(float(x)) for x in parts[3:])
        modes = {0: (0, 2, 3, 5), 1: (0, 2, 3, 5, 6), 2: (0, 1, 2, 3, 4, 5)}[n]
        if mode not in modes or powerup not in (0, 1) or polarity not in (0, 1) or filt not in (0, 1) \
                or not 0 <= delay <= 255:
            raise CommandError(-222, f"OUTMODE {a}")
        self.outmode[n] = [mode, inp, powerup, polarity, filt, delay]
        self._apply()

    def _set_htrset(self, a):
        parts = a.split(",")
        if len(parts) != 5:
            raise CommandError(-109, "HTRSET needs output,resistance,max current,max user current,display")
        n = self._loop_out(parts[0])
        res, imax, iuser, disp = float(parts[1]), int(float(parts[2])), float(parts[3]), int(float(parts[4]))
        if n == 0:
            if not 1 <= res <= 2000 or disp not in (1, 2):
                raise CommandError(-222, f"HTRSET {a}: sample heater 1-2000 ohm, display 1 or 2")
            # the 372 only needs the resistance to show power (4.6.1.1); the real heater is
            # the fridge's: what it dissipates does not change with this number
            self.htrset[0] = [res, 0, 0.0, disp]
        else:
            if int(res) not in (1, 2) or imax not in (0, 1, 2) or not 0 <= iuser <= 0.63 or disp not in (1, 2):
                raise CommandError(-222, f"HTRSET {a}")
            self.htrset[1] = [int(res), imax, iuser, disp]

    def _htrset_reply(self, a):
        n = self._loop_out(a)
        res, imax, iuser, disp = self.htrset[n]
        if n == 0:
            return f"{res:+.3f},{imax},{iuser:+.3f},{disp}"
        return f"{res},{imax},{iuser:+.3f},{disp}"

    def _htr(self):
        """HTR?: the sample heater in % of the range's current, or in W (HTRSET display 2,
        from the resistance the user entered)."""
        pct = self.fridge.heater_output_pct()
        if self.htrset[0][3] == 2:
            i = SAMPLE_HEATER_RANGE_A[self.ranges[0]] * pct / 100.0
            return i * i * self.htrset[0][0]
        return pct

    def _set_mout(self, a):
        parts = a.split(",")
        if len(parts) != 2:
            raise CommandError(-109, "MOUT needs output,value")
        n, v = self._out(parts[0]), float(parts[1])
        if not 0 <= v <= 100:
            raise CommandError(-222, f"manual output {v} % outside 0..100")
        self.mout[n] = v
        self._apply()

    def _set_still(self, a):
        v = self.one_float(a)
        if not 0 <= v <= 100:
            raise CommandError(-222, f"still output {v} % outside 0..100")
        self.still_pct = v
        self._apply()

    def _aout(self, a):
        n = self._out(a)
        if n == 0:
            raise CommandError(-222, "AOUT? is for outputs 1 and 2 (HTR? reads the sample heater)")
        if n == 2:
            on = self.outmode[2][0] == 4 and self.ranges[2] == 1
            return f"{self.still_pct if on else 0.0:+.3f}"
        return f"{0.0:+.3f}"

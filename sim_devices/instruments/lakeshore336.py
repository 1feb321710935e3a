"""Lake Shore Model 336 temperature controller. Input A reads the sample (cryostat model),
B the mixing-chamber plate (same), C and D fixed stages (4 K plate, 50 K stage).

No error queue: a refused command sets a bit of the standard event status register (*ESR?):
bit 5 CME (unrecognized header, malformed argument), bit 4 EXE (a value the instrument cannot
take, e.g. a negative setpoint or an output outside 1..4); *STB? bit 4 MAV, bit 5 ESB, bit 6
RQS/MSS (status system of the Model 335/336 manuals, 6.2).

Per input (A..D): INTYPE (sensor type, autorange, range, compensation, units: five fields),
INCRV (curve number), CRVHDR? (curve header), INNAME (15-character name), TLIMIT, RDGST?.
Per output (1..4): OUTMODE (mode, input, power-up enable), RANGE, SETP, RAMP (on/off, K/min;
the setpoint then moves at that rate in simulated time, RAMPST? 1 while it does), PID,
MOUT, HTRSET (outputs 1 and 2: resistance, max current, max user current, current/power).
*RST restores the defaults below (heaters off, setpoints 0 K... as ``reset`` lists)."""
from __future__ import annotations

import math

from .base import CommandError, SimInstrument


def ruox_ohm(T: float) -> float:
    """A RuOx-like calibration curve, for SRDG?."""
    return 1000.0 * math.exp((1.0 / max(T, 1e-3)) ** 0.25 * 2.0) / math.exp(2.0)


class LakeShore336(SimInstrument):
    name = "temperature_controller"
    model = "Lake Shore 336"
    idn = "LSCI,MODEL336,LSA1B2C,2.9"
    reply_termination = "\r\n"
    scpi = False
    error_queue_size = 0     # no SYST:ERR?: errors only set *ESR? bits
    stb_eav_bit = 0

    #: INTYPE per input: sensor type (0 off, 1 diode, 2 platinum, 3 NTC RTD), autorange,
    #: range, compensation, units (1 K, 2 C, 3 sensor); A and B are RuOx (NTC) sensors
    default_intype = {"A": (3, 1, 0, 1, 1), "B": (3, 1, 0, 1, 1), "C": (1, 0, 0, 0, 1), "D": (1, 0, 0, 0, 1)}
    default_curve = {"A": 21, "B": 22, "C": 2, "D": 2}
    #: curve headers: name, serial number, format (1 mV/K, 2 V/K, 3 ohm/K, 4 log ohm/K),
    #: limit (K), coefficient (1 negative, 2 positive)
    curve_headers = {0: ("", "", 0, 0.0, 0), 1: ("DT-470", "Standard C1", 2, 475.0, 1),
                     2: ("DT-670", "Standard C2", 2, 500.0, 1),
                     21: ("RX-102A-AA", "U21", 4, 40.0, 1), 22: ("RX-102A-AA", "U22", 4, 40.0, 1)}

    def setup(self):
        self._defaults()
        r = self.register
        for q, conv in (("KRDG?", lambda T: T), ("CRDG?", lambda T: T - 273.15), ("SRDG?", ruox_ohm)):
            r(q, lambda a, conv=conv: self._read(a, conv))
        r("SETP", self._setp)
        r("SETP?", lambda a: f"{self._sp_now(self._out(a)):+.4f}")
        r("RANGE", self._range)
        r("RANGE?", lambda a: str(self.ranges[self._out(a)]))
        r("HTR?", lambda a: f"{self._htr(self._out(a)):.1f}")
        r("AOUT?", lambda a: f"{self._htr(self._out(a)):.1f}")
        r("MOUT", self._mout)
        r("MOUT?", lambda a: f"{self.mout[self._out(a)]:+.2f}")
        r("PID", self._pid)
        r("PID?", lambda a: ",".join(f"{x:+.1f}" for x in self.pid[self._pid_out(a)]))
        r("OUTMODE", self._outmode)
        r("OUTMODE?", lambda a: ",".join(str(x) for x in self.outmode[self._out(a)]))
        r("HTRST?", lambda a: self._heater(a) and "0")
        r("RDGST?", lambda a: self._input(a) and "0")
        r("INTYPE?", lambda a: ",".join(str(x) for x in self.intype[self._input(a)]))
        r("INTYPE", self._set_intype)
        r("INCRV?", lambda a: str(self.curves[self._input(a)]))
        r("INCRV", self._set_incrv)
        r("CRVHDR?", self._crvhdr)
        r("INNAME?", lambda a: self.names[self._input(a)])
        r("INNAME", self._set_inname)
        r("TLIMIT?", lambda a: f"{self.tlimit[self._input(a)]:+.4f}")
        r("TLIMIT", self._set_tlimit)
        r("RAMP?", lambda a: "{},{:+.3f}".format(*self.ramp[self._out(a)]))
        r("RAMP", self._set_ramp)
        r("RAMPST?", lambda a: "1" if self._ramping(self._out(a)) else "0")
        r("HTRSET?", lambda a: "{},{},{:+.3f},{}".format(*self.htrset[self._heater(a)]))
        r("HTRSET", self._set_htrset)

    def _defaults(self):
        """The settings *RST restores (Model 336 defaults: heaters off, closed loop from the
        like-numbered input, P 50 I 20 D 0, no ramp, 25 ohm heaters at 1 A shown as current)."""
        self.setpoints = {1: None, 2: 0.0, 3: 0.0, 4: 0.0}
        self.ranges = {1: 0, 2: 0, 3: 0, 4: 0}
        self.mout = {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
        self.pid = {n: (50.0, 20.0, 0.0) for n in range(1, 5)}
        self.outmode = {1: (1, 1, 0), 2: (1, 2, 0), 3: (0, 3, 0), 4: (0, 4, 0)}
        self.ramp = {n: (0, 0.0) for n in range(1, 5)}
        self.ramp_state = {n: None for n in range(1, 5)}     # (start K, t0, target K) while ramping
        self.htrset = {1: (1, 2, 0.0, 1), 2: (1, 2, 0.0, 1)}
        self.intype = dict(self.default_intype)
        self.curves = dict(self.default_curve)
        self.names = {ch: f"Input {ch}" for ch in "ABCD"}
        self.tlimit = {ch: 0.0 for ch in "ABCD"}

    def reset(self):
        c = self.world.cryostat
        c.heater_range, c.setpoint_K, c.mode = 0, c.base_K, 1
        c.pid, c.manual_output_pct = (50.0, 20.0, 0.0), 0.0
        self._defaults()

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _input(a):
        ch = a.split(",")[0].strip().upper()
        if ch not in ("A", "B", "C", "D"):
            raise CommandError(-222, f"input {ch!r} not in A..D")
        return ch

    def _set_intype(self, a):
        parts = a.split(",")
        ch = self._input(parts[0])
        vals = [int(float(x)) for x in parts[1:]]
        if len(vals) != 5:
            raise CommandError(-109, "INTYPE needs input,type,autorange,range,compensation,units")
        kind, auto, rng, comp, units = vals
        top = {0: 0, 1: 1, 2: 6, 3: 8}.get(kind)
        if top is None or auto not in (0, 1) or not 0 <= rng <= top or comp not in (0, 1) \
                or units not in (1, 2, 3):
            raise CommandError(-222, f"INTYPE {a}")
        self.intype[ch] = (kind, auto, rng, 0 if kind == 1 else comp, units)

    def _set_incrv(self, a):
        ch, n = a.split(",")
        ch, n = self._input(ch), int(float(n))
        if not 0 <= n <= 59:
            raise CommandError(-222, f"curve {n} outside 0..59")
        self.curves[ch] = n

    def _crvhdr(self, a):
        n = int(float(a))
        if not 1 <= n <= 59:
            raise CommandError(-222, f"curve {n} outside 1..59")
        name, sn, form, limit, coeff = self.curve_headers.get(n, ("User Curve", "", 3, 325.0, 1))
        return f"{name:<15},{sn:<10},{form},{limit:+.3f},{coeff}"

    def _set_inname(self, a):
        ch, name = a.split(",", 1)
        self.names[self._input(ch)] = name.strip().strip('"')[:15]

    def _set_tlimit(self, a):
        ch, v = a.split(",")
        v = float(v)
        if v < 0:
            raise CommandError(-222, f"temperature limit {v} K below 0")
        self.tlimit[self._input(ch)] = v

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def _heater(a):
        n = LakeShore336._out(a)
        if n not in (1, 2):
            raise CommandError(-222, f"output {n} is no heater output (1 or 2)")
        return n

    def _pid_out(self, a):
        return self._heater(a)

    def _set_htrset(self, a):
        parts = a.split(",")
        n = self._heater(parts[0])
        if len(parts) != 5:
            raise CommandError(-109, "HTRSET needs output,resistance,max current,max user current,display")
        res, imax, iuser, disp = int(float(parts[1])), int(float(parts[2])), float(parts[3]), int(float(parts[4]))
        if res not in (1, 2) or imax not in range(5) or not 0 <= iuser <= 2.0 or disp not in (1, 2):
            raise CommandError(-222, f"HTRSET {a}")
        self.htrset[n] = (res, imax, iuser, disp)

    def _set_ramp(self, a):
        parts = a.split(",")
        n = self._out(parts[0])
        if len(parts) != 3:
            raise CommandError(-109, "RAMP needs output,on/off,rate")
        on, rate = int(float(parts[1])), float(parts[2])
        if on not in (0, 1) or not (rate == 0 or 0.001 <= rate <= 100):
            raise CommandError(-222, f"RAMP {a}")
        self._settle_ramp(n)
        self.ramp[n] = (on, rate)

    def _ramp_on(self, n):
        on, rate = self.ramp[n]
        return on == 1 and rate > 0

    def _sp_now(self, n):
        """The setpoint as it stands now: a ramping setpoint moves at the ramp rate (K/min)
        from where it was toward the target (the 336's setpoint ramp, simulated time)."""
        st = self.ramp_state[n]
        if st is None:
            return self._sp(n)
        start, t0, target = st
        step = self.ramp[n][1] / 60.0 * (self.world.t - t0)
        if step >= abs(target - start):
            self.ramp_state[n] = None
            self._write_sp(n, target)
            return target
        v = start + math.copysign(step, target - start)
        self._write_sp(n, v)
        self.ramp_state[n] = (v, self.world.t, target)
        return v

    def _ramping(self, n):
        self._sp_now(n)
        return self.ramp_state[n] is not None

    def _settle_ramp(self, n):
        self._sp_now(n)

    def _write_sp(self, n, v):
        if n == 1:
            self.world.cryostat.setpoint_K = v
        else:
            self.setpoints[n] = v

    @staticmethod
    def _out(a):
        try:
            n = int(a.split(",")[0].strip() or "1")
        except ValueError:
            raise CommandError(-104, f"bad output {a!r}") from None
        if n not in (1, 2, 3, 4):
            raise CommandError(-222, f"output {n} not in 1..4")
        return n

    def _sp(self, n):
        if n == 1:
            return self.world.cryostat.setpoint_K
        return self.setpoints[n]

    def _read(self, a, conv):
        ch = (a.strip() or "A").upper()
        c = self.world.cryostat
        if ch in ("A", "B"):
            T = c.temperature_K * (1 + self.noise(2e-4)) + (0.0 if ch == "A" else 0.001)
        elif ch == "C":
            T = 3.9 + self.noise(1e-3)
        elif ch == "D":
            T = 48.0 + self.noise(1e-2)
        elif ch == "0":
            return ",".join(self._read(x, conv) for x in "ABCD")
        else:
            raise CommandError(-222, f"input {ch!r} not in A..D")
        return f"{conv(T):+.5E}"

    def _setp(self, a):
        parts = a.split(",")
        if len(parts) != 2:
            raise CommandError(-109, "SETP needs output,value")
        n, v = self._out(parts[0]), float(parts[1])
        if v < 0:
            raise CommandError(-222, f"setpoint {v} K below 0")
        now = self._sp_now(n)
        if self._ramp_on(n) and v != now:
            self.ramp_state[n] = (now, self.world.t, v)      # ramps from where it stands
        else:
            self.ramp_state[n] = None
            self._write_sp(n, v)

    def _range(self, a):
        parts = a.split(",")
        n, r = self._out(parts[0]), int(float(parts[1]))
        if r not in ((0, 1, 2, 3) if n in (1, 2) else (0, 1)):
            raise CommandError(-222, f"range {r} not a range of output {n}")
        self.ranges[n] = r
        if n == 1:
            self.world.cryostat.heater_range = r

    def _htr(self, n):
        if n == 1:
            return self.world.cryostat.heater_output_pct()
        return 0.0

    def _mout(self, a):
        parts = a.split(",")
        n, v = self._out(parts[0]), float(parts[1])
        if not 0 <= v <= 100:
            raise CommandError(-222, f"manual output {v} % outside 0..100")
        self.mout[n] = v
        if n == 1:
            self.world.cryostat.manual_output_pct = v

    def _pid(self, a):
        parts = a.split(",")
        n = self._pid_out(parts[0])
        vals = tuple(float(x) for x in parts[1:4])
        if len(vals) != 3:
            raise CommandError(-109, "PID needs output,P,I,D")
        p, i, d = vals
        if not (0.1 <= p <= 1000 and 0.1 <= i <= 1000 and 0 <= d <= 200):
            raise CommandError(-222, f"PID {a}: P 0.1..1000, I 0.1..1000, D 0..200")
        self.pid[n] = vals
        if n == 1:
            self.world.cryostat.pid = vals

    def _outmode(self, a):
        parts = [int(float(x)) for x in a.split(",")]
        n = self._out(str(parts[0]))
        if len(parts) != 4:
            raise CommandError(-109, "OUTMODE needs output,mode,input,power-up enable")
        modes = range(4) if n in (1, 2) else range(6)
        if parts[1] not in modes or parts[2] not in range(5) or parts[3] not in (0, 1):
            raise CommandError(-222, f"OUTMODE {a}")
        self.outmode[n] = tuple(parts[1:4])
        if n == 1 and parts[1:]:
            self.world.cryostat.mode = 3 if parts[1] == 3 else 1

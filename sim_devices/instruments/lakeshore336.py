"""Lake Shore Model 336 temperature controller. Input A reads the sample (cryostat model),
B the mixing-chamber plate (same), C and D fixed stages (4 K plate, 50 K stage).

No error queue: a refused command sets a bit of the standard event status register (*ESR?):
bit 5 CME (unrecognized header, malformed argument), bit 4 EXE (a value the instrument cannot
take, e.g. a negative setpoint or an output outside 1..4); *STB? bit 4 MAV, bit 5 ESB, bit 6
RQS/MSS (status system of the Model 335/336 manuals, 6.2)."""
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

    def setup(self):
        self.setpoints = {1: None, 2: 0.0, 3: 0.0, 4: 0.0}
        self.ranges = {1: 0, 2: 0, 3: 0, 4: 0}
        self.mout = {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
        self.pid = {n: (50.0, 20.0, 0.0) for n in range(1, 5)}
        self.outmode = {n: (1, n if n <= 4 else 1, 0) for n in range(1, 5)}
        self.outmode[1] = (1, 1, 0)
        r = self.register
        for q, conv in (("KRDG?", lambda T: T), ("CRDG?", lambda T: T - 273.15), ("SRDG?", ruox_ohm)):
            r(q, lambda a, conv=conv: self._read(a, conv))
        r("SETP", self._setp)
        r("SETP?", lambda a: f"{self._sp(self._out(a)):+.4f}")
        r("RANGE", self._range)
        r("RANGE?", lambda a: str(self.ranges[self._out(a)]))
        r("HTR?", lambda a: f"{self._htr(self._out(a)):.1f}")
        r("AOUT?", lambda a: f"{self._htr(self._out(a)):.1f}")
        r("MOUT", self._mout)
        r("MOUT?", lambda a: f"{self.mout[self._out(a)]:+.2f}")
        r("PID", self._pid)
        r("PID?", lambda a: ",".join(f"{x:+.1f}" for x in self.pid[self._out(a)]))
        r("OUTMODE", self._outmode)
        r("OUTMODE?", lambda a: ",".join(str(x) for x in self.outmode[self._out(a)]))
        r("HTRST?", lambda a: "0")
        r("RDGST?", lambda a: "0")
        r("INTYPE?", lambda a: "3,1,0,0,1,1")

    def reset(self):
        c = self.world.cryostat
        c.heater_range, c.setpoint_K, c.mode = 0, c.base_K, 1
        self.setup_state_only()

    def setup_state_only(self):
        self.ranges = {1: 0, 2: 0, 3: 0, 4: 0}

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
        if n == 1:
            self.world.cryostat.setpoint_K = v
        else:
            self.setpoints[n] = v

    def _range(self, a):
        parts = a.split(",")
        n, r = self._out(parts[0]), int(float(parts[1]))
        if r not in (0, 1, 2, 3):
            raise CommandError(-222, f"range {r} not in 0..3")
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
        n = self._out(parts[0])
        vals = tuple(float(x) for x in parts[1:4])
        if len(vals) != 3:
            raise CommandError(-109, "PID needs output,P,I,D")
        self.pid[n] = vals
        if n == 1:
            self.world.cryostat.pid = vals

    def _outmode(self, a):
        parts = [int(float(x)) for x in a.split(",")]
        n = self._out(str(parts[0]))
        self.outmode[n] = tuple(parts[1:4])
        if n == 1 and parts[1:]:
            self.world.cryostat.mode = 3 if parts[1] == 3 else 1

"""American Magnetics Model 430 programmer driving the superconducting magnet.

Field units follow FIELD:UNITS (0 kilogauss, the power-up default the stock pymeasure driver
assumes; 1 tesla); ramp-rate time units follow RAMP:RATE:UNITS (0 per second, 1 per minute).
RAMP:RATE:CURR:1? answers "rate,upper_bound" as the real programmer does.
"""
from __future__ import annotations

from .. import magnet as mg
from .base import ESR_CME, ESR_DDE, ESR_EXE, ESR_QYE, STB_ESB, STB_MSS, CommandError, SimInstrument


class AMI430(SimInstrument):
    name = "magnet_supply"
    model = "AMI Model 430"
    idn = "AMERICAN MAGNETICS INC.,MODEL 430,430-2417,2.65"
    reply_termination = "\r\n"
    welcome = ["American Magnetics Model 430 IP Interface", "Hello."]

    # Error buffer and status registers as the 430 manual's sections 4.6 and 4.2.3 (Rev. 5/9):
    # 10 errors, FIFO; beyond them the last one is replaced by -304,"Error buffer overflow";
    # empty: 0,"No errors". Its own codes: command errors -1xx (CME, *ESR? bit 5), query
    # errors -2xx (QYE, bit 2), execution errors -3xx (EXE, bit 4), device errors -4xx (DDE,
    # bit 3). -102..-105 as the Model 420 manual words them (the 430's list is cut off in the
    # copies we could read; the two share section 4.6).
    error_queue_size = 10
    no_error = (0, "No errors")
    queue_overflow = (-304, "Error buffer overflow")
    error_texts = {-113: (-101, "Unrecognized command"), -104: (-102, "Invalid argument"),
                   -224: (-103, "Non-boolean argument"), -109: (-104, "Missing parameter"),
                   -222: (-105, "Out of range")}
    query_error_texts = {-113: (-201, "Unrecognized query")}
    register_value_error = (-102, "Invalid argument")   # "enable values must be 0..255"

    def setup(self):
        self.field_units = 0      # 0 kG, 1 T
        self.rate_units = 0       # 0 s, 1 min
        self.segments = 1
        m = self.world.magnet
        r = self.register
        r("COIL?", lambda a: f"{m.coil_constant * self._fscale():.6f}")
        r("CONF:COIL", lambda a: setattr(m, "coil_constant", self.one_float(a) / self._fscale()))
        r("VOLT:LIM?", lambda a: f"{m.voltage_limit_V:.6f}")
        r("CONF:VOLT:LIM", self._vlim)
        r("CURR:LIM?", lambda a: f"{m.current_limit_A:.6f}")
        r("CONF:CURR:LIM", self._ilim)
        r("CURR:TARG?", lambda a: f"{m.target_A:.6f}")
        r("CONF:CURR:TARG", lambda a: self._target(self.one_float(a)))
        r("FIELD:TARG?", lambda a: f"{m.target_A * m.coil_constant * self._fscale():.6f}")
        r("CONF:FIELD:TARG", lambda a: self._target(self.one_float(a) / self._fscale() / m.coil_constant))
        r("RAMP:RATE:SEG?", lambda a: str(self.segments))
        r("CONF:RAMP:RATE:SEG", lambda a: setattr(self, "segments", int(self.one_float(a))))
        r("RAMP:RATE:UNITS?", lambda a: str(self.rate_units))
        r("CONF:RAMP:RATE:UNITS", lambda a: setattr(self, "rate_units", self._bit(a)))
        r("FIELD:UNITS?", lambda a: str(self.field_units))
        r("CONF:FIELD:UNITS", lambda a: setattr(self, "field_units", self._bit(a)))
        for seg in range(1, 11):
            r(f"RAMP:RATE:CURR:{seg}?", lambda a: f"{m.ramp_rate * self._tscale():.6f},{m.ramp_upper_A:.6f}")
            r(f"RAMP:RATE:FIELD:{seg}?", lambda a: (
                f"{m.ramp_rate * m.coil_constant * self._fscale() * self._tscale():.6f},"
                f"{m.ramp_upper_A * m.coil_constant * self._fscale():.6f}"))
        r("CONF:RAMP:RATE:CURR", self._rate_curr)
        r("CONF:RAMP:RATE:FIELD", self._rate_field)
        r("CURR:MAG?", lambda a: f"{m.I_m:.6f}")
        r("CURR:SUPP?", lambda a: f"{m.I_s:.6f}")
        r("FIELD:MAG?", lambda a: f"{m.field_T * self._fscale():.6f}")
        r("FIELD:SUPP?", lambda a: f"{m.I_s * m.coil_constant * self._fscale():.6f}")
        r("VOLT:MAG?", lambda a: f"{m.magnet_voltage_V + self.noise(1e-4):.5f}")
        r("VOLT:SUPP?", lambda a: f"{m.supply_voltage_V + self.noise(1e-4):.5f}")
        r("STATE?", lambda a: str(m.state))
        r("RAMP", lambda a: self._err(m.ramp()))
        r("PAUSE", lambda a: m.pause())
        r("ZERO", lambda a: self._err(m.zero()))
        r("PS", self._ps)
        r("PS?", lambda a: str(int(m.heater_on)) if m.switch_installed else "0")
        r("PS:INST?", lambda a: str(int(m.switch_installed)))
        r("PS:HTIME?", lambda a: f"{m.heater_warm_s:g}")
        r("PS:CTIME?", lambda a: f"{m.heater_cool_s:g}")
        r("QU?", lambda a: str(int(m.quenched)))
        r("QU", self._qu)
        r("IND?", lambda a: f"{m.L:g}")
        r("SYST:LOC", lambda a: None)
        r("SYST:REM", lambda a: None)

    def reset(self):
        m = self.world.magnet
        m.pause()
        self.field_units = 0
        self.rate_units = 0

    def _fscale(self):
        return 10.0 if self.field_units == 0 else 1.0    # T -> kG

    def _tscale(self):
        return 60.0 if self.rate_units == 1 else 1.0

    @staticmethod
    def _bit(a):
        v = a.strip()
        if v not in ("0", "1"):
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        return int(v)

    @staticmethod
    def _err(msg):
        # a RAMP/ZERO/PS the state forbids (quench, switch in transition): an execution error
        # of the 430's -3xx class; the code and text are the simulator's own (docs/simulated_lab.md)
        if msg:
            raise CommandError(-300, msg[:80], native=True)

    def _ps(self, a):
        on = bool(self._bit(a))
        if on and not self.world.magnet.switch_installed:
            raise CommandError(-107, "No switch installed", native=True)   # the 420's code
        self._err(self.world.magnet.set_heater(on))

    def esr_bit(self, code: int) -> int:
        return {1: ESR_CME, 2: ESR_QYE, 3: ESR_EXE, 4: ESR_DDE}.get(-code // 100, 0)

    def status_byte(self) -> int:
        """*STB? of the 430 (4.2.3.1): bit 1 external rampdown (never, here), bit 2 quench,
        bit 3 message available, bit 5 standard event summary, bit 6 status byte summary."""
        stb = 4 if self.world.magnet.quenched else 0
        if self._output_pending:
            stb |= 8
        if self.esr & self.ese:
            stb |= STB_ESB
        if stb & self.sre & ~STB_MSS:
            stb |= STB_MSS
        return stb

    def _vlim(self, a):
        v = self.one_float(a)
        if not 0 < v <= 20:
            raise CommandError(-222, f"voltage limit {v} V outside (0, 20]")
        self.world.magnet.voltage_limit_V = v

    def _ilim(self, a):
        v = self.one_float(a)
        if not 0 < v <= 1000:
            raise CommandError(-222, f"current limit {v} A outside (0, 1000]")
        self.world.magnet.current_limit_A = v

    def _target(self, amps):
        m = self.world.magnet
        if abs(amps) > m.current_limit_A * (1 + 1e-9):
            raise CommandError(-222, f"target {amps:.6g} A exceeds the current limit {m.current_limit_A:g} A")
        m.target_A = amps

    def _rate_curr(self, a):
        v = self.floats(a)
        if len(v) < 2:
            raise CommandError(-109, "expected segment,rate[,upper]")
        seg, rate = int(v[0]), v[1] / self._tscale()
        if rate <= 0:
            raise CommandError(-222, f"ramp rate must be > 0, got {v[1]}")
        if seg == 1:
            self.world.magnet.ramp_rate = rate
            if len(v) > 2:
                self.world.magnet.ramp_upper_A = v[2]

    def _rate_field(self, a):
        m = self.world.magnet
        v = self.floats(a)
        if len(v) < 2:
            raise CommandError(-109, "expected segment,rate[,upper]")
        seg, rate = int(v[0]), v[1] / self._tscale() / self._fscale() / m.coil_constant
        if rate <= 0:
            raise CommandError(-222, f"ramp rate must be > 0, got {v[1]}")
        if seg == 1:
            m.ramp_rate = rate
            if len(v) > 2:
                m.ramp_upper_A = v[2] / self._fscale() / m.coil_constant

    def _qu(self, a):
        if self._bit(a):
            self.world.magnet.quench("quench set by QU 1")
        else:
            self.world.magnet.reset_quench()

"""American Magnetics Model 430 programmer driving the superconducting magnet.

Units, as the 430 manual gives them: CONF:FIELD:UNITS {0|1} / FIELD:UNITS? choose kilogauss (0,
the factory default the stock pymeasure driver assumes) or tesla (1) for every field the
programmer takes or answers (COIL? and CONF:COIL in kG/A or T/A, FIELD:MAG?, FIELD:SUPP?,
FIELD:TARG?, CONF:FIELD:TARG, RAMP:RATE:FIELD:n?, CONF:RAMP:RATE:FIELD and its upper bound);
CONF:RAMP:RATE:UNITS {0|1} / RAMP:RATE:UNITS? choose per second (0) or per minute (1) for
every ramp rate (field or current). Currents (CURR:*, CONF:CURR:LIM) are in A whatever the
units. The setting belongs to the programmer, not to a connection: what one client sets,
every other sees, as with the real supply.

Ramp segments: CONF:RAMP:RATE:SEG n (1 to 10) sets how many are in use; CONF:RAMP:RATE:CURR
and CONF:RAMP:RATE:FIELD take "segment,rate[,upper bound]"; RAMP:RATE:CURR:n? and
RAMP:RATE:FIELD:n? answer "rate,upper bound" (an error for a segment beyond the count in
use, as AMI's Magnet-DAQ parser does). The magnet ramps at the rate of the segment its
supply current is in (see magnet.py).

Persistent switch, in the words of AMI's own command reference (the Model 430 manual, 4.5.7,
and the command list AMI ships with its Magnet-DAQ application, which repeats the 430's):
PSwitch {0|1} heats or cools the switch; PSwitch? answers the heater state; PERSistent? "0 for
not persistent, 1 for persistent": the heater must be off, and the indication follows the
cooling time, so here it is 1 once the switch has cooled (STATE? no longer 10);
CONFigure:PSwitch {0|1} says whether a switch is installed (PSwitch:INSTalled?);
CONFigure:PSwitch:CURRent (mA) / PSwitch:CURRent?; CONFigure:PSwitch:HeatTIME and :CoolTIME (s)
with their queries. In persistent mode CURRent:MAGnet? and FIELD:MAGnet? answer "the current
[field] that was flowing in the magnet when persistent mode was last entered". A RAMP or ZERO
with the switch cold is not refused: the supply ramps its leads while the magnet stays
persistent (how a persistent magnet's leads are run down); clients such as QCoDeS refuse
that themselves after asking PERS?. INCR / DECR start MANUAL UP / MANUAL DOWN (STATE? 4 / 5),
ramping toward the +- current limit until PAUSE.
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
    # wall seconds from connect to the welcome lines. QCoDeS's AMIModel430 clears the device
    # on connect (pyvisa-py discards whatever arrives within 0.1 s of quiet) and only then reads
    # the welcome, which works on real 430s: their greeting comes later than that. An instant
    # greeting would be discarded and QCoDeS's read of it would time out.
    welcome_delay_s = 0.3

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

    @property
    def magnet(self):
        """The magnet this programmer drives: the z solenoid, or on a vector magnet the x or y
        split pair (params["axis"], given by the lab for magnet_supply_x / _y)."""
        return self.world.magnets[self.params.get("axis", "z")]

    def setup(self):
        self.field_units = 0      # 0 kG, 1 T
        self.rate_units = 0       # 0 s, 1 min
        m = self.magnet
        # the switch heater current (mA): a setting of the programmer, not used by the physics
        # (the switch here is warm HTIME s after PS 1, whatever the current)
        self.heater_current_mA = float(self.params.get("switch_heater_current_mA", 41.0))
        #: magnet current when persistent mode was last entered (PS 0), A: what CURR:MAG? and
        #: FIELD:MAG? report while the switch is cold (the 430 cannot measure it then)
        self.persistent_current_A = m.I_m
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
        r("RAMP:RATE:SEG?", lambda a: str(m.segment_count))
        r("CONF:RAMP:RATE:SEG", self._segment_count)
        r("RAMP:RATE:UNITS?", lambda a: str(self.rate_units))
        r("CONF:RAMP:RATE:UNITS", lambda a: setattr(self, "rate_units", self._bit(a)))
        r("FIELD:UNITS?", lambda a: str(self.field_units))
        r("CONF:FIELD:UNITS", lambda a: setattr(self, "field_units", self._bit(a)))
        for seg in range(1, mg.MAX_SEGMENTS + 1):
            r(f"RAMP:RATE:CURR:{seg}?", lambda a, k=seg - 1: self._segment_reply(k, False))
            r(f"RAMP:RATE:FIELD:{seg}?", lambda a, k=seg - 1: self._segment_reply(k, True))
        r("CONF:RAMP:RATE:CURR", lambda a: self._segment_rate(a, False))
        r("CONF:RAMP:RATE:FIELD", lambda a: self._segment_rate(a, True))
        r("CURR:MAG?", lambda a: f"{self._magnet_current():.6f}")
        r("CURR:SUPP?", lambda a: f"{m.I_s:.6f}")
        r("FIELD:MAG?", lambda a: f"{self._magnet_current() * m.coil_constant * self._fscale():.6f}")
        r("FIELD:SUPP?", lambda a: f"{m.I_s * m.coil_constant * self._fscale():.6f}")
        r("VOLT:MAG?", lambda a: f"{m.magnet_voltage_V + self.noise(1e-4):.5f}")
        r("VOLT:SUPP?", lambda a: f"{m.supply_voltage_V + self.noise(1e-4):.5f}")
        r("STATE?", lambda a: str(m.state))
        r("RAMP", lambda a: self._err(m.ramp()))
        r("PAUSE", lambda a: m.pause())
        r("INCR", lambda a: self._err(m.manual(True)))
        r("DECR", lambda a: self._err(m.manual(False)))
        r("ZERO", lambda a: self._err(m.zero()))
        r("PS", self._ps)
        r("PS?", lambda a: str(int(m.heater_on)) if m.switch_installed else "0")
        r("PS:INST?", lambda a: str(int(m.switch_installed)))
        r("CONF:PS", self._switch_installed)
        r("PERS?", lambda a: str(int(self._persistent())))
        r("PS:CURR?", lambda a: f"{self.heater_current_mA:.1f}")
        r("CONF:PS:CURR", self._heater_current)
        # whole seconds, as the 430 keeps them (QCoDeS parses the replies with int())
        r("PS:HTIME?", lambda a: f"{round(m.heater_warm_s):d}")
        r("CONF:PS:HTIME", lambda a: setattr(m, "heater_warm_s", self._seconds(a, 5, 120)))
        r("PS:CTIME?", lambda a: f"{round(m.heater_cool_s):d}")
        r("CONF:PS:CTIME", lambda a: setattr(m, "heater_cool_s", self._seconds(a, 5, 3600)))
        r("QU?", lambda a: str(int(m.quenched)))
        r("QU", self._qu)
        r("IND?", lambda a: f"{m.L:g}")
        r("SYST:LOC", lambda a: None)
        r("SYST:REM", lambda a: None)

    def reset(self):
        m = self.magnet
        m.pause()
        self.field_units = 0
        self.rate_units = 0

    def _fscale(self):
        """Field units per tesla: 10 (kG) or 1 (T)."""
        return 10.0 if self.field_units == 0 else 1.0

    def _tscale(self):
        """Seconds per rate time unit: 1 (per second) or 60 (per minute)."""
        return 60.0 if self.rate_units == 1 else 1.0

    def _amps_per_unit(self):
        """A per field unit (kG or T): 1 / (coil constant in that unit)."""
        return 1.0 / (self.magnet.coil_constant * self._fscale())

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
        m = self.magnet
        if on and not m.switch_installed:
            raise CommandError(-107, "No switch installed", native=True)   # the 420's code
        was_on = m.heater_on
        self._err(m.set_heater(on))
        if was_on and not m.heater_on:
            self.persistent_current_A = m.I_m

    def _persistent(self) -> bool:
        """PERS?: a switch installed, its heater off and the switch cooled."""
        m = self.magnet
        return m.switch_installed and not m.heater_on and m.state != mg.COOLING

    def _magnet_current(self) -> float:
        """CURR:MAG?: the measured magnet current, or, with the switch cold, the current when
        persistent mode was entered (a quench is seen: the 430 detects it)."""
        m = self.magnet
        if m.switch_installed and not m.heater_on and not m.quenched:
            return self.persistent_current_A
        return m.I_m

    def _switch_installed(self, a):
        """CONF:PS {0|1}: is a persistent switch installed. Declaring one leaves its heater off
        (the switch cools and the magnet goes persistent); removing one connects the magnet
        to the supply, so it is refused (the simulator's own -300) unless the two currents
        agree and nothing is ramping or switching."""
        installed = bool(self._bit(a))
        m = self.magnet
        if installed == m.switch_installed:
            return
        if m.state in (mg.RAMPING, mg.ZEROING, mg.MANUAL_UP, mg.MANUAL_DOWN, mg.HEATING, mg.COOLING):
            self._err("cannot change the switch setting while ramping or switching")
        if not installed and abs(m.I_s - m.I_m) > m.mismatch_tol:
            self._err("cannot remove the switch: supply and magnet currents differ")
        if installed:
            m.switch_installed = True
            m.set_heater(False)               # heater off: the switch cools (STATE? 10)
            self.persistent_current_A = m.I_m
        else:
            m.switch_installed = False
            m.heater_on = True                # no switch: the magnet follows the supply

    def _heater_current(self, a):
        v = self.one_float(a)
        if not 0 <= v <= 125:                 # mA; QCoDeS's AMI430SwitchHeater allows 0..125
            raise CommandError(-222, f"switch heater current {v} mA outside 0..125")
        self.heater_current_mA = v

    def _seconds(self, a, low, high):
        v = self.one_float(a)
        if v != int(v):
            raise CommandError(-104, f"{a!r} is not a whole number of seconds")
        if not low <= v <= high:
            raise CommandError(-222, f"{v:g} s outside {low}..{high}")
        return float(v)

    def esr_bit(self, code: int) -> int:
        return {1: ESR_CME, 2: ESR_QYE, 3: ESR_EXE, 4: ESR_DDE}.get(-code // 100, 0)

    def status_byte(self) -> int:
        """*STB? of the 430 (4.2.3.1): bit 1 external rampdown (never, here), bit 2 quench,
        bit 3 message available, bit 5 standard event summary, bit 6 status byte summary."""
        stb = 4 if self.magnet.quenched else 0
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
        self.magnet.voltage_limit_V = v

    def _ilim(self, a):
        v = self.one_float(a)
        if not 0 < v <= 1000:
            raise CommandError(-222, f"current limit {v} A outside (0, 1000]")
        self.magnet.current_limit_A = v

    def _target(self, amps):
        m = self.magnet
        if abs(amps) > m.current_limit_A * (1 + 1e-9):
            raise CommandError(-222, f"target {amps:.6g} A exceeds the current limit {m.current_limit_A:g} A")
        m.target_A = amps

    def _segment_count(self, a):
        v = self.one_float(a)
        if v != int(v) or not 1 <= v <= mg.MAX_SEGMENTS:
            raise CommandError(-222, f"ramp segments {a!r} outside 1..{mg.MAX_SEGMENTS}")
        self.magnet.segment_count = int(v)

    def _segment_index(self, value: float) -> int:
        if value != int(value) or not 1 <= value <= mg.MAX_SEGMENTS:
            raise CommandError(-222, f"ramp segment {value:g} outside 1..{mg.MAX_SEGMENTS}")
        return int(value) - 1

    def _segment_reply(self, k: int, field: bool) -> str:
        m = self.magnet
        if k >= m.segment_count:
            raise CommandError(-222, f"ramp segment {k + 1} is beyond the {m.segment_count} in use")
        rate_A_s, upper_A = m.segments[k]
        per_A = 1.0 / self._amps_per_unit() if field else 1.0       # field units per A, or 1
        # ten significant digits: a slow ramp in T/s is a small number
        return f"{rate_A_s * self._tscale() * per_A:.10g},{upper_A * per_A:.6f}"

    def _segment_rate(self, a, field: bool):
        """CONF:RAMP:RATE:CURR / :FIELD segment,rate[,upper bound] in the present units."""
        v = self.floats(a)
        if len(v) not in (2, 3):
            raise CommandError(-109, "expected segment,rate[,upper bound]")
        k = self._segment_index(v[0])
        to_A = self._amps_per_unit() if field else 1.0
        rate = v[1] / self._tscale() * to_A
        if not rate > 0:
            raise CommandError(-222, f"ramp rate must be > 0, got {v[1]}")
        segment = self.magnet.segments[k]
        segment[0] = rate
        if len(v) == 3:
            if v[2] < 0:
                raise CommandError(-222, f"upper bound must be >= 0, got {v[2]}")
            segment[1] = v[2] * to_A

    def _qu(self, a):
        if self._bit(a):
            self.magnet.quench("quench set by QU 1")
        else:
            self.magnet.reset_quench()

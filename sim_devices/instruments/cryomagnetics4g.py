"""Cryomagnetics Model 4G superconducting magnet power supply driving the lab's magnet.

The same superconducting magnet (sim_devices/magnet.py) the AMI 430 twin drives: the 4G's
sweep commands move the supply current I_s at the rate of its present range, limited by the
magnet's inductance and the voltage limit (L dI/dt <= VLIM), exactly as the 430 twin's ramp;
the persistent-switch heater takes the magnet's warm/cool times and a persistent magnet's
current decays with the shared model's L/R time constant.

Sources. The 4G's operating instruction manual could not be found in the reference corpora;
the command set below is the one every independent client agrees on, with each client named
where it is the only source:

- QCoDeS's CryomagneticsModel4G (microsoft/Qcodes, src/qcodes/instrument_drivers/
  cryomagnetics/_cryomagnetics4g.py and its sim file src/qcodes/instrument/sims/cryo4g.yaml):
  *IDN? "Cryomagnetics,4G,2239,1.02,208" (quoted from that sim file), REMOTE / LOCAL,
  UNITS / UNITS? with A, kG and T, IMAG? answered in kG ("<number>kG"), ULIM / LLIM in the
  present units, SWEEP UP / DOWN / PAUSE / ZERO, RANGE n limit and RATE n rate (A/s),
  RATE? n, VMAG? / VOUT? ("<number>V"), IOUT?, QRESET, and *STB? bits 0 sweep active,
  1 standby, 2 quench condition present, 3 power module failure;
- Lab::Measurement's Lab::Moose::Instrument::Cryomagnetics_4G (metacpan): UNITS A | G (G is
  kilogauss; "Uses either Amps or kilo Gauss, depending on units setting"), RANGE 0..4,
  RATE 0..5 (5 the fast-sweep rate), SWEEP UP | UP FAST | DOWN | DOWN FAST | PAUSE | ZERO |
  LIMIT, PSHTR 0/1 and PSHTR? "0 or 1", MODE? "Shim" or "Manual", VLIM / VLIM?;
- atomize's Cryomagnetics_4G module (its Ethernet driver): PSHTR ON | OFF, CHAN 1|2 / CHAN? on
  dual-channel units, the IMAG text: with the heater ON IMAG? answers the supply current,
  with it OFF "the value of the power supply output current when the persistent switch
  heater was last turned off"; IMAG <value> sets that stored value; SWEEP ... FAST uses the
  fast rate "instead of a rate selected from the output current range. SLOW is required to
  change from fast sweep"; replies such as "sweep up fast" (SWEEP?);
- mr_freeze's InstrumentKit driver (RS-232, 9600 baud): replies end with CR LF, and on the
  serial port the 4G echoes each command line before its reply.

What the twin decides itself (docs/simulated_lab.md lists it): the field readings stay in kG
when UNITS T is chosen (reconciling QCoDeS, which sets T and parses kG, with the A/kG of the
others); setting commands are refused in LOCAL (the front panel owns the supply; REMOTE
first); a refused command sets *ESR? bits (CME for an unknown command, EXE for an argument
out of range or a command the state forbids) -- there is no error queue; ERROR 0/1 is kept and
answered by ERROR? but the texts of the 4G's error replies were not found, so none are sent.
A single-channel unit: CHAN 1 only.
"""
from __future__ import annotations

from .. import magnet as mg
from .base import CommandError, STB_ESB, STB_MSS, SimInstrument

#: the 4G's sweep ranges: RANGE 0..4 set their upper bounds (A; Lab::Moose selects 0..4,
#: QCoDeS's example 1..4), the last range's rate applies beyond its bound up to the supply's
#: limit; RATE 0..4 their rates, RATE 5 the fast rate (A/s)
N_RANGES = 5
FAST = 5
#: the 4G-100's output, A (the model's rating: station validation refuses more)
MAX_OUTPUT_A = 100.0
MAX_VLIM_V = 10.0


class Cryomagnetics4G(SimInstrument):
    name = "magnet_supply"
    model = "Cryomagnetics 4G"
    # the form of QCoDeS's recorded sim reply (cryo4g.yaml), this unit's own serial number
    idn = "Cryomagnetics,4G,2417,1.02,208"
    reply_termination = "\r\n"
    scpi = False
    error_queue_size = 0
    # RS-232 (mr_freeze, an InstrumentKit driver run on a real unit): 9600 baud 8N1, lines
    # end with CR LF, each command line is echoed before the reply
    serial_port = {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r\n", "line_ends": "\r\n",
                   "echo": True}

    def setup(self):
        m = self.world.magnet
        self.units = "A"          # as set: A, G, kG or T (fields in kG unless A)
        self.remote = False       # power-on: local (front panel)
        self.error_mode = 0
        self.fast = False
        m.current_limit_A = min(m.current_limit_A, MAX_OUTPUT_A)
        self.upper_A = 0.0        # ULIM, A
        self.lower_A = 0.0        # LLIM, A
        # ranges: bounds of ranges 0..3, and rates 0..5 (A/s); the factory-like default: one
        # rate everywhere (the magnet config's ramp rate), bounds spread to the limit
        top = m.current_limit_A
        self.range_bounds = [top * f for f in (0.25, 0.5, 0.75, 0.9, 1.0)]
        self.rates = [m.ramp_rate] * N_RANGES + [m.ramp_rate]
        #: the supply current when the heater last went off, A (IMAG? while persistent)
        self.persistent_current_A = m.I_m
        self._sweep = "PAUSE"     # what SWEEP? reports while moving: UP, DOWN, ZERO
        self._apply_ranges()
        r = self.register
        r("*IDN?", lambda a: self.idn)
        r("REMOTE", lambda a: setattr(self, "remote", True))
        r("LOCAL", lambda a: setattr(self, "remote", False))
        r("UNITS", self._set_units)
        r("UNITS?", lambda a: self.units)
        r("IMAG?", lambda a: self._reading(self._magnet_current()))
        r("IMAG", self._set_imag)
        r("IOUT?", lambda a: self._reading(m.I_s))
        r("VMAG?", lambda a: f"{m.magnet_voltage_V + self.noise(1e-4):.3f}V")
        r("VOUT?", lambda a: f"{m.supply_voltage_V + self.noise(1e-4):.3f}V")
        r("ULIM", lambda a: self._limit(a, upper=True))
        r("ULIM?", lambda a: self._reading(self.upper_A))
        r("LLIM", lambda a: self._limit(a, upper=False))
        r("LLIM?", lambda a: self._reading(self.lower_A))
        r("VLIM", self._vlim)
        r("VLIM?", lambda a: f"{m.voltage_limit_V:.3f}V")
        r("RANGE", self._range)
        r("RANGE?", self._range_query)
        r("RATE", self._rate)
        r("RATE?", self._rate_query)
        r("SWEEP", self._sweep_cmd)
        r("SWEEP?", lambda a: self._sweep_reply())
        r("PSHTR", self._pshtr)
        r("PSHTR?", lambda a: str(int(m.heater_on)) if m.switch_installed else "0")
        r("QRESET", self._qreset)
        r("MODE?", lambda a: "Manual")
        r("CHAN", self._chan)
        r("CHAN?", lambda a: "1")
        r("ERROR", self._error_mode)
        r("ERROR?", lambda a: str(self.error_mode))

    def reset(self):
        """*RST: the sweep paused, units A, fast mode off (the magnet is not touched)."""
        self.world.magnet.pause()
        self._sweep = "PAUSE"
        self.units = "A"
        self.fast = False
        self._apply_ranges()

    # ---------------------------------------------------------------- units and readings
    def _per_A(self) -> float:
        """Reading units per ampere: 1 (A), or kG per A."""
        if self.units == "A":
            return 1.0
        return self.world.magnet.coil_constant * 10.0

    def _unit_suffix(self) -> str:
        return "A" if self.units == "A" else "kG"

    def _reading(self, amps: float) -> str:
        return f"{amps * self._per_A():.4f}{self._unit_suffix()}"

    def _amps(self, a: str) -> float:
        """An argument in the present units (a trailing unit is allowed) -> A."""
        text = a.strip()
        for suffix in ("kG", "KG", "kg", "A", "a", "G", "T"):
            if text.endswith(suffix):
                text = text[: -len(suffix)].strip()
                break
        return self.one_float(text) / self._per_A()

    def _need_remote(self):
        if not self.remote:
            raise CommandError(-200, "local mode: send REMOTE first")

    def _set_units(self, a):
        self._need_remote()
        value = a.strip()
        if value.upper() in ("A", "G", "T"):
            self.units = value.upper()
        elif value.upper() == "KG":
            self.units = "kG"
        else:
            raise CommandError(-224, f"units {a!r}: A, G, kG or T")

    def _magnet_current(self) -> float:
        m = self.world.magnet
        if m.switch_installed and not m.heater_on and not m.quenched:
            return self.persistent_current_A
        return m.I_m

    def _set_imag(self, a):
        """IMAG <value>: the stored magnet current, only with the heater off (it tells the
        supply what a persistent magnet carries, e.g. after a power cycle)."""
        self._need_remote()
        m = self.world.magnet
        if m.heater_on:
            raise CommandError(-221, "IMAG only with the switch heater off")
        self.persistent_current_A = self._amps(a)

    # ---------------------------------------------------------------- limits and ranges
    def _limit(self, a, upper: bool):
        self._need_remote()
        amps = self._amps(a)
        if abs(amps) > self.world.magnet.current_limit_A * (1 + 1e-9):
            raise CommandError(-222, f"sweep limit {amps:g} A beyond the supply's limit")
        if upper:
            self.upper_A = amps
        else:
            self.lower_A = amps
        self._retarget()

    def _vlim(self, a):
        self._need_remote()
        v = self.one_float(a.strip().rstrip("Vv"))
        if not 0 < v <= MAX_VLIM_V:
            raise CommandError(-222, f"voltage limit {v} V outside (0, {MAX_VLIM_V}]")
        self.world.magnet.voltage_limit_V = v

    def _index(self, text: str, count: int) -> int:
        try:
            v = float(text)
        except ValueError:
            raise CommandError(-104, f"range {text!r}") from None
        if v != int(v) or not 0 <= v < count:
            raise CommandError(-222, f"range {text!r} outside 0..{count - 1}")
        return int(v)

    def _pair(self, a: str) -> tuple[str, str]:
        parts = a.replace(",", " ").split()
        if len(parts) != 2:
            raise CommandError(-109, "expected <range> <value>")
        return parts[0], parts[1]

    def _range(self, a):
        self._need_remote()
        which, value = self._pair(a)
        k = self._index(which, N_RANGES)
        bound = self.one_float(value)
        if not 0 < bound <= self.world.magnet.current_limit_A:
            raise CommandError(-222, f"range bound {bound:g} A outside (0, limit]")
        self.range_bounds[k] = bound
        self._apply_ranges()

    def _range_query(self, a):
        k = self._index(a.strip() or "0", N_RANGES)
        return f"{self.range_bounds[k]:.4f}"

    def _rate(self, a):
        self._need_remote()
        which, value = self._pair(a)
        k = self._index(which, N_RANGES + 1)
        rate = self.one_float(value)
        if not rate > 0:
            raise CommandError(-222, f"rate {rate:g} A/s must be > 0")
        self.rates[k] = rate
        self._apply_ranges()

    def _rate_query(self, a):
        k = self._index(a.strip() or "0", N_RANGES + 1)
        return f"{self.rates[k]:.4f}"

    def _apply_ranges(self):
        """The 4G's ranges as the shared magnet's ramp segments: range k up to its bound at
        RATE k; in fast mode one segment at the fast rate (RATE 5)."""
        m = self.world.magnet
        if self.fast:
            m.segment_count = 1
            m.segments[0] = [self.rates[FAST], m.current_limit_A]
            return
        # ranges in the order of their bounds (each keeps its own rate)
        for k, (bound, rate) in enumerate(sorted(zip(self.range_bounds, self.rates[:N_RANGES]))):
            m.segments[k] = [rate, bound]
        m.segment_count = N_RANGES

    # ---------------------------------------------------------------- sweeps
    def _retarget(self):
        """A sweep under way follows a new limit (ULIM during SWEEP UP)."""
        m = self.world.magnet
        if self._sweep == "UP" and m.state in (mg.RAMPING, mg.HOLDING):
            m.target_A = self.upper_A
        elif self._sweep == "DOWN" and m.state in (mg.RAMPING, mg.HOLDING):
            m.target_A = self.lower_A

    def _sweep_cmd(self, a):
        self._need_remote()
        words = a.upper().split()
        if not words:
            raise CommandError(-109, "SWEEP UP|DOWN|PAUSE|ZERO [FAST|SLOW]")
        mode, speed = words[0], words[1:]
        if speed not in ([], ["FAST"], ["SLOW"]) or mode not in ("UP", "DOWN", "PAUSE", "ZERO", "LIMIT"):
            raise CommandError(-224, f"SWEEP {a!r}")
        if mode == "LIMIT":     # shim mode only; this unit is in Manual mode
            raise CommandError(-221, "SWEEP LIMIT needs shim mode")
        m = self.world.magnet
        if speed == ["FAST"]:
            self.fast = True
        elif speed == ["SLOW"]:
            self.fast = False
        self._apply_ranges()
        if mode == "PAUSE":
            m.pause()
            self._sweep = "PAUSE"
            return
        if mode == "ZERO":
            err = m.zero()
        else:
            m.target_A = self.upper_A if mode == "UP" else self.lower_A
            err = m.ramp()
        if err:
            raise CommandError(-221, err)
        self._sweep = mode

    def _sweep_reply(self) -> str:
        m = self.world.magnet
        fast = " fast" if self.fast else ""
        if m.state == mg.ZEROING:
            return "zeroing" + fast
        if m.state == mg.RAMPING:
            return ("sweep up" if self._sweep == "UP" else "sweep down") + fast
        if m.state == mg.AT_ZERO or (m.state == mg.PAUSED and m.I_s == 0.0):
            return "standby"
        return "sweep paused"

    def _pshtr(self, a):
        self._need_remote()
        word = a.strip().upper()
        if word not in ("ON", "OFF", "1", "0"):
            raise CommandError(-224, f"PSHTR {a!r}: ON or OFF")
        on = word in ("ON", "1")
        m = self.world.magnet
        if not m.switch_installed:
            raise CommandError(-221, "no persistent switch installed")
        was_on = m.heater_on
        err = m.set_heater(on)
        if err:
            raise CommandError(-221, err)
        if was_on and not m.heater_on:
            self.persistent_current_A = m.I_m

    def _qreset(self, a):
        self._need_remote()
        self.world.magnet.reset_quench()

    def _chan(self, a):
        if a.strip() != "1":
            raise CommandError(-222, f"CHAN {a!r}: a single-channel unit has channel 1 only")

    def _error_mode(self, a):
        if a.strip() not in ("0", "1"):
            raise CommandError(-224, f"ERROR {a!r}: 0 or 1")
        self.error_mode = int(a.strip())

    # ---------------------------------------------------------------- status
    def status_byte(self) -> int:
        """*STB?: bit 0 sweep active, 1 standby (output at zero, nothing sweeping), 2 quench
        condition present, 3 power module failure (never here), 4 message available,
        5 ESB, 6 MSS (the bit meanings QCoDeS's driver reads)."""
        m = self.world.magnet
        stb = 0
        if m.state in (mg.RAMPING, mg.ZEROING):
            stb |= 1
        elif m.I_s == 0.0 and not m.quenched:
            stb |= 2
        if m.quenched:
            stb |= 4
        if self._output_pending:
            stb |= 16
        if self.esr & self.ese:
            stb |= STB_ESB
        if stb & self.sre & ~STB_MSS:
            stb |= STB_MSS
        return stb

"""Lake Shore Model 475 DSP gaussmeter (Hall probe) at the sample position.

It reads the same world field as the 425 in the gaussmeter slot (``world.field_T``, coil plus
magnet) and differs from it where the 475 differs:

- *IDN? LSCI,MODEL475,<serial>,<firmware>; chapter 6 of the Model 475 manual (p. 6-1): an
  IEEE-488.2 interface and a serial interface with one shared command set, one in use at a time.
- Ranges: five per probe, lowest first, a decade apart, by probe kind (TYPE? 40 HSE, 41 HST,
  42 UHS): HST 35 G .. 350 kG, HSE 3.5 G .. 35 kG, UHS 35 mG .. 350 G (35 mG to 350 kG over
  the three, as InstrumentKit's Lakeshore475 describes the unit). This twin carries an HST
  probe (a high-stability probe for a lab that reaches 9 T) on range 4, 35 kG.
- RDGMODE <mode>,<dig res>,<filter>,<peak mode>,<peak disp>: mode 1 DC, 2 RMS, 3 peak; dig
  res 1..3 = 3, 4, 5 digits (a reading is rounded to that many digits of the range's full
  scale); filter 1 wide band, 2 narrow band, 3 low pass; peak mode 1 periodic, 2 pulse; peak
  display 1 positive, 2 negative, 3 both (InstrumentKit's Lakeshore475 and its recorded test
  "RDGMODE 1,2,3,2,1").
- AUTO 0|1 (auto range; RANGE turns it off), FILT 0|1 (the reading filter), UNIT 1..4 =
  G, T, Oe, A/m, ZPROBE (zero the probe), TYPE?.
- Readings ±nnn.nnnE±nn (manual p. 6-38: RDGMNMX?, RDGPEAK?, RDGREL? all in that form):
  RDGFIELD?, RDGMNMX? (min,max), RDGPEAK? (negative,positive peak), RDGREL?, REL <off/on>,
  <setpoint source> (p. 6-38: 1 user setpoint, 2 present field), RELSP. Not modelled:
  RDGTEMP?, RDGOHM?, RDGFRQ?, the field control (CSETP, CPARAM, CMODE), alarms, the analog
  outputs: an undefined header sets CME, as the real unit does for one it does not know.
- Over range: RDGFIELD? answers "OL" (what the front panel shows; the RDGFIELD? page was
  not readable).
- Status (manual 6.1.4, p. 6-7 and 6-28): no error queue; a refused command sets *ESR? bit 5
  CME (unknown header, malformed argument) or bit 4 EXE (a value outside its list); *ESR?
  clears when read and *CLS clears it; *STB? is not latched (the ESB summary bit follows
  *ESR? & *ESE); *OPC? answers 1; *TST? 0 (no errors at power up).
- Terminators: replies end with CR LF; a command ends with LF (CR LF accepted).
"""
from __future__ import annotations

import math

from ..constants import MU_0
from .base import CommandError, SimInstrument
from .lakeshore425 import ls425_number

#: full scale of RANGE 1..5 in G, by probe kind (lowest first)
RANGES_G = {
    "HST": (35.0, 350.0, 3.5e3, 35e3, 350e3),
    "HSE": (3.5, 35.0, 350.0, 3.5e3, 35e3),
    "UHS": (0.035, 0.35, 3.5, 35.0, 350.0),
}
TYPE_CODES = {"HSE": 40, "HST": 41, "UHS": 42}
UNIT_NAMES = {1: "G", 2: "T", 3: "Oe", 4: "A/m"}

# the same number format as the 425's (manual p. 6-38)
ls475_number = ls425_number


class LakeShore475(SimInstrument):
    name = "gaussmeter"
    model = "Lake Shore 475"
    idn = "LSCI,MODEL475,4750347,03102006"
    reply_termination = "\r\n"
    # The serial port: 9600 baud (300, 1200 selectable), 7 data bits, odd parity, 1 stop bit,
    # no handshake, CR LF (see instruments/visa_interfaces.py for where that comes from).
    serial_port = {"baud_rate": 9600, "data_bits": 7, "parity": "odd", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r\n", "line_ends": "\n"}
    scpi = False
    error_queue_size = 0     # no SYST:ERR?: errors only set *ESR? bits
    stb_eav_bit = 0
    probe_kind = "HST"

    def setup(self):
        self.reset()
        self.offset_G = float(self.params.get("probe_offset_G", 0.0))
        # the reading noise, rms, as a fraction of the range's full scale
        self.noise_frac = float(self.params.get("noise_fraction_of_range", 1e-4))
        r = self.register
        r("RDGFIELD?", self._read)
        r("UNIT?", lambda a: str(self.unit))
        r("UNIT", lambda a: setattr(self, "unit", self._choice(a, tuple(UNIT_NAMES))))
        r("RANGE?", lambda a: str(self.range))
        r("RANGE", self._range)
        r("AUTO", lambda a: setattr(self, "auto", bool(self._choice(a, (0, 1)))))
        r("AUTO?", lambda a: str(int(self.auto)))
        r("RDGMODE?", lambda a: ",".join(str(x) for x in self.rdgmode))
        r("RDGMODE", self._mode)
        r("FILT", lambda a: setattr(self, "filter_on", bool(self._choice(a, (0, 1)))))
        r("FILT?", lambda a: str(int(self.filter_on)))
        r("ZPROBE", lambda a: setattr(self, "offset_G", 0.0))
        r("TYPE?", lambda a: str(TYPE_CODES[self.probe_kind]))
        r("RDGMNMX?", lambda a: f"{ls475_number(self._in_units(self.min_reading))},"
                                f"{ls475_number(self._in_units(self.max_reading))}")
        r("RDGPEAK?", lambda a: f"{ls475_number(self._in_units(min(self.min_reading, 0.0)))},"
                                f"{ls475_number(self._in_units(max(self.max_reading, 0.0)))}")
        r("REL", self._rel)
        r("REL?", lambda a: f"{int(self.relative)},{self.rel_source}")
        r("RELSP", self._relsp)
        r("RELSP?", lambda a: ls475_number(self.rel_setpoint))
        r("RDGREL?", self._read_relative)

    def reset(self):
        """*RST: the power-up settings (as the sim starts): UNIT G, range 4, DC at 5 digits."""
        self.unit, self.range, self.auto = 1, 4, False
        self.rdgmode = (1, 3, 1, 1, 1)
        self.filter_on = False
        self.relative, self.rel_source, self.rel_setpoint = False, 1, 0.0
        self.min_reading = self.max_reading = 0.0   # RDGMNMX? since the last reset, in G

    # the field ------------------------------------------------------------------------
    @property
    def ranges_G(self) -> tuple:
        return RANGES_G[self.probe_kind]

    def _true_G(self):
        return self.world.field_T * 1e4 + self.offset_G

    def _read_G(self) -> float | None:
        """One reading in G as the display has it (None: over range)."""
        b = self._true_G()
        if self.auto:
            self.range = next((i + 1 for i, rg in enumerate(self.ranges_G) if abs(b) <= rg * 0.95),
                              len(self.ranges_G))
        rg = self.ranges_G[self.range - 1]
        if abs(b) > rg:
            return None
        # the filter averages readings: a quarter of the noise of a single one
        sigma = self.noise_frac * rg * (0.25 if self.filter_on else 1.0)
        g = b + self.noise(sigma)
        if self.rdgmode[0] == 2:       # RMS: a static field has no AC part, only noise
            g = abs(self.noise(sigma))
        # 3, 4 or 5 digits on the range: 35.000 kG (5 digits) steps by 1 G
        step = 10.0 ** (math.floor(math.log10(rg)) + 1 - (self.rdgmode[1] + 2))
        g = round(g / step) * step
        self.min_reading = min(self.min_reading, g)
        self.max_reading = max(self.max_reading, g)
        return g

    def _read(self, a):
        g = self._read_G()
        return "OL" if g is None else ls475_number(self._in_units(g))

    def _in_units(self, gauss: float) -> float:
        """A field in G, in the present UNIT (1 G = 1 Oe in free space = 1e-4 T)."""
        t = gauss * 1e-4
        return {1: gauss, 2: t, 3: gauss, 4: t / MU_0}[self.unit]

    def _read_relative(self, a):
        g = self._read_G()
        if g is None:
            return "OL"
        return ls475_number(self._in_units(g) - self.rel_setpoint)

    # settings -------------------------------------------------------------------------
    def _choice(self, a, allowed):
        v = self.one_float(a)
        if v != int(v) or int(v) not in allowed:
            raise CommandError(-222, f"{a!r} not one of {allowed}")
        return int(v)

    def _range(self, a):
        self.range, self.auto = self._choice(a, (1, 2, 3, 4, 5)), False

    def _mode(self, a):
        parts = a.split(",")
        if len(parts) != 5:
            raise CommandError(-109, "RDGMODE needs mode,dig res,filter,peak mode,peak disp")
        allowed = ((1, 2, 3), (1, 2, 3), (1, 2, 3), (1, 2), (1, 2, 3))
        self.rdgmode = tuple(self._choice(p, ok) for p, ok in zip(parts, allowed))

    def _rel(self, a):
        parts = a.split(",")
        if len(parts) != 2:
            raise CommandError(-109, "REL needs <off/on>,<setpoint source>")
        on, source = self._choice(parts[0], (0, 1)), self._choice(parts[1], (1, 2))
        if on and source == 2:             # the present field becomes the setpoint
            g = self._read_G()
            self.rel_setpoint = 0.0 if g is None else self._in_units(g)
        self.relative, self.rel_source = bool(on), source

    def _relsp(self, a):
        v = self.one_float(a)
        if not math.isfinite(v) or abs(v) > self._in_units(max(self.ranges_G)) * (1 + 1e-9):
            raise CommandError(-222, f"relative setpoint {v} beyond the largest range")
        self.rel_setpoint = v

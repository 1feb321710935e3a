"""Lake Shore Model 425 gaussmeter (Hall probe) at the sample position.

RANGE 1..4 = 35 G, 350 G, 3.5 kG, 35 kG. Above the selected range RDGFIELD? answers "OL"
(what the front panel shows; RDGSTATUS? sets bit 5, 32 = overload), so a float cast fails
loudly instead of returning a wrong number. Noise: a fixed fraction of the range, rms.

No error queue: a refused command sets *ESR? bit 5 CME (unrecognized header, malformed
argument) or bit 4 EXE (a range or unit outside the list), as Lake Shore's gaussmeters do
(the Model 475 manual, 6.1.4).

The Model 425 manual (chapter 6, "Computer Interface Operation", pp. 52-57 as far as they could
be read): field values are answered as +-nnn.nnnE+-nn (six digits, three before the point, a
two-digit signed exponent: "+123.456E-01" is 12.3456, the manual's example that pymeasure's
test_lakeshore425.py records); *IDN? LSCI,MODEL425,<7-digit serial>,n.n; UNIT 1..4 = gauss,
tesla, oersted, ampere/metre; RDGMODE? <mode>,<filter>,<band>; RDGMX? the most recent maximum
reading; RDGMNMX? min,max (the 425 "will always return zero for the minimum value"); REL
0|1, RELSP, RDGREL? (the reading less the relative setpoint); TYPE? 40 (high sensitivity
probe). Pages 53-55 (RANGE, RDGFIELD?, RDGMODE's value lists, AUTO, ZPROBE) were not readable;
their values follow pymeasure's LakeShore425 (RANGE 1..4 for 35 G .. 35 kG; RDGMODE mode 1 DC
/ 2 RMS, filter 0/1, band 1 wide / 2 narrow).
"""
from __future__ import annotations

from ..constants import MU_0
from .base import CommandError, SimInstrument

RANGES_G = (35.0, 350.0, 3500.0, 35000.0)
UNIT_NAMES = {1: "G", 2: "T", 3: "Oe", 4: "A/m"}


def ls425_number(x: float) -> str:
    """x as +-nnn.nnnE+-nn: six significant digits, three of them before the point."""
    if x == 0.0 or x != x:
        return "+000.000E+00"
    mantissa, exponent = f"{x:+.5E}".split("E")      # +d.ddddd, exponent of that form
    digits = mantissa[1] + mantissa[3:]               # the six significant digits
    return f"{mantissa[0]}{digits[:3]}.{digits[3:]}E{int(exponent) - 2:+03d}"


class LakeShore425(SimInstrument):
    name = "gaussmeter"
    model = "Lake Shore 425"
    idn = "LSCI,MODEL425,4250123,1.6"
    reply_termination = "\r\n"
    # The 425's computer port is USB, a USB-serial bridge the PC sees as a COM port: 57600
    # baud, 7 data bits, odd parity, 1 stop bit, terminators CR LF (pymeasure's LakeShore425
    # asrl defaults, "from manual"; the manual's section 6.2 page itself could not be had).
    # Section 6.2.5 of the manual: no communication for 30 ms after a command or a reply, and
    # no more than 30 a second, or communication fails intermittently: such a message is lost.
    serial_port = {"baud_rate": 57600, "data_bits": 7, "parity": "odd", "stop_bits": 1,
                   "flow_control": "none", "reply_termination": "\r\n", "line_ends": "\n"}
    serial_pacing = (0.030, 30)
    scpi = False
    error_queue_size = 0     # no SYST:ERR?: errors only set *ESR? bits
    stb_eav_bit = 0

    def setup(self):
        self.unit = 1
        self.range = 4
        self.auto = False
        self.rdgmode = (1, 0, 1)
        self.offset_G = float(self.params.get("probe_offset_G", 0.0))
        self.relative = False
        self.rel_setpoint = 0.0          # in the present units, as RELSP takes it
        self.max_reading = 0.0           # RDGMX?, in G: the largest |reading| taken (the simulator reads when asked)
        self.noise_frac = float(self.params.get("noise_fraction_of_range", 1e-4))
        r = self.register
        r("RDGFIELD?", self._read)
        r("UNIT?", lambda a: str(self.unit))
        r("UNIT", self._unit)
        r("RANGE?", lambda a: str(self.range))
        r("RANGE", self._range)
        r("AUTO", lambda a: setattr(self, "auto", True))
        r("AUTO?", lambda a: str(int(self.auto)))
        r("RDGMODE?", lambda a: ",".join(str(x) for x in self.rdgmode))
        r("RDGMODE", self._mode)
        r("ZPROBE", lambda a: setattr(self, "offset_G", 0.0))
        r("RDGSTATUS?", lambda a: "32" if self._overload() else "0")
        r("TYPE?", lambda a: "40")
        r("RDGMX?", lambda a: ls425_number(self._in_units(self.max_reading)))
        r("RDGMNMX?", lambda a: f"{ls425_number(0.0)},{ls425_number(self._in_units(self.max_reading))}")
        r("REL", lambda a: setattr(self, "relative", bool(self._choice(a, (0, 1)))))
        r("REL?", lambda a: str(int(self.relative)))
        r("RELSP", self._relsp)
        r("RELSP?", lambda a: ls425_number(self.rel_setpoint))
        r("RDGREL?", self._read_relative)
        r("PROBE?", lambda a: "HMNT-4E04-VR")

    def reset(self):
        self.unit, self.range, self.auto, self.rdgmode = 1, 4, False, (1, 0, 1)
        self.relative, self.rel_setpoint = False, 0.0

    def _true_G(self):
        return self.world.field_T * 1e4 + self.offset_G

    def _overload(self):
        return abs(self._true_G()) > RANGES_G[self.range - 1]

    def _read(self, a):
        b = self._true_G()
        if self.auto:
            self.range = next((i + 1 for i, rg in enumerate(RANGES_G) if abs(b) <= rg * 0.95), 4)
        rg = RANGES_G[self.range - 1]
        if abs(b) > rg:
            return "OL"
        g = b + self.noise(self.noise_frac * rg)
        if self.rdgmode[0] == 2:       # AC mode: a DC field reads as (noise) rms
            g = abs(self.noise(self.noise_frac * rg))
        if abs(g) > abs(self.max_reading):
            self.max_reading = g
        return ls425_number(self._in_units(g))

    def _in_units(self, gauss: float) -> float:
        """A field in G, in the present UNIT (1 G = 1 Oe in free space = 1e-4 T)."""
        t = gauss * 1e-4
        return {1: gauss, 2: t, 3: gauss, 4: t / MU_0}[self.unit]

    def _read_relative(self, a):
        reading = self._read(a)
        if reading == "OL":
            return reading
        return ls425_number(float(reading) - self.rel_setpoint)

    def _relsp(self, a):
        v = self.one_float(a)
        if abs(v) > self._in_units(350e3) * (1 + 1e-9):   # the manual's +-350 kG
            raise CommandError(-222, f"relative setpoint {v} beyond +-350 kG")
        self.rel_setpoint = v

    def _choice(self, a, allowed):
        v = self.one_float(a)
        if v != int(v) or int(v) not in allowed:
            raise CommandError(-222, f"{a!r} not one of {allowed}")
        return int(v)

    def _unit(self, a):
        v = int(self.one_float(a))
        if v not in UNIT_NAMES:
            raise CommandError(-222, f"unit {v} not in 1..4")
        self.unit = v

    def _range(self, a):
        v = int(self.one_float(a))
        if v not in (1, 2, 3, 4):
            raise CommandError(-222, f"range {v} not in 1..4")
        self.range, self.auto = v, False

    def _mode(self, a):
        parts = a.split(",")
        if len(parts) != 3:
            raise CommandError(-109, "RDGMODE needs mode,filter,band")
        self.rdgmode = (self._choice(parts[0], (1, 2)), self._choice(parts[1], (0, 1)),
                        self._choice(parts[2], (1, 2)))

"""Kepco BOP 36-12 bipolar supply (BIT 4886 interface) driving the Helmholtz coil pair.

*IDN? answers as a real BOP 36-12 with a BIT 4886 card does: the card and the BOP's rating in
the model field, then the calibration date, the serial number and the firmware (a real unit:
"KEPCO,BIT 4886 36-12  08-04-2023,H249977,4.04-1.82", pymeasure's recorded transcript
tests/instruments/kepco/test_kepcobop.py). The serial number and date here are our own.

Numbers are answered in the form Kepco's manuals give for every value query, "digits with
decimal point and Exponent, e.g., 2.71E1 for 27.1" (BOP-1K manual B.20; the BIT 4886's list
commands use the same words): no "+" and no leading zero in the exponent. The recorded replies of a
real BOP 36-12 (pymeasure's transcript above) fix the digits: setpoint queries CURR? and VOLT?
with four significant digits kept ("9.989E-2", "1.000E-1"); the measurements MEAS:CURR? and
MEAS:VOLT? with four significant digits less trailing zeros, one decimal kept ("4.99E-3",
"8.0E-3"), which is how this simulator reads those two replies.
"""
from __future__ import annotations

from .base import CommandError, SimInstrument


def kepco_number(x: float, strip_zeros: bool = False) -> str:
    """x as d.dddEn (exponent unpadded, no '+'); strip_zeros: as the BOP's measurements, the
    mantissa's trailing zeros dropped down to one decimal."""
    mantissa, exponent = f"{x:.3E}".split("E")
    if strip_zeros:
        mantissa = mantissa.rstrip("0")
        if mantissa.endswith("."):
            mantissa += "0"
    return f"{mantissa}E{int(exponent)}"


class KepcoBOP(SimInstrument):
    name = "coil_supply"
    model = "Kepco BOP 36-12"
    idn = "KEPCO,BIT 4886 36-12  01-15-2024,E174512,4.04-1.82"
    reply_termination = "\n"
    # RS-232 (Kepco BOP operator's manuals, "RS232-C operation"; the BIT 4886 card's own manual
    # could not be had): 8 data bits, no parity, 1 stop bit, XON/XOFF enabled by default; a
    # line is parsed on CR or LF and answered with CR LF. The baud rate is chosen on the front
    # panel (off by default on the BOP 1KW); 9600 is assumed here.
    serial_port = {"baud_rate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1,
                   "flow_control": "xon_xoff", "reply_termination": "\r\n", "line_ends": "\r\n"}
    # SCPI error queue with the standard codes and texts (0,"No error"; -113 undefined header,
    # -222 data out of range, -224 illegal parameter value). Depth and overflow as Kepco's
    # SYST:ERR? description (MST 488 manual B.46: 15 errors, the oldest kept, the last entry
    # -350,"Too many errors"); the BIT 4886 manual itself could not be had (docs/simulated_lab.md)
    error_queue_size = 15
    queue_overflow = (-350, "Too many errors")

    def setup(self):
        coil = self.world.coil
        r = self.register
        r("OUTP?", lambda a: str(int(coil.output_on)))
        r("OUTP", self._output)
        r("OUTP:STAT?", lambda a: str(int(coil.output_on)))
        r("OUTP:STAT", self._output)
        r("FUNC:MODE?", lambda a: "1" if coil.mode == "CURR" else "0")
        r("FUNC:MODE", self._mode)
        r("CURR?", lambda a: kepco_number(coil.current_setpoint_A))
        r("CURR", self._curr)
        r("CURR:LEV:IMM:AMPL", self._curr)
        r("CURR:LEV", self._curr)
        r("VOLT?", lambda a: kepco_number(coil.voltage_setpoint_V))
        r("VOLT", self._volt)
        r("VOLT:LEV", self._volt)
        r("MEAS:CURR?", lambda a: kepco_number(coil.current_A + self.noise(2e-5 * coil.max_current_A), True))
        r("MEAS:VOLT?", lambda a: kepco_number(coil.voltage_V + self.noise(2e-5 * coil.max_voltage_V), True))
        r("SYST:BEEP", lambda a: None)
        r("DIAG:TST?", lambda a: "0")
        r("SYST:REM", lambda a: None)
        r("SYST:VERS?", lambda a: "1997.0")

    def reset(self):
        c = self.world.coil
        c.output_on, c.mode, c.current_setpoint_A, c.voltage_setpoint_V = False, "CURR", 0.0, c.max_voltage_V

    def _output(self, a):
        v = a.strip().upper()
        if v not in ("0", "1", "ON", "OFF"):
            raise CommandError(-224, f"Illegal parameter value: {a!r}")
        self.world.coil.output_on = v in ("1", "ON")

    def _mode(self, a):
        v = a.strip().upper()
        if v.startswith("CURR"):
            self.world.coil.mode = "CURR"
        elif v.startswith("VOLT"):
            self.world.coil.mode = "VOLT"
        else:
            raise CommandError(-224, f"Illegal parameter value: {a!r}")

    def _curr(self, a):
        v = self.one_float(a)
        if abs(v) > self.world.coil.max_current_A * 1.0001:
            raise CommandError(-222, f"Data out of range: {v} A")
        self.world.coil.current_setpoint_A = v

    def _volt(self, a):
        v = self.one_float(a)
        if abs(v) > self.world.coil.max_voltage_V * 1.0001:
            raise CommandError(-222, f"Data out of range: {v} V")
        self.world.coil.voltage_setpoint_V = v

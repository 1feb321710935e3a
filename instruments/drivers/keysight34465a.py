"""Keysight Truevolt 34465A multimeter as a voltmeter: pymeasure's Agilent34410A made safe.

pymeasure has no 34465A driver of its own; its ``Agilent34410A`` ("the HP/Agilent/Keysight
34410A and related multimeters", pymeasure/instruments/agilent/agilent34410A.py) speaks the
command set the Truevolt series kept, and is subclassed here. What is changed, and why:

- Its measurements are ``MEAS:<function>? DEF,DEF``: MEASure is CONFigure then READ?, so each
  reading would put the meter back to autorange and the default 10 PLC and throw away the
  range and integration time the run chose. ``voltage`` (and ``voltage_dc``) read ``READ?`` in
  the present configuration instead. The stock AC, current and resistance measurements are left
  as they are: they change the function, and no loopscope role calls them.
- Connect sends queries only (``*IDN?`` and the settings the flux readout compares); the
  configuration (``configure_dc_voltage``) is written by the role before its first reading,
  and only when the station asks for a range or integration time.
- Settings refuse values the meter does not have (LimitError, nothing sent) and every write is
  followed by ``SYST:ERR?``.

Guide: Keysight Truevolt Series Operating and Service Guide, "SCPI Programming Reference"
(docs/instruments.md cites the pages).
"""
from __future__ import annotations

import warnings

from pymeasure.instruments import Instrument
from pymeasure.instruments.agilent import Agilent34410A

from loopscope.instruments.drivers._base import LabInstrument, float_reply, strict_choice

#: DC voltage ranges, V (CONFigure:VOLTage:DC)
RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)
#: NPLC choices of a 34465A without the DIG option ([SENSe:]VOLTage[:DC]:NPLC)
NPLCS = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)
#: resolution as a fraction of the range at each NPLC ("Range, Resolution and NPLC" table)
RES_FACTORS = dict(zip(NPLCS, (3e-6, 1.5e-6, 0.7e-6, 0.3e-6, 0.1e-6, 0.03e-6)))


def _function(reply) -> str:
    return str(reply).strip().strip('"').upper()


def _on_off(reply) -> bool:
    return bool(int(float(reply)))


class Keysight34465A(LabInstrument, Agilent34410A):
    """Keysight 34465A 6.5-digit DMM read as a DC voltmeter; ``voltage`` is one ``READ?``."""

    # The guide's *IDN? (p. 270, firmware 2.0 and later, SYSTem:IDENtify DEFault):
    # "Keysight Technologies,34465A,<Serial Number>,h.ff.ff-pp.pp-mm.mm-gg.gg-bb-fp". Set to
    # SYSTem:IDENtify AT34410A it answers as a 34410A (and older firmware as "Agilent
    # Technologies"): the model field is what counts, and only 34465A is taken. The 34470A
    # (7.5 digits) and 34460A/61A have other NPLC lists and noise figures: refused.
    # QCoDeS's pyvisa-sim file (qcodes/instrument/sims/Keysight_34465A.yaml) has the vendor
    # without "Technologies": the vendor's spelling is not what tells the model.
    IDN_PATTERN = r"^(?:Keysight|Agilent)(?:\s+Technologies)?\s*,\s*34465A\s*,"
    IDN_EXPECTED = "'Keysight Technologies,34465A,<serial>,<firmware>'"
    MODEL = "Keysight 34465A"
    SNAPSHOT_PROPERTIES = ("function", "voltage_range", "autorange", "nplc", "autozero",
                           "trigger_source", "sample_count", "trigger_count")
    #: the interfaces the unit has (LAN: socket 5025, VXI-11, HiSLIP; USB-TMC; GPIB option):
    #: no RS-232, so a station naming an ASRL resource for it is refused before connecting
    INTERFACES = ("TCPIP", "USB", "GPIB")

    #: what the meter answers when the input exceeds 120 % of the range
    OVERFLOW_V = 9.9e37
    RANGES_V, NPLCS, RES_FACTORS = RANGES_V, NPLCS, RES_FACTORS

    def __init__(self, adapter, name="Keysight 34465A Multimeter", **kwargs):
        # every interface: commands and replies end with LF
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        with warnings.catch_warnings():
            # the stock class is an SCPIUnknownMixin and warns that SCPI support is unknown;
            # the Truevolt is a SCPI instrument (SYSTem:VERSion? answers 1994.0)
            warnings.filterwarnings("ignore", "It is not known whether this device support SCPI",
                                    FutureWarning)
            super().__init__(adapter, name, **kwargs)

    READ_VOLTAGE = "READ?"
    voltage = Instrument.measurement(
        READ_VOLTAGE, """Get one reading in the present configuration (READ?), in V.""",
        get_process=float_reply(READ_VOLTAGE))
    # the stock MEAS:VOLT:DC? DEF,DEF would reconfigure the meter at every reading
    voltage_dc = voltage

    fetch = Instrument.measurement(
        "FETC?", """Get the readings in memory after INIT, without a new trigger.""",
        get_process=float_reply("FETC?"))

    function = Instrument.measurement(
        "SENS:FUNC?", """Get the measurement function ("VOLT" is DC volts).""",
        cast=str, get_process=_function)

    configuration = Instrument.measurement(
        "CONF?", """Get function, range and resolution as the meter states them (CONF?).""",
        # one quoted string with a comma inside: not split (maxsplit 0), kept as text
        maxsplit=0, cast=str, get_process=lambda v: str(v).strip().strip('"'))

    voltage_range = Instrument.control(
        "SENS:VOLT:DC:RANG?", "SENS:VOLT:DC:RANG %g",
        """Control the DC voltage range in V (0.1, 1, 10, 100, 1000); setting it ends autorange.""",
        validator=strict_choice, values=RANGES_V, get_process=float_reply("SENS:VOLT:DC:RANG?"),
        check_set_errors=True)

    autorange = Instrument.measurement(
        "SENS:VOLT:DC:RANG:AUTO?", """Get whether DC voltage autorange is on (bool).""",
        get_process=_on_off)

    nplc = Instrument.control(
        "SENS:VOLT:DC:NPLC?", "SENS:VOLT:DC:NPLC %g",
        """Control the integration time in power-line cycles (0.02, 0.06, 0.2, 1, 10, 100).""",
        validator=strict_choice, values=NPLCS, get_process=float_reply("SENS:VOLT:DC:NPLC?"),
        check_set_errors=True)

    autozero = Instrument.measurement(
        "SENS:VOLT:DC:ZERO:AUTO?", """Get whether autozero is on (bool).""",
        get_process=_on_off)

    trigger_source = Instrument.measurement(
        "TRIG:SOUR?", """Get the trigger source: IMM, BUS or EXT.""",
        cast=str, get_process=lambda v: str(v).strip().upper())

    sample_count = Instrument.measurement(
        "SAMP:COUN?", """Get the readings taken per trigger.""",
        get_process=lambda v: int(float(v)))

    trigger_count = Instrument.measurement(
        "TRIG:COUN?", """Get the triggers INIT or READ? waits for.""",
        get_process=lambda v: int(float(v)))

    line_frequency = Instrument.measurement(
        "SYST:LFR?", """Get the power-line frequency the meter measured, Hz.""",
        get_process=lambda v: int(float(v)))

    def noise_V(self, range_V: float, nplc: float) -> float:
        """The guide's resolution at this range and NPLC (ResFactor x range), V."""
        return RES_FACTORS[nplc] * range_V

    def configure_dc_voltage(self, range_V: float | None, nplc: float) -> None:
        """DC volts, a fixed range (None: autorange), ``nplc``, autozero on, one reading per
        immediate trigger: what READ? then needs. CONFigure sets sample count, trigger count,
        trigger source and autozero itself (guide, CONFigure); NPLC goes after it, since
        CONFigure's resolution would otherwise pick the integration time. Refused values are
        LimitError before anything is sent; the meter's own refusal RefusedCommandError."""
        if range_V is not None:
            strict_choice(range_V, RANGES_V)
        strict_choice(nplc, NPLCS)
        self.write("CONF:VOLT:DC AUTO" if range_V is None else f"CONF:VOLT:DC {range_V:g}")
        self.write(f"SENS:VOLT:DC:NPLC {nplc:g}")
        self.check_set_errors()

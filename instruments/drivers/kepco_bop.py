"""Kepco BOP 36-12 bipolar supply: pymeasure's KepcoBOP3612 with refusing setpoint limits.

The stock driver truncates an out-of-range setpoint to ±12 A / ±36 V without a word; in a
lab a typo then drives the coil at full current. Here the same commands refuse instead, and
every setpoint (current, voltage, mode, output) is followed by one ``SYST:ERR?``: a setpoint
the supply itself refuses raises RefusedCommandError with its code and text.
"""
from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.kepco import KepcoBOP3612
from pymeasure.instruments.kepco.kepcobop import OPERATING_MODES
from pymeasure.instruments.validators import strict_discrete_set

from loopscope.instruments.drivers._base import LabInstrument, float_reply, strict_limit


class KepcoBOP(LabInstrument, KepcoBOP3612):
    """Kepco BOP 36-12 with strict ranges; commands are the stock pymeasure ones."""

    # What a BOP 36-12 answers to *IDN? depends on its digital interface card:
    # - BIT 4886 (GPIB/LAN): the card in the model field, then the BOP's rating and the
    #   calibration date: "KEPCO,BIT 4886 36-12  08-04-2023,H249977,4.04-1.82", recorded from a
    #   real unit (pymeasure, tests/instruments/kepco/test_kepcobop.py); the BIT 4886 appendix of
    #   Kepco's BOP manuals (A.6 *IDN?) lists the fields: manufacturer, model, calibration date,
    #   serial number, firmware.
    # - BIT 4882 and the older GPIB cards: the BOP model itself, "KEPCO,BOP 36-12M,<serial>,
    #   <firmware>" (the form other BOPs give on these cards, e.g. "KEPCO,BOP 50-20,E1234,2.6"
    #   in ISISComputingGroup/EPICS-DeviceEmulator, lewis_emulators/kepco/device.py); "BIT 4882
    #   36-12" is accepted by analogy with the 4886, not from a transcript.
    # A model suffix (M, D, ...) is allowed; another rating (a BOP 20-20, 36-6, 50-8; the
    # 1 kW BOPs) is refused: the current and voltage limits below are the 36-12's. A BIT 232
    # card answers "KEPCO BOP BIT 232 REV n" without the rating and is refused too.
    IDN_PATTERN = r"^KEPCO\s*,\s*(?:BOP|BIT\s*488[26])\s*36-12(?![0-9.])"
    IDN_EXPECTED = "'KEPCO,BOP 36-12...' or 'KEPCO,BIT 4886 36-12 ...' (BIT 4882/4886 cards)"
    MODEL = "Kepco BOP 36-12"
    SNAPSHOT_PROPERTIES = ("operating_mode", "output_enabled", "current_setpoint",
                           "voltage_setpoint", "current", "voltage")

    def __init__(self, adapter, name="Kepco BOP 36-12 Bipolar Power Supply",
                 read_termination="\n", write_termination="\n", **kwargs):
        # the stock driver fixes both terminators at LF (GPIB, LAN); its RS-232 port answers
        # with CR LF (instruments.visa_interfaces), so a station's choice is set afterwards
        super().__init__(adapter, name, **kwargs)
        connection = getattr(self.adapter, "connection", None)
        if hasattr(connection, "read_termination"):
            connection.read_termination = read_termination
            connection.write_termination = write_termination

    current_setpoint = Instrument.control(
        "CURRent?", "CURRent %g",
        """Control the output current setpoint in A; refuses values outside ±12 A.""",
        validator=strict_limit,
        values=(-KepcoBOP3612._Imax, KepcoBOP3612._Imax),
        get_process=float_reply("CURRent?"),
        check_set_errors=True,
    )

    voltage_setpoint = Instrument.control(
        "VOLTage?", "VOLTage %g",
        """Control the output voltage setpoint (compliance in current mode) in V;
        refuses values outside ±36 V.""",
        validator=strict_limit,
        values=(-KepcoBOP3612._Vmax, KepcoBOP3612._Vmax),
        get_process=float_reply("VOLTage?"),
        check_set_errors=True,
    )

    # the stock commands, with the supply's error queue read after each set
    operating_mode = Instrument.control(
        "FUNCtion:MODE?", "FUNCtion:MODE %s",
        """Control the operating mode: VOLT or CURR (the query's 0/1 mapped to them).""",
        validator=strict_discrete_set, values=OPERATING_MODES,
        get_process=lambda x: OPERATING_MODES[int(x)], check_set_errors=True,
    )

    output_enabled = Instrument.control(
        "OUTPut?", "OUTPut %d", """Control whether the output is on (bool).""",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True,
        check_set_errors=True,
    )

    MEASURE_CURRENT = "MEASure:CURRent?"
    current = Instrument.measurement(
        MEASURE_CURRENT, """Measure the output current in A.""",
        get_process=float_reply(MEASURE_CURRENT))

    voltage = Instrument.measurement(
        "MEASure:VOLTage?", """Measure the output voltage in V.""",
        get_process=float_reply("MEASure:VOLTage?"))

"""Protocol tests: the exact bytes each driver sends and how it reads the replies.

pymeasure's expected_protocol replays command/reply pairs without any instrument.
"""
from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from loopscope.instruments.drivers.ami430 import AMI430
from loopscope.instruments.drivers.keithley2182 import Keithley2182
from loopscope.instruments.drivers.kepco_bop import KepcoBOP
from loopscope.instruments.drivers.lakeshore336 import LakeShore336
from loopscope.instruments.drivers.lakeshore425 import LakeShore425, OverloadError
from loopscope.instruments.drivers.squid_fll import SquidFLL
from loopscope.instruments.drivers.sr830 import SR830
from loopscope.instruments.drivers.sr860 import SR860
from loopscope.instruments.roles import (InstrumentError, LimitError, RefusedCommandError,
                               TransientInstrumentError)

WELCOME = [(None, "American Magnetics Model 430 IP Interface"), (None, "Hello.")]
#: the error check after a setpoint, answered "nothing refused"
SCPI_OK = ("SYST:ERR?", '0,"No error"')
AMI_OK = ("SYST:ERR?", '0,"No errors"')
ESR_OK = ("*ESR?", "0")
AMI_LIMITS = dict(max_field_T=9.0, max_current_A=90.0, max_ramp_rate_T_per_min=0.24)


# ---------------------------------------------------------------- Kepco BOP
def test_kepco_readings_and_setpoints():
    with expected_protocol(KepcoBOP, [
        ("*IDN?", "KEPCO,BOP 36-12 DM,E174512,4.04-1.80"),
        ("MEASure:CURRent?", "1.25000E+00"),
        ("MEASure:VOLTage?", "2.5E+00"),
        ("CURRent 3.5", None), SCPI_OK,
        ("CURRent?", "3.50000E+00"),
        ("VOLTage 30", None), SCPI_OK,
        ("FUNCtion:MODE CURR", None), SCPI_OK,
        ("FUNCtion:MODE?", "1"),
        ("OUTPut 1", None), SCPI_OK,
        ("OUTPut?", "1"),
    ]) as bop:
        assert bop.check_identity().startswith("KEPCO")
        assert bop.current == 1.25
        assert bop.voltage == 2.5
        bop.current_setpoint = 3.5
        assert bop.current_setpoint == 3.5
        bop.voltage_setpoint = 30
        bop.operating_mode = "CURR"
        assert bop.operating_mode == "CURR"
        bop.output_enabled = True
        assert bop.output_enabled is True


@pytest.mark.parametrize("prop,value", [("current_setpoint", 12.5), ("current_setpoint", -13),
                                        ("voltage_setpoint", 40), ("current_setpoint", "x")])
def test_kepco_refuses_out_of_range_instead_of_clamping(prop, value):
    with expected_protocol(KepcoBOP, []) as bop:        # nothing may be sent
        with pytest.raises(LimitError, match=rf"Kepco BOP 36-12 at protocol: {prop}"):
            setattr(bop, prop, value)


def test_kepco_wrong_identity():
    with expected_protocol(KepcoBOP, [("*IDN?", "LSCI,MODEL336,1,2")]) as bop:
        with pytest.raises(InstrumentError, match="wrong instrument.*LSCI,MODEL336.*Kepco"):
            bop.check_identity()


def test_kepco_garbled_reply_is_a_value_error():
    with expected_protocol(KepcoBOP, [("MEASure:CURRent?", "#@!x")]) as bop:
        with pytest.raises(ValueError, match="unparsable"):
            bop.current


def test_kepco_snapshot():
    with expected_protocol(KepcoBOP, [
        ("*IDN?", "KEPCO,BOP 36-12 DM,1,2"), ("FUNCtion:MODE?", "1"), ("OUTPut?", "0"),
        ("CURRent?", "0"), ("VOLTage?", "30"), ("MEASure:CURRent?", "0.0"),
        ("MEASure:VOLTage?", "0.0"),
    ]) as bop:
        snap = bop.snapshot()
    assert snap["idn"].startswith("KEPCO")
    assert snap["settings"] == {"operating_mode": "CURR", "output_enabled": False,
                                "current_setpoint": 0.0, "voltage_setpoint": 30.0,
                                "current": 0.0, "voltage": 0.0}


# ---------------------------------------------------------------- AMI 430
KG_PER_S = [("FIELD:UNITS?", "0"), ("RAMP:RATE:UNITS?", "0")]     # the 430's own defaults
T_PER_MIN = [("FIELD:UNITS?", "1"), ("RAMP:RATE:UNITS?", "1")]    # as a QCoDeS user leaves it


def test_ami_reads_welcome_and_state():
    with expected_protocol(AMI430, WELCOME + [
        ("*IDN?", "AMERICAN MAGNETICS INC.,MODEL 430,430-2417,2.65"), *KG_PER_S,
        ("STATE?", "2"), ("STATE?", "2"), ("FIELD:MAG?", "12.5"), ("CURR:MAG?", "12.5"), ("CURR:SUPP?", "12.4"),
        ("VOLT:MAG?", "0.001"), ("QU?", "0"), ("COIL?", "1.000000"), ("PSwitch?", "1"),
        ("FIELD:MAG?", "12.5"), ("COIL?", "1.000000"),
    ], **AMI_LIMITS) as ami:
        ami.check_identity()
        assert ami.read_units() == (0, 0) and ami.field_unit == "kG" and ami.rate_unit == "kG/s"
        assert ami.state == 2 and ami.state_word == "HOLDING"
        assert ami.field == 12.5
        assert ami.magnet_current == 12.5 and ami.supply_current == 12.4
        assert ami.magnet_voltage == 0.001
        assert ami.quench_detected is False
        assert ami.coilconst == 1.0
        assert ami.persistent_switch_heater_on is True
        assert ami.field_T == pytest.approx(1.25)
        assert ami.coil_constant_T_per_A == pytest.approx(0.1)


def test_ami_in_tesla_per_minute_converts_every_reading():
    with expected_protocol(AMI430, WELCOME + T_PER_MIN + [
        ("FIELD:MAG?", "1.25"), ("COIL?", "0.100000"), ("RAMP:RATE:FIELD:1?", "0.240000,9.000000"),
        ("RAMP:RATE:SEG?", "1"),
    ], **AMI_LIMITS) as ami:
        assert ami.read_units() == (1, 1) and ami.rate_unit == "T/min"
        assert ami.field_T == 1.25
        assert ami.coil_constant_T_per_A == 0.1
        rate, upper = ami.ramp_segment_field(1)
        assert ami.rate_to_T_per_min(rate) == pytest.approx(0.24) and ami.to_tesla(upper) == 9.0
        assert ami.ramp_segments == 1
        assert ami.rate_from_T_per_min(0.24) == pytest.approx(0.24)
        assert ami.from_tesla(2.0) == 2.0


@pytest.mark.parametrize("units,rate_cmd,target_cmd", [
    (KG_PER_S, "CONF:RAMP:RATE:FIELD 1,0.04,90", "CONF:FIELD:TARG 10"),       # 0.24 T/min, 1 T
    ([("FIELD:UNITS?", "1"), ("RAMP:RATE:UNITS?", "0")],
     "CONF:RAMP:RATE:FIELD 1,0.004,9", "CONF:FIELD:TARG 1"),                   # T/s
    ([("FIELD:UNITS?", "0"), ("RAMP:RATE:UNITS?", "1")],
     "CONF:RAMP:RATE:FIELD 1,2.4,90", "CONF:FIELD:TARG 10"),                   # kG/min
    (T_PER_MIN, "CONF:RAMP:RATE:FIELD 1,0.24,9", "CONF:FIELD:TARG 1"),
])
def test_ami_setpoints_go_out_in_the_supplys_units(units, rate_cmd, target_cmd):
    with expected_protocol(AMI430, WELCOME + units + [
        (rate_cmd, None), AMI_OK, (target_cmd, None), AMI_OK, ("RAMP", None), AMI_OK,
    ], **AMI_LIMITS) as ami:
        ami.read_units()
        ami.ramp_rate_field = ami.rate_from_T_per_min(0.24)
        ami.target_field = ami.from_tesla(1.0)
        ami.ramp()


def test_ami_ramp_commands():
    with expected_protocol(AMI430, WELCOME + KG_PER_S + [
        ("CONF:RAMP:RATE:FIELD 1,0.04,90", None), AMI_OK,
        ("CONF:FIELD:TARG 10", None), AMI_OK,
        ("RAMP", None), AMI_OK, ("PAUSE", None), AMI_OK, ("ZERO", None), AMI_OK,
        ("RAMP:RATE:FIELD:1?", "0.040000,90.000000"),
        ("FIELD:TARG?", "10.000000"),
        ("CONF:RAMP:RATE:FIELD 2,0.02,50", None), AMI_OK,
    ], **AMI_LIMITS) as ami:
        ami.read_units()
        ami.ramp_rate_field = 0.04
        ami.target_field = 10
        ami.ramp()
        ami.pause()
        ami.zero()
        assert ami.ramp_rate_field == 0.04
        assert ami.target_field == 10.0
        ami.set_segment_rate(2, 0.02, 50)
        with pytest.raises(LimitError, match="segment 3 rate 0.05 refused"):
            ami.set_segment_rate(3, 0.05, 60)


@pytest.mark.parametrize("units,prop,value,match", [
    (KG_PER_S, "target_field", 95.0, "target_field = 95.0 refused.*outside"),     # 9.5 T > 9 T
    (KG_PER_S, "target_current", -91, "target_current = -91 refused"),
    (KG_PER_S, "ramp_rate_field", 0.05, "ramp_rate_field = 0.05 refused"),         # 0.3 T/min
    (KG_PER_S, "ramp_rate_field", 0.0, "positive"),
    (T_PER_MIN, "target_field", 9.5, r"outside the range \[-9, 9\]"),
    (T_PER_MIN, "ramp_rate_field", 0.25, r"outside the range \[0, 0.24\]"),
])
def test_ami_limits_refuse_before_sending(units, prop, value, match):
    with expected_protocol(AMI430, WELCOME + units, **AMI_LIMITS) as ami:
        ami.read_units()
        with pytest.raises(LimitError, match=match):
            setattr(ami, prop, value)


def test_ami_refuses_field_setpoints_until_the_units_are_read():
    with expected_protocol(AMI430, WELCOME, **AMI_LIMITS) as ami:     # nothing may be sent
        for prop, value in (("target_field", 1.0), ("ramp_rate_field", 0.01)):
            with pytest.raises(LimitError, match=f"{prop} = .* units are not known"):
                setattr(ami, prop, value)
        with pytest.raises(InstrumentError, match="units are not known"):
            ami.rate_from_T_per_min(0.1)


@pytest.mark.parametrize("reply", ["2", "T", ""])
def test_ami_garbled_units_reply_is_a_value_error(reply):
    with expected_protocol(AMI430, WELCOME + [("FIELD:UNITS?", reply)], **AMI_LIMITS) as ami:
        with pytest.raises(ValueError):
            ami.read_units()
        assert ami.units is None


def test_ami_without_limits_refuses_every_setpoint():
    with expected_protocol(AMI430, WELCOME + KG_PER_S) as ami:
        ami.read_units()
        with pytest.raises(LimitError, match="no limit configured"):
            ami.target_field = 1.0
        with pytest.raises(LimitError, match="no limit configured"):
            ami.ramp_rate_field = 0.01


def test_ami_heater_interlock_on_mismatch():
    with expected_protocol(AMI430, WELCOME + [
        ("CURR:SUPP?", "0.0"), ("CURR:MAG?", "20.0"),
        ("CURR:SUPP?", "20.01"), ("CURR:MAG?", "20.0"), ("PSwitch 1", None), AMI_OK,
        ("PSwitch 0", None), AMI_OK,
    ], **AMI_LIMITS) as ami:
        with pytest.raises(InstrumentError, match="refusing.*heater on.*0 A.*20 A"):
            ami.enable_persistent_switch()
        ami.enable_persistent_switch()
        ami.disable_persistent_switch()


def test_ami_garbled_state():
    with expected_protocol(AMI430, WELCOME + [("STATE?", "HOLDING?!")], **AMI_LIMITS) as ami:
        with pytest.raises(ValueError):
            ami.state


# ---------------------------------------------------------------- Lake Shore 425
def test_ls425_field_in_tesla_from_gauss():
    with expected_protocol(LakeShore425, [
        ("*IDN?", "LSCI,MODEL425,4250123,1.6"),
        ("UNIT?", "1"), ("RDGFIELD?", "+1.23450E+02"),  # the unit first (then cached)
        ("RDGFIELD?", "+1.00000E+02"),
    ]) as gm:
        gm.check_identity()
        assert gm.field_T == pytest.approx(1.2345e-2)
        assert gm.field_T == pytest.approx(1e-2)     # unit cached


def test_ls425_overload_names_the_range():
    with expected_protocol(LakeShore425, [("UNIT?", "1"), ("RDGFIELD?", "OL"), ("RANGE?", "1")]) as gm:
        with pytest.raises(OverloadError, match="overload.*35 G range.*0.0035 T"):
            gm.field_T


def test_ls425_range_is_strict():
    with expected_protocol(LakeShore425, [("RANGE 3", None), ESR_OK]) as gm:
        gm.range = 3500
        with pytest.raises(LimitError):
            gm.range = 1000


# ---------------------------------------------------------------- Keithley 2182A
def test_2182_voltage():
    with expected_protocol(Keithley2182, [
        ("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,4017523,C02  /A02"),
        (":READ?", "+1.234567890E-03"), (":READ?", "garbage")]) as vm:
        vm.check_identity()
        assert vm.voltage == pytest.approx(1.23456789e-3)
        with pytest.raises(ValueError):
            vm.voltage


# ---------------------------------------------------------------- SR830 / SR860
def test_sr830():
    with expected_protocol(SR830, [
        ("*IDN?", "Stanford_Research_Systems,SR830,s/n48151,ver1.07"),
        ("SNAP? 1,2", "1.5e-6,-2.5e-7"), ("FREQ1.50000e+03", None), ESR_OK, ("FREQ?", "1500"),
        ("OFLT?", "8"),
    ]) as li:
        li.check_identity()
        assert li.xy_V == (1.5e-6, -2.5e-7)
        li.frequency = 1500
        assert li.frequency == 1500.0
        assert li.time_constant == 0.1
        with pytest.raises(LimitError, match="frequency"):
            li.frequency = 2e5


def test_sr860():
    with expected_protocol(SR860, [
        ("*IDN?", "Stanford_Research_Systems,SR860,003285,v1.51"),
        ("SNAP? X, Y", "1.5e-6,-2.5e-7"), ("FREQ 2.000000e+03", None), ESR_OK, ("FREQ?", "2000"),
        ("OFLT?", "10"), ("SNAP? X, Y", "1.5e-6"),
    ]) as li:
        li.check_identity()
        assert li.xy_V == (1.5e-6, -2.5e-7)
        li.frequency = 2000
        assert li.frequency == 2000.0
        assert li.time_constant == 0.1
        with pytest.raises(ValueError):
            li.xy_V


# ---------------------------------------------------------------- Lake Shore 336
def test_ls336_temperature_setpoint_range():
    with expected_protocol(LakeShore336, [
        ("*IDN?", "LSCI,MODEL336,LSA1B2C,2.9"),
        ("KRDG? A", "+3.00000E-02"), ("SETP? 1", "+0.0300"), ("SETP 1,0.5", None), ESR_OK,
        ("RANGE? 1", "2"), ("RANGE 1,1", None), ESR_OK,
    ], max_temperature_K=1.0) as tc:
        tc.check_identity()
        assert tc.temperature_K == 0.03
        assert tc.setpoint_K == 0.03
        tc.set_setpoint_K(0.5)
        with pytest.raises(LimitError, match="setpoint 2 K refused"):
            tc.set_setpoint_K(2)
        assert tc.heater_range == "medium"
        tc.set_heater_range("low")
        with pytest.raises(LimitError):
            tc.set_heater_range("max")


# ---------------------------------------------------------------- SQUID FLL
def test_squid_fll():
    with expected_protocol(SquidFLL, [
        ("*IDN?", "LOOPSCOPE,SIMFLL-1,FLL000123,1.0"),
        ("VPHI?", "1.0"), ("LOCK?", "1"), ("LOCK 0", None), SCPI_OK, ("RESET", None), SCPI_OK,
        ("GAIN 10", None), SCPI_OK, ("GAIN?", "10"), ("RF 23250", None), SCPI_OK, ("JUMPS?", "2"),
        ("OVLD?", "0"),
    ]) as fll:
        fll.check_identity()
        assert fll.volts_per_phi0 == 1.0
        assert fll.locked is True
        fll.locked = False
        fll.reset()
        fll.gain = 10
        assert fll.gain == 10.0
        fll.feedback_ohm = 23250
        assert fll.flux_jumps == 2
        assert fll.overloaded is False
        with pytest.raises(LimitError):
            fll.gain = 0


def test_dynamic_limits_stay_private_with_plain_attribute_lookup():
    # LabInstrument bypasses pymeasure's __getattribute__ hook; the dynamic-property
    # bookkeeping must still be stored under pymeasure's reserved prefix
    with expected_protocol(AMI430, WELCOME + KG_PER_S, **AMI_LIMITS) as ami:
        with pytest.raises(AttributeError):
            ami.target_field_values
        ami.read_units()
        ami.set_limits(1.0, 10.0, 0.1)
        with pytest.raises(LimitError, match="outside the range \\[-10, 10\\]"):
            ami.target_field = 10.5


# ---------------------------------------------------------------- error checks after setpoints
def test_a_refused_setpoint_raises_with_the_instruments_own_code_and_text():
    with expected_protocol(KepcoBOP, [
        ("CURRent 11", None), ("SYST:ERR?", '-222,"Data out of range"'), SCPI_OK,
    ]) as bop:
        with pytest.raises(RefusedCommandError) as info:
            bop.current_setpoint = 11
    err = info.value
    assert err.commands == ("CURRent 11",) and err.errors == ((-222, "Data out of range"),)
    assert str(err) == ("Kepco BOP 36-12 at protocol: the instrument refused 'CURRent 11': "
                        'SYST:ERR? answered -222,"Data out of range"')
    assert not isinstance(err, TransientInstrumentError)


def test_the_check_reads_the_whole_queue_and_names_every_unchecked_command():
    # pymeasure's check_errors convention: read until code 0; the message names what was sent
    with expected_protocol(AMI430, WELCOME + [
        ("CONF:BOGUS 1", None), ("PAUSE", None), ("SYST:ERR?", '-101,"Unrecognized command"'),
        ("SYST:ERR?", '-105,"Out of range"'), AMI_OK,
    ], **AMI_LIMITS) as ami:
        ami.write("CONF:BOGUS 1")     # written directly: unchecked until the next check
        with pytest.raises(RefusedCommandError,
                           match=r"refused 'CONF:BOGUS 1', 'PAUSE': SYST:ERR\? answered "
                                 r'-101,"Unrecognized command"; -105,"Out of range"'):
            ami.pause()


def test_check_errors_reports_without_raising_and_stops_at_no_error():
    with expected_protocol(Keithley2182, [
        ("SYST:ERR?", '-113,"Undefined header"'), ("SYST:ERR?", '+0,"No error"'),
        ("SYST:ERR?", '0,"No error"'),
    ]) as vm:
        assert vm.check_errors() == [(-113, "Undefined header")]
        assert vm.check_errors() == []


def test_an_error_queue_that_never_empties_is_an_instrument_error():
    from loopscope.instruments.drivers._base import MAX_ERROR_READS
    with expected_protocol(SquidFLL, [("SYST:ERR?", '-350,"Queue overflow"')] * MAX_ERROR_READS) as fll:
        with pytest.raises(InstrumentError, match=f"still reports errors after {MAX_ERROR_READS}"):
            fll.check_errors()


def test_a_garbled_error_reply_is_a_value_error():
    # garbled, like any reading: the role maps it to a transient error and reconnects
    with expected_protocol(KepcoBOP, [("OUTPut 1", None), ("SYST:ERR?", "#@!")]) as bop:
        with pytest.raises(ValueError, match="SYST:ERR\\?: unparsable"):
            bop.output_enabled = True


@pytest.mark.parametrize("esr,named", [("16", r"\*ESR\? set bit 4 EXE \(execution error\)"),
                                       ("160", r"\*ESR\? set bit 5 CMD \(illegal command\)$")])
def test_esr_instruments_report_the_error_bits_by_the_manuals_names(esr, named):
    # SR830: no error queue; bit 7 (PON) is no error and is left out of the report
    with expected_protocol(SR830, [("FREQ1.00000e+03", None), ("*ESR?", esr)]) as li:
        with pytest.raises(RefusedCommandError, match=r"refused 'FREQ1.00000e\+03': " + named):
            li.frequency = 1000


def test_ls336_setpoint_refused_by_the_controller():
    with expected_protocol(LakeShore336, [("SETP 1,0.5", None), ("*ESR?", "16")],
                           max_temperature_K=1.0) as tc:
        with pytest.raises(RefusedCommandError, match="SETP 1,0.5.*bit 4 EXE"):
            tc.set_setpoint_K(0.5)


def test_stale_errors_are_read_and_forgotten(caplog):
    with expected_protocol(KepcoBOP, [("SYST:ERR?", '-113,"Undefined header"'), SCPI_OK]) as bop:
        with caplog.at_level("WARNING"):
            assert bop.discard_stale_errors() == [(-113, "Undefined header")]
    assert "before this session's first setpoint" in caplog.text and "-113" in caplog.text

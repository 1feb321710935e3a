"""QCoDeS's LakeshoreModel336 driver on the simulated Lake Shore 336."""
import pytest

from .conftest import unique, unreadable, wait_until

LakeshoreModel336 = pytest.importorskip("qcodes.instrument_drivers.Lakeshore").LakeshoreModel336

# QCoDeS reads HTRSET? with five fields (output type first: the Model 335's form) and asks it
# of outputs 3 and 4 too; the 336 answers four fields for its heater outputs 1 and 2 only
# (docs/simulated_lab.md, Lake Shore 336, "client exceptions").
HTRSET_GROUP = ("output_type", "output_heater_resistance", "output_max_current",
                "output_max_user_current", "output_display")


@pytest.fixture
def tc(lab):
    inst = LakeshoreModel336(unique("ls336"), lab.resources["temperature_controller"], visalib="@py",
                             terminator="\r\n")
    yield inst
    inst.close()


def test_every_parameter_reads(lab, tc):
    assert unreadable(tc, HTRSET_GROUP) == {}
    assert lab.instruments["temperature_controller"].esr & 0x30 == 0


def test_intype_has_the_manuals_five_fields(lab, tc):
    reply = tc.ask("INTYPE? A")
    assert len(reply.split(",")) == 5
    assert tc.A.sensor_type() == "ntc_rtd"
    tc.A.units("celsius")
    tc.ask("*OPC?")
    assert lab.instruments["temperature_controller"].intype["A"][4] == 2
    assert tc.A.curve_number() == 21
    assert tc.A.curve_name().strip() == "RX-102A-AA"


def test_heater_range_and_setpoint_drive_the_cryostat(lab, tc):
    cryo = lab.world.cryostat
    tc.output_1.output_range("medium")
    tc.output_1.setpoint(2.5)
    tc.ask("*OPC?")                              # answered after the writes before it
    assert cryo.heater_range == 2 and cryo.setpoint_K == 2.5
    assert wait_until(lambda: tc.A.temperature() > 1.0, timeout=30)
    tc.output_1.P(80)
    tc.output_1.I(30)
    tc.output_1.D(1)
    tc.ask("*OPC?")
    assert cryo.pid == (80.0, 30.0, 1.0)


def test_setpoint_ramp(lab, tc):
    sim = lab.instruments["temperature_controller"]
    tc.output_1.setpoint(1.0)
    tc.output_1.setpoint_ramp_rate(1)           # K/min: 0.5 K take 30 s simulated
    tc.output_1.setpoint_ramp_enabled(True)
    tc.output_1.write("SETP 1, 1.5")
    assert tc.output_1.setpoint_ramp_status() is True
    assert 1.0 <= lab.world.cryostat.setpoint_K < 1.5
    assert wait_until(lambda: not tc.output_1.setpoint_ramp_status(), timeout=30)
    assert tc.output_1.setpoint() == 1.5
    assert sim.ramp[1] == (1, 1.0)


def test_htrset_answers_the_336_form(lab, tc):
    fields = tc.ask("HTRSET? 1").split(",")
    assert len(fields) == 4
    tc.write("HTRSET 1,2,1,0,2")                  # 50 ohm, 0.707 A, display power
    assert tc.ask("HTRSET? 1").split(",")[:2] == ["2", "1"]


def test_refusals_set_the_execution_error_bit(lab, tc):
    sim = lab.instruments["temperature_controller"]
    sim.read_esr()
    tc.write("RANGE 1,7")
    tc.write("PID 1,0,0,0")
    tc.ask("*OPC?")
    assert sim.esr & 0x10
    assert lab.world.cryostat.heater_range == 0
    tc.write("NOSUCH 1")
    tc.ask("*OPC?")
    assert sim.esr & 0x20


def test_reset_turns_the_heaters_off(lab, tc):
    tc.output_1.output_range("high")
    tc.output_1.setpoint_ramp_enabled(True)
    tc.A.units("celsius")
    tc.write("*RST")
    assert tc.output_1.output_range() == "off"
    assert tc.output_1.setpoint_ramp_enabled() is False
    assert tc.A.units() == "kelvin"
    assert lab.world.cryostat.heater_range == 0

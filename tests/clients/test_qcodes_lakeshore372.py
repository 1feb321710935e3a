"""QCoDeS's LakeshoreModel372 driver on the simulated Lake Shore 372 of the dilution refrigerator."""
import pytest

from loopscope.sim_devices import SimulatedLab

from .conftest import SPEED, unique, unreadable, wait_until

LakeshoreModel372 = pytest.importorskip("qcodes.instrument_drivers.Lakeshore").LakeshoreModel372

# Client exceptions (docs/simulated_lab.md, Lake Shore 372): QCoDeS reads HTRSET? as five fields
# (output type first, the Model 335's form) where the 372 answers four (manual p.163), and asks
# PID? and RAMP?/RAMPST? of output 2 (analog/still), which has no loop and no setpoint ramp
# on the 372 (PID, RAMP, RAMPST?: outputs 0 and 1, manual p.171-173).
HTRSET_GROUP = ("output_type", "output_heater_resistance", "output_max_current",
                "output_max_user_current", "output_display")
NO_LOOP_ON_OUTPUT_2 = ("P", "I", "D", "setpoint_ramp_enabled", "setpoint_ramp_rate",
                       "setpoint_ramp_status")


def client_exceptions(tc):
    return HTRSET_GROUP + tuple(f"{tc.name}_analog_heater_{p}" for p in NO_LOOP_ON_OUTPUT_2)


@pytest.fixture
def dr_lab():
    from qcodes.instrument import Instrument
    lab = SimulatedLab("dilution_fridge", seed=0, speed=SPEED).start()
    yield lab
    Instrument.close_all()
    lab.stop()


@pytest.fixture
def tc(dr_lab):
    inst = LakeshoreModel372(unique("ls372"), dr_lab.resources["temperature_controller"], visalib="@py",
                             terminator="\r\n")
    yield inst
    inst.close()


def test_identity_and_every_parameter_reads(dr_lab, tc):
    assert tc.IDN()["vendor"] == "LSCI" and tc.IDN()["model"] == "372"   # QCoDeS strips "MODEL"
    sim = dr_lab.instruments["temperature_controller"]
    sim.read_esr()
    assert unreadable(tc, client_exceptions(tc)) == {}
    # only the documented exceptions were refused by the twin (none asked here)
    assert (sim.esr & 0x30) == 0


def test_mixing_chamber_channel_reads_the_fridge(dr_lab, tc):
    T = tc.ch06.temperature()
    truth = dr_lab.world.cryostat.temperature_K
    assert T == pytest.approx(truth, rel=0.01)          # the bridge's noise and curve table
    assert tc.ch06.sensor_status() == "OK"
    assert tc.ch06.enabled() is True and tc.ch06.pause() == 3
    assert tc.ch06.excitation_mode() == "voltage"
    assert "OVER" in tc.ch05.sensor_status()             # no sensor wired to channel 5


def test_sample_heater_range_setpoint_and_mode_drive_the_fridge(dr_lab, tc):
    dr = dr_lab.world.cryostat
    h = tc.sample_heater
    assert h.mode() == "closed_loop" and h.input_channel() == 6
    h.output_range("3.16mA")
    h.setpoint(0.1)
    tc.ask("*OPC?")
    assert dr.heater_range == 5 and dr.setpoint_K == 0.1 and dr.mode == "closed"
    # each query brings the simulated world to the present
    assert wait_until(lambda: tc.ch06.temperature() > 0 and abs(dr.temperature_K - 0.1) < 1e-6, timeout=30)
    assert h.output() > 0                                  # HTR?: holding power, % of range current
    h.output_range("off")
    tc.ask("*OPC?")
    assert dr.heater_range == 0


def test_inset_group_sets_the_scanner_timing(dr_lab, tc):
    sim = dr_lab.instruments["temperature_controller"]
    tc.ch02.pause(10)
    tc.ch02.dwell(20)
    tc.ask("*OPC?")
    assert (sim.channels["2"].pause, sim.channels["2"].dwell) == (10, 20)


def test_refusals_set_the_execution_error_bit(dr_lab, tc):
    sim = dr_lab.instruments["temperature_controller"]
    sim.read_esr()
    tc.write("RANGE 0,9")
    tc.write("INSET 6,1,1,2,22,1")                        # pause 2 s: below the 3 s minimum
    tc.ask("*OPC?")
    assert sim.esr & 0x10
    assert dr_lab.world.cryostat.heater_range == 0 and sim.channels["6"].pause == 3

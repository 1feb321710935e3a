"""QCoDeS's Keysight 34465A driver (qcodes.instrument_drivers.Keysight.Keysight34465A) on the
simulated 34465A in the nanovoltmeter slot, over pyvisa-py TCP: every parameter it has reads,
what it sets reaches the twin, and its readings are the world's flux-locked-loop output.

The driver asks at connect for *IDN?, *OPT? (no DIG, no MEM: firmware 2.x), SYSTem:LFRequency?
and builds its NPLC list and resolution factors for a 34465A without DIG, the same numbers as
the Truevolt guide's resolution table the twin's noise comes from."""
import numpy as np
import pytest

from loopscope.sim_devices import SimulatedLab

from .conftest import SPEED, unique, unreadable

Keysight34465A = pytest.importorskip("qcodes.instrument_drivers.Keysight").Keysight34465A

SLOT = "nanovoltmeter"
#: QCoDeS's own check refuses a time trace shorter than its minimum sample timer: at the
#: default 10 PLC with autozero (2 x 167 ms at 60 Hz) its default dt of 0.1 s is too short,
#: as it would be on a real meter; test_time_trace reads it at 1 PLC
CLIENT_REFUSES_AT_DEFAULTS = ("timetrace",)


@pytest.fixture
def k_lab():
    lab = SimulatedLab("keysight34465a_squid_readout", seed=0, speed=SPEED).start()
    yield lab
    from qcodes.instrument import Instrument
    Instrument.close_all()
    lab.stop()


@pytest.fixture
def dmm(k_lab):
    inst = Keysight34465A(unique("k34465a"), k_lab.resources[SLOT], visalib="@py")
    yield inst
    inst.close()


def fll_to(lab, volts):
    with lab.world.lock:
        lab.world.advance()
        fll = lab.world.fll
        fll.reference = fll.tracked - volts / fll.volts_per_phi0
        return fll.output_V()


def test_it_connects_as_a_34465a_without_options(k_lab, dmm):
    assert dmm.IDN()["model"] == "34465A" and dmm.IDN()["vendor"] == "Keysight Technologies"
    assert not dmm.has_DIG and not dmm.has_MEM
    assert dmm.NPLC_list == [0.02, 0.06, 0.2, 1, 10, 100]
    assert dmm.ranges == [0.1, 1, 10, 100, 1000]


def test_every_parameter_reads(k_lab, dmm):
    assert unreadable(dmm, CLIENT_REFUSES_AT_DEFAULTS) == {}
    assert k_lab.instruments[SLOT].errors == []


def test_settings_reach_the_meter(k_lab, dmm):
    sim = k_lab.instruments[SLOT]
    dmm.range(1)
    dmm.NPLC(1)
    dmm.autozero("OFF")
    dmm.trigger.source("BUS")
    dmm.trigger.count(3)
    dmm.display.text("flux")
    dmm.ask("*OPC?")
    assert (sim.range, sim.autorange, sim.nplc, sim.autozero) == (1.0, False, 1.0, False)
    assert (sim.trig_source, sim.trig_count, sim.display_text) == ("BUS", 3, "flux")
    assert dmm.resolution() == pytest.approx(3e-7)        # 0.3 ppm of 1 V at 1 PLC
    dmm.resolution(1e-7)                                  # 0.1 ppm: 10 PLC, as QCoDeS reads back
    assert dmm.NPLC() == 10 and sim.nplc == 10.0
    dmm.autorange("ON")
    dmm.ask("*OPC?")
    assert sim.autorange is True
    dmm.aperture_time(0.1)
    assert dmm.aperture_mode() == "ON" and sim.aperture_on
    assert k_lab.instruments[SLOT].errors == []


def test_readings_are_the_world_fll_output(k_lab, dmm):
    true_v = fll_to(k_lab, 2.5)
    assert dmm.volt() == pytest.approx(true_v, abs=2e-5)
    dmm.sample.count(5)
    dmm.init_measurement()
    data = dmm.fetch()
    assert data.shape == (5,) and np.all(np.abs(data - true_v) < 2e-5)
    assert dmm.read().shape == (5,)
    fll_to(k_lab, 50.0)                                  # beyond the loop's 10 V output limit
    assert dmm.volt() == pytest.approx(10.0, abs=1e-4)   # the FLL clips, the meter reads it
    dmm.range(1)
    assert dmm.volt() == np.inf                          # +9.9E+37: QCoDeS's overload
    fll_to(k_lab, 0.0)


def test_time_trace_at_1_plc(k_lab, dmm):
    true_v = fll_to(k_lab, 1.0)
    dmm.NPLC(1)
    dmm.timetrace_npts(10)
    dmm.timetrace_dt(0.1)
    trace = dmm.timetrace()
    assert trace.shape == (10,) and np.all(np.abs(trace - true_v) < 2e-5)
    sim = k_lab.instruments[SLOT]
    dmm.ask("*OPC?")                                     # its writes setting them back are done
    assert sim.trig_source == "IMM" and sim.sample_count == 1
    assert sim.errors == []


def test_error_queue_and_reset(k_lab, dmm):
    dmm.write("VOLT:DC:NPLC 1000")
    assert dmm.error() == (-222, "Data out of range")
    assert dmm.error() == (0, "No error")
    dmm.NPLC(0.2)
    dmm.range(100)
    dmm.reset()                                          # *RST, then *OPC?
    sim = k_lab.instruments[SLOT]
    assert (sim.nplc, sim.autorange) == (10.0, True)
    assert dmm.NPLC() == 10 and dmm.autorange() == "ON"

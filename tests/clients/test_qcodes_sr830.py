"""QCoDeS's SR830 driver on the simulated SR830."""
import numpy as np
import pytest

from .conftest import unique, unreadable, wait_until

SR830 = pytest.importorskip("qcodes.instrument_drivers.stanford_research").SR830

# The client's own limits, not the instrument's (docs/simulated_lab.md, SR830):
# output_interface maps the replies "0\n"/"1\n", which no VISA read with a terminator returns;
# the buffer parameters need points stored first (tested below).
CLIENT_SKIPS = {"output_interface", "ch1_databuffer", "ch2_databuffer", "ch1_datatrace",
                "ch2_datatrace", "sweep_setpoints"}


@pytest.fixture
def lockin(lab):
    inst = SR830(unique("sr830"), lab.resources["lockin"], visalib="@py", terminator="\n")
    yield inst
    inst.close()


def test_every_parameter_reads(lab, lockin):
    assert unreadable(lockin, CLIENT_SKIPS) == {}
    lockin.snapshot(update=True)
    assert lab.instruments["lockin"].esr & 0x30 == 0       # no CMD / EXE error on the way


def test_user_settings_reach_the_instrument(lab, lockin):
    sim = lab.instruments["lockin"]
    lockin.frequency(1234.5)
    lockin.time_constant(0.3)
    lockin.sensitivity(5e-3)
    lockin.reference_source("internal")
    lockin.filter_slope(24)
    lockin.harmonic(2)
    lockin.amplitude(0.5)
    lockin.aux_out2(1.25)
    lockin.ch1_display("R")
    lockin.input_coupling("DC")
    lockin.ask("*OPC?")          # writes are not waited for: this answer comes after them
    assert sim.core.frequency == pytest.approx(1234.5)
    assert sim.core.time_constant == 0.3
    assert sim.full_scale() == 5e-3
    assert sim.settings["FMOD"] == 1
    assert sim.core.slope_db == 24
    assert sim.core.harmonic == 2
    assert sim.core.amplitude == 0.5
    assert sim.aux_out[2] == 1.25
    assert sim.display[1] == (1, 0)
    assert sim.settings["ICPL"] == 1
    assert sim.esr & 0x30 == 0


def test_snap_takes_every_manual_parameter(lab, lockin):
    names = list(lockin.SNAP_PARAMETERS)
    for i in range(0, len(names), 6):
        group = names[i:i + 6] if len(names[i:i + 6]) >= 2 else names[-2:]
        values = lockin.snap(*group)
        assert len(values) == len(group)
    freq, = [v for v in lockin.snap("freq", "x")[:1]]
    assert freq == pytest.approx(lab.instruments["lockin"].core.frequency)


def test_buffer_fills_in_simulated_time(lab, lockin):
    lockin.buffer_SR(512)
    lockin.buffer_reset()
    lockin.buffer_start()
    assert wait_until(lambda: lockin.buffer_npts() >= 20)
    lockin.buffer_pause()
    n = lockin.buffer_npts()
    assert n == len(lab.instruments["lockin"].buffer[1])
    ascii_ = [float(v) for v in lockin.ask(f"TRCA? 1,0,{n}").strip(",").split(",")]
    assert len(ascii_) == n
    lockin.ch1_databuffer.prepare_buffer_readout()
    assert lockin.ch1_databuffer.shape == (n,)


def test_refusals_set_the_execution_error_bit(lab, lockin):
    sim = lab.instruments["lockin"]
    sim.read_esr()
    lockin.write("SENS 27")                    # there is no index 27
    lockin.write("OFLT -1")
    lockin.ask("SENS?")                        # answered after both: they have been handled
    assert sim.esr & 0x10
    assert sim.full_scale() == 1 and sim.core.time_constant == 0.1
    lockin.write("BOGUS 1")
    lockin.ask("SENS?")
    assert sim.esr & 0x20


def test_reset_restores_the_manual_defaults(lab, lockin):
    sim = lab.instruments["lockin"]
    lockin.frequency(5000)
    lockin.sensitivity(1e-6)
    lockin.time_constant(10)
    lockin.reset()
    assert lockin.frequency() == 1000
    assert lockin.amplitude() == 1.0
    assert lockin.sensitivity() == 1
    assert lockin.time_constant() == 0.1
    assert lockin.filter_slope() == 12
    assert sim.settings["FMOD"] == 1
    assert np.isfinite(lockin.X())

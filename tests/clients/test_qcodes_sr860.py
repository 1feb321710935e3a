"""QCoDeS's SR860 driver (with its capture buffer) on the simulated SR860."""
import numpy as np
import pytest

from .conftest import unique, unreadable, wait_until

SR860 = pytest.importorskip("qcodes.instrument_drivers.stanford_research").SR860

# the buffer readouts X, Y, R, T hold data only after get_capture_data (tested below)
CLIENT_SKIPS = {"X", "Y", "R", "T"}


@pytest.fixture
def lockin(lab):
    inst = SR860(unique("sr860"), lab.resources["lockin_sr860"], visalib="@py", terminator="\n")
    yield inst
    inst.close()


def readable(inst):
    top = {k: v for k, v in unreadable(inst).items() if not k.endswith(tuple("_" + s for s in CLIENT_SKIPS))}
    return top


def test_constructs_and_every_parameter_reads(lab, lockin):
    assert readable(lockin) == {}
    lockin.snapshot(update=True)
    assert lab.instruments["lockin_sr860"].esr & 0x30 == 0


def test_user_settings_reach_the_instrument(lab, lockin):
    sim = lab.instruments["lockin_sr860"]
    lockin.frequency(3210.0)
    lockin.time_constant(0.03)
    lockin.sensitivity(2e-3)
    lockin.reference_source("INT")
    lockin.amplitude(0.25)
    lockin.sine_outdc(0.5)
    lockin.X_offset(12.5)
    lockin.data_channel_2.assigned_parameter("frequency")
    lockin.ask("*OPC?")          # writes are not waited for: this answer comes after them
    assert sim.core.frequency == pytest.approx(3210.0)
    assert sim.core.time_constant == 0.03
    assert sim.full_scale() == 2e-3
    assert sim.settings["RSRC"] == 0
    assert sim.core.amplitude == 0.25
    assert sim.dc_level == 0.5
    assert sim.channel_offsets[0] == 12.5
    assert sim.data_channels[1] == 15
    assert lockin.get_data_channels_values()[1] == pytest.approx(3210.0)


def test_get_values_takes_every_parameter(lab, lockin):
    names = list(lockin.PARAMETER_NAMES)
    for i in range(0, len(names) - 1, 2):
        assert len(lockin.get_values(*names[i:i + 2])) == 2
    assert len(lockin.get_values(*names[-3:])) == 3
    amp, freq = lockin.get_values("amplitude", "frequency")
    assert (amp, freq) == (pytest.approx(lab.instruments["lockin_sr860"].core.amplitude),
                           pytest.approx(lab.instruments["lockin_sr860"].core.frequency))


def test_capture_buffer_round_trip(lab, lockin):
    sim = lab.instruments["lockin_sr860"]
    buf = lockin.buffer
    buf.capture_config("X,Y")
    buf.capture_length_in_kb(2)
    rate = buf.capture_rate_max() / 2 ** 6
    buf.capture_rate(rate)
    lockin.ask("*OPC?")                        # answered after the writes before it
    assert sim.capture_cfg == 1 and sim.capture_len_kb == 2 and sim.capture_rate_n == 6
    buf.start_capture("ONE", "IMM")
    assert wait_until(lambda: buf.count_capture_bytes() >= 2048, timeout=30)
    assert int(buf.capture_status()) & 4           # one-shot capture complete
    data = buf.get_capture_data(256)               # 256 samples of X and Y
    assert set(data) == {"X", "Y"}
    assert len(data["X"]) == 256 and np.all(np.isfinite(data["X"]))
    assert buf.X.get().shape == (256,)
    buf.stop_capture()
    assert not sim.capture_running


def test_capture_settings_are_refused_while_capturing(lab, lockin):
    sim = lab.instruments["lockin_sr860"]
    buf = lockin.buffer
    buf.capture_length_in_kb(4096)
    buf.start_capture("CONT", "IMM")
    sim.read_esr()
    lockin.write("CAPTURELEN 2")
    lockin.ask("CAPTURELEN?")
    assert sim.esr & 0x10 and sim.capture_len_kb == 4096
    buf.stop_capture()


def test_reset_restores_defaults(lab, lockin):
    lockin.frequency(7000)
    lockin.sensitivity(1e-6)
    lockin.reset()
    assert lockin.frequency() == 1000
    assert lockin.sensitivity() == 1
    assert lockin.time_constant() == 0.1

"""QCoDeS's SR865A driver (qcodes.instrument_drivers.stanford_research.SR865A, its SR86x base
with max_frequency 4 MHz) on the simulated SR865A (the lockin_sr860 slot, model sr865a)."""
import pytest

from loopscope.sim_devices import SimulatedLab

from .conftest import SPEED, unique, unreadable, wait_until

SR865A = pytest.importorskip("qcodes.instrument_drivers.stanford_research").SR865A

# the buffer readouts X, Y, R, T hold data only after get_capture_data (as for the SR860)
CLIENT_SKIPS = {"X", "Y", "R", "T"}


@pytest.fixture
def lab():
    lab = SimulatedLab("sr865a_cantilever", seed=0, speed=SPEED).start()
    yield lab
    from qcodes.instrument import Instrument
    Instrument.close_all()
    lab.stop()


@pytest.fixture
def lockin(lab):
    inst = SR865A(unique("sr865a"), lab.resources["lockin_sr860"], visalib="@py", terminator="\n")
    yield inst
    inst.close()


def test_constructs_and_every_parameter_reads(lab, lockin):
    failed = {k: v for k, v in unreadable(lockin).items()
              if not k.endswith(tuple("_" + s for s in CLIENT_SKIPS))}
    assert failed == {}
    assert lockin.IDN()["model"] == "SR865A"
    assert lab.instruments["lockin_sr860"].esr & 0x30 == 0          # nothing refused


def test_megahertz_frequencies_reach_the_twin(lab, lockin):
    twin = lab.instruments["lockin_sr860"]
    lockin.frequency(3.25e6)
    lockin.ask("*OPC?")            # answered after the writes before it
    assert twin.core.frequency == pytest.approx(3.25e6)
    assert lockin.frequency() == pytest.approx(3.25e6)
    # QCoDeS's own validator stops 4.5 MHz before it is sent; sent raw, the twin refuses it
    with pytest.raises(ValueError):
        lockin.frequency(4.5e6)
    twin.read_esr()
    lockin.write("FREQ 4.5E6")
    lockin.ask("*OPC?")
    assert twin.read_esr() & 0x10 and twin.core.frequency == pytest.approx(3.25e6)


def test_the_cantilever_is_seen_at_its_resonance(lab, lockin):
    lab.world.advance()
    f_res = lab.world.cantilever_resonance_Hz()
    lockin.time_constant(0.1)
    lockin.frequency(f_res + 200.0)                     # far off: the response is small
    lockin.ask("*OPC?")
    off = lockin.R()               # the cantilever's response 200 Hz (17 linewidths) away
    lockin.frequency(f_res)
    lockin.ask("*OPC?")
    assert wait_until(lambda: lockin.R() > 20 * off, timeout=30)   # rings up on resonance

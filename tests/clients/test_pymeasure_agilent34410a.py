"""pymeasure's stock Agilent34410A ("the HP/Agilent/Keysight 34410A and related multimeters",
the class loopscope's Keysight34465A driver subclasses) on the simulated 34465A: each of its
measurements is MEASure? DEF,DEF, which configures the meter (autorange, default resolution)
and reads; the twin must answer as the real meter, and its state shows what MEASure? did.
pymeasure has no recorded 34410A/34465A transcript (tests/instruments/agilent holds only the
34450A's), so there is nothing to replay."""
import warnings

import pytest

from loopscope.sim_devices import SimulatedLab

from .conftest import SPEED

SLOT = "nanovoltmeter"


@pytest.fixture
def k_lab():
    with SimulatedLab("keysight34465a_squid_readout", seed=0, speed=SPEED) as lab:
        yield lab


@pytest.fixture
def stock(k_lab):
    from pymeasure.instruments.agilent import Agilent34410A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)      # its SCPI-unknown notice
        inst = Agilent34410A(k_lab.resources[SLOT], visa_library="@py", timeout=2000,
                             read_termination="\n", write_termination="\n")
    yield inst
    inst.adapter.close()


def fll_to(lab, volts):
    with lab.world.lock:
        lab.world.advance()
        fll = lab.world.fll
        fll.reference = fll.tracked - volts / fll.volts_per_phi0
        return fll.output_V()


def test_stock_measurements_on_the_twin(k_lab, stock):
    sim = k_lab.instruments[SLOT]
    assert stock.id.startswith("Keysight Technologies,34465A,")
    true_v = fll_to(k_lab, -3.3)
    stock.write("CONF:VOLT:DC 0.1,MAX")                     # someone's fixed 100 mV range
    assert stock.voltage_dc == pytest.approx(true_v, abs=2e-5)
    # MEASure? DEF,DEF put the meter back to autorange and 10 PLC: what the loopscope driver
    # avoids by reading READ? in the configuration the run chose
    assert sim.autorange is True and sim.nplc == 10.0 and sim.range == 10.0
    assert stock.resistance == pytest.approx(9.9e37)        # its test current into a driven output
    assert abs(stock.current_dc) < 1e-9                      # nothing on the current terminals
    assert 0 <= stock.voltage_ac < 1e-4                      # a DC source: the converter's noise
    assert sim.func == "VOLT:AC"
    assert stock.check_errors() == []
    fll_to(k_lab, 0.0)

"""qcodes-contrib-drivers' Keithley 2182A driver on the simulated 2182A."""
import pytest

from .conftest import unique, unreadable

Keithley2182A = pytest.importorskip(
    "qcodes_contrib_drivers.drivers.Tektronix.Keithley_2182A").Keithley2182A

# The driver maps booleans to the replies "ON"/"OFF"; SCPI (and the 2182 manual) answer
# boolean queries with 1/0, so these five cannot be read by this client (they can be set).
BOOLEAN_READS = ("auto_range_enabled", "display_enabled", "analog_filter", "digital_filter", "auto_zero")


@pytest.fixture
def nvm(lab):
    inst = Keithley2182A(unique("k2182"), lab.resources["nanovoltmeter"], visalib="@py", terminator="\r")
    yield inst
    inst.close()


def test_every_parameter_reads(lab, nvm):
    assert unreadable(nvm, BOOLEAN_READS) == {}
    assert lab.instruments["nanovoltmeter"].errors == []


def test_boolean_queries_answer_1_or_0(lab, nvm):
    for q in ("SENS:VOLT:RANG:AUTO?", "DISP:ENAB?", "SENS:VOLT:DC:LPAS?", "SENS:VOLT:DC:DFIL?", "SYST:AZER?"):
        assert nvm.ask(q) in ("0", "1"), q


def test_range_autorange_nplc_reach_the_meter(lab, nvm):
    sim = lab.instruments["nanovoltmeter"]
    nvm.range(0.1)
    nvm.nplc(1)
    nvm.auto_zero(False)
    nvm.analog_filter(True)
    nvm.trigger_source("bus")
    nvm.ask("*OPC?")
    assert sim.range[1] == 0.1 and sim.auto[1] is False
    assert nvm.range() == 0.1
    assert sim.nplc == 1
    assert sim.azero is False and sim.analog_filter is True
    assert sim.trig_source == "BUS"
    nvm.auto_range_enabled(True)
    nvm.ask("*OPC?")
    assert sim.auto[1] is True
    nvm.aperture_time(0.1)
    nvm.ask("*OPC?")
    assert sim.nplc == pytest.approx(6.0)
    v = nvm.voltage()
    assert abs(v - lab.world.fll.output_V()) < 1e-3


def test_optional_nodes_and_forms_are_one_command(lab, nvm):
    sim = lab.instruments["nanovoltmeter"]
    nvm.write(":sense1:voltage:dc:nplcycles 2")
    assert nvm.ask("VOLT:NPLC?") == "2"
    nvm.write(":SYSTem:AZERo:STATe OFF")
    assert nvm.ask("syst:azer?") == "0"
    assert sim.errors == []


def test_out_of_range_goes_to_the_error_queue(lab, nvm):
    nvm.write("SENS:VOLT:NPLC 100")
    assert nvm.ask("SYST:ERR?") == '-222,"Parameter data out of range"'
    nvm.write("SENS:VOLT:RANGE:BOGUS 1")
    assert nvm.ask("SYST:ERR?").startswith("-113")


def test_reset(lab, nvm):
    nvm.range(0.01)
    nvm.nplc(0.1)
    nvm.reset()
    assert nvm.nplc() == 5
    assert nvm.ask("SENS:VOLT:RANG:AUTO?") == "1"
    assert nvm.ask("SYST:AZER?") == "1"

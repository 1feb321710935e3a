"""The simulated Keysight 34465A in the nanovoltmeter slot, over its LAN socket, against the
Truevolt Operating and Service Guide: identity, CONFigure/READ?/INIT/FETCh?/MEASure?, the
settings and their query forms, reply formats, overload, the error queue and status bytes,
and the noise of its resolution table. The meter reads the world's flux-locked-loop output."""
import numpy as np
import pytest
import pyvisa

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices.instruments.keysight34465a import RES_FACTORS

SLOT = "nanovoltmeter"


@pytest.fixture(scope="module")
def lab():
    with SimulatedLab({"models": {SLOT: "keysight34465a"}}, seed=0, speed=100.0) as running:
        yield running


@pytest.fixture
def dmm(lab):
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(lab.resources[SLOT], read_termination="\n", write_termination="\n",
                            timeout=3000)
    inst.write("*RST;*CLS")
    yield inst
    inst.close()
    rm.close()


def sim(lab):
    return lab.instruments[SLOT]


def synced(dmm):
    """After writes: *OPC? answers once the twin has handled every line before it."""
    assert dmm.query("*OPC?") == "1"
    return True


def set_fll_output(lab, volts):
    """Move the world's FLL output to `volts` (the loop's reference, as a reset would)."""
    world = lab.world
    with world.lock:
        world.advance()
        fll = world.fll
        fll.reference = fll.tracked - volts / fll.volts_per_phi0
        return fll.output_V()


def test_identity_and_terminators(lab):
    """*IDN? as the guide's form, every reply ends with LF, a CR LF command line works."""
    from tests.clients.conftest import RawLine
    line = RawLine(lab.resources[SLOT], b"\n", end=b"\r\n")
    try:
        idn = line.ask(b"*IDN?").decode()
        assert idn.startswith("Keysight Technologies,34465A,")
        assert len(idn.split(",")) == 4
        assert line.ask(b"SYST:VERS?") == b"1994.0"
        assert line.ask(b"READ?").startswith((b"+", b"-"))
    finally:
        line.close()


def test_read_is_the_world_fll_output_with_the_format_of_the_guide(lab, dmm):
    true_v = set_fll_output(lab, 1.2345)
    reply = dmm.query("READ?")
    # +1.23456789E+00: sign, one digit, eight decimals, two-digit exponent
    assert len(reply) == 15 and reply[0] in "+-" and reply[11] == "E"
    assert float(reply) == pytest.approx(true_v, abs=2e-5)
    assert float(dmm.query("MEAS:VOLT:DC?")) == pytest.approx(true_v, abs=2e-5)
    assert float(dmm.query("MEASure:VOLTage:DC? 10,MAX")) == pytest.approx(true_v, abs=1e-3)
    assert sim(lab).range == 10.0 and sim(lab).nplc == 0.02 and not sim(lab).autorange


def test_configure_and_its_query(lab, dmm):
    dmm.write("CONF:VOLT:DC 1,3e-7")       # 0.3 ppm of 1 V: 1 PLC
    assert dmm.query("CONF?") == '"VOLT +1.00000000E+00,+3.00000000E-07"'
    s = sim(lab)
    assert (s.range, s.nplc, s.autorange, s.trig_source, s.sample_count) == (1.0, 1.0, False, "IMM", 1)
    dmm.write("CONFigure:VOLTage:DC AUTO")
    assert synced(dmm) and s.autorange is True and s.nplc == 10.0
    dmm.write("CONF:VOLT:DC")      # no parameters: autorange, 10 PLC
    assert dmm.query("SENS:VOLT:DC:RANG:AUTO?") == "1"
    assert dmm.query("SYST:ERR?") == '+0,"No error"'


def test_settings_and_optional_nodes(lab, dmm):
    s = sim(lab)
    dmm.write("VOLT:DC:RANG 0.5")               # the smallest range that holds 0.5 V
    assert dmm.query("SENS:VOLTage:DC:RANGe?") == "+1.00000000E+00"
    assert s.autorange is False
    dmm.write(":SENSe:VOLTage:NPLCycles 1")
    assert dmm.query("VOLT:DC:NPLC?") == "+1.00000000E+00"
    dmm.write("VOLT:NPLC 5")                    # between 1 and 10: the longer one
    assert synced(dmm) and s.nplc == 10.0
    assert dmm.query("VOLT:DC:NPLC? MIN") == "+2.00000000E-02"
    assert dmm.query("VOLT:DC:NPLC? MAX") == "+1.00000000E+02"
    dmm.write("VOLT:DC:ZERO:AUTO OFF")
    assert dmm.query("VOLT:ZERO:AUTO?") == "0" and s.autozero is False
    dmm.write("TRIG:SOUR BUS")
    assert dmm.query("TRIGger:SOURce?") == "BUS"
    dmm.write("SAMP:COUN 4")
    assert dmm.query("SAMP:COUN?") == "+4"
    assert dmm.query("SENS:FUNC?") == '"VOLT"'
    assert dmm.query("SYST:LFR?") in ("+50", "+60")
    assert s.errors == []


def test_the_autozero_header_of_other_meters_is_not_the_truevolts(lab, dmm):
    """The Truevolt's autozero is [SENSe:]VOLTage[:DC]:ZERO:AUTO; AZERo is undefined there."""
    dmm.write("SYST:AZER OFF")
    assert dmm.query("SYST:ERR?") == '-113,"Undefined header"'
    assert sim(lab).autozero is True


def test_overload_answers_9_9e37(lab, dmm):
    set_fll_output(lab, 0.5)
    dmm.write("VOLT:DC:RANG 0.1")
    assert dmm.query("READ?") == "+9.90000000E+37"
    set_fll_output(lab, -0.5)
    assert dmm.query("READ?") == "-9.90000000E+37"
    dmm.write("VOLT:DC:RANG:AUTO ON")
    assert float(dmm.query("READ?")) == pytest.approx(-0.5, abs=1e-4)
    assert sim(lab).range == 1.0
    set_fll_output(lab, 0.0)


def test_init_fetch_and_bus_triggers(lab, dmm):
    set_fll_output(lab, 2.0)
    dmm.write("SAMP:COUN 3")
    dmm.write("INIT")
    values = [float(v) for v in dmm.query("FETC?").split(",")]
    assert len(values) == 3 and all(abs(v - 2.0) < 1e-4 for v in values)
    assert dmm.query("FETC?").count(",") == 2          # FETCh? leaves the readings in memory
    dmm.write("TRIG:SOUR BUS;:TRIG:COUN 2;:SAMP:COUN 1")
    dmm.write("INIT")
    dmm.write("*TRG")
    dmm.write("*TRG")
    assert len(dmm.query("FETC?").split(",")) == 2
    dmm.write("*TRG")                                   # no longer waiting for a trigger
    assert dmm.query("SYST:ERR?") == '-211,"Trigger ignored"'
    set_fll_output(lab, 0.0)


def test_refusals_go_to_the_error_queue_with_the_status_bits(lab, dmm):
    dmm.write("VOLT:DC:NPLC 1000")
    dmm.write("VOLT:DC:RANG 2000")
    assert dmm.query("*STB?") == "4"                    # bit 2: the error queue is not empty
    assert dmm.query("SYST:ERR?") == '-222,"Data out of range"'
    assert dmm.query("SYST:ERR?") == '-222,"Data out of range"'
    assert dmm.query("SYST:ERR?") == '+0,"No error"'
    assert int(dmm.query("*ESR?")) & 16                 # EXE, execution error
    dmm.write("TRIG:SOUR BUS")
    dmm.write("READ?")                                  # a deadlock: the meter answers nothing
    assert dmm.query("SYST:ERR?") == '-214,"Trigger deadlock"'
    dmm.write("*RST")
    dmm.write("FETC?")
    assert dmm.query("SYST:ERR?") == '-230,"Data stale"'
    dmm.write("VOLT:DC:FROB 1")
    assert dmm.query("SYST:ERR?") == '-113,"Undefined header"'
    assert int(dmm.query("*ESR?")) & 32                 # CME, command error


def test_the_queue_holds_20_and_then_overflows(lab, dmm):
    for _ in range(25):
        dmm.write("VOLT:DC:NPLC 1000")
    errors = [dmm.query("SYST:ERR?") for _ in range(21)]
    assert errors[:19] == ['-222,"Data out of range"'] * 19
    assert errors[19] == '-350,"Queue overflow"'
    assert errors[20] == '+0,"No error"'


def test_reset_gives_the_guides_defaults(lab, dmm):
    dmm.write("CONF:VOLT:DC 0.1,MAX;:TRIG:SOUR BUS;:VOLT:DC:ZERO:AUTO OFF")
    dmm.write("*RST")
    assert dmm.query("CONF?") == '"VOLT +1.00000000E+01,+1.00000000E-06"'
    assert dmm.query("VOLT:DC:RANG:AUTO?") == "1"
    assert dmm.query("TRIG:SOUR?") == "IMM"
    assert dmm.query("VOLT:DC:ZERO:AUTO?") == "1"


@pytest.mark.parametrize("nplc", [1.0, 10.0])
def test_reading_noise_follows_the_resolution_table(lab, dmm, nplc):
    """rms of 400 readings on the 10 V range: the guide's ResFactor x range (0.3 ppm at 1 PLC,
    0.1 ppm at 10 PLC); the SQUID's own 1e-7 Phi0 (0.1 uV) is below both."""
    true_v = set_fll_output(lab, 3.0)
    dmm.write(f"CONF:VOLT:DC 10;:VOLT:DC:NPLC {nplc:g};:SAMP:COUN 400")
    values = np.array([float(v) for v in dmm.query("READ?").split(",")])
    expected = np.hypot(RES_FACTORS[nplc] * 10.0, 1e-7)
    assert values.mean() == pytest.approx(true_v, abs=5 * expected / np.sqrt(400))
    assert values.std() == pytest.approx(expected, rel=0.15)
    set_fll_output(lab, 0.0)


def test_other_functions_read_what_the_input_sees(lab, dmm):
    set_fll_output(lab, 1.0)
    dmm.write('SENS:FUNC "RES"')
    assert dmm.query("SENS:FUNC?") == '"RES"'
    assert dmm.query("READ?") == "+9.90000000E+37"
    dmm.write('FUNC "CURR"')
    assert abs(float(dmm.query("READ?"))) < 1e-9
    dmm.write('FUNC "VOLT"')
    assert float(dmm.query("READ?")) == pytest.approx(1.0, abs=1e-4)
    set_fll_output(lab, 0.0)


def test_it_has_no_serial_port_to_serve():
    """The 34465A has LAN, USB and GPIB, no RS-232: the lab refuses to serve it on a pty."""
    from loopscope.sim_devices.config import ConfigError
    with pytest.raises(ConfigError, match="no serial port for the Keysight 34465A"):
        SimulatedLab({"models": {SLOT: "keysight34465a"}}, serial=[SLOT])

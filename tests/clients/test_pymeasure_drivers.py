"""pymeasure's stock SR830, SR860 and Keithley2182 on the simulated lab: every property reads,
every writable one takes back the value it read, and the settings a user changes land in the
simulated instrument."""
import pytest

pytest.importorskip("pymeasure")
from pymeasure.instruments.keithley import Keithley2182  # noqa: E402
from pymeasure.instruments.srs import SR830, SR860  # noqa: E402

from .conftest import wait_until  # noqa: E402

# pymeasure's own base-class properties that a non-SCPI driver leaves unimplemented
# (NotImplementedError before anything is sent): not the instrument's business
PYMEASURE_UNIMPLEMENTED = {"id", "options", "status", "complete", "next_error"}
# pymeasure SR860 setters that send what no SR860 takes: "REFZ&d" (a typo for %d),
# "ADVFIL" (the command is ADVFILT), "GSDP" (GSPD); the simulator refuses them as the
# instrument would, with the command error bit (documented in docs/simulated_lab.md)
SR860_CLIENT_TYPOS = {"filter_advanced", "horizontal_time_div"}
# ... and "REFZ&d" makes pymeasure itself fail (TypeError) before anything is sent
SR860_CLIENT_FAILS = {"reference_externalinput"}
# pymeasure's SR830 channel1/channel2 read "DDEF? i" as one value; the manual's reply is
# "j,k" (display, ratio), as QCoDeS reads it, so pymeasure gets a list of two numbers, not a
# name, and cannot set that back (a real SR830 answers the same)
SR830_CLIENT_FAILS = {"channel1", "channel2"}


def properties(cls):
    return sorted(n for n in dir(cls) if isinstance(getattr(cls, n, None), property)
                  and n not in PYMEASURE_UNIMPLEMENTED)


def writable(cls):
    return [n for n in properties(cls) if getattr(cls, n).fset is not None]


def sync(inst):
    inst.ask("*OPC?")          # answered after every write before it


def read_all(inst, skip=()):
    failed = {}
    for n in properties(type(inst)):
        if n in skip:
            continue
        try:
            getattr(inst, n)
        except Exception as exc:        # noqa: BLE001 - collected and reported
            failed[n] = f"{type(exc).__name__}: {exc}"
    return failed


def refused_round_trips(inst, sim, skip=()):
    """Set every writable property to the value it reads; the ones the simulator refused."""
    refused, client_failed = [], []
    for n in writable(type(inst)):
        if n in skip:
            continue
        value = getattr(inst, n)
        sim.read_esr()
        try:
            setattr(inst, n, value)
        except LookupError:             # a measurement: pymeasure has no set command for it
            continue
        except TypeError:               # pymeasure could not even format the command
            client_failed.append(n)
            continue
        sync(inst)
        if sim.esr & 0x30:
            refused.append(n)
    return refused, client_failed


@pytest.fixture
def sr830(lab):
    inst = SR830(lab.resources["lockin"], read_termination="\n")
    yield inst
    inst.adapter.close()


@pytest.fixture
def sr860(lab):
    inst = SR860(lab.resources["lockin_sr860"], read_termination="\n")
    yield inst
    inst.adapter.close()


@pytest.fixture
def k2182(lab):
    inst = Keithley2182(lab.resources["nanovoltmeter"])
    yield inst
    inst.adapter.close()


def test_sr830_every_property(lab, sr830):
    sim = lab.instruments["lockin"]
    assert read_all(sr830) == {}
    assert sr830.channel1 == [0, 0] and sr830.channel2 == [0, 0]
    assert refused_round_trips(sr830, sim, SR830_CLIENT_FAILS) == ([], [])
    sr830.channel1 = "R"                       # setting them works
    sync(sr830)
    assert sim.display[1] == (1, 0)


def test_sr830_user_settings(lab, sr830):
    sim = lab.instruments["lockin"]
    sr830.frequency = 2345.0
    sr830.time_constant = 0.3
    sr830.sensitivity = 0.01
    sr830.reference_source = "Internal"
    sr830.sine_voltage = 0.2
    sync(sr830)
    assert sim.core.frequency == pytest.approx(2345.0)
    assert sim.core.time_constant == 0.3
    assert sim.full_scale() == 0.01
    assert sim.settings["FMOD"] == 1
    assert sim.core.amplitude == 0.2
    assert len(sr830.snap("aux in 1", "aux in 2", "aux in 3", "aux in 4", "ch2")) == 5
    assert sr830.snap("X", "Y", "R", "THETA", "FREQUENCY", "CH1")[4] == pytest.approx(2345.0)


def test_sr830_buffer(lab, sr830):
    sr830.sample_frequency = 64
    sr830.write("REST;STRT")
    assert wait_until(lambda: sr830.buffer_count >= 10)
    sr830.pause_buffer()
    n = sr830.buffer_count
    assert n == len(lab.instruments["lockin"].buffer[1])


def test_sr860_every_property(lab, sr860):
    sim = lab.instruments["lockin_sr860"]
    assert read_all(sr860) == {}
    assert refused_round_trips(sr860, sim) == (sorted(SR860_CLIENT_TYPOS), sorted(SR860_CLIENT_FAILS))


def test_sr860_user_settings(lab, sr860):
    sim = lab.instruments["lockin_sr860"]
    sr860.frequency = 4321.0
    sr860.time_constant = 0.03
    sr860.sensitivity = 0.005
    sr860.reference_source = "INT"
    sr860.sine_voltage = 0.3
    sync(sr860)
    assert sim.core.frequency == pytest.approx(4321.0)
    assert sim.core.time_constant == 0.03
    assert sim.settings["RSRC"] == 0
    assert sim.core.amplitude == pytest.approx(0.3)
    assert sim.full_scale() == 0.005


def test_keithley2182_every_property(lab, k2182):
    sim = lab.instruments["nanovoltmeter"]
    k2182.write("TRAC:POIN 2;TRAC:FEED SENS;TRAC:FEED:CONT NEXT;INIT")
    assert read_all(k2182) == {}
    assert refused_round_trips(k2182, sim) == ([], [])
    assert sim.errors == []


def test_keithley2182_user_settings(lab, k2182):
    sim = lab.instruments["nanovoltmeter"]
    k2182.ch_1.voltage_range = 0.1
    k2182.voltage_nplc = 1
    k2182.auto_zero_enabled = False
    sync(k2182)
    assert sim.range[1] == 0.1 and sim.auto[1] is False
    assert sim.nplc == 1 and sim.azero is False
    k2182.ch_1.voltage_range_auto_enabled = True
    sync(k2182)
    assert sim.auto[1] is True
    assert abs(k2182.voltage - lab.world.fll.output_V()) < 1e-3

"""The SR865A and the Ametek 7270: identity, station validation of their frequency ranges
(before anything is connected), every driver property the roles use over the lab's TCP socket
(checked on the twins' own state), the 7270's RS-232 port on a pseudo-terminal, and the 7270
twin's manual behaviour (status byte, overload byte, delimiter, fixed-point outputs)."""
import math
import sys
from pathlib import Path

import pytest
import pyvisa
import yaml

from loopscope.instruments.drivers.ametek7270 import Ametek7270
from loopscope.instruments.drivers.sr860 import SR860
from loopscope.instruments.drivers.sr865a import SR865A
from loopscope.instruments.roles import InstrumentError, LimitError, RefusedCommandError
from loopscope.instruments.station import StationError, load_station, validate_station
from loopscope.sim_devices import SimulatedLab

ROOT = Path(__file__).resolve().parents[2]
SPEED = 1000.0
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")


def station(file: str, lab=None, slot="lockin", **lockin_over):
    data = yaml.safe_load((ROOT / "examples" / file).read_text())
    data["time_scale"] = SPEED
    data["timeout_s"] = 1.0
    data["instruments"] = {"lockin": data["instruments"]["lockin"]}
    data["instruments"]["lockin"].update(lockin_over)
    if lab is not None:
        data["instruments"]["lockin"]["resource"] = lab.resources[slot]
    return data


# ------------------------------------------------------------------ identity

def test_identity_strings():
    # SRS's thinkSRS/srsinst.sr860 README: a real SR865A's reply
    assert SR865A.identity_matches("Stanford_Research_Systems,SR865A,002725,v1.34")
    assert not SR865A.identity_matches("Stanford_Research_Systems,SR860,002819,v1.51")
    assert not SR865A.identity_matches("Stanford_Research_Systems,SR865,002725,v1.34")
    assert SR860.identity_matches("Stanford_Research_Systems,SR865A,002725,v1.34")   # narrower: safe
    # the 7270's ID answers its model number (manual 6.7.12); a 7265 or 7230 is another set
    assert Ametek7270.identity_matches("7270")
    for other in ("7265", "7230", "7220", "72700"):
        assert not Ametek7270.identity_matches(other)


def test_the_twins_answer_as_their_models():
    from loopscope.sim_devices.instruments.ametek7270 import Ametek7270 as Sim7270
    from loopscope.sim_devices.instruments.sr860 import SR865A as SimSR865A
    assert SR865A.identity_matches(SimSR865A.idn)
    assert Ametek7270.identity_matches(Sim7270.idn)


# ------------------------------------------------------------------ station validation (no I/O)

def test_the_example_stations_validate():
    assert validate_station(ROOT / "examples" / "station_sim_sr865a.yaml").instruments["lockin"].limits[
        "max_frequency_Hz"] == 4e6
    assert validate_station(ROOT / "examples" / "station_sim_ametek7270.yaml").instruments["lockin"].limits[
        "max_frequency_Hz"] == 250e3


@pytest.mark.parametrize("file, driver, limits, words", [
    ("station_sim_sr865a.yaml", "sr865a", {"max_frequency_Hz": 5e6}, ["5e+06 Hz", "SR865A", "0.001..4e+06"]),
    ("station_sim_sr865a.yaml", "sr860", {"max_frequency_Hz": 1e6}, ["1e+06 Hz", "SR860", "0.001..500000"]),
    ("station_sim_ametek7270.yaml", "ametek7270", {"max_frequency_Hz": 3e5}, ["300000 Hz", "Ametek 7270", "250000"]),
    ("station_sim_ametek7270.yaml", "ametek7270", {"min_frequency_Hz": 200.0, "max_frequency_Hz": 100.0},
     ["min_frequency_Hz = 200", "exceeds"]),
])
def test_limits_beyond_the_model_are_refused_before_anything_connects(file, driver, limits, words):
    data = station(file, driver=driver, limits=limits)
    data["instruments"]["lockin"]["resource"] = "TCPIP0::192.0.2.1::1::SOCKET"   # nobody there
    with pytest.raises(StationError) as err:
        validate_station(data)
    for word in words:
        assert word in str(err.value)


def test_the_sr865a_range_reaches_plan_checks():
    from loopscope.daq.plan_against_station import plan_instruments
    info = plan_instruments(validate_station(ROOT / "examples" / "station_sim_sr865a.yaml"))["lockin"][1]
    assert info["driver_max_frequency_Hz"] == 4e6


# ------------------------------------------------------------------ SR865A over TCP

@pytest.fixture
def sr865a_lab():
    with SimulatedLab("sr865a_cantilever", seed=0, speed=SPEED) as lab:
        yield lab


def test_sr865a_role_sets_megahertz_and_refuses_beyond(sr865a_lab):
    lab = sr865a_lab
    twin = lab.instruments["lockin_sr860"]
    with load_station(station("station_sim_sr865a.yaml", lab, "lockin_sr860")) as st:
        li = st["lockin"]
        assert [f.verdict for f in li.findings][0] == "ok"             # RSRC? internal
        li.set_frequency_Hz(3.5e6)
        assert twin.core.frequency == pytest.approx(3.5e6)
        assert li.read_frequency_Hz() == pytest.approx(3.5e6)
        x, y = li.read_xy_V()
        assert math.isfinite(x) and math.isfinite(y)
        assert li.read_time_constant_s() == twin.core.time_constant
        with pytest.raises(LimitError):
            li.set_frequency_Hz(4.5e6)                                  # the station's (= model's) limit
        assert twin.core.frequency == pytest.approx(3.5e6)
        with pytest.raises(LimitError):
            li.driver.frequency = 4.5e6                                 # the driver's own range
        snap = li.driver.snapshot()
        assert snap["idn"].startswith("Stanford_Research_Systems,SR865A")
    assert not any(line.startswith("FREQ 4.5") for _, line in twin.command_log)


def test_sr865a_twin_refuses_beyond_4_mhz_and_harmonics_past_it(sr865a_lab):
    twin = sr865a_lab.instruments["lockin_sr860"]
    assert twin.handle_line("FREQ 4000000") is None and twin.read_esr() & 0x10 == 0
    twin.handle_line("FREQ 4000001")
    assert twin.read_esr() & 0x10 and twin.core.frequency == 4e6
    twin.handle_line("FREQ 2500000")
    twin.handle_line("HARM 2")                                         # 5 MHz: refused
    assert twin.read_esr() & 0x10 and twin.core.harmonic == 1


def test_an_sr860_driver_on_the_sr865a_keeps_to_500_khz(sr865a_lab):
    lab = sr865a_lab
    with load_station(station("station_sim_sr865a.yaml", lab, "lockin_sr860", driver="sr860",
                              limits={"min_frequency_Hz": 1.0, "max_frequency_Hz": 500000.0})) as st:
        with pytest.raises(LimitError):
            st["lockin"].driver.frequency = 1e6


# ------------------------------------------------------------------ 7270 over TCP

@pytest.fixture
def ametek_lab():
    with SimulatedLab("ametek7270_cantilever", seed=0, speed=SPEED) as lab:
        yield lab


def test_7270_connect_sends_only_queries(ametek_lab):
    twin = ametek_lab.instruments["lockin"]
    with load_station(station("station_sim_ametek7270.yaml", ametek_lab)) as st:
        findings = {f.setting: f for f in st["lockin"].findings}
        assert findings["reference source"].verdict == "ok"
        assert "IE -> INT" in findings["reference source"].instrument
    sent = [line for _, line in twin.command_log]
    assert sent[0] == "ID"
    # every command at connect is a bare name: the 7270's query form (no parameter)
    assert all(" " not in line for line in sent), sent


def test_7270_every_role_property_reaches_the_twin(ametek_lab):
    twin = ametek_lab.instruments["lockin"]
    with load_station(station("station_sim_ametek7270.yaml", ametek_lab)) as st:
        li = st["lockin"]
        li.set_frequency_Hz(2001.5)
        assert twin.core.frequency == pytest.approx(2001.5)
        assert li.read_frequency_Hz() == pytest.approx(2001.5, abs=0.5)   # OF. has 4 digits
        x, y = li.read_xy_V()
        tx, ty = twin.core.xy()
        assert math.hypot(x, y) == pytest.approx(math.hypot(tx, ty), rel=0.05)
        assert li.read_time_constant_s() == 0.1 == twin.core.time_constant
        d = li.driver
        d.time_constant = 0.2
        d.sensitivity = 5e-3
        d.slope = 24
        d.voltage = 0.25
        d.phase = 30.0
        assert twin.core.time_constant == 0.2 and twin.full_scale() == 5e-3
        assert twin.core.slope_db == 24 and twin.core.amplitude == 0.25
        assert twin.core.phase_deg == pytest.approx(30.0)
        assert d.sensitivity == 5e-3 and d.time_constant == 0.2 and d.slope == 24
        assert d.reference_source == "INT"
        assert d.mag == pytest.approx(math.hypot(*twin.core.xy()), rel=0.05)
        with pytest.raises(LimitError):
            d.sensitivity = 3e-3                    # off the table: refused, not truncated
        with pytest.raises(LimitError):
            li.set_frequency_Hz(3e5)
        assert twin.core.frequency == pytest.approx(2001.5)


def test_7270_a_refused_setting_raises_with_the_status_byte(ametek_lab):
    with load_station(station("station_sim_ametek7270.yaml", ametek_lab)) as st:
        d = st["lockin"].driver
        d.write("TC 40")                           # beyond the table: parameter error
        with pytest.raises(RefusedCommandError, match="command parameter error") as err:
            d.check_set_errors()
        assert list(err.value.commands) == ["TC 40"]  # the queries before it are not blamed
        d.write("BOGUS")
        with pytest.raises(RefusedCommandError, match="invalid command"):
            d.check_set_errors()


def test_7270_refuses_a_wrong_instrument(ametek_lab):
    data = station("station_sim_ametek7270.yaml", ametek_lab)
    data["instruments"]["lockin"]["resource"] = ametek_lab.resources["lockin_sr860"]
    data["instruments"]["lockin"]["timeout_s"] = 0.3
    with pytest.raises(InstrumentError):
        load_station(data)


# ------------------------------------------------------------------ 7270 twin, manual behaviour

@pytest.fixture
def raw7270(ametek_lab):
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(ametek_lab.resources["lockin"], read_termination="\x00",
                            write_termination="\x00", timeout=2000)
    yield inst, ametek_lab.instruments["lockin"]
    inst.close()
    rm.close()


def test_7270_status_byte_and_no_ieee_common_commands(raw7270):
    inst, twin = raw7270
    assert inst.query("ID") == "7270"
    assert inst.query("*IDN?") == ""                  # not a 7270 command: answered by nothing
    assert int(inst.query("ST")) & 2                  # invalid command
    assert inst.query("SEN 28") == ""
    assert int(inst.query("ST")) & 4                  # parameter error
    assert twin.sen == 27
    assert inst.query("SEN 18") == "" and int(inst.query("ST")) & 6 == 0
    assert inst.query("SEN.") == "1.0E-03"            # the manual's example: SEN 18 is 1 mV
    assert inst.query("TC 12") == "" and inst.query("TC.") == "1.0E-01"   # the manual's example


def test_7270_fixed_point_outputs_and_delimiter(raw7270):
    inst, twin = raw7270
    inst.query("SEN 27")                              # 1 V full scale
    x_fixed, y_fixed = (int(v) for v in inst.query("XY").split(","))
    x, y = (float(v) for v in inst.query("XY.").split(","))
    assert x_fixed == pytest.approx(10000 * x, abs=60) and y_fixed == pytest.approx(10000 * y, abs=60)
    assert inst.query("DD 59") == ""
    assert ";" in inst.query("XY.") and inst.query("DD") == "59"
    assert int(inst.query("OF")) == round(1000 * twin.core.frequency)     # mHz
    assert inst.query("OA") == str(round(1e6 * twin.core.amplitude))      # uV


def test_7270_overload_byte(raw7270):
    inst, twin = raw7270
    inst.query("OF. 2000")
    inst.query("SEN 5")                               # 50 nV: the 0.2 V signal overloads
    inst.query("XY.")
    assert int(inst.query("N")) & 3
    assert int(inst.query("ST")) & 16
    x = float(inst.query("X."))
    assert abs(x) <= 3 * 50e-9 * 1.0001               # saturated at 300 % FS


# ------------------------------------------------------------------ 7270 on RS-232

@posix_only
def test_7270_over_a_serial_port():
    with SimulatedLab("ametek7270_cantilever", seed=0, speed=SPEED, serial=["lockin"]) as lab:
        twin = lab.instruments["lockin"]
        # a pseudo-terminal carries only 8-bit characters without parity (sim_devices/
        # serial_port.py): the station says so, as examples/station_sim_serial.yaml does for
        # the 7O1 Lake Shore 425; baud rate and terminators come from the 7270's defaults
        data = station("station_sim_ametek7270.yaml", lab, data_bits=8, parity="none")
        assert data["instruments"]["lockin"]["resource"].startswith("ASRL")
        with load_station(data) as st:
            li = st["lockin"]
            conn = li.driver.adapter.connection
            assert (conn.baud_rate, conn.read_termination, conn.write_termination) == (9600, "\r\n", "\r")
            li.set_frequency_Hz(1998.0)
            assert twin.core.frequency == pytest.approx(1998.0)
            assert len(li.read_xy_V()) == 2
            li.driver.time_constant = 0.05
            assert twin.core.time_constant == 0.05
        framing = lab.serial_framing("lockin")
        assert framing["counters"]["garbled"] == 0
        assert framing["client"]["baud_rate"] == 9600
        # on RS-232 a set answers nothing: no empty line was sent back for the ack the LAN has
        assert framing["counters"]["lines"] >= 5


# ------------------------------------------------------------------ station check

@pytest.mark.parametrize("profile, file, slot, external", [
    ("sr865a_cantilever", "station_sim_sr865a.yaml", "lockin_sr860", "RSRC 1"),
    ("ametek7270_cantilever", "station_sim_ametek7270.yaml", "lockin", "IE 2"),
])
def test_station_check_reports_an_external_reference_and_changes_nothing(profile, file, slot, external):
    from loopscope.instruments.commissioning import check_station
    with SimulatedLab(profile, seed=0, speed=SPEED) as lab:
        twin = lab.instruments[slot]
        twin.handle_line(external)                     # the last user left it externally referenced
        before = (dict(twin.settings), twin.core.frequency, twin.core.time_constant)
        lab.clear_command_log()
        report = check_station(station(file, lab, slot))
        (lockin,) = report.instruments
        assert not lockin.unreachable
        assert [f.setting for f in lockin.mismatches] == ["reference source"]
        assert "external" in lockin.mismatches[0].message
        assert (dict(twin.settings), twin.core.frequency, twin.core.time_constant) == before
        sent = lab.command_log()[slot]
        # queries only: SRS queries end in ?, the 7270's are bare names without parameters
        assert all(("?" in line) if slot == "lockin_sr860" else (" " not in line) for line in sent), sent

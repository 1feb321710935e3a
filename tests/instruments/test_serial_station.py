"""Station files with GPIB, serial and USBTMC resources: their options are checked before anything
connects, and reach pyvisa when the roles open the instruments (serial through the simulated
lab's pseudo-terminals)."""
import sys
from pathlib import Path

import pytest
import yaml

from loopscope.instruments.roles import InstrumentError
from loopscope.instruments.station import StationError, load_station, validate_station
from loopscope.instruments.visa_interfaces import MODEL_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
SERIAL_STATION = ROOT / "examples" / "station_sim_serial.yaml"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")


def one(resource, **options):
    entry = {"role": "field_probe", "driver": "lakeshore425", "resource": resource, **options}
    return {"station": "t", "instruments": {"probe": entry}}


@pytest.mark.parametrize("resource", [
    "GPIB0::8::INSTR", "GPIB1::22::INSTR", "ASRL3::INSTR", "ASRLCOM3::INSTR",
    "ASRL/dev/ttyUSB0::INSTR", "USB0::0x1FB9::0x0425::LSA1234::INSTR",
    "TCPIP0::192.168.1.20::7180::SOCKET"])
def test_every_interface_a_lab_uses_is_accepted(resource):
    cfg = validate_station(one(resource))
    assert cfg.instruments["probe"].resource == resource


def test_serial_options_are_read_with_names_for_terminators():
    cfg = validate_station(one("ASRL/dev/ttyUSB0::INSTR", baud_rate=57600, data_bits=7,
                               parity="odd", stop_bits=1, flow_control="none",
                               read_termination="CRLF", write_termination="\r\n"))
    assert cfg.instruments["probe"].visa_options == {
        "baud_rate": 57600, "data_bits": 7, "parity": "odd", "stop_bits": 1,
        "flow_control": "none", "read_termination": "\r\n", "write_termination": "\r\n"}


def test_terminators_on_gpib_and_tcp_too():
    cfg = validate_station(one("GPIB0::8::INSTR", read_termination="LF"))
    assert cfg.instruments["probe"].visa_options == {"read_termination": "\n"}


@pytest.mark.parametrize("resource, options, words", [
    ("TCPIP0::1.2.3.4::7180::SOCKET", {"baud_rate": 9600}, ["baud_rate = 9600", "ASRL", "TCPIP"]),
    ("GPIB0::8::INSTR", {"parity": "odd"}, ["parity = 'odd'", "GPIB"]),
    ("ASRL3::INSTR", {"baud_rate": "fast"}, ["baud_rate = 'fast'", "positive integer"]),
    ("ASRL3::INSTR", {"baud_rate": True}, ["baud_rate = True"]),
    ("ASRL3::INSTR", {"data_bits": 9}, ["data_bits = 9", "[5, 6, 7, 8]"]),
    ("ASRL3::INSTR", {"parity": "odd1"}, ["parity = 'odd1'", "'even'"]),
    ("ASRL3::INSTR", {"stop_bits": 3}, ["stop_bits = 3", "1.5"]),
    ("ASRL3::INSTR", {"flow_control": "hardware"}, ["flow_control = 'hardware'", "rts_cts"]),
    ("ASRL3::INSTR", {"read_termination": "\t"}, ["read_termination", "CRLF"]),
    ("ASRL3::INSTR", {"baudrate": 9600}, ["unknown key 'baudrate'", "baud_rate"]),
])
def test_a_wrong_option_is_one_line_naming_file_key_and_value(tmp_path, resource, options, words):
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(one(resource, **options)))
    with pytest.raises(StationError) as err:
        validate_station(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "'probe'" in message
    for word in words:
        assert word in message


def test_the_example_stations_validate():
    assert validate_station(SERIAL_STATION).instruments["gaussmeter"].visa_options["baud_rate"] == 57600
    template = validate_station(ROOT / "examples" / "station_lab_template.yaml")
    assert template.instruments["hall_probe"].visa_options["parity"] == "odd"


# ---------------------------------------------------------------- through the simulated lab

SERIAL = ["coil_supply", "gaussmeter", "nanovoltmeter", "lockin"]


@pytest.fixture
def serial_lab():
    from loopscope.sim_devices import SimulatedLab
    lab = SimulatedLab(None, seed=0, speed=1000.0, serial=SERIAL).start()
    yield lab
    lab.stop()


def serial_station(lab, **changes):
    data = yaml.safe_load(SERIAL_STATION.read_text())
    data["time_scale"] = 1000.0           # = the lab's speed
    for name, over in changes.items():
        data["instruments"][name].update(over)
    return data


@posix_only
def test_roles_work_over_serial_and_the_options_reach_pyvisa(serial_lab):
    lab = serial_lab
    with load_station(serial_station(lab), resources=lab.resources) as station:
        probe = station.get("gaussmeter")
        lockin = station.get("lockin")
        coil = station.get("coil_supply")
        squid = station.get("squid_controller")
        assert probe.driver.adapter.connection.baud_rate == 57600
        assert lockin.driver.adapter.connection.read_termination == "\r"
        assert coil.driver.adapter.connection.read_termination == "\r\n"
        # the voltmeter's entry says nothing: the 2182A's own RS-232 settings are used
        volts = squid.voltmeter.adapter.connection
        assert (volts.baud_rate, volts.write_termination) == (9600, "\r")
        assert isinstance(probe.read_field_T(), float)
        assert len(lockin.read_xy_V()) == 2
        assert isinstance(squid.read_flux_phi0(), float)
        for name in SERIAL:
            assert lab.serial_framing(name)["counters"]["garbled"] == 0, name
    assert lab.serial_framing("gaussmeter")["client"]["baud_rate"] == 57600
    assert lab.serial_framing("coil_supply")["client"]["flow_control"] == "xon_xoff"


@posix_only
def test_the_ls425_role_keeps_to_its_message_rate(serial_lab):
    lab = serial_lab
    with load_station(serial_station(lab), resources=lab.resources) as station:
        probe = station.get("gaussmeter")
        before = lab.serial_framing("gaussmeter")["counters"]
        for _ in range(8):
            probe.read_field_T()
        after = lab.serial_framing("gaussmeter")["counters"]
    assert after["rate_limited"] == before["rate_limited"] == 0
    assert after["lines"] - before["lines"] >= 8


@posix_only
def test_a_station_at_the_wrong_baud_rate_fails_at_connect(serial_lab):
    lab = serial_lab
    data = serial_station(lab, lockin={"baud_rate": 19200, "timeout_s": 0.3})
    with pytest.raises(InstrumentError) as err:
        load_station(data, resources=lab.resources)
    assert "lockin" in str(err.value) and "ASRL" in str(err.value)
    assert lab.serial_framing("lockin")["last_mismatch"] == {"baud_rate": (19200, 9600)}


def test_model_defaults_name_real_drivers():
    from loopscope.instruments.registry import resolve_driver
    models = {resolve_driver(d).driver_cls.MODEL
              for d in ("sr830", "keithley2182", "kepco_bop", "lakeshore425", "keithley2400",
                        "lakeshore475", "ametek7270", "keysight34465a",
                        "cryomagnetics4g", "lakeshore372", "mercury_ips", "mercury_itc")}
    assert models == set(MODEL_DEFAULTS)

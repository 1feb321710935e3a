"""Station file: validation errors name instrument, key and value; nothing is touched first."""
from __future__ import annotations

import socket
import time

import pytest
import yaml

from loopscope.instruments.registry import DRIVERS, resolve_driver
from loopscope.instruments.drivers.kepco_bop import KepcoBOP
from loopscope.instruments.roles.kepco_bop import KepcoFieldSource
from loopscope.instruments.roles import InstrumentError, TransientInstrumentError
from loopscope.instruments.station import (Station, StationConfig, StationError, load_station,
                                 validate_station)

from .conftest import STATION_SIM, sim_station_dict


class KepcoWithBeep(KepcoBOP):
    """A user's subclass, named in a station file by dotted path."""


def entry(**over):
    d = sim_station_dict()
    d["instruments"] = {"coil": dict(d["instruments"]["coil_supply"], **over)}
    return d


def test_example_station_validates():
    cfg = validate_station(STATION_SIM)
    assert isinstance(cfg, StationConfig)
    assert cfg.name == "simulated-lab" and cfg.time_scale == 1.0 and cfg.safe_state == "zero"
    assert cfg.source_text == STATION_SIM.read_text()
    ports = sorted(int(r.split("::")[2]) for c in cfg.instruments.values() for r in c.resources)
    assert ports == list(range(50401, 50410))   # nine instruments: the Keithley 2400 is on 50409
    assert set(cfg.of_kind("field_source")) == {"coil_supply", "magnet_supply"}
    assert cfg.instruments["squid_controller"].voltmeter_resource.endswith("50404::SOCKET")


def test_yaml_text_and_dict_sources():
    text = STATION_SIM.read_text()
    assert validate_station(text).name == "simulated-lab"
    assert validate_station(yaml.safe_load(text)).instruments.keys() == \
        validate_station(text).instruments.keys()


def test_resources_override_including_sim_voltmeter_name():
    res = {"coil_supply": "TCPIP0::127.0.0.1::1234::SOCKET",
           "nanovoltmeter": "TCPIP0::127.0.0.1::1235::SOCKET", "unrelated": "x"}
    cfg = validate_station(STATION_SIM, resources=res)
    assert cfg.instruments["coil_supply"].resource == res["coil_supply"]
    assert cfg.instruments["squid_controller"].voltmeter_resource == res["nanovoltmeter"]
    cfg = validate_station(STATION_SIM, resources={
        "squid_controller.voltmeter": "TCPIP0::127.0.0.1::1236::SOCKET"})
    assert cfg.instruments["squid_controller"].voltmeter_resource.endswith("1236::SOCKET")


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop("station"), "key 'station'"),
    (lambda d: d.update(colour="blue"), "unknown key 'colour'"),
    (lambda d: d.update(time_scale=0), r"time_scale = 0 must be > 0"),
    (lambda d: d.update(time_scale="fast"), "time_scale = 'fast'"),
    (lambda d: d.update(safe_state="off"), "safe_state = 'off'"),
    (lambda d: d.update(instruments={}), "non-empty mapping"),
    (lambda d: d["instruments"]["lockin"].pop("role"), "'lockin': missing key 'role'"),
    (lambda d: d["instruments"]["lockin"].update(role="amplifier"),
     "'lockin': unknown role 'amplifier'"),
    (lambda d: d["instruments"]["lockin"].update(driver="sr850"),
     "'lockin': unknown driver 'sr850'"),
    (lambda d: d["instruments"]["lockin"].update(driver="nowhere.mod:Thing"),
     "'lockin': driver 'nowhere.mod:Thing' cannot be imported"),
    (lambda d: d["instruments"]["lockin"].update(driver="lakeshore336"),
     "driver 'lakeshore336' serves the role 'thermometer', not 'lockin'"),
    (lambda d: d["instruments"]["lockin"].update(gain=3), "'lockin': unknown key 'gain'"),
    (lambda d: d["instruments"]["lockin"].pop("resource"), "'lockin': missing key 'resource'"),
    (lambda d: d["instruments"]["lockin"].update(resource="TCPIP0::127.0.0.1::SOCKET"),
     "'lockin'.resource = 'TCPIP0::127.0.0.1::SOCKET' is not a valid VISA resource"),
    (lambda d: d["instruments"]["lockin"].update(resource="COM3"), "'COM3' is not a valid"),
    (lambda d: d["instruments"]["lockin"].update(resource=50405), "must be a VISA resource"),
    (lambda d: d["instruments"]["lockin"].update(
        resource=d["instruments"]["gaussmeter"]["resource"]), "already used by 'gaussmeter'"),
    (lambda d: d["instruments"]["coil_supply"]["settings"].pop("coil_constant_T_per_A"),
     "'coil_supply'.settings: missing required key 'coil_constant_T_per_A'"),
    (lambda d: d["instruments"]["coil_supply"]["settings"].update(coil_constant_T_per_A=-1),
     r"coil_constant_T_per_A = -1 must be > 0"),
    (lambda d: d["instruments"]["coil_supply"]["settings"].update(turns=460),
     "'coil_supply'.settings: unknown key 'turns'"),
    (lambda d: d["instruments"]["coil_supply"]["limits"].update(max_current_A=20),
     "max_current_A = 20: a Kepco BOP 36-12 cannot source more than 12 A"),
    (lambda d: d["instruments"]["coil_supply"]["limits"].update(safe_ramp_rate_T_per_min=60),
     "safe_ramp_rate_T_per_min = 60 exceeds max_ramp_rate_T_per_min"),
    (lambda d: d["instruments"]["magnet_supply"]["limits"].pop("max_field_T"),
     "'magnet_supply'.limits: missing required key 'max_field_T'"),
    (lambda d: d["instruments"]["magnet_supply"]["limits"].update(max_field_T=float("inf")),
     "max_field_T = inf must be a finite number"),
    (lambda d: d["instruments"]["magnet_supply"]["settings"].update(persistent_switch="yes"),
     "persistent_switch = 'yes' must be true or false"),
    (lambda d: d["instruments"]["temperature_controller"]["limits"].pop("max_temperature_K"),
     "missing required key 'max_temperature_K'"),
    (lambda d: d["instruments"]["temperature_controller"]["settings"].update(input="E"),
     r"input = 'E' must be one of"),
    (lambda d: d["instruments"]["squid_controller"].pop("voltmeter_resource"),
     "missing key 'voltmeter_resource'"),
    (lambda d: d["instruments"]["gaussmeter"].update(voltmeter_resource="TCPIP0::a::1::SOCKET"),
     "'voltmeter_resource' only applies to a flux_readout"),
])
def test_bad_station_is_a_clear_station_error(mutate, match):
    d = sim_station_dict()
    mutate(d)
    with pytest.raises(StationError, match=match):
        validate_station(d)


def test_bad_files(tmp_path):
    with pytest.raises(StationError, match="cannot be read"):
        validate_station(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("station: [unclosed\n")
    with pytest.raises(StationError, match="not valid YAML"):
        validate_station(bad)
    bad.write_text("- a list\n")
    with pytest.raises(StationError, match="must be a mapping"):
        validate_station(bad)


def test_dotted_driver_path_subclass():
    d = entry(driver=f"{__name__}:KepcoWithBeep")
    cfg = validate_station(d)
    assert cfg.instruments["coil"].driver.endswith(":KepcoWithBeep")
    st = load_station(d, connect=False)
    role = st.get("coil")
    assert isinstance(role, KepcoFieldSource) and role.driver_cls is KepcoWithBeep
    d = entry(driver="loopscope.instruments.roles.kepco_bop:KepcoFieldSource")
    assert isinstance(load_station(d, connect=False).get("coil"), KepcoFieldSource)


def test_registry_is_complete():
    assert set(DRIVERS) == {"kepco_bop", "ami430", "lakeshore425", "squid_fll", "sr830",
                            "sr860", "lakeshore336", "keithley2182", "keithley2400",
                            "lakeshore475", "sr865a", "ametek7270", "keysight34465a", "cryomagnetics4g",
                            "lakeshore372", "mercury_ips", "mercury_itc"}
    for name, spec in DRIVERS.items():
        resolved = resolve_driver(name)
        assert hasattr(resolved.driver_cls, "snapshot")
        assert resolved.kind == spec.kind


def test_station_api_without_connecting():
    st = load_station(STATION_SIM, connect=False)
    assert isinstance(st, Station) and st.default_field_source == "coil_supply"
    with pytest.raises(StationError, match="no instrument 'fridge'"):
        st.get("fridge")
    with pytest.raises(StationError, match="unknown role kind"):
        st.of_kind("magnet")
    st.close()


# ---------------------------------------------------------------- connecting
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_instrument_is_quick_and_named():
    port = free_port()
    d = entry(resource=f"TCPIP0::127.0.0.1::{port}::SOCKET")
    t0 = time.monotonic()
    with pytest.raises(InstrumentError, match=rf"coil_supply|'coil'.*127.0.0.1::{port}"):
        load_station(d)
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("station_name,sim_name,match", [
    ("gaussmeter", "coil_supply", r"'gaussmeter'.*wrong instrument.*KEPCO.*Lake Shore 425"),
    ("lockin", "lockin_sr860", r"'lockin'.*wrong instrument.*SR860.*SR830"),
    ("magnet_supply", "gaussmeter", r"'magnet_supply'.*wrong instrument.*no welcome.*AMI 430"),
    ("coil_supply", "magnet_supply", r"(?i)'coil_supply'.*wrong instrument.*American Magnetics"
                                     r".*Kepco"),
])
def test_wrong_instrument_at_address_before_any_write(lab, station_name, sim_name, match):
    d = sim_station_dict()
    # the thermometer connects first and fine; then the mismatched instrument
    d["instruments"] = {"temperature_controller": d["instruments"]["temperature_controller"],
                        station_name: d["instruments"][station_name]}
    res = {"temperature_controller": lab.resources["temperature_controller"],
           station_name: lab.resources[sim_name]}
    before = (lab.world.coil.output_on, lab.world.coil.current_setpoint_A,
              lab.world.cryostat.setpoint_K, lab.world.magnet.target_A)
    with pytest.raises(InstrumentError, match=match) as info:
        load_station(d, resources=res)
    assert not isinstance(info.value, TransientInstrumentError) or "welcome" in match
    assert (lab.world.coil.output_on, lab.world.coil.current_setpoint_A,
            lab.world.cryostat.setpoint_K, lab.world.magnet.target_A) == before


def test_load_closes_what_it_opened_on_failure(lab, monkeypatch):
    closed = []
    from loopscope.instruments import visa_session
    original = visa_session.VisaRole.close

    def spy(self):
        closed.append(self.name)
        original(self)
    monkeypatch.setattr(visa_session.VisaRole, "close", spy)
    d = sim_station_dict()
    res = dict(lab.resources)
    res["temperature_controller"] = lab.resources["gaussmeter"]
    res["gaussmeter"] = "TCPIP0::127.0.0.1::1::SOCKET"
    d["instruments"].pop("gaussmeter")
    with pytest.raises(InstrumentError, match="wrong instrument"):
        load_station(d, resources=res)
    assert "coil_supply" in closed and "magnet_supply" in closed


def test_lab_template_validates():
    cfg = validate_station(STATION_SIM.parent / "station_lab_template.yaml")
    assert cfg.safe_state == "hold" and cfg.time_scale == 1.0
    assert cfg.instruments["magnet"].settings["persistent_switch"] is True


# ---------------------------------------------------------------- errors name the station file
@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(colour="blue"), "station: unknown key 'colour' (value 'blue')"),
    (lambda d: d["instruments"]["lockin"].update(driver="sr850"), "instrument 'lockin': unknown driver 'sr850'"),
    (lambda d: d["instruments"]["coil_supply"]["limits"].update(max_field_T=float("nan")),
     "'coil_supply'.limits.max_field_T = nan must be a finite number"),
    (lambda d: d["instruments"]["lockin"].update(resource=d["instruments"]["gaussmeter"]["resource"]),
     "already used by 'gaussmeter'"),
])
def test_every_station_error_names_the_file(tmp_path, mutate, match):
    d = sim_station_dict()
    mutate(d)
    path = tmp_path / "lab_station.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    with pytest.raises(StationError) as err:
        validate_station(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and match in message and "\n" not in message
    with pytest.raises(StationError) as err:  # the same mapping given as a dict has no file to name
        validate_station(d)
    assert match in str(err.value) and not str(err.value).startswith(str(path))


def test_duplicate_instrument_name_is_refused(tmp_path):
    text = STATION_SIM.read_text()
    block_start = text.index("  gaussmeter:\n")
    block_end = text.index("\n\n", block_start)
    path = tmp_path / "twice.yaml"
    path.write_text(text[:block_end] + "\n" + text[block_start:block_end] + text[block_end:])
    line = text[:block_end].count("\n") + 2
    with pytest.raises(StationError) as err:
        validate_station(path)
    assert str(err.value) == (f"{path}: line {line}, column 3: duplicate key 'gaussmeter' "
                              f"(first at line {text[:block_start].count(chr(10)) + 1})")


@pytest.mark.parametrize("content, words", [
    (bytes(range(256)), ["not a text file", "NUL"]),
    ("station: x\n".encode("utf-16"), ["not a text file"]),
    (b"station: caf\xe9\n", ["byte 0xe9", "not UTF-8"]),
])
def test_binary_station_file_is_one_line(tmp_path, content, words):
    path = tmp_path / "station.yaml"
    path.write_bytes(content)
    with pytest.raises(StationError) as err:
        validate_station(path)
    assert str(err.value).startswith(f"station file {path}") and "\n" not in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_station_path_that_is_a_directory(tmp_path):
    with pytest.raises(StationError, match="is a directory"):
        validate_station(tmp_path)
    with pytest.raises(StationError, match="is a directory"):
        validate_station(str(tmp_path))

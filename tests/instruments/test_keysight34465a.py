"""The Keysight 34465A as the voltmeter of the flux readout, over its LAN socket to the
simulated 34465A in the lab's nanovoltmeter slot: every driver property, the configuration
written before the first reading and never at connect, what connect reads and refuses, the
station file's checks, and `loopscope station check` touching nothing. Effects are read back
from the twin itself (its state and command log), not through our driver."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from loopscope.instruments.commissioning import check_station
from loopscope.instruments.connect_checks import MISMATCH, NOTE
from loopscope.instruments.drivers.keysight34465a import Keysight34465A
from loopscope.instruments.roles import InstrumentError, LimitError, RefusedCommandError
from loopscope.instruments.station import StationError, load_station, validate_station
from loopscope.sim_devices import SimulatedLab

REPO = Path(__file__).resolve().parents[2]
STATION = REPO / "examples" / "station_sim_keysight34465a.yaml"
PROFILE = "keysight34465a_squid_readout"
SPEED = 1000.0
SLOT = "nanovoltmeter"


@pytest.fixture
def lab():
    with SimulatedLab(PROFILE, seed=0, speed=SPEED) as running:
        yield running


def station_dict(lab, **settings) -> dict:
    """The example station on the lab's ports; ``settings`` replace the flux readout's."""
    data = yaml.safe_load(STATION.read_text())
    data["time_scale"] = SPEED
    for name, entry in data["instruments"].items():
        entry["resource"] = lab.resources[name]
    squid = data["instruments"]["squid_controller"]
    squid["voltmeter_resource"] = lab.resources[SLOT]
    if settings:
        squid["settings"] = {"flux_per_moment_phi0_per_Am2": 3000.0, **settings}
        squid["settings"] = {k: v for k, v in squid["settings"].items() if v is not None}
    return data


def twin(lab):
    return lab.instruments[SLOT]


def written(lab) -> list[str]:
    """Every line the twin received that was not a query."""
    return [line for _, line in twin(lab).command_log if "?" not in line]


@pytest.fixture
def dmm(lab):
    drv = Keysight34465A(lab.resources[SLOT], visa_library="@py", timeout=2000)
    yield drv
    drv.adapter.close()


def test_driver_properties_over_tcp(lab, dmm):
    """Each property the role uses, against the twin's own state."""
    assert dmm.check_identity().startswith("Keysight Technologies,34465A,")
    s = twin(lab)
    assert dmm.function == "VOLT"
    assert dmm.voltage_range == s.range == 10.0
    assert dmm.autorange is True and dmm.autozero is True
    assert dmm.nplc == s.nplc == 10.0
    assert dmm.trigger_source == "IMM"
    assert dmm.sample_count == 1 and dmm.trigger_count == 1
    assert dmm.line_frequency == s.line_freq
    assert dmm.configuration == "VOLT +1.00000000E+01,+1.00000000E-06"
    v = dmm.voltage
    assert v == pytest.approx(lab.world.fll.output_V(), abs=1e-5)
    assert dmm.voltage_dc == pytest.approx(v, abs=1e-5)      # READ?, not MEAS? DEF,DEF
    assert written(lab) == []                               # reading wrote nothing
    dmm.write("INIT")
    assert dmm.fetch == pytest.approx(v, abs=1e-5)


def test_setpoints_reach_the_twin_and_refusals_are_errors(lab, dmm):
    s = twin(lab)
    dmm.nplc = 1
    dmm.voltage_range = 1
    assert (s.nplc, s.range, s.autorange) == (1.0, 1.0, False)
    sent = len(twin(lab).command_log)
    with pytest.raises(LimitError, match="Keysight 34465A at .*nplc = 5 refused"):
        dmm.nplc = 5                                         # not one of the meter's choices
    with pytest.raises(LimitError):
        dmm.voltage_range = 3
    assert len(twin(lab).command_log) == sent                # nothing was sent
    dmm.configure_dc_voltage(10.0, 100.0)
    assert (s.func, s.range, s.nplc, s.autorange, s.trig_source) == ("VOLT", 10.0, 100.0, False, "IMM")
    dmm.configure_dc_voltage(None, 0.2)
    assert s.autorange is True and s.nplc == 0.2
    dmm.write("VOLT:DC:NPLC 1000")                           # the meter's own refusal
    with pytest.raises(RefusedCommandError, match='-222,"Data out of range"'):
        dmm.check_set_errors()
    assert s.errors == []


def test_connect_sends_queries_only_and_the_first_reading_configures(lab):
    st = load_station(station_dict(lab))
    try:
        flux = st.get("squid_controller")
        assert written(lab) == []
        notes = {f.setting: f for f in flux.findings}
        assert notes["voltmeter function"].verdict == "ok"
        assert "10 PLC on the 10 V range: resolution 1e-06 V" in notes["voltmeter integration time"].detail
        assert re.search(r"1e-06 Phi0 at 0\.99\d* V/Phi0", notes["voltmeter integration time"].detail)
        # the first reading writes the station's range and NPLC, then reads
        phi = flux.read_flux_phi0()
        assert written(lab) == ["CONF:VOLT:DC 10", "SENS:VOLT:DC:NPLC 10"]
        s = twin(lab)
        assert (s.range, s.nplc, s.autorange, s.func) == (10.0, 10.0, False, "VOLT")
        assert phi == pytest.approx(lab.world.fll.output_flux_phi0(), abs=2e-5)
        flux.read_flux_phi0()
        assert len(written(lab)) == 2                        # once per session
        snap = flux.snapshot()["voltmeter"]
        assert snap["driver"] == "Keysight34465A"
        assert snap["settings"]["nplc"] == 10.0 and snap["settings"]["voltage_range"] == 10.0
    finally:
        st.close()


def test_a_meter_left_in_another_function_is_refused_without_settings(lab):
    s = twin(lab)
    s.func, s.trig_source = "RES", "BUS"                     # the last user measured ohms
    data = station_dict(lab, voltmeter_range_V=None, voltmeter_nplc=None)
    with pytest.raises(InstrumentError) as err:
        load_station(data)
    text = str(err.value)
    assert '"RES"' in text and "would not be a DC voltage" in text
    assert "Trigger deadlock" in text and "voltmeter_nplc" in text
    assert written(lab) == []
    # with the station's settings the meter is configured at the first reading instead
    st = load_station(station_dict(lab, voltmeter_nplc=1.0))
    try:
        flux = st.get("squid_controller")
        notes = {f.setting: f.verdict for f in flux.findings}
        assert notes["voltmeter function"] == NOTE and notes["voltmeter trigger source"] == NOTE
        assert written(lab) == []
        flux.read_voltage_V()
        assert written(lab) == ["CONF:VOLT:DC AUTO", "SENS:VOLT:DC:NPLC 1"]
        assert (s.func, s.trig_source, s.nplc, s.autorange) == ("VOLT", "IMM", 1.0, True)
    finally:
        st.close()


def test_station_check_lists_the_meters_settings_and_writes_nothing(lab):
    s = twin(lab)
    s.func = "CURR"
    before = copy.deepcopy({k: v for k, v in vars(s).items() if isinstance(v, (int, float, str, bool))})
    report = check_station(station_dict(lab, voltmeter_range_V=None, voltmeter_nplc=None))
    squid = next(r for r in report.instruments if r.name == "squid_controller")
    assert any(f.setting == "voltmeter function" and f.verdict == MISMATCH for f in squid.findings)
    assert report.problems >= 1
    assert written(lab) == []
    after = {k: v for k, v in vars(s).items() if isinstance(v, (int, float, str, bool))}
    assert after == before


def test_overflow_is_an_error_naming_the_meter(lab):
    st = load_station(station_dict(lab, voltmeter_range_V=0.1, voltmeter_nplc=1.0))
    try:
        flux = st.get("squid_controller")
        with lab.world.lock:               # the loop's output to 0.5 V, beyond 120 % of 100 mV
            lab.world.advance()
            fll = lab.world.fll
            fll.reference = fll.tracked - 0.5 / fll.volts_per_phi0
        with pytest.raises(InstrumentError, match="overflow .* beyond the Keysight 34465A range"):
            flux.read_flux_phi0()
    finally:
        st.close()


@pytest.mark.parametrize("change, message", [
    (lambda sq: sq.update(voltmeter_resource="ASRL/dev/ttyUSB0::INSTR"),
     "a Keysight 34465A has no ASRL interface"),
    (lambda sq: sq["settings"].update(voltmeter_nplc=5.0),
     r"voltmeter_nplc = 5: a Keysight 34465A has 0.02, 0.06, 0.2, 1, 10, 100"),
    (lambda sq: sq["settings"].update(voltmeter_range_V=3.0), r"voltmeter_range_V = 3"),
    (lambda sq: sq.update(voltmeter_driver="keithley2182"),
     "loopscope reads a Keithley 2182A as it is set"),
])
def test_the_station_file_is_checked_before_anything_connects(change, message):
    data = yaml.safe_load(STATION.read_text())
    change(data["instruments"]["squid_controller"])
    with pytest.raises(StationError, match=message):
        validate_station(data)


def test_the_example_station_validates_with_usb_vxi11_and_hislip_resources():
    for resource in ("USB0::0x2A8D::0x0101::MY57508823::INSTR", "TCPIP0::192.168.1.20::inst0::INSTR",
                     "TCPIP0::192.168.1.20::hislip0::INSTR", "GPIB0::22::INSTR"):
        data = yaml.safe_load(STATION.read_text())
        data["instruments"]["squid_controller"]["voltmeter_resource"] = resource
        cfg = validate_station(data).instruments["squid_controller"]
        assert cfg.voltmeter_resource == resource and cfg.voltmeter_driver == "keysight34465a"

"""Lake Shore 475 DSP gaussmeter: identity, every driver property against the twin over a TCP
socket and over a serial pseudo-terminal (9600 7O1 at a real unit), the role's connect checks
and the station check's range-against-max-field comparison.

The independent reference is InstrumentKit's Lakeshore475 (instrumentkit/InstrumentKit,
src/instruments/lakeshore/lakeshore475.py) and its recorded protocol test
(tests/test_lakeshore/test_lakeshore475.py): a few of its command/reply strings are quoted
below as data. pymeasure has no 475 driver; QCoDeS none either.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from pymeasure.test import expected_protocol

from loopscope.instruments.commissioning import check_station
from loopscope.instruments.connect_checks import MISMATCH, WARNING
from loopscope.instruments.drivers.lakeshore475 import RANGES_G, LakeShore475, OverloadError
from loopscope.instruments.roles import InstrumentError, LimitError
from loopscope.instruments.roles.lakeshore475 import LakeShore475Probe
from loopscope.instruments.station import load_station

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "examples" / "station_sim_lakeshore475.yaml"
SPEED = 1000.0


# identity ------------------------------------------------------------------------------
@pytest.mark.parametrize("idn", [
    "LSCI,MODEL475,4750347,03102006",          # the twin's
    "LSCI,MODEL475,0,032301",                  # the older form of the family (421: serial 0)
])
def test_a_475_is_accepted(idn):
    assert LakeShore475.identity_matches(idn)
    assert LakeShore475.identity_matches("  " + idn.lower() + "\r\n")


@pytest.mark.parametrize("idn", [
    "LSCI,MODEL425,4250022,1.0",               # the 425 manual's example: 4 ranges, 3-field RDGMODE
    "LSCI,MODEL455,1234567,1.0",
    "LSCI,MODEL421,0,070199",                  # the 421 manual's example
    "LSCI,MODEL4750,1234567,1.0",
])
def test_other_gaussmeters_are_refused(idn):
    assert not LakeShore475.identity_matches(idn)


# recorded transcripts (InstrumentKit tests/test_lakeshore/test_lakeshore475.py) -----------
def test_instrumentkit_transcripts_read_the_same():
    # "UNIT?" -> "3" is oersted there; "RDGFIELD?" with "UNIT?" -> "2" reads tesla
    with expected_protocol(LakeShore475, [("UNIT?", "3")]) as gm:
        assert gm.unit == "Oe"
    with expected_protocol(LakeShore475, [("UNIT?", "2"), ("RDGFIELD?", "200.")]) as gm:
        assert gm.field_T == 200.0
    # "RDGMODE 1,2,3,2,1": DC, 4 digits, low pass, pulse peaks, positive display
    with expected_protocol(LakeShore475, [("RDGMODE 1,2,3,2,1", None), ("*ESR?", "0")]) as gm:
        gm.set_reading_mode("dc", 4, 3, 2, 1)


# the twin over TCP ---------------------------------------------------------------------
@pytest.fixture
def lab():
    from loopscope.sim_devices import SimulatedLab
    with SimulatedLab("lakeshore475_gaussmeter", seed=0, speed=SPEED) as running:
        yield running


def _driver(resource, **kw):
    return LakeShore475(resource, visa_library="@py", timeout=3000, **kw)


def exercise_every_property(lab, gm):
    twin = lab.instruments["gaussmeter"]
    assert gm.check_identity().startswith("LSCI,MODEL475,")
    assert (gm.unit, gm.range, gm.auto_range, gm.probe_type) == ("G", 4, False, 41)
    assert gm.reading_mode == (1, 3, 1, 1, 1)
    assert gm.full_scale_G() == RANGES_G["HST"][3] == 35e3
    # a field from the coil, read in G and then in T (the same field, within the noise)
    lab.world.coil.mode, lab.world.coil.output_on = "CURR", True
    lab.world.coil.current_setpoint_A = 5.0
    lab.world.advance()
    world_T = lab.world.field_T
    assert world_T > 0.03
    b_gauss_units = gm.field_T
    gm.unit = "T"
    gm.forget_unit()
    b_tesla_units = gm.field_T
    assert twin.unit == 2
    for b in (b_gauss_units, b_tesla_units):
        # ±0.05 % of reading ±0.005 % of the 35 kG range, and the profile's 0.05 G zero residual
        assert abs(b - lab.world.field_T) <= 5e-4 * abs(world_T) + 5e-5 * 3.5 + 5e-6
    # the settings a user script may change, each read back from the twin itself
    gm.range = 3
    assert (twin.range, twin.auto) == (3, False) and gm.range == 3
    gm.auto_range = True
    assert twin.auto is True and gm.auto_range is True
    gm.auto_range = False
    gm.set_reading_mode("rms", 4, 2, 1, 3)
    assert twin.rdgmode == (2, 2, 2, 1, 3) and gm.reading_mode == (2, 2, 2, 1, 3)
    gm.set_reading_mode("dc", 5)
    # refused before anything is written
    before = len(twin.command_log)
    with pytest.raises(LimitError):
        gm.range = 6
    with pytest.raises(LimitError):
        gm.set_reading_mode("ac")
    with pytest.raises(LimitError):
        gm.unit = "kG"
    assert len(twin.command_log) == before
    # refused by the instrument: *ESR? EXE names it
    gm.write("RANGE 9")
    assert gm.check_errors() == [(16, "EXE (execution error)")]
    assert twin.range == 3
    # over range: 41 mT on the 35 G range reads OL at the twin, an OverloadError here
    gm.range = 1
    with pytest.raises(OverloadError, match=r"range 1 \(±35 G = ±0.0035 T\)"):
        gm.field_T
    assert gm.ask("RDGFIELD?").strip() == "OL"
    gm.range = 4
    lab.world.coil.current_setpoint_A = 0.0
    lab.world.coil.output_on = False


def test_every_property_over_tcp(lab):
    gm = _driver(lab.resources["gaussmeter"])
    try:
        exercise_every_property(lab, gm)
    finally:
        gm.adapter.close()


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")
def test_every_property_over_a_serial_port():
    from loopscope.sim_devices import SimulatedLab
    from loopscope.instruments.visa_interfaces import MODEL_DEFAULTS
    real = MODEL_DEFAULTS["Lake Shore 475"]["ASRL"]
    assert (real["baud_rate"], real["data_bits"], real["parity"], real["stop_bits"]) == (9600, 7, "odd", 1)
    with SimulatedLab("lakeshore475_gaussmeter", seed=0, speed=SPEED, serial=["gaussmeter"]) as lab:
        resource = lab.resources["gaussmeter"]
        assert resource.startswith("ASRL/")
        # a pseudo-terminal carries 8-bit characters only: 8N1 at the same baud rate
        gm = _driver(resource, baud_rate=9600, data_bits=8, read_termination="\r\n",
                     write_termination="\r\n")
        try:
            exercise_every_property(lab, gm)
        finally:
            gm.adapter.close()
        framing = lab.serial_framing("gaussmeter")
    assert framing["instrument"]["baud_rate"] == 9600 and framing["instrument"]["parity"] == "odd"
    assert framing["client"]["baud_rate"] == 9600
    assert framing["counters"]["garbled"] == 0 and framing["counters"]["lines"] > 20


# the role at connect, and the station check ---------------------------------------------
def _station_data(lab):
    data = yaml.safe_load(STATION.read_text())
    data["time_scale"] = SPEED
    for name, entry in data["instruments"].items():
        entry["resource"] = lab.resources[name]
        if name == "squid_controller":
            entry["voltmeter_resource"] = lab.resources["nanovoltmeter"]
    return data


def test_the_role_reads_its_settings_and_sends_only_queries(lab):
    lab.clear_command_log()
    with load_station(_station_data(lab), resources=lab.resources) as station:
        probe = station.roles["gaussmeter"]
        assert isinstance(probe, LakeShore475Probe)
        assert probe.full_scale_T == pytest.approx(3.5)
        assert abs(probe.read_field_T() - lab.world.field_T) < 5e-5 * 3.5 + 1e-5
    sent = lab.command_log()["gaussmeter"]
    assert sent and all("?" in line for line in sent), sent


def test_the_role_refuses_a_gaussmeter_in_rms_mode(lab):
    lab.instruments["gaussmeter"].rdgmode = (2, 3, 1, 1, 1)
    role = LakeShore475Probe("gaussmeter", lab.resources["gaussmeter"])
    with pytest.raises(InstrumentError, match="RMS mode"):
        role.connect()
    role.refuse_mismatches = False
    role.connect()
    try:
        assert [f.setting for f in role.findings if f.verdict == MISMATCH] == ["reading mode"]
    finally:
        role.close()
    assert lab.instruments["gaussmeter"].rdgmode == (2, 3, 1, 1, 1)    # left as found


def test_station_check_compares_the_range_with_each_sources_max_field(lab, tmp_path):
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(_station_data(lab)))
    report = check_station(path)
    across = {f.setting: f for f in report.across}
    assert across["gaussmeter range vs coil_supply"].verdict == "ok"       # 0.099 T < 3.5 T
    magnet = across["gaussmeter range vs magnet_supply"]                   # 9 T > 3.5 T
    assert magnet.verdict == WARNING and "3.5 T" in magnet.message and "9 T" in magnet.message
    # on the 350 kG range (35 T) the magnet is covered too
    lab.instruments["gaussmeter"].range = 5
    report = check_station(path)
    assert {f.setting: f.verdict for f in report.across}["gaussmeter range vs magnet_supply"] == "ok"
    gm = next(r for r in report.instruments if r.name == "gaussmeter")
    assert gm.idn.split(",")[1] == "MODEL475" and not gm.mismatches


def test_a_475_on_usb_is_refused_before_anything_connects():
    from loopscope.instruments.station import StationError, validate_station
    entry = {"role": "field_probe", "driver": "lakeshore475"}
    for resource in ("GPIB0::12::INSTR", "ASRL1::INSTR", "TCPIP0::127.0.0.1::50403::SOCKET"):
        cfg = validate_station({"station": "t", "instruments": {"gm": {**entry, "resource": resource}}})
        assert cfg.instruments["gm"].resource == resource
    with pytest.raises(StationError, match=r"'gm'.resource = 'USB0::0x1FB9::0x0475::LSA1::INSTR': "
                                           r"a Lake Shore 475 has IEEE-488 \(GPIB\) and RS-232 ports only"):
        validate_station({"station": "t", "instruments": {"gm": {
            **entry, "resource": "USB0::0x1FB9::0x0475::LSA1::INSTR"}}})


def test_the_twin_takes_instrumentkits_commands(lab):
    """InstrumentKit's recorded commands, sent raw (not through our driver) to the twin."""
    import pyvisa
    twin = lab.instruments["gaussmeter"]
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(lab.resources["gaussmeter"], read_termination="\r\n",
                            write_termination="\n", timeout=3000)
    try:
        assert inst.query("*ESR?") == "128"       # PON: the first read after power-up
        inst.write("UNIT 2")
        assert inst.query("UNIT?") == "2" and twin.unit == 2     # InstrumentKit: 2 = tesla
        inst.write("RDGMODE 1,2,3,2,1")
        # (a write is not answered: the query after it says the twin has handled it)
        assert inst.query("RDGMODE?") == "1,2,3,2,1" and twin.rdgmode == (1, 2, 3, 2, 1)
        assert inst.query("*ESR?") == "0"
        # a reading in the manual's form, in tesla now
        reply = inst.query("RDGFIELD?")
        assert len(reply) == 12 and reply[0] in "+-" and reply[8] == "E", reply
        assert abs(float(reply) - lab.world.field_T) < 1e-3
        inst.write("RDGMODE 4,2,3,2,1")          # no mode 4: EXE, the mode unchanged
        assert inst.query("*ESR?") == "16" and twin.rdgmode == (1, 2, 3, 2, 1)
        inst.write("CMODE 1")                     # field control: not modelled, CME
        assert inst.query("*ESR?") == "32"
    finally:
        inst.close()
        rm.close()

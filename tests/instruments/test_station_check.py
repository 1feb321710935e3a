"""`loopscope station check`: every mismatch of a wrong station file listed, nothing touched.

The simulated instruments are read back afterwards: their command logs hold only queries, and
their own settings (and the physical world: coil current, magnet target, heater) are unchanged.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml

from loopscope.instruments.commissioning import check_station, format_report
from loopscope.instruments.roles import InstrumentError
from loopscope.instruments.station import load_station

from .conftest import REPO, sim_station_dict


def sim_settings(lab) -> dict:
    """Every simple attribute of every simulated instrument, plus the world's setpoints."""
    out = {}
    for name, inst in lab.instruments.items():
        # (patterns, commands: the command table, functions, not settings)
        out[name] = {k: copy.deepcopy(v) for k, v in vars(inst).items()
                     if k not in ("command_log", "patterns", "commands")
                     and isinstance(v, (int, float, str, bool, tuple, dict, list, type(None)))}
        assert {"errors", "esr"} <= set(out[name])
    coil, magnet = lab.world.coil, lab.world.magnet
    out["world"] = {"coil": (coil.mode, coil.output_on, coil.current_setpoint_A,
                             coil.voltage_setpoint_V),
                    "magnet": (magnet.target_A, magnet.heater_on, list(magnet.segments))}
    return out


def wrong_station(lab) -> dict:
    """The example station with one deliberate error per instrument that can be checked."""
    data = sim_station_dict()
    inst = data["instruments"]
    for name, entry in inst.items():
        entry["resource"] = lab.resources[name]
        if name == "squid_controller":
            entry["voltmeter_resource"] = lab.resources["nanovoltmeter"]
    inst["coil_supply"]["limits"]["max_field_T"] = 0.12
    inst["magnet_supply"]["settings"]["coil_constant_T_per_A"] = 0.12  # the supply: 0.1 T/A
    inst["magnet_supply"]["settings"]["persistent_switch"] = False     # the supply has one
    inst["lockin"]["settings"] = {"reference_source": "external"}      # it is internal
    inst["temperature_controller"]["settings"]["input"] = "B"          # its loop is on A
    return data


def test_station_check_lists_every_mismatch_and_touches_nothing(lab, tmp_path):
    # the last user left the AMI in tesla and per-minute units: adapted to, not a mismatch
    magnet = lab.instruments["magnet_supply"]
    magnet.field_units, magnet.rate_units = 1, 1
    # someone drives the coil in voltage mode (at 0 V: the test needs no field)
    lab.world.coil.mode, lab.world.coil.output_on = "VOLT", True
    path = tmp_path / "wrong_station.yaml"
    path.write_text(yaml.safe_dump(wrong_station(lab)))
    lab.clear_command_log()
    before = sim_settings(lab)

    report = check_station(path)

    text = format_report(report)
    by_name = {r.name: r for r in report.instruments}
    assert not any(r.unreachable for r in report.instruments), text
    found = {(r.name, f.setting) for r in report.instruments for f in r.mismatches}
    assert found == {("coil_supply", "operating mode"),
                     ("magnet_supply", "coil constant"), ("magnet_supply", "persistent switch"),
                     ("lockin", "reference source"),
                     ("temperature_controller", "control loop")}, text
    assert report.problems == 5
    # both values in each, in the lab's units
    coil = next(f for f in by_name["magnet_supply"].mismatches if f.setting == "coil constant")
    assert "0.1 T/A (COIL? = 0.1 T/A, FIELD:UNITS 1 = T)" in coil.message \
        and "coil_constant_T_per_A 0.12 T/A" in coil.message
    assert "voltage mode with its output on (FUNC:MODE? VOLT, OUTP? 1)" in text
    assert "regulates on input A" in text and "the station reads input B" in text
    units = {f.setting: f for f in by_name["magnet_supply"].findings}
    assert units["field units"].verdict == "adapted" and units["field units"].instrument == "T (FIELD:UNITS? = 1)"
    assert "per min" in units["ramp-rate units"].instrument
    # every instrument was reached: identities read
    assert by_name["coil_supply"].idn.startswith("KEPCO,BIT 4886 36-12")
    assert by_name["lockin"].interface == "LAN (raw socket)"

    # nothing but queries went out, and no setting of any instrument changed
    for name, lines in lab.command_log().items():
        assert lines, f"{name} was not asked anything"
        assert all("?" in line for line in lines), (name, [x for x in lines if "?" not in x])
    assert sim_settings(lab) == before
    # the locks were given back: a run can connect at once (and refuses the wrong file)
    with pytest.raises(InstrumentError, match="coil_supply.*operating mode: the supply is in voltage mode"):
        load_station(path)


def test_a_run_refuses_what_the_check_reports(lab, tmp_path):
    data = wrong_station(lab)
    for name in list(data["instruments"]):
        if name != "lockin":
            del data["instruments"][name]
    with pytest.raises(InstrumentError) as info:
        load_station(data)
    message = str(info.value)
    assert "\n" not in message
    assert "'lockin' (SR830 at TCPIP0::127.0.0.1::" in message
    assert "reference source: the lock-in's reference is internal (FMOD? answered 'Internal')" \
           " but the station's reference_source is external" in message


def test_station_check_command(lab, tmp_path):
    good = sim_station_dict()
    for name, entry in good["instruments"].items():
        entry["resource"] = lab.resources[name]
        if name == "squid_controller":
            entry["voltmeter_resource"] = lab.resources["nanovoltmeter"]
    good_path = tmp_path / "station.yaml"
    good_path.write_text(yaml.safe_dump(good))
    cmd = [sys.executable, "-m", "loopscope", "station", "check"]
    done = subprocess.run(cmd + [str(good_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing mismatches" in done.stdout
    assert "magnet_supply: field_source, AMI 430" in done.stdout

    # an instrument that does not answer is reported and the others are still read
    good["instruments"]["gaussmeter"]["resource"] = "TCPIP0::127.0.0.1::1::SOCKET"
    good_path.write_text(yaml.safe_dump(good))
    done = subprocess.run(cmd + ["--json", str(good_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    states = {r["name"]: bool(r["unreachable"]) for r in report["instruments"]}
    assert states.pop("gaussmeter") is True and not any(states.values())
    assert report["problems"] == 1

    # a station file that does not validate: exit 2, one line naming the file, nothing sent
    bad = tmp_path / "bad.yaml"
    bad.write_text("station: x\ninstruments:\n  m:\n    role: field_source\n    driver: nope\n"
                   "    resource: TCPIP0::127.0.0.1::1::SOCKET\n")
    lab.clear_command_log()
    done = subprocess.run(cmd + [str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "bad.yaml" in done.stderr and "nope" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not any(lab.command_log().values())


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")
def test_station_check_on_a_serial_and_lan_station():
    from pathlib import Path

    from loopscope.sim_devices import SimulatedLab

    serial = ["coil_supply", "gaussmeter", "nanovoltmeter", "lockin"]
    station_file = Path(__file__).resolve().parents[2] / "examples" / "station_sim_serial.yaml"
    with SimulatedLab(None, seed=0, speed=1000.0, serial=serial) as lab:
        report = check_station(station_file, resources=lab.resources)
        log = lab.command_log()
        assert {(r.name, f.setting) for r in report.instruments for f in r.mismatches} == \
            {("squid_controller", "clock")}          # the file says time_scale 1, the lab x1000
        assert "Set time_scale: 1000" in format_report(report)
        report = check_station(station_file, resources=lab.resources, time_scale=1000.0)
    text = format_report(report)
    interfaces = {r.name: r.interface for r in report.instruments}
    assert interfaces["coil_supply"] == interfaces["lockin"] == "serial (RS-232 / USB-serial)"
    assert interfaces["magnet_supply"] == "LAN (raw socket)"
    assert report.problems == 0, text
    assert {r.name: r.idn.split(",")[1] for r in report.instruments}["gaussmeter"] == "MODEL425"
    assert all("?" in line for lines in log.values() for line in lines)


def test_station_check_reads_the_lake_shore_372_and_touches_nothing():
    """The dilution-refrigerator station: the 372's loop, heater resistance and scanner read
    with queries only; a loop on another channel and the scanner elsewhere are reported."""
    from loopscope.sim_devices.lab import SimulatedLab
    path = REPO / "examples" / "station_sim_dilution_fridge.yaml"
    data = yaml.safe_load(path.read_text())
    data["time_scale"] = 1000.0
    data["instruments"] = {"temperature_controller": data["instruments"]["temperature_controller"]}
    with SimulatedLab("dilution_fridge", seed=0, speed=1000.0) as lab:
        data["instruments"]["temperature_controller"]["resource"] = lab.resources["temperature_controller"]
        report = check_station(data)
        (tc,) = report.instruments
        assert tc.model == "Lake Shore 372" and report.problems == 0, format_report(report)
        assert {f.setting for f in tc.findings} == {"control loop", "heater resistance", "scanner"}
        twin = lab.instruments["temperature_controller"]
        twin.outmode[0][1] = "2"
        twin.scan = "1"
        report = check_station(data)
        verdicts = {f.setting: f.verdict for f in report.instruments[0].findings}
        assert verdicts["control loop"] == "mismatch" and verdicts["scanner"] == "warning"
        assert all("?" in line for line in lab.command_log()["temperature_controller"])


def test_station_check_reads_the_mercury_itc_and_touches_nothing():
    """The VTI station: the iTC's boards, loop heater, heater resistance and voltage limit,
    loop mode, ramp and calibration read with queries only; a voltage limit above the
    station's heater power is a mismatch reported, not refused, by the check."""
    from loopscope.sim_devices.lab import SimulatedLab
    path = REPO / "examples" / "station_sim_mercury_itc.yaml"
    data = yaml.safe_load(path.read_text())
    data["time_scale"] = 1000.0
    data["instruments"] = {"temperature_controller": data["instruments"]["temperature_controller"]}
    with SimulatedLab("mercury_itc_vti", seed=0, speed=1000.0) as lab:
        data["instruments"]["temperature_controller"]["resource"] = lab.resources["temperature_controller"]
        report = check_station(data)
        (tc,) = report.instruments
        assert tc.model == "Oxford Instruments Mercury iTC" and report.problems == 0, format_report(report)
        assert {f.setting for f in tc.findings} == {"boards", "loop heater", "heater resistance",
                                                    "heater voltage limit", "loop", "setpoint ramp",
                                                    "sensor calibration"}
        lab.instruments["temperature_controller"].vlim = 30.0
        report = check_station(data)
        verdicts = {f.setting: f.verdict for f in report.instruments[0].findings}
        assert verdicts["heater voltage limit"] == "mismatch"
        log = lab.command_log()["temperature_controller"]
        assert log and all(line == "*IDN?" or line.startswith("READ:") for line in log)

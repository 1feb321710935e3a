"""The source-meter role on the simulated Keithley 2400, over TCP and over a serial pty: every
driver property it uses, I-V curves read against the world's wire, limits refused before
anything is sent, the safe state, and the refusals that keep a sample from a spike."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import yaml

from loopscope.instruments.drivers.keithley2400 import Keithley2400
from loopscope.instruments.roles import InstrumentError, LimitError, role_kind
from loopscope.instruments.station import StationError, load_station, validate_station

from .conftest import REPO, SPEED, TIMEOUT_S

SMU_STATION = REPO / "examples" / "station_sim.yaml"


def smu_only(**over):
    d = yaml.safe_load(SMU_STATION.read_text())
    d["time_scale"], d["timeout_s"] = SPEED, TIMEOUT_S
    entry = dict(d["instruments"]["source_meter"])
    for key, value in over.items():
        entry[key] = dict(entry.get(key, {}), **value) if isinstance(value, dict) else value
    d["instruments"] = {"source_meter": entry}
    return d


@pytest.fixture
def smu(lab):
    with load_station(smu_only(), resources=lab.resources) as st:
        yield st.get("source_meter"), lab


def sim_state(lab):
    return lab.instruments["source_meter"]


def test_kind_and_connect_sends_only_queries(smu):
    role, lab = smu
    assert role_kind(role) == "source_meter"
    sent = lab.command_log()["source_meter"]
    assert sent and all("?" in line for line in sent), sent
    assert {f.setting for f in role.findings} >= {"source function", "voltage compliance", "sense wiring"}


def test_iv_curve_reads_the_wire(smu):
    role, lab = smu
    currents = np.linspace(-1e-4, 1e-4, 9)
    I, V = role.iv_curve(currents)
    R = lab.world.wire_resistance_ohm()
    slope, offset = np.polyfit(I, V, 1)
    assert slope == pytest.approx(R, rel=1e-3)
    assert offset == pytest.approx(lab.world.wire.offset_V, abs=5e-6)
    assert np.allclose(I, currents, rtol=1e-3, atol=1e-8)
    assert not role.last_iv_compliance.any()
    state = sim_state(lab)                       # the output is left as found: off, at 0 A
    assert state.output is False and state.level["CURR"] == 0.0
    assert state.four_wire and state.source_func == "CURR"


def test_iv_curve_in_compliance(smu):
    role, lab = smu
    role.set_compliance_V(0.01)                  # 10 mV into 400 ohm: 25 uA
    I, V = role.iv_curve([1e-5, 5e-5])
    assert list(role.last_iv_compliance) == [False, True]
    assert V[1] == pytest.approx(0.01, rel=1e-3)
    assert I[1] == pytest.approx(0.01 / lab.world.wire_resistance_ohm(), rel=1e-2)


def test_limits_are_refused_before_anything_is_sent(smu):
    role, lab = smu
    lab.clear_command_log()
    with pytest.raises(LimitError):
        role.set_current_A(2e-4)
    with pytest.raises(LimitError):
        role.iv_curve([0.0, 1e-5, 3e-4])
    with pytest.raises(LimitError):
        role.set_compliance_V(5.0)
    assert lab.command_log()["source_meter"] == []


def test_steps_with_the_output_on_are_no_larger_than_max_step(smu):
    role, lab = smu
    role.output_on()
    lab.clear_command_log()
    role.set_current_A(1e-4)                     # max_step_A 1e-5 in the example station
    levels = [float(line.split()[1]) for line in lab.command_log()["source_meter"]
              if line.startswith(":SOURCE:CURRENT ")]
    assert len(levels) == 10 and levels[-1] == pytest.approx(1e-4)
    assert max(np.abs(np.diff([0.0] + levels))) <= 1e-5 * (1 + 1e-9)
    assert sim_state(lab).level["CURR"] == pytest.approx(1e-4)


def test_safe_state_steps_to_zero_then_switches_off(smu):
    role, lab = smu
    role.output_on()
    role.set_current_A(5e-5)
    lab.clear_command_log()
    account = role.go_to_safe_state()
    assert "output off" in account and "5e-05" in account
    sent = lab.command_log()["source_meter"]
    assert sent.index("OUTPUT 0") > sent.index(":SOURCE:CURRENT 0")
    state = sim_state(lab)
    assert state.output is False and state.level["CURR"] == 0.0
    assert role.go_to_safe_state() == "source_meter: output off"      # already safe


def test_voltage_source_with_output_on_is_refused_at_connect(lab):
    sim = sim_state(lab)
    sim.handle_line(":SOUR:FUNC VOLT;:SOUR:VOLT 0.5;:OUTP ON")
    with pytest.raises(InstrumentError, match="sources voltage"):
        load_station(smu_only(), resources=lab.resources)
    assert sim.output is True and sim.source_func == "VOLT"        # nothing was changed


def test_the_driver_refuses_a_source_function_change_under_load(lab):
    drv = Keithley2400(lab.resources["source_meter"], timeout=2000)
    try:
        drv.source_mode = "current"
        drv.source_current = 1e-5
        drv.source_enabled = True
        lab.clear_command_log()
        with pytest.raises(InstrumentError, match="output on"):
            drv.source_mode = "voltage"
        assert not any(c.startswith(":SOURCE:FUNCTION ") for c in lab.command_log()["source_meter"])
        assert sim_state(lab).source_func == "CURR"
    finally:
        drv.adapter.close()


@pytest.mark.parametrize("prop, value, read_back", [
    ("source_current", 1.5e-5, lambda s: s.level["CURR"]),
    ("source_voltage", 0.25, lambda s: s.level["VOLT"]),
    ("source_current_range", 1e-3, lambda s: s.source_range["CURR"]),
    ("compliance_voltage", 1.5, lambda s: s.protection["VOLT"]),
    ("compliance_current", 2e-3, lambda s: s.protection["CURR"]),
    ("voltage_nplc", 5.0, lambda s: s.nplc),
    ("wires", 4, lambda s: 4 if s.four_wire else 2),
    ("source_enabled", True, lambda s: s.output),
    ("auto_output_off_enabled", False, lambda s: s.auto_clear),
])
def test_driver_properties_the_role_uses(lab, prop, value, read_back):
    drv = Keithley2400(lab.resources["source_meter"], timeout=2000)
    try:
        setattr(drv, prop, value)
        # a set without an error check is only written: one exchange on the same connection
        # proves the instrument has taken it before its state is looked at
        assert drv.ask("*OPC?").strip() == "1"
        state = sim_state(lab)
        expected = 1.05e-3 if prop == "source_current_range" else value
        assert read_back(state) == pytest.approx(expected)
        assert getattr(drv, prop) == pytest.approx(expected)
        assert state.errors == []
    finally:
        drv.adapter.close()


def test_driver_readings_never_turn_the_output_on(lab):
    drv = Keithley2400(lab.resources["source_meter"], timeout=2000)
    try:
        drv.prepare_reading_format()
        with pytest.raises(Exception):
            drv.voltage                           # :READ? with the output off: +803
        assert sim_state(lab).output is False
        assert sim_state(lab).errors[-1][0] == 803
    finally:
        drv.adapter.close()


def test_station_refuses_a_compliance_above_the_limit():
    with pytest.raises(StationError, match="compliance_voltage_V"):
        validate_station(smu_only(settings={"compliance_voltage_V": 5.0}))
    with pytest.raises(StationError, match="1.05 A"):
        validate_station(smu_only(limits={"max_current_A": 2.0}))


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")
def test_the_role_over_rs232():
    from loopscope.sim_devices import SimulatedLab
    data = smu_only()
    data["time_scale"] = 1000.0          # the lab's resources give the ASRL one
    with SimulatedLab(None, seed=0, speed=1000.0, serial=["source_meter"]) as lab:
        assert lab.resources["source_meter"].startswith("ASRL")
        with load_station(data, resources=lab.resources) as st:
            I, V = st.get("source_meter").iv_curve([-5e-5, 5e-5])
        assert (V[1] - V[0]) / (I[1] - I[0]) == pytest.approx(lab.world.wire_resistance_ohm(), rel=1e-3)
        framing = lab.serial_framing("source_meter")
        assert framing["client"]["baud_rate"] == 9600 and framing["counters"]["garbled"] == 0


def test_safe_state_of_a_unit_left_sourcing_voltage(smu):
    role, lab = smu
    sim = sim_state(lab)
    sim.handle_line(":SOUR:FUNC VOLT;:SOUR:VOLT 0.01;:OUTP ON")
    assert "0 V, output off" in role.go_to_safe_state()
    assert sim.output is False and sim.level["VOLT"] == 0.0 and sim.source_func == "VOLT"

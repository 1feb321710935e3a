"""The AMI 430 role reads the supply's units and limits at connect and adapts to them.

A real 430 keeps the units its last user chose (QCoDeS sets tesla). Another client sets them
here, over TCP with the simulator's own commands, before the station connects; the simulated
lab's command log then shows what the role sent: queries only at connect, setpoints in the
supply's units afterwards.
"""
from __future__ import annotations

import time

import h5py
import pytest
import pyvisa

from loopscope.daq.plans import load_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.roles import InstrumentError
from loopscope.instruments.station import load_station

from .conftest import sim_station_dict


def another_client(lab, *commands: str) -> list[str]:
    """Send commands to the simulated AMI 430 as a separate program would (its own socket);
    returns the replies to the queries among them."""
    # (pyvisa hands out one ResourceManager per VISA library: closing it would close the
    # station's sessions too, so only this client's session is closed)
    rm = pyvisa.ResourceManager("@py")
    ami = rm.open_resource(lab.resources["magnet_supply"], read_termination="\r\n",
                           write_termination="\n", timeout=2000)
    try:
        ami.read(), ami.read()                      # the welcome lines
        replies = []
        for command in commands:
            if command.endswith("?"):
                replies.append(ami.query(command).strip())
            else:
                ami.write(command)
        ami.query("*OPC?")                          # everything handled before we go on
        return replies
    finally:
        ami.close()


def wait_settled(source, timeout=20.0):
    end = time.monotonic() + timeout
    while not source.is_settled():
        assert time.monotonic() < end, f"{source.name} did not settle: {source.state()}"
        time.sleep(0.005)


def magnet_log(lab) -> list[str]:
    """Every line the simulated AMI received. A write is not answered: call after a query
    (is_settled, state) so that the lab has handled everything sent before it."""
    return lab.command_log()["magnet_supply"]


def writes(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.strip().endswith("?")]


def connect(lab, **limits):
    data = sim_station_dict()
    data["instruments"] = {"magnet_supply": data["instruments"]["magnet_supply"]}
    data["instruments"]["magnet_supply"]["limits"].update(limits)
    return load_station(data, resources=lab.resources)


# ---------------------------------------------------------------- units
def test_supply_left_in_tesla_per_minute_is_driven_in_its_units(lab):
    another_client(lab, "CONF:FIELD:UNITS 1", "CONF:RAMP:RATE:UNITS 1")
    lab.clear_command_log()
    with connect(lab) as st:
        magnet = st.get("magnet_supply")
        connect_lines = magnet_log(lab)
        assert "FIELD:UNITS?" in connect_lines and "RAMP:RATE:UNITS?" in connect_lines
        assert writes(connect_lines) == []                 # read-only at connect
        supply = magnet.supply
        assert supply["field_units"] == {"FIELD:UNITS": 1, "unit": "T"}
        assert supply["ramp_rate_units"]["rate_unit"] == "T/min"
        assert supply["coil_constant"] == {"COIL?": 0.1, "unit": "T/A", "T_per_A": 0.1}
        assert magnet.coil_constant_T_per_A == pytest.approx(0.1)  # like with like: no refusal

        lab.clear_command_log()
        magnet.enter_driven_mode()
        for target_T in (0.05, -0.03):
            magnet.start_ramp(target_T, 0.24)
            wait_settled(magnet)
            assert magnet.read_field_T() == pytest.approx(target_T, abs=1e-5)
            assert lab.world.magnet.field_T == pytest.approx(target_T, abs=1e-5)
            field_T, current_A = magnet.read_field_and_current()
            assert field_T == pytest.approx(target_T, abs=1e-5)
            assert current_A == pytest.approx(target_T / 0.1, abs=1e-4)
        sent = writes(magnet_log(lab))
        # the setpoints went out in tesla and tesla per minute, the bound in tesla
        assert "CONF:FIELD:TARG 0.05" in sent and "CONF:FIELD:TARG -0.03" in sent
        assert sent.count("CONF:RAMP:RATE:FIELD 1,0.24,9") == 2
        assert not [line for line in sent if "UNITS" in line]
        assert lab.world.magnet.ramp_rate == pytest.approx(0.04)        # 0.24 T/min = 0.04 A/s
        magnet.go_to_safe_state()
        assert abs(lab.world.magnet.field_T) < 1e-4
    # the supply is left in the units its user chose
    sim = lab.instruments["magnet_supply"]
    assert (sim.field_units, sim.rate_units) == (1, 1)


def test_every_combination_of_units_gives_the_same_fields(lab):
    expected = {(0, 0): ("CONF:FIELD:TARG 0.2", "CONF:RAMP:RATE:FIELD 1,0.04,90"),
                (0, 1): ("CONF:FIELD:TARG 0.2", "CONF:RAMP:RATE:FIELD 1,2.4,90"),
                (1, 0): ("CONF:FIELD:TARG 0.02", "CONF:RAMP:RATE:FIELD 1,0.004,9"),
                (1, 1): ("CONF:FIELD:TARG 0.02", "CONF:RAMP:RATE:FIELD 1,0.24,9")}
    for (field_units, rate_units), (target_cmd, rate_cmd) in expected.items():
        another_client(lab, f"CONF:FIELD:UNITS {field_units}",
                       f"CONF:RAMP:RATE:UNITS {rate_units}")
        with connect(lab) as st:
            magnet = st.get("magnet_supply")
            magnet.enter_driven_mode()
            lab.clear_command_log()
            magnet.start_ramp(0.02, 0.24)
            wait_settled(magnet)
            assert magnet.read_field_T() == pytest.approx(0.02, abs=1e-5)
            assert lab.world.magnet.target_A == pytest.approx(0.2)
            sent = writes(magnet_log(lab))
            assert target_cmd in sent and rate_cmd in sent, sent
            magnet.go_to_safe_state()


def test_a_sweep_on_a_tesla_per_minute_supply_records_si(lab, tmp_path):
    another_client(lab, "CONF:FIELD:UNITS 1", "CONF:RAMP:RATE:UNITS 1")
    plan = load_plan({"title": "T/min", "kind": "linear", "source": "magnet_supply",
                      "detectors": ["gaussmeter"], "ramp_rate_T_per_min": 0.24,
                      "sweep": {"start": 0.0, "stop": 0.04, "points": 5},
                      "settle": {"timeout_s": 600}})
    data = sim_station_dict()
    data["instruments"] = {name: data["instruments"][name]
                           for name in ("magnet_supply", "gaussmeter")}
    lab.clear_command_log()
    with load_station(data, resources=lab.resources) as st:
        result = Runner(st, plan, tmp_path / "tesla.h5").run()
    assert result.status == "completed", result.reason
    with h5py.File(result.path, "r") as f:
        setpoints = f["entry/data/field_setpoint_T"][:]
        fields = f["entry/data/field_T"][:]
        probe = f["entry/data/probe_field_T"][:]
    assert setpoints == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
    assert fields == pytest.approx(setpoints, abs=1e-5)
    assert probe == pytest.approx(setpoints, abs=2e-3)      # the Hall probe agrees, in tesla
    sent = writes(magnet_log(lab))
    for target in ("0.01", "0.02", "0.03", "0.04"):
        assert f"CONF:FIELD:TARG {target}" in sent, sent


def test_units_changed_by_another_client_mid_session_refuse_the_next_ramp(lab):
    with connect(lab) as st:                                   # connected in kG and per second
        magnet = st.get("magnet_supply")
        magnet.enter_driven_mode()
        magnet.start_ramp(0.02, 0.24)
        wait_settled(magnet)
        another_client(lab, "CONF:FIELD:UNITS 1")               # someone switches to tesla
        lab.clear_command_log()
        with pytest.raises(InstrumentError, match=r"start ramp to 0.05 T refused: the supply's "
                           r"units changed from FIELD:UNITS 0 \(kG\).* to FIELD:UNITS 1 \(T\)"):
            magnet.start_ramp(0.05, 0.24)
        assert magnet.state() == "HOLDING"
        assert not [line for line in writes(magnet_log(lab)) if "TARG" in line]
        assert lab.world.magnet.target_A == pytest.approx(0.2)  # the old target stands
        assert magnet.supply["unit_changes"] == [{"from": (0, 0), "to": (1, 0)}]
        # adapted: the safe state's ramp goes out in tesla and the field reads right
        assert magnet.read_field_T() == pytest.approx(0.02, abs=1e-5)
        assert "ramped from 0.02 T to 0 T" in magnet.go_to_safe_state()
        assert "CONF:FIELD:TARG 0" in writes(magnet_log(lab))
        assert abs(lab.world.magnet.field_T) < 1e-4


# ---------------------------------------------------------------- coil constant and limits
def test_another_coil_constant_than_the_station_is_refused_in_t_per_a(lab):
    another_client(lab, "CONF:FIELD:UNITS 1", "CONF:COIL 0.12")     # T/A
    lab.clear_command_log()
    with pytest.raises(InstrumentError) as info:
        connect(lab)
    message = str(info.value)
    assert "'magnet_supply'" in message and "AMI 430" in message
    assert ("coil constant: the supply's 0.12 T/A (COIL? = 0.12 T/A, FIELD:UNITS 1 = T) "
            "differs from the station's coil_constant_T_per_A 0.1 T/A") in message
    assert writes(magnet_log(lab)) == []                        # nothing written


def test_the_coil_constant_message_converts_a_kilogauss_reply(lab):
    another_client(lab, "CONF:COIL 1.2")                          # kG/A: 0.12 T/A
    with pytest.raises(InstrumentError, match=r"the supply's 0.12 T/A \(COIL\? = 1.2 kG/A, "
                       r"FIELD:UNITS 0 = kG\) differs from the station's coil_constant_T_per_A "
                       r"0.1 T/A"):
        connect(lab)


def test_a_supply_current_limit_below_the_station_is_refused(lab):
    another_client(lab, "CONF:CURR:LIM 50")
    lab.clear_command_log()
    with pytest.raises(InstrumentError) as info:
        connect(lab)
    message = str(info.value)
    assert "'magnet_supply'" in message and "AMI 430 at TCPIP0::127.0.0.1::" in message
    assert ("current limit: the station allows 90 A (max_current_A 90 A, max_field_T 9 T at "
            "0.1 T/A) but the supply's current limit is 50 A (CURR:LIM?)") in message
    assert writes(magnet_log(lab)) == []


def test_a_stricter_station_is_fine_and_the_snapshot_says_which_limit_governs(lab):
    another_client(lab, "CONF:CURR:LIM 50")
    with connect(lab, max_field_T=4.0, max_current_A=40.0) as st:
        supply = st.snapshot()["instruments"]["magnet_supply"]["supply"]
    assert supply["current_limit"] == {"CURR:LIM?": 50.0, "A": 50.0, "station_allows_A": 40.0}
    assert any("the station's 40 A governs; the supply's own limit is 50 A" in note
               for note in supply["notes"])


def test_a_ramp_profile_slower_than_the_station_is_refused(lab):
    # the magnet's maker wants 0.1 T/min above 5 T; the station allows 0.24 T/min everywhere
    another_client(lab, "CONF:RAMP:RATE:UNITS 1", "CONF:RAMP:RATE:SEG 2",
                   "CONF:RAMP:RATE:FIELD 1,3,50", "CONF:RAMP:RATE:FIELD 2,1,90")   # kG/min
    with pytest.raises(InstrumentError) as info:
        connect(lab)
    message = str(info.value)
    assert "'magnet_supply'" in message
    assert ("ramp segments: the station's max_ramp_rate_T_per_min 0.24 T/min is above the "
            "supply's ramp segment 2 (5 T to the limit) rate 0.1 T/min "
            "(RAMP:RATE:FIELD:2? = 1 kG/min, up to 90 kG)") in message
    assert "Lower max_ramp_rate_T_per_min to 0.1 T/min" in message


def test_a_ramp_profile_at_least_as_fast_as_the_station_is_kept_and_followed(lab):
    another_client(lab, "CONF:FIELD:UNITS 1", "CONF:RAMP:RATE:UNITS 1", "CONF:RAMP:RATE:SEG 2",
                   "CONF:RAMP:RATE:FIELD 1,0.3,0.05", "CONF:RAMP:RATE:FIELD 2,0.25,9")
    with connect(lab) as st:
        magnet = st.get("magnet_supply")
        assert [s["rate_T_per_min"] for s in magnet.supply["ramp_segments"]] == \
            pytest.approx([0.3, 0.25])
        magnet.enter_driven_mode()
        lab.clear_command_log()
        magnet.start_ramp(0.08, 0.2)                  # crosses from segment 1 into segment 2
        wait_settled(magnet)
        sent = writes(magnet_log(lab))
        assert "CONF:RAMP:RATE:FIELD 1,0.2,0.05" in sent and "CONF:RAMP:RATE:FIELD 2,0.2,9" in sent
        assert magnet.read_field_T() == pytest.approx(0.08, abs=1e-5)
        magnet.go_to_safe_state()
    assert lab.world.magnet.segment_count == 2
    assert [seg[1] for seg in lab.world.magnet.segments[:2]] == pytest.approx([0.5, 90.0])


def test_several_segments_at_one_rate_are_a_setting_not_a_profile(lab):
    # what a previous session leaves on a multi-segment supply: one rate everywhere
    another_client(lab, "CONF:FIELD:UNITS 1", "CONF:RAMP:RATE:UNITS 1", "CONF:RAMP:RATE:SEG 2",
                   "CONF:RAMP:RATE:FIELD 1,0.05,2", "CONF:RAMP:RATE:FIELD 2,0.05,9")
    with connect(lab) as st:                      # 0.05 T/min < the station's 0.24: no refusal
        magnet = st.get("magnet_supply")
        assert any("no profile" in note and "every segment" in note
                   for note in magnet.supply["notes"])
        magnet.enter_driven_mode()
        lab.clear_command_log()
        magnet.start_ramp(0.01, 0.24)
        wait_settled(magnet)
        sent = writes(magnet_log(lab))
        assert "CONF:RAMP:RATE:FIELD 1,0.24,2" in sent and "CONF:RAMP:RATE:FIELD 2,0.24,9" in sent
        magnet.go_to_safe_state()

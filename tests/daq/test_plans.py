"""Plans: every kind parses and yields the right points; bad plans fail naming key and value."""
import numpy as np
import pytest

from loopscope.daq.plans import PlanError, load_plan
from loopscope.daq.runner import check_plan_against_station

STATION = {
    "coil": ("field_source", {"max_field_T": 0.1, "max_current_A": 12.0, "max_ramp_rate_T_per_min": 1.0,
                              "coil_constant_T_per_A": 0.005, "has_persistent_switch": False}),
    "magnet": ("field_source", {"max_field_T": 9.0, "max_current_A": 90.0, "max_ramp_rate_T_per_min": 0.5,
                                "coil_constant_T_per_A": 0.1, "has_persistent_switch": True}),
    "probe": ("field_probe", {}),
    "squid": ("flux_readout", {}),
    "lockin": ("lockin", {}),
    "thermo": ("thermometer", {"max_temperature_K": 300.0}),
}


def plan(**kw):
    base = {"title": "test"}
    base.update(kw)
    return load_plan(base)


def test_linear_by_points_and_by_step():
    p = plan(kind="linear", sweep={"start": -0.05, "stop": 0.05, "points": 11})
    assert [pt.field for pt in p.points()] == pytest.approx(np.linspace(-0.05, 0.05, 11))
    p = plan(kind="linear", sweep={"start": 0, "stop": 0.1, "step": 0.03})
    assert [pt.field for pt in p.points()] == pytest.approx([0, 0.03, 0.06, 0.09, 0.1])
    assert p.total_points() == 5


def test_loop_branches_and_cycles():
    p = plan(kind="loop", amplitude=0.02, step=0.01, cycles=2, virgin=True)
    pts = list(p.points())
    fields = [pt.field for pt in pts]
    assert fields[:3] == pytest.approx([0, 0.01, 0.02])  # virgin
    assert fields[3:7] == pytest.approx([0.01, 0.0, -0.01, -0.02])  # down, turning point not repeated
    assert [pt.labels["branch"] for pt in pts[:7]] == [0, 0, 0, 1, 1, 1, 1]
    assert {pt.labels["cycle"] for pt in pts} == {0, 1}
    assert len(pts) == p.total_points() == 3 + 2 * 8
    assert [pt.index for pt in pts] == list(range(len(pts)))


def test_grid_serpentine_and_outer_values():
    p = plan(kind="grid", outer={"quantity": "temperature", "values": [2, 4]},
             sweep={"start": 0, "stop": 0.02, "points": 3})
    pts = list(p.points())
    assert [pt.temperature_K for pt in pts] == [2, 2, 2, 4, 4, 4]
    assert [pt.field for pt in pts] == pytest.approx([0, 0.01, 0.02, 0.02, 0.01, 0])


def test_time_series_schedule_and_resume_from_index():
    p = plan(kind="time_series", field=0.01, duration_s=10, interval_s=2.5)
    assert [pt.at_elapsed_s for pt in p.points()] == [0, 2.5, 5, 7.5, 10]
    assert [pt.index for pt in p.points(start_index=3)] == [3, 4]


def test_persistent_step_actions_first_point_only():
    p = plan(kind="persistent_step", target=1.0, hold_s=4, interval_s=2)
    pts = list(p.points())
    assert pts[0].actions == ("enter_persistent",) and pts[0].field == 1.0
    assert all(pt.actions == () for pt in pts[1:])


@pytest.mark.parametrize("data, words", [
    ({"kind": "linear", "sweep": {"start": 0, "stop": 1, "points": 3}, "colour": "red"}, ["colour", "unknown key"]),
    ({"kind": "linear", "sweep": {"start": 0, "stop": 1}}, ["sweep", "points", "step"]),
    ({"kind": "linear", "sweep": {"start": "zero", "stop": 1, "points": 3}}, ["sweep.start", "'zero'"]),
    ({"kind": "spiral"}, ["kind", "'spiral'"]),
    ({"kind": "loop", "amplitude": 0.1, "step": 0.03}, ["amplitude", "whole number"]),
    ({"kind": "time_series", "duration_s": -1, "interval_s": 1}, ["duration_s", "-1"]),
])
def test_bad_plans_name_key_and_value(data, words):
    data = {"title": "bad", **data}
    with pytest.raises(PlanError) as err:
        load_plan(data)
    for w in words:
        assert w in str(err.value)


def test_bad_yaml_names_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("title: x\nkind: linear\nsweep: {start: 0, stop: [1\n")
    with pytest.raises(PlanError, match="p.yaml: not valid YAML"):
        load_plan(f)


def test_yaml_object_tags_are_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("title: !!python/object/apply:os.system ['echo hi']\nkind: linear\n")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan(f)


def test_missing_file():
    with pytest.raises(PlanError, match="does not exist"):
        load_plan("no/such/plan.yaml")


def test_station_check_picks_first_source_and_all_detectors():
    p = plan(kind="linear", sweep={"start": 0, "stop": 0.05, "points": 3})
    source, detectors = check_plan_against_station(p, STATION)
    assert source == "coil"
    assert detectors == ["probe", "squid", "lockin", "thermo"]


@pytest.mark.parametrize("data, words", [
    ({"sweep": {"start": 0, "stop": 0.2, "points": 3}}, ["0.2 T", "±0.1 T", "coil"]),
    ({"sweep": {"start": 0, "stop": 0.05, "points": 3}, "ramp_rate_T_per_min": 5}, ["ramp_rate_T_per_min", "5"]),
    ({"sweep": {"start": 0, "stop": 0.05, "points": 3}, "limits": {"max_field_T": 1.0}}, ["limits.max_field_T", "never more"]),
    ({"sweep": {"start": 0, "stop": 0.05, "points": 3}, "source": "probe"}, ["source", "field_probe"]),
    ({"sweep": {"start": 0, "stop": 0.05, "points": 3}, "detectors": ["nope"]}, ["detectors", "'nope'"]),
    ({"sweep": {"start": 0, "stop": 13, "points": 3}, "axis": "current"}, ["13 A", "current limit"]),
    ({"sweep": {"start": 0, "stop": 0.05, "points": 3}, "limits": {"max_field_T": 0.01}}, ["0.05 T", "±0.01 T"]),
])
def test_station_limits_refuse_plan(data, words):
    p = plan(kind="linear", **data)
    with pytest.raises(PlanError) as err:
        check_plan_against_station(p, STATION)
    for w in words:
        assert w in str(err.value)


def test_persistent_step_needs_a_switch_and_grid_temperature_limit():
    p = plan(kind="persistent_step", target=0.05, source="coil")
    with pytest.raises(PlanError, match="persistent switch"):
        check_plan_against_station(p, STATION)
    check_plan_against_station(plan(kind="persistent_step", target=1.0, source="magnet"), STATION)
    p = plan(kind="grid", outer={"quantity": "temperature", "values": [4, 400]},
             sweep={"start": 0, "stop": 0.01, "points": 2})
    with pytest.raises(PlanError, match="400 K is above the limit 300 K"):
        check_plan_against_station(p, STATION)

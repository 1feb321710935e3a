"""Every PlanError says where each problem is: a key path into the plan, the message, the
value given and the origin, and each problem's str() is the one-line text `loopscope run` prints."""
from __future__ import annotations

import math

import pytest

from loopscope.daq.paths import SIMULATED_STATION
from loopscope.daq.plan_against_station import check_plan_against_station, plan_instruments
from loopscope.daq.plans import PlanError, PlanProblem, format_key, load_plan
from loopscope.daq.plans_as_code import load_code_plan, plan, step
from loopscope.instruments.station import validate_station


@pytest.fixture(scope="module")
def instruments():
    return plan_instruments(validate_station(SIMULATED_STATION))


def linear(**extra):
    data = {"title": "t", "kind": "linear", "source": "coil_supply", "detectors": ["gaussmeter"],
            "sweep": {"start": 0.0, "stop": 0.05, "points": 11}}
    data.update(extra)
    return data


def problems_of(data, instruments=None) -> list[PlanProblem]:
    with pytest.raises(PlanError) as err:
        p = load_plan(data)
        if instruments is not None:
            check_plan_against_station(p, instruments)
    e = err.value
    # the lines read as they always have: str(error) joins them, messages lists them
    assert e.messages == [str(p) for p in e.problems]
    assert str(e) == "; ".join(e.messages)
    return e.problems


def only(problems) -> PlanProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_a_pydantic_error_has_the_key_path_and_value():
    p = only(problems_of(linear(sweep={"start": 0, "stop": 0.05, "points": "zero"})))
    assert p.key_path == ("sweep", "points")
    assert p.value == "zero" and p.origin == "<plan>"
    assert str(p).startswith("<plan>: sweep.points: ") and "(got 'zero')" in str(p)


def test_a_suspender_error_drops_the_discriminator_tag_from_the_path_not_the_line():
    p = only(problems_of(linear(suspenders=[{"kind": "temperature_band", "min_K": 1, "max_K": -2}])))
    assert p.key_path == ("suspenders", 0, "max_K")
    assert str(p).startswith("<plan>: suspenders.0.temperature_band.max_K: ")  # the line as before
    assert p.value == -2


def test_a_check_of_a_whole_mapping_names_its_key():
    p = only(problems_of({"title": "t", "kind": "continuous", "start": 0.01, "stop": 0.01,
                          "rate_T_per_min": 1, "interval_s": 1}))
    assert p.key_path == ("stop",) and str(p).startswith("<plan>: stop: a ramp needs stop different")
    p = only(problems_of(linear(sweep={"start": 0, "stop": 0.05})))
    assert p.key_path == ("sweep",) and "give exactly one of 'points' or 'step'" in p.message


def test_a_loop_of_no_whole_number_of_steps_names_step_and_amplitude():
    p = only(problems_of({"title": "t", "kind": "loop", "amplitude": 0.05, "step": 0.03}))
    assert p.key_path == ("step",) and p.key_paths == (("step",), ("amplitude",))
    assert str(p) == "<plan>: loop: amplitude 0.05 is not a whole number of steps of 0.03"


def test_station_limits(instruments):
    p = only(problems_of(linear(limits={"max_field_T": 0.5}), instruments))
    assert p.key_path == ("limits", "max_field_T") and p.value == 0.5
    assert str(p) == ("<plan>: limits.max_field_T: 0.5 is above the station's 0.099; "
                      "a plan may ask for less, never more")
    p = only(problems_of(linear(sweep={"start": 0, "stop": 0.5, "points": 3}), instruments))
    assert p.key_path == ("sweep", "stop") and p.value == 0.5 and "beyond the field limit" in p.message
    p = only(problems_of({"title": "t", "kind": "list", "source": "coil_supply", "detectors": ["gaussmeter"],
                          "values": [0.01, -0.2, 0.02]}, instruments))
    assert p.key_path == ("values", 1) and p.value == -0.2 and str(p).startswith("<plan>: values.1: ")
    p = only(problems_of(linear(ramp_rate_T_per_min=60), instruments))
    assert p.key_path == ("ramp_rate_T_per_min",) and p.value == 60
    grid = {"title": "t", "kind": "grid", "source": "coil_supply", "detectors": ["temperature_controller"],
            "outer": {"quantity": "temperature", "values": [2.0, 4.0, 50.0]},
            "sweep": {"start": 0, "stop": 0.01, "points": 3}}
    p = only(problems_of(grid, instruments))
    assert p.key_path == ("outer", "values", 2) and p.value == 50.0
    assert str(p) == "<plan>: outer.values.2: temperature 50 K is above the limit 10 K"


def test_instruments_the_station_lacks(instruments):
    p = only(problems_of(linear(detectors=["gaussmeter", "hall: probe.2"]), instruments))
    assert p.key_path == ("detectors", 1) and p.value == "hall: probe.2"
    assert str(p).startswith("<plan>: detectors: no instrument 'hall: probe.2' in the station")
    p = only(problems_of(linear(source="gaussmeter"), instruments))
    assert p.key_path == ("source",) and p.value == "gaussmeter"
    p = only(problems_of(linear(suspenders=[{"kind": "temperature_band", "instrument": "fridge", "min_K": 1,
                                             "max_K": 2}]), instruments))
    assert p.key_path == ("suspenders", 0, "instrument") and p.value == "fridge"
    assert str(p) == "<plan>: suspenders[0]: no instrument 'fridge' in the station"
    grid = {"title": "t", "kind": "grid", "source": "coil_supply", "detectors": ["gaussmeter"],
            "outer": {"quantity": "frequency", "values": [100.0]}, "sweep": {"start": 0, "stop": 0.01, "points": 3}}
    p = only(problems_of(grid, instruments))
    assert p.key_paths == (("outer", "quantity"), ("detectors",))
    assert str(p) == "<plan>: outer.quantity frequency needs a lockin among the detectors"


def test_a_frequency_outside_the_lockin_range(instruments):
    grid = {"title": "t", "kind": "grid", "source": "coil_supply", "detectors": ["lockin"],
            "outer": {"quantity": "frequency", "values": [100.0, 250000.0, 1000.0]},
            "sweep": {"start": 0, "stop": 0.01, "points": 3}}
    p = only(problems_of(grid, instruments))
    assert p.key_path == ("outer", "values", 1) and p.value == 250000.0
    assert str(p) == "<plan>: outer.values.1: 250000 Hz is outside the range 1..100000 Hz of lockin"
    tracking = {"title": "t", "kind": "resonance_tracking", "source": "coil_supply", "detectors": ["lockin"],
                "sweep": {"start": 0, "stop": 0.01, "points": 3},
                "resonance": {"center_Hz": 99990.0, "span_Hz": 100.0}}
    p = only(problems_of(tracking, instruments))
    assert p.key_path == ("resonance", "span_Hz") and p.value == pytest.approx(100040.0)


@plan(title="steps", source="coil_supply", detectors=["gaussmeter", "temperature_controller"], labels=["lap"])
def _bad_steps(bad=0):
    yield step(field=0.01)
    yield step(field=0.02, labels={"lap": 1})
    if bad == 1:
        yield step(field=math.nan)
    if bad == 2:
        yield step(field=0.01, labels={"lap": math.inf})
    if bad == 3:
        yield step(field=0.5)
    if bad == 4:
        yield step(field=0.01, temperature_K=40.0)


def test_a_bad_step_of_a_plan_in_python(instruments):
    def refused(bad, with_station=False):
        with pytest.raises(PlanError) as err:
            p = load_code_plan(_bad_steps, {"bad": bad})
            if with_station:
                check_plan_against_station(p, instruments)
        assert err.value.messages == [str(p) for p in err.value.problems]
        return only(err.value.problems)

    p = refused(1)
    assert p.key_path == ("steps", 2, "field") and math.isnan(p.value)
    assert str(p).endswith(": step 2: field: nan is not a finite number")
    assert p.origin.endswith("_bad_steps")
    p = refused(2)
    assert p.key_path == ("steps", 2, "labels", "lap") and str(p).endswith(": step 2: labels.lap: inf is not "
                                                                            "a finite number")
    p = refused(3, with_station=True)
    assert p.key_path == ("steps", 2, "field") and p.value == 0.5 and "beyond the field limit" in p.message
    p = refused(4, with_station=True)
    assert p.key_path == ("steps", 2, "temperature_K") and p.value == 40.0
    assert str(p).endswith(": step 2: temperature_K: temperature 40 K is above the limit 10 K")


def test_several_problems_at_once_each_with_its_key_path():
    problems = problems_of({"title": "", "kind": "linear", "sweep": {"start": "low", "stop": 0.05, "points": 0},
                            "settle": {"delay_s": -1, "colour": "red"}})
    found = {p.key_path: p.value for p in problems}
    assert found == {("title",): "", ("sweep", "start"): "low", ("sweep", "points"): 0,
                     ("settle", "delay_s"): -1, ("settle", "colour"): "red"}
    assert len(problems) == 5
    unknown = next(p for p in problems if p.key_path == ("settle", "colour"))
    assert unknown.message == "unknown key (got 'red')"


def test_a_file_plan_names_its_file_as_origin(tmp_path):
    path = tmp_path / "night 2.5: v1.yaml"
    path.write_text("title: t\nkind: linear\nsweep: {start: 0, stop: 0.05, points: -3}\n")
    p = only(problems_of(path))
    assert p.origin == str(path) and p.key_path == ("sweep", "points") and p.value == -3
    assert str(p).startswith(f"{path}: sweep.points: ")


def test_format_key():
    assert format_key(("outer", "values", 2)) == "outer.values.2"
    assert format_key(("steps", 4, "labels", "lap")) == "step 4: labels.lap"
    assert format_key(("steps", 4)) == "step 4"
    assert format_key(()) == ""

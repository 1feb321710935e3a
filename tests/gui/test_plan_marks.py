"""The window marks the form field each plan problem's key path names (never parsed from
the message text), with problems whose text has colons and dots in odd places."""
import pytest

from loopscope.instruments.memory import MemoryStation


@pytest.fixture
def window(qtbot, tmp_path):
    from loopscope.gui.main_window import MainWindow
    from loopscope.gui.session import StationSession

    station = MemoryStation()
    # the lock-in's station limits, as a station file gives them (daq/plan_against_station.py)
    station.roles["lockin"].limit_values = {"min_frequency_Hz": 1.0, "max_frequency_Hz": 100000.0}
    session = StationSession(None, description="memory")
    session.station = station
    w = MainWindow(session, out_dir=tmp_path)
    qtbot.addWidget(w)
    yield w
    w.poller.stop()


def linear(**extra):
    data = {"title": "t", "kind": "linear", "sweep": {"start": 0.0, "stop": 0.5, "points": 11}}
    data.update(extra)
    return data


def marked(window) -> set[str]:
    form = window.editor.form
    return {k for k in list(form.editors) + list(form.groups) if window.editor.is_marked(k)}


def refused(window, data) -> set[str]:
    window.editor.set_plan_dict(data)
    assert not window.editor.valid and not window.start_button.isEnabled()
    return marked(window)


def test_a_good_plan_marks_nothing(window):
    window.editor.set_plan_dict(linear())
    assert window.editor.valid and window.start_button.isEnabled() and marked(window) == set()


def test_a_pydantic_error_marks_its_field(window):
    assert refused(window, linear(sweep={"start": 0, "stop": 0.5, "points": "zero"})) == {"sweep.points"}
    # a value with a colon and dots in it
    assert refused(window, linear(sweep={"start": 0, "stop": "0.5: T.", "points": 3})) == {"sweep.stop"}
    # a check of the whole sweep: the group
    assert refused(window, linear(sweep={"start": 0, "stop": 0.5})) == {"sweep"}


def test_a_station_limit_marks_its_field(window):
    assert refused(window, linear(limits={"max_field_T": 5.0})) == {"limits.max_field_T"}
    assert refused(window, linear(sweep={"start": 0, "stop": 2.5, "points": 3})) == {"sweep.stop"}
    assert refused(window, linear(ramp_rate_T_per_min=50)) == {"ramp_rate_T_per_min"}
    assert refused(window, {"title": "t", "kind": "list", "values": [0.1, -3.0]}) == {"values"}


def test_an_unknown_detector_marks_the_detectors(window):
    # its name looks like a key and a message: "sweep.points: 2" must not mark sweep.points
    assert refused(window, linear(detectors=["field_probe", "sweep.points: 2"])) == {"detectors"}
    assert "no instrument 'sweep.points: 2'" in window.editor.error_label.text()


def test_a_frequency_outside_the_lockin_range_marks_the_outer_values(window):
    grid = {"title": "t", "kind": "grid", "detectors": ["lockin"],
            "outer": {"quantity": "frequency", "values": [100.0, 250000.0]},
            "sweep": {"start": 0, "stop": 0.1, "points": 3}}
    assert refused(window, grid) == {"outer.values"}
    assert "outer.values.1: 250000 Hz is outside the range 1..100000 Hz of lockin" in window.editor.errors[0]


def test_problems_whose_key_is_not_where_the_old_parser_looked(window):
    # "outer.quantity frequency needs a lockin among the detectors": no "key: " at the start
    grid = {"title": "t", "kind": "grid", "detectors": ["thermometer"],
            "outer": {"quantity": "frequency", "values": [100.0]}, "sweep": {"start": 0, "stop": 0.1, "points": 3}}
    assert refused(window, grid) == {"outer.quantity", "detectors"}
    tracking = {"title": "t", "kind": "resonance_tracking", "detectors": ["thermometer"],
                "sweep": {"start": 0, "stop": 0.1, "points": 3}, "resonance": {"center_Hz": 1000, "span_Hz": 10}}
    assert refused(window, tracking) == {"detectors"}
    assert refused(window, {"title": "t", "kind": "persistent_step", "target": 0.1}) == {"source"}
    # a loop of no whole number of steps: "loop: amplitude ..." is about amplitude and step
    assert refused(window, {"title": "t", "kind": "loop", "amplitude": 0.5, "step": 0.3}) == {"amplitude", "step"}


def test_an_unknown_key_with_a_dot_marks_its_group_not_a_namesake(window):
    window.editor.set_plan_dict(linear(settle={"delay_s.ms": 5}))
    assert "settle.delay_s.ms: unknown key (not loaded into the form)" in window.editor.errors
    assert marked(window) == {"settle"}


def test_several_problems_at_once(window):
    assert refused(window, {"title": "", "kind": "linear", "sweep": {"start": "low", "stop": 0.5, "points": 0},
                            "ramp_rate_T_per_min": -1}) == {"title", "sweep.start", "sweep.points",
                                                            "ramp_rate_T_per_min"}
    text = window.editor.error_label.text()
    assert text.count("✗") == 4 and "<plan>" not in text


def test_a_problem_from_a_file_with_colons_and_dots_in_its_name(window, tmp_path):
    """The origin is a file "night 2.5: v1.yaml": its problem marks sweep.points all the same."""
    from loopscope.daq.plans import PlanError, load_plan

    path = tmp_path / "night 2.5: v1.yaml"
    path.write_text("title: t\nkind: linear\nsweep: {start: 0, stop: 0.5, points: -3}\n")
    window.editor.set_plan_dict(linear())
    with pytest.raises(PlanError) as err:
        load_plan(path)
    window.editor.show_errors(err.value.problems)
    assert marked(window) == {"sweep.points"}
    assert f"{path}: sweep.points: " in window.editor.error_label.text()

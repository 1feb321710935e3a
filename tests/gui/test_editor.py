"""The sweep editor: every plan kind, validation marks, YAML in and out (in-memory station)."""
import pytest
import yaml

from loopscope.daq.paths import PLANS_DIR
from loopscope.daq.plans import PLAN_KINDS, load_plan
from loopscope.instruments.memory import MemoryStation


@pytest.fixture
def editor(qtbot):
    from loopscope.gui.plan_form import PlanEditor

    e = PlanEditor(MemoryStation(persistent_switch=True))
    qtbot.addWidget(e)
    return e


def test_every_plan_kind_has_a_form(editor):
    for kind in PLAN_KINDS:
        editor.kind_box.setCurrentIndex(editor.kind_box.findData(kind))
        assert editor.form.kind == kind
        assert "title" in editor.form.editors


def test_invalid_entry_is_marked(qtbot):
    from loopscope.gui.plan_form import PlanEditor
    e = PlanEditor(MemoryStation())
    qtbot.addWidget(e)
    e.set_plan_dict({"title": "t", "kind": "linear", "sweep": {"start": 0, "stop": 0.5, "points": 11}})
    assert e.valid
    e.form.editors["sweep.points"].widget.setText("zero")
    assert not e.valid and e.is_marked("sweep.points")
    assert "sweep.points" in e.error_label.text()
    e.form.editors["sweep.points"].widget.setText("11")
    assert e.valid and not e.is_marked("sweep.points")
    # beyond the station's field limit (memory station: 1 T): the sweep values are marked
    e.form.editors["sweep.stop"].widget.setText("2.5")
    assert not e.valid and e.is_marked("sweep.stop")
    assert "field limit" in e.error_label.text()
    e.form.editors["sweep.stop"].widget.setText("0.5")
    e.form.editors["ramp_rate_T_per_min"].widget.setText("50")
    assert not e.valid and e.is_marked("ramp_rate_T_per_min")


def test_start_disabled_for_invalid_form_in_window(qtbot, tmp_path):
    from loopscope.gui.main_window import MainWindow
    from loopscope.gui.session import StationSession

    session = StationSession(None, description="memory")
    session.station = MemoryStation()
    w = MainWindow(session, out_dir=tmp_path)
    qtbot.addWidget(w)
    w.editor.set_plan_dict({"title": "t", "kind": "loop", "amplitude": 0.5, "step": 0.1})
    assert w.start_button.isEnabled()
    w.editor.form.editors["step"].widget.setText("0.3")  # not a whole number of steps
    assert not w.start_button.isEnabled()
    assert w.editor.is_marked("amplitude") and w.editor.is_marked("step")
    w.editor.form.editors["title"].widget.setText("")
    assert w.editor.is_marked("title")
    w.poller.stop()


@pytest.mark.parametrize("path", sorted(PLANS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_plans_round_trip_through_the_form(editor, path, tmp_path):
    assert editor.load_file(path) == []
    original = load_plan(path).model
    assert load_plan(editor.plan_dict()).model == original
    saved = editor.save_file(tmp_path / "saved.yaml")
    assert load_plan(saved).model == original


def test_saved_yaml_is_minimal_and_loadable(editor, tmp_path):
    editor.set_plan_dict({"title": "short", "kind": "time_series", "field": 0.1, "duration_s": 10,
                          "interval_s": 1})
    assert editor.valid
    path = editor.save_file(tmp_path / "ts.yaml")
    data = yaml.safe_load(path.read_text())
    assert data == {"title": "short", "kind": "time_series", "field": 0.1, "duration_s": 10.0, "interval_s": 1.0}
    assert load_plan(path).total_points() == 11


def test_units_follow_the_axis(editor):
    editor.set_plan_dict({"title": "t", "kind": "linear", "sweep": {"start": 0, "stop": 1, "points": 3}})
    assert editor.form.editors["sweep.stop"].units_label.text().startswith("T")
    editor.form.editors["axis"].widget.setCurrentIndex(editor.form.editors["axis"].widget.findData("current"))
    assert editor.form.editors["sweep.stop"].units_label.text().startswith("A")


def vector_station():
    """A memory station whose source is a vector magnet of three memory axes (1 T sphere)."""
    from loopscope.instruments.memory import MemoryFieldSource
    from loopscope.instruments.roles import FieldLimits
    from loopscope.instruments.roles.vector_magnet import VectorMagnet, VectorMagnetConfig
    from loopscope.instruments.vector_field_limit import VectorFieldLimit

    station = MemoryStation()
    axes = {a: MemoryFieldSource(f"magnet_{a}", FieldLimits(1.0, 100.0, 1.0), 0.02) for a in "xyz"}
    del station.roles["field_source"]
    station.roles.update({ax.name: ax for ax in axes.values()})
    config = VectorMagnetConfig("vector_magnet", {a: ax.name for a, ax in axes.items()},
                                VectorFieldLimit("sphere", max_field_T=1.0))
    station.roles["vector_magnet"] = VectorMagnet(config, axes)
    return station


def test_a_field_angle_plan_in_the_form(qtbot):
    from loopscope.gui.plan_form import PlanEditor
    e = PlanEditor(vector_station())
    qtbot.addWidget(e)
    e.set_plan_dict({"title": "t", "kind": "field_angle", "source": "vector_magnet", "magnitude_T": 0.5,
                     "sweep": {"start": 0, "stop": 90, "step": 10}})
    assert e.valid, e.error_label.text()
    assert e.form.editors["sweep.start"].units_label.text() == "deg"
    assert "|B| <= 1 T (sphere)" in e.limits_label.text()
    assert "magnet_x: an axis of vector_magnet" in e.limits_label.text()
    e.form.editors["magnitude_T"].widget.setText("1.5")
    assert not e.valid and e.is_marked("sweep")
    assert "outside the vector limit" in e.error_label.text()

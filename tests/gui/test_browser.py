"""The data browser: files (also one still being written), fits from the model registry, PNG."""
import numpy as np
import pytest

from loopscope.daq.plans import load_plan
from loopscope.daq.runner import Runner
from loopscope.daq.storage import Column, RunMetadata, RunWriter
from loopscope.instruments.memory import MemoryStation


@pytest.fixture(scope="module")
def ring_file(tmp_path_factory):
    """A flux-vs-field sweep on the in-memory station (an h/e-periodic ring signal)."""
    path = tmp_path_factory.mktemp("runs") / "rings.h5"
    plan = load_plan({"title": "ring sweep", "kind": "linear", "detectors": ["flux_readout", "field_probe"],
                      "sweep": {"start": -0.05, "stop": 0.05, "points": 401}})
    result = Runner(MemoryStation(), plan, path).run()
    assert result.status == "completed"
    return path


@pytest.fixture
def browser(qtbot):
    from loopscope.gui.browser import DataBrowser

    b = DataBrowser()
    qtbot.addWidget(b)
    b.resize(1100, 700)
    b.show()
    return b


def test_fit_overlay_and_parameter_table(browser, ring_file, qtbot, tmp_path):
    browser.open_file(ring_file)
    assert browser.run.n == 401 and browser.run.status == "completed"
    assert browser.x_box.currentData() == "field_T" and browser.y_box.currentData() == "flux_phi0"
    browser.select(model="pc_squid", x="field_T", y="flux_phi0")
    with qtbot.waitSignal(browser.fit_finished, timeout=60000) as sig:
        browser.fit_button.click()
    assert sig.args == [True]
    assert browser.fit_curve is not None and browser.fit_curve in browser.plot.listDataItems()
    rows = {browser.table.item(r, 0).text(): (browser.table.item(r, 1).text(), browser.table.item(r, 2).text(),
                                              browser.table.item(r, 3).text())
            for r in range(browser.table.rowCount())}
    assert rows["area"][2] == "m^2" and float(rows["area"][0]) > 0
    assert "period_T (derived)" in rows
    # memory station: period 14.6 mT
    assert float(rows["period_T (derived)"][0]) == pytest.approx(0.0146, rel=1e-3)
    png = browser.save_png(tmp_path / "fit.png")
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_opens_a_file_still_being_written(browser, tmp_path):
    cols = [Column("field_T", "T"), Column("flux_phi0", "Phi0")]
    writer = RunWriter(tmp_path / "live.h5", cols, signal="flux_phi0", axes=["field_T"],
                       metadata=RunMetadata(title="still running", plan_kind="linear"))
    try:
        for i in range(50):
            writer.append((i, 0.0, float(i), i * 1e-3, np.sin(i / 5)))
        writer.flush()
        browser.open_file(tmp_path / "live.h5")
        assert browser.run.status == "running" and browser.run.n == 50
        for i in range(50, 80):
            writer.append((i, 0.0, float(i), i * 1e-3, np.sin(i / 5)))
        writer.flush()
        browser.reload()
        assert browser.run.n == 80
        assert len(browser.data_curves) == 1
    finally:
        writer.close("completed")
    browser.reload()
    assert browser.run.status == "completed"

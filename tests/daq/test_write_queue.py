"""A queue written from plans (the window's queue): a queue file `loopscope queue` reads as
it reads any other, that overwrites nothing already in its folder."""
from __future__ import annotations

import yaml

from loopscope.daq.paths import SIMULATED_STATION
from loopscope.daq.plans import load_plan
from loopscope.daq.queue import load_queue, queue_status, write_queue_file


def plan(title, stop=0.01):
    return load_plan({"title": title, "kind": "linear", "source": "coil_supply", "detectors": ["gaussmeter"],
                      "sweep": {"start": 0.0, "stop": stop, "points": 3}, "settle": {"delay_s": 0.5}})


def test_the_written_queue_loads_with_its_plans_station_and_settings(tmp_path):
    runs = [(plan("first"), "01_first.h5"), (plan("second", -0.01), "02_second.h5")]
    path = write_queue_file(tmp_path, runs, SIMULATED_STATION, name="built here", stem="queue_x",
                            retries=2, on_failure="continue")
    assert path == tmp_path / "queue_x.yaml"
    queue = load_queue(path)
    assert (queue.name, queue.retries, queue.on_failure) == ("built here", 2, "continue")
    assert queue.station == SIMULATED_STATION.resolve()
    assert [r.out for r in queue.runs] == [tmp_path / "01_first.h5", tmp_path / "02_second.h5"]
    assert [r.plan.model for r in queue.runs] == [p.model for p, _ in runs]  # the same plans, read back
    assert sorted(p.name for p in (tmp_path / "queue_x_plans").iterdir()) == ["01_first.yaml", "02_second.yaml"]
    assert "not started (2 runs planned)" in queue_status(path)


def test_nothing_already_there_is_overwritten(tmp_path):
    (tmp_path / "01_first.h5").write_text("older run")
    (tmp_path / "queue_x.log").write_text("an older queue's log")
    station = yaml.safe_load(SIMULATED_STATION.read_text())  # a station as a dict: written beside
    path = write_queue_file(tmp_path, [(plan("first"), "01_first.h5"), (plan("again"), "01_first.h5")],
                            station, name="q", stem="queue_x")
    assert path.name == "queue_x_2.yaml" and (tmp_path / "queue_x.log").read_text() == "an older queue's log"
    queue = load_queue(path)
    outs = [r.out.name for r in queue.runs]
    assert outs[0] == "01_first_1.h5" and len(set(outs)) == 2 and "01_first.h5" not in outs
    assert queue.station == tmp_path / "queue_x_2_plans" / "station.yaml"
    assert (tmp_path / "01_first.h5").read_text() == "older run"

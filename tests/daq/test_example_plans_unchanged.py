"""Every example plan gives the same points and the same file columns as the engine did before
the plan kinds were re-expressed as plans in the step vocabulary.

The record (example_plans_record/example_plans.json) was written by example_plans_record/record.py
from the engine of commit fb011f3; the test rebuilds it with today's engine and compares key by
key, so a difference names the plan, the point and the key.
"""
import json
import math
from pathlib import Path

import pytest

from tests.daq.example_plans_record.record import all_records

RECORD = json.loads((Path(__file__).parent / "example_plans_record" / "example_plans.json").read_text())


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    return all_records(tmp_path_factory.mktemp("records"))


def test_the_record_covers_every_example_plan(today):
    assert sorted(today) == sorted(RECORD)
    plans_dir = Path(__file__).parents[2] / "examples" / "plans"
    assert {f"plans/{p.name}" for p in plans_dir.glob("*.yaml")} <= set(RECORD)


@pytest.mark.parametrize("name", sorted(RECORD))
def test_example_plan_is_unchanged(today, name):
    before, now = RECORD[name], today[name]
    for key in ("kind", "total_points", "columns", "signal", "axes", "source", "detectors"):
        assert now[key] == before[key], f"{name}: {key} changed"
    assert math.isclose(now["ramp_rate_T_per_min"], before["ramp_rate_T_per_min"], rel_tol=1e-12)
    if "points" in before:
        assert len(now["points"]) == len(before["points"]), f"{name}: number of points changed"
        for a, b in zip(now["points"], before["points"]):
            where = f"{name}: point {b['index']}"
            assert sorted(a) == sorted(b), f"{where}: keys changed"
            for key, value in b.items():
                if isinstance(value, str):
                    assert a[key] == value, f"{where}: {key} changed"
                elif isinstance(value, list):   # a field vector
                    assert len(a[key]) == len(value) and all(
                        math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15) for x, y in zip(a[key], value)), \
                        f"{where}: {key} changed"
                else:
                    assert math.isclose(a[key], value, rel_tol=1e-12), f"{where}: {key} changed"

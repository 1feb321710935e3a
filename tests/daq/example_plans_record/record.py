"""Write the record of what every example plan does: its points and its file's columns.

    python tests/daq/example_plans_record/record.py

The record was written once, from the engine as it was before the plan kinds became plans in
the step vocabulary (commit fb011f3), and tests/daq/test_example_plans_unchanged.py compares
the engine of today with it. Run this again only for a change meant to alter what an example
plan does, and say so in the commit.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from station_of_example_names import example_station  # noqa: E402

from loopscope.daq.plans import load_plan  # noqa: E402
from loopscope.daq.plans_as_code import load_code_plan  # noqa: E402
from loopscope.daq.runner import Runner  # noqa: E402

EXAMPLES = HERE.parents[2] / "examples"
#: plans in Python shipped as examples: (target, arguments)
CODE_PLANS = [("plans_in_python/field_steps.py:steps_up_and_back", {}),
              ("plans_in_python/field_steps.py:thouless_series", {})]


def plan_record(plan, tmp: Path) -> dict:
    station = example_station(vector_magnet=plan.model.source == "vector_magnet")
    runner = Runner(station, plan, tmp / "unused.h5")
    signal, axes = runner._signal_and_axes()
    record = {
        "kind": plan.kind,
        "total_points": plan.total_points(),
        "columns": [[c.name, c.units, c.long_name] for c in runner._columns],
        "signal": signal,
        "axes": axes,
        "source": runner.source_name,
        "detectors": list(runner.detector_names),
        "ramp_rate_T_per_min": runner.ramp_rate,
    }
    if plan.kind != "continuous":
        record["points"] = [_point(p) for p in plan.points()]
    return record


def _point(p) -> dict:
    # flat, so that a difference names the key (labels.cycle, actions)
    d = asdict(p)
    labels = d.pop("labels") or {}
    d["actions"] = " ".join(d["actions"])
    d |= {f"labels.{k}": v for k, v in labels.items()}
    return {k: v for k, v in d.items() if v not in (None, False, "", ())} | {"index": p.index}


def all_records(tmp: Path) -> dict:
    out = {}
    for path in sorted((EXAMPLES / "plans").glob("*.yaml")):
        out[f"plans/{path.name}"] = plan_record(load_plan(path), tmp)
    for target, arguments in CODE_PLANS:
        where, name = target.split(":")
        plan = load_code_plan(f"{EXAMPLES / where}:{name}", arguments)
        out[target] = plan_record(plan, tmp)
    return out


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        records = all_records(Path(tmp))
    (HERE / "example_plans.json").write_text(json.dumps(records, indent=1) + "\n")
    print(f"wrote {len(records)} plans")

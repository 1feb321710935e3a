"""A bad plan, station or queue touches nothing: `loopscope run` / `queue run` as subprocesses
against the simulated lab refuse each one with a one-line error naming the file, the key and
the value, write no output file, and send not a single line to any instrument (the lab's
command log stays empty, not even *IDN?)."""
from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from loopscope.daq.plans import MAX_POINTS, PlanError, load_plan
from loopscope.safe_yaml import MAX_YAML_BYTES

PLAN_HEAD = "title: bad plan\n"


def loopscope(*args, cwd: Path) -> subprocess.CompletedProcess:
    """The real command line, in a process of its own."""
    return subprocess.run([sys.executable, "-m", "loopscope", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def assert_refused(result: subprocess.CompletedProcess, words) -> str:
    """Exit code not 0; stderr one line, no traceback, every word in it."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def assert_nothing_sent(lab) -> None:
    log = lab.command_log()
    assert set(log) == set(lab.instruments)
    assert all(lines == [] for lines in log.values()), {k: v[:3] for k, v in log.items() if v}


@pytest.fixture
def lab_station(sim_lab_factory):
    lab, station = sim_lab_factory()
    assert_nothing_sent(lab)  # a fresh lab has heard nothing
    return lab, station


def without_lockin_limits(station: Path, tmp_path: Path) -> Path:
    """The station with no frequency limits on the lock-ins: only the drivers' own ranges bound them."""
    data = yaml.safe_load(station.read_text())
    for name in ("lockin", "lockin_sr860"):
        data["instruments"][name].pop("limits", None)
    out = tmp_path / "station_no_lockin_limits.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


GRID = "sweep: {start: 0, stop: 0.01, points: 3}\n"
RES = "kind: resonance_tracking\nsweep: {start: 0, stop: 0.01, points: 3}\ndetectors: [lockin]\n"

BAD_PLANS = [
    # (id, plan body, words the one-line error must hold besides the file name)
    ("list_value_nan", "kind: list\nsource: coil_supply\nvalues: [0.03, .nan, 0]\n", ["values.1", "nan", "finite"]),
    ("start_nan", "kind: linear\nsweep: {start: .nan, stop: 0.01, points: 3}\n", ["sweep.start", "nan"]),
    ("stop_inf", "kind: linear\nsweep: {start: 0, stop: .inf, points: 3}\n", ["sweep.stop", "inf"]),
    ("points_1e12", "kind: linear\nsweep: {start: 0, stop: 0.01, points: 1e12}\n",
     ["sweep.points", "1000000000000", f"{MAX_POINTS}"]),
    ("step_1e-12", "kind: linear\nsweep: {start: 0, stop: 0.01, step: 1e-12}\n",
     ["sweep.step", "1e-12", "points", f"{MAX_POINTS:,}"]),
    ("loop_step_1e-9", "kind: loop\namplitude: 0.01\nstep: 1e-9\n", ["step", "1e-09", "points"]),
    ("loop_cycles", "kind: loop\namplitude: 0.01\nstep: 0.001\ncycles: 1000000\n", ["cycles", "1000000"]),
    ("grid_points", "kind: grid\nouter: {quantity: temperature, values: [1, 2, 3]}\n"
                    "sweep: {start: 0, stop: 0.01, points: 5000000}\n", ["sweep", "15,000,000 points"]),
    ("outer_temperature_nan", f"kind: grid\nouter: {{quantity: temperature, values: [0.05, .nan]}}\n{GRID}",
     ["outer.values.1", "nan"]),
    ("outer_temperature_high", f"kind: grid\nouter: {{quantity: temperature, values: [0.05, 400]}}\n{GRID}",
     ["outer.values.1", "400 K", "limit 10 K"]),
    ("outer_temperature_range", f"kind: grid\nouter: {{quantity: temperature, range: {{start: 1, stop: 50, "
                                f"points: 3}}}}\n{GRID}", ["outer.range.stop", "50 K"]),
    ("outer_frequency_station_limit", f"kind: grid\ndetectors: [lockin]\n"
                                      f"outer: {{quantity: frequency, values: [1000, 200000]}}\n{GRID}",
     ["outer.values.1", "200000 Hz", "lockin", "1..100000 Hz"]),
    ("outer_frequency_zero", f"kind: grid\ndetectors: [lockin]\nouter: {{quantity: frequency, values: [0]}}\n{GRID}",
     ["outer.values.0", "0 Hz"]),
    ("temperature_setpoint_nan", "kind: list\nvalues: [0]\ntemperature: {setpoint_K: .nan}\n",
     ["temperature.setpoint_K", "nan"]),
    ("temperature_setpoint_high", "kind: list\nvalues: [0]\ntemperature: {setpoint_K: 300}\n",
     ["temperature.setpoint_K", "300 K", "temperature_controller"]),
    ("resonance_center", f"{RES}resonance: {{center_Hz: 150000, span_Hz: 100}}\n",
     ["resonance.center_Hz", "150000 Hz", "lockin"]),
    ("resonance_span", f"{RES}resonance: {{center_Hz: 99000, span_Hz: 4000}}\n",
     ["resonance.span_Hz", "101000 Hz", "lockin"]),
    ("resonance_span_below_zero", f"{RES}resonance: {{center_Hz: 2000, span_Hz: 5000}}\n",
     ["resonance.span_Hz", "5000", "-500 Hz"]),
    ("resonance_center_nan", f"{RES}resonance: {{center_Hz: .nan, span_Hz: 10}}\n",
     ["resonance.center_Hz", "nan"]),
    ("time_series_interval", "kind: time_series\nduration_s: 1e6\ninterval_s: 1e-3\n",
     ["interval_s", "0.001", "readings"]),
    ("time_series_duration_inf", "kind: time_series\nduration_s: .inf\ninterval_s: 1\n", ["duration_s", "inf"]),
    ("time_series_field_nan", "kind: time_series\nfield: .nan\nduration_s: 10\ninterval_s: 1\n",
     ["field", "nan"]),
    ("persistent_interval", "kind: persistent_step\nsource: magnet_supply\ntarget: 0.1\nhold_s: 1000\n"
                            "interval_s: 1e-6\n", ["interval_s", "1e-06"]),
    ("ramp_rate_nan", "kind: list\nvalues: [0]\nramp_rate_T_per_min: .nan\n", ["ramp_rate_T_per_min", "nan"]),
    ("ramp_rate_high", "kind: list\nsource: coil_supply\nvalues: [0]\nramp_rate_T_per_min: 1000\n",
     ["ramp_rate_T_per_min", "1000", "coil_supply"]),
    ("value_beyond_limit", "kind: list\nsource: coil_supply\nvalues: [0.03, 0.5, 0]\n",
     ["values.1", "0.5 T", "±0.099 T", "coil_supply"]),
    ("duplicate_key", "kind: list\nvalues: [0]\nvalues: [0.05]\n", ["line 4", "duplicate key 'values'", "first at line 3"]),
    ("settle_delay_inf", "kind: list\nvalues: [0]\nsettle: {delay_s: .inf}\n", ["settle.delay_s", "inf"]),
]


@pytest.mark.parametrize("body, words", [p[1:] for p in BAD_PLANS], ids=[p[0] for p in BAD_PLANS])
def test_bad_plan_touches_nothing(lab_station, tmp_path, body, words):
    lab, station = lab_station
    plan = tmp_path / "bad.yaml"
    plan.write_text(PLAN_HEAD + body)
    out = tmp_path / "x.h5"
    r = loopscope("run", plan, "--station", station, "--out", out, "--quiet", cwd=tmp_path)
    assert_refused(r, [str(plan), *words])
    assert not out.exists()
    assert_nothing_sent(lab)


def test_lockin_frequency_beyond_the_drivers_own_range(lab_station, tmp_path):
    """No station limits on the lock-ins: the SR830 driver's range (1 mHz..102 kHz) still
    refuses 150 kHz before anything is connected, while the SR860 (..500 kHz) takes it."""
    lab, station = lab_station
    station = without_lockin_limits(station, tmp_path)
    plan = tmp_path / "fast.yaml"
    plan.write_text(PLAN_HEAD + f"kind: grid\ndetectors: [lockin]\nouter: {{quantity: frequency, "
                                f"values: [1000, 150000]}}\n{GRID}")
    r = loopscope("run", plan, "--station", station, "--out", tmp_path / "x.h5", cwd=tmp_path)
    assert_refused(r, [str(plan), "outer.values.1", "150000 Hz", "0.001..102000 Hz", "lockin"])
    assert not (tmp_path / "x.h5").exists()
    assert_nothing_sent(lab)
    from loopscope.daq.runner import check_plan_against_station
    from loopscope.daq.plan_against_station import plan_instruments
    from loopscope.instruments.station import validate_station

    instruments = plan_instruments(validate_station(station))
    assert instruments["lockin_sr860"][1]["driver_max_frequency_Hz"] == 500_000
    sr860 = load_plan(plan.read_text().replace("[lockin]", "[lockin_sr860]"))
    check_plan_against_station(sr860, instruments)  # within the SR860's range: fine
    sr860 = load_plan(plan.read_text().replace("[lockin]", "[lockin_sr860]").replace("150000", "600000"))
    with pytest.raises(PlanError, match="0.001..500000 Hz of lockin_sr860"):
        check_plan_against_station(sr860, instruments)


def test_the_command_log_sees_a_good_run(lab_station, tmp_path):
    """The control: the same path with a good plan does reach the instruments, and the log shows it."""
    lab, station = lab_station
    plan = tmp_path / "good.yaml"
    plan.write_text(PLAN_HEAD + "kind: list\nsource: coil_supply\ndetectors: [gaussmeter]\nvalues: [0.001]\n")
    r = loopscope("run", plan, "--station", station, "--out", tmp_path / "good.h5", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    log = lab.command_log()
    assert "*IDN?" in log["coil_supply"] and "*IDN?" in log["gaussmeter"]
    assert any(line.startswith("CURR") for line in log["coil_supply"])  # the coil was driven
    lab.clear_command_log()
    assert_nothing_sent(lab)


# ------------------------------------------------------------------ YAML bombs and big files
def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return PLAN_HEAD + "kind: list\nvalues: [0]\n" + "\n".join(lines) + "\n"


def big_plan(path: Path, megabytes: int) -> Path:
    with open(path, "w") as fh:
        fh.write(PLAN_HEAD + "kind: list\nvalues: [")
        chunk = "0.001, " * 150_000  # ~1 MB
        for _ in range(megabytes):
            fh.write(chunk)
        fh.write("0]\n")
    return path


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_text(billion_laughs()), ["alias"]),
    (lambda p: big_plan(p, 50), ["bytes", f"{MAX_YAML_BYTES:,}"]),
    (lambda p: p.write_bytes(b"title: x\nkind: list\nvalues: [0]\n" + bytes(range(256)) * 4), ["not a text file"]),
    (lambda p: p.write_text("title: x\nkind: list\nvalues: " + "[" * 500 + "]" * 500 + "\n"), ["nested"]),
    (lambda p: p.write_text("title: &t [*t]\nkind: list\nvalues: [0]\n"), ["recursive"]),
], ids=["billion_laughs", "50MB", "binary", "deep", "recursive_alias"])
def test_yaml_bombs_refused_quickly_with_bounded_memory(lab_station, tmp_path, make, words):
    lab, station = lab_station
    plan = tmp_path / "bomb.yaml"
    make(plan)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(PlanError) as err:
            load_plan(plan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5  # a generous bound: the refusal takes milliseconds
    assert peak < 10 * MAX_YAML_BYTES  # never the 50 MB, never the billion strings
    assert str(plan) in str(err.value) and "\n" not in str(err.value)
    r = loopscope("run", plan, "--station", station, "--out", tmp_path / "x.h5", cwd=tmp_path)
    assert_refused(r, [str(plan), *words])
    assert not (tmp_path / "x.h5").exists()
    assert_nothing_sent(lab)


def test_a_plan_just_under_the_size_limit_loads(tmp_path):
    plan = tmp_path / "long_list.yaml"
    plan.write_text(PLAN_HEAD + "kind: list\nvalues: [" + ", ".join(["0.001"] * 100_000) + "]\n")
    assert plan.stat().st_size < MAX_YAML_BYTES
    assert load_plan(plan).total_points() == 100_000


# ------------------------------------------------------------------ stations
def station_with_duplicate(station: Path, tmp_path: Path) -> Path:
    """The station with its gaussmeter entry written twice (the second one later in the file)."""
    lines = station.read_text().splitlines()
    start = lines.index("  gaussmeter:")
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    bad = tmp_path / "dup_station.yaml"
    bad.write_text("\n".join(lines[:end] + lines[start:end] + lines[end:]) + "\n")
    return bad


def written(path: Path, content) -> Path:
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda station, tmp: written(tmp / "bin_station.yaml", b"\x89HDF\r\n\x1a\n\x00\x00\xff\xfe" * 64),
     ["bin_station.yaml", "not a text file"]),
    (station_with_duplicate, ["dup_station.yaml", "duplicate key 'gaussmeter'", "line"]),
    (lambda station, tmp: written(tmp / "typo_station.yaml", station.read_text().replace(
        "safe_state: zero", "safe_state: zero\ncolour: blue")), ["typo_station.yaml", "unknown key 'colour'", "blue"]),
    (lambda station, tmp: written(tmp / "nan_station.yaml", station.read_text().replace(
        "max_field_T: 0.099", "max_field_T: .nan")), ["nan_station.yaml", "'coil_supply'.limits.max_field_T", "nan"]),
], ids=["binary", "duplicate_instrument", "unknown_key", "nan_limit"])
def test_bad_station_touches_nothing(lab_station, tmp_path, make, words):
    lab, station = lab_station
    bad = make(Path(station), tmp_path)
    plan = tmp_path / "good.yaml"
    plan.write_text(PLAN_HEAD + "kind: list\nvalues: [0]\n")
    r = loopscope("run", plan, "--station", bad, "--out", tmp_path / "x.h5", cwd=tmp_path)
    assert_refused(r, words)
    assert not (tmp_path / "x.h5").exists()
    assert_nothing_sent(lab)


# ------------------------------------------------------------------ queues
def queue_file(tmp_path: Path, station: Path, plan: str) -> Path:
    q = tmp_path / "night.yaml"
    q.write_text(yaml.safe_dump({"queue": "bad night", "station": str(station), "output_dir": "runs",
                                 "runs": [{"plan": plan}]}, sort_keys=False))
    return q


def test_binary_queue_file(lab_station, tmp_path):
    lab, station = lab_station
    q = tmp_path / "night.yaml"
    q.write_bytes(bytes(range(256)) * 16)
    r = loopscope("queue", "run", q, cwd=tmp_path)
    assert_refused(r, [str(q), "not a text file"])
    assert not (tmp_path / "night.status.yaml").exists() and not (tmp_path / "runs").exists()
    assert_nothing_sent(lab)


def test_queue_plan_that_is_a_directory(lab_station, tmp_path):
    lab, station = lab_station
    (tmp_path / "plans").mkdir()
    q = queue_file(tmp_path, station, "plans")
    r = loopscope("queue", "run", q, cwd=tmp_path)
    assert_refused(r, [str(q), "runs[0]", "plans", "is a directory"])
    assert not (tmp_path / "night.status.yaml").exists() and not (tmp_path / "runs").exists()
    assert_nothing_sent(lab)


@pytest.mark.parametrize("plan_text, words", [
    (PLAN_HEAD + "kind: list\nvalues: [0.03, .nan, 0]\n", ["values.1", "nan"]),
    (PLAN_HEAD + "kind: list\nvalues: [0]\nkind: loop\n", ["duplicate key 'kind'"]),
    (None, ["not a text file"]),
], ids=["nan_value", "duplicate_key", "binary_plan"])
def test_queue_with_a_bad_plan_touches_nothing(lab_station, tmp_path, plan_text, words):
    lab, station = lab_station
    plan = tmp_path / "p.yaml"
    if plan_text is None:
        plan.write_bytes(b"\xff\xfe\x00t\x00i\x00t\x00l\x00e" * 20)
    else:
        plan.write_text(plan_text)
    q = queue_file(tmp_path, station, "p.yaml")
    r = loopscope("queue", "run", q, cwd=tmp_path)
    assert_refused(r, [str(q), "runs[0]", "p.yaml", *words])
    assert not (tmp_path / "runs").exists()
    assert_nothing_sent(lab)


# ------------------------------------------------------------------ in-process details
def test_point_counts_are_worked_out_without_building_arrays():
    cases = [
        {"kind": "linear", "sweep": {"start": 0, "stop": 0.1, "step": 0.03}},
        {"kind": "linear", "sweep": {"start": 0.1, "stop": -0.1, "step": 0.02}},
        {"kind": "linear", "sweep": {"start": 0, "stop": 0.099, "step": 0.033}},
        {"kind": "grid", "outer": {"quantity": "temperature", "range": {"start": 1, "stop": 2, "step": 0.3}},
         "sweep": {"start": 0, "stop": 0.01, "points": 4}},
        {"kind": "loop", "amplitude": 0.02, "step": 0.005, "cycles": 3, "virgin": False},
        {"kind": "loop", "amplitude": 0.02, "step": 0.005, "cycles": 2},
        {"kind": "time_series", "duration_s": 10, "interval_s": 3},
        {"kind": "persistent_step", "target": 1.0, "hold_s": 5, "interval_s": 2},
    ]
    for data in cases:
        plan = load_plan({"title": "count", **data})
        assert plan.total_points() == len(list(plan.points())), data
        if data["kind"] in ("linear", "grid"):
            assert plan.model.sweep.count() == len(plan.model.sweep.values())
            values = plan.field_values()
            assert max(abs(v) for _, v in plan.field_extremes()) == pytest.approx(max(abs(values)), abs=0)


def test_at_the_point_limit_and_just_over(monkeypatch):
    ok = load_plan({"title": "t", "kind": "linear", "sweep": {"start": 0, "stop": 1, "points": MAX_POINTS}})
    assert ok.total_points() == MAX_POINTS
    with pytest.raises(PlanError, match="sweep.points"):
        load_plan({"title": "t", "kind": "linear", "sweep": {"start": 0, "stop": 1, "points": MAX_POINTS + 1}})
    with pytest.raises(PlanError, match="sweep.step"):
        load_plan({"title": "t", "kind": "linear", "sweep": {"start": 0, "stop": 1, "step": 1 / MAX_POINTS}})


def test_expected_file_size_is_bounded(monkeypatch):
    import loopscope.daq.plan_against_station as runner

    instruments = {"coil": ("field_source", {"max_field_T": 0.1, "coil_constant_T_per_A": 0.01}),
                   "probe": ("field_probe", {})}
    plan = load_plan({"title": "t", "kind": "time_series", "duration_s": 999_999, "interval_s": 1})
    runner.check_plan_against_station(plan, instruments)
    monkeypatch.setattr(runner, "MAX_FILE_BYTES", 50_000_000)
    with pytest.raises(PlanError, match=r"1,000,000 points of 9 quantities .* more than the limit of 0.05 GB"):
        runner.check_plan_against_station(plan, instruments)


def test_several_problems_are_one_line_and_listed_for_the_gui():
    with pytest.raises(PlanError) as err:
        load_plan({"title": "", "kind": "linear", "sweep": {"start": float("nan"), "stop": 1, "points": 0}})
    assert "\n" not in str(err.value)
    assert len(err.value.messages) == 3
    assert [m.split(": ")[1] for m in err.value.messages] == ["title", "sweep.start", "sweep.points"]


def test_nan_never_slips_through_the_station_check():
    """check_plan_against_station on a model built around the loader: NaN is still refused."""
    from loopscope.daq.plans import ListPlan, Plan
    from loopscope.daq.runner import check_plan_against_station

    model = ListPlan.model_construct(**{**load_plan({"title": "t", "kind": "list", "values": [0]}).model.__dict__,
                                        "values": [0.01, float("nan")]})
    instruments = {"coil": ("field_source", {"max_field_T": 0.1, "coil_constant_T_per_A": 0.01})}
    with pytest.raises(PlanError, match=r"values.1: nan is not a finite number"):
        check_plan_against_station(Plan(model=model, origin="p.yaml"), instruments)

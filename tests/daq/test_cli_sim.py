"""Every example plan runs from the command line on the simulated lab, over VISA/TCP.

Each test starts the simulated lab in-process, writes a station file with its ports, and
calls `loopscope run` exactly as a user would; then opens the file with plain h5py.
"""
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from loopscope.daq.paths import PLANS_DIR
from loopscope.cli import main

EXAMPLES = sorted(p.name for p in PLANS_DIR.glob("*.yaml"))
SAMPLE_FOR = {"hysteresis_loop.yaml": "soft_core"}
#: plans written for another lab than the default one: its profile
PROFILE_FOR = {"thouless_series_dilution.yaml": "dilution_fridge", "field_angle_sweep.yaml": "vector_magnet"}


def run_cli(*args):
    result = CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)
    return result


def test_every_plan_kind_has_an_example():
    from loopscope.daq.plans import PLAN_KINDS, load_plan
    kinds = {load_plan(PLANS_DIR / name).kind for name in EXAMPLES}
    assert kinds == set(PLAN_KINDS)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_plan_runs_from_the_cli(sim_lab_factory, tmp_path, name):
    lab, station = sim_lab_factory(PROFILE_FOR.get(name) or {"sample": {"kind": SAMPLE_FOR.get(name, "rings")}})
    out = tmp_path / "run.h5"
    result = run_cli("run", PLANS_DIR / name, "--station", station, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert "completed:" in result.output
    with h5py.File(out, "r") as f:  # plain h5py, nothing of loopscope
        entry = f["entry"]
        assert entry["status"][()].strip() == b"completed"
        data = entry["data"]
        n = data["point_index"].shape[0]
        assert n > 0 and list(data["point_index"][:]) == list(range(n))
        assert data.attrs["signal"] in data and all(a in data for a in data.attrs["axes"])
        for ds in data.values():
            assert "units" in ds.attrs
        assert entry["instrument"]["snapshot_json"][()]
        assert b"station" in entry["station"][()] or entry["station"][()]
    # the field went back to zero unless the plan says hold
    if name not in ("cantilever_resonance_tracking.yaml", "magnet_persistent_step.yaml"):
        assert abs(lab.world.field_T) < 1e-3


def test_inspect_and_export(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    out = tmp_path / "r.h5"
    assert run_cli("run", PLANS_DIR / "field_list.yaml", "--station", station, "--out", out, "--quiet").exit_code == 0
    shown = run_cli("inspect", out)
    assert shown.exit_code == 0
    for word in ("completed", "probe_field_T", "[T]", "flux_phi0", "[Phi0]", "KEPCO", "points     6"):
        assert word in shown.output
    csv = tmp_path / "r.csv"
    exported = run_cli("export", out, "--csv", csv)
    assert exported.exit_code == 0 and "6 rows" in exported.output
    table = np.genfromtxt(csv, delimiter=",", names=True)
    with h5py.File(out, "r") as f:
        assert table["probe_field_T_T"] == pytest.approx(f["entry/data/probe_field_T"][:], rel=1e-15)
    assert run_cli("export", out, "--csv", csv).exit_code != 0  # exists: refused


def test_existing_output_refused_before_touching_instruments(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    out = tmp_path / "keep.h5"
    out.write_bytes(b"yesterday's data")
    r = run_cli("run", PLANS_DIR / "field_list.yaml", "--station", station, "--out", out)
    assert r.exit_code != 0 and "already exists" in r.output
    assert out.read_bytes() == b"yesterday's data"
    assert lab.world.coil.output_on is False  # nothing was sent to the coil supply
    r = run_cli("run", PLANS_DIR / "field_list.yaml", "--station", station, "--out", out, "--new-name", "--quiet")
    assert r.exit_code == 0 and (tmp_path / "keep_1.h5").exists()


def test_plan_beyond_station_limit_refused(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    plan = tmp_path / "too_far.yaml"
    plan.write_text("title: too far\nkind: linear\nsource: coil_supply\nsweep: {start: 0, stop: 0.5, points: 3}\n")
    r = run_cli("run", plan, "--station", station, "--out", tmp_path / "x.h5")
    assert r.exit_code != 0
    assert "0.5 T" in r.output and "±0.099 T" in r.output and "coil_supply" in r.output
    assert not (tmp_path / "x.h5").exists()
    assert lab.world.coil.output_on is False


def test_bad_station_key_refused(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    text = Path(station).read_text().replace("safe_state: zero", "safe_state: zero\ncolour: blue")
    bad = tmp_path / "bad_station.yaml"
    bad.write_text(text)
    r = run_cli("run", PLANS_DIR / "field_list.yaml", "--station", bad, "--out", tmp_path / "x.h5")
    assert r.exit_code != 0 and "colour" in r.output


def one_line_error(result, *words):
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("make, words", [
    (lambda f: f.create_dataset("entry/data", data=np.arange(5)), ["/entry/data is a dataset, not a group"]),
    (lambda f: f.create_group("entry/data").create_dataset("x", data=np.zeros((3, 4))), ["/entry/data/x", "2-dimensional"]),
    (lambda f: f.create_group("entry/data").create_dataset("s", data=np.array([b"a", b"b"])), ["/entry/data/s"]),
    (lambda f: f.create_group("entry/data").create_group("nested"), ["/entry/data/nested is a group"]),
    (lambda f: f.create_group("other"), ["/entry/data is missing"]),
], ids=["dataset", "2d", "strings", "group", "missing"])
def test_export_of_a_file_that_is_not_ours(tmp_path, make, words):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        make(f)
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["export", str(path), "--csv", str(out)])
    one_line_error(r, str(path), "not a loopscope run file", *words)
    assert not out.exists()
    r = CliRunner().invoke(main, ["inspect", str(path)])
    one_line_error(r, str(path))


def test_demo_out_directory_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out in ("/proc/nope", str(blocker / "sub")):
        r = CliRunner().invoke(main, ["demo", "--out", out, "--quiet"])
        one_line_error(r, f"--out {out}", "cannot create the directory")


def test_hints_name_the_command_the_user_can_type(monkeypatch):
    from loopscope.daq import cli

    monkeypatch.setenv("LOOPSCOPE_COMMAND", "python3 quickstart.py")
    assert cli.how_to_call() == "python3 quickstart.py"
    monkeypatch.delenv("LOOPSCOPE_COMMAND")
    monkeypatch.setattr("shutil.which", lambda name: None)
    call = cli.how_to_call()
    assert call.endswith(" -m loopscope") and sys.executable in call
    monkeypatch.setattr("shutil.which", lambda name: "/somewhere/bin/loopscope")
    assert cli.how_to_call() == "loopscope"


def test_a_station_whose_clock_disagrees_with_the_lab_is_refused(sim_lab_factory, tmp_path):
    """`loopscope sim --speed 100` with a station at time_scale 1 (README's pairing before):
    every wait would be 100 times too long. The lab says its clock (CLOCK:SPEED?); the run is
    refused before anything moves, and --time-scale makes the pair agree."""
    lab, station = sim_lab_factory(speed=100.0, time_scale=1.0)
    lab.clear_command_log()
    out = tmp_path / "run.h5"
    result = run_cli("run", PLANS_DIR / "field_list.yaml", "--station", station, "--out", out,
                     "--quiet")
    assert result.exit_code == 1
    assert "the simulated lab runs at x100 (CLOCK:SPEED?) but the station's time_scale is 1" \
        in result.output
    assert "--time-scale 100" in result.output
    sent = [line for lines in lab.command_log().values() for line in lines]
    assert sent and all("?" in line for line in sent)      # only questions were asked
    assert not out.exists()
    result = run_cli("run", PLANS_DIR / "field_list.yaml", "--station", station, "--out", out,
                     "--quiet", "--time-scale", "100")
    assert result.exit_code == 0, result.output

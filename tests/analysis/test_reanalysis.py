"""Offline reanalysis of many run files: locally and on a real Dask cluster on loopback, bad files,
idempotency and resume, the summary table, series fits and the CLI.

The runs are real run files: RunWriter (daq.storage) for persistent-current sweeps at several
temperatures (true E_c known), the MPMS import writer for M(H) at several temperatures (true
Curie-Weiss parameters known), plus damaged and foreign files and one held open by a live writer.
"""
import csv
import hashlib
import math
import shutil
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from loopscope.analysis.constants import PHI0
from loopscope.analysis.models import get_model
from loopscope.analysis.reanalysis import (ReanalysisError, ReanalysisOptions, find_runs, parse_select, matches,
                                 read_summary, reanalyze, reanalyze_one)
from loopscope.analysis.reanalyze_cli import reanalyze as reanalyze_cmd
from loopscope.analysis.runfile import read_fit
from loopscope.analysis.series import fit_series

AREA = 2.83e-13
EC_TRUE = 0.0215  # K, PHYSICS.md section 6 (r = 0.3 um, D = 0.01 m^2/s)
I0_TRUE = 0.7e-9
PC_TEMPS = (0.01, 0.02, 0.04, 0.06, 0.09, 0.12, 0.16, 0.2)
CW_TRUE = {"C": 2e-11, "theta": -3.0, "chi0": -2e-14}  # m^3 K, K, m^3
CW_TEMPS = (5.0, 8.0, 12.0, 20.0, 35.0, 60.0, 100.0, 200.0)
PC_OPTS = ReanalysisOptions("persistent_current")
CHI_OPTS = ReanalysisOptions("susceptibility")


# ------------------------------------------------------------------ synthetic runs
def pc_writer(path, T, amplitude, n=600, seed=0, close=True, columns=("field_T", "current_A", "temperature_K")):
    from loopscope.daq.storage import Column, RunMetadata, RunWriter

    rng = np.random.default_rng(seed)
    B = np.linspace(0.0, 0.4, n)
    data = {"field_T": B,
            "current_A": amplitude * np.sin(2 * math.pi * AREA * B / PHI0 + 0.3)
            + 0.1 * amplitude * np.sin(4 * math.pi * AREA * B / PHI0) + 2e-10 * B + rng.normal(0, 2e-11, n),
            "temperature_K": T + rng.normal(0, T * 1e-3, n),
            "flux_phi0": rng.normal(0, 1, n)}
    units = {"field_T": "T", "current_A": "A", "temperature_K": "K", "flux_phi0": "Phi0"}
    w = RunWriter(path, [Column(c, units[c]) for c in columns], signal=columns[1], axes=["field_T"],
                  metadata=RunMetadata(title=f"rings at {T * 1e3:.0f} mK", plan_kind="linear",
                                       sample={"name": "rings", "material": "Au"}),
                  background_flush=False)
    now = time.time()
    w.extend([(i, now + i, float(i), *(float(data[c][i]) for c in columns)) for i in range(n)])
    w.flush()
    if close:
        w.close("completed")
    return w


def chi_run(path, T, seed=0, n=81):
    """An M(H) run at fixed T in the layout the MPMS importer writes (variable-length strings)."""
    from loopscope.daq.mpms_import import write_run_file
    from loopscope.analysis.constants import MU_0

    rng = np.random.default_rng(100 + seed)
    chi = CW_TRUE["C"] / (T - CW_TRUE["theta"]) + CW_TRUE["chi0"]
    H = np.linspace(-4e5, 4e5, n)
    m = chi * H + 3e-10 + rng.normal(0, 2e-10, n)
    q = {"point_index": np.arange(n), "timestamp": 1.7e9 + np.arange(n), "elapsed_s": np.arange(n, dtype=float),
         "field_T": MU_0 * H, "field_H_A_per_m": H, "moment_Am2": m, "temperature_K": T + rng.normal(0, 1e-3, n)}
    units = {"point_index": "1", "timestamp": "s", "elapsed_s": "s", "field_T": "T", "field_H_A_per_m": "A/m",
             "moment_Am2": "A m^2", "temperature_K": "K"}
    entry = {"title": f"M(H) at {T:g} K", "status": "completed", "plan_kind": "mpms_import",
             "start_time": "2025-03-01T10:00:00+00:00"}
    write_run_file(path, q, units, {}, "moment_Am2", ["field_T"], entry,
                   {"name": "CuSO4", "material": "CuSO4.5H2O", "mass": 2e-5}, {})
    return path


def pc_amplitudes():
    return get_model("pc_diffusive_T")(np.array(PC_TEMPS), [I0_TRUE, EC_TRUE, 1.0])


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """A folder tree of good and bad runs, built once; tests copy it."""
    root = tmp_path_factory.mktemp("runs_template")
    (root / "rings" / "2025").mkdir(parents=True)
    (root / "chi").mkdir()
    for k, (T, amp) in enumerate(zip(PC_TEMPS, pc_amplitudes())):
        pc_writer(root / "rings" / ("2025" if k % 2 else "") / f"pc_{k:02d}.h5", T, amp, seed=k)
    for k, T in enumerate(CW_TEMPS):
        chi_run(root / "chi" / f"mh_{k:02d}.h5", T, seed=k)
    bad = root / "bad"
    bad.mkdir()
    raw = (root / "rings" / "pc_00.h5").read_bytes()
    (bad / "truncated.h5").write_bytes(raw[: len(raw) // 3])
    with h5py.File(bad / "foreign.h5", "w") as f:
        f["measurement/voltage"] = np.arange(10.0)
    pc_writer(bad / "missing_quantity.h5", 0.05, 5e-10, columns=("field_T", "flux_phi0"))
    (bad / "notes.h5").write_text("not an HDF5 file\n")
    # a run whose writer was killed: status 'running', SWMR open-for-write mark left in the file
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_reanalysis import pc_writer
        w = pc_writer(sys.argv[1], 0.03, 6.4e-10, seed=42, close=False)
        w._heartbeat[()] = time.time() - 3600  # it died an hour ago
        w._file.flush()
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script, str(root / "rings" / "crashed.h5")], check=True, timeout=60)
    return root


@pytest.fixture
def runs(template, tmp_path):
    dst = tmp_path / "runs"
    shutil.copytree(template, dst)
    return dst


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_of(path):
    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f["entry/data"].items()}


def by_name(report):
    return {r["path"].rsplit("/", 1)[-1]: r for r in report.rows}


# ------------------------------------------------------------------ unit pieces
def test_find_runs_folders_globs_and_missing(runs):
    found = find_runs([runs / "rings", str(runs / "chi" / "mh_0[0-2].h5"), runs / "nowhere.h5"])
    names = [p.rsplit("/", 1)[-1] for p in found]
    assert sorted(names) == sorted([f"pc_{k:02d}.h5" for k in range(8)] + ["crashed.h5", "mh_00.h5", "mh_01.h5",
                                                                           "mh_02.h5", "nowhere.h5"])
    assert len(find_runs([runs, runs / "rings"])) == len(find_runs([runs]))  # no duplicates
    assert len(find_runs([str(runs / "**" / "pc_*.h5")])) == 8


def test_select_syntax():
    sel = parse_select(["sample.name=ring*", "status=completed", "temperature_K<=0.1", "title!=*test*"])
    meta = {"sample_name": "Rings", "run_status": "completed", "temperature_K": 0.05, "title": "rings at 50 mK"}
    assert matches(meta, sel)
    assert not matches({**meta, "temperature_K": 0.2}, sel)
    assert not matches({**meta, "temperature_K": math.nan}, sel)
    assert matches({"start_time": "2025-03-01T10:00:00+00:00"}, parse_select(["start_time>=2025-01-01"]))
    with pytest.raises(ReanalysisError):
        parse_select(["nonsense"])
    with pytest.raises(ReanalysisError, match="no parameter"):
        ReanalysisOptions("persistent_current", params={"nope": 1.0}).validate()


def test_options_hash_tracks_what_changes_a_fit():
    a = ReanalysisOptions("persistent_current")
    assert a.options_hash() == ReanalysisOptions("persistent_current", fix=("theta_not_used",) * 0).options_hash()
    assert a.options_hash() != ReanalysisOptions("persistent_current", params={"area": 2.8e-13}).options_hash()
    assert a.options_hash() != ReanalysisOptions("persistent_current", xmax=0.3).options_hash()
    assert a.options_hash() != ReanalysisOptions("persistent_current", fix=("I2",)).options_hash()
    assert ReanalysisOptions.from_dict(a.to_dict()) == a


# ------------------------------------------------------------------ the batch, locally
def test_local_batch_good_and_bad_files(runs):
    live = pc_writer(runs / "rings" / "live.h5", 0.05, 5e-10, seed=7, close=False)
    try:
        untouched = {p: digest(p) for p in [runs / "bad" / n for n in ("truncated.h5", "foreign.h5",
                                                                       "missing_quantity.h5", "notes.h5")]}
        live_before = digest(runs / "rings" / "live.h5")
        raw_before = data_of(runs / "rings" / "2025" / "pc_03.h5")
        rep = reanalyze([runs / "rings", runs / "bad", runs / "nowhere.h5"], PC_OPTS, workers=2,
                        summary=runs / "out" / "pc", progress=False)
        assert live_before == digest(runs / "rings" / "live.h5")  # never opened by HDF5, let alone written
        live.append((600, time.time(), 600.0, 0.4, 0.0, 0.05))  # the writer carries on
        live.flush()
    finally:
        live.close("completed")
    rows = by_name(rep)
    assert rep.engine == "processes" and rep.workers == 2
    for k in range(8):
        assert rows[f"pc_{k:02d}.h5"]["fit_status"] == "fitted", rows[f"pc_{k:02d}.h5"]
    assert rows["live.h5"]["fit_status"] == "skipped" and rows["live.h5"]["reason"] == "still being written"
    assert rows["truncated.h5"]["fit_status"] == "error" and "corrupt or truncated" in rows["truncated.h5"]["reason"]
    assert rows["notes.h5"]["fit_status"] == "error" and "not an HDF5 file" in rows["notes.h5"]["reason"]
    assert rows["foreign.h5"]["fit_status"] == "error" and "no /entry" in rows["foreign.h5"]["reason"]
    assert rows["missing_quantity.h5"]["fit_status"] == "error"
    assert "'current_A'" in rows["missing_quantity.h5"]["reason"]
    assert rows["nowhere.h5"]["reason"] == "no such file"
    # the crashed run: its writer is gone, the data are consistent; fitted and marked interrupted
    assert rows["crashed.h5"]["fit_status"] == "fitted" and rows["crashed.h5"]["run_status"] == "interrupted"
    assert abs(rows["crashed.h5"]["params"]["I1"][0]) == pytest.approx(6.4e-10, rel=0.02)
    for p, d in untouched.items():
        assert digest(p) == d, p
    # raw data untouched, the fit stored next to it, marked complete
    assert all(np.array_equal(raw_before[k], v) for k, v in data_of(runs / "rings" / "2025" / "pc_03.h5").items())
    stored = read_fit(runs / "rings" / "2025" / "pc_03.h5", "persistent_current")
    assert stored["parameters"]["I1"][0] == rows["pc_03.h5"]["params"]["I1"][0]
    with h5py.File(runs / "rings" / "2025" / "pc_03.h5", "r") as f:
        g = f["entry/analysis/persistent_current"]
        assert g.attrs["reanalysis_options_hash"] == PC_OPTS.options_hash()
        assert g.attrs["reanalysis_data_rows"] == 600
    assert not list(runs.rglob("*.tmp"))  # no leftover copies
    # metadata and physics in the rows
    r = rows["pc_03.h5"]
    assert r["title"] == "rings at 60 mK" and r["plan_kind"] == "linear" and r["sample_name"] == "rings"
    assert r["run_status"] == "completed" and r["temperature_K"] == pytest.approx(0.06, rel=1e-3)
    assert r["params"]["area"][0] == pytest.approx(AREA, rel=1e-3)
    assert r["params"]["period_T"][0] == pytest.approx(PHI0 / AREA, rel=1e-3)
    assert abs(r["params"]["I1"][0]) == pytest.approx(pc_amplitudes()[3], abs=5 * r["params"]["I1"][1])
    assert r["reduced_chi_square"] == pytest.approx(4e-22, rel=0.2)  # noise 2e-11 A
    # summary: CSV and HDF5 with the same rows
    with open(runs / "out" / "pc.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rep.rows) == 15
    assert {"path", "title", "plan_kind", "start_time", "sample_name", "temperature_K", "run_status", "fit_status",
            "reason", "chi_square", "reduced_chi_square", "I1", "I1_stderr", "ring_radius"} <= set(table[0])
    with h5py.File(runs / "out" / "pc.h5", "r") as f:
        g = f["summary"]
        assert g["I1"].attrs["units"] == "A" and g["temperature_K"].attrs["units"] == "K"
        assert len(g["path"]) == 15
    back = {r["path"]: r for r in read_summary(runs / "out" / "pc.h5")}
    assert back[r["path"]]["params"]["I1"] == r["params"]["I1"]


def test_idempotent_resume_and_force(runs):
    paths = [runs / "rings"]
    first = reanalyze(paths, PC_OPTS, workers=1, progress=False)
    assert first.counts["fitted"] == 9
    stamp = {p: p.stat().st_mtime_ns for p in (runs / "rings").rglob("*.h5")}
    again = reanalyze(paths, PC_OPTS, workers=1, progress=False)
    assert again.counts["up to date"] == 9 and again.counts["fitted"] == 0
    assert {p: p.stat().st_mtime_ns for p in (runs / "rings").rglob("*.h5")} == stamp  # nothing written
    assert [r["params"] for r in again.rows] == [r["params"] for r in first.rows]
    # an interruption between write_fit and the completion mark: the group exists but is not done
    victim = runs / "rings" / "2025" / "pc_05.h5"
    with h5py.File(victim, "r+") as f:
        del f["entry/analysis/persistent_current"].attrs["reanalysis_options_hash"]
    # other options: refit under the same name
    resumed = by_name(reanalyze(paths, PC_OPTS, workers=1, progress=False))
    assert resumed["pc_05.h5"]["fit_status"] == "fitted"
    assert sum(r["fit_status"] == "up to date" for r in resumed.values()) == 8
    changed = reanalyze(paths, ReanalysisOptions("persistent_current", fix=("I2",), params={"I2": 0.0}),
                        workers=1, progress=False)
    assert changed.counts["fitted"] == 9
    forced = reanalyze(paths, ReanalysisOptions("persistent_current", fix=("I2",), params={"I2": 0.0}),
                       workers=1, progress=False, force=True)
    assert forced.counts["fitted"] == 9
    assert [r["params"] for r in forced.rows] == [r["params"] for r in changed.rows]


def test_failed_fit_leaves_file_untouched(runs):
    target = runs / "rings" / "2025" / "pc_01.h5"
    before = digest(target)
    # a starting value that makes the model non-finite: the fit cannot start
    row = reanalyze_one(str(target), ReanalysisOptions("persistent_current", params={"area": math.inf}).to_dict())
    assert row["fit_status"] in ("error", "failed") and row["reason"]
    row = reanalyze_one(str(target), ReanalysisOptions("persistent_current", xmin=5.0).to_dict())  # no points left
    assert row["fit_status"] == "error"
    assert digest(target) == before
    assert not list(runs.rglob("*.tmp"))


# ------------------------------------------------------------------ a real Dask cluster on loopback
def test_dask_cluster_matches_local(runs, tmp_path):
    distributed = pytest.importorskip("distributed")
    local_copy = tmp_path / "local"
    shutil.copytree(runs, local_copy)
    local = reanalyze([local_copy / "rings", local_copy / "chi"], PC_OPTS, workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = reanalyze([runs / "rings", runs / "chi"], PC_OPTS, scheduler=cluster.scheduler_address,
                           progress=False)
        assert remote.engine == "dask" and remote.workers == 2
        # second pass on the cluster: everything up to date
        again = reanalyze([runs / "rings", runs / "chi"], PC_OPTS, scheduler=cluster.scheduler_address,
                          progress=False)
    assert again.counts["up to date"] == 9
    strip = lambda rep, root: [({**r, "path": r["path"].replace(str(root), "")}) for r in rep.rows]  # noqa: E731
    a, b = strip(local, local_copy), strip(remote, runs)
    assert [r["fit_status"] for r in a] == [r["fit_status"] for r in b]
    assert [r["params"] for r in a] == [r["params"] for r in b]  # identical, bit for bit
    assert np.array_equal([r["chi_square"] for r in a], [r["chi_square"] for r in b], equal_nan=True)
    assert sum(r["fit_status"] == "error" for r in b) == 8  # the M(H) runs have no current_A


# ------------------------------------------------------------------ series on real per-run fits
def test_thouless_series_recovers_ec(runs):
    rep = reanalyze([runs / "rings"], PC_OPTS, workers=1, progress=False,
                    select=["sample.name=rings", "status=completed"])
    assert rep.counts["fitted"] == 8 and rep.excluded == 1  # the crashed run is 'interrupted'
    s = fit_series(rep.rows, "thouless")
    ec, dec = s.result["Ec_K"], s.result.stderr[s.result.names.index("Ec_K")]
    assert abs(ec - EC_TRUE) < 3 * dec and dec < 0.02 * EC_TRUE
    i0, di0 = s.result["I0"], s.result.stderr[0]
    assert abs(i0 - I0_TRUE) < 3 * di0
    assert s.result.derived["E_c_ueV"][0] == pytest.approx(EC_TRUE * 86.17333, rel=0.02)
    e = fit_series(rep.rows, "exponential")
    # k_B T_1 ~ 9.7 E_c holds for 3 E_c < T < 20 E_c; these runs reach 9 E_c, so a rough check
    assert e.result.derived["E_c_K_estimate"][0] == pytest.approx(EC_TRUE, rel=0.25)


def test_curie_weiss_series_from_mpms_runs(runs, tmp_path):
    rep = reanalyze([runs], CHI_OPTS, workers=2, progress=False, select=["plan_kind=mpms_import"])
    assert rep.counts["fitted"] == len(CW_TEMPS)
    assert rep.counts["error"] == 3  # truncated, not HDF5, foreign: unreadable runs are always reported
    s = fit_series(rep.rows, "curie-weiss")
    for name, true in CW_TRUE.items():
        i = s.result.names.index(name)
        assert abs(s.result.values[i] - true) < 3 * s.result.stderr[i], (name, s.result.values[i], true)
    png = s.plot(tmp_path / "cw.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ the command
def test_cli_reanalyze_summary_series_and_rerun(runs):
    out = runs / "out" / "rings"
    args = [str(runs / "rings"), str(runs / "bad"), "--model", "persistent_current", "--select", "sample.name=rings",
            "--workers", "2", "--summary", str(out), "--series", "thouless", "--series", "exponential", "--no-progress"]
    r = CliRunner().invoke(reanalyze_cmd, args)
    # the files in bad/ cannot be fitted: the command says so and exits 1, the rest is done
    assert r.exit_code == 1, r.output
    assert "9 fitted" in r.output and "series thouless" in r.output
    assert "error: " in r.output and "foreign HDF5 file" in r.output
    assert "some runs failed" in r.stderr and "Traceback" not in r.output
    for suffix in (".csv", ".h5", "_thouless.png", "_thouless.json", "_exponential.png"):
        assert (runs / "out" / f"rings{suffix}").stat().st_size > 0
    # the summary exists now: a second run refuses to replace it (before fitting anything) ...
    before = {p: digest(p) for p in (runs / "out").iterdir()}
    refused = CliRunner().invoke(reanalyze_cmd, args)
    assert refused.exit_code == 1 and "already exists" in refused.output and "--overwrite" in refused.output
    assert {p: digest(p) for p in (runs / "out").iterdir()} == before
    # ... unless asked to
    r2 = CliRunner().invoke(reanalyze_cmd, args + ["--json", "--overwrite"])
    assert r2.exit_code == 1, r2.output
    import json

    got = json.loads(r2.stdout)
    assert got["up to date"] == 9 and got["fitted"] == 0
    assert got["series"]["thouless"]["parameters"]["Ec_K"]["value"] == pytest.approx(EC_TRUE, rel=0.03)
    r3 = CliRunner().invoke(reanalyze_cmd, args + ["--force", "--json", "--overwrite"])
    assert json.loads(r3.stdout)["fitted"] == 9


def test_cli_rejects_bad_requests(runs):
    r = CliRunner().invoke(reanalyze_cmd, [str(runs), "--model", "nope"])
    assert r.exit_code == 2 and "unknown model" in r.output
    r = CliRunner().invoke(reanalyze_cmd, [str(runs), "--model", "susceptibility", "--select", "oops"])
    assert r.exit_code == 2 and "--select" in r.output
    r = CliRunner().invoke(reanalyze_cmd, [str(runs), "-m", "susceptibility", "--workers", "2", "--scheduler", "x"])
    assert r.exit_code == 2
    r = CliRunner().invoke(reanalyze_cmd, [str(runs), "-m", "susceptibility", "--series", "bogus"])
    assert r.exit_code == 2


@pytest.mark.parametrize("address", ["notaurl", "tcp://host", "tcp://host:99999", "http://h:8786", "h:port"])
def test_cli_bad_scheduler_address_is_one_line(runs, address):
    r = CliRunner().invoke(reanalyze_cmd, [str(runs / "chi"), "-m", "susceptibility", "--scheduler", address])
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert lines == [f"Error: --scheduler {address!r} is not a Dask scheduler address; give [tcp://]HOST:PORT, "
                     f"e.g. tcp://10.0.0.5:8786"]


def test_cli_exits_non_zero_when_every_run_failed(runs):
    r = CliRunner().invoke(reanalyze_cmd, [str(runs / "bad"), "-m", "persistent_current", "--workers", "1",
                                           "--no-progress"])
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().startswith("reanalyze: every run failed (") and "error" in r.stderr
    assert "Traceback" not in r.output

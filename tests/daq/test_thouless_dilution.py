"""The Thouless series on the simulated dilution refrigerator, end to end: the example queue
runs its seven temperatures (20-300 mK) through the Lake Shore 372 on the dilution_fridge
profile, the reanalysis fits |I1| against the run temperatures and recovers the rings' Thouless
energy E_c = hbar D / L^2 (L = 2 pi r) from the lab's configuration; the 372's heater is then
read back from the twin itself. A run that does not complete leaves the mixing-chamber heater
off (the 372 role's safe state)."""
from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import h5py
import pytest
import yaml
from click.testing import CliRunner

from loopscope.analysis.reanalysis import ReanalysisOptions, reanalyze
from loopscope.analysis.series import fit_series
from loopscope.daq.plans import load_plan
from loopscope.daq.queue import run_queue
from loopscope.daq.runner import Runner
from loopscope.instruments.station import load_station
from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices.config import load_config

REPO = Path(__file__).resolve().parents[2]
SPEED = 1000.0
HBAR, K_B = 1.054571817e-34, 1.380649e-23


def station_for(lab, path: Path) -> Path:
    """examples/station_sim_dilution_fridge.yaml on the lab's free ports, at the lab's speed."""
    st = yaml.safe_load((REPO / "examples" / "station_sim_dilution_fridge.yaml").read_text())
    st["time_scale"], st["timeout_s"] = SPEED, 1.0
    for name, entry in st["instruments"].items():
        if name in lab.resources:
            entry["resource"] = lab.resources[name]
        if "voltmeter_resource" in entry:
            entry["voltmeter_resource"] = lab.resources["nanovoltmeter"]
    path.write_text(yaml.safe_dump(st, sort_keys=False))
    return path


@pytest.fixture
def dr_lab():
    lab = SimulatedLab("dilution_fridge", seed=0, speed=SPEED).start()
    yield lab
    lab.stop()


def true_thouless_K() -> float:
    rings = load_config("dilution_fridge")["sample"]["rings"]
    L = 2 * math.pi * rings["radius_m"]
    return HBAR * rings["diffusion_m2_per_s"] / L ** 2 / K_B          # 21.5 mK


def test_thouless_series_queue_recovers_the_thouless_energy(dr_lab, tmp_path):
    # the example queue and plan as shipped, pointed at this lab
    (tmp_path / "plans").mkdir()
    shutil.copy(REPO / "examples" / "plans" / "thouless_series_dilution.yaml", tmp_path / "plans")
    q = yaml.safe_load((REPO / "examples" / "queues" / "thouless_series_dilution.yaml").read_text())
    q["station"] = str(station_for(dr_lab, tmp_path / "station.yaml"))
    q["output_dir"] = "runs"
    q["runs"][0]["plan"] = "plans/thouless_series_dilution.yaml"
    queue = tmp_path / "queue.yaml"
    queue.write_text(yaml.safe_dump(q, sort_keys=False))
    setpoints = q["runs"][0]["vary"]["values"]
    assert len(setpoints) >= 5 and min(setpoints) >= 0.02 and max(setpoints) <= 0.3

    result = run_queue(queue)
    assert result.state == "completed", result.status
    assert [r.status for r in result.results] == ["completed"] * len(setpoints)

    # each run file was measured at its setpoint, on the bridge's reading of the mixing chamber
    for r, sp in zip(result.results, setpoints):
        with h5py.File(r.path, "r") as f:
            T = f["entry/data/temperature_K"][()]
        assert abs(float(T.mean()) - sp) < 0.0015 + 0.01 * sp, (r.path, T.mean(), sp)

    # the scanner stayed on the mixing chamber; every range the queue asked for was the station's
    log = dr_lab.command_log()["temperature_controller"]
    assert {line for line in log if line.startswith("RANGE 0,")} == {"RANGE 0,5"}
    assert not any(line.startswith("SCAN ") for line in log)

    # the reanalysis: per-run SQUID fits, then |I1| against T
    rep = reanalyze([tmp_path / "runs"], ReanalysisOptions("pc_squid"), workers=1, progress=False)
    assert rep.counts["fitted"] == len(setpoints)
    s = fit_series(rep.rows, "thouless")
    ec, dec = s.result["Ec_K"], s.result.stderr[s.result.names.index("Ec_K")]
    truth = true_thouless_K()
    assert truth == pytest.approx(0.0215, rel=0.01)
    assert abs(ec - truth) < 3 * dec and dec < 0.02 * truth, (ec, dec, truth)

    # the 372's sample heater after the queue, read from the twin: a completed run leaves the
    # loop as the plan left it, regulating at the last temperature on the station's range
    twin = dr_lab.instruments["temperature_controller"]
    assert twin.ranges[0] == 5 and twin.setpoints[0] == pytest.approx(setpoints[-1])
    assert twin.outmode[0][:2] == [5, "6"]
    assert dr_lab.world.cryostat.temperature_K == pytest.approx(setpoints[-1], rel=1e-6)


def test_the_reanalyze_command_gives_the_same_thouless_energy(dr_lab, tmp_path):
    """Fewer temperatures, through `loopscope reanalyze --series thouless` (the CLI)."""
    from loopscope.analysis.reanalyze_cli import reanalyze as reanalyze_cmd
    station = station_for(dr_lab, tmp_path / "station.yaml")
    plan = yaml.safe_load((REPO / "examples" / "plans" / "thouless_series_dilution.yaml").read_text())
    q = {"queue": "short series", "station": str(station), "output_dir": "runs",
         "runs": [{"plan": "plan.yaml", "out": "t.h5",
                   "vary": {"key": "temperature.setpoint_K", "values": [0.02, 0.05, 0.1, 0.2]}}]}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(q))
    assert run_queue(tmp_path / "q.yaml").state == "completed"
    out = tmp_path / "summary"
    r = CliRunner().invoke(reanalyze_cmd, [str(tmp_path / "runs"), "--model", "pc_squid", "--workers", "1",
                                           "--summary", str(out), "--series", "thouless", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "Thouless energy E_c/k_B" in r.output
    ec_mK = float(r.output.split("Thouless energy E_c/k_B = ")[1].split()[0])
    assert ec_mK == pytest.approx(true_thouless_K() * 1e3, rel=0.05)


def test_an_aborted_run_leaves_the_mixing_chamber_heater_off(dr_lab, tmp_path):
    station = station_for(dr_lab, tmp_path / "station.yaml")
    plan = yaml.safe_load((REPO / "examples" / "plans" / "thouless_series_dilution.yaml").read_text())
    plan["temperature"]["setpoint_K"] = 0.1
    with load_station(station) as st:
        runner = Runner(st, load_plan(plan), tmp_path / "abort.h5")
        runner.start()
        deadline = time.monotonic() + 60
        while runner.points_done < 20:
            assert time.monotonic() < deadline and runner.result is None, runner.result
            time.sleep(0.005)
        twin = dr_lab.instruments["temperature_controller"]
        assert twin.ranges[0] == 5                                  # regulating during the sweep
        runner.abort("operator abort in test")
        result = runner.wait(60)
    assert result.status == "aborted"
    assert "sample heater off" in result.reason, result.reason
    # read back from the twin: the sample heater off, the still heater still on
    assert twin.ranges[0] == 0 and dr_lab.world.cryostat.heater_range == 0
    assert dr_lab.world.cryostat.still_power_W > 0
    assert "RANGE 0,0" in dr_lab.command_log()["temperature_controller"]

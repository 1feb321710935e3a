"""The SR865A and Ametek 7270 stations run the cantilever plan end to end against their
profiles (`loopscope run` on the simulated lab): the resonance recorded at each field is the
world's, and the lock-in's final state is read back from the twin itself."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from loopscope.cli import main
from loopscope.daq.paths import PLANS_DIR
from loopscope.sim_devices import SimulatedLab

ROOT = Path(__file__).resolve().parents[2]
SPEED = 200.0


def station_for(lab, path: Path, station_file: str, slot: str) -> Path:
    data = yaml.safe_load((ROOT / "examples" / station_file).read_text())
    data["time_scale"] = SPEED
    data["timeout_s"] = 1.0
    data["instruments"]["magnet_supply"]["resource"] = lab.resources["magnet_supply"]
    data["instruments"]["lockin"]["resource"] = lab.resources[slot]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(plan: Path, station: Path, out: Path):
    result = CliRunner().invoke(main, ["run", str(plan), "--station", str(station), "--out", str(out),
                                       "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def recorded(out: Path):
    with h5py.File(out, "r") as f:
        assert f["entry/status"][()].strip() == b"completed"
        data = f["entry/data"]
        return data["field_T"][:], data["resonance_frequency_Hz"][:]


def plan_for_this_lever(lab, tmp_path, **resonance) -> Path:
    """The example plan with the profile's lever's own ring-down, Q/(pi f0) (the example's 3.2 s
    is the default lab's Q 20000 lever), and any other resonance settings given."""
    cant = lab.world.cantilever
    plan = yaml.safe_load((PLANS_DIR / "cantilever_resonance_tracking.yaml").read_text())
    plan["resonance"].update(ring_down_s=cant.Q / (np.pi * cant.f0), **resonance)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def world_resonance(lab, fields):
    cant, T = lab.world.cantilever, lab.world.temperature_K
    return np.array([cant.resonance_Hz(float(b), T) for b in fields])


def test_sr865a_tracks_a_resonance_above_an_sr860s_range(tmp_path):
    with SimulatedLab("sr865a_cantilever", seed=0, speed=SPEED) as lab:
        station = station_for(lab, tmp_path / "station.yaml", "station_sim_sr865a.yaml", "lockin_sr860")
        # the example plan, centred where this cantilever rings near 5 T (f0 + beta B^2) with a
        # span of a few linewidths (f0/Q = 12 Hz)
        plan_path = plan_for_this_lever(lab, tmp_path, center_Hz=float(world_resonance(lab, [5.0])[0]),
                                        span_Hz=60.0, scan_points=31)
        out = tmp_path / "run.h5"
        run(plan_path, station, out)
        fields, f_res = recorded(out)
        truth = world_resonance(lab, fields)
        assert len(fields) == 21 and np.all(truth > 500e3)          # beyond any SR860
        step = 60.0 / 30
        assert np.max(np.abs(f_res - truth)) < step, np.c_[fields, f_res, truth]
        twin = lab.instruments["lockin_sr860"]
        assert type(twin).__name__ == "SR865A"
        # the twin was left at a frequency of the last scan, read from the twin itself
        assert abs(twin.core.frequency - truth[-1]) <= 30.0 + step
        assert twin.esr & 0x30 == 0                                 # nothing refused


def test_ametek7270_tracks_the_cantilever(tmp_path):
    with SimulatedLab("ametek7270_cantilever", seed=0, speed=SPEED) as lab:
        station = station_for(lab, tmp_path / "station.yaml", "station_sim_ametek7270.yaml", "lockin")
        out = tmp_path / "run.h5"
        run(plan_for_this_lever(lab, tmp_path), station, out)
        fields, f_res = recorded(out)
        truth = world_resonance(lab, fields)
        assert len(fields) == 21
        step = 1.0 / 20
        assert np.max(np.abs(f_res - truth)) < step, np.c_[fields, f_res, truth]
        twin = lab.instruments["lockin"]
        assert type(twin).__name__ == "Ametek7270"
        assert abs(twin.core.frequency - truth[-1]) <= 0.5 + step
        assert twin.status & 0x06 == 0                              # the last command was taken
        sent = [line for _, line in twin.command_log]
        assert "ID" in sent and not any(line.startswith("*") for line in sent)
        # the frequency goes in the fixed-point form, mHz (OF.'s four digits are 1 Hz at 2 kHz)
        assert any(line.startswith("OF ") for line in sent) and "XY." in sent

"""The vector magnet end to end on the simulated lab: examples/plans/field_angle_sweep.yaml on
examples/station_sim_vector_magnet.yaml against the vector_magnet profile, from the command
line. What is checked is read from the lab itself, never from our drivers: a watcher samples
the world's field vector all through the run and it never leaves the vector limit; the field
recorded by each supply tracks the path asked for; the end state is asked of each AMI 430 twin.
A plan that would leave the limit is refused before anything is sent to any instrument, and a
Ctrl-C in the middle of the sweep ends with every axis at zero."""
from __future__ import annotations

import re
import signal
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from loopscope.cli import main
from loopscope.daq.paths import PLANS_DIR
from loopscope.daq.plans import PlanError, load_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.station import load_station
from loopscope.instruments.vector_field_limit import VectorFieldLimit
from loopscope.sim_devices import SimulatedLab

from .test_interrupts import Cli, run_file

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "examples" / "station_sim_vector_magnet.yaml"
PLAN = PLANS_DIR / "field_angle_sweep.yaml"
LIMIT = VectorFieldLimit("cylinder", max_radial_T=1.0, max_z_T=9.0)
MAGNETS = ("magnet_supply_x", "magnet_supply_y", "magnet_supply")
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals to a child process")


def station_file(lab, path: Path, speed: float, limit: dict | None = None) -> Path:
    data = yaml.safe_load(STATION.read_text())
    data["time_scale"] = speed
    data["timeout_s"] = 1.0
    for name, entry in data["instruments"].items():
        entry["resource"] = lab.resources[name]
        if "voltmeter_resource" in entry:
            entry["voltmeter_resource"] = lab.resources["nanovoltmeter"]
    if limit is not None:
        data["vector_magnets"]["vector_magnet"]["limit"] = limit
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def plan_file(path: Path, **change) -> Path:
    data = yaml.safe_load(PLAN.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Watcher:
    """Samples the world's field vector in a thread for as long as it runs."""

    def __init__(self, lab):
        self.lab, self.seen, self._stop = lab, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            with self.lab.world.lock:
                self.lab.world.advance()
                self.seen.append(self.lab.world.field_vector_T)
            self._stop.wait(0.002)

    def stop(self) -> np.ndarray:
        self._stop.set()
        self._thread.join(5)
        return np.array(self.seen)


def at_rest(lab):
    """Each supply twin asked itself: its state, field and current."""
    out = {}
    for name in MAGNETS:
        twin = lab.instruments[name]
        out[name] = (twin.handle_line("STATE?"), float(twin.handle_line("FIELD:MAG?")),
                     float(twin.handle_line("CURR:SUPP?")))
    return out


def written(lab, name) -> list[str]:
    """What the supply twin was told (commands, not queries)."""
    return [line for _, line in lab.instruments[name].command_log if "?" not in line]


def test_a_field_angle_sweep_tracks_the_path_within_the_limit_and_ends_at_zero(tmp_path):
    speed = 1000.0
    with SimulatedLab("vector_magnet", seed=0, speed=speed) as lab:
        station = station_file(lab, tmp_path / "station.yaml", speed)
        out = tmp_path / "angle.h5"
        watcher = Watcher(lab)
        result = CliRunner().invoke(main, ["run", str(PLAN), "--station", str(station), "--out", str(out),
                                           "--quiet"], catch_exceptions=False)
        seen = watcher.stop()
        assert result.exit_code == 0, result.output
        assert len(seen) > 200 and np.all(LIMIT.excess(seen) <= 1e-12)
        assert np.abs(seen).max(axis=0)[[0, 2]] == pytest.approx([0.2, 0.2], abs=1e-6)
        with h5py.File(out, "r") as f:
            entry = f["entry"]
            assert entry["status"][()].strip() == b"completed"
            d = {k: v[:] for k, v in entry["data"].items()}
            assert list(entry["data"].attrs["axes"]) == ["polar_deg"]
        polar = np.radians(d["polar_deg"])
        np.testing.assert_allclose(d["polar_deg"], np.arange(0, 91, 2.0))
        want = np.stack([0.2 * np.sin(polar), 0 * polar, 0.2 * np.cos(polar)], axis=1)
        got = np.stack([d["field_x_T"], d["field_y_T"], d["field_z_T"]], axis=1)
        asked = np.stack([d["field_setpoint_x_T"], d["field_setpoint_y_T"], d["field_setpoint_z_T"]], axis=1)
        np.testing.assert_allclose(asked, want, atol=1e-15)
        # each supply holds its target; FIELD:MAG? prints 6 decimals (kG at the factory units)
        np.testing.assert_allclose(got, want, atol=2e-6)
        np.testing.assert_allclose(d["field_T"], 0.2, atol=3e-6)
        np.testing.assert_allclose(d["current_x_A"], want[:, 0] / 0.02, atol=2e-4)
        # the Hall probe along z reads Bz (its offset and noise: 0.2 G and 1e-4 of 3 T range)
        np.testing.assert_allclose(d["probe_field_T"], want[:, 2], atol=1e-3)
        rest = at_rest(lab)
        for name, (state, field, current) in rest.items():
            # holding (2) or at zero (8); y, never asked to move, is as it was powered up (paused, 3)
            assert state in ("2", "8", "3") and field == 0.0 and abs(current) < 1e-3, (name, rest)
        assert not written(lab, "magnet_supply_y")
        for m in lab.world.magnets.values():
            assert not m.quenched and abs(m.I_s) < 1e-9
        # the z solenoid: its switch heated once before its first ramp, never cooled (the plan ends at zero)
        z_sent = written(lab, "magnet_supply")
        assert z_sent.count("PSwitch 1") == 1 and "PSwitch 0" not in z_sent


def test_the_rings_answer_to_the_normal_part_of_the_field(tmp_path):
    """The recorded SQUID flux at each angle equals the world's rings at |B| cos p along z: the
    in-plane part of the field threads nothing."""
    speed = 1000.0
    with SimulatedLab("vector_magnet", seed=0, speed=speed) as lab:
        station = station_file(lab, tmp_path / "station.yaml", speed)
        plan = plan_file(tmp_path / "plan.yaml", sweep={"start": 0.0, "stop": 90.0, "step": 10.0})
        out = tmp_path / "angle.h5"
        result = CliRunner().invoke(main, ["run", str(plan), "--station", str(station), "--out", str(out),
                                           "--quiet"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        with h5py.File(out, "r") as f:
            d = {k: v[:] for k, v in f["entry/data"].items()}
        from loopscope.sim_devices.constants import PHI0_SC
        from loopscope.sim_devices.world import World
        flat = World("vector_magnet")
        rings, squid = flat.sample, flat.squid_cfg
        T = lab.world.temperature_K
        expected = np.array([squid["mutual_inductance_H"] * rings.current_A(bz, T) / PHI0_SC
                             + squid["background_curie_phi0_K_per_T"] / T * bz for bz in d["field_z_T"]])
        # the flux-locked loop reads flux from where it locked: compare changes along the sweep
        np.testing.assert_allclose(d["flux_phi0"] - d["flux_phi0"][0], expected - expected[0], atol=2e-6)
        assert np.ptp(expected) > 50e-6   # the rings' signal is there to be seen


@pytest.mark.parametrize("change, key, message", [
    # sin(30 deg) x 2 T is 1 T, on the limit; 32 deg is the first beyond it
    ({"magnitude_T": 2.0}, "sweep", r"at polar 32 deg, azimuth 0 deg the field \(1.05984, 0, 1.6961\) T is "
                                    r"outside the vector limit"),
    ({"magnitude_T": 0.5, "angle": "azimuth", "polar_deg": 90.0,
      "sweep": {"start": 0, "stop": 360, "step": 45}}, None, None),
])
def test_a_sweep_leaving_the_limit_is_refused_before_anything_moves(tmp_path, change, key, message):
    speed = 1000.0
    with SimulatedLab("vector_magnet", seed=0, speed=speed) as lab:
        station = station_file(lab, tmp_path / "station.yaml", speed,
                               limit={"shape": "sphere", "max_field_T": 1.0} if key is None else None)
        plan = plan_file(tmp_path / "plan.yaml", **change)
        if key is None:
            # azimuth at 0.5 T in the xy plane stays inside a 1 T sphere: accepted
            load_plan(plan)
            st = load_station(station)
            try:
                Runner(st, load_plan(plan), tmp_path / "ok.h5")
            finally:
                st.close()
            return
        out = tmp_path / "refused.h5"
        result = CliRunner().invoke(main, ["run", str(plan), "--station", str(station), "--out", str(out)])
        assert result.exit_code != 0 and not out.exists()
        assert f"{key}: " in result.output and message is not None
        assert re.search(message, result.output), result.output
        assert all(not written(lab, n) for n in MAGNETS)
        # connected, the runner refuses it too, having sent nothing but the connect queries
        st = load_station(station)
        try:
            with pytest.raises(PlanError, match=message):
                Runner(st, load_plan(plan), tmp_path / "refused2.h5")
        finally:
            st.close()
        assert all(not written(lab, n) for n in MAGNETS)


@pytest.mark.parametrize("plan, key, message", [
    ({"kind": "linear", "source": "vector_magnet", "direction": [1, 0, 0],
      "sweep": {"start": 0, "stop": 1.5, "points": 4}}, "sweep.stop",
     r"the field \(1.5, 0, 0\) T along direction \[1.0, 0.0, 0.0\] is outside the vector limit"),
    ({"kind": "linear", "source": "vector_magnet", "sweep": {"start": 0, "stop": 9.5, "points": 4}},
     "sweep.stop", "outside the vector limit"),
    ({"kind": "linear", "source": "magnet_supply", "sweep": {"start": 0, "stop": 1, "points": 4}},
     "source", "'magnet_supply' is the z axis of the vector magnet 'vector_magnet'; sweep it through"),
    ({"kind": "linear", "source": "vector_magnet", "axis": "current",
      "sweep": {"start": 0, "stop": 1, "points": 4}}, "axis", "plans set its field"),
    ({"kind": "persistent_step", "source": "vector_magnet", "target": 1.0}, "source",
     "persistent mode is not run through the vector magnet"),
    ({"kind": "field_angle", "source": "vector_magnet", "magnitude_T": 0.5, "direction": [0, 0, 0],
      "sweep": {"start": 0, "stop": 10, "step": 5}}, "direction", "has no direction"),
    ({"kind": "linear", "source": "vector_magnet", "direction": [0, 0.6, 0.8],
      "sweep": {"start": 0, "stop": 1.8, "points": 2}}, "sweep.stop", r"the field \(0, 1.08, 1.44\) T"),
])
def test_plans_the_vector_magnet_refuses(tmp_path, plan, key, message):
    from loopscope.instruments.station import validate_station
    from loopscope.daq.plan_against_station import check_plan_against_station, plan_instruments
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"title": "t", **plan}))
    config = validate_station(STATION)
    with pytest.raises(PlanError, match=message) as info:
        check_plan_against_station(load_plan(path), plan_instruments(config))
    assert str(info.value).split(": ")[1] == key, str(info.value)


def test_an_axis_s_own_limit_is_kept_within_the_vector_limit(tmp_path):
    from loopscope.daq.plan_against_station import check_plan_against_station, plan_instruments
    from loopscope.instruments.station import validate_station
    data = yaml.safe_load(STATION.read_text())
    data["instruments"]["magnet_supply_y"]["limits"].update(max_field_T=0.5, max_current_A=25.0)
    plan = plan_file(tmp_path / "plan.yaml", magnitude_T=0.8, angle="azimuth", polar_deg=90.0,
                     sweep={"start": 0, "stop": 90, "step": 15})
    with pytest.raises(PlanError, match=r"sweep: at polar 90 deg, azimuth 45 deg the field \(0.565685, 0.565685, "
                                        r".*\) T is beyond the y axis's field limit ±0.5 T \(magnet_supply_y\)"):
        check_plan_against_station(load_plan(plan), plan_instruments(validate_station(data)))


def test_a_field_angle_sweep_needs_a_vector_magnet(tmp_path):
    from loopscope.daq.plan_against_station import check_plan_against_station, plan_instruments
    from loopscope.instruments.station import validate_station
    config = validate_station(ROOT / "examples" / "station_sim.yaml")
    for change, key, message in [({"source": "coil_supply"}, "source", "a field-angle sweep needs a vector magnet"),
                                 ({"source": None}, "source", "a field-angle sweep needs a vector magnet")]:
        plan = plan_file(tmp_path / "plan.yaml", **change)
        with pytest.raises(PlanError, match=message):
            check_plan_against_station(load_plan(plan), plan_instruments(config))
    lin = tmp_path / "lin.yaml"
    lin.write_text(yaml.safe_dump({"title": "t", "kind": "linear", "source": "coil_supply", "direction": [1, 0, 0],
                                   "sweep": {"start": 0, "stop": 0.01, "points": 2}}))
    with pytest.raises(PlanError, match="direction: direction applies to a vector magnet"):
        check_plan_against_station(load_plan(lin), plan_instruments(config))


@posix_only
def test_ctrl_c_in_the_middle_of_the_sweep_brings_every_axis_to_zero(tmp_path):
    speed = 300.0
    with SimulatedLab("vector_magnet", seed=0, speed=speed) as lab:
        station = station_file(lab, tmp_path / "station.yaml", speed)
        out = tmp_path / "angle.h5"
        watcher = Watcher(lab)
        cli = Cli("run", str(PLAN), "--station", str(station), "--out", str(out))
        # turned a third of the way: both x and z carry field
        cli.wait_for(lambda: lab.world.magnets["x"].field_T > 0.07, "Bx past 0.07 T")
        assert cli.proc.poll() is None, cli.stderr()
        cli.signal(signal.SIGINT)
        code, _, stderr = cli.finish()
        seen = watcher.stop()
        assert "Traceback" not in stderr, stderr
        assert code == 130, stderr[-2000:]
        _, status, reason = run_file(out)
        assert status == "aborted" and "safe state" in reason and "NOT" not in reason, reason
        assert "x: " in reason and "z: " in reason, reason
        assert np.all(LIMIT.excess(seen) <= 1e-12)
        for name, (state, field, current) in at_rest(lab).items():
            assert field == 0.0 and abs(current) < 1e-3, (name, state, field, current)
        for m in lab.world.magnets.values():
            assert not m.quenched and abs(m.I_m) < 1e-6


def test_the_station_check_reads_where_the_vector_is(tmp_path):
    """`loopscope station check`: the vector magnet's present field, read from its three axes
    (queries only), against its limit; a magnet left outside it by someone else is a warning."""
    from loopscope.instruments.commissioning import check_station
    with SimulatedLab("vector_magnet", seed=0, speed=1.0) as lab:
        station = station_file(lab, tmp_path / "station.yaml", 1.0)
        found = {f.setting: f for f in check_station(station).across}
        assert found["vector_magnet field vector"].verdict == "ok"
        for axis in ("x", "y"):   # 0.8 T on both pairs: 1.13 T across, beyond the 1 T cylinder
            m = lab.world.magnets[axis]
            m.I_s = m.I_m = m.target_A = 0.8 / m.coil_constant
        found = {f.setting: f for f in check_station(station).across}
        f = found["vector_magnet field vector"]
        assert f.verdict == "warning" and "outside its vector limit" in f.detail, f
        assert all(not written(lab, n) for n in MAGNETS)

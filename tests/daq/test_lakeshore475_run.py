"""The example coil current sweep (examples/plans/current_sweep.yaml: the gaussmeter on the
coil) run end to end on examples/station_sim_lakeshore475.yaml against the simulated lab's
lakeshore475_gaussmeter profile. Every field in the run file is compared with the world's
field at the probe when that reading was taken, within the 475's stated DC accuracy; the
gaussmeter's own state is read back from the twin afterwards."""
from pathlib import Path

import h5py
import numpy as np
import yaml

from loopscope.daq.plans import load_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.station import load_station

ROOT = Path(__file__).resolve().parents[2]
SPEED = 1000.0


def test_current_sweep_records_the_world_field_within_the_475s_accuracy(tmp_path):
    from loopscope.sim_devices import SimulatedLab

    with SimulatedLab("lakeshore475_gaussmeter", seed=0, speed=SPEED) as lab:
        twin = lab.instruments["gaussmeter"]
        assert type(twin).__name__ == "LakeShore475"
        # what the world's field was at the probe at each RDGFIELD? (a spy on the twin's
        # reading, not on our driver), and what the twin answered
        taken = []
        read = twin._read

        def spy(args):
            world_T = lab.world.field_T
            reply = read(args)
            taken.append((world_T, reply))
            return reply
        twin.commands["RDGFIELD?"] = spy

        data = yaml.safe_load((ROOT / "examples" / "station_sim_lakeshore475.yaml").read_text())
        data["time_scale"] = SPEED
        plan = load_plan(ROOT / "examples" / "plans" / "current_sweep.yaml")
        with load_station(data, resources=lab.resources) as station:
            runner = Runner(station, plan, tmp_path / "ls475.h5")
            runner.start()
            result = runner.wait(300)
        assert result.status == "completed", result.reason
        final = (twin.unit, twin.range, twin.auto, twin.rdgmode)
        sent = [line for _, line in twin.command_log]
        world_after = lab.world.field_T

    with h5py.File(result.path, "r") as f:
        recorded = np.asarray(f["entry/data/probe_field_T"][...])
        current = np.asarray(f["entry/data/current_A"][...])
    assert recorded.shape == (41,) and np.all(np.isfinite(recorded))
    assert current.min() < -9.9 and current.max() > 9.9       # -10 A .. 10 A in 0.5 A steps
    # the twin answered in G: each recorded value is one of its replies, converted
    replies_T = {round(float(r) * 1e-4, 12): w for w, r in taken if r != "OL"}
    full_scale_T = 3.5                                       # HST probe, range 4: 35 kG
    for b in recorded:
        world_T = replies_T[round(float(b), 12)]
        # DC accuracy ±0.05 % of reading ±0.005 % of range, plus the zeroed probe's 0.05 G
        assert abs(b - world_T) <= 5e-4 * abs(world_T) + 5e-5 * full_scale_T + 5e-6, (b, world_T)
    # the field follows the coil: ±10 A at 8.27 mT/A
    assert recorded.min() < -0.08 and recorded.max() > 0.08
    # the gaussmeter as it was: only queries went to it, its settings untouched
    assert final == (1, 4, False, (1, 3, 1, 1, 1))
    assert sent and all("?" in line for line in sent)
    assert abs(world_after) < 1e-4                           # the coil back at zero

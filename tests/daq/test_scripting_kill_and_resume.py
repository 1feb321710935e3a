"""A plan written in Python, run from a Python script, killed with SIGKILL at a random moment and
resumed from Python in its file: nothing is lost and nothing is measured twice. The simulated
lab lives in the test's process, so the instruments outlive the killed script, as on a bench."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "plans_in_python" / "field_steps.py"
SCRIPT = r'''
import sys
import loopscope
station = loopscope.connect(sys.argv[1])
loopscope.run(f"{sys.argv[2]}:steps_up_and_back", station, sys.argv[3], progress=False,
              resume=sys.argv[4] == "resume")
station.close()
'''


def rows_on_disk(path: Path) -> int:
    try:
        with h5py.File(path, "r", swmr=True) as f:
            return f["entry/data/point_index"].shape[0]
    except (OSError, KeyError):
        return 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("seed", [1, 2])
def test_killed_and_resumed_from_python_loses_and_repeats_nothing(sim_lab_factory, tmp_path, seed):
    lab, station = sim_lab_factory(speed=100.0)
    out = tmp_path / "steps.h5"
    kill_after = random.Random(seed).randint(3, 16)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(station), str(EXAMPLE), str(out), "new"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while rows_on_disk(out) < kill_after:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(station), str(EXAMPLE), str(out), "resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    fields = [0.02 * k / 5 for k in range(6)]
    expected = np.repeat(fields + fields[-2::-1], 2)
    with h5py.File(out, "r") as f:
        assert f["entry/status"][()].strip(b"\x00 ") == b"completed"
        assert list(f["entry/data/point_index"][:]) == list(range(len(expected)))
        assert np.allclose(f["entry/data/field_setpoint_T"][:], expected)
        assert list(f["entry/data/repeat"][:]) == [1, 2] * 11
        assert np.all(np.diff(f["entry/data/elapsed_s"][:]) > 0)
    assert abs(lab.world.coil.current_setpoint_A) < 1e-9

"""The shipped examples with measurements at each point, from the command line on the simulated
lab: the I-V curves give the gold wire's resistance as the simulated world has it, the frequency
scans peak at the cantilever's resonance, silx reads the traces, and an interrupted I-V run
leaves the source-meter at zero with its output off (read back from the simulated 2400)."""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

EXAMPLES = Path(__file__).parents[2] / "examples" / "plans_in_python" / "measurements_at_each_point.py"


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "loopscope", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_iv_at_each_field_gives_the_wires_resistance(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    out = tmp_path / "iv.h5"
    done = cli("run", f"{EXAMPLES}:iv_at_fields", "--station", str(station), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    from silx.io.nxdata import NXdata
    with h5py.File(out, "r") as f:
        nx = NXdata(f["entry/iv_curve"])
        assert nx.is_valid, nx.issues
        V, I = f["entry/iv_curve/sample_voltage_V"][:], f["entry/iv_curve/sample_current_A"][:]
        bias = f["entry/iv_curve/bias_current_A"][:]
        fields = f["entry/data/field_T"][:]
    assert V.shape == (7, 41) and bias[0] == pytest.approx(-2e-5)
    # no compliance at 20 uA x 400 ohm: the current measured is the one asked, within its noise
    assert np.allclose(I, bias, rtol=1e-3, atol=2e-8)
    slopes = np.array([np.polyfit(I[k], V[k], 1)[0] for k in range(len(I))])
    world = lab.world
    expected = [world.wire.resistance_ohm(world.temperature_K, b) for b in fields]
    assert slopes == pytest.approx(expected, rel=2e-3)
    # the source-meter was left at zero with its output off (asked of the simulated 2400 itself)
    smu = lab.instruments["source_meter"]
    assert not smu.output and smu.level["CURR"] == 0.0


def test_frequency_scans_peak_at_the_cantilevers_resonance(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    out = tmp_path / "scan.h5"
    done = cli("run", f"{EXAMPLES}:frequency_scan_at_temperatures", "--station", str(station), "--out",
               str(out), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    import loopscope
    ds = loopscope.read_run(out).to_xarray()
    r = np.hypot(ds["scan_x_V"].values, ds["scan_y_V"].values)
    f = ds["drive_frequency_Hz"].values
    assert ds["scan_x_V"].dims[1] == "drive_frequency_Hz" and ds["drive_frequency_Hz"].attrs["units"] == "Hz"
    resonance = lab.world.cantilever.resonance_Hz(0.0, 0.05)
    step = f[1] - f[0]
    assert np.all(np.abs(f[np.argmax(r, axis=1)] - resonance) <= step)

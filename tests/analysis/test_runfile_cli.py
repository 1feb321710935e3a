"""Fits on run files: reading, writing /entry/analysis/<name>, the click commands, bad input."""
import json
import math

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import loopscope.analysis as A
from loopscope.analysis.cli import fit as fit_cmd
from loopscope.analysis.cli import plot as plot_cmd
from loopscope.analysis.constants import MU_0, PHI0
from loopscope.analysis.runfile import RunFileError, read_fit, read_run


def make_run(path, quantities, units, signal, axis, mass_kg=None, status="completed"):
    """A run file written with plain h5py in the layout of docs/file_format.md."""
    with h5py.File(path, "w") as f:
        f.attrs.update(default="entry", file_format="loopscope-run", file_format_version="1",
                       creator="test")
        e = f.create_group("entry")
        e.attrs.update(NX_class="NXentry", default="data")
        e["title"] = "synthetic run"
        e["status"] = status
        e["plan_kind"] = "linear"
        s = e.create_group("sample")
        s.attrs["NX_class"] = "NXsample"
        if mass_kg is not None:
            s["mass"] = mass_kg
            s["mass"].attrs["units"] = "kg"
        d = e.create_group("data")
        d.attrs.update(NX_class="NXdata", signal=signal, axes=[axis])
        n = len(next(iter(quantities.values())))
        for name, arr in {**quantities, "point_index": np.arange(n)}.items():
            ds = d.create_dataset(name, data=arr, maxshape=(None,), chunks=True)
            ds.attrs["units"] = units.get(name, "1")
    return path


@pytest.fixture
def linear_run(tmp_path):
    rng = np.random.default_rng(0)
    H = np.linspace(-4e6, 4e6, 201)
    m = 2.5e-12 * H + 1e-7 + rng.normal(0, 1e-7, H.size)
    return make_run(tmp_path / "lin.h5", {"field_T": MU_0 * H, "field_H_A_per_m": H, "moment_Am2": m,
                                          "moment_err_Am2": np.full(H.size, 1e-7)},
                    {"field_T": "T", "field_H_A_per_m": "A/m", "moment_Am2": "A m^2", "moment_err_Am2": "A m^2"},
                    "moment_Am2", "field_T", mass_kg=2e-6)


@pytest.fixture
def ring_run(tmp_path):
    rng = np.random.default_rng(1)
    B = np.linspace(0, 0.4, 1500)
    area = 2.83e-13
    I = 0.7e-9 * np.sin(2 * math.pi * area * B / PHI0 + 0.2) + 1e-10 * B + rng.normal(0, 3e-11, B.size)
    return make_run(tmp_path / "ring.h5", {"field_T": B, "current_A": I}, {"field_T": "T", "current_A": "A"},
                    "current_A", "field_T")


def test_read_run(linear_run):
    run = read_run(linear_run)
    assert len(run) == 201 and run.signal == "moment_Am2" and run.axes == ["field_T"]
    assert run.units["moment_Am2"] == "A m^2"
    assert run.metadata["sample_mass_kg"] == 2e-6 and run.metadata["status"] == "completed"
    assert "moment_per_H_m3" in run.available()


def test_cli_fit_writes_nxprocess_and_json(linear_run):
    before = read_run(linear_run).quantities["moment_Am2"].copy()
    r = CliRunner().invoke(fit_cmd, [str(linear_run), "--model", "susceptibility", "--sigma", "moment_err_Am2",
                                     "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    x = read_run(linear_run).get("field_H_A_per_m")
    y = read_run(linear_run).get("moment_Am2")
    slope, icpt = np.polyfit(x, y, 1)  # independent: numpy least squares
    assert out["chi"]["value"] == pytest.approx(slope, rel=1e-9)
    assert out["m0"]["value"] == pytest.approx(icpt, rel=1e-6, abs=1e-12)
    assert out["chi"]["units"] == "m^3"
    assert out["chi_mass"]["value"] == pytest.approx(slope / 2e-6, rel=1e-9)
    with h5py.File(linear_run, "r") as f:
        g = f["entry/analysis/susceptibility"]
        assert g.attrs["NX_class"] == "NXprocess"
        assert g["parameters/chi"].attrs["units"] == "m^3"
        assert g["covariance"].shape == (2, 2)
        assert g["model_version"][()] == b"1"
        assert json.loads(g["selection"][()])["sigma"] == "moment_err_Am2"
        assert "chi_square" in g and "date" in g
    np.testing.assert_array_equal(read_run(linear_run).quantities["moment_Am2"], before)  # raw data untouched
    stored = read_fit(linear_run, "susceptibility")
    assert stored["parameters"]["chi"][0] == pytest.approx(out["chi"]["value"])


def test_cli_fit_ring_area_and_plot(ring_run, tmp_path):
    r = CliRunner().invoke(fit_cmd, [str(ring_run), "--model", "persistent_current", "--param", "I2=0",
                                     "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert abs(out["area"]["value"] - 2.83e-13) < 4 * out["area"]["stderr"]
    assert out["period_T"]["units"] == "T"
    png = tmp_path / "ring.png"
    r = CliRunner().invoke(plot_cmd, [str(ring_run), "--fit", "persistent_current", "--out", str(png)])
    assert r.exit_code == 0, r.output
    assert png.stat().st_size > 10000 and png.read_bytes()[:4] == b"\x89PNG"
    r = CliRunner().invoke(plot_cmd, [str(ring_run), "--out", str(tmp_path / "raw.png")])
    assert r.exit_code == 0, r.output


def test_list_models():
    r = CliRunner().invoke(fit_cmd, ["--list-models"])
    assert r.exit_code == 0
    for name in ("susceptibility", "curie_weiss", "brillouin", "langevin", "jiles_atherton", "persistent_current",
                 "pc_squid", "pc_cantilever", "pc_diffusive_T", "sc_decay"):
        assert name in r.output
    assert "chi" in r.output and "m^3" in r.output


def _untouched(path):
    with h5py.File(path, "r") as f:
        return "analysis" not in f["entry"]


@pytest.mark.parametrize("args,match", [
    (["--model", "nonsense"], "unknown model"),
    (["--model", "susceptibility", "--param", "chii=1"], "no parameter"),
    (["--model", "susceptibility", "--param", "chi=abc"], "not a number"),
    (["--model", "susceptibility", "--y", "temperature_K"], "no quantity"),
    (["--model", "susceptibility", "--xmin", "1e9"], "too few"),
])
def test_cli_bad_input_writes_nothing(linear_run, args, match):
    r = CliRunner().invoke(fit_cmd, [str(linear_run)] + args)
    assert r.exit_code != 0
    assert match in r.output
    assert _untouched(linear_run)


def test_nan_data_and_unconverged_fit_write_nothing(tmp_path):
    H = np.linspace(1, 10, 20)
    m = 1e-9 * H
    m[3] = np.nan
    p = make_run(tmp_path / "nan.h5", {"field_H_A_per_m": H, "moment_Am2": m},
                 {"field_H_A_per_m": "A/m", "moment_Am2": "A m^2"}, "moment_Am2", "field_H_A_per_m")
    r = CliRunner().invoke(fit_cmd, [str(p), "--model", "susceptibility"])
    assert r.exit_code != 0 and "NaN" in r.output and _untouched(p)
    t = np.linspace(0, 10, 30)
    q = make_run(tmp_path / "osc.h5", {"elapsed_s": t, "magnet_current_A": np.sin(5 * t)},
                 {"elapsed_s": "s", "magnet_current_A": "A"}, "magnet_current_A", "elapsed_s")
    with pytest.raises(RunFileError):
        A.read_run(tmp_path / "missing.h5")
    res = A.fit_run(q, "sc_creep", params={"t0": 1e-9, "S": 5.0})
    if not res.converged:
        assert _untouched(q)


def test_files_without_data_or_truncated(tmp_path):
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("entry")
    with pytest.raises(RunFileError, match="no data"):
        read_run(empty)
    zero = make_run(tmp_path / "zero.h5", {"field_T": np.zeros(0), "moment_Am2": np.zeros(0)},
                    {}, "moment_Am2", "field_T")
    with pytest.raises(RunFileError, match="no points"):
        read_run(zero)
    trunc = make_run(tmp_path / "trunc.h5", {"field_T": np.arange(10.0), "moment_Am2": np.arange(10.0)},
                     {}, "moment_Am2", "field_T")
    with h5py.File(trunc, "r+") as f:
        f["entry/data/moment_Am2"].resize((7,))
    with pytest.raises(RunFileError, match="truncated"):
        read_run(trunc)
    r = CliRunner().invoke(fit_cmd, [str(trunc), "--model", "susceptibility", "--x", "field_T"])
    assert r.exit_code != 0 and "truncated" in r.output
    noth5 = tmp_path / "x.h5"
    noth5.write_text("hello")
    with pytest.raises(RunFileError, match="HDF5"):
        read_run(noth5)

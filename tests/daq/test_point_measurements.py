"""Array measurements at a point (daq/point_measurements.py): a lock-in frequency scan at each
temperature and an I-V curve at each field, written as traces that silx, nexusformat and xarray
read with their axes and units; checked against the station before anything moves."""
from pathlib import Path

import h5py
import numpy as np
import pytest

from loopscope.analysis.runfile import read_run
from loopscope.daq.plans import PlanError
from loopscope.daq.plans_as_code import load_code_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.memory import MemoryStation

PLANS = Path(__file__).parent / "plans_for_tests" / "measuring_plans.py"


def code_plan(name, **arguments):
    return load_code_plan(f"{PLANS}:{name}", arguments)


def lorentzian_xy(f, f0, q, a):
    """The driven oscillator's response, written out here from its equation of motion
    (x'' + (w0/Q) x' + w0^2 x = F): X - iY ∝ w0^2 / (w0^2 - w^2 - i w w0 / Q)."""
    w, w0 = 2 * np.pi * f, 2 * np.pi * f0
    z = a * w0 ** 2 / (w0 ** 2 - w ** 2 - 1j * w * w0 / q)
    return z.real, z.imag


@pytest.fixture(scope="module")
def scan_run(tmp_path_factory):
    station = MemoryStation()
    path = tmp_path_factory.mktemp("scan") / "scan.h5"
    result = Runner(station, code_plan("scans_at_temperatures"), path).run()
    assert result.status == "completed", result.reason
    return result, station


def test_each_point_has_its_scan_with_the_lock_in_back_where_the_plan_left_it(scan_run):
    result, station = scan_run
    lockin = station.roles["lockin"]
    with h5py.File(result.path, "r") as f:
        group = f["entry/frequency_scan"]
        x, y = group["scan_x_V"][:], group["scan_y_V"][:]
        axis = group["drive_frequency_Hz"][:]
        temperatures = f["entry/data/temperature_setpoint_K"][:]
    assert x.shape == y.shape == (3, 21)
    assert list(temperatures) == [2.0, 3.0, 4.0]
    ex, ey = lorentzian_xy(axis, lockin.f0, lockin.q, lockin.amplitude)
    assert x == pytest.approx(np.tile(ex, (3, 1)), rel=1e-9, abs=1e-15)
    assert y == pytest.approx(np.tile(ey, (3, 1)), rel=1e-9, abs=1e-15)
    assert lockin.frequency == lockin.f0          # restored after each scan


def test_silx_reads_the_scan_with_its_axes_and_units(scan_run):
    from silx.io.nxdata import NXdata
    result, _ = scan_run
    with h5py.File(result.path, "r") as f:
        nx = NXdata(f["entry/frequency_scan"])
        assert nx.is_valid, nx.issues
        assert nx.signal.shape == (3, 21)
        assert [a.name.split("/")[-1] for a in nx.axes] == ["point_index", "drive_frequency_Hz"]
        assert nx.axes[1].attrs["units"] == "Hz" and nx.signal.attrs["units"] == "V"
        assert NXdata(f["entry/data"]).is_valid


def test_xarray_reads_the_scan_on_point_and_frequency(scan_run):
    result, _ = scan_run
    ds = read_run(result.path).to_xarray()
    assert ds["scan_x_V"].dims[1] == "drive_frequency_Hz"
    assert ds["scan_x_V"].attrs["units"] == "V"
    assert ds["drive_frequency_Hz"].attrs["units"] == "Hz"
    assert ds["scan_x_V"].shape == (3, 21)
    assert float(ds["temperature_setpoint_K"][2]) == 4.0


def test_a_trace_name_keeps_one_axis():
    with pytest.raises(PlanError, match="'frequency_scan' differs from the 'frequency_scan' of step 0"):
        code_plan("one_name_two_axes")


def test_frequencies_outside_the_lock_in_range_are_refused_before_anything_moves(tmp_path):
    station = MemoryStation()
    station.roles["lockin"].limit_values = {"min_frequency_Hz": 1.0, "max_frequency_Hz": 2005.0}
    with pytest.raises(PlanError, match=r"frequencies_Hz \(highest\): 2010 Hz is outside the range 1..2005 Hz"):
        Runner(station, code_plan("scans_at_temperatures"), tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_a_measurement_needs_its_instrument(tmp_path):
    station = MemoryStation()
    del station.roles["lockin"]
    with pytest.raises(PlanError, match="no instrument 'lockin' in the station"):
        Runner(station, code_plan("scans_at_temperatures"), tmp_path / "x.h5")

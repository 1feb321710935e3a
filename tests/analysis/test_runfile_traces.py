"""Traces read back: read_run(...).traces, to_xarray with (point, axis) variables, to_pandas
in long form on request, scalar-only files exactly as before."""
import time

import numpy as np
import pytest

from loopscope.analysis.runfile import RunFileError, read_run
from loopscope.daq.storage import Column, RunMetadata, RunWriter, Trace, TraceAxis

CURRENTS_A = np.linspace(-1e-3, 1e-3, 9)
FREQUENCIES_HZ = np.array([10.0, 100.0, 1000.0, 10000.0])
FIELDS_T = np.array([0.0, 0.1, 0.2, 0.3, 0.4])


def write(path, traces=True, skip=()):
    kinds = [Trace("iv_curve", TraceAxis("current_setpoint_A", "A", "current setpoint", CURRENTS_A),
                   [Column("voltage_V", "V", "sample voltage"), Column("current_A", "A", "measured current")]),
             Trace("lockin_scan", TraceAxis("scan_frequency_Hz", "Hz", "reference frequency", FREQUENCIES_HZ),
                   [Column("scan_x_V", "V", "lock-in X"), Column("scan_y_V", "V", "lock-in Y")], signal="scan_y_V")]
    w = RunWriter(path, [Column("field_setpoint_T", "T", "field asked for"), Column("field_T", "T", "field")],
                  signal="field_T", axes=["field_setpoint_T"], metadata=RunMetadata(title="t", plan_kind="linear"),
                  traces=kinds if traces else [])
    for i, b in enumerate(FIELDS_T):
        given = None
        if traces:
            given = {"lockin_scan": {"scan_x_V": FREQUENCIES_HZ * b, "scan_y_V": -FREQUENCIES_HZ * b}}
            if i not in skip:
                # a magnetoresistive sample: R = 50 ohm (1 + B^2 / T^2)
                given["iv_curve"] = {"voltage_V": 50.0 * (1 + b ** 2) * CURRENTS_A, "current_A": CURRENTS_A}
        w.append((i, time.time(), 0.5 * i, b, b + 1e-4), traces=given)
    w.close("completed")
    return path


def test_read_run_exposes_the_traces(tmp_path):
    run = read_run(write(tmp_path / "run.h5", skip=(2,)))
    assert set(run.traces) == {"iv_curve", "lockin_scan"}
    t = run.traces["iv_curve"]
    assert t.axis == "current_setpoint_A" and t.axis_units == "A" and t.axis_long_name == "current setpoint"
    assert np.array_equal(t.axis_values, CURRENTS_A)
    assert t.shape == (5, 9) and list(t.point_index) == [0, 1, 2, 3, 4]
    assert list(t.signals) == ["voltage_V", "current_A"] and t.signal == "voltage_V"
    assert t.units == {"voltage_V": "V", "current_A": "A"}
    assert t.long_names["voltage_V"] == "sample voltage"
    assert np.allclose(t.signals["voltage_V"][4], 50.0 * 1.16 * CURRENTS_A)
    assert np.isnan(t.signals["voltage_V"][2]).all()
    scan = run.trace("lockin_scan")
    assert list(scan.signals) == ["scan_y_V", "scan_x_V"] and scan.signal == "scan_y_V"
    with pytest.raises(RunFileError, match="no trace 'iv'; its traces are"):
        run.trace("iv")


def test_to_xarray_adds_each_trace_on_point_and_its_axis(tmp_path):
    pytest.importorskip("xarray")
    ds = read_run(write(tmp_path / "run.h5")).to_xarray()
    assert dict(ds.sizes) == {"point": 5, "current_setpoint_A": 9, "scan_frequency_Hz": 4}
    v = ds["voltage_V"]
    assert v.dims == ("point", "current_setpoint_A")
    assert v.attrs["units"] == "V" and v.attrs["long_name"] == "sample voltage" and v.attrs["trace"] == "iv_curve"
    assert ds["scan_x_V"].dims == ("point", "scan_frequency_Hz")
    assert ds["current_setpoint_A"].attrs["units"] == "A"
    assert ds["scan_frequency_Hz"].attrs == {"units": "Hz", "long_name": "reference frequency"}
    assert np.array_equal(ds["current_setpoint_A"].values, CURRENTS_A)
    # the scalars keep what they have: the plan's axis a coordinate along point, the others variables
    assert ds["field_setpoint_T"].dims == ("point",) and "field_setpoint_T" in ds.coords
    assert ds["field_T"].dims == ("point",) and ds["field_T"].attrs["units"] == "T"
    # a curve picked by its field, a value by its current
    curve = v.where(ds["field_setpoint_T"] == 0.3, drop=True).squeeze("point")
    assert np.allclose(curve.values, 50.0 * 1.09 * CURRENTS_A)
    assert float(v.sel(current_setpoint_A=1e-3).isel(point=0)) == pytest.approx(0.05)


def test_to_pandas_keeps_scalars_unless_a_trace_is_asked_for(tmp_path):
    pytest.importorskip("pandas")
    run = read_run(write(tmp_path / "run.h5", skip=(1,)))
    df = run.to_pandas()
    assert sorted(df.columns) == ["elapsed_s", "field_T", "field_setpoint_T", "timestamp"]
    assert len(df) == 5
    long = run.to_pandas(trace="iv_curve")
    assert long.index.names == ["point_index", "current_setpoint_A"]
    assert len(long) == 5 * 9
    assert {"voltage_V", "current_A", "field_T", "field_setpoint_T"} <= set(long.columns)
    assert long.attrs["units"]["voltage_V"] == "V" and long.attrs["units"]["current_setpoint_A"] == "A"
    assert long.attrs["trace"] == "iv_curve"
    at_04 = long.loc[4]
    assert np.allclose(at_04["voltage_V"].values, 50.0 * 1.16 * CURRENTS_A)
    assert np.allclose(at_04.index.values, CURRENTS_A)
    assert (at_04["field_setpoint_T"] == 0.4).all()
    assert long.loc[1, "voltage_V"].isna().all()
    # one resistance per field from the long table: slope of V against I
    slopes = long.dropna().groupby("field_setpoint_T").apply(
        lambda g: np.polyfit(g.index.get_level_values("current_setpoint_A"), g["voltage_V"], 1)[0])
    assert np.allclose(slopes.values, 50.0 * (1 + np.delete(FIELDS_T, 1) ** 2))
    with pytest.raises(RunFileError, match="no trace 'nope'"):
        run.to_pandas(trace="nope")


def test_a_run_without_traces_reads_as_before(tmp_path):
    run = read_run(write(tmp_path / "run.h5", traces=False))
    assert run.traces == {}
    ds = run.to_xarray()
    assert dict(ds.sizes) == {"point": 5}
    with pytest.raises(RunFileError, match="it has no traces"):
        run.to_pandas(trace="iv_curve")

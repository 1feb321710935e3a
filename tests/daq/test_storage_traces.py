"""Traces in the run file: an array per point (an I-V curve at each field, a lock-in frequency
scan at each temperature) as its own NXdata group, read by silx, nexusformat and xarray,
crash-safe as the rows are, resumable."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from loopscope.daq.recovery import clear_write_flags, open_run_file
from loopscope.daq.storage import Column, RunMetadata, RunWriter, StorageError, Trace, TraceAxis

CURRENTS_A = np.linspace(-1e-3, 1e-3, 21)
FREQUENCIES_HZ = np.geomspace(10.0, 1e4, 13)


def iv_trace(currents=CURRENTS_A):
    return Trace("iv_curve", TraceAxis("current_setpoint_A", "A", "source-meter current setpoint", currents),
                 [Column("voltage_V", "V", "voltage across the sample"),
                  Column("current_A", "A", "current the source-meter measured")], signal="voltage_V")


def lockin_trace():
    return Trace("lockin_scan", TraceAxis("scan_frequency_Hz", "Hz", "lock-in reference frequency", FREQUENCIES_HZ),
                 [Column("scan_x_V", "V", "lock-in X"), Column("scan_y_V", "V", "lock-in Y")])


def make_writer(path, traces=None, **kw):
    return RunWriter(path, [Column("field_setpoint_T", "T", "field asked for"), Column("field_T", "T", "field"),
                            Column("temperature_K", "K", "sample temperature")],
                     signal="field_T", axes=["field_setpoint_T"],
                     metadata=RunMetadata(title="traces", plan_kind="linear"),
                     traces=[iv_trace(), lockin_trace()] if traces is None else traces, **kw)


def row(i):
    return (i, time.time(), 0.1 * i, 0.01 * i, 0.01 * i + 1e-5, 4.2 + 0.001 * i)


def iv(i):
    """A resistor of (100 + i) ohm, so each point's curve is its own."""
    return {"voltage_V": (100.0 + i) * CURRENTS_A, "current_A": CURRENTS_A * (1 + 1e-4 * i)}


def scan(i):
    return {"scan_x_V": 1e-6 * i / (1 + (FREQUENCIES_HZ / 1e3) ** 2),
            "scan_y_V": -1e-6 * i * (FREQUENCIES_HZ / 1e3) / (1 + (FREQUENCIES_HZ / 1e3) ** 2)}


def write_run(path, n=6, skip_iv=(), **kw):
    w = make_writer(path, **kw)
    for i in range(n):
        traces = {"lockin_scan": scan(i)}
        if i not in skip_iv:
            traces["iv_curve"] = iv(i)
        w.append(row(i), traces=traces)
    w.close("completed")
    return path


# ------------------------------------------------------------------ the layout, as others read it
def test_layout_in_plain_h5py(tmp_path):
    path = write_run(tmp_path / "run.h5")
    with h5py.File(path, "r") as f:
        g = f["entry/iv_curve"]
        assert g.attrs["NX_class"] == "NXdata"
        assert g.attrs["signal"] == "voltage_V"
        assert list(g.attrs["auxiliary_signals"]) == ["current_A"]
        assert list(g.attrs["axes"]) == ["point_index", "current_setpoint_A"]
        assert g.attrs["point_index_indices"] == 0 and g.attrs["current_setpoint_A_indices"] == 1
        v = g["voltage_V"]
        assert v.shape == (6, 21) and v.maxshape == (None, 21) and v.chunks[1] == 21
        assert v.attrs["units"] == "V" and v.attrs["long_name"] == "voltage across the sample"
        assert np.allclose(v[3], 103.0 * CURRENTS_A)
        assert g["current_setpoint_A"].attrs["units"] == "A"
        assert np.array_equal(g["current_setpoint_A"][()], CURRENTS_A)
        assert np.array_equal(g["point_index"][()], f["entry/data/point_index"][()])
        # dimension scales: rows on point_index, columns on the axis
        assert v.dims[0][0].name == "/entry/iv_curve/point_index"
        assert v.dims[1][0].name == "/entry/iv_curve/current_setpoint_A"
        # the row's scalars: soft links to /entry/data, coordinates of the point dimension
        for name in ("field_T", "field_setpoint_T", "temperature_K", "timestamp", "elapsed_s"):
            assert g.get(name, getlink=True).path == f"/entry/data/{name}"
            assert g.attrs[f"{name}_indices"] == 0
        assert np.array_equal(g["temperature_K"][()], f["entry/data/temperature_K"][()])
        # /entry/data is what it was, with nothing added for the traces
        assert set(f["entry/data"]) == {"point_index", "timestamp", "elapsed_s", "field_setpoint_T", "field_T",
                                        "temperature_K"}
        assert "target" not in f["entry/data/field_T"].attrs
        assert f["entry"].attrs["default"] == "data"


def test_silx_sees_valid_nxdata_with_axes_and_units(tmp_path):
    pytest.importorskip("silx")
    from silx.io.nxdata import NXdata

    path = write_run(tmp_path / "run.h5")
    with h5py.File(path, "r") as f:
        data = NXdata(f["entry/data"])
        assert data.is_valid, data.issues
        assert data.signal_dataset_name == "field_T" and data.axes_dataset_names == ["field_setpoint_T"]
        for group, axis, unit, signal_unit in (("iv_curve", "current_setpoint_A", "A", "V"),
                                               ("lockin_scan", "scan_frequency_Hz", "Hz", "V")):
            nx = NXdata(f[f"entry/{group}"])
            assert nx.is_valid, (group, nx.issues)
            assert nx.axes_dataset_names == ["point_index", axis]
            assert nx.signal.shape == (6, len(nx.axes[1]))
            assert [a.attrs["units"] for a in nx.axes] == ["1", unit]
            assert nx.signal.attrs["units"] == signal_unit
            assert len(nx.auxiliary_signals) == 1


def test_nexusformat_reads_signal_and_axes_with_units(tmp_path):
    pytest.importorskip("nexusformat")
    from nexusformat.nexus import nxload

    path = write_run(tmp_path / "run.h5")
    root = nxload(str(path), "r")
    try:
        g = root["entry/iv_curve"]
        assert g.nxsignal.nxname == "voltage_V" and g.nxsignal.attrs["units"] == "V"
        assert np.allclose(g.nxsignal.nxdata[2], 102.0 * CURRENTS_A)
        assert [a.nxname for a in g.nxaxes] == ["point_index", "current_setpoint_A"]
        assert [a.attrs["units"] for a in g.nxaxes] == ["1", "A"]
        assert np.array_equal(g.nxaxes[1].nxdata, CURRENTS_A)
        assert [s.nxname for s in g.nxauxiliary_signals] == ["current_A"]
        # a linked scalar reads as a NeXus link to /entry/data
        assert np.allclose(g["field_T"].nxdata, root["entry/data/field_T"].nxdata)
        assert g["field_T"].nxlink.nxpath == "/entry/data/field_T"
        assert root["entry/data"].nxsignal.nxname == "field_T"
    finally:
        root.nxfile.close()


def test_xarray_opens_a_trace_group_with_its_coordinates(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = write_run(tmp_path / "run.h5")
    with xr.open_dataset(path, engine="h5netcdf", group="entry/iv_curve") as ds:
        assert dict(ds.sizes) == {"point_index": 6, "current_setpoint_A": 21}
        assert list(ds["point_index"].values) == list(range(6))
        assert ds["point_index"].attrs["units"] == "1"
        assert np.array_equal(ds["current_setpoint_A"].values, CURRENTS_A)
        assert ds["current_setpoint_A"].attrs["units"] == "A"
        assert ds["voltage_V"].dims == ("point_index", "current_setpoint_A")
        assert ds["voltage_V"].attrs["units"] == "V"
        assert ds["field_T"].dims == ("point_index",) and ds["field_T"].attrs["units"] == "T"
        # one curve per field, chosen by the field the point had
        curve = ds["voltage_V"].sel(point_index=int(np.argmin(abs(ds["field_T"].values - 0.04))))
        assert np.allclose(curve.values, 104.0 * CURRENTS_A)
    with xr.open_dataset(path, engine="h5netcdf", group="entry/data") as ds:
        assert dict(ds.sizes) == {"point_index": 6}


# ------------------------------------------------------------------ what is written per point
def test_a_missing_trace_or_signal_is_nan(tmp_path):
    path = tmp_path / "run.h5"
    w = make_writer(path)
    w.append(row(0), traces={"iv_curve": iv(0), "lockin_scan": scan(0)})
    w.append(row(1))                                              # no traces at all
    w.append(row(2), traces={"iv_curve": {"voltage_V": iv(2)["voltage_V"]}})   # one signal only
    w.extend([row(3), row(4)], traces=[None, {"lockin_scan": scan(4)}])
    w.close("completed")
    with h5py.File(path, "r") as f:
        v, c = f["entry/iv_curve/voltage_V"][()], f["entry/iv_curve/current_A"][()]
        x = f["entry/lockin_scan/scan_x_V"][()]
        assert np.allclose(v[0], 100.0 * CURRENTS_A) and np.allclose(v[2], 102.0 * CURRENTS_A)
        assert np.isnan(v[1]).all() and np.isnan(v[3]).all() and np.isnan(v[4]).all()
        assert np.isnan(c[2]).all()
        assert np.isnan(x[1:4]).all() and np.allclose(x[4], scan(4)["scan_x_V"])
        assert list(f["entry/lockin_scan/point_index"][()]) == [0, 1, 2, 3, 4]


def test_wrong_lengths_and_unknown_names_are_refused_and_nothing_is_queued(tmp_path):
    w = make_writer(tmp_path / "run.h5", background_flush=False)
    w.append(row(0), traces={"iv_curve": iv(0)})
    bad = {"iv_curve": {"voltage_V": np.zeros(20)}}
    with pytest.raises(StorageError) as exc:
        w.append(row(1), traces=bad)
    message = str(exc.value)
    assert "\n" not in message
    assert message == "trace 'iv_curve' signal 'voltage_V' has 20 values, its axis 'current_setpoint_A' has 21"
    with pytest.raises(StorageError, match="signal 'current_A' has shape \\(3, 7\\)"):
        w.append(row(1), traces={"iv_curve": {"current_A": np.zeros((3, 7))}})
    with pytest.raises(StorageError, match="no trace 'iv'; its traces are iv_curve, lockin_scan"):
        w.append(row(1), traces={"iv": iv(1)})
    with pytest.raises(StorageError, match="no signal 'resistance_ohm'"):
        w.append(row(1), traces={"iv_curve": {"resistance_ohm": CURRENTS_A}})
    with pytest.raises(StorageError, match="2 rows but 1 trace entries"):
        w.extend([row(1), row(2)], traces=[None])
    with pytest.raises(StorageError, match="has 20 values"):  # a bad row in a block: none of it queued
        w.extend([row(1), row(2)], traces=[None, bad])
    assert w.pending_rows == 1 and len(w._trace_buffers[0].frames) == 1
    w.close("completed")
    with h5py.File(tmp_path / "run.h5", "r") as f:
        assert f["entry/data/point_index"].shape == (1,)
        assert f["entry/iv_curve/voltage_V"].shape == (1, 21)


def test_traces_given_to_a_run_without_traces_are_refused(tmp_path):
    w = make_writer(tmp_path / "run.h5", traces=[])
    with pytest.raises(StorageError, match="it records no traces"):
        w.append(row(0), traces={"iv_curve": iv(0)})
    w.append(row(0))
    w.close("completed")
    with h5py.File(tmp_path / "run.h5", "r") as f:
        assert set(f["entry"]) >= {"data", "log"} and "iv_curve" not in f["entry"]


@pytest.mark.parametrize("trace, message", [
    (Trace("iv_curve", TraceAxis("field_T", "T", values=[0, 1]), [Column("voltage_V", "V")]),
     "'field_T' is also a column of /entry/data"),
    (Trace("iv_curve", TraceAxis("current_setpoint_A", "A", values=[0, 1]), [Column("temperature_K", "K")]),
     "'temperature_K' is also a column of /entry/data"),
    (Trace("iv_curve", TraceAxis("current_setpoint_A", "A", values=[]), [Column("voltage_V", "V")]),
     "non-empty 1-D list of values"),
    (Trace("iv_curve", TraceAxis("current_setpoint_A", "A", values=[[0, 1]]), [Column("voltage_V", "V")]),
     "non-empty 1-D list of values"),
    (Trace("iv_curve", TraceAxis("current_setpoint_A", "A", values=[0, 1]), [Column("counts", "1", dtype="i8")]),
     "floating point"),
    (Trace("iv_curve", TraceAxis("current_setpoint_A", "A", values=[0, 1]), []), "no signals"),
    (Trace("iv_curve", TraceAxis("current_setpoint_A", "A", values=[0, 1]), [Column("voltage_V", "V")],
           signal="current_A"), "signal 'current_A' is not one of its signals"),
    (Trace("log", TraceAxis("current_setpoint_A", "A", values=[0, 1]), [Column("voltage_V", "V")]),
     "/entry/log is part of every run file"),
    (Trace("a/b", TraceAxis("current_setpoint_A", "A", values=[0, 1]), [Column("voltage_V", "V")]),
     "use a plain name"),
])
def test_bad_trace_descriptions_are_refused_before_a_file_exists(tmp_path, trace, message):
    with pytest.raises(StorageError, match=message):
        make_writer(tmp_path / "run.h5", traces=[trace])
    assert not (tmp_path / "run.h5").exists()


def test_a_name_used_by_two_traces_is_refused(tmp_path):
    second = Trace("iv_curve_2", TraceAxis("current_setpoint_A", "A", values=[0, 1]), [Column("other_V", "V")])
    with pytest.raises(StorageError, match="'current_setpoint_A' is used twice"):
        make_writer(tmp_path / "run.h5", traces=[iv_trace(), second])
    with pytest.raises(StorageError, match="duplicate trace names"):
        make_writer(tmp_path / "run.h5", traces=[iv_trace(), iv_trace()])


# ------------------------------------------------------------------ crashes and resume
# A writer in a subprocess, the background flusher on as in a run; it prints the number of
# points it has queued so the test kills it once it is well into the run (no timing).
KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from test_storage_traces import make_writer, row, iv, scan
    w = make_writer(sys.argv[1], max_data_at_risk_s=0.2)
    i = 0
    while True:
        traces = {"lockin_scan": scan(i)}
        if i % 3:
            traces["iv_curve"] = iv(i)
        w.append(row(i), traces=traces)
        i += 1
        if i % 50 == 0:
            print(i, flush=True)
        time.sleep(0.0005)
""")


def file_lengths(path):
    """Rows on disk, opened as any reader would (no repair): per /entry/data column, and per
    trace dataset that grows with the points (its signals and its point_index)."""
    with open_run_file(path) as f:
        data = {n: ds.shape[0] for n, ds in f["entry/data"].items()}
        traces = {}
        for trace, signals in (("iv_curve", ("voltage_V", "current_A")), ("lockin_scan", ("scan_x_V", "scan_y_V"))):
            for name in signals + ("point_index",):
                traces[f"{trace}/{name}"] = f["entry"][trace][name].shape[0]
    return data, traces


def check_points(path, n):
    """Every point 0..n-1 once, its traces the ones written for it (NaN where none was)."""
    from loopscope.analysis.runfile import read_run

    run = read_run(path)
    assert list(run.quantities["point_index"]) == list(range(n))
    t = run.traces["iv_curve"]
    assert t.shape == (n, 21)
    for i in range(n):
        if i % 3:
            assert np.allclose(t.signals["voltage_V"][i], (100.0 + i) * CURRENTS_A), i
        else:
            assert np.isnan(t.signals["voltage_V"][i]).all(), i
    assert np.allclose(run.traces["lockin_scan"].signals["scan_x_V"], [scan(i)["scan_x_V"] for i in range(n)])


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sigkill_mid_run_leaves_every_trace_with_the_rows_of_entry_data(tmp_path):
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), os.path.dirname(__file__)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # well into the run: several flushes of the background flusher have happened
        for line in proc.stdout:
            if int(line) >= 600:
                break
        else:
            pytest.fail(f"the writer stopped: {proc.stderr.read()}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    data, traces = file_lengths(path)  # opens with no repair
    n = data["point_index"]
    assert n >= 50 and len(set(data.values())) == 1, data
    # the traces reach the disk before their rows: never fewer rows than /entry/data, at most
    # the block being flushed at the kill more (the reader and a resume cut that off)
    assert all(n <= rows for rows in traces.values()), (data, traces)
    assert len(set(traces.values())) <= 2
    assert clear_write_flags(path)
    check_points(path, n)
    # resume: every trace cut to the rows of /entry/data, then the run goes on
    w = make_writer(path, resume=True)
    assert w.rows_written == n
    for i in range(n, n + 30):
        w.append(row(i), traces={"lockin_scan": scan(i), **({"iv_curve": iv(i)} if i % 3 else {})})
    w.close("completed")
    data, traces = file_lengths(path)
    assert set(data.values()) == set(traces.values()) == {n + 30}
    check_points(path, n + 30)


# The kill at a chosen moment (os._exit: no cleanup, as after SIGKILL): with points queued and
# not yet written, or inside a flush between the traces and their rows.
STAGED_WRITER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[3])
    import loopscope.daq.storage as storage
    from test_storage_traces import make_writer, row, iv, scan
    path, stage = sys.argv[1], sys.argv[2]
    w = make_writer(path, background_flush=False)
    for i in range(40):
        w.append(row(i), traces={"lockin_scan": scan(i), **({"iv_curve": iv(i)} if i % 3 else {})})
    w.flush()
    if stage == "between_traces_and_rows":
        storage.RunWriter._write_rows = lambda self, block: os._exit(137)
    for i in range(40, 65):
        w.append(row(i), traces={"lockin_scan": scan(i), **({"iv_curve": iv(i)} if i % 3 else {})})
    if stage == "between_traces_and_rows":
        w.flush()
    os._exit(137)   # points 40..64 queued in memory: lost, as the bound allows
""")


@pytest.mark.parametrize("stage", ["rows_pending", "between_traces_and_rows"])
def test_killed_at_a_chosen_moment_then_resumed(tmp_path, stage):
    path = tmp_path / "run.h5"
    proc = subprocess.run([sys.executable, "-c", STAGED_WRITER, str(path), stage, os.path.dirname(__file__)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr
    data, traces = file_lengths(path)
    assert set(data.values()) == {40}
    # points still in memory: nothing of them on disk; killed between: their traces are there
    assert set(traces.values()) == ({40} if stage == "rows_pending" else {65})
    clear_write_flags(path)
    check_points(path, 40)
    # a resume cuts every trace to the rows of /entry/data at once, before any new point
    make_writer(path, resume=True).close("aborted", "resumed and stopped at once")
    data, traces = file_lengths(path)
    assert set(data.values()) == set(traces.values()) == {40}
    w = make_writer(path, resume=True)
    assert w.rows_written == 40
    for i in range(40, 50):
        w.append(row(i), traces={"lockin_scan": scan(i), **({"iv_curve": iv(i)} if i % 3 else {})})
    w.close("completed")
    data, traces = file_lengths(path)
    assert set(data.values()) == set(traces.values()) == {50}
    check_points(path, 50)


@pytest.mark.parametrize("traces, message", [
    ([iv_trace()], "the file has a trace 'lockin_scan' the run does not record"),
    ([], "the file has a trace 'iv_curve' the run does not record; the file has a trace 'lockin_scan'"),
    ([iv_trace(), lockin_trace(),
      Trace("hall_scan", TraceAxis("hall_current_A", "A", values=[0, 1]), [Column("hall_V", "V")])],
     "the run records a trace 'hall_scan' the file does not have"),
    ([iv_trace(np.linspace(-1e-3, 1e-3, 11)), lockin_trace()],
     "iv_curve: axis 'current_setpoint_A' has 21 values in the file, 11 asked"),
    ([iv_trace(np.linspace(-2e-3, 2e-3, 21)), lockin_trace()],
     "iv_curve: axis 'current_setpoint_A' has other values or units in the file"),
    ([Trace("iv_curve", iv_trace().axis, [Column("voltage_V", "V")]), lockin_trace()],
     "iv_curve: signals current_A, voltage_V in the file, voltage_V asked"),
    ([Trace("iv_curve", iv_trace().axis, [Column("voltage_V", "mV"), Column("current_A", "A")]), lockin_trace()],
     "iv_curve: signal 'voltage_V' has other units in the file"),
])
def test_resume_refuses_other_traces_in_one_line(tmp_path, traces, message):
    path = write_run(tmp_path / "run.h5", n=3)
    before = path.read_bytes()
    with pytest.raises(StorageError) as exc:
        make_writer(path, traces=traces, resume=True)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith(f"cannot resume {path}: its traces differ from the run's: ")
    with h5py.File(path, "r") as f:  # still a finished file, its data untouched
        assert f["entry/status"][()].strip(b"\0 ") == b"completed"
        assert f["entry/iv_curve/voltage_V"].shape == (3, 21)
    assert path.stat().st_size == len(before)


def test_resume_of_a_finished_file_with_traces_goes_on(tmp_path):
    path = write_run(tmp_path / "run.h5", n=4, skip_iv=(1,))
    w = make_writer(path, resume=True)
    assert w.rows_written == 4
    w.append(row(4), traces={"iv_curve": iv(4)})
    w.close("completed")
    with h5py.File(path, "r") as f:
        v = f["entry/iv_curve/voltage_V"][()]
        assert v.shape == (5, 21) and np.isnan(v[1]).all() and np.allclose(v[4], 104.0 * CURRENTS_A)
        assert np.isnan(f["entry/lockin_scan/scan_x_V"][4]).all()
        assert list(f["entry/iv_curve/point_index"][()]) == [0, 1, 2, 3, 4]


def test_inspect_lists_the_traces_with_shapes_and_units(tmp_path):
    from loopscope.daq.inspect import format_summary, summarize

    path = write_run(tmp_path / "run.h5", n=5)
    s = summarize(path)
    assert s["traces"]["iv_curve"]["axis"] == "current_setpoint_A"
    assert s["traces"]["iv_curve"]["axis_units"] == "A" and s["traces"]["iv_curve"]["axis_points"] == 21
    assert s["traces"]["iv_curve"]["signals"] == {"voltage_V": {"units": "V", "shape": [5, 21]},
                                                 "current_A": {"units": "A", "shape": [5, 21]}}
    assert set(s["quantities"]) == {"point_index", "timestamp", "elapsed_s", "field_setpoint_T", "field_T",
                                    "temperature_K"}
    text = format_summary(s)
    assert "iv_curve                   along current_setpoint_A [A], 21 values  -0.001 .. 0.001" in text
    assert "      voltage_V                [V]  5 x 21  (signal)" in text
    assert "      scan_y_V                 [V]  5 x 13" in text
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "loopscope"), "inspect", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "lockin_scan                along scan_frequency_Hz [Hz], 13 values" in proc.stdout

"""The run file: NeXus structure, refusal of bad output paths, crash durability, SWMR reading."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from daq.recovery import clear_write_flags, open_run_file, write_flags_set
from daq.storage import Column, RunMetadata, RunWriter, StorageError, read_status, unique_path


def make_writer(path, **kw):
    return RunWriter(path, [Column("field_T", "T", "field"), Column("flux_phi0", "Phi0")],
                     signal="flux_phi0", axes=["field_T"],
                     metadata=RunMetadata(title="unit test", plan_kind="linear", plan_text="kind: linear\n",
                                          sample={"name": "rings", "mass_kg": 1e-6},
                                          snapshot={"squid": {"idn": "SIM,FLL", "driver": "squid_fll"}}), **kw)


def test_structure_is_self_describing(tmp_path):
    path = tmp_path / "run.h5"
    w = make_writer(path)
    for i in range(10):
        w.append((i, time.time(), 0.1 * i, 0.01 * i, np.sin(i)))
    w.log("warning", "something odd")
    w.close("completed")
    with h5py.File(path, "r") as f:  # plain h5py, no loopscope
        assert f.attrs["default"] == "entry"
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        data = entry["data"]
        assert data.attrs["NX_class"] == "NXdata"
        assert data.attrs["signal"] == "flux_phi0"
        assert list(data.attrs["axes"]) == ["field_T"]
        assert data["field_T"].attrs["units"] == "T"
        assert data["flux_phi0"].attrs["units"] == "Phi0"
        assert data["flux_phi0"][:] == pytest.approx(np.sin(np.arange(10)))
        assert list(data["point_index"][:]) == list(range(10))
        assert entry["status"][()].strip() == b"completed"
        assert entry["sample"]["mass"][()] == 1e-6
        assert entry["sample"]["mass"].attrs["units"] == "kg"
        assert b"SIM,FLL" in entry["instrument"]["snapshot_json"][()]
        assert entry["instrument"]["squid"].attrs["idn"] == "SIM,FLL"
        assert entry["log"]["message"][0].rstrip(b"\0") == b"something odd"
        assert entry["end_time"][()].strip()
    assert read_status(path) == ("completed", "")


def test_existing_file_refused_unless_overwrite(tmp_path):
    path = tmp_path / "run.h5"
    path.write_bytes(b"precious")
    with pytest.raises(StorageError, match="already exists"):
        make_writer(path)
    assert path.read_bytes() == b"precious"
    assert unique_path(path).name == "run_1.h5"
    make_writer(path, overwrite=True).close("completed")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_refused(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    with pytest.raises(StorageError, match="not writable"):
        make_writer(d / "run.h5")


def test_unwritable_directory_refused_even_as_root(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot create the output directory"):
        make_writer(blocker / "sub" / "run.h5")


def test_bad_suffix_refused(tmp_path):
    with pytest.raises(StorageError, match=".h5"):
        make_writer(tmp_path / "run.txt")


def test_aborted_status_and_reason(tmp_path):
    path = tmp_path / "run.h5"
    w = make_writer(path)
    w.append((0, time.time(), 0.0, 0.0, 0.0))
    w.close("aborted", "operator pressed abort")
    assert read_status(path) == ("aborted", "operator pressed abort")


WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    from daq.storage import Column, RunMetadata, RunWriter
    w = RunWriter(sys.argv[1], [Column("field_T", "T")], signal="field_T", axes=["field_T"],
                  metadata=RunMetadata(title="kill me", plan_kind="linear"), max_data_at_risk_s=float(sys.argv[2]))
    i = 0
    print("started", flush=True)
    while True:
        w.append((i, time.time(), 0.0, float(i)))
        i += 1
        time.sleep(0.0002)
""")


@pytest.mark.parametrize("bound_s", [1.0, 0.3])
def test_sigkill_loses_at_most_the_bound(tmp_path, bound_s):
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), str(bound_s)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(2.3)
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # a concurrent-style reader works even before recovery
    with open_run_file(path) as f:
        ts = f["entry/data/timestamp"][:]
    assert len(ts) > 100
    assert killed_at - ts[-1] <= bound_s + 0.05
    assert read_status(path)[0] == "interrupted"
    # after clearing the writer's mark, plain h5py opens it
    assert write_flags_set(path)
    assert clear_write_flags(path)
    with h5py.File(path, "r") as f:
        idx = f["entry/data/point_index"][:]
        assert list(idx) == list(range(len(idx)))


def test_reader_sees_file_grow_while_written(tmp_path):
    path = tmp_path / "live.h5"
    w = make_writer(path, max_data_at_risk_s=0.2)
    for i in range(100):
        w.append((i, time.time(), 0.0, 0.0, 0.0))
    w.flush()
    with h5py.File(path, "r", swmr=True) as f:
        ds = f["entry/data/point_index"]
        assert ds.shape == (100,)
        for i in range(100, 250):
            w.append((i, time.time(), 0.0, 0.0, 0.0))
        w.flush()
        ds.refresh()
        assert ds.shape == (250,)
        assert f["entry/status"][()].strip() == b"running"
    assert read_status(path) == ("running", "")  # the writer is alive: not "interrupted"
    w.close("completed")


def test_wrong_row_length_refused_and_good_rows_kept(tmp_path):
    w = make_writer(tmp_path / "r.h5", background_flush=False)
    w.append((0, time.time(), 0.0, 0.0, 0.0))
    with pytest.raises(StorageError, match="2 values, the file has 5"):
        w.append((1, 2.0))
    assert w.pending_rows == 1
    w.close("completed")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["entry/data/point_index"].shape == (1,)

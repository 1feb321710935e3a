"""The run file: NeXus structure, refusal of bad output paths, crash durability, SWMR reading."""
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from loopscope.daq.recovery import clear_write_flags, open_run_file, write_flags_set
from loopscope.daq.storage import Column, RunMetadata, RunWriter, StorageError, read_status, unique_path


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
    from loopscope.daq.storage import Column, RunMetadata, RunWriter
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


# ------------------------------------------------------------------ killed at every stage, resumed
# A writer that dies (os._exit: no cleanup, no flush, the OS closes its files, as after SIGKILL)
# at one stage of creating or resuming a file; the stages are reached by running, not by timing.
STAGED_WRITER = textwrap.dedent("""
    import os, sys, time
    import loopscope.daq.recovery as recovery
    import loopscope.daq.storage as storage
    from loopscope.daq.storage import Column, RunMetadata, RunWriter
    path, stage, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    die = lambda *a: os._exit(137)
    if stage == "before_place":        # the structure is complete in the temporary file
        storage.RunWriter._place = die
    elif stage == "before_open":       # the file is in place, not yet open for appending
        storage.RunWriter._open_swmr_write = die
    elif stage == "after_clear":       # resume: the dead writer's mark cleared, not yet opened
        real_clear = recovery.clear_write_flags
        recovery.clear_write_flags = lambda p: (real_clear(p), die())
    elif stage == "after_open":        # open for appending (SWMR), nothing written yet
        real_bind = storage.RunWriter._bind
        storage.RunWriter._bind = lambda self, f: (real_bind(self, f), die())
    w = RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
                  metadata=RunMetadata(title="staged", plan_kind="linear"), resume=mode == "resume",
                  background_flush=False)
    start = w.rows_written
    for i in range(start, start + 100):
        w.append((i, time.time(), 0.0, float(i)))
    w.flush()
    if stage == "after_rows":
        die()
    w.close("completed")
""")


def staged(path, stage, mode):
    proc = subprocess.run([sys.executable, "-c", STAGED_WRITER, str(path), stage, mode], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == (0 if stage == "none" else 137), proc.stderr


def go_on(path):
    """What `queue resume` does: resume the file if it is there, else start it; add 100 points."""
    from loopscope.daq.locks import sidecar_path, writer_alive

    assert not writer_alive(path)
    resume = path.exists()
    if resume:
        assert read_status(path)[0] == "interrupted"  # readable by anyone, whatever the stage
    w = RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
                  metadata=RunMetadata(title="staged", plan_kind="linear"), resume=resume, background_flush=False)
    start = w.rows_written
    for i in range(start, start + 100):
        w.append((i, time.time(), 0.0, float(i)))
    w.close("completed")
    assert not sidecar_path(path).exists()
    with h5py.File(path, "r") as f:  # plain h5py
        idx = f["entry/data/point_index"][:]
    assert list(idx) == list(range(len(idx)))  # nothing lost, nothing twice
    return len(idx)


@pytest.mark.parametrize("stage", ["before_place", "before_open", "after_open", "after_rows"])
def test_killed_while_creating_then_resumed(tmp_path, stage):
    path = tmp_path / "run.h5"
    staged(path, stage, "create")
    if stage == "before_place":
        assert not path.exists()  # never half a file under the run's name
    assert go_on(path) == (200 if stage == "after_rows" else 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # no temporary, no sidecar left


@pytest.mark.parametrize("stage", ["after_clear", "after_open", "after_rows"])
def test_killed_while_resuming_then_resumed(tmp_path, stage):
    path = tmp_path / "run.h5"
    staged(path, "after_rows", "create")  # a run killed with 100 points on disk
    staged(path, stage, "resume")  # its resume killed too
    assert go_on(path) == (300 if stage == "after_rows" else 200)


HOLDER = textwrap.dedent("""
    import sys, h5py
    f = h5py.File(sys.argv[1], sys.argv[2])   # plain h5py, HDF5's own file lock on
    print("open", flush=True)
    sys.stdin.read()
    f.close()
""")


def held(path, mode):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open", proc.stderr.read()
    return proc


@pytest.mark.skipif(os.name != "posix", reason="HDF5 locks files only on POSIX")
def test_resume_waits_out_a_reader_holding_hdf5s_lock(tmp_path, monkeypatch):
    import loopscope.daq.storage

    monkeypatch.setattr(loopscope.daq.storage, "HDF5_READER_WAIT_S", 0.2)
    path = tmp_path / "run.h5"
    staged(path, "none", "create")  # a finished run (no open-for-write mark: plain "r" opens it)
    reader = held(path, "r")
    try:
        w = RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
                      metadata=RunMetadata(title="staged", plan_kind="linear"), resume=True)
        w.append((w.rows_written, time.time(), 0.0, 0.0))
        w.close("completed")
    finally:
        reader.communicate("")
    with h5py.File(path, "r") as f:
        assert f["entry/data/point_index"].shape == (101,)
        assert any(b"opened it without HDF5's lock" in m for m in f["entry/log/message"][:])


@pytest.mark.skipif(os.name != "posix", reason="HDF5 locks files only on POSIX")
def test_resume_refused_while_another_program_writes_the_file(tmp_path, monkeypatch):
    import loopscope.daq.storage

    monkeypatch.setattr(loopscope.daq.storage, "HDF5_WRITER_WAIT_S", 0.2)
    path = tmp_path / "run.h5"
    staged(path, "none", "create")
    writer = held(path, "r+")
    try:
        before = path.read_bytes()
        with pytest.raises(StorageError, match="another program has it open for writing"):
            RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
                      metadata=RunMetadata(title="staged", plan_kind="linear"), resume=True)
        assert path.read_bytes() == before  # not even the other writer's open-for-write mark was touched
    finally:
        writer.communicate("")


@pytest.mark.skipif(os.name != "posix", reason="descriptor inheritance and HDF5's file locks are POSIX matters")
def test_a_child_process_keeps_no_run_file_open(tmp_path):
    """HDF5 opens files without close-on-exec: a program started meanwhile (even one told to
    keep every inheritable descriptor) would keep the file, and HDF5's lock, after we close it."""
    from loopscope.daq.locks import sidecar_path, writer_alive

    path = tmp_path / "run.h5"
    staged(path, "none", "create")
    writer = make_writer(tmp_path / "live.h5")
    reader = open_run_file(path, locking=True)  # a reader that does take HDF5's shared lock
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                             close_fds=False, text=True)
    try:
        if os.path.isdir(f"/proc/{child.pid}/fd"):
            held = {os.path.realpath(f"/proc/{child.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{child.pid}/fd")}
            for p in (path, tmp_path / "live.h5", sidecar_path(tmp_path / "live.h5")):
                assert str(p.resolve()) not in held, p
        reader.close()
        writer.close("completed")
        assert not writer_alive(tmp_path / "live.h5")
        # the child still runs: were HDF5's lock inherited, this plain "r+" open would fail
        opened = subprocess.run([sys.executable, "-c", f"import h5py; h5py.File({str(path)!r}, 'r+').close()"],
                                capture_output=True, text=True, timeout=60)
        assert opened.returncode == 0, opened.stderr
    finally:
        child.communicate("")


def test_reanalysis_pool_never_forks_with_an_hdf5_file_open(tmp_path):
    from loopscope.analysis.reanalysis import _hdf5_files_open

    path = tmp_path / "run.h5"
    staged(path, "none", "create")
    gc.collect()  # a file object an earlier test dropped without closing is closed by the collector
    assert not _hdf5_files_open()
    with h5py.File(path, "r"):
        assert _hdf5_files_open()  # then the pool starts its workers from a clean server instead
    assert not _hdf5_files_open()

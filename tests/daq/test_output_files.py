"""No file is ever lost: outputs refuse existing files unless asked, never replace their own
inputs or a run being written, and appear complete or not at all; the writer's lock sidecar.

Live runs are real processes (a RunWriter in a subprocess, `loopscope run` on the simulated
lab); every wait is for progress (rows on disk), never for time.
"""
import hashlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from loopscope.daq.locks import RunFileLock, lock_held, sidecar_path, writer_alive
from loopscope.daq.output_files import OutputFileError, atomic_output, check_new_output
from loopscope.daq.recovery import open_run_file
from loopscope.daq.storage import Column, RunMetadata, RunWriter, StorageError, check_output_path, read_status
from loopscope.cli import main

ROOT = Path(__file__).resolve().parents[2]
MPMS_DATA = ROOT.parent / "shared" / "data" / "mpms3"

# a run file being written by another process, until its stdin closes; then closed "completed"
LIVE_WRITER = textwrap.dedent("""
    import sys, threading, time
    from loopscope.daq.storage import Column, RunMetadata, RunWriter
    w = RunWriter(sys.argv[1], [Column("field_T", "T"), Column("moment_Am2", "A m^2")], signal="moment_Am2",
                  axes=["field_T"], metadata=RunMetadata(title="live", plan_kind="linear"), max_data_at_risk_s=0.2)
    print("started", flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    i = 0
    while not stop.is_set():
        w.append((i, time.time(), 0.0, 1e-3 * i, 1e-9 * i))
        i += 1
        time.sleep(0.0005)
    w.close("completed")
    print("closed", i, flush=True)
""")


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rows(path) -> int:
    try:
        with open_run_file(path) as f:
            return f["entry/data/point_index"].shape[0]
    except (OSError, KeyError):
        return 0


def wait_rows(path, n, proc=None, timeout=120) -> int:
    """Wait until the run file has at least n rows on disk (the timeout only guards a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = rows(path)
        if have >= n:
            return have
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the writer ended early: {proc.communicate()}")
        time.sleep(0.005)
    raise AssertionError(f"{path} never reached {n} rows")


class LiveRun:
    def __init__(self, path):
        self.path = Path(path)
        self.proc = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout.readline().strip() == "started", self.proc.stderr.read()

    def finish(self) -> int:
        out, err = self.proc.communicate("", timeout=60)
        assert self.proc.returncode == 0, err
        return int(out.split()[-1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def live(tmp_path):
    runs = []

    def start(name="LIVE.h5"):
        run = LiveRun(tmp_path / name)
        runs.append(run)
        wait_rows(run.path, 100, run.proc)
        return run

    yield start
    for run in runs:
        run.kill()


def small_run(path, n=50):
    w = RunWriter(path, [Column("field_T", "T"), Column("moment_Am2", "A m^2")], signal="moment_Am2",
                  axes=["field_T"], metadata=RunMetadata(title="small", plan_kind="linear"), background_flush=False)
    for i in range(n):
        w.append((i, time.time(), float(i), 1e-3 * i, 2e-9 * i + 1e-12 * np.sin(i)))
    w.close("completed")
    return path


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code != 0, result.output
    text = result.output.strip()
    assert text.count("\n") == 0, text
    return text


# ------------------------------------------------------------------ the lock sidecar
def test_sidecar_lock_while_writing_removed_on_close(tmp_path):
    path = tmp_path / "run.h5"
    w = RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
                  metadata=RunMetadata(title="t", plan_kind="linear"))
    side = sidecar_path(path)
    assert side == tmp_path / "run.h5.lock" and side.exists()
    assert writer_alive(path) and lock_held(side)
    # the lock is on the sidecar, never on the run file: it reads (and would write) freely
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89HDF\r\n\x1a\n"
    with pytest.raises(StorageError, match="another process is writing it"):
        RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"],
                  metadata=RunMetadata(title="t", plan_kind="linear"), resume=True)
    w.close("completed")
    assert not side.exists() and not writer_alive(path)


def test_stale_sidecar_means_writer_dead(tmp_path, live):
    run = live()
    assert writer_alive(run.path) and read_status(run.path)[0] == "running"
    run.proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows: no cleanup
    run.proc.communicate()
    assert sidecar_path(run.path).exists()  # left behind ...
    assert not writer_alive(run.path)  # ... but nobody holds its lock
    assert read_status(run.path)[0] == "interrupted"
    w = RunWriter(run.path, [Column("field_T", "T"), Column("moment_Am2", "A m^2")], signal="moment_Am2",
                  axes=["field_T"], metadata=RunMetadata(title="live", plan_kind="linear"), resume=True)
    n = w.rows_written
    # the kill may land between the per-column resizes of a block (the reader saw 100 rows of
    # one column): resume keeps the rows every column has, never a partial one
    assert n > 0
    w.append((n, time.time(), 0.0, 0.0, 0.0))
    w.close("completed")
    assert not sidecar_path(run.path).exists()
    with h5py.File(run.path, "r") as f:
        assert list(f["entry/data/point_index"][:]) == list(range(n + 1))


def test_lock_file_handover_is_exclusive(tmp_path):
    lock_file = tmp_path / "x.lock"
    first = RunFileLock(tmp_path / "x").acquire()
    assert lock_held(lock_file)
    with pytest.raises(Exception, match="locked by another process"):
        RunFileLock(tmp_path / "x").acquire(wait_s=0.05)
    first.release()
    assert not lock_file.exists() and not lock_held(lock_file)
    with RunFileLock(tmp_path / "x"):
        assert lock_held(lock_file)
    assert not lock_held(lock_file)


# ------------------------------------------------------------------ --overwrite of a live run
def test_overwrite_of_a_live_run_file_is_refused_and_it_keeps_growing(tmp_path, live):
    run = live()
    with pytest.raises(StorageError, match="being written by another process"):
        check_output_path(run.path, overwrite=True)
    with pytest.raises(StorageError, match="being written by another process"):
        RunWriter(run.path, [Column("field_T", "T")], signal="field_T", axes=["field_T"], overwrite=True,
                  metadata=RunMetadata(title="x", plan_kind="linear"))
    before = rows(run.path)
    wait_rows(run.path, before + 200, run.proc)  # still growing: nothing was truncated
    total = run.finish()
    with h5py.File(run.path, "r") as f:
        assert f["entry/status"][()].strip() == b"completed"
        assert list(f["entry/data/point_index"][:]) == list(range(total))


def test_run_overwrite_refused_while_loopscope_run_writes_it(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory()
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"title": "long sweep", "kind": "linear", "source": "coil_supply",
                                    "detectors": ["gaussmeter"], "sweep": {"start": 0.0, "stop": 0.02,
                                                                          "points": 4000}}))
    out = tmp_path / "LIVE.h5"
    first = subprocess.Popen([sys.executable, "-m", "loopscope", "run", str(plan), "--station", str(station),
                              "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=tmp_path)
    try:
        seen = wait_rows(out, 50, first)
        second = subprocess.run([sys.executable, "-m", "loopscope", "run", str(plan), "--station", str(station),
                                 "--overwrite", "--out", str(out), "--quiet"], capture_output=True, text=True,
                                cwd=tmp_path, timeout=120)
        assert second.returncode != 0
        assert str(out) in second.stderr and "being written by another process" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        # refused while it was live (the message says so); it goes on in the same file
        wait_rows(out, min(max(seen, rows(out)) + 100, 4000), first)
        stdout, stderr = first.communicate(timeout=300)
        assert first.returncode == 0, stderr
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    with h5py.File(out, "r") as f:
        assert f["entry/status"][()].strip() == b"completed"
        assert list(f["entry/data/point_index"][:]) == list(range(4000))  # nothing lost
    assert not sidecar_path(out).exists()


def test_overwrite_replaces_a_finished_file_in_one_step(tmp_path):
    path = small_run(tmp_path / "old.h5", n=30)
    w = RunWriter(path, [Column("field_T", "T")], signal="field_T", axes=["field_T"], overwrite=True,
                  metadata=RunMetadata(title="new", plan_kind="linear"))
    w.append((0, time.time(), 0.0, 0.5))
    w.close("completed")
    with h5py.File(path, "r") as f:
        assert f["entry/title"][()] == b"new" and f["entry/data/point_index"].shape == (1,)
    assert [p.name for p in tmp_path.iterdir()] == ["old.h5"]  # no temporary left, no sidecar


def test_new_file_never_clobbers_one_that_appeared(tmp_path):
    path = tmp_path / "run.h5"
    w = RunWriter.__new__(RunWriter)  # the last step of creation, with a file there already
    w.path = path
    path.write_bytes(b"somebody else's")
    tmp = tmp_path / ".run.h5.creating-1.tmp"
    tmp.write_bytes(b"ours")
    with pytest.raises(StorageError, match="already exists"):
        w._place(tmp, overwrite=False)
    assert path.read_bytes() == b"somebody else's"


# ------------------------------------------------------------------ the output-file helpers
def test_check_new_output_and_atomic_output(tmp_path):
    src = small_run(tmp_path / "in.h5")
    out = tmp_path / "out.csv"
    assert check_new_output(out, inputs=[src]) == out
    with pytest.raises(OutputFileError, match="also an input"):
        check_new_output(tmp_path / "." / "in.h5", overwrite=True, inputs=[src])
    out.write_text("old")
    with pytest.raises(OutputFileError, match="already exists"):
        check_new_output(out)
    assert check_new_output(out, overwrite=True) == out
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            tmp.write_text("half of a new one")
            raise RuntimeError("disk full, say")
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["in.h5", "out.csv"]
    with atomic_output(out) as tmp:
        assert tmp.parent == out.parent and tmp.suffix == ".csv"
        tmp.write_text("new")
    assert out.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["in.h5", "out.csv"]


# ------------------------------------------------------------------ every command
def test_export_refuses_its_own_input_and_existing_csv(tmp_path):
    run = small_run(tmp_path / "SAME.h5")
    h = digest(run)
    for extra in ([], ["--overwrite"]):
        msg = one_line_error(cli("export", run, "--csv", run, *extra))
        assert "also an input" in msg and "SAME.h5" in msg
    assert digest(run) == h
    csv = tmp_path / "t.csv"
    csv.write_text("keep me\n")
    assert "already exists" in one_line_error(cli("export", run, "--csv", csv))
    assert csv.read_text() == "keep me\n"
    r = cli("export", run, "--csv", csv, "--overwrite")
    assert r.exit_code == 0 and csv.read_text().startswith("point_index [1]")


def test_export_never_replaces_a_run_being_written(tmp_path, live):
    run = live()
    done = small_run(tmp_path / "done.h5")
    msg = one_line_error(cli("export", done, "--csv", run.path, "--overwrite"))
    assert "being written" in msg
    wait_rows(run.path, rows(run.path) + 100, run.proc)
    total = run.finish()
    with h5py.File(run.path, "r") as f:
        assert list(f["entry/data/point_index"][:]) == list(range(total))


def test_plot_refuses_existing_image_bad_format_and_its_input(tmp_path):
    run = small_run(tmp_path / "r.h5")
    png = tmp_path / "r.png"
    assert cli("plot", run, "--out", png).exit_code == 0
    h = digest(png)
    assert "already exists" in one_line_error(cli("plot", run, "--out", png))
    assert digest(png) == h
    assert cli("plot", run, "--out", png, "--overwrite").exit_code == 0
    txt = tmp_path / "x.txt"
    msg = one_line_error(cli("plot", run, "--out", txt))
    assert "x.txt" in msg and ".png" in msg and ".pdf" in msg and ".svg" in msg
    assert not txt.exists()
    h = digest(run)
    h5out = tmp_path / "r.h5"
    msg = one_line_error(cli("plot", run, "--out", h5out, "--overwrite"))
    assert "not an image format" in msg or "also an input" in msg
    assert digest(run) == h


def test_reanalyze_summary_refusals(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    a = small_run(runs / "a.h5")
    small_run(runs / "b.h5")
    h = digest(a)
    # a summary prefix naming one of the runs being reanalysed: never, even with --overwrite
    for extra in ([], ["--overwrite"]):
        msg = one_line_error(cli("reanalyze", runs, "-m", "susceptibility", "--summary", runs / "a",
                                 "--no-progress", *extra))
        assert "a.h5" in msg
    assert digest(a) == h
    # an existing summary (or any file at PREFIX.csv / PREFIX.h5) only with --overwrite
    out = tmp_path / "out"
    (tmp_path / "out.csv").write_text("last year's table\n")
    msg = one_line_error(cli("reanalyze", runs, "-m", "susceptibility", "--summary", out, "--no-progress"))
    assert "out.csv" in msg and "already exists" in msg
    assert (tmp_path / "out.csv").read_text() == "last year's table\n"
    assert not (tmp_path / "out.h5").exists()
    other = small_run(tmp_path / "elsewhere.h5")
    h = digest(other)
    msg = one_line_error(cli("reanalyze", runs, "-m", "susceptibility", "--summary", tmp_path / "elsewhere",
                             "--no-progress"))
    assert "already exists" in msg and digest(other) == h


def test_demo_refuses_existing_files(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    old = out / "hysteresis_loop.h5"
    old.write_bytes(b"my own loop")
    msg = one_line_error(cli("demo", "--out", out, "--quiet"))
    assert "hysteresis_loop.h5" in msg and "--overwrite" in msg
    assert old.read_bytes() == b"my own loop"
    assert sorted(p.name for p in out.iterdir()) == ["hysteresis_loop.h5"]  # nothing ran
    assert "--overwrite" in cli("demo", "--help").output


@pytest.mark.skipif(not MPMS_DATA.is_dir(), reason="real MPMS3 files (../shared/data/mpms3) not present")
def test_import_mpms_refuses_existing_output(tmp_path):
    out = tmp_path / "m.h5"
    out.write_bytes(b"keep")
    msg = one_line_error(cli("import-mpms", MPMS_DATA / "mvsh9.dat", "--out", out))
    assert "already exists" in msg and out.read_bytes() == b"keep"
    assert cli("import-mpms", MPMS_DATA / "mvsh9.dat", "--out", out, "--overwrite").exit_code == 0
    with h5py.File(out, "r") as f:
        assert f["entry/plan_kind"][()] == b"mpms_import"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]


def test_fit_refuses_a_run_being_written_and_writes_atomically(tmp_path, live):
    run = live()
    msg = one_line_error(cli("fit", run.path, "--model", "susceptibility"))
    assert "being written" in msg or "writing it" in msg
    wait_rows(run.path, rows(run.path) + 100, run.proc)
    total = run.finish()
    with h5py.File(run.path, "r") as f:
        assert "analysis" not in f["entry"] and list(f["entry/data/point_index"][:]) == list(range(total))
    # once the run has ended the fit goes in, through a copy swapped in whole; raw data untouched
    with h5py.File(run.path, "r") as f:
        raw = f["entry/data/moment_Am2"][:]
    r = cli("fit", run.path, "--model", "susceptibility")
    assert r.exit_code == 0, r.output
    with h5py.File(run.path, "r") as f:
        assert np.array_equal(f["entry/data/moment_Am2"][:], raw)
        assert f["entry/analysis/susceptibility/converged"][()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LIVE.h5"]


def test_queue_status_file_is_replaced_whole(tmp_path):
    from loopscope.daq.queue import Queue, _write_status

    q = Queue(path=tmp_path / "night.yaml", name="n", station=tmp_path / "s.yaml", output_dir=tmp_path,
              on_failure="continue", retries=0, notify={}, runs=[])
    _write_status(q, {"queue": "n", "state": "running", "runs": []})
    first = q.status_path.read_text()
    _write_status(q, {"queue": "n", "state": "completed", "runs": []})
    assert yaml.safe_load(q.status_path.read_text())["state"] == "completed" and first != q.status_path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.status.yaml"]

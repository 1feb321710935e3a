"""One run at a time per instrument: a second run, a second station or a notebook on the same
instruments is refused before it sends anything, naming the holder; a dead holder's lock is
free at once; a reconnect never lets go of the lock."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from loopscope.instruments.instrument_lock import (InstrumentBusyError, acquire, canonical_resource, read_holder)
from loopscope.instruments.station import load_station


@pytest.fixture(autouse=True)
def private_lock_dir(tmp_path, monkeypatch):
    """Locks of this test only (children inherit the variable)."""
    monkeypatch.setenv("LOOPSCOPE_LOCK_DIR", str(tmp_path / "locks"))


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def time_series(duration_s=600.0, interval_s=2.0, field=0.02):
    return {"title": "first run", "kind": "time_series", "source": "coil_supply", "detectors": ["gaussmeter"],
            "field": field, "duration_s": duration_s, "interval_s": interval_s}


def rows(path: Path) -> int:
    from loopscope.daq.recovery import open_run_file
    try:
        with open_run_file(path) as f:
            return int(f["entry/data/point_index"].shape[0])
    except (OSError, KeyError):
        return 0


def loopscope(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loopscope", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_rows(proc, path: Path, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while rows(path) < n:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path}: fewer than {n} points after {timeout} s"
        time.sleep(0.01)


def test_canonical_resource_names_one_instrument_one_way():
    assert (canonical_resource("TCPIP0::localhost::7180::SOCKET")
            == canonical_resource("tcpip::127.0.0.1::7180::socket"))
    assert canonical_resource("GPIB0::12::INSTR") == canonical_resource("GPIB::12::INSTR")
    assert canonical_resource("GPIB0::12::INSTR") != canonical_resource("GPIB0::13::INSTR")


def test_second_run_on_the_same_magnet_is_refused_and_the_first_is_unharmed(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory(speed=200.0)
    first_out, second_out = tmp_path / "first.h5", tmp_path / "second.h5"
    first = loopscope("run", str(write(tmp_path / "ts.yaml", time_series())), "--station", str(station),
                      "--out", str(first_out), "--quiet")
    wait_rows(first, first_out, 20)
    sweep = {"title": "second run", "kind": "linear", "source": "coil_supply", "detectors": ["gaussmeter"],
             "sweep": {"start": 0.0, "stop": 0.0, "points": 5}}  # would send the shared coil to 0 T
    second = subprocess.run([sys.executable, "-m", "loopscope", "run", str(write(tmp_path / "sweep.yaml", sweep)),
                             "--station", str(station), "--out", str(second_out)],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    message = second.stderr.strip().splitlines()[-1]
    assert "in use by process" in message and str(first.pid) in message and "first run" not in message
    assert "coil_supply" in message and "Traceback" not in second.stderr
    assert not second_out.exists()
    # the first run goes on at its field: stop it and look at every point it took
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err[-2000:]
    with h5py.File(first_out, "r") as f:
        field = f["entry/data/field_T"][:]
        idx = f["entry/data/point_index"][:]
    assert list(idx) == list(range(len(idx))) and len(idx) >= 20
    assert np.all(np.abs(field - 0.02) < 2e-4), "a point of the first run was taken off its field"


def test_wait_takes_the_instruments_once_the_holder_lets_go(sim_lab_factory, tmp_path):
    lab, station = sim_lab_factory(speed=200.0)
    first_out, second_out = tmp_path / "first.h5", tmp_path / "second.h5"
    first = loopscope("run", str(write(tmp_path / "ts.yaml", time_series(duration_s=200.0))), "--station",
                      str(station), "--out", str(first_out), "--quiet")
    wait_rows(first, first_out, 5)
    second = loopscope("run", str(write(tmp_path / "ts2.yaml", time_series(duration_s=20.0))), "--station",
                       str(station), "--out", str(second_out), "--quiet", "--wait", "120")
    _, err1 = first.communicate(timeout=120)
    _, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1[-2000:]
    assert second.returncode == 0, err2[-2000:]
    with h5py.File(first_out, "r") as f1, h5py.File(second_out, "r") as f2:
        # the second run's first point comes after the first run's last: they never overlapped
        assert f2["entry/data/timestamp"][0] > f1["entry/data/timestamp"][-1]


def test_a_station_in_this_process_is_refused_while_another_holds_it(sim_lab_factory):
    lab, station = sim_lab_factory()
    with load_station(station) as held:
        # the holder's connect (its *IDN? and, for the AMI, its read-only checks) is done
        before = {name: len(inst.command_log) for name, inst in lab.instruments.items()}
        with pytest.raises(InstrumentBusyError, match="in use by process"):
            load_station(station)
        # the refused station sent nothing at all
        assert {name: len(inst.command_log) for name, inst in lab.instruments.items()} == before
        held.roles["coil_supply"].reconnect()  # a reconnect keeps the lock
        with pytest.raises(InstrumentBusyError):
            load_station(station)
    with load_station(station):  # released at close
        pass


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    resource = "TCPIP0::127.0.0.1::59999::SOCKET"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from loopscope.instruments.instrument_lock import acquire
        lock = acquire({resource!r}, instrument="coil_supply", station="bench")
        print("held", flush=True)
        import time; time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(InstrumentBusyError) as refused:
        acquire(resource, instrument="coil")
    assert f"process {holder.pid}" in str(refused.value) and "'bench'" in str(refused.value)
    assert read_holder(resource)["pid"] == holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    lock = acquire(resource, instrument="coil")  # free at once: the system dropped the dead lock
    assert read_holder(resource)["pid"] != holder.pid
    lock.release()
    assert read_holder(resource) is None


def test_serial_ports_are_instruments_of_their_own():
    # a serial resource's number is its port, not a board: COM3 and COM4 are two instruments
    assert canonical_resource("ASRL3::INSTR") != canonical_resource("ASRL4::INSTR")
    assert canonical_resource("ASRL3::INSTR") == canonical_resource("ASRLCOM3::INSTR")
    assert (canonical_resource("ASRL/dev/pts/1::INSTR")
            != canonical_resource("ASRL/dev/pts/2::INSTR"))

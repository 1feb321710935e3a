"""A run file whose writer was killed (SIGKILL, a power cut) is read as it is: the reader,
`loopscope fit` and scripts see every flushed point without clearing HDF5's write marks first."""
import os
import signal
import subprocess
import sys

import pytest

from loopscope.analysis.runfile import read_run

WRITER = r'''
import sys
from pathlib import Path
from loopscope.daq.storage import Column, RunMetadata, RunWriter
cols = [Column("point_index", "1"), Column("timestamp", "s"), Column("elapsed_s", "s"), Column("field_T", "T")]
md = RunMetadata(title="killed", plan_kind="linear", plan_text="", station_text="", operator="", sample={},
                 snapshot={}, software_version="", start_time="")
w = RunWriter(Path(sys.argv[1]), cols, signal="field_T", axes=["elapsed_s"], metadata=md)
i = 0
while True:
    w.append((i, 0.0, i * 0.1, i * 1e-3))
    i += 1
    if i == 500:
        w.flush()
        print("flushed", flush=True)
'''


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_file_left_open_for_writing_by_a_killed_writer_is_read(tmp_path):
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "flushed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = read_run(path)
    assert len(run) >= 500
    assert list(run.get("point_index")[:500]) == list(range(500))
    assert run.get("field_T")[499] == pytest.approx(0.499)

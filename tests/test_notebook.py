"""examples/scripting.ipynb runs top to bottom in a real kernel, and what it claims holds."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "scripting.ipynb"


def test_the_example_notebook_runs_and_ends_safe(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPSCOPE_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ))       # raises CellExecutionError on any failing cell
    outputs = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                        for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "('completed', 31)" in outputs
    assert "interrupted; coil current now 0.0 A" in outputs
    assert "('aborted'" in outputs
    for name, status in (("coil_sweep.h5", b"completed"), ("up_and_back.h5", b"completed"),
                         ("interrupted.h5", b"aborted")):
        with h5py.File(tmp_path / name, "r") as f:
            assert f["entry/status"][()].strip(b"\x00 ") == status, name

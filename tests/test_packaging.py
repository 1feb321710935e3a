"""Everything installs under the one name `loopscope`.

PyPI has an `analysis` and a `daq`, and a user's own `analysis/` folder beside a notebook would
shadow a top-level one of ours; so the folders at the top of the repository are installed as
`loopscope.analysis`, `loopscope.daq`, ... (pyproject's package-dir), and nothing of ours may
import them by their bare names (from the repository root both would load, as two copies of
every module).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("daq", "instruments", "gui", "analysis", "sim_devices")


def tracked(pattern: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:            # not a git checkout (a source tarball): walk the tree
        return [p for p in ROOT.rglob(pattern) if ".venv" not in p.parts]
    return [ROOT / line for line in out.stdout.split()]


def test_every_package_folder_is_mapped_into_the_namespace():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, dirs = set(setup["packages"]), setup["package-dir"]
    assert all(name == "loopscope" or name.startswith("loopscope.") for name in listed)
    assert {dirs[f"loopscope.{f}"] for f in FOLDERS} == set(FOLDERS)
    for folder in (*FOLDERS, "loopscope"):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            name = ".".join(rel) if rel[0] == "loopscope" else ".".join(("loopscope", *rel))
            assert name in listed, f"{init.parent} is a package but not in pyproject's packages"
    for sub in (ROOT / "examples").rglob("*.yaml"):
        rel = sub.parent.relative_to(ROOT).parts
        assert ".".join(("loopscope", *rel)) in listed, f"{sub.parent} is not packaged"


BARE = re.compile(rf"^\s*(?:from|import)\s+({'|'.join(FOLDERS)})(?:\.|\s|$)", re.M)


def test_nothing_imports_our_folders_by_their_bare_names():
    offenders = []
    for path in tracked("*.py"):
        for match in BARE.finditer(path.read_text(encoding="utf-8")):
            line = path.read_text(encoding="utf-8")[:match.start()].count("\n") + 1
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0).strip()}")
    assert not offenders, "import these as loopscope.<folder>:\n" + "\n".join(offenders)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(folder), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = folder.glob("loopscope-*.whl")
    return built


def test_the_wheel_holds_only_loopscope(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"loopscope", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for needed in ("loopscope/daq/runner.py", "loopscope/instruments/roles/ami430.py",
                   "loopscope/sim_devices/instruments/sr830.py",
                   "loopscope/analysis/kernels/__init__.py",
                   "loopscope/examples/station_sim.yaml",
                   "loopscope/examples/plans/hysteresis_loop.yaml",
                   "loopscope/examples/queues/overnight_rings.yaml"):
        assert needed in names, needed


def test_a_plain_install_runs_the_demo(wheel, tmp_path):
    """`pip install .` (not editable) must carry what the demo needs: the example station and
    plans. Installed into a folder of its own and run from elsewhere, so that neither the
    repository nor the editable install can stand in for it."""
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target), QT_QPA_PLATFORM="offscreen")
    probe = subprocess.run([sys.executable, "-c", "import loopscope, loopscope.daq.paths as p; "
                            "print(loopscope.__file__); print(p.SIMULATED_STATION.exists())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert probe.stdout.split() == [str(target / "loopscope" / "__init__.py"), "True"], probe.stderr
    demo = subprocess.run([sys.executable, "-m", "loopscope", "demo", "--quiet", "--out", "demo"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert (elsewhere / "demo" / "hysteresis_loop.h5").exists()
    assert (elsewhere / "demo" / "persistent_currents.h5").exists()

#!/usr/bin/env python3
"""Set up a private virtual environment and run loopscope or its tests.

    python3 quickstart.py demo     # the main job on the simulated lab
    python3 quickstart.py test     # the whole test suite

Needs only Python >= 3.10 with pip and venv. The environment lives in .venv/ beside this
file and is (re)installed only when pyproject.toml changes. Any further arguments are
passed on: `python3 quickstart.py demo --out runs/`, `python3 quickstart.py test -k sim`,
or any loopscope subcommand: `python3 quickstart.py sim --speed 10`.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
STAMP = VENV / ".quickstart-stamp"


def venv_python() -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return VENV / sub / exe


def ensure_environment() -> Path:
    wanted = hashlib.sha256((HERE / "pyproject.toml").read_bytes()).hexdigest()
    py = venv_python()
    if py.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return py
    if not py.exists():
        print(f"quickstart: creating virtual environment in {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    print("quickstart: installing loopscope and its test dependencies (first run only)", flush=True)
    pip = [str(py), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["install", "--upgrade", "pip"], check=True)
    subprocess.run(pip + ["install", "-e", f"{HERE}[test]"], check=True)
    STAMP.write_text(wanted)
    return py


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    py = ensure_environment()
    command, rest = argv[0], argv[1:]
    env = dict(os.environ)
    if command == "test":
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        cmd = [str(py), "-m", "pytest", *rest]
    else:
        cmd = [str(py), "-m", "loopscope", command, *rest]
        # hints the commands print ("inspect with: ...") say what the user typed to get here
        env.setdefault("LOOPSCOPE_COMMAND", f"{Path(sys.executable).name} {Path(__file__).name}")
    return subprocess.run(cmd, cwd=HERE, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

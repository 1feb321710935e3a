"""Where the shipped example files are: the repository's examples/ folder, installed as
loopscope/examples/ beside this package (pyproject maps both to the same place)."""
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
PLANS_DIR = EXAMPLES_DIR / "plans"
SIMULATED_STATION = EXAMPLES_DIR / "station_sim.yaml"

"""Where the shipped example files are (the repository's examples/ folder)."""
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
PLANS_DIR = EXAMPLES_DIR / "plans"
SIMULATED_STATION = EXAMPLES_DIR / "station_sim.yaml"

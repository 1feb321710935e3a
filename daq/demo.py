"""`loopscope demo`: the simulated lab started in-process, two sweeps run on it.

Everything goes through the same path as a real lab: the station file (with the simulated
lab's ports and speed-up put in), pyvisa-py over loopback TCP, the Runner, the HDF5 writer.
"""
from __future__ import annotations

from pathlib import Path

from loopscope.daq.paths import PLANS_DIR, SIMULATED_STATION
from loopscope.daq.plans import load_plan

# (plan file, simulated-lab sample, output file name)
DEMO_RUNS = (
    ("persistent_current_sweep.yaml", "rings", "persistent_currents.h5"),
    ("hysteresis_loop.yaml", "soft_core", "hysteresis_loop.h5"),
)


def _lab_config(lab) -> dict:
    """The configuration of a lab in this process (SimulatedLab: its world's) or in a child
    process (LabProcess: the one it was started with)."""
    from loopscope.sim_devices.config import load_config

    world = getattr(lab, "world", None)
    return world.config if world is not None else load_config(lab.config)


def _lab_model(lab, slot: str) -> str:
    """The model in a slot of the lab."""
    from loopscope.sim_devices.config import model_of

    return model_of(_lab_config(lab), slot)


#: temperature-controller model of the lab -> the example station with its entry (the default
#: station has the Lake Shore 336's)
_TEMPERATURE_STATIONS = {"lakeshore372": "station_sim_dilution_fridge.yaml",  # dilution refrigerator
                         "mercury_itc": "station_sim_mercury_itc.yaml"}      # VTI


def simulated_station(lab, speed: float, **top) -> dict:
    """The simulated-lab station file with the lab's ports and clock speed filled in
    (and any top-level keys overridden, e.g. timeout_s)."""
    from loopscope.safe_yaml import load_yaml_file

    data, _ = load_yaml_file(SIMULATED_STATION, label="station file")
    own = _TEMPERATURE_STATIONS.get(_lab_model(lab, "temperature_controller"))
    if own is not None:
        # a lab with another temperature controller: its entry from that model's station
        other, _ = load_yaml_file(SIMULATED_STATION.with_name(own), label="station file")
        data["instruments"]["temperature_controller"] = other["instruments"]["temperature_controller"]
    if _lab_config(lab)["vector_magnet"]["enabled"]:
        # a vector-magnet lab: the x and y supplies and the vector magnet of its station
        vm, _ = load_yaml_file(SIMULATED_STATION.with_name("station_sim_vector_magnet.yaml"),
                               label="station file")
        for name in ("magnet_supply_x", "magnet_supply_y"):
            data["instruments"][name] = vm["instruments"][name]
        data["vector_magnets"] = vm["vector_magnets"]
    data["time_scale"] = speed
    data.update(top)
    for name, entry in data["instruments"].items():
        if name in lab.resources:
            entry["resource"] = lab.resources[name]
        if "voltmeter_resource" in entry:
            entry["voltmeter_resource"] = lab.resources["nanovoltmeter"]
    return data


def run_one(plan_path: Path, sample_kind: str, out: Path, speed: float, seed: int, quiet: bool,
            overwrite: bool = False):
    from loopscope.daq.cli import run_until_finished
    from loopscope.daq.runner import Runner
    from loopscope.daq.plan_against_station import plan_instruments
    from loopscope.daq.runner import check_plan_against_station
    from loopscope.instruments.station import load_station, validate_station
    from loopscope import __version__
    from loopscope.sim_devices.lab import SimulatedLab

    plan = load_plan(plan_path)
    with SimulatedLab({"sample": {"kind": sample_kind}}, seed=seed, speed=speed) as lab:
        station_data = simulated_station(lab, speed)
        check_plan_against_station(plan, plan_instruments(validate_station(station_data)))
        with load_station(station_data) as station:
            runner = Runner(station, plan, out, overwrite=overwrite, software_version=__version__,
                            extra_metadata={"simulated_lab": f"sample {sample_kind}, seed {seed}, speed x{speed:g}"})
            return run_until_finished(runner, quiet=quiet)


def check_demo_outputs(out_dir: Path, overwrite: bool = False) -> None:
    """Refuse (OutputFileError) before anything runs if a demo file exists in out_dir and
    overwrite is not set, or if one is being written."""
    from loopscope.daq.output_files import check_new_output

    for _, _, out_name in DEMO_RUNS:
        check_new_output(out_dir / out_name, overwrite, what="demo output file")


def run_demo(out_dir: Path, speed: float = 200.0, seed: int = 1, quiet: bool = False, overwrite: bool = False):
    """Both demo runs into out_dir; an existing demo file is replaced only with overwrite=True."""
    check_demo_outputs(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for plan_file, sample_kind, out_name in DEMO_RUNS:
        results.append(run_one(PLANS_DIR / plan_file, sample_kind, out_dir / out_name, speed, seed, quiet,
                               overwrite=overwrite))
        if results[-1].interrupted_by:  # Ctrl-C: the run went to its safe state; no second run
            break
    return results

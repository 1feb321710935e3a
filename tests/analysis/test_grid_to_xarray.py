"""A grid plan's file comes back from to_xarray() 2-D: (outer_index, field_setpoint_T), every
sweep in field order whichever way it ran, units kept, unmeasured points NaN."""
import numpy as np
import pytest

from loopscope.analysis.runfile import read_run
from loopscope.daq.plans import load_plan
from loopscope.daq.runner import Runner
from loopscope.instruments.memory import MemoryStation

GRID = {"title": "grid", "kind": "grid", "outer": {"quantity": "temperature", "values": [2.0, 3.0, 4.0]},
        "sweep": {"start": 0.0, "stop": 0.02, "points": 5}, "detectors": ["flux_readout", "thermometer"]}


def test_a_serpentine_grid_is_reshaped_in_field_order(tmp_path):
    result = Runner(MemoryStation(), load_plan(GRID), tmp_path / "g.h5").run()
    run = read_run(result.path)
    ds = run.to_xarray()
    assert ds["flux_phi0"].dims == ("outer_index", "field_setpoint_T")
    assert list(ds["field_setpoint_T"].values) == pytest.approx([0.0, 0.005, 0.01, 0.015, 0.02])
    assert list(ds["outer_temperature_setpoint_K"].values) == [2.0, 3.0, 4.0]
    # the middle sweep ran downwards (no return between sweeps): its points are put in field order
    assert ds["point_index"].values.tolist() == [[0, 1, 2, 3, 4], [9, 8, 7, 6, 5], [10, 11, 12, 13, 14]]
    flat = run.to_xarray(grid=False)
    k = int(ds["point_index"].values[1, 0])
    assert float(ds["flux_phi0"][1, 0]) == float(flat["flux_phi0"][k])
    assert ds["flux_phi0"].attrs["units"] == "Phi0" and ds["field_setpoint_T"].attrs["units"] == "T"
    # each row's field is the sweep's: the source read back what was set
    assert np.allclose(ds["field_T"].values, ds["field_setpoint_T"].values[None, :])


def test_an_aborted_grid_has_nan_where_nothing_was_measured(tmp_path):
    station = MemoryStation()
    runner = Runner(station, load_plan(GRID), tmp_path / "a.h5")
    probe, count = station.roles["flux_readout"], [0]
    read = probe.read_flux_phi0

    def reading():
        count[0] += 1
        if count[0] == 7:
            runner.abort("stopped in the second sweep")
        return read()
    probe.read_flux_phi0 = reading
    assert runner.run().status == "aborted"
    ds = read_run(runner.out_path).to_xarray()
    assert ds["flux_phi0"].shape == (2, 5)      # the third sweep never started
    assert np.isnan(ds["flux_phi0"].values[1]).sum() == 3 and not np.isnan(ds["flux_phi0"].values[0]).any()

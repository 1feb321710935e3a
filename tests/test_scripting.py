"""`import loopscope`: a sweep from a script in a few lines, safe on Ctrl-C, data back as data."""
from __future__ import annotations

import random
import signal
import threading
import time

import h5py
import numpy as np
import pytest

import loopscope

SPEED = 500.0


def linear(points=11, stop=0.02, **kw):
    return {"title": "scripted sweep", "kind": "linear", "source": "coil_supply",
            "detectors": ["gaussmeter"], "sweep": {"start": 0.0, "stop": stop, "points": points},
            **kw}


def test_a_sweep_in_a_few_lines_and_its_data_as_pandas_and_xarray(tmp_path):
    with loopscope.simulated_lab(speed=SPEED) as lab, loopscope.connect(lab) as station:
        assert station.time_scale == SPEED                 # the station's clock is the lab's
        result = loopscope.run(linear(), station, tmp_path / "sweep.h5", progress=False)
        assert result.status == "completed", result.reason
        # an existing file is never overwritten unless asked
        with pytest.raises(Exception, match="exists"):
            loopscope.run(linear(), station, tmp_path / "sweep.h5", progress=False)
        again = loopscope.run(linear(), station, tmp_path / "sweep.h5", new_name=True,
                              progress=False)
        assert again.path.name == "sweep_1.h5"
    data = loopscope.read_run(result.path)
    df = data.to_pandas()
    assert len(df) == 11 and df.index.name == "point_index"
    assert np.allclose(df["field_setpoint_T"], np.linspace(0, 0.02, 11))
    assert df.attrs["units"]["probe_field_T"] == "T"
    # the Hall probe saw the coil's field (an independent reading of what was set)
    assert np.allclose(df["probe_field_T"], df["field_setpoint_T"], atol=1e-3)
    ds = data.to_xarray()
    assert ds.sizes == {"point": 11}
    assert ds["probe_field_T"].attrs["units"] == "T" and ds["field_T"].dims == ("point",)
    assert list(ds["point"].values) == list(range(11))


def test_plans_as_dicts_models_yaml_text_and_files_are_one_plan(tmp_path):
    from loopscope.daq.plans import load_plan

    text = ("title: t\nkind: linear\nsource: coil_supply\ndetectors: [gaussmeter]\n"
            "sweep: {start: 0, stop: 0.01, points: 3}\n")
    (tmp_path / "p.yaml").write_text(text)
    plans = [loopscope.load_plan(x) for x in
             (text, tmp_path / "p.yaml", str(tmp_path / "p.yaml"),
              {"title": "t", "kind": "linear", "source": "coil_supply", "detectors": ["gaussmeter"],
               "sweep": {"start": 0, "stop": 0.01, "points": 3}})]
    plans.append(loopscope.load_plan(load_plan(text).model))      # the pydantic model itself
    assert len({p.model.model_dump_json() for p in plans}) == 1


def test_a_bad_plan_touches_nothing(tmp_path):
    with loopscope.simulated_lab(speed=SPEED) as lab, loopscope.connect(lab) as station:
        lab.clear_command_log()
        with pytest.raises(Exception, match="beyond the field limit"):
            loopscope.run(linear(stop=5.0), station, tmp_path / "big.h5", progress=False)
        assert not any(lab.command_log().values())
        assert not (tmp_path / "big.h5").exists()


def test_ctrl_c_at_random_moments_ends_at_the_safe_state_with_the_file_closed(tmp_path, interactive_ctrl_c):
    """As a notebook's "interrupt the kernel": SIGINT while loopscope.run() runs in the main
    thread. Then the coil is at 0 A, the file is closed as aborted, and KeyboardInterrupt."""
    rng = random.Random(7)
    with loopscope.simulated_lab(speed=200.0) as lab, loopscope.connect(lab) as station:
        k = station.get("coil_supply").coil_constant_T_per_A
        for rep in range(4):
            stop_T, fraction = 0.05, rng.uniform(0.05, 0.8)

            def interrupt_when_the_field_is_up():
                deadline = time.monotonic() + 60
                while lab.world.coil.current_setpoint_A * k < fraction * stop_T \
                        and time.monotonic() < deadline:
                    time.sleep(0.001)
                signal.raise_signal(signal.SIGINT)   # handled in the main thread, as Ctrl-C

            threading.Thread(target=interrupt_when_the_field_is_up, daemon=True).start()
            with pytest.raises(KeyboardInterrupt):
                loopscope.run(linear(points=400, stop=stop_T), station, tmp_path / f"c{rep}.h5",
                              progress=False)
            assert abs(lab.world.coil.current_setpoint_A) < 1e-9, rep    # read from the lab
            with h5py.File(tmp_path / f"c{rep}.h5", "r") as f:
                assert f["entry/status"][()].strip(b"\x00 ").decode() == "aborted"
                assert f["entry/end_time"][()].strip(b"\x00 ")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_run_in_the_background_can_be_paused_and_aborted(tmp_path):
    with loopscope.simulated_lab(speed=200.0) as lab, loopscope.connect(lab) as station:
        handle = loopscope.run(linear(points=2000, stop=0.05), station, tmp_path / "bg.h5",
                               background=True, progress=False)
        deadline = time.monotonic() + 60
        while handle.points_done < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        handle.pause()
        paused_at = handle.points_done
        handle.abort("enough")
        result = handle.wait(120)
        assert result is not None and result.status == "aborted" and "enough" in result.reason
        assert result.ended_by == "aborted"
        assert result.points <= paused_at + 1
        assert abs(lab.world.coil.current_setpoint_A) < 1e-9
        assert handle.finished and "finished" in repr(handle)


def test_the_file_opens_in_xarray_with_its_coordinate(tmp_path):
    """NXdata's point_index is the columns' HDF5 dimension scale: netCDF readers see one
    dimension with its values, not a phony_dim_0."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    with loopscope.simulated_lab(speed=SPEED) as lab, loopscope.connect(lab) as station:
        result = loopscope.run(linear(points=7), station, tmp_path / "nc.h5", progress=False)
    with xr.open_dataset(result.path, engine="h5netcdf", group="entry/data") as ds:
        assert dict(ds.sizes) == {"point_index": 7}
        assert list(ds["point_index"].values) == list(range(7))
        assert ds["probe_field_T"].dims == ("point_index",)
        assert ds["probe_field_T"].attrs["units"] == "T"
        assert np.allclose(ds["field_setpoint_T"].values, np.linspace(0, 0.02, 7))

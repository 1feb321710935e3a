"""QCoDeS's AMIModel4303D (written by others for three real AMI 430s on a vector magnet)
driving the simulated lab's three AMI 430 twins over pyvisa-py TCP. The field vector is read
from the simulated world, not from the client: the twins of the x and y split pairs answer as
430s and move their own magnets, and QCoDeS's decreasing-axes-first ramp reaches the world."""
from __future__ import annotations

import numpy as np
import pytest

qcodes = pytest.importorskip("qcodes")
from qcodes.instrument import Instrument  # noqa: E402
from qcodes.instrument_drivers.american_magnetics import AMIModel430, AMIModel4303D  # noqa: E402

from loopscope.sim_devices import SimulatedLab  # noqa: E402
from .conftest import SPEED, unique, world_now  # noqa: E402


@pytest.fixture
def vector_lab():
    lab = SimulatedLab("vector_magnet", seed=0, speed=SPEED).start()
    yield lab
    Instrument.close_all()
    lab.stop()


def axis(lab, slot):
    ami = AMIModel430(unique(f"ami_{slot}"), lab.resources[slot], visalib="@py", terminator="\r\n", timeout=5)
    ami.field_units("tesla")
    ami.ramp_rate_units("minutes")
    ami.ramp_rate(0.06)                       # T/min: below QCoDeS's 0.06 A/s on the 0.02 T/A pairs
    return ami


def test_qcodes_sets_a_field_vector_on_the_three_twins(vector_lab):
    lab = vector_lab
    x, y, z = (axis(lab, s) for s in ("magnet_supply_x", "magnet_supply_y", "magnet_supply"))
    z.switch_heater.state(True)               # the solenoid's switch (the pairs have none)
    vec = AMIModel4303D(unique("vector"), x, y, z, field_limit=1.0)
    vec.cartesian((0.05, -0.02, 0.06))        # blocks until every axis holds
    assert world_now(lab).field_vector_T == pytest.approx((0.05, -0.02, 0.06), abs=2e-5)
    assert vec.cartesian_measured() == pytest.approx([0.05, -0.02, 0.06], abs=2e-5)
    # x shrinks, y grows: the client ramps x first and y once x holds; z stays
    lab.clear_command_log()
    vec.cartesian((0.02, -0.05, 0.06))

    def targets(slot):
        return [t for t, line in lab.instruments[slot].command_log if line.startswith("CONF:FIELD:TARG")]
    assert targets("magnet_supply_x") and targets("magnet_supply_y") and not targets("magnet_supply")
    assert max(targets("magnet_supply_x")) < min(targets("magnet_supply_y"))
    assert world_now(lab).field_vector_T == pytest.approx((0.02, -0.05, 0.06), abs=2e-5)
    # beyond its limit the client refuses before any twin is told anything
    lab.clear_command_log()
    with pytest.raises(ValueError, match="field would exceed limit"):
        vec.cartesian((0.8, 0.0, 0.8))
    assert all(not line.startswith("CONF:FIELD:TARG") for lines in lab.command_log().values() for line in lines)
    vec.cartesian((0.0, 0.0, 0.0))
    assert np.allclose(world_now(lab).field_vector_T, 0.0, atol=2e-5)
    for name in ("magnet_supply_x", "magnet_supply_y", "magnet_supply"):
        assert lab.instruments[name].errors == [], name    # nothing the client asked was unknown

"""QCoDeS's CryomagneticsModel4G (qcodes.instrument_drivers.cryomagnetics) on the simulated 4G
in the magnet_supply slot: its constructor's writes, its readings and a blocking set_field,
each effect read from the twin and the lab's world, never from QCoDeS itself."""
from __future__ import annotations

import pytest

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices import magnet as mg

from .conftest import SPEED, unique, wait_until, world_now

cryo = pytest.importorskip("qcodes.instrument_drivers.cryomagnetics")

#: range index -> (upper current A, rate A/s), the shape of QCoDeS's example notebook
LIMITS = {1: (40.0, 0.04), 2: (60.0, 0.02), 3: (80.0, 0.01), 4: (90.0, 0.01)}


@pytest.fixture
def lab():
    lab = SimulatedLab("cryomagnetics4g_magnet", seed=0, speed=SPEED).start()
    yield lab
    from qcodes.instrument import Instrument
    Instrument.close_all()
    lab.stop()


@pytest.fixture
def magnet(lab):
    inst = cryo.CryomagneticsModel4G(unique("cryo4g"), lab.resources["magnet_supply"],
                                     max_current_limits=LIMITS, coil_constant=0.1)
    yield inst
    inst.close()


def test_constructor_sends_ranges_and_rates_before_remote_then_tesla(lab, magnet):
    sim = lab.instruments["magnet_supply"]
    assert magnet.IDN()["vendor"] == "Cryomagnetics" and magnet.IDN()["model"] == "4G"
    assert sim.remote is True and sim.units == "T"
    sent = [line for _, line in sim.command_log]
    # QCoDeS writes RANGE/RATE first and REMOTE after them: a 4G still in local mode (as at
    # power-on) refuses them (EXE), which QCoDeS does not read back; the ranges stay
    assert sent.index("RANGE 1 40.0") < sent.index("RATE 1 0.04") < sent.index("REMOTE")
    assert sim.esr & 16
    assert sim.range_bounds == [22.5, 45.0, 67.5, 81.0, 90.0]      # the twin's own
    assert sim.rates[1:5] == [0.02] * 4
    assert magnet.units() == "T"


def test_constructor_on_a_supply_already_remote_sets_ranges_and_rates(lab):
    sim = lab.instruments["magnet_supply"]
    sim.remote = True                          # left in remote by an earlier session
    inst = cryo.CryomagneticsModel4G(unique("cryo4g"), lab.resources["magnet_supply"],
                                     max_current_limits=LIMITS, coil_constant=0.1)
    try:
        assert inst.units() == "T"
        assert sim.range_bounds[1:] == [40.0, 60.0, 80.0, 90.0]
        assert sim.rates[1:5] == [0.04, 0.02, 0.01, 0.01]
        assert sim.esr & 0x30 == 0             # nothing it sent was refused
    finally:
        inst.close()


def test_readings_parse(lab, magnet):
    assert magnet.field() == 0.0
    assert magnet.Iout() == 0.0
    assert abs(magnet.Vmag()) < 0.01 and abs(magnet.Vout()) < 0.01
    # its rate reads RATE? (range 0, the twin's default 0.02 A/s) in T/min
    assert magnet.rate() == pytest.approx(0.02 * 60 * 0.1)


def test_set_field_sweeps_the_magnet_and_pauses(lab, magnet):
    magnet.write("PSHTR ON")                   # QCoDeS leaves the switch heater to the user
    # the write returns before the twin has read it: wait for the heater, then the switch
    assert wait_until(lambda: world_now(lab).magnet.heater_on
                      and world_now(lab).magnet.state != mg.HEATING, timeout=10)
    magnet.set_field(0.2, block=True)          # ULIM 2 kG, SWEEP UP, waits, SWEEP PAUSE
    m = world_now(lab).magnet
    assert m.I_s == pytest.approx(2.0, abs=0.03) and m.I_m == pytest.approx(m.I_s)
    assert m.state in (mg.PAUSED, mg.HOLDING) and not m.quenched
    sent = [line for _, line in lab.instruments["magnet_supply"].command_log]
    assert sent.index("ULIM 2.0") < sent.index("SWEEP UP") < sent.index("SWEEP PAUSE")
    assert magnet.field() == pytest.approx(0.2, abs=3e-3)
    magnet.set_field(0.1, block=True)          # LLIM, SWEEP DOWN
    assert world_now(lab).magnet.I_s == pytest.approx(1.0, abs=0.03)


def test_a_quench_stops_it_from_ramping(lab, magnet):
    with lab.world.lock:
        lab.world.magnet.quench("test")
    with pytest.raises(cryo.Cryomagnetics4GException, match="quench"):
        magnet.magnet_operating_state()        # *STB? bit 2
    magnet.quenched_state_reset()              # QRESET: the write returns before it is read
    assert wait_until(lambda: not world_now(lab).magnet.quenched, timeout=5)

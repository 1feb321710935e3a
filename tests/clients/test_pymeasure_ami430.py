"""pymeasure's stock AMI430 driver on the simulated 430, and the command/reply pairs pymeasure
recorded for it (tests/instruments/ami/test_ami430.py in the pymeasure repository) replayed to
the simulator: same form of reply."""
from __future__ import annotations

import pytest

from pymeasure.instruments.ami import AMI430

from loopscope.sim_devices import magnet as mg
from .conftest import RawLine, wait_until, world_now  # noqa: E402


@pytest.fixture
def magnet(lab):
    # the 430 ends its replies with \r\n; the stock driver's default \n would leave a \r
    inst = AMI430(lab.resources["magnet_supply"], read_termination="\r\n", timeout=5000)
    yield inst
    inst.adapter.close()


def test_recorded_persistent_switch_pairs_have_the_same_form(lab):
    raw = RawLine(lab.resources["magnet_supply"], b"\r\n")
    try:
        raw.read_line(), raw.read_line()                      # the welcome lines
        assert raw.ask(b"PSwitch?") == b"0"                   # recorded: b"1" / b"0"
        assert raw.answers_nothing(b"PSwitch 1")              # recorded: no reply
        assert lab.world.magnet.heater_on
        assert wait_until(lambda: world_now(lab).magnet.state == mg.PAUSED)
        assert raw.ask(b"PSwitch?") == b"1"
        assert raw.answers_nothing(b"PSwitch 0")
        assert not lab.world.magnet.heater_on
    finally:
        raw.close()


def test_stock_driver_reads_and_sets(magnet, lab):
    m = lab.world.magnet
    assert magnet.coilconst == pytest.approx(1.0)             # kG/A
    assert magnet.voltage_limit == pytest.approx(m.voltage_limit_V)
    assert magnet.magnet_current == 0.0 and magnet.supply_current == 0.0 and magnet.field == 0.0
    assert magnet.magnet_status == "PAUSED"
    rate, upper = magnet.ramp_rate_current                    # "rate,upper bound"
    assert rate == pytest.approx(m.segments[0][0]) and upper == pytest.approx(m.segments[0][1])
    magnet.voltage_limit = 1.5
    magnet.ramp_rate_current = 0.03                           # CONF:RAMP:RATE:CURR 1,0.03
    magnet.target_current = 1.5
    assert magnet.target_current == pytest.approx(1.5)        # a query: the writes are done
    assert m.voltage_limit_V == 1.5 and m.segments[0][0] == pytest.approx(0.03)
    assert m.target_A == 1.5
    magnet.target_field = 0.5                                 # kG
    assert magnet.target_field == pytest.approx(0.5) and m.target_A == pytest.approx(0.5)
    # the stock ramp_to_current: heater on, target, rate, wait for a resting state, RAMP
    magnet.ramp_to_current(1.0, 0.02)
    assert wait_until(lambda: world_now(lab).magnet.state == mg.HOLDING)
    assert m.I_m == pytest.approx(1.0) and lab.world.field_T == pytest.approx(0.1, abs=2e-3)
    assert magnet.magnet_status == "HOLDING" and magnet.field == pytest.approx(1.0, abs=1e-6)
    magnet.zero()
    assert wait_until(lambda: world_now(lab).magnet.state == mg.AT_ZERO)
    assert magnet.magnet_status == "AT ZERO CURRENT"
    assert magnet.check_errors() == []

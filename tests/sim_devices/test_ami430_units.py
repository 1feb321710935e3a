"""The simulated AMI 430's units and ramp segments, over TCP, and pymeasure's stock driver on it.

FIELD:UNITS (0 kG, 1 T) and RAMP:RATE:UNITS (0 per second, 1 per minute) change every field,
coil constant and ramp rate the programmer takes and answers, as the AMI 430 manual says;
currents stay in A. The stock pymeasure AMI430 driver (which documents kG and per second) is an
independent client: each of its properties must read what the world holds, in the units the
programmer is in.
"""
import math

import pytest

from loopscope.sim_devices.magnet import HOLDING, SuperconductingMagnet

from .conftest import open_inst, wait_until


def q(inst, command):
    return inst.query(command).strip()


def floats(reply):
    return [float(x) for x in reply.split(",")]


def test_units_change_every_field_and_rate_reply(lab_factory, rm):
    lab = lab_factory()
    m = lab.world.magnet
    a = open_inst(rm, lab, "magnet_supply")
    assert (q(a, "FIELD:UNITS?"), q(a, "RAMP:RATE:UNITS?")) == ("0", "0")   # kG, per second
    assert float(q(a, "COIL?")) == pytest.approx(1.0)                       # kG/A
    assert floats(q(a, "RAMP:RATE:FIELD:1?")) == pytest.approx([0.02, 90.0])   # kG/s, kG
    assert floats(q(a, "RAMP:RATE:CURR:1?")) == pytest.approx([0.02, 90.0])   # A/s, A

    a.write("CONF:FIELD:UNITS 1")
    assert q(a, "FIELD:UNITS?") == "1"
    assert float(q(a, "COIL?")) == pytest.approx(0.1)                       # T/A
    assert floats(q(a, "RAMP:RATE:FIELD:1?")) == pytest.approx([0.002, 9.0])  # T/s, T
    a.write("CONF:FIELD:TARG 1.5")                                          # tesla
    assert float(q(a, "CURR:TARG?")) == pytest.approx(15.0)
    assert m.target_A == pytest.approx(15.0)
    assert float(q(a, "FIELD:TARG?")) == pytest.approx(1.5)

    a.write("CONF:RAMP:RATE:UNITS 1")                                       # per minute
    assert q(a, "RAMP:RATE:UNITS?") == "1"
    assert floats(q(a, "RAMP:RATE:FIELD:1?")) == pytest.approx([0.12, 9.0])   # T/min
    assert floats(q(a, "RAMP:RATE:CURR:1?")) == pytest.approx([1.2, 90.0])    # A/min
    a.write("CONF:RAMP:RATE:FIELD 1,0.24,5")                                # 0.24 T/min up to 5 T
    q(a, "*OPC?")
    assert m.ramp_rate == pytest.approx(0.04) and m.segments[0][1] == pytest.approx(50.0)
    a.write("CONF:RAMP:RATE:CURR 1,1.8")                                    # A/min, bound kept
    q(a, "*OPC?")
    assert m.ramp_rate == pytest.approx(0.03) and m.segments[0][1] == pytest.approx(50.0)
    a.write("CONF:COIL 0.12")                                               # T/A
    q(a, "*OPC?")
    assert m.coil_constant == pytest.approx(0.12)
    a.write("CONF:FIELD:UNITS 0")
    assert float(q(a, "COIL?")) == pytest.approx(1.2)                       # kG/A
    assert float(q(a, "FIELD:TARG?")) == pytest.approx(15.0 * 1.2)          # kG
    assert float(q(a, "CURR:LIM?")) == pytest.approx(90.0)                  # A in any units
    # an illegal unit code changes nothing
    a.write("CONF:FIELD:UNITS 2")
    a.write("CONF:RAMP:RATE:UNITS T")
    assert (q(a, "FIELD:UNITS?"), q(a, "RAMP:RATE:UNITS?")) == ("0", "1")
    a.close()


def test_the_units_belong_to_the_supply_not_to_a_connection(lab_factory, rm):
    lab = lab_factory()
    first = open_inst(rm, lab, "magnet_supply")
    first.write("CONF:FIELD:UNITS 1")
    q(first, "*OPC?")
    second = open_inst(rm, lab, "magnet_supply")
    assert q(second, "FIELD:UNITS?") == "1" and float(q(second, "COIL?")) == pytest.approx(0.1)
    first.close()
    second.close()


def test_ramp_segments_commands_and_replies(lab_factory, rm):
    lab = lab_factory()
    m = lab.world.magnet
    sim = lab.instruments["magnet_supply"]
    a = open_inst(rm, lab, "magnet_supply")
    a.write("CONF:FIELD:UNITS 1")
    a.write("CONF:RAMP:RATE:UNITS 1")
    a.write("CONF:RAMP:RATE:SEG 2")
    a.write("CONF:RAMP:RATE:FIELD 1,0.24,5")
    a.write("CONF:RAMP:RATE:FIELD 2,0.06,9")
    assert q(a, "RAMP:RATE:SEGMENTS?") == "2"
    assert floats(q(a, "RAMP:RATE:FIELD:2?")) == pytest.approx([0.06, 9.0])
    assert floats(q(a, "RAMP:RATE:CURRENT:2?")) == pytest.approx([0.6, 90.0])  # A/min, A
    assert m.segments[:2] == [pytest.approx([0.04, 50.0]), pytest.approx([0.01, 90.0])]
    # a segment beyond the count in use has no answer (an error, as AMI's parser gives)
    errors = len(sim.errors)
    assert sim.handle_line("RAMP:RATE:FIELD:3?") is None and len(sim.errors) == errors + 1
    for bad in ("CONF:RAMP:RATE:SEG 11", "CONF:RAMP:RATE:SEG 0",
                "CONF:RAMP:RATE:FIELD 11,0.1,9", "CONF:RAMP:RATE:FIELD 1,0,9"):
        sim.handle_line(bad)
    assert m.segment_count == 2 and m.segments[0] == pytest.approx([0.04, 50.0])
    a.close()


def _bare_magnet(**over):
    params = dict(coil_constant_T_per_A=0.1, inductance_H=1.0, max_current_A=90.0,
                  max_ramp_rate_A_per_s=1.0, persistent_decay_tau_s=1e12, switch_installed=False,
                  heater_warm_s=0.0, heater_cool_s=0.0, mismatch_tolerance_A=0.1,
                  quench_dump_tau_s=0.5, voltage_limit_V=10.0, ramp_rate_A_per_s=0.04,
                  current_limit_A=90.0)
    params.update(over)
    return SuperconductingMagnet(**params)


def test_the_magnet_ramps_at_the_rate_of_the_segment_its_current_is_in():
    m = _bare_magnet()
    m.segment_count = 2
    m.segments[0] = [0.04, 1.0]          # 0.04 A/s up to 1 A
    m.segments[1] = [0.01, 90.0]         # 0.01 A/s beyond
    m.target_A = 2.0
    m.ramp()
    m.advance(30.0)                      # 25 s to 1 A, then 5 s at 0.01 A/s
    assert m.I_s == pytest.approx(1.05)
    m.advance(94.0)
    assert m.I_s == pytest.approx(1.99) and m.state != HOLDING
    m.advance(1.0)
    assert m.I_s == 2.0 and m.state == HOLDING
    # down through both segments and across zero: 100 s + 25 s to 0, 25 s more to -1 A
    m.target_A = -1.0
    m.ramp()
    m.advance(100.0)
    assert m.I_s == pytest.approx(1.0)
    m.advance(50.0)
    assert m.I_s == pytest.approx(-1.0) and m.state == HOLDING
    # the whole way in one step: the same end point, by closed forms
    one = _bare_magnet()
    one.segment_count, one.segments[0], one.segments[1] = 2, [0.04, 1.0], [0.01, 90.0]
    one.target_A = 2.0
    one.ramp()
    one.advance(124.0)
    assert one.I_s == pytest.approx(1.99)


def test_the_voltage_limit_caps_every_segment():
    m = _bare_magnet(voltage_limit_V=0.02)        # 0.02 V into 1 H: at most 0.02 A/s
    m.target_A = 1.0
    m.ramp()
    m.advance(10.0)
    assert m.I_s == pytest.approx(0.2)
    assert math.isclose(m.effective_ramp_rate(), 0.02)


def test_pymeasure_stock_ami430_reads_right_in_tesla_per_minute(lab_factory):
    from pymeasure.instruments.ami import AMI430
    lab = lab_factory(speed=2000)
    m = lab.world.magnet
    ami = AMI430(lab.resources["magnet_supply"], visa_library="@py")
    assert ami.id.startswith("AMERICAN MAGNETICS INC.,MODEL 430,")
    ami.write("CONF:FIELD:UNITS 1")
    ami.write("CONF:RAMP:RATE:UNITS 1")
    assert ami.coilconst == pytest.approx(0.1)                     # T/A
    assert ami.voltage_limit == pytest.approx(2.0)
    ami.target_field = 0.2                                         # CONF:FIELD:TARG 0.2 (T)
    assert ami.target_current == pytest.approx(2.0)
    assert ami.target_field == pytest.approx(0.2)
    assert m.target_A == pytest.approx(2.0)
    ami.ramp_rate_current = 1.2                                    # CONF:RAMP:RATE:CURR 1,1.2 (A/min)
    assert ami.ramp_rate_current == pytest.approx([1.2, 90.0])     # "rate,upper bound"
    assert m.ramp_rate == pytest.approx(0.02)
    ami.ramp_rate_field = 0.12                                     # ...FIELD 1,0.12,1.00: T/min, T
    assert ami.ramp_rate_field == pytest.approx([0.12, 1.0])
    assert m.ramp_rate == pytest.approx(0.02) and m.segments[0][1] == pytest.approx(10.0)
    ami.enable_persistent_switch()
    ami.wait_for_holding(interval=0.005, timeout=10)
    ami.ramp()
    assert wait_until(lambda: ami.state == 2)
    assert ami.magnet_status == "HOLDING"
    assert ami.field == pytest.approx(0.2, abs=1e-6)                # T
    assert ami.magnet_current == pytest.approx(2.0, abs=1e-5)
    assert ami.supply_current == pytest.approx(2.0, abs=1e-5)
    # the same supply in kilogauss and per second: the stock driver's documented units
    ami.write("CONF:FIELD:UNITS 0")
    ami.write("CONF:RAMP:RATE:UNITS 0")
    assert ami.coilconst == pytest.approx(1.0)                     # kG/A
    assert ami.field == pytest.approx(2.0, abs=1e-5)               # kG
    assert ami.target_field == pytest.approx(2.0)
    assert ami.ramp_rate_field == pytest.approx([0.02, 10.0])      # kG/s, kG
    assert ami.ramp_rate_current == pytest.approx([0.02, 10.0])    # A/s, A
    ami.adapter.close()

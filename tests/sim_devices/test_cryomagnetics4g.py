"""The Cryomagnetics 4G twin in the magnet_supply slot: its commands and reply formats, the
sweep at the range rate within the magnet's voltage limit, the heater's warm and cool times,
persistent mode (IMAG? holds the value at heater-off while the magnet decays), a quench, and
the echo of its RS-232 port. Progress is polled from the lab's world, never slept for."""
from __future__ import annotations

import math
import re
import sys

import pytest
import pyvisa

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices import magnet as mg

from .conftest import wait_until

PROFILE = "cryomagnetics4g_magnet"


@pytest.fixture
def lab():
    with SimulatedLab(PROFILE, seed=0, speed=100.0) as running:
        yield running


@pytest.fixture
def supply(lab):
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(lab.resources["magnet_supply"], read_termination="\r\n",
                            write_termination="\r\n", timeout=3000)
    yield inst
    inst.close()
    rm.close()


def world(lab):
    with lab.world.lock:
        lab.world.advance()
        return lab.world.magnet


def esr(supply) -> int:
    return int(supply.query("*ESR?"))


def warm_heater(lab, supply):
    supply.write("PSHTR ON")
    # the write returns before the twin has read it: wait for the heater, then the switch
    assert wait_until(lambda: world(lab).heater_on and world(lab).state != mg.HEATING, timeout=10)


def test_identity_units_and_the_unit_on_every_reading(lab, supply):
    assert supply.query("*IDN?") == "Cryomagnetics,4G,2417,1.02,208"
    assert supply.query("UNITS?") == "A"
    assert re.fullmatch(r"-?\d+\.\d{4}A", supply.query("IMAG?"))
    assert re.fullmatch(r"-?\d+\.\d{4}A", supply.query("IOUT?"))
    assert re.fullmatch(r"-?\d+\.\d{3}V", supply.query("VMAG?"))
    assert supply.query("VLIM?") == "2.000V"
    supply.write("REMOTE")
    supply.write("UNITS G")
    supply.write("ULIM 5")                    # kG: 0.5 T at 0.1 T/A is 5 A
    assert supply.query("UNITS?") == "G"
    assert supply.query("ULIM?") == "5.0000kG"
    supply.write("UNITS A")
    assert supply.query("ULIM?") == "5.0000A"
    supply.write("UNITS T")                   # QCoDeS's choice: readings stay in kG
    assert supply.query("ULIM?") == "5.0000kG"
    assert esr(supply) & 0x30 == 0
    assert supply.query("MODE?") == "Manual"
    assert supply.query("PSHTR?") == "0"


def test_settings_are_refused_in_local_and_unknown_commands_set_cme(lab, supply):
    supply.query("*ESR?")                     # power-on bit
    supply.write("ULIM 3")
    assert esr(supply) == 16                  # EXE: local mode
    assert supply.query("ULIM?") == "0.0000A"
    supply.write("FROBNICATE 3")
    assert esr(supply) == 32                  # CME
    supply.write("REMOTE")
    supply.write("ULIM 3")
    assert esr(supply) == 0 and supply.query("ULIM?") == "3.0000A"
    supply.write("ULIM 95")                   # beyond the supply's 90 A limit
    assert esr(supply) == 16 and supply.query("ULIM?") == "3.0000A"
    supply.write("RATE 6 0.1")                # ranges 0..5 only
    assert esr(supply) == 16


def test_sweeps_at_the_range_rate_and_no_faster_than_the_voltage_limit(lab, supply):
    supply.write("REMOTE")
    warm_heater(lab, supply)
    for k in range(5):
        supply.write(f"RATE {k} 0.01")
    supply.write("ULIM 3")
    supply.write("SWEEP UP")
    assert supply.query("SWEEP?") == "sweep up"
    assert int(supply.query("*STB?")) & 1
    m = world(lab)
    t0, i0 = lab.world.t, m.I_s
    assert wait_until(lambda: world(lab).I_s > i0 + 0.2, timeout=30)
    m = world(lab)
    rate = (m.I_s - i0) / (lab.world.t - t0)
    assert rate == pytest.approx(0.01, rel=0.05)
    # 0.5 A/s asked, but L dI/dt may not pass VLIM: 2 V into 50 H is 0.04 A/s
    for k in range(5):
        supply.write(f"RATE {k} 0.5")
    m = world(lab)
    t0, i0 = lab.world.t, m.I_s
    assert wait_until(lambda: world(lab).I_s > i0 + 0.5, timeout=30)
    m = world(lab)
    assert (m.I_s - i0) / (lab.world.t - t0) == pytest.approx(0.04, rel=0.05)
    assert float(supply.query("VMAG?").rstrip("V")) == pytest.approx(2.0, abs=0.05)
    assert not m.quenched
    assert wait_until(lambda: world(lab).state == mg.HOLDING, timeout=60)
    assert supply.query("IOUT?") == "3.0000A" and supply.query("SWEEP?") == "sweep paused"
    assert int(supply.query("*STB?")) & 1 == 0
    supply.write("SWEEP ZERO FAST")
    assert supply.query("SWEEP?") == "zeroing fast"
    assert wait_until(lambda: world(lab).I_s == 0.0, timeout=60)
    assert supply.query("SWEEP?") == "standby" and int(supply.query("*STB?")) & 2


def test_the_heater_warm_time_refuses_a_sweep_until_the_switch_is_normal(lab, supply):
    supply.write("REMOTE")
    supply.query("*ESR?")
    supply.write("ULIM 1")
    supply.write("PSHTR ON")
    supply.write("SWEEP UP")                  # the switch is still warming (20 s)
    assert esr(supply) == 16
    assert world(lab).I_s == 0.0
    assert wait_until(lambda: world(lab).heater_on and world(lab).state != mg.HEATING, timeout=10)
    assert world(lab).t >= 20.0
    supply.write("SWEEP UP")
    assert esr(supply) == 0
    assert wait_until(lambda: world(lab).I_s > 0.1, timeout=30)


def test_persistent_mode_imag_holds_the_heater_off_value_while_the_magnet_decays():
    config = {"models": {"magnet_supply": "cryomagnetics4g"},
              "magnet": {"persistent_decay_tau_years": 1e-5}}   # tau = 315 s
    with SimulatedLab(config, seed=0, speed=200.0) as lab:
        rm = pyvisa.ResourceManager("@py")
        supply = rm.open_resource(lab.resources["magnet_supply"], read_termination="\r\n",
                                  write_termination="\r\n", timeout=3000)
        try:
            supply.write("REMOTE")
            warm_heater(lab, supply)
            supply.write("RATE 0 0.04")
            supply.write("ULIM 1")
            supply.write("SWEEP UP")
            assert wait_until(lambda: world(lab).state == mg.HOLDING, timeout=30)
            supply.write("PSHTR OFF")
            assert supply.query("PSHTR?") == "0"      # (answered after the PSHTR OFF)
            t_off = lab.world.magnet.t - (lab.world.magnet.heater_cool_s
                                          - lab.world.magnet._heater_timer)
            supply.query("*ESR?")
            supply.write("SWEEP ZERO")          # the leads only: COOLING refuses it ...
            assert esr(supply) == 16
            assert wait_until(lambda: world(lab).state != mg.COOLING, timeout=10)
            supply.write("SWEEP ZERO")          # ... then they run down
            assert wait_until(lambda: world(lab).I_s == 0.0, timeout=60)
            assert supply.query("IOUT?") == "0.0000A"
            assert supply.query("IMAG?") == "1.0000A"      # the value at heater-off
            m = world(lab)
            tau = 1e-5 * 365.25 * 86400
            assert m.I_m == pytest.approx(math.exp(-(lab.world.t - t_off) / tau), rel=1e-3)
            assert m.I_m < 0.99
            # heater on against a mismatch: the magnet quenches (the physics, not the 4G's rule)
            supply.write("PSHTR ON")
            assert wait_until(lambda: world(lab).quenched, timeout=5)
            assert int(supply.query("*STB?")) & 4
            supply.write("QRESET")
            assert int(supply.query("*STB?")) & 4 == 0
        finally:
            supply.close()
            rm.close()


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals on Windows")
def test_the_serial_port_echoes_each_command_line_before_its_reply():
    with SimulatedLab(PROFILE, seed=0, speed=100.0, serial=["magnet_supply"]) as lab:
        resource = lab.resources["magnet_supply"]
        assert resource.startswith("ASRL")
        rm = pyvisa.ResourceManager("@py")
        port = rm.open_resource(resource, read_termination="\r\n", write_termination="\r\n",
                                timeout=3000, baud_rate=9600)
        try:
            port.write("*IDN?")
            assert port.read() == "*IDN?"
            assert port.read() == "Cryomagnetics,4G,2417,1.02,208"
            port.write("REMOTE")                # no reply: the echo only
            assert port.read() == "REMOTE"
            port.write("UNITS?")
            assert port.read() == "UNITS?"
            assert port.read() == "A"
        finally:
            port.close()
            rm.close()

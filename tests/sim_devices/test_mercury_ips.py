"""The Mercury iPS twin in the magnet_supply slot, over TCP: *IDN? and the catalogue, the
STAT reply forms of READ and SET (VALID / INVALID, NOT_FOUND for a group it lacks), the
ramp at the set rate within the magnet's voltage limit, ACTN HOLD / RTOS / RTOZ / CLMP, the
heater's warm and cool times, persistent mode (PCUR holds the heater-off value while the
magnet decays), and a quench in READ:SYS:ALRM. Progress is polled, never slept for."""
from __future__ import annotations

import math
import re

import pytest
import pyvisa

from loopscope.sim_devices import SimulatedLab
from loopscope.sim_devices import magnet as mg

from .conftest import wait_until

PROFILE = "mercury_ips_magnet"
P = "DEV:GRPZ:PSU"


@pytest.fixture
def lab():
    with SimulatedLab(PROFILE, seed=0, speed=100.0) as running:
        yield running


def open_supply(lab):
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(lab.resources["magnet_supply"], read_termination="\n",
                            write_termination="\n", timeout=3000)
    return rm, inst


@pytest.fixture
def supply(lab):
    rm, inst = open_supply(lab)
    yield inst
    inst.close()
    rm.close()


def world(lab):
    with lab.world.lock:
        lab.world.advance()
        return lab.world.magnet


def setv(supply, noun: str, value) -> str:
    return supply.query(f"SET:{P}:{noun}:{value}")


def warm_heater(lab, supply):
    assert setv(supply, "SIG:SWHT", "ON") == f"STAT:SET:{P}:SIG:SWHT:ON:VALID"
    assert wait_until(lambda: world(lab).heater_on and world(lab).state != mg.HEATING, timeout=10)


def test_identity_catalogue_and_the_reply_forms(lab, supply):
    assert supply.query("*IDN?") == "IDN:OXFORD INSTRUMENTS:MERCURY iPS:IPS-0317:2.5.09.000"
    assert supply.query("READ:SYS:CAT") == "STAT:SYS:CAT:DEV:GRPZ:PSU"
    units = {"CURR": "A", "FLD": "T", "PCUR": "A", "PFLD": "T", "CSET": "A", "FSET": "T",
             "RCST": "A/m", "RFST": "T/m", "VOLT": "V"}
    for sig, unit in units.items():
        reply = supply.query(f"READ:{P}:SIG:{sig}")
        assert re.fullmatch(rf"STAT:{P}:SIG:{sig}:-?\d+\.\d{{4}}{re.escape(unit)}", reply), reply
    assert supply.query(f"READ:{P}:SIG:SWHT") == f"STAT:{P}:SIG:SWHT:OFF"
    assert supply.query(f"READ:{P}:ACTN") == f"STAT:{P}:ACTN:HOLD"
    assert supply.query(f"READ:{P}:ATOB") == f"STAT:{P}:ATOB:10.0000"
    # the profile's 0.02 A/s = 1.2 A/min = 0.12 T/min
    assert supply.query(f"READ:{P}:SIG:RCST") == f"STAT:{P}:SIG:RCST:1.2000A/m"
    assert supply.query(f"READ:{P}:SIG:RFST") == f"STAT:{P}:SIG:RFST:0.1200T/m"
    # a set answers with the value and VALID; the field target moves the current target
    assert setv(supply, "SIG:FSET", "0.5000") == f"STAT:SET:{P}:SIG:FSET:0.5000:VALID"
    assert supply.query(f"READ:{P}:SIG:CSET") == f"STAT:{P}:SIG:CSET:5.0000A"


def test_refusals_answer_invalid_or_not_found_and_change_nothing(lab, supply):
    assert setv(supply, "SIG:CSET", "95") == f"STAT:SET:{P}:SIG:CSET:95:INVALID"   # > 90 A limit
    assert setv(supply, "SIG:RCST", "0") == f"STAT:SET:{P}:SIG:RCST:0:INVALID"
    assert setv(supply, "SIG:FLD", "1") == f"STAT:SET:{P}:SIG:FLD:1:INVALID"       # read-only
    assert setv(supply, "ATOB", "12") == f"STAT:SET:{P}:ATOB:12:INVALID"
    assert setv(supply, "ACTN", "GO") == f"STAT:SET:{P}:ACTN:GO:INVALID"
    assert supply.query(f"READ:{P}:SIG:XYZ") == f"STAT:{P}:SIG:XYZ:INVALID"
    assert supply.query("READ:DEV:GRPX:PSU:SIG:FLD") == "STAT:DEV:GRPX:NOT_FOUND"
    assert supply.query("FETCH:SYS:CAT") == "FETCH:INVALID"
    assert supply.query(f"READ:{P}:SIG:CSET") == f"STAT:{P}:SIG:CSET:0.0000A"
    # CLMP with the output at 0 A; RTOS refused while clamped until HOLD
    assert setv(supply, "ACTN", "CLMP").endswith(":VALID")
    assert setv(supply, "ACTN", "RTOS").endswith(":INVALID")
    assert setv(supply, "ACTN", "HOLD").endswith(":VALID")
    assert world(lab).I_s == 0.0


def test_ramps_at_the_set_rate_and_no_faster_than_the_voltage_limit(lab, supply):
    warm_heater(lab, supply)
    assert setv(supply, "SIG:RCST", "0.6").endswith(":VALID")          # 0.01 A/s
    assert setv(supply, "SIG:CSET", "3").endswith(":VALID")
    assert setv(supply, "ACTN", "RTOS") == f"STAT:SET:{P}:ACTN:RTOS:VALID"
    assert supply.query(f"READ:{P}:ACTN") == f"STAT:{P}:ACTN:RTOS"
    assert setv(supply, "SIG:SWHT", "OFF").endswith(":INVALID")       # not while ramping
    m = world(lab)
    t0, i0 = lab.world.t, m.I_s
    assert wait_until(lambda: world(lab).I_s > i0 + 0.2, timeout=30)
    m = world(lab)
    assert (m.I_s - i0) / (lab.world.t - t0) == pytest.approx(0.01, rel=0.05)
    # 30 A/min asked, but 2 V into 50 H is 0.04 A/s
    assert setv(supply, "SIG:RCST", "30").endswith(":VALID")
    m = world(lab)
    t0, i0 = lab.world.t, m.I_s
    assert wait_until(lambda: world(lab).I_s > i0 + 0.5, timeout=30)
    m = world(lab)
    assert (m.I_s - i0) / (lab.world.t - t0) == pytest.approx(0.04, rel=0.05)
    volts = float(supply.query(f"READ:{P}:SIG:VOLT").split(":")[-1].rstrip("V"))
    assert volts == pytest.approx(2.0, abs=0.05)
    assert wait_until(lambda: world(lab).state == mg.HOLDING, timeout=60)
    assert supply.query(f"READ:{P}:ACTN") == f"STAT:{P}:ACTN:HOLD"   # arrived
    assert supply.query(f"READ:{P}:SIG:CURR") == f"STAT:{P}:SIG:CURR:3.0000A"
    assert supply.query(f"READ:{P}:SIG:FLD") == f"STAT:{P}:SIG:FLD:0.3000T"
    assert setv(supply, "ACTN", "CLMP").endswith(":INVALID")         # not away from 0 A
    assert setv(supply, "ACTN", "RTOZ").endswith(":VALID")
    assert supply.query(f"READ:{P}:ACTN") == f"STAT:{P}:ACTN:RTOZ"
    assert wait_until(lambda: world(lab).I_s == 0.0, timeout=60)
    assert supply.query(f"READ:{P}:ACTN") == f"STAT:{P}:ACTN:HOLD"
    assert not world(lab).quenched


def test_the_heater_warm_time_refuses_a_ramp_until_the_switch_is_normal(lab, supply):
    setv(supply, "SIG:CSET", "1")
    assert setv(supply, "SIG:SWHT", "ON").endswith(":VALID")
    assert setv(supply, "ACTN", "RTOS").endswith(":INVALID")          # still warming (20 s)
    assert world(lab).I_s == 0.0
    assert wait_until(lambda: world(lab).state != mg.HEATING, timeout=10)
    assert world(lab).t >= 20.0
    assert setv(supply, "ACTN", "RTOS").endswith(":VALID")
    assert wait_until(lambda: world(lab).I_s > 0.1, timeout=30)


def test_persistent_mode_pcur_holds_the_heater_off_value_and_a_quench_is_an_alarm():
    config = {"models": {"magnet_supply": "mercury_ips"},
              "magnet": {"persistent_decay_tau_years": 1e-5}}   # tau = 315 s
    with SimulatedLab(config, seed=0, speed=200.0) as lab:
        rm, supply = open_supply(lab)
        try:
            warm_heater(lab, supply)
            setv(supply, "SIG:RCST", "2.4")
            setv(supply, "SIG:CSET", "1")
            setv(supply, "ACTN", "RTOS")
            assert wait_until(lambda: world(lab).state == mg.HOLDING, timeout=30)
            assert setv(supply, "SIG:SWHT", "OFF").endswith(":VALID")
            t_off = lab.world.magnet.t
            assert setv(supply, "ACTN", "RTOZ").endswith(":INVALID")    # cooling (30 s)
            assert wait_until(lambda: world(lab).state != mg.COOLING, timeout=10)
            assert setv(supply, "ACTN", "RTOZ").endswith(":VALID")      # the leads only
            assert wait_until(lambda: world(lab).I_s == 0.0, timeout=60)
            assert supply.query(f"READ:{P}:SIG:CURR").endswith(":0.0000A")
            assert supply.query(f"READ:{P}:SIG:PCUR") == f"STAT:{P}:SIG:PCUR:1.0000A"
            assert supply.query(f"READ:{P}:SIG:PFLD") == f"STAT:{P}:SIG:PFLD:0.1000T"
            m = world(lab)
            tau = 1e-5 * 365.25 * 86400
            assert m.I_m == pytest.approx(math.exp(-(lab.world.t - t_off) / tau), rel=2e-3)
            assert m.I_m < 0.99
            assert supply.query("READ:SYS:ALRM") == "STAT:SYS:ALRM:"
            # heater on against a mismatch: the magnet quenches (the physics)
            setv(supply, "SIG:SWHT", "ON")
            assert wait_until(lambda: world(lab).quenched, timeout=5)
            assert supply.query("READ:SYS:ALRM") == "STAT:SYS:ALRM:DEV:GRPZ:PSU:Magnet quench;"
            assert setv(supply, "ACTN", "RTOS").endswith(":INVALID")
        finally:
            supply.close()
            rm.close()

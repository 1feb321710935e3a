"""The gold wire and the simulated Keithley 2400 read through it: R(T, B) against the closed
form, compliance clamping, the noise's NPLC scaling, the 2400's *RST defaults and errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from loopscope.sim_devices.constants import K_B
from loopscope.sim_devices.instruments.keithley2400 import ST_COMPLIANCE, Keithley2400
from loopscope.sim_devices.world import World

AU = dict(length_m=1.0e-4, width_m=1.0e-7, thickness_m=5.0e-8, residual_resistivity_ohm_m=2.0e-8,
          phonon_resistivity_ohm_m=5.26e-8, debye_temperature_K=175.0, mobility_m2_per_Vs=5.3e-3,
          thermoelectric_offset_V=2.0e-7, lead_resistance_ohm=100.0)


def closed_form_R(T, B, p=AU):
    """Written from the formulas (docs/simulated_lab.md), with scipy's quadrature for J5."""
    g = p["length_m"] / (p["width_m"] * p["thickness_m"])
    theta = p["debye_temperature_K"]
    # x^5 / ((e^x - 1)(1 - e^-x)) written as x^5 e^-x / (1 - e^-x)^2, which cannot overflow
    j5 = quad(lambda x: x ** 5 * math.exp(-x) / (-math.expm1(-x)) ** 2 if x > 0 else 0.0,
              0, theta / T, limit=200)[0]
    r0 = g * p["residual_resistivity_ohm_m"] + g * p["phonon_resistivity_ohm_m"] * (T / theta) ** 5 * j5
    mu = p["mobility_m2_per_Vs"] * g * p["residual_resistivity_ohm_m"] / r0
    return r0 * (1 + (mu * B) ** 2)


def world_at(T, **over):
    return World({"cryostat": {"initial_temperature_K": T, "base_temperature_K": T},
                  "wire": dict(AU, **over)}, seed=0)


@pytest.mark.parametrize("T, B", [(0.03, 0.0), (4.2, 1.0), (20.0, 0.0), (20.0, 9.0), (150.0, 5.0),
                                  (300.0, 0.0)])
def test_wire_resistance_is_the_closed_form(T, B):
    w = world_at(T)
    got = w.wire.resistance_ohm(T, B)
    assert got == pytest.approx(closed_form_R(T, B), rel=1e-9)


def test_the_numbers_are_a_gold_wire():
    w = world_at(0.03)
    assert w.wire.resistance_ohm(0.03, 0.0) == pytest.approx(400.0, rel=1e-6)   # residual
    # bulk Au at 273 K: 2.05e-8 ohm m of phonon resistivity (the prefactor was chosen for it)
    g = 1e-4 / (1e-7 * 5e-8)
    assert w.wire.phonon_resistance_ohm(273.0) / g == pytest.approx(2.05e-8, rel=0.03)
    # Kohler's rule: the MR at 9 T is (mu B)^2 = 0.23 %, smaller when phonons add resistance
    mr_low = w.wire.resistance_ohm(0.03, 9.0) / w.wire.resistance_ohm(0.03, 0.0) - 1
    mr_300 = w.wire.resistance_ohm(300.0, 9.0) / w.wire.resistance_ohm(300.0, 0.0) - 1
    assert mr_low == pytest.approx((5.3e-3 * 9) ** 2, rel=1e-9)
    assert mr_300 < mr_low / 2


def smu_on(T=0.03, **params):
    w = World({"cryostat": {"initial_temperature_K": T, "base_temperature_K": T}}, seed=0)
    k = Keithley2400(w, np.random.default_rng(1), params)
    for cmd in (":SOUR:FUNC CURR", ":SENS:FUNC:CONC ON", ':SENS:FUNC "VOLT","CURR"', ":SYST:RSEN ON",
                ":SOUR:CURR:RANG 1e-4", ":SENS:VOLT:PROT 1", ":OUTP ON"):
        assert k.handle_line(cmd) is None
    assert k.handle_line(":SYST:ERR?") == '0,"No error"'
    return w, k


def reading(k):
    v, i, r, t, stat = (float(x) for x in k.handle_line(":READ?").split(","))
    return v, i, int(stat)


def test_a_reading_is_i_r_plus_the_thermal_emf():
    w, k = smu_on(voltage_noise_fraction_of_range=0.0, current_noise_fraction_of_range=0.0)
    k.handle_line(":SOUR:CURR 1e-5")
    v, i, stat = reading(k)
    R = w.wire_resistance_ohm()
    assert i == pytest.approx(1e-5, rel=1e-6)
    # Johnson noise of 400 ohm at 30 mK is 1e-11 V: below the reading's 7 digits here
    assert v == pytest.approx(1e-5 * R + 2e-7, rel=1e-5)
    assert not stat & ST_COMPLIANCE
    k.handle_line(":SYST:RSEN OFF")          # two-wire: the leads are in series
    v2, _, _ = reading(k)
    assert v2 == pytest.approx(1e-5 * (R + 100.0) + 2e-7, rel=1e-5)


def test_compliance_clamps_the_voltage_and_sets_the_bit():
    w, k = smu_on(voltage_noise_fraction_of_range=0.0, current_noise_fraction_of_range=0.0)
    k.handle_line(":SENS:VOLT:PROT 0.01")        # 10 mV into 400 ohm: 25 uA at most
    k.handle_line(":SOUR:CURR 1e-4")
    v, i, stat = reading(k)
    R = w.wire_resistance_ohm()
    assert v == pytest.approx(0.01, rel=1e-6)
    assert i == pytest.approx((0.01 - 2e-7) / R, rel=1e-5)
    assert stat & ST_COMPLIANCE
    assert k.handle_line(":SENS:VOLT:PROT:TRIP?") == "1"
    k.handle_line(":SOUR:CURR -1e-4")
    v, i, stat = reading(k)
    assert v == pytest.approx(-0.01, rel=1e-6) and i < 0 and stat & ST_COMPLIANCE
    k.handle_line(":SOUR:CURR 1e-5")              # 4 mV: inside again
    v, i, stat = reading(k)
    assert not stat & ST_COMPLIANCE and i == pytest.approx(1e-5, rel=1e-6)


def test_voltage_source_is_limited_by_the_current_compliance():
    w = World(None, seed=0)
    k = Keithley2400(w, np.random.default_rng(1), {"voltage_noise_fraction_of_range": 0.0,
                                                    "current_noise_fraction_of_range": 0.0})
    for cmd in (":SOUR:FUNC VOLT", ":SOUR:VOLT 1", ':SENS:FUNC "CURR","VOLT"', ":SYST:RSEN 1", ":OUTP 1"):
        k.handle_line(cmd)
    v, i, stat = reading(k)     # 1 V into 400 ohm is 2.5 mA; the *RST compliance is 105 uA
    assert i == pytest.approx(1.05e-4, rel=1e-6)
    assert v == pytest.approx(1.05e-4 * w.wire_resistance_ohm() + 2e-7, rel=1e-6)
    assert stat & ST_COMPLIANCE


def spread(k, n=400):
    return float(np.std([reading(k)[0] for _ in range(n)], ddof=1))


def test_johnson_noise_alone_has_the_closed_form_and_scales_with_nplc():
    # a hot, long wire so that sqrt(4 k T R df) is well above the reading's last digit
    w = World({"cryostat": {"initial_temperature_K": 20.0, "base_temperature_K": 20.0},
               "wire": dict(AU, length_m=1.0e-1)}, seed=0)
    k = Keithley2400(w, np.random.default_rng(2), {"voltage_noise_fraction_of_range": 0.0})
    for cmd in (":SOUR:FUNC CURR", ':SENS:FUNC "VOLT"', ":SYST:RSEN 1", ":OUTP 1"):
        k.handle_line(cmd)
    R, T = w.wire_resistance_ohm(), 20.0
    for nplc in (0.1, 1.0, 10.0):
        k.handle_line(f":SENS:VOLT:NPLC {nplc}")
        expected = math.sqrt(4 * K_B * T * R / (2 * nplc / 60.0))
        assert spread(k) == pytest.approx(expected, rel=0.12), nplc


def test_total_noise_falls_as_one_over_sqrt_nplc():
    w, k = smu_on()
    k.handle_line(":SOUR:CURR 1e-5")
    s1 = spread(k)
    k.handle_line(":SENS:CURR:NPLC 10")          # one rate for all functions (manual 18-68)
    assert k.handle_line(":SENS:VOLT:NPLC?") == "10"
    s10 = spread(k)
    assert s1 / s10 == pytest.approx(math.sqrt(10.0), rel=0.15)
    k.handle_line(":SENS:AVER:COUN 25;:SENS:AVER:TCON REP;:SENS:AVER ON")
    assert spread(k) == pytest.approx(s10 / 5, rel=0.15)


def test_rst_defaults_of_the_manual():
    w = World(None, seed=0)
    k = Keithley2400(w, np.random.default_rng(0), {})
    k.handle_line(":SOUR:FUNC CURR;:SENS:VOLT:PROT 3;:FORM:ELEM VOLT;:OUTP ON")
    k.handle_line("*RST")
    expect = {":OUTP?": "0", ":SOUR:FUNC?": "VOLT", ":SENS:CURR:PROT?": "+1.050000E-04",
              ":SENS:VOLT:PROT?": "+2.100000E+01", ":SENS:CURR:RANG?": "+1.050000E-04",
              ":SENS:VOLT:RANG?": "+2.100000E+01", ":SENS:VOLT:NPLC?": "1", ":SOUR:DEL?": "+1.000000E-03",
              ":SOUR:CLE:AUTO?": "0", ":SENS:AVER?": "0", ":SENS:AVER:TCON?": "REP",
              ":SENS:AVER:COUN?": "10", ":FORM:ELEM?": "VOLT,CURR,RES,TIME,STAT",
              ":SENS:FUNC:CONC?": "1", ":ROUT:TERM?": "FRON", ":SYST:RSEN?": "0", ":OUTP:SMOD?": "NORM"}
    for q, a in expect.items():
        assert k.handle_line(q) == a, q


def test_errors_of_the_manual():
    w = World(None, seed=0)
    k = Keithley2400(w, np.random.default_rng(0), {})
    assert k.handle_line(":READ?") is None                   # output off
    assert k.handle_line(":SYST:ERR?") == '803,"Not permitted with OUTPUT off"'
    assert k.handle_line(":SOUR:CURR 2") is None             # beyond 1.05 A
    assert k.handle_line(":SYST:ERR?") == '-222,"Parameter data out of range"'
    assert k.handle_line(":SOUR:CURR:FOO 1") is None
    assert k.handle_line(":SYST:ERR?") == '-113,"Undefined header"'
    assert k.handle_line(":SYST:ERR?") == '0,"No error"'
    assert int(k.handle_line("*ESR?")) & (32 | 16) == 48      # CME and EXE
    # :MEASure? is :CONFigure + :READ?; :CONFigure turns the output on (manual, table 17-1)
    assert k.handle_line(":MEAS:VOLT?") is not None
    assert k.handle_line(":OUTP?") == "1"


def test_every_long_and_short_form_is_one_command():
    w = World(None, seed=0)
    k = Keithley2400(w, np.random.default_rng(0), {})
    k.handle_line(":SOURce1:CURRent:LEVel:IMMediate:AMPLitude 1.5E-6")
    assert k.handle_line(":SOUR:CURR?") == "+1.500000E-06"
    k.handle_line(":OUTPut1:STATe ON")
    assert k.handle_line("OUTP?") == "1"
    k.handle_line("VOLT:PROT 2")                              # [:SENSe[1]] left out
    assert k.handle_line(":SENSe1:VOLTage:DC:PROTection:LEVel?") == "+2.000000E+00"
    k.handle_line(":FORMat:ELEMents:SENSe1 CURR, VOLT")
    assert k.handle_line(":FORM:ELEM?") == "VOLT,CURR"         # always in the manual's order
    k.handle_line(":TRIGger:SEQuence1:COUNt 3")
    assert len(k.handle_line(":READ?").split(",")) == 6

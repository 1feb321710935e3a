"""Stock pymeasure drivers and plain pyvisa against the simulated lab over TCP."""
import time

import numpy as np
import pytest
from scipy.optimize import curve_fit

from loopscope.sim_devices.constants import PHI0_SC

from .conftest import open_inst, wait_until


def test_idn_of_every_instrument(lab_factory, rm):
    lab = lab_factory()
    expect = {"coil_supply": "KEPCO", "magnet_supply": "MODEL 430", "gaussmeter": "MODEL425",
              "nanovoltmeter": "MODEL 2182A", "lockin": "SR830", "lockin_sr860": "SR860",
              "temperature_controller": "MODEL336", "squid_controller": "FLL"}
    for name, token in expect.items():
        inst = open_inst(rm, lab, name)
        assert token in inst.query("*IDN?")
        inst.close()


def test_coil_current_makes_the_gaussmeter_field(lab_factory):
    from pymeasure.instruments.kepco import KepcoBOP3612
    from pymeasure.instruments.lakeshore import LakeShore425
    lab = lab_factory(speed=100)
    bop = KepcoBOP3612(lab.resources["coil_supply"], visa_library="@py")
    gm = LakeShore425(lab.resources["gaussmeter"], visa_library="@py", read_termination="\n")
    bop.operating_mode = "CURR"
    bop.current_setpoint = 6.0
    bop.output_enabled = True
    assert bop.output_enabled is True
    assert wait_until(lambda: abs(bop.current - 6.0) < 1e-3)
    assert bop.voltage == pytest.approx(12.0, abs=0.05)        # I R at steady state
    gm.zero_probe()
    gm.range = 3500
    gm.unit = "G"
    k = lab.world.coil.coil_constant_T_per_A
    readings = np.array([gm.field for _ in range(10)])
    assert readings.mean() == pytest.approx(k * 6.0 * 1e4, abs=3 * 3500 * 1e-4)
    gm.range = 35
    assert gm.ask("RDGFIELD?").strip() == "OL"
    bop.adapter.connection.write("CURR 50")
    assert "-222" in bop.ask("SYST:ERR?")
    bop.adapter.close()
    gm.adapter.close()


def test_ami430_ramp_then_hold_and_mismatch_quench(lab_factory):
    from pymeasure.instruments.ami import AMI430
    lab = lab_factory(speed=2000)
    m = AMI430(lab.resources["magnet_supply"], visa_library="@py")
    assert m.coilconst == pytest.approx(1.0)          # kG/A
    m.enable_persistent_switch()
    assert m.state in (9, 3)          # heating (20 s sim) or already done
    m.wait_for_holding(interval=0.01, timeout=10)
    m.target_current = 2.0
    m.write("CONF:RAMP:RATE:CURR 1,0.02")
    m.ramp()
    assert m.state == 1
    assert wait_until(lambda: m.state == 2, timeout=10)
    assert m.magnet_current == pytest.approx(2.0, abs=1e-6)
    assert m.field == pytest.approx(2.0, abs=1e-6)      # 1 kG/A
    # persistent mode: heater off, leads to zero, magnet keeps its current
    m.disable_persistent_switch()
    assert wait_until(lambda: m.state == 3, timeout=10)
    m.zero()
    assert wait_until(lambda: m.state == 8, timeout=10)
    assert m.supply_current == pytest.approx(0.0, abs=1e-9)
    assert m.magnet_current == pytest.approx(2.0, rel=1e-6)
    # heater on with 2 A mismatch: quench
    m.enable_persistent_switch()
    assert m.state == 7
    assert int(m.ask("QU?")) == 1
    assert wait_until(lambda: abs(m.magnet_current) < 1e-3, timeout=10)
    m.write("QU 0")
    assert m.state == 3
    m.adapter.close()


def test_ami430_ramp_too_fast_quenches_and_voltage_spikes(lab_factory, rm):
    lab = lab_factory(speed=20)
    a = open_inst(rm, lab, "magnet_supply")
    a.query("PSwitch 1;*OPC?")
    lab.clock.advance(30)
    assert a.query("STATE?").strip() == "3"
    a.query("CONF:RAMP:RATE:CURR 1,0.04;CONF:CURR:TARG 2;RAMP;*OPC?")
    lab.clock.advance(60)
    assert a.query("STATE?").strip() == "2"
    # real time from here: the quench dump (tau 0.5 s) must not be over before we look at it
    lab.clock.speed = 1.0
    a.write("CONF:VOLT:LIM 10;CONF:RAMP:RATE:CURR 1,0.15;CONF:CURR:TARG 5;RAMP")
    assert wait_until(lambda: a.query("STATE?").strip() == "7", timeout=10)
    v = float(a.query("VOLT:MAG?"))
    assert v < -20.0                                   # L dI/dt as 2 A dump with tau 0.5 s
    assert lab.world.magnet.quench_reason.startswith("ramped")
    a.close()


def test_lockin_traces_a_lorentzian(lab_factory):
    from pymeasure.instruments.srs import SR830
    cfg = {"cantilever": {"Q": 2000.0, "frequency_noise_Hz": 0.0}}
    lab = lab_factory(cfg, speed=1000)
    li = SR830(lab.resources["lockin"], visa_library="@py", read_termination="\n")
    li.sine_voltage = 0.1
    li.time_constant = 0.01
    li.sensitivity = 0.05
    f_res = lab.world.cantilever_resonance_Hz()
    fs = np.linspace(f_res - 4, f_res + 4, 41)
    xs, ys = [], []
    settle = 10 * lab.world.cantilever.ring_time_s / lab.clock.speed
    for f in fs:
        li.frequency = f
        time.sleep(settle)
        x, y = li.xy
        xs.append(x)
        ys.append(y)
    z = np.array(xs) + 1j * np.array(ys)

    def model(f, g, f0, q):
        u = f / f0
        r = g / (1 - u * u + 1j * u / q)
        return np.concatenate([r.real, r.imag])

    p, _ = curve_fit(model, fs, np.concatenate([z.real, z.imag]), p0=[1e-5, f_res + 0.3, 1500])
    assert p[1] == pytest.approx(f_res, abs=0.01)
    assert p[2] == pytest.approx(2000.0, rel=0.03)
    # overload beyond the sensitivity
    li.frequency = f_res
    time.sleep(settle)
    li.sensitivity = 1e-3
    assert abs(li.x) <= 1.09e-3 * 1.0001 or abs(li.y) <= 1.09e-3 * 1.0001
    assert int(li.ask("LIAS?2")) == 1
    li.adapter.close()


def test_sr860_and_time_constant_filter(lab_factory):
    from pymeasure.instruments.srs import SR860
    lab = lab_factory({"cantilever": {"Q": 200.0, "frequency_noise_Hz": 0.0}}, speed=10)
    li = SR860(lab.resources["lockin_sr860"], visa_library="@py", read_termination="\n")
    li.sine_voltage = 0.1
    li.time_constant = 3
    li.frequency = 1000.0
    time.sleep(0.3)
    r_before = li.snap("R", "THeta")[0]
    li.frequency = lab.world.cantilever_resonance_Hz()
    r1 = li.magnitude
    time.sleep(0.3)
    r2 = li.magnitude
    steady = abs(lab.world.cantilever.response(li.frequency, 0.1, lab.world.cantilever_resonance_Hz()))
    assert r_before < r1 < r2 < steady           # first-order approach, still on the way
    li.adapter.close()


def test_temperature_lag_toward_setpoint(lab_factory):
    from pymeasure.instruments.lakeshore import LakeShore331
    lab = lab_factory({"cryostat": {"time_constant_s": 100.0}}, speed=1000)
    tc = LakeShore331(lab.resources["temperature_controller"], visa_library="@py")
    t0 = tc.input_A.kelvin
    tc.output_1.setpoint = 1.5
    tc.output_1.range = "medium"
    assert tc.output_1.range == "medium"
    t_start = lab.world.t
    time.sleep(0.1)
    T = tc.input_A.kelvin
    elapsed = lab.world.t - t_start
    expect = 1.5 + (t0 - 1.5) * np.exp(-elapsed / 100.0)
    assert T == pytest.approx(expect, rel=0.03)
    assert tc.output_1.output > 0
    assert wait_until(lambda: abs(tc.input_A.kelvin - 1.5) < 0.01, timeout=5)
    tc.adapter.close()


def test_squid_flux_through_fll_and_nanovoltmeter_periodic_in_B(lab_factory, rm):
    from pymeasure.instruments.keithley import Keithley2182
    lab = lab_factory({"squid": {"background_curie_phi0_K_per_T": 0.0}}, speed=100)
    nv = Keithley2182(lab.resources["nanovoltmeter"], visa_library="@py")
    nv.ch_1.setup_voltage(nplc=5)
    fll = open_inst(rm, lab, "squid_controller")
    coil = open_inst(rm, lab, "coil_supply")
    vphi = float(fll.query("VPHI?"))
    assert vphi == pytest.approx(23250 * 4.3e-5)
    coil.write("OUTP 1")
    k = lab.world.coil.coil_constant_T_per_A
    period = lab.world.sample.field_period_T
    n = 256
    B = np.linspace(0, 6 * period, n, endpoint=False)
    v = []
    for b in B:
        coil.query(f"CURR {b / k:.9f};*OPC?")      # synchronise the two sockets
        lab.clock.advance(0.05)
        v.append(nv.voltage)
    phi = np.array(v) / vphi
    spec = np.abs(np.fft.rfft(phi - phi.mean()))
    assert np.argmax(spec[1:]) + 1 in (6, 12, 18, 24)      # harmonic of 1/period
    # SNR: ring signal against the per-reading noise
    resid = phi - np.array([lab.world.squid_cfg["mutual_inductance_H"]
                            * lab.world.sample.current_A(b, lab.world.temperature_K) / PHI0_SC for b in B])
    assert np.std(phi) / np.std(resid - resid.mean()) > 10
    assert fll.query("LOCK?").strip() == "1"
    for x in (nv, ):
        x.adapter.close()
    fll.close()
    coil.close()


def test_seeded_repeatability(lab_factory, rm):
    def run(seed):
        lab = lab_factory(seed=seed, speed=1)
        g = open_inst(rm, lab, "gaussmeter")
        out = [g.query("RDGFIELD?") for _ in range(5)]
        nv = open_inst(rm, lab, "nanovoltmeter")
        out += [nv.query(":SENS:VOLT:CHAN2:RANG 0.01;:SENS:CHAN 2;:READ?") for _ in range(3)]
        g.close()
        nv.close()
        lab.stop()
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_clock_speed_over_tcp(lab_factory, rm):
    lab = lab_factory(speed=500)
    t0 = time.monotonic()
    s0 = lab.world.advance()
    time.sleep(0.1)
    s1 = lab.world.advance()
    assert (s1 - s0) == pytest.approx(500 * (time.monotonic() - t0), rel=0.2)

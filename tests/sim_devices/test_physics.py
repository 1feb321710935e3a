"""World-level physics checks against independent routes (closed forms, quadrature, limits)."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

from loopscope.sim_devices import SimClock, World
from loopscope.sim_devices.constants import K_B, MU_0, MU_B, PHI0_NORMAL
from loopscope.sim_devices.fields import helmholtz_constant, loop_field, uniform_cylinder_axis_closed_form
from loopscope.sim_devices.rings import j_p
from loopscope.sim_devices.samples import GradedCylinder, Paramagnet, SoftCore, UniformCylinder, brillouin


def test_loop_field_on_axis_and_biot_savart():
    a, I = 0.05, 2.0
    z = np.array([0.0, 0.01, 0.1])
    _, bz = loop_field(a, I, 0.0, z)
    assert np.allclose(bz, MU_0 * I * a ** 2 / (2 * (a ** 2 + z ** 2) ** 1.5), rtol=1e-13)
    # off axis against a direct Biot-Savart quadrature
    rho, zz = 0.03, 0.02

    def dB(phi, comp):
        # wire element at (a cos phi, a sin phi, 0), field point (rho, 0, zz)
        dl = np.array([-a * math.sin(phi), a * math.cos(phi), 0.0])
        r = np.array([rho - a * math.cos(phi), -a * math.sin(phi), zz])
        return (MU_0 * I / (4 * math.pi) * np.cross(dl, r) / np.linalg.norm(r) ** 3)[comp]

    bx = quad(dB, 0, 2 * math.pi, args=(0,), epsabs=1e-16)[0]
    bzq = quad(dB, 0, 2 * math.pi, args=(2,), epsabs=1e-16)[0]
    br, bz = loop_field(a, I, rho, zz)
    assert br == pytest.approx(bx, rel=1e-9)
    assert bz == pytest.approx(bzq, rel=1e-9)


def test_helmholtz_constant_from_geometry():
    k = helmholtz_constant(0.05, 460)
    assert k == pytest.approx((4 / 5) ** 1.5 * MU_0 * 460 / 0.05)
    # two loops at +-R/2 give the same centre field
    _, bz = loop_field(0.05, 460.0, 0.0, np.array([0.025, -0.025]))
    assert bz.sum() == pytest.approx(k, rel=1e-12)


def test_uniform_cylinder_axis_matches_closed_form():
    cyl = UniformCylinder(1e-3, 2e-3, 1e5)
    z = np.linspace(-3e-3, 3e-3, 13)
    _, bz = cyl.field_T(np.zeros_like(z), z)
    closed = uniform_cylinder_axis_closed_form(z, 1e-3, 2e-3, 1e5)
    assert np.allclose(bz, closed, rtol=2e-6, atol=1e-12)


def test_graded_cylinder_bound_currents():
    k, R, L = 1e11, 1e-3, 0.2
    g = GradedCylinder(R, L, k)
    # moment from bound currents = integral of M over the volume
    assert g.moment_Am2(0, 1, 0) == pytest.approx(k * math.pi * R ** 4 * L / 2, rel=1e-9)
    # on-axis field of the loops vs a direct double quadrature of the same bound currents
    L2 = 0.01
    g2 = GradedCylinder(R, L2, k)
    from scipy.integrate import dblquad

    from loopscope.sim_devices.fields import field_of_loops
    r, zz, i = g2.loops(n_s=48, n_z=400)
    # outside the body the discrete loops converge fast
    _, bz_out = field_of_loops(r, zz, i, np.array([0.0]), np.array([0.008]))
    assert bz_out[0] == pytest.approx(float(g2.axis_field_T(0.008)), rel=1e-6)
    for z0 in (0.0, 0.004, 0.008):
        bz = [float(g2.axis_field_T(z0))]

        def on_axis(a, dz):
            return MU_0 * a ** 2 / (2 * (a ** 2 + dz ** 2) ** 1.5)

        vol = dblquad(lambda s_, zp: -2 * k * s_ * on_axis(s_, z0 - zp), -L2 / 2, L2 / 2, 0, R,
                      epsabs=1e-14)[0]
        surf = quad(lambda zp: k * R ** 2 * on_axis(R, z0 - zp), -L2 / 2, L2 / 2, epsabs=1e-14)[0]
        assert bz[0] == pytest.approx(vol + surf, rel=1e-6, abs=1e-9)
    # long cylinder: B = mu0 M(s) inside, i.e. zero on the axis (M(0) = 0)
    assert abs(vol + surf) < 1.0


def test_paramagnet_brillouin_tanh_for_spin_half():
    p = Paramagnet(1e27, 2.0, 0.5, 0.0, 1e-9)
    B = np.linspace(-5, 5, 11)
    T = 2.0
    M = p.magnetization(B, T)
    x = 2.0 * MU_B * 0.5 * B / (K_B * T)
    assert np.allclose(M, 1e27 * MU_B * np.tanh(x), rtol=1e-10)
    assert brillouin(0.5, 0.3) == pytest.approx(math.tanh(0.3))
    # Curie law at small x: chi = mu0 n g^2 mu_B^2 J(J+1)/(3 k_B T)
    chi = p.magnetization(1e-4, 10.0) / (1e-4 / MU_0)
    assert chi == pytest.approx(MU_0 * 1e27 * 4 * MU_B ** 2 * 0.75 / (3 * K_B * 10.0), rel=1e-6)


def test_soft_core_hysteresis_has_coercivity_and_remanence():
    core = SoftCore(1.6e6, 1100.0, 400.0, 0.2, 1.6e-3, 1e-9)
    Hmax = 8000.0
    Hs = np.concatenate([np.linspace(0, Hmax, 40), np.linspace(Hmax, -Hmax, 80), np.linspace(-Hmax, Hmax, 80)])
    Ms = []
    for H in Hs:
        core.advance_field(MU_0 * H)
        Ms.append(core.M)
    Ms = np.array(Ms)
    down_H, down_M = Hs[40:120], Ms[40:120]
    remanence = np.interp(0.0, down_H[::-1], down_M[::-1])
    coercive = np.interp(0.0, down_M[::-1], down_H[::-1])
    assert remanence > 0.05 * 1.6e6
    assert coercive < -50.0
    # the loop closes on itself (ascending branch passes through -remanence)
    up_H, up_M = Hs[120:], Ms[120:]
    assert np.interp(0.0, up_H, up_M) == pytest.approx(-remanence, rel=0.05)


def test_j_p_zero_temperature_limit():
    for p in (1, 2, 3):
        assert j_p(p, 1e-4) == pytest.approx(12 / p ** 5, rel=2e-3)
    assert j_p(1, 2.0) < j_p(1, 0.5) < 12


def test_squid_flux_periodic_in_B_with_ring_period():
    w = World({"squid": {"background_curie_phi0_K_per_T": 0.0}}, seed=3)
    r = w.sample
    period = PHI0_NORMAL / r.area_m2
    assert r.field_period_T == pytest.approx(period)
    B = np.linspace(0, 16 * period, 2048, endpoint=False)
    I = np.array([r.current_A(b, 0.03) for b in B])
    spec = np.abs(np.fft.rfft(I - I.mean()))
    freqs = np.fft.rfftfreq(len(B), B[1] - B[0])
    peaks = freqs[np.argsort(spec)[-4:]]
    # strongest lines at harmonics of 1/period
    ratio = peaks * period
    assert np.allclose(ratio, np.round(ratio), atol=0.05)
    assert 1 in np.round(ratio)


def test_world_coil_slew_and_compliance():
    clk = SimClock(1.0, wall=lambda: 0.0)
    w = World(clock=clk)
    coil = w.coil
    coil.output_on, coil.current_setpoint_A = True, 10.0
    clk.advance(1e-3)
    w.advance()
    max_rate = (coil.max_voltage_V) / coil.L
    assert coil.current_A <= max_rate * 1e-3 * 1.001
    assert coil.current_A > 0.5 * max_rate * 1e-3
    clk.advance(1.0)
    w.advance()
    assert coil.current_A == pytest.approx(10.0, abs=1e-9)
    # compliance: 10 V over 2 ohm can carry at most 5 A
    coil.voltage_setpoint_V = 10.0
    clk.advance(2.0)
    w.advance()
    assert coil.current_A == pytest.approx(5.0, rel=1e-6)


def test_clock_speed():
    t = [0.0]
    clk = SimClock(50.0, wall=lambda: t[0])
    t[0] = 2.0
    assert clk.now() == pytest.approx(100.0)
    clk.speed = 10.0
    t[0] = 3.0
    assert clk.now() == pytest.approx(110.0)
    assert clk.wall_seconds(20.0) == pytest.approx(2.0)


def test_fll_loses_lock_by_whole_flux_quanta():
    clk = SimClock(1.0, wall=lambda: 0.0)
    w = World({"squid": {"applied_field_coupling_phi0_per_T": 1000.0},
               "fll": {"slew_phi0_per_s": 500.0}}, clock=clk)
    fll = w.fll
    w.coil.output_on = True
    w.coil.current_setpoint_A = 1.0      # 8.3 mT -> 8.3 Phi0 within ~2 ms: far above 500 Phi0/s
    for _ in range(100):
        clk.advance(0.01)
        w.advance()
    true_change = w.squid_flux_phi0() - 0.05      # flux since lock (offset c0 = 0.05 Phi0)
    jump = true_change - fll.output_flux_phi0()
    assert fll.jumps >= 1
    assert abs(jump - round(jump)) < 1e-9
    assert round(jump) != 0
    # a slow ramp keeps lock
    w2 = World({"squid": {"applied_field_coupling_phi0_per_T": 1000.0},
                "fll": {"slew_phi0_per_s": 1e6}}, clock=SimClock(1.0, wall=lambda: 0.0))
    w2.coil.output_on, w2.coil.current_setpoint_A = True, 1.0
    w2.clock.advance(1.0)
    w2.advance()
    assert w2.fll.jumps == 0


def test_sc_loop_decay_and_cantilever_scale():
    w = World({"sample": {"kind": "sc_loop"}})
    s = w.sample
    assert s.current_A(3600) < s.current_A(0)
    assert s.current_A(3600) == pytest.approx(1.0 * math.exp(-3600 / s.tau) * (1 - 0.02 * math.log1p(3600)))
    c = World().cantilever
    # PHYSICS.md table: ~1.7e-5 Hz per ring per nA at 5 T, 45 deg
    r = c.rings
    per_ring_nA = (c.f0 * (r.area_m2 * 5 * math.cos(r.theta_rad)) ** 2 / (2 * c.k * c.l ** 2)
                   * 2 * math.pi / PHI0_NORMAL * 1e-9)
    assert per_ring_nA == pytest.approx(1.7e-5, rel=0.05)


def test_scalar_langevin_is_the_boltzmann_mean_of_cos_theta():
    """L(x) = <cos theta> of a classical moment, by numerical integration (an independent route),
    across the series branch (|x| < 0.1), its edge and the closed form."""
    from scipy.integrate import quad

    from loopscope.sim_devices.samples import langevin_scalar

    for x in (-30.0, -2.0, -0.1000001, -0.0999999, -1e-3, -1e-7, 1e-7, 1e-3, 0.05, 0.0999999, 0.1000001,
              0.7, 3.0, 25.0):
        # folded onto [0, 1] (odd and even parts of e^{xu}): no cancellation in either integral
        num = quad(lambda u: u * math.sinh(x * u), 0, 1, epsabs=0, epsrel=1e-13)[0]
        den = quad(lambda u: math.cosh(x * u), 0, 1, epsabs=0, epsrel=1e-13)[0]
        assert langevin_scalar(x) == pytest.approx(num / den, rel=1e-11, abs=1e-300), x
    assert langevin_scalar(0.0) == 0.0

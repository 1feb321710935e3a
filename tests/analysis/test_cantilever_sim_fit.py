"""pc_cantilever follows the simulated lab's cantilever (both torque terms, the flexural lever
arm, both spins), and a fit of the lab's own resonance-frequency sweep recovers the lab's ring
currents, ring area and background within the fit's reported error bars."""
from __future__ import annotations

import math

import numpy as np
import pytest

import loopscope.analysis as A
from loopscope.analysis.models import get_model
from loopscope.sim_devices.world import World

T_BASE = 0.03


def _lab(theta_deg, seed=11):
    cfg = {"cantilever": {"rings": {"n_harmonics": 2, "theta_deg": theta_deg}}}
    return World(cfg, seed=seed)


def _truth(world):
    c = world.cantilever
    r = c.rings
    I1, I2 = r.coefficients_A(T_BASE)
    # the lab's signs per harmonic (phi_p = 0 or pi) are carried by the signs of I1, I2
    return dict(f0=c.f0, k_spring=c.k, lever=c.lever_m, area=r.area_m2, theta=r.theta_rad,
                I1=I1, phi1=0.0, I2=I2, phi2=0.0, b2=c.beta, b0=c.f0)


@pytest.mark.parametrize("theta_deg", [30.0, 45.0, 60.0])
def test_model_is_the_labs_resonance_from_millitesla_to_tesla(theta_deg):
    w = _lab(theta_deg)
    c = w.cantilever
    p = _truth(w) | {"b0": 0.0}
    B = np.concatenate([np.linspace(1e-4, 0.05, 400), np.linspace(0.05, 5.0, 2000)])
    model = get_model("pc_cantilever")(B, p)
    sim = np.array([c.ring_shift_Hz(b, T_BASE) + c.beta * b * b for b in B])
    scale = np.abs(sim).max()
    np.testing.assert_allclose(model, sim, rtol=1e-11, atol=1e-13 * scale)
    # the I A B sin(theta) term matters at low field (below a period, with phi_p in {0, pi},
    # it is tan^2(theta) x the dI/dPhi term: 1/3 at 30 deg, 3 at 60 deg): the model has it
    low = B < 0.002
    curv = np.array([c.ring_stiffness_terms(b, T_BASE)[0] for b in B[low]]) * c.f0 / (2 * c.k * c.lever_m ** 2)
    assert np.max(np.abs(model[low] - c.beta * B[low] ** 2 - curv)) > 0.2 * np.max(np.abs(curv))


@pytest.mark.parametrize("theta_deg", [35.0, 50.0])
def test_fit_of_the_labs_sweep_recovers_its_rings(theta_deg):
    w = _lab(theta_deg)
    c = w.cantilever
    truth = _truth(w)
    B = np.linspace(3.0, 5.0, 3000)
    rng = np.random.default_rng(2024)
    y = np.array([c.resonance_Hz(b, T_BASE) for b in B]) + rng.normal(0.0, c.frequency_noise_Hz, B.size)
    start = dict(truth, area=truth["area"] * (1 + 3e-4), I1=0.5 * truth["I1"], I2=0.0, b2=0.0)
    res = A.fit("pc_cantilever", B, y, params=start,
                fixed=["f0", "k_spring", "lever", "theta", "phi1", "phi2"])
    assert res.converged, res.message
    assert res.reduced_chi_square == pytest.approx(c.frequency_noise_Hz ** 2, rel=0.15)
    for name in ("area", "I1", "I2", "b2", "b0"):
        i = res.names.index(name)
        err = res.stderr[i]
        assert 0 < err < 0.2 * abs(truth[name]) + 1e-30, name
        assert abs(res.values[i] - truth[name]) < 4 * err, (name, res.values[i], truth[name], err)


def test_fit_of_a_quiet_labs_low_field_sweep_needs_the_current_term():
    """0-60 mT (three field periods at 45 deg), where the I A B sin(theta) term is comparable with
    the dI/dPhi term; a lab with 1e-10 Hz frequency noise. Without the term (model version 1)
    the recovered I1 is off by many error bars."""
    w = World({"cantilever": {"frequency_noise_Hz": 1e-10, "rings": {"n_harmonics": 2, "theta_deg": 45.0}}},
              seed=5)
    c = w.cantilever
    truth = _truth(w)
    B = np.linspace(0.0, 0.06, 1500)
    rng = np.random.default_rng(7)
    y = np.array([c.resonance_Hz(b, T_BASE) for b in B]) + rng.normal(0.0, c.frequency_noise_Hz, B.size)
    start = dict(truth, area=truth["area"] * 1.01, I1=0.5 * truth["I1"], I2=0.0, b2=0.0)
    res = A.fit("pc_cantilever", B, y, params=start, fixed=["f0", "k_spring", "lever", "theta", "phi1", "phi2"])
    assert res.converged, res.message
    for name in ("area", "I1", "I2", "b2"):
        i = res.names.index(name)
        assert abs(res.values[i] - truth[name]) < 4 * res.stderr[i], (name, res.values[i], truth[name])

"""Fitting a simulated sample's own readings with its analysis model recovers the lab's
parameters within the reported errors: over many noise realizations the pulls
(fit - truth) / stderr have mean ~0 and width ~1.

The data come from the simulated lab's own sample objects (sim_devices/samples.py: written from
the physics, not from the analysis kernels) with the noise the lab's SQUID readout adds per
reading: flux noise 1e-7 Phi0 through the pickup's 3000 Phi0 per A m^2. One realization through
the instruments is fitted in test_demo_files_fit.py; here the noise is drawn many times.
The soft core's loop has its own pulls test (test_jiles_atherton_pulls.py)."""
import numpy as np
import pytest

from loopscope.analysis.fitting import fit
from loopscope.sim_devices.config import DEFAULTS
from loopscope.sim_devices.samples import Paramagnet, SuperconductingLoop

N_REALIZATIONS = 200
SIGMA_MOMENT_Am2 = DEFAULTS["squid"]["flux_noise_phi0"] / DEFAULTS["squid"]["coupling_phi0_per_Am2"]


def assert_pulls_standard(pulls, names):
    """Mean within 4 standard errors of 0, width within 20 % of 1 (N = 200: the width's own
    scatter is 5 %)."""
    pulls = np.asarray(pulls)
    n = pulls.shape[0]
    for j, name in enumerate(names):
        mean, width = pulls[:, j].mean(), pulls[:, j].std(ddof=1)
        assert abs(mean) < 4 / np.sqrt(n), (name, mean, width)
        assert 0.8 < width < 1.2, (name, mean, width)


def test_a_paramagnets_magnetization_curve_fits_with_brillouin():
    """Gd-like J = 7/2 spins at 2 K (x = g mu_B J B / k_B T up to 2.4 at 1 T, so the curve
    bends and J is determined), with the default diamagnetic background."""
    p = {**DEFAULTS["sample"]["paramagnet"], "J": 3.5, "n_per_m3": 1e25}
    T = 2.0
    sample = Paramagnet(p["n_per_m3"], p["g"], p["J"], p["chi_dia"], p["volume_m3"])
    B = np.linspace(-1.0, 1.0, 201)
    clean = np.array([sample.moment_Am2(b, T, 0.0) for b in B])
    from loopscope.sim_devices.constants import MU_0, MU_B
    truth = {"Ms": p["n_per_m3"] * p["g"] * MU_B * p["J"] * p["volume_m3"], "J": p["J"],
             "chi0": p["chi_dia"] * p["volume_m3"] / MU_0}
    rng = np.random.default_rng(2026)
    # 10x the SQUID's noise (5e-4 of Ms), so the fit's errors are far above rounding and still
    # small enough for the linear error propagation the stderr comes from (at 1000x, 5 % of Ms,
    # J and Ms trade off nonlinearly and the pulls are skewed: that is the noise, not the model)
    sigma = 10 * SIGMA_MOMENT_Am2
    pulls = []
    for _ in range(N_REALIZATIONS):
        y = clean + sigma * rng.standard_normal(B.size)
        res = fit("brillouin", B, y, params={"g": p["g"], "T": T, "J": 3.0}, sigma=np.full(B.size, sigma),
                  absolute_sigma=True)
        assert res.converged, res.message
        pulls.append([(res[n] - truth[n]) / res.stderr[res.names.index(n)] for n in truth])
    assert_pulls_standard(pulls, list(truth))


def test_the_same_paramagnet_at_low_field_fits_with_curie_weiss():
    """The susceptibility moment/H at 1 mT from 2 to 300 K: Curie's law, C = n g^2 mu_B^2 J(J+1)
    mu_0 V / (3 k_B), theta = 0, chi0 the diamagnetic background (the Brillouin curve's x^3 term
    is 1e-7 of the signal here, below the noise)."""
    from loopscope.sim_devices.constants import K_B, MU_0, MU_B
    p = DEFAULTS["sample"]["paramagnet"]
    sample = Paramagnet(p["n_per_m3"], p["g"], p["J"], p["chi_dia"], p["volume_m3"])
    B = 1e-3
    H = B / MU_0
    T = np.geomspace(2.0, 300.0, 60)
    clean = np.array([sample.moment_Am2(B, t, 0.0) for t in T]) / H
    truth = {"C": p["n_per_m3"] * (p["g"] * MU_B) ** 2 * p["J"] * (p["J"] + 1) * MU_0 * p["volume_m3"] / (3 * K_B),
             "theta": 0.0, "chi0": p["chi_dia"] * p["volume_m3"]}
    sigma = SIGMA_MOMENT_Am2 / H   # the SQUID's own: 1 % of the signal at 2 K
    rng = np.random.default_rng(7)
    pulls = []
    for _ in range(N_REALIZATIONS):
        y = clean + sigma * rng.standard_normal(T.size)
        res = fit("curie_weiss", T, y, sigma=np.full(T.size, sigma), absolute_sigma=True)
        assert res.converged, res.message
        pulls.append([(res[n] - truth[n]) / res.stderr[res.names.index(n)] for n in truth])
    assert_pulls_standard(pulls, list(truth))


def test_a_superconducting_loops_decay_fits_with_sc_decay():
    """A loop with a resistive joint (tau = 2 days) and flux creep, read for 3 days: its current
    from the moment over the loop's area."""
    p = {**DEFAULTS["sample"]["sc_loop"], "tau_s": 1.728e5}
    loop = SuperconductingLoop(p["radius_m"], p["trapped_current_A"], p["tau_s"], p["creep_rate_S"], p["t0_s"])
    t = np.linspace(0.0, 2.6e5, 300)
    area = np.pi * p["radius_m"] ** 2
    clean = np.array([loop.moment_Am2(0.0, 4.2, ti) for ti in t]) / area
    truth = {"I0": p["trapped_current_A"], "tau": p["tau_s"], "S": p["creep_rate_S"], "t0": p["t0_s"]}
    sigma = 100 * SIGMA_MOMENT_Am2 / area
    rng = np.random.default_rng(11)
    pulls = []
    for _ in range(N_REALIZATIONS):
        y = clean + sigma * rng.standard_normal(t.size)
        res = fit("sc_decay", t, y, params={"I0": 1.01, "tau": 1.5e5, "S": 0.021, "t0": 1.2},
                  sigma=np.full(t.size, sigma), absolute_sigma=True)
        assert res.converged, res.message
        pulls.append([(res[n] - truth[n]) / res.stderr[res.names.index(n)] for n in truth])
    assert_pulls_standard(pulls, list(truth))


def test_the_rings_persistent_current_sweep_fits_with_pc_squid():
    """The lab's ring array (the default 100 rings of 300 nm, spin-degenerate, diffusive, at 30 mK)
    read by the SQUID over four h/e periods, with two harmonics in the lab (pc_squid has two;
    the lab's default four would put I3, I4 above the noise and bias the fit by design).
    The world computes the flux (coupling, Curie background, offset): sim_devices/world.py."""
    from loopscope.sim_devices.world import World
    world = World({"sample": {"rings": {"n_harmonics": 2}}}, seed=5)
    rings, squid = world.sample, world.squid_cfg
    T = world.temperature_K
    k = world.coil.coil_constant_T_per_A
    B = np.linspace(0.0, 4 * rings.field_period_T, 401)
    clean = np.empty(B.size)
    for i, b in enumerate(B):
        world.coil.current_A = b / k
        clean[i] = world.squid_flux_phi0()
    c1, c2 = rings.coefficients_A(T)
    truth = {"area": rings.area_m2, "I1": c1, "I2": c2, "phi1": 0.0, "phi2": 0.0,
             "chi_bg": squid["background_curie_phi0_K_per_T"] / T + squid["applied_field_coupling_phi0_per_T"],
             "c0": squid["offset_phi0"]}
    sigma = squid["flux_noise_phi0"]
    fixed = {"M_rp": squid["mutual_inductance_H"], "theta": rings.theta_rad}
    rng = np.random.default_rng(17)
    pulls = []
    for _ in range(N_REALIZATIONS):
        y = clean + sigma * rng.standard_normal(B.size)
        # chi_bg and c0 from the model's data-driven start (from 0, the fit can settle at
        # phi1 = pi with I1 of the other sign: the same curve, another name for it)
        res = fit("pc_squid", B, y, params={**fixed, "area": 1.02 * rings.area_m2, "I1": 0.9 * c1,
                                              "I2": 0.9 * c2},
                  fixed=list(fixed), sigma=np.full(B.size, sigma), absolute_sigma=True)
        assert res.converged, res.message
        pulls.append([(res[n] - truth[n]) / res.stderr[res.names.index(n)] for n in truth])
    assert_pulls_standard(pulls, list(truth))

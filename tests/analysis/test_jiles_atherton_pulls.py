"""Fitting the simulated soft core's own loop with the analysis model recovers the lab's
parameters within the reported error bars: the sim's SoftCore moment along the demo plan's field
path plus the lab's flux-readout noise (squid.flux_noise_phi0 over the pickup coupling), over many
noise realizations; each pull (fit - truth)/stderr has mean ~0 and width ~1.

Identifiability: the model's alpha is the sample's alpha - N (the demagnetizing field is a mean
field too, docs/simulated_lab.md); alpha and N separately are not determined by a loop, and the
truth compared is alpha - N. Ms, a, k and c are all determined by the strip's sheared loop."""
import numpy as np

from loopscope.analysis.fitting import fit
from loopscope.sim_devices.config import DEFAULTS
from loopscope.sim_devices.samples import SoftCore

from .ja_reference import MU_0, loop_path

SEEDS = 30


def test_pulls_of_the_lab_core_fit_are_standard_normal():
    cfg, sq = DEFAULTS["sample"]["soft_core"], DEFAULTS["squid"]
    H = loop_path()
    core = SoftCore(cfg["Ms"], cfg["a"], cfg["k"], cfg["c"], cfg["alpha"], cfg["volume_m3"],
                    cfg["demagnetizing_factor"])
    clean = []
    for h in H:
        core.advance_field(MU_0 * h)
        clean.append(core.moment_Am2(MU_0 * h, 0.03, 0.0))
    clean = np.array(clean)
    sigma = sq["flux_noise_phi0"] / sq["coupling_phi0_per_Am2"]
    truth = {"Ms": cfg["Ms"], "a": cfg["a"], "k": cfg["k"], "c": cfg["c"],
             "alpha": cfg["alpha"] - cfg["demagnetizing_factor"], "volume": cfg["volume_m3"]}
    names = ("Ms", "a", "k", "c", "alpha")
    pulls, redchi = {n: [] for n in names}, []
    rng = np.random.default_rng(20261202)
    for _ in range(SEEDS):
        y = clean + rng.normal(0.0, sigma, clean.size)
        res = fit("jiles_atherton", H, y, params=truth, sigma=np.full(y.size, sigma), absolute_sigma=True)
        assert res.converged and "singular" not in res.message, res.message
        redchi.append(res.chi_square / res.dof)
        for n in names:
            i = res.names.index(n)
            pulls[n].append((res.values[i] - truth[n]) / res.stderr[i])
    assert abs(np.mean(redchi) - 1.0) < 0.1
    for n in names:
        p = np.array(pulls[n])
        print(f"{n}: pull mean {p.mean():+.3f} width {p.std(ddof=1):.3f}")
        assert abs(p.mean()) < 3 / np.sqrt(SEEDS), (n, p.mean())
        assert 0.7 < p.std(ddof=1) < 1.4, (n, p.std(ddof=1))

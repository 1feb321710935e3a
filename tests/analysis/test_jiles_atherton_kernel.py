"""The Jiles-Atherton kernel (model version 2) at the demo's coarse field steps: bounded where
version 1 ran away, and equal to an independent solve_ivp integration of the same ODE along the
same path to well below the simulated lab's readout noise. Parameters here are new to the tests."""
import numpy as np
import pytest

from loopscope.analysis.kernels.models import jiles_atherton_m
from loopscope.analysis.models import get_model
from loopscope.sim_devices.config import DEFAULTS

from .ja_reference import MU_0, ja_reference, loop_path

# the lab's moment noise in magnetization units for a 1 mm^3 core: flux noise / coupling / volume
SIGMA_M = DEFAULTS["squid"]["flux_noise_phi0"] / DEFAULTS["squid"]["coupling_phi0_per_Am2"] / 1e-9


@pytest.mark.parametrize("params", [
    (1.6e6, 1100.0, 400.0, 0.2, 1.6e-3),     # the parameters: v1 reached 20 Ms
    (1.62e6, 45.0, 30.0, 0.2, 7.0e-5),       # a silicon steel without demagnetizing field (steep)
])
def test_the_loop_stays_within_saturation_at_the_demo_step(params):
    H = loop_path()
    assert H[1] - H[0] == pytest.approx(1591.5, abs=0.1)
    M = jiles_atherton_m(H, *params, 0)
    assert np.all(np.isfinite(M))
    assert np.max(np.abs(M)) <= params[0]
    # and it is a hysteresis loop: the descending branch lies above the ascending one at H = 0
    n = 40
    down, up = M[n:3 * n + 1], M[3 * n:]
    assert np.interp(0, H[n:3 * n + 1][::-1], down[::-1]) > np.interp(0, H[3 * n:], up)


@pytest.mark.parametrize("params", [
    (1.45e6, 55.0, 28.0, 0.35, 4.0e-5 - 0.018),   # a sheared strip: alpha - N < 0 (stiff)
    (1.2e6, 800.0, 300.0, 0.15, 1.0e-3),          # a harder ferrite-like loop, alpha > 0
    (1.55e6, 30.0, 22.0, 0.5, 5.0e-5),            # steep, no demagnetizing field
])
def test_the_kernel_equals_solve_ivp_along_the_demo_path(params):
    H = loop_path()
    M = jiles_atherton_m(H, *params, 0)
    ref = ja_reference(H, *params)
    err = np.max(np.abs(M - ref))
    # well below the lab's readout noise (0.033 A/m for the 1 mm^3 core, 2e-8 Ms)
    assert err < 0.2 * SIGMA_M, (err, SIGMA_M)


def test_the_substep_count_follows_the_field_step():
    """Half the field step, the same loop at the shared fields (the count is per interval)."""
    p = (1.5e6, 50.0, 30.0, 0.3, 5e-5 - 0.01)
    H = loop_path(step_T=0.002)
    fine = loop_path(step_T=0.001)
    assert np.allclose(jiles_atherton_m(fine, *p, 0)[::2], jiles_atherton_m(H, *p, 0), rtol=0, atol=0.2 * SIGMA_M)


def test_the_registry_records_version_2():
    assert get_model("jiles_atherton").version == "2"

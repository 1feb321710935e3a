"""The simulated soft core: its integration against solve_ivp of the same Jiles-Atherton ODE, the
default grain-oriented Fe-3%Si strip's coercivity and loss against published figures, and the
demagnetizing field against the textbook limit M = H/N. Parameters here are new to the tests."""
import math

import numpy as np
import pytest

from loopscope.sim_devices.config import DEFAULTS
from loopscope.sim_devices.samples import SoftCore
from tests.analysis.ja_reference import MU_0, ja_reference, loop_path


def sweep(core, H, per_point=7):
    """The lab's way: many small advance_field calls between the points (the coil ramps)."""
    out, last = [], 0.0
    for h in H:
        for f in np.linspace(0.0, 1.0, per_point + 1)[1:]:
            core.advance_field(MU_0 * (last + f * (h - last)))
        last = h
        out.append(core.M)
    return np.array(out)


@pytest.mark.parametrize("params,N", [((1.5e6, 70.0, 45.0, 0.25, 5e-5), 0.02),
                                      ((1.3e6, 900.0, 350.0, 0.1, 9e-4), 0.0)])
def test_the_core_equals_solve_ivp_along_a_loop(params, N):
    H = loop_path(0.06, 0.0015)
    core = SoftCore(*params, 1e-9, demagnetizing_factor=N)
    M = sweep(core, H)
    # the same ODE along H_app with alpha - N in the effective field (docs/simulated_lab.md)
    ref = ja_reference(H, *params[:4], params[4] - N)
    assert np.max(np.abs(M - ref)) < 1e-6 * params[0]


def material_loop(core, H_amp, n=3000):
    up = np.linspace(0, H_amp, n // 4)
    cyc = np.concatenate([np.linspace(H_amp, -H_amp, n // 2), np.linspace(-H_amp, H_amp, n // 2)[1:]])
    sweep(core, up, 1)
    M = sweep(core, cyc, 1)
    return cyc - core.N * M, M


def test_the_default_core_is_grain_oriented_silicon_steel():
    cfg = DEFAULTS["sample"]["soft_core"]
    core = SoftCore(cfg["Ms"], cfg["a"], cfg["k"], cfg["c"], cfg["alpha"], cfg["volume_m3"], 0.0)
    assert MU_0 * cfg["Ms"] == pytest.approx(2.03, abs=0.02)          # Js of Fe-3%Si
    H, M = material_loop(core, 5000.0)
    half = len(H) // 2 + 1
    Hc = -np.interp(0.0, M[:half][::-1], H[:half][::-1])
    loss = -MU_0 * np.sum(0.5 * (M[1:] + M[:-1]) * np.diff(H))       # closed integral of H dB
    assert 10.0 < Hc < 50.0
    assert 100.0 < loss < 300.0                                     # J/m^3 a cycle
    # B800 (the grade's catalogue point) of grain-oriented steel: 1.8-1.95 T
    fresh = SoftCore(cfg["Ms"], cfg["a"], cfg["k"], cfg["c"], cfg["alpha"], 1e-9, 0.0)
    fresh.advance_field(MU_0 * 800.0)
    assert 1.8 < MU_0 * (800.0 + fresh.M) < 1.97


def aharoni(a, b, c):
    """Demagnetizing factor along c of a 2a x 2b x 2c prism, A. Aharoni, J. Appl. Phys. 83, 3432
    (1998), eq. (1)."""
    r, ab, bc, ac = math.sqrt(a * a + b * b + c * c), math.hypot(a, b), math.hypot(b, c), math.hypot(a, c)
    s = ((b * b - c * c) / (2 * b * c) * math.log((r - a) / (r + a))
         + (a * a - c * c) / (2 * a * c) * math.log((r - b) / (r + b))
         + b / (2 * c) * math.log((ab + a) / (ab - a)) + a / (2 * c) * math.log((ab + b) / (ab - b))
         + c / (2 * a) * math.log((bc - b) / (bc + b)) + c / (2 * b) * math.log((ac - a) / (ac + a))
         + 2 * math.atan(a * b / (c * r)) + (a ** 3 + b ** 3 - 2 * c ** 3) / (3 * a * b * c)
         + (a * a + b * b - 2 * c * c) / (3 * a * b * c) * r + c / (a * b) * (ac + bc)
         - (ab ** 3 + bc ** 3 + ac ** 3) / (3 * a * b * c))
    return s / math.pi


def test_the_default_strip_demagnetizing_factor_is_aharonis():
    assert aharoni(1, 1, 1) == pytest.approx(1 / 3, rel=1e-12)
    # 10 mm along the field, 1 mm wide, 0.1 mm thick (half-sides in mm)
    assert DEFAULTS["sample"]["soft_core"]["demagnetizing_factor"] == pytest.approx(aharoni(0.05, 0.5, 5.0), rel=1e-3)


def test_a_cube_chip_follows_its_demagnetizing_field():
    """The issue's 1 mm chip (N = 1/3) at 0.08 T: a permeable core holds H_int ~ 0, so M ~ H/N
    (0.12 Ms), far from the 0.98 Ms the core without demagnetizing field reached."""
    cfg = DEFAULTS["sample"]["soft_core"]
    core = SoftCore(cfg["Ms"], cfg["a"], cfg["k"], cfg["c"], cfg["alpha"], 1e-9, 1 / 3)
    H = 0.08 / MU_0
    sweep(core, [H], 50)
    assert core.M == pytest.approx(3 * H, rel=0.01)
    assert core.M / cfg["Ms"] == pytest.approx(0.118, abs=0.003)

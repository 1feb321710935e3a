"""The loop field's digits next to the wire (1e-12 .. 0.3 a), far away (up to 1e8 a) and for
radii from 1 nm to 1 km, through every route of the kernels (one radius at many points: the
vectorized block; radius per point: the scalar point; coaxial loops), against PHYSICS.md's
textbook form evaluated by mpmath at 50 digits, and a few points against the Biot-Savart line
integral. docs/analysis.md quotes the worst case measured here."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

import loopscope.analysis as A
from loopscope.analysis.constants import MU_0
from loopscope.analysis.kernels import elliptic as el


@pytest.fixture(autouse=True)
def _fifty_digits():
    with mp.workdps(50):
        yield


def _textbook(a, rho, z):
    a, rho, z = mp.mpf(a), mp.mpf(rho), mp.mpf(z)
    d2, d1 = (a + rho) ** 2 + z ** 2, (a - rho) ** 2 + z ** 2
    m = 4 * a * rho / d2
    K, E = mp.ellipk(m), mp.ellipe(m)
    pref = mp.mpf(MU_0) / (2 * mp.pi * mp.sqrt(d2))
    return (float(pref * z / rho * (-K + (a ** 2 + rho ** 2 + z ** 2) / d1 * E)),
            float(pref * (K + (a ** 2 - rho ** 2 - z ** 2) / d1 * E)))


def _grid(a, rng):
    pts = []
    for d in 10.0 ** np.arange(-12, 0.0, 1.0):
        for ang in np.linspace(0.1, 2 * np.pi + 0.1, 10, endpoint=False):
            pts.append((a * (1 + d * math.cos(ang)), a * d * math.sin(ang)))
    for R in 10.0 ** np.arange(0.5, 8.5, 0.5):
        for ang in np.linspace(0.05, np.pi - 0.05, 7):
            pts.append((a * R * math.sin(ang), a * R * math.cos(ang)))
    for _ in range(40):
        pts.append((a * rng.uniform(0, 3), a * rng.uniform(-2, 2)))
    return np.array(pts)


@pytest.mark.parametrize("a", [1e-9, 3e-7, 1.0, 1e3])
def test_every_route_keeps_14_digits_of_B(a):
    pts = _grid(a, np.random.default_rng(5))
    ref = np.array([_textbook(a, r, z) for r, z in pts])
    mag = np.hypot(ref[:, 0], ref[:, 1])
    routes = {
        "block": A.loop_field(a, 1.0, pts[:, 0], pts[:, 1]),
        "point": A.loop_field(np.full(len(pts), a), 1.0, pts[:, 0], pts[:, 1]),
        "coaxial": A.coaxial_loops_field([a], [1.0], [0.0], pts[:, 0], pts[:, 1]),
    }
    for name, (br, bz) in routes.items():
        err = np.hypot(br - ref[:, 0], bz - ref[:, 1]) / mag
        # before: 5e-8 at 1e-8 a from the wire, 3e-9 at 1e7 a, 5e-14 at m = 0.7 (point route)
        assert err.max() < 5e-15, (name, pts[np.argmax(err)] / a, err.max())
        big = np.abs(ref[:, 1]) > 1e-2 * mag
        assert np.max(np.abs(bz - ref[:, 1])[big] / np.abs(ref[big, 1])) < 1e-13, name


def _biot_savart(a, rho, z):
    a, rho, z = mp.mpf(a), mp.mpf(rho), mp.mpf(z)
    r3 = lambda p: (a * a + rho * rho + z * z - 2 * a * rho * mp.cos(p)) ** 1.5  # noqa: E731
    c = mp.mpf(MU_0) * a / (2 * mp.pi)
    cuts = [0, mp.mpf(10) ** -6, 1e-3, 0.1, mp.pi]
    return (float(c * mp.quad(lambda p: z * mp.cos(p) / r3(p), cuts)),
            float(c * mp.quad(lambda p: (a - rho * mp.cos(p)) / r3(p), cuts)))


@pytest.mark.parametrize("rho, z", [(1 + 1e-6, 0.0), (1.0, 1e-6), (1 - 5e-7, -5e-7), (1e5, 0.0),
                                    (6e4, 8e4), (0.2, 1e5), (0.4, 0.3)])
def test_loop_field_against_the_biot_savart_line_integral(rho, z):
    a = 5e-3
    br, bz = A.loop_field(a, 1.0, np.array([rho * a]), np.array([z * a]))
    rbr, rbz = _biot_savart(a, rho * a, z * a)
    mag = math.hypot(rbr, rbz)
    assert abs(bz[0] - rbz) < 4e-15 * mag and abs(br[0] - rbr) < 4e-15 * mag


def test_k_minus_e_and_e_next_to_the_singularity():
    """K - E as K sum 2^(n-1) c_n^2 (no subtraction), E and K from the AGM, kc = 1e-14 .. 0.7."""
    for kc in (1e-14, 1e-10, 1e-6, 1e-3, 0.1, 0.7):
        m = mp.mpf(1) - mp.mpf(kc) ** 2
        K, E, kme = el.ellip_k_e_kme(kc, float(m))
        assert K == pytest.approx(float(mp.ellipk(m)), rel=2e-15, abs=0)
        assert E == pytest.approx(float(mp.ellipe(m)), rel=3e-15, abs=0)
        assert kme == pytest.approx(float(mp.ellipk(m) - mp.ellipe(m)), rel=2e-15, abs=0)

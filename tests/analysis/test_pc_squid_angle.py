"""pc_squid at field angles other than 90 degrees: the fit recovers the ring's own area and
reports the period the flux through it sets, h/(e A sin theta).

The data are written out here from the ring's physics, not from the model kernel: a ring of area
A at angle theta to the field sees the flux A B sin(theta), its current is periodic in that flux
with period h/e, and the SQUID reads M I / Phi0_sc plus a background."""
import math

import numpy as np
import pytest

from loopscope.analysis.constants import PHI0
from loopscope.analysis.fitting import fit

H, E = 6.62607015e-34, 1.602176634e-19
PHI0_SC = H / (2 * E)
AREA = 4.40e-13          # m^2: a ring of radius 374 nm
M_RP = 0.96e-12          # H


@pytest.mark.parametrize("theta_deg", [30.0, 40.0, 45.0, 60.0, 90.0])
def test_area_and_period_at_an_angle(theta_deg):
    theta = math.radians(theta_deg)
    period = (H / E) / (AREA * math.sin(theta))          # in tesla
    B = np.linspace(0.0, 6 * period, 2000)
    flux_through_ring = AREA * math.sin(theta) * B
    current = 2.0e-9 * np.sin(2 * math.pi * flux_through_ring / (H / E) + 0.3) \
        + 0.3e-9 * np.sin(4 * math.pi * flux_through_ring / (H / E) - 0.5)
    rng = np.random.default_rng(int(theta_deg))
    flux = M_RP * current / PHI0_SC + 1e-3 * B + 0.02 + 1e-7 * rng.standard_normal(B.size)
    res = fit("pc_squid", B, flux, params={"theta": theta, "M_rp": M_RP})
    assert res.converged, res.message
    area, d_area = res.params["area"], res.stderr[res.names.index("area")]
    # within its error bar (3e-4 relative at this noise), and so the period
    assert abs(area - AREA) < 5 * d_area and d_area < 1e-3 * AREA
    got, d_period, units = res.derived["period_T"]
    assert units == "T" and abs(got - period) < 5 * d_period
    assert PHI0 == pytest.approx(H / E, rel=1e-12)

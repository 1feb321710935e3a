"""An independent route to the Jiles-Atherton ODE for the tests: scipy's solve_ivp (DOP853, rtol
1e-10) of dM_irr/dH = (M_an - M_irr)/(delta k - alpha (M_an - M_irr)) one data interval at a time
(delta fixed in each), with M = (1-c) M_irr + c Ms L((H + alpha M)/a) solved by brentq."""
import math

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

MU_0 = 4e-7 * math.pi


def langevin(x):
    return x / 3 - x ** 3 / 45 + 2 * x ** 5 / 945 if abs(x) < 1e-3 else 1 / math.tanh(x) - 1 / x


def ja_reference(H, Ms, a, k, c, alpha, rtol=1e-10):
    def total(h, m_irr):
        g = lambda m: m - (1 - c) * m_irr - c * Ms * langevin((h + alpha * m) / a)
        span = 2 * Ms + 2 * abs(m_irr)    # a trial stage may carry M_irr past Ms
        return brentq(g, -span, span, xtol=1e-14 * Ms, rtol=1e-15)

    out = [total(H[0], 0.0)]
    m_irr = 0.0
    for h0, h1 in zip(H[:-1], H[1:]):
        if h1 == h0:
            out.append(out[-1])
            continue
        d = 1.0 if h1 > h0 else -1.0

        def rate(h, y):
            diff = Ms * langevin((h + alpha * total(h, y[0])) / a) - y[0]
            return [diff / (d * k - alpha * diff) if d * diff > 0 else 0.0]

        m_irr = solve_ivp(rate, (h0, h1), [m_irr], method="DOP853", rtol=rtol, atol=1e-12 * Ms).y[0, -1]
        out.append(total(h1, m_irr))
    return np.array(out)


def loop_path(amplitude_T=0.08, step_T=0.002):
    """The field history of examples/plans/hysteresis_loop.yaml (virgin curve, one cycle), A/m."""
    n = int(round(amplitude_T / step_T))
    steps = np.concatenate([np.arange(0, n + 1), np.arange(n - 1, -n - 1, -1), np.arange(-n + 1, n + 1)])
    return steps * step_T / MU_0

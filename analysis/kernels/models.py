"""Model kernels `model(x, p) -> y` and analytic Jacobians `jac(x, p, f, JT)` (SI),
JT[j, i] = df_i/dp_j.

Parameter order is the registry's (analysis.models). Pure numba functions, float64.
"""
import math

import numpy as np
from numba import njit

from loopscope.analysis.constants import K_B, MU_B, PHI0, PHI0_SC
from loopscope.analysis.kernels.trig import _FM, phase_in_range, phase_sincos, sincos

_TWO_PI = 2.0 * math.pi
_SQRT_PI = math.sqrt(math.pi)


# ---------------------------------------------------------------- special functions
@njit(cache=True)
def langevin(y):
    """L(y) = coth y - 1/y, series below |y| = 0.1 (no cancellation)."""
    ay = abs(y)
    if ay < 0.1:
        y2 = y * y
        return y * (1.0 / 3.0 + y2 * (-1.0 / 45.0 + y2 * (2.0 / 945.0 + y2 * (-1.0 / 4725.0 + y2 * 2.0 / 93555.0))))
    if ay > 40.0:
        return math.copysign(1.0, y) - 1.0 / y
    return 1.0 / math.tanh(y) - 1.0 / y


@njit(cache=True)
def langevin_deriv(y):
    ay = abs(y)
    if ay < 0.1:
        y2 = y * y
        return 1.0 / 3.0 + y2 * (-3.0 / 45.0 + y2 * (10.0 / 945.0 + y2 * (-7.0 / 4725.0 + y2 * 18.0 / 93555.0)))
    s = math.sinh(y) if ay < 350.0 else np.inf
    return 1.0 / (y * y) - 1.0 / (s * s)


@njit(cache=True)
def brillouin(J, x):
    """B_J(x) = a coth(a x) - b coth(b x), a = (2J+1)/2J, b = 1/2J, written as a L(a x) - b L(b x)."""
    a = (2.0 * J + 1.0) / (2.0 * J)
    b = 1.0 / (2.0 * J)
    return a * langevin(a * x) - b * langevin(b * x)


@njit(cache=True)
def x_over_sinh(x):
    ax = abs(x)
    if ax < 1e-4:
        return 1.0 - x * x / 6.0
    if ax > 700.0:
        return 2.0 * ax * math.exp(-ax)
    return x / math.sinh(x)


@njit(cache=True)
def jp_integral(p, theta):
    """j_p(theta) = int_0^inf dtau (pi theta)^2 exp(-p^2/(4 tau)) / (2 sqrt(pi) tau^{3/2} sinh^2(pi theta tau)).

    Trapezoid rule in u = ln(tau): the integrand is analytic in a strip of half-width pi/2 and
    decays (doubly) exponentially at both ends, so the rule converges exponentially.
    j_p(0) = 12 / p^5.
    """
    c = p * p / 4.0
    u_lo = math.log(c) - 4.6
    u_hi = math.log(c) + 17.0
    if theta > 0.0:
        u_cut = math.log(45.0 / (math.pi * theta))
        if u_cut < u_hi:
            u_hi = u_cut
    if u_hi <= u_lo + 1.0:
        u_hi = u_lo + 1.0
    h = 0.125
    n = int((u_hi - u_lo) / h) + 1
    total = 0.0
    for i in range(n + 1):
        u = u_lo + i * h
        tau = math.exp(u)
        ys = x_over_sinh(math.pi * theta * tau)
        total += math.exp(-c / tau) * ys * ys / (2.0 * _SQRT_PI * tau ** 2.5)
    return total * h


# ---------------------------------------------------------------- magnetization
@njit(cache=True)
def susceptibility(x, p):
    """moment = chi * H + m0."""
    return p[0] * x + p[1]


@njit(cache=True)
def susceptibility_jac(x, p, f, J):
    for i in range(x.shape[0]):
        J[0, i] = x[i]
        J[1, i] = 1.0


@njit(cache=True)
def curie_weiss(x, p):
    """chi(T) = C / (T - theta) + chi0."""
    return p[0] / (x - p[1]) + p[2]


@njit(cache=True)
def curie_weiss_jac(x, p, f, J):
    for i in range(x.shape[0]):
        d = 1.0 / (x[i] - p[1])
        J[0, i] = d
        J[1, i] = p[0] * d * d
        J[2, i] = 1.0


@njit(cache=True)
def brillouin_model(x, p):
    """moment(B) = Ms B_J(g mu_B J B / (k_B T)) + chi0 B;  p = Ms, g, J, T, chi0."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        arg = p[1] * MU_B * p[2] * x[i] / (K_B * p[3])
        out[i] = p[0] * brillouin(p[2], arg) + p[4] * x[i]
    return out


@njit(cache=True)
def langevin_model(x, p):
    """moment(B) = Ms L(mu B / (k_B T)) + chi0 B;  p = Ms, mu, T, chi0."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = p[0] * langevin(p[1] * x[i] / (K_B * p[2])) + p[3] * x[i]
    return out


# ---------------------------------------------------------------- Jiles-Atherton
# Fifth-order Runge-Kutta weights (the Dormand-Prince 5(4) pair's fifth-order solution, Hairer,
# Norsett & Wanner, Solving ODEs I, table 5.2), used with a fixed step count per data interval.
_JA_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_JA_A = np.array([[0.0, 0.0, 0.0, 0.0, 0.0],
                  [1 / 5, 0.0, 0.0, 0.0, 0.0],
                  [3 / 40, 9 / 40, 0.0, 0.0, 0.0],
                  [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0],
                  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0],
                  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]])
_JA_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
#: substep length in units of the model's field scale (_ja_substeps): 5th order at this length keeps the integration error ~1e-9 Ms on the
#: demo's loop, well below the lab's readout noise (tests/analysis/test_jiles_atherton_kernel.py)
JA_SUBSTEP_FRACTION = 0.8
JA_MAX_SUBSTEPS = 4096


@njit(cache=True)
def _ja_total(h, m_irr, guess, ms, a, c, alpha):
    """M solving M = (1-c) m_irr + c Ms L((H + alpha M)/a): Newton from guess. g(M) increases
    while c Ms alpha L'/a < 1 (always for alpha <= 0, e.g. a demagnetizing field folded into alpha),
    where the old fixed-point sweep needed alpha c Ms/3a < 1 and diverges otherwise."""
    m = guess
    for _ in range(40):
        x = (h + alpha * m) / a
        g = m - (1.0 - c) * m_irr - c * ms * langevin(x)
        dg = 1.0 - c * ms * alpha / a * langevin_deriv(x)
        if dg < 0.1:
            dg = 0.1      # past the monotone range: a damped step instead of a jump away
        step = g / dg
        m -= step
        if abs(step) <= 1e-15 * ms:
            break
    return m


@njit(cache=True)
def _ja_rate(h, m_irr, m_guess, delta, ms, a, k, c, alpha):
    """dM_irr/dH and the total M at (H, M_irr)."""
    m = _ja_total(h, m_irr, m_guess, ms, a, c, alpha)
    diff = ms * langevin((h + alpha * m) / a) - m_irr
    if diff * delta <= 0.0:
        # no irreversible change while M_an - M_irr opposes the sweep (Jiles & Atherton's
        # delta_M switch: dM_irr/dH may not take the sign opposite to dH)
        return 0.0, m
    # guard (the standard remedy for the JA model's non-physical negative differential
    # susceptibility, e.g. Zirka, Moroz, Harrison & Chwastek, J. Appl. Phys. 112, 043916 (2012)):
    # the exact solution keeps delta (delta k - alpha diff) > 0, since dM_irr/dH grows without
    # bound as it nears zero and pulls diff back; a finite step may not, and then the slope
    # would change sign and M run away. Hold the denominator at 1e-3 k, of the sweep's sign.
    den = delta * k - alpha * diff
    if delta * den < 1e-3 * k:
        den = delta * 1e-3 * k
    return diff / den, m


@njit(cache=True)
def _ja_crossing(h_lo, h_hi, m_irr, m_lo, delta, ms, a, c, alpha):
    """The field in [h_lo, h_hi] where M_an(H) = M_irr with M_irr held (the reversible stretch):
    Illinois-modified regula falsi, to ~1e-13 of the interval; returns (H, M there)."""
    m = m_lo
    f_lo = delta * (ms * langevin((h_lo + alpha * m_lo) / a) - m_irr)
    m_hi = _ja_total(h_hi, m_irr, m_lo, ms, a, c, alpha)
    f_hi = delta * (ms * langevin((h_hi + alpha * m_hi) / a) - m_irr)
    x = h_hi
    side = 0
    for _ in range(100):
        x = (h_lo * f_hi - h_hi * f_lo) / (f_hi - f_lo)
        m = _ja_total(x, m_irr, m, ms, a, c, alpha)
        fx = delta * (ms * langevin((x + alpha * m) / a) - m_irr)
        if fx > 0.0:
            h_hi, f_hi = x, fx
            if side == 1:
                f_lo *= 0.5
            side = 1
        else:
            h_lo, f_lo = x, fx
            if side == -1:
                f_hi *= 0.5
            side = -1
        if abs(h_hi - h_lo) <= 1e-13 * (abs(h_hi) + abs(h_lo) + a) or fx == 0.0:
            break
    return x, m


@njit(cache=True)
def _ja_substeps(dh, ms, a, k, c, alpha):
    """Fixed substep count for one data interval of field step dh: the step set by the model's
    field scales, a (the anhysteretic), k (pinning) and k/(alpha Ms) times k (the mean-field
    feedback narrows the anhysteretic when alpha > 0: near H = 0 its slope is that of a Langevin
    of width a - alpha Ms/3). A count, not an error control: the model stays smooth in its
    parameters except where the count changes by one, a change ~1e-9 Ms."""
    scale = min(a, k)
    if alpha > 0.0:
        # the positive feedback steepens the irreversible branch (its slope diff/(k - alpha diff)
        # peaks near the coercive field): k/6 measured against solve_ivp for alpha Ms/3a up to 0.85
        scale = min(scale, k / 6.0, 0.5 * max(a - alpha * ms / 3.0, 0.05 * a))
    else:
        # a negative feedback (a demagnetizing field folded into alpha) makes the ODE stiff:
        # M_irr relaxes onto the sheared branch over k/(1 + S), S = (1-c) X/(1 + c X), X = |alpha| Ms/3a
        x = -alpha * ms / (3.0 * a)
        scale = min(scale, k / (1.0 + (1.0 - c) * x / (1.0 + c * x)))
    n = int(math.ceil(abs(dh) / (JA_SUBSTEP_FRACTION * scale)))
    return max(1, min(n, JA_MAX_SUBSTEPS))


@njit(cache=True)
def jiles_atherton_m(h, ms, a, k, c, alpha, nsub=0):
    """Magnetization M(H) (A/m) along the field history h (A/m), starting demagnetized.

    dM_irr/dH = (M_an - M_irr) / (delta k - alpha (M_an - M_irr)),  M = (1-c) M_irr + c M_an,
    M_an = Ms L((H + alpha M)/a), delta = sign(dH); no irreversible change while M_an - M_irr
    opposes the sweep direction. Fifth-order Runge-Kutta in M_irr, M solved by Newton at each
    stage; nsub > 0 fixes the substeps per interval, 0 takes them from each interval's field step
    relative to the model's scales (_ja_substeps).
    """
    n = h.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    m_irr = 0.0
    m_tot = _ja_total(h[0], 0.0, 0.0, ms, a, c, alpha)
    out[0] = m_tot
    ks = np.empty(6)
    for i in range(1, n):
        dh_total = h[i] - h[i - 1]
        if dh_total == 0.0:
            out[i] = out[i - 1]
            continue
        delta = 1.0 if dh_total > 0 else -1.0
        ns = nsub if nsub > 0 else _ja_substeps(dh_total, ms, a, k, c, alpha)
        dh = dh_total / ns
        h0 = h[i - 1]
        for s in range(ns):
            hh = h0 + s * dh
            h_end = h0 + (s + 1) * dh
            guess = m_tot
            step = dh
            if delta * (ms * langevin((hh + alpha * m_tot) / a) - m_irr) <= 0.0:
                # M_irr is frozen (after a reversal) until M_an comes round to it: the slope has a
                # kink there, which would cost a fixed-step method its order. M is reversible up to
                # it, so find the crossing (M_irr fixed) and integrate only from there.
                m_end = _ja_total(h_end, m_irr, m_tot, ms, a, c, alpha)
                if delta * (ms * langevin((h_end + alpha * m_end) / a) - m_irr) <= 0.0:
                    m_tot = m_end
                    continue
                hh, guess = _ja_crossing(hh, h_end, m_irr, m_tot, delta, ms, a, c, alpha)
                step = h_end - hh
            for j in range(6):
                mi = m_irr
                for q in range(j):
                    mi += step * _JA_A[j, q] * ks[q]
                # |M_irr| <= Ms holds for the exact solution (it moves towards M_an, |M_an| < Ms); a
                # trial stage past it is an overshoot, held here so that no step can run away
                mi = max(-ms, min(ms, mi))
                ks[j], guess = _ja_rate(hh + _JA_C[j] * step, mi, guess, delta, ms, a, k, c, alpha)
            inc = 0.0
            for j in range(6):
                inc += _JA_B[j] * ks[j]
            m_irr = max(-ms, min(ms, m_irr + step * inc))
            m_tot = _ja_total(h_end, m_irr, guess, ms, a, c, alpha)
        out[i] = m_tot
    return out


@njit(cache=True)
def jiles_atherton(x, p):
    """moment along the H history x: volume * M_JA(H); p = Ms, a, k, c, alpha, volume."""
    return p[5] * jiles_atherton_m(x, p[0], p[1], p[2], p[3], p[4], 0)


# ---------------------------------------------------------------- persistent currents
@njit(cache=True)
def persistent_current(x, p):
    """I(B) = I1 sin(2 pi A B/Phi0 + phi1) + I2 sin(4 pi A B/Phi0 + phi2) + b B.

    p = area (effective: ring area times sin of the field angle to the ring plane), I1, phi1,
    I2, phi2, background. One sin/cos pair per point; the rest by angle addition."""
    n = x.shape[0]
    out = np.empty(n)
    s = np.empty(n)
    c = np.empty(n)
    phase_sincos(x, _TWO_PI * p[0] / PHI0, s, c)
    a1 = p[1] * math.cos(p[2])
    b1 = p[1] * math.sin(p[2])
    a2 = p[3] * math.cos(p[4])
    b2 = p[3] * math.sin(p[4])
    for i in range(n):
        s2 = 2.0 * s[i] * c[i]
        c2 = c[i] * c[i] - s[i] * s[i]
        out[i] = a1 * s[i] + b1 * c[i] + a2 * s2 + b2 * c2 + p[5] * x[i]
    return out


@njit(cache=True)
def persistent_current_jac(x, p, f, J):
    n = x.shape[0]
    s = np.empty(n)
    c = np.empty(n)
    phase_sincos(x, _TWO_PI * p[0] / PHI0, s, c)
    cp1 = math.cos(p[2])
    sp1 = math.sin(p[2])
    cp2 = math.cos(p[4])
    sp2 = math.sin(p[4])
    k = _TWO_PI / PHI0
    r0 = J[0]
    r1 = J[1]
    r2 = J[2]
    r3 = J[3]
    r4 = J[4]
    r5 = J[5]
    i1 = p[1]
    i2 = p[3]
    # one row per loop: simple loops that LLVM vectorizes
    for i in range(n):
        r1[i] = s[i] * cp1 + c[i] * sp1  # sin(ph + phi1)
        r2[i] = i1 * (c[i] * cp1 - s[i] * sp1)  # I1 cos(ph + phi1)
    for i in range(n):
        s2 = 2.0 * s[i] * c[i]
        c2 = c[i] * c[i] - s[i] * s[i]
        r3[i] = s2 * cp2 + c2 * sp2
        r4[i] = i2 * (c2 * cp2 - s2 * sp2)
    for i in range(n):
        r0[i] = (r2[i] + 2.0 * r4[i]) * k * x[i]
        r5[i] = x[i]


@njit(cache=True, fastmath=_FM)
def persistent_current_fj(x, p, f, J):
    """persistent_current values and Jacobian in one pass over the points: one sincos each,
    inlined in the loop (no temporary sin/cos arrays: ~20 % faster than phase_sincos first)."""
    w = _TWO_PI * p[0] / PHI0
    if not phase_in_range(x, w):  # beyond the vectorized sincos (absurd fields): the libm route
        f[:] = persistent_current(x, p)
        persistent_current_jac(x, p, f, J)
        return
    cp1 = math.cos(p[2])
    sp1 = math.sin(p[2])
    cp2 = math.cos(p[4])
    sp2 = math.sin(p[4])
    k = _TWO_PI / PHI0
    i1 = p[1]
    i2 = p[3]
    bg = p[5]
    r0 = J[0]
    r1 = J[1]
    r2 = J[2]
    r3 = J[3]
    r4 = J[4]
    r5 = J[5]
    for i in range(x.shape[0]):
        xi = x[i]
        si, ci = sincos(w * xi)
        s2 = 2.0 * si * ci
        c2 = ci * ci - si * si
        sin1 = si * cp1 + ci * sp1
        cos1 = ci * cp1 - si * sp1
        sin2 = s2 * cp2 + c2 * sp2
        cos2 = c2 * cp2 - s2 * sp2
        f[i] = i1 * sin1 + i2 * sin2 + bg * xi
        r0[i] = (i1 * cos1 + 2.0 * i2 * cos2) * k * xi
        r1[i] = sin1
        r2[i] = i1 * cos1
        r3[i] = sin2
        r4[i] = i2 * cos2
        r5[i] = xi


@njit(cache=True)
def pc_series(b, area, theta, amps, phases, period_flux):
    """sum_p I_p sin(2 pi p A B sin(theta) / Phi_per + phi_p) at fields b."""
    out = np.zeros_like(b)
    w = _TWO_PI * area * math.sin(theta) / period_flux
    for i in range(b.shape[0]):
        s = 0.0
        for q in range(amps.shape[0]):
            s += amps[q] * math.sin((q + 1) * w * b[i] + phases[q])
        out[i] = s
    return out


@njit(cache=True)
def pc_ensemble(x, p):
    """Ensemble average moment, period h/2e: m2 sin(4 pi A B/Phi0 + phase) + b B + c;
    p = moment_amp, area, phase, background, offset."""
    out = np.empty_like(x)
    w = 2.0 * _TWO_PI * p[1] / PHI0
    for i in range(x.shape[0]):
        out[i] = p[0] * math.sin(w * x[i] + p[2]) + p[3] * x[i] + p[4]
    return out


@njit(cache=True)
def pc_squid(x, p):
    """SQUID flux in Phi0_sc = h/2e: (M_rp / Phi0_sc) I_ring(B) + chi_bg B + c0;
    I_ring = sum_{p=1,2} I_p sin(2 pi p A B sin(theta)/Phi0 + phi_p);
    p = M_rp, area, theta, I1, phi1, I2, phi2, chi_bg, c0."""
    out = np.empty_like(x)
    w = _TWO_PI * p[1] * math.sin(p[2]) / PHI0
    g = p[0] / PHI0_SC
    for i in range(x.shape[0]):
        ph = w * x[i]
        ring = p[3] * math.sin(ph + p[4]) + p[5] * math.sin(2.0 * ph + p[6])
        out[i] = g * ring + p[7] * x[i] + p[8]
    return out


@njit(cache=True)
def pc_cantilever(x, p):
    """Cantilever frequency shift (Hz), from the torque tau = I A B cos(theta + alpha) on rings
    tilted by the tip angle alpha = x_tip / lever (derivation: sim_devices/cantilever.py):
    (f0 / (2 k lever^2)) [-(A B cos th)^2 dI/dPhi + I A B sin th] + b2 B^2 + b0,
    I = sum_{p=1,2} I_p sin(2 pi p A B sin th/Phi0 + phi_p);
    p = f0, k_spring, lever, area, theta, I1, phi1, I2, phi2, b2, b0.
    lever = x_tip / alpha: the length for a torsional lever, L/1.3765 for a flexural beam."""
    out = np.empty_like(x)
    f0 = p[0]
    ks = p[1]
    lv = p[2]
    area = p[3]
    th = p[4]
    w = _TWO_PI * area * math.sin(th) / PHI0
    g = f0 / (2.0 * ks * lv * lv)
    ac = area * math.cos(th)
    as_ = area * math.sin(th)
    for i in range(x.shape[0]):
        b = x[i]
        ph = w * b
        didphi = (_TWO_PI / PHI0) * (p[5] * math.cos(ph + p[6]) + 2.0 * p[7] * math.cos(2.0 * ph + p[8]))
        cur = p[5] * math.sin(ph + p[6]) + p[7] * math.sin(2.0 * ph + p[8])
        out[i] = g * (-(ac * b) ** 2 * didphi + cur * as_ * b) + p[9] * b * b + p[10]
    return out


@njit(cache=True)
def pc_ballistic_T(x, p):
    """I_p(T) = I0 x/sinh x, x = p T / T*;  params I0, T_star, harmonic."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = p[0] * x_over_sinh(p[2] * x[i] / p[1])
    return out


@njit(cache=True)
def pc_diffusive_T(x, p):
    """Typical current I_p(T) = I0 sqrt(j_p(k_B T/E_c) / j_p(0)); params I0, Ec_K (E_c/k_B), harmonic."""
    out = np.empty_like(x)
    q = p[2]
    j0 = 12.0 / q ** 5
    for i in range(x.shape[0]):
        out[i] = p[0] * math.sqrt(jp_integral(q, x[i] / p[1]) / j0)
    return out


@njit(cache=True)
def pc_exponential_T(x, p):
    """I_p(T) = I0 exp(-p T / T_p); params I0, T_p, harmonic."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = p[0] * math.exp(-p[2] * x[i] / p[1])
    return out


# ---------------------------------------------------------------- superconducting decay
@njit(cache=True)
def sc_exponential(x, p):
    """I(t) = I0 exp(-t/tau); tau = L/R."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = p[0] * math.exp(-x[i] / p[1])
    return out


@njit(cache=True)
def sc_exponential_jac(x, p, f, J):
    for i in range(x.shape[0]):
        e = math.exp(-x[i] / p[1])
        J[0, i] = e
        J[1, i] = p[0] * e * x[i] / (p[1] * p[1])


@njit(cache=True)
def sc_creep(x, p):
    """I(t) = I0 [1 - S ln(1 + t/t0)] (flux creep)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = p[0] * (1.0 - p[1] * math.log1p(x[i] / p[2]))
    return out


@njit(cache=True)
def sc_decay(x, p):
    """I(t) = I0 exp(-t/tau) [1 - S ln(1 + t/t0)]."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = p[0] * math.exp(-x[i] / p[1]) * (1.0 - p[2] * math.log1p(x[i] / p[3]))
    return out


# ---------------------------------------------------------------- array helpers for the Python API
@njit(cache=True)
def brillouin_array(J, x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = brillouin(J, x[i])
    return out


@njit(cache=True)
def langevin_array(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = langevin(x[i])
    return out


@njit(cache=True)
def jp_array(p, theta):
    out = np.empty_like(theta)
    for i in range(theta.shape[0]):
        out[i] = jp_integral(p, theta[i])
    return out

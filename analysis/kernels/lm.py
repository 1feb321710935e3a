"""Levenberg-Marquardt least squares in numba.

Minimizes 0.5 * sum((w * (model(x, p) - y))^2) over the free parameters, with box bounds
(by projection of each trial step) and fixed parameters (a mask). The damping follows
Nielsen's update (Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems",
2004) with Marquardt's scaling by the running maximum of diag(J^T J), so the iteration is
invariant to the units of each parameter (areas of 1e-13 m^2 next to phases of 1 rad).

The model is named by a context `ctx`: an integer (a registry model, `dispatch.eval_model`;
everything compiled once and cached on disk) or a tuple (model, jac) of first-class function
objects `model(x, p) -> f`, `jac(x, p, f, JT) -> None` (user models; the fitter itself is still
compiled once and cached, only the user's model compiles per process). JT is the transposed
Jacobian, JT[j, i] = df_i/dp_j, so each parameter's column is contiguous and the normal
equations are vectorized dot products. use_fd=True: forward differences instead of jac.
Status codes: 1 gradient (gtol), 2 cost reduction (ftol), 3 step size (xtol), 4 zero residual,
0 too many evaluations, -1 non-finite model value at the start, -2 no free parameters.
"""
import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from analysis.kernels.dispatch import eval_fj, eval_jac, eval_model

_EPS = 2.220446049250313e-16
_SQRT_EPS = math.sqrt(_EPS)


def call_model(ctx, x, p):
    pass


def call_jac(ctx, x, p, f, J):
    pass


@overload(call_model)
def _ov_call_model(ctx, x, p):
    if isinstance(ctx, types.Integer):
        return lambda ctx, x, p: eval_model(ctx, x, p)
    return lambda ctx, x, p: ctx[0](x, p)


@overload(call_jac)
def _ov_call_jac(ctx, x, p, f, J):
    if isinstance(ctx, types.Integer):
        return lambda ctx, x, p, f, J: eval_jac(ctx, x, p, f, J)

    def impl(ctx, x, p, f, J):
        ctx[1](x, p, f, J)
    return impl


def call_fj(ctx, x, p, f, J):
    pass


@overload(call_fj)
def _ov_call_fj(ctx, x, p, f, J):
    """Model values and analytic Jacobian together (one pass where the model allows)."""
    if isinstance(ctx, types.Integer):
        return lambda ctx, x, p, f, J: eval_fj(ctx, x, p, f, J)

    def impl(ctx, x, p, f, J):
        f[:] = ctx[0](x, p)
        ctx[1](x, p, f, J)
    return impl


@njit(cache=True)
def no_jac(x, p, f, J):
    """Placeholder jac for user models fitted with finite differences."""
    J[0, 0] = J[0, 0]


@njit(cache=True)
def fd_jacobian(model, x, p, f, J):
    """Forward differences. J[j, i] = df_i/dp_j (transposed layout)."""
    n = p.shape[0]
    pt = p.copy()
    for j in range(n):
        h = _SQRT_EPS * abs(p[j])
        if h == 0.0:
            h = _SQRT_EPS
        pt[j] = p[j] + h
        fj = call_model(model, x, pt)
        for i in range(f.shape[0]):
            J[j, i] = (fj[i] - f[i]) / h
        pt[j] = p[j]


@njit(cache=True)
def _cholesky_solve(A, b, out):
    """Solve A out = b for symmetric positive definite A (small). False if not SPD."""
    n = A.shape[0]
    L = np.zeros((n, n))
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not (s > 0.0) or not math.isfinite(s):
            return False
        L[j, j] = math.sqrt(s)
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / L[j, j]
    for i in range(n):
        t = b[i]
        for k in range(i):
            t -= L[i, k] * out[k]
        out[i] = t / L[i, i]
    for i in range(n - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, n):
            t -= L[k, i] * out[k]
        out[i] = t / L[i, i]
    return True


@njit(cache=True)
def _gn_gain(A, g, free, dscale, Aaug, rhs, h):
    """Reduction of the cost a full Gauss-Newton step would promise: 0.5 g^T A^-1 g.
    The convergence tests use it rather than the damped step's prediction, which is small
    merely because the damping is large (a false convergence far from the minimum)."""
    m = A.shape[0]
    for a in range(m):
        for b in range(m):
            Aaug[a, b] = A[a, b] if (free[a] and free[b]) else 0.0
        if free[a]:
            Aaug[a, a] += 1e-12 * (dscale[a] if dscale[a] > 0.0 else 1.0)
            rhs[a] = g[a]
        else:
            Aaug[a, a] = 1.0
            rhs[a] = 0.0
    if not _cholesky_solve(Aaug, rhs, h):
        return np.inf
    gain = 0.0
    for a in range(m):
        gain += g[a] * h[a]
    return 0.5 * gain


@njit(cache=True)
def _normal_equations(J, r, free, A, g):
    """A = J J^T, g = J r (J transposed layout) through BLAS; fixed parameters zeroed."""
    A[:, :] = J @ J.T
    g[:] = J @ r
    m = A.shape[0]
    for a in range(m):
        if not free[a]:
            g[a] = 0.0
            for b in range(m):
                A[a, b] = 0.0
                A[b, a] = 0.0


@njit(cache=True)
def _scale_rows(J, w):
    for j in range(J.shape[0]):
        row = J[j]
        for i in range(row.shape[0]):
            row[i] *= w[i]


@njit(cache=True)
def lm_core(model, use_fd, x, y, w, p0, lb, ub, free, ftol, xtol, gtol, max_nfev, p_out, A_out):
    """Fit; writes the optimum to p_out and J^T W J there to A_out. Returns (cost, nfev, njev, status)."""
    m = p0.shape[0]
    n = y.shape[0]
    p = p0.copy()
    for j in range(m):
        p[j] = min(max(p[j], lb[j]), ub[j])
    n_free = 0
    for j in range(m):
        if free[j]:
            n_free += 1
    J = np.empty((m, n))
    Jn = np.empty((m, n))
    f = np.empty(n)
    fn = np.empty(n)
    if use_fd:
        f[:] = call_model(model, x, p)
    else:
        call_fj(model, x, p, f, J)
    nfev = 1
    unit_w = True
    for i in range(n):
        if w[i] != 1.0:
            unit_w = False
    r = np.empty(n)
    cost = 0.0
    for i in range(n):
        r[i] = w[i] * (f[i] - y[i])
        cost += r[i] * r[i]
    cost *= 0.5
    p_out[:] = p
    A_out[:, :] = 0.0
    if not math.isfinite(cost):
        return cost, nfev, 0, -1
    if n_free == 0:
        return cost, nfev, 0, -2
    A = np.empty((m, m))
    g = np.empty(m)
    Aaug = np.empty((m, m))
    rhs = np.empty(m)
    h = np.empty(m)
    pn = np.empty(m)
    rn = np.empty(n)
    dscale = np.zeros(m)
    act = free.copy()
    if use_fd:
        fd_jacobian(model, x, p, f, J)
    if not unit_w:
        _scale_rows(J, w)
    njev = 1
    _normal_equations(J, r, free, A, g)
    lam = 1e-3
    nu = 2.0
    status = 0
    while nfev < max_nfev:
        if cost == 0.0:
            status = 4
            break
        for j in range(m):
            if A[j, j] > dscale[j]:
                dscale[j] = A[j, j]
        # parameters on a bound whose gradient pushes outwards are held this iteration
        for j in range(m):
            act[j] = free[j] and not ((p[j] <= lb[j] and g[j] > 0.0) or (p[j] >= ub[j] and g[j] < 0.0))
        # scaled gradient: cosine between the residual and each Jacobian column
        rnorm = math.sqrt(2.0 * cost)
        gmax = 0.0
        for j in range(m):
            if act[j] and A[j, j] > 0.0:
                c = abs(g[j]) / (math.sqrt(A[j, j]) * rnorm)
                if c > gmax:
                    gmax = c
        if gmax <= gtol:
            status = 1
            break
        dmax = 0.0
        for j in range(m):
            if dscale[j] > dmax:
                dmax = dscale[j]
        for a in range(m):
            for b in range(m):
                Aaug[a, b] = A[a, b] if (act[a] and act[b]) else 0.0
            if act[a]:
                d = dscale[a] if dscale[a] > 0.0 else (dmax if dmax > 0.0 else 1.0)
                Aaug[a, a] += lam * d
                rhs[a] = -g[a]
            else:
                Aaug[a, a] = 1.0
                rhs[a] = 0.0
        if not _cholesky_solve(Aaug, rhs, h):
            lam *= nu
            nu *= 2.0
            if lam > 1e30:
                break
            continue
        hnorm = 0.0
        pnorm = 0.0
        for j in range(m):
            pn[j] = min(max(p[j] + h[j], lb[j]), ub[j])
            h[j] = pn[j] - p[j]
            hnorm += (h[j] * math.sqrt(dscale[j])) ** 2
            pnorm += (p[j] * math.sqrt(dscale[j])) ** 2
        hnorm = math.sqrt(hnorm)
        pnorm = math.sqrt(pnorm)
        if hnorm <= xtol * (pnorm + xtol):
            status = 3
            break
        if use_fd:
            fn[:] = call_model(model, x, pn)
        else:
            call_fj(model, x, pn, fn, Jn)
        nfev += 1
        cost_n = 0.0
        for i in range(n):
            rn[i] = w[i] * (fn[i] - y[i])
            cost_n += rn[i] * rn[i]
        cost_n *= 0.5
        # predicted reduction of the linear model: -h.g - 0.5 h.A h
        pred = 0.0
        for a in range(m):
            s = 0.0
            for b in range(m):
                s += A[a, b] * h[b]
            pred -= h[a] * g[a] + 0.5 * h[a] * s
        if math.isfinite(cost_n) and cost_n < cost:
            rho = (cost - cost_n) / pred if pred > 0.0 else 1.0
            small = (cost - cost_n) <= ftol * cost
            p[:] = pn
            cost = cost_n
            f, fn = fn, f
            r[:] = rn
            if use_fd:
                fd_jacobian(model, x, p, f, J)
            else:
                J, Jn = Jn, J
            if not unit_w:
                _scale_rows(J, w)
            njev += 1
            _normal_equations(J, r, free, A, g)
            t = 2.0 * rho - 1.0
            lam *= max(1.0 / 3.0, 1.0 - t * t * t)
            if lam < 1e-15:
                lam = 1e-15
            nu = 2.0
            if small and _gn_gain(A, g, act, dscale, Aaug, rhs, h) <= ftol * cost:
                status = 2
                break
        else:
            if pred <= ftol * cost and _gn_gain(A, g, act, dscale, Aaug, rhs, h) <= ftol * cost:
                # not even the undamped local model promises a relative gain above ftol
                status = 2
                break
            lam *= nu
            nu *= 2.0
            if lam > 1e30:
                # no descent possible at machine precision: at a minimum
                status = 2
                break
    p_out[:] = p
    A_out[:, :] = A
    return cost, nfev, njev, status


@njit(cache=True)
def covariance_from_normal(Afull, free):
    """Unscaled covariance inv(J^T W J) over the free parameters (rows/cols of fixed ones = 0),
    inverted after scaling to unit diagonal (parameters differ by 20 orders of magnitude).
    Returns (cov, ok)."""
    m = Afull.shape[0]
    idx = np.empty(m, dtype=np.int64)
    k = 0
    for j in range(m):
        if free[j]:
            idx[k] = j
            k += 1
    cov = np.zeros((m, m))
    sc = np.empty(k)
    for a in range(k):
        d = Afull[idx[a], idx[a]]
        if not (d > 0.0):
            cov[:, :] = np.inf
            return cov, False
        sc[a] = 1.0 / math.sqrt(d)
    S = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            S[a, b] = Afull[idx[a], idx[b]] * sc[a] * sc[b]
    e = np.zeros(k)
    col = np.empty(k)
    for b in range(k):
        e[:] = 0.0
        e[b] = 1.0
        if not _cholesky_solve(S, e, col):
            cov[:, :] = np.inf
            return cov, False
        for a in range(k):
            cov[idx[a], idx[b]] = col[a] * sc[a] * sc[b]
    return cov, True


@njit(cache=True, parallel=True)
def lm_batch(model, use_fd, x, Y, W, P0, lb, ub, free, ftol, xtol, gtol, max_nfev, P_out, cost_out, nfev_out, status_out):
    """One independent fit per row of Y (same x), in parallel across cores."""
    for k in prange(Y.shape[0]):
        pk = np.empty(P0.shape[1])
        Ak = np.empty((P0.shape[1], P0.shape[1]))
        c, nf, nj, st = lm_core(model, use_fd, x, Y[k], W[k], P0[k], lb, ub, free, ftol, xtol, gtol, max_nfev, pk, Ak)
        P_out[k, :] = pk
        cost_out[k] = c
        nfev_out[k] = nf
        status_out[k] = st


@njit(cache=True)
def lm_fit(model, use_fd, x, y, w, p0, lb, ub, free, ftol, xtol, gtol, max_nfev, p_out):
    """lm_core, then the unscaled covariance from J^T W J at the optimum (the Jacobian of the
    last accepted step: analytic, or forward differences, as scipy/MINPACK do).
    Returns (cost, nfev, njev, status, cov, ok)."""
    m = p0.shape[0]
    A = np.empty((m, m))
    cost, nfev, njev, status = lm_core(model, use_fd, x, y, w, p0, lb, ub, free, ftol, xtol, gtol, max_nfev,
                                       p_out, A)
    cov, ok = covariance_from_normal(A, free)
    return cost, nfev, njev, status, cov, ok

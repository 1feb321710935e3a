"""Levenberg-Marquardt least squares in numba.

Minimizes 0.5 * sum((w * (model(x, p) - y))^2) over the free parameters, with box bounds
(by projection of each trial step) and fixed parameters (a mask). The damping follows
Nielsen's update (Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems",
2004) with Marquardt's scaling by the running maximum of diag(J^T J), so the iteration is
invariant to the units of each parameter (areas of 1e-13 m^2 next to phases of 1 rad).

`model(x, p) -> f` and `jac(model, x, p, f, J)` are numba-compiled functions passed as
arguments; `fd_jacobian` is the finite-difference `jac` for models without an analytic one.
Status codes: 1 gradient (gtol), 2 cost reduction (ftol), 3 step size (xtol), 4 zero residual,
0 too many evaluations, -1 non-finite model value at the start, -2 no free parameters.
"""
import math

import numpy as np
from numba import njit, prange

_EPS = 2.220446049250313e-16
_SQRT_EPS = math.sqrt(_EPS)


@njit(cache=True)
def fd_jacobian(model, x, p, f, J):
    """Forward differences (steps away from a bound when needed). J[i, j] = df_i/dp_j."""
    n = p.shape[0]
    pt = p.copy()
    for j in range(n):
        h = _SQRT_EPS * abs(p[j])
        if h == 0.0:
            h = _SQRT_EPS
        pt[j] = p[j] + h
        fj = model(x, pt)
        for i in range(f.shape[0]):
            J[i, j] = (fj[i] - f[i]) / h
        pt[j] = p[j]


@njit(cache=True)
def central_jacobian(model, x, p, J):
    """Central differences, for the covariance at the optimum of a model without a Jacobian."""
    n = p.shape[0]
    pt = p.copy()
    for j in range(n):
        h = 6.055454452393343e-06 * abs(p[j])  # eps^(1/3)
        if h == 0.0:
            h = 6.055454452393343e-06
        pt[j] = p[j] + h
        fp = model(x, pt)
        pt[j] = p[j] - h
        fm = model(x, pt)
        for i in range(fp.shape[0]):
            J[i, j] = (fp[i] - fm[i]) / (2.0 * h)
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
def _normal_equations(J, r, free, A, g):
    n, m = J.shape
    for a in range(m):
        s = 0.0
        for i in range(n):
            s += J[i, a] * r[i]
        g[a] = s if free[a] else 0.0
        for b in range(a, m):
            if free[a] and free[b]:
                t = 0.0
                for i in range(n):
                    t += J[i, a] * J[i, b]
            else:
                t = 0.0
            A[a, b] = t
            A[b, a] = t


@njit(cache=True)
def _weighted_jacobian(model, jac, x, p, f, w, J):
    jac(model, x, p, f, J)
    for i in range(J.shape[0]):
        wi = w[i]
        for j in range(J.shape[1]):
            J[i, j] *= wi


@njit(cache=True)
def lm_core(model, jac, x, y, w, p0, lb, ub, free, ftol, xtol, gtol, max_nfev, p_out):
    """Fit; writes the optimum to p_out. Returns (cost, nfev, njev, status)."""
    m = p0.shape[0]
    n = y.shape[0]
    p = p0.copy()
    for j in range(m):
        p[j] = min(max(p[j], lb[j]), ub[j])
    n_free = 0
    for j in range(m):
        if free[j]:
            n_free += 1
    f = model(x, p)
    nfev = 1
    r = np.empty(n)
    cost = 0.0
    for i in range(n):
        r[i] = w[i] * (f[i] - y[i])
        cost += r[i] * r[i]
    cost *= 0.5
    p_out[:] = p
    if not math.isfinite(cost):
        return cost, nfev, 0, -1
    if n_free == 0:
        return cost, nfev, 0, -2
    J = np.empty((n, m))
    A = np.empty((m, m))
    g = np.empty(m)
    Aaug = np.empty((m, m))
    rhs = np.empty(m)
    h = np.empty(m)
    pn = np.empty(m)
    rn = np.empty(n)
    dscale = np.zeros(m)
    _weighted_jacobian(model, jac, x, p, f, w, J)
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
        # scaled gradient: cosine between the residual and each Jacobian column
        rnorm = math.sqrt(2.0 * cost)
        gmax = 0.0
        for j in range(m):
            if free[j] and A[j, j] > 0.0:
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
                Aaug[a, b] = A[a, b]
            if free[a]:
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
        fn = model(x, pn)
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
            f = fn
            r[:] = rn
            _weighted_jacobian(model, jac, x, p, f, w, J)
            njev += 1
            _normal_equations(J, r, free, A, g)
            t = 2.0 * rho - 1.0
            lam *= max(1.0 / 3.0, 1.0 - t * t * t)
            if lam < 1e-15:
                lam = 1e-15
            nu = 2.0
            if small and pred <= ftol * cost * 10.0 + 1e-300:
                status = 2
                break
        else:
            lam *= nu
            nu *= 2.0
            if lam > 1e30:
                # no descent possible at machine precision: at a minimum
                status = 2
                break
    p_out[:] = p
    return cost, nfev, njev, status


@njit(cache=True)
def covariance(model, jac, use_fd, x, p, w, free):
    """Unscaled covariance inv(J^T J) over the free parameters (rows/cols of fixed ones = 0).
    Returns (cov, ok)."""
    m = p.shape[0]
    n = x.shape[0]
    J = np.empty((n, m))
    if use_fd:
        central_jacobian(model, x, p, J)
    else:
        f = model(x, p)
        jac(model, x, p, f, J)
    idx = np.empty(m, dtype=np.int64)
    k = 0
    for j in range(m):
        if free[j]:
            idx[k] = j
            k += 1
    Af = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            s = 0.0
            for i in range(n):
                s += w[i] * w[i] * J[i, idx[a]] * J[i, idx[b]]
            Af[a, b] = s
    cov = np.zeros((m, m))
    # invert through a scaled Cholesky: scale to unit diagonal first (parameters differ by 1e20)
    sc = np.empty(k)
    for a in range(k):
        sc[a] = 1.0 / math.sqrt(Af[a, a]) if Af[a, a] > 0.0 else 0.0
    ok = True
    for a in range(k):
        if sc[a] == 0.0:
            ok = False
    if not ok:
        cov[:, :] = np.inf
        return cov, False
    S = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            S[a, b] = Af[a, b] * sc[a] * sc[b]
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
def lm_batch(model, jac, x, Y, W, P0, lb, ub, free, ftol, xtol, gtol, max_nfev, P_out, cost_out, nfev_out, status_out):
    """One independent fit per row of Y (same x), in parallel across cores."""
    for k in prange(Y.shape[0]):
        pk = np.empty(P0.shape[1])
        c, nf, nj, st = lm_core(model, jac, x, Y[k], W[k], P0[k], lb, ub, free, ftol, xtol, gtol, max_nfev, pk)
        P_out[k, :] = pk
        cost_out[k] = c
        nfev_out[k] = nf
        status_out[k] = st

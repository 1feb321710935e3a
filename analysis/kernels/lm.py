"""Levenberg-Marquardt least squares in numba.

Minimizes 0.5 * sum((w * (model(x, p) - y))^2) over the free parameters, with box bounds
(by projection of each trial step) and fixed parameters (a mask). The damping follows
Nielsen's update (Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems",
2004) with Marquardt's scaling by diag(J^T J) (the largest seen, shrunk by 0.8 each
iteration), so the iteration is invariant to the units of each parameter (areas of 1e-13 m^2
next to phases of 1 rad).

The model is named by a context `ctx`: an integer (a registry model, `dispatch.eval_model`;
everything compiled once and cached on disk) or a tuple (model, jac) of first-class function
objects `model(x, p) -> f`, `jac(x, p, f, JT) -> None` (user models; the fitter itself is still
compiled once and cached, only the user's model compiles per process), or a 3-tuple
(model, jac, fj) whose fj(x, p, f, JT) writes the values and the Jacobian in one pass (a user's
model traced by analysis/user_model_jacobian.py). JT is the transposed
Jacobian, JT[j, i] = df_i/dp_j, so each parameter's column is contiguous and the normal
equations are vectorized loops. use_fd=True: forward differences instead of jac.
Weights w = 1/sigma, or an empty array for unit weights (no array of ones to allocate and read).
Buffers are allocated once per fit: an iteration allocates nothing itself (forward differences
and models that return a new array still do).
Status codes: 1 gradient (gtol), 2 cost reduction (ftol), 3 step size (xtol), 4 zero residual,
0 too many evaluations, -1 non-finite model value at the start, -2 no free parameters,
-3 NaN/inf in x or y (lm_fit: or p0), nothing fitted.
"""
import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from loopscope.analysis.kernels.dispatch import eval_fj, eval_jac, eval_model

_EPS = 2.220446049250313e-16
_SQRT_EPS = math.sqrt(_EPS)
# for loops that are pure sums of products: only the order of the additions may change (as in
# BLAS), which lets LLVM vectorize the reductions; nothing else is relaxed
_SUMS = {"reassoc", "contract"}


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

    if isinstance(ctx, types.BaseTuple) and len(ctx) == 3:
        # a traced user model (analysis/user_model_jacobian.py): values and Jacobian in one pass
        def traced(ctx, x, p, f, J):
            ctx[2](x, p, f, J)
        return traced

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
def _cholesky(A):
    """A = L L^T in place (L in the lower triangle) for a small symmetric positive definite A.
    False if A is not SPD."""
    n = A.shape[0]
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if not (s > 0.0) or not math.isfinite(s):
            return False
        A[j, j] = math.sqrt(s)
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= A[i, k] * A[j, k]
            A[i, j] = t / A[j, j]
    return True


@njit(cache=True)
def _cho_solve(L, b, out):
    """Solve L L^T out = b with the factor from _cholesky."""
    n = L.shape[0]
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


@njit(cache=True)
def _cholesky_solve(A, b, out):
    """Solve A out = b for symmetric positive definite A, overwriting A. False if not SPD."""
    if not _cholesky(A):
        return False
    _cho_solve(A, b, out)
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


@njit(cache=True, fastmath=_SUMS)
def _dot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(cache=True)
def _all_finite(a):
    ok = True
    for i in range(a.shape[0]):  # no early exit: the loop vectorizes
        ok &= math.isfinite(a[i])
    return ok


@njit(cache=True)
def _residual(f, y, w, r):
    """r = w (f - y) (f - y for unit weights: w empty); returns the cost 0.5 r.r."""
    if w.shape[0] == 0:
        for i in range(f.shape[0]):
            r[i] = f[i] - y[i]
    else:
        for i in range(f.shape[0]):
            r[i] = w[i] * (f[i] - y[i])
    return 0.5 * _dot(r, r)


@njit(cache=True, fastmath=_SUMS, inline="always")
def _products3(u0, u1, u2, v0, v1, v2):
    """The nine dot products u_i . v_j in one pass over the points (nine sums in registers)."""
    s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = 0.0
    for i in range(u0.shape[0]):
        s00 += u0[i] * v0[i]
        s01 += u0[i] * v1[i]
        s02 += u0[i] * v2[i]
        s10 += u1[i] * v0[i]
        s11 += u1[i] * v1[i]
        s12 += u1[i] * v2[i]
        s20 += u2[i] * v0[i]
        s21 += u2[i] * v1[i]
        s22 += u2[i] * v2[i]
    return s00, s01, s02, s10, s11, s12, s20, s21, s22


@njit(cache=True, inline="always")
def _put(A, a, b, v):
    A[a, b] = v
    A[b, a] = v


@njit(cache=True, fastmath=_SUMS)
def _normal_equations(J, r, free, A, g):
    """A = J J^T, g = J r (J transposed layout); fixed parameters zeroed.

    Hand loops, not BLAS: the rows go in blocks of three, so each pass over the points reads
    up to six rows into nine sums held in registers. For 6 x 2000 that is ~2x faster than
    numba's BLAS calls, which also allocate on every call."""
    m = J.shape[0]
    for a in range(0, m, 3):
        # a short last block repeats its last row: the same sums, written twice
        rows = (a, min(a + 1, m - 1), min(a + 2, m - 1))
        u0, u1, u2 = J[rows[0]], J[rows[1]], J[rows[2]]
        for b in range(0, a, 3):
            s = _products3(u0, u1, u2, J[b], J[b + 1], J[b + 2])
            for i in range(3):
                for j in range(3):
                    _put(A, rows[i], b + j, s[3 * i + j])
        # the diagonal block: u x (u0, u1, r) is its lower triangle but u2.u2, and the gradient
        s = _products3(u0, u1, u2, u0, u1, r)
        for i in range(3):
            for j in range(min(i + 1, 2)):
                _put(A, rows[i], rows[j], s[3 * i + j])
            g[rows[i]] = s[3 * i + 2]
        A[rows[2], rows[2]] = _dot(u2, u2)
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
def _jacobian_normal(model, use_fd, x, p, f, w, J, r, free, A, g):
    """J^T W J and J^T W r at an accepted point p (f, r its values and weighted residuals; J holds
    the analytic Jacobian already, or gets forward differences here)."""
    if use_fd:
        fd_jacobian(model, x, p, f, J)
    if w.shape[0] != 0:
        _scale_rows(J, w)
    _normal_equations(J, r, free, A, g)


@njit(cache=True)
def lm_core(model, use_fd, x, y, w, p0, lb, ub, free, ftol, xtol, gtol, max_nfev, p_out, A_out):
    """Fit; writes the optimum to p_out and J^T W J there to A_out. Returns (cost, nfev, njev, status)."""
    m = p0.shape[0]
    n = y.shape[0]
    p_out[:] = p0
    A_out[:, :] = 0.0
    if not (_all_finite(x) and _all_finite(y)):
        return math.nan, 0, 0, -3
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
    r = np.empty(n)
    rn = np.empty(n)
    if use_fd:
        f[:] = call_model(model, x, p)
    else:
        call_fj(model, x, p, f, J)
    nfev = 1
    cost = _residual(f, y, w, r)
    p_out[:] = p
    if not math.isfinite(cost):
        return cost, nfev, 0, -1
    if n_free == 0:
        return cost, nfev, 0, -2
    A = np.empty((m, m))
    g = np.empty(m)
    Aaug = np.empty((m, m))
    rhs = np.empty(m)
    h = np.empty(m)
    h_gn = np.empty(m)
    pn = np.empty(m)
    dscale = np.zeros(m)
    act = free.copy()
    _jacobian_normal(model, use_fd, x, p, f, w, J, r, free, A, g)
    njev = 1
    lam = 1e-3
    nu = 2.0
    status = 0
    while nfev < max_nfev:
        if cost == 0.0:
            status = 4
            break
        # Marquardt's scale of each parameter: the largest diag(J^T J) seen, shrunk by 0.8 each
        # iteration, so it follows a Jacobian column that shrank by orders of magnitude (a pure
        # running maximum froze MGH10's amplitude at a scale 1e100 too large, where the fit
        # crawled until max_nfev; the current diagonal alone lost MGH17 from start 1)
        for j in range(m):
            dscale[j] = max(A[j, j], 0.8 * dscale[j])
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
        # predicted reduction of the linear model: -h.g - 0.5 h.A h
        pred = 0.0
        for a in range(m):
            s = 0.0
            for b in range(m):
                s += A[a, b] * h[b]
            pred -= h[a] * g[a] + 0.5 * h[a] * s
        # converged if not even the undamped local model promises a gain of one rounding unit
        # of the cost: no trial could show a real reduction, so skip evaluating it (the usual
        # last, rejected evaluation of a fit)
        noise = min(ftol, _EPS) * cost
        if pred <= noise and _gn_gain(A, g, act, dscale, Aaug, rhs, h_gn) <= noise:
            status = 2
            break
        if use_fd:
            fn[:] = call_model(model, x, pn)
        else:
            call_fj(model, x, pn, fn, Jn)
        nfev += 1
        cost_n = _residual(fn, y, w, rn)
        if math.isfinite(cost_n) and cost_n < cost:
            rho = (cost - cost_n) / pred if pred > 0.0 else 1.0
            small = (cost - cost_n) <= ftol * cost
            p[:] = pn
            cost = cost_n
            f, fn = fn, f
            r, rn = rn, r
            J, Jn = Jn, J  # the trial's analytic Jacobian (use_fd: overwritten next)
            _jacobian_normal(model, use_fd, x, p, f, w, J, r, free, A, g)
            njev += 1
            t = 2.0 * rho - 1.0
            lam *= max(1.0 / 3.0, 1.0 - t * t * t)
            if lam < 1e-15:
                lam = 1e-15
            nu = 2.0
            if small and _gn_gain(A, g, act, dscale, Aaug, rhs, h_gn) <= ftol * cost:
                status = 2
                break
        else:
            if pred <= ftol * cost and _gn_gain(A, g, act, dscale, Aaug, rhs, h_gn) <= ftol * cost:
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
def covariance_from_normal(Afull, free, cov):
    """Unscaled covariance inv(J^T W J) over the free parameters into cov (rows/cols of fixed
    ones = 0), inverted after scaling to unit diagonal (parameters differ by 20 orders of
    magnitude). Returns ok (False: J^T W J singular, cov all inf)."""
    m = Afull.shape[0]
    idx = np.empty(m, dtype=np.int64)
    k = 0
    for j in range(m):
        if free[j]:
            idx[k] = j
            k += 1
    cov[:, :] = 0.0
    sc = np.empty(k)
    for a in range(k):
        d = Afull[idx[a], idx[a]]
        if not (d > 0.0):
            cov[:, :] = np.inf
            return False
        sc[a] = 1.0 / math.sqrt(d)
    S = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            S[a, b] = Afull[idx[a], idx[b]] * sc[a] * sc[b]
    if not _cholesky(S):
        cov[:, :] = np.inf
        return False
    e = np.zeros(k)
    col = np.empty(k)
    for b in range(k):
        e[:] = 0.0
        e[b] = 1.0
        _cho_solve(S, e, col)
        for a in range(k):
            cov[idx[a], idx[b]] = col[a] * sc[a] * sc[b]
    return True


@njit(cache=True, parallel=True)
def lm_batch(model, use_fd, x, Y, W, P0, lb, ub, free, ftol, xtol, gtol, max_nfev, P_out, cost_out, nfev_out, status_out):
    """One independent fit per row of Y (same x), in parallel across cores. W: weights, one row
    per fit or a single row for all (an empty row: unit weights)."""
    shared_w = W.shape[0] == 1
    for k in prange(Y.shape[0]):
        pk = np.empty(P0.shape[1])
        Ak = np.empty((P0.shape[1], P0.shape[1]))
        wk = W[0] if shared_w else W[k]
        c, nf, nj, st = lm_core(model, use_fd, x, Y[k], wk, P0[k], lb, ub, free, ftol, xtol, gtol, max_nfev, pk, Ak)
        P_out[k, :] = pk
        cost_out[k] = c
        nfev_out[k] = nf
        status_out[k] = st


@njit(cache=True)
def lm_fit(model, use_fd, x, y, w, p0, lb, ub, free, ftol, xtol, gtol, max_nfev, absolute_sigma, p_out, cov_out):
    """lm_core, then the covariance into cov_out as curve_fit defines it: inv(J^T W J) at the
    optimum (the Jacobian of the last accepted step: analytic, or forward differences, as
    scipy/MINPACK do), times the reduced chi-square unless absolute_sigma.
    Status -3 also for NaN/inf in p0. Returns (cost, nfev, njev, status, covariance ok)."""
    m = p0.shape[0]
    A = np.empty((m, m))
    if _all_finite(p0):
        cost, nfev, njev, status = lm_core(model, use_fd, x, y, w, p0, lb, ub, free, ftol, xtol, gtol,
                                           max_nfev, p_out, A)
    else:
        p_out[:] = p0
        A[:, :] = 0.0
        cost, nfev, njev, status = math.nan, 0, 0, -3
    ok = covariance_from_normal(A, free, cov_out)
    if not absolute_sigma:
        dof = y.shape[0] - np.sum(free)
        if dof > 0:
            cov_out *= 2.0 * cost / dof
        else:
            cov_out[:, :] = np.inf
    return cost, nfev, njev, status, ok

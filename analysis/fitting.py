"""The fitter users call: scipy's `curve_fit` signature, lmfit-style named results.

    popt, pcov = curve_fit(model, x, y, p0, sigma=None, bounds=None)
    result = fit("persistent_current", x, y, params={"area": 2.8e-13}, fixed=["theta"])
    P, info = curve_fit_batch(model, x, Y, P0)

`model(x, params)` is a numba-jitted function of a float64 array x and a 1-D float64 array of
parameters returning an array like x (a plain Python function is jitted on the fly). A model
from the registry (`loopscope.analysis.models`) brings parameter names, units, defaults and, where it
has one, an analytic Jacobian. Everything runs in compiled code (analysis.kernels.lm).
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

DEFAULT_FTOL = 1e-14
DEFAULT_XTOL = 1e-12
DEFAULT_GTOL = 1e-12

STATUS_MESSAGES = {
    1: "converged: gradient orthogonal to the residuals (gtol)",
    2: "converged: relative reduction of chi-square below ftol",
    3: "converged: relative step below xtol",
    4: "converged: zero residual",
    0: "NOT converged: maximum number of function evaluations reached",
    -1: "NOT converged: the model is not finite at the starting parameters",
    -2: "NOT converged: no free parameters",
    -3: "not fitted: NaN/inf in the data or starting parameters",
}


class FitError(ValueError):
    """Bad input to a fit (shapes, NaN/inf, too few points, unknown parameter names)."""


class ConvergenceWarning(RuntimeWarning):
    pass


@dataclass
class FitResult:
    """A fit with named parameters (values in SI units of the model)."""

    model: str
    names: list
    values: np.ndarray
    stderr: np.ndarray
    covariance: np.ndarray
    units: list
    fixed: list
    chi_square: float
    dof: int
    n_points: int
    iterations: int
    nfev: int
    status: int
    converged: bool
    message: str
    absolute_sigma: bool = False
    model_version: str = ""
    derived: dict = field(default_factory=dict)

    @property
    def reduced_chi_square(self) -> float:
        return self.chi_square / self.dof if self.dof > 0 else math.nan

    @property
    def params(self) -> dict:
        return dict(zip(self.names, self.values))

    def __getitem__(self, name):
        i = self.names.index(name)
        return self.values[i]

    def to_dict(self) -> dict:
        out = {n: {"value": float(v), "stderr": float(s), "units": u}
               for n, v, s, u in zip(self.names, self.values, self.stderr, self.units)}
        for n, (v, s, u) in self.derived.items():
            out[n] = {"value": float(v), "stderr": float(s), "units": u}
        return out

    def __str__(self):
        lines = [f"fit of {self.model}: {self.message}",
                 f"  chi-square {self.chi_square:.6g}, dof {self.dof}, reduced {self.reduced_chi_square:.6g}, "
                 f"{self.nfev} evaluations"]
        for n, v, s, u in zip(self.names, self.values, self.stderr, self.units):
            tag = " (fixed)" if n in self.fixed else ""
            lines.append(f"  {n:>12s} = {v:.10g} +/- {s:.3g} {u}{tag}")
        for n, (v, s, u) in self.derived.items():
            lines.append(f"  {n:>12s} = {v:.10g} +/- {s:.3g} {u} (derived)")
        return "\n".join(lines)


_WAP_CACHE = {}
_WARM = set()


class _quiet_numba(warnings.catch_warnings):
    """First-class functions are 'experimental' in numba; we rely on them knowingly."""

    def __enter__(self):
        out = super().__enter__()
        from numba.core.errors import NumbaExperimentalFeatureWarning

        warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
        return out


# registry models, by name and by id(ModelSpec) -> (the name or spec, (ctx, use_fd)); a fit of a
# registry model is then one dict look-up from its compiled context (ModelSpec is not hashable)
_SPEC_CTX = {}


def _context(model, jac=None, x=None, p0=None):
    """(ctx, use_fd) for the compiled fitter: a registry model id, or first-class functions.
    A user's model without jac is traced into its exact Jacobian where it can be (x and p0:
    the first fit's data and start, on which the traced code is checked); jac="2-point"
    asks for forward differences."""
    if jac is None:
        hit = _SPEC_CTX.get(model if isinstance(model, str) else id(model))
        if hit is not None and (hit[0] is model or isinstance(model, str)):
            return hit[1]
    from loopscope.analysis.models import ModelSpec, get_model

    key = model
    if isinstance(model, str):
        model = get_model(model)
    if isinstance(model, ModelSpec):
        if jac is None and model.model_id is not None:
            ctx = (np.int64(model.model_id), not model.has_jac)
            _SPEC_CTX[key if isinstance(key, str) else id(key)] = (key, ctx)
            return ctx
        model = model.kernel
    if isinstance(jac, str):
        if jac != "2-point":
            raise FitError(f"jac={jac!r}: give a function jac(x, params, f, JT), \"2-point\" "
                           f"(forward differences) or None (the model's exact Jacobian where it can be traced)")
        jac = None
    elif jac is None and p0 is not None:
        traced = _traced_user(model, x, p0)
        if traced is not None:
            return traced, False
    return _wrap_user(model, jac), jac is None


_TRACED = {}


def _traced_user(model, x, p0):
    """The 3-tuple context of the user's model traced into values-and-Jacobian code, or None
    (not traceable, or the traced code disagrees with the model: forward differences then).
    Keyed on the function and the number of parameters; checked once, on the first fit's data."""
    from loopscope.analysis import user_model_jacobian as umj
    from numba import types
    from numba.core.registry import CPUDispatcher
    from numba.core.types.function_type import CompileResultWAP

    m = p0.shape[0]
    key = (id(model), m)
    hit = _TRACED.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    python_model = model.py_func if isinstance(model, CPUDispatcher) else model
    if not callable(python_model):
        return None
    try:
        traced_model, traced_fj, _ = umj.compile_traced(python_model, m)
    except umj.NotTraceable:
        _TRACED[key] = (model, None)
        return None
    arr = types.float64[::1]
    msig = arr(arr, arr)
    jsig = types.none(arr, arr, arr, types.float64[:, ::1])
    with _quiet_numba():
        traced_model.compile(msig)
        traced_fj.compile(jsig)
    ok, reason = umj.agrees_with(model, traced_model, traced_fj, x, p0)
    if not ok:
        if reason != "not finite":  # at another start it may be comparable: try again then
            _TRACED[key] = (model, None)
        return None
    fj = CompileResultWAP(traced_fj.overloads[jsig.args])
    ctx = (CompileResultWAP(traced_model.overloads[msig.args]), fj, fj)
    _TRACED[key] = (model, ctx)
    return ctx


def _jacobian_kind(ctx, use_fd):
    if use_fd:
        return "forward differences"
    if isinstance(ctx, tuple):
        return "traced" if len(ctx) == 3 else "yours"
    return "analytic"


def _wrap_user(model, jac):
    from numba import njit, types
    from numba.core.registry import CPUDispatcher
    from numba.core.types.function_type import CompileResultWAP

    # keyed on the function the user passed (a plain Python function is jitted below: keying
    # on the jitted one never hit again, and every fit compiled the model anew)
    given_model, given_jac = model, jac
    key = (id(model), id(jac))
    hit = _WAP_CACHE.get(key)
    if hit is not None and hit[0] is given_model and hit[1] is given_jac:
        return hit[2]
    arr = types.float64[::1]
    msig = arr(arr, arr)
    jsig = types.none(arr, arr, arr, types.float64[:, ::1])
    if not isinstance(model, CPUDispatcher):
        if not callable(model):
            raise FitError(f"model must be a function model(x, params), got {model!r}")
        model = njit(model)
    try:
        with _quiet_numba():
            model.compile(msig)
        mw = CompileResultWAP(model.overloads[msig.args])
    except Exception as exc:  # numba typing errors are long; keep the gist
        raise FitError(f"model {getattr(model, '__name__', model)!r} cannot be compiled as "
                       f"model(x: float64[:], params: float64[:]) -> float64[:]: {str(exc)[:400]}") from None
    if jac is None:
        from loopscope.analysis.kernels.lm import no_jac as jac_fn
    else:
        jac_fn = jac if isinstance(jac, CPUDispatcher) else njit(jac)
    with _quiet_numba():
        jac_fn.compile(jsig)
    jw = CompileResultWAP(jac_fn.overloads[jsig.args])
    ctx = (mw, jw)
    _WAP_CACHE[key] = (given_model, given_jac, ctx)
    return ctx


def _vector(name, a):
    a = np.ascontiguousarray(a, dtype=np.float64)  # no copy if it is one already
    if a.ndim != 1:
        raise FitError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def _raise_nonfinite(**arrays):
    """The kernels report NaN/inf in the data (status -3) in the same pass they start with;
    the details are worked out here, on failure only."""
    for name, a in arrays.items():
        bad = ~np.isfinite(a)
        if bad.any():
            raise FitError(f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at index {int(np.argmax(bad))})")
    raise FitError(STATUS_MESSAGES[-3])


_UNCONSTRAINED = {}


def _unconstrained(m):
    """(lb, ub, free) for m parameters with no bounds and none fixed. Shared between calls
    (the kernels only read them): building them took longer than a fit's other checks."""
    hit = _UNCONSTRAINED.get(m)
    if hit is None:
        hit = _UNCONSTRAINED[m] = (np.full(m, -np.inf), np.full(m, np.inf), np.ones(m, dtype=np.bool_))
    return hit


def _bounds(bounds, m):
    if bounds is None:
        return _unconstrained(m)[:2]
    lo, hi = bounds
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (m,)).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (m,)).copy()
    if np.any(lo >= hi):
        bad = int(np.argmax(lo >= hi))
        raise FitError(f"bounds: lower >= upper for parameter {bad} ({lo[bad]} >= {hi[bad]})")
    return lo, hi


def _weights(sigma, shape):
    """1/sigma for the kernels, whose data have `shape` ((N,), or (K, N) for a batch); an empty
    array without sigma (unit weights: nothing to allocate or read). A batch's sigma without
    rows stays one row that all fits share. sigma must be finite and > 0."""
    rows = (1,) if len(shape) == 2 else ()
    if sigma is None:
        return np.empty(rows + (0,))
    s = np.asarray(sigma, dtype=np.float64)
    s = np.broadcast_to(s, shape if s.ndim == len(shape) else rows + shape[-1:])
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise FitError("sigma must be finite and > 0 everywhere")
    return np.ascontiguousarray(1.0 / s)


def _prepare(x, y, sigma, n_free):
    """x, y and weights as the kernels take them, shapes checked; NaN/inf are left to the
    kernel's first pass (status -3, see _run)."""
    y = _vector("y", y)
    x = _vector("x", x)
    if x.shape[0] != y.shape[0] and (y.shape[0] == 0 or x.shape[0] % y.shape[0]):
        # several predictors go stacked in one x: [x1..., x2...], k times y's length
        raise FitError(f"x has {x.shape[0]} values but y has {y.shape[0]} (x takes y's length, or a "
                       f"whole multiple of it for several predictors stacked)")
    if y.shape[0] < n_free:
        raise FitError(f"too few points: {y.shape[0]} data points for {n_free} free parameters")
    return x, y, _weights(sigma, y.shape)


@functools.cache
def _lm():
    """analysis.kernels.lm, imported on first use (it loads numba); an import statement in the
    fit itself would cost ~2 us per call."""
    from loopscope.analysis.kernels import lm

    return lm


def _run(ctx, use_fd, x, y, w, p0, lb, ub, free, n_free, ftol, xtol, gtol, max_nfev, absolute_sigma):
    m = p0.shape[0]
    popt = np.empty(m)
    cov = np.empty((m, m))
    args = (ctx, use_fd, x, y, w, p0, lb, ub, free, ftol, xtol, gtol, int(max_nfev), bool(absolute_sigma), popt, cov)
    # a registry model compiled already skips the warnings filter dance (~20 us); a user's
    # model never does: numba warns about first-class functions at every call that passes one
    if (ctx, use_fd) in _WARM and not isinstance(ctx, tuple):
        cost, nfev, njev, status, ok = _lm().lm_fit(*args)
    else:
        with _quiet_numba():
            cost, nfev, njev, status, ok = _lm().lm_fit(*args)
        _WARM.add((ctx, use_fd))
    if status == -3:
        _raise_nonfinite(y=y, x=x, p0=p0)
    return popt, cov, 2.0 * cost, y.shape[0] - n_free, nfev, njev, status, ok


def curve_fit(model, x, y, p0, sigma=None, bounds=None, absolute_sigma=False, jac=None,
              ftol=DEFAULT_FTOL, xtol=DEFAULT_XTOL, gtol=DEFAULT_GTOL, max_nfev=None,
              full_output=False, check_finite=True):
    """Fit like scipy.optimize.curve_fit; returns (popt, pcov).

    model: numba-jitted f(x, params) or a registry model name / ModelSpec.
    jac: optional jac(x, params, f, JT) filling the transposed Jacobian JT[j, i] = df_i/dp_j
    (f = model(x, params)). Without it, a model written in numpy's element-wise arithmetic is
    traced once into compiled code for its values and exact Jacobian together
    (analysis/user_model_jacobian.py); one it cannot trace, or jac="2-point", gets forward
    differences in compiled code. full_output's info["jacobian"] says which.
    A fit that does not converge raises RuntimeError (like scipy); pass full_output=True
    for (popt, pcov, info) without raising.
    """
    p0 = _vector("p0", p0)
    m = p0.shape[0]
    x, y, w = _prepare(x, y, sigma, m)
    ctx, use_fd = _context(model, jac, x, p0)
    lb, ub = _bounds(bounds, m)
    free = _unconstrained(m)[2]
    max_nfev = 200 * (m + 1) * 10 if max_nfev is None else max_nfev
    popt, pcov, chi2, dof, nfev, njev, status, ok = _run(ctx, use_fd, x, y, w, p0, lb, ub, free, m,
                                                       ftol, xtol, gtol, max_nfev, absolute_sigma)
    if full_output:
        info = {"chi_square": chi2, "dof": dof, "nfev": nfev, "njev": njev, "status": status,
                "message": STATUS_MESSAGES.get(status, str(status)), "covariance_ok": ok,
                "jacobian": _jacobian_kind(ctx, use_fd)}
        return popt, pcov, info
    if status <= 0:
        raise RuntimeError(f"fit failed: {STATUS_MESSAGES.get(status, str(status))} (after {nfev} evaluations)")
    return popt, pcov


def fit(model, x, y, params=None, sigma=None, fixed=None, bounds=None, absolute_sigma=False,
        metadata=None, ftol=DEFAULT_FTOL, xtol=DEFAULT_XTOL, gtol=DEFAULT_GTOL, max_nfev=None) -> FitResult:
    """Fit a registry model by name (or a ModelSpec) with named parameters.

    params: {name: starting value}; missing ones take the model's data-driven guess or default.
    fixed: names held at their starting value; None means the model's default list (e.g. the
    field angle, instrument constants), [] frees everything. bounds: {name: (lo, hi)}.
    metadata: the run file's metadata (sample mass etc.) for derived quantities.
    Never raises on non-convergence: check `.converged` and `.message`.
    """
    from loopscope.analysis.models import get_model

    spec = get_model(model) if isinstance(model, str) else model
    params = dict(params or {})
    unknown = [k for k in params if k not in spec.param_names]
    if unknown:
        raise FitError(f"model {spec.name!r} has no parameter(s) {', '.join(unknown)}; "
                       f"its parameters are {', '.join(spec.param_names)}")
    fixed = list(spec.default_fixed if fixed is None else fixed)
    bad = [k for k in fixed if k not in spec.param_names]
    if bad:
        raise FitError(f"cannot fix unknown parameter(s) {', '.join(bad)} of model {spec.name!r}")
    x = np.ascontiguousarray(x, dtype=np.float64)
    y_arr = np.ascontiguousarray(y, dtype=np.float64)
    guess = spec.initial_guess(x, y_arr, params) if spec.guess is not None and np.all(np.isfinite(x)) and np.all(np.isfinite(y_arr)) else {}
    start = {n: params.get(n, guess.get(n, d)) for n, d in zip(spec.param_names, spec.defaults)}
    p0 = np.array([float(start[n]) for n in spec.param_names])
    free = np.array([n not in fixed for n in spec.param_names], dtype=np.bool_)
    m = p0.shape[0]
    n_free = int(free.sum())
    x, y, w = _prepare(x, y, sigma, n_free)
    lo = np.full(m, -np.inf)
    hi = np.full(m, np.inf)
    for n, (a, b) in {**spec.bounds, **(bounds or {})}.items():
        if n not in spec.param_names:
            raise FitError(f"bounds given for unknown parameter {n!r}")
        i = spec.param_names.index(n)
        lo[i], hi[i] = a, b
    max_nfev = 200 * (m + 1) * 10 if max_nfev is None else max_nfev
    ctx, use_fd = _context(spec)
    popt, pcov, chi2, dof, nfev, njev, status, ok = _run(ctx, use_fd, x, y, w, p0, lo, hi, free, n_free,
                                                       ftol, xtol, gtol, max_nfev, absolute_sigma)
    stderr = np.sqrt(np.abs(np.diag(pcov)))
    stderr[~free] = 0.0
    message = STATUS_MESSAGES.get(status, str(status))
    if not ok:
        message += "; covariance singular (parameters not determined by the data)"
    res = FitResult(model=spec.name, names=list(spec.param_names), values=popt, stderr=stderr,
                    covariance=pcov, units=list(spec.units), fixed=[n for n in spec.param_names if n in fixed],
                    chi_square=chi2, dof=dof, n_points=int(y.shape[0]), iterations=njev, nfev=nfev,
                    status=status, converged=status > 0, message=message, absolute_sigma=absolute_sigma,
                    model_version=spec.version)
    if spec.derive is not None:
        res.derived = spec.derive(res, metadata or {})
    return res


def curve_fit_batch(model, x, Y, P0, sigma=None, bounds=None, jac=None, ftol=DEFAULT_FTOL,
                    xtol=DEFAULT_XTOL, gtol=DEFAULT_GTOL, max_nfev=None):
    """Fit every row of Y (shape (K, N)) against the same x, in parallel across cores.

    P0: (K, M) starting values, or (M,) for all. sigma: None, (N,) or (K, N).
    Returns (P, info) with P of shape (K, M) and info = {"chi_square", "nfev", "status",
    "converged"} arrays of length K. Rows that did not converge have converged=False.
    """
    from loopscope.analysis.kernels.lm import lm_batch

    x = np.ascontiguousarray(x, dtype=np.float64)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] != x.shape[0]:
        raise FitError(f"Y must have shape (K, {x.shape[0]}), got {Y.shape}")
    P0 = np.asarray(P0, dtype=np.float64)
    if P0.ndim == 1:
        P0 = np.broadcast_to(P0, (Y.shape[0], P0.shape[0]))
    P0 = np.ascontiguousarray(P0)
    ctx, use_fd = _context(model, jac, x, P0[0])
    if P0.shape[0] != Y.shape[0]:
        raise FitError(f"P0 has {P0.shape[0]} rows for {Y.shape[0]} traces")
    m = P0.shape[1]
    if Y.shape[1] < m:
        raise FitError(f"too few points: {Y.shape[1]} per trace for {m} parameters")
    W = _weights(sigma, Y.shape)
    lb, ub = _bounds(bounds, m)
    free = _unconstrained(m)[2]
    max_nfev = 200 * (m + 1) * 10 if max_nfev is None else max_nfev
    K = Y.shape[0]
    P = np.empty((K, m))
    cost = np.empty(K)
    nfev = np.empty(K, dtype=np.int64)
    status = np.empty(K, dtype=np.int64)
    with _quiet_numba():
        lm_batch(ctx, use_fd, x, Y, W, P0, lb, ub, free,
                 ftol, xtol, gtol, int(max_nfev), P, cost, nfev, status)
    if np.any(status == -3):  # checked by each fit in parallel, not by a pass over Y here
        raise FitError("x or Y contains NaN/inf")
    return P, {"chi_square": 2.0 * cost, "nfev": nfev, "status": status, "converged": status > 0}

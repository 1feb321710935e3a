"""A user's model traced once into compiled code for its values and exact Jacobian together.

A user's model `f(x, p)` written with numpy's element-wise arithmetic and ufuncs is run once
with stand-ins for x and p that record every operation (`Traced`). The record is a graph of
the model for one point x; from it we write straight-line code that computes the value and
its derivatives with respect to every parameter (forward-mode differentiation by the chain
rule, so no symbolic algebra rewrites the user's expression: the values are computed by the
same operations in the same order), loop it over the points and compile it with numba.

Why: a forward-difference Jacobian costs one model evaluation per parameter at every
iteration; for a 6-parameter model that is 6 of every 7 evaluations a fit spends. The traced
code evaluates exp, sin and the like once per point for the value and all derivatives.

Anything the stand-ins cannot record ends the tracing and the fit falls back to forward
differences: control flow on values (`if p[0] > 0`, comparisons, np.where), reductions or
indexing over x (x[:n], x.sum(), len(x)), math.* functions, slices of p, arrays of data
captured from outside the function. The traced code is then checked against the user's own
compiled model at the starting parameters (values and forward differences) before it is used;
a disagreement falls back as well. See docs/analysis.md, "A user's model".
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
import textwrap
from pathlib import Path

import numpy as np

_LN10 = math.log(10.0)
_LN2 = math.log(2.0)


class NotTraceable(Exception):
    """The model uses something the tracer cannot record; forward differences it is."""


class _Graph:
    """Nodes of one model, interned so a repeated subexpression is computed once."""

    def __init__(self, n_params):
        self.nodes = []          # (op, args); args are node indices or a float for "const"
        self.index = {}
        self.deps = []           # frozenset of parameter indices each node depends on
        self.n_params = n_params

    def add(self, op, args, deps):
        key = (op, args)
        hit = self.index.get(key)
        if hit is not None:
            return hit
        self.nodes.append(key)
        self.deps.append(deps)
        self.index[key] = len(self.nodes) - 1
        return len(self.nodes) - 1


# numpy ufuncs the tracer records: name -> number of operands
_UNARY = {"negative", "positive", "absolute", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
          "sqrt", "cbrt", "square", "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
          "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh"}
_BINARY = {"add", "subtract", "multiply", "true_divide", "divide", "power", "float_power", "arctan2", "hypot"}


class Traced:
    """A stand-in value: a node of the graph. Arithmetic and numpy ufuncs make new nodes;
    anything else (comparisons, float(), indexing, array functions) is refused."""

    __slots__ = ("g", "k")
    __array_priority__ = 1000

    def __init__(self, g, k):
        self.g, self.k = g, k

    def _node(self, other):
        if isinstance(other, Traced):
            if other.g is not self.g:
                raise NotTraceable("values from two tracings mixed")
            return other.k
        if isinstance(other, (bool, np.bool_)):
            raise NotTraceable("a boolean in the arithmetic")
        if isinstance(other, (int, float, np.integer, np.floating)):
            c = float(other)
            return self.g.add("const", c, frozenset())
        raise NotTraceable(f"an operand of type {type(other).__name__}")

    def _op(self, op, *operands):
        ks = tuple(self._node(o) for o in operands)
        deps = frozenset().union(*(self.g.deps[k] for k in ks))
        return Traced(self.g, self.g.add(op, ks, deps))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            raise NotTraceable(f"numpy {ufunc.__name__}.{method} with {sorted(kwargs)}")
        name = ufunc.__name__
        if name == "divide":
            name = "true_divide"
        if name == "float_power":
            name = "power"
        if (name in _UNARY and len(inputs) == 1) or (name in _BINARY and len(inputs) == 2):
            return self._op(name, *inputs)
        raise NotTraceable(f"numpy.{ufunc.__name__} is not traced")

    def __array_function__(self, func, types, args, kwargs):
        raise NotTraceable(f"numpy.{func.__name__} is not element-wise arithmetic")

    __add__ = lambda s, o: s._op("add", s, o)
    __radd__ = lambda s, o: s._op("add", o, s)
    __sub__ = lambda s, o: s._op("subtract", s, o)
    __rsub__ = lambda s, o: s._op("subtract", o, s)
    __mul__ = lambda s, o: s._op("multiply", s, o)
    __rmul__ = lambda s, o: s._op("multiply", o, s)
    __truediv__ = lambda s, o: s._op("true_divide", s, o)
    __rtruediv__ = lambda s, o: s._op("true_divide", o, s)
    __pow__ = lambda s, o: s._op("power", s, o)
    __rpow__ = lambda s, o: s._op("power", o, s)
    __neg__ = lambda s: s._op("negative", s)
    __pos__ = lambda s: s
    __abs__ = lambda s: s._op("absolute", s)

    def _refuse(self, *a, **k):
        raise NotTraceable("the model branches on, converts or indexes a value")

    __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = __getitem__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __hash__ = None

    def __getattr__(self, name):
        if name.startswith("__"):   # numpy's protocol probes (__array_interface__, ...)
            raise AttributeError(name)
        # x.shape, x.size, x.sum(), p.copy()...: not per-point arithmetic
        raise NotTraceable(f"attribute {name!r} of the data")


class _Parameters:
    """Stands in for the parameter array: p[j] with an integer j, len(p), iteration."""

    def __init__(self, g, n):
        self.g, self.n = g, n
        self.items = [Traced(g, g.add("p", j, frozenset([j]))) for j in range(n)]

    def __getitem__(self, j):
        if isinstance(j, (int, np.integer)) and not isinstance(j, (bool, np.bool_)):
            return self.items[j]   # IndexError as an array would give
        raise NotTraceable(f"parameters indexed with {j!r}")

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(self.items)

    @property
    def shape(self):
        return (self.n,)

    @property
    def size(self):
        return self.n

    def __array__(self, *a, **k):
        raise NotTraceable("the parameters converted to an array")


def trace(model, n_params):
    """The graph and the output node of model(x, p) for one point, or NotTraceable."""
    g = _Graph(n_params)
    x = Traced(g, g.add("x", 0, frozenset()))
    p = _Parameters(g, n_params)
    try:
        out = model(x, p)
    except NotTraceable:
        raise
    except Exception as exc:  # any failure of the stand-ins (TypeError from numpy, ...)
        raise NotTraceable(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(out, Traced):
        raise NotTraceable(f"the model returned {type(out).__name__}, not one value per point")
    return g, out.k


def _const(c):
    if math.isnan(c):
        return "math.nan"
    if math.isinf(c):
        return "math.inf" if c > 0 else "(-math.inf)"
    # parenthesized when negative: "-2.0 ** v" would be -(2 ** v)
    return repr(c) if c >= 0 or math.copysign(1.0, c) > 0 else f"({c!r})"


_FUNC = {"exp": "math.exp", "expm1": "math.expm1", "log": "math.log", "log1p": "math.log1p",
         "log2": "math.log2", "log10": "math.log10", "sqrt": "math.sqrt", "sin": "math.sin",
         "cos": "math.cos", "tan": "math.tan", "arcsin": "math.asin", "arccos": "math.acos",
         "arctan": "math.atan", "sinh": "math.sinh", "cosh": "math.cosh", "tanh": "math.tanh",
         "arcsinh": "math.asinh", "arccosh": "math.acosh", "arctanh": "math.atanh",
         "absolute": "abs"}


def _value_code(op, a, b, v):
    """The expression for a node's value from its operands' variables (numpy's semantics)."""
    if op in _FUNC:
        return f"{_FUNC[op]}({a})"
    return {
        "negative": f"-{a}", "positive": a, "square": f"{a} * {a}", "reciprocal": f"1.0 / {a}",
        "exp2": f"2.0 ** {a}", "cbrt": f"math.copysign(abs({a}) ** (1.0 / 3.0), {a})",
        "add": f"{a} + {b}", "subtract": f"{a} - {b}", "multiply": f"{a} * {b}",
        "true_divide": f"{a} / {b}", "power": f"{a} ** {b}", "arctan2": f"math.atan2({a}, {b})",
        "hypot": f"math.hypot({a}, {b})",
    }[op]


def _derivative_terms(op, a, b, v, da, db):
    """d(node) from the operands' derivatives da, db (expressions, or None where zero)."""
    def times(c, d):
        return None if d is None else (c if d == "1.0" else f"({c}) * {d}")

    def plus(*terms):
        terms = [t for t in terms if t is not None]
        if len(terms) == 1:
            return terms[0]
        return " + ".join(f"({t})" for t in terms) if terms else None

    if op == "negative":
        return None if da is None else f"-({da})"
    if op == "positive":
        return da
    if op == "add":
        return plus(da, db)
    if op == "subtract":
        return plus(da, None if db is None else f"-({db})")
    if op == "multiply":
        return plus(times(b, da), times(a, db))
    if op == "true_divide":
        return plus(times(f"1.0 / {b}", da), times(f"-{v} / {b}", db))
    if op == "power":
        # d(a^b) = b a^(b-1) da + a^b ln(a) db; the first written without a^b / a, which is 0/0 at a = 0
        return plus(times(f"{b} * {a} ** ({b} - 1.0)", da), times(f"{v} * math.log({a})", db))
    if op == "arctan2":
        return plus(times(f"{b} / ({a} * {a} + {b} * {b})", da), times(f"-{a} / ({a} * {a} + {b} * {b})", db))
    if op == "hypot":
        return plus(times(f"{a} / {v}", da), times(f"{b} / {v}", db))
    return times(_unary_factor(op, a, v), da)


def _unary_factor(op, a, v):
    """d(op(a))/da in terms of a and the value v."""
    return {
        "absolute": f"math.copysign(1.0, {a})", "exp": v, "exp2": f"{_LN2!r} * {v}", "expm1": f"{v} + 1.0",
        "log": f"1.0 / {a}", "log2": f"1.0 / ({a} * {_LN2!r})", "log10": f"1.0 / ({a} * {_LN10!r})",
        "log1p": f"1.0 / (1.0 + {a})", "sqrt": f"0.5 / {v}", "cbrt": f"1.0 / (3.0 * {v} * {v})",
        "square": f"2.0 * {a}", "reciprocal": f"-{v} * {v}", "sin": f"math.cos({a})",
        "cos": f"-math.sin({a})", "tan": f"1.0 + {v} * {v}", "arcsin": f"1.0 / math.sqrt(1.0 - {a} * {a})",
        "arccos": f"-1.0 / math.sqrt(1.0 - {a} * {a})", "arctan": f"1.0 / (1.0 + {a} * {a})",
        "sinh": f"math.cosh({a})", "cosh": f"math.sinh({a})", "tanh": f"1.0 - {v} * {v}",
        "arcsinh": f"1.0 / math.sqrt({a} * {a} + 1.0)", "arccosh": f"1.0 / math.sqrt({a} * {a} - 1.0)",
        "arctanh": f"1.0 / (1.0 - {a} * {a})",
    }[op]


def generate_source(g, out, name="traced_model"):
    """Python source of `{name}_fj(x, p, f, JT)` (values into f, JT[j, i] = df_i/dp_j) and
    `{name}(x, p)` (values only), both looping over the points."""
    values, derivs, body = {}, {}, []
    for k, (op, args) in enumerate(g.nodes):
        if op == "const":
            values[k] = _const(args)
            continue
        if op == "x":
            values[k] = "xi"
            continue
        if op == "p":
            values[k] = f"p{args}"
            derivs[(k, args)] = "1.0"
            continue
        a = values[args[0]]
        b = values[args[1]] if len(args) > 1 else None
        v = f"v{k}"
        body.append(f"{v} = {_value_code(op, a, b, v)}")
        values[k] = v
        if len(args) == 1 and op not in ("negative", "positive") and len(g.deps[k]) > 1:
            # one factor for every parameter's derivative (cos(a) once, not once per parameter)
            body.append(f"g{k} = {_unary_factor(op, a, v)}")
        for j in sorted(g.deps[k]):
            da = derivs.get((args[0], j))
            db = derivs.get((args[1], j)) if len(args) > 1 else None
            if len(args) == 1 and op not in ("negative", "positive") and len(g.deps[k]) > 1:
                d = None if da is None else (f"g{k}" if da == "1.0" else f"g{k} * {da}")
            else:
                d = _derivative_terms(op, a, b, v, da, db)
            if d is not None:
                body.append(f"d{k}_{j} = {d}")
                derivs[(k, j)] = f"d{k}_{j}"
    params = "".join(f"    p{j} = p[{j}]\n" for j in range(g.n_params))
    fj_lines = body + [f"f[i] = {values[out]}"]
    for j in range(g.n_params):
        fj_lines.append(f"JT[{j}, i] = {derivs.get((out, j), '0.0')}")
    # the values alone: only the nodes the value needs, no derivative lines
    value_lines = [line for line in body if line.startswith("v")] + [f"out[i] = {values[out]}"]
    ind = " " * 8
    return (f"def {name}_fj(x, p, f, JT):\n{params}"
            f"    for i in range(x.shape[0]):\n        xi = x[i]\n"
            + textwrap.indent("\n".join(fj_lines), ind) + "\n\n\n"
            f"def {name}(x, p):\n{params}    out = np.empty(x.shape[0])\n"
            f"    for i in range(x.shape[0]):\n        xi = x[i]\n"
            + textwrap.indent("\n".join(value_lines), ind) + "\n    return out\n")




def cache_dir():
    """Where traced models are kept as files, so numba can cache their compiled code on disk
    and the next process loads it instead of compiling (LOOPSCOPE_TRACED_CACHE overrides)."""
    given = os.environ.get("LOOPSCOPE_TRACED_CACHE")
    if given:
        return Path(given)
    import platformdirs

    return Path(platformdirs.user_cache_dir("loopscope", appauthor=False)) / "traced_models"


_HEADER = ("# written by loopscope.analysis.user_model_jacobian: a user's model traced into values\n"
           "# and Jacobian; the file name is the hash of this source\n"
           "import math\n\nimport numpy as np\nfrom numba import njit\n\n\n")
_DECORATOR = '@njit(cache=True, error_model="numpy")\n'


def _from_file(src, name):
    """The two functions from a cached module file (written once, atomically), or None when
    the cache cannot be written."""
    import importlib.util

    folder = cache_dir()
    path = folder / f"{name}.py"
    text = _HEADER + src.replace("def ", _DECORATOR + "def ")
    try:
        if not path.exists() or path.read_text() != text:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_text(text)
            os.replace(tmp, path)   # a concurrent process writes the same text: either wins
        # registered under its own name: numba's cache re-imports the module of a cached function
        module_name = f"loopscope_{name}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
    except OSError:
        return None
    return getattr(module, name), getattr(module, name + "_fj")


def compile_traced(model, n_params, on_disk=True):
    """(model_dispatcher, fj_dispatcher, source) compiled from the traced model, or NotTraceable.
    on_disk: through a module file in cache_dir(), so numba's cache serves the next process."""
    from numba import njit

    g, out = trace(model, n_params)
    # the code depends only on the trace: its hash names it, and equal models share one file
    digest = hashlib.sha256(generate_source(g, out, "traced").encode()).hexdigest()[:20]
    name = f"traced_{digest}"
    src = generate_source(g, out, name)
    if on_disk:
        hit = _from_file(src, name)
        if hit is not None:
            return hit[0], hit[1], src
    ns = {"math": math, "np": np}
    exec(compile(src, f"<traced model {getattr(model, '__name__', '?')}>", "exec"), ns)
    # error_model="numpy": a division by zero gives inf/nan as the user's numpy model would,
    # not a ZeroDivisionError from inside the fit
    opts = dict(error_model="numpy")
    return njit(**opts)(ns[name]), njit(**opts)(ns[name + "_fj"]), src


def agrees_with(user_model, traced_model, traced_fj, x, p0):
    """Whether the traced code computes the user's model: the same values at p0 on the data's x
    (to a few rounding units: numpy's own exp/sin may differ from libm's in the last bits) and
    derivatives within central differences' error. Returns (ok, reason); reason "not finite"
    when the user's model is not finite at p0 (nothing can be compared there)."""
    with np.errstate(all="ignore"):   # the user's numpy model at a start where it is not finite
        return _agrees_with(user_model, traced_model, traced_fj, x, p0)


def _agrees_with(user_model, traced_model, traced_fj, x, p0):
    x = np.ascontiguousarray(x, dtype=np.float64)
    p0 = np.ascontiguousarray(p0, dtype=np.float64)
    try:
        f_user = np.asarray(user_model(x, p0), dtype=np.float64)
    except Exception as exc:
        return False, f"the model raised {type(exc).__name__}"
    if f_user.shape != x.shape:
        return False, f"the model returned shape {f_user.shape} for x of shape {x.shape}"
    if not np.all(np.isfinite(f_user)):
        return False, "not finite"
    f = np.empty_like(x)
    JT = np.empty((p0.shape[0], x.shape[0]))
    traced_fj(x, p0, f, JT)
    scale = max(float(np.max(np.abs(f_user))), 1e-300)
    worst = float(np.max(np.abs(f - f_user)))
    if not worst <= 1e-12 * scale:
        return False, f"values differ by {worst:.3g} (scale {scale:.3g})"
    if not np.array_equal(traced_model(x, p0), f):
        return False, "the value-only code differs from the value-and-Jacobian code"
    for j in range(p0.shape[0]):
        # central differences with the step that balances truncation and rounding (eps^(1/3))
        h = 6e-6 * (abs(p0[j]) if p0[j] != 0.0 else 1.0)
        pj, pm = p0.copy(), p0.copy()
        pj[j] += h
        pm[j] -= h
        fd = (np.asarray(user_model(x, pj), dtype=np.float64) - np.asarray(user_model(x, pm), dtype=np.float64)) / (pj[j] - pm[j])
        col = JT[j]
        if not np.all(np.isfinite(col)):
            return False, f"derivative {j} not finite"
        size = max(float(np.max(np.abs(fd))), float(np.max(np.abs(col))))
        if np.max(np.abs(col - fd)) > 1e-4 * size + 1e-9 * scale / (abs(p0[j]) if p0[j] != 0.0 else 1.0):
            return False, f"derivative {j} differs from central differences"
    return True, ""

"""Registry models by number, so one compiled (and cached) Levenberg-Marquardt serves them all.

numba cannot cache a function that takes another jitted function as an argument (the cache
key holds its address), so fits of registry models go through `eval_model(model_id, ...)`,
a plain switch. User models go through first-class function objects instead (lm.py).
Order matters: the ids are positions in MODEL_NAMES (append only).
"""
from numba import njit

from loopscope.analysis.kernels import models as K

MODEL_NAMES = (
    "susceptibility", "curie_weiss", "brillouin", "langevin", "jiles_atherton",
    "persistent_current", "pc_ensemble", "pc_squid", "pc_cantilever",
    "pc_ballistic_T", "pc_diffusive_T", "pc_exponential_T",
    "sc_exponential", "sc_creep", "sc_decay",
)
MODEL_IDS = {name: i for i, name in enumerate(MODEL_NAMES)}


@njit(cache=True)
def eval_model(mid, x, p):
    if mid == 0:
        return K.susceptibility(x, p)
    elif mid == 1:
        return K.curie_weiss(x, p)
    elif mid == 2:
        return K.brillouin_model(x, p)
    elif mid == 3:
        return K.langevin_model(x, p)
    elif mid == 4:
        return K.jiles_atherton(x, p)
    elif mid == 5:
        return K.persistent_current(x, p)
    elif mid == 6:
        return K.pc_ensemble(x, p)
    elif mid == 7:
        return K.pc_squid(x, p)
    elif mid == 8:
        return K.pc_cantilever(x, p)
    elif mid == 9:
        return K.pc_ballistic_T(x, p)
    elif mid == 10:
        return K.pc_diffusive_T(x, p)
    elif mid == 11:
        return K.pc_exponential_T(x, p)
    elif mid == 12:
        return K.sc_exponential(x, p)
    elif mid == 13:
        return K.sc_creep(x, p)
    else:
        return K.sc_decay(x, p)


@njit(cache=True)
def eval_jac(mid, x, p, f, J):
    """Analytic Jacobian (transposed) for the models that have one; see HAS_JAC."""
    if mid == 0:
        K.susceptibility_jac(x, p, f, J)
    elif mid == 1:
        K.curie_weiss_jac(x, p, f, J)
    elif mid == 5:
        K.persistent_current_jac(x, p, f, J)
    elif mid == 12:
        K.sc_exponential_jac(x, p, f, J)


@njit(cache=True)
def eval_fj(mid, x, p, f, J):
    """Values into f and the analytic Jacobian into J, fused where it saves a pass."""
    if mid == 5:
        K.persistent_current_fj(x, p, f, J)
    else:
        f[:] = eval_model(mid, x, p)
        eval_jac(mid, x, p, f, J)


HAS_JAC = frozenset({0, 1, 5, 12})

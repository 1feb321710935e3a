"""The model registry: name -> kernel, parameters (names, units, defaults), version, and the
run-file quantities it fits (x, y). `loopscope fit --list-models` prints it.

Kernels live in `loopscope.analysis.kernels.models`; this module only describes them. Importing it does
not compile anything (numba compiles, or loads from its cache, on first call).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from loopscope.analysis import constants as C
from loopscope.analysis.kernels import models as K


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kernel: Callable
    param_names: tuple
    units: tuple
    defaults: tuple
    x: str
    y: str
    description: str
    version: str = "1"
    default_fixed: tuple = ()
    bounds: dict = field(default_factory=dict)
    guess: Callable | None = None  # guess(x, y, start) -> {name: value}
    derive: Callable | None = None  # derive(result, metadata) -> {name: (value, stderr, units)}
    ordered: bool = False  # history-dependent (hysteresis): evaluate at the data's own x order

    @property
    def model_id(self):
        from loopscope.analysis.kernels.dispatch import MODEL_IDS

        return MODEL_IDS.get(self.name)

    @property
    def has_jac(self):
        from loopscope.analysis.kernels.dispatch import HAS_JAC

        return self.model_id in HAS_JAC

    def initial_guess(self, x, y, start=None):
        """The data-driven start; `start` ({name: value}: the defaults with the user's values
        over them) for guesses that depend on a parameter held fixed (a field angle)."""
        if not self.guess:
            return {}
        try:
            return self.guess(x, y, dict(zip(self.param_names, self.defaults)) | dict(start or {}))
        except Exception:  # a guess is a convenience; the defaults remain
            return {}

    def __call__(self, x, params):
        p = np.asarray([params[n] for n in self.param_names] if isinstance(params, dict) else params,
                       dtype=np.float64)
        return self.kernel(np.ascontiguousarray(x, dtype=np.float64), p)


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if len({len(spec.param_names), len(spec.units), len(spec.defaults)}) != 1:
        raise ValueError(f"model {spec.name}: names, units and defaults differ in length")
    REGISTRY[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}") from None


def list_models() -> list[ModelSpec]:
    return [REGISTRY[k] for k in sorted(REGISTRY)]


# ------------------------------------------------------------------ guesses and derived values
def _linear_guess(x, y, start):
    slope, icpt = np.polyfit(x, y, 1)
    return {"chi": slope, "m0": icpt}


def _mass_susceptibility(res, meta):
    mass = meta.get("sample_mass_kg")
    out = {}
    if mass and mass > 0:
        chi, err = res["chi"], res.stderr[res.names.index("chi")]
        out["chi_mass"] = (chi / mass, err / mass, "m^3/kg")
        # CGS mass susceptibility: 1 emu/(g Oe) = 4 pi 1e-3 m^3/kg
        f = 1.0 / (4e-3 * math.pi)
        out["chi_mass_cgs"] = (chi / mass * f, err / mass * f, "emu/(g Oe)")
    return out


def _curie_weiss_guess(x, y, start):
    A = np.c_[1.0 / x, np.ones_like(x)]
    (c, chi0), *_ = np.linalg.lstsq(A, y, rcond=None)
    return {"C": c, "theta": 0.0, "chi0": chi0}


def _saturation_guess(x, y, start):
    hi = np.abs(x) > 0.7 * np.max(np.abs(x))
    slope = np.polyfit(x[hi], y[hi], 1)[0] if hi.sum() >= 2 else 0.0
    ms = np.max(np.abs(y - slope * x))
    return {"Ms": ms, "chi0": slope}


def _period_area(x, y, harmonic=1):
    from loopscope.analysis.spectral import dominant_frequency

    f = dominant_frequency(x, y)
    return C.PHI0 * f / harmonic


def _pc_guess(x, y, start):
    area = _period_area(x, y)
    return {"area": area, "I1": np.std(y) * math.sqrt(2.0), "I2": 0.1 * np.std(y)}


def _pc_derive(res, meta):
    """The field period h/(e A_eff) and the ring radius from the area. Models with a field angle
    (pc_squid, pc_cantilever) fit the ring's own area A; the period is set by the flux through
    it, A sin(theta) (theta the field's angle to the ring plane)."""
    i = res.names.index("area")
    a, da = res.values[i], res.stderr[i]
    s = math.sin(res.values[res.names.index("theta")]) if "theta" in res.names else 1.0
    a_eff, da_eff = a * s, da * abs(s)
    return {"period_T": (C.PHI0 / a_eff, C.PHI0 / a_eff ** 2 * da_eff, "T"),
            "ring_radius": (math.sqrt(abs(a) / math.pi), 0.5 * da / math.sqrt(math.pi * abs(a)) if a else 0.0, "m")}


def _ens_guess(x, y, start):
    area = _period_area(x, y, harmonic=2)
    return {"area": area, "moment_amp": np.std(y) * math.sqrt(2.0), "offset": np.mean(y)}


def _squid_guess(x, y, start):
    from loopscope.analysis.spectral import remove_background

    resid, coef = remove_background(x, y, 1)
    # the FFT sees the flux period, set by the effective area A sin(theta); the model's area
    # is A itself (it multiplies by sin(theta))
    return {"area": _period_area(x, resid) / math.sin(start["theta"]), "chi_bg": coef[1], "c0": coef[0]}


def _diffusive_derive(res, meta):
    i = res.names.index("Ec_K")
    ec, dec = res.values[i], res.stderr[i]
    return {"E_c": (ec * C.K_B, dec * C.K_B, "J"),
            "E_c_ueV": (ec * C.K_B / C.E_CHARGE * 1e6, dec * C.K_B / C.E_CHARGE * 1e6, "ueV"),
            "T_thouless": (ec, dec, "K")}


def _exp_guess(x, y, start):
    pos = y > 0
    if pos.sum() >= 2:
        slope, icpt = np.polyfit(x[pos], np.log(y[pos]), 1)
        if slope < 0:
            return {"I0": math.exp(icpt), "tau": -1.0 / slope, "T_p": -1.0 / slope}
    return {"I0": y[0]}


def _ja_guess(x, y, start):
    """A start read off the loop (x the H history, y the moment): Ms from the largest |M|; the
    coercive field, where M crosses zero, for k and a (JA's loop has Hc ~ k, and the
    anhysteretic of a soft core is about as wide); alpha from the steepest slope of the
    branches, dM/dH ~ -1/alpha once a demagnetizing field folds into it (alpha - N < 0 shears the
    loop to slope ~1/N). The defaults (k = a = 100 A/m, alpha = +1e-4) start a silicon-steel
    strip's fit in the wrong basin: k went to zero."""
    vol = start["volume"]
    m = np.asarray(y, float) / vol
    h = np.asarray(x, float)
    ms = 1.001 * float(np.max(np.abs(m)))
    dh, dm = np.diff(h), np.diff(m)
    moving = np.abs(dh) > 0
    crossings = []
    for i in np.nonzero(moving & (m[:-1] * m[1:] < 0))[0]:
        crossings.append(abs(h[i] - m[i] * (h[i + 1] - h[i]) / (m[i + 1] - m[i])))
    out = {"Ms": ms}
    if crossings:
        hc = float(np.median(crossings))
        if hc > 0:
            out["k"] = out["a"] = hc
    central = moving & (np.abs(m[:-1]) < 0.5 * ms)
    if central.any():
        slope = float(np.max(dm[central] / dh[central]))
        if slope > 0 and 1.0 / slope < 0.5:   # a sheared loop: N of at most 1/2
            out["alpha"] = -1.0 / slope
    return out


def _ja_derive(res, meta):
    from loopscope.analysis.physics import hysteresis_loop

    p = res.params
    h_max = meta.get("x_max_abs")
    if not h_max:
        return {}
    loop = hysteresis_loop(p["Ms"], p["a"], p["k"], p["c"], p["alpha"], h_max)
    return {"coercivity": (loop["coercivity"], math.nan, "A/m"),
            "remanence": (loop["remanence"], math.nan, "A/m"),
            "loss_per_cycle": (loop["loss_per_cycle"], math.nan, "J/m^3")}


# ------------------------------------------------------------------ the models
register(ModelSpec(
    "susceptibility", K.susceptibility, ("chi", "m0"), ("m^3", "A m^2"), (1e-9, 0.0),
    "field_H_A_per_m", "moment_Am2",
    "linear: moment = chi H + m0 (chi = volume susceptibility x volume; mass susceptibility "
    "chi/mass reported when the file knows the sample mass)", guess=_linear_guess, derive=_mass_susceptibility))

register(ModelSpec(
    "curie_weiss", K.curie_weiss, ("C", "theta", "chi0"), ("m^3 K", "K", "m^3"), (1e-9, 0.0, 0.0),
    "temperature_K", "moment_per_H_m3",
    "Curie-Weiss: moment/H = C/(T - theta) + chi0", guess=_curie_weiss_guess))

register(ModelSpec(
    "brillouin", K.brillouin_model, ("Ms", "g", "J", "T", "chi0"), ("A m^2", "1", "1", "K", "A m^2/T"),
    (1e-6, 2.0, 0.5, 2.0, 0.0), "field_T", "moment_Am2",
    "Brillouin paramagnet plus linear (diamagnetic/Pauli) term: Ms B_J(g muB J B/kB T) + chi0 B",
    default_fixed=("g", "T"), bounds={"J": (1e-3, 1e3), "T": (1e-6, np.inf)}, guess=_saturation_guess))

register(ModelSpec(
    "langevin", K.langevin_model, ("Ms", "mu", "T", "chi0"), ("A m^2", "J/T", "K", "A m^2/T"),
    (1e-6, 1000 * C.MU_B, 300.0, 0.0), "field_T", "moment_Am2",
    "superparamagnet: Ms L(mu B / kB T) + chi0 B", default_fixed=("T",), guess=_saturation_guess))

register(ModelSpec(
    "jiles_atherton", K.jiles_atherton, ("Ms", "a", "k", "c", "alpha", "volume"),
    ("A/m", "A/m", "A/m", "1", "1", "m^3"), (1.6e6, 100.0, 100.0, 0.2, 1e-4, 1e-9),
    "field_H_A_per_m", "moment_Am2",
    "Jiles-Atherton hysteresis along the measured H history; moment = volume M(H). "
    "Reports coercivity, remanence and loss per cycle (loop area)",
    default_fixed=("volume",), bounds={"a": (1e-9, np.inf), "k": (1e-9, np.inf), "c": (0.0, 1.0)},
    derive=_ja_derive, ordered=True, guess=_ja_guess,
    version="2"))   # 2: 5th-order steps counted from each field step and the model's scales, Newton for
                    # H_e, the denominator's sign guarded (v1 ran away at coarse field steps)

register(ModelSpec(
    "persistent_current", K.persistent_current, ("area", "I1", "phi1", "I2", "phi2", "background"),
    ("m^2", "A", "rad", "A", "rad", "A/T"), (2.83e-13, 1e-9, 0.0, 1e-10, 0.0, 0.0),
    "field_T", "current_A",
    "ring current, h/e harmonics 1 and 2: I1 sin(2 pi A B/Phi0 + phi1) + I2 sin(4 pi A B/Phi0 + phi2) + b B; "
    "A = effective area (area x sin of the field angle to the ring plane)", guess=_pc_guess, derive=_pc_derive))

register(ModelSpec(
    "pc_ensemble", K.pc_ensemble, ("moment_amp", "area", "phase", "background", "offset"),
    ("A m^2", "m^2", "rad", "A m^2/T", "A m^2"), (1e-15, 2.83e-13, 0.0, 0.0, 0.0),
    "field_T", "moment_Am2", "ensemble-average moment with period h/2e plus a linear background",
    guess=_ens_guess))

register(ModelSpec(
    "pc_squid", K.pc_squid, ("M_rp", "area", "theta", "I1", "phi1", "I2", "phi2", "chi_bg", "c0"),
    ("H", "m^2", "rad", "A", "rad", "A", "rad", "Phi0/T", "Phi0"),
    (0.96e-12, 2.83e-13, math.pi / 2, 1e-9, 0.0, 1e-10, 0.0, 0.0, 0.0), "field_T", "flux_phi0",
    "SQUID flux (units of h/2e) from a ring: (M_rp/Phi0_sc) I(B) + chi_bg B + c0",
    default_fixed=("M_rp", "theta"), guess=_squid_guess, derive=_pc_derive,
    version="2"))   # 2: the guess and the period take the field angle theta into account

register(ModelSpec(
    "pc_cantilever", K.pc_cantilever,
    ("f0", "k_spring", "lever", "area", "theta", "I1", "phi1", "I2", "phi2", "b2", "b0"),
    ("Hz", "N/m", "m", "m^2", "rad", "A", "rad", "A", "rad", "Hz/T^2", "Hz"),
    (2000.0, 1e-3, 300e-6, 2.83e-13, math.pi / 4, 1e-9, 0.0, 1e-10, 0.0, 0.0, 0.0),
    "field_T", "resonance_frequency_Hz",
    "cantilever frequency shift (f0/(2 k lever^2)) [-(A B cos th)^2 dI/dPhi + I A B sin th] + b2 B^2 + b0: "
    "the B^2 envelope times h/e harmonics (factor p) and the current's own torque term; "
    "lever = tip deflection per radian of tip rotation (L/1.3765 for a flexural beam of length L)",
    default_fixed=("f0", "k_spring", "lever", "theta"),
    version="2"))   # 2: the I A B sin(theta) term of the torque is included

register(ModelSpec(
    "pc_ballistic_T", K.pc_ballistic_T, ("I0", "T_star", "harmonic"), ("A", "K", "1"), (1e-9, 0.1, 1.0),
    "temperature_K", "current_A", "ballistic ring: I0 x/sinh x, x = p T/T*, kB T* = hbar vF/(pi L)",
    default_fixed=("harmonic",)))

register(ModelSpec(
    "pc_diffusive_T", K.pc_diffusive_T, ("I0", "Ec_K", "harmonic"), ("A", "K", "1"), (1e-9, 0.02, 1.0),
    "temperature_K", "current_A",
    "diffusive ring, typical current: I0 sqrt(j_p(kB T/E_c)/j_p(0)); Ec_K = E_c/kB (Thouless temperature)",
    default_fixed=("harmonic",), bounds={"Ec_K": (1e-9, np.inf)}, derive=_diffusive_derive))

register(ModelSpec(
    "pc_exponential_T", K.pc_exponential_T, ("I0", "T_p", "harmonic"), ("A", "K", "1"), (1e-9, 0.1, 1.0),
    "temperature_K", "current_A", "empirical: I0 exp(-p T/T_p)", default_fixed=("harmonic",), guess=_exp_guess))

register(ModelSpec(
    "sc_exponential", K.sc_exponential, ("I0", "tau"), ("A", "s"), (1.0, 1e4), "elapsed_s", "magnet_current_A",
    "resistive decay I0 exp(-t/tau), tau = L/R", guess=_exp_guess))

register(ModelSpec(
    "sc_creep", K.sc_creep, ("I0", "S", "t0"), ("A", "1", "s"), (1.0, 0.02, 1.0), "elapsed_s", "magnet_current_A",
    "flux creep I0 [1 - S ln(1 + t/t0)]", bounds={"t0": (1e-12, np.inf)}))

register(ModelSpec(
    "sc_decay", K.sc_decay, ("I0", "tau", "S", "t0"), ("A", "s", "1", "s"), (1.0, 1e6, 0.02, 1.0),
    "elapsed_s", "magnet_current_A", "exponential decay times flux creep",
    bounds={"t0": (1e-12, np.inf), "tau": (1e-12, np.inf)}))

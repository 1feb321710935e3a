"""loopscope analysis: numba models of magnetized matter, coils and persistent currents,
a fast Levenberg-Marquardt fitter, spectral tools, and fits on run files.

Public names are imported lazily (first attribute access) so `loopscope fit` starts fast.
"""
import importlib

_EXPORTS = {
    # fields
    "loop_field": "analysis.fields", "cylinder_field": "analysis.fields",
    "coaxial_loops_field": "analysis.fields", "helmholtz_field": "analysis.fields",
    "helmholtz_centre_field": "analysis.fields", "anti_helmholtz_gradient": "analysis.fields",
    "quadrupole_trap": "analysis.fields", "solenoid_field": "analysis.fields",
    "mutual_inductance": "analysis.fields", "magnetization_field": "analysis.fields",
    # fitting
    "curve_fit": "analysis.fitting", "curve_fit_batch": "analysis.fitting", "fit": "analysis.fitting",
    "FitResult": "analysis.fitting", "FitError": "analysis.fitting",
    # models
    "get_model": "analysis.models", "list_models": "analysis.models", "ModelSpec": "analysis.models",
    "REGISTRY": "analysis.models",
    # physics helpers
    "brillouin_function": "analysis.physics", "langevin_function": "analysis.physics",
    "brillouin_magnetization": "analysis.physics", "curie_constant": "analysis.physics",
    "jiles_atherton_curve": "analysis.physics", "hysteresis_loop": "analysis.physics",
    "persistent_current": "analysis.physics", "field_period": "analysis.physics",
    "ring_area_from_period": "analysis.physics", "thouless_energy": "analysis.physics",
    "typical_current_T0": "analysis.physics", "typical_current": "analysis.physics", "jp": "analysis.physics",
    "ballistic_factor": "analysis.physics", "decay_time_lower_bound": "analysis.physics",
    # spectral
    "remove_background": "analysis.spectral", "field_spectrum": "analysis.spectral",
    "find_harmonics": "analysis.spectral", "dominant_frequency": "analysis.spectral",
    # files
    "read_run": "analysis.runfile", "RunFileError": "analysis.runfile",
    "fit_run": "analysis.runfile",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__

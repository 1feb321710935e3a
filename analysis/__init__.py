"""loopscope analysis: numba models of magnetized matter, coils and persistent currents,
a fast Levenberg-Marquardt fitter, spectral tools, and fits on run files.

Public names are imported lazily (first attribute access) so `loopscope fit` starts fast.
"""
import importlib

_EXPORTS = {
    # fields
    "loop_field": "loopscope.analysis.fields", "cylinder_field": "loopscope.analysis.fields",
    "coaxial_loops_field": "loopscope.analysis.fields", "helmholtz_field": "loopscope.analysis.fields",
    "helmholtz_centre_field": "loopscope.analysis.fields", "anti_helmholtz_gradient": "loopscope.analysis.fields",
    "quadrupole_trap": "loopscope.analysis.fields", "solenoid_field": "loopscope.analysis.fields",
    "mutual_inductance": "loopscope.analysis.fields", "magnetization_field": "loopscope.analysis.fields",
    # fitting
    "curve_fit": "loopscope.analysis.fitting", "curve_fit_batch": "loopscope.analysis.fitting", "fit": "loopscope.analysis.fitting",
    "FitResult": "loopscope.analysis.fitting", "FitError": "loopscope.analysis.fitting",
    # models
    "get_model": "loopscope.analysis.models", "list_models": "loopscope.analysis.models", "ModelSpec": "loopscope.analysis.models",
    "REGISTRY": "loopscope.analysis.models",
    # physics helpers
    "brillouin_function": "loopscope.analysis.physics", "langevin_function": "loopscope.analysis.physics",
    "brillouin_magnetization": "loopscope.analysis.physics", "curie_constant": "loopscope.analysis.physics",
    "jiles_atherton_curve": "loopscope.analysis.physics", "hysteresis_loop": "loopscope.analysis.physics",
    "persistent_current": "loopscope.analysis.physics", "field_period": "loopscope.analysis.physics",
    "ring_area_from_period": "loopscope.analysis.physics", "thouless_energy": "loopscope.analysis.physics",
    "typical_current_T0": "loopscope.analysis.physics", "typical_current": "loopscope.analysis.physics", "jp": "loopscope.analysis.physics",
    "ballistic_factor": "loopscope.analysis.physics", "decay_time_lower_bound": "loopscope.analysis.physics",
    # spectral
    "remove_background": "loopscope.analysis.spectral", "field_spectrum": "loopscope.analysis.spectral",
    "find_harmonics": "loopscope.analysis.spectral", "dominant_frequency": "loopscope.analysis.spectral",
    # files
    "read_run": "loopscope.analysis.runfile", "RunFileError": "loopscope.analysis.runfile",
    "fit_run": "loopscope.analysis.runfile",
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

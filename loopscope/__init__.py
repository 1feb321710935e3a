"""loopscope: instrument control, simulated lab, field sweeps and analysis for magnetism labs."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loopscope")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

# The scripting API (loopscope/scripting.py), imported on first use so that `loopscope sim`
# and `import loopscope` stay light (no numba, no Qt, no h5py until asked for).
_API = {"simulated_lab", "connect", "load_plan", "code_plan", "run", "read_run", "RunHandle",
        "plan", "step", "iv_curve", "frequency_scan"}
__all__ = ["__version__", *sorted(_API)]


def __getattr__(name):
    if name in ("plan", "step"):
        from loopscope.daq import plans_as_code
        return getattr(plans_as_code, name)
    if name in ("iv_curve", "frequency_scan"):
        from loopscope.daq import point_measurements
        return getattr(point_measurements, name)
    if name in _API:
        from loopscope import scripting
        return getattr(scripting, name)
    raise AttributeError(f"module 'loopscope' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _API)

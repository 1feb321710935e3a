"""loopscope: instrument control, simulated lab, field sweeps and analysis for magnetism labs."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loopscope")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

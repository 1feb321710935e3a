"""The physics-true simulated lab: one shared world, instruments speaking real protocols over TCP.

Drivers reach it only through VISA resource strings (``TCPIP0::127.0.0.1::<port>::SOCKET``).
"""
from .clock import SimClock
from .config import DEFAULTS, INSTRUMENT_NAMES, ConfigError, load_config
from .lab import DEFAULT_BASE_PORT, SimulatedLab
from .world import World

__all__ = ["SimulatedLab", "World", "SimClock", "load_config", "ConfigError", "DEFAULTS",
           "INSTRUMENT_NAMES", "DEFAULT_BASE_PORT"]

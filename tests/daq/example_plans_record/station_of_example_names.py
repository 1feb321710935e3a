"""In-memory roles under the names and limits of examples/station_sim.yaml.

The example plans name the simulated station's instruments; the record of what they do is
taken on instant in-memory roles with the same names, kinds and limits (no I/O, no clock)."""
from __future__ import annotations

from loopscope.instruments.memory import (MemoryFieldProbe, MemoryFieldSource, MemoryFluxReadout,
                                          MemoryLockIn, MemoryStation, MemoryThermometer)
from loopscope.instruments.roles import FieldLimits


class ExampleStation(MemoryStation):
    default_field_source = "coil_supply"


def example_station() -> MemoryStation:
    station = ExampleStation()
    coil = MemoryFieldSource("coil_supply", FieldLimits(0.099, 12.0, 6.0, 1.2), 0.00827242)
    magnet = MemoryFieldSource("magnet_supply", FieldLimits(9.0, 90.0, 0.24, 0.2), 0.1,
                               persistent_switch=True)
    lockin = MemoryLockIn("lockin")
    lockin.limit_values = {"min_frequency_Hz": 1.0, "max_frequency_Hz": 100000.0}
    station.roles = {
        "coil_supply": coil,
        "magnet_supply": magnet,
        "gaussmeter": MemoryFieldProbe(coil, "gaussmeter"),
        "squid_controller": MemoryFluxReadout(coil, "squid_controller"),
        "lockin": lockin,
        "temperature_controller": MemoryThermometer("temperature_controller", max_temperature_K=10.0),
    }
    return station

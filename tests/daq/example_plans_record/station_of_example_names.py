"""In-memory roles under the names and limits of examples/station_sim.yaml.

The example plans name the simulated station's instruments; the record of what they do is
taken on instant in-memory roles with the same names, kinds and limits (no I/O, no clock)."""
from __future__ import annotations

from loopscope.instruments.memory import (MemoryFieldProbe, MemoryFieldSource, MemoryFluxReadout,
                                          MemoryLockIn, MemoryStation, MemoryThermometer)
from loopscope.instruments.roles import FieldLimits
from loopscope.instruments.roles.vector_magnet import VectorMagnet, VectorMagnetConfig
from loopscope.instruments.vector_field_limit import VectorFieldLimit


class ExampleStation(MemoryStation):
    default_field_source = "coil_supply"


def example_station(vector_magnet: bool = False) -> MemoryStation:
    """vector_magnet: the magnet is the z axis of examples/station_sim_vector_magnet.yaml's
    vector magnet (its axes are then driven only through it)."""
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
    if not vector_magnet:
        return station
    # examples/station_sim_vector_magnet.yaml's axes and vector magnet (the field-angle plan)
    axes = {"x": MemoryFieldSource("magnet_supply_x", FieldLimits(1.0, 50.0, 0.2, 0.2), 0.02),
            "y": MemoryFieldSource("magnet_supply_y", FieldLimits(1.0, 50.0, 0.2, 0.2), 0.02),
            "z": magnet}
    station.roles.update({"magnet_supply_x": axes["x"], "magnet_supply_y": axes["y"]})
    config = VectorMagnetConfig("vector_magnet", {a: r.name for a, r in axes.items()},
                                VectorFieldLimit("cylinder", max_radial_T=1.0, max_z_T=9.0))
    station.roles["vector_magnet"] = VectorMagnet(config, axes)
    return station

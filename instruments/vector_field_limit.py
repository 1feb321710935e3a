"""The vector limit of a three-axis magnet: the region of field vectors it may make.

A vector magnet's coils are rated together, not only one by one: the forces between a
solenoid and split pairs, and the shared critical current of the windings, bound the field
vector by a sphere (|B| <= max_field_T) or a cylinder about z (sqrt(Bx^2 + By^2) <=
max_radial_T and |Bz| <= max_z_T), as the makers specify (a "9-1-1 T" system: 9 T along z,
1 T in any direction). QCoDeS's AMIModel4303D checks the same shapes.

Both regions are monotone in the components' magnitudes: a vector whose every |B_i| is at most
that of an allowed vector is allowed. That is what makes the ramp order of
instruments/roles/vector_magnet.py safe: axes whose magnitude decreases are ramped first (every
vector on the way is dominated by the start), then those that increase (dominated by the
target), so checking the start and the target checks the whole path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loopscope.instruments.roles import LimitError

SHAPES = ("sphere", "cylinder")
AXES = ("x", "y", "z")


@dataclass(frozen=True)
class VectorFieldLimit:
    shape: str
    max_field_T: float | None = None      # sphere
    max_radial_T: float | None = None     # cylinder: sqrt(Bx^2 + By^2)
    max_z_T: float | None = None          # cylinder: |Bz|

    @property
    def largest_magnitude_T(self) -> float:
        """The largest |B| the region holds."""
        if self.shape == "sphere":
            return self.max_field_T
        return math.hypot(self.max_radial_T, self.max_z_T)

    def describe(self) -> str:
        if self.shape == "sphere":
            return f"|B| <= {self.max_field_T:g} T (sphere)"
        return (f"sqrt(Bx^2 + By^2) <= {self.max_radial_T:g} T and |Bz| <= {self.max_z_T:g} T "
                f"(cylinder)")

    def excess(self, vectors) -> np.ndarray:
        """For each vector (rows of an (n, 3) array), how far outside the region it lies as a
        fraction of the limit (<= 0 inside; NaN for a vector that is not finite)."""
        b = np.atleast_2d(np.asarray(vectors, dtype=float))
        if self.shape == "sphere":
            out = np.sqrt(np.sum(b * b, axis=1)) / self.max_field_T - 1.0
        else:
            radial = np.hypot(b[:, 0], b[:, 1]) / self.max_radial_T - 1.0
            axial = np.abs(b[:, 2]) / self.max_z_T - 1.0
            out = np.maximum(radial, axial)
        out[~np.all(np.isfinite(b), axis=1)] = np.nan
        return out

    def allows(self, vector) -> bool:
        e = self.excess(vector)[0]
        return bool(e <= 1e-12)

    def check(self, vector, who: str) -> None:
        """LimitError (naming who) for a vector outside the region or not finite."""
        if not self.allows(vector):
            bx, by, bz = (float(v) for v in vector)
            raise LimitError(f"{who}: field vector ({bx:g}, {by:g}, {bz:g}) T is outside the vector "
                             f"limit {self.describe()}")

    def as_dict(self) -> dict:
        if self.shape == "sphere":
            return {"shape": "sphere", "max_field_T": self.max_field_T}
        return {"shape": "cylinder", "max_radial_T": self.max_radial_T, "max_z_T": self.max_z_T}


def limit_from_mapping(data, where: str, error=ValueError) -> VectorFieldLimit:
    """A VectorFieldLimit from a station file's ``limit`` mapping; ``error`` (a message naming
    ``where``, the key and the value) for anything else."""
    if not isinstance(data, dict):
        raise error(f"{where} must be a mapping such as {{shape: sphere, max_field_T: 1.0}}, got {data!r}")
    shape = data.get("shape")
    if shape not in SHAPES:
        raise error(f"{where}.shape = {shape!r} must be one of {', '.join(SHAPES)}")
    keys = ("max_field_T",) if shape == "sphere" else ("max_radial_T", "max_z_T")
    for key in data:
        if key != "shape" and key not in keys:
            raise error(f"{where}: unknown key {key!r} (value {data[key]!r}) for a {shape}; "
                        f"allowed: shape, {', '.join(keys)}")
    values = {}
    for key in keys:
        v = data.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not v > 0:
            raise error(f"{where}.{key} = {v!r} must be a finite number > 0 (tesla)")
        values[key] = float(v)
    return VectorFieldLimit(shape, **values)


def unit_vector(value, where: str, error=ValueError) -> tuple[float, float, float]:
    """[x, y, z] (any length but zero) as a unit vector; ``error`` naming where otherwise."""
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                   for v in value)):
        raise error(f"{where} = {value!r} must be three finite numbers [x, y, z]")
    norm = math.sqrt(sum(float(v) ** 2 for v in value))
    if not norm > 0:
        raise error(f"{where} = {value!r} has no direction (all zero)")
    return tuple(float(v) / norm for v in value)


def spherical_to_vector(magnitude_T, polar_deg, azimuth_deg) -> np.ndarray:
    """(n, 3) field vectors of magnitude |B| at polar angles from +z and azimuths from +x
    (degrees), as arrays of one length (or scalars)."""
    theta = np.radians(np.asarray(polar_deg, dtype=float))
    phi = np.radians(np.asarray(azimuth_deg, dtype=float))
    theta, phi = np.broadcast_arrays(theta, phi)
    b = float(magnitude_T)
    return np.stack([b * np.sin(theta) * np.cos(phi), b * np.sin(theta) * np.sin(phi),
                     b * np.cos(theta)], axis=-1).reshape(-1, 3)

"""The vector magnet role and its limit, without the simulated lab: the limit against a plain
reading of its definition, the station file's checks, and the ramp order proven by driving
axes that move at their own (unequal) rates in small time steps and watching every vector on
the way. The same axes ramped all at once leave the limit: the test can tell."""
from __future__ import annotations

import math

import numpy as np
import pytest

from loopscope.instruments.roles import FieldLimits, FieldSource, LimitError, TransientInstrumentError
from loopscope.instruments.roles.vector_magnet import VectorMagnet, VectorMagnetConfig
from loopscope.instruments.station import StationError, validate_station
from loopscope.instruments.vector_field_limit import (VectorFieldLimit, limit_from_mapping,
                                                      spherical_to_vector, unit_vector)

SPHERE = VectorFieldLimit("sphere", max_field_T=1.0)
CYLINDER = VectorFieldLimit("cylinder", max_radial_T=1.0, max_z_T=3.0)


# ------------------------------------------------------------------------------ the limit
def inside_by_definition(limit, b) -> bool:
    bx, by, bz = b
    if limit.shape == "sphere":
        return bx * bx + by * by + bz * bz <= limit.max_field_T ** 2
    return bx * bx + by * by <= limit.max_radial_T ** 2 and abs(bz) <= limit.max_z_T


@pytest.mark.parametrize("limit", [SPHERE, CYLINDER], ids=["sphere", "cylinder"])
def test_the_limit_agrees_with_its_definition(limit):
    rng = np.random.default_rng(4)
    vectors = rng.uniform(-3.5, 3.5, size=(20000, 3)) * rng.choice([0.3, 1.0], size=(20000, 1))
    got = limit.excess(vectors) <= 1e-12
    want = np.array([inside_by_definition(limit, b) for b in vectors])
    # a vector within 1e-12 of the boundary may fall either way
    near = np.abs(limit.excess(vectors)) < 1e-9
    assert np.array_equal(got[~near], want[~near])
    assert 1000 < want.sum() < 19000


def test_the_limit_refuses_what_is_not_a_number():
    assert np.isnan(SPHERE.excess([[math.nan, 0, 0]])[0])
    for b in ([math.nan, 0, 0], [0, math.inf, 0]):
        with pytest.raises(LimitError, match="outside the vector limit"):
            SPHERE.check(b, "vm")
    with pytest.raises(LimitError, match=r"vm: field vector \(0.8, 0, 0.8\) T is outside"):
        SPHERE.check([0.8, 0, 0.8], "vm")
    SPHERE.check([0.6, 0.0, 0.8], "vm")     # on the sphere: allowed


def test_spherical_angles_give_the_vectors_of_their_definition():
    b = spherical_to_vector(2.0, [0, 90, 90, 45], [0, 0, 90, 180])
    np.testing.assert_allclose(b, [[0, 0, 2], [2, 0, 0], [0, 2, 0],
                                   [-math.sqrt(2), 0, math.sqrt(2)]], atol=1e-15)


@pytest.mark.parametrize("data, message", [
    ({"shape": "cube", "max_field_T": 1}, r"limit.shape = 'cube' must be one of sphere, cylinder"),
    ({"shape": "sphere"}, r"limit.max_field_T = None must be a finite number > 0"),
    ({"shape": "sphere", "max_field_T": -1}, r"max_field_T = -1 must be"),
    ({"shape": "sphere", "max_field_T": float("nan")}, r"max_field_T = nan must be"),
    ({"shape": "sphere", "max_field_T": True}, r"max_field_T = True must be"),
    ({"shape": "cylinder", "max_radial_T": 1}, r"limit.max_z_T = None"),
    ({"shape": "sphere", "max_field_T": 1, "max_z_T": 3}, r"unknown key 'max_z_T' \(value 3\) for a sphere"),
    ("sphere", r"limit must be a mapping"),
])
def test_a_bad_limit_names_the_key_and_value(data, message):
    with pytest.raises(ValueError, match=message):
        limit_from_mapping(data, "vector_magnets.vm.limit")


def test_directions_are_unit_vectors_and_zero_is_refused():
    assert unit_vector([0, 3, 4], "d") == pytest.approx((0, 0.6, 0.8))
    for bad in ([0, 0, 0], [1, 2], [1, "x", 0], [1, math.nan, 0], "z"):
        with pytest.raises(ValueError, match="^d = "):
            unit_vector(bad, "d")


# ------------------------------------------------------------------------------ station files
def station(**vm) -> dict:
    axis = {"role": "field_source", "driver": "ami430",
            "settings": {"coil_constant_T_per_A": 0.02},
            "limits": {"max_field_T": 1.0, "max_current_A": 50.0, "max_ramp_rate_T_per_min": 0.2}}
    entry = {"axes": {"x": "mx", "y": "my", "z": "mz"}, "limit": {"shape": "sphere", "max_field_T": 1.0}}
    entry.update(vm)
    return {"station": "vector", "instruments": {
        "mx": {**axis, "resource": "TCPIP0::127.0.0.1::50410::SOCKET"},
        "my": {**axis, "resource": "TCPIP0::127.0.0.1::50411::SOCKET"},
        "mz": {**axis, "resource": "TCPIP0::127.0.0.1::50402::SOCKET"},
        "probe": {"role": "field_probe", "driver": "lakeshore425",
                  "resource": "TCPIP0::127.0.0.1::50403::SOCKET"}},
        "vector_magnets": {"vm": entry}}


def test_a_station_with_a_vector_magnet_validates():
    cfg = validate_station(station(direction=[1, 0, 1]))
    vm = cfg.vector_magnets["vm"]
    assert vm.axes == {"x": "mx", "y": "my", "z": "mz"} and vm.limit == VectorFieldLimit("sphere", 1.0)
    assert vm.direction == pytest.approx((math.sqrt(0.5), 0, math.sqrt(0.5)))
    assert cfg.vector_axis_of("my") == ("vm", "y") and cfg.vector_axis_of("probe") is None


@pytest.mark.parametrize("change, message", [
    ({"axes": {"x": "mx", "y": "my"}}, r"vector_magnets.vm.axes = .* must name an instrument for each of x, y, z"),
    ({"axes": {"x": "mx", "y": "my", "z": "nope"}}, r"axes.z = 'nope': no such instrument"),
    ({"axes": {"x": "mx", "y": "my", "z": "probe"}}, r"axes.z = 'probe' is a field_probe, not a field_source"),
    ({"axes": {"x": "mx", "y": "mx", "z": "mz"}}, r"axes.y = 'mx' is already the x axis of vm"),
    ({"limit": None}, r"vector_magnets.vm.limit must be a mapping"),
    ({"direction": [0, 0, 0]}, r"vector_magnets.vm.direction = \[0, 0, 0\] has no direction"),
    ({"field_tolerance_T": 0}, r"field_tolerance_T = 0 must be > 0"),
    ({"ramp": 1}, r"vector_magnets.vm: unknown key 'ramp' \(value 1\)"),
])
def test_a_bad_vector_magnet_entry_is_refused_naming_key_and_value(change, message):
    with pytest.raises(StationError, match=message):
        validate_station(station(**change))


def test_the_limit_is_required_and_the_name_is_its_own():
    data = station()
    del data["vector_magnets"]["vm"]["limit"]
    with pytest.raises(StationError, match="missing key 'limit'"):
        validate_station(data)
    data = station()
    data["vector_magnets"] = {"probe": data["vector_magnets"]["vm"]}
    with pytest.raises(StationError, match="vector_magnets.probe: the name is already an instrument's"):
        validate_station(data)


# ------------------------------------------------------------------------------ the ramp order
class Clock:
    t = 0.0


class RampingAxis(FieldSource):
    """An axis whose field moves toward its target at its own rate as the test's clock runs."""

    def __init__(self, name, clock, rate_T_per_s, max_field_T=3.0):
        self.name, self.resource, self.clock = name, "memory", clock
        self.limits = FieldLimits(max_field_T, 1e3, 1e3)
        self.coil_constant_T_per_A = 0.1
        self.rate, self.field, self.target, self.t = rate_T_per_s, 0.0, 0.0, 0.0
        self.sent: list[float] = []

    def advance(self):
        dt, self.t = self.clock.t - self.t, self.clock.t
        step = self.rate * dt
        self.field = self.target if abs(self.target - self.field) <= step else \
            self.field + math.copysign(step, self.target - self.field)

    def read_field_T(self):
        self.advance()
        return self.field

    def read_current_A(self):
        return self.read_field_T() / self.coil_constant_T_per_A

    fail_next_ramp = False

    def start_ramp(self, field_T, rate_T_per_min):
        if self.fail_next_ramp:
            self.fail_next_ramp = False
            raise TransientInstrumentError(f"{self.name}: timeout")
        self.advance()
        self.target = field_T
        self.sent.append(field_T)

    def is_settled(self):
        return self.read_field_T() == self.target

    def state(self):
        return "HOLDING" if self.field == self.target else "RAMPING"

    def go_to_safe_state(self, should_stop=None):
        self.start_ramp(0.0, 1.0)
        return "to zero"

    def snapshot(self):
        return {}


def vector_magnet(limit, rates, clock, tol=1e-9):
    axes = {a: RampingAxis(f"m{a}", clock, r) for a, r in zip("xyz", rates)}
    return VectorMagnet(VectorMagnetConfig("vm", {a: ax.name for a, ax in axes.items()}, limit,
                                           field_tolerance_T=tol), axes), axes


def random_inside(limit, rng) -> np.ndarray:
    while True:
        b = rng.uniform(-1, 1, 3) * np.array([1.0, 1.0, 3.0 if limit.shape == "cylinder" else 1.0])
        if limit.allows(b):
            return b


def path_of(vm, axes, clock, target, dt=0.01):
    """Every vector the axes pass through on the ramp to target."""
    vm.start_ramp_vector(target, 1.0)
    seen = [np.array([ax.field for ax in axes.values()])]
    for _ in range(100000):
        if vm.is_settled():
            return seen
        clock.t += dt
        seen.append(np.array([ax.read_field_T() for ax in axes.values()]))
    raise AssertionError("the ramp never settled")


@pytest.mark.parametrize("limit", [SPHERE, CYLINDER], ids=["sphere", "cylinder"])
def test_every_vector_on_the_way_stays_within_the_limit(limit):
    rng = np.random.default_rng(7)
    for _ in range(150):
        clock = Clock()
        rates = rng.uniform(0.05, 2.0, 3)   # unequal rates: a fast axis could run ahead
        vm, axes = vector_magnet(limit, rates, clock)
        for b, ax in zip(random_inside(limit, rng), axes.values()):
            ax.field = ax.target = float(b)
        target = random_inside(limit, rng)
        seen = np.array(path_of(vm, axes, clock, target))
        assert np.all(limit.excess(seen) <= 1e-12), f"left the limit: {seen[limit.excess(seen).argmax()]}"
        np.testing.assert_allclose(seen[-1], target, atol=1e-12)


def test_the_same_axes_ramped_at_once_would_leave_the_limit():
    """What the order prevents: from along z to along x on the sphere, the x axis 3x faster."""
    rates = np.array([1.0, 1.0, 1 / 3])
    target = np.array([0.95, 0.0, 0.0])
    t = np.linspace(0, 3, 301)[:, None]
    at_once = np.stack([np.minimum(rates[0] * t[:, 0], 0.95), 0 * t[:, 0],
                        np.maximum(0.95 - rates[2] * t[:, 0], 0.0)], axis=1)
    assert SPHERE.excess(at_once).max() > 0.1    # out to 1.14 T
    clock = Clock()
    vm, axes = vector_magnet(SPHERE, rates, clock)
    axes["z"].field = axes["z"].target = 0.95
    seen = np.array(path_of(vm, axes, clock, target))
    assert SPHERE.excess(seen).max() <= 1e-12
    # z went down before x went up
    assert axes["z"].sent == [0.0] and axes["x"].sent == [0.95]


def test_an_axis_that_changes_sign_goes_with_its_larger_end():
    """x shrinks through zero (first), z turns over at equal magnitude (second: QCoDeS's
    AMIModel4303D default ramp compares magnitudes strictly both ways and never ramps such an
    axis), y grows through zero (second)."""
    clock = Clock()
    vm, axes = vector_magnet(SPHERE, [1.0, 1.0, 1.0], clock)
    for a, b in zip("xyz", (0.5, 0.1, -0.5)):
        axes[a].field = axes[a].target = b
    vm.start_ramp_vector((-0.2, -0.3, 0.5), 1.0)
    assert axes["x"].sent == [-0.2] and axes["y"].sent == [] and axes["z"].sent == []
    while not vm.is_settled():
        clock.t += 0.01
    assert axes["y"].sent == [-0.3] and axes["z"].sent == [0.5]
    assert [ax.field for ax in axes.values()] == pytest.approx([-0.2, -0.3, 0.5])


def test_a_target_outside_the_limit_is_refused_before_anything_is_sent():
    clock = Clock()
    vm, axes = vector_magnet(CYLINDER, [1.0, 1.0, 1.0], clock)
    for bad, message in [((0.8, 0.7, 0.0), "outside the vector limit"),
                         ((0.0, 0.0, 3.5), "outside the vector limit"),
                         ((0.0, math.nan, 0.0), "not three finite numbers")]:
        with pytest.raises(LimitError, match=message):
            vm.start_ramp_vector(bad, 1.0)
    axes["x"].limits = FieldLimits(0.5, 1e3, 1e3)
    with pytest.raises(LimitError, match=r"x axis, mx\): field 0.6 T is outside the limit of ±0.5 T"):
        vm.start_ramp_vector((0.6, 0.0, 0.0), 1.0)
    assert all(ax.sent == [] for ax in axes.values())


def test_a_scalar_field_goes_along_the_direction_and_is_read_along_it():
    clock = Clock()
    vm, axes = vector_magnet(CYLINDER, [1.0, 1.0, 1.0], clock)
    vm.use_direction((0.6, 0.0, 0.8))
    vm.start_ramp(1.0, 1.0)
    while not vm.is_settled():
        clock.t += 0.01
    assert [ax.field for ax in axes.values()] == pytest.approx([0.6, 0.0, 0.8])
    assert vm.read_field_T() == pytest.approx(1.0)
    vm.use_direction(None)
    assert vm.direction == (0.0, 0.0, 1.0)


def test_the_safe_state_starts_every_axis_down_at_once():
    clock = Clock()
    vm, axes = vector_magnet(CYLINDER, [1.0, 1.0, 1.0], clock)
    for a, b in zip("xyz", (0.5, -0.5, 2.0)):
        axes[a].field = axes[a].target = b
    account = vm.go_to_safe_state()
    assert account == ("every axis started toward 0 T at once from (0.5, -0.5, 2) T then: "
                       "x: to zero; y: to zero; z: to zero")
    assert all(ax.sent[0] == 0.0 for ax in axes.values())


def test_an_axis_that_fails_to_start_is_started_when_asked_again():
    """The second half's start meets a timeout on its second axis: the runner asks again
    (is_settled, retried), and only the axis not yet started is started, once; none is lost
    (before, the rest of the second half was forgotten and the point recorded short of it)."""
    clock = Clock()
    vm, axes = vector_magnet(SPHERE, [1.0, 1.0, 1.0], clock)
    axes["z"].field = axes["z"].target = 0.9
    vm.start_ramp_vector((0.3, 0.3, 0.1), 1.0)          # z down first, then x and y up
    while axes["z"].read_field_T() != 0.1:
        clock.t += 0.01
    axes["y"].fail_next_ramp = True
    with pytest.raises(TransientInstrumentError):
        vm.is_settled()
    assert axes["x"].sent == [0.3] and axes["y"].sent == []
    while not vm.is_settled():                         # asked again: y is started (once x holds)
        clock.t += 0.01
    assert axes["x"].sent == [0.3] and axes["y"].sent == [0.3]
    assert [ax.field for ax in axes.values()] == pytest.approx([0.3, 0.3, 0.1])

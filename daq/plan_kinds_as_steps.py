"""The YAML plan kinds as plans in the step vocabulary.

Each kind is a generator of the same Step a plan written in Python yields
(daq/plans_as_code.py), so one engine path runs them all: the runner sees points made from
steps, never a kind. The YAML files stay exactly as they were;
tests/daq/test_example_plans_unchanged.py checks that every example plan gives the points it
gave before the kinds were written this way.

The continuous kind is not here: it is one measured ramp rather than a list of stops, and is
run by daq/continuous_ramp.py.
"""
from __future__ import annotations

from typing import Iterator

from loopscope.daq.plans_as_code import Step


def linear(m, plan) -> Iterator[Step]:
    """From start to stop, by points or by step."""
    for v in m.sweep.values().tolist():
        yield Step(field=float(v))


def field_list(m, plan) -> Iterator[Step]:
    """Readings at the listed fields."""
    for v in m.values:
        yield Step(field=float(v))


def loop(m, plan) -> Iterator[Step]:
    """Hysteresis: optional virgin curve, then down and up branches, cycle after cycle."""
    from loopscope.daq.plans import _loop_values
    values, branch, cycle = _loop_values(m)
    for v, b, c in zip(values, branch, cycle):
        yield Step(field=float(v), labels={"branch": int(b), "cycle": int(c)})


def grid(m, plan) -> Iterator[Step]:
    """A field sweep inside an outer loop over temperature or lock-in drive frequency; without
    return_between, every other sweep runs backwards (no ramp back between sweeps)."""
    inner = m.sweep.values()
    outer_key = "temperature_K" if m.outer.quantity == "temperature" else "frequency_Hz"
    for k, outer in enumerate(m.outer.all_values()):
        order = inner if (m.return_between or k % 2 == 0) else inner[::-1]
        for v in order:
            yield Step(field=float(v), labels={"outer_index": k}, **{outer_key: float(outer)})


def time_series(m, plan) -> Iterator[Step]:
    """Readings at a fixed field, each when the run's clock reaches its time."""
    for i in range(plan.total_points()):
        yield Step(field=m.field, at_elapsed_s=i * m.interval_s)


def resonance_tracking(m, plan) -> Iterator[Step]:
    """At each field of the sweep, the cantilever's resonance found (daq/resonance_search.py)."""
    for v in m.sweep.values().tolist():
        yield Step(field=float(v), find_resonance=True)


def persistent_step(m, plan) -> Iterator[Step]:
    """Ramp to the target, close the persistent switch, then readings in persistent mode."""
    for i in range(plan.total_points()):
        if i == 0:
            yield Step(field=m.target, at_elapsed_s=0.0, enter_persistent=True)
        else:
            yield Step(at_elapsed_s=i * m.interval_s)


#: kind -> its steps
def field_angle(m, plan) -> Iterator[Step]:
    """A vector magnet's field at fixed magnitude, its polar or azimuthal angle swept; the
    angles of each point go into their columns."""
    polar, azimuth = m.angles_deg()
    for b, th, ph in zip(m.vectors_T().tolist(), polar.tolist(), azimuth.tolist()):
        yield Step(field_vector_T=tuple(b), labels={"polar_deg": th, "azimuth_deg": ph})


STEPS_OF_KIND = {
    "linear": linear, "list": field_list, "loop": loop, "grid": grid, "time_series": time_series,
    "resonance_tracking": resonance_tracking, "persistent_step": persistent_step,
    "field_angle": field_angle,
}

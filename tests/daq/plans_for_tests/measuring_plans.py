"""Plans in Python used by tests/daq/test_point_measurements.py and test_adaptive_plans.py."""
import numpy as np

from loopscope.daq.plans_as_code import plan, step
from loopscope.daq.point_measurements import frequency_scan, iv_curve

SCAN_HZ = np.linspace(1990.0, 2010.0, 21)


@plan(title="frequency scan at each temperature", source="field_source",
      detectors=["lockin", "thermometer"])
def scans_at_temperatures(temperatures_K=(2.0, 3.0, 4.0)):
    for t in temperatures_K:
        yield step(temperature_K=t, measure=[frequency_scan(SCAN_HZ, settle_time_constants=0)])


@plan(title="I-V at each field", source="field_source", detectors=["field_probe"])
def iv_at_fields(fields_T=(0.0, 0.1, 0.2), top_A=1e-6, points=11):
    currents = np.linspace(-top_A, top_A, points)
    for b in fields_T:
        yield step(field=b, measure=[iv_curve(currents)])


@plan(title="two scans of one name", source="field_source", detectors=["lockin"])
def one_name_two_axes():
    yield step(measure=[frequency_scan([1000.0, 2000.0], settle_time_constants=0)])
    yield step(measure=[frequency_scan([1000.0, 3000.0], settle_time_constants=0)])


@plan(title="resonance by bisection", source="field_source", detectors=["lockin"],
      adaptive=True, max_points=60)
def bisect_for_resonance(low_Hz=1900.0, high_Hz=2100.0, tolerance_Hz=0.01):
    """Below the resonance X > 0, above it X < 0: halve the bracket on the sign of X."""
    reading = yield step(frequency_Hz=low_Hz)
    below = np.sign(reading["lockin_x_V"])
    while high_Hz - low_Hz > tolerance_Hz:
        mid = 0.5 * (low_Hz + high_Hz)
        reading = yield step(frequency_Hz=mid)
        if np.sign(reading["lockin_x_V"]) == below:
            low_Hz = mid
        else:
            high_Hz = mid


@plan(title="field doubled each step", source="field_source", detectors=["field_probe"],
      adaptive=True, max_points=100)
def double_the_field(first_T=0.01):
    """Each step doubles the field the probe read: it leaves the source's 1 T limit at step 7."""
    reading = yield step(field=first_T)
    while True:
        reading = yield step(field=2 * reading["probe_field_T"])


@plan(title="field steps until the probe reads a threshold", source="field_source",
      detectors=["field_probe", "flux_readout"], adaptive=True, max_points=500)
def steps_until(threshold_T=0.2, step_T=0.001):
    reading = yield step(field=0.0)
    while reading["probe_field_T"] < threshold_T:
        reading = yield step(field=reading["field_setpoint_T"] + step_T)


@plan(title="adaptive plan that needs max_points", source="field_source", detectors=["field_probe"],
      adaptive=True)
def no_bound():
    yield step(field=0.0)


@plan(title="adaptive plan with a new trace later", source="field_source", detectors=["lockin"],
      adaptive=True, max_points=5)
def new_trace_later():
    yield step(frequency_Hz=1000.0)
    yield step(measure=[frequency_scan([1000.0, 2000.0])])

"""Custom measurements at each point, written in Python and run by the same engine as every plan.

    loopscope run examples/plans_in_python/measurements_at_each_point.py:iv_at_fields
    loopscope run examples/plans_in_python/measurements_at_each_point.py:frequency_scan_at_temperatures
    loopscope run examples/plans_in_python/measurements_at_each_point.py:resonance_by_bisection

An I-V curve (the Keithley 2400 on the gold wire) or a lock-in frequency scan (the SR830 on the
cantilever) is taken at each step and written as a trace: its own NXdata group in the run file,
one row per point, its axis (the bias currents, the drive frequencies) as the second dimension.
`loopscope.read_run(path).to_xarray()` gives it on (point, axis). The engine checks every current
against the source-meter's limits and every frequency against the lock-in's range before
anything moves, and brings the source-meter to zero and its output off with the safe state.
"""
import numpy as np

from loopscope.daq.plans_as_code import plan, step
from loopscope.daq.point_measurements import frequency_scan, iv_curve


@plan(title="I-V of the gold wire at each field", source="coil_supply",
      detectors=["gaussmeter", "temperature_controller"],
      settle={"wait_for_holding": True, "delay_s": 0.1})
def iv_at_fields(top_T=0.09, fields=7, top_A=2e-5, currents=41):
    """The wire's magnetoresistance: an I-V at each field from 0 to top_T (its slope is R(B))."""
    bias = np.linspace(-top_A, top_A, currents)
    for b in np.linspace(0.0, top_T, fields):
        yield step(field=float(b), measure=[iv_curve(bias, instrument="source_meter")])


@plan(title="Cantilever frequency scan at each temperature", source="coil_supply",
      detectors=["lockin", "temperature_controller"],
      temperature_steps={"tolerance": 0.005, "settle_s": 1.0, "heater_range": "low"},
      settle={"timeout_s": 600})
def frequency_scan_at_temperatures(temperatures_K=(0.05, 0.1, 0.2), center_Hz=2000.0, span_Hz=1.0,
                                   frequencies=41, settle_time_constants=30):
    drive = np.linspace(center_Hz - span_Hz / 2, center_Hz + span_Hz / 2, frequencies)
    for t in temperatures_K:
        yield step(temperature_K=float(t), frequency_Hz=center_Hz,
                   measure=[frequency_scan(drive, instrument="lockin", settle_time_constants=settle_time_constants)])


@plan(title="Cantilever resonance by bisection on the lock-in's phase", source="coil_supply",
      detectors=["lockin"], adaptive=True, max_points=40)
def resonance_by_bisection(low_Hz=1995.0, high_Hz=2005.0, tolerance_Hz=0.005):
    """An adaptive plan: each step's frequency comes from the last reading. The driven lever
    answers in phase below its resonance (X > 0) and in antiphase above it (X < 0): halve the
    bracket on the sign of X until it is narrower than tolerance_Hz."""
    reading = yield step(frequency_Hz=low_Hz)
    below = np.sign(reading["lockin_x_V"])
    while high_Hz - low_Hz > tolerance_Hz:
        mid = 0.5 * (low_Hz + high_Hz)
        reading = yield step(frequency_Hz=mid)
        if np.sign(reading["lockin_x_V"]) == below:
            low_Hz = mid
        else:
            high_Hz = mid

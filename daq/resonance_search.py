"""The cantilever's resonance at each field: a frequency scan (the Lorentzian peak) or a software
phase-locked loop (secant on the phase), through the lock-in among the detectors.
"""
from __future__ import annotations

import math

import numpy as np

from loopscope.instruments.roles import InstrumentError


class ResonanceSearch:
    """A part of the Runner (daq/runner.py), which it mixes in: the methods use the runner's state."""

    def _find_resonance(self) -> float:
        spec = self.plan.model.resonance
        lockin = self._roles_of("lockin")[0]
        tau = self._retrying(lockin, lockin.read_time_constant_s)
        # two first-order stages in series, the resonator's ring-down then the lock-in's filter
        wait_s = spec.settle_time_constants * (tau + spec.ring_down_s)
        center = self._resonance_guess or spec.center_Hz

        def response(f: float) -> tuple[float, float, float]:
            """(X, Y, the frequency the lock-in took): a lock-in sets its reference to its own
            resolution (the SR830's driver writes 6 digits, 0.01 Hz at 2 kHz), so the fit
            takes the frequency read back, not the one asked for: on a lever 0.1 Hz wide,
            the difference moved the peak by up to 5 mHz, more than the rings' signal."""
            self._retrying(lockin, lockin.set_frequency_Hz, f)
            taken = self._retrying(lockin, lockin.read_frequency_Hz)
            self._sleep_experiment(wait_s)
            x, y = self._retrying(lockin, lockin.read_xy_V)
            return x, y, taken

        if spec.method == "scan":
            f0 = _scan_for_resonance(response, center, spec.span_Hz, spec.scan_points)
        else:
            f0 = _pll_for_resonance(response, center, spec)
        self._retrying(lockin, lockin.set_frequency_Hz, f0)
        self._sleep_experiment(wait_s)
        self._resonance_guess = f0
        return f0


def _scan_for_resonance(response, center: float, span: float, n: int) -> float:
    """Scan the drive frequency; the Lorentzian peak of R^2 gives the resonance.

    For a Lorentzian, 1/R^2 is a parabola in f: fit it near the peak, take its vertex.
    response(f) -> (X, Y, the frequency actually set)."""
    asked = np.linspace(center - span / 2, center + span / 2, n)
    answers = [response(f) for f in asked]
    r2 = np.array([x * x + y * y for x, y, _ in answers])
    freqs = np.array([f for _, _, f in answers])
    k = int(np.argmax(r2))
    lo, hi = max(0, k - 3), min(n, k + 4)
    if hi - lo < 3 or r2[lo:hi].min() <= 0:
        return float(freqs[k])
    a, b, _ = np.polyfit(freqs[lo:hi] - freqs[k], 1.0 / r2[lo:hi], 2)
    if a <= 0:
        return float(freqs[k])
    f0 = freqs[k] - b / (2 * a)
    return float(np.clip(f0, freqs[0], freqs[-1]))


def _pll_for_resonance(response, center: float, spec) -> float:
    """A software phase-locked loop: move the drive until the phase equals the target (secant)."""
    def phase_error(f: float) -> float:
        x, y, _ = response(f)
        d = math.degrees(math.atan2(y, x)) - spec.target_phase_deg
        return (d + 180.0) % 360.0 - 180.0

    f_a, f_b = center, center + spec.span_Hz / 20
    e_a, e_b = phase_error(f_a), phase_error(f_b)
    for _ in range(spec.max_iterations):
        if abs(e_b) <= spec.phase_tolerance_deg:
            return f_b
        if e_b == e_a:
            break
        f_next = f_b - e_b * (f_b - f_a) / (e_b - e_a)
        # never leave the search window: a phase wrap would send the secant far away
        f_next = float(np.clip(f_next, center - spec.span_Hz / 2, center + spec.span_Hz / 2))
        f_a, e_a = f_b, e_b
        f_b, e_b = f_next, phase_error(f_next)
    if abs(e_b) <= spec.phase_tolerance_deg:
        return f_b
    raise InstrumentError(f"phase-locked loop did not lock within {spec.max_iterations} steps "
                          f"(phase error {e_b:.2f} deg at {f_b:.4f} Hz)")

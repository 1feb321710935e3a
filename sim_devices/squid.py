"""Flux-locked loop around the SQUID: output V = (tracked flux - reference) x V/Phi0.

The loop follows the SQUID flux at most ``slew`` Phi0/s. When the flux runs away faster, the
error grows; once it passes half a flux quantum the loop relocks on a neighbouring minimum of the
periodic V-Phi curve, so the output ends off by a whole number of flux quanta (a flux jump).
"""
from __future__ import annotations


class FluxLockedLoop:
    def __init__(self, feedback_resistor_ohm, feedback_A_per_phi0, gain, slew_phi0_per_s_at_gain1,
                 output_limit_V, flux_noise_phi0):
        self.R_f = feedback_resistor_ohm
        self.i_per_phi0 = feedback_A_per_phi0
        self.gain = gain
        self.slew_base = slew_phi0_per_s_at_gain1
        self.output_limit_V = output_limit_V
        self.flux_noise_phi0 = flux_noise_phi0
        self.locked = True
        self.tracked = None      # loop's idea of the flux (Phi0), = true - n_offset when settled
        self.reference = 0.0     # flux at the last reset (output zero)
        self.n_offset = 0
        self.jumps = 0
        self.last_true = None

    @property
    def volts_per_phi0(self) -> float:
        return self.R_f * self.i_per_phi0

    @property
    def slew_limit(self) -> float:
        return self.slew_base * self.gain

    def reset(self) -> None:
        if self.tracked is not None:
            self.reference = self.tracked
        self.jumps = 0

    def set_lock(self, on: bool, true_flux: float) -> None:
        if on and not self.locked:
            self.tracked = true_flux - self.n_offset
            self.reference = self.tracked
        self.locked = on

    def track(self, true_flux: float, dt: float) -> None:
        if self.tracked is None:
            self.tracked = true_flux
            self.reference = true_flux
        if not self.locked:
            self.last_true = true_flux
            return
        target = true_flux - self.n_offset
        err = target - self.tracked
        step = self.slew_limit * dt
        if abs(err) <= step:
            self.tracked = target
        else:
            self.tracked += step if err > 0 else -step
            err = target - self.tracked
            if abs(err) >= 0.5:
                k = int(round(err))
                self.n_offset += k
                self.jumps += abs(k)
        self.last_true = true_flux

    def output_flux_phi0(self) -> float:
        if not self.locked or self.tracked is None:
            return 0.0
        return self.tracked - self.reference

    def output_V(self) -> float:
        v = self.output_flux_phi0() * self.volts_per_phi0
        lim = self.output_limit_V
        return max(-lim, min(lim, v))

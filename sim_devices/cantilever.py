"""Cantilever with rings on its tip (PHYSICS.md section 4, signal chains).

Frequency shift, from the torque. The rings sit on the tip; the field B makes the angle theta
with the ring plane, and the tip rotates the rings by a small angle alpha, so the flux is
Phi(alpha) = A B sin(theta + alpha). The rings' free energy F(Phi) gives I = -dF/dPhi (for a
fixed current this is U = -m.B with m = I A along the ring normal). The torque on the tip is

    tau = -dF/dalpha = I dPhi/dalpha = I A B cos(theta + alpha),

and its derivative adds a stiffness against rotation

    k_mag = -dtau/dalpha = -(dI/dPhi) (A B cos theta)^2 + I A B sin theta      (at alpha = 0),

the first term from the current changing with the flux (curvature of F), the second from the
current itself (the lever arm of tau = m x B changing with alpha). With the tip rotation
alpha = x / l_eff for a tip deflection x, k_mag adds k_mag / l_eff^2 to the spring constant k,
and for k_mag << k l_eff^2

    delta_f = f0 / (2 k l_eff^2) [ -(A B cos theta)^2 dI/dPhi + I A B sin theta ].

PHYSICS.md writes this first line and then keeps only the dI/dPhi term; the I A B sin theta
term is the larger one at low field: their ratio is about Phi0 sin(theta) / (2 pi p A B cos^2 theta)
(3.3 at 1 mT, 3.3e-3 at 1 T for r = 300 nm at 45 deg), so it is kept.

Lever arm: a torsional lever (rotation about its own axis, rings at distance l) has
alpha = x/l, l_eff = l. A flexural (clamped-free) beam of length L bent in its first mode
has the tip slope alpha = 1.3765 x_tip / L (Euler-Bernoulli mode shape), so l_eff = L/1.3765;
the lab's default is flexural (the silicon levers of Bleszynski-Jayich et al., Science 326,
272 (2009), with f0 ~ 2 kHz, k ~ 1e-3 N/m, L ~ 300 um, are flexural beams).

Plus a smooth background beta B^2 (the cantilever's own susceptibility). Driven at frequency f
with a piezo amplitude V_drive, the detected signal is a driven damped oscillator,
  V = g V_drive / (1 - (f/f_r)^2 + i f/(f_r Q)),
with g the static (f -> 0) gain.
"""
from __future__ import annotations

import math

from .constants import PHI0_NORMAL
from .rings import RingArray

MODES = ("flexural", "torsional")


def flexural_tip_slope_factor() -> float:
    """L w'(L) / w(L) of the first mode of a clamped-free Euler-Bernoulli beam: 1.3765.

    The mode is w(s) = cosh(bs) - cos(bs) - sigma (sinh(bs) - sin(bs)) with cos(b) cosh(b) = -1
    (b = 1.87510 for s = x/L in [0, 1]) and sigma = (cosh b + cos b)/(sinh b + sin b)."""
    b = 1.875
    for _ in range(50):  # Newton on cos b cosh b + 1 = 0
        g = math.cos(b) * math.cosh(b) + 1.0
        dg = -math.sin(b) * math.cosh(b) + math.cos(b) * math.sinh(b)
        step = g / dg
        b -= step
        if abs(step) < 1e-16:
            break
    sigma = (math.cosh(b) + math.cos(b)) / (math.sinh(b) + math.sin(b))
    w = math.cosh(b) - math.cos(b) - sigma * (math.sinh(b) - math.sin(b))
    dw = b * (math.sinh(b) + math.sin(b) - sigma * (math.cosh(b) - math.cos(b)))
    return dw / w


FLEXURAL_TIP_SLOPE = flexural_tip_slope_factor()


class Cantilever:
    def __init__(self, f0_Hz, Q, spring_N_per_m, length_m, background_Hz_per_T2, static_gain_V_per_V,
                 frequency_noise_Hz, rings: RingArray, mode: str = "flexural"):
        if mode not in MODES:
            raise ValueError(f"cantilever.mode: unknown {mode!r} (flexural | torsional)")
        self.f0 = f0_Hz
        self.Q = Q
        self.k = spring_N_per_m
        self.l = length_m
        self.mode = mode
        #: x / alpha: the tip deflection per radian of tip rotation
        self.lever_m = length_m / FLEXURAL_TIP_SLOPE if mode == "flexural" else length_m
        self.beta = background_Hz_per_T2
        self.gain = static_gain_V_per_V
        self.frequency_noise_Hz = frequency_noise_Hz
        self.rings = rings

    @property
    def ring_time_s(self) -> float:
        """Amplitude ring-down time Q/(pi f0)."""
        return self.Q / (math.pi * self.f0)

    def ring_stiffness_terms(self, B: float, T: float) -> tuple[float, float]:
        """The two parts of k_mag (N m/rad): -(A B cos theta)^2 dI/dPhi and I A B sin theta."""
        r = self.rings
        curvature = -(r.area_m2 * B * math.cos(r.theta_rad)) ** 2 * r.didphi_weighted_cos(B, T)
        current = r.current_A(B, T) * r.area_m2 * B * math.sin(r.theta_rad)
        return curvature, current

    def ring_stiffness_terms_in_vector(self, B_vec, T: float) -> tuple[float, float]:
        """The same two parts for a field vector, the lever bending about y: the flux is
        Phi(alpha) = A B.n(alpha) with the normal swung toward the rings' in-plane tangent t,
        so dPhi/dalpha = A B.t and d2Phi/dalpha2 = -Phi. k_mag = -(A B.t)^2 dI/dPhi + I Phi.
        For B along z this is the pair above (B.t = B cos theta, Phi = A B sin theta)."""
        r = self.rings
        t = r.tilt_axis_tangent
        flux = r.flux_of_vector_Wb(B_vec)
        dflux = r.area_m2 * (B_vec[0] * t[0] + B_vec[1] * t[1] + B_vec[2] * t[2])
        return -dflux ** 2 * r.didphi_at_flux(flux, T), r.current_at_flux_A(flux, T) * flux

    def resonance_in_vector_Hz(self, B_vec, T: float) -> float:
        """The resonance in a field vector (Bx, By, Bz): the rings' two terms as above, and the
        lever's own background beta |B|^2."""
        curvature, current = self.ring_stiffness_terms_in_vector(B_vec, T)
        shift = self.f0 * (curvature + current) / (2 * self.k * self.lever_m ** 2)
        return self.f0 + shift + self.beta * (B_vec[0] ** 2 + B_vec[1] ** 2 + B_vec[2] ** 2)

    def ring_shift_Hz(self, B: float, T: float) -> float:
        curvature, current = self.ring_stiffness_terms(B, T)
        return self.f0 * (curvature + current) / (2 * self.k * self.lever_m ** 2)

    def resonance_Hz(self, B: float, T: float) -> float:
        return self.f0 + self.ring_shift_Hz(B, T) + self.beta * B * B

    def response(self, f_drive: float, v_drive: float, f_res: float) -> complex:
        u = f_drive / f_res
        return self.gain * v_drive / complex(1 - u * u, u / self.Q)


__all__ = ["Cantilever", "FLEXURAL_TIP_SLOPE", "MODES", "PHI0_NORMAL", "flexural_tip_slope_factor"]

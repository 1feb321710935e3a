"""Normal-metal rings carrying persistent currents (PHYSICS.md section 4).

Zero-temperature amplitudes, per spin direction:
- diffusive (Riedel & von Oppen, PRB 47, 15449 (1993); PHYSICS.md section 4): typical (rms)
  I_p = sqrt(8 p^2 j_p(0)) E_c/Phi0 = sqrt(96/p^3) E_c/Phi0 with E_c = hbar D / L^2, so
  I_1 = 4 sqrt(6) E_c/Phi0 = 1.56 e E_c/hbar;
- ballistic, one channel (Cheung, Gefen, Riedel & Shih, PRB 37, 6050 (1988)): at T = 0 the
  current is a sawtooth of peak e v_F/L in the flux, whose harmonics are
  I_p = (2/(pi p)) e v_F / L; temperature multiplies each by x/sinh x, x = p T/T*,
  k_B T* = hbar v_F/(pi L) (2 pi^2 p k_B T/Delta with the level spacing Delta = h v_F/L);
- exponential: the diffusive T = 0 amplitude times exp(-p T/T_p).
Without spin-orbit scattering both spin directions see the same levels, so a real metal ring
(``spin_degeneracy`` = 2, the default) carries twice the one-spin current; 1 gives the spinless
(one-spin) numbers PHYSICS.md quotes.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.integrate import quad

from .constants import E_CHARGE, HBAR, K_B, PHI0_NORMAL


@functools.lru_cache(maxsize=4096)
def j_p(p: int, theta: float) -> float:
    """Diffusive-ring temperature integral j_p(theta); j_p(0) = 12/p^5."""
    if theta <= 0:
        return 12.0 / p ** 5

    def f(tau):
        x = math.pi * theta * tau
        if x > 350:
            return 0.0
        return (math.pi * theta) ** 2 * math.exp(-p * p / (4 * tau)) / (
            2 * math.sqrt(math.pi) * tau ** 1.5 * math.sinh(x) ** 2)

    peak = p * p / 6.0
    val = 0.0
    # the power-law tail ~ tau^-3.5 reaches out to tau ~ 1/(pi theta): one decade per piece
    # (a single piece from 4 peak to 5/(pi theta) lost 2 % of j_p below theta = 1e-5)
    edges = [0.0, peak / 4, peak, 4 * peak]
    while edges[-1] < 5 / (math.pi * theta):
        edges.append(10 * edges[-1])
    edges.append(math.inf)
    for lo, hi in zip(edges[:-1], edges[1:]):
        val += quad(f, lo, hi, limit=200)[0]
    return val


# log-spaced nodes per decade of theta for the interpolated j_p: log-log linear interpolation
# between nodes this close is accurate to ~1e-6 relative, and only nodes visited are computed
_NODES_PER_DECADE = 200


@functools.lru_cache(maxsize=65536)
def _j_p_node(p: int, k: int) -> float:
    return j_p(p, 10.0 ** (k / _NODES_PER_DECADE))


def j_p_interpolated(p: int, theta: float) -> float:
    """j_p(theta) from cached log-spaced nodes: a slowly drifting cryostat temperature then
    costs a table look-up per query instead of a numerical integral."""
    if theta <= 1e-6:
        return 12.0 / p ** 5
    x = math.log10(theta) * _NODES_PER_DECADE
    k0 = math.floor(x)
    t = x - k0
    a, b = _j_p_node(p, k0), _j_p_node(p, k0 + 1)
    if a <= 0.0 or b <= 0.0:
        return (1 - t) * a + t * b
    return math.exp((1 - t) * math.log(a) + t * math.log(b))


class RingArray:
    """N rings of radius r; harmonic series I(Phi) = sum_p I_p sin(2 pi p Phi/Phi0 + phi_p).

    Every ring has its own random sign (phi_p in {0, pi}) per harmonic; the ensemble sum of
    N random signs is drawn exactly (2 Binomial(N, 1/2) - N, seeded), so it grows as sqrt(N).
    Even harmonics also carry an average (h/2e) part growing as N:
    ``average_fraction`` x N x I_p with a diamagnetic sign.
    """

    def __init__(self, radius_m: float, n_rings: int, diffusion_m2_per_s: float, n_harmonics: int,
                 temperature_model: str, average_fraction: float, theta_deg: float,
                 T_p_K: float | None, fermi_velocity_m_per_s: float, rng: np.random.Generator,
                 spin_degeneracy: int = 2):
        if temperature_model not in ("diffusive", "ballistic", "exponential"):
            raise ValueError(f"rings.temperature_model: unknown model {temperature_model!r} "
                             "(diffusive | ballistic | exponential)")
        self.radius_m = radius_m
        self.area_m2 = math.pi * radius_m ** 2
        self.n_rings = int(n_rings)
        self.D = diffusion_m2_per_s
        self.n_harmonics = int(n_harmonics)
        self.temperature_model = temperature_model
        self.average_fraction = average_fraction
        self.theta_rad = math.radians(theta_deg)
        if spin_degeneracy not in (1, 2):
            raise ValueError(f"rings.spin_degeneracy: {spin_degeneracy!r} (1: one spin, 2: spin-degenerate metal)")
        self.spin_degeneracy = int(spin_degeneracy)
        L = 2 * math.pi * radius_m
        self.circumference_m = L
        self.fermi_velocity_m_per_s = fermi_velocity_m_per_s
        self.E_c_J = HBAR * self.D / L ** 2
        self.T_p_K = T_p_K if T_p_K is not None else 9.7 * self.E_c_J / K_B
        self.T_star_K = HBAR * fermi_velocity_m_per_s / (math.pi * L) / K_B
        p = np.arange(1, self.n_harmonics + 1)
        self.sign_sum = 2.0 * rng.binomial(self.n_rings, 0.5, size=self.n_harmonics) - self.n_rings
        self.average = np.where(p % 2 == 0, -self.average_fraction * self.n_rings, 0.0)
        self._ip_cache: dict = {}

    @property
    def field_period_T(self) -> float:
        return PHI0_NORMAL / (self.area_m2 * math.sin(self.theta_rad))

    def ballistic_current_A(self, p: int) -> float:
        """T = 0 harmonic p of one ballistic channel, one spin: (2/(pi p)) e v_F / L."""
        return 2.0 / (math.pi * p) * E_CHARGE * self.fermi_velocity_m_per_s / self.circumference_m

    def typical_current_A(self, p: int, T: float) -> float:
        """Typical (rms) single-ring current of harmonic p at temperature T, both spins counted
        (``spin_degeneracy`` x the one-spin current)."""
        key = (p, round(T, 9))
        if key in self._ip_cache:
            return self._ip_cache[key]
        ec_over_phi0 = self.E_c_J / PHI0_NORMAL
        i0 = math.sqrt(8 * p * p * 12.0 / p ** 5) * ec_over_phi0
        if self.temperature_model == "diffusive":
            theta = K_B * max(T, 0.0) / self.E_c_J
            val = math.sqrt(8 * p * p * j_p_interpolated(p, theta)) * ec_over_phi0
        elif self.temperature_model == "ballistic":
            x = p * T / self.T_star_K
            val = self.ballistic_current_A(p) * (x / math.sinh(x) if x > 1e-9 else 1.0)
        else:
            val = i0 * math.exp(-p * T / self.T_p_K)
        val *= self.spin_degeneracy
        if len(self._ip_cache) > 20000:
            self._ip_cache.clear()
        self._ip_cache[key] = val
        return val

    def coefficients_A(self, T: float) -> np.ndarray:
        """Ensemble amplitude per harmonic (A): (sum of signs + average part) x I_p(T)."""
        ip = np.array([self.typical_current_A(p, T) for p in range(1, self.n_harmonics + 1)])
        return (self.sign_sum + self.average) * ip

    def flux_Wb(self, B: float) -> float:
        return self.area_m2 * B * math.sin(self.theta_rad)

    @property
    def normal(self) -> tuple[float, float, float]:
        """The rings' unit normal in the lab frame: in the xz plane, at theta from x, so that a
        field along z makes the angle theta with the rings' plane."""
        return (math.cos(self.theta_rad), 0.0, math.sin(self.theta_rad))

    @property
    def tilt_axis_tangent(self) -> tuple[float, float, float]:
        """d(normal)/d(alpha) for a tilt alpha about y (a cantilever's bending): the in-plane
        direction of the rings that the tilt swings the normal toward."""
        return (-math.sin(self.theta_rad), 0.0, math.cos(self.theta_rad))

    def flux_of_vector_Wb(self, B_vec) -> float:
        """A B.n for a field vector (Bx, By, Bz), T."""
        n = self.normal
        return self.area_m2 * (B_vec[0] * n[0] + B_vec[1] * n[1] + B_vec[2] * n[2])

    def current_at_flux_A(self, flux_Wb: float, T: float) -> float:
        """Total ensemble current I(Phi) at flux Phi (Wb) through each ring, temperature T (K)."""
        c = self.coefficients_A(T)
        p = np.arange(1, self.n_harmonics + 1)
        return float(np.sum(c * np.sin(2 * np.pi * p * flux_Wb / PHI0_NORMAL)))

    def current_A(self, B: float, T: float) -> float:
        """Total ensemble current I(Phi) at field B (T, along z) and temperature T (K)."""
        return self.current_at_flux_A(self.flux_Wb(B), T)

    def didphi_weighted_cos(self, B: float, T: float) -> float:
        """sum_p (2 pi p / Phi0) I_p cos(2 pi p Phi/Phi0 + phi_p), A/Wb (the cantilever term)."""
        return self.didphi_at_flux(self.flux_Wb(B), T)

    def didphi_at_flux(self, flux_Wb: float, T: float) -> float:
        """dI/dPhi at flux Phi (Wb) through each ring, A/Wb."""
        c = self.coefficients_A(T)
        p = np.arange(1, self.n_harmonics + 1)
        return float(np.sum(c * 2 * np.pi * p / PHI0_NORMAL
                            * np.cos(2 * np.pi * p * flux_Wb / PHI0_NORMAL)))

"""A ruthenium-oxide (RuOx) resistance thermometer on the mixing-chamber plate: its resistance
R(T), and the calibration table a resistance bridge converts R back to kelvin with.

Above 50 mK the curve is Lake Shore's published standard curve of the RX-202A, given as three
Chebyshev series T(Z), Z = log10(R / ohm), on the ranges 0.05-0.65 K, 0.65-5 K and 5-40 K
(Lake Shore, "RX-202A standard curve" Chebychev-fit coefficients, document "RX202 curve"; the
same numbers are quoted by public lab scripts that read RX-202A sensors). R(50 mK) = 69.19 kohm,
R(40 K) = 2.243 kohm.

Below 50 mK, where the standard curve stops, a RuOx chip follows variable-range hopping,
R = R0 exp((T0/T)^(1/4)), down to at least 15 mK (Watanabe, Morishita and Ootuka, "Magneto-
resistance of RuO2-based resistance thermometers below 0.3 K", Cryogenics 41, 143 (2001)).
The extension here joins the standard curve at 50 mK with the same value and the same
logarithmic slope d ln R / d ln T, so the curve is smooth and monotonic from 10 mK to 40 K
(R(10 mK) = 0.45 Mohm). A real mixing-chamber thermometer is calibrated individually below
50 mK; this is the calibration the simulated lab's sensor "has".

Self-heating: the bridge's excitation I dissipates P = I^2 R in the chip, which sits a thermal
conductance above the plate: P = K (T_s^2 - T^2) (electron-phonon decoupling of a thick film
is steeper, T^4-T^5; T^2 keeps the warming at the right size for the excitations used here:
~1 mK at 20 mK for 10 fW, K = 2.5e-10 W/K^2).
"""
from __future__ import annotations

import math

# Lake Shore RX-202A standard curve: (coefficients a_i, ZL, ZU, lowest R of the range in ohm);
# T = sum a_i cos(i arccos x), x = ((Z - ZL) - (ZU - Z)) / (ZU - ZL), Z = log10(R)
RX202A_CHEBYSHEV = (
    ((0.216272, -0.297572, 0.146302, -0.083696, 0.026669, -0.019932, 0.003085, -0.004804,
      0.000177, -0.001218, 0.000286), 3.67248634198, 5.08000000000, 5166.86),      # 0.05-0.65 K
    ((2.129752, -2.281779, 0.981996, -0.386190, 0.143467, -0.050844, 0.017569, -0.006164,
      0.002311), 3.44161440913, 3.74909980595, 2843.53),                          # 0.65-5 K
    ((102.338126, -161.190611, 94.158738, -43.080048, 15.317949, -3.881270, 0.540313),
     3.27800000000, 3.46671731726, 2243.15),                                      # 5-40 K
)
R_40K = 2243.15          # ohm, the standard curve's upper temperature end
R_50MK = 69191.1         # ohm, its lower temperature end
T_LOW_END = 0.050        # K


def rx202a_temperature_K(resistance_ohm: float) -> float:
    """The standard curve: T(R) for 2243.15 ohm <= R <= 69191.1 ohm."""
    z = math.log10(resistance_ohm)
    for coeffs, zl, zu, lowest in RX202A_CHEBYSHEV:
        if resistance_ohm >= lowest:
            x = max(-1.0, min(1.0, ((z - zl) - (zu - z)) / (zu - zl)))
            return sum(a * math.cos(i * math.acos(x)) for i, a in enumerate(coeffs))
    raise ValueError(f"{resistance_ohm} ohm is below the RX-202A curve (40 K)")


def _vrh_constants() -> tuple[float, float, float]:
    """R0, T0 of the hopping law that continues the standard curve below its end, and the
    temperature where they join (the curve's own T at 69191.1 ohm: 50.002 mK)."""
    h = 1e-4
    lo, hi = R_50MK * (1 - h), R_50MK
    t_join = rx202a_temperature_K(hi)
    slope = math.log(hi / lo) / math.log(t_join / rx202a_temperature_K(lo))
    y = -4.0 * slope                      # (T0/T)^(1/4) at the join
    return R_50MK / math.exp(y), t_join * y ** 4, t_join


_R0, _T0, _T_JOIN = _vrh_constants()


class RuOxSensor:
    """R(T) of the mixing-chamber RuOx, and the chip's self-heating under the excitation."""

    def __init__(self, thermal_conductance_W_per_K2: float = 2.5e-10):
        self.K = thermal_conductance_W_per_K2

    @staticmethod
    def resistance_ohm(temperature_K: float) -> float:
        T = max(temperature_K, 1e-3)
        if T <= _T_JOIN:
            return _R0 * math.exp((_T0 / T) ** 0.25)
        if T >= 40.0:
            return R_40K
        # invert the standard curve (monotonic in log R): bisection in log10 R
        lo, hi = math.log10(R_40K), math.log10(R_50MK)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if rx202a_temperature_K(10 ** mid) > T:
                lo = mid
            else:
                hi = mid
        return 10 ** (0.5 * (lo + hi))

    @staticmethod
    def temperature_K(resistance_ohm: float) -> float:
        """The exact inverse (the sensor's own curve, not a bridge's interpolated table)."""
        if resistance_ohm >= R_50MK:
            return _T0 / math.log(resistance_ohm / _R0) ** 4
        return rx202a_temperature_K(max(resistance_ohm, R_40K))

    def sensor_temperature_K(self, plate_K: float, excitation_A: float) -> float:
        """The chip's temperature under excitation current I: P = I^2 R(T_s) = K (T_s^2 - T^2),
        solved by a few fixed-point steps (R falls as the chip warms, so they converge)."""
        Ts = plate_K
        for _ in range(20):
            p = excitation_A ** 2 * self.resistance_ohm(Ts)
            new = math.sqrt(plate_K ** 2 + p / self.K)
            if abs(new - Ts) < 1e-9:
                return new
            Ts = new
        return Ts

    def calibration_points(self, n: int = 120, t_min_K: float = 0.008, t_max_K: float = 40.0):
        """(ohm, kelvin) points for a bridge's curve table, log-spaced in temperature, in
        increasing resistance (the order Lake Shore curves take for NTC sensors, CRVPT)."""
        pts = []
        for i in range(n):
            T = t_max_K * (t_min_K / t_max_K) ** (i / (n - 1))
            pts.append((self.resistance_ohm(T), T))
        return pts

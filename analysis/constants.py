"""Exact SI 2019 constants (mu_0 from CODATA 2022), as in PHYSICS.md."""
import math

H_PLANCK = 6.62607015e-34  # J s
E_CHARGE = 1.602176634e-19  # C
K_B = 1.380649e-23  # J/K
MU_0 = 1.25663706127e-6  # N/A^2
MU_B = 9.2740100783e-24  # J/T
HBAR = H_PLANCK / (2.0 * math.pi)
PHI0 = H_PLANCK / E_CHARGE  # normal-metal flux quantum h/e (Wb)
PHI0_SC = H_PLANCK / (2.0 * E_CHARGE)  # superconducting flux quantum h/2e (Wb)
OE_TO_A_PER_M = 1e-4 / MU_0  # 1 Oe as H, in A/m (PHYSICS.md: 1 Oe = 1e-4 T / mu_0)
EMU_TO_AM2 = 1e-3

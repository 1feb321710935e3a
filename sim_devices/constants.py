"""Exact SI constants (SI 2019; mu_0 from CODATA 2022)."""
H_PLANCK = 6.62607015e-34
E_CHARGE = 1.602176634e-19
K_B = 1.380649e-23
HBAR = H_PLANCK / (2 * 3.141592653589793)
MU_0 = 1.25663706127e-6
MU_B = 9.2740100783e-24
PHI0_NORMAL = H_PLANCK / E_CHARGE          # h/e, normal-metal flux quantum
PHI0_SC = H_PLANCK / (2 * E_CHARGE)       # h/2e, superconducting flux quantum

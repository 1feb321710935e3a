"""Numba kernels: pure functions of float64 arrays and numbers, no validation, SI units.

The user-facing API (input checks, broadcasting, units) lives one level up in `analysis`.
"""

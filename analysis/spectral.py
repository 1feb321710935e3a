"""Spectral tools for oscillations against field: background removal and the Fourier
transform in 1/T, to find the h/e and h/2e harmonics of persistent currents and so the ring area.
"""
from __future__ import annotations

import numpy as np

from loopscope.analysis import constants as C


def remove_background(x, y, degree=2):
    """Subtract a least-squares polynomial of `degree` in x. Returns (residual, coefficients)
    with coefficients lowest order first."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    poly = np.polynomial.Polynomial.fit(x, y, degree)
    coef = poly.convert().coef
    return y - poly(x), coef


def field_spectrum(B, signal, detrend_degree=2, oversample=8, window="hann", n_uniform=None):
    """Amplitude spectrum of `signal` against field B (any order, non-uniform ok).

    The data are sorted, a polynomial background removed, interpolated linearly onto a uniform
    grid (n_uniform points, default the number of samples), windowed and zero-padded.
    Returns (frequency in 1/T, amplitude in signal units, calibrated so a pure sinusoid of
    amplitude a gives a peak of ~a).
    """
    B = np.asarray(B, dtype=float)
    s = np.asarray(signal, dtype=float)
    if B.shape != s.shape or B.ndim != 1:
        raise ValueError("B and signal must be 1-D of equal length")
    if B.size < 8:
        raise ValueError(f"too few points for a spectrum: {B.size}")
    if not (np.all(np.isfinite(B)) and np.all(np.isfinite(s))):
        raise ValueError("B or signal contains NaN/inf")
    order = np.argsort(B, kind="stable")
    B, s = B[order], s[order]
    Bu, inv = np.unique(B, return_inverse=True)
    su = np.bincount(inv, weights=s) / np.bincount(inv)
    if detrend_degree is not None and detrend_degree >= 0:
        su, _ = remove_background(Bu, su, detrend_degree)
    n = n_uniform or Bu.size
    grid = np.linspace(Bu[0], Bu[-1], n)
    yu = np.interp(grid, Bu, su)
    w = np.hanning(n) if window == "hann" else np.ones(n)
    nfft = int(2 ** np.ceil(np.log2(n * oversample)))
    spec = np.abs(np.fft.rfft(yu * w, nfft)) * 2.0 / w.sum()
    freq = np.fft.rfftfreq(nfft, d=grid[1] - grid[0])
    return freq, spec


def _refine(freq, spec, i):
    if 0 < i < len(spec) - 1:
        a, b, c = np.log(spec[i - 1:i + 2] + 1e-300)
        den = a - 2 * b + c
        if den != 0:
            return freq[i] + 0.5 * (a - c) / den * (freq[1] - freq[0])
    return freq[i]


def dominant_frequency(B, signal, detrend_degree=1):
    """Frequency (1/T) of the strongest oscillation (parabolic refinement of the FFT peak)."""
    freq, spec = field_spectrum(B, signal, detrend_degree=detrend_degree)
    spec = spec.copy()
    spec[freq < 2.0 * (freq[1] - freq[0]) * 8] = 0.0  # ignore what the background leaves at DC
    i = int(np.argmax(spec))
    return float(_refine(freq, spec, i))


def find_harmonics(B, signal, detrend_degree=2, theta=np.pi / 2, n_peaks=4, area=None):
    """Locate the persistent-current harmonics in the spectrum against field.

    Returns dict: peaks [(frequency 1/T, amplitude)] strongest first, f_fundamental (the
    strongest peak), area_h_e = Phi0 f/sin(theta) (ring area if that peak is the h/e line) and
    area_h_2e (if it is the h/2e line). A spectrum alone cannot tell h/e of area A from h/2e of
    area A/2; give the geometric `area` (m^2) to get the amplitudes at the expected lines:
    amplitude_h_e (p = 1) and amplitude_h_2e (p = 2), and h2e_dominant (ensemble-like).
    """
    freq, spec = field_spectrum(B, signal, detrend_degree=detrend_degree)
    df = freq[1] - freq[0]
    s = spec.copy()
    s[freq < 16 * df] = 0.0
    peaks = []
    work = s.copy()
    for _ in range(n_peaks):
        i = int(np.argmax(work))
        if work[i] <= 0:
            break
        peaks.append((float(_refine(freq, s, i)), float(s[i])))
        lo, hi = max(0, i - 24), min(len(work), i + 25)
        work[lo:hi] = 0.0
    f1 = peaks[0][0]
    sin_t = np.sin(theta)
    out = {"peaks": peaks, "f_fundamental": f1,
           "area_h_e": C.PHI0 * f1 / sin_t, "area_h_2e": C.PHI0_SC * f1 / sin_t}
    if area is not None:
        f_he = area * sin_t / C.PHI0

        def amp_near(f):
            win = (freq > 0.9 * f) & (freq < 1.1 * f)
            return float(s[win].max()) if win.any() else 0.0

        out["amplitude_h_e"] = amp_near(f_he)
        out["amplitude_h_2e"] = amp_near(2 * f_he)
        out["h2e_dominant"] = out["amplitude_h_2e"] > out["amplitude_h_e"]
    return out

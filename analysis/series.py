"""Series analysis: one number per run (a fitted amplitude or susceptibility) against the run's
temperature, fitted to a temperature law.

    rows = reanalyze(...).rows                  # or read_summary("pc2025.csv")
    s = fit_series(rows, "thouless")            # |I1| vs T -> E_c (Thouless energy)
    print(s.text()); s.plot("thouless.png")
    s = fit_series(rows_chi, "curie-weiss")     # chi vs T -> C, theta, chi0

Kinds (PHYSICS.md sections 3-4):

- thouless: diffusive ring, I_p(T) = I0 sqrt(j_p(k_B T/E_c)/j_p(0)) (model pc_diffusive_T) -> E_c/k_B
- exponential: empirical I_p(T) = I0 exp(-p T/T_p) (pc_exponential_T) -> T_p; for p = 1 and
  3 E_c < k_B T < 20 E_c, k_B T_1 ~ 9.7 E_c gives an estimate of E_c
- ballistic: I_p(T) = I0 x/sinh x, x = p T/T* (pc_ballistic_T) -> T*
- curie-weiss: chi(T) = C/(T - theta) + chi0 (curie_weiss) on the per-run susceptibility

The temperature of a run is the median of its temperature_K column (the summary's
temperature_K). The per-run standard errors weight the fit. A persistent-current amplitude
enters as |value|: its sign is a phase convention (phi -> phi + pi).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# kind -> registry model
SERIES_MODELS = {
    "thouless": "pc_diffusive_T",
    "exponential": "pc_exponential_T",
    "ballistic": "pc_ballistic_T",
    "curie-weiss": "curie_weiss",
}
AMPLITUDE_KINDS = ("thouless", "exponential", "ballistic")
# per-run model -> the column a series uses by default
DEFAULT_COLUMN = {
    "persistent_current": "I1", "pc_squid": "I1", "pc_cantilever": "I1", "pc_ensemble": "moment_amp",
    "susceptibility": "chi",
}
# k_B T_1 ~ 9.7 E_c between 3 and 20 E_c (PHYSICS.md section 4)
T1_OVER_EC = 9.7
USABLE = ("fitted", "up to date")


class SeriesError(ValueError):
    """The summary cannot give this series (too few usable runs, no such column ...)."""


@dataclass
class SeriesResult:
    kind: str
    model: str
    column: str
    units: str
    T: np.ndarray
    y: np.ndarray
    yerr: np.ndarray
    paths: list
    result: object  # analysis.fitting.FitResult
    harmonic: int = 1
    dropped: list = field(default_factory=list)  # (path, why) of runs left out

    @property
    def params(self):
        return self.result.to_dict()

    def text(self) -> str:
        r = self.result
        lines = [f"series {self.kind}: |{self.column}| vs temperature ({len(self.T)} runs), model {self.model}"
                 if self.kind in AMPLITUDE_KINDS else
                 f"series {self.kind}: {self.column} vs temperature ({len(self.T)} runs), model {self.model}",
                 f"  {r.message}; reduced chi-square {r.reduced_chi_square:.3g} (dof {r.dof})"]
        for n, d in r.to_dict().items():
            if n in r.fixed:
                lines.append(f"  {n:>14s} = {d['value']:.6g} {'' if d['units'] == '1' else d['units']}(fixed)")
            else:
                lines.append(f"  {n:>14s} = {d['value']:.6g} +/- {d['stderr']:.2g} {d['units']}")
        lines.append("  " + headline(self))
        if self.dropped:
            lines.append(f"  {len(self.dropped)} run(s) left out (no usable fit or no temperature)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        r = self.result
        return {"kind": self.kind, "model": self.model, "column": self.column, "units": self.units,
                "harmonic": self.harmonic, "converged": bool(r.converged), "message": r.message,
                "chi_square": float(r.chi_square), "reduced_chi_square": float(r.reduced_chi_square),
                "dof": int(r.dof), "parameters": r.to_dict(),
                "data": {"path": list(self.paths), "temperature_K": self.T.tolist(), self.column: self.y.tolist(),
                         f"{self.column}_stderr": self.yerr.tolist()},
                "dropped": [list(d) for d in self.dropped]}

    def plot(self, out, title=None):
        """PNG (or any matplotlib format) of the data with error bars and the fitted law."""
        return plot_series(self, out, title)


def _value(row, column):
    p = row.get("params", {})
    if column not in p:
        return None
    v, s = p[column]
    return float(v), float(s)


def _guess(kind, T, y, harmonic):
    pos = y > 0
    slope = None
    if pos.sum() >= 2 and np.ptp(T[pos]) > 0:
        slope, icpt = np.polyfit(T[pos], np.log(y[pos]), 1)
    i0 = float(y[np.argmin(T)]) if y.size else 1.0
    if kind == "thouless":
        # small T: nearly flat, so extrapolate I0 a little; E_c from the exponential tail
        ec = (-1.0 / slope / T1_OVER_EC) if slope is not None and slope < 0 else max(float(np.max(T)) / 10, 1e-3)
        return {"I0": 1.05 * i0, "Ec_K": ec, "harmonic": float(harmonic)}
    if kind == "exponential":
        tp = (-harmonic / slope) if slope is not None and slope < 0 else float(np.max(T))
        return {"I0": math.exp(icpt) if slope is not None else i0, "T_p": tp, "harmonic": float(harmonic)}
    if kind == "ballistic":
        tstar = (-harmonic / slope) if slope is not None and slope < 0 else float(np.max(T))
        return {"I0": 1.05 * i0, "T_star": tstar / 2, "harmonic": float(harmonic)}
    return {}


def fit_series(rows, kind, column=None, harmonic=None, params=None):
    """Fit a temperature law to one fitted quantity across runs.

    rows: summary rows (ReanalysisReport.rows or read_summary()). kind: see SERIES_MODELS.
    column: the parameter or derived quantity (default from the runs' model: I1, moment_amp, chi).
    harmonic: p for the current laws (default 2 for a column ending in 2, else 1).
    """
    from loopscope.analysis.fitting import fit
    from loopscope.analysis.models import get_model

    if kind not in SERIES_MODELS:
        raise SeriesError(f"unknown series {kind!r}; known: {', '.join(SERIES_MODELS)}")
    spec = get_model(SERIES_MODELS[kind])
    models = {r.get("model") for r in rows if r.get("fit_status") in USABLE}
    if column is None:
        cands = [DEFAULT_COLUMN[m] for m in models if m in DEFAULT_COLUMN]
        if not cands:
            raise SeriesError(f"give the column to use for series {kind!r} (runs fitted with {sorted(models)})")
        column = cands[0]
    if harmonic is None:
        harmonic = 2 if column.endswith("2") else 1
    T, y, s, paths, dropped, units = [], [], [], [], [], ""
    for r in rows:
        path = r.get("path", "")
        if r.get("fit_status") not in USABLE:
            dropped.append((path, f"fit {r.get('fit_status')}: {r.get('reason', '')}"))
            continue
        t = float(r.get("temperature_K", math.nan))
        val = _value(r, column)
        if val is None:
            raise SeriesError(f"the runs have no column {column!r}; columns: {', '.join(r.get('params', {}))}")
        v, e = val
        if not math.isfinite(t):
            dropped.append((path, "no temperature_K in the run"))
            continue
        if not (math.isfinite(v) and math.isfinite(e) and e > 0):
            dropped.append((path, f"{column} has no usable standard error"))
            continue
        units = units or r.get("units", {}).get(column, "")
        T.append(t)
        y.append(abs(v) if kind in AMPLITUDE_KINDS else v)
        s.append(e)
        paths.append(path)
    T, y, s = (np.asarray(a, dtype=np.float64) for a in (T, y, s))
    n_free = len(spec.param_names) - len(spec.default_fixed)
    if T.size < n_free + 1:
        raise SeriesError(f"series {kind!r} needs at least {n_free + 1} runs with a fitted {column} and a "
                          f"temperature; found {T.size}")
    order = np.argsort(T, kind="stable")
    T, y, s = T[order], y[order], s[order]
    paths = [paths[i] for i in order]
    start = _guess(kind, T, y, harmonic)
    start.update(params or {})
    res = fit(spec, T, y, params=start, sigma=s)
    if kind == "exponential" and harmonic == 1:
        i = res.names.index("T_p")
        res.derived["E_c_K_estimate"] = (res.values[i] / T1_OVER_EC, res.stderr[i] / T1_OVER_EC, "K")
    return SeriesResult(kind, spec.name, column, units, T, y, s, paths, res, int(harmonic), dropped)


# ------------------------------------------------------------------ plots
_PREFIXES = ((1e-18, "a"), (1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))


def _scale(values, units):
    """(factor, label units) so that the values read as 1..1000 with an SI prefix (simple units only)."""
    m = float(np.max(np.abs(values))) if len(values) else 1.0
    if not units or " " in units or "^" in units or "/" in units or m == 0:
        return 1.0, units
    for f, p in reversed(_PREFIXES):
        if m >= f:
            return f, p + units
    return _PREFIXES[0][0], _PREFIXES[0][1] + units


def headline(s: SeriesResult) -> str:
    """The physics in one line: E_c, T_p, T* or the Curie-Weiss parameters."""
    r = s.result
    err = dict(zip(r.names, r.stderr))
    if s.kind == "thouless":
        return (f"Thouless energy E_c/k_B = {r['Ec_K'] * 1e3:.4g} ± {err['Ec_K'] * 1e3:.2g} mK "
                f"(E_c = {r.derived['E_c_ueV'][0]:.3g} µeV)")
    if s.kind == "exponential":
        return f"T_{s.harmonic} = {r['T_p'] * 1e3:.3g} ± {err['T_p'] * 1e3:.2g} mK" + (
            f", E_c/k_B ≈ T_1/9.7 = {r.derived['E_c_K_estimate'][0] * 1e3:.3g} mK" if "E_c_K_estimate" in r.derived else "")
    if s.kind == "ballistic":
        return f"T* = {r['T_star'] * 1e3:.3g} ± {err['T_star'] * 1e3:.2g} mK"
    return (f"C = {r['C']:.3g} ± {err['C']:.2g} m³K, θ = {r['theta']:.3g} ± {err['theta']:.2g} K, "
            f"χ0 = {r['chi0']:.2g} ± {err['chi0']:.1g} m³")


def plot_series(s: SeriesResult, out, title=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from loopscope.analysis.models import get_model

    spec = get_model(s.model)
    r = s.result
    tmax = float(np.max(s.T)) * 1.08
    tmin = 0.0 if s.kind in AMPLITUDE_KINDS else float(np.min(s.T)) * 0.9
    if s.kind == "curie-weiss":
        theta = r["theta"]
        tmin = max(tmin, theta + 0.02 * (tmax - theta)) if theta > 0 else tmin
    grid = np.linspace(tmin, tmax, 400)
    curve = spec(grid, r.values)
    yf, yunits = _scale(s.y, s.units)
    tf, tunits = (1e-3, "mK") if tmax < 1.0 else (1.0, "K")
    ylabel = f"|{s.column}|" if s.kind in AMPLITUDE_KINDS else s.column
    if s.kind == "curie-weiss":
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    else:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.errorbar(s.T / tf, s.y / yf, yerr=s.yerr / yf, fmt="o", ms=4, capsize=2, label="per-run fits")
    ax.plot(grid / tf, curve / yf, "-", lw=1.5, label=f"{s.model} fit")
    ax.set_xlabel(f"temperature ({tunits})")
    ax.set_ylabel(f"{ylabel} ({yunits})" if yunits else ylabel)
    text = "\n".join(f"{n} = {d['value']:.4g} (fixed)" if n in r.fixed else
                     f"{n} = {d['value']:.4g} ± {d['stderr']:.2g} {d['units']}" for n, d in r.to_dict().items())
    text += f"\nreduced χ² = {r.reduced_chi_square:.3g}"
    ax.text(0.98 if s.kind in AMPLITUDE_KINDS else 0.98, 0.97, text, transform=ax.transAxes, va="top", ha="right",
            fontsize=7, family="monospace", bbox=dict(boxstyle="round", fc="white", alpha=0.8))
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    if s.kind in AMPLITUDE_KINDS:
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
    if s.kind == "curie-weiss":
        # the Curie-Weiss plot: 1/(chi - chi0) is a line through T = theta with slope 1/C
        chi0, c, theta = r["chi0"], r["C"], r["theta"]
        inv = 1.0 / (s.y - chi0)
        inv_err = s.yerr / (s.y - chi0) ** 2
        ax2.errorbar(s.T, inv, yerr=inv_err, fmt="o", ms=4, capsize=2, label="1/(χ - χ0)")
        tg = np.linspace(min(theta, 0.0), tmax, 200)
        ax2.plot(tg, (tg - theta) / c, "-", lw=1.5, label=f"(T - θ)/C, θ = {theta:.3g} K")
        ax2.axhline(0, color="k", lw=0.5)
        ax2.set_xlabel("temperature (K)")
        ax2.set_ylabel(f"1/({s.column} - chi0) (1/{s.units})" if s.units else f"1/({s.column} - chi0)")
        ax2.legend(loc="upper left", fontsize=8)
        ax2.grid(alpha=0.3)
    fig.suptitle((title or f"{s.kind} series: {len(s.T)} runs") + "\n" + headline(s), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out

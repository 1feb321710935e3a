"""Series fits on summary rows: temperature laws recover known parameters, bad rows are left out."""
import math

import numpy as np
import pytest

from loopscope.analysis.models import get_model
from loopscope.analysis.series import SeriesError, fit_series


def rows_from(values, temps, column, model, errs, status="fitted", units="A"):
    return [{"path": f"/data/run_{i}.h5", "fit_status": status, "model": model, "temperature_K": t, "reason": "",
             "params": {column: (v, e)}, "units": {column: units}}
            for i, (t, v, e) in enumerate(zip(temps, values, errs))]


def test_thouless_law_recovers_ec_with_sign_flips():
    rng = np.random.default_rng(3)
    T = np.linspace(0.005, 0.25, 12)
    ec, i0 = 0.08, 1.2e-15  # Levy et al.: ensemble, E_c ~ 80 mK
    y = get_model("pc_diffusive_T")(T, [i0, ec, 2.0])
    err = np.full(T.size, 0.01 * i0)
    noisy = (y + rng.normal(0, err)) * np.where(np.arange(T.size) % 3, 1, -1)  # phase convention flips the sign
    rows = rows_from(noisy, T, "I2", "persistent_current", err)
    rows.append({**rows[0], "fit_status": "failed", "reason": "did not converge"})
    rows.append({**rows[1], "temperature_K": math.nan})
    s = fit_series(rows, "thouless", column="I2")
    assert s.harmonic == 2 and s.column == "I2" and len(s.T) == 12 and len(s.dropped) == 2
    k = s.result.names.index("Ec_K")
    assert abs(s.result.values[k] - ec) < 3 * s.result.stderr[k]
    assert s.result.derived["T_thouless"][0] == s.result.values[k]


def test_curie_weiss_law_and_plot(tmp_path):
    rng = np.random.default_rng(4)
    T = np.array([4.0, 6, 9, 14, 25, 50, 100, 200, 300])
    true = {"C": 3e-11, "theta": 2.0, "chi0": 1e-14}
    chi = get_model("curie_weiss")(T, [true["C"], true["theta"], true["chi0"]])
    err = 0.005 * np.abs(chi) + 1e-16
    rows = rows_from(chi + rng.normal(0, err), T, "chi", "susceptibility", err, units="m^3")
    s = fit_series(rows, "curie-weiss")
    for n, v in true.items():
        i = s.result.names.index(n)
        assert abs(s.result.values[i] - v) < 3 * s.result.stderr[i], n
    out = s.plot(tmp_path / "cw.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20000
    d = s.to_dict()
    assert d["parameters"]["theta"]["units"] == "K" and len(d["data"]["temperature_K"]) == T.size


def test_series_refuses_too_few_runs_and_unknown_kinds():
    rows = rows_from([1e-9, 5e-10], [0.01, 0.1], "I1", "persistent_current", [1e-11, 1e-11])
    with pytest.raises(SeriesError, match="at least"):
        fit_series(rows, "thouless")
    with pytest.raises(SeriesError, match="unknown series"):
        fit_series(rows, "arrhenius")
    with pytest.raises(SeriesError, match="no column"):
        fit_series(rows, "thouless", column="I7")

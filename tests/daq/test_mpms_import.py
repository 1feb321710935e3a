"""MPMS3 .dat import of the two real files, then fits on the imported run files."""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from loopscope.daq.mpms_import import MPMSImportError, import_mpms, import_mpms_cmd, parse_mpms_dat

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mpms3"
MU_0 = 1.25663706127e-6

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="real MPMS3 files (../shared/data/mpms3) not present")


def _raw_columns(name, *cols):
    """Independent parse with numpy: the [Data] table by column name, CGS as in the file."""
    lines = (DATA / name).read_text(encoding="latin-1").splitlines()
    i = lines.index("[Data]")
    header = lines[i + 1].split(",")
    out = {c: [] for c in cols}
    for line in lines[i + 2:]:
        parts = line.split(",")
        for c in cols:
            v = parts[header.index(c)]
            out[c].append(float(v) if v.strip() else np.nan)
    return {c: np.array(v) for c, v in out.items()}


@pytest.fixture(scope="module")
def mvsh(tmp_path_factory):
    return import_mpms(DATA / "mvsh9.dat", tmp_path_factory.mktemp("mpms") / "mvsh9.h5")


@pytest.fixture(scope="module")
def zfcfc(tmp_path_factory):
    return import_mpms(DATA / "zfcfc1.dat", tmp_path_factory.mktemp("mpms") / "zfcfc1.h5")


def test_header_parsing():
    info, header, names, rows = parse_mpms_dat(DATA / "mvsh9.dat")
    assert info["SAMPLE_MASS"] == "9.3"
    assert info["SAMPLE_MATERIAL"] == "[Er_TMSCOT_Cl_THF]2"
    assert info["APPNAME"].startswith("MPMS3 Measurement Release 1.1.16 Build 424, MultiVu")  # comma inside
    assert info["SQUID_SERIAL_NUMBER"] == "SQM195"
    assert "Magnetic Field (Oe)" in names and len(rows) == 425


def test_mvsh_layout_and_units(mvsh):
    raw = _raw_columns("mvsh9.dat", "Magnetic Field (Oe)", "DC Moment Fixed Ctr (emu)", "Temperature (K)")
    with h5py.File(mvsh, "r") as f:
        assert f.attrs["file_format"] == "loopscope-run" and f.attrs["default"] == "entry"
        e = f["entry"]
        assert e["status"][()] == b"completed" and e["plan_kind"][()] == b"mpms_import"
        d = e["data"]
        assert d.attrs["NX_class"] == "NXdata" and d.attrs["signal"] == "moment_Am2"
        assert list(d.attrs["axes"]) == ["field_T"]
        for name, unit in [("field_T", "T"), ("field_H_A_per_m", "A/m"), ("moment_Am2", "A m^2"),
                           ("moment_err_Am2", "A m^2"), ("temperature_K", "K"), ("timestamp", "s"),
                           ("elapsed_s", "s"), ("point_index", "1")]:
            assert d[name].attrs["units"] == unit, name
        np.testing.assert_allclose(d["field_T"][()], raw["Magnetic Field (Oe)"] * 1e-4, rtol=1e-15)
        np.testing.assert_allclose(d["field_H_A_per_m"][()] * MU_0, d["field_T"][()], rtol=1e-15)
        np.testing.assert_allclose(d["moment_Am2"][()], raw["DC Moment Fixed Ctr (emu)"] * 1e-3, rtol=1e-15)
        assert np.all(np.abs(d["temperature_K"][()] - 2.0) < 0.01)
        assert d["point_index"][()].tolist() == list(range(425))
        assert np.all(np.diff(d["elapsed_s"][()]) > 0)
        assert e["sample/mass"][()] == pytest.approx(9.3e-6) and e["sample/mass"].attrs["units"] == "kg"
        assert e["sample/material"][()] == b"[Er_TMSCOT_Cl_THF]2"
        snap = json.loads(e["instrument/snapshot_json"][()])
        assert snap["mpms3"]["SQUID_SERIAL_NUMBER"] == "SQM195"
        assert e["start_time"][()].decode().startswith("2021-11-28")


def test_zfcfc_is_a_temperature_sweep(zfcfc):
    with h5py.File(zfcfc, "r") as f:
        d = f["entry/data"]
        assert list(d.attrs["axes"]) == ["temperature_K"]
        assert np.allclose(d["field_T"][()], 100.072647094727e-4)
        assert f["entry/sample/mass"][()] == pytest.approx(1.6e-6)


def test_susceptibility_fit_of_the_high_field_part(mvsh):
    import loopscope.analysis as A

    # the positive high-field part (H >= 4e6 A/m ~ 5 T): the slope there is the high-field
    # susceptibility on top of the nearly saturated moment (|H| on both branches would fit the
    # line through +Ms and -Ms instead)
    res = A.fit_run(mvsh, "susceptibility", xmin=4.0e6, sigma="moment_err_Am2")
    assert res.converged
    run = A.read_run(mvsh)
    H, m, s = run.get("field_H_A_per_m"), run.get("moment_Am2"), run.get("moment_err_Am2")
    sel = H >= 4.0e6
    slope, icpt = np.polyfit(H[sel], m[sel], 1, w=1 / s[sel])  # independent weighted least squares
    assert res["chi"] == pytest.approx(slope, rel=1e-8)
    assert res.derived["chi_mass"][0] == pytest.approx(slope / 9.3e-6, rel=1e-8)
    assert res.derived["chi_mass"][2] == "m^3/kg"
    stored = A.runfile.read_fit(mvsh, "susceptibility")
    assert stored["parameters"]["chi"][0] == pytest.approx(res["chi"])
    assert stored["selection"]["xmin"] == 4.0e6
    # small against the saturated moment: chi H at 5.6e6 A/m is a few % of m
    assert 0 < res["chi"] * 5.6e6 < 0.1 * m.max()


def test_zfcfc_curie_weiss_like_behaviour(zfcfc):
    """ZFC below FC at low T (irreversibility), the branches merge near 200 K, and above the
    maximum (~210 K) moment/H falls with T. A Curie-Weiss law C/(T - theta) fitted there
    (our fitter against scipy's on the same points) has C > 0; the fall is slow (4 % over
    60 K) so theta comes out large and negative: this sample is not a simple paramagnet above
    200 K, which is why this is only a Curie-Weiss-ish check."""
    import loopscope.analysis as A
    from scipy.optimize import curve_fit

    run = A.read_run(zfcfc)
    T = run.get("temperature_K")
    chi = run.get("moment_per_H_m3")
    turn = int(np.argmax(np.diff(T) < -100)) + 1  # end of the ZFC warm-up
    zfc_T, zfc = T[:turn], chi[:turn]
    fc_T, fc = T[turn:], chi[turn:]
    assert np.interp(10, zfc_T, zfc) < 0.6 * np.interp(10, fc_T, fc)
    assert np.interp(250, zfc_T, zfc) == pytest.approx(np.interp(250, fc_T, fc), rel=0.01)
    res = A.fit_run(zfcfc, "curie_weiss", xmin=240.0, fixed=["chi0"], params={"C": 1e-6, "theta": 100.0, "chi0": 0.0})
    assert res.converged
    sel = T >= 240
    ref, _ = curve_fit(lambda t, c, th: c / (t - th), T[sel], chi[sel], p0=[1e-6, 100.0], xtol=1e-14, ftol=1e-14)
    assert res["C"] == pytest.approx(ref[0], rel=1e-6)
    assert res["theta"] == pytest.approx(ref[1], rel=1e-6)
    assert res["C"] > 0 and res["theta"] < 240
    assert np.all(np.diff(np.polyfit(T[sel], chi[sel], 1)[:1]) <= 0) and np.polyfit(T[sel], chi[sel], 1)[0] < 0


def test_cli_and_errors(tmp_path):
    out = tmp_path / "a.h5"
    r = CliRunner().invoke(import_mpms_cmd, [str(DATA / "mvsh9.dat"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(import_mpms_cmd, [str(DATA / "mvsh9.dat"), "--out", str(out)])
    assert r.exit_code != 0 and "exists" in r.output
    bad = tmp_path / "bad.dat"
    bad.write_text("hello\n")
    with pytest.raises(MPMSImportError, match="Data"):
        import_mpms(bad, tmp_path / "b.h5")
    assert not (tmp_path / "b.h5").exists()
    with pytest.raises(MPMSImportError, match=".h5"):
        import_mpms(DATA / "mvsh9.dat", tmp_path / "x.txt")


# ------------------------------------------------------------------ files cut short
def _cut_in_last_row(src, dst, column="DC Moment Fixed Ctr (emu)", chars_kept=4):
    """A copy of the real file cut inside a number of its last data row, as a copy stopped
    mid-write leaves it: the row ends with the first chars of its moment ("0.40" of
    "0.40135920823009"), a plausible number, with more columns in the header after it."""
    raw = src.read_bytes()
    text = raw.decode("latin-1")
    header = text[text.index("[Data]"):].splitlines()[1].split(",")
    j = header.index(column)
    start = raw.rstrip(b"\r\n").rfind(b"\n") + 1
    fields = raw[start:].split(b",")
    cut = b",".join(fields[:j]) + b"," + fields[j][:chars_kept]
    dst.write_bytes(raw[:start] + cut)
    return fields[j].decode()  # the whole number that was cut


@pytest.mark.parametrize("name, rows", [("mvsh9.dat", 425), ("zfcfc1.dat", 504)])
def test_row_cut_mid_number_is_dropped_and_counted(tmp_path, name, rows):
    cut = tmp_path / name
    whole_value = _cut_in_last_row(DATA / name, cut)
    assert len(whole_value) > 4  # the number really was cut
    full = import_mpms(DATA / name, tmp_path / "full.h5")
    messages = []
    part = import_mpms(cut, tmp_path / "cut.h5", messages=messages)
    expected = (f"1 of {rows} data rows dropped, not imported: 1 cut short (fewer fields than the header's 89): "
                f"data row {rows}")
    assert messages == [f"{cut}: {expected}"]
    with h5py.File(full, "r") as f, h5py.File(part, "r") as g:
        for q in ("field_T", "moment_Am2", "temperature_K", "timestamp"):
            assert np.array_equal(g["entry/data"][q][:], f["entry/data"][q][:-1])  # all but the cut row
        assert g["entry/status"][()] == b"completed"
        assert g["entry/status_reason"][()].decode() == expected
        levels = [x.decode() for x in g["entry/log/level"][:]]
        log = [x.decode() for x in g["entry/log/message"][:]]
        assert ("warning", f"{name}: {expected}") in list(zip(levels, log))
    from loopscope.daq.inspect import format_summary, summarize

    assert expected in format_summary(summarize(part))


def test_rows_with_too_few_or_too_many_fields_are_dropped(tmp_path):
    lines = (DATA / "mvsh9.dat").read_bytes().split(b"\n")
    first = lines.index(b"[Data]\r") + 2  # the first data row (the file has CRLF line ends)
    lines[first + 10] = b",".join(lines[first + 10].split(b",")[:40]) + b"\r"      # data row 11: 40 fields
    lines[first + 20] = lines[first + 20].rstrip(b"\r") + b",1.5,2.5\r"             # data row 21: 91 fields
    src = tmp_path / "damaged.dat"
    src.write_bytes(b"\n".join(lines))
    r = CliRunner().invoke(import_mpms_cmd, [str(src), "--out", str(tmp_path / "d.h5")])
    assert r.exit_code == 0, r.output
    warning = ("warning: " + str(src) + ": 2 of 425 data rows dropped, not imported: "
               "1 cut short (fewer fields than the header's 89): data row 11; "
               "1 more fields than the header's 89: data row 21")
    assert warning in r.stderr.splitlines()
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert f["entry/data/field_T"].shape == (423,)


def test_last_row_the_file_ends_inside():
    from loopscope.daq.mpms_import import whole_rows

    names = ["a", "b", "c"]
    rows = [["1", "2", "3"], ["4", "5", "6.0"]]
    assert whole_rows(names, rows, ends_with_newline=True) == (rows, {})
    kept, dropped = whole_rows(names, rows, ends_with_newline=False)
    assert kept == rows[:1] and dropped == {"the file ends inside it (no line end after the last row)": [2]}
    rows = [["1", "2", "3"], ["4", "5", ""]]  # its last field is empty: nothing can be cut
    assert whole_rows(names, rows, ends_with_newline=False) == (rows, {})


def test_nothing_whole_is_an_error(tmp_path):
    text = (DATA / "mvsh9.dat").read_text(encoding="latin-1")
    head = text[:text.index("[Data]") + len("[Data]")]
    header = text[len(head):].lstrip("\r\n").splitlines()[0]
    src = tmp_path / "only_a_stub.dat"
    src.write_text(head + "\n" + header + "\n,3847245635.29,2.0", encoding="latin-1")
    with pytest.raises(MPMSImportError, match="no whole data row .*1 cut short"):
        import_mpms(src, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()

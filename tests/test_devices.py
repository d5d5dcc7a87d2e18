"""Device-model unit tests: compiled EKV / RRAM kernels against the plain reference, their derivatives,
physical trends (inversion, temperature), Pelgrom scaling and sampled mismatch, RRAM statistics, and the
kernel's circuit Jacobian assembly.

Statistical checks use exact sampling distributions with a two-sided family-wise false-alarm probability
of 1e-6 (Bonferroni over the quantities tested), with fixed seeds: deterministic, and a real error of a
few percent in a sigma is detected.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from arraysim.circuits.pcsa import family
from arraysim.devices.rram import Programming, RRAMParams
from arraysim.kernels.devices import EPS_VDS, ekv_nframe, mos_eval, rram_eval
from arraysim.kernels.transient import _eval
from arraysim.montecarlo.engine import ReadSimulator
from arraysim.montecarlo.sampling import draw_instances
from arraysim.options import Cell, Variability
from arraysim.reference import (EPS_VDS as REF_EPS_VDS, ReferenceCircuit,
                                ekv_drain_current, mos_current, pinchoff_ref, rram_current, thermal_voltage_ref)
from arraysim.units import T_NOM, celsius_to_kelvin, thermal_voltage

FAMILIES = ("nmos", "pmos", "nmos_thick")
P_FAMILY = 1e-6  # family-wise false-alarm probability of each statistical test


@pytest.fixture(scope="module")
def sim():
    return ReadSimulator()


def _fam(sim, name):
    return family(sim.tech, name)


def _fam_args(fam, temp_k=T_NOM, w=1e-6):
    _, theta, lam, eta, gamma, phi, kbody = fam.shape_params(fam.l_ref)
    return dict(vt=fam.vt(temp_k), ispec=fam.ispec(w, fam.l_ref, temp_k), n=fam.n_at(temp_k), theta=theta, lam=lam,
                eta=eta, ut=thermal_voltage(temp_k), gamma=gamma, phi=phi, kbody=kbody,
                vsat=fam.vsat_at(fam.l_ref, temp_k), ns=fam.ns_at(temp_k), tau=fam.tau, dv0=fam.dibl_v0)


def _with_body(fam, gamma, kbody=-0.15):
    """The family with the body-effect law (gamma [V^0.5], phi 0.8 V, kbody); gamma None = no body law."""
    if gamma is None:
        return dataclasses.replace(fam, gamma=0.0, kbody=None)
    return dataclasses.replace(fam, gamma=gamma, phi=0.8, kbody=kbody)


BODY = [None, 0.65]  # gamma of the model tests: no body-effect law (constant n), and a SKY130-like law
# strong-inversion terms of the model tests: none; velocity saturation (SKY130's core NMOS); velocity
# saturation with two slope factors (weak-inversion n raised 1.8x over the strong-inversion one, SKY130 PMOS-like);
# the latter with the square-root DIBL law (knee 10 mV, as arraysim calibrate fits)
VARIANTS = ["plain", "vsat", "two_n", "sqrt_dibl"]


def _variant(fam, v):
    if v == "plain":
        return dataclasses.replace(fam, vsat=0.0)
    if v == "vsat":
        return dataclasses.replace(fam, vsat=1.8)
    if fam.kbody is None:  # two slope factors need a body law: the constant-n one (kbody = n - 1, gamma = 0)
        fam = dataclasses.replace(fam, kbody=1.8 * fam.n - 1.0)
    fam = dataclasses.replace(fam, vsat=1.8, n=1.8 * fam.n, n_strong=fam.n, tau=2.0)
    if v == "sqrt_dibl":
        fam = dataclasses.replace(fam, dibl_v0=0.01, eta=0.06)
    return fam


def _mos(pol, vd, vg, vs, vb, p):
    return mos_eval(pol, vd, vg, vs, vb, p["vt"], p["ispec"], p["n"], p["theta"], p["lam"], p["eta"],
                    p["gamma"], p["phi"], p["kbody"], p["vsat"], p["ns"], p["tau"], p["dv0"], p["ut"])


def _rounding_scale(vg, vd, vs, p):
    """ispec * (i_f + i_r): the size of the terms whose difference is the current (rounding bound)."""
    a = math.sqrt((vd - vs) ** 2 + EPS_VDS ** 2) - EPS_VDS
    vp = float(pinchoff_ref(vg, vd, vs, p["vt"], p["n"], p["eta"], p["gamma"], p["phi"], p["kbody"], p["ns"],
                            p["tau"], p["ut"], p["dv0"]))
    lf = np.logaddexp(0.0, (vp - vs) / (2 * p["ut"]))
    lr = np.logaddexp(0.0, (vp - vd) / (2 * p["ut"]))
    return p["ispec"] * (lf * lf + lr * lr)


# ------------------------------------------------------------------------------------------------------
# (a) compiled MOSFET / RRAM == plain reference
# ------------------------------------------------------------------------------------------------------
def test_constants_agree():
    assert REF_EPS_VDS == EPS_VDS
    for t in (-40.0, 27.0, 125.0):
        assert thermal_voltage_ref(t) == pytest.approx(thermal_voltage(celsius_to_kelvin(t)), rel=1e-14)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("gamma", BODY)
@pytest.mark.parametrize("name", FAMILIES)
def test_mos_kernel_equals_reference(sim, name, gamma, variant):
    rng = np.random.default_rng(1)
    fam = _variant(_with_body(_fam(sim, name), gamma), variant)
    for k in range(400):
        temp_k = rng.uniform(230.0, 400.0)
        p = _fam_args(fam, temp_k, w=rng.uniform(0.2e-6, 5e-6))
        p["vt"] += rng.normal(0.0, 0.05)
        vd, vg, vs, vb = rng.uniform(-0.3, 1.5, 4)
        pol = fam.polarity
        i_k = _mos(pol, vd, vg, vs, vb, p)[0]
        i_r = float(mos_current(pol, vd, vg, vs, vb, **p))
        # NMOS-frame voltages, for the rounding scale
        fv = [pol * (x - vb) for x in (vg, vd, vs)]
        tol = 1e-12 * _rounding_scale(*fv, p)
        assert abs(i_k - i_r) <= tol, (name, k, i_k, i_r)
        # the NMOS-frame kernel function alone
        j_k = ekv_nframe(*fv, p["vt"], p["ispec"], p["n"], p["theta"], p["lam"], p["eta"], p["gamma"],
                         p["phi"], p["kbody"], p["vsat"], p["ns"], p["tau"], p["dv0"], p["ut"])[0]
        j_r = float(ekv_drain_current(*fv, **p))
        assert abs(j_k - j_r) <= tol


@pytest.mark.parametrize("gamma,kbody", [(0.0, 0.2), (0.65, -0.15), (0.3, 0.1)])
def test_body_effect_threshold_follows_its_law(sim, gamma, kbody):
    """An NMOS whose source sits V_S above the bulk carries the same current at V_GS = V_T + K(V_S) as a
    grounded-source device at V_GS = V_T, K(V) = kbody V + gamma (sqrt(phi + V) - sqrt(phi)) (no DIBL/CLM,
    drain far in saturation), with the subthreshold slope n unchanged; kernel = reference there."""
    fam = dataclasses.replace(_with_body(_fam(sim, "nmos"), gamma, kbody), eta=0.0, lam=0.0)
    p = _fam_args(fam)
    i0 = _mos(1, 1.5, p["vt"], 0.0, 0.0, p)[0]
    for vs in (0.2, 0.5, 0.9, 1.3):
        k = kbody * vs + gamma * (math.sqrt(fam.phi + vs) - math.sqrt(fam.phi))
        i = _mos(1, vs + 1.5, vs + p["vt"] + k, vs, 0.0, p)[0]
        assert i == pytest.approx(i0, rel=1e-4), vs  # V_M = V_S - eps^2 / (4 V_DS): 2e-5 V
        assert float(mos_current(1, vs + 1.5, vs + p["vt"] + k, vs, 0.0, **p)) == pytest.approx(i, rel=1e-12)
        # weak inversion: 60 mV x n lower gate gives a factor e^(0.06 / U_T) less current
        lo = _mos(1, vs + 1.5, vs + p["vt"] + k - 0.5 - 0.06 * fam.n, vs, 0.0, p)[0]
        hi = _mos(1, vs + 1.5, vs + p["vt"] + k - 0.5, vs, 0.0, p)[0]
        assert hi / lo == pytest.approx(math.exp(0.06 / p["ut"]), rel=2e-3)


@pytest.mark.parametrize("gamma", BODY)
def test_dibl_follows_its_law(sim, gamma):
    """Deep in weak inversion and saturation (no CLM) the current grows with V_DS as e^(D(a) / (n U_T)): D(a) =
    eta a (dibl_v0 = 0) or eta (sqrt(a + dibl_v0) - sqrt(dibl_v0)), a = sqrt(V_DS^2 + eps^2) - eps; and
    dibl_v0 = 0 is the linear law bit for bit (the form of files fitted before the square root)."""
    base = dataclasses.replace(_with_body(_fam(sim, "nmos"), gamma), lam=0.0, eta=0.05)
    if base.kbody is not None:  # null body law: V_M ~ 0 with the source on the bulk
        base = dataclasses.replace(base, gamma=0.0, kbody=0.0)
    for v0 in (0.0, 0.01, 0.002):
        p = _fam_args(dataclasses.replace(base, dibl_v0=v0))
        vg = p["vt"] - 0.8  # L_f = e^(x/2) (1 - e^(x/2) / 2 ...): 1e-5 relative at x ~ -24

        def dib(vds):  # plus, with the (null) body law, the source-side V_M = -eps^2 / (4 V_DS) ... term
            a = math.sqrt(vds * vds + EPS_VDS ** 2) - EPS_VDS
            vm = 0.5 * (vds - math.sqrt(vds * vds + EPS_VDS ** 2)) if base.kbody is not None else 0.0
            return p["eta"] * (a if v0 == 0.0 else math.sqrt(a + v0) - math.sqrt(v0)) + (p["n"] - 1.0) * vm

        i1 = _mos(1, 0.3, vg, 0.0, 0.0, p)[0]
        for vds in (0.6, 1.0, 1.5):
            i2 = _mos(1, vds, vg, 0.0, 0.0, p)[0]
            assert math.log(i2 / i1) * p["n"] * p["ut"] == pytest.approx(dib(vds) - dib(0.3), rel=1e-4), (v0, vds)
            assert float(mos_current(1, vds, vg, 0.0, 0.0, **p)) == pytest.approx(i2, rel=1e-12)
    lin = _fam_args(base)
    assert "dv0" in lin and lin["dv0"] == 0.0
    old = {k: v for k, v in lin.items() if k != "dv0"}
    assert _mos(1, 1.0, 0.5, 0.1, 0.0, lin)[0] == float(mos_current(1, 1.0, 0.5, 0.1, 0.0, **old))
    with pytest.raises(ValueError, match="dibl_v0"):
        dataclasses.replace(base, dibl_v0=-0.01)


def test_velocity_saturation_acts_along_the_channel(sim):
    """k_vsat divides by 1 + ... + k_vsat n U_T |L_f - L_r| (effective V_DS): at V_DS -> 0 the current is that
    of the model without it (to first order in V_DS), in saturation it is lower by the closed form; the
    same for a reversed device (drain and source swapped), and kernel = reference."""
    fam = dataclasses.replace(_fam(sim, "nmos"), eta=0.0, lam=0.0)
    p0 = _fam_args(fam)
    p1 = dict(p0, vsat=2.0)
    vg = p0["vt"] + 0.8
    for vds in (1e-4, 1e-3):
        r = _mos(1, vds, vg, 0.0, 0.0, p1)[0] / _mos(1, vds, vg, 0.0, 0.0, p0)[0]
        assert 1.0 - r < 2.0 * vds  # k_vsat n V_DS / 2 relative to 1 + theta V_ov
        rr = _mos(1, 0.0, vg, vds, 0.0, p1)[0] / _mos(1, 0.0, vg, vds, 0.0, p0)[0]
        assert rr == pytest.approx(r, rel=1e-9)  # symmetric in drain and source
    # saturation: L_r ~ 0, the two denominators give the ratio exactly
    ut, n = p0["ut"], p0["n"]
    lf = math.log1p(math.exp((vg - p0["vt"]) / n / (2 * ut)))
    want = (1 + p0["theta"] * n * ut * lf) / (1 + (p0["theta"] + 2.0) * n * ut * lf)
    got = _mos(1, 1.5, vg, 0.0, 0.0, p1)[0] / _mos(1, 1.5, vg, 0.0, 0.0, p0)[0]
    assert got == pytest.approx(want, rel=1e-6)
    assert float(mos_current(1, 1.5, vg, 0.0, 0.0, **p1)) == pytest.approx(_mos(1, 1.5, vg, 0.0, 0.0, p1)[0],
                                                                          rel=1e-12)


@pytest.mark.parametrize("gamma", [None, 0.65])
def test_two_slope_factors(sim, gamma):
    """With n_strong < n the subthreshold slope is n U_T ln 10 per decade and, far above threshold (no theta,
    vsat, DIBL, CLM), sqrt(I_D) rises with V_G as sqrt(beta / (2 n_strong)) in saturation; n_strong = n is
    the one-factor model exactly; kernel = reference."""
    base = dataclasses.replace(_with_body(_fam(sim, "nmos"), gamma), eta=0.0, lam=0.0, theta=0.0, vsat=0.0)
    if gamma is None:  # the constant-n body law (kbody = n - 1, gamma 0): threshold rises as (n - 1) V_S
        base = dataclasses.replace(base, kbody=1.6)
    fam = dataclasses.replace(base, n=2.6, n_strong=1.4, tau=2.0)
    p = _fam_args(fam)
    ut, w = p["ut"], 1e-6
    beta = fam.kp * w / fam.l_ref
    vs = 0.3
    vt_s = p["vt"] + fam.kbody * vs + fam.gamma * (math.sqrt(fam.phi + vs) - math.sqrt(fam.phi))
    # weak inversion, 0.8-0.9 V below threshold: one decade per n U_T ln 10 of gate voltage
    v1 = vs + vt_s - 0.9
    dv = 0.1
    r = _mos(1, vs + 1.0, v1 + dv, vs, 0.0, p)[0] / _mos(1, vs + 1.0, v1, vs, 0.0, p)[0]
    assert math.log(r) == pytest.approx(dv / (fam.n * ut), rel=2e-3)
    # strong inversion, saturation
    vg = np.array([0.9, 1.0]) + vs + vt_s
    sq = [math.sqrt(_mos(1, vs + 3.0, g, vs, 0.0, p)[0]) for g in vg]
    assert (sq[1] - sq[0]) / 0.1 == pytest.approx(math.sqrt(beta / (2 * fam.n_strong)), rel=5e-3)
    for g in vg:
        assert float(mos_current(1, vs + 3.0, g, vs, 0.0, **p)) == pytest.approx(_mos(1, vs + 3.0, g, vs, 0.0, p)[0],
                                                                             rel=1e-12)
    # n_strong = n: the one-factor model, bit for bit
    one = _fam_args(dataclasses.replace(fam, n_strong=None))
    same = _fam_args(dataclasses.replace(fam, n_strong=fam.n, tau=7.0))
    for g in (0.2, 0.7, 1.4):
        assert _mos(1, 0.8, g, 0.1, 0.0, one) == _mos(1, 0.8, g, 0.1, 0.0, same)


def test_slope_factor_parameters_are_checked(sim):
    fam = _fam(sim, "nmos")
    fam = _with_body(fam, 0.5)
    for bad in (dict(n_strong=0.9), dict(n_strong=math.inf), dict(tau=0.0), dict(tau=math.nan),
                dict(n_strong=1.1, kbody=None, gamma=0.0)):
        with pytest.raises(ValueError, match="n_strong|tau"):
            dataclasses.replace(fam, **bad)


def test_body_effect_law_reduces_to_constant_n(sim):
    """kbody = n - 1 with gamma = 0 is the constant-slope-factor model (no body law) up to rounding, and the
    no-law model's source-referred threshold rises as (n - 1) V_S."""
    fam = _fam(sim, "nmos")
    p0 = _fam_args(_with_body(fam, None))
    p1 = _fam_args(_with_body(fam, 0.0, fam.n - 1.0))
    rng = np.random.default_rng(7)
    for _ in range(200):
        vd, vg, vs = rng.uniform(0.0, 1.5, 3)
        a, b = _mos(1, vd, vg, vs, 0.0, p0), _mos(1, vd, vg, vs, 0.0, p1)
        for x, y in zip(a, b):
            assert x == pytest.approx(y, rel=1e-9, abs=1e-22)


def test_pmos_mirroring_and_current_direction(sim):
    """A PMOS is the mirrored NMOS equation; with source at VDD and gate/drain low its current flows out
    of the drain (negative current into the drain); an NMOS with the mirrored voltages carries the
    opposite current."""
    p = _fam_args(_fam(sim, "pmos"))
    vdd = 1.2
    i_p = _mos(-1, 0.0, 0.0, vdd, vdd, p)[0]
    assert i_p < 0
    i_n = _mos(+1, vdd - 0.0, vdd - 0.0, vdd - vdd, 0.0, p)[0]
    assert i_p == pytest.approx(-i_n, rel=1e-14)
    # drain/source symmetry of the charge-based model: swapping D and S reverses the current
    for vd, vg, vs in ((0.3, 0.9, 0.1), (1.0, 0.5, 0.2), (0.05, 1.2, 0.0)):
        pn = _fam_args(_fam(sim, "nmos"))
        assert _mos(1, vd, vg, vs, 0.0, pn)[0] == pytest.approx(-_mos(1, vs, vg, vd, 0.0, pn)[0], rel=1e-12)


def test_rram_kernel_equals_reference():
    rng = np.random.default_rng(2)
    rp = RRAMParams()
    for _ in range(300):
        r = math.exp(rng.uniform(math.log(3e3), math.log(5e5)))
        v = rng.uniform(-1.2, 1.2)
        for vnl in (float(rp.vnl(r)), 0.0):
            i_k, g_k = rram_eval(v, r, vnl)
            i_r = float(rram_current(v, r, vnl))
            assert i_k == pytest.approx(i_r, rel=1e-13, abs=1e-30)
            if vnl > 0:
                assert i_k == pytest.approx(float(rp.current(v, r)), rel=1e-13)
            h = 1e-6
            fd = (float(rram_current(v + h, r, vnl)) - float(rram_current(v - h, r, vnl))) / (2 * h)
            assert g_k == pytest.approx(fd, rel=1e-7)


# ------------------------------------------------------------------------------------------------------
# (b) analytic derivatives == central finite differences
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("gamma", BODY)
@pytest.mark.parametrize("name", FAMILIES)
def test_mos_derivatives_match_finite_differences(sim, name, gamma, variant):
    rng = np.random.default_rng(3)
    fam = _variant(_with_body(_fam(sim, name), gamma), variant)
    pol = fam.polarity
    h = 1e-6
    worst = 0.0
    for k in range(300):
        p = _fam_args(fam, rng.uniform(230.0, 400.0))
        # gate from deep weak to strong inversion, any drain/source order (incl. V_DS ~ 0)
        vb = 0.0 if pol > 0 else 1.2
        vs = rng.uniform(0.0, 0.4) if pol > 0 else rng.uniform(0.8, 1.2)
        vg = rng.uniform(0.0, 1.3) if pol > 0 else rng.uniform(-0.1, 1.2)
        vd = vs + (rng.normal(0.0, 0.02) if k % 4 == 0 else rng.uniform(-0.6, 0.8))
        x = [vd, vg, vs, vb]
        i0, *g = _mos(pol, *x, p)
        gscale = sum(abs(gi) for gi in g[:3])
        for j in range(4):
            xp = list(x)
            xm = list(x)
            xp[j] += h
            xm[j] -= h
            fd = (_mos(pol, *xp, p)[0] - _mos(pol, *xm, p)[0]) / (2 * h)
            err = abs(g[j] - fd)
            assert err <= 1e-5 * abs(fd) + 1e-9 * gscale, (name, k, j, x, g[j], fd)
            worst = max(worst, err / max(abs(fd), 1e-300))
    assert worst < 1e-5


# ------------------------------------------------------------------------------------------------------
# (c) weak-to-strong inversion: continuity, monotonicity, subthreshold slope, strong-inversion law
# ------------------------------------------------------------------------------------------------------
def _transfer(sim, name, vgs, vds=1.2, temp_k=T_NOM):
    """|I_D| and |dI_D/dV_GS| versus V_GS magnitude at |V_DS| = vds (source at the bulk)."""
    fam = _fam(sim, name)
    p = _fam_args(fam, temp_k)
    i = np.empty(vgs.size)
    g = np.empty(vgs.size)
    for k, v in enumerate(vgs):
        if fam.polarity > 0:
            r = _mos(1, vds, v, 0.0, 0.0, p)
            i[k], g[k] = r[0], r[2]
        else:  # source and bulk at VDD = vds, gate at VDD - v, drain at 0
            r = _mos(-1, 0.0, vds - v, vds, vds, p)
            i[k], g[k] = -r[0], r[2]  # d(-I)/dV_GS = dI/dV_G since V_G = vds - V_GS
    return i, g, fam, p


@pytest.mark.parametrize("name", FAMILIES)
def test_weak_to_strong_inversion_continuity(sim, name):
    dv = 1e-3
    vgs = np.arange(0.0, 1.2 + dv / 2, dv)
    i, g, fam, p = _transfer(sim, name, vgs)
    # monotone, positive
    assert np.all(i > 0) and np.all(g > 0) and np.all(np.diff(i) > 0)
    # g is the derivative of I, interval by interval (trapezoid rule; error ~ dv^2 / (12 (n U_T)^2))
    di = np.diff(i)
    trap = 0.5 * dv * (g[1:] + g[:-1])
    assert np.max(np.abs(trap / di - 1.0)) < 1e-3
    # no kink in g: its log-slope never exceeds the weak-inversion maximum 1/(n U_T)
    dlng = np.abs(np.diff(np.log(g))) / dv
    assert np.max(dlng) <= 1.02 / (p["n"] * p["ut"])
    # no jump in I: its log-slope neither
    assert np.max(np.diff(np.log(i)) / dv) <= 1.02 / (p["n"] * p["ut"])


@pytest.mark.parametrize("name", FAMILIES)
def test_subthreshold_slope_and_strong_inversion(sim, name):
    fam = _fam(sim, name)
    vt = fam.vt(T_NOM)
    lo, hi = vt - 0.40, vt - 0.30  # well below threshold (DIBL at V_DS = 1.2 V lowers it further)
    (i_lo, i_hi), _, _, p = _transfer(sim, name, np.array([lo, hi]))
    swing = (hi - lo) / math.log10(i_hi / i_lo)  # V per decade
    ideal = p["n"] * p["ut"] * math.log(10.0)
    assert swing == pytest.approx(ideal, rel=0.03), (swing, ideal)
    # strong inversion: the last 100 mV of gate drive raise the current by far less than an exponential
    (i_a, i_b), _, _, _ = _transfer(sim, name, np.array([1.1, 1.2]))
    expo = math.exp(0.1 / (p["n"] * p["ut"]))
    assert i_b / i_a > 1.0
    assert i_b / i_a < 0.15 * expo, (i_b / i_a, expo)


# ------------------------------------------------------------------------------------------------------
# (d) temperature trends
# ------------------------------------------------------------------------------------------------------
TEMPS_K = (233.15, 300.15, 398.15)


@pytest.mark.parametrize("name", FAMILIES)
def test_temperature_trends(sim, name):
    fam = _fam(sim, name)
    vts = [fam.vt(t) for t in TEMPS_K]
    assert vts[0] > vts[1] > vts[2]
    slope = (vts[2] - vts[0]) / (TEMPS_K[2] - TEMPS_K[0])
    assert -1.2e-3 <= slope <= -0.4e-3  # physics.md: about -0.5 to -1 mV/K
    # high gate drive: mobility wins, the current falls when hot (|V_GS| = |V_DS| = 1.2 V core; the
    # thick-oxide device at its own high drive 3.3 V)
    v_hi = 3.3 if name == "nmos_thick" else 1.2
    on = [_transfer(sim, name, np.array([v_hi]), vds=v_hi, temp_k=t)[0][0] for t in TEMPS_K]
    assert on[0] > on[1] > on[2], on
    # deep subthreshold (V_GS = 0): the threshold drop and U_T win, the current rises when hot
    off = [_transfer(sim, name, np.array([0.0]), temp_k=t)[0][0] for t in TEMPS_K]
    assert off[0] < off[1] < off[2], off
    assert off[2] / off[1] > 10.0


# ------------------------------------------------------------------------------------------------------
# (e) Pelgrom scaling and sampled mismatch
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_pelgrom_scaling(sim, name):
    fam = _fam(sim, name)
    w, l = 0.6e-6, 0.13e-6
    for f in (fam.sigma_vt, fam.sigma_beta):
        s = f(w, l)
        assert f(4 * w, 4 * l) == pytest.approx(s / 4, rel=1e-12)
        assert f(4 * w, l) == pytest.approx(s / 2, rel=1e-12)
        assert f(w, 4 * l) == pytest.approx(s / 2, rel=1e-12)
        assert f(2 * w, 2 * l) == pytest.approx(s / 2, rel=1e-12)
    assert fam.sigma_vt(1e-6, 1e-6) == pytest.approx(fam.a_vt / 1e-6, rel=1e-12)


def test_simulator_mismatch_sigmas(sim):
    svt, sb = sim.mismatch_sigmas()
    for k, m in enumerate(sim.tables.mos):
        fam = _fam(sim, m.family)
        if m.mismatch:
            assert svt[k] == pytest.approx(fam.a_vt / math.sqrt(m.size.w * m.size.l), rel=1e-12)
            assert sb[k] == pytest.approx(fam.a_beta / math.sqrt(m.size.w * m.size.l), rel=1e-12)
        else:
            assert svt[k] == 0.0 and sb[k] == 0.0


def _check_normal_sample(x, sigma, n_tests):
    """Two-sided exact tests (chi-square on the variance, normal on the mean) at P_FAMILY / n_tests."""
    n = x.size
    alpha = P_FAMILY / n_tests
    chi = (n - 1) * np.var(x, ddof=1) / sigma ** 2
    lo, hi = stats.chi2.ppf(alpha / 2, n - 1), stats.chi2.ppf(1 - alpha / 2, n - 1)
    assert lo <= chi <= hi, (np.std(x, ddof=1), sigma, lo, chi, hi)
    z = abs(np.mean(x)) / (sigma / math.sqrt(n))
    assert z <= stats.norm.ppf(1 - alpha / 2), (np.mean(x), sigma, z)


def test_sampled_mismatch_has_pelgrom_sigma(sim):
    n = 40_000
    inst = draw_instances(np.random.default_rng(11), n, sim, 27.0, Programming(), Cell.C2T2R,
                          frozenset({Variability.MISMATCH}))
    svt, sb = sim.mismatch_sigmas()
    mm = svt > 0
    n_tests = 2 * 2 * int(mm.sum())  # (vt, beta) x (variance, mean) per mismatched transistor
    for k in np.nonzero(mm)[0]:
        _check_normal_sample(inst.dvt[:, k], svt[k], n_tests)
        _check_normal_sample(inst.dbeta[:, k], sb[k], n_tests)
    assert np.all(inst.dvt[:, ~mm] == 0.0) and np.all(inst.dbeta[:, ~mm] == 0.0)
    # independent between transistors: |correlation| of each pair within its null distribution
    # (sqrt(n) * r ~ N(0, 1) for independent normals)
    idx = np.nonzero(mm)[0]
    c = np.corrcoef(inst.dvt[:, idx].T)
    iu = np.triu_indices(len(idx), 1)
    zmax = stats.norm.ppf(1 - P_FAMILY / (2 * len(iu[0])))
    assert np.max(np.abs(c[iu])) * math.sqrt(n) <= zmax


def test_sampled_global_variation_is_shared_per_family(sim):
    n = 40_000
    inst = draw_instances(np.random.default_rng(12), n, sim, 27.0, Programming(), Cell.C2T2R,
                          frozenset({Variability.GLOBAL}))
    fams = [m.family for m in sim.tables.mos]
    for f in FAMILIES:
        cols = [k for k, ff in enumerate(fams) if ff == f]
        assert np.all(inst.dvt[:, cols] == inst.dvt[:, cols[:1]])
        _check_normal_sample(inst.dvt[:, cols[0]], sim.tech.sigma_vt_global, 2 * 2 * len(FAMILIES))
        _check_normal_sample(inst.dbeta[:, cols[0]], sim.tech.sigma_beta_global, 2 * 2 * len(FAMILIES))


# ------------------------------------------------------------------------------------------------------
# (f) RRAM
# ------------------------------------------------------------------------------------------------------
def test_rram_low_field_resistance_and_nonlinearity():
    rp = RRAMParams()
    prog = Programming()
    r_l, r_h = rp.lrs_median(prog), rp.hrs_median(prog)
    h = 1e-7
    for r in (r_l, r_h, 2e5):
        g0 = (rp.current(h, r) - rp.current(-h, r)) / (2 * h)
        assert 1.0 / g0 == pytest.approx(r, rel=1e-9)
        assert rram_eval(0.0, r, float(rp.vnl(r)))[1] == pytest.approx(1.0 / r, rel=1e-14)
    v = 0.3  # a read-level voltage across the device

    def chord_ratio(r):  # apparent resistance V/I at v relative to the low-field R
        return (v / rp.current(v, r)) / r

    assert 1.0 - chord_ratio(r_l) < 0.02  # LRS nearly ohmic
    assert 1.0 - chord_ratio(r_h) > 0.05  # HRS clearly super-linear (sinh)
    assert chord_ratio(2e5) < chord_ratio(r_h) < chord_ratio(r_l)
    assert rp.vnl(r_l) > 2 * rp.vnl(r_h)  # the filament thins: V_nl falls from LRS to HRS


def test_rram_temperature():
    rp = RRAMParams()
    prog = Programming()
    r_h = rp.hrs_median(prog)
    r_l = rp.lrs_median(prog)
    hot, nom, cold = (float(rp.at_temperature(r_h, t)) for t in (398.15, T_NOM, 233.15))
    assert nom == pytest.approx(r_h, rel=1e-12)
    assert hot < nom < cold  # HRS thermally activated
    # LRS: nearly metallic, changes far less than the HRS
    l_hot = float(rp.at_temperature(r_l, 398.15))
    assert abs(l_hot / r_l - 1) < 0.5 * abs(hot / r_h - 1)


def test_rram_lrs_statistics(sim):
    rp = sim.rram
    for ic in (20e-6, 50e-6, 100e-6):
        assert rp.lrs_median(Programming(i_compliance=ic)) == pytest.approx(rp.lrs_v0 / ic, rel=1e-12)
    sig = [rp.lrs_sigma(Programming(i_compliance=ic)) for ic in (100e-6, 50e-6, 20e-6, 10e-6)]
    assert all(a < b for a, b in zip(sig, sig[1:]))
    assert rp.lrs_median(Programming()) == pytest.approx(6988.0, rel=1e-9)
    # sampled LRS (weight +1 -> BL in LRS) at T_NOM: median and log-spread
    n = 40_000
    prog = Programming(i_compliance=30e-6)
    inst = draw_instances(np.random.default_rng(13), n, sim, T_NOM - 273.15, prog, Cell.C2T2R,
                          frozenset({Variability.D2D, Variability.C2C}))
    r = inst.r_bl[inst.weight > 0]
    med = rp.lrs_median(prog)
    n_tests = 3
    # fraction below the median ~ Binomial(n, 1/2)
    k = int(np.sum(r < med))
    alpha = P_FAMILY / n_tests
    assert stats.binom.ppf(alpha / 2, r.size, 0.5) <= k <= stats.binom.ppf(1 - alpha / 2, r.size, 0.5)
    _check_normal_sample(np.log(r) - math.log(med), rp.lrs_sigma(prog), n_tests)


# ------------------------------------------------------------------------------------------------------
# (g) the kernel's Jacobian assembly and its residual
# ------------------------------------------------------------------------------------------------------
def _kernel_arrays(sim, rng, vdd, temp_c, corner):
    svt, sb = sim.mismatch_sigmas()
    vt0, isp0 = sim.nominal_elements(temp_c, corner)
    m = len(vt0)
    dvt = svt * rng.standard_normal(m)
    dbeta = sb * rng.standard_normal(m)
    r = np.exp(rng.uniform(math.log(5e3), math.log(2e5), 2))
    vnl = np.array([float(sim.rram.vnl(r[0])), float(sim.rram.vnl(r[1])) if rng.random() < 0.7 else 0.0])
    return dict(vt=vt0 + dvt, isp=isp0 * (1 + dbeta), r=r, vnl=vnl, dvt=dvt, dbeta=dbeta,
                ut=thermal_voltage(celsius_to_kelvin(temp_c)), mos_par=sim.mos_par_at(temp_c, corner),
                vfix=np.array([0.0, vdd, 0.0, sim.v_wl]), tabs=sim.tabs_at(temp_c, corner))


def _call_eval(sim, a, v, se, dse, want_jac=True):
    t = sim.tables
    nv = t.nv
    f = np.empty(nv)
    J = np.empty((nv, nv))
    T = np.empty(nv)
    gq = np.empty(nv)
    ivdd, tq = _eval(v, se, dse, nv, t.mos_nodes, t.mos_pol, a["mos_par"], t.mos_mult, a["vt"], a["isp"],
                     a["tabs"], t.rr_nodes, a["r"], a["vnl"], sim.design.gmin, a["ut"], a["vfix"], t.se_idx, t.vdd_idx,
                     want_jac, f, J, T, gq)
    return f, ivdd, J, T, gq, tq


def test_eval_jacobian_matches_finite_differences(sim, binned_tech):
    _check_jacobian(sim)
    _check_jacobian(ReadSimulator(binned_tech))  # body-effect laws, junction shunts (gjun), vsat
    _check_jacobian(ReadSimulator("sky130"))  # every transistor from the BSIM4 current tables


def _check_jacobian(sim):
    rng = np.random.default_rng(21)
    nv = sim.tables.nv
    h = 1e-6
    for trial in range(60):
        vdd = rng.uniform(0.4, 1.2)
        a = _kernel_arrays(sim, rng, vdd, float(rng.choice([-40.0, 27.0, 125.0])),
                           str(rng.choice(["tt", "ff", "ss", "fs", "sf"])))
        v = rng.uniform(0.0, vdd, nv)
        se = float(rng.uniform(0.0, vdd))
        dse = float(rng.normal(0.0, vdd / 50e-12))
        f, ivdd, J, T, gq, tq = _call_eval(sim, a, v, se, dse)
        Jfd = np.empty((nv, nv))
        gqfd = np.empty(nv)
        for j in range(nv):
            e = np.zeros(nv)
            e[j] = h
            fp, ip = _call_eval(sim, a, v + e, se, dse, False)[:2]
            fm, im = _call_eval(sim, a, v - e, se, dse, False)[:2]
            Jfd[:, j] = (fp - fm) / (2 * h)
            gqfd[j] = (ip - im) / (2 * h)
        fp, ip = _call_eval(sim, a, v, se + h, dse, False)[:2]
        fm, im = _call_eval(sim, a, v, se - h, dse, False)[:2]
        Tfd = (fp - fm) / (2 * h) * dse
        tqfd = (ip - im) / (2 * h) * dse
        for i in range(nv):
            scale = np.max(np.abs(J[i]))
            np.testing.assert_allclose(J[i], Jfd[i], rtol=1e-5, atol=1e-8 * scale, err_msg=f"row {i}")
            assert abs(T[i] - Tfd[i]) <= 1e-5 * abs(Tfd[i]) + 1e-8 * scale * abs(dse), f"T row {i}"
        np.testing.assert_allclose(gq, gqfd, rtol=1e-5, atol=1e-8 * np.max(np.abs(gq)))
        assert tq == pytest.approx(tqfd, rel=1e-5, abs=1e-8 * np.max(np.abs(gq)) * abs(dse))


def test_eval_residual_equals_reference_assembly(sim, binned_tech):
    """The kernel's KCL residual and supply current equal the reference's, assembled independently
    from the node names (same instance, random states); also with body laws and junction shunts."""
    _check_residual(sim)
    _check_residual(ReadSimulator(binned_tech))
    _check_residual(ReadSimulator("sky130"))  # the tables: kernel and reference interpolate independently


def test_junction_shunts_set_the_precharged_bit_line(binned_tech):
    """gjun is a conductance from each drain/source to the bulk: with it the precharged (SE = 0) bit line,
    held only by the cross-coupled NMOS's sub-threshold current, settles lower, and the kernel's DC state
    satisfies the reference's KCL; the shunt current at that state is gjun times the junction voltages."""
    import dataclasses

    from arraysim.kernels.transient import dc_operating_point
    from arraysim.units import celsius_to_kelvin, thermal_voltage

    def dc(tech):
        s = ReadSimulator(tech)
        t = s.tables
        vt0, isp0 = s.nominal_elements(27.0, "tt")
        r, vnl = np.array([7e3, 60e3]), np.array([s.rram.vnl(7e3), s.rram.vnl(60e3)])
        v = np.full(t.nv, 0.6)
        v[t.out_nodes] = 1.2
        assert dc_operating_point(v, 1.2, t.nv, t.mos_nodes, t.mos_pol, s.mos_par, t.mos_mult, vt0, isp0,
                                  s.tabs_at(27.0, "tt"), t.rr_nodes, r, vnl, s.design.gmin, thermal_voltage(celsius_to_kelvin(27.0)),
                                  s._vfix(1.2, None), t.se_idx, t.vdd_idx, s.cmat, s.bse, *s.qch_at("tt"),
                                  *s.jn_at("tt", 27.0), *s.ov_at("tt"), t.out_nodes) == 1
        f, _ = ReferenceCircuit(s, 1.2, 27.0, "tt", 7e3, 60e3).currents(v, 0.0)
        assert np.max(np.abs(f)) < 1e-14  # A; the shunt current on BL is ~1e-10 A
        return v[t.node_names.index("BL")], s

    no_shunt = dataclasses.replace(binned_tech, bins=tuple(
        dataclasses.replace(b, params=dataclasses.replace(b.params, gjun=0.0)) for b in binned_tech.bins))
    v_with, s = dc(binned_tech)
    v_without, _ = dc(no_shunt)
    assert s.mos_par[:, 7].max() == 5e-12 and v_without - v_with > 0.01  # 1.036 -> 1.015 V


def _check_residual(sim):
    rng = np.random.default_rng(22)
    nv = sim.tables.nv
    for trial in range(60):
        vdd = rng.uniform(0.4, 1.2)
        temp_c = float(rng.choice([-40.0, 27.0, 125.0]))
        corner = str(rng.choice(["tt", "ff", "ss", "fs", "sf"]))
        a = _kernel_arrays(sim, rng, vdd, temp_c, corner)
        ref = ReferenceCircuit(sim, vdd, temp_c, corner, a["r"][0], a["r"][1], dvt=a["dvt"],
                               dbeta=a["dbeta"], ohmic_blb=a["vnl"][1] == 0.0)
        v = rng.uniform(0.0, vdd, nv)
        se = float(rng.uniform(0.0, vdd))
        f, ivdd = _call_eval(sim, a, v, se, 0.0, False)[:2]
        f_r, ivdd_r = ref.currents(v, se)
        # per-node scale: sum of |element currents| is not available; use the largest |f| and |ivdd|
        scale = max(np.max(np.abs(f)), abs(ivdd), 1e-15)
        np.testing.assert_allclose(f, f_r, rtol=1e-10, atol=1e-11 * scale)
        assert ivdd == pytest.approx(ivdd_r, rel=1e-10, abs=1e-11 * scale)


def test_simulator_uses_size_bins(binned_tech):
    """Kernel arrays, corner shifts, mismatch sigmas and node capacitances take each transistor's bin."""
    from arraysim.circuits.pcsa import node_caps
    from arraysim.options import Corner
    from arraysim.units import celsius_to_kelvin

    t = binned_tech
    s = ReadSimulator(t)
    g = ReadSimulator("generic130")
    names = list(s.transistor_names)
    nb, pb, tb = (b.params for b in t.bins)
    tk = celsius_to_kelvin(27.0)
    for nm, want in (("MN_DIS", nb), ("MN_X_Q", t.nmos), ("MP_PRE_Q", pb), ("MP_X_QB", pb), ("MA_BL", tb),
                     ("ML_BLB", tb)):
        i = names.index(nm)
        m = s.tables.mos[i]
        assert s.mos_params[i] is want or s.mos_params[i] == want, nm
        # slope factor at T_NOM with the bin's per-temperature correction (MN_DIS: interpolated between its
        # -40 and 125 degC rows, 1.08 + (1 - (27 + 40) / 165) ... = factor at 27 degC)
        nf = want.corr_at(T_NOM)[2]
        n_nom = want.n * nf
        np.testing.assert_array_equal(s.mos_par[i], (n_nom,) + want.shape_params(m.size.l)[1:] + (
            want.gjun, want.vsat_at(m.size.l, T_NOM), n_nom if want.n_strong is None else want.n_strong, want.tau,
            want.dibl_v0))
    assert nb.corr_at(T_NOM)[2] == pytest.approx(1.08 + (T_NOM - 233.15) / 165.0 * (0.95 - 1.08), rel=1e-12)
    # the corner's slope-factor factor: the bin's own (ff 1.1), else the technology's of the polarity (fs)
    i = names.index("MN_DIS")
    assert s.mos_par_at(27.0, "ff")[i, 0] == pytest.approx(s.mos_par_at(27.0)[i, 0] * 1.1, rel=1e-14)
    assert s.mos_par_at(27.0, "ss")[i, 0] == s.mos_par_at(27.0)[i, 0]
    j = names.index("MN_X_Q")
    assert s.mos_par_at(27.0, "fs")[j, 0] == pytest.approx(t.nmos.n * 0.93, rel=1e-14)
    k = names.index("MP_PRE_Q")  # two slope factors: n scales, n_strong does not
    assert s.mos_par_at(-40.0, "fs")[k, 0] == pytest.approx(pb.n * 1.06, rel=1e-14)
    assert s.mos_par_at(-40.0, "fs")[k, 9] == pb.n_strong
    vt, isp = s.nominal_elements(27.0, "ff")
    i = names.index("MN_DIS")
    m = s.tables.mos[i]
    assert vt[i] == pytest.approx(nb.vt(tk, -0.06), rel=1e-14)  # the bin's own ff shift
    assert isp[i] == pytest.approx(nb.ispec(m.size.w, m.size.l, tk, 1.12, 1.1), rel=1e-14)
    # one slope factor: I_spec = 2 n beta U_T^2 with the corrected, corner-scaled n
    c27 = nb.corr_at(tk)
    assert vt[i] == pytest.approx(nb.vt0 + nb.dvt_dt * (tk - T_NOM) + c27[0] - 0.06, rel=1e-14)
    assert isp[i] == pytest.approx(2 * nb.n * c27[2] * 1.1 * nb.kp * 1.12 * c27[1] * m.size.w / m.size.l
                                   * thermal_voltage(tk) ** 2, rel=1e-12)
    j = names.index("MN_X_Q")
    ff = t.corner("ff")
    assert vt[j] == pytest.approx(t.nmos.vt(tk, ff.dvt_n), rel=1e-14)  # family default, technology shift
    k = names.index("MA_BL")
    vt_fs, _ = s.nominal_elements(27.0, "fs")
    assert vt_fs[k] == pytest.approx(tb.vt(tk, -0.03), rel=1e-14)
    svt, _ = s.mismatch_sigmas()
    assert svt[i] == pytest.approx(nb.a_vt / math.sqrt(m.size.w * m.size.l), rel=1e-12)
    assert svt[j] == pytest.approx(g.mismatch_sigmas()[0][j], rel=1e-12)
    cg, cb = node_caps(g.design, g.tech), node_caps(s.design, t)
    d = s.design
    assert cb["SL"] - cg["SL"] == pytest.approx((nb.cj - t.nmos.cj) * d.mn_dis.w, rel=1e-9)
    assert cb["Q"] - cg["Q"] == pytest.approx(2 * (pb.cov - t.pmos.cov) * d.mp_x.w, rel=1e-9)
    assert cb["M"] - cg["M"] == pytest.approx((tb.cj - t.nmos_thick.cj) * d.access.w, rel=1e-9)
    np.testing.assert_allclose(s.cap, [cb[n] for n in s.tables.node_names])
    info = {r["name"]: r["parameter_set"] for r in s.describe()["transistors"]}
    assert info["MN_DIS"] == "bin 1/0.13 um" and info["MN_X_Q"] == "family default"
    # a bin's own parameter set at a corner (DeviceBin.corner_params): the discharge NMOS at fs, with the
    # technology's fs shift (it lists none of its own) on top; the PMOS bin at ff; elsewhere the bin's set
    nfs, pff = dict(t.bins[0].corner_params)[Corner.FS], dict(t.bins[1].corner_params)[Corner.FF]
    assert s.mos_params_at("fs")[i] is nfs and s.mos_params_at("ss")[i] is nb and s.mos_params_at(None)[i] is nb
    ip = names.index("MP_X_Q")
    assert s.mos_params_at("ff")[ip] is pff and s.mos_params_at("fs")[ip] is pb
    assert t.device("nmos", m.size.w, m.size.l, "fs") is nfs and t.device("nmos", m.size.w, m.size.l) is nb
    fs = t.corner("fs")
    np.testing.assert_array_equal(s.mos_par_at(27.0, "fs")[i], nfs.kernel_params(m.size.l, tk, fs.n_n))
    assert s.mos_par_at(27.0, "fs")[i, 0] == pytest.approx(nfs.n * nfs.corr_at(tk)[2] * 0.93, rel=1e-14)
    vt_fs, isp_fs = s.nominal_elements(27.0, "fs")
    assert vt_fs[i] == pytest.approx(nfs.vt(tk, fs.dvt_n), rel=1e-14) and nfs.vt(tk) != nb.vt(tk)
    assert isp_fs[i] == pytest.approx(nfs.ispec(m.size.w, m.size.l, tk, fs.mu_n, fs.n_n), rel=1e-14)
    mp = s.tables.mos[ip]
    np.testing.assert_array_equal(s.mos_par_at(-40.0, "ff")[ip], pff.kernel_params(mp.size.l, celsius_to_kelvin(-40.0)))
    vt_ff, _ = s.nominal_elements(27.0, "ff")
    assert vt_ff[ip] == pytest.approx(pff.vt(tk, t.corner("ff").dvt_p), rel=1e-14)


def test_capacitance_matrix():
    """Without overlap coupling C = diag(node caps); with it, the overlap capacitors of every transistor
    side: Miller couplings between unknown nodes, couplings to SE, grounded caps to the DC rails."""
    from arraysim.circuits.pcsa import PCSADesign, capacitance, node_caps

    g = ReadSimulator("generic130")
    np.testing.assert_array_equal(g.cmat, np.diag(g.cap))
    assert not np.any(g.bse)
    t = g.tech
    d = PCSADesign.for_technology(t).with_(overlap_coupling=True)
    for circuit in ("pcsa", "xnor"):
        s = ReadSimulator(t, d, circuit=circuit)
        C, b = s.cmat, s.bse
        names = list(s.tables.node_names)
        assert np.array_equal(C, C.T) and np.all(C - np.diag(np.diag(C)) <= 0)
        ground = np.diag(C) + (C.sum(axis=1) - np.diag(C)) - b
        assert np.all(ground > 0)
        iq, iqb = names.index("Q"), names.index("QB")
        p, n, a = t.pmos, t.nmos, t.nmos_thick
        # Q-QB: drain overlap of the cross-coupled pair on each side (MP_X_Q, MN_X_Q, MP_X_QB, MN_X_QB)
        assert -C[iq, iqb] == pytest.approx(2 * (p.cov * d.mp_x.w + n.cov * d.mn_x.w), rel=1e-12)
        assert b[iq] == pytest.approx(p.cov * d.mp_pre.w, rel=1e-12)  # precharge PMOS drain to SE
        isl = names.index("SL")
        assert b[isl] == pytest.approx(n.cov * d.mn_dis.w, rel=1e-12)
        # SL grounded: the junction of the discharge switch, the wires, the 2 (rows - 1) leakage sources
        nc = node_caps(d, t, circuit)
        assert ground[isl] == pytest.approx(nc["SL"] + 2 * (d.rows - 1) * a.cov * d.access.w, rel=1e-12)
        # Q grounded: channel parts of the gates on Q (not the overlaps) + junctions + load + overlaps to VDD
        assert nc["Q"] == pytest.approx(node_caps(PCSADesign.for_technology(t), t, circuit)["Q"]
                                        - 2 * (p.cov * d.mp_x.w + n.cov * d.mn_x.w), rel=1e-12)
        C2, _ = capacitance(d, t, circuit)
        np.testing.assert_array_equal(C2, C)


def test_per_temperature_corrections():
    """MosParams.t_corr: rows (temp_c, dvt, mu, n) interpolated linearly in temperature, held outside the rows;
    they move the threshold, the current factor and the weak-inversion slope factor (I_spec and n_s too
    when there is one slope factor); no rows = the laws alone; bad rows are refused."""
    g = ReadSimulator("generic130").tech.nmos
    rows = ((-40.0, 0.02, 1.1, 1.08), (27.0, 0.0, 1.0, 1.0), (125.0, -0.03, 0.9, 0.94))
    p = dataclasses.replace(g, t_corr=rows)
    k = celsius_to_kelvin
    assert p.corr_at(k(-40.0)) == pytest.approx((0.02, 1.1, 1.08), abs=1e-12)
    assert p.corr_at(k(-80.0)) == pytest.approx((0.02, 1.1, 1.08), abs=1e-12)  # held below the first row
    assert p.corr_at(k(200.0)) == pytest.approx((-0.03, 0.9, 0.94), abs=1e-12)  # held above the last
    f = (76.0 - 27.0) / 98.0
    assert p.corr_at(k(76.0)) == pytest.approx((-0.03 * f, 1 - 0.1 * f, 1 - 0.06 * f), rel=1e-12)
    assert g.corr_at(k(-40.0)) == (0.0, 1.0, 1.0)
    tk = k(-40.0)
    assert p.vt(tk, 0.01) == pytest.approx(g.vt(tk, 0.01) + 0.02, rel=1e-14)
    assert p.ispec(1e-6, 0.13e-6, tk, 1.2) == pytest.approx(g.ispec(1e-6, 0.13e-6, tk, 1.2) * 1.1 * 1.08, rel=1e-14)
    assert p.kernel_params(0.13e-6, tk)[0] == pytest.approx(g.n * 1.08, rel=1e-14)
    assert p.kernel_params(0.13e-6, tk, 1.1)[9] == pytest.approx(g.n * 1.08 * 1.1, rel=1e-14)  # n_s = n
    two = dataclasses.replace(g, t_corr=rows, n_strong=1.2, gamma=0.5, kbody=0.0)
    assert two.kernel_params(0.13e-6, tk, 1.1)[9] == 1.2  # a separate n_strong is not scaled
    assert two.ispec(1e-6, 0.13e-6, tk) == pytest.approx(
        dataclasses.replace(two, t_corr=()).ispec(1e-6, 0.13e-6, tk) * 1.1, rel=1e-14)
    for bad in (((27.0, 0.0, 1.0),), ((27.0, 0.0, -1.0, 1.0),), ((27.0, 0.0, 1.0, 0.0),),
                ((27.0, 0.0, 1.0, 1.0), (27.0, 0.0, 1.0, 1.0)), ((27.0, math.nan, 1.0, 1.0),)):
        with pytest.raises(ValueError, match="t_corr"):
            dataclasses.replace(g, t_corr=bad)
    from arraysim.cmos.params import CornerShift, DeviceShift
    for bad in (lambda: DeviceShift(n=0.0), lambda: CornerShift(n_p=math.inf)):
        with pytest.raises(ValueError, match="slope-factor"):
            bad()


def test_corner_junction_capacitance_factors():
    """A corner's junction-capacitance factors (DeviceShift.cj; SKY130's junctions move 15-22 % with the
    corner) scale every junction in the capacitance matrix of that corner, and only those; the scipy
    reference and the compact SPICE deck take the same matrix."""
    from arraysim.cmos.technologies import get_technology

    tech = get_technology("sky130")
    sim = ReadSimulator(tech)
    d = sim.design
    names = list(sim.tables.node_names)
    for corner in ("ss", "fs"):
        f_acc = tech.device_shift("nmos_thick", d.access.w, d.access.l, corner).cj
        f_xn = tech.device_shift("nmos", d.mn_x.w, d.mn_x.l, corner).cj
        assert f_acc != 1.0 and f_xn != 1.0
        acc = tech.device("nmos_thick", d.access.w, d.access.l)
        xn = tech.device("nmos", d.mn_x.w, d.mn_x.l)
        i = names.index("BL")
        diff = sim.cmat_at(corner)[i, i] - sim.cmat_at("tt")[i, i]
        want = (f_xn - 1) * xn.junction_cap(d.mn_x.w) + d.rows * (f_acc - 1) * acc.junction_cap(d.access.w)
        assert diff == pytest.approx(want, rel=1e-9)
        off = ~np.eye(len(names), dtype=bool)
        np.testing.assert_array_equal(sim.cmat_at(corner)[off], sim.cmat_at("tt")[off])  # couplings: overlaps
        ref = ReferenceCircuit(sim, 1.2, 27.0, corner, 7e3, 1e5)
        assert ref.cap[i] == pytest.approx(sim.cmat_at(corner)[i, i], rel=1e-15)
    np.testing.assert_array_equal(sim.cmat_at("tt"), sim.cmat)
    with pytest.raises(ValueError, match="junction-capacitance factor"):
        dataclasses.replace(tech.bins[0].corners[1][1], cj=0.0)


def test_node_capacitance_refuses_bad_nodes_and_states():
    """arraysim.spice.capacitance.node_capacitance names what was wrong before it builds or runs a deck."""
    from arraysim.api import simulator
    from arraysim.spice.capacitance import node_capacitance

    sim = simulator()
    full = {n: 0.3 for n in sim.tables.node_names}
    with pytest.raises(ValueError, match=r"outer nodes .*'M'"):
        node_capacitance(sim, 1.2, 0.0, full, ("M",))
    with pytest.raises(ValueError, match=r"state lacks nodes \['MB'"):
        node_capacitance(sim, 1.2, 0.0, {n: v for n, v in full.items() if n != "MB"}, ("BL",))


def test_borrowed_is_the_same_array():
    """kernels.devices.borrowed (the kernel's unmanaged views): same data, shape and strides -- reads and writes go
    to the caller's array, views of it work -- and anything but an array is refused at compile time."""
    import numba

    from arraysim.kernels.devices import borrowed

    @numba.njit
    def use(a, m):
        b = borrowed(a)
        n = borrowed(m)
        b[0] = 5.0
        n[1, 2] = -1.0
        row = n[1]
        return b.sum(), b.shape[0], b[1:].sum(), row.sum(), n.strides[0]

    a = np.arange(4.0)
    m = np.arange(12.0).reshape(3, 4)
    s, size, tail, rowsum, stride = use(a, m)
    assert a[0] == 5.0 and m[1, 2] == -1.0  # written through
    assert (s, size, tail) == (11.0, 4, 6.0) and rowsum == 4.0 + 5.0 - 1.0 + 7.0 and stride == 32

    @numba.njit
    def bad(x):
        return borrowed(x)

    with pytest.raises(numba.core.errors.TypingError):
        bad(1.0)

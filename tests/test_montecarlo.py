"""Monte Carlo driver: reproducibility, symmetry, closed-form statistics, tables."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import arraysim
from arraysim import Programming, RRAMParams
from arraysim.analysis.stats import StreamStats, binomial_ci
from arraysim.io.tables import load_table, save_table
from arraysim.montecarlo.readout import decode_binary, sense_delay
from arraysim.montecarlo.result import COLUMNS

DEVICES_ONLY = ("d2d", "c2c")


def _rows_equal(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for k, (_, kind) in COLUMNS.items():
            if kind == "float" and isinstance(ra[k], float) and math.isnan(ra[k]):
                assert math.isnan(rb[k]), k
            else:
                assert ra[k] == rb[k], (k, ra[k], rb[k])


def test_same_seed_same_table_at_1_and_2_threads():
    kw = dict(vdd=[0.45, 1.2], samples=300, seed=7)
    t1 = arraysim.ber_table(threads=1, **kw)
    t2 = arraysim.ber_table(threads=2, **kw)
    _rows_equal(t1.rows, t2.rows)
    t3 = arraysim.ber_table(threads=2, vdd=[0.45, 1.2], samples=300, seed=8)
    assert [r["delay_mean"] for r in t3.rows] != [r["delay_mean"] for r in t1.rows]


MIRROR = {"MP_PRE_Q": "MP_PRE_QB", "MP_X_Q": "MP_X_QB", "MN_X_Q": "MN_X_QB", "MA_BL": "MA_BLB",
          "ML_BL": "ML_BLB", "MN_DIS": "MN_DIS"}


def test_swapping_bl_and_blb_flips_the_decision():
    sim = arraysim.simulator()
    names = sim.transistor_names
    mirror = {**MIRROR, **{v: k for k, v in MIRROR.items()}}
    perm = [names.index(mirror[n]) for n in names]
    rng = np.random.default_rng(3)
    n = 40
    svt, sb = sim.mismatch_sigmas()
    dvt = rng.standard_normal((n, len(names))) * svt
    dbeta = rng.standard_normal((n, len(names))) * sb
    r1 = np.exp(rng.uniform(np.log(5e3), np.log(2e5), n))
    r2 = np.exp(rng.uniform(np.log(5e3), np.log(2e5), n))
    for vdd in (0.5, 1.2):
        a = sim.run(vdd, 27, "tt", dvt, dbeta, r1, r2)
        b = sim.run(vdd, 27, "tt", dvt[:, perm], dbeta[:, perm], r2, r1)
        da = decode_binary(a.vout[:, -1, 0], a.vout[:, -1, 1], vdd)
        db = decode_binary(b.vout[:, -1, 0], b.vout[:, -1, 1], vdd)
        resolved = np.abs(da) == 1
        assert resolved.sum() > n // 2
        np.testing.assert_array_equal(da[resolved], -db[resolved])
        np.testing.assert_allclose(sense_delay(a.tcross)[resolved], sense_delay(b.tcross)[resolved],
                                   rtol=1e-9)
        np.testing.assert_allclose(a.energy, b.energy, rtol=1e-9)


def _overlap_rram(**kw):
    # medians 10k / 20k, sigma_ln 0.4 each: P(R_HRS < R_LRS) = Phi(-ln2 / sqrt(0.32)) ~ 0.11
    base = dict(lrs_v0=10e3 * 50e-6, lrs_sigma_ref=0.4, hrs_r_ref=20e3, hrs_sigma=0.4)
    base.update(kw)
    return RRAMParams(**base)


@pytest.mark.parametrize("vdd", [1.2, 0.6])
def test_devices_only_ber_equals_lognormal_overlap(vdd):
    rram = _overlap_rram()
    sim = arraysim.ReadSimulator(rram=rram)
    prog = Programming()
    n = 1500
    t = arraysim.ber_table(vdd=vdd, samples=n, seed=11, variability=DEVICES_ONLY, sim=sim)
    r = t.rows[0]
    mu_l, s_l = rram.log_stats(prog, lrs=True)
    mu_h, s_h = rram.log_stats(prog, lrs=False)
    p = stats.norm.cdf((mu_l - mu_h) / math.hypot(s_l, s_h))
    assert r["n"] == n and r["n_failed"] == 0 and r["n_unresolved"] == 0
    lo, hi = binomial_ci(r["errors"], r["n"], confidence=0.999)
    assert lo <= p <= hi, (r["ber"], p)


def test_1t1r_devices_only_ber_equals_closed_form():
    # ohmic devices (very large V_nl) so that the comparison is exactly R against R_ref
    rram = _overlap_rram(vnl_hrs=1e6)
    sim = arraysim.ReadSimulator(rram=rram)
    prog = Programming()
    n = 1500
    t = arraysim.ber_table(vdd=1.2, samples=n, seed=5, variability=DEVICES_ONLY, cell="1t1r", sim=sim)
    r = t.rows[0]
    mu_l, s_l = rram.log_stats(prog, lrs=True)
    mu_h, s_h = rram.log_stats(prog, lrs=False)
    lref = math.log(sim.r_ref(prog))
    p_plus = stats.norm.sf((lref - mu_l) / s_l)  # LRS device above the reference
    p_minus = stats.norm.cdf((lref - mu_h) / s_h)  # HRS device below the reference
    lo, hi = binomial_ci(r["err_plus"], r["n_plus"], confidence=0.999)
    assert lo <= p_plus <= hi
    lo, hi = binomial_ci(r["err_minus"], r["n_minus"], confidence=0.999)
    assert lo <= p_minus <= hi


def test_switching_off_all_sources_gives_no_error_and_identical_reads():
    t = arraysim.ber_table(vdd=1.2, samples=200, seed=1, variability=())
    r = t.rows[0]
    assert r["errors"] == 0
    assert r["delay_std"] < 1e-3 * r["delay_mean"]


def test_counts_add_up_and_stats_are_consistent():
    t = arraysim.ber_table(vdd=[0.4, 1.2], samples=256, seed=2)
    for r in t.rows:
        assert r["n"] + r["n_failed"] == r["samples"]
        assert r["n_plus"] + r["n_minus"] == r["n"]
        assert r["err_plus"] + r["err_minus"] == r["errors"]
        assert r["ber_lo"] <= r["ber"] <= r["ber_hi"]
        assert r["delay_p01"] <= r["delay_median"] <= r["delay_p99"] <= r["delay_max"]
        assert r["energy_mean"] > 0
    lo, hi = t.rows[0], t.rows[1]
    assert lo["energy_mean"] < hi["energy_mean"]  # lower supply, lower energy
    assert lo["delay_median"] > hi["delay_median"]  # lower supply, slower


def test_stream_stats_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.lognormal(np.log(1e-9), 0.3, 20000)
    s = StreamStats(1e-13, 1e-5)
    for part in np.array_split(x, 7):
        s.add(part)
    assert s.n == x.size
    assert s.mean == pytest.approx(x.mean(), rel=1e-12)
    assert s.std == pytest.approx(x.std(ddof=1), rel=1e-9)
    for q in (0.01, 0.5, 0.99):
        assert s.quantile(q) == pytest.approx(np.quantile(x, q), rel=0.01)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_table_round_trips_exactly(tmp_path, suffix):
    t = arraysim.ber_table(vdd=[0.3, 1.2], samples=64, seed=3, cell=["2t2r", "1t1r"])
    assert any(math.isnan(r["delay_mean"]) or math.isnan(r["r_ref"]) for r in t.rows)
    p = tmp_path / f"t{suffix}"
    save_table(t, p)
    back = load_table(p)
    _rows_equal(t.rows, back.rows)
    assert back.meta["seed"] == 3
    assert back.meta["samples_per_condition"] == 64
    assert back.meta["versions"]["arraysim"] == arraysim.__version__
    assert back.meta["units"]["vdd"] == "V"
    assert back.meta["model"]["technology"]["name"] == "generic130"
    # same inputs, same file bytes
    p2 = tmp_path / f"t2{suffix}"
    save_table(arraysim.ber_table(vdd=[0.3, 1.2], samples=64, seed=3, cell=["2t2r", "1t1r"]), p2)
    if suffix != ".npz":
        assert p.read_bytes() == p2.read_bytes()


@pytest.mark.parametrize("kw, match", [
    (dict(vdd=-0.1), "VDD"), (dict(vdd=9.0), "VDD"), (dict(vdd=float("nan")), "VDD"),
    (dict(vdd=1.2, corner="xx"), "allowed: tt, ff, ss, fs, sf"),
    (dict(vdd=1.2, cell="3t3r"), "allowed: 2t2r, 1t1r"),
    (dict(vdd=1.2, temp_c=500), "temperature"),
    (dict(vdd=1.2, samples=0), "samples"),
    (dict(vdd=1.2, i_compliance=-1e-6), "compliance"),
    (dict(vdd=1.2, technology="nope"), "allowed: generic130"),
    (dict(vdd=1.2, variability=["mismatch", "noise"]), "allowed: global, mismatch, d2d, c2c"),
])
def test_bad_inputs_raise_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        arraysim.ber_table(**kw)


def test_bad_output_suffix_and_directory(tmp_path):
    t = arraysim.ber_table(vdd=1.2, samples=8, seed=0)
    with pytest.raises(ValueError, match="allowed: .csv, .json, .npz"):
        save_table(t, tmp_path / "x.xlsx")
    with pytest.raises(ValueError, match="does not exist"):
        save_table(t, tmp_path / "nodir" / "x.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kw, match", [
    (dict(v_wl=float("nan")), "word-line"), (dict(v_wl=-3.0), "word-line"), (dict(rows=0), "rows"),
])
def test_bad_design_values_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        arraysim.simulator(**kw)


def test_written_tables_get_ordinary_permissions(tmp_path):
    import os
    t = arraysim.ber_table(vdd=1.2, samples=8, seed=0)
    p = tmp_path / "t.csv"
    save_table(t, p)
    mask = os.umask(0)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask


def test_precharged_state_is_reported():
    """RawReads.v_pre is the outputs' DC state with SE = 0 (RawReads.v_dc: every node), the state the read
    starts from: VDD in a working sense amplifier (generic130 at 1.2 V; equal to the first point of the
    waveform), and far below VDD where the precharge cannot hold them (sky130 at 0.6 V, -40 degC, fs: see
    validate's not_precharged)."""
    from arraysim.montecarlo.engine import ReadSimulator
    for tech, vdd, temp, corner, working in (("generic130", 1.2, 27.0, "tt", True),
                                             ("sky130", 0.6, -40.0, "fs", False)):
        s = ReadSimulator(tech)
        m = len(s.tables.mos)
        raw = s.run(vdd, temp, corner, np.zeros((2, m)), np.zeros((2, m)), np.array([7e3, 9e4]),
                    np.array([9e4, 7e3]))
        w = s.waveform(vdd, temp, corner, 7e3, 9e4)
        assert raw.v_pre.shape == (2, 2)
        assert raw.v_pre[0] == pytest.approx([w["Q"][0], w["QB"][0]], abs=1e-12)
        # v_dc: every unknown node of that state (v_pre is its output columns), the waveform's first point
        assert raw.v_dc.shape == (2, s.tables.nv)
        assert np.array_equal(raw.v_pre, raw.v_dc[:, s.tables.out_nodes])
        assert raw.v_dc[0] == pytest.approx([w[nm][0] for nm in s.tables.node_names], abs=1e-12)
        if working:
            assert np.all(np.abs(raw.v_pre - vdd) < 1e-3 * vdd)
        else:
            assert np.all(raw.v_pre.min(axis=1) < 0.8 * vdd)


def test_diff_tol_controls_the_sense_step():
    """Tolerances.diff_tol reaches the kernel: a tighter bound on the outputs' difference takes more accepted steps,
    a loose one (effectively off) fewer, while decisions stay and delays move by less than the 1 % the default
    tolerances promise."""
    import dataclasses

    from arraysim.api import simulator
    from arraysim.devices.rram import Programming as Prog
    from arraysim.montecarlo.sampling import draw_instances
    from arraysim.options import ALL_VARIABILITY, Cell

    base = simulator("generic130")
    assert base.tol.diff_tol == 0.3
    inst = draw_instances(np.random.default_rng(5), 24, base, 27.0, Prog(), Cell.C2T2R, ALL_VARIABILITY)
    out = {}
    for dt in (0.05, 0.3, 1e9):
        s = simulator("generic130", tolerances=dataclasses.replace(base.tol, diff_tol=dt))
        out[dt] = s.run(0.6, 27.0, "tt", inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
    steps = {dt: int(r.steps.sum()) for dt, r in out.items()}
    assert steps[0.05] > steps[0.3] > steps[1e9], steps
    d = {dt: sense_delay(r.tcross) for dt, r in out.items()}
    ok = np.isfinite(d[0.3])
    assert ok.sum() >= 20
    for dt in (0.05, 1e9):
        np.testing.assert_array_equal(np.sign(out[dt].vout[:, -1, 0] - out[dt].vout[:, -1, 1]),
                                      np.sign(out[0.3].vout[:, -1, 0] - out[0.3].vout[:, -1, 1]))
        assert np.max(np.abs(d[dt][ok] / d[0.3][ok] - 1)) < 0.01

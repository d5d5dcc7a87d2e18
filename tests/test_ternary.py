"""Ternary readout: (HRS, HRS) = 0 read as 'both outputs still high' at the end of the sense window."""
from __future__ import annotations

import numpy as np
import pytest

import arraysim
from arraysim import PCSADesign, Programming, Timing
from arraysim.io.tables import load_table, save_table
from arraysim.montecarlo.readout import decode_binary
from arraysim.montecarlo.sampling import draw_instances
from arraysim.options import ALL_VARIABILITY, Cell
from arraysim.reference import reference_read

MIRROR = {"MP_PRE_Q": "MP_PRE_QB", "MP_X_Q": "MP_X_QB", "MN_X_Q": "MN_X_QB", "MA_BL": "MA_BLB",
          "ML_BL": "ML_BLB", "MN_DIS": "MN_DIS"}
WINDOWS = np.array([1e-9, 2e-9, 3e-9, 5e-9, 8e-9, 12e-9, 20e-9])


def _ternary_instances(sim, n, seed, temp=27.0):
    rng = np.random.default_rng(seed)
    return draw_instances(rng, n, sim, temp, Programming(), Cell.C2T2R, ALL_VARIABILITY, p_zero=1 / 3)


def test_plus_and_minus_mirror_each_other():
    sim = arraysim.simulator()
    names = sim.transistor_names
    mirror = {**MIRROR, **{v: k for k, v in MIRROR.items()}}
    perm = [names.index(mirror[n]) for n in names]
    inst = _ternary_instances(sim, 60, seed=4)
    for vdd in (0.4, 1.2):
        a = sim.run(vdd, 27, "tt", inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, windows=WINDOWS)
        b = sim.run(vdd, 27, "tt", inst.dvt[:, perm], inst.dbeta[:, perm], inst.r_blb, inst.r_bl,
                    windows=WINDOWS)
        for k in range(WINDOWS.size):
            da = decode_binary(a.vout[:, k, 0], a.vout[:, k, 1], vdd)
            db = decode_binary(b.vout[:, k, 0], b.vout[:, k, 1], vdd)
            both = (da == 0) | (da == 2)
            np.testing.assert_array_equal(da[~both], -db[~both])  # +1 <-> -1
            np.testing.assert_array_equal(da[both], db[both])  # 0 and 'both low' are symmetric states


def test_mirrored_rates_agree_statistically():
    t = arraysim.run_ber(arraysim.make_grid(0.45), 1500, seed=3, readout="ternary", windows=[4e-9])
    r = t.rows[0]
    # +1 -> 0 and -1 -> 0 are mirror images: their intervals must overlap
    assert r["q_plus_zero_lo"] <= r["q_minus_zero_hi"] and r["q_minus_zero_lo"] <= r["q_plus_zero_hi"]
    assert r["n_zero"] > 0.25 * r["n"]


@pytest.mark.parametrize("vdd", [0.4, 0.6, 1.2])
def test_zero_state_fades_monotonically_with_the_window(vdd):
    """An instance whose outputs are both high at a window was both high at every earlier window."""
    sim = arraysim.simulator()
    inst = _ternary_instances(sim, 300, seed=9)
    raw = sim.run(vdd, 27, "tt", inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, windows=WINDOWS)
    zero = np.array([decode_binary(raw.vout[:, k, 0], raw.vout[:, k, 1], vdd) == 0
                     for k in range(WINDOWS.size)])
    later_implies_earlier = ~zero[1:] | zero[:-1]
    assert later_implies_earlier.all()
    counts = zero[:, inst.weight == 0].sum(axis=1)
    assert np.all(np.diff(counts) <= 0)
    assert counts[0] > counts[-1]  # the window matters


def test_p_zero_0_reproduces_the_binary_table():
    grid = arraysim.make_grid([0.5, 1.2])
    tb = arraysim.run_ber(grid, 200, seed=1)
    tt = arraysim.run_ber(grid, 200, seed=1, readout="ternary", p_zero=0.0)
    for a, b in zip(tb.rows, tt.rows):
        for k in ("errors", "n_plus", "n_minus", "c_plus_minus", "c_minus_zero", "delay_mean", "energy_mean"):
            assert a[k] == b[k], k
        assert b["n_zero"] == 0


@pytest.mark.parametrize("vdd, window", [(0.4, 3e-9), (0.5, 2e-9), (1.2, 1.5e-9)])
def test_kernel_matches_reference_on_hrs_hrs_pairs(vdd, window):
    """Ternary 0 instances (two HRS) read at a short window: kernel and scipy reference agree."""
    design = PCSADesign().with_(timing=Timing(t_sense=window))
    sim = arraysim.ReadSimulator(design=design)
    rng = np.random.default_rng(21)
    mu, s = sim.rram.log_stats(Programming(), lrs=False)
    svt, sb = sim.mismatch_sigmas()
    for _ in range(4):
        r = np.exp(mu + s * rng.standard_normal(2))
        dvt = svt * rng.standard_normal(svt.size)
        dbeta = sb * rng.standard_normal(sb.size)
        raw = sim.run(vdd, 27, "tt", dvt[None], dbeta[None], r[:1], r[1:])
        ref = reference_read(sim, vdd, 27, "tt", r[0], r[1], dvt=dvt, dbeta=dbeta)
        kd = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd)[0]
        near = min(abs(ref["v_q"] - vdd / 2), abs(ref["v_qb"] - vdd / 2)) < 0.05 * vdd
        if not near:
            assert kd == ref["decision"]
        assert raw.vout[0, -1, 0] == pytest.approx(ref["v_q"], abs=0.01 * vdd)
        assert raw.vout[0, -1, 1] == pytest.approx(ref["v_qb"], abs=0.01 * vdd)


def test_ternary_table_round_trip_and_bad_inputs(tmp_path):
    t = arraysim.run_ber(arraysim.make_grid(0.5), 120, seed=2, readout="ternary", windows=[2e-9, 6e-9])
    assert [r["window"] for r in t.rows] == [2e-9, 6e-9]
    for r in t.rows:
        for w in ("plus", "zero", "minus"):
            assert sum(r[f"c_{w}_{x}"] for x in ("plus", "zero", "minus", "invalid")) == r[f"n_{w}"]
            assert r[f"q_{w}_{w}_lo"] <= r[f"q_{w}_{w}"] <= r[f"q_{w}_{w}_hi"]
    p = tmp_path / "t.json"
    save_table(t, p)
    back = load_table(p)
    assert back.rows[1]["c_zero_zero"] == t.rows[1]["c_zero_zero"]
    assert back.rows[0]["q_zero_zero_hi"] == t.rows[0]["q_zero_zero_hi"]
    with pytest.raises(ValueError, match="2t2r"):
        arraysim.run_ber(arraysim.make_grid(0.5, cell="1t1r"), 10, readout="ternary")
    with pytest.raises(ValueError, match="t_sense"):
        arraysim.run_ber(arraysim.make_grid(0.5), 10, readout="ternary", windows=[30e-9])
    with pytest.raises(ValueError, match="ternary"):
        arraysim.run_ber(arraysim.make_grid(0.5), 10, p_zero=0.2)

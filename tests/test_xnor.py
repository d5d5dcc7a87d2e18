"""XNOR readout: the PCSA with input-controlled branch swapping computes XNOR(x, w) in one sense."""
from __future__ import annotations

import numpy as np
import pytest

import arraysim
from arraysim.montecarlo.readout import decode_binary, sense_delay
from arraysim.reference import reference_read


@pytest.mark.parametrize("vdd", [0.5, 1.2])
def test_truth_table_on_ideal_devices(vdd):
    sim = arraysim.ReadSimulator(circuit="xnor")
    m = len(sim.transistor_names)
    r_bl = np.array([7e3, 60e3, 7e3, 60e3])
    r_blb = np.array([60e3, 7e3, 60e3, 7e3])
    w = np.array([1, -1, 1, -1])
    x = np.array([1, 1, 0, 0])
    raw = sim.run(vdd, 27, "tt", np.zeros((4, m)), np.zeros((4, m)), r_bl, r_blb, x=x)
    read = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd)
    np.testing.assert_array_equal(read, np.where(x == 1, w, -w))  # XNOR with x in {0,1} -> {-1,+1}
    assert np.all(raw.status == 0)


def test_no_errors_without_variability_and_both_inputs_counted():
    t = arraysim.run_ber(arraysim.make_grid([0.5, 1.2]), 300, seed=2, readout="xnor", variability=())
    for r in t.rows:
        assert r["errors"] == 0
        assert r["n_x0"] + r["n_x1"] == r["n"] and r["n_x0"] > 100 and r["n_x1"] > 100


def test_xnor_errors_with_variability_split_by_input():
    t = arraysim.run_ber(arraysim.make_grid(0.4), 1500, seed=4, readout="xnor")
    r = t.rows[0]
    assert r["err_x0"] + r["err_x1"] == r["errors"] > 0
    assert r["readout"] == "xnor" and t.meta["model"]["circuit"] == "xnor"
    assert "MX_Q_BL" in [tr["name"] for tr in t.meta["model"]["transistors"]]


@pytest.mark.parametrize("vdd, x", [(1.2, 0), (0.5, 1), (0.5, 0)])
def test_kernel_matches_reference(vdd, x):
    sim = arraysim.ReadSimulator(circuit="xnor")
    rng = np.random.default_rng(7)
    svt, sb = sim.mismatch_sigmas()
    dvt, dbeta = svt * rng.standard_normal(svt.size), sb * rng.standard_normal(sb.size)
    raw = sim.run(vdd, 27, "tt", dvt[None], dbeta[None], np.array([8e3]), np.array([50e3]), x=np.array([x]))
    ref = reference_read(sim, vdd, 27, "tt", 8e3, 50e3, dvt=dvt, dbeta=dbeta, x=x)
    assert decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd)[0] == ref["decision"] == (1 if x else -1)
    assert sense_delay(raw.tcross)[0] == pytest.approx(ref["delay"], rel=0.01)
    assert raw.energy[0] == pytest.approx(ref["energy"], rel=0.01)


def test_input_checks():
    sim = arraysim.ReadSimulator(circuit="xnor")
    m = len(sim.transistor_names)
    with pytest.raises(ValueError, match="input x"):
        sim.run(1.2, 27, "tt", np.zeros((1, m)), np.zeros((1, m)), [7e3], [60e3])
    with pytest.raises(ValueError, match="0 or 1"):
        sim.run(1.2, 27, "tt", np.zeros((1, m)), np.zeros((1, m)), [7e3], [60e3], x=[2])
    with pytest.raises(ValueError, match="XNOR"):
        arraysim.simulator().run(1.2, 27, "tt", np.zeros((1, 11)), np.zeros((1, 11)), [7e3], [60e3], x=[1])
    with pytest.raises(ValueError, match="2t2r"):
        arraysim.run_ber(arraysim.make_grid(0.5, cell="1t1r"), 10, readout="xnor")

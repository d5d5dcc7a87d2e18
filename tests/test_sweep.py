"""Supply sweep and the ternary best-window search."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import arraysim
from arraysim.analysis.sweep import best_window, default_windows, supply_sweep, window_margin
from arraysim.io.tables import load_table


def test_sweep_tables_and_best_window():
    res = supply_sweep([0.5, 1.2], samples=150, seed=3, windows=[1e-9, 2e-9, 4e-9, 20e-9])
    assert set(res) == {"binary", "xnor", "ternary", "ternary_best"}
    assert len(res["binary"]) == len(res["xnor"]) == 2 and len(res["ternary"]) == 8
    for b in res["ternary_best"].rows:
        same = [r for r in res["ternary"].rows if r["vdd"] == b["vdd"]]
        assert b["ber"] == min(r["ber"] for r in same)
        assert b["window"] == min(r["window"] for r in same if r["ber"] == b["ber"])
    # the same instances serve every window: delay/energy identical across windows of one condition
    for v in (0.5, 1.2):
        rows = [r for r in res["ternary"].rows if r["vdd"] == v]
        assert len({r["energy_mean"] for r in rows}) == 1


def test_best_window_picks_shortest_on_ties():
    rows = [dict(cell="2t2r", vdd=1.0, temp_c=27.0, corner="tt", i_compliance=5e-5, v_reset=1.5, rows=32,
                 ber=b, window=w) for b, w in ((0.1, 3e-9), (0.05, 2e-9), (0.05, 1e-9), (0.2, 5e-9))]
    best = best_window(arraysim.BERTable(rows=rows, meta={})).rows
    assert len(best) == 1 and best[0]["window"] == 1e-9


def test_window_margin():
    def rows(vdd, errs):
        return [dict(cell="2t2r", readout="ternary", vdd=vdd, temp_c=27.0, corner="tt", i_compliance=5e-5,
                     v_reset=1.5, rows=32, ber=b, window=w)
                for b, w in zip(errs, (1e-9, 2e-9, 4e-9, 8e-9, 16e-9))]
    t = arraysim.BERTable(rows=rows(0.5, (0.3, 0.04, 0.01, 0.03, 0.2)) + rows(1.2, (0.3, 0.2, 0.1, 0.02, 0.04))
                          + rows(0.4, (0.5, 0.4, 0.3, 0.2, 0.1)), meta={})
    m = {r["vdd"]: r for r in window_margin(t, 0.05)}
    assert (m[0.5]["w_lo"], m[0.5]["w_hi"], m[0.5]["ratio"]) == (2e-9, 8e-9, 4.0)
    assert m[0.5]["best_window"] == 4e-9 and m[0.5]["best_error"] == 0.01
    assert (m[1.2]["w_lo"], m[1.2]["w_hi"], m[1.2]["n_windows"]) == (8e-9, 16e-9, 2)
    assert np.isnan(m[0.4]["ratio"]) and m[0.4]["n_windows"] == 0
    with pytest.raises(ValueError, match="max_error"):
        window_margin(t, 1.5)
    with pytest.raises(ValueError, match="ternary"):
        window_margin(arraysim.BERTable(rows=[dict(rows(1.0, (0.1,))[0], readout="binary")], meta={}))


def test_default_windows_span_the_sense_phase():
    w = default_windows(20e-9)
    assert w[0] == pytest.approx(0.2e-9) and w[-1] == pytest.approx(20e-9) and np.all(np.diff(w) > 0)


def test_cli_sweep_writes_tables_and_figure(tmp_path):
    out = tmp_path / "sw"
    r = subprocess.run([sys.executable, "-m", "arraysim", "sweep-vdd", "--vdd", "0.5", "1.2", "--samples", "40",
                        "--window", "1", "3", "20", "--out-dir", str(out), "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for k in ("binary", "xnor", "ternary", "ternary_best"):
        t = load_table(out / f"sweep_{k}.json")
        assert t.rows and t.meta["seed"] == 0
    assert (out / "sweep.png").stat().st_size > 10000
    margin = (out / "sweep_ternary_margin.csv").read_text().splitlines()
    assert margin[0].startswith("cell,vdd,temp_c") and len(margin) == 3  # header + one row per supply
    assert "ternary window margin" in r.stdout


@pytest.mark.parametrize("args, msg", [(["--corner", "qq"], "qq"), (["--window", "50"], "t_sense"),
                                       (["--readout", "quinary"], "quinary")])
def test_cli_sweep_bad_input_writes_nothing(tmp_path, args, msg):
    out = tmp_path / "sw"
    r = subprocess.run([sys.executable, "-m", "arraysim", "sweep-vdd", "--vdd", "0.5", "--out-dir", str(out)]
                       + args, capture_output=True, text=True)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())

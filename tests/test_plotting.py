"""BER plots, and the light import of the package."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from arraysim.montecarlo.result import COLUMNS, BERTable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(vdd, errors, n=1000, temp=27.0, corner="tt", cell="2t2r"):
    from arraysim.analysis.stats import binomial_ci

    lo, hi = binomial_ci(errors, n)
    r = {k: (0.0 if kind == "float" else 0 if kind == "int" else "") for k, (_, kind) in COLUMNS.items()}
    d = 1.5e-9 / vdd
    r.update(cell=cell, readout="binary", vdd=vdd, temp_c=temp, corner=corner, i_compliance=50e-6,
             v_reset=1.5, rows=32, samples=1000, r_ref=float("nan"), n=n, errors=errors,
             ber=errors / n if n else float("nan"),
             ber_lo=lo, ber_hi=hi, delay_median=d, delay_p01=0.7 * d, delay_p99=1.6 * d,
             delay_mean=d, energy_mean=40e-15 * vdd ** 2)
    return r


@pytest.fixture
def table():
    rows = []
    for temp, errs in ((27.0, (40, 3, 0, 0)), (85.0, (90, 12, 1, 0))):
        rows += [_row(v, e, temp=temp) for v, e in zip((0.4, 0.6, 0.8, 1.0), errs)]
    rows.append(_row(0.3, 0, n=0))  # a condition where every instance failed: skipped, no crash
    return BERTable(rows=rows, meta={"seed": 1})


def test_plot_png(table, tmp_path):
    import matplotlib.pyplot as plt

    from arraysim.plotting import plot_ber_vs_vdd

    p = tmp_path / "ber.png"
    fig = plot_ber_vs_vdd(table, p)
    try:
        assert p.read_bytes()[:8] == PNG_MAGIC
        assert p.stat().st_size > 20_000
        assert [q.name for q in tmp_path.iterdir()] == ["ber.png"]  # atomic: no temporary file left
        ax_ber, ax_del, ax_en = fig.axes[:3]
        assert ax_ber.get_yscale() == "log"
        labels = [t.get_text() for t in ax_ber.get_legend().get_texts()]
        assert any("27" in s for s in labels) and any("85" in s for s in labels)
        assert any("upper bound" in s for s in labels)  # zero-error points are explained
        assert "delay" in ax_del.get_ylabel() and "energy" in ax_en.get_ylabel()
        img = plt.imread(p)
        assert img.shape[0] > 300 and img.shape[1] > 800
        assert np.std(img[..., :3]) > 0.05  # not blank
    finally:
        plt.close(fig)


def test_plot_into_given_axes_and_bad_suffix(table, tmp_path):
    import matplotlib.pyplot as plt

    from arraysim.plotting import plot_ber_vs_vdd

    fig, ax = plt.subplots()
    try:
        assert plot_ber_vs_vdd(table, ax=ax) is fig
        assert ax.get_yscale() == "log" and len(fig.axes) == 1
    finally:
        plt.close(fig)
    fig, axes = plt.subplots(1, 3)
    try:
        assert plot_ber_vs_vdd(table, ax=axes) is fig
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="jpg"):
        plot_ber_vs_vdd(table, tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []


def test_plot_from_simulated_table(tmp_path):
    import matplotlib.pyplot as plt

    import arraysim
    from arraysim.plotting import plot_ber_vs_vdd

    t = arraysim.ber_table(vdd=[0.5, 1.0], samples=32, seed=2)
    p = tmp_path / "sim.png"
    plt.close(plot_ber_vs_vdd(t, str(p)))
    assert p.stat().st_size > 10_000


def test_cli_plot(tmp_path, capsys):
    from arraysim.cli import main

    p = tmp_path / "cli.png"
    assert main(["ber", "--vdd", "0.6", "1.0", "--samples", "16", "--quiet", "--plot", str(p)]) == 0
    assert p.read_bytes()[:8] == PNG_MAGIC


def test_import_is_light():
    code = ("import sys, arraysim, arraysim.plotting, arraysim.cli\n"
            "heavy = [m for m in ('matplotlib', 'PySpice', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr

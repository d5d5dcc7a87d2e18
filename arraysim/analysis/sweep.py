"""Supply sweep: error rates, sense delay and energy against VDD for binary, XNOR and ternary readout,
and for ternary readout the sense window that minimises the total ternary error at each supply.

The window search is a read-out of the same simulations: every instance is simulated once and its
outputs are sampled at all candidate windows (read instants inside the sense phase), so the best window
and its error come with the same Monte Carlo samples and confidence intervals as every other number.
"""
from __future__ import annotations

import numpy as np

from ..montecarlo.driver import make_grid, run_ber
from ..montecarlo.engine import ReadSimulator
from ..montecarlo.result import BERTable
from ..options import ALL_VARIABILITY, Readout


def default_windows(t_sense: float, n: int = 24, t_min: float = 0.2e-9) -> np.ndarray:
    """Log-spaced candidate sense windows from ``t_min`` to ``t_sense``."""
    return np.geomspace(t_min, t_sense, n)


def supply_sweep(vdd, temp_c=(27.0,), corner=("tt",), readouts=("binary", "xnor", "ternary"),
                 samples: int = 2000, seed: int = 0, sim: ReadSimulator | None = None, windows=None,
                 variability=ALL_VARIABILITY, progress: bool = False, threads: int | None = None
                 ) -> dict[str, BERTable]:
    """Tables per readout.  Binary and XNOR are read at the end of the sense window; ternary at every
    window of ``windows`` (default: 24 log-spaced from 0.2 ns to t_sense), one row each.  The key
    ``"ternary_best"`` holds, per condition, the ternary row of the window with the fewest errors."""
    s = sim if sim is not None else ReadSimulator()
    grid = make_grid(vdd, temp_c, corner)
    out: dict[str, BERTable] = {}
    for ro in readouts:
        ro = Readout.parse(ro)
        win = None
        if ro == Readout.TERNARY:
            win = default_windows(s.design.timing.t_sense) if windows is None else np.asarray(windows)
        out[ro.value] = run_ber(grid, samples, seed, s, variability=variability, readout=ro, windows=win,
                                progress=progress, threads=threads)
        if out[ro.value].meta.get("interrupted"):
            break  # Ctrl-C: keep what is finished, run nothing more
    if "ternary" in out:
        out["ternary_best"] = best_window(out["ternary"])
    return out


def best_window(table: BERTable) -> BERTable:
    """For each condition of a ternary table, the row of the window with the lowest error rate (ties:
    the shortest window)."""
    key_cols = ("cell", "vdd", "temp_c", "corner", "i_compliance", "v_reset", "rows")
    best: dict[tuple, dict] = {}
    for r in table.rows:
        k = tuple(r[c] for c in key_cols)
        if k not in best or (r["ber"], r["window"]) < (best[k]["ber"], best[k]["window"]):
            best[k] = r
    meta = dict(table.meta)
    meta["selection"] = "per condition, the sense window with the lowest ternary error rate"
    return BERTable(rows=list(best.values()), meta=meta)


def window_margin(table: BERTable, max_error: float = 0.05) -> list[dict]:
    """Timing margin of the ternary read: for each condition of a ternary table (rows at several
    windows), the contiguous range of candidate windows around the best one whose total ternary error
    rate stays at or below ``max_error``.

    Returns one dict per condition: the condition columns, ``best_window`` [s] and ``best_error``,
    ``w_lo``/``w_hi`` [s] (NaN when even the best window exceeds ``max_error``) and ``ratio`` = w_hi/w_lo
    (1 when only one candidate window qualifies; the resolution is the spacing of the candidate windows).
    A wide ratio means the read tolerates timing error of the sense window; a ratio near 1 means the
    window must be placed precisely."""
    if not 0.0 < max_error < 1.0:
        raise ValueError(f"max_error must be in (0, 1), got {max_error!r}")
    key_cols = ("cell", "vdd", "temp_c", "corner", "i_compliance", "v_reset", "rows")
    groups: dict[tuple, list[dict]] = {}
    for r in table.rows:
        if r["readout"] != "ternary":
            raise ValueError("window_margin needs a ternary table (readout 'ternary')")
        groups.setdefault(tuple(r[c] for c in key_cols), []).append(r)
    out = []
    for k, rows in groups.items():
        rows = sorted(rows, key=lambda r: r["window"])
        err = np.array([r["ber"] for r in rows])
        win = np.array([r["window"] for r in rows])
        b = int(np.argmin(err))  # ties: the shortest window, as best_window
        lo = hi = b
        ok = err[b] <= max_error
        if ok:
            while lo > 0 and err[lo - 1] <= max_error:
                lo -= 1
            while hi < len(rows) - 1 and err[hi + 1] <= max_error:
                hi += 1
        nan = float("nan")
        out.append({**dict(zip(key_cols, k)), "best_window": float(win[b]), "best_error": float(err[b]),
                    "max_error": float(max_error), "w_lo": float(win[lo]) if ok else nan,
                    "w_hi": float(win[hi]) if ok else nan, "ratio": float(win[hi] / win[lo]) if ok else nan,
                    "n_windows": int(hi - lo + 1) if ok else 0})
    return out

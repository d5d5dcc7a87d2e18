"""Monte Carlo driver: a grid of conditions -> a BER table with intervals, delay and energy statistics.

Seeding: one root ``SeedSequence(seed)``; condition ``i`` of the grid (in grid order) uses
``SeedSequence(seed, spawn_key=(i,))`` and its chunk ``c`` the ``c``-th spawned child.  Chunks have a fixed
size and every instance is simulated independently, so the table is identical at any thread count.
Counts and statistics are streamed chunk by chunk: memory does not grow with the number of samples.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..analysis.stats import StreamStats, binomial_ci
from ..devices.rram import Programming
from ..options import ALL_VARIABILITY, Cell, Corner, Readout, Variability
from .engine import VALID_STATUS, ReadSimulator, check_temp, check_vdd
from .readout import INVALID, decode_binary, sense_delay
from .result import BERTable
from .sampling import draw_instances

DEFAULT_CHUNK = 2048


@dataclass(frozen=True)
class Condition:
    """One grid point."""

    vdd: float
    temp_c: float = 27.0
    corner: Corner = Corner.TT
    programming: Programming = Programming()
    cell: Cell = Cell.C2T2R


def make_grid(vdd, temp_c=(27.0,), corner=(Corner.TT,), programming=(Programming(),),
              cell=(Cell.C2T2R,)) -> list[Condition]:
    """Cartesian grid, VDD varying fastest (order: cell, programming, corner, temperature, VDD)."""
    def aslist(x):
        return list(x) if isinstance(x, (list, tuple, np.ndarray)) else [x]

    vdds = [check_vdd(v) for v in aslist(vdd)]
    temps = [check_temp(t) for t in aslist(temp_c)]
    corners = [Corner.parse(c) for c in aslist(corner)]
    progs = aslist(programming)
    for p in progs:
        if not (p.i_compliance > 0 and np.isfinite(p.i_compliance)):
            raise ValueError(f"compliance current must be > 0 A, got {p.i_compliance!r}")
        if not np.isfinite(p.v_reset):
            raise ValueError(f"RESET voltage must be finite, got {p.v_reset!r}")
    cells = [Cell.parse(c) for c in aslist(cell)]
    if not vdds:
        raise ValueError("at least one VDD value is needed")
    return [Condition(v, t, c, p, ce) for ce, p, c, t, v in
            itertools.product(cells, progs, corners, temps, vdds)]


WEIGHTS = ((1, "plus"), (0, "zero"), (-1, "minus"))
READS = ((1, "plus"), (0, "zero"), (-1, "minus"), (INVALID, "invalid"))


class _Confusion:
    """Counts of (programmed, read) pairs at one read instant."""

    def __init__(self):
        self.counts = np.zeros((len(WEIGHTS), len(READS)), dtype=np.int64)
        self.by_input = np.zeros((2, 2), dtype=np.int64)  # XNOR: [x, (reads, errors)]

    def add(self, w, r, x=None):
        """``w``: expected value (the weight, or XNOR(x, w) for the XNOR readout); ``r``: read value."""
        if x is not None:
            for xv in (0, 1):
                sel = x == xv
                self.by_input[xv] += (int(sel.sum()), int((r[sel] != w[sel]).sum()))
        for i, (wv, _) in enumerate(WEIGHTS):
            sel = r[w == wv]
            for j, (rv, _) in enumerate(READS):
                self.counts[i, j] += int((sel == rv).sum())

    def row(self) -> dict:
        c = self.counts
        n = int(c.sum())
        correct = sum(int(c[i, j]) for i, (wv, _) in enumerate(WEIGHTS) for j, (rv, _) in enumerate(READS)
                      if wv == rv)
        errors = n - correct
        lo, hi = binomial_ci(errors, n)
        d = {"errors": errors, "ber": errors / n if n else float("nan"), "ber_lo": lo, "ber_hi": hi,
             "n_unresolved": int(c[:, 1].sum()), "n_invalid": int(c[:, 3].sum()),
             "n_x0": int(self.by_input[0, 0]), "err_x0": int(self.by_input[0, 1]),
             "n_x1": int(self.by_input[1, 0]), "err_x1": int(self.by_input[1, 1])}
        for i, (wv, wn) in enumerate(WEIGHTS):
            nw = int(c[i].sum())
            d[f"n_{wn}"] = nw
            d[f"err_{wn}"] = nw - sum(int(c[i, j]) for j, (rv, _) in enumerate(READS) if rv == wv)
            for j, (_, rn) in enumerate(READS):
                k = int(c[i, j])
                lo, hi = binomial_ci(k, nw)
                d[f"c_{wn}_{rn}"] = k
                d[f"q_{wn}_{rn}"] = k / nw if nw else float("nan")
                d[f"q_{wn}_{rn}_lo"] = lo
                d[f"q_{wn}_{rn}_hi"] = hi
        return d


class _Accumulator:
    """Streamed counts and statistics of one condition, with a confusion matrix per read instant."""

    def __init__(self, n_windows: int):
        self.n = 0
        self.failed = 0
        self.precharge_incomplete = 0
        self.steps = 0
        self.conf = [_Confusion() for _ in range(n_windows)]
        self.delay = StreamStats(1e-13, 1e-5)
        self.energy = StreamStats(1e-19, 1e-11)

    def add(self, weight, reads, delay, energy, status, steps, x=None):
        """``reads[k]``: decoded values at read instant k; ``weight``: expected values."""
        ok = np.isin(status, VALID_STATUS)
        self.failed += int((~ok).sum())
        self.precharge_incomplete += int((status == VALID_STATUS[1]).sum())
        self.n += int(ok.sum())
        for cf, r in zip(self.conf, reads):
            cf.add(weight[ok], r[ok], None if x is None else x[ok])
        self.steps += int(steps[ok].sum())
        self.delay.add(delay[ok])
        self.energy.add(energy[ok])

    def rows(self) -> list[dict]:
        common = {"n": self.n, "n_failed": self.failed, "n_precharge_incomplete": self.precharge_incomplete}
        common.update(self.delay.summary("delay"))
        common.update(self.energy.summary("energy"))
        common["steps_mean"] = self.steps / self.n if self.n else float("nan")
        return [common | cf.row() for cf in self.conf]


def run_ber(conditions: list[Condition], samples: int, seed: int = 0,
            simulator: ReadSimulator | None = None, variability=ALL_VARIABILITY,
            chunk_size: int = DEFAULT_CHUNK, progress: bool = False, readout=Readout.BINARY,
            threads: int | None = None, windows=None, threshold: float = 0.5,
            p_zero: float | None = None) -> BERTable:
    """Error rates (95 % Clopper-Pearson intervals), confusion matrices, sense delay and energy.

    ``readout``: binary (weights +-1), ternary (weights +1/0/-1, 0 = HRS/HRS, drawn with probability
    ``p_zero``, default 1/3) or xnor (the XNOR circuit, a random input x per read, scored against
    XNOR(x, w); the confusion matrix is then over expected x read output, with errors per input value).
    Outputs are decoded at the end of each sense window in ``windows`` [s]
    (default: the design's ``t_sense``), one table row per condition and window; an output is low when
    it is below ``threshold * VDD``.  A single transient per instance serves every window (SE stays high
    for ``t_sense``; the windows are read instants inside it).

    On KeyboardInterrupt the finished conditions (and the finished chunks of the current one) are kept
    and the table is marked ``interrupted``.
    """
    sim = simulator if simulator is not None else ReadSimulator()
    readout = Readout.parse(readout)
    samples = int(samples)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if chunk_size < 1:
        raise ValueError(f"chunk size must be >= 1, got {chunk_size}")
    win, p_zero = check_readout(conditions, sim, readout, windows, threshold, p_zero)
    variability = frozenset(Variability.parse(v) for v in variability)
    if threads is not None:
        from ..config import set_threads
        set_threads(threads)
    if readout == Readout.XNOR:
        sim = sim.with_circuit("xnor")
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=samples * len(conditions), unit="read", desc="arraysim", dynamic_ncols=True)
    rows = []
    interrupted = False
    n_chunks = -(-samples // chunk_size)
    try:
        for i, cond in enumerate(conditions):
            acc = _Accumulator(win.size)
            children = np.random.SeedSequence(seed, spawn_key=(i,)).spawn(n_chunks)
            try:
                for c in range(n_chunks):
                    n = min(chunk_size, samples - c * chunk_size)
                    rng = np.random.Generator(np.random.PCG64(children[c]))
                    inst = draw_instances(rng, n, sim, cond.temp_c, cond.programming, cond.cell,
                                          variability, p_zero=p_zero)
                    x, expected = None, inst.weight
                    if readout == Readout.XNOR:
                        x = (rng.random(n) < 0.5).astype(np.int8)
                        expected = np.where(x == 1, inst.weight, -inst.weight).astype(np.int8)
                    raw = sim.run(cond.vdd, cond.temp_c, cond.corner, inst.dvt, inst.dbeta, inst.r_bl,
                                  inst.r_blb, ohmic_blb=inst.ohmic_blb, windows=win, x=x)
                    reads = [decode_binary(raw.vout[:, k, 0], raw.vout[:, k, 1], cond.vdd, threshold)
                             for k in range(win.size)]
                    acc.add(expected, reads, sense_delay(raw.tcross), raw.energy, raw.status,
                            raw.steps, x)
                    if bar is not None:
                        bar.update(n)
            finally:
                if acc.n + acc.failed > 0:
                    for w, r in zip(win, acc.rows()):
                        rows.append(_row(cond, samples, sim, readout) | {"window": float(w),
                                                                          "threshold": threshold} | r)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    meta = {"seed": int(seed), "samples_per_condition": samples, "chunk_size": int(chunk_size),
            "variability": sorted(v.value for v in variability), "readout": readout.value,
            "p_zero": p_zero, "interrupted": interrupted,
            "seeding": "SeedSequence(seed, spawn_key=(condition index,)), spawn() child per chunk",
            "model": sim.describe()}
    return BERTable(rows=rows, meta=meta)


def check_readout(conditions, sim: ReadSimulator, readout: Readout, windows, threshold: float,
                  p_zero: float | None):
    """Validate the readout options against the grid; returns (sorted windows [s], p_zero).  Raises a
    ValueError naming the bad value (used by run_ber and by the CLI before anything is simulated)."""
    if not conditions:
        raise ValueError("the condition grid is empty")
    if not (np.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise ValueError(f"output threshold must be a fraction of VDD in (0, 1), got {threshold!r}")
    if p_zero is None:
        p_zero = 1.0 / 3.0 if readout == Readout.TERNARY else 0.0
    if readout != Readout.TERNARY and p_zero != 0.0:
        raise ValueError("zero weights (p_zero, CLI --p-zero) need the ternary readout")
    if not 0.0 <= p_zero < 1.0:
        raise ValueError(f"fraction of zero weights must be in [0, 1), got {p_zero!r}")
    if readout in (Readout.TERNARY, Readout.XNOR) and any(c.cell != Cell.C2T2R for c in conditions):
        raise ValueError(f"the {readout.value} readout needs the 2t2r cell")
    win = np.sort(np.atleast_1d(np.asarray(windows if windows is not None else sim.design.timing.t_sense,
                                           dtype=float)))
    sim.read_windows_abs(win)
    return win, float(p_zero)


def _row(cond: Condition, samples: int, sim: ReadSimulator, readout: Readout) -> dict:
    return {"cell": cond.cell.value, "readout": readout.value, "vdd": cond.vdd, "temp_c": cond.temp_c,
            "corner": cond.corner.value, "i_compliance": cond.programming.i_compliance,
            "v_reset": cond.programming.v_reset, "rows": sim.design.rows, "samples": samples,
            "r_ref": sim.r_ref(cond.programming) if cond.cell == Cell.C1T1R else float("nan")}

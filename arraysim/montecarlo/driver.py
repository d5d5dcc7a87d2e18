"""Monte Carlo driver: a grid of conditions -> a BER table with intervals, delay and energy statistics.

Seeding: one root ``SeedSequence(seed)``; condition ``i`` of the grid (in grid order) uses
``SeedSequence(seed, spawn_key=(i,))`` and its chunk ``c`` the ``c``-th spawned child.  Chunks have a fixed
size and every instance is simulated independently, so the table is identical at any thread count.
Counts and statistics are streamed chunk by chunk: memory does not grow with the number of samples.
"""
from __future__ import annotations

import dataclasses
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


class _Accumulator:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.errors = 0
        self.unresolved = 0
        self.invalid = 0
        self.precharge_incomplete = 0
        self.n_plus = 0
        self.err_plus = 0
        self.n_minus = 0
        self.err_minus = 0
        self.steps = 0
        self.delay = StreamStats(1e-13, 1e-5)
        self.energy = StreamStats(1e-19, 1e-11)

    def add(self, weight, read, delay, energy, status, steps):
        ok = np.isin(status, VALID_STATUS)
        self.failed += int((~ok).sum())
        self.precharge_incomplete += int((status == VALID_STATUS[1]).sum())
        w, r = weight[ok], read[ok]
        self.n += int(ok.sum())
        err = r != w
        self.errors += int(err.sum())
        self.unresolved += int((r == 0).sum())
        self.invalid += int((r == INVALID).sum())
        self.n_plus += int((w > 0).sum())
        self.err_plus += int((err & (w > 0)).sum())
        self.n_minus += int((w < 0).sum())
        self.err_minus += int((err & (w < 0)).sum())
        self.steps += int(steps[ok].sum())
        self.delay.add(delay[ok])
        self.energy.add(energy[ok])

    def row(self) -> dict:
        lo, hi = binomial_ci(self.errors, self.n)
        d = {"n": self.n, "n_failed": self.failed, "errors": self.errors,
             "ber": self.errors / self.n if self.n else float("nan"), "ber_lo": lo, "ber_hi": hi,
             "n_unresolved": self.unresolved, "n_invalid": self.invalid,
             "n_precharge_incomplete": self.precharge_incomplete, "n_plus": self.n_plus,
             "err_plus": self.err_plus, "n_minus": self.n_minus, "err_minus": self.err_minus}
        d.update(self.delay.summary("delay"))
        d.update(self.energy.summary("energy"))
        d["steps_mean"] = self.steps / self.n if self.n else float("nan")
        return d


def run_ber(conditions: list[Condition], samples: int, seed: int = 0,
            simulator: ReadSimulator | None = None, variability=ALL_VARIABILITY,
            chunk_size: int = DEFAULT_CHUNK, progress: bool = False, readout=Readout.BINARY,
            threads: int | None = None) -> BERTable:
    """Binary-readout BER (95 % Clopper-Pearson interval), sense delay and energy per condition.

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
    variability = frozenset(Variability.parse(v) for v in variability)
    if threads is not None:
        from ..config import set_threads
        set_threads(threads)
    if not conditions:
        raise ValueError("the condition grid is empty")
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=samples * len(conditions), unit="read", desc="arraysim", dynamic_ncols=True)
    rows = []
    interrupted = False
    n_chunks = -(-samples // chunk_size)
    try:
        for i, cond in enumerate(conditions):
            acc = _Accumulator()
            children = np.random.SeedSequence(seed, spawn_key=(i,)).spawn(n_chunks)
            try:
                for c in range(n_chunks):
                    n = min(chunk_size, samples - c * chunk_size)
                    rng = np.random.Generator(np.random.PCG64(children[c]))
                    inst = draw_instances(rng, n, sim, cond.temp_c, cond.programming, cond.cell,
                                          variability)
                    raw = sim.run(cond.vdd, cond.temp_c, cond.corner, inst.dvt, inst.dbeta, inst.r_bl,
                                  inst.r_blb, ohmic_blb=inst.ohmic_blb)
                    read = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], cond.vdd)
                    acc.add(inst.weight, read, sense_delay(raw.tcross), raw.energy, raw.status,
                            raw.steps)
                    if bar is not None:
                        bar.update(n)
            finally:
                if acc.n + acc.failed > 0:
                    rows.append(_row(cond, samples, sim, readout) | acc.row())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    meta = {"seed": int(seed), "samples_per_condition": samples, "chunk_size": int(chunk_size),
            "variability": sorted(v.value for v in variability), "readout": readout.value,
            "interrupted": interrupted, "seeding": "SeedSequence(seed, spawn_key=(condition index,)), "
            "spawn() child per chunk", "model": sim.describe()}
    return BERTable(rows=rows, meta=meta)


def _row(cond: Condition, samples: int, sim: ReadSimulator, readout: Readout) -> dict:
    return {"cell": cond.cell.value, "readout": readout.value, "vdd": cond.vdd, "temp_c": cond.temp_c,
            "corner": cond.corner.value, "i_compliance": cond.programming.i_compliance,
            "v_reset": cond.programming.v_reset, "rows": sim.design.rows, "samples": samples,
            "r_ref": sim.r_ref(cond.programming) if cond.cell == Cell.C1T1R else float("nan")}


def condition_dict(cond: Condition) -> dict:
    d = dataclasses.asdict(cond)
    d["corner"] = cond.corner.value
    d["cell"] = cond.cell.value
    return d

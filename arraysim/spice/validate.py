"""Kernel versus SPICE on the same Monte Carlo instances (``arraysim validate``).

Instances are drawn with :func:`arraysim.montecarlo.sampling.draw_instances` (seeded), spread evenly over
the conditions VDD x temperature x corner (``samples`` in total; condition c of C gets
``samples // C`` plus one of the remainder).  Each is simulated by the kernel
(:meth:`ReadSimulator.run`) and by ngspice (:mod:`arraysim.spice.netlist`, model family ``compact`` =
the project's own EKV model as behavioural sources, or ``sky130`` = SkyWater BSIM4 with the calibrated
technology ``sky130``).  Compared per instance: decision, delay (earlier falling crossing of VDD/2
from SE at 50 %), energy over the kernel's cycle length.

Metastable band.  An instance whose decision is set by less than the two simulators' numerical
disagreement cannot be expected to agree.  An instance is *metastable* when
(a) the kernel's decision changes when the threshold of MN_X_Q (one side of the latch) is moved by
    +0.1 mV or -0.1 mV (``META_DVT``; an input-referred offset of 0.1 mV is far below the mismatch sigma
    and far above what the integrators resolve), or
(b) at the read instant either kernel output is within 5 % of VDD of the VDD/2 threshold
    (``META_VBAND``: the latch has not resolved by the end of the window, so the decoded value depends
    on the exact waveform timing).
Agreement is reported outside and inside the band separately.  Instances whose SPICE run failed, or
whose kernel status is not valid, are counted and listed, never dropped.

Not precharged.  A read starts from the precharged state, the DC state with SE = 0, in which a working
sense amplifier holds both outputs at VDD.  Near threshold in the fast-NMOS/slow-PMOS corners and cold (SKY130
0.4 V everywhere, 0.6 V at -40 degC ss/fs) the precharge PMOS cannot hold the outputs against the latch's NMOS
leakage: the latch has several equilibria with SE = 0 (already latched either way, or the symmetric saddle),
and which one a DC solver returns depends on its path, not on the circuit.  Both simulators therefore start
such an instance from the state the circuit itself reaches with SE held low from Q = QB = VDD (the kernel:
:func:`arraysim.kernels.transient.dc_operating_point`; ngspice: a second run from that drift,
:func:`arraysim.spice.netlist.drift_states`, column ``drift_start_spice``; run where ngspice's operating point
or the kernel's start is not precharged, so that an operating point a few mV either side of the line in the two
models does not give the two simulators different rules).  Before stop 22 each took its
solver's operating point, and all 17 decision misses in 3,055 instances were such instances.  Where the level
the outputs sag to balances deep-subthreshold currents it still differs between the simulators by mV.  An
instance is *not precharged* when either simulator's start state has an output below ``PRECHARGE_MIN`` x VDD;
its decision is compared and reported (``agree_outside_%`` counts it), and the agreement over the instances
that precharged in both simulators is reported as well (``agree_precharged_%``).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..devices.rram import Programming
from ..kernels.transient import PRECHARGED
from ..montecarlo.engine import VALID_STATUS, STATUS_TEXT
from ..montecarlo.driver import check_readout, make_grid
from ..montecarlo.readout import decode_binary, sense_delay
from ..montecarlo.sampling import draw_instances
from ..options import ALL_VARIABILITY, Cell, Corner, Readout
from .netlist import MODELS, check_spice_options, deck_options, simulate

META_DVT = 1e-4  # V
META_VBAND = 0.05  # fraction of VDD
PRECHARGE_MIN = PRECHARGED  # fraction of VDD: an output below it in the start (SE = 0) state: not precharged
DEFAULT_BATCH = {"compact": 1, "sky130": 4}
"""Instances per ngspice deck (measured, ngspice 39, one process: compact 1.27 instances/s with 1 per deck,
0.42/s with 5; sky130 2.41/s with 1, 3.17/s with 4, 1.78/s with 10 -- the PDK include's load time is shared,
while all copies of a deck share the smallest time step)."""

COLUMNS = ("vdd", "temp", "corner", "index", "weight", "x", "expected", "r_bl", "r_blb", "kernel_status", "spice_status",
           "metastable", "decision_kernel", "decision_spice", "agree", "delay_kernel", "delay_spice",
           "delay_err", "energy_kernel", "energy_spice", "energy_err", "v_q_kernel", "v_qb_kernel",
           "v_q_spice", "v_qb_spice", "t_cycle", "v_q_pre_kernel", "v_qb_pre_kernel", "v_q_pre_spice",
           "v_qb_pre_spice", "not_precharged", "drift_start_spice")


@dataclass
class Validation:
    model: str
    technology: str
    readout: str = "binary"
    window: float | None = None
    threshold: float = 0.5
    rows: list[dict] = field(default_factory=list)
    kernel_seconds: float = 0.0
    spice_seconds: float = 0.0
    n_spice_retried: int = 0
    """Instances whose ngspice run succeeded only on the retry with a 0.1 ns largest step."""
    meta: dict = field(default_factory=dict)
    """Provenance: seed, samples, conditions, readout, SPICE options, versions (:func:`validate` fills it)."""

    # ---------------------------------------------------------------------------------------------
    def summary(self, rows=None) -> dict:
        rows = self.rows if rows is None else rows
        both = [r for r in rows if r["kernel_status"] == "ok" and r["spice_status"] == "ok"]
        out_b = [r for r in both if not r["metastable"]]
        in_b = [r for r in both if r["metastable"]]
        pre = [r for r in out_b if not r["not_precharged"]]
        de = np.array([abs(r["delay_err"]) for r in out_b if np.isfinite(r["delay_err"])])
        ee = np.array([abs(r["energy_err"]) for r in both if np.isfinite(r["energy_err"])])
        # reads that resolved (an output crossed VDD/2 in the window) in either simulator: the unresolved ones
        # (near-threshold supplies) draw aJ of leakage, whose relative error says little about a read's energy
        er = np.array([abs(r["energy_err"]) for r in both if np.isfinite(r["energy_err"])
                       and (np.isfinite(r["delay_kernel"]) or np.isfinite(r["delay_spice"]))])

        def pct(a, fn):
            return float(fn(a)) * 100 if a.size else math.nan

        def stat(key, fn, scale):
            a = np.array([r[key] for r in both if np.isfinite(r[key])])
            return float(fn(a)) * scale if a.size else math.nan

        return {"n": len(rows), "n_compared": len(both),
                "n_spice_failed": sum(r["spice_status"] != "ok" for r in rows),
                "n_kernel_failed": sum(r["kernel_status"] != "ok" for r in rows),
                "n_metastable": len(in_b),
                "agree_outside_%": 100.0 * sum(r["agree"] for r in out_b) / len(out_b) if out_b else math.nan,
                "n_disagree_outside": sum(not r["agree"] for r in out_b),
                "agree_in_band_%": 100.0 * sum(r["agree"] for r in in_b) / len(in_b) if in_b else math.nan,
                "n_not_precharged": sum(r["not_precharged"] for r in both),
                "agree_precharged_%": 100.0 * sum(r["agree"] for r in pre) / len(pre) if pre else math.nan,
                "n_disagree_precharged": sum(not r["agree"] for r in pre),
                "delay_err_median_%": pct(de, np.median), "delay_err_max_%": pct(de, np.max),
                "energy_err_median_%": pct(ee, np.median), "energy_err_max_%": pct(ee, np.max),
                "n_resolved": int(er.size), "energy_err_median_resolved_%": pct(er, np.median),
                # absolute values over the compared instances (both simulators on the same instances)
                "delay_kernel_median_ns": stat("delay_kernel", np.median, 1e9),
                "delay_spice_median_ns": stat("delay_spice", np.median, 1e9),
                "energy_kernel_mean_fJ": stat("energy_kernel", np.mean, 1e15),
                "energy_spice_mean_fJ": stat("energy_spice", np.mean, 1e15),
                # reads that differ from the expected value (weight, or XNOR(x, w)), per simulator
                "errors_kernel": sum(int(r["decision_kernel"]) != int(r["expected"]) for r in both),
                "errors_spice": sum(int(r["decision_spice"]) != int(r["expected"]) for r in both)}

    def by_condition(self) -> list[dict]:
        keys = []
        for r in self.rows:
            k = (r["vdd"], r["temp"], r["corner"])
            if k not in keys:
                keys.append(k)
        out = []
        for k in keys:
            s = self.summary([r for r in self.rows if (r["vdd"], r["temp"], r["corner"]) == k])
            out.append({"vdd": k[0], "temp": k[1], "corner": k[2], **s})
        return out

    def to_text(self) -> str:
        cols = ("vdd", "temp", "corner", "n", "n_compared", "n_spice_failed", "n_kernel_failed",
                "n_metastable", "agree_outside_%", "agree_in_band_%", "n_not_precharged", "agree_precharged_%",
                "errors_kernel", "errors_spice",
                "delay_kernel_median_ns", "delay_err_median_%", "delay_err_max_%",
                "energy_kernel_mean_fJ", "energy_err_median_%", "energy_err_max_%", "energy_err_median_resolved_%")
        head = ["vdd", "temp", "corner", "n", "cmp", "sp_fail", "k_fail", "meta", "agree%", "agree_meta%",
                "no_pre", "agree_pre%", "err_kernel", "err_spice", "dly_k[ns]", "dly_med%", "dly_max%", "E_k[fJ]", "E_med%", "E_max%",
                "E_res_med%"]
        win = "end of the sense window" if self.window is None else f"{self.window * 1e9:g} ns"
        lines = [f"kernel vs SPICE ({self.model} family, technology {self.technology}), {self.readout} readout "
                 f"read at {win}, threshold {self.threshold:g} VDD; errors = |SPICE/kernel - 1|, delay "
                 "outside the metastable band; E_res_med% = energy error over the reads that resolved (an output "
                 "crossed VDD/2) in either simulator; err_* = reads differing from the programmed value; no_pre = "
                 f"not precharged (an output below {PRECHARGE_MIN:g} VDD with SE = 0 in either simulator), "
                 "agree_pre% = agreement outside the band over the precharged instances"]
        if self.meta.get("interrupted"):
            lines.append(f"INTERRUPTED: only the {self.meta.get('conditions_done', 0)} condition(s) below were "
                         "compared")
        lines.append("".join(f"{h:>12}" for h in head))

        def fmt(v):
            if isinstance(v, str):
                return f"{v:>12}"
            if isinstance(v, (int, np.integer)):
                return f"{int(v):>12d}"
            return f"{v:>12.4g}"
        for r in self.summary_rows():
            lines.append("".join(fmt(r[c]) for c in cols))
        n = len(self.rows)
        if n:
            tk, ts = max(self.kernel_seconds, 1e-9), max(self.spice_seconds, 1e-9)
            lines.append(f"time: kernel {tk:.3g} s ({n / tk:.4g} samples/s, incl. compilation on first use), "
                         f"SPICE {ts:.3g} s ({n / ts:.4g} samples/s)")
        nd = sum(bool(r.get("drift_start_spice")) for r in self.rows)
        if nd:
            lines.append(f"{nd} instance(s) not precharged at ngspice's operating point or the kernel's start, "
                         "started from the SE = 0 drift in both simulators")
        if self.n_spice_retried:
            lines.append(f"{self.n_spice_retried} SPICE run(s) failed at the default largest time step and "
                         "succeeded on the retry with 0.1 ns")
        bad = [r for r in self.rows if r["spice_status"] != "ok" or r["kernel_status"] != "ok"]
        for r in bad[:20]:
            lines.append(f"  not compared: vdd={r['vdd']} temp={r['temp']} corner={r['corner']} "
                         f"index={r['index']}: kernel {r['kernel_status']}, SPICE {r['spice_status']}")
        dis = [r for r in self.rows if r["kernel_status"] == "ok" and r["spice_status"] == "ok"
               and not r["metastable"] and not r["agree"]]
        for r in dis[:20]:
            lines.append(f"  DISAGREE outside band: vdd={r['vdd']} temp={r['temp']} corner={r['corner']} "
                         f"index={r['index']}: kernel {r['decision_kernel']} SPICE {r['decision_spice']}"
                         + (" (not precharged)" if r["not_precharged"] else ""))
        return "\n".join(lines)

    def csv_text(self) -> str:
        """The per-instance table (:data:`COLUMNS`) as CSV text."""
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=COLUMNS)
        w.writeheader()
        for r in self.rows:
            w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in r.items()})
        return buf.getvalue()

    def summary_rows(self) -> list[dict]:
        """:meth:`by_condition` and the overall row (``vdd`` "all")."""
        return self.by_condition() + [{"vdd": "all", "temp": "", "corner": "", **self.summary()}]

    def summary_csv_text(self) -> str:
        """:meth:`summary_rows` as CSV text."""
        rows = self.summary_rows()
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def write_csv(self, path) -> None:
        """Write :meth:`csv_text` to ``path`` (atomically: no partial file)."""
        from ..io.tables import atomic_write
        atomic_write(path, self.csv_text().encode())

    def plot(self, path) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ok = [r for r in self.rows if r["kernel_status"] == "ok" and r["spice_status"] == "ok"]
        fig, ax = plt.subplots(2, 2, figsize=(10, 8))
        for meta, colour, lab in ((False, "C0", "outside band"), (True, "C3", "metastable")):
            rr = [r for r in ok if r["metastable"] == meta]
            dk = np.array([r["delay_kernel"] for r in rr]) * 1e9
            ds = np.array([r["delay_spice"] for r in rr]) * 1e9
            ek = np.array([r["energy_kernel"] for r in rr]) * 1e15
            es = np.array([r["energy_spice"] for r in rr]) * 1e15
            ax[0, 0].loglog(dk, ds, ".", color=colour, label=lab)
            ax[0, 1].loglog(ek, es, ".", color=colour, label=lab)
        for a, what in ((ax[0, 0], "delay [ns]"), (ax[0, 1], "energy [fJ]")):
            lim = [x for x in a.get_xlim()]
            a.plot(lim, lim, "k-", lw=0.5)
            a.set_xlabel(f"kernel {what}")
            a.set_ylabel(f"SPICE {what}")
            a.legend()
        de = np.array([r["delay_err"] for r in ok if not r["metastable"] and np.isfinite(r["delay_err"])])
        ee = np.array([r["energy_err"] for r in ok if np.isfinite(r["energy_err"])])
        if de.size:
            ax[1, 0].hist(de * 100, bins=40)
        ax[1, 0].set_xlabel("delay error SPICE/kernel - 1 [%] (outside band)")
        if ee.size:
            ax[1, 1].hist(ee * 100, bins=40)
        ax[1, 1].set_xlabel("energy error SPICE/kernel - 1 [%]")
        fig.suptitle(f"kernel vs SPICE ({self.model}, {self.technology}), "
                     f"{len(ok)} of {len(self.rows)} compared")
        fig.tight_layout()
        from ..plotting import save_figure
        try:
            save_figure(fig, path)  # atomically: no partial file
        finally:
            plt.close(fig)


def technology_for(model: str) -> str:
    """Technology the kernel uses against the given model family."""
    if model == "compact":
        return "generic130"
    from ..cmos.technologies import available_technologies
    if "sky130" not in available_technologies():
        raise ValueError("--model sky130 needs the calibrated technology 'sky130', which is not registered "
                         f"(available: {', '.join(available_technologies())}); run the calibration first "
                         "(arraysim.spice.calibrate)")
    return "sky130"


def metastable_flags(sim, vdd, temp_c, corner, inst, raw, x=None, window=None,
                     threshold: float = 0.5) -> np.ndarray:
    """Metastable-band flag per instance (see the module docstring); ``x``, ``window`` and ``threshold``
    as for the read being checked (XNOR input, read instant, logic threshold as a fraction of VDD)."""
    i = list(sim.transistor_names).index("MN_X_Q")
    win = None if window is None else [window]
    dec0 = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd, threshold)
    flag = np.zeros(dec0.shape, dtype=bool)
    for sgn in (+1.0, -1.0):
        dvt = inst.dvt.copy()
        dvt[:, i] += sgn * META_DVT
        r2 = sim.run(vdd, temp_c, corner, dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb,
                     windows=win, x=x)
        flag |= decode_binary(r2.vout[:, -1, 0], r2.vout[:, -1, 1], vdd, threshold) != dec0
    near = np.abs(raw.vout[:, -1, :] - threshold * vdd) < META_VBAND * vdd
    return flag | near.any(axis=1)


def drawn_instances(sim, samples, conds, seed, prog, cell, readout, p_zero):
    """The instances :func:`validate` compares, condition by condition: yields ``(vdd, temp, corner, inst,
    x)`` for each condition of ``conds`` ((vdd, temp, corner) tuples) that gets any of the ``samples``
    (condition c of C gets ``samples // C`` plus one of the remainder), drawn from one generator seeded
    with ``seed``; ``x`` is the XNOR input (drawn after the instance) or None."""
    counts = [samples // len(conds) + (1 if c < samples % len(conds) else 0) for c in range(len(conds))]
    rng = np.random.default_rng(seed)
    for (vdd, temp, corner), n in zip(conds, counts):
        if n == 0:
            continue
        inst = draw_instances(rng, n, sim, temp, prog, cell, ALL_VARIABILITY, p_zero)
        x = (rng.random(n) < 0.5).astype(np.int8) if readout == Readout.XNOR else None
        yield vdd, temp, corner, inst, x


def condition_instances(sim, condition, samples, vdds, temps, corners, seed, readout="binary", cell="2t2r",
                        prog: Programming | None = None, p_zero: float | None = None):
    """The instances (and XNOR inputs, else None) that :func:`validate` with these arguments draws for one
    ``condition`` = (vdd, temp, corner): to re-run an instance a validate table lists (its ``index`` is the row).
    ``sim`` must be the simulator validate used (its circuit sets the XNOR draw)."""
    readout = Readout.parse(readout)
    if p_zero is None:
        p_zero = 1.0 / 3.0 if readout == Readout.TERNARY else 0.0
    conds = list(itertools.product([float(v) for v in vdds], [float(t) for t in temps],
                                   [Corner.parse(c).value for c in corners]))
    want = (float(condition[0]), float(condition[1]), Corner.parse(condition[2]).value)
    for vdd, temp, corner, inst, x in drawn_instances(sim, samples, conds, seed, prog or Programming(),
                                                      Cell.parse(cell), readout, p_zero):
        if (vdd, temp, corner) == want:
            return inst, x
    raise ValueError(f"condition {condition} gets no instance of {samples} over {len(conds)} conditions")


def validate(model="compact", samples=20, vdds=(0.8,), temps=(27.0,), corners=("tt",), seed=0,
             cell="2t2r", prog: Programming | None = None, batch: int | None = None, sim=None, progress=None,
             timeout: float | None = 600.0, readout="binary", window: float | None = None,
             threshold: float = 0.5, p_zero: float | None = None, spice_options=None) -> Validation:
    """Draw ``samples`` instances over the conditions, run kernel and ngspice, compare.

    ``readout``: "binary" (the plain PCSA), "xnor" (the XNOR circuit; each instance also gets a random
    input x, drawn after the instance so the instances equal the binary ones) or "ternary" (weights
    0 = HRS/HRS with probability ``p_zero``, default 1/3).  ``window`` [s]: read instant after the end of
    the SE ramp (default the whole sense window); ``threshold``: an output is low below threshold*VDD.
    The decision compared is the decoded read value of both simulators' output voltages at that
    instant (+1, -1, 0 = both high, 2 = both low).  With ``model="compact"`` the kernel runs the compact
    model for every transistor (``PCSADesign.iv_tables`` off), as the deck does.  ``spice_options``: ngspice
    ``.options`` of the read decks over the family's (:func:`arraysim.spice.netlist.check_spice_options`; the SE = 0
    drift decks keep theirs).  The result's ``meta`` records the run's parameters and versions.

    On KeyboardInterrupt the conditions compared so far are kept (a condition's rows are added only when both
    simulators have finished it) and ``meta["interrupted"]`` is True; ``meta["conditions_done"]`` counts them."""
    import time

    from ..api import simulator

    if model not in MODELS:
        raise ValueError(f"unknown SPICE model family {model!r}; allowed: {', '.join(MODELS)}")
    readout = Readout.parse(readout)
    tech = technology_for(model) if sim is None else sim.tech.name
    batch = DEFAULT_BATCH[model] if batch is None else int(batch)
    sim = sim if sim is not None else simulator(tech)
    if model == "compact" and sim.tabulated():  # the compact deck carries the compact model's equations
        sim = type(sim)(sim.tech, sim.design.with_(iv_tables=False), sim.rram, sim.tol, sim.circuit)
    sim = sim.with_circuit("xnor" if readout == Readout.XNOR else "pcsa")
    prog = prog if prog is not None else Programming()
    cell = Cell.parse(cell)
    conds = list(itertools.product([float(v) for v in vdds], [float(t) for t in temps],
                                   [Corner.parse(c).value for c in corners]))
    if samples < 1:
        raise ValueError("samples must be >= 1")
    spice_options = check_spice_options(spice_options)
    grid = make_grid(list(vdds), list(temps), list(corners), programming=[prog], cell=[cell])
    win, p_zero = check_readout(grid, sim, readout, None if window is None else [window], threshold, p_zero)
    window = None if window is None else float(win[0])
    val = Validation(model=model, technology=sim.tech.name, readout=readout.value, window=window,
                     threshold=float(threshold))
    from .. import __version__
    from .runner import ngspice_version
    val.meta = {"arraysim_version": __version__, "ngspice": ngspice_version(), "model": model,
                "technology": sim.tech.name, "seed": int(seed), "samples": int(samples),
                "vdd": [float(v) for v in vdds], "temp": [float(t) for t in temps],
                "corner": [Corner.parse(c).value for c in corners],
                "cell": cell.value, "programming": dataclasses.asdict(prog),
                "readout": readout.value, "window_s": window, "threshold": float(threshold), "p_zero": p_zero,
                "batch": batch, "spice_options": deck_options(model, spice_options),
                "spice_options_given": spice_options,
                "kernel": sim.describe()}  # the kernel's circuit, technology, design and tolerances
    done = 0
    interrupted = False
    try:
        for vdd, temp, corner, inst, x in drawn_instances(sim, samples, conds, seed, prog, cell, readout, p_zero):
            n = inst.r_bl.size
            win = None if window is None else [window]
            t0 = time.perf_counter()
            raw = sim.run(vdd, temp, corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb,
                          windows=win, x=x)
            val.kernel_seconds += time.perf_counter() - t0
            meta = metastable_flags(sim, vdd, temp, corner, inst, raw, x, window, threshold)
            kdec = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd, threshold)
            kdel = sense_delay(raw.tcross)
            kok = np.isin(raw.status, VALID_STATUS)
            k_low = np.any(raw.v_pre < PRECHARGE_MIN * vdd, axis=1)  # the kernel's start is not precharged
            sp = simulate(sim, vdd, temp, corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb,
                          model=model, t_cycle=np.where(kok, raw.tcycle, np.nan), batch=batch, timeout=timeout,
                          x=x, window=window, drift_also=k_low, options=spice_options)
            sdec = decode_binary(sp["v_q"], sp["v_qb"], vdd, threshold)
            val.spice_seconds += sp["seconds"]
            # the value a correct read gives: the weight, or XNOR(x, w) = w for x = 1 and -w for x = 0
            expected = inst.weight.astype(int) if x is None else np.where(x == 1, 1, -1) * inst.weight
            rows = []  # the condition's rows, added to the result only when all of them are complete
            for k in range(n):
                ks = "ok" if kok[k] else STATUS_TEXT.get(int(raw.status[k]), str(raw.status[k]))
                ss = str(sp["status"][k])
                dk, ds = float(kdel[k]), float(sp["delay"][k])
                ek, es = float(raw.energy[k]), float(sp["energy"][k])
                rows.append({
                    "vdd": vdd, "temp": temp, "corner": corner, "index": k, "weight": int(inst.weight[k]),
                    "x": int(x[k]) if x is not None else "", "expected": int(expected[k]),
                    "r_bl": float(inst.r_bl[k]), "r_blb": float(inst.r_blb[k]), "kernel_status": ks,
                    "spice_status": ss, "metastable": bool(meta[k]), "decision_kernel": int(kdec[k]),
                    "decision_spice": int(sdec[k]) if ss == "ok" else "",
                    "agree": bool(ss == "ok" and ks == "ok" and int(sdec[k]) == int(kdec[k])),
                    "delay_kernel": dk, "delay_spice": ds,
                    "delay_err": ds / dk - 1 if (ss == "ok" and np.isfinite(dk) and dk > 0) else math.nan,
                    "energy_kernel": ek, "energy_spice": es,
                    "energy_err": es / ek - 1 if (ss == "ok" and ks == "ok" and ek > 0) else math.nan,
                    "v_q_kernel": float(raw.vout[k, -1, 0]), "v_qb_kernel": float(raw.vout[k, -1, 1]),
                    "v_q_spice": float(sp["v_q"][k]), "v_qb_spice": float(sp["v_qb"][k]),
                    "t_cycle": float(raw.tcycle[k]),
                    "v_q_pre_kernel": float(raw.v_pre[k, 0]), "v_qb_pre_kernel": float(raw.v_pre[k, 1]),
                    "v_q_pre_spice": float(sp["v_q0"][k]), "v_qb_pre_spice": float(sp["v_qb0"][k]),
                    "not_precharged": bool(k_low[k] or sp["v_q0"][k] < PRECHARGE_MIN * vdd
                                           or sp["v_qb0"][k] < PRECHARGE_MIN * vdd),
                    "drift_start_spice": bool(sp["drift_start"][k])})
            val.rows.extend(rows)
            val.n_spice_retried += int(np.sum(sp.get("retried", 0)))
            done += n
            if progress is not None:
                progress(done, samples)
    except KeyboardInterrupt:
        interrupted = True
    val.meta["interrupted"] = interrupted
    val.meta["conditions_done"] = len({(r["vdd"], r["temp"], r["corner"]) for r in val.rows})
    return val

"""ngspice's own time-step error on validate's instances: the SKY130 read decks at their options against the same
decks with a much smaller largest time step.

    python benchmarks/referee_convergence.py [--samples 75] [--seed 1] [--vdd 0.4 0.6 0.8 1.2 1.8]
        [--temp -40 27 125] [--corner tt ff ss fs sf] [--option chgtol=1e-14 ...] [--tmax 2e-11] [--out FILE]

The instances are drawn as ``arraysim validate --model sky130`` draws them (``--samples`` spread over the
grid, one generator seeded with ``--seed``); the kernel runs them first (its cycle length and its
not-precharged instances are passed on as validate passes them).  Each instance then runs through ngspice
twice: with the read decks' options (``arraysim.spice.netlist.SKY130_OPTIONS``, changed by ``--option
name=value``) and with the same options and ``--tmax`` as the largest time step (default 20 ps, 50x below the
decks' 1 ns: the converged reference; tighter reltol/trtol together with a small chgtol stop with "timestep too
small").  Printed per supply, over the reads that resolved (an output crossed VDD/2 in either ngspice run):
the median and largest |change| of ngspice's delay and energy between the two runs, and the kernel's error
against each (|SPICE / kernel - 1|, validate's measure), i.e. how much of validate's figure is the referee's own.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from _report import emit


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=75)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--vdd", nargs="+", type=float, default=[0.4, 0.6, 0.8, 1.2, 1.8])
    p.add_argument("--temp", nargs="+", type=float, default=[-40.0, 27.0, 125.0])
    p.add_argument("--corner", nargs="+", default=["tt", "ff", "ss", "fs", "sf"])
    p.add_argument("--option", nargs="*", default=[], help="override of the decks' .options, name=value")
    p.add_argument("--tmax", type=float, default=2e-11, help="largest time step of the reference runs [s]")
    p.add_argument("--out", default=None, help="also write the printed report to this file")
    a = p.parse_args(argv)
    from arraysim.spice.netlist import parse_spice_options
    try:
        opts = parse_spice_options(a.option)
    except ValueError as e:
        p.error(str(e))

    from arraysim.api import simulator
    from arraysim.devices.rram import Programming
    from arraysim.montecarlo.readout import sense_delay
    from arraysim.options import Cell, Readout
    from arraysim.spice.netlist import deck_options, simulate
    from arraysim.spice.runner import ngspice_version
    from arraysim.spice.validate import PRECHARGE_MIN, drawn_instances

    sim = simulator("sky130")
    conds = list(itertools.product(a.vdd, a.temp, a.corner))
    rows = []
    secs = [0.0, 0.0]
    n_failed = 0
    for vdd, temp, corner, inst, _ in drawn_instances(sim, a.samples, conds, a.seed, Programming(), Cell.C2T2R,
                                                      Readout.BINARY, 0.0):
        raw = sim.run(vdd, temp, corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
        k_low = np.any(raw.v_pre < PRECHARGE_MIN * vdd, axis=1)
        args = (sim, vdd, temp, corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
        kw = dict(model="sky130", t_cycle=raw.tcycle, options=opts, drift_also=k_low)
        runs = [simulate(*args, **kw), simulate(*args, tmax=a.tmax, **kw)]
        for j, r in enumerate(runs):
            secs[j] += r["seconds"]
        kd = sense_delay(raw.tcross)
        for k in range(inst.r_bl.size):
            if any(r["status"][k] != "ok" for r in runs):
                n_failed += 1
                continue
            d0, d1 = runs[0]["delay"][k], runs[1]["delay"][k]
            e0, e1 = runs[0]["energy"][k], runs[1]["energy"][k]
            if not (np.isfinite(d0) or np.isfinite(d1)):
                continue  # unresolved: leakage energies of aJ, no delay
            rows.append((vdd, d1 / d0 - 1, e1 / e0 - 1, d0 / kd[k] - 1, d1 / kd[k] - 1,
                         e0 / raw.energy[k] - 1, e1 / raw.energy[k] - 1))
        print(f"{vdd} V {temp} degC {corner}: done ({len(rows)} resolved reads so far)", flush=True)

    used = deck_options("sky130", opts)
    out = [f"ngspice's own time-step error, SKY130 read decks ({ngspice_version()}), {a.samples} instances "
           f"(seed {a.seed}) over VDD {a.vdd} x {a.temp} degC x {a.corner}",
           "options: " + " ".join(f"{k}={v}" for k, v in used.items()) + f"; reference: the same with tmax {a.tmax:g} s",
           f"ngspice time: {secs[0]:.1f} s at the options, {secs[1]:.1f} s with tmax {a.tmax:g} s; "
           f"{n_failed} instance(s) failed in a run (left out)",
           "over the resolved reads: |ref/opt - 1| of ngspice (median / max, %), signed median; the kernel's "
           "|SPICE/kernel - 1| against either run (median, %)",
           f"{'VDD':>5} {'n':>4} {'dly med':>8} {'dly max':>8} {'dly sgn':>8} {'E med':>7} {'E max':>7} {'E sgn':>7}"
           f" {'k-dly opt':>9} {'k-dly ref':>9} {'k-E opt':>8} {'k-E ref':>8}"]
    arr = np.array(rows, dtype=float).reshape(-1, 7)
    for v in sorted(set(arr[:, 0])) + ["all"]:
        m = arr if v == "all" else arr[arr[:, 0] == v]

        def st(col, fn, absval=True):
            x = m[:, col]
            x = x[np.isfinite(x)]
            return float(fn(np.abs(x) if absval else x)) * 100 if x.size else float("nan")

        out.append(f"{v if v == 'all' else f'{v:.2f}':>5} {len(m):>4} {st(1, np.median):8.2f} {st(1, np.max):8.2f} "
                   f"{st(1, np.median, False):8.2f} {st(2, np.median):7.2f} {st(2, np.max):7.2f} "
                   f"{st(2, np.median, False):7.2f} {st(3, np.median):9.2f} {st(4, np.median):9.2f} "
                   f"{st(5, np.median):8.2f} {st(6, np.median):8.2f}")
    emit(out, a.out)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)")

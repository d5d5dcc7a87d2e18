"""Kernel versus ngspice speed on the same read instances.

    python benchmarks/bench_spice.py [--samples 20] [--vdd 0.8] [--model auto|compact|sky130] [--batch 1]

Draws the instances once (seeded), times ReadSimulator.run on them (after a warm-up call that compiles the
kernel; the median of ``--kernel-repeats`` runs, which must give identical results; then the same on one
thread, the per-core figure) and the ngspice runs of the same instances (sky130 family when the SKY130 models and the calibrated
technology are available, else the compact family), and prints samples/s of each and the ratio.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--vdd", type=float, default=0.8)
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--corner", default="tt")
    p.add_argument("--model", default="auto", choices=("auto", "compact", "sky130"))
    p.add_argument("--batch", type=int, default=1, help="instances per ngspice deck")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kernel-repeats", type=int, default=7,
                   help="time the kernel this many times on the same instances and take the median (one call "
                   "on ~100 instances lasts only ~20 ms)")
    a = p.parse_args(argv)

    from arraysim.api import simulator
    from arraysim.devices.rram import Programming
    from arraysim.montecarlo.sampling import draw_instances
    from arraysim.options import ALL_VARIABILITY, Cell
    from arraysim.spice.netlist import simulate
    from arraysim.spice.runner import ngspice_version

    model = a.model
    if model == "auto":
        from _report import sky130_ready
        model = "sky130" if sky130_ready() else "compact"
    sim = simulator("sky130" if model == "sky130" else "generic130")
    inst = draw_instances(np.random.default_rng(a.seed), a.samples, sim, a.temp, Programming(), Cell.C2T2R,
                          ALL_VARIABILITY)
    args = (a.vdd, a.temp, a.corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
    sim.run(*(args[:3] + tuple(x[:1] for x in args[3:7]) + (args[7],)))  # compile / warm up
    import numba

    def timed(ref=None):
        """Median wall time of ``--kernel-repeats`` runs and the result; each must equal ``ref`` (or the first)."""
        times = []
        for _ in range(max(1, a.kernel_repeats)):
            t0 = time.perf_counter()
            got = sim.run(*args)
            times.append(time.perf_counter() - t0)
            if ref is not None and not np.array_equal(ref.tcycle, got.tcycle, equal_nan=True):
                raise RuntimeError("kernel results differ between runs (repeats or thread counts)")
            ref = got
        return float(np.median(times)), min(times), max(times), ref

    tk, tmin, tmax, raw = timed()
    # the same on one thread (per-core comparison: ngspice runs on one core)
    nthreads = numba.get_num_threads()
    numba.set_num_threads(1)
    tk1 = timed(raw)[0]
    numba.set_num_threads(nthreads)
    res = simulate(sim, *args, model=model, t_cycle=raw.tcycle, batch=a.batch)
    ts = res["seconds"]
    ok = int(np.sum(res["status"] == "ok"))
    print(f"{a.samples} instances, VDD {a.vdd} V, {a.temp} degC, {a.corner}; technology {sim.tech.name}; "
          f"SPICE family {model} ({ngspice_version()}), batch {a.batch}; SPICE ok {ok}/{a.samples}")
    print(f"kernel : {tk:9.4f} s  {a.samples / tk:12.1f} samples/s  ({nthreads} threads, numba default; median "
          f"of {max(1, a.kernel_repeats)} runs, min {tmin:.4f} s, max {tmax:.4f} s)")
    print(f"kernel : {tk1:9.4f} s  {a.samples / tk1:12.1f} samples/s  (1 thread; median of {max(1, a.kernel_repeats)} runs)")
    print(f"ngspice: {ts:9.4f} s  {a.samples / ts:12.2f} samples/s  (one process, one core)")
    print(f"ratio  : kernel is {ts / tk:.0f}x faster ({nthreads} threads), {ts / tk1:.0f}x per core")


if __name__ == "__main__":
    main()

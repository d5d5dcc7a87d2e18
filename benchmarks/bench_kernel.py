"""Kernel throughput, thread scaling and peak memory against sample count.

    python benchmarks/bench_kernel.py            # full run (~2 min on 2 cores)
    python benchmarks/bench_kernel.py --quick    # smaller sizes

Prints a Markdown table (pasted into the README's performance section) and writes
benchmarks/results_kernel.json.  Throughput is measured through the public driver (sampling, kernel,
decoding, streamed statistics), after a JIT warm-up, with all variability sources on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def throughput(vdd: float, samples: int, threads: int) -> tuple[float, float]:
    import arraysim

    t0 = time.perf_counter()
    t = arraysim.ber_table(vdd=vdd, samples=samples, seed=123, threads=threads)
    dt = time.perf_counter() - t0
    return samples / dt, t.rows[0]["steps_mean"]


def peak_rss_mb(samples: int) -> float:
    code = ("import resource, arraysim; arraysim.ber_table(vdd=1.2, samples=%d, seed=1); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)" % samples)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    import numba

    import arraysim
    from arraysim.config import versions

    n_tp = 4000 if args.quick else 20000
    mem_sizes = [1000, 10000] if args.quick else [1000, 10000, 100000]
    arraysim.ber_table(vdd=[1.2, 0.5], samples=64, seed=0)  # JIT warm-up / cache load
    res = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "numba_threads": numba.config.NUMBA_NUM_THREADS},
           "versions": versions(),
           "throughput": [], "memory": []}
    print(f"# arraysim kernel benchmark ({'quick' if args.quick else 'full'}), {os.cpu_count()} cores\n")
    print("| VDD [V] | threads | samples | reads/s | steps/read |")
    print("|---|---|---|---|---|")
    for vdd in (1.2, 0.5):
        rates = {}
        for th in (1, 2):
            if th > numba.config.NUMBA_NUM_THREADS:
                continue
            rate, steps = throughput(vdd, n_tp, th)
            rates[th] = rate
            res["throughput"].append({"vdd": vdd, "threads": th, "samples": n_tp, "reads_per_s": rate,
                                      "steps_mean": steps})
            print(f"| {vdd} | {th} | {n_tp} | {rate:,.0f} | {steps:.0f} |")
        if 1 in rates and 2 in rates:
            res["throughput"].append({"vdd": vdd, "speedup_1_to_2": rates[2] / rates[1]})
            print(f"| {vdd} | speed-up 1 -> 2 threads | | {rates[2] / rates[1]:.2f}x | |")
    print("\n| samples | peak RSS [MB] |")
    print("|---|---|")
    for n in mem_sizes:
        mb = peak_rss_mb(n)
        res["memory"].append({"samples": n, "peak_rss_mb": mb})
        print(f"| {n} | {mb:.0f} |")
    (HERE / "results_kernel.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""NN inference speed: one error draw + the full 10k test set through a 784-512-512-10 binary MLP.

    python benchmarks/bench_nn.py            # ~30 s on 2 cores
    python benchmarks/bench_nn.py --quick    # fewer repetitions

Uses the shipped ``bnn_mlp`` (and ``bnn_cnn``) model files when present, otherwise random networks of the
same shapes, and the Fashion-MNIST test split when installed, otherwise random images.  Reports (median
and best of the repetitions, after a JIT warm-up):

* chip mode: one error draw (all ~670k weights, BER 1e-2) + forward of the 10k test set + accuracy
  (target <= 0.5 s);
* the fast (bit-packed XNOR-popcount, exact first layer) versus the plain float64 evaluation;
* pass mode: a fresh error pattern for every batch of 100 (100 draws) over the 10k test set.

Prints the results and writes them to benchmarks/results_nn.txt.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _time(fn, reps: int):
    out, ts = None, []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return out, statistics.median(ts), min(ts)


def _net(name: str, arch: str):
    from arraysim.nn.model import load_model, random_model, shipped_models
    if name in shipped_models():
        return load_model(name), f"shipped {name}"
    if arch == "mlp":
        return random_model("mlp", "binary", hidden=(512, 512), seed=1), "random 784-512-512-10 binary MLP"
    return random_model("cnn", "binary", channels=(32, 64), kernel=5, dense=256, seed=1), \
        "random binary CNN conv5x5(32)-pool-conv5x5(64)-pool-dense256-dense10 (the bnn_cnn shape)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--out", default=str(HERE / "results_nn.txt"), help="results file")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else 7

    import numba

    from arraysim.nn.datasets import DatasetMissing, load_fashion_mnist
    from arraysim.nn.errors import ErrorModel, _Injector, accuracy_under_errors, rng_for

    try:
        x, y = load_fashion_mnist("test")
        data = "Fashion-MNIST test split (10000 images)"
    except DatasetMissing:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (10000, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000)
        data = "random uint8 images (Fashion-MNIST not installed)"

    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    say(f"# arraysim NN inference benchmark ({time.strftime('%Y-%m-%d %H:%M')})")
    say(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numba threads "
        f"{numba.get_num_threads()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"(other jobs share the cores)")
    say(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    say(f"data: {data}")

    net, what = _net("bnn_mlp", "mlp")
    say(f"\n## MLP: {what} ({net.n_weights} weights)")
    errors = ErrorModel.from_ber(1e-2)
    inj = _Injector(net, errors)
    net.accuracy(x[:10], y[:10])  # JIT warm-up (compiled kernels are cached on disk)
    net.accuracy(x, y)
    inj.draw(rng_for(0, 0))
    draws = iter(range(10**6))

    def chip():
        w = inj.draw(rng_for(1, next(draws)))
        return net.accuracy(x, y, weights=w)

    _, t_draw, t_draw_min = _time(lambda: inj.draw(rng_for(2, next(draws))), reps)
    acc_e, t_chip, t_chip_min = _time(chip, reps)
    acc, t_fast, t_fast_min = _time(lambda: net.accuracy(x, y), reps)
    pred_f, t_float, t_float_min = _time(lambda: net.predict_float(x), max(2, reps // 2))
    same = bool(np.array_equal(pred_f, net.predict(x)))
    say(f"one error draw (BER 1e-2, {net.n_weights} weights):            {t_draw:7.3f} s "
        f"(best {t_draw_min:.3f})")
    say(f"one error draw + 10k forward + accuracy (chip mode):     {t_chip:7.3f} s "
        f"(best {t_chip_min:.3f}; target <= 0.5 s)  accuracy {acc_e:.4f}")
    say(f"clean 10k forward, bit-packed (fast path):               {t_fast:7.3f} s "
        f"(best {t_fast_min:.3f})  accuracy {acc:.4f}" +
        (f", recorded {net.clean_accuracy:.4f}" if net.clean_accuracy is not None else ""))
    say(f"clean 10k forward, plain float64 reference:              {t_float:7.3f} s "
        f"(best {t_float_min:.3f})  speed-up x{t_float / t_fast:.1f}; identical predictions: {same}")
    n_pass = 1 if args.quick else 2
    res, t_pass, _ = _time(lambda: accuracy_under_errors(net, x, y, errors, mode="pass", n_draws=1,
                                                         batch_size=100, clean=acc), n_pass)
    say(f"pass mode, fresh pattern per batch of 100 (100 draws):   {t_pass:7.3f} s  accuracy "
        f"{res['mean']:.4f}")

    cnn, what = _net("bnn_cnn", "cnn")
    say(f"\n## CNN: {what} ({cnn.n_weights} weights)")
    cnn.accuracy(x[:10], y[:10])
    acc_c, t_cfast, t_cfast_min = _time(lambda: cnn.accuracy(x, y), max(2, reps // 2))
    m = 1000
    pf, t_cfloat, _ = _time(lambda: cnn.predict_float(x[:m]), 1)
    same_c = bool(np.array_equal(pf, cnn.predict(x[:m])))
    say(f"clean 10k forward, bit-packed (fast path):               {t_cfast:7.3f} s "
        f"(best {t_cfast_min:.3f})  accuracy {acc_c:.4f}" +
        (f", recorded {cnn.clean_accuracy:.4f}" if cnn.clean_accuracy is not None else ""))
    say(f"plain float64 reference, {m} images (x10 for 10k):      {t_cfloat:7.3f} s "
        f"-> ~{t_cfloat * 10:.1f} s per 10k, speed-up x{t_cfloat * 10 / t_cfast:.1f}; identical "
        f"predictions: {same_c}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``arraysim nn``: accuracy of a quantized network with weight errors from a BER table (or a plain BER).

Registered by :mod:`arraysim.cli` through :func:`add_parser`; :func:`run` follows the CLI's conventions:
every bad input raises ValueError (reported as one line ``arraysim: error: ...``, exit status 2) before any
work is done, and the ``--out`` file is written atomically at the end (no partial file on error).
Importing this module is cheap (no numba kernels, no torch).
"""
from __future__ import annotations

import json
import math
import sys

from ..cli import _parse_int  # the main CLI's integer parsing (same messages)

PROG = "arraysim"
OUT_FORMATS = (".json",)


def add_parser(subparsers):
    """Add the ``nn`` subcommand to ``subparsers`` (an argparse subparsers object)."""
    p = subparsers.add_parser(
        "nn", help="accuracy of a binarized/ternary network with weight errors from a BER table",
        description="Evaluate a quantized network (BNN/TNN, arraysim-nn model file) on a test set, clean "
                    "and with weight errors: per-state error rates of one table row (binary/XNOR table: "
                    "p(+1->-1) = err_plus/n_plus, p(-1->+1) = err_minus/n_minus, unresolved reads count as "
                    "flips; ternary table: the 3x4 confusion c_<w>_<r>/n_<w>) or a plain --ber.  "
                    "Every dense/conv weight is read independently.  Prints the clean accuracy and the "
                    "accuracy mean +- std over the draws.",
        epilog="example: arraysim nn --model bnn_mlp --table ber.csv --condition vdd=0.5 "
               "--condition temp_c=27 --mode chip --draws 20 --seed 1 --out nn.json")
    p.add_argument("--model", required=True, metavar="NAME|FILE",
                   help="shipped model name (bnn_mlp, tnn_mlp, bnn_cnn, ..._ea) or a .npz model file")
    p.add_argument("--table", metavar="FILE", help="BER table (.csv, .json or .npz) written by arraysim")
    p.add_argument("--condition", action="append", default=[], metavar="COL=VALUE",
                   help="select the table row: vdd=0.5, temp_c=27, corner=tt, i_compliance=50u, "
                        "v_reset=1.5, window=5n, cell=2t2r, readout=binary, ... (repeatable; values in "
                        "the table's units V, degC, A, s, optionally with an SI prefix)")
    p.add_argument("--ber", metavar="P", help="plain bit error rate instead of a table (binary: flip "
                   "probability; ternary: 0->+-1 w.p. q, +-1->0 w.p. q/2, q = 2 P/(1+p0))")
    p.add_argument("--invalid", default="zero", metavar="MAP",
                   help="ternary table: what a read with both outputs low becomes: zero (default) or "
                        "random (+1/-1 with probability 1/2)")
    p.add_argument("--mode", default="chip", metavar="MODE",
                   help="chip: one fixed error pattern per simulated chip for the whole test set "
                        "(default); pass: a fresh pattern for every forward batch")
    p.add_argument("--draws", default="10", metavar="N", help="chips (chip mode) or repetitions (pass mode), "
                   ">= 1 (default 10)")
    p.add_argument("--seed", default="0", metavar="S", help="random seed, >= 0 (default 0)")
    p.add_argument("--batch-size", dest="batch_size", default="100", metavar="N",
                   help="pass mode: examples per forward batch (default 100)")
    p.add_argument("--dataset", metavar="NAME", help="fashion-mnist, mnist or cifar10 (default: the "
                   "model's dataset)")
    p.add_argument("--data-dir", dest="data_dir", metavar="DIR", help="directory holding the dataset files")
    p.add_argument("--limit", metavar="N", help="use the first N test examples only (default: all)")
    p.add_argument("--threads", metavar="N", help="threads of the compiled kernels (default: all cores)")
    p.add_argument("--out", metavar="FILE.json", help="write the results as JSON")
    p.set_defaults(func=run)
    return p




def _prepare(args) -> dict:
    """Validate every option (no model, table or dataset is read yet)."""
    from .errors import INVALID_MODES, MODES, parse_conditions
    mode = str(args.mode).strip().lower()
    if mode not in MODES:
        raise ValueError(f"unknown --mode {args.mode!r}; allowed: chip (one fixed error pattern per chip), "
                         "pass (a fresh pattern per forward batch)")
    invalid = str(args.invalid).strip().lower()
    if invalid not in INVALID_MODES:
        raise ValueError(f"unknown --invalid {args.invalid!r}; allowed: zero, random")
    draws = _parse_int(args.draws, "--draws", 1)
    seed = _parse_int(args.seed, "--seed", 0)
    batch = _parse_int(args.batch_size, "--batch-size", 1)
    limit = None if args.limit is None else _parse_int(args.limit, "--limit", 1)
    if args.table is None and args.ber is None:
        raise ValueError("give --table FILE (with --condition COL=VALUE to pick a row) or --ber P")
    if args.table is not None and args.ber is not None:
        raise ValueError("give either --table or --ber, not both")
    ber = None
    if args.ber is not None:
        try:
            ber = float(args.ber)
        except ValueError:
            raise ValueError(f"--ber {args.ber!r} is not a number; give a probability in [0, 1]") from None
        if not (math.isfinite(ber) and 0.0 <= ber <= 1.0):
            raise ValueError(f"--ber {args.ber!r} out of range; allowed 0 <= P <= 1")
    conditions = parse_conditions(args.condition)
    if conditions and args.table is None:
        raise ValueError("--condition selects a row of --table; it is not used with --ber")
    out = None
    if args.out is not None:
        from ..io.tables import check_writable
        out = check_writable(args.out, OUT_FORMATS, "output file")
    threads = None
    if args.threads is not None:
        import numba
        threads = _parse_int(args.threads, "--threads", 1)
        if threads > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"--threads must be <= {numba.config.NUMBA_NUM_THREADS}, got {args.threads!r}")
    if args.dataset is not None:
        from .datasets import DATASETS
        if args.dataset not in DATASETS:
            raise ValueError(f"unknown --dataset {args.dataset!r}; allowed: {', '.join(DATASETS)}")
    return {"mode": mode, "invalid": invalid, "draws": draws, "seed": seed, "batch": batch, "limit": limit,
            "ber": ber, "conditions": conditions, "out": out, "threads": threads}


def _load_data(net, name, data_dir, limit):
    from .datasets import DatasetMissing, load_dataset
    try:
        x, y = load_dataset(name, "test", data_dir)
    except DatasetMissing as e:
        raise ValueError(f"dataset {name} not available: {e}") from None
    except OSError as e:
        raise ValueError(f"cannot read dataset {name}: {e}") from None
    if tuple(x.shape[1:]) != net.input_shape:
        raise ValueError(f"dataset {name} has examples of shape {tuple(x.shape[1:])}; the model "
                         f"{net.name} expects {net.input_shape}")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


def run(args) -> int:
    """Run ``arraysim nn``; returns the exit status (raises ValueError on bad input)."""
    job = _prepare(args)
    from .errors import ErrorModel, accuracy_under_errors, load_error_model
    from .model import load_model

    net = load_model(args.model)
    if job["ber"] is not None:
        errors = ErrorModel.from_ber(job["ber"], invalid=job["invalid"])
    else:
        errors = load_error_model(args.table, job["conditions"], invalid=job["invalid"])
    errors.probabilities(net)  # raises for a binary table with a ternary net, or too large a BER
    from .datasets import DATASETS
    name = args.dataset or net.meta.get("dataset")
    if name not in DATASETS:
        raise ValueError(f"the model {net.name} was made for dataset {name!r}, which arraysim cannot load; "
                         f"give --dataset ({', '.join(DATASETS)})")
    x, y = _load_data(net, name, args.data_dir, job["limit"])
    if job["threads"] is not None:
        from ..config import set_threads
        set_threads(job["threads"])

    res = accuracy_under_errors(net, x, y, errors, mode=job["mode"], n_draws=job["draws"], seed=job["seed"],
                                batch_size=job["batch"])
    vals = res["values"]
    print(f"model:    {net.describe()}")
    rec = net.clean_accuracy
    print(f"dataset:  {name} test split, {len(y)} examples" +
          (f" (first {len(y)})" if job["limit"] is not None else ""))
    print(f"clean accuracy: {res['clean']:.4f}" +
          (f" (recorded in the model file: {rec:.4f})" if isinstance(rec, float) and job["limit"] is None
           else ""))
    print("errors:   " + errors.describe(net).replace("\n  ", "\n          "))
    if errors.counts is not None:
        c = errors.counts
        print("          reads per state: " + ", ".join(f"n_{s} = {int(n)}" for s, n in
                                                         zip(("plus", "zero", "minus"), c.sum(axis=1)) if n))
    extra = f", batch {job['batch']}" if job["mode"] == "pass" else ""
    print(f"mode:     {job['mode']}, {job['draws']} draw(s), seed {job['seed']}{extra}")
    print(f"accuracy with errors: {res['mean']:.4f} +- {res['std']:.4f} (min {vals.min():.4f}, max "
          f"{vals.max():.4f})", flush=True)

    if job["out"] is not None:
        from ..config import versions
        from ..io.tables import atomic_write, jsonable
        doc = {"format": "arraysim-nn-result", "version": 1,
               "model": {"name": net.name, "source": net.source, "weights": net.weight_kind,
                         "clean_accuracy_recorded": rec},
               "dataset": {"name": name, "split": "test", "n_examples": int(len(y)), "limit": job["limit"]},
               "clean_accuracy": res["clean"], "errors": res["error_model"],
               "table": args.table, "condition": job["conditions"],
               "mode": job["mode"], "draws": job["draws"], "seed": job["seed"],
               "batch_size": job["batch"] if job["mode"] == "pass" else None,
               "accuracy": {"mean": res["mean"], "std": res["std"], "values": [float(v) for v in vals]},
               "seeding": "draw d: numpy Generator(PCG64(SeedSequence(seed, spawn_key=(d,))))",
               "versions": versions()}
        try:
            atomic_write(job["out"], (json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n").encode())
        except OSError as e:
            print(f"{PROG}: error: cannot write {str(job['out'])!r}: {e}", file=sys.stderr)
            return 1
        print(f"{PROG}: wrote {job['out']}", file=sys.stderr)
    return 0

"""Apply weight errors from an arraysim BER table to PyTorch weight tensors (issue 5, export example).

    python notebooks/nn_export_torch.py --table ber.csv --condition vdd=0.5 --condition temp_c=27
    python notebooks/nn_export_torch.py            # makes a small binary table itself (a few seconds)

Needs PyTorch (``pip install torch`` or ``make install-nn``); arraysim's own inference does not.

What it shows:

1. ``arraysim.nn.errors.load_error_model(table, condition)`` reads one row of an arraysim table (CSV, JSON
   or NPZ; the JSON layout is documented in ``arraysim/nn/errors.py``) and returns the per-state read
   probabilities ``P(read r | programmed w)`` (w in +1, 0, -1; r in +1, 0, -1, invalid).
2. :func:`apply_errors` draws one error pattern on a torch tensor of quantized weights (values -1/0/+1):
   one uniform per weight compared with the cumulative thresholds ``ErrorModel.thresholds()``; invalid
   reads become 0 or a random sign (``invalid="zero" | "random"``).  Binary tables: unresolved reads are
   flips.  Ternary tables: the full confusion.
3. :func:`quantize` binarizes latent float weights with sign(0) = +1 (the arraysim/Larq convention;
   ``torch.sign(0) = 0`` differs) so the same code serves a torch BNN in training.
4. A torch re-implementation of an arraysim model file (``torch_logits``) evaluated with those errors,
   next to arraysim's own numpy evaluation (``accuracy_under_errors``): the two use different random
   streams, so their accuracies agree statistically, not draw by draw.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("nn_export_torch.py: this example needs PyTorch (pip install torch, or make install-nn); "
             "arraysim's own inference and error injection do not need it")

import numpy as np  # noqa: E402

from arraysim.nn.errors import ErrorModel, accuracy_under_errors, load_error_model, parse_conditions  # noqa: E402
from arraysim.nn.model import QuantizedNet, load_model, random_model, shipped_models  # noqa: E402


def quantize(w: torch.Tensor, ternary_delta: float | None = None) -> torch.Tensor:
    """Latent float weights -> -1/+1 with sign(0) = +1 (or -1/0/+1 with |w| <= delta -> 0)."""
    q = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
    if ternary_delta is not None:
        q = torch.where(w.abs() <= ternary_delta, torch.zeros_like(q), q)
    return q


def torch_error_tables(em: ErrorModel, net=None, dtype=torch.float64):
    """(thresholds (3, 3), read values (4,)) for :func:`apply_errors` from an arraysim ErrorModel."""
    thr = torch.tensor(em.thresholds(net), dtype=dtype)
    values = torch.tensor([1.0, 0.0, -1.0, float("nan") if em.invalid == "random" else 0.0], dtype=dtype)
    return thr, values


def apply_errors(w: torch.Tensor, thr: torch.Tensor, values: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One error pattern on quantized weights ``w`` (-1/0/+1): state s = 1 - w, read outcome
    ``r = #(u >= thr[s, :])`` for one uniform u per weight, new weight ``values[r]`` (NaN = invalid read
    mapped to a random sign)."""
    state = (1 - w.round()).long().clamp(0, 2)
    u = torch.rand(w.shape, generator=generator, dtype=thr.dtype, device=w.device)
    r = (u.unsqueeze(-1) >= thr.to(w.device)[state]).sum(-1)
    new = values.to(w.device)[r]
    inv = torch.isnan(new)
    if inv.any():
        signs = torch.randint(0, 2, (int(inv.sum()),), generator=generator, device=w.device) * 2 - 1
        new[inv] = signs.to(new.dtype)
    return new.to(w.dtype)


def torch_logits(net: QuantizedNet, images: np.ndarray, weights: list[torch.Tensor]) -> torch.Tensor:
    """The arraysim model file evaluated in torch float64 (FORMAT.md semantics, sign(0) = +1)."""
    F = torch.nn.functional
    pp = net.meta["preprocess"]
    x = (torch.from_numpy(images.astype(np.float64)) * pp["scale"] - pp["mean"]) / pp["std"]
    it = iter(weights)

    def per_channel(v, ndim):
        return torch.from_numpy(v).reshape((1, -1) + (1,) * (ndim - 2))

    for L in net.layers:
        if L.type == "flatten":
            x = x.flatten(1)
        elif L.type == "dense":
            x = F.linear(x, next(it))
        elif L.type == "conv2d":
            x = F.conv2d(x, next(it))
        elif L.type == "maxpool2d":
            x = F.max_pool2d(x, L.spec["size"])
        elif L.type == "threshold":
            s = per_channel(L.arrays["s"].astype(np.float64), x.ndim)
            x = torch.where(s * (x - per_channel(L.arrays["t"], x.ndim)) >= 0, 1.0, -1.0).to(torch.float64)
        elif L.type == "affine":
            x = x * per_channel(L.arrays["scale"], x.ndim) + per_channel(L.arrays["bias"], x.ndim)
    return x


def _demo_table(directory: Path) -> tuple[Path, dict]:
    import arraysim
    path = directory / "demo_ber.json"
    print("making a small binary table at VDD 0.3 V, 125 degC (256 samples) ...", flush=True)
    arraysim.ber_table(vdd=0.3, temp_c=125, samples=256, seed=1).save(path)
    return path, {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", help="arraysim BER table (.csv/.json/.npz); default: make a small one")
    ap.add_argument("--condition", action="append", default=[], metavar="COL=VALUE")
    ap.add_argument("--invalid", default="zero", help="zero | random (ternary tables)")
    ap.add_argument("--model", default=None, help="model name or .npz (default bnn_mlp if shipped)")
    ap.add_argument("--limit", type=int, default=2000, help="test images used (default 2000)")
    ap.add_argument("--draws", type=int, default=5, help="error patterns (chips)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory()
    if args.table is None:
        table, cond = _demo_table(Path(tmp.name))
    else:
        table, cond = Path(args.table), parse_conditions(args.condition)
    em = load_error_model(table, cond, invalid=args.invalid)

    if args.model is not None:
        net = load_model(args.model)
    elif "bnn_mlp" in shipped_models():
        net = load_model("bnn_mlp")
    else:
        net = random_model("mlp", "binary", hidden=(256,), seed=1)
    print(net.describe())
    print("error model:", em.describe(net))
    try:
        from arraysim.nn.datasets import load_dataset
        x, y = load_dataset(net.meta.get("dataset", "fashion-mnist"), "test")
        x, y = x[:args.limit], y[:args.limit]
    except Exception as e:  # noqa: BLE001 - any missing dataset: random images still show the mechanics
        print(f"(dataset not available: {e}; using random images)")
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (args.limit,) + net.input_shape, dtype=np.uint8)
        y = rng.integers(0, net.n_classes, args.limit)

    clean_w = [torch.from_numpy(w.astype(np.float64)) for w in net.weights]
    pred_t = torch_logits(net, x, clean_w).argmax(1).numpy()
    pred_n = net.predict(x)
    print(f"clean: torch {np.mean(pred_t == y):.4f}, arraysim {np.mean(pred_n == y):.4f}, "
          f"{int(np.sum(pred_t != pred_n))} disagreements")

    thr, values = torch_error_tables(em, net)
    gen = torch.Generator().manual_seed(args.seed)
    accs, flips = [], []
    for _ in range(args.draws):
        noisy = [apply_errors(w, thr, values, gen) for w in clean_w]
        flips.append(sum(int((a != b).sum()) for a, b in zip(noisy, clean_w)) / net.n_weights)
        accs.append(float((torch_logits(net, x, noisy).argmax(1).numpy() == y).mean()))
    print(f"torch injection:    accuracy {np.mean(accs):.4f} +- {np.std(accs, ddof=1) if len(accs) > 1 else 0:.4f}"
          f" over {args.draws} chips; changed weights {np.mean(flips):.4g}")
    r = accuracy_under_errors(net, x, y, em, mode="chip", n_draws=args.draws, seed=args.seed)
    print(f"arraysim injection: accuracy {r['mean']:.4f} +- {r['std']:.4f} over {args.draws} chips")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

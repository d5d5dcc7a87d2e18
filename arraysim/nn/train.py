"""Training and export of the shipped quantized networks (issue 5).

Trains binarized / ternarized networks on Fashion-MNIST with PyTorch and exports them in the
``arraysim-nn`` v1 format (``arraysim/nn/FORMAT.md``).  PyTorch is an optional extra (``pip install
arraysim[nn]``): only training needs it; it is imported lazily.  The export check and the float64
reference evaluation in this module use numpy only.

Usage::

    python -m arraysim.nn.train --model bnn_mlp --seed 1 --epochs 10 --out arraysim/nn/models/bnn_mlp.npz
    python -m arraysim.nn.train --model bnn_mlp --seed 1 --epochs 10 --error-aware --train-ber 0.04 \\
        --out arraysim/nn/models/bnn_mlp_ea.npz
    python -m arraysim.nn.train --all            # regenerate every shipped model (see SHIPPED)
    python -m arraysim.nn.train --readme         # rewrite models/README.md from the shipped files' meta

Training recipe (Courbariaux/Hubara BNN): latent float weights clipped to [-1, 1] after every step; the
forward pass uses sign(w) (binary) or the TWN ternarization (+1 if w > D, -1 if w < -D, else 0 with
D = 0.7 * mean|w| of the layer) with a straight-through estimator (gradient passed where |w| <= 1);
batch norm after every dense/conv layer (after the pool in the CNN); hidden activations sign(y) with the
hardtanh straight-through estimator; the last layer's batch norm is kept without sign (logits).
Convention sign(0) = +1 for weights and activations.  Adam, cross-entropy, cosine learning-rate decay to 0
over the run (per step).  Deterministic for a seed: ``torch.manual_seed``, deterministic algorithms, a
fixed thread count, data order from ``numpy.random.default_rng(seed)``, error patterns from a
``torch.Generator`` seeded from the seed.

Error-aware training (physics.md section 4): in the training forward pass, every dense/conv weight matrix
(first and last included) receives a fresh error pattern: binary -- each sign flips independently with
probability BER; ternary -- with p0 the layer's fraction of zeros and q = 2 BER / (1 + p0), 0 -> +-1 with
probability q (either sign equally likely), +-1 -> 0 with probability q/2, never a sign flip.  The gradient
goes to the latent weights as if the erroneous weight were the ideal one (straight through the error).
Evaluation (torch eval mode, export) is error-free.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "models"
PREPROCESS = {"scale": 1.0 / 255.0, "mean": 0.2860, "std": 0.3530}
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
GAMMA_MIN = 1e-6  # |gamma| clamp at export (FORMAT.md)
TWN_FACTOR = 0.7

# Architectures: "mlp" (flatten, dense+BN+sign ..., dense+BN) and "cnn" (conv5x5, pool2, BN, sign, conv5x5,
# pool2, BN, sign, flatten, dense, BN, sign, dense, BN).
ARCHS = {
    "bnn_mlp": {"kind": "mlp", "weights": "binary", "hidden": [512, 512]},
    "tnn_mlp": {"kind": "mlp", "weights": "ternary", "hidden": [512, 512]},
    "bnn_cnn": {"kind": "cnn", "weights": "binary", "channels": [32, 64], "kernel": 5, "dense": 256},
}

# One torch thread by default: on the shared 2-core machines, 2 OpenMP threads ran 5-10x slower than one
# whenever another process was busy (threads waiting for a descheduled peer).  Results can depend on the
# thread count; it is recorded in the meta.
DEFAULTS = {"lr": 2e-3, "batch_size": 100, "threads": 1}

# The shipped models: name -> training settings (``--all`` regenerates them in this order).
# Train BER of the error-aware variants: 4e-2, the tolerance the authors report for BNNs trained with errors
# injected (1904.03652, physics.md section 4); the ternary variants use the same mean error rate.
SHIPPED = {
    "bnn_mlp": {"model": "bnn_mlp", "seed": 1, "epochs": 10, "error_aware": False, "train_ber": 0.0},
    "tnn_mlp": {"model": "tnn_mlp", "seed": 1, "epochs": 10, "error_aware": False, "train_ber": 0.0},
    "bnn_cnn": {"model": "bnn_cnn", "seed": 1, "epochs": 6, "error_aware": False, "train_ber": 0.0},
    "bnn_mlp_ea": {"model": "bnn_mlp", "seed": 1, "epochs": 10, "error_aware": True, "train_ber": 0.04},
    "tnn_mlp_ea": {"model": "tnn_mlp", "seed": 1, "epochs": 10, "error_aware": True, "train_ber": 0.04},
    "bnn_cnn_ea": {"model": "bnn_cnn", "seed": 1, "epochs": 6, "error_aware": True, "train_ber": 0.04},
}


# ----------------------------------------------------------------------------------------------- torch
def _torch():
    """Import torch, with a clear message when the optional extra is missing."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("training the NN models needs PyTorch (optional extra): "
                          "pip install 'arraysim[nn]' or `make install-nn` (torch CPU)") from exc
    return torch


def sign_pm1(x):
    """sign with sign(0) = +1, as float tensor of +-1."""
    torch = _torch()
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def _ste(x, q):
    """q in the forward pass, gradient of hardtanh(x) (1 where |x| <= 1, else 0) in the backward pass."""
    c = x.clamp(-1.0, 1.0)
    return c + (q - c).detach()


def binarize(w):
    """Binary weights sign(w) (sign(0) = +1) with the straight-through estimator."""
    return _ste(w, sign_pm1(w.detach()))


def ternarize(w):
    """TWN ternary weights (+1 if w > D, -1 if w < -D, else 0; D = 0.7 mean|w|) with the STE."""
    torch = _torch()
    wd = w.detach()
    d = TWN_FACTOR * wd.abs().mean()
    q = torch.where(wd > d, 1.0, torch.where(wd < -d, -1.0, 0.0)).to(w.dtype)
    return _ste(w, q)


def inject_binary(wq, ber: float, generator=None):
    """Flip each +-1 weight independently with probability ``ber`` (fresh pattern each call).

    The gradient passes straight through the error (d out / d wq = 1)."""
    torch = _torch()
    if ber <= 0:
        return wq
    with torch.no_grad():
        flip = torch.rand(wq.shape, generator=generator) < ber
        err = torch.where(flip, -wq.detach(), wq.detach())
    return wq + (err - wq.detach())


def ternary_q(ber: float, p0: float) -> float:
    """Per-cell rate q = 2 BER / (1 + p0) of the ternary error model (mean rate BER)."""
    return 2.0 * ber / (1.0 + p0)


def inject_ternary(wq, ber: float, generator=None):
    """Ternary error model: with p0 the fraction of zeros of ``wq`` and q = 2 BER/(1+p0), each 0 becomes +1 or
    -1 (equally likely) with probability q, each +-1 becomes 0 with probability q/2; never a sign flip.

    The gradient passes straight through the error."""
    torch = _torch()
    if ber <= 0:
        return wq
    with torch.no_grad():
        w = wq.detach()
        zero = w == 0
        p0 = float(zero.double().mean())
        q = ternary_q(ber, p0)
        u = torch.rand(w.shape, generator=generator)
        # a zero becomes +1 if u < q/2, -1 if q/2 <= u < q; a +-1 becomes 0 if u < q/2
        to_nonzero = torch.where(u < q / 2.0, 1.0, -1.0).to(w.dtype)
        err = torch.where(zero, torch.where(u < q, to_nonzero, w), torch.where(u < q / 2.0, torch.zeros_like(w), w))
    return wq + (err - wq.detach())


_NET_CLASS = None


def _net_class():
    """The torch module class (defined on first use so that importing this module does not need torch)."""
    global _NET_CLASS
    if _NET_CLASS is not None:
        return _NET_CLASS
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    class QNet(nn.Module):
        """Binarized/ternarized MLP or CNN with latent float weights (see the module docstring)."""

        def __init__(self, arch: dict, input_shape=(1, 28, 28), n_classes: int = 10):
            super().__init__()
            self.arch = dict(arch)
            self.wkind = arch["weights"]
            self.ber = 0.0  # error injection rate in the training forward pass
            self.err_gen = None  # torch.Generator for the error patterns
            c, h, w = input_shape
            shapes = []
            if arch["kind"] == "mlp":
                dims = [c * h * w] + list(arch["hidden"]) + [n_classes]
                shapes = [(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]
                bn = [nn.BatchNorm1d(d, eps=BN_EPS, momentum=BN_MOMENTUM) for d in dims[1:]]
            elif arch["kind"] == "cnn":
                k = arch["kernel"]
                c1, c2 = arch["channels"]
                h1 = (h - k + 1) // 2
                h2 = (h1 - k + 1) // 2
                w1 = (w - k + 1) // 2
                w2 = (w1 - k + 1) // 2
                flat = c2 * h2 * w2
                shapes = [(c1, c, k, k), (c2, c1, k, k), (arch["dense"], flat), (n_classes, arch["dense"])]
                bn = [nn.BatchNorm2d(c1, eps=BN_EPS, momentum=BN_MOMENTUM),
                      nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM),
                      nn.BatchNorm1d(arch["dense"], eps=BN_EPS, momentum=BN_MOMENTUM),
                      nn.BatchNorm1d(n_classes, eps=BN_EPS, momentum=BN_MOMENTUM)]
            else:
                raise ValueError(f"unknown architecture kind {arch['kind']!r}")
            self.latent = nn.ParameterList()
            for shp in shapes:
                p = torch.empty(shp)
                nn.init.kaiming_uniform_(p, a=math.sqrt(5))  # torch's Linear/Conv default
                self.latent.append(nn.Parameter(p))
            self.bn = nn.ModuleList(bn)

        def qweight(self, i: int, inject: bool | None = None):
            """Quantized weight i (with the STE); errors injected when training with ber > 0."""
            w = self.latent[i]
            q = binarize(w) if self.wkind == "binary" else ternarize(w)
            if inject is None:
                inject = self.training
            if inject and self.ber > 0:
                q = (inject_binary if self.wkind == "binary" else inject_ternary)(q, self.ber, self.err_gen)
            return q

        def clip_latent(self):
            with torch.no_grad():
                for p in self.latent:
                    p.clamp_(-1.0, 1.0)

        def forward(self, x):
            n = len(self.latent)
            if self.arch["kind"] == "mlp":
                h = x.flatten(1)
                for i in range(n):
                    y = self.bn[i](F.linear(h, self.qweight(i)))
                    if i == n - 1:
                        return y
                    h = _ste(y, sign_pm1(y.detach()))
            h = x
            for i in range(2):
                a = F.max_pool2d(F.conv2d(h, self.qweight(i)), 2)
                y = self.bn[i](a)
                h = _ste(y, sign_pm1(y.detach()))
            h = h.flatten(1)
            y = self.bn[2](F.linear(h, self.qweight(2)))
            h = _ste(y, sign_pm1(y.detach()))
            return self.bn[3](F.linear(h, self.qweight(3)))

    _NET_CLASS = QNet
    return QNet


def _setup_torch(threads: int):
    torch = _torch()
    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    torch.use_deterministic_algorithms(True)
    return torch


def preprocess(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """x = (pixel * scale - mean) / std (FORMAT.md), computed in float64, returned as ``dtype``."""
    x = images.astype(np.float64) * PREPROCESS["scale"]
    x = (x - PREPROCESS["mean"]) / PREPROCESS["std"]
    return x.astype(dtype)


def build_net(model: str = "bnn_mlp", hidden=None, seed: int = 1):
    """A freshly initialised network for ``model`` (``hidden`` overrides the MLP hidden sizes)."""
    torch = _torch()
    arch = dict(ARCHS[model])
    if hidden is not None:
        if arch["kind"] != "mlp":
            raise ValueError("hidden sizes apply to the MLP models only")
        arch["hidden"] = [int(h) for h in hidden]
    torch.manual_seed(seed)
    return _net_class()(arch)


def architecture_string(arch: dict) -> str:
    if arch["kind"] == "mlp":
        return "-".join(str(d) for d in [784] + list(arch["hidden"]) + [10])
    c1, c2 = arch["channels"]
    k = arch["kernel"]
    return (f"conv 1->{c1} {k}x{k}, pool2, conv {c1}->{c2} {k}x{k}, pool2, dense {c2 * 16}->{arch['dense']}, "
            f"dense {arch['dense']}->10")


def train(model: str = "bnn_mlp", seed: int = 1, epochs: int = 10, lr: float = DEFAULTS["lr"],
          batch_size: int = DEFAULTS["batch_size"], error_aware: bool = False, train_ber: float = 0.0,
          n_train: int | None = None, hidden=None, threads: int = DEFAULTS["threads"], log=print, data=None):
    """Train one network; returns (net in eval mode, info dict with the training provenance).

    ``data`` = (images uint8 (N,1,28,28), labels) overrides the Fashion-MNIST train split; ``n_train``
    keeps the first n images."""
    torch = _setup_torch(threads)
    if error_aware and not train_ber > 0:
        raise ValueError("--error-aware needs --train-ber > 0")
    if not error_aware:
        train_ber = 0.0
    if data is None:
        from .datasets import load_fashion_mnist
        data = load_fashion_mnist("train")
    images, labels = data
    if n_train is not None:
        images, labels = images[:n_train], labels[:n_train]
    x_all = torch.from_numpy(preprocess(images))
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    n = len(x_all)
    net = build_net(model, hidden, seed)
    net.ber = float(train_ber)
    net.err_gen = torch.Generator().manual_seed(int(seed) * 1000003 + 12345)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = max(1, steps_per_epoch * epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    history = []
    for ep in range(epochs):
        net.train()
        perm = torch.from_numpy(rng.permutation(n))
        loss_sum, correct = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb, yb = x_all[idx], y_all[idx]
            out = net(xb)
            loss = torch.nn.functional.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            net.clip_latent()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        history.append({"epoch": ep + 1, "loss": loss_sum / n, "train_acc": correct / n,
                        "time_s": time.perf_counter() - t0})
        log(f"  epoch {ep + 1}/{epochs}: loss {loss_sum / n:.4f}, train acc (with errors: {error_aware}) "
            f"{correct / n:.4f}, {time.perf_counter() - t0:.0f} s")
    wall = time.perf_counter() - t0
    net.eval()
    info = {"script": "arraysim/nn/train.py", "model": model, "architecture": architecture_string(net.arch),
            "seed": int(seed), "epochs": int(epochs), "optimizer": "Adam(betas=(0.9, 0.999), eps=1e-8)",
            "lr": float(lr), "lr_schedule": "cosine decay to 0 per step over the run",
            "batch_size": int(batch_size), "loss": "cross-entropy on the last batch norm's output",
            "train_images": int(n), "error_aware": bool(error_aware), "train_ber": float(train_ber),
            "error_model": ("binary: independent sign flips" if net.wkind == "binary" else
                            "ternary: 0->+-1 with q=2BER/(1+p0), +-1->0 with q/2, no sign flip")
            + "; fresh pattern every training forward pass; all dense/conv layers; none at evaluation",
            "weight_quantizer": ("sign(w), sign(0)=+1" if net.wkind == "binary" else
                                 f"TWN: +1 if w > D, -1 if w < -D, else 0; D = {TWN_FACTOR} mean|w| per layer"),
            "ste": "hardtanh (gradient 1 where |x| <= 1) for weights and activations; latent weights "
                   "clipped to [-1, 1] after each step",
            "batch_norm": {"eps": BN_EPS, "momentum": BN_MOMENTUM, "affine": True},
            "data_order": "numpy.random.default_rng(seed).permutation per epoch",
            "deterministic": True, "threads": int(threads),
            "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "wall_time_s": round(wall, 1), "history": history}
    return net, info


def torch_predict(net, images: np.ndarray, dtype=None, batch: int = 1000) -> np.ndarray:
    """Predictions of the (eval-mode) torch net on uint8 images; ``dtype`` torch.float64 runs a double copy."""
    torch = _torch()
    import copy
    m = net
    if dtype is not None:
        m = copy.deepcopy(net).to(dtype)
    m.eval()
    preds = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(preprocess(images[s:s + batch], np.float64))
            x = x.to(dtype if dtype is not None else torch.float32)
            preds.append(m(x).argmax(1).numpy())
    return np.concatenate(preds)


# ---------------------------------------------------------------------------------------------- export
def fold_threshold(bn):
    """BN (eval-mode running stats) + sign -> (t float64, s int8): out = +1 iff s*(a - t) >= 0."""
    gamma = bn.weight.detach().double().numpy().copy()
    beta = bn.bias.detach().double().numpy()
    mu = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    small = np.abs(gamma) < GAMMA_MIN
    gamma[small] = np.where(gamma[small] >= 0, GAMMA_MIN, -GAMMA_MIN)
    sd = np.sqrt(var + bn.eps)
    t = mu - beta * sd / gamma
    s = np.where(gamma >= 0, 1, -1).astype(np.int8)
    return t.astype(np.float64), s


def fold_affine(bn):
    """Final BN -> logits = a*scale + bias."""
    gamma = bn.weight.detach().double().numpy()
    beta = bn.bias.detach().double().numpy()
    mu = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    scale = gamma / np.sqrt(var + bn.eps)
    return scale.astype(np.float64), (beta - mu * scale).astype(np.float64)


def export_layers(net):
    """(layers list, arrays dict) of the eval-mode net per FORMAT.md."""
    torch = _torch()
    layers, arrays = [], {}

    def add(typ, **fields):
        name = f"l{len(layers)}"
        layers.append({"type": typ, "name": name, **fields})
        return name

    def wq(i):
        with torch.no_grad():
            q = net.qweight(i, inject=False).detach().numpy()
        w = np.rint(q).astype(np.int8)
        if not np.array_equal(w.astype(q.dtype), q):
            raise AssertionError("quantized weights are not integers")
        return w

    n = len(net.latent)
    if net.arch["kind"] == "mlp":
        add("flatten")
        for i in range(n):
            arrays[add("dense") + ".W"] = wq(i)
            if i < n - 1:
                name = add("threshold")
                arrays[name + ".t"], arrays[name + ".s"] = fold_threshold(net.bn[i])
        name = add("affine")
        arrays[name + ".scale"], arrays[name + ".bias"] = fold_affine(net.bn[n - 1])
        return layers, arrays
    for i in range(2):
        arrays[add("conv2d", padding=0) + ".W"] = wq(i)
        add("maxpool2d", size=2)
        name = add("threshold")
        arrays[name + ".t"], arrays[name + ".s"] = fold_threshold(net.bn[i])
    add("flatten")
    arrays[add("dense") + ".W"] = wq(2)
    name = add("threshold")
    arrays[name + ".t"], arrays[name + ".s"] = fold_threshold(net.bn[2])
    arrays[add("dense") + ".W"] = wq(3)
    name = add("affine")
    arrays[name + ".scale"], arrays[name + ".bias"] = fold_affine(net.bn[3])
    return layers, arrays


def zero_fractions(layers, arrays) -> dict:
    per = {}
    nz = tot = 0
    for L in layers:
        if L["type"] in ("dense", "conv2d"):
            W = arrays[L["name"] + ".W"]
            per[L["name"]] = float(np.mean(W == 0))
            nz += int(np.sum(W == 0))
            tot += W.size
    return {"total": nz / tot, "per_layer": per}


def export(net, info: dict, out, test_data=None, name: str | None = None, command: str | None = None) -> dict:
    """Write ``net`` to ``out`` (npz per FORMAT.md); returns the meta dict.

    ``clean_accuracy`` is the accuracy of the exported file by :func:`np_predict` (float64, FORMAT.md) on the
    test split; ``torch_test_accuracy`` that of the torch net in eval mode (float32)."""
    out = Path(out)
    if test_data is None:
        from .datasets import load_fashion_mnist
        test_data = load_fashion_mnist("test")
    x_test, y_test = test_data
    layers, arrays = export_layers(net)
    meta = {"format": "arraysim-nn", "version": 1, "name": name or out.stem,
            "weights": net.wkind, "activations": "binary", "dataset": "fashion-mnist",
            "input_shape": [1, 28, 28], "n_classes": 10, "preprocess": dict(PREPROCESS),
            "layers": layers, "sign_convention": "sign(0) = +1",
            "architecture": info.get("architecture", architecture_string(net.arch))}
    if net.wkind == "ternary":
        meta["zero_fraction"] = zero_fractions(layers, arrays)
    pred = np_predict(meta, arrays, x_test)
    meta["clean_accuracy"] = int(np.sum(pred == y_test)) / len(y_test)
    tpred = torch_predict(net, x_test)
    meta["torch_test_accuracy"] = int(np.sum(tpred == y_test)) / len(y_test)
    meta["torch_numpy_disagreements"] = int(np.sum(tpred != pred))
    meta["test_images"] = int(len(y_test))
    training = dict(info)
    if command:
        training["command"] = command
    meta["training"] = training
    check_model(meta, arrays)
    save_npz(out, meta, arrays)
    # read back what was written: the same meta and bit-identical arrays as the ones evaluated
    meta2, arrays2 = load_npz(out)
    check_model(meta2, arrays2)
    if meta2 != json.loads(json.dumps(meta)) or set(arrays2) != set(arrays) or not all(
            arrays2[k].dtype == arrays[k].dtype and np.array_equal(arrays2[k], arrays[k]) for k in arrays):
        raise AssertionError(f"{out}: the file read back differs from what was evaluated")
    return meta


def save_npz(path, meta: dict, arrays: dict):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, __meta__=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def load_npz(path):
    """(meta dict, arrays dict) of a model file."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"][()] if z["__meta__"].ndim == 0 else z["__meta__"][0]))
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    return meta, arrays


# ------------------------------------------------------------------------------- numpy reference check
def _conv_valid(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Valid cross-correlation, stride 1: x (N,C,H,W) float64, W (O,C,kh,kw) -> (N,O,H-kh+1,W-kw+1)."""
    kh, kw = W.shape[2], W.shape[3]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # N,C,Ho,Wo,kh,kw
    out = np.tensordot(win, W.astype(np.float64), axes=([1, 4, 5], [1, 2, 3]))  # N,Ho,Wo,O
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def np_logits(meta: dict, arrays: dict, images: np.ndarray) -> np.ndarray:
    """Logits of the model file on uint8 images, float64, literally as FORMAT.md defines each layer."""
    pp = meta["preprocess"]
    x = (images.astype(np.float64) * pp["scale"] - pp["mean"]) / pp["std"]
    for L in meta["layers"]:
        typ, name = L["type"], L["name"]
        if typ == "flatten":
            x = x.reshape(len(x), -1)
        elif typ == "dense":
            x = x @ arrays[name + ".W"].astype(np.float64).T
        elif typ == "conv2d":
            if L.get("padding", 0) != 0:
                raise ValueError("conv2d padding must be 0")
            x = _conv_valid(x, arrays[name + ".W"])
        elif typ == "maxpool2d":
            k = int(L["size"])
            h, w = x.shape[2] // k * k, x.shape[3] // k * k
            y = x[:, :, 0:h:k, 0:w:k]
            for i in range(k):
                for j in range(k):
                    if i or j:
                        y = np.maximum(y, x[:, :, i:h:k, j:w:k])
            x = y
        elif typ == "threshold":
            t = _per_channel(arrays[name + ".t"], x.ndim)
            s = _per_channel(arrays[name + ".s"].astype(np.float64), x.ndim)
            x = np.where(s * (x - t) >= 0, 1.0, -1.0)
        elif typ == "affine":
            x = x * _per_channel(arrays[name + ".scale"], x.ndim) + _per_channel(arrays[name + ".bias"], x.ndim)
        else:
            raise ValueError(f"unknown layer type {typ!r}")
    return x


def np_predict(meta: dict, arrays: dict, images: np.ndarray, batch: int = 250) -> np.ndarray:
    """argmax of :func:`np_logits` (ties to the lowest index), in batches."""
    return np.concatenate([np.argmax(np_logits(meta, arrays, images[s:s + batch]), axis=1)
                           for s in range(0, len(images), batch)])


_META_KEYS = ("format", "version", "name", "weights", "activations", "dataset", "input_shape", "n_classes",
              "preprocess", "layers", "sign_convention", "clean_accuracy", "training")


def check_model(meta: dict, arrays: dict):
    """Raise ValueError unless (meta, arrays) follow FORMAT.md (keys, dtypes, values, shapes)."""
    def fail(msg):
        raise ValueError(f"model file: {msg}")
    for k in _META_KEYS:
        if k not in meta:
            fail(f"meta lacks {k!r}")
    if meta["format"] != "arraysim-nn" or meta["version"] != 1:
        fail("format/version")
    if meta["weights"] not in ("binary", "ternary") or meta["activations"] != "binary":
        fail("weights/activations")
    if meta["sign_convention"] != "sign(0) = +1":
        fail("sign_convention")
    if set(meta["preprocess"]) != {"scale", "mean", "std"}:
        fail("preprocess")
    acc = meta["clean_accuracy"]
    if not (isinstance(acc, float) and 0.0 <= acc <= 1.0):
        fail("clean_accuracy")
    for k in ("seed", "epochs", "optimizer", "error_aware", "train_ber", "torch"):
        if k not in meta["training"]:
            fail(f"training lacks {k!r}")
    allowed = {-1, 1} if meta["weights"] == "binary" else {-1, 0, 1}
    shape = tuple(meta["input_shape"])
    used = set()
    for i, L in enumerate(meta["layers"]):
        typ, name = L.get("type"), L.get("name")
        if name != f"l{i}":
            fail(f"layer {i} is named {name!r}")
        if typ == "flatten":
            shape = (int(np.prod(shape)),)
        elif typ in ("dense", "conv2d"):
            W = arrays.get(name + ".W")
            used.add(name + ".W")
            if W is None or W.dtype != np.int8:
                fail(f"{name}.W missing or not int8")
            if not set(np.unique(W).tolist()) <= allowed:
                fail(f"{name}.W values {np.unique(W)} not in {sorted(allowed)}")
            if typ == "dense":
                if W.ndim != 2 or len(shape) != 1 or W.shape[1] != shape[0]:
                    fail(f"{name}.W shape {W.shape} vs input {shape}")
                shape = (W.shape[0],)
            else:
                if L.get("padding") != 0 or W.ndim != 4 or len(shape) != 3 or W.shape[1] != shape[0]:
                    fail(f"{name}: conv shape {W.shape} vs input {shape}")
                shape = (W.shape[0], shape[1] - W.shape[2] + 1, shape[2] - W.shape[3] + 1)
        elif typ == "maxpool2d":
            k = L.get("size")
            if k != 2 or len(shape) != 3:
                fail(f"{name}: maxpool")
            shape = (shape[0], shape[1] // k, shape[2] // k)
        elif typ in ("threshold", "affine"):
            keys = ("t", "s") if typ == "threshold" else ("scale", "bias")
            for k in keys:
                a = arrays.get(f"{name}.{k}")
                used.add(f"{name}.{k}")
                want = np.int8 if k == "s" else np.float64
                if a is None or a.dtype != want or a.shape != (shape[0],):
                    fail(f"{name}.{k} missing, not {np.dtype(want)} or not of shape ({shape[0]},)")
                if k == "s" and not set(np.unique(a).tolist()) <= {-1, 1}:
                    fail(f"{name}.s not in +-1")
                if k != "s" and not np.all(np.isfinite(a)):
                    fail(f"{name}.{k} not finite")
        else:
            fail(f"layer {i}: unknown type {typ!r}")
    if meta["layers"][-1]["type"] != "affine" or shape != (meta["n_classes"],):
        fail(f"the last layer must be affine with {meta['n_classes']} outputs (got shape {shape})")
    extra = set(arrays) - used
    if extra:
        fail(f"arrays not used by any layer: {sorted(extra)}")


# -------------------------------------------------------------------------------------- other checker
def crosscheck_model_module(path) -> str:
    """Compare clean_accuracy (this module's float64 reference) with arraysim.nn.model's inference of the file
    (``load_model(path).predict``), if that module is there: accuracy and per-image disagreements."""
    try:
        from . import model as M  # the inference module (written separately; may not exist yet)
        net = M.load_model(path)
    except Exception as exc:  # noqa: BLE001
        return f"arraysim.nn.model cross-check not possible ({type(exc).__name__}: {exc})"
    from .datasets import load_fashion_mnist
    x, y = load_fashion_mnist("test")
    meta, arrays = load_npz(path)
    try:
        pm = np.asarray(net.predict(x))
    except Exception as exc:  # noqa: BLE001
        return f"arraysim.nn.model predict failed: {type(exc).__name__}: {exc}"
    acc = int(np.sum(pm == y)) / len(y)
    dis = int(np.sum(pm != np_predict(meta, arrays, x)))
    return (f"arraysim.nn.model: accuracy {acc} vs clean_accuracy {meta['clean_accuracy']} "
            f"({'same' if acc == meta['clean_accuracy'] else 'MISMATCH'}), {dis} prediction disagreements")


# ------------------------------------------------------------------------------------------------ CLI
def _command(name, spec, out):
    cmd = (f"python -m arraysim.nn.train --model {spec['model']} --seed {spec['seed']} "
           f"--epochs {spec['epochs']}")
    if spec.get("error_aware"):
        cmd += f" --error-aware --train-ber {spec['train_ber']}"
    return cmd + f" --out {out}"


def train_and_export(name, spec, out, log=print, command=None, **kw):
    log(f"[{name}] training {spec}")
    net, info = train(spec["model"], seed=spec["seed"], epochs=spec["epochs"],
                      error_aware=spec.get("error_aware", False), train_ber=spec.get("train_ber", 0.0),
                      log=log, **kw)
    out_rel = out
    try:
        out_rel = Path(out).resolve().relative_to(Path.cwd())
    except ValueError:
        pass
    meta = export(net, info, out, name=name, command=command or _command(name, spec, out_rel))
    extra = f", zeros {meta['zero_fraction']['total']:.3f}" if "zero_fraction" in meta else ""
    log(f"[{name}] wrote {out}: clean accuracy (numpy, exported) {meta['clean_accuracy']:.4f}, torch "
        f"{meta['torch_test_accuracy']:.4f}, {meta['torch_numpy_disagreements']} disagreements, "
        f"training {info['wall_time_s']:.0f} s{extra}")
    return meta


README_HEAD = """# Shipped NN models (issue 5)

Quantized networks trained on Fashion-MNIST (60k train images; accuracies on the 10k test split) by
`arraysim/nn/train.py`, stored in the `arraysim-nn` v1 format (`arraysim/nn/FORMAT.md`).  This file is
written by `python -m arraysim.nn.train --readme` from the files' metadata;
`python -m arraysim.nn.train --all` retrains every model (deterministic for the seed on the same torch
version and thread count; one torch thread by default; the times below were measured on a 2-core machine
shared with other jobs, two trainings running side by side).

* **clean acc.** = `clean_accuracy` in the file: the exported quantized network (int8 weights, batch norm
  folded into `threshold`/`affine` layers) evaluated in numpy float64 exactly as FORMAT.md defines it.
* **torch acc.** = the trained torch network in eval mode (float32, unfolded batch norm); the two differ
  only by predictions whose first-layer / batch-norm value sits within float rounding of a threshold.
* Error-aware (`_ea`) models were trained with weight errors injected in every training forward pass
  (fresh pattern each pass, all layers; physics.md section 4) at `train_ber` = 4e-2, the tolerance the
  authors report for BNNs trained with errors (1904.03652); the ternary ones use the same mean rate
  (q = 2 BER/(1+p0) for 0 -> +-1, q/2 for +-1 -> 0).  Their clean accuracy is measured without errors.
* Recipe: latent float weights clipped to [-1,1], sign (binary) or TWN ternarization (threshold 0.7 mean|w|
  per layer) with a straight-through estimator, batch norm after every dense/conv (after the pool in the
  CNN), sign activations (sign(0)=+1) with the hardtanh STE, Adam (lr 2e-3) with cosine decay to 0, batch
  100, final epoch taken (no model selection on the test split).  The learning rate was picked on a
  50k/10k split of the training set (3 epochs of bnn_mlp: lr 1e-3 and 5e-3 both gave 0.879 validation
  accuracy; 2e-3 taken between them); nothing was tuned on the test split.

"""


def write_readme(models_dir=MODELS_DIR):
    rows = ["| model | weights | architecture | seed | epochs | train BER | clean acc. (numpy) | torch acc. "
            "| zero weights | training time | size | command |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in SHIPPED:
        p = Path(models_dir) / f"{name}.npz"
        if not p.is_file():
            rows.append(f"| {name} | (not trained yet) |||||||||||")
            continue
        meta, _ = load_npz(p)
        tr = meta["training"]
        zf = f"{meta['zero_fraction']['total']:.1%}" if "zero_fraction" in meta else "-"
        rows.append(f"| {name} | {meta['weights']} | {meta['architecture']} | {tr['seed']} | {tr['epochs']} | "
                    f"{tr['train_ber']:g} | {meta['clean_accuracy']:.4f} | {meta['torch_test_accuracy']:.4f} | "
                    f"{zf} | {tr['wall_time_s'] / 60:.1f} min | {p.stat().st_size / 1024:.0f} KiB | "
                    f"`{tr.get('command', '')}` |")
    text = README_HEAD + "\n".join(rows) + "\n"
    zl = []
    for name in SHIPPED:
        p = Path(models_dir) / f"{name}.npz"
        if p.is_file():
            meta, _ = load_npz(p)
            if "zero_fraction" in meta:
                per = ", ".join(f"{k} {v:.1%}" for k, v in meta["zero_fraction"]["per_layer"].items())
                zl.append(f"* {name}: zero weights per layer: {per}.")
    if zl:
        text += "\n" + "\n".join(zl) + "\n"
    (Path(models_dir) / "README.md").write_text(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m arraysim.nn.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(ARCHS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    ap.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    ap.add_argument("--error-aware", action="store_true", help="inject weight errors while training")
    ap.add_argument("--train-ber", type=float, default=0.0, help="error rate for --error-aware (e.g. 0.04)")
    ap.add_argument("--n-train", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--hidden", default=None, help="MLP hidden sizes, e.g. 512,512")
    ap.add_argument("--threads", type=int, default=DEFAULTS["threads"])
    ap.add_argument("--out", help="output .npz (default arraysim/nn/models/<name>.npz)")
    ap.add_argument("--all", action="store_true", help="retrain every shipped model into arraysim/nn/models/")
    ap.add_argument("--only", default=None, help="with --all: comma-separated subset of shipped names")
    ap.add_argument("--readme", action="store_true", help="rewrite arraysim/nn/models/README.md")
    args = ap.parse_args(argv)
    if args.all:
        names = args.only.split(",") if args.only else list(SHIPPED)
        for name in names:
            train_and_export(name, SHIPPED[name], MODELS_DIR / f"{name}.npz", threads=args.threads)
            print(crosscheck_model_module(MODELS_DIR / f"{name}.npz"))
        write_readme()
        return 0
    if args.readme:
        print(write_readme())
        return 0
    if not args.model:
        ap.error("--model, --all or --readme is required")
    name = args.model + ("_ea" if args.error_aware else "")
    out = Path(args.out) if args.out else MODELS_DIR / f"{name}.npz"
    spec = {"model": args.model, "seed": args.seed, "epochs": args.epochs, "error_aware": args.error_aware,
            "train_ber": args.train_ber}
    hidden = [int(h) for h in args.hidden.split(",")] if args.hidden else None
    argv = sys.argv[1:] if argv is None else list(argv)
    train_and_export(out.stem, spec, out, lr=args.lr, batch_size=args.batch_size, n_train=args.n_train,
                     hidden=hidden, threads=args.threads,
                     command="python -m arraysim.nn.train " + " ".join(argv))
    print(crosscheck_model_module(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training/export of the NN models (arraysim/nn/train.py): format of the exported file, folding exactness,
determinism from the seed, error-injection statistics, and the shipped model files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arraysim.nn import train as T

MODELS = Path(T.__file__).resolve().parent / "models"


def _data():
    from arraysim.nn.datasets import DatasetMissing, load_fashion_mnist
    try:
        xtr, ytr = load_fashion_mnist("train")
        xte, yte = load_fashion_mnist("test")
    except DatasetMissing as exc:
        pytest.skip(f"Fashion-MNIST not installed: {exc}")
    return (xtr[:2000], ytr[:2000]), (xte[:1000], yte[:1000])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 784-64-10 BNN and a 784-64-10 TNN (error-aware) trained 1 epoch on 2000 images, exported."""
    pytest.importorskip("torch")
    train, test = _data()
    out = {}
    for model, ea in (("bnn_mlp", False), ("tnn_mlp", True)):
        net, info = T.train(model, seed=3, epochs=1, hidden=[64], data=train, error_aware=ea,
                            train_ber=0.04 if ea else 0.0, log=lambda m: None)
        path = tmp_path_factory.mktemp("nn") / f"tiny_{model}.npz"
        meta = T.export(net, info, path, test_data=test)
        out[model] = (net, path, meta)
    return out, test


def test_import_does_not_need_torch():
    code = "import sys, arraysim.nn.train; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("model", ["bnn_mlp", "tnn_mlp"])
def test_exported_file_format(tiny, model):
    (nets, test) = tiny
    _, path, meta_ret = nets[model]
    with np.load(path, allow_pickle=False) as z:
        assert "__meta__" in z.files
        meta = json.loads(str(z["__meta__"][()]))
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    assert meta == json.loads(json.dumps(meta_ret))
    assert meta["format"] == "arraysim-nn" and meta["version"] == 1
    assert meta["name"] == path.stem
    assert meta["weights"] == ("binary" if model == "bnn_mlp" else "ternary")
    assert meta["activations"] == "binary" and meta["sign_convention"] == "sign(0) = +1"
    assert meta["dataset"] == "fashion-mnist" and meta["input_shape"] == [1, 28, 28] and meta["n_classes"] == 10
    assert meta["preprocess"] == {"scale": 1 / 255, "mean": 0.2860, "std": 0.3530}
    assert [L["type"] for L in meta["layers"]] == ["flatten", "dense", "threshold", "dense", "affine"]
    assert [L["name"] for L in meta["layers"]] == ["l0", "l1", "l2", "l3", "l4"]
    assert sorted(arrays) == ["l1.W", "l2.s", "l2.t", "l3.W", "l4.bias", "l4.scale"]
    assert arrays["l1.W"].dtype == np.int8 and arrays["l1.W"].shape == (64, 784)
    assert arrays["l3.W"].dtype == np.int8 and arrays["l3.W"].shape == (10, 64)
    allowed = {-1, 1} if model == "bnn_mlp" else {-1, 0, 1}
    for k in ("l1.W", "l3.W"):
        assert set(np.unique(arrays[k]).tolist()) <= allowed
    if model == "tnn_mlp":
        assert set(np.unique(arrays["l1.W"]).tolist()) == {-1, 0, 1}
        zf = meta["zero_fraction"]
        assert zf["per_layer"]["l1"] == pytest.approx(np.mean(arrays["l1.W"] == 0))
    assert arrays["l2.t"].dtype == np.float64 and arrays["l2.t"].shape == (64,)
    assert arrays["l2.s"].dtype == np.int8 and set(np.unique(arrays["l2.s"]).tolist()) <= {-1, 1}
    assert arrays["l4.scale"].dtype == np.float64 and arrays["l4.bias"].shape == (10,)
    tr = meta["training"]
    assert tr["seed"] == 3 and tr["epochs"] == 1 and tr["train_images"] == 2000
    assert tr["error_aware"] == (model == "tnn_mlp") and tr["train_ber"] == (0.04 if model == "tnn_mlp" else 0.0)
    assert tr["torch"] and tr["optimizer"].startswith("Adam") and tr["wall_time_s"] >= 0
    T.check_model(meta, arrays)
    # clean_accuracy is the exact fraction correct of the exported file on the evaluated images
    x, y = test
    assert meta["test_images"] == len(y)
    assert meta["clean_accuracy"] == int(np.sum(T.np_predict(meta, arrays, x) == y)) / len(y)
    assert meta["clean_accuracy"] > 0.5  # 1 epoch on 2000 images: well above chance


def test_check_model_rejects_bad_files(tiny):
    (nets, _) = tiny
    meta, arrays = T.load_npz(nets["bnn_mlp"][1])
    bad = dict(arrays, **{"l1.W": arrays["l1.W"].astype(np.float32)})
    with pytest.raises(ValueError, match="int8"):
        T.check_model(meta, bad)
    bad = dict(arrays, **{"l1.W": np.zeros_like(arrays["l1.W"])})  # 0 is not a binary weight
    with pytest.raises(ValueError, match="values"):
        T.check_model(meta, bad)
    bad = dict(arrays, **{"l2.s": np.zeros(64, np.int8)})
    with pytest.raises(ValueError, match="l2.s"):
        T.check_model(meta, bad)


@pytest.mark.parametrize("model", ["bnn_mlp", "tnn_mlp"])
def test_folding_matches_torch_eval(tiny, model):
    """The exported (BN-folded, float64) network predicts what the torch net predicts in eval mode.

    Folding is exact algebra; differences can only come from rounding: the first layer's real-valued
    pre-activation (float32 in torch, float64 here) or a BN output within rounding of 0 (integer hidden
    pre-activations make this very rare).  Allow at most 2 such tie flips per 1000 images; in float64 torch
    the only remaining difference is the rounding of t = mu - beta*sd/gamma vs (a-mu)/sd*gamma + beta."""
    (nets, test) = tiny
    net, path, meta = nets[model]
    x, y = test
    m, arrays = T.load_npz(path)
    p_np = T.np_predict(m, arrays, x)
    torch = pytest.importorskip("torch")
    p32 = T.torch_predict(net, x)
    p64 = T.torch_predict(net, x, dtype=torch.float64)
    assert np.sum(p_np != p32) <= 2
    assert np.sum(p_np != p64) <= 1
    assert meta["torch_numpy_disagreements"] == int(np.sum(p_np != p32))
    assert meta["torch_test_accuracy"] == float(np.mean(p32 == y))


def test_folding_cnn(tmp_path):
    """The CNN export (conv, maxpool before BN, flatten) agrees with torch eval mode after a short training."""
    torch = pytest.importorskip("torch")
    train, test = _data()
    net, info = T.train("bnn_cnn", seed=2, epochs=1, n_train=300, data=train, log=lambda m: None)
    x, y = test[0][:300], test[1][:300]
    meta = T.export(net, info, tmp_path / "cnn.npz", test_data=(x, y))
    assert [L["type"] for L in meta["layers"]] == ["conv2d", "maxpool2d", "threshold", "conv2d", "maxpool2d",
                                                  "threshold", "flatten", "dense", "threshold", "dense", "affine"]
    m, arrays = T.load_npz(tmp_path / "cnn.npz")
    assert arrays["l0.W"].shape == (32, 1, 5, 5) and arrays["l3.W"].shape == (64, 32, 5, 5)
    assert arrays["l7.W"].shape == (256, 1024) and arrays["l9.W"].shape == (10, 256)
    assert arrays["l2.t"].shape == (32,) and arrays["l5.t"].shape == (64,)
    p_np = T.np_predict(m, arrays, x)
    assert np.sum(p_np != T.torch_predict(net, x)) <= 1
    assert np.sum(p_np != T.torch_predict(net, x, dtype=torch.float64)) <= 1


def test_numpy_conv_and_pool_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 11, 9))
    W = rng.choice(np.array([-1, 0, 1], np.int8), size=(5, 4, 3, 3))
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(W.astype(np.float64))).numpy()
    assert np.allclose(T._conv_valid(x, W), ref, rtol=0, atol=1e-12)
    meta = {"preprocess": {"scale": 1.0, "mean": 0.0, "std": 1.0}, "layers": [{"type": "maxpool2d", "name": "l0",
                                                                              "size": 2}]}
    got = T.np_logits(meta, {}, x)
    assert np.array_equal(got, torch.nn.functional.max_pool2d(torch.from_numpy(x), 2).numpy())


def test_same_seed_same_weights():
    pytest.importorskip("torch")
    train, _ = _data()
    kw = dict(epochs=1, n_train=300, hidden=[32], data=train, error_aware=True, train_ber=0.05,
              log=lambda m: None)
    a, _ = T.train("tnn_mlp", seed=7, **kw)
    b, _ = T.train("tnn_mlp", seed=7, **kw)
    c, _ = T.train("tnn_mlp", seed=8, **kw)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)
    la, aa = T.export_layers(a)
    lb, ab = T.export_layers(b)
    assert la == lb and all(np.array_equal(aa[k], ab[k]) and aa[k].dtype == ab[k].dtype for k in aa)
    assert not np.array_equal(sa["latent.0"].numpy(), sc["latent.0"].numpy())


def _binomial_ok(k, n, p, z=5.0):
    return abs(k - n * p) <= z * np.sqrt(n * p * (1 - p)) + 1


def test_binary_error_injection_statistics():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    w = torch.where(torch.rand(1000, 1000, generator=g) < 0.3, 1.0, -1.0)
    ber = 0.04
    e1 = T.inject_binary(w, ber, g)
    e2 = T.inject_binary(w, ber, g)
    n = w.numel()
    for e in (e1, e2):
        assert set(torch.unique(e).tolist()) <= {-1.0, 1.0}
        k = int((e != w).sum())
        assert _binomial_ok(k, n, ber)
        # the flip rate does not depend on the weight's value
        for v in (1.0, -1.0):
            m = w == v
            assert _binomial_ok(int((e[m] != v).sum()), int(m.sum()), ber)
    assert not torch.equal(e1, e2)  # fresh pattern each call
    # gradient passes straight through the error
    wl = w.clone().requires_grad_()
    T.inject_binary(wl, ber, g).sum().backward()
    assert torch.equal(wl.grad, torch.ones_like(w))


def test_ternary_error_injection_statistics():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(1)
    u = torch.rand(1000, 1000, generator=g)
    w = torch.where(u < 0.4, 0.0, torch.where(u < 0.7, 1.0, -1.0))  # p0 = 0.4
    ber = 0.05
    p0 = float((w == 0).double().mean())
    q = T.ternary_q(ber, p0)
    assert q == pytest.approx(2 * ber / (1 + p0))
    e = T.inject_ternary(w, ber, g)
    zero, nonzero = w == 0, w != 0
    nz, nn = int(zero.sum()), int(nonzero.sum())
    assert _binomial_ok(int((e[zero] == 1).sum()), nz, q / 2)
    assert _binomial_ok(int((e[zero] == -1).sum()), nz, q / 2)
    assert _binomial_ok(int((e[nonzero] == 0).sum()), nn, q / 2)
    assert int((e * w < 0).sum()) == 0  # never a sign flip
    assert _binomial_ok(int((e != w).sum()), w.numel(), ber)  # mean rate = BER
    assert not torch.equal(e, T.inject_ternary(w, ber, g))


def test_training_forward_injects_errors_eval_does_not():
    torch = pytest.importorskip("torch")
    net = T.build_net("bnn_mlp", hidden=[256], seed=0)
    net.ber = 0.04
    net.err_gen = torch.Generator().manual_seed(0)
    clean = net.qweight(0, inject=False).detach()
    net.train()
    noisy = net.qweight(0).detach()
    assert _binomial_ok(int((noisy != clean).sum()), clean.numel(), 0.04)
    net.eval()
    assert torch.equal(net.qweight(0).detach(), clean)
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_sign_convention():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-1.0, -0.0, 0.0, 1e-30, 2.0])
    assert T.sign_pm1(x).tolist() == [-1.0, 1.0, 1.0, 1.0, 1.0]
    w = torch.tensor([0.0, -0.5, 0.5], requires_grad=True)
    assert T.binarize(w).tolist() == [1.0, -1.0, 1.0]
    w = torch.tensor([0.0, -0.5, 0.5, 0.01, -2.0])
    # D = 0.7 * mean|w| = 0.7 * 3.01 / 5 = 0.4214
    assert T.ternarize(w).tolist() == [0.0, -1.0, 1.0, 0.0, -1.0]


SHIPPED = sorted(p.stem for p in MODELS.glob("*.npz"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model(name):
    path = MODELS / f"{name}.npz"
    assert name in T.SHIPPED
    assert path.stat().st_size < 1024 * 1024
    meta, arrays = T.load_npz(path)
    T.check_model(meta, arrays)
    spec = T.SHIPPED[name]
    assert meta["name"] == name and meta["test_images"] == 10000
    assert meta["weights"] == T.ARCHS[spec["model"]]["weights"]
    tr = meta["training"]
    assert (tr["seed"], tr["epochs"], tr["error_aware"], tr["train_ber"]) == (
        spec["seed"], spec["epochs"], spec["error_aware"], spec["train_ber"])
    assert meta["clean_accuracy"] > 0.8
    assert abs(meta["clean_accuracy"] - meta["torch_test_accuracy"]) <= 5e-4
    if spec["model"] != "bnn_cnn":  # the MLPs are fast to re-evaluate on the full test split
        from arraysim.nn.datasets import DatasetMissing, load_fashion_mnist
        try:
            x, y = load_fashion_mnist("test")
        except DatasetMissing as exc:
            pytest.skip(str(exc))
        assert meta["clean_accuracy"] == int(np.sum(T.np_predict(meta, arrays, x) == y)) / 10000

"""NN inference and weight-error injection (arraysim.nn.model / kernels / errors / cli).

Small random or hand-built networks and synthetic data keep this file fast; the real Fashion-MNIST test
split is used only for the shipped models and the CLI (skipped when the dataset is not installed)."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from arraysim.nn import kernels as K
from arraysim.nn.errors import (ERROR_TABLE_SCHEMA, ErrorModel, _Injector, accuracy_under_errors,
                                accuracy_vs_ber, draw_weights, load_error_model, rng_for, select_row)
from arraysim.nn.model import (ModelFormatError, QuantizedNet, load_model, random_model, read_npz,
                               save_model, shipped_models)

ALPHA = 1e-6  # significance level of the statistical tests (a false failure every ~10^6 runs)
DYADIC = {"scale": 1 / 256, "mean": 0.5, "std": 0.25}  # exact float64 first-layer sums


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _fmnist(n=None):
    from arraysim.nn.datasets import DatasetMissing, load_fashion_mnist
    try:
        x, y = load_fashion_mnist("test")
    except DatasetMissing as e:
        pytest.skip(f"Fashion-MNIST not installed: {e}")
    return (x, y) if n is None else (x[:n], y[:n])


def _float_preacts(net, x):
    """Float64 values entering every threshold layer (reference evaluation, layer by layer)."""
    x = net.preprocess(net._check_input(x))
    out = {}
    for L in net.layers:
        if L.type == "flatten":
            x = x.reshape(len(x), -1)
        elif L.type == "dense":
            x = x @ L.arrays["W"].astype(float).T
        elif L.type == "conv2d":
            win = np.lib.stride_tricks.sliding_window_view(x, L.arrays["W"].shape[2:], axis=(2, 3))
            x = np.tensordot(win, L.arrays["W"].astype(float), axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
        elif L.type == "maxpool2d":
            k = L.spec["size"]
            n, c, h, w = x.shape
            x = x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))
        elif L.type == "threshold":
            out[L.name] = x.copy()
            sh = (1, -1) + (1,) * (x.ndim - 2)
            x = np.where(L.arrays["s"].reshape(sh) * (x - L.arrays["t"].reshape(sh)) >= 0, 1.0, -1.0)
    return out


def _with_ties(net, x, rng, skip_first=False):
    """The same network with half of each threshold layer's thresholds moved onto pre-activations that
    occur for ``x`` (a == t exactly); returns (net, number of ties in the float reference)."""
    meta, arrays = net.to_arrays()
    names = [L.name for L in net.layers if L.type == "threshold"]
    for k, name in enumerate(names):
        if skip_first and k == 0:
            continue
        a = _float_preacts(QuantizedNet.from_arrays(meta, arrays), x)[name]
        t = arrays[f"{name}.t"].copy()
        for j in rng.choice(len(t), size=max(1, len(t) // 2), replace=False):
            vals = a[:, j].reshape(-1)
            t[j] = vals[rng.integers(len(vals))]
        arrays[f"{name}.t"] = t
    tied = QuantizedNet.from_arrays(meta, arrays)
    n_ties = 0
    for name, a in _float_preacts(tied, x).items():
        t = arrays[f"{name}.t"].reshape((1, -1) + (1,) * (a.ndim - 2))
        n_ties += int(np.sum(a == t))
    return tied, n_ties


def _synthetic(n_per_class=100, side=28, seed=0, noise=0.25):
    """Balanced 10-class uint8 images: random binary prototypes with a fraction ``noise`` of pixels
    flipped; returns (x, y, prototypes)."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 2, size=(10, side * side)).astype(bool)
    y = np.repeat(np.arange(10), n_per_class)
    flip = rng.random((len(y), side * side)) < noise
    x = (protos[y] ^ flip).astype(np.uint8) * 255
    return x.reshape(len(y), 1, side, side), y, protos


def _template_net(protos, weights="binary", per_class=4, seed=0, side=28):
    """A hand-built classifier for :func:`_synthetic`: neuron (c, r) matches prototype c (10 % of its
    weights randomised; ternary: a third set to 0), threshold halfway between the mean pre-activation of
    matching and of other examples; the output layer sums each class's neurons."""
    rng = np.random.default_rng(seed)
    W1 = np.where(np.repeat(protos, per_class, axis=0), 1, -1).astype(np.int8)
    W1 = np.where(rng.random(W1.shape) < 0.1, rng.choice(np.array([-1, 1], np.int8), W1.shape), W1)
    if weights == "ternary":
        W1 = np.where(rng.random(W1.shape) < 1 / 3, 0, W1).astype(np.int8)
    h = 10 * per_class
    flip = rng.random((200, protos.shape[1])) < 0.25
    ys = np.repeat(np.arange(10), 20)
    xs = (protos[ys] ^ flip).astype(float)
    a = xs @ W1.T.astype(float)  # x in {0, 1} after preprocessing
    own = (np.arange(h) // per_class)[None, :] == ys[:, None]
    t = (np.where(own, a, 0).sum(0) / own.sum(0) + np.where(~own, a, 0).sum(0) / (~own).sum(0)) / 2
    W2 = np.where(np.arange(10)[:, None] == (np.arange(h) // per_class)[None, :], 1, -1).astype(np.int8)
    meta = {"format": "arraysim-nn", "version": 1, "name": f"template_{weights}", "weights": weights,
            "activations": "binary", "dataset": "fashion-mnist", "input_shape": [1, side, side],
            "n_classes": 10, "preprocess": {"scale": 1 / 255, "mean": 0.0, "std": 1.0},
            "layers": [{"type": "flatten", "name": "l0"}, {"type": "dense", "name": "l1"},
                       {"type": "threshold", "name": "l2"}, {"type": "dense", "name": "l3"},
                       {"type": "affine", "name": "l4"}],
            "sign_convention": "sign(0) = +1", "training": {"script": "tests/test_nn.py"}}
    arrays = {"l1.W": W1, "l2.t": t.astype(float), "l2.s": np.ones(h, np.int8), "l3.W": W2,
              "l4.scale": np.ones(10), "l4.bias": np.zeros(10)}
    return QuantizedNet.from_arrays(meta, arrays)


def _row(readout="binary", vdd=0.5, temp_c=27.0, window=2e-8, counts=None, **kw):
    """A hand-made table row (every column of COLUMNS) with the given confusion counts."""
    from arraysim.montecarlo.result import COLUMNS
    row = {k: (("" if kind == "str" else 0) if kind != "float" else float("nan"))
           for k, (_, kind) in COLUMNS.items()}
    row.update(cell="2t2r", readout=readout, vdd=vdd, temp_c=temp_c, corner="tt", i_compliance=50e-6,
               v_reset=1.5, rows=32, window=window, threshold=0.5, samples=1000)
    c = np.zeros((3, 4), int) if counts is None else np.asarray(counts)
    for i, w in enumerate(("plus", "zero", "minus")):
        n = int(c[i].sum())
        row[f"n_{w}"] = n
        row[f"err_{w}"] = n - int(c[i, i])
        for j, r in enumerate(("plus", "zero", "minus", "invalid")):
            row[f"c_{w}_{r}"] = int(c[i, j])
            row[f"q_{w}_{r}"] = c[i, j] / n if n else float("nan")
    row["n"] = int(c.sum())
    row.update(kw)
    return row


def _table(rows):
    from arraysim.montecarlo.result import BERTable
    return BERTable(rows=rows, meta={"seed": 0})


@pytest.fixture(scope="module")
def sim_tables():
    """Real engine tables, small: binary over VDD x temperature, ternary at two windows."""
    import arraysim
    from arraysim.montecarlo.driver import make_grid, run_ber
    binary = arraysim.ber_table(vdd=[0.3, 0.5], temp_c=[27, 125], samples=256, seed=1)
    ternary = run_ber(make_grid([0.5]), 256, 1, arraysim.simulator(), readout="ternary",
                      windows=[1e-9, 5e-9])
    return binary, ternary


# --------------------------------------------------------------------------------------------------
# inference: fast == float
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch,weights,shape", [
    ("mlp", "binary", (1, 28, 28)), ("mlp", "ternary", (1, 28, 28)),
    ("cnn", "binary", (1, 28, 28)), ("cnn", "ternary", (1, 28, 28)),
    ("mlp", "binary", (3, 32, 32)), ("cnn", "binary", (3, 32, 32)), ("cnn", "ternary", (3, 32, 32))])
@pytest.mark.parametrize("preprocess", ["dyadic", "real"])
def test_fast_equals_float_with_ties(arch, weights, shape, preprocess):
    """Logits of the bit-packed path are bit-identical to the plain float64 evaluation, with thresholds
    placed exactly on occurring pre-activations (a == t, sign(0) = +1) in every threshold layer.  With
    dyadic preprocessing the first layer's float sums are exact too, so its ties are tested as well; with
    real preprocessing (1/255, mean, std) the first-layer ties come from the float reference's rounding."""
    rng = np.random.default_rng(zlib.crc32(f"{arch}{weights}{shape}{preprocess}".encode()))
    x = rng.integers(0, 256, size=(120,) + shape, dtype=np.uint8)
    x[:, :, :3] = 0  # some zero pixels (skipped by the integer kernel)
    net = random_model(arch, weights, input_shape=shape, hidden=(70, 65), channels=(6, 10), dense=40,
                       seed=int(rng.integers(1 << 30)), preprocess=DYADIC if preprocess == "dyadic" else None)
    np.testing.assert_array_equal(net.forward(x), net.forward_float(x))
    # real preprocessing: the reference rounds the first layer's float sums, so its ties are only placed
    # in the later threshold layers (integer pre-activations, exact in both evaluations)
    tied, n_ties = _with_ties(net, x, rng, skip_first=preprocess == "real")
    assert n_ties > 0
    ref = tied.forward_float(x)
    np.testing.assert_array_equal(tied.forward(x), ref)
    np.testing.assert_array_equal(tied.predict(x), np.argmax(ref, axis=1))


def test_sign_of_zero_is_plus_one():
    """a == t gives +1 for s = +1 and for s = -1 (s*(a - t) = -0.0 >= 0)."""
    for s in (1, -1):
        meta = {"format": "arraysim-nn", "version": 1, "name": "tiny", "weights": "binary",
                "activations": "binary", "input_shape": [1, 1, 2], "n_classes": 2,
                "preprocess": {"scale": 1.0, "mean": 0.0, "std": 1.0},
                "layers": [{"type": "flatten", "name": "l0"}, {"type": "dense", "name": "l1"},
                           {"type": "threshold", "name": "l2"}, {"type": "dense", "name": "l3"},
                           {"type": "affine", "name": "l4"}]}
        arrays = {"l1.W": np.array([[1, -1]], np.int8), "l2.t": np.zeros(1), "l2.s": np.array([s], np.int8),
                  "l3.W": np.array([[1], [-1]], np.int8), "l4.scale": np.ones(2), "l4.bias": np.zeros(2)}
        net = QuantizedNet.from_arrays(meta, arrays)
        x = np.array([[[[3, 3]]], [[[5, 3]]], [[[3, 5]]]], np.uint8)
        # hidden = +1 (tie), s*(2) , s*(-2)
        want = [0, 0 if s == 1 else 1, 1 if s == 1 else 0]
        assert net.predict(x).tolist() == want
        assert net.predict_float(x).tolist() == want


def test_batch_size_and_dtype_do_not_change_results():
    net = random_model("mlp", "binary", hidden=(96,), seed=5)
    x = np.random.default_rng(2).integers(0, 256, size=(257, 1, 28, 28), dtype=np.uint8)
    full = net.forward(x)
    parts = np.concatenate([net.forward(x[i:i + 7]) for i in range(0, len(x), 7)])
    np.testing.assert_array_equal(full, parts)
    np.testing.assert_array_equal(full, net.forward(x.astype(np.float64)))  # integer-valued floats
    np.testing.assert_array_equal(full, net.forward(x.reshape(len(x), -1)))  # flat input
    np.testing.assert_array_equal(net.forward(x[:1]), full[:1])


@pytest.mark.parametrize("k", [1, 63, 64, 65, 130])
def test_kernels_match_numpy(k):
    rng = np.random.default_rng(k)
    x = rng.choice(np.array([-1, 1], np.int8), size=(37, k))
    for vals in ([-1, 1], [-1, 0, 1]):
        W = rng.choice(np.array(vals, np.int8), size=(11, k))
        want = x.astype(np.int64) @ W.T.astype(np.int64)
        plus, minus, n_plus, n_minus = K.pack_weights(W)
        xb = K.pack_rows(x)
        if minus is None:
            got = [K._dense_xnor_ser(xb, plus, np.int32(k)), K._dense_xnor_par(xb, plus, np.int32(k))]
        else:
            got = [K._dense_ternary_ser(xb, plus, minus, n_plus, n_minus),
                   K._dense_ternary_par(xb, plus, minus, n_plus, n_minus)]
        for g in got:
            np.testing.assert_array_equal(g, want)
    xi = rng.integers(0, 256, size=(9, k)).astype(np.uint8)
    wt = rng.choice(np.array([-1, 0, 1], np.int32), size=(k, 5))
    np.testing.assert_array_equal(K._int_matmul_ser(xi, wt), xi.astype(np.int64) @ wt)
    np.testing.assert_array_equal(K._int_matmul_par(xi, wt), xi.astype(np.int64) @ wt)


def test_binary_net_with_zero_weights_after_errors():
    """A ternary table can zero weights of a binary net; inference then uses the ternary kernels."""
    net = random_model("cnn", "binary", channels=(4, 6), dense=20, seed=2)
    x = np.random.default_rng(0).integers(0, 256, size=(30, 1, 28, 28), dtype=np.uint8)
    ws = [np.where(np.random.default_rng(i).random(w.shape) < 0.2, 0, w).astype(np.int8)
          for i, w in enumerate(net.weights)]
    np.testing.assert_array_equal(net.forward(x, weights=ws), net.forward_float(x, weights=ws))


# --------------------------------------------------------------------------------------------------
# model files
# --------------------------------------------------------------------------------------------------
def test_tiny_model_file_roundtrip(tmp_path):
    """A model file built here (the suite never depends on the shipped files): save, load, and the
    recorded clean accuracy is reproduced exactly."""
    x, y, protos = _synthetic(30)
    net = _template_net(protos)
    meta, arrays = net.to_arrays()
    meta["clean_accuracy"] = net.accuracy(x, y)
    path = tmp_path / "tiny.npz"
    save_model(path, meta, arrays)
    back = load_model(path)
    assert back.accuracy(x, y) == meta["clean_accuracy"] > 0.9
    assert back.name == "template_binary" and back.weight_kind == "binary"
    m2, a2 = read_npz(path)
    assert m2 == meta and sorted(a2) == sorted(arrays)
    assert not list(tmp_path.glob(".*tmp"))


_SHIPPED = sorted(shipped_models())


@pytest.mark.parametrize("name", _SHIPPED or [pytest.param("none", marks=pytest.mark.skip(
    reason="no shipped model files yet"))])
def test_shipped_model_reproduces_clean_accuracy(name):
    net = load_model(name)
    x, y = _fmnist()
    assert net.meta.get("dataset") == "fashion-mnist"
    assert net.accuracy(x, y) == net.clean_accuracy


def _model_pair():
    net = random_model("mlp", "ternary", hidden=(8,), seed=1)
    return net.to_arrays()


@pytest.mark.parametrize("mutate,match", [
    (lambda m, a: a.__setitem__("l1.W", a["l1.W"] * 2), "values"),
    (lambda m, a: a.__setitem__("l1.W", a["l1.W"].astype(np.int16)), "int8"),
    (lambda m, a: a.pop("l2.t"), "l2.t"),
    (lambda m, a: a.__setitem__("l2.s", np.zeros(8, np.int8)), "s holds"),
    (lambda m, a: a.__setitem__("extra", np.zeros(1)), "not used"),
    (lambda m, a: m["layers"].insert(1, {"type": "softmax", "name": "lx"}), "unknown type"),
    (lambda m, a: m.__setitem__("weights", "quaternary"), "weights"),
    (lambda m, a: m.__setitem__("version", 2), "version"),
    (lambda m, a: m.__setitem__("n_classes", 7), "n_classes"),
    (lambda m, a: m["preprocess"].__setitem__("std", 0), "std"),
    (lambda m, a: m.__setitem__("sign_convention", "sign(0) = 0"), "sign_convention"),
    (lambda m, a: m["layers"].pop(2), "threshold layer"),  # dense after dense: input not binarized
    (lambda m, a: (m.__setitem__("layers", m["layers"][:3]),
                   [a.pop(k) for k in ("l3.W", "l4.scale", "l4.bias")]), "n_classes"),
])
def test_model_validation_errors(mutate, match):
    meta, arrays = _model_pair()
    mutate(meta, arrays)
    with pytest.raises(ModelFormatError, match=match):
        QuantizedNet.from_arrays(meta, arrays)


def test_model_file_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelFormatError, match="not a readable"):
        load_model(bad)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        load_model("nope")
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "missing.npz")


# --------------------------------------------------------------------------------------------------
# error models from tables
# --------------------------------------------------------------------------------------------------
def test_binary_table_rates(sim_tables, tmp_path):
    binary, _ = sim_tables
    row = select_row(binary, {"vdd": "0.3", "temp_c": "125"})
    em = load_error_model(binary, {"vdd": 0.3, "temp_c": 125})
    assert em.kind == "binary"
    assert em.rates() == {"p(+1->-1)": row["err_plus"] / row["n_plus"],
                          "p(-1->+1)": row["err_minus"] / row["n_minus"]}
    assert 0 < row["err_plus"] + row["err_minus"]
    # the same model from every file format
    for suf in (".csv", ".json", ".npz"):
        p = tmp_path / f"t{suf}"
        binary.save(p)
        em2 = load_error_model(p, {"vdd": "300m", "temp_c": "125"})
        np.testing.assert_array_equal(em2.probs, em.probs)
        assert em2.condition["vdd"] == 0.3 and em2.source == str(p)


def test_table_json_follows_the_schema(sim_tables, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    for tab in sim_tables:
        p = tmp_path / "t.json"
        tab.save(p)
        jsonschema.validate(json.loads(p.read_text()), ERROR_TABLE_SCHEMA)
    doc = json.loads(p.read_text())
    doc["data"]["c_plus_zero"][0] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, ERROR_TABLE_SCHEMA)


def test_condition_selection_errors(sim_tables):
    binary, ternary = sim_tables
    assert select_row(binary, {"vdd": "0.5", "temp_c": "27", "readout": "BINARY"})["vdd"] == 0.5
    with pytest.raises(ValueError, match=r"2 rows match vdd=0.5.*temp_c: 27, 125 degC"):
        select_row(binary, {"vdd": "0.5"})
    with pytest.raises(ValueError, match=r"no row matches vdd=0.4.*vdd: 0.3, 0.5 V.*temp_c: 27, 125"):
        select_row(binary, {"vdd": "0.4", "temp_c": "27"})
    with pytest.raises(ValueError, match=r"4 rows match no condition.*vdd: 0.3, 0.5 V; temp_c"):
        select_row(binary, {})
    with pytest.raises(ValueError, match="unknown condition column 'vd'"):
        select_row(binary, {"vd": "0.5"})
    with pytest.raises(ValueError, match="not a number"):
        select_row(binary, {"vdd": "abc"})
    with pytest.raises(ValueError, match=r"window: 1e-09, 5e-09 s"):
        select_row(ternary, {"vdd": "0.5"})
    assert select_row(ternary, {"window": "5ns"})["window"] == pytest.approx(5e-9)
    assert select_row(ternary, {"window": "1n", "i_compliance": "50uA"})["window"] == pytest.approx(1e-9)
    with pytest.raises(ValueError, match="no row matches"):
        select_row(ternary, {"window": "5", "vdd": "0.5"})  # 5 s, not 5 ns


def test_xnor_table_gives_flips():
    em = load_error_model(_table([_row("xnor", counts=[[97, 1, 2, 0], [0, 0, 0, 0], [3, 0, 96, 1]])]))
    assert em.kind == "binary"
    assert em.rates() == {"p(+1->-1)": 3 / 100, "p(-1->+1)": 4 / 100}  # unresolved/invalid reads = flips
    assert "vdd=0.5 V" in em.describe()


def test_binary_table_rejects_ternary_net():
    em = load_error_model(_table([_row(counts=[[90, 0, 10, 0], [0, 0, 0, 0], [5, 0, 95, 0]])]))
    net = random_model("mlp", "ternary", hidden=(8,), seed=0)
    with pytest.raises(ValueError, match="no statistics for weight 0"):
        accuracy_under_errors(net, np.zeros((2, 1, 28, 28), np.uint8), [0, 1], em)


def _chi2_ok(observed, expected):
    """Chi-square goodness of fit over the categories with expected > 0 (categories with expected 0 must
    be observed 0 times)."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    assert np.all(observed[expected == 0] == 0), (observed, expected)
    keep = expected > 0
    if keep.sum() < 2:
        return True
    p = stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()).pvalue
    return p > ALPHA


@pytest.mark.parametrize("invalid", ["zero", "random"])
def test_ternary_injection_preserves_confusion(invalid):
    counts = np.array([[9000, 600, 100, 300], [500, 8500, 700, 300], [200, 800, 8800, 200]])
    em = load_error_model(_table([_row("ternary", counts=counts)]), invalid=invalid)
    np.testing.assert_array_equal(em.probs, counts / counts.sum(axis=1, keepdims=True))
    net = random_model("mlp", "ternary", hidden=(256,), seed=4)  # ~200k weights, a third of them 0
    inj = _Injector(net, em)
    base = np.concatenate([w.ravel() for w in net.weights])
    obs = np.zeros((3, 3), int)
    for d in range(10):
        new = np.concatenate([w.ravel() for w in inj.draw(rng_for(7, d))])
        for i, wv in enumerate((1, 0, -1)):
            sel = new[base == wv]
            obs[i] += [(sel == 1).sum(), (sel == 0).sum(), (sel == -1).sum()]
    want = em.transition()
    for i in range(3):
        assert _chi2_ok(obs[i], want[i]), (i, obs[i], want[i])
    if invalid == "zero":
        np.testing.assert_allclose(want[:, 1], (counts[:, 1] + counts[:, 3]) / counts.sum(axis=1))


def test_ternary_ber_rule():
    net = random_model("mlp", "ternary", hidden=(256,), seed=3, p_zero=0.4)
    p0 = net.zero_fraction
    ber = 0.05
    q = 2 * ber / (1 + p0)
    em = ErrorModel.from_ber(ber)
    np.testing.assert_allclose(em.transition(net), [[1 - q / 2, q / 2, 0], [q / 2, 1 - q, q / 2],
                                                    [0, q / 2, 1 - q / 2]])
    base = np.concatenate([w.ravel() for w in net.weights])
    obs = np.zeros((3, 3), int)
    n_err = 0
    for d in range(5):
        new = np.concatenate([w.ravel() for w in draw_weights(net, em, rng_for(1, d))])
        n_err += int((new != base).sum())
        for i, wv in enumerate((1, 0, -1)):
            sel = new[base == wv]
            obs[i] += [(sel == 1).sum(), (sel == 0).sum(), (sel == -1).sum()]
    assert obs[0, 2] == 0 and obs[2, 0] == 0  # never a sign flip
    for i in range(3):
        assert _chi2_ok(obs[i], em.transition(net)[i])
    n = 5 * base.size
    assert stats.binomtest(n_err, n, ber).pvalue > ALPHA  # mean error rate = BER
    with pytest.raises(ValueError, match="too large"):
        ErrorModel.from_ber(0.9).probabilities(net)


def test_binary_flip_rates_statistics():
    em = ErrorModel.from_flips(0.02, 0.1)
    net = random_model("mlp", "binary", hidden=(256,), seed=1)
    base = np.concatenate([w.ravel() for w in net.weights])
    new = np.concatenate([w.ravel() for w in draw_weights(net, em, rng_for(0, 0))])
    for wv, p in ((1, 0.02), (-1, 0.1)):
        sel = base == wv
        assert stats.binomtest(int((new[sel] != wv).sum()), int(sel.sum()), p).pvalue > ALPHA
    assert set(np.unique(new).tolist()) == {-1, 1}


def test_real_ternary_table(sim_tables):
    _, ternary = sim_tables
    em = load_error_model(ternary, {"window": "5n"})
    row = select_row(ternary, {"window": 5e-9})
    assert em.kind == "ternary"
    for i, w in enumerate(("plus", "zero", "minus")):
        for j, r in enumerate(("plus", "zero", "minus", "invalid")):
            if row[f"n_{w}"]:
                assert em.probs[i, j] == row[f"c_{w}_{r}"] / row[f"n_{w}"]


# --------------------------------------------------------------------------------------------------
# accuracy under errors
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("weights", ["binary", "ternary"])
@pytest.mark.parametrize("mode", ["chip", "pass"])
def test_ber_zero_reproduces_clean_accuracy(weights, mode):
    x, y, protos = _synthetic(20)
    net = _template_net(protos, weights)
    clean = net.accuracy(x, y)
    r = accuracy_under_errors(net, x, y, 0.0, mode=mode, n_draws=2, batch_size=37)
    assert r["clean"] == clean and r["mean"] == clean and r["std"] == 0.0
    assert list(r["values"]) == [clean, clean]
    perfect = _table([_row("ternary", counts=[[50, 0, 0, 0], [0, 50, 0, 0], [0, 0, 50, 0]])])
    assert accuracy_under_errors(net, x, y, load_error_model(perfect), mode=mode, n_draws=1)["mean"] == clean


def test_ber_half_gives_chance_level():
    """Binary net, every weight flipped with probability 1/2, a fresh pattern per example: the last layer's
    weights are uniform and independent of the input, so the prediction is independent of the label and
    the number correct is Binomial(n, 1/10) on a class-balanced set."""
    x, y, _ = _synthetic(300, side=8, seed=3)
    net = random_model("mlp", "binary", input_shape=(1, 8, 8), hidden=(32, 32), seed=2)
    r = accuracy_under_errors(net, x, y, 0.5, mode="pass", n_draws=1, batch_size=1, seed=5)
    k = round(r["mean"] * len(y))
    assert stats.binomtest(k, len(y), 0.1).pvalue > ALPHA, r["mean"]


@pytest.mark.parametrize("weights", ["binary", "ternary"])
def test_accuracy_decreases_with_ber(weights):
    x, y, protos = _synthetic(40, seed=1)
    net = _template_net(protos, weights, per_class=3, seed=2)
    bers = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5] if weights == "binary" else [0.0, 0.01, 0.05, 0.1, 0.3, 0.6]
    r = accuracy_vs_ber(net, x, y, bers, mode="chip", n_draws=4, seed=3)
    assert r["mean"][0] == r["clean"] > 0.95
    se = np.sqrt(r["std"][1:] ** 2 + r["std"][:-1] ** 2) / np.sqrt(r["n_draws"])
    assert np.all(np.diff(r["mean"]) <= 3 * se + 0.01), r["mean"]
    assert r["mean"][-1] < r["clean"] - 0.3
    if weights == "binary":
        assert abs(r["mean"][-1] - 0.1) < 0.1


def test_reproducible_and_seeded():
    x, y, protos = _synthetic(20)
    net = _template_net(protos)
    a = accuracy_under_errors(net, x, y, 0.15, mode="chip", n_draws=4, seed=11)
    b = accuracy_under_errors(net, x, y, 0.15, mode="chip", n_draws=2, seed=11)
    c = accuracy_under_errors(net, x, y, 0.15, mode="chip", n_draws=4, seed=12)
    np.testing.assert_array_equal(a["values"][:2], b["values"])
    assert not np.array_equal(a["values"], c["values"])
    p1 = accuracy_under_errors(net, x, y, 0.15, mode="pass", n_draws=2, seed=11, batch_size=50)
    p2 = accuracy_under_errors(net, x, y, 0.15, mode="pass", n_draws=2, seed=11, batch_size=50)
    np.testing.assert_array_equal(p1["values"], p2["values"])
    w1 = draw_weights(net, 0.1, rng_for(4, 2))
    w2 = draw_weights(net, 0.1, np.random.Generator(np.random.PCG64(np.random.SeedSequence(4, spawn_key=(2,)))))
    for u, v in zip(w1, w2):
        np.testing.assert_array_equal(u, v)


def test_bad_arguments():
    x, y, protos = _synthetic(5)
    net = _template_net(protos)
    for kw, match in (({"mode": "forever"}, "unknown mode"), ({"n_draws": 0}, "n_draws"),
                      ({"batch_size": 0}, "batch_size"), ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=match):
            accuracy_under_errors(net, x, y, 0.1, **kw)
    with pytest.raises(ValueError, match="ber must be"):
        accuracy_under_errors(net, x, y, 1.5)
    with pytest.raises(ValueError, match="invalid-read mapping"):
        ErrorModel.from_ber(0.1, invalid="maybe")
    with pytest.raises(ValueError, match="unknown layer"):
        accuracy_under_errors(net, x, y, 0.1, layers=["l9"])


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------
def _cli(capsys, *argv):
    from arraysim.cli import main
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, sim_tables):
    d = tmp_path_factory.mktemp("nncli")
    table = d / "ber.csv"
    sim_tables[0].save(table)
    ttable = d / "tern.json"
    sim_tables[1].save(ttable)
    net = random_model("mlp", "binary", hidden=(32,), seed=1, name="tiny_cli")
    model = d / "tiny_cli.npz"
    net.save(model)
    return d, table, ttable, model


@pytest.mark.parametrize("argv,mention", [
    ([], "--model"),
    (["--model", "nope", "--ber", "0.1"], "unknown model 'nope'"),
    (["--model", "{model}"], "give --table"),
    (["--model", "{model}", "--ber", "0.1", "--table", "{table}"], "either --table or --ber"),
    (["--model", "{model}", "--ber", "2"], "out of range"),
    (["--model", "{model}", "--ber", "x"], "not a number"),
    (["--model", "{model}", "--ber", "0.1", "--mode", "x"], "unknown --mode"),
    (["--model", "{model}", "--ber", "0.1", "--draws", "0"], "--draws"),
    (["--model", "{model}", "--ber", "0.1", "--invalid", "x"], "--invalid"),
    (["--model", "{model}", "--ber", "0.1", "--condition", "vdd=0.5"], "--condition"),
    (["--model", "{model}", "--table", "{table}", "--condition", "vdd=0.5"], "2 rows match"),
    (["--model", "{model}", "--table", "{table}", "--condition", "vdd"], "COLUMN=VALUE"),
    (["--model", "{model}", "--table", "{d}/missing.csv"], "no such table"),
    (["--model", "{model}", "--ber", "0.1", "--dataset", "imagenet"], "unknown --dataset"),
    (["--model", "{model}", "--ber", "0.1", "--data-dir", "{d}/nodata"], "dataset-fashion-mnist"),
    (["--model", "{model}", "--ber", "0.1", "--dataset", "cifar10", "--data-dir", "{d}"], "CIFAR-10"),
    (["--model", "{model}", "--ber", "0.1", "--out", "{d}/out.csv"], ".json"),
    (["--model", "{model}", "--ber", "0.1", "--out", "{d}/nodir/out.json"], "does not exist"),
])
def test_cli_bad_input_exits_2_without_file(capsys, cli_files, argv, mention):
    d, table, ttable, model = cli_files
    before = {p.name for p in d.iterdir()}
    argv = [a.format(d=d, table=table, model=model) for a in argv]
    rc, out, err = _cli(capsys, "nn", *argv, "--out", d / "result.json") if "--out" not in argv else \
        _cli(capsys, "nn", *argv)
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arraysim: error: "), err
    assert mention in lines[0], lines[0]
    assert {p.name for p in d.iterdir()} == before


def test_cli_binary_table_with_ternary_model_exits_2(capsys, cli_files):
    d, table, _, _ = cli_files
    tnet = random_model("mlp", "ternary", hidden=(16,), seed=1)
    path = d / "tnet.npz"
    tnet.save(path)
    rc, out, err = _cli(capsys, "nn", "--model", path, "--table", table, "--condition", "vdd=0.5",
                        "--condition", "temp_c=27", "--out", d / "r.json")
    assert rc == 2 and "no statistics for weight 0" in err and not (d / "r.json").exists()


def test_cli_runs_and_writes_json(capsys, cli_files):
    _fmnist(1)
    d, table, ttable, model = cli_files
    out = d / "res.json"
    rc, text, err = _cli(capsys, "nn", "--model", model, "--table", table, "--condition", "vdd=0.3",
                         "--condition", "temp_c=125", "--limit", "300", "--draws", "2", "--seed", "4",
                         "--out", out)
    assert rc == 0, err
    assert "clean accuracy:" in text and "accuracy with errors:" in text and "p(+1->-1)" in text
    doc = json.loads(out.read_text())
    assert doc["format"] == "arraysim-nn-result" and doc["dataset"]["n_examples"] == 300
    assert len(doc["accuracy"]["values"]) == 2 and doc["condition"] == {"vdd": "0.3", "temp_c": "125"}
    assert doc["errors"]["condition"]["vdd"] == 0.3
    # same seed, same numbers (pass mode, ternary table on a binary net, invalid -> random)
    runs = []
    for _ in range(2):
        rc, text, err = _cli(capsys, "nn", "--model", model, "--table", ttable, "--condition", "window=5n",
                             "--limit", "200", "--mode", "pass", "--batch-size", "50", "--draws", "2",
                             "--invalid", "random")
        assert rc == 0, err
        runs.append(text)
    assert runs[0] == runs[1]


# --------------------------------------------------------------------------------------------------
# PyTorch export example (notebooks/nn_export_torch.py)
# --------------------------------------------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[1] / "notebooks" / "nn_export_torch.py"


def test_torch_example_without_torch_exits_with_message():
    import subprocess
    import sys
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['x']; "
            f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "needs PyTorch" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("invalid", ["zero", "random"])
def test_torch_example_apply_errors_statistics(invalid):
    torch = pytest.importorskip("torch")
    import runpy
    ex = runpy.run_path(str(EXAMPLE), run_name="example")
    counts = np.array([[9000, 600, 100, 300], [500, 8500, 700, 300], [200, 800, 8800, 200]])
    em = load_error_model(_table([_row("ternary", counts=counts)]), invalid=invalid)
    thr, values = ex["torch_error_tables"](em)
    w = torch.from_numpy(np.repeat(np.array([1.0, 0.0, -1.0]), 200_000))
    new = ex["apply_errors"](w, thr, values, torch.Generator().manual_seed(1)).numpy()
    for i, wv in enumerate((1, 0, -1)):
        sel = new[w.numpy() == wv]
        assert _chi2_ok([(sel == 1).sum(), (sel == 0).sum(), (sel == -1).sum()], em.transition()[i])
    q = ex["quantize"](torch.tensor([-0.5, 0.0, 0.3]))
    assert q.tolist() == [-1.0, 1.0, 1.0]  # sign(0) = +1

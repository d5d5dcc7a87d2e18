"""Quantized networks in the ``arraysim-nn`` v1 file format (FORMAT.md): load, validate, save, infer.

:class:`QuantizedNet` evaluates a binarized (weights +-1) or ternary-weight (weights -1/0/+1) network with
binary activations (sign, ``sign(0) = +1``: ``out = +1 if s*(a - t) >= 0 else -1``) and a real-valued first
layer input, MLP or CNN, with batch norm folded into ``threshold`` layers.  Two evaluations:

* :meth:`QuantizedNet.forward` (fast): layers fed with +-1 activations run as bit-packed XNOR-popcount
  (binary weights) or two-plane AND-popcount (ternary weights) kernels (:mod:`arraysim.nn.kernels`),
  giving exact integer pre-activations.  The first layer on integer pixels (uint8 images) is computed
  exactly too: ``a = (scale * (p @ W.T) - mean * sum(W)) / std`` per neuron, with the integer sum
  ``p @ W.T`` computed exactly (float32 BLAS on integers below 2**24, exact in any summation order, or an
  int32 numba kernel for small batches).  The result therefore does not depend on batch size,
  thread count, CPU or BLAS build.
* :meth:`QuantizedNet.forward_float` (reference): the plain float64 evaluation, literally as FORMAT.md
  writes it (``x = (pixel*scale - mean)/std``; ``x @ W.T``; conv as a float64 tensor contraction).

Every layer after the first one sees integers (exact in float64), so the two agree exactly there; in the
first layer the float64 reference rounds ``x`` and its sum while the fast path does not, so they agree
exactly whenever the float64 sums are exact (e.g. dyadic ``scale/mean/std``) and otherwise differ only if
a first-layer pre-activation lies within a few ulps (~1e-15 relative) of its threshold.

Weight errors are applied by passing ``weights=`` (one int8 array per dense/conv layer, in layer order,
same shapes; values -1/0/+1): see :mod:`arraysim.nn.errors`.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_NAME = "arraysim-nn"
FORMAT_VERSION = 1
LAYER_TYPES = ("flatten", "dense", "conv2d", "maxpool2d", "threshold", "affine")
WEIGHT_KINDS = ("binary", "ternary")
SIGN_CONVENTION = "sign(0) = +1"
MODELS_DIR = Path(__file__).resolve().parent / "models"
_REQUIRED_META = ("format", "version", "weights", "activations", "input_shape", "n_classes", "preprocess",
                  "layers")
# bytes of temporary im2col data per chunk of examples (first conv layer)
_CHUNK_BYTES = 64 * 2**20
# first layer: multiply-adds from which float32 BLAS beats the int32 kernel (which wins on small batches)
_BLAS_MIN_WORK = 50_000_000


class ModelFormatError(ValueError):
    """A model file or (meta, arrays) pair does not follow FORMAT.md; the message says what and where."""


@dataclass(frozen=True)
class Layer:
    """One layer: ``type`` (one of :data:`LAYER_TYPES`), ``name`` (``l0``, ``l1``, ...), its JSON fields
    (``spec``), its arrays (``W``; ``t``, ``s``; ``scale``, ``bias``) and its input/output shapes (one
    example, C,H,W or features)."""

    type: str
    name: str
    spec: dict
    arrays: dict
    in_shape: tuple
    out_shape: tuple

    @property
    def has_weights(self) -> bool:
        return self.type in ("dense", "conv2d")


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------
def _fail(source: str, msg: str):
    raise ModelFormatError(f"{source}: {msg}")


def _vector(arrays, key, n, dtype, source, what):
    if key not in arrays:
        _fail(source, f"array {key!r} is missing ({what})")
    a = np.asarray(arrays[key])
    if a.shape != (n,):
        _fail(source, f"array {key!r} has shape {a.shape}; expected ({n},) ({what})")
    if dtype == "int8":
        if a.dtype != np.int8:
            _fail(source, f"array {key!r} has dtype {a.dtype}; expected int8")
    elif not np.issubdtype(a.dtype, np.floating):
        _fail(source, f"array {key!r} has dtype {a.dtype}; expected float64")
    return a


def validate(meta: dict, arrays: dict, source: str = "model") -> tuple[Layer, ...]:
    """Check ``(meta, arrays)`` against FORMAT.md; return the layers with their shapes.

    Raises :class:`ModelFormatError` (a ValueError) naming the offending key/layer and what is allowed."""
    if not isinstance(meta, dict):
        _fail(source, "meta must be a JSON object")
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        _fail(source, f"meta lacks {', '.join(missing)} (required: {', '.join(_REQUIRED_META)})")
    if meta["format"] != FORMAT_NAME:
        _fail(source, f"format is {meta['format']!r}; expected {FORMAT_NAME!r}")
    if meta["version"] != FORMAT_VERSION:
        _fail(source, f"version {meta['version']!r} is not supported; supported: {FORMAT_VERSION}")
    if meta["weights"] not in WEIGHT_KINDS:
        _fail(source, f"weights is {meta['weights']!r}; allowed: {', '.join(WEIGHT_KINDS)}")
    if meta["activations"] != "binary":
        _fail(source, f"activations is {meta['activations']!r}; allowed: binary")
    sc = meta.get("sign_convention", SIGN_CONVENTION)
    if sc != SIGN_CONVENTION:
        _fail(source, f"sign_convention is {sc!r}; this inference implements {SIGN_CONVENTION!r} only")
    shape = meta["input_shape"]
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and
            all(isinstance(v, int) and v >= 1 for v in shape)):
        _fail(source, f"input_shape {shape!r} must be [C, H, W] with positive integers")
    nc = meta["n_classes"]
    if not (isinstance(nc, int) and nc >= 2):
        _fail(source, f"n_classes {nc!r} must be an integer >= 2")
    pp = meta["preprocess"]
    if not isinstance(pp, dict) or set(pp) != {"scale", "mean", "std"}:
        _fail(source, f"preprocess must be {{'scale', 'mean', 'std'}} numbers, got {pp!r}")
    for k in ("scale", "mean", "std"):
        v = pp[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            _fail(source, f"preprocess.{k} = {v!r} must be a finite number")
    if pp["std"] <= 0:
        _fail(source, f"preprocess.std = {pp['std']!r} must be > 0")
    if not isinstance(meta["layers"], list) or not meta["layers"]:
        _fail(source, "layers must be a non-empty list")
    allowed_w = {-1, 1} if meta["weights"] == "binary" else {-1, 0, 1}

    layers = []
    shape = tuple(shape)
    used = set()
    binary_in = False  # does the current tensor hold +-1 values?
    seen_compute = False
    for i, L in enumerate(meta["layers"]):
        if not isinstance(L, dict):
            _fail(source, f"layer {i} is not a JSON object")
        typ, name = L.get("type"), L.get("name")
        where = f"layer {i} ({name!r}, {typ!r})"
        if typ not in LAYER_TYPES:
            _fail(source, f"layer {i}: unknown type {typ!r}; allowed: {', '.join(LAYER_TYPES)}")
        if not isinstance(name, str) or not name:
            _fail(source, f"layer {i} has no name")
        arr = {}
        in_shape = shape
        if typ == "flatten":
            if len(shape) != 3:
                _fail(source, f"{where}: flatten needs a C,H,W input, got {shape}")
            shape = (int(np.prod(shape)),)
        elif typ in ("dense", "conv2d"):
            key = f"{name}.W"
            if key not in arrays:
                _fail(source, f"{where}: array {key!r} is missing")
            W = np.asarray(arrays[key])
            used.add(key)
            if W.dtype != np.int8:
                _fail(source, f"{where}: {key} has dtype {W.dtype}; expected int8")
            vals = set(np.unique(W).tolist())
            if not vals <= allowed_w:
                _fail(source, f"{where}: {key} holds values {sorted(vals - allowed_w)}; allowed for "
                              f"{meta['weights']} weights: {sorted(allowed_w)}")
            if seen_compute and not binary_in:
                _fail(source, f"{where}: its input is not binarized (hidden dense/conv layers need +-1 "
                              "inputs: put a threshold layer before it)")
            if typ == "dense":
                if len(shape) != 1:
                    _fail(source, f"{where}: dense needs a flat input (add a flatten layer), got {shape}")
                if W.ndim != 2 or W.shape[1] != shape[0]:
                    _fail(source, f"{where}: W shape {W.shape} does not fit the input of {shape[0]} "
                                  f"features (expected (out, {shape[0]}))")
                shape = (W.shape[0],)
            else:
                pad = L.get("padding", 0)
                if pad != 0:
                    _fail(source, f"{where}: padding {pad!r} is not supported; allowed: 0")
                if len(shape) != 3:
                    _fail(source, f"{where}: conv2d needs a C,H,W input, got {shape}")
                if W.ndim != 4 or W.shape[1] != shape[0]:
                    _fail(source, f"{where}: W shape {W.shape} does not fit the input {shape} "
                                  f"(expected (out_c, {shape[0]}, kh, kw))")
                if W.shape[2] > shape[1] or W.shape[3] > shape[2]:
                    _fail(source, f"{where}: kernel {W.shape[2:]} larger than the input {shape[1:]}")
                shape = (W.shape[0], shape[1] - W.shape[2] + 1, shape[2] - W.shape[3] + 1)
            arr["W"] = W
            seen_compute = True
            binary_in = False
        elif typ == "maxpool2d":
            k = L.get("size")
            if not (isinstance(k, int) and not isinstance(k, bool) and k >= 1):
                _fail(source, f"{where}: size {k!r} must be a positive integer (FORMAT.md: 2)")
            if len(shape) != 3 or shape[1] < k or shape[2] < k:
                _fail(source, f"{where}: maxpool {k} needs a C,H,W input of at least {k}x{k}, got {shape}")
            shape = (shape[0], shape[1] // k, shape[2] // k)
        elif typ == "threshold":
            c = shape[0]
            t = _vector(arrays, f"{name}.t", c, "float", source, f"{where}, one per channel/neuron")
            s = _vector(arrays, f"{name}.s", c, "int8", source, f"{where}, one per channel/neuron")
            used.update({f"{name}.t", f"{name}.s"})
            if np.isnan(t).any():
                _fail(source, f"{where}: t holds NaN")
            if not set(np.unique(s).tolist()) <= {-1, 1}:
                _fail(source, f"{where}: s holds values other than +1/-1")
            arr["t"], arr["s"] = t.astype(np.float64), s
            binary_in = True
        else:  # affine
            c = shape[0]
            for k in ("scale", "bias"):
                a = _vector(arrays, f"{name}.{k}", c, "float", source, where)
                if not np.all(np.isfinite(a)):
                    _fail(source, f"{where}: {k} is not finite")
                arr[k] = a.astype(np.float64)
                used.add(f"{name}.{k}")
            binary_in = False
        layers.append(Layer(typ, name, {k: v for k, v in L.items() if k not in ("type", "name")}, arr,
                            in_shape, shape))
    if not seen_compute:
        _fail(source, "the network has no dense/conv2d layer")
    if shape != (nc,):
        _fail(source, f"the last layer gives shape {shape}; expected ({nc},) = n_classes logits")
    extra = sorted(set(arrays) - used - {"__meta__"})
    if extra:
        _fail(source, f"arrays not used by any layer: {', '.join(extra)}")
    return tuple(layers)


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------
def shipped_models() -> dict[str, Path]:
    """``{name: path}`` of the model files shipped in ``arraysim/nn/models/``."""
    if not MODELS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.npz"))}


def resolve_model(name_or_path) -> Path:
    """A shipped model name (``bnn_mlp`` ...) or a path to a ``.npz`` file -> the file's path."""
    text = str(name_or_path)
    p = Path(text)
    if p.suffix == ".npz" or "/" in text or p.is_file():
        if not p.is_file():
            raise ValueError(f"model file {text!r} does not exist")
        return p
    shipped = shipped_models()
    if text in shipped:
        return shipped[text]
    avail = ", ".join(shipped) if shipped else f"none shipped yet in {MODELS_DIR}"
    raise ValueError(f"unknown model {text!r}; shipped models: {avail}; or give the path of a .npz file")


def read_npz(path) -> tuple[dict, dict]:
    """``(meta, arrays)`` of a model file (no pickle)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__meta__" not in z.files:
                _fail(str(path), "no __meta__ entry (not an arraysim-nn model file)")
            m = z["__meta__"]
            text = str(m[()] if m.ndim == 0 else m.reshape(-1)[0])
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
    except ModelFormatError:
        raise
    except (OSError, ValueError, EOFError) as e:  # not a zip / pickled object arrays / truncated
        raise ModelFormatError(f"{str(path)!r} is not a readable .npz model file: {e}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{str(path)!r}: __meta__ is not valid JSON: {e}") from None
    return meta, arrays


def load_model(name_or_path) -> "QuantizedNet":
    """Load and validate a model file (shipped name or path)."""
    path = resolve_model(name_or_path)
    meta, arrays = read_npz(path)
    return QuantizedNet.from_arrays(meta, arrays, source=str(path))


load = load_model


def save_model(path, meta: dict, arrays: dict) -> None:
    """Validate and write ``(meta, arrays)`` as one compressed ``.npz`` (atomically: no partial file)."""
    from ..io.tables import atomic_write
    validate(meta, arrays, source=str(path))
    buf = io.BytesIO()
    np.savez_compressed(buf, __meta__=np.array(json.dumps(meta, allow_nan=False)), **arrays)
    atomic_write(path, buf.getvalue())


# --------------------------------------------------------------------------------------------------
# inference helpers
# --------------------------------------------------------------------------------------------------
def _bcast(v: np.ndarray, ndim: int) -> np.ndarray:
    """Per-neuron/per-channel vector broadcast along axis 1 of an ndim array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _maxpool(x: np.ndarray, k: int) -> np.ndarray:
    n, c, h, w = x.shape
    return x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))


def _im2col(x: np.ndarray, kh: int, kw: int, dtype) -> np.ndarray:
    """(N, C, H, W) -> (N*OH*OW, C*kh*kw) patches (row order n, oy, ox; column order c, ky, kx)."""
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # N,C,OH,OW,kh,kw
    n, c, oh, ow = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5), dtype=dtype).reshape(n * oh * ow, c * kh * kw)


def _conv_float(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Reference valid cross-correlation in float64: sum over kernel offsets of channel contractions."""
    o, c, kh, kw = W.shape
    n, _, h, w = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    out = np.zeros((n, o, oh, ow))
    Wf = W.astype(np.float64)
    for ky in range(kh):
        for kx in range(kw):
            out += np.einsum("nchw,oc->nohw", x[:, :, ky:ky + oh, kx:kx + ow], Wf[:, :, ky, kx])
    return out


def _integer_valued(x: np.ndarray) -> bool:
    if np.issubdtype(x.dtype, np.integer):
        return True
    return bool(np.issubdtype(x.dtype, np.floating) and np.all(np.isfinite(x)) and np.array_equal(x, np.rint(x)))


class _Prepared:
    """Weights of one layer in the form the fast path uses (packed bit planes / float copies)."""

    __slots__ = ("W", "planes", "wt", "wsum")

    def __init__(self, W):
        self.W = W
        self.planes = None
        self.wt = {}
        self.wsum = None

    def packed(self):
        if self.planes is None:
            from .kernels import pack_weights
            self.planes = pack_weights(self.W.reshape(len(self.W), -1))
        return self.planes

    def transposed(self, dtype):
        """(K, O) transposed weights as ``dtype``: int32 (first layer, exact), float32 (first layer, BLAS),
        float64 (float path); cached per dtype."""
        key = np.dtype(dtype)
        if key not in self.wt:
            self.wt[key] = np.ascontiguousarray(self.W.reshape(len(self.W), -1).T, dtype=key)
        return self.wt[key]

    def sums(self):
        if self.wsum is None:
            self.wsum = self.W.reshape(len(self.W), -1).sum(axis=1, dtype=np.int64).astype(np.float64)
        return self.wsum


# --------------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class QuantizedNet:
    """A validated ``arraysim-nn`` network (see the module docstring for the two evaluations).

    Inputs are raw examples as the dataset loaders return them, shape (N, C, H, W) = (N, *input_shape)
    (or (N, C*H*W)); the net applies ``preprocess`` itself.  ``weights=`` overrides the dense/conv weights
    (list in layer order, int8 values -1/0/+1, same shapes) without copying anything else."""

    meta: dict
    layers: tuple
    source: str = "model"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_arrays(cls, meta: dict, arrays: dict, source: str = "model") -> "QuantizedNet":
        return cls(meta=meta, layers=validate(meta, arrays, source), source=source)

    # ---- description -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.meta.get("name", Path(self.source).stem))

    @property
    def weight_kind(self) -> str:
        """'binary' or 'ternary' (the stored weights)."""
        return self.meta["weights"]

    @property
    def input_shape(self) -> tuple:
        return tuple(self.meta["input_shape"])

    @property
    def n_classes(self) -> int:
        return int(self.meta["n_classes"])

    @property
    def clean_accuracy(self):
        """The accuracy recorded in the file (None if absent)."""
        return self.meta.get("clean_accuracy")

    @property
    def weight_layers(self) -> list[int]:
        """Indices (into ``layers``) of the dense/conv layers, whose weights are stored in RRAM."""
        return [i for i, L in enumerate(self.layers) if L.has_weights]

    @property
    def weights(self) -> list[np.ndarray]:
        """The stored int8 weights of every dense/conv layer, in layer order (do not modify)."""
        return [self.layers[i].arrays["W"] for i in self.weight_layers]

    @property
    def n_weights(self) -> int:
        return int(sum(w.size for w in self.weights))

    @property
    def zero_fraction(self) -> float:
        """p0: fraction of zero weights over all dense/conv layers."""
        return float(sum(int(np.count_nonzero(w == 0)) for w in self.weights) / self.n_weights)

    def describe(self) -> str:
        parts = []
        for L in self.layers:
            if L.has_weights:
                parts.append(f"{L.type}{tuple(L.arrays['W'].shape)}")
            elif L.type == "maxpool2d":
                parts.append(f"maxpool{L.spec.get('size')}")
            else:
                parts.append(L.type)
        return f"{self.name}: {self.weight_kind} weights, input {self.input_shape}, " + " -> ".join(parts)

    def to_arrays(self, weights=None) -> tuple[dict, dict]:
        """``(meta, arrays)`` of this net (with ``weights`` substituted if given)."""
        ws = self._check_weights(weights)
        arrays = {}
        it = iter(ws)
        for L in self.layers:
            for k, v in L.arrays.items():
                arrays[f"{L.name}.{k}"] = next(it) if k == "W" else v
        return dict(self.meta), arrays

    def save(self, path, weights=None) -> None:
        save_model(path, *self.to_arrays(weights))

    # ---- inputs ------------------------------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        shp = self.input_shape
        if x.ndim == 2 and x.shape[1] == int(np.prod(shp)):
            x = x.reshape((len(x),) + shp)
        if x.ndim != 4 or x.shape[1:] != shp:
            raise ValueError(f"input of shape {x.shape} does not fit the network: expected (N, {shp[0]}, "
                             f"{shp[1]}, {shp[2]}) or (N, {int(np.prod(shp))})")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"input dtype {x.dtype} is not numeric")
        return x

    def preprocess(self, x) -> np.ndarray:
        """``(x * scale - mean) / std`` in float64 (FORMAT.md)."""
        pp = self.meta["preprocess"]
        return (np.asarray(x).astype(np.float64) * pp["scale"] - pp["mean"]) / pp["std"]

    def _check_weights(self, weights) -> list[np.ndarray]:
        base = self.weights
        if weights is None:
            return base
        weights = list(weights)
        if len(weights) != len(base):
            raise ValueError(f"weights: {len(weights)} arrays given; the network has {len(base)} dense/conv "
                             "layers")
        out = []
        for i, (w, b) in enumerate(zip(weights, base)):
            w = np.asarray(w)
            if w.shape != b.shape:
                raise ValueError(f"weights[{i}] has shape {w.shape}; expected {b.shape}")
            if w.dtype != np.int8:
                if not np.all(np.isin(w, (-1, 0, 1))):
                    raise ValueError(f"weights[{i}] holds values other than -1, 0, +1")
                w = w.astype(np.int8)
            out.append(w)
        return out

    def _prepared(self, weights) -> list[_Prepared]:
        if weights is None:
            if "clean" not in self._cache:
                self._cache["clean"] = [_Prepared(np.ascontiguousarray(w)) for w in self.weights]
            return self._cache["clean"]
        return [_Prepared(np.ascontiguousarray(w)) for w in self._check_weights(weights)]

    # ---- fast evaluation ---------------------------------------------------------------------------
    def forward(self, x, weights=None) -> np.ndarray:
        """Logits (N, n_classes) float64, fast path (bit-packed kernels, exact first layer)."""
        x = self._check_input(x)
        prep = self._prepared(weights)
        n = len(x)
        if n == 0:
            return np.zeros((0, self.n_classes))
        per_example = self._chunk_bytes_per_example()
        chunk = max(1, min(n, _CHUNK_BYTES // max(per_example, 1)))
        if chunk >= n:
            return self._forward_chunk(x, prep)
        return np.concatenate([self._forward_chunk(x[i:i + chunk], prep) for i in range(0, n, chunk)])

    def _chunk_bytes_per_example(self) -> int:
        """Largest layer input/output per example, bytes (as float64)."""
        return max(max(int(np.prod(L.out_shape)), int(np.prod(L.in_shape))) * 8 for L in self.layers)

    def _forward_chunk(self, x, prep) -> np.ndarray:
        """One chunk through the layers.  The value is tracked with its kind: ``input`` (raw, not
        preprocessed), ``real`` (float64), ``int`` (exact integers, int32), ``pm1`` (int8 +-1), ``bits``
        (+-1 bit-packed for a following dense layer; ``k`` features) or ``lazy`` (first-layer exact sums
        ``S``, (N, O) or (N, O, H, W), awaiting ``a = (scale*S - mean*sum(W))/std`` per output; with
        ``scale > 0`` this map is non-decreasing, also after rounding, so max pooling commutes with it and
        is done on the integers)."""
        from . import kernels as K
        kind = "input"
        k = 0
        ws = None
        pp = self.meta["preprocess"]
        sc, mu, sd = float(pp["scale"]), float(pp["mean"]), float(pp["std"])
        it = iter(prep)
        layers = self.layers
        for li, L in enumerate(layers):
            nxt = layers[li + 1].type if li + 1 < len(layers) else None
            if L.type == "flatten":
                if kind == "lazy" and x.ndim > 2:  # per-channel sums of W: materialize first
                    x = (sc * x.astype(np.float64) - mu * _bcast(ws, x.ndim)) / sd
                    kind = "real"
                x = x.reshape(len(x), -1)
                continue
            if kind == "lazy" and not ((L.type == "threshold" and (x.ndim == 4 or nxt == "dense")) or
                                       (L.type == "maxpool2d" and sc > 0)):
                x = (sc * x.astype(np.float64) - mu * _bcast(ws, x.ndim)) / sd
                kind = "real"
            if L.type in ("dense", "conv2d"):
                P = next(it)
                if kind == "bits":
                    x = self._dense_bits(P, x, k, K)
                    kind = "int"
                elif kind == "pm1":
                    if L.type == "dense":
                        x = self._dense_bits(P, K.pack_rows(np.ascontiguousarray(x)), x.shape[1], K)
                    else:
                        x = self._conv_pm1(P, x, K)
                    kind = "int"
                elif kind == "input" and _integer_valued(x) and \
                        (res := self._exact_sums(L, P, x, K)) is not None:
                    x, ws = res
                    kind = "lazy"
                else:
                    if kind == "input":
                        x = self.preprocess(x)
                    x = self._float_layer(L, P, x)
                    kind = "real"
                continue
            if kind == "input":  # pooling/threshold/affine of the raw input: preprocess first
                x = self.preprocess(x)
                kind = "real"
            if kind == "bits":  # only produced when a dense layer follows
                raise AssertionError("internal: packed bits before a non-dense layer")
            if L.type == "maxpool2d":
                x = K.maxpool4d(np.ascontiguousarray(x), int(L.spec["size"]))
            elif L.type == "threshold":
                t, s = L.arrays["t"], L.arrays["s"]
                if kind == "lazy" and x.ndim == 4:
                    x = K.affine_threshold4d(x, ws, sc, mu, sd, t, s)
                    kind = "pm1"
                elif kind == "lazy":
                    k = x.shape[1]
                    x = K.affine_threshold_pack(x, ws, sc, mu, sd, t, s)
                    kind = "bits"
                elif x.ndim == 2 and nxt == "dense":
                    k = x.shape[1]
                    x = K.threshold_pack(np.ascontiguousarray(x), t, s)
                    kind = "bits"
                elif x.ndim == 2:
                    x = K.threshold_rows(np.ascontiguousarray(x), t, s)
                    kind = "pm1"
                else:
                    x = K.threshold4d(np.ascontiguousarray(x), t, s)
                    kind = "pm1"
            elif L.type == "affine":
                x = x.astype(np.float64) * _bcast(L.arrays["scale"], x.ndim) + _bcast(L.arrays["bias"], x.ndim)
                kind = "real"
        if kind == "lazy":
            x = (sc * x.astype(np.float64) - mu * _bcast(ws, x.ndim)) / sd
        return np.asarray(x, dtype=np.float64).reshape(len(x), -1)

    @staticmethod
    def _dense_bits(P, xb, k, K):
        plus, minus, n_plus, n_minus = P.packed()
        if minus is None:
            return K.dense_xnor(xb, plus, k)
        return K.dense_ternary(xb, plus, minus, n_plus, n_minus)

    @staticmethod
    def _conv_pm1(P, x, K):
        plus, minus, n_plus, n_minus = P.packed()
        o, c, kh, kw = P.W.shape
        x = np.ascontiguousarray(x, dtype=np.int8)
        if minus is None:
            return K.conv_pm1(x, plus, plus, n_plus, n_plus, kh, kw, False)
        return K.conv_pm1(x, plus, minus, n_plus, n_minus, kh, kw, True)

    @staticmethod
    def _exact_sums(L, P, x, K):
        """First layer on integer pixels: the exact integer sums ``S`` = x @ W.T and the weight sums per
        output.  Large products run as float32 BLAS (exact: every partial sum is an integer below 2**24),
        small ones as an int32 numba kernel (no thread wake-up; zero inputs skipped); both give the same
        integers.  Dense: S (N, O); conv: S (N, O, OH, OW) (int32 numba kernel).  Returns None when the
        values could overflow (the caller falls back to float64)."""
        amax = int(np.max(np.abs(x))) if x.size else 0
        kin = int(np.prod(P.W.shape[1:]))
        if amax * kin >= 2**31 - 1:
            return None
        xq = x.astype(np.uint8 if (x.min(initial=0) >= 0 and amax <= 255) else np.int32, copy=False)
        if L.type == "conv2d":
            o, c, kh, kw = P.W.shape
            return K.conv_int(xq, P.transposed(np.int32), kh, kw), P.sums()
        xq = xq.reshape(len(xq), -1)
        if amax * kin < 2**24 and xq.shape[0] * kin * len(P.W) >= _BLAS_MIN_WORK:
            S = (xq.astype(np.float32) @ P.transposed(np.float32)).astype(np.int32)  # exact integers
        else:
            S = K.int_matmul(xq, P.transposed(np.int32))
        return S, P.sums()

    @staticmethod
    def _float_layer(L, P, x):
        """Dense/conv layer on real-valued (non-integer) input: float64 BLAS (conv: im2col, in chunks)."""
        if L.type == "dense":
            return x @ P.transposed(np.float64)
        o, c, kh, kw = P.W.shape
        n, _, h, w = x.shape
        oh, ow = h - kh + 1, w - kw + 1
        step = max(1, _CHUNK_BYTES // (oh * ow * c * kh * kw * 8))
        out = np.empty((n, o, oh, ow))
        for i in range(0, n, step):
            xi = x[i:i + step]
            out[i:i + step] = (_im2col(xi, kh, kw, np.float64) @ P.transposed(np.float64)).reshape(
                len(xi), oh, ow, o).transpose(0, 3, 1, 2)
        return out

    def predict(self, x, weights=None) -> np.ndarray:
        """Predicted classes (argmax of the logits; ties go to the lowest index)."""
        return np.argmax(self.forward(x, weights), axis=1)

    def accuracy(self, x, y, weights=None) -> float:
        """Fraction of correct predictions (exact ``correct / N``)."""
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"{len(x)} examples but {len(y)} labels")
        return int(np.count_nonzero(self.predict(x, weights) == y)) / len(y)

    # ---- reference evaluation ----------------------------------------------------------------------
    def forward_float(self, x, weights=None) -> np.ndarray:
        """Logits by the plain float64 evaluation of FORMAT.md, layer by layer (slow, the reference)."""
        x = self.preprocess(self._check_input(x))
        ws = iter(self._check_weights(weights))
        for L in self.layers:
            if L.type == "flatten":
                x = x.reshape(len(x), -1)
            elif L.type == "dense":
                x = x @ next(ws).astype(np.float64).T
            elif L.type == "conv2d":
                x = _conv_float(x, next(ws))
            elif L.type == "maxpool2d":
                x = _maxpool(x, int(L.spec["size"]))
            elif L.type == "threshold":
                s = _bcast(L.arrays["s"].astype(np.float64), x.ndim)
                x = np.where(s * (x - _bcast(L.arrays["t"], x.ndim)) >= 0, 1.0, -1.0)
            elif L.type == "affine":
                x = x * _bcast(L.arrays["scale"], x.ndim) + _bcast(L.arrays["bias"], x.ndim)
        return x.reshape(len(x), -1)

    def predict_float(self, x, weights=None) -> np.ndarray:
        return np.argmax(self.forward_float(x, weights), axis=1)


def accuracy(net: QuantizedNet, x, y) -> float:
    """``net.accuracy(x, y)`` (module-level convenience)."""
    return net.accuracy(x, y)


def random_model(arch: str = "mlp", weights: str = "binary", input_shape=(1, 28, 28), hidden=(64, 64),
                 channels=(8, 16), kernel: int = 3, dense: int = 32, n_classes: int = 10, seed: int = 0,
                 p_zero: float = 1 / 3, preprocess=None, name: str | None = None,
                 dataset: str | None = None) -> QuantizedNet:
    """A valid network with random weights (tests, benchmarks): ``arch`` "mlp" (flatten, dense+threshold per
    ``hidden`` size, dense, affine) or "cnn" (conv+maxpool2+threshold per ``channels``, flatten,
    dense(``dense``)+threshold, dense, affine).  Ternary weights are 0 with probability ``p_zero``.
    Thresholds are random around the typical pre-activation (``N(0, sqrt(fan_in))`` for +-1 inputs).
    ``dataset`` (meta only) defaults to fashion-mnist for 1x28x28 inputs, cifar10 for 3x32x32."""
    if arch not in ("mlp", "cnn"):
        raise ValueError(f"unknown arch {arch!r}; allowed: mlp, cnn")
    if weights not in WEIGHT_KINDS:
        raise ValueError(f"unknown weights {weights!r}; allowed: {', '.join(WEIGHT_KINDS)}")
    rng = np.random.default_rng(seed)
    pp = dict(preprocess or {"scale": 1 / 255, "mean": 0.2860, "std": 0.3530})

    def draw(shape):
        if weights == "binary":
            return rng.choice(np.array([-1, 1], np.int8), size=shape)
        return rng.choice(np.array([-1, 0, 1], np.int8), size=shape,
                          p=[(1 - p_zero) / 2, p_zero, (1 - p_zero) / 2])

    layers, arrays = [], {}

    def add(typ, **spec):
        name_ = f"l{len(layers)}"
        layers.append({"type": typ, "name": name_, **spec})
        return name_

    def thr(c, fan_in):
        nm = add("threshold")
        arrays[f"{nm}.t"] = rng.normal(0.0, np.sqrt(fan_in), c)
        arrays[f"{nm}.s"] = rng.choice(np.array([-1, 1], np.int8), size=c, p=[0.2, 0.8])

    c, h, w = input_shape
    if arch == "cnn":
        for co in channels:
            nm = add("conv2d", padding=0)
            arrays[f"{nm}.W"] = draw((co, c, kernel, kernel))
            add("maxpool2d", size=2)
            thr(co, c * kernel * kernel)
            c, h, w = co, (h - kernel + 1) // 2, (w - kernel + 1) // 2
        sizes = [dense]
    else:
        sizes = list(hidden)
    add("flatten")
    fan = c * h * w
    for hsz in sizes:
        nm = add("dense")
        arrays[f"{nm}.W"] = draw((hsz, fan))
        thr(hsz, fan)
        fan = hsz
    nm = add("dense")
    arrays[f"{nm}.W"] = draw((n_classes, fan))
    nm = add("affine")
    arrays[f"{nm}.scale"] = rng.uniform(0.5, 1.5, n_classes)
    arrays[f"{nm}.bias"] = rng.normal(0.0, 0.1, n_classes)
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
            "name": name or f"random_{'b' if weights == 'binary' else 't'}nn_{arch}",
            "weights": weights, "activations": "binary",
            "dataset": dataset or {(1, 28, 28): "fashion-mnist", (3, 32, 32): "cifar10"}.get(
                tuple(input_shape), "random"),
            "input_shape": [int(v) for v in input_shape], "n_classes": int(n_classes), "preprocess": pp,
            "layers": layers, "sign_convention": SIGN_CONVENTION,
            "training": {"script": "arraysim.nn.model.random_model", "seed": int(seed)}}
    return QuantizedNet.from_arrays(meta, arrays, source=meta["name"])

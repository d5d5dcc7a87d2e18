"""Datasets for the NN-impact module, read from local files only (nothing is downloaded).

* Fashion-MNIST: IDX files (``train-images-idx3-ubyte[.gz]`` ...) from the Debian package
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/``), or a directory given by the caller
  or by ``$ARRAYSIM_FASHION_MNIST``.
* MNIST: the same IDX file names, from a directory the user points to (or ``$ARRAYSIM_MNIST``).
* CIFAR-10: the "python version" batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``) from a
  directory the user points to (or ``$ARRAYSIM_CIFAR10``).

Every loader returns ``(images, labels)``: ``images`` uint8 of shape (N, C, H, W), ``labels`` int64 (N,).
"""
from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion-mnist", "mnist", "cifar10")
_IDX = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class DatasetMissing(FileNotFoundError):
    """The dataset's files are not where they were looked for (the message says how to get them)."""


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array."""
    path = Path(path)
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{str(path)!r}: unknown IDX element type 0x{data[2]:02x}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{str(path)!r}: {arr.size} elements, header says shape {shape}")
    return arr.reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = directory / name
        if p.is_file():
            return p
    return None


def _load_idx_pair(directory, split: str, what: str, hint: str):
    if split not in _IDX:
        raise ValueError(f"unknown split {split!r}; allowed: train, test")
    directory = Path(directory)
    img_stem, lab_stem = _IDX[split]
    img, lab = _find(directory, img_stem), _find(directory, lab_stem)
    if img is None or lab is None:
        raise DatasetMissing(f"{what} {split} files ({img_stem}[.gz], {lab_stem}[.gz]) not found in "
                             f"{str(directory)!r}; {hint}")
    x = read_idx(img)
    y = read_idx(lab).astype(np.int64)
    if x.ndim != 3 or len(x) != len(y):
        raise ValueError(f"{what} {split}: images {x.shape} and labels {y.shape} do not match")
    return x[:, None, :, :].copy(), y


def load_fashion_mnist(split: str = "test", directory=None):
    """Fashion-MNIST ``split`` ("train" 60k or "test" 10k) as (uint8 (N,1,28,28), int64 (N,))."""
    d = directory or os.environ.get("ARRAYSIM_FASHION_MNIST") or FASHION_MNIST_DIR
    return _load_idx_pair(d, split, "Fashion-MNIST",
                          "install the Debian package: apt-get install -y dataset-fashion-mnist "
                          f"(files go to {FASHION_MNIST_DIR}/), or pass the directory holding the IDX files")


def load_mnist(split: str = "test", directory=None):
    """MNIST ``split`` from IDX files in ``directory`` (or ``$ARRAYSIM_MNIST``)."""
    d = directory or os.environ.get("ARRAYSIM_MNIST")
    if d is None:
        raise DatasetMissing("MNIST: no directory given; pass the directory holding the IDX files "
                             "(train-images-idx3-ubyte[.gz] ...) or set ARRAYSIM_MNIST")
    return _load_idx_pair(d, split, "MNIST", "pass the directory holding the MNIST IDX files")


def load_cifar10(split: str = "test", directory=None):
    """CIFAR-10 ``split`` from the python batches in ``directory`` (or ``$ARRAYSIM_CIFAR10``):
    (uint8 (N,3,32,32), int64 (N,))."""
    if split not in _IDX:
        raise ValueError(f"unknown split {split!r}; allowed: train, test")
    d = directory or os.environ.get("ARRAYSIM_CIFAR10")
    if d is None:
        raise DatasetMissing("CIFAR-10: no directory given; pass the directory holding the python batches "
                             "(data_batch_1..5, test_batch; the cifar-10-batches-py folder) or set "
                             "ARRAYSIM_CIFAR10")
    d = Path(d)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for n in names:
        p = d / n
        if not p.is_file():
            raise DatasetMissing(f"CIFAR-10 file {n!r} not found in {str(d)!r}; pass the "
                                 "cifar-10-batches-py directory")
        with open(p, "rb") as f:
            batch = pickle.load(f, encoding="bytes")  # the official format is a pickle
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def load_dataset(name: str, split: str = "test", directory=None):
    """Dispatch by name: "fashion-mnist", "mnist" or "cifar10"."""
    loaders = {"fashion-mnist": load_fashion_mnist, "mnist": load_mnist, "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return loaders[name](split, directory)

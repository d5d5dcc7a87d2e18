"""Neural-network impact: BNN/TNN inference driven by arraysim error tables (issue 5).

* :mod:`arraysim.nn.model` - the ``arraysim-nn`` model files (FORMAT.md): :func:`load_model`,
  :func:`save_model`, :class:`QuantizedNet` (``forward``/``predict``/``accuracy``, ``forward_float``).
* :mod:`arraysim.nn.kernels` - bit-packed XNOR-popcount / ternary kernels (numba).
* :mod:`arraysim.nn.errors` - error models from BER tables (:func:`load_error_model`), injection,
  :func:`accuracy_under_errors`, :func:`accuracy_vs_ber`, the table export schema.
* :mod:`arraysim.nn.datasets` - Fashion-MNIST / MNIST / CIFAR-10 from local files.
* :mod:`arraysim.nn.cli` - ``arraysim nn``.

Names are imported lazily (``import arraysim.nn`` compiles nothing and imports no numba kernels).
"""
from __future__ import annotations

import importlib

_LAZY = {
    "QuantizedNet": "model", "load_model": "model", "save_model": "model", "shipped_models": "model",
    "random_model": "model", "ModelFormatError": "model",
    "ErrorModel": "errors", "load_error_model": "errors", "accuracy_under_errors": "errors",
    "accuracy_vs_ber": "errors", "draw_weights": "errors", "ERROR_TABLE_SCHEMA": "errors",
    "load_dataset": "datasets", "DatasetMissing": "datasets",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

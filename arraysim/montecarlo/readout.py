"""Decoding of the simulated sense-amplifier outputs into read values.

The decision is read from the simulated output voltages at the end of the sense window, never from the
resistances: an output is *low* when it is below the logic threshold (VDD/2 by default).

Binary readout: Q low and QB high -> +1 (the BL branch discharged first: BL device in LRS);
QB low and Q high -> -1; both high -> 0 (unresolved: the latch has not decided within the window);
both low -> ``INVALID`` (2).  For a binary read anything but the programmed value is an error.
"""
from __future__ import annotations

import numpy as np

INVALID = 2


def decode_binary(vq: np.ndarray, vqb: np.ndarray, vdd: float, threshold: float = 0.5) -> np.ndarray:
    vth = threshold * vdd
    ql = vq < vth
    qbl = vqb < vth
    out = np.zeros(vq.shape, dtype=np.int8)
    out[ql & ~qbl] = 1
    out[qbl & ~ql] = -1
    out[ql & qbl] = INVALID
    return out


def sense_delay(tcross: np.ndarray) -> np.ndarray:
    """Delay of the first output to fall through VDD/2 (NaN if neither did)."""
    both_nan = np.all(np.isnan(tcross), axis=-1)
    d = np.where(both_nan[..., None], np.inf, np.where(np.isnan(tcross), np.inf, tcross)).min(axis=-1)
    d[both_nan] = np.nan
    return d

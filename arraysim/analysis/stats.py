"""Confidence intervals and streamed statistics (memory independent of the number of samples)."""
from __future__ import annotations

import numpy as np
from scipy import stats


def binomial_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval for a proportion k/n; (nan, nan) when n == 0."""
    if n <= 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


class StreamStats:
    """Count, mean, standard deviation, min, max and histogram quantiles of a positive quantity.

    Chunks are merged with Chan's formula in the order given, so results are deterministic.  Quantiles
    come from a log-spaced histogram (``bins_per_decade`` bins a decade, linear interpolation inside a bin:
    resolution ~ 10^(1/bins_per_decade) - 1 relative).
    """

    def __init__(self, lo: float, hi: float, bins_per_decade: int = 400):
        self.lo, self.hi = lo, hi
        nb = int(round(np.log10(hi / lo) * bins_per_decade))
        self.edges = np.logspace(np.log10(lo), np.log10(hi), nb + 1)
        self.hist = np.zeros(nb + 2, dtype=np.int64)  # [underflow, bins..., overflow]
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = np.inf
        self.max = -np.inf

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            return
        nb_, mb = x.size, float(x.mean())
        m2b = float(((x - mb) ** 2).sum())
        n = self.n + nb_
        d = mb - self.mean
        self.mean += d * nb_ / n
        self.m2 += m2b + d * d * self.n * nb_ / n
        self.n = n
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        idx = np.searchsorted(self.edges, x, side="right")
        self.hist += np.bincount(idx, minlength=self.hist.size)

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / (self.n - 1))) if self.n > 1 else float("nan")

    def quantile(self, q: float) -> float:
        if self.n == 0:
            return float("nan")
        target = q * self.n
        c = np.cumsum(self.hist)
        i = int(np.searchsorted(c, target, side="left"))
        if i == 0:
            return self.min
        if i >= self.hist.size - 1:
            return self.max
        prev = c[i - 1]
        frac = (target - prev) / max(self.hist[i], 1)
        lo, hi = np.log10(self.edges[i - 1]), np.log10(self.edges[i])
        val = 10 ** (lo + frac * (hi - lo))
        return float(min(max(val, self.min), self.max))

    def summary(self, prefix: str) -> dict:
        n = self.n
        nan = float("nan")
        return {
            f"{prefix}_mean": self.mean if n else nan,
            f"{prefix}_std": self.std,
            f"{prefix}_median": self.quantile(0.5),
            f"{prefix}_p01": self.quantile(0.01),
            f"{prefix}_p99": self.quantile(0.99),
            f"{prefix}_max": self.max if n else nan,
        }

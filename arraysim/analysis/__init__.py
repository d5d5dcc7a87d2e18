"""Statistics: intervals and streamed summaries."""
from .stats import StreamStats, binomial_ci

__all__ = ["StreamStats", "binomial_ci"]

"""Monte Carlo: the read simulator, draws, the driver and its result."""
from .driver import Condition, make_grid, run_ber
from .engine import ReadSimulator, Tolerances
from .result import BERTable

__all__ = ["BERTable", "Condition", "ReadSimulator", "Tolerances", "make_grid", "run_ber"]

"""arraysim: circuit-level Monte Carlo of 2T2R HfO2 RRAM arrays read by precharge sense amplifiers.

Light import: numpy, numba and scipy only (no PySpice, matplotlib or torch).
"""
__version__ = "0.1.0"

from .api import ber_table, read_instances, simulator  # noqa: E402
from .circuits.pcsa import PCSADesign, Size, Timing  # noqa: E402
from .cmos.technologies import available_technologies, get_technology  # noqa: E402
from .devices.rram import Programming, RRAMParams  # noqa: E402
from .io.tables import load_table  # noqa: E402
from .montecarlo import BERTable, Condition, ReadSimulator, Tolerances, make_grid, run_ber  # noqa: E402
from .options import Cell, Corner, Readout, Variability  # noqa: E402

__all__ = ["BERTable", "Cell", "Condition", "Corner", "PCSADesign", "Programming", "RRAMParams",
           "ReadSimulator", "Readout", "Size", "Timing", "Tolerances", "Variability",
           "available_technologies", "ber_table", "get_technology", "load_table", "make_grid",
           "read_instances", "run_ber", "simulator"]

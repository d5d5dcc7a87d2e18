"""SPICE as referee: netlists of the simulated read circuit, an ngspice runner and the kernel-vs-SPICE
validation (``arraysim validate``).

Not imported by ``import arraysim``; PySpice is imported lazily, on the first run.
"""
from .runner import SpiceError, SpiceUnavailable, ngspice_available, run

__all__ = ["SpiceError", "SpiceUnavailable", "ngspice_available", "run"]

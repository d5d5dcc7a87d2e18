"""RRAM device models."""
from .rram import Programming, RRAMParams

__all__ = ["Programming", "RRAMParams"]

"""Circuits read by the kernel: the PCSA with its 2T2R / 1T1R column."""
from .pcsa import PCSADesign, Size, Timing, build_tables, node_caps, transistors

__all__ = ["PCSADesign", "Size", "Timing", "build_tables", "node_caps", "transistors"]

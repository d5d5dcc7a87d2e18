"""CMOS transistor compact model parameters and technology sets."""
from .params import CornerShift, MosParams, Technology
from .technologies import available_technologies, get_technology

__all__ = ["CornerShift", "MosParams", "Technology", "available_technologies", "get_technology"]

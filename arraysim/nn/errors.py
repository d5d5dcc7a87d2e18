"""Weight-error injection from arraysim BER tables, and the export schema of those tables (issue 5).

Error models
============
An :class:`ErrorModel` holds, for each programmed weight state ``w`` in (+1, 0, -1), the probabilities of
the four read outcomes ``r`` in (+1, 0, -1, invalid): ``probs[w, r] = P(read r | programmed w)`` (rows
``plus, zero, minus``; columns ``plus, zero, minus, invalid``).  Every stored weight of every dense/conv
layer (first and last included) is read independently with these probabilities.

* **Binary or XNOR readout table** (``readout`` = ``binary`` | ``xnor``): per-state flip probabilities
  ``p(+1 -> -1) = err_plus / n_plus`` and ``p(-1 -> +1) = err_minus / n_minus``.  An unresolved read (both
  outputs still high at the end of the sense window) and a read with both outputs low count as errors in
  the table, so they are **flips** here.  For the XNOR readout the counts are by expected output
  ``XNOR(x, w)``; a wrong product bit is the same as a flipped weight for that input, so the rates are used
  as weight flips.  A binary table has no statistics for weight 0: a ternary network needs a ternary table
  or the plain BER knob.
* **Ternary readout table** (``readout`` = ``ternary``): the full confusion ``q_<w>_<r> = c_<w>_<r> / n_<w>``
  from the integer counts ``c_<w>_<r>``.  Read 0 ("both outputs high") gives weight 0; the outcome
  **invalid** (both outputs low) has no weight value: ``invalid="zero"`` (default) maps it to 0,
  ``invalid="random"`` to +1 or -1 with probability 1/2 each.  A binary network read this way can acquire
  zero weights; inference handles them (the ternary kernel is used for that layer).
* **Plain BER knob** (:meth:`ErrorModel.from_ber`, physics.md section 4): binary weights flip with
  probability ``ber``; ternary weights follow the rule of 2005.01973: with ``p0`` the measured fraction of
  zero weights of the network, ``q = 2 ber / (1 + p0)``, a 0 becomes +1 or -1 with probability ``q``
  (``q/2`` each), a +-1 becomes 0 with probability ``q/2`` and never changes sign; the mean error rate is
  ``ber``.  Allowed: ``0 <= ber <= (1 + p0)/2`` (so that ``q <= 1``).

Sign convention: activations are ``sign(a) = +1 if a >= 0 else -1`` (``sign(0) = +1``, FORMAT.md), the
Larq convention; torch's ``torch.sign(0) = 0`` differs.  Weight +1 = (BL LRS, BLB HRS), -1 = (HRS, LRS),
0 = (HRS, HRS).

Modes and seeding
=================
``mode="chip"``: one error pattern per simulated chip, drawn once and used for the whole test set (a
programmed array keeps its errors); ``mode="pass"``: a fresh pattern for every forward batch of
``batch_size`` examples (errors redrawn at every read, as in 2005.01973's code).  Draw ``d`` (chip ``d``)
uses ``numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(d,))))``; within a draw the layers
consume the generator in layer order (one uniform per weight, then one sign per "invalid" read when
``invalid="random"``), and in ``pass`` mode the batches in order.  The same seed gives identical results;
:func:`accuracy_vs_ber` reuses the same uniforms at every BER (common random numbers: a weight flipped at
some BER is flipped at every larger one), which makes curves smooth and monotone per chip.

Export schema of the error tables (JSON)
========================================
``arraysim ber --out T.json`` (and ``sweep-vdd``) write the table as one JSON object (``arraysim.io.tables``;
the CSV and NPZ files hold the same columns and metadata)::

    {
      "format":  "arraysim-table",          # constant
      "version": 1,                         # integer
      "meta":    {...},                     # seed, samples, model parameters, versions, units, descriptions
      "units":   {"<column>": "<unit>"},     # "V", "degC", "A", "s", "Ohm", "J", "" (dimensionless)
      "columns": ["cell", "readout", ...],  # column order
      "data":    {"<column>": [v_row0, v_row1, ...]}   # one list per column, one entry per table row;
    }                                                  # NaN is written as null

One row = one condition (and, for ternary tables, one read window).  Columns used here:

======================================  =======  ========================================================
column                                  type     meaning
======================================  =======  ========================================================
cell, readout, corner                   string   2t2r|1t1r; binary|xnor|ternary; tt|ff|ss|fs|sf
vdd [V], temp_c [degC], i_compliance    number   the condition (select rows with these)
[A], v_reset [V], window [s],
threshold [VDD], rows
n                                       integer  reads simulated (converged)
n_plus, err_plus, n_minus, err_minus    integer  reads / errors per programmed state (+1, -1)
n_zero, err_zero                        integer  same for 0 (ternary readout; 0 in binary tables)
c_<w>_<r>                               integer  reads of outcome r among programmed w; w in plus, zero,
                                                 minus; r in plus, zero, minus, invalid
q_<w>_<r>, q_<w>_<r>_lo, q_<w>_<r>_hi   number   c_<w>_<r> / n_<w> with a 95 % Clopper-Pearson interval
ber, ber_lo, ber_hi                     number   errors / n with its 95 % interval
======================================  =======  ========================================================

:data:`ERROR_TABLE_SCHEMA` is this layout as a JSON Schema (draft 2020-12) for the columns above; the
engine writes more columns (delay, energy, ...), which the schema allows.  :func:`load_error_model`
reads a table (CSV/JSON/NPZ, or a :class:`~arraysim.montecarlo.result.BERTable`), selects one row by
column values and returns the :class:`ErrorModel`; :meth:`ErrorModel.to_dict` gives a JSON-able summary
(``format: "arraysim-error-model"``) with the probabilities for use in other frameworks (see
``notebooks/nn_export_torch.py`` for PyTorch).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STATES = ("plus", "zero", "minus")  # programmed +1, 0, -1 (row order)
READS = ("plus", "zero", "minus", "invalid")  # read +1, 0, -1, both outputs low (column order)
INVALID_MODES = ("zero", "random")
MODES = ("chip", "pass")
KINDS = ("binary", "ternary", "ber")
# columns that describe a condition (what --condition selects on; listed in selection errors)
CONDITION_COLUMNS = ("cell", "readout", "vdd", "temp_c", "corner", "i_compliance", "v_reset", "rows",
                     "window", "threshold")
_SI = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}

_NUM = {"type": ["number", "null"]}
_INT = {"type": "integer", "minimum": 0}
_CONF_COLS = {f"c_{w}_{r}": {"type": "array", "items": _INT} for w in STATES for r in READS}
_Q_COLS = {f"q_{w}_{r}{s}": {"type": "array", "items": _NUM} for w in STATES for r in READS
           for s in ("", "_lo", "_hi")}
ERROR_TABLE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "arraysim-table-v1-errors",
    "title": "arraysim BER table (JSON), the columns used for weight-error injection",
    "type": "object",
    "required": ["format", "version", "meta", "units", "columns", "data"],
    "properties": {
        "format": {"const": "arraysim-table"},
        "version": {"const": 1},
        "meta": {"type": "object"},
        "units": {"type": "object", "additionalProperties": {"type": "string"}},
        "columns": {"type": "array", "items": {"type": "string"}},
        "data": {
            "type": "object",
            "required": list(CONDITION_COLUMNS) + ["n", "n_plus", "err_plus", "n_minus", "err_minus",
                                                   "n_zero", "err_zero"] + list(_CONF_COLS),
            "properties": {
                "cell": {"type": "array", "items": {"enum": ["2t2r", "1t1r"]}},
                "readout": {"type": "array", "items": {"enum": ["binary", "ternary", "xnor"]}},
                "corner": {"type": "array", "items": {"enum": ["tt", "ff", "ss", "fs", "sf"]}},
                **{k: {"type": "array", "items": _NUM}
                   for k in ("vdd", "temp_c", "i_compliance", "v_reset", "window", "threshold", "ber",
                             "ber_lo", "ber_hi")},
                **{k: {"type": "array", "items": _INT}
                   for k in ("rows", "n", "n_plus", "err_plus", "n_minus", "err_minus", "n_zero",
                             "err_zero")},
                **_CONF_COLS, **_Q_COLS,
            },
            "additionalProperties": {"type": "array"},
        },
    },
}


def error_table_schema() -> dict:
    """A copy of :data:`ERROR_TABLE_SCHEMA`."""
    import copy
    return copy.deepcopy(ERROR_TABLE_SCHEMA)


# --------------------------------------------------------------------------------------------------
# the error model
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ErrorModel:
    """Per-weight read-error probabilities (see the module docstring).

    ``kind``: ``binary`` (binary/XNOR table: per-state flips), ``ternary`` (ternary table: 3x4 confusion) or
    ``ber`` (plain knob; the probabilities depend on the network: :meth:`probabilities`).
    ``probs``: (3, 4) ``P(read r | programmed w)``, rows plus/zero/minus, columns plus/zero/minus/invalid
    (NaN row for a state the table has no reads of; unused for ``ber``).  ``counts``: (3, 4) integer
    counts behind ``probs`` (tables only).  ``invalid``: what an invalid read becomes, ``zero`` | ``random``.
    ``condition``: the selected row's condition columns; ``source``: where it came from."""

    kind: str
    probs: np.ndarray | None = None
    counts: np.ndarray | None = None
    invalid: str = "zero"
    ber: float | None = None
    condition: dict = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown error-model kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.invalid not in INVALID_MODES:
            raise ValueError(f"unknown invalid-read mapping {self.invalid!r}; allowed: "
                             f"{', '.join(INVALID_MODES)} (zero: read as 0; random: +1 or -1 with "
                             "probability 1/2)")
        if self.kind == "ber":
            b = self.ber
            if b is None or isinstance(b, bool) or not (isinstance(b, (int, float)) and math.isfinite(b)
                                                       and 0.0 <= b <= 1.0):
                raise ValueError(f"ber must be a number in [0, 1], got {b!r}")
        else:
            p = np.asarray(self.probs, dtype=float)
            if p.shape != (3, 4):
                raise ValueError(f"probs must have shape (3, 4) (states x reads), got {p.shape}")
            ok = np.all(np.isnan(p), axis=1) | (np.all((p >= 0) & (p <= 1), axis=1) &
                                                 np.isclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12))
            if not ok.all():
                bad = [STATES[i] for i in range(3) if not ok[i]]
                raise ValueError(f"probs rows {bad} are not probability distributions over "
                                 f"{', '.join(READS)}")

    # ---- constructors ------------------------------------------------------------------------------
    @classmethod
    def from_ber(cls, ber: float, invalid: str = "zero") -> "ErrorModel":
        """The plain BER knob (physics.md section 4)."""
        if isinstance(ber, (np.floating, np.integer)):
            ber = float(ber)
        return cls(kind="ber", ber=ber, invalid=invalid, source=f"ber={ber}")

    @classmethod
    def from_flips(cls, p_plus: float, p_minus: float) -> "ErrorModel":
        """Binary model with given flip probabilities p(+1 -> -1), p(-1 -> +1)."""
        for nm, v in (("p_plus", p_plus), ("p_minus", p_minus)):
            if not (isinstance(v, (int, float, np.floating)) and 0.0 <= v <= 1.0):
                raise ValueError(f"{nm} must be a probability in [0, 1], got {v!r}")
        probs = np.array([[1 - p_plus, 0.0, p_plus, 0.0], [np.nan] * 4, [p_minus, 0.0, 1 - p_minus, 0.0]])
        return cls(kind="binary", probs=probs, source="flips")

    @classmethod
    def from_confusion(cls, probs, invalid: str = "zero") -> "ErrorModel":
        """Ternary model from a (3, 4) matrix P(read r | programmed w)."""
        return cls(kind="ternary", probs=np.array(probs, dtype=float), invalid=invalid, source="confusion")

    # ---- per-network probabilities -----------------------------------------------------------------
    def probabilities(self, net=None, weight_kind: str | None = None, p0: float | None = None) -> np.ndarray:
        """(3, 4) ``P(read r | programmed w)`` used for ``net`` (the BER knob needs the network's weight
        kind and zero fraction; tables do not).  Raises ValueError when the model cannot serve the net
        (a binary table and a ternary network)."""
        wk = weight_kind or (net.weight_kind if net is not None else None)
        if self.kind == "ber":
            if wk is None:
                raise ValueError("the BER knob needs the network (binary or ternary weights)")
            b = float(self.ber)
            if wk == "binary":
                return np.array([[1 - b, 0, b, 0], [np.nan] * 4, [b, 0, 1 - b, 0]], dtype=float)
            if p0 is None:
                if net is None:
                    raise ValueError("the ternary BER rule needs p0, the fraction of zero weights")
                p0 = net.zero_fraction
            q = 2 * b / (1 + p0)
            if q > 1:
                raise ValueError(f"ber {b:g} is too large for a ternary network with p0 = {p0:.4f}: q = 2 ber/"
                                 f"(1 + p0) = {q:.4f} > 1; allowed ber <= (1 + p0)/2 = {(1 + p0) / 2:.4f}")
            return np.array([[1 - q / 2, q / 2, 0, 0], [q / 2, 1 - q, q / 2, 0], [0, q / 2, 1 - q / 2, 0]])
        p = np.array(self.probs, dtype=float)
        if wk == "ternary" and net is not None and np.isnan(p[1]).any() and \
                any(np.any(w == 0) for w in net.weights):
            raise ValueError(f"the error model ({self.kind}{', ' + self.source if self.source else ''}) has "
                             "no statistics for weight 0 (no reads of weight 0, e.g. a binary/XNOR readout "
                             "table), but the ternary network has zero weights; use a ternary-readout table "
                             "or --ber")
        return p

    def transition(self, net=None, **kw) -> np.ndarray:
        """(3, 3) effective ``P(new weight | programmed w)`` after mapping invalid reads (rows and columns
        +1, 0, -1)."""
        p = self.probabilities(net, **kw)
        t = p[:, :3].copy()
        if self.invalid == "zero":
            t[:, 1] += p[:, 3]
        else:
            t[:, 0] += p[:, 3] / 2
            t[:, 2] += p[:, 3] / 2
        return t

    def thresholds(self, net=None, **kw) -> np.ndarray:
        """(3, 3) cumulative thresholds for the sampler: a uniform ``u`` reads outcome
        ``(u >= c[w,0]) + (u >= c[w,1]) + (u >= c[w,2])``.  From integer counts when available (exact
        0 and 1)."""
        p = self.probabilities(net, **kw)
        if self.counts is not None and self.kind != "ber":
            c = np.asarray(self.counts, dtype=np.int64)
            n = c.sum(axis=1)
            cum = np.cumsum(c, axis=1)[:, :3].astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                out = cum / n[:, None]
        else:
            out = np.cumsum(p, axis=1)[:, :3]
            # where no probability is left above an outcome, its threshold is exactly 1 (no rounding
            # residue may turn into an impossible outcome, e.g. a sign flip of the ternary BER rule)
            rest = np.cumsum(p[:, ::-1], axis=1)[:, ::-1]  # rest[:, k] = P(outcome >= k)
            for k in range(3):
                out[rest[:, k + 1] == 0, k] = 1.0
        # states without statistics: never used (the net has no such weights); make them read themselves
        for i in range(3):
            if np.isnan(out[i]).any():
                out[i] = [(0.0 if i > 0 else 1.0), (0.0 if i > 1 else 1.0), 1.0]
        return np.ascontiguousarray(out)

    # ---- description -------------------------------------------------------------------------------
    def rates(self, net=None, **kw) -> dict:
        """Per-state error rates used, after the invalid mapping: ``{"p(+1->-1)": ..., "p(-1->+1)": ...}``
        for binary models, plus ``p(+1->0)``, ``p(0->+1)``, ``p(0->-1)``, ``p(-1->0)`` when weight 0 has
        statistics (ternary)."""
        t = self.transition(net, **kw)
        names = ("+1", "0", "-1")
        binary = bool(np.isnan(t[1]).all())
        out = {}
        for i in range(3):
            if np.isnan(t[i]).any():
                continue
            for j in range(3):
                if i != j and not (binary and j == 1):
                    out[f"p({names[i]}->{names[j]})"] = float(t[i, j])
        return out

    def to_dict(self, net=None) -> dict:
        """JSON-able description: ``{"format": "arraysim-error-model", "version": 1, "kind", "invalid",
        "states", "reads", "probs" (3x4, null = no statistics), "counts" (3x4 or null), "transition" (3x3,
        after the invalid mapping), "rates", "condition", "source", "ber"}`` (``probs``/``transition`` of the
        BER knob are for ``net``; omitted without it)."""
        from ..io.tables import jsonable
        d = {"format": "arraysim-error-model", "version": 1, "kind": self.kind, "invalid": self.invalid,
             "states": list(STATES), "reads": list(READS), "sign_convention": "sign(0) = +1",
             "condition": dict(self.condition), "source": self.source, "ber": self.ber,
             "counts": None if self.counts is None else np.asarray(self.counts).tolist()}
        if self.kind != "ber" or net is not None:
            d["probs"] = self.probabilities(net).tolist()
            d["transition"] = self.transition(net).tolist()
            d["rates"] = self.rates(net)
        return jsonable(d)

    def describe(self, net=None) -> str:
        if self.kind == "ber":
            head = f"plain BER knob ber = {self.ber:g}"
            if net is not None and net.weight_kind == "ternary":
                p0 = net.zero_fraction
                head += f" (ternary rule, p0 = {p0:.4f}, q = {2 * self.ber / (1 + p0):.4g})"
        else:
            from ..montecarlo.result import COLUMNS
            cond = ", ".join(f"{k}={_fmt_value(v)}" + (f" {COLUMNS[k][0]}" if k in COLUMNS and COLUMNS[k][0]
                                                        else "") for k, v in self.condition.items())
            head = f"{self.kind} table {self.source}" + (f" at {cond}" if cond else "")
        rates = ", ".join(f"{k} = {v:.4g}" for k, v in self.rates(net).items()) if \
            (self.kind != "ber" or net is not None) else ""
        inv = f"; invalid reads -> {self.invalid}" if self.kind == "ternary" else ""
        return head + (f"\n  rates: {rates}" if rates else "") + inv


# --------------------------------------------------------------------------------------------------
# tables -> error model
# --------------------------------------------------------------------------------------------------
def _fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _parse_value(text, column: str, kind: str, unit: str):
    """A condition value: strings as they are (case-insensitive match), numbers with an optional SI
    prefix and the column's unit (``5e-9``, ``5n``, ``5ns``; ``50u``, ``50uA``; ``0.5``, ``0.5V``)."""
    if kind == "str":
        return str(text).strip()
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        return float(text)
    t = str(text).strip()
    if t.lower() == "nan":
        return float("nan")
    if unit and t.endswith(unit) and len(t) > len(unit):
        t = t[: -len(unit)].strip()
    m = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([fpnuµmkMG]?)", t)
    if not m:
        raise ValueError(f"condition {column}={text!r}: not a number (give {column} in "
                         f"{unit or 'plain numbers'}, optionally with an SI prefix, e.g. "
                         f"{'5n' if unit == 's' else '0.5'})")
    return float(m.group(1)) * (_SI[m.group(2)] if m.group(2) else 1.0)


def _matches(row_value, want, kind) -> bool:
    if kind == "str":
        return str(row_value).lower() == str(want).lower()
    rv = float(row_value)
    if math.isnan(want):
        return math.isnan(rv)
    return rv == want or math.isclose(rv, want, rel_tol=1e-6, abs_tol=0.0)


def parse_conditions(items) -> dict:
    """``["vdd=0.5", "temp_c=27", ...]`` (or ``"vdd=0.5,temp_c=27"``) -> ``{"vdd": "0.5", ...}``."""
    out = {}
    for item in items or ():
        for tok in str(item).split(","):
            tok = tok.strip()
            if not tok:
                continue
            if "=" not in tok:
                raise ValueError(f"bad condition {tok!r}; expected COLUMN=VALUE, e.g. vdd=0.5 or "
                                 "temp_c=27")
            k, v = (s.strip() for s in tok.split("=", 1))
            if not k or not v:
                raise ValueError(f"bad condition {tok!r}; expected COLUMN=VALUE")
            if k in out:
                raise ValueError(f"condition {k!r} is given twice")
            out[k] = v
    return out


def _available(rows, columns, units) -> str:
    parts = []
    for c in columns:
        vals = sorted({r[c] for r in rows if not (isinstance(r[c], float) and math.isnan(r[c]))},
                      key=lambda v: (isinstance(v, str), v))
        unit = f" {units.get(c)}" if units.get(c) else ""
        parts.append(f"{c}: {', '.join(_fmt_value(v) for v in vals)}{unit}")
    return "; ".join(parts)


def select_row(table, condition: dict | None = None, source: str = "table") -> dict:
    """The one row of ``table`` (a BERTable) whose columns match ``condition`` (``{column: value}``, values
    as numbers or strings, see :func:`_parse_value`).  Raises ValueError when no row or several rows
    match, listing the available values of the columns that differ."""
    from ..montecarlo.result import COLUMNS
    condition = dict(condition or {})
    rows = list(table.rows)
    if not rows:
        raise ValueError(f"{source}: the table has no rows")
    units = {k: u for k, (u, _) in COLUMNS.items()}
    want = {}
    for k, v in condition.items():
        if k not in COLUMNS:
            raise ValueError(f"unknown condition column {k!r}; condition columns: "
                             f"{', '.join(CONDITION_COLUMNS)} (any table column is accepted)")
        want[k] = _parse_value(v, k, COLUMNS[k][1], units[k])
    match = [r for r in rows if all(_matches(r[k], w, COLUMNS[k][1]) for k, w in want.items())]
    varying = [c for c in CONDITION_COLUMNS if len({str(r[c]) for r in rows}) > 1]
    given = ", ".join(f"{k}={v}" for k, v in condition.items()) or "no condition"
    if not match:
        cols = list(dict.fromkeys(list(want) + varying))
        raise ValueError(f"{source}: no row matches {given}; available: {_available(rows, cols, units)}")
    if len(match) > 1:
        differ = [c for c in CONDITION_COLUMNS if len({str(r[c]) for r in match}) > 1]
        if not differ:  # identical conditions (e.g. a table concatenated twice)
            raise ValueError(f"{source}: {len(match)} rows match {given} and have the same condition "
                             "columns; the table holds duplicate conditions")
        raise ValueError(f"{source}: {len(match)} rows match {given}; add --condition for the columns "
                         f"that differ: {_available(match, differ, units)}")
    return match[0]


def error_model_from_row(row: dict, invalid: str = "zero", source: str = "table") -> ErrorModel:
    """The :class:`ErrorModel` of one table row (dict of columns)."""
    readout = str(row["readout"]).lower()
    cond = {c: row[c] for c in CONDITION_COLUMNS if c in row}
    counts = np.array([[int(row[f"c_{w}_{r}"]) for r in READS] for w in STATES], dtype=np.int64)
    if readout in ("binary", "xnor"):
        for st in ("plus", "minus"):
            if int(row[f"n_{st}"]) <= 0:
                raise ValueError(f"{source}: the selected row has n_{st} = 0 reads; no error rate for weight "
                                 f"{'+1' if st == 'plus' else '-1'}")
        pp = int(row["err_plus"]) / int(row["n_plus"])
        pm = int(row["err_minus"]) / int(row["n_minus"])
        probs = np.array([[1 - pp, 0.0, pp, 0.0], [np.nan] * 4, [pm, 0.0, 1 - pm, 0.0]])
        bc = np.array([[int(row["n_plus"]) - int(row["err_plus"]), 0, int(row["err_plus"]), 0],
                       [0, 0, 0, 0],
                       [int(row["err_minus"]), 0, int(row["n_minus"]) - int(row["err_minus"]), 0]],
                      dtype=np.int64)
        return ErrorModel(kind="binary", probs=probs, counts=bc, invalid=invalid, condition=cond,
                          source=source)
    if readout != "ternary":
        raise ValueError(f"{source}: unknown readout {row['readout']!r} in the table; allowed: binary, xnor, "
                         "ternary")
    n = counts.sum(axis=1)
    if n[0] <= 0 or n[2] <= 0:
        raise ValueError(f"{source}: the selected ternary row has no reads of weight +1 or -1 "
                         f"(n_plus = {n[0]}, n_minus = {n[2]})")
    with np.errstate(invalid="ignore", divide="ignore"):
        probs = counts / n[:, None]
    if n[1] == 0:
        probs[1] = np.nan
    return ErrorModel(kind="ternary", probs=probs, counts=counts, invalid=invalid, condition=cond,
                      source=source)


def load_error_model(table, condition: dict | None = None, invalid: str = "zero") -> ErrorModel:
    """Read an arraysim error table (path to CSV/JSON/NPZ, or a BERTable), select the row matching
    ``condition`` (``{"vdd": 0.5, "temp_c": 27, ...}``; may be empty when the table has one row) and
    return its :class:`ErrorModel` (per-state flip probabilities for binary/XNOR tables, the 3x4
    confusion for ternary tables)."""
    if invalid not in INVALID_MODES:
        raise ValueError(f"unknown invalid-read mapping {invalid!r}; allowed: {', '.join(INVALID_MODES)}")
    if isinstance(table, (str, Path)):
        from ..io.tables import load_table
        source = str(table)
        try:
            tab = load_table(table)
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError(f"{source!r} is not a complete arraysim table (missing column {e})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read table {source!r}: {e}") from None
        except ValueError as e:
            raise ValueError(f"cannot read table {source!r}: {e}") from None
    else:
        tab, source = table, "table"
    row = select_row(tab, condition, source=source)
    return error_model_from_row(row, invalid=invalid, source=source)


# --------------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------------
def rng_for(seed: int, draw: int) -> np.random.Generator:
    """``Generator(PCG64(SeedSequence(seed, spawn_key=(draw,))))`` - draw/chip ``draw`` of ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(int(draw),))))


class _Injector:
    """Precomputed state of one (network, error model) pair; :meth:`draw` gives one weight pattern."""

    def __init__(self, net, errors: ErrorModel, layers=None):
        self.net = net
        self.errors = errors
        self.cum = errors.thresholds(net)
        self.invalid_random = errors.invalid == "random"
        self.read_values = np.array([1, 0, -1, 2 if self.invalid_random else 0], dtype=np.int8)
        base = net.weights
        self.base = [np.ascontiguousarray(w).reshape(-1) for w in base]
        self.shapes = [w.shape for w in base]
        self.layers = _layer_mask(net, layers)

    def draw(self, rng: np.random.Generator, us=None) -> list[np.ndarray]:
        """One pattern.  ``us``: optional precomputed uniforms per layer (common random numbers)."""
        from .kernels import inject
        out = []
        for li, (w, shp) in enumerate(zip(self.base, self.shapes)):
            if not self.layers[li]:
                out.append(w.reshape(shp))
                continue
            u = rng.random(w.size) if us is None else us[li]
            new, n_draw = inject(w, u, self.cum, self.read_values)
            if n_draw:
                idx = np.flatnonzero(new == 2)
                new[idx] = (rng.integers(0, 2, size=len(idx)) * 2 - 1).astype(np.int8)
            out.append(new.reshape(shp))
        return out

    def uniforms(self, rng):
        return [rng.random(w.size) if self.layers[i] else None for i, w in enumerate(self.base)]


def _layer_mask(net, layers) -> list[bool]:
    n = len(net.weight_layers)
    if layers is None:
        return [True] * n
    names = [net.layers[i].name for i in net.weight_layers]
    mask = [False] * n
    for x in layers:
        if isinstance(x, str):
            if x not in names:
                raise ValueError(f"unknown layer {x!r}; dense/conv layers: {', '.join(names)}")
            mask[names.index(x)] = True
        else:
            i = int(x)
            if not 0 <= i < n:
                raise ValueError(f"layer index {x!r} out of range; the network has {n} dense/conv layers "
                                 f"(0..{n - 1})")
            mask[i] = True
    return mask


def draw_weights(net, errors, rng: np.random.Generator, layers=None) -> list[np.ndarray]:
    """One error pattern: the network's weights as read with ``errors`` (ErrorModel or a BER float)."""
    return _Injector(net, _as_model(errors), layers).draw(rng)


def _as_model(errors, invalid: str | None = None) -> ErrorModel:
    if isinstance(errors, ErrorModel):
        if invalid is not None and invalid != errors.invalid:
            import dataclasses
            return dataclasses.replace(errors, invalid=invalid)
        return errors
    if isinstance(errors, (int, float, np.floating)) and not isinstance(errors, bool):
        return ErrorModel.from_ber(float(errors), invalid=invalid or "zero")
    raise ValueError(f"errors must be an ErrorModel or a BER number, got {type(errors).__name__}")


def _check_run(mode, n_draws, batch_size, seed):
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: chip (one fixed pattern per chip), pass (a fresh "
                         "pattern per forward batch)")
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"n_draws must be an integer >= 1, got {n_draws!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _accuracy_one(net, inj: _Injector, x, y, mode, batch_size, rng, us=None) -> float:
    if mode == "chip":
        return net.accuracy(x, y, weights=inj.draw(rng, us))
    correct = 0
    for s in range(0, len(x), batch_size):
        pred = net.predict(x[s:s + batch_size], weights=inj.draw(rng))
        correct += int(np.count_nonzero(pred == y[s:s + batch_size]))
    return correct / len(y)


def accuracy_under_errors(net, x, y, errors, mode: str = "chip", n_draws: int = 10, seed: int = 0,
                          batch_size: int = 100, invalid: str | None = None, layers=None,
                          clean: float | None = None) -> dict:
    """Accuracy of ``net`` on ``(x, y)`` with weight errors.

    ``errors``: an :class:`ErrorModel` (e.g. from :func:`load_error_model`) or a BER number (plain knob).
    ``mode``: ``chip`` (one pattern per chip for the whole set) or ``pass`` (fresh pattern per batch of
    ``batch_size``).  ``n_draws`` chips (chip mode) or repetitions over the set (pass mode), draw ``d``
    seeded by ``SeedSequence(seed, spawn_key=(d,))``.  ``invalid`` overrides the model's invalid-read
    mapping; ``layers`` restricts errors to some dense/conv layers (indices or names; default all).

    Returns ``{"mean", "std" (sample std, ddof=1; 0 for one draw), "values" (per draw), "clean" (no
    errors), "mode", "n_draws", "seed", "batch_size", "n_examples", "error_model" (to_dict)}``."""
    _check_run(mode, n_draws, batch_size, seed)
    model = _as_model(errors, invalid)
    y = np.asarray(y)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"need as many labels as examples (> 0): {len(x)} examples, {len(y)} labels")
    inj = _Injector(net, model, layers)
    clean_acc = net.accuracy(x, y) if clean is None else clean
    values = np.array([_accuracy_one(net, inj, x, y, mode, batch_size, rng_for(seed, d))
                       for d in range(n_draws)])
    return {"mean": float(values.mean()), "std": _std(values), "values": values, "clean": clean_acc,
            "mode": mode, "n_draws": int(n_draws), "seed": int(seed), "batch_size": int(batch_size),
            "n_examples": int(len(y)), "error_model": model.to_dict(net)}


def accuracy_vs_ber(net, x, y, bers, mode: str = "chip", n_draws: int = 5, seed: int = 0,
                    batch_size: int = 100, layers=None) -> dict:
    """Accuracy against the plain BER knob, for curves.  In chip mode chip ``d`` uses the same uniforms at
    every BER (common random numbers).  Returns ``{"ber": (B,), "mean": (B,), "std": (B,), "values":
    (B, n_draws), "clean", "mode", "n_draws", "seed", "batch_size", "n_examples"}``."""
    _check_run(mode, n_draws, batch_size, seed)
    bers = np.atleast_1d(np.asarray(bers, dtype=float))
    if bers.ndim != 1 or len(bers) == 0:
        raise ValueError("bers must be a non-empty list of numbers")
    y = np.asarray(y)
    injs = [_Injector(net, ErrorModel.from_ber(float(b)), layers) for b in bers]  # validates every ber
    values = np.zeros((len(bers), n_draws))
    for d in range(n_draws):
        us = injs[0].uniforms(rng_for(seed, d)) if mode == "chip" else None
        for i, inj in enumerate(injs):
            values[i, d] = _accuracy_one(net, inj, x, y, mode, batch_size, rng_for(seed, d), us)
    return {"ber": bers, "mean": values.mean(axis=1), "std": np.array([_std(v) for v in values]),
            "values": values, "clean": net.accuracy(x, y), "mode": mode, "n_draws": int(n_draws),
            "seed": int(seed), "batch_size": int(batch_size), "n_examples": int(len(y))}

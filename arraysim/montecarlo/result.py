"""The result object of a Monte Carlo run: rows of a BER table plus provenance metadata."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_W = ("plus", "zero", "minus")  # programmed weight +1, 0, -1
_R = ("plus", "zero", "minus", "invalid")  # read +1, 0 (both outputs high), -1, both low

# column -> (unit, kind); kind in {"str", "int", "float"}.  The order is the table's column order.
COLUMNS: dict[str, tuple[str, str]] = {
    "cell": ("", "str"),
    "readout": ("", "str"),
    "vdd": ("V", "float"),
    "temp_c": ("degC", "float"),
    "corner": ("", "str"),
    "i_compliance": ("A", "float"),
    "v_reset": ("V", "float"),
    "rows": ("", "int"),
    "window": ("s", "float"),
    "threshold": ("", "float"),
    "samples": ("", "int"),
    "r_ref": ("Ohm", "float"),
    "n": ("", "int"),
    "n_failed": ("", "int"),
    "errors": ("", "int"),
    "ber": ("", "float"),
    "ber_lo": ("", "float"),
    "ber_hi": ("", "float"),
    "n_unresolved": ("", "int"),
    "n_invalid": ("", "int"),
    "n_precharge_incomplete": ("", "int"),
    "n_plus": ("", "int"),
    "err_plus": ("", "int"),
    "n_minus": ("", "int"),
    "err_minus": ("", "int"),
    "n_zero": ("", "int"),
    "err_zero": ("", "int"),
    "n_x0": ("", "int"),
    "err_x0": ("", "int"),
    "n_x1": ("", "int"),
    "err_x1": ("", "int"),
    **{f"delay_{s}": ("s", "float") for s in ("mean", "std", "median", "p01", "p99", "max")},
    **{f"energy_{s}": ("J", "float") for s in ("mean", "std", "median", "p01", "p99", "max")},
    "steps_mean": ("", "float"),
    **{f"c_{w}_{r}": ("", "int") for w in _W for r in _R},
    **{f"q_{w}_{r}{s}": ("", "float") for w in _W for r in _R for s in ("", "_lo", "_hi")},
}

DESCRIPTIONS = {
    "n": "instances simulated to the end (converged)",
    "n_failed": "instances whose simulation did not converge (excluded from n, never dropped silently)",
    "errors": "reads whose decoded value differs from the programmed value (unresolved counts as error)",
    "ber": "errors / n",
    "ber_lo": "95 % Clopper-Pearson lower bound",
    "ber_hi": "95 % Clopper-Pearson upper bound",
    "n_unresolved": "both outputs above VDD/2 at the end of the sense window",
    "n_invalid": "both outputs below VDD/2 at the end of the sense window",
    "n_precharge_incomplete": "instances (counted in n) whose outputs had not recovered their precharged "
                              "values by t_precharge_max: their energy misses the rest",
    "n_plus": "instances programmed +1 (BL device LRS)",
    "err_plus": "errors among them",
    "delay": "first output falling through VDD/2, from SE at 50 % (resolved reads only)",
    "energy": "energy drawn from the PCSA VDD rail over sense window + precharge",
    "r_ref": "1T1R reference resistance (NaN for 2T2R)",
    "window": "sense window: outputs are read this long after the end of the SE ramp",
    "threshold": "an output is low below threshold * VDD",
    "n_zero": "instances programmed 0 (both devices HRS; ternary readout)",
    "n_x0": "XNOR readout: reads with input x = 0 (err_x0: their errors); n_x1/err_x1 likewise",
    "c_<w>_<r>": "count of reads r among instances programmed w (w: plus/zero/minus; r: plus/zero/minus/"
                 "invalid, zero = both outputs high, invalid = both low)",
    "q_<w>_<r>": "c_<w>_<r> / n_<w>, with 95 % Clopper-Pearson bounds q_<w>_<r>_lo/_hi",
}


@dataclass
class BERTable:
    rows: list[dict]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if "versions" not in self.meta:
            from ..config import versions
            self.meta["versions"] = versions()
        self.meta.setdefault("units", {k: u for k, (u, _) in COLUMNS.items()})
        self.meta.setdefault("descriptions", DESCRIPTIONS)

    def __len__(self):
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        if name not in COLUMNS:
            raise KeyError(f"unknown column {name!r}; columns: {', '.join(COLUMNS)}")
        kind = COLUMNS[name][1]
        vals = [r[name] for r in self.rows]
        if kind == "str":
            return np.array(vals, dtype=str)
        return np.array(vals, dtype=np.int64 if kind == "int" else float)

    def columns(self) -> dict[str, np.ndarray]:
        return {k: self.column(k) for k in COLUMNS}

    def select(self, **kw) -> "BERTable":
        """Rows whose columns equal the given values (floats compared with isclose)."""
        out = []
        for r in self.rows:
            ok = True
            for k, v in kw.items():
                rv = r[k]
                if isinstance(rv, float):
                    ok &= bool(np.isclose(rv, float(v)))
                else:
                    ok &= str(rv) == str(v)
            if ok:
                out.append(r)
        return BERTable(rows=out, meta=dict(self.meta))

    def save(self, path) -> None:
        from ..io.tables import save_table
        save_table(self, path)

    def __repr__(self):
        return f"BERTable({len(self.rows)} rows, seed={self.meta.get('seed')})"

    def to_text(self) -> str:
        """A compact human-readable table."""
        ternary = any(r["readout"] == "ternary" for r in self.rows)
        head = f"{'cell':5} {'vdd':>5} {'T':>5} {'cor':3} {'win':>7} {'n':>8} {'error' if ternary else 'BER':>10} {'95% CI':>23} " \
               f"{'delay med':>10} {'energy mean':>11}"
        if ternary:
            head += f" {'0->0':>6} {'+1->0':>6} {'-1->0':>6} {'+-1->-+1':>8} {'0->both low':>11}"
        lines = [head]

        def num(x, scale, unit, digits=1):
            return f"{x * scale:8.{digits}f}{unit}" if np.isfinite(x) else f"{'-':>8}{' ' * len(unit)}"

        for r in self.rows:
            lines.append(
                f"{r['cell']:5} {r['vdd']:5.2f} {r['temp_c']:5.0f} {r['corner']:3} {r['window'] * 1e9:5.2f}ns "
                f"{r['n']:8d} {r['ber']:10.3e} [{r['ber_lo']:9.2e},{r['ber_hi']:9.2e}]  "
                f"{num(r['delay_median'], 1e12, 'ps')} {num(r['energy_mean'], 1e15, 'fJ', 2):>11}"
                + (f" {r['q_zero_zero']:6.3f} {r['q_plus_zero']:6.3f} {r['q_minus_zero']:6.3f} "
                   f"{(r['c_plus_minus'] + r['c_minus_plus']) / max(r['n_plus'] + r['n_minus'], 1):8.4f} "
                   f"{r['q_zero_invalid']:11.3f}" if ternary else ""))
        return "\n".join(lines)

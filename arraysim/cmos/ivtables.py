"""Tabulated DC channel currents of a foundry model (``IVTableSet``): the drain current the kernel takes
instead of the compact model's equation for the transistors of a size that has a table.

Why.  The compact (EKV-family) model of :mod:`arraysim.kernels.devices`, calibrated to SKY130's BSIM4 cards,
is off by a median 6-16 % in weak and 3-6 % in moderate inversion (maxima of 100-200 %), and a read near
threshold that resolves near the end of its sense window turns on a few per cent of current: the SKY130
validation could not get above ~98 % decision agreement with it.  A table of the foundry model's own
channel current removes the DC model error altogether, leaving integration, capacitances and charges.

What is tabulated.  BSIM4's channel current ``I_ch`` (ngspice's instance quantity ``id``: drain to source,
without the junction currents ``ibd``/``ibs``) of one device size in one corner at a few temperatures,
sampled by :mod:`arraysim.spice.ivtables` on a grid of bulk-referred source voltage ``V_SB``, drain-source
voltage ``V_DS >= 0`` and gate-source voltage ``V_GS``, in the NMOS frame (a PMOS's voltages mirrored).
Stored is the smooth function

    F(V_GS, V_DS, V_SB) = ln( |I_ch| / (1 - exp(-V_DS / U_T)) )          (U_T = k T / q of the table)

which stays finite at V_DS = 0 (the limit ``g_ds0 U_T``) and flat along V_DS in weak inversion.

Grid.  ``V_GS`` uniform (``vgs0 + k dvgs``), ``V_SB`` uniform, ``V_DS`` uniform in ``u = sqrt(V_DS + a)``
(steps of ~12 mV at V_DS = 0, where the linear region bends on the scale of U_T, growing to ~90 mV at 2 V).

Interpolation (the kernel's ``mos_table_eval`` and the reference's independent copy).  Catmull-Rom cubic
in each coordinate (``V_GS``, ``u``, ``V_SB``), tensor product, C1-continuous; the table is padded with one
layer of linearly extrapolated ghost points on every side (:meth:`IVTable.padded`); outside the grid the
coordinate is clamped and ``F`` continues along its gradient at the clamped point (first-order
extrapolation, e.g. the subthreshold slope below the lowest ``V_GS``).  Measured on SKY130 nfet_01v8
0.6/0.15 um at 27 degC: the interpolation error of ``ln I`` is <= 0.1 % along ``V_GS`` at 50 mV steps and
~1 % along ``V_DS`` at uniform 50 mV steps (at V_DS ~ 50 mV: hence the square-root spacing).

Temperature.  Between two tabulated temperatures ``F`` is interpolated linearly in ``1/T`` (exact for the
subthreshold exponent ``(V_GS - V_T(T)) / (n k T / q)`` with a linear ``V_T(T)``): SKY130 at 85 degC from
the 27 and 125 degC tables, max 2 % (thick NMOS 6 %), median 0.5 %; linear in T gave 50 % maxima.  Outside
the tabulated range the two nearest tables are extrapolated the same way.

Variation.  A transistor of the sampled instance differs from the nominal device of its corner by a
threshold shift ``dV_T`` (mismatch and die-to-die) and a current factor ``1 + dbeta``.  The SPICE decks give
it to BSIM4 as ``delvto`` (and ``mulu0``), which is not a pure V_GS shift: BSIM4's threshold also enters its
mobility (effective field) and the other terms, so that on SKY130 at 125 degC (fs) a PMOS whose threshold
magnitude is raised by 120 mV carries 11 % more (lowered by 120 mV: 11 % less) current than the nominal device
at V_GS shifted by 120 mV, a core NMOS raised by 120 mV 3 % less.  A table may therefore carry, on the same grid, the first-order response

    H(V_GS, V_DS, V_SB) = d/d(dv) ln I_ch(V_GS + dv, V_DS, V_SB; delvto = dv)   at dv = 0,
    H2 = the second derivative

(the builder's central differences at +-:data:`arraysim.spice.ivtables.DVT_STEP`), and the current of an
instance is ``(1 + dbeta) exp(F + dV_T H + dV_T^2 H2 / 2) (1 - exp(-V_DS/U_T))`` with F, H and H2 at
``(V_GS - dV_T, V_DS, V_SB)``; without H (a table built from a card whose instances take no ``delvto``) it is the pure V_GS shift
``(1 + dbeta) I_ch(V_GS - dV_T, V_DS, V_SB)`` that the compact model applies to its threshold.

Charges.  A table may also carry, on the same grid, BSIM4's intrinsic terminal charges ``qg``, ``qd``, ``qs``
(ngspice's instance quantities of the same ``.dc`` run; the bulk holds minus their sum) in the NMOS frame --
BSIM4 computes a PMOS's charges in that frame and applies the device type only to the currents it loads, so
that a PMOS's terminal charges are the negated frame charges.  They hold the gate's depletion and inversion
charge and its partition between drain and source (no overlap, no junction: ``qd`` does not change with the
drain area), so a tabulated device carries them in place of a constant gate capacitance and of the compact
channel-charge model, with the overlap and junction capacitances kept as they are
(``PCSADesign.charge_tables``, :func:`arraysim.circuits.pcsa.charge_tabulated`).  Interpolation as for ``F``
(no logarithm: charges are smooth and change sign); an instance's threshold shift enters as a V_GS shift.
Why: when SE rises the precharge PMOS's channel empties into the outputs and kicks them above VDD; with the
constant gate capacitance and the compact channel charge the kernel's kick was 6.3 mV against BSIM4's 20.6 mV
(0.6 V, 125 degC, fs), 20.4 against 31.6 mV (0.8 V, 27 degC, tt); with the tables' charges 19.9 and 30.8 mV.
Files hold them as integer multiples of :data:`Q_LSB` (1e-21 C) differenced along V_GS.

Junctions.  A table may also carry the diode current of one drain (= source) junction of the device
(BSIM4 ``ibd`` with ngspice's gmin switched off; the kernel keeps that 1 pS shunt as ``gjun``), as
``fj(V_F) = ln(|J| / |exp(V_F / U_T) - 1|)`` on a uniform forward-bias grid (reverse bias negative), 1-D
Catmull-Rom, 1/T in temperature (the saturation current's Arrhenius law); the kernel puts it on every
drain and source junction of the transistors of that size (times their multiplicity).  SKY130 core NMOS
0.6 um: 0.8 fA at 27 degC, 9 pA at 125 degC -- at 125 degC the 32 drains on a bit line set where its
precharged level settles.

Only numpy here (no PySpice): the tables are built by :mod:`arraysim.spice.ivtables`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..options import Corner
from ..units import celsius_to_kelvin, thermal_voltage

FORMAT = "arraysim-iv-tables"
VERSION = 1
SIZE_RTOL = 1e-6


@dataclass(frozen=True)
class IVGrid:
    """Sample points of a table (NMOS-frame magnitudes, volts)."""

    vgs0: float
    dvgs: float
    nvgs: int
    vds_a: float
    """Offset of the square-root V_DS axis: ``u = sqrt(V_DS + vds_a)``."""
    nvds: int
    vds_max: float
    vsb0: float
    dvsb: float
    nvsb: int

    def __post_init__(self):
        for k in ("nvgs", "nvds", "nvsb"):
            if int(getattr(self, k)) < 2:
                raise ValueError(f"IVGrid.{k} must be >= 2, got {getattr(self, k)!r}")
        if not (self.dvgs > 0 and self.dvsb > 0 and self.vds_a > 0 and self.vds_max > 0):
            raise ValueError("IVGrid steps, vds_a and vds_max must be > 0")

    @property
    def u0(self) -> float:
        return math.sqrt(self.vds_a)

    @property
    def du(self) -> float:
        return (math.sqrt(self.vds_max + self.vds_a) - self.u0) / (self.nvds - 1)

    def vgs(self) -> np.ndarray:
        return self.vgs0 + self.dvgs * np.arange(self.nvgs)

    def vds(self) -> np.ndarray:
        u = self.u0 + self.du * np.arange(self.nvds)
        v = u * u - self.vds_a
        v[0] = 0.0
        return v

    def vsb(self) -> np.ndarray:
        return self.vsb0 + self.dvsb * np.arange(self.nvsb)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("vgs0", "dvgs", "nvgs", "vds_a", "nvds", "vds_max", "vsb0", "dvsb",
                                              "nvsb")}

    @classmethod
    def from_dict(cls, d: dict) -> "IVGrid":
        return cls(float(d["vgs0"]), float(d["dvgs"]), int(d["nvgs"]), float(d["vds_a"]), int(d["nvds"]),
                   float(d["vds_max"]), float(d["vsb0"]), float(d["dvsb"]), int(d["nvsb"]))


def f_of_current(i_abs: np.ndarray, vds: np.ndarray, temp_c: float) -> np.ndarray:
    """``ln(|I| / (1 - exp(-V_DS / U_T)))`` (``vds`` broadcast against ``i_abs``; V_DS = 0 must not occur:
    the builders sample it at a micro-volt)."""
    ut = thermal_voltage(celsius_to_kelvin(temp_c))
    return np.log(i_abs) - np.log(-np.expm1(-np.asarray(vds) / ut))


@dataclass(frozen=True, eq=False)
class IVTable:
    """``F`` of one device size in one corner: ``f[t, i_vsb, i_vds, i_vgs]`` at ``temps_c[t]``."""

    family: str
    polarity: int
    w: float
    l: float
    corner: Corner
    temps_c: tuple[float, ...]
    grid: IVGrid
    f: np.ndarray = field(repr=False)
    jgrid: tuple[float, float, int] | None = None
    """Junction diode table: (vf0, dvf, nvf), forward bias V_F = vf0 + k dvf [V] (None: no diode data)."""
    fj: np.ndarray | None = field(default=None, repr=False)
    """``fj[t, k] = ln(|J| / |exp(V_F / U_T) - 1|)``, J the diode current of one drain (or source) junction of
    the device (BSIM4 ``ibd`` without ngspice's gmin) at forward bias V_F."""
    h: np.ndarray | None = field(default=None, repr=False)
    """Threshold-shift response ``H`` [1/V] on the grid of ``f`` (module docstring; None: a pure V_GS shift)."""
    h2: np.ndarray | None = field(default=None, repr=False)
    """Its second derivative ``H2`` [1/V^2] (present exactly when ``h`` is)."""
    qg: np.ndarray | None = field(default=None, repr=False)
    """Intrinsic gate charge [C] on the grid of ``f`` in the NMOS frame (module docstring; None: no charges)."""
    qd: np.ndarray | None = field(default=None, repr=False)
    """Intrinsic drain charge [C] (present exactly when ``qg`` is)."""
    qs: np.ndarray | None = field(default=None, repr=False)
    """Intrinsic source charge [C] (present exactly when ``qg`` is)."""

    def __post_init__(self):
        g = self.grid
        shape = (len(self.temps_c), g.nvsb, g.nvds, g.nvgs)
        if self.f.shape != shape:
            raise ValueError(f"IV table {self.label()}: data shape {self.f.shape}, grid needs {shape}")
        if not np.all(np.isfinite(self.f)):
            raise ValueError(f"IV table {self.label()}: non-finite values")
        if (self.jgrid is None) != (self.fj is None):
            raise ValueError(f"IV table {self.label()}: junction grid and data go together")
        if self.fj is not None:
            vf0, dvf, nvf = self.jgrid
            if not (dvf > 0 and int(nvf) >= 2) or self.fj.shape != (len(self.temps_c), int(nvf)):
                raise ValueError(f"IV table {self.label()}: junction data shape {self.fj.shape} or grid {self.jgrid}")
            if not np.all(np.isfinite(self.fj)):
                raise ValueError(f"IV table {self.label()}: non-finite junction values")
        if (self.h is None) != (self.h2 is None):
            raise ValueError(f"IV table {self.label()}: threshold-response data h and h2 go together")
        for a in (self.h, self.h2):
            if a is not None and (a.shape != shape or not np.all(np.isfinite(a))):
                raise ValueError(f"IV table {self.label()}: threshold-response data shape {a.shape} (grid needs "
                                 f"{shape}) or non-finite values")
        if len({a is None for a in (self.qg, self.qd, self.qs)}) != 1:
            raise ValueError(f"IV table {self.label()}: charge data qg, qd and qs go together")
        for a in (self.qg, self.qd, self.qs):
            if a is not None and (a.shape != shape or not np.all(np.isfinite(a))):
                raise ValueError(f"IV table {self.label()}: charge data shape {a.shape} (grid needs {shape}) or "
                                 f"non-finite values")
        if list(self.temps_c) != sorted(set(self.temps_c)):
            raise ValueError(f"IV table {self.label()}: temperatures must be distinct and increasing")

    def label(self) -> str:
        return f"{self.family} {self.w * 1e6:g}/{self.l * 1e6:g} um {self.corner.value}"

    def matches(self, family: str, w: float, l: float, corner) -> bool:
        return (family == self.family and Corner.parse(corner) == self.corner
                and abs(w - self.w) <= SIZE_RTOL * self.w and abs(l - self.l) <= SIZE_RTOL * self.l)

    def at(self, temp_c: float, data: str = "f") -> np.ndarray:
        """The table ``data`` (``"f"``: F [vsb, vds, vgs]; ``"fj"``: the junction diode's fj [k]; ``"h"``/``"h2"``:
        H/H2; ``"qg"``/``"qd"``/``"qs"``: the intrinsic charges) at ``temp_c``: linear in 1/T between the
        bracketing tabulated temperatures (outside: the two nearest, extrapolated)."""
        data = getattr(self, data)
        ts = np.asarray(self.temps_c, dtype=float)
        if ts.size == 1:
            return data[0].astype(float)
        j = int(np.clip(np.searchsorted(ts, temp_c) - 1, 0, ts.size - 2))
        x0, x1, x = (1.0 / celsius_to_kelvin(t) for t in (ts[j], ts[j + 1], temp_c))
        a = (x - x0) / (x1 - x0)
        return (1.0 - a) * data[j].astype(float) + a * data[j + 1].astype(float)

    def padded(self, temp_c: float, data: str = "f") -> np.ndarray:
        """``F`` (``data``: ``"h"``/``"h2"``/``"qg"``/``"qd"``/``"qs"``, that array) at ``temp_c`` with one ghost
        layer on each side of every axis (linear extrapolation): shape (nvsb + 2, nvds + 2, nvgs + 2)."""
        a = self.at(temp_c, data=data)
        for ax in range(3):
            lo = 2 * np.take(a, [0], axis=ax) - np.take(a, [1], axis=ax)
            hi = 2 * np.take(a, [-1], axis=ax) - np.take(a, [-2], axis=ax)
            a = np.concatenate([lo, a, hi], axis=ax)
        return np.ascontiguousarray(a)


@dataclass(frozen=True, eq=False)
class IVTableSet:
    """The tables of a technology, with their provenance."""

    tables: tuple[IVTable, ...]
    source: str = ""
    info: dict = field(default_factory=dict)
    """Free-form provenance (ngspice version, model source, grid, command)."""
    path: str = ""

    def find(self, family: str, w: float, l: float, corner) -> IVTable | None:
        for t in self.tables:
            if t.matches(family, w, l, corner):
                return t
        return None

    def summary(self) -> dict:
        """Provenance for result metadata and ``arraysim info`` (no data)."""
        return {"file": Path(self.path).name if self.path else "", "source": self.source,
                "tables": sorted({f"{t.family} {t.w * 1e6:g}/{t.l * 1e6:g} um" for t in self.tables}),
                "corners": sorted({t.corner.value for t in self.tables}),
                "temps_c": sorted({x for t in self.tables for x in t.temps_c}), **self.info}

    def save(self, path) -> None:
        """Write an ``.npz`` (float32 data, JSON metadata); written to a temporary file and renamed, so a
        failure leaves no partial file."""
        path = Path(path)
        meta = {"format": FORMAT, "version": VERSION, "source": self.source, "info": self.info, "tables": []}
        arrays = {}
        for k, t in enumerate(self.tables):
            meta["tables"].append({"family": t.family, "polarity": t.polarity, "w": t.w, "l": t.l,
                                   "corner": t.corner.value, "temps_c": list(t.temps_c), "grid": t.grid.to_dict(),
                                   "jgrid": None if t.jgrid is None else list(t.jgrid), "h": t.h is not None,
                                   "q": t.qg is not None})
            arrays[f"f{k}"] = t.f.astype(np.float32)
            if t.h is not None:
                arrays[f"h{k}"] = t.h.astype(np.float32)
                arrays[f"hh{k}"] = t.h2.astype(np.float32)
            if t.fj is not None:
                arrays[f"j{k}"] = t.fj.astype(np.float32)
            if t.qg is not None:
                for name in ("qg", "qd", "qs"):
                    arrays[f"{name}{k}"] = _q_encode(getattr(t, name))
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta)), **arrays)
        tmp.replace(path)


Q_LSB = 1e-21
"""Resolution of the charges in a table file [C] (they are stored as integer multiples of it, differenced along
V_GS, which compresses to half the size of float32): a capacitance error below 0.1 aF on the grid's spacing."""


def _q_encode(q: np.ndarray) -> np.ndarray:
    n = np.round(np.asarray(q, dtype=float) / Q_LSB)
    if not np.all(np.abs(n) < 2 ** 30):
        raise ValueError(f"charges beyond {2 ** 30 * Q_LSB:g} C cannot be stored")
    return np.diff(n.astype(np.int64), axis=-1, prepend=0).astype(np.int32)


def _q_decode(a: np.ndarray) -> np.ndarray:
    return np.cumsum(np.asarray(a, dtype=np.int64), axis=-1).astype(float) * Q_LSB


def load_iv_tables(path) -> IVTableSet:
    """Read a table file written by :meth:`IVTableSet.save`; a clear ValueError for anything else."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: not an arraysim IV table file (format {meta.get('format')!r})")
            if int(meta.get("version", 0)) > VERSION:
                raise ValueError(f"{path}: IV table format version {meta['version']} is newer than this arraysim "
                                 f"reads ({VERSION})")
            tabs = []
            for k, m in enumerate(meta["tables"]):
                tabs.append(IVTable(m["family"], int(m["polarity"]), float(m["w"]), float(m["l"]),
                                    Corner.parse(m["corner"]), tuple(float(x) for x in m["temps_c"]),
                                    IVGrid.from_dict(m["grid"]), np.asarray(z[f"f{k}"], dtype=np.float32),
                                    *((None, None) if m.get("jgrid") is None else
                                      ((float(m["jgrid"][0]), float(m["jgrid"][1]), int(m["jgrid"][2])),
                                       np.asarray(z[f"j{k}"], dtype=np.float32))),
                                    *((np.asarray(z[f"h{k}"], dtype=np.float32),
                                       np.asarray(z[f"hh{k}"], dtype=np.float32)) if m.get("h") else (None, None)),
                                    *((_q_decode(z[f"{q}{k}"]) for q in ("qg", "qd", "qs"))
                                      if m.get("q") else (None, None, None))))
    except FileNotFoundError:
        raise ValueError(f"IV table file {str(path)!r} not found") from None
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable arraysim IV table file ({e})") from None
    except (KeyError, TypeError, json.JSONDecodeError, OSError) as e:
        raise ValueError(f"{path}: not a readable arraysim IV table file ({e})") from None
    return IVTableSet(tuple(tabs), meta.get("source", ""), meta.get("info", {}), str(path))


# columns of the kernel's per-table rows (IVTableSet -> kernel arrays: montecarlo.engine)
META_COLS = ("offset", "n_vgs", "n_vds", "n_vsb", "vgs0", "dvgs", "u0", "du", "vds_a", "vsb0", "dvsb",
             "j_offset", "n_vf", "vf0", "dvf", "h_offset", "h2_offset", "q_offset")
"""Columns of a kernel table row: the channel table (padded sizes), the junction table (``j_offset`` -1:
none; ``n_vf`` its padded size), the threshold-shift response ``H`` and ``H2`` on the channel table's
padded grid (``h_offset`` -1: none) and the intrinsic charges ``qg``, ``qd``, ``qs`` on it, one after the
other from ``q_offset`` (-1: none)."""


def kernel_rows(tabs: list[IVTable], temp_c: float, charges: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(``tab_f``: every padded table at ``temp_c`` flattened and concatenated, ``tab_meta``: one row of
    :data:`META_COLS` per table; the sizes are those of the padded arrays).  ``charges`` False: the rows carry
    no charges (``q_offset`` -1) even where the tables have them."""
    data, meta = [], []
    off = 0
    for t in tabs:
        p = t.padded(temp_c)
        g = t.grid
        row = [off, p.shape[2], p.shape[1], p.shape[0], g.vgs0, g.dvgs, g.u0, g.du, g.vds_a, g.vsb0, g.dvsb]
        data.append(p.ravel())
        off += p.size
        if t.fj is None:
            row += [-1.0, 0.0, 0.0, 1.0]
        else:
            j = t.at(temp_c, "fj")
            j = np.concatenate([[2 * j[0] - j[1]], j, [2 * j[-1] - j[-2]]])
            row += [off, j.size, t.jgrid[0], t.jgrid[1]]
            data.append(j)
            off += j.size
        if t.h is None:
            row += [-1.0, -1.0]
        else:
            for name in ("h", "h2"):
                row.append(off)
                data.append(t.padded(temp_c, name).ravel())
                off += data[-1].size
        if t.qg is None or not charges:
            row.append(-1.0)
        else:
            row.append(off)
            for name in ("qg", "qd", "qs"):
                data.append(t.padded(temp_c, name).ravel())
                off += data[-1].size
        meta.append(tuple(row))
    f = np.concatenate(data) if data else np.zeros(1)
    return np.ascontiguousarray(f, dtype=float), np.array(meta, dtype=float).reshape(-1, len(META_COLS))

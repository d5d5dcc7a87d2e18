"""Technology sets as JSON files (written by ``arraysim calibrate``, read by ``get_technology(path)``).

Schema (``format`` and ``version`` identify it; all values SI units, as the dataclass fields)::

    {
      "format": "arraysim-technology", "version": 1,
      "name": str, "description": str, "source": str,
      "vdd_nominal": V, "l_min": m, "l_min_thick": m, "w_min": m (optional, default 0),
      "overlap_coupling": bool (optional, default false: the PCSA design default of that option),
      "sigma_vt_global": V, "sigma_beta_global": 1,
      "nmos" | "pmos" | "nmos_thick": {every MosParams field: polarity, vt0 [V], n, kp [A/V^2],
                                        theta [1/V], lam [1/V], eta [V/V], l_ref [m], dvt_dt [V/K],
                                        mob_exp, cox [F/m^2], cov [F/m], cj [F/m], a_vt [V m], a_beta [m],
                                        gamma [V^0.5], phi [V], kbody [V/V] or null (optional: the
                                        body-effect law; absent = 0, 0.8, null: none),
                                        gjun [S] (optional: junction shunt, absent = 0),
                                        vsat [1/V] (optional: velocity saturation, absent = 0),
                                        n_strong or null, tau (optional: two slope factors,
                                        absent = null, 4: one slope factor),
                                        dibl_v0 [V] (optional: knee of the square-root DIBL law,
                                        eta then in V/V^0.5; absent = 0: linear DIBL),
                                        t_corr (optional: [[temp_c, dvt V, mu, n], ...] per-temperature
                                        corrections, absent = none),
                                        cinv [F/m^2] (optional: inverted-channel capacitance per area,
                                        absent = 0: cox),
                                        cj0 [F/m], mj, pb [V] (optional: voltage-dependent junction
                                        law, absent = 0: none), tcj [1/K], tpb [V/K] (optional: its
                                        temperature coefficients, absent = 0), cgdo [F/m], cgdl [F/m],
                                        ckappa [V] (optional: BSIM4's bias-dependent overlap law,
                                        absent = 0, 0, 0.6: none)},
      "corners": {"tt": {"dvt_n": V, "dvt_p": V, "mu_n": 1, "mu_p": 1, "cj_n": 1, "cj_p": 1 (optional:
                 junction-capacitance factors, absent = 1), "n_n": 1, "n_p": 1 (optional: slope-factor
                 factors, absent = 1)}, "ff": {...}, ...},
      "bins": {                 optional: size-specific parameter sets (DeviceBin), per family
        "nmos": [{"w": m, "l": m, "params": {every MosParams field, as a family},
                  "corners": {"tt": {"dvt": V, "mu": 1, "cj": 1, "n": 1}, ...}  optional (cj, n too)
                  "corner_params": {"ff": {every MosParams field}, ...}  optional: the bin's own
                                        parameter set at a corner (DeviceBin.corner_params)
                 }, ...], "pmos": [...], "nmos_thick": [...]},
      "iv_tables": "FILE.npz"   optional: tabulated channel currents (arraysim.cmos.ivtables), path relative
                                to this file
      "calibration": {...}      optional, free form: fit-error table, extracted caps, Pelgrom data
    }

Every MosParams field is required (no silent defaults) except the body-effect law ``gamma``/``phi``/``kbody``
the junction shunt ``gjun``, the velocity-saturation coefficient ``vsat``, the strong-inversion slope factor
``n_strong``/``tau`` and the DIBL knee ``dibl_v0``, which files written before them lack (no body law / no
shunt / theta lumping velocity saturation / one slope factor / linear DIBL: the model they were fitted with); unknown keys in a family are an error, unknown
top-level keys are ignored (forward compatible).  ``l_min``/``l_min_thick``/``w_min`` default to the
dataclass defaults when absent; ``bins`` defaults to none (one parameter set per family, as files written
before bins existed; a reader that predates bins ignores the key and uses the family defaults).  A bin's
polarity must be its family's; two bins of one family may not have the same size (within
``params.SIZE_RTOL``); a corner a bin does not list uses the technology's corner shift of its polarity.  A
bin's ``corner_params`` follow the rules of a family's parameters and must have the bin's polarity; at a corner
without one the bin's ``params`` apply.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

from ..options import Corner
from .params import FAMILIES, CornerShift, DeviceBin, DeviceShift, MosParams, Technology

FORMAT = "arraysim-technology"
VERSION = 1
_MOS_FIELDS = tuple(f.name for f in dataclasses.fields(MosParams))
_CS_FIELDS = tuple(f.name for f in dataclasses.fields(CornerShift))
_MOS_OPTIONAL = ("gamma", "phi", "kbody", "gjun", "vsat", "n_strong", "tau", "dibl_v0", "t_corr", "cinv", "cj0", "mj", "pb",
                 "tcj", "tpb", "cgdo", "cgdl", "ckappa")


def technology_to_dict(tech: Technology, calibration: dict | None = None, base_dir=None) -> dict:
    """The file's JSON object.  ``iv_tables``: the table file's path relative to ``base_dir`` (the directory
    the JSON is written to; None: the current directory)."""
    d = {"format": FORMAT, "version": VERSION}
    d.update(tech.to_dict())
    if tech.iv_tables is not None:
        if not tech.iv_tables.path:
            raise ValueError("technology: its IV tables have no file (save them before the technology)")
        d["iv_tables"] = os.path.relpath(os.path.abspath(tech.iv_tables.path), os.path.abspath(base_dir or "."))
    if calibration is not None:
        d["calibration"] = calibration
    return d


def technology_to_json(tech: Technology, calibration: dict | None = None, base_dir=None) -> str:
    from ..io.tables import jsonable
    return json.dumps(jsonable(technology_to_dict(tech, calibration, base_dir)), indent=1, allow_nan=False) + "\n"


def _num(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise ValueError(f"technology file: {what} must be a finite number, got {v!r}")
    return float(v)


def _mos(d, fam: str) -> MosParams:
    if not isinstance(d, dict):
        raise ValueError(f"technology file: '{fam}' must be an object with the fields {', '.join(_MOS_FIELDS)}")
    missing = [f for f in _MOS_FIELDS if f not in d and f not in _MOS_OPTIONAL]
    extra = [k for k in d if k not in _MOS_FIELDS]
    if missing or extra:
        raise ValueError(f"technology file: '{fam}' " + (f"lacks {', '.join(missing)}" if missing else "")
                         + ("; " if missing and extra else "") + (f"has unknown {', '.join(extra)}" if extra
                                                                  else ""))
    kw = {f: _num(d[f], f"{fam}.{f}") for f in _MOS_FIELDS
          if f in d and f != "t_corr" and not (f in ("kbody", "n_strong") and d[f] is None)}
    if "t_corr" in d:
        rows = d["t_corr"]
        if not isinstance(rows, (list, tuple)) or any(not isinstance(r, (list, tuple)) or len(r) != 4 for r in rows):
            raise ValueError(f"technology file: {fam}.t_corr must be a list of [temp_c, dvt, mu, n] rows")
        kw["t_corr"] = tuple(tuple(_num(x, f"{fam}.t_corr[{i}]") for x in r) for i, r in enumerate(rows))
    pol = int(kw.pop("polarity"))
    if pol not in (1, -1):
        raise ValueError(f"technology file: {fam}.polarity must be +1 or -1")
    try:
        p = MosParams(polarity=pol, **kw)
    except ValueError as e:
        raise ValueError(f"technology file: {fam}: {e}") from None
    for f in ("n", "kp", "l_ref"):
        if getattr(p, f) <= 0:
            raise ValueError(f"technology file: {fam}.{f} must be > 0")
    for f in ("theta", "lam", "eta", "cox", "cov", "cj", "a_vt", "a_beta", "cinv", "cj0"):
        if getattr(p, f) < 0:
            raise ValueError(f"technology file: {fam}.{f} must be >= 0")
    return p


def _bins(d, fams: dict) -> tuple[DeviceBin, ...]:
    if not isinstance(d, dict) or any(k not in FAMILIES for k in d):
        raise ValueError(f"technology file: 'bins' must be an object {{family: [bin, ...]}} with families "
                         f"{', '.join(FAMILIES)}")
    out: list[DeviceBin] = []
    for fam, lst in d.items():
        if not isinstance(lst, list):
            raise ValueError(f"technology file: bins.{fam} must be a list")
        for i, b in enumerate(lst):
            what = f"bins.{fam}[{i}]"
            if not isinstance(b, dict) or any(k not in ("w", "l", "params", "corners", "corner_params") for k in b) \
                    or any(k not in b for k in ("w", "l", "params")):
                raise ValueError(f"technology file: {what} must be an object with w, l, params "
                                 "(and optionally corners, corner_params)")
            w, l = _num(b["w"], f"{what}.w"), _num(b["l"], f"{what}.l")
            if w <= 0 or l <= 0:
                raise ValueError(f"technology file: {what}: w and l must be > 0")
            p = _mos(b["params"], f"{what}.params")
            if p.polarity != fams[fam].polarity:
                raise ValueError(f"technology file: {what}.params.polarity differs from {fam}'s")
            cs = []
            for c, v in (b.get("corners") or {}).items():
                if not isinstance(v, dict) or any(x not in ("dvt", "mu", "cj", "n") for x in v):
                    raise ValueError(f"technology file: {what}.corners.{c} must hold only dvt, mu, cj, n")
                sh = DeviceShift(**{x: _num(v[x], f"{what}.corners.{c}.{x}") for x in v})
                if sh.mu <= 0:
                    raise ValueError(f"technology file: {what}.corners.{c}.mu must be > 0")
                cs.append((Corner.parse(c), sh))
            cps = b.get("corner_params") or {}
            if not isinstance(cps, dict):
                raise ValueError(f"technology file: {what}.corner_params must be an object {{corner: params}}")
            cp = []
            for c, v in cps.items():
                q = _mos(v, f"{what}.corner_params.{c}")
                if q.polarity != p.polarity:
                    raise ValueError(f"technology file: {what}.corner_params.{c}.polarity differs from {fam}'s")
                cp.append((Corner.parse(c), q))
            new = DeviceBin(family=fam, w=w, l=l, params=p, corners=tuple(cs), corner_params=tuple(cp))
            if any(o.matches(fam, w, l) for o in out):
                raise ValueError(f"technology file: {what}: two bins of {fam} for {w:g} x {l:g} m")
            out.append(new)
    return tuple(out)


def technology_from_dict(d: dict) -> Technology:
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"not an arraysim technology file (expected \"format\": \"{FORMAT}\")")
    if int(d.get("version", 0)) > VERSION:
        raise ValueError(f"technology file version {d.get('version')} is newer than this arraysim "
                         f"understands ({VERSION})")
    for k in ("name", "vdd_nominal", "nmos", "pmos", "nmos_thick", "corners"):
        if k not in d:
            raise ValueError(f"technology file lacks '{k}'")
    corners = []
    if not isinstance(d["corners"], dict) or not d["corners"]:
        raise ValueError("technology file: 'corners' must be an object {corner: {dvt_n, dvt_p, mu_n, mu_p}}")
    for k, v in d["corners"].items():
        c = Corner.parse(k)
        if not isinstance(v, dict) or any(x not in _CS_FIELDS for x in v):
            raise ValueError(f"technology file: corner {k!r} must hold only {', '.join(_CS_FIELDS)}")
        cs = CornerShift(**{x: _num(v[x], f"corners.{k}.{x}") for x in v})
        if cs.mu_n <= 0 or cs.mu_p <= 0:
            raise ValueError(f"technology file: corner {k!r} mobility factors must be > 0")
        corners.append((c, cs))
    extra = {}
    for k in ("l_min", "l_min_thick", "w_min"):
        if k in d:
            extra[k] = _num(d[k], k)
            if extra[k] < 0 or (extra[k] == 0 and k != "w_min"):
                raise ValueError(f"technology file: {k} must be > 0")
    if "overlap_coupling" in d:
        if not isinstance(d["overlap_coupling"], bool):
            raise ValueError("technology file: overlap_coupling must be true or false")
        extra["overlap_coupling"] = d["overlap_coupling"]
    fams = {f: _mos(d[f], f) for f in FAMILIES}
    if "bins" in d:
        extra["bins"] = _bins(d["bins"], fams)
    tech = Technology(
        name=str(d["name"]), description=str(d.get("description", "")), source=str(d.get("source", "")),
        vdd_nominal=_num(d["vdd_nominal"], "vdd_nominal"), **fams,
        corners=tuple(corners), sigma_vt_global=_num(d.get("sigma_vt_global", 0.0), "sigma_vt_global"),
        sigma_beta_global=_num(d.get("sigma_beta_global", 0.0), "sigma_beta_global"), **extra)
    if tech.vdd_nominal <= 0:
        raise ValueError("technology file: vdd_nominal must be > 0")
    return tech


def load_technology(path) -> Technology:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"cannot read technology file {str(p)!r}: {e.strerror or e}") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"technology file {str(p)!r} is not valid JSON: {e}") from None
    try:
        tech = technology_from_dict(d)
        if d.get("iv_tables") is not None:
            if not isinstance(d["iv_tables"], str):
                raise ValueError("'iv_tables' must be the path of a table file (relative to the technology file)")
            from .ivtables import load_iv_tables
            tech = dataclasses.replace(tech, iv_tables=load_iv_tables(p.parent / d["iv_tables"]))
        return tech
    except (TypeError, KeyError) as e:
        raise ValueError(f"technology file {str(p)!r}: {e}") from None
    except ValueError as e:
        raise ValueError(f"{str(p)!r}: {e}") from None


def save_technology(tech: Technology, path, calibration: dict | None = None) -> None:
    """Write atomically (temporary file + rename)."""
    from ..io.tables import atomic_write
    atomic_write(Path(path), technology_to_json(tech, calibration, Path(path).parent).encode())

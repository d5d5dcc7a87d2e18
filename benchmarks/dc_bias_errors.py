"""Signed DC current error of the calibrated compact model against its SPICE models, at chosen biases.

    python benchmarks/dc_bias_errors.py [--technology sky130] [--corner tt sf fs] [--temp -40 27 125]
                                        [--vgs 0.5 0.6 0.7 0.8 1.0 1.2 1.8] [--vds 0.45 0.9] [--vsb 0]
                                        [--out FILE]

For every device size the technology has a parameter set for (its bins, else the family defaults), every
corner and temperature: ngspice DC sweeps of the foundry models (the calibration's own decks,
``arraysim.spice.calibrate.iv_sweep``; SKY130 found as ``arraysim calibrate --pdk sky130`` finds it), and the
kernel's current for the same points (``calibrate.model_current``: the parameter row the kernel uses at that
corner and temperature).  Prints ``100 (I_model / I_SPICE - 1)`` at each (V_GS, V_DS) of the grid (the nearest
swept point: V_GS steps of 25 mV, 11 V_DS values from 50 mV to VDD) and the median |error| per region, as the
calibration report does.  The calibration report gives medians and maxima per region; this table shows the
sign and where along V_GS the error sits, e.g. which devices are too strong at the gate drive a read works at.
"""
from __future__ import annotations

import argparse

import numpy as np

from _report import emit


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--technology", default="sky130", help="sky130 or a technology file calibrated against it")
    p.add_argument("--pdk", default=None, help="SKY130 location (default: as arraysim calibrate finds it)")
    p.add_argument("--corner", nargs="+", default=["tt", "sf", "fs"])
    p.add_argument("--temp", nargs="+", type=float, default=[-40.0, 27.0, 125.0])
    p.add_argument("--vgs", nargs="+", type=float, default=[0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.8])
    p.add_argument("--vds", nargs="+", type=float, default=[0.45, 0.9])
    p.add_argument("--vsb", type=float, default=0.0, help="source-bulk reverse bias [V] (default 0)")
    p.add_argument("--out", default=None, help="also write the table to this text file")
    a = p.parse_args(argv)

    from arraysim.cmos.technologies import get_technology
    from arraysim.spice import calibrate as cal

    tech = get_technology(a.technology)
    if tech.name != "sky130":  # the shipped set or a file calibrated with 'arraysim calibrate --pdk sky130'
        raise SystemExit("only sky130 technologies have their SPICE source wired here (arraysim calibrate --pdk)")
    src = cal.sky130_source(a.pdk)
    data = cal.iv_sweep(src, corners=a.corner, temps=tuple(a.temp), threads=1, vsbs=(a.vsb,))
    lines = [f"technology {tech.name}; SPICE: {src.description}; V_SB = {a.vsb:g} V",
             "error = 100 (I_model / I_SPICE - 1) at V_GS [V] (columns) and V_DS (nearest swept value); "
             "w/m/s = median |relative error| [%] over the fitted points, weak/moderate/strong "
             "(calibrate.error_table, as the calibration report)"]
    head = " ".join(f"{v:>6g}" for v in a.vgs)
    fams = {f: tech.family(f) for f in cal.FAMILIES}
    table = cal.error_table(fams, data, {c.value: cs for c, cs in tech.corners}, tech.bins)
    medians = {(r["family"], r["w_um"], r["l_um"], r["corner"], r["temp_c"], r["region"]): r["median_rel_err"]
               for r in table}
    for d in data:
        im = cal.model_current(tech.device(d.family, d.w, d.l, d.corner), d,
                               tech.device_shift(d.family, d.w, d.l, d.corner))
        med = [100 * medians[(d.family, round(d.w * 1e6, 4), round(d.l * 1e6, 4), d.corner, d.temp_c, reg)]
               for reg in cal.REGION_NAMES]
        for vd in a.vds:
            vds_near = d.vds[np.argmin(np.abs(d.vds - vd))]
            row = []
            for vg in a.vgs:
                k = np.nonzero((np.abs(d.vds - vds_near) < 1e-9) & (np.abs(d.vgs - vg) < 0.0126))[0]
                row.append(f"{100 * (im[k[0]] / d.ids[k[0]] - 1):+6.0f}" if k.size else f"{'-':>6}")
            lines.append(f"{d.family:10s} {d.w * 1e6:4.2f}/{d.l * 1e6:4.2f} {d.corner} {d.temp_c:5.0f} C "
                         f"V_DS {vds_near:4.2f}: {' '.join(row)}   w/m/s {med[0]:4.1f} {med[1]:4.1f} {med[2]:4.1f}")
    lines.insert(2, f"{'':40s}V_GS {head}")
    emit(lines, a.out)


if __name__ == "__main__":
    main()

"""Small-signal node capacitances of the sky130 read circuit: the kernel's mass matrix against BSIM4's (ngspice AC).

    python benchmarks/node_capacitance.py [--rows 2 32] [--temp 27] [--corner tt] [--sweep] [--common-mode]
                                          [--out FILE]

At a few DC states of the nominal instance (every transistor at its nominal threshold and current factor), the
diagonal of the kernel's mass matrix ``M = C + dq/dV`` (:func:`arraysim.kernels.transient._charges`: constant
capacitances, BSIM4's tabulated intrinsic charges, junction charges) against ngspice's: the validate deck with
SE at DC, every outer node (Q, QB, BL, BLB, SL) held by a voltage source at its state value, an AC volt on one of
them, ``C = -Im(I) / (2 pi f)`` at f = 100 MHz.  The cells' RRAMs are 10 ohm so that the internal nodes M and MB
(which no source can hold) follow SL; SL's figure then includes M's and MB's capacitance, the kernel's does not
(left out).  ``--rows``: column heights to compare (the unselected cells are one leakage device of
multiplicity rows - 1 per bit line).  The measurement is :func:`arraysim.spice.capacitance.node_capacitance`.
"""
from __future__ import annotations

import argparse

import numpy as np

from _report import emit

OUTER = ("Q", "QB", "BL", "BLB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", nargs="+", type=int, default=[2, 32])
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--corner", default="tt")
    p.add_argument("--sweep", action="store_true",
                   help="also the bit line's capacitance per unselected-cell device (the difference between the "
                        "first two --rows, per device) over its drain bias, SE low, Q = QB = 1.2 V")
    p.add_argument("--common-mode", action="store_true", dest="common_mode",
                   help="also the capacitance of BL, BLB, SL (and M, MB) moving together from 0 to 0.78 V (the "
                        "precharge of a 1.2 V read, Q = QB = 1.2 V, SE low) and the charge it holds, every --rows")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)

    from arraysim.api import simulator
    from arraysim.spice.capacitance import node_capacitance
    from arraysim.spice.runner import ngspice_version

    T, c, f = a.temp, a.corner, 1e8

    def both(sim, vdd, se, st, node, group=None):
        """(kernel, BSIM4) capacitance [F] of ``node`` (or of the ``group`` of outer nodes moving together)."""
        return node_capacitance(sim, vdd, se, st, tuple(group) if group else (node,), T, c, freq=f)

    lines = [f"node capacitance [fF], kernel mass-matrix diagonal vs BSIM4 (ngspice AC at {f:g} Hz, "
             f"{ngspice_version()}), nominal sky130 instance, {T} degC {c}"]
    states = [("precharged, SE low", 1.2, 0.0, dict(Q=1.2, QB=1.2, BL=0.05, BLB=0.05, M=0.05, MB=0.05, SL=0.0)),
              ("latched, SE high", 1.2, 1.2, dict(Q=0.0, QB=1.2, BL=0.0, BLB=0.0, M=0.0, MB=0.0, SL=0.0)),
              ("precharged, SE low", 0.8, 0.0, dict(Q=0.8, QB=0.8, BL=0.05, BLB=0.05, M=0.05, MB=0.05, SL=0.0))]
    sims = {rows: simulator("sky130", rows=rows) for rows in a.rows}
    for rows, sim in sims.items():
        for label, vdd, se, st in states:
            row = [f"rows {rows:>3}, VDD {vdd} V, {label:<19}"]
            for node in OUTER:
                ck, cs = both(sim, vdd, se, st, node)
                row.append(f"{node} {ck * 1e15:7.3f} / {cs * 1e15:7.3f} ({100 * (cs / ck - 1):+5.1f} %)")
            lines.append("  ".join(row))
    lines.append("each entry: kernel / BSIM4 (BSIM4/kernel - 1)")
    if a.sweep and len(a.rows) >= 2:
        r0, r1 = a.rows[:2]
        lines.append(f"bit-line capacitance per unselected-cell device [aF] ((C_BL at rows {r1} - at rows {r0}) / "
                     f"{r1 - r0}), SE low, Q = QB = 1.2 V, M = MB = SL")
        for vsl in (0.0, 0.3):
            for vds in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0):
                st = dict(Q=1.2, QB=1.2, BL=vds + vsl, BLB=vds + vsl, M=vsl, MB=vsl, SL=vsl)
                (k0, s0), (k1, s1) = (both(sims[r], 1.2, 0.0, st, "BL") for r in (r0, r1))
                k, sp = (k1 - k0) / (r1 - r0), (s1 - s0) / (r1 - r0)
                lines.append(f"  V_SL {vsl:.1f} V, V_BL - V_SL {vds:4.2f} V: kernel {k * 1e18:6.1f}  BSIM4 {sp * 1e18:6.1f}"
                             f"  ({(sp - k) * 1e18:+5.1f})")
    for rows, sim in sims.items() if a.common_mode else ():
        vs = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.78)
        lines.append(f"common mode: BL = BLB = SL = M = MB at V, rows {rows}, SE low, Q = QB = 1.2 V [fF]")
        ks, ss = [], []
        for v in vs:
            st = dict(Q=1.2, QB=1.2, BL=v, BLB=v, M=v, MB=v, SL=v)
            k, sp = both(sim, 1.2, 0.0, st, "BL", ("BL", "BLB", "SL"))
            ks.append(k)
            ss.append(sp)
            lines.append(f"  V {v:4.2f}: kernel {k * 1e15:7.3f}  BSIM4 {sp * 1e15:7.3f}  ({100 * (sp / k - 1):+5.2f} %)")
        qk, qs = np.trapezoid(ks, vs), np.trapezoid(ss, vs)
        lines.append(f"  charge 0 -> {vs[-1]} V: kernel {qk * 1e15:.3f} fC  BSIM4 {qs * 1e15:.3f} fC  "
                     f"({100 * (qs / qk - 1):+.2f} %)")
    emit(lines, a.out)


if __name__ == "__main__":
    main()

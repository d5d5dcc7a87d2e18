"""The kernel's tabulated intrinsic drain capacitance against BSIM4's near V_DS = 0 (sky130).

    python benchmarks/intrinsic_cdd.py [--vs 0.05] [--out FILE]

For the devices on a bit line (selected access NMOS on, gate 1.8 V; unselected-cell NMOS off, gate 0 V; latch
NMOS on, gate 1.2 V), nominal threshold, 27 degC tt, source at ``--vs``: ``dq_D/dV_D`` of the kernel's table
charges (:func:`arraysim.kernels.devices.mos_table_charges`, the derivative the mass matrix takes) against BSIM4's
operating-point ``cdd`` (intrinsic, ngspice ``.op``) at V_DS from 0 to 0.2 V.  Overlap and junction capacitances
are not part of either figure.  Then, for the unselected-cell device (gate 0 V) with drain and source moving
together (V_DS = 0, as in the precharge): the tables' common-mode ``d(q_D + q_S)/dV`` against BSIM4's
``cdd + cds + csd + css``, and BSIM4's source-junction ``capbs`` of that device as the decks instantiated it
until stop 26 (``as = ps = 0``: BSIM4 keeps the gate-edge sidewall part, which the kernel did not model).  Since
stop 26 both simulators carry the unselected cells' whole source junctions on SL (AS = AD in the decks).
"""
from __future__ import annotations

import argparse
import re

import numpy as np

from _report import emit

DEVICES = (("MA_BL", "nmos_thick", 1.8), ("ML_BL", "nmos_thick", 0.0), ("MN_X_Q", "nmos", 1.2))
VDS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vs", type=float, default=0.05)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)

    from arraysim.api import simulator
    from arraysim.kernels.devices import mos_table_charges
    from arraysim.spice import calibrate as cal
    from arraysim.spice.runner import ngspice_version

    sim = simulator("sky130", rows=2)
    tabs = sim.tabs_at(27.0, "tt")
    vt = sim.nominal_elements(27.0, "tt")[0]
    src = cal.sky130_source()
    devs = {d.family: d for d in src.devices}
    lines = [f"intrinsic drain capacitance dq_D/dV_D [aF], kernel table vs BSIM4 op-point cdd ({ngspice_version()}), "
             f"sky130 27 degC tt, nominal threshold, V_S = {a.vs} V, bulk 0"]
    for name, fam, vg in DEVICES:
        m = sim.transistor_names.index(name)
        tb = tabs[0][m]
        w, l = sim.tables.mos[m].size.w, sim.tables.mos[m].size.l
        lines.append(f"{name} ({fam} {w * 1e6:g}/{l * 1e6:g} um, V_G {vg} V)")
        for vds in VDS:
            vd = a.vs + vds
            qa, qt, dq = np.empty((3, 4)), np.empty(4), np.empty((4, 4))
            mos_table_charges(1, vd, vg, a.vs, 0.0, vt[m] - tabs[1][m, 0], tabs[2], tabs[3][tb], qa, qt, dq)
            dev = devs[fam]
            deck = ["* intrinsic cdd", src.include["tt"], ".temp 27", f"vg g 0 {vg}", f"vd d 0 {vd}", f"vs s 0 {a.vs}",
                    cal._inst(dev, "c0", "d", "g", "s", "0", w, l), ".save " + cal._opvar(dev, 0, "cdd"), ".op",
                    ".end"]
            cdd = float(np.ravel(cal.run_deck("\n".join(deck) + "\n")[cal._opvar(dev, 0, "cdd").lower()])[0])
            lines.append(f"  V_DS {vds:5.3f} V: kernel {dq[0, 0] * 1e18:8.2f}  BSIM4 {cdd * 1e18:8.2f}  "
                         f"({(dq[0, 0] - cdd) * 1e18:+6.2f})")
    m = sim.transistor_names.index("ML_BL")
    tb = tabs[0][m]
    w, l = sim.tables.mos[m].size.w, sim.tables.mos[m].size.l
    dev = devs["nmos_thick"]
    keys = ("cdd", "cds", "csd", "css", "capbs")
    lines.append("ML_BL common mode (V_D = V_S = V, gate and bulk 0): tables d(q_D + q_S)/dV vs BSIM4 "
                 "cdd + cds + csd + css; BSIM4 capbs with as = ps = 0 (the decks' instance) [aF]")
    for v in (0.1, 0.2, 0.4, 0.6, 0.78):
        qa, qt, dq = np.empty((3, 4)), np.empty(4), np.empty((4, 4))
        mos_table_charges(1, v, 0.0, v, 0.0, vt[m] - tabs[1][m, 0], tabs[2], tabs[3][tb], qa, qt, dq)
        inst = re.sub(r" (as|ps)=\S+", r" \1=0", cal._inst(dev, "c0", "d", "0", "s", "0", w, l))
        deck = ["* common mode", src.include["tt"], ".temp 27", f"vd d 0 {v}", f"vs s 0 {v}", inst,
                ".save " + " ".join(cal._opvar(dev, 0, k) for k in keys), ".op", ".end"]
        vec = cal.run_deck("\n".join(deck) + "\n")
        c = {k: float(np.ravel(vec[cal._opvar(dev, 0, k).lower()])[0]) for k in keys}
        cm_k = dq[0, 0] + dq[0, 2] + dq[2, 0] + dq[2, 2]
        cm_b = c["cdd"] + c["cds"] + c["csd"] + c["css"]
        lines.append(f"  V {v:4.2f}: tables {cm_k * 1e18:6.2f}  BSIM4 {cm_b * 1e18:6.2f}   capbs {c['capbs'] * 1e18:6.2f}")
    emit(lines, a.out)


if __name__ == "__main__":
    main()

"""How good is the lumped source line?  The unselected cells' nodes on SL (both simulators) against explicit
cell-group nodes behind their RRAMs (ngspice, SKY130 BSIM4).

    python benchmarks/unselected_cells_rc.py [--samples 10] [--hrs-sigmas 0 3] [--out FILE]

Since stop 26 both simulators put the 2 (rows - 1) unselected cells' source junctions and cell nodes
(``c_cell_node``) directly on SL, neglecting the RRAM between each cell node and SL (as for their leakage).
Here the validate deck of each instance is run twice in ngspice: as validate runs it, and with each column's
unselected cells split into an LRS group and an HRS group of (rows - 1) / 2 cells, each group on its own node
joined to SL by the group's RRAMs in parallel (R / k, the same sinh law), with the group's cell-node capacitance
on that node (and SL's ``csl`` less those).  Unselected LRS at the LRS median, HRS at the HRS median times
``exp(k sigma)`` for each ``--hrs-sigmas`` k (at the read temperature).  Prints the delay and energy change of
the explicit deck against the lumped one per condition: the error of the lumped approximation.  A first row per condition puts both groups behind 1 Ohm: the split
deck must then reproduce the lumped one (a check of the deck surgery).
"""
from __future__ import annotations

import argparse
import re

import numpy as np

from _report import emit


def split_column(text: str) -> str:
    """The deck text with the sky130 2T2R column's unselected transistors split into explicit LRS/HRS group
    nodes (subcircuit ``col2t2r_sky130_rc``; instance parameters ``rl_u vl_u rh_u vh_u``)."""
    i0 = text.index(".subckt col2t2r_sky130")
    i1 = text.index(".ends col2t2r_sky130", i0) + len(".ends col2t2r_sky130")
    sub = text[i0:i1].replace("col2t2r_sky130", "col2t2r_sky130_rc")
    sub = sub.replace("+ cbl=5f", "+ rl_u=7e3 vl_u=1 rh_u=6e4 vh_u=0.3 cbl=5f", 1)
    out = []
    for line in sub.splitlines():
        m = re.match(r"XML_(BLB?) (\S+) 0 sl 0 (.*) mult=\{mult\}$", line)
        if not m:
            out.append(line)
            continue
        side, bl, rest = m.group(1).lower(), m.group(2), m.group(3)
        for g, r, v in (("l", "rl_u", "vl_u"), ("h", "rh_u", "vh_u")):
            node = f"u{g}_{side}"
            out += [f"XML{g}_{side} {bl} 0 {node} 0 {rest} mult={{mult/2}}",
                    f"XRU{g}_{side} {node} sl rram r={{2*{r}/mult}} vnl={{{v}}}",
                    f"CU{g}_{side} {node} 0 {{cm*mult/2}}", f"RGU{g}_{side} {node} 0 {{1/gmin}}"]
    return text[:i1] + "\n" + "\n".join(out) + text[i1:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--hrs-sigmas", type=float, nargs="+", default=[0.0, 3.0])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)

    from arraysim.api import simulator
    from arraysim.devices.rram import Programming
    from arraysim.montecarlo.sampling import draw_instances
    from arraysim.options import ALL_VARIABILITY, Cell
    from arraysim.spice.netlist import _f, build_deck, measure
    from arraysim.spice.runner import ngspice_version, run

    sim = simulator("sky130")
    d = sim.design
    prog = Programming()
    mu_l, _ = sim.rram.log_stats(prog, lrs=True)
    mu_h, s_h = sim.rram.log_stats(prog, lrs=False)
    rng = np.random.default_rng(a.seed)
    conds = [(1.8, 27.0, "tt"), (1.2, -40.0, "tt"), (1.2, 27.0, "tt"), (0.8, 27.0, "tt"), (0.8, 125.0, "tt")]
    lines = [f"lumped vs explicit unselected-cell nodes, sky130 BSIM4 ({ngspice_version()}), {a.samples} instances "
             f"per condition (seed {a.seed}); explicit/lumped - 1, median [max |.|] over resolved reads"]
    c_sl_cells = 2 * (d.rows - 1) * d.c_cell_node
    for vdd, temp, corner in conds:
        tk = temp + 273.15
        inst = draw_instances(rng, a.samples, sim, temp, prog, Cell.C2T2R, ALL_VARIABILITY)
        base = []
        for k in range(a.samples):
            deck = build_deck(sim, vdd, temp, corner, inst.dvt[[k]], inst.dbeta[[k]], inst.r_bl[[k]],
                              inst.r_blb[[k]], False, "sky130", np.array([60e-9]))
            base.append((deck, measure(deck, run(deck.text))))
        for ks in [None] + list(a.hrs_sigmas):  # None: both groups behind 1 ohm, the check (must give ~0)
            rlu = 1.0 if ks is None else float(sim.rram.at_temperature(np.exp(mu_l), tk))
            rhu = 1.0 if ks is None else float(sim.rram.at_temperature(np.exp(mu_h + ks * s_h), tk))
            extra = (f" rl_u={_f(rlu)} vl_u={_f(float(sim.rram.vnl(rlu)))} rh_u={_f(rhu)} "
                     f"vh_u={_f(float(sim.rram.vnl(rhu)))}")
            dd, de = [], []
            for deck, ref in base:
                text = split_column(deck.text)
                text = re.sub(r"(XCOL_0 [^\n]*?) wl col2t2r_sky130 ([^\n]*)",
                              lambda mm: f"{mm.group(1)} wl col2t2r_sky130_rc {mm.group(2)}{extra}", text)
                text = re.sub(r"(XSA_0 [^\n]*?)csl=(\S+)",
                              lambda mm: f"{mm.group(1)}csl={_f(float(mm.group(2)) - c_sl_cells)}", text)
                got = measure(deck, run(text))
                if np.isfinite(ref["delay"][0]) and np.isfinite(got["delay"][0]):
                    dd.append(got["delay"][0] / ref["delay"][0] - 1)
                    de.append(got["energy"][0] / ref["energy"][0] - 1)
            dd, de = np.array(dd), np.array(de)
            what = ("check: both groups behind 1 Ohm" if ks is None else
                    f"unselected HRS {rhu / 1e3:7.1f} kOhm (median x exp({ks:g} sigma)), LRS {rlu / 1e3:.1f} kOhm")
            lines.append(f"  {vdd} V {temp:+.0f} degC {corner}, {what}: {dd.size} resolved; delay "
                         f"{100 * np.median(dd):+.2f} % [{100 * np.max(np.abs(dd)):.2f}], energy "
                         f"{100 * np.median(de):+.2f} % [{100 * np.max(np.abs(de)):.2f}]" if dd.size else
                         f"  {vdd} V {temp:+.0f} degC {corner}: no resolved read")
    emit(lines, a.out)


if __name__ == "__main__":
    main()

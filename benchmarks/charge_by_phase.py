"""Supply charge of one read, phase by phase, in the kernel and in ngspice (SKY130): where an energy difference arises.

    python benchmarks/charge_by_phase.py [--vdd 1.2 0.8] [--temp 27] [--corner tt] [--r-bl 7e3] [--r-blb 1e5]
                                         [--out FILE]

The nominal instance (no mismatch) of the ``sky130`` technology, kernel trajectory (``ReadSimulator.waveform``)
and the same deck ngspice runs for ``arraysim validate`` (``spice.netlist.build_deck``; its options, the
kernel's cycle length).  Prints the charge drawn from VDD [fC] in each phase -- SE rise, regeneration (the
first ns of the sense), rest of the sense window, SE fall, precharge until the kernel's end of cycle -- and
the outputs at the phase boundaries.

The kernel holds the constant capacitances between a node and the VDD rail (the PMOS drain junctions' constant
part on Q/QB, the gate overlaps of the latch and precharge PMOS to their sources) as grounded capacitors: over a
cycle their supply charge returns (the nodes come back), but within a phase it does not show where SPICE, whose
capacitors sit on the rail, draws it.  The column "kernel, rail" adds that charge, ``-C dV`` of each such
capacitor over the phase, so that both simulators attribute the same charge to the same phase.
"""
from __future__ import annotations

import argparse

import numpy as np

from _report import emit


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vdd", nargs="+", type=float, default=[1.2, 0.8])
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--corner", default="tt")
    p.add_argument("--r-bl", type=float, default=7e3)
    p.add_argument("--r-blb", type=float, default=1e5)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)

    from arraysim.api import simulator
    from arraysim.circuits.pcsa import overlap_caps
    from arraysim.spice.netlist import build_deck
    from arraysim.spice.runner import ngspice_version, run

    sim = simulator("sky130")
    z = np.zeros((1, len(sim.transistor_names)))
    tb = sim.tables
    c_rail = {}  # node (or SE) -> constant capacitance to the VDD rail [F]
    jn, jp = sim.jn_at(a.corner, a.temp)
    for (x, b), r in zip(jn, jp):
        if b - tb.nv == tb.vdd_idx:
            c_rail[tb.node_name(x)] = c_rail.get(tb.node_name(x), 0.0) + r[4]
    for g, x, c in overlap_caps(sim.design, sim.tech):
        if "VDD" in (g, x):
            other = x if g == "VDD" else g
            c_rail[other] = c_rail.get(other, 0.0) + c
    tm = sim.design.timing
    lines = [f"supply charge by phase [fC], nominal sky130 instance, R_BL {a.r_bl:g}, R_BLB {a.r_blb:g} ohm, "
             f"{a.temp} degC {a.corner}; kernel vs ngspice ({ngspice_version()}, the validate deck)"]
    for vdd in a.vdd:
        raw = sim.run(vdd, a.temp, a.corner, z, z, np.array([a.r_bl]), np.array([a.r_blb]), False)
        w = sim.waveform(vdd, a.temp, a.corner, a.r_bl, a.r_blb)
        deck = build_deck(sim, vdd, a.temp, a.corner, z, z, [a.r_bl], [a.r_blb], False, "sky130", raw.tcycle)
        vecs = run(deck.text)
        t = np.asarray(vecs["time"]).real
        i = -np.asarray(vecs["i(vdd0)"]).real
        q = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))])
        vq = np.asarray(vecs[f"v({deck.node('Q', 0)})"]).real
        vqb = np.asarray(vecs[f"v({deck.node('QB', 0)})"]).real
        t_fall = tm.t_rise + tm.t_sense
        marks = [("start", 0.0), ("SE rise", tm.t_rise), ("regeneration (1 ns)", tm.t_rise + 1e-9),
                 ("rest of the sense", t_fall), ("SE fall", t_fall + tm.t_rise), ("precharge", raw.tcycle[0])]
        lines.append(f"VDD {vdd} V: cycle {raw.tcycle[0] * 1e9:.2f} ns, energy kernel {raw.energy[0] * 1e15:.3f} fJ")
        lines.append(f"  {'phase':<22} {'kernel':>8} {'k, rail':>8} {'ngspice':>8} {'diff':>8}   "
                     "Q/QB at its end: kernel, ngspice [V] (diff: kernel, rail - ngspice)")

        def v_at(node, tt):
            if node == "SE":
                return vdd * float(np.interp(tt, [0.0, tm.t_rise, t_fall, t_fall + tm.t_rise], [0.0, 1.0, 1.0, 0.0]))
            return float(np.interp(tt, w["t"], w[node]))

        for (name, t1), (_, t0) in zip(marks[1:], marks[:-1]):
            dk = np.interp(t1, w["t"], w["charge"]) - np.interp(t0, w["t"], w["charge"])
            dr = dk - sum(c * (v_at(n, t1) - v_at(n, t0)) for n, c in c_rail.items())
            ds = np.interp(t1, t, q) - np.interp(t0, t, q)
            lines.append(f"  {name:<22} {dk * 1e15:8.3f} {dr * 1e15:8.3f} {ds * 1e15:8.3f} {(dr - ds) * 1e15:+8.3f}   "
                         f"{np.interp(t1, w['t'], w['Q']):.3f}/{np.interp(t1, w['t'], w['QB']):.3f}, "
                         f"{np.interp(t1, t, vq):.3f}/{np.interp(t1, t, vqb):.3f}")
        qk, qs = np.interp(raw.tcycle[0], w["t"], w["charge"]), np.interp(raw.tcycle[0], t, q)
        qr = qk - sum(c * (v_at(n, raw.tcycle[0]) - v_at(n, 0.0)) for n, c in c_rail.items())
        lines.append(f"  {'whole cycle':<22} {qk * 1e15:8.3f} {qr * 1e15:8.3f} {qs * 1e15:8.3f} {(qr - qs) * 1e15:+8.3f}"
                     f"   ({100 * (qs / qk - 1):+.2f} %, SPICE/kernel - 1)")
    emit(lines, a.out)


if __name__ == "__main__":
    main()

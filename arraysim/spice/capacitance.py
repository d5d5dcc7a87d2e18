"""Small-signal node capacitance of the read circuit: the kernel's mass matrix against the SPICE deck's (ngspice AC).

At a DC state of the nominal instance (every transistor at its nominal threshold and current factor), the kernel's
``M = C + dq/dV`` (:func:`arraysim.kernels.transient._charges`: constant capacitances, tabulated intrinsic charges,
junction and overlap charges) against ngspice's: the validate deck with SE at DC, every outer node (Q, QB, BL, BLB,
SL) held by a voltage source at its state value, an AC volt on the chosen nodes, ``C = -Im(I) / (2 pi f)``.  The
cells' RRAMs are 10 Ohm so that the internal nodes M and MB (which no source can hold) follow SL: a group that
holds SL therefore also holds M and MB on the kernel's side.
"""
from __future__ import annotations

import re

import numpy as np

OUTER = ("Q", "QB", "BL", "BLB", "SL")


def node_capacitance(sim, vdd: float, se: float, state: dict, nodes, temp_c: float = 27.0, corner: str = "tt",
                     model: str = "sky130", freq: float = 1e8) -> tuple[float, float]:
    """(kernel, SPICE) capacitance [F] of ``nodes`` (outer node names) moving together at ``state`` (node name ->
    V, every unknown node of ``sim``), SE at ``se`` volts.  The kernel's figure is the sum of its mass matrix over
    the nodes (and M, MB when SL is among them), SPICE's the summed AC current of their sources."""
    from ..kernels.transient import N_QSCRATCH, _charges
    from ..units import celsius_to_kelvin, thermal_voltage
    from .netlist import _node_ref, build_deck
    from .runner import run

    nodes = tuple(nodes)
    bad = [n for n in nodes if n not in OUTER]
    if bad:
        raise ValueError(f"nodes must be outer nodes {OUTER} (got {bad})")
    t = sim.tables
    names = list(t.node_names)
    missing = [n for n in names if n not in state]
    if missing:
        raise ValueError(f"state lacks nodes {missing}")
    z = np.zeros((1, len(sim.transistor_names)))
    v = np.array([state[n] for n in names], dtype=float)
    M = np.empty((t.nv, t.nv))
    _charges(v, se, t.nv, t.mos_nodes, t.mos_pol, sim.mos_par_at(temp_c, corner), t.mos_mult,
             sim.nominal_elements(temp_c, corner)[0], sim.tabs_at(temp_c, corner), *sim.qch_at(corner),
             *sim.jn_at(corner, temp_c), *sim.ov_at(corner), thermal_voltage(celsius_to_kelvin(temp_c)),
             sim._vfix(vdd, None), t.se_idx, t.vdd_idx, sim.cmat_at(corner), sim.bse, M, np.empty(t.nv),
             np.empty(N_QSCRATCH))
    deck = build_deck(sim, vdd, temp_c, corner, z, z, [10.0], [10.0], False, model, np.array([40e-9]))
    text = re.sub(r"VSE se 0 PWL\([^)]*\)", f"VSE se 0 {se}", deck.text)
    text = re.sub(r"\.tran [^\n]*", f".ac lin 1 {freq:g} {freq:g}", text)
    text = re.sub(r"\.(ic|nodeset) [^\n]*\n", "", text)
    src = "".join(f"VX{n} {_node_ref(n, 0)} 0 DC {state[n]} AC {1 if n in nodes else 0}\n" for n in OUTER)
    text = text.replace("\n.end", "\n" + src + ".end") if "\n.end" in text else text + "\n" + src
    vec = run(text)
    i = sum(np.asarray(vec[f"i(vx{n.lower()})"])[-1] for n in nodes)
    idx = [names.index(n) for n in nodes + (("M", "MB") if "SL" in nodes else ())]
    return float(M[np.ix_(idx, idx)].sum()), float(-i.imag / (2 * np.pi * freq))

"""Regenerate the SPICE golden files (run from the repository root):

    python tests/golden/make_spice_golden.py

Writes ``spice_compact_inputs.json`` (two fixed read instances: VDD, temperature, corner, per-transistor
dvt/dbeta, resistances and the cycle length), ``spice_compact.cir`` (the compact-family deck generated for
them by arraysim.spice.netlist.build_deck) and ``spice_compact.csv`` (what ngspice gives for that deck,
measured by arraysim.spice.netlist.measure).  ngspice version used: see the CSV's comment line.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIELDS = ("v_q", "v_qb", "t_fall_q", "t_fall_qb", "delay", "energy", "decision")


def inputs():
    """The fixed instances: two reads at 0.8 V / 27 degC / tt (seed 7)."""
    from arraysim.api import simulator
    from arraysim.devices.rram import Programming
    from arraysim.montecarlo.sampling import draw_instances
    from arraysim.options import ALL_VARIABILITY, Cell

    sim = simulator()
    inst = draw_instances(np.random.default_rng(7), 2, sim, 27.0, Programming(), Cell.C2T2R, ALL_VARIABILITY)
    raw = sim.run(0.8, 27.0, "tt", inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
    return {"technology": "generic130", "vdd": 0.8, "temp_c": 27.0, "corner": "tt",
            "dvt": inst.dvt.tolist(), "dbeta": inst.dbeta.tolist(), "r_bl": inst.r_bl.tolist(),
            "r_blb": inst.r_blb.tolist(), "ohmic_blb": False,
            "t_cycle": [float(f"{x:.6e}") for x in raw.tcycle]}


def deck_for(inp):
    from arraysim.api import simulator
    from arraysim.spice.netlist import build_deck

    sim = simulator(inp["technology"])
    return build_deck(sim, inp["vdd"], inp["temp_c"], inp["corner"], np.array(inp["dvt"]),
                      np.array(inp["dbeta"]), np.array(inp["r_bl"]), np.array(inp["r_blb"]),
                      inp["ohmic_blb"], model="compact", t_cycle=np.array(inp["t_cycle"]))


def main():
    from arraysim.spice.netlist import measure
    from arraysim.spice.runner import ngspice_version, run

    inp = inputs()
    (HERE / "spice_compact_inputs.json").write_text(json.dumps(inp, indent=1) + "\n")
    deck = deck_for(inp)
    (HERE / "spice_compact.cir").write_text(deck.text)
    got = measure(deck, run(deck.text))
    with open(HERE / "spice_compact.csv", "w", newline="") as fh:
        fh.write(f"# {ngspice_version()}; deck spice_compact.cir; inputs spice_compact_inputs.json\n")
        w = csv.writer(fh)
        w.writerow(("instance",) + FIELDS)
        for k in range(deck.n):
            w.writerow([k] + [f"{float(got[f][k]):.9e}" if f != "decision" else int(got[f][k])
                              for f in FIELDS])
    print("wrote", HERE / "spice_compact.cir", HERE / "spice_compact.csv")


if __name__ == "__main__":
    main()

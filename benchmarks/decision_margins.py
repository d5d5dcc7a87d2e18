"""How close to its switching point does an instance of `arraysim validate` sit?  Kernel only: the instances
`arraysim validate --model sky130 --samples N --vdd 0.4 0.6 0.8 1.2 1.8 --temp -40 27 125 --corner tt ff ss
fs sf --seed S` compares (drawn by the same code), each read again with the threshold of MN_X_Q (one side of
the latch) moved by +d and by -d; an instance whose decision changes either way sits within d of its
switching point (input-referred offset on that device).  Printed per d and per supply: the count and the
share of all instances.  A model whose effective offset differs from the referee's by d can disagree on
about that share; `validate`'s metastable band uses d = 0.1 mV (META_DVT).

    python benchmarks/decision_margins.py [N] [S]      # default N = 450, S = 1 (~20 s)
"""
import itertools
import sys

import numpy as np

from arraysim.api import simulator
from arraysim.devices.rram import Programming
from arraysim.montecarlo.readout import decode_binary
from arraysim.options import Cell, Corner, Readout
from arraysim.spice.validate import drawn_instances

VDDS = (0.4, 0.6, 0.8, 1.2, 1.8)
TEMPS = (-40.0, 27.0, 125.0)
CORNERS = ("tt", "ff", "ss", "fs", "sf")
SHIFTS = (0.1e-3, 0.5e-3, 1e-3, 2e-3, 5e-3, 10e-3)


def main(samples: int = 450, seed: int = 1) -> None:
    sim = simulator("sky130")
    i = list(sim.transistor_names).index("MN_X_Q")
    conds = list(itertools.product(VDDS, TEMPS, [Corner.parse(c).value for c in CORNERS]))
    flips = {(v, d): 0 for v in VDDS for d in SHIFTS}
    total = 0
    for vdd, temp, corner, inst, _ in drawn_instances(sim, samples, conds, seed, Programming(), Cell.C2T2R,
                                                       Readout.BINARY, 0.0):
        def decide(dvt):
            r = sim.run(vdd, temp, corner, dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
            return decode_binary(r.vout[:, -1, 0], r.vout[:, -1, 1], vdd)

        d0 = decide(inst.dvt)
        total += d0.size
        for d in SHIFTS:
            moved = np.zeros(d0.size, dtype=bool)
            for s in (d, -d):
                dvt = inst.dvt.copy()
                dvt[:, i] += s
                moved |= decide(dvt) != d0
            flips[(vdd, d)] += int(moved.sum())
    print(f"sky130, {total} instances (validate's draw, seed {seed}): decision changes with MN_X_Q's threshold +-d")
    print("   d [mV]  changed  share    per VDD " + " ".join(f"{v:>5g}" for v in VDDS))
    for d in SHIFTS:
        n = sum(flips[(v, d)] for v in VDDS)
        print(f"{d * 1e3:9.1f} {n:8d} {100 * n / total:5.2f} %          "
              + " ".join(f"{flips[(v, d)]:5d}" for v in VDDS))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))

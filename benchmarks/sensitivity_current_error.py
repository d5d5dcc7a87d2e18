"""How close must the compact model's currents be for the decisions to agree?  Kernel against kernel: the
same instances (sky130, 5 supplies x 3 temperatures x 5 corners x N per condition, seed 5) run twice, the
second time with one device family's currents scaled (I_spec x 1.05 or x 1.10), and the decision agreement
outside the metastable band and the median delay change are printed per supply.

    python benchmarks/sensitivity_current_error.py [N]      # N instances per condition, default 40 (~10 s)
"""
import itertools
import sys

import numpy as np

from arraysim.api import simulator
from arraysim.devices.rram import Programming
from arraysim.montecarlo.readout import decode_binary, sense_delay
from arraysim.montecarlo.sampling import draw_instances
from arraysim.options import ALL_VARIABILITY, Cell
from arraysim.spice.validate import metastable_flags


def main(n_per: int = 40) -> None:
    sim = simulator("sky130")
    fam = np.array([m.family for m in sim.tables.mos])
    pert = {"pmos x1.05": (fam == "pmos") * 0.05, "core nmos x1.05": (fam == "nmos") * 0.05,
            "thick nmos x1.05": (fam == "nmos_thick") * 0.05, "all x1.05": np.full(fam.size, 0.05),
            "core nmos x1.10": (fam == "nmos") * 0.10}
    rng = np.random.default_rng(5)
    res = {}
    for vdd in (0.4, 0.6, 0.8, 1.2, 1.8):
        for temp, corner in itertools.product((-40.0, 27.0, 125.0), ("tt", "ff", "ss", "fs", "sf")):
            inst = draw_instances(rng, n_per, sim, temp, Programming(), Cell.C2T2R, ALL_VARIABILITY, 0.0)
            raw = sim.run(vdd, temp, corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
            meta = metastable_flags(sim, vdd, temp, corner, inst, raw, None, None, 0.5)
            d0 = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd, 0.5)
            t0 = sense_delay(raw.tcross)
            for name, db in pert.items():
                r2 = sim.run(vdd, temp, corner, inst.dvt, (1 + inst.dbeta) * (1 + db) - 1, inst.r_bl, inst.r_blb,
                             inst.ohmic_blb)
                d1 = decode_binary(r2.vout[:, -1, 0], r2.vout[:, -1, 1], vdd, 0.5)
                t1 = sense_delay(r2.tcross)
                a = res.setdefault((vdd, name), [0, 0, []])
                a[0] += int(np.sum((d0 == d1) & ~meta))
                a[1] += int(np.sum(~meta))
                ok = np.isfinite(t0) & np.isfinite(t1) & ~meta
                a[2] += list(np.abs(t1[ok] / t0[ok] - 1))
    print(f"{'VDD':>5} {'change':<17} {'agree %':>8} {'of':>5} {'delay change median %':>22}")
    for (vdd, name), (same, n, dd) in res.items():
        print(f"{vdd:5.1f} {name:<17} {100 * same / n:8.2f} {n:5d} {100 * np.median(dd) if dd else float('nan'):22.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)

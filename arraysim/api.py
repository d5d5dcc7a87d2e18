"""Convenience functions: the Python face of what the CLI does."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from .circuits.pcsa import PCSADesign
from .cmos.technologies import get_technology
from .devices.rram import Programming, RRAMParams
from .montecarlo.driver import make_grid, run_ber
from .montecarlo.engine import STATUS_TEXT, ReadSimulator, Tolerances
from .montecarlo.readout import decode_binary, sense_delay
from .montecarlo.result import BERTable
from .options import ALL_VARIABILITY, Cell


def simulator(technology="generic130", rows: int | None = None, v_wl: float | None = None,
              design: PCSADesign | None = None, rram: RRAMParams | None = None,
              tolerances: Tolerances | None = None, overlap_coupling: bool | None = None,
              channel_charge: bool | None = None, junction_charge: bool | None = None,
              iv_tables: bool | None = None, charge_tables: bool | None = None,
              overlap_charge: bool | None = None) -> ReadSimulator:
    """A :class:`ReadSimulator` with the given technology and (optionally) a changed design
    (``overlap_coupling``: see :attr:`PCSADesign.overlap_coupling`; it sets ``channel_charge`` too unless
    that is given: see :attr:`PCSADesign.channel_charge`; ``junction_charge``: see
    :attr:`PCSADesign.junction_charge`; ``iv_tables``: see :attr:`PCSADesign.iv_tables`; ``charge_tables``: see
    :attr:`PCSADesign.charge_tables`; ``overlap_charge``: see :attr:`PCSADesign.overlap_charge`)."""
    d = design if design is not None else PCSADesign.for_technology(get_technology(technology))
    if rows is not None:
        d = d.with_(rows=int(rows))
    if v_wl is not None:
        d = d.with_(v_wl=float(v_wl))
    if overlap_coupling is not None:
        d = d.with_(overlap_coupling=bool(overlap_coupling), channel_charge=bool(overlap_coupling))
    if channel_charge is not None:
        d = d.with_(channel_charge=bool(channel_charge))
    if junction_charge is not None:
        d = d.with_(junction_charge=bool(junction_charge))
    if overlap_charge is not None:
        d = d.with_(overlap_charge=bool(overlap_charge))
    if iv_tables is not None:
        d = d.with_(iv_tables=bool(iv_tables))
    if charge_tables is not None:
        d = d.with_(charge_tables=bool(charge_tables))
    return ReadSimulator(technology, d, rram, tolerances)


def ber_table(vdd, temp_c=27.0, corner="tt", i_compliance=50e-6, v_reset=1.5, cell="2t2r",
              samples: int = 10_000, seed: int = 0, technology="generic130", rows: int | None = None,
              v_wl: float | None = None, variability=ALL_VARIABILITY, progress: bool = False,
              threads: int | None = None, sim: ReadSimulator | None = None) -> BERTable:
    """BER table over the grid VDD x temperature x corner x programming (I_c x V_reset) x cell.

    Example::

        import arraysim
        t = arraysim.ber_table(vdd=[0.4, 0.6, 0.8, 1.0, 1.2], samples=20000, seed=1)
        print(t.to_text()); t.save("ber.csv")
    """
    def aslist(x):
        return list(x) if isinstance(x, (list, tuple, np.ndarray)) else [x]

    progs = [Programming(float(ic), float(vr)) for ic in aslist(i_compliance) for vr in aslist(v_reset)]
    grid = make_grid(vdd, temp_c, corner, progs, cell)
    s = sim if sim is not None else simulator(technology, rows=rows, v_wl=v_wl)
    return run_ber(grid, samples, seed, s, variability=variability, progress=progress, threads=threads)


def read_instances(instances: list[dict], sim: ReadSimulator | None = None) -> list[dict]:
    """Simulate explicit instances (dicts as produced by :func:`arraysim.io.instances.parse_instances`:
    vdd, temp, corner, cell, r_bl, r_blb, dvt[T], dbeta[T]).  Returns one result dict per instance."""
    s = sim if sim is not None else simulator()
    groups = defaultdict(list)
    for i, inst in enumerate(instances):
        groups[(inst["vdd"], inst["temp"], inst["corner"], inst.get("cell", Cell.C2T2R))].append(i)
    results: list[dict | None] = [None] * len(instances)
    for (vdd, temp, corner, cell), idx in groups.items():
        dvt = np.array([instances[i]["dvt"] for i in idx])
        dbeta = np.array([instances[i]["dbeta"] for i in idx])
        r_bl = np.array([instances[i]["r_bl"] for i in idx])
        r_blb = np.array([instances[i]["r_blb"] for i in idx])
        raw = s.run(vdd, temp, corner, dvt, dbeta, r_bl, r_blb, ohmic_blb=(Cell.parse(cell) == Cell.C1T1R))
        dec = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd)
        delay = sense_delay(raw.tcross)
        for j, i in enumerate(idx):
            results[i] = {"decision": int(dec[j]), "v_q": float(raw.vout[j, -1, 0]),
                          "v_qb": float(raw.vout[j, -1, 1]), "t_fall_q": float(raw.tcross[j, 0]),
                          "t_fall_qb": float(raw.tcross[j, 1]), "delay": float(delay[j]),
                          "energy": float(raw.energy[j]), "t_cycle": float(raw.tcycle[j]),
                          "status": STATUS_TEXT[int(raw.status[j])],
                          "steps": int(raw.steps[j])}
    return results  # type: ignore[return-value]

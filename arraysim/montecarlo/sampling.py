"""Monte Carlo draws of read instances (numpy, seeded per chunk).

All random numbers are drawn in the same order and shapes whatever sources are switched off (a switched-
off source is multiplied by zero), so turning one source off leaves the draws of the others unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..devices.rram import Programming
from ..options import Cell, Variability
from ..units import celsius_to_kelvin
from .engine import ReadSimulator


@dataclass
class Instances:
    """Explicit read instances at one operating point (input of :meth:`ReadSimulator.run`)."""

    weight: np.ndarray
    """Programmed value: +1 = BL device in LRS (2T2R: BLB in HRS), -1 the reverse (1T1R: device HRS),
    0 = both devices in HRS (ternary weights, 2T2R only)."""
    dvt: np.ndarray
    dbeta: np.ndarray
    r_bl: np.ndarray
    r_blb: np.ndarray
    ohmic_blb: bool


def draw_instances(rng: np.random.Generator, n: int, sim: ReadSimulator, temp_c: float,
                   prog: Programming, cell: Cell, variability: frozenset, p_zero: float = 0.0) -> Instances:
    """``n`` random instances.  Weights: +1 with probability (1 - p_zero)/2, -1 likewise, 0 (HRS/HRS, 2T2R
    only) with probability ``p_zero``; p_zero = 0 gives exactly the binary draws."""
    if not 0.0 <= p_zero < 1.0:
        raise ValueError(f"fraction of zero weights must be in [0, 1), got {p_zero!r}")
    if p_zero > 0 and cell != Cell.C2T2R:
        raise ValueError("zero (ternary) weights need the 2t2r cell")
    tables = sim.tables
    m = len(tables.mos)
    tech = sim.tech
    z_glob = rng.standard_normal((n, 3, 2))  # (nmos, pmos, thick) x (vt, beta)
    z_mm = rng.standard_normal((n, m, 2))
    z_r = rng.standard_normal((n, 2))
    u = rng.random(n)
    half = 0.5 * (1.0 - p_zero)
    weight = np.where(u < half, 1, np.where(u < 2.0 * half, -1, 0)).astype(np.int8)

    fam_index = {"nmos": 0, "pmos": 1, "nmos_thick": 2}
    fi = np.array([fam_index[t.family] for t in tables.mos])
    g = 1.0 if Variability.GLOBAL in variability else 0.0
    dvt = g * tech.sigma_vt_global * z_glob[:, fi, 0]
    dbeta = g * tech.sigma_beta_global * z_glob[:, fi, 1]
    if Variability.MISMATCH in variability:
        svt, sb = sim.mismatch_sigmas()
        dvt = dvt + svt[None, :] * z_mm[:, :, 0]
        dbeta = dbeta + sb[None, :] * z_mm[:, :, 1]

    d2d = Variability.D2D in variability
    c2c = Variability.C2C in variability
    mu_l, s_l = sim.rram.log_stats(prog, lrs=True, d2d=d2d, c2c=c2c)
    mu_h, s_h = sim.rram.log_stats(prog, lrs=False, d2d=d2d, c2c=c2c)
    plus = weight > 0
    zero = weight == 0
    r_lrs0 = np.exp(mu_l + s_l * z_r[:, 0])
    r_hrs0 = np.exp(mu_h + s_h * z_r[:, 1])
    tk = celsius_to_kelvin(temp_c)
    r_lrs = sim.rram.at_temperature(r_lrs0, tk)
    r_hrs = sim.rram.at_temperature(r_hrs0, tk)
    if cell == Cell.C2T2R:
        r_bl = np.where(plus, r_lrs, r_hrs)
        r_blb = np.where(plus, r_hrs, r_lrs)
        if zero.any():  # (HRS, HRS): the BL device takes the first normal draw as an HRS
            r_bl = np.where(zero, sim.rram.at_temperature(np.exp(mu_h + s_h * z_r[:, 0]), tk), r_bl)
            r_blb = np.where(zero, r_hrs, r_blb)
        ohmic = False
    else:
        r_bl = np.where(plus, r_lrs, r_hrs)
        r_blb = np.full(n, sim.r_ref(prog))
        ohmic = True
    return Instances(weight=weight, dvt=dvt, dbeta=np.maximum(dbeta, -0.9), r_bl=r_bl, r_blb=r_blb,
                     ohmic_blb=ohmic)

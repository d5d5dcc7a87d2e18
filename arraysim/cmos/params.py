"""Frozen parameter objects of the charge-based (EKV-family) transistor model.  SI units throughout.

The equations are in :mod:`arraysim.kernels.devices`.  A :class:`Technology` groups the three device
families a PCSA read needs (core NMOS, core PMOS, thick-oxide NMOS for the access transistors), the global
corners and the die-to-die spread.  Sets are registered by name in :mod:`arraysim.cmos.technologies`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..options import Corner
from ..units import T_NOM, thermal_voltage


@dataclass(frozen=True)
class MosParams:
    """One transistor family.  Threshold magnitudes are positive for both polarities."""

    polarity: int
    """+1 NMOS, -1 PMOS."""
    vt0: float
    """Threshold voltage magnitude at T_NOM, long-channel, V_DS -> 0 [V]."""
    n: float
    """Subthreshold slope factor [-]."""
    kp: float
    """Current factor mu*C_ox at T_NOM [A/V^2]; beta = kp * W / L."""
    theta: float
    """Mobility degradation / velocity saturation coefficient on the mean channel charge [1/V] at l_ref."""
    lam: float
    """Channel-length modulation [1/V] at l_ref (scaled as l_ref / L)."""
    eta: float
    """DIBL: threshold lowering per volt of |V_DS| [V/V] at l_ref (scaled as l_ref / L)."""
    l_ref: float
    """Reference (minimum) channel length [m] at which theta, lam and eta are given."""
    dvt_dt: float
    """Threshold magnitude temperature coefficient [V/K] (negative: |V_T| falls when hot)."""
    mob_exp: float
    """Mobility temperature exponent: mu ~ (T / T_NOM)^mob_exp."""
    cox: float
    """Gate oxide capacitance per area [F/m^2]."""
    cov: float
    """Gate overlap capacitance per width and side [F/m]."""
    cj: float
    """Drain/source junction capacitance per width (area and perimeter lumped) [F/m]."""
    a_vt: float
    """Pelgrom threshold mismatch coefficient [V*m]: sigma(dV_T) = a_vt / sqrt(W L)."""
    a_beta: float
    """Pelgrom current-factor mismatch coefficient [m]: sigma(dbeta/beta) = a_beta / sqrt(W L)."""

    def vt(self, temp_k: float, dvt: float = 0.0) -> float:
        """Threshold magnitude at ``temp_k`` with an added shift ``dvt``."""
        return self.vt0 + self.dvt_dt * (temp_k - T_NOM) + dvt

    def ispec(self, w: float, l: float, temp_k: float, mu_factor: float = 1.0) -> float:
        """Specific current 2 n beta U_T^2 [A] of a W x L device at ``temp_k``."""
        ut = thermal_voltage(temp_k)
        beta = self.kp * mu_factor * (temp_k / T_NOM) ** self.mob_exp * w / l
        return 2.0 * self.n * beta * ut * ut

    def shape_params(self, l: float) -> tuple[float, float, float, float]:
        """(n, theta, lambda, eta) for channel length ``l``."""
        s = self.l_ref / l
        return self.n, self.theta, self.lam * s, self.eta * s

    def sigma_vt(self, w: float, l: float) -> float:
        return self.a_vt / math.sqrt(w * l)

    def sigma_beta(self, w: float, l: float) -> float:
        return self.a_beta / math.sqrt(w * l)

    def gate_cap(self, w: float, l: float) -> float:
        """Gate capacitance [F] (channel plus both overlaps)."""
        return self.cox * w * l + 2.0 * self.cov * w

    def junction_cap(self, w: float) -> float:
        return self.cj * w


@dataclass(frozen=True)
class CornerShift:
    """Global corner: threshold shifts [V] (positive = slower) and mobility factors per polarity."""

    dvt_n: float = 0.0
    dvt_p: float = 0.0
    mu_n: float = 1.0
    mu_p: float = 1.0


@dataclass(frozen=True)
class Technology:
    """A named 130 nm technology set."""

    name: str
    description: str
    source: str
    vdd_nominal: float
    """Nominal core supply [V]."""
    nmos: MosParams
    pmos: MosParams
    nmos_thick: MosParams
    """Thick-oxide NMOS used as the RRAM access transistor (withstands programming voltages)."""
    corners: tuple[tuple[Corner, CornerShift], ...]
    sigma_vt_global: float
    """Die-to-die threshold spread around the corner [V] (same draw for all devices of a polarity)."""
    sigma_beta_global: float
    """Die-to-die relative current-factor spread around the corner [-]."""
    l_min: float = 0.13e-6
    """Minimum channel length of the core devices [m] (the default PCSA design uses it)."""
    l_min_thick: float = 0.5e-6
    """Channel length of the thick-oxide access transistor in the default design [m]."""
    w_min: float = 0.0
    """Smallest drawn width any device of the default design may have [m] (0: no limit).  SKY130:
    0.42 um (pfet_01v8 and nfet_g5v0d10v5 have no model bin below it); the default design widens narrower
    devices to it."""

    def corner(self, corner: Corner | str) -> CornerShift:
        c = Corner.parse(corner)
        for k, v in self.corners:
            if k == c:
                return v
        raise ValueError(f"technology {self.name!r} has no corner {c.value!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["corners"] = {k.value: dataclasses.asdict(v) for k, v in self.corners}
        return d

"""Frozen parameter objects of the charge-based (EKV-family) transistor model.  SI units throughout.

The equations are in :mod:`arraysim.kernels.devices`.  A :class:`Technology` groups the three device
families a PCSA read needs (core NMOS, core PMOS, thick-oxide NMOS for the access transistors), the global
corners and the die-to-die spread.  Sets are registered by name in :mod:`arraysim.cmos.technologies`.

Size bins.  Foundry model cards are binned by drawn W/L (SKY130: one BSIM4 parameter set per bin), so one
parameter set per family cannot describe differently sized devices.  A technology may therefore carry,
per family, parameter sets fitted at specific sizes (:class:`DeviceBin`, optionally with their own corner
shifts).  :meth:`Technology.device` returns the set of the bin whose (W, L) matches a transistor's size
(relative tolerance ``SIZE_RTOL``), else the family default; every consumer of transistor parameters
(kernel arrays, reference, SPICE decks, mismatch sigmas, node capacitances) goes through it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..options import Corner
from ..units import T_NOM, thermal_voltage


def overlap_law_cap(v, cgdo, cgdl, ckappa):
    """BSIM4's bias-dependent overlap capacitance (capmod 1/2, b4ld.c) per unit width at gate-to-side voltage
    ``v`` (polarity-mirrored): ``cgdo + cgdl - cgdl (1 - 1/T4) (1/2 - T0 / (2 T1))`` with ``T0 = v + 0.02``,
    ``T1 = sqrt(T0^2 + 0.08)``, ``T4 = sqrt(1 - 4 T2 / ckappa)``, ``T2 = (T0 - T1) / 2``."""
    t0 = np.asarray(v, dtype=float) + 0.02
    t1 = np.sqrt(t0 * t0 + 0.08)
    t4 = np.sqrt(1.0 - 2.0 * (t0 - t1) / ckappa)
    return cgdo + cgdl - cgdl * (1.0 - 1.0 / t4) * (0.5 - 0.5 * t0 / t1)


def overlap_law_charge(v, cgdo, cgdl, ckappa):
    """The gate charge per unit width of :func:`overlap_law_cap` (BSIM4's ``qgdo``:
    ``(cgdo + cgdl) v - cgdl (T2 + ckappa/2 (T4 - 1))``)."""
    v = np.asarray(v, dtype=float)
    t0 = v + 0.02
    t2 = 0.5 * (t0 - np.sqrt(t0 * t0 + 0.08))
    t4 = np.sqrt(1.0 - 4.0 * t2 / ckappa)
    return (cgdo + cgdl) * v - cgdl * (t2 + 0.5 * ckappa * (t4 - 1.0))


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
    gamma: float = 0.0
    """Body-effect square-root coefficient [V^0.5] (BSIM K1): the threshold referred to the source rises by
    kbody V_SB + gamma (sqrt(phi + V_SB) - sqrt(phi)) (see arraysim.kernels.devices)."""
    phi: float = 0.8
    """Surface potential of the body-effect law [V] (about 2 phi_F)."""
    kbody: float | None = None
    """Linear body-effect coefficient [V/V] (BSIM -K2).  None: no body law -- the constant-slope-factor form,
    whose source-referred threshold rises as (n - 1) V_SB (technology files fitted before the body effect;
    gamma must then be 0)."""
    gjun: float = 0.0
    """Shunt conductance of each drain and source junction to the bulk [S] (per device, independent of its
    size).  ngspice adds its ``gmin`` (1 pS by default) to every BSIM4 junction; with the 33 drain junctions
    on a bit line these shunts set the precharged bit-line level, a balance of sub-threshold currents.
    ``arraysim calibrate`` measures it (bulk current of a device with drain = source at VDD/2).  0: none."""
    vsat: float = 0.0
    """Velocity-saturation coefficient k_vsat = 1 / (E_c L) [1/V] at l_ref and T_NOM (scaled as l_ref / L and,
    since E_c = v_sat / mu, with the mobility's temperature law (T / T_NOM)^mob_exp; v_sat itself is taken as
    temperature independent).  It divides the current by ``1 + ... + k_vsat * (effective V_DS) * n / 2`` (see
    arraysim.kernels.devices); 0: none, ``theta`` then lumps velocity saturation with mobility reduction."""
    n_strong: float | None = None
    """Strong-inversion slope factor [-] (BSIM's bulk-charge factor): the pinch-off voltage rises as 1/n below
    threshold and as 1/n_strong above it, blended over ``tau`` thermal voltages (see
    arraysim.kernels.devices).  It also sets I_spec = 2 n_strong beta U_T^2 and the theta/vsat terms.  None:
    one slope factor ``n`` (the form of technology files fitted before it).  Needs a body-effect law
    (``kbody``)."""
    tau: float = 4.0
    """Width of the weak-to-strong blend of the two slope factors, in thermal voltages [-]."""
    dibl_v0: float = 0.0
    """Knee of the square-root DIBL law [V]: the gate drive gains ``eta (sqrt(a + dibl_v0) - sqrt(dibl_v0))``
    at drain-source voltage a (see arraysim.kernels.devices); ``eta`` is then in V/V^0.5.  0: the linear law
    ``eta a`` (files fitted before the square-root law)."""
    t_corr: tuple = ()
    """Per-temperature corrections on top of the temperature laws: rows ``(temp_c, dvt [V], mu [-], n [-])``
    in increasing temperature -- at ``temp_c`` the threshold magnitude gains ``dvt``, the current factor is
    multiplied by ``mu`` and the (weak-inversion) slope factor by ``n``; linearly interpolated in temperature
    between rows and held at the first/last row outside them.  ``arraysim calibrate`` fits one row per
    calibration temperature (the linear V_T law and the power mobility law leave SKY130's near-threshold
    currents 25-60 % off at -40 degC).  Empty: none (the laws alone, files fitted before it)."""
    cinv: float = 0.0
    """Gate capacitance per area in strong inversion, without the overlaps [F/m^2]: the channel charge of a
    device whose gate is the sense-enable clock (``PCSADesign.channel_charge``).  ``cox`` is a charge average
    over a whole gate swing, which includes the swing below threshold; the channel holds ``cinv`` per area once
    it is inverted.  ``arraysim calibrate`` measures it (AC gate capacitance at V_GS = VDD, drain = source =
    bulk, minus the two overlaps).  0: ``cox`` (files without it)."""
    cj0: float = 0.0
    """Zero-bias junction capacitance per width [F/m] of the voltage-dependent junction law
    ``C_j(V_R) = cj0 W (1 + V_R / pb)^-mj`` at reverse bias ``V_R >= 0`` (forward bias: its tangent-slope
    extension ``cj0 W (1 - mj V_R / pb)``, as BSIM).  Used for the junction charge of the nodes whose
    capacitance is mostly junction (``PCSADesign.junction_charge``); ``cj`` stays the constant (charge-averaged
    over 0..VDD) value of the constant-capacitance model.  ``arraysim calibrate`` fits (cj0, mj, pb) to BSIM4's
    ``capbd`` at five reverse biases.  0: no junction law (files without it)."""
    mj: float = 0.0
    """Grading coefficient of the junction law (0 < mj < 1 when ``cj0`` is given)."""
    pb: float = 0.0
    """Built-in potential of the junction law [V] (> 0 when ``cj0`` is given)."""
    tcj: float = 0.0
    """Temperature coefficient of ``cj0`` [1/K]: ``cj0 (1 + tcj (T - T_NOM))`` (BSIM4's TCJ form)."""
    tpb: float = 0.0
    """Temperature coefficient of ``pb`` [V/K]: ``pb - tpb (T - T_NOM)`` (BSIM4's TPB form)."""
    cgdo: float = 0.0
    """Bias-independent part of the gate overlap capacitance law per width and side [F/m] (BSIM4's
    ``cgdo + cf``): with ``cgdl`` and ``ckappa`` the overlap capacitance of one side at gate-to-side voltage
    ``v`` (polarity-mirrored) is BSIM4's capmod-1/2 law (b4ld.c) ``W (cgdo + cgdl - cgdl (1 - 1/T4)
    (1/2 - T0 / (2 T1)))`` with ``T0 = v + 0.02``, ``T1 = sqrt(T0^2 + 0.08)``, ``T2 = (T0 - T1) / 2``,
    ``T4 = sqrt(1 - 4 T2 / ckappa)``: ``cgdo + cgdl`` with the overlap region accumulated (``v`` > 0), falling
    towards ``cgdo`` as it depletes (``v`` < 0).  Used for the gate overlaps with ``PCSADesign.overlap_coupling``
    (``PCSADesign.overlap_charge``); ``cov`` stays the constant value (the law at ``v = -VDD/2``, where
    ``arraysim calibrate`` measures it).  ``arraysim calibrate`` fits the law to the overlap capacitance of an
    off device (AC gate-drain capacitance minus BSIM4's intrinsic ``cgd``) at nine gate-to-drain voltages
    0 .. -VDD, drain side (the source side is taken as equal).  0: no law (files without it)."""
    cgdl: float = 0.0
    """Bias-dependent part of the overlap law per width and side [F/m] (BSIM4's ``cgdl``; see ``cgdo``)."""
    ckappa: float = 0.6
    """Depletion coefficient of the overlap law [V] (BSIM4's ``ckappad``; see ``cgdo``)."""

    def __post_init__(self):
        if self.n_strong is not None and not (self.n_strong >= 1.0 and math.isfinite(self.n_strong)):
            raise ValueError(f"n_strong must be a finite slope factor >= 1 or None (got {self.n_strong})")
        if self.n_strong is not None and self.n_strong != self.n and self.kbody is None:
            raise ValueError(f"n_strong={self.n_strong} (two slope factors) needs a body-effect law (kbody): the "
                             "blend acts on the gate drive above the source-side threshold")
        if not (self.tau > 0.0 and math.isfinite(self.tau)):
            raise ValueError(f"tau must be a finite width > 0 thermal voltages (got {self.tau})")
        if not (self.dibl_v0 >= 0.0 and math.isfinite(self.dibl_v0)):
            raise ValueError(f"dibl_v0 must be a finite knee voltage >= 0 V, 0 = linear DIBL (got {self.dibl_v0})")
        if not (self.vsat >= 0.0 and math.isfinite(self.vsat)):
            raise ValueError(f"vsat must be a finite coefficient >= 0 /V (got {self.vsat})")
        if not (self.gjun >= 0.0 and math.isfinite(self.gjun)):
            raise ValueError(f"gjun must be a finite conductance >= 0 S (got {self.gjun})")
        if self.phi <= 0.0 or self.gamma < 0.0:
            raise ValueError(f"body effect needs phi > 0 and gamma >= 0 (got phi={self.phi}, gamma={self.gamma})")
        if self.kbody is None and self.gamma != 0.0:
            raise ValueError(f"gamma={self.gamma} needs a linear body coefficient kbody (None = no body law, "
                             "gamma 0)")
        rows = tuple(tuple(float(x) for x in r) for r in self.t_corr)
        if any(len(r) != 4 or not all(math.isfinite(x) for x in r) for r in rows):
            raise ValueError(f"t_corr rows must be 4 finite numbers (temp_c, dvt, mu, n); got {self.t_corr!r}")
        if any(r[2] <= 0.0 or r[3] <= 0.0 for r in rows):
            raise ValueError(f"t_corr factors mu and n must be > 0; got {self.t_corr!r}")
        if any(b[0] <= a[0] for a, b in zip(rows, rows[1:])):
            raise ValueError(f"t_corr rows must be in strictly increasing temperature; got {self.t_corr!r}")
        object.__setattr__(self, "t_corr", rows)
        if not (self.cj0 >= 0.0 and math.isfinite(self.cj0)):
            raise ValueError(f"cj0 must be a finite junction capacitance >= 0 F/m (got {self.cj0})")
        if self.cj0 > 0.0 and not (0.0 < self.mj < 1.0 and self.pb > 0.0 and math.isfinite(self.pb)):
            raise ValueError(f"a junction law (cj0 > 0) needs 0 < mj < 1 and a finite pb > 0 V "
                             f"(got mj={self.mj}, pb={self.pb})")
        if not (math.isfinite(self.cgdo) and self.cgdo >= 0.0 and math.isfinite(self.cgdl) and self.cgdl >= 0.0
                and math.isfinite(self.ckappa) and self.ckappa > 0.0):
            raise ValueError(f"the overlap law needs finite cgdo >= 0 F/m (0 = no law), cgdl >= 0 F/m and ckappa > 0 V "
                             f"(got cgdo={self.cgdo}, cgdl={self.cgdl}, ckappa={self.ckappa})")
        if not (math.isfinite(self.tcj) and abs(self.tcj) < 0.005 and math.isfinite(self.tpb)
                and abs(self.tpb) < 0.002):
            raise ValueError(f"junction temperature coefficients must be finite with |tcj| < 0.005 /K and "
                             f"|tpb| < 0.002 V/K (got tcj={self.tcj}, tpb={self.tpb})")

    def corr_at(self, temp_k: float) -> tuple[float, float, float]:
        """(dvt, mu factor, n factor) of ``t_corr`` at ``temp_k`` (linear between rows, held outside)."""
        rows = self.t_corr
        if not rows:
            return 0.0, 1.0, 1.0
        tc = temp_k - 273.15
        if tc <= rows[0][0]:
            return rows[0][1], rows[0][2], rows[0][3]
        if tc >= rows[-1][0]:
            return rows[-1][1], rows[-1][2], rows[-1][3]
        for a, b in zip(rows, rows[1:]):
            if tc <= b[0]:
                f = (tc - a[0]) / (b[0] - a[0])
                return tuple(a[k] + f * (b[k] - a[k]) for k in (1, 2, 3))
        raise AssertionError("unreachable")

    def vt(self, temp_k: float, dvt: float = 0.0) -> float:
        """Threshold magnitude at ``temp_k`` (with the ``t_corr`` correction) plus an added shift ``dvt``."""
        return self.vt0 + self.dvt_dt * (temp_k - T_NOM) + self.corr_at(temp_k)[0] + dvt

    def n_at(self, temp_k: float, n_factor: float = 1.0) -> float:
        """Weak-inversion slope factor at ``temp_k`` (``t_corr``) times a corner's factor."""
        return self.n * self.corr_at(temp_k)[2] * n_factor

    def ns_at(self, temp_k: float, n_factor: float = 1.0) -> float:
        """Strong-inversion slope factor in use: ``n_strong``, else the weak-inversion one at ``temp_k``."""
        return self.n_at(temp_k, n_factor) if self.n_strong is None else self.n_strong

    def ispec(self, w: float, l: float, temp_k: float, mu_factor: float = 1.0, n_factor: float = 1.0) -> float:
        """Specific current 2 n_s beta U_T^2 [A] of a W x L device at ``temp_k`` (n_s: ``n_strong``, else n;
        ``t_corr`` and the corner's ``mu_factor``/``n_factor`` applied)."""
        ut = thermal_voltage(temp_k)
        beta = self.kp * mu_factor * self.corr_at(temp_k)[1] * (temp_k / T_NOM) ** self.mob_exp * w / l
        return 2.0 * self.ns_at(temp_k, n_factor) * beta * ut * ut

    def shape_params(self, l: float) -> tuple[float, float, float, float, float, float, float]:
        """(n, theta, lambda, eta, gamma, phi, kbody) for channel length ``l``; kbody NaN = no body law."""
        s = self.l_ref / l
        kb = math.nan if self.kbody is None else self.kbody
        return self.n, self.theta, self.lam * s, self.eta * s, self.gamma, self.phi, kb

    def vsat_at(self, l: float, temp_k: float) -> float:
        """Velocity-saturation coefficient [1/V] of channel length ``l`` at ``temp_k``."""
        if self.vsat == 0.0:
            return 0.0
        return self.vsat * self.l_ref / l * (temp_k / T_NOM) ** self.mob_exp

    def kernel_params(self, l: float, temp_k: float, n_factor: float = 1.0) -> tuple:
        """The kernel's parameter row (n, theta, lambda, eta, gamma, phi, kbody, gjun, vsat, n_s, tau, dv0) of a
        device of length ``l`` at ``temp_k`` (``mos_par`` in arraysim.kernels.transient), the slope factor
        with ``t_corr`` and a corner's ``n_factor``."""
        return (self.n_at(temp_k, n_factor),) + self.shape_params(l)[1:] + (
            self.gjun, self.vsat_at(l, temp_k), self.ns_at(temp_k, n_factor), self.tau, self.dibl_v0)

    def sigma_vt(self, w: float, l: float) -> float:
        return self.a_vt / math.sqrt(w * l)

    def sigma_beta(self, w: float, l: float) -> float:
        return self.a_beta / math.sqrt(w * l)

    def gate_cap(self, w: float, l: float) -> float:
        """Gate capacitance [F] (channel plus both overlaps)."""
        return self.cox * w * l + 2.0 * self.cov * w

    def junction_cap(self, w: float) -> float:
        return self.cj * w

    def junction_law(self) -> bool:
        """True if the set has a voltage-dependent junction law (``cj0`` > 0)."""
        return self.cj0 > 0.0

    def junction_law_at(self, temp_k: float | None = None) -> tuple[float, float, float]:
        """(cj0 [F/m], mj, pb [V]) of the junction law at ``temp_k`` (None: T_NOM), with ``tcj``/``tpb``;
        ``pb`` is kept >= 0.05 V."""
        dt = 0.0 if temp_k is None else temp_k - T_NOM
        return self.cj0 * (1.0 + self.tcj * dt), self.mj, max(self.pb - self.tpb * dt, 0.05)

    def overlap_law(self) -> bool:
        """True if the set has a bias-dependent gate overlap law (``cgdo`` > 0)."""
        return self.cgdo > 0.0

    def overlap_cap(self, v, w: float):
        """Overlap capacitance [F] of one side of a width-``w`` device at gate-to-side voltage ``v`` [V]
        (polarity-mirrored: ``p (V_G - V_X)``) by the law of ``cgdo`` (:func:`overlap_law_cap`); ``cov w``
        without a law."""
        if not self.overlap_law():
            return self.cov * w + 0.0 * np.asarray(v, dtype=float)
        return w * overlap_law_cap(v, self.cgdo, self.cgdl, self.ckappa)

    def overlap_charge(self, v, w: float):
        """Gate charge [C] of one side's overlap at gate-to-side voltage ``v`` (polarity-mirrored;
        :func:`overlap_law_charge`, its derivative is :meth:`overlap_cap`); ``cov w v`` without a law."""
        if not self.overlap_law():
            return self.cov * w * np.asarray(v, dtype=float)
        return w * overlap_law_charge(v, self.cgdo, self.cgdl, self.ckappa)

    def channel_cap(self, w: float, l: float) -> float:
        """Gate capacitance of the inverted channel [F] (``cinv``, else ``cox``, times W L)."""
        return (self.cinv if self.cinv > 0.0 else self.cox) * w * l


@dataclass(frozen=True)
class CornerShift:
    """Global corner: threshold shifts [V] (positive = slower), mobility factors and junction-capacitance
    factors per polarity (foundry corners also move the junction doping: SKY130's ss/sf junctions are
    15-22 % above tt, ff/fs 15-22 % below)."""

    dvt_n: float = 0.0
    dvt_p: float = 0.0
    mu_n: float = 1.0
    mu_p: float = 1.0
    cj_n: float = 1.0
    cj_p: float = 1.0
    n_n: float = 1.0
    n_p: float = 1.0
    """Slope-factor factors per polarity (SKY130's corner cards move nfactor: the core NMOS bin by -0.57 (ss)
    to +0.48 (fs))."""

    def __post_init__(self):
        if not (self.cj_n > 0 and self.cj_p > 0 and math.isfinite(self.cj_n) and math.isfinite(self.cj_p)):
            raise ValueError(f"junction-capacitance factors must be finite and > 0 (got {self.cj_n}, {self.cj_p})")
        if not (self.n_n > 0 and self.n_p > 0 and math.isfinite(self.n_n) and math.isfinite(self.n_p)):
            raise ValueError(f"slope-factor factors must be finite and > 0 (got {self.n_n}, {self.n_p})")


SIZE_RTOL = 1e-3
"""Relative tolerance on W and L when a transistor's size is matched to a bin (0.1 %: well below any
layout grid step, well above float round-off of sizes written to and read back from JSON)."""
FAMILIES = ("nmos", "pmos", "nmos_thick")


@dataclass(frozen=True)
class DeviceShift:
    """Corner shift of one device: threshold-magnitude shift [V] (positive = slower), mobility factor,
    junction-capacitance factor and slope-factor factor."""

    dvt: float = 0.0
    mu: float = 1.0
    cj: float = 1.0
    n: float = 1.0
    """Factor on the weak-inversion slope factor."""

    def __post_init__(self):
        if not (self.cj > 0 and math.isfinite(self.cj)):
            raise ValueError(f"junction-capacitance factor must be finite and > 0 (got {self.cj})")
        if not (self.n > 0 and math.isfinite(self.n)):
            raise ValueError(f"slope-factor factor must be finite and > 0 (got {self.n})")


@dataclass(frozen=True)
class DeviceBin:
    """Parameters of one family fitted at one drawn size (W, L) [m]."""

    family: str
    """"nmos" | "pmos" | "nmos_thick"."""
    w: float
    l: float
    params: MosParams
    corners: tuple[tuple[Corner, DeviceShift], ...] = ()
    """Corner shifts of this device; a corner not listed falls back to the technology's shift of the
    family's polarity (:meth:`Technology.corner`)."""
    corner_params: tuple[tuple[Corner, MosParams], ...] = ()
    """Complete parameter sets fitted at a corner (a foundry ships one model card per corner, and its corner
    cards move more than V_T, mobility and the slope factor: SKY130's move nfactor, toxe, the DIBL and the
    narrow-width terms).  At a corner listed here the device takes this set instead of ``params``; the
    corner's :class:`DeviceShift` still applies on top (a calibrated set carries only the junction factor
    there).  Same polarity as ``params``."""

    def __post_init__(self):
        for c, p in self.corner_params:
            if p.polarity != self.params.polarity:
                raise ValueError(f"{self.family} bin: the parameter set of corner {Corner.parse(c).value} has "
                                 "another polarity")

    def matches(self, family: str, w: float, l: float) -> bool:
        return family == self.family and math.isclose(w, self.w, rel_tol=SIZE_RTOL) \
            and math.isclose(l, self.l, rel_tol=SIZE_RTOL)

    def params_at(self, corner: Corner | str | None) -> MosParams:
        """The parameter set at ``corner``: its own when :attr:`corner_params` lists it, else ``params``."""
        if corner is not None:
            c = Corner.parse(corner)
            for k, p in self.corner_params:
                if k == c:
                    return p
        return self.params

    def to_dict(self) -> dict:
        return {"w": self.w, "l": self.l, "params": dataclasses.asdict(self.params),
                **({"corners": {c.value: dataclasses.asdict(v) for c, v in self.corners}} if self.corners
                   else {}),
                **({"corner_params": {c.value: dataclasses.asdict(p) for c, p in self.corner_params}}
                   if self.corner_params else {})}


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
    bins: tuple[DeviceBin, ...] = ()
    """Size-specific parameter sets (see the module docstring); empty = one set per family."""
    overlap_coupling: bool = False
    """Default of the PCSA design option ``overlap_coupling`` (gate overlaps as gate-drain/source capacitors)
    for this technology.  Technologies calibrated against SPICE set it (their ``cov`` is the foundry
    model's, and the SPICE validation of sky130 needs it); generic130 keeps the lumped form (its published
    results were computed that way)."""
    iv_tables: object = field(default=None, compare=False, repr=False)
    """Tabulated channel currents of the foundry model (:class:`arraysim.cmos.ivtables.IVTableSet`, or None):
    a transistor whose family, size and corner have a table takes its DC channel current from it instead of
    the compact model's equation (``PCSADesign.iv_tables``); everything else (capacitances, charges,
    junctions, mismatch and global spread as threshold and current-factor shifts) stays the compact model's.
    Technology files name the table file (key ``iv_tables``)."""

    def corner(self, corner: Corner | str) -> CornerShift:
        c = Corner.parse(corner)
        for k, v in self.corners:
            if k == c:
                return v
        raise ValueError(f"technology {self.name!r} has no corner {c.value!r}")

    def family(self, family: str) -> MosParams:
        """The family default parameter set."""
        if family not in FAMILIES:
            raise ValueError(f"unknown device family {family!r}; allowed: {', '.join(FAMILIES)}")
        return getattr(self, family)

    def device_bin(self, family: str, w: float, l: float) -> DeviceBin | None:
        """The bin of ``family`` whose size matches (W, L), or None."""
        for b in self.bins:
            if b.matches(family, w, l):
                return b
        return None

    def device(self, family: str, w: float, l: float, corner: Corner | str | None = None) -> MosParams:
        """Parameter set of a ``family`` transistor of drawn size W x L [m]: its bin (the bin's own set at
        ``corner`` when it has one, :attr:`DeviceBin.corner_params`), else the family default."""
        b = self.device_bin(family, w, l)
        return b.params_at(corner) if b is not None else self.family(family)

    def device_shift(self, family: str, w: float, l: float, corner: Corner | str) -> DeviceShift:
        """Corner shift (threshold magnitude, mobility factor) of a ``family`` transistor of size W x L: the
        bin's own when it lists the corner, else the technology's shift of the family's polarity (the
        thick-oxide NMOS takes the NMOS shift)."""
        c = Corner.parse(corner)
        b = self.device_bin(family, w, l)
        if b is not None:
            for k, v in b.corners:
                if k == c:
                    return v
        cs = self.corner(c)
        nmos = self.family(family).polarity > 0
        return DeviceShift(cs.dvt_n, cs.mu_n, cs.cj_n, cs.n_n) if nmos else DeviceShift(cs.dvt_p, cs.mu_p, cs.cj_p,
                                                                                      cs.n_p)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(dataclasses.replace(self, iv_tables=None))
        if self.iv_tables is not None:
            d["iv_tables"] = self.iv_tables.summary()
        else:
            del d["iv_tables"]
        d["corners"] = {k.value: dataclasses.asdict(v) for k, v in self.corners}
        d["bins"] = {f: [b.to_dict() for b in self.bins if b.family == f] for f in FAMILIES
                     if any(b.family == f for b in self.bins)}
        if not d["bins"]:
            del d["bins"]
        return d

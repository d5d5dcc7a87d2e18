"""The read simulator: turns parameter objects and per-instance values into kernel arrays, runs the kernel.

This is the one place where parameter objects are converted to the compiled backend's arrays.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..circuits.pcsa import (DESIGN_DEVICES, PCSADesign, build_tables, capacitance, channel_charges, charge_tabulated,
                             device_params, junction_sites, junction_table, node_caps, overlap_caps,
                             overlap_table)
from ..cmos.ivtables import kernel_rows
from ..cmos.params import Technology
from ..cmos.technologies import get_technology
from ..devices.rram import Programming, RRAMParams
from ..kernels import transient as _k
from ..options import Corner
from ..units import T_NOM, celsius_to_kelvin, thermal_voltage

VDD_RANGE = (0.1, 2.5)  # V, accepted supply range
TEMP_RANGE = (-55.0, 150.0)  # degC
STATUS_TEXT = {_k.ST_OK: "ok", _k.ST_DC_FAIL: "dc_not_converged", _k.ST_MAX_STEPS: "max_steps",
               _k.ST_STEP_UNDERFLOW: "step_underflow", _k.ST_PRECHARGE_INCOMPLETE: "precharge_incomplete"}
VALID_STATUS = (_k.ST_OK, _k.ST_PRECHARGE_INCOMPLETE)
"""Statuses whose decision, delay and energy are valid (the second: precharge not settled by t_precharge_max)."""


@dataclass(frozen=True)
class Tolerances:
    """Integrator settings (step control on node voltages: |err| <= atol + rtol*|V|)."""

    rtol: float = 3e-3
    atol: float = 3e-4
    """[V]"""
    h_max: float = 5e-9
    """Largest time step [s] (matters in the long near-threshold precharge; 5 ns keeps the energy within
    0.3 % of the reference, 20 ns within 0.8 %)."""
    max_steps: int = 200_000
    """Attempted steps before an instance is reported as not converged."""
    grow_max: float = 5.0
    """Largest step growth factor from one step to the next."""
    dv_rel_max: float = 0.1
    """Largest change of any node voltage in one step, as a fraction of VDD.  Guards the onset of
    regeneration, where the embedded error estimate alone can accept a too-long step (found against the
    scipy reference: up to 6 % delay error without this guard, < 0.5 % with it)."""
    settle_rel: float = 1e-3
    """The precharge ends when both outputs are within settle_rel * VDD of their precharged DC values."""
    diff_tol: float = _k.DIFF_TOL
    """During the sense, the step error of the outputs' difference V_Q - V_QB is held to diff_tol * (atol + rtol *
    |V_Q - V_QB|) besides each node's own bound: the decision and the delay come from that difference (see
    ``arraysim.kernels.transient.DIFF_TOL``; smaller is more accurate near the metastable point and slower)."""


@dataclass
class RawReads:
    """Per-instance kernel outputs.  ``vout[s, k, j]``: output j (Q, QB) at read instant k."""

    vout: np.ndarray
    tcross: np.ndarray
    """[s, j] time output j falls through VDD/2, measured from SE = 50 % [s] (NaN: never)."""
    energy: np.ndarray
    """[s] energy drawn from VDD over the cycle (sense + precharge) [J]."""
    status: np.ndarray
    steps: np.ndarray
    tcycle: np.ndarray
    """[s] length of the simulated cycle (sense + precharge until settled) [s]."""
    v_pre: np.ndarray | None = None
    """[s, j] output j in the precharged state before the read (the DC operating point with SE = 0) [V]; both
    near VDD in a working sense amplifier (NaN where no DC point was found)."""
    v_dc: np.ndarray | None = None
    """[s, i] every unknown node i (``ReadSimulator.tables.node_names``) in that precharged state [V]: the
    state the read starts from (``v_pre`` is its output columns)."""


def check_vdd(vdd: float) -> float:
    v = float(vdd)
    if not math.isfinite(v) or not VDD_RANGE[0] <= v <= VDD_RANGE[1]:
        raise ValueError(f"VDD {vdd!r} V out of range; allowed {VDD_RANGE[0]} to {VDD_RANGE[1]} V")
    return v


def check_temp(temp_c: float) -> float:
    t = float(temp_c)
    if not math.isfinite(t) or not TEMP_RANGE[0] <= t <= TEMP_RANGE[1]:
        raise ValueError(f"temperature {temp_c!r} degC out of range; allowed {TEMP_RANGE[0]} to "
                         f"{TEMP_RANGE[1]} degC")
    return t


def validate_design(d: PCSADesign) -> None:
    """Raise a ValueError naming the first out-of-range design value."""
    if not isinstance(d.rows, int) or not 1 <= d.rows <= 65536:
        raise ValueError(f"rows per column must be an integer from 1 to 65536, got {d.rows!r}")
    if d.v_wl is not None and not (math.isfinite(d.v_wl) and 0.1 <= d.v_wl <= 5.0):
        raise ValueError(f"word-line voltage {d.v_wl!r} V out of range; allowed 0.1 to 5 V")
    if d.r_ref is not None and not (math.isfinite(d.r_ref) and d.r_ref > 0):
        raise ValueError(f"reference resistance must be finite and > 0 Ohm, got {d.r_ref!r}")
    tm = d.timing
    for name in ("t_rise", "t_sense", "t_precharge", "t_precharge_max"):
        v = getattr(tm, name)
        if not (math.isfinite(v) and 0 < v <= 1e-5):
            raise ValueError(f"timing {name} = {v!r} s out of range; allowed (0, 10 us]")
    for name in ("c_wire_row", "c_cell_node", "c_load"):
        v = getattr(d, name)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0 F, got {v!r}")


class ReadSimulator:
    """Simulates reads of the PCSA circuit for given technology, design and RRAM parameters.

    ``circuit``: "pcsa" (the plain read) or "xnor" (input-controlled branch swapping; every read then
    takes the binary input ``x`` per instance)."""

    def __init__(self, technology: str | Technology = "generic130", design: PCSADesign | None = None,
                 rram: RRAMParams | None = None, tolerances: Tolerances | None = None,
                 circuit: str = "pcsa"):
        self.tech = get_technology(technology)
        self.design = design if design is not None else PCSADesign.for_technology(self.tech)
        self.rram = rram if rram is not None else RRAMParams()
        self.tol = tolerances if tolerances is not None else Tolerances()
        validate_design(self.design)
        self.circuit = circuit
        self.tables = build_tables(self.design, circuit)
        # capacitance matrix [F] and coupling to SE [F] of the unknown nodes (C dV/dt = i + bse dSE/dt);
        # cap: total capacitance at every node (diagonal of cmat; all grounded without overlap_coupling)
        self.cmat, self.bse = capacitance(self.design, self.tech, circuit)
        self.cap = np.diag(self.cmat).copy()
        self._cmat_corner = {}
        self._qch_corner = {}
        self._jn_corner = {}
        self._ov_corner = {}
        self._tabs = {}
        # parameter set of every transistor: its size bin, else the family default (mos_params_at: at a corner,
        # where a bin may have its own set)
        self.mos_params = tuple(device_params(self.tech, m) for m in self.tables.mos)
        self._params_corner = {}
        # kernel columns (n, theta, lambda, eta, gamma, phi, kbody, gjun, vsat) at T_NOM; mos_par_at() gives
        # them at a read temperature (vsat follows the mobility)
        self.mos_par = self.mos_par_at(None)

    def cmat_at(self, corner) -> np.ndarray:
        """The capacitance matrix at ``corner`` (junction capacitances times the corner's factors, see
        ``DeviceShift.cj``); ``self.cmat`` is the one without corner factors.  Coupling to SE (overlaps) does
        not depend on the corner."""
        c = Corner.parse(corner)
        if c not in self._cmat_corner:
            self.tech.corner(c)  # raises for a corner the technology does not have
            self._cmat_corner[c] = np.ascontiguousarray(capacitance(self.design, self.tech, self.circuit, c)[0])
        return self._cmat_corner[c]

    def qch_at(self, corner) -> tuple[np.ndarray, np.ndarray]:
        """(transistor indices, channel capacitance [F]) of the devices whose channel charge the kernel
        models (``PCSADesign.channel_charge``; :func:`arraysim.circuits.pcsa.channel_charges`) at ``corner``."""
        c = Corner.parse(corner)
        if c not in self._qch_corner:
            self._qch_corner[c] = channel_charges(self.design, self.tech, self.circuit, c)
        return self._qch_corner[c]

    def jn_at(self, corner, temp_c: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(node and bulk indices, parameter rows) of the junctions whose charge the kernel models
        (``PCSADesign.junction_charge``; :func:`arraysim.circuits.pcsa.junction_table`) at ``corner`` and
        ``temp_c`` (None: T_NOM)."""
        c = Corner.parse(corner)
        key = (c, None if temp_c is None else float(temp_c))
        if key not in self._jn_corner:
            self.tech.corner(c)  # raises for a corner the technology does not have
            tk = None if temp_c is None else celsius_to_kelvin(float(temp_c))
            self._jn_corner[key] = junction_table(self.design, self.tech, self.circuit, c, tk)
        return self._jn_corner[key]

    def ov_at(self, corner) -> tuple[np.ndarray, np.ndarray]:
        """(gate and drain/source node indices, parameter rows) of the gate overlaps whose charge follows the
        overlap law (``PCSADesign.overlap_charge``; :func:`arraysim.circuits.pcsa.overlap_table`) at ``corner``."""
        c = Corner.parse(corner)
        if c not in self._ov_corner:
            self.tech.corner(c)  # raises for a corner the technology does not have
            self._ov_corner[c] = overlap_table(self.design, self.tech, self.circuit, c)
        return self._ov_corner[c]

    def tabs_at(self, temp_c: float, corner) -> tuple:
        """The kernel's table arguments ``(mos_tab, tab_ref, tab_f, tab_meta, jd_nodes, jd_par)`` at ``temp_c``
        and ``corner`` (see :mod:`arraysim.kernels.transient`): every transistor whose family, size and corner
        have a table in ``tech.iv_tables`` (with ``design.iv_tables``) points to it, with the nominal threshold
        and specific current of its corner and temperature as the reference its instance shifts are taken
        from; every junction site (:func:`arraysim.circuits.pcsa.junction_sites`) whose device's table holds
        junction data gets its diode."""
        c = Corner.parse(corner)
        key = (c, float(temp_c))
        if key not in self._tabs:
            mos = self.tables.mos
            mos_tab = np.full(len(mos), -1, dtype=np.int64)
            ref = np.ones((len(mos), 2))
            used = []
            ivt = self.tech.iv_tables if self.design.iv_tables else None
            if ivt is not None:
                vt0, isp0 = self.nominal_elements(temp_c, c)
                for k, m in enumerate(mos):
                    t = ivt.find(m.family, m.size.w, m.size.l, c)
                    if t is None:
                        continue
                    if not any(t is u for u in used):
                        used.append(t)
                    mos_tab[k] = next(j for j, u in enumerate(used) if u is t)
                    ref[k] = (vt0[k], isp0[k])
            # junction diodes from the tables: every junction site whose device size has a table with junction data
            jd_nodes, jd_par = [], []
            if ivt is not None:
                family = dict(DESIGN_DEVICES)
                for node, bulk, dkey, count in junction_sites(self.design, self.circuit):
                    sz = getattr(self.design, dkey)
                    t = ivt.find(family[dkey], sz.w, sz.l, c)
                    if t is None or t.fj is None:
                        continue
                    if not any(t is u for u in used):
                        used.append(t)
                    jd_nodes.append((self.tables.node_index(node), self.tables.node_index(bulk)))
                    jd_par.append((next(j for j, u in enumerate(used) if u is t), count, float(t.polarity)))
            tab_f, tab_meta = kernel_rows(used, float(temp_c), charges=self.design.charge_tables)
            self._tabs[key] = (mos_tab, ref, tab_f, tab_meta, np.array(jd_nodes, dtype=np.int64).reshape(-1, 2),
                               np.array(jd_par, dtype=float).reshape(-1, 3))
        return self._tabs[key]

    def tabulated(self, corner="tt") -> tuple[str, ...]:
        """Names of the transistors that take their channel current from a table at ``corner``."""
        c = Corner.parse(corner)
        ivt = self.tech.iv_tables if self.design.iv_tables else None
        if ivt is None:
            return ()
        return tuple(m.name for m in self.tables.mos if ivt.find(m.family, m.size.w, m.size.l, c) is not None)

    def mos_params_at(self, corner: Corner | str | None) -> tuple:
        """Parameter set of every transistor at ``corner`` (None: ``mos_params``): a bin's own set for the
        corner when it has one (:attr:`DeviceBin.corner_params`), else the same as ``mos_params``."""
        if corner is None:
            return self.mos_params
        c = Corner.parse(corner)
        if c not in self._params_corner:
            self.tech.corner(c)  # raises for a corner the technology does not have
            self._params_corner[c] = tuple(device_params(self.tech, m, c) for m in self.tables.mos)
        return self._params_corner[c]

    def mos_par_at(self, temp_c: float | None, corner: Corner | str | None = None) -> np.ndarray:
        """The kernel's parameter rows of every transistor at ``temp_c`` (None: T_NOM) and ``corner`` (the
        corner's parameter sets and slope-factor factors; None: ``mos_params``, no factor) (see
        MosParams.kernel_params)."""
        tk = T_NOM if temp_c is None else celsius_to_kelvin(temp_c)
        if corner is None:
            nf = [1.0] * len(self.tables.mos)
        else:
            self.tech.corner(corner)  # raises for a corner the technology does not have
            nf = [self.tech.device_shift(m.family, m.size.w, m.size.l, corner).n for m in self.tables.mos]
        return np.array([p.kernel_params(m.size.l, tk, f)
                         for p, m, f in zip(self.mos_params_at(corner), self.tables.mos, nf)])

    def with_circuit(self, circuit: str) -> "ReadSimulator":
        """The same technology, design, devices and tolerances on another circuit variant."""
        if circuit == self.circuit:
            return self
        return ReadSimulator(self.tech, self.design, self.rram, self.tol, circuit)

    def _vfix(self, vdd: float, x) -> np.ndarray:
        """Fixed node voltages (GND, VDD, SE placeholder, WL[, X, XB])."""
        if self.circuit == "xnor":
            if x is None:
                raise ValueError("the XNOR circuit needs the binary input x of every instance")
            return np.array([0.0, vdd, 0.0, self.v_wl, vdd * x, vdd * (1 - x)])
        if x is not None:
            raise ValueError("an input x is only meaningful for the XNOR circuit")
        return np.array([0.0, vdd, 0.0, self.v_wl])

    # ---------------------------------------------------------------------------------------------
    @property
    def transistor_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.tables.mos)

    @property
    def v_wl(self) -> float:
        return self.design.v_wl if self.design.v_wl is not None else self.tech.vdd_nominal

    def r_ref(self, prog: Programming) -> float:
        """Reference resistance of the 1T1R read [Ohm]."""
        if self.design.r_ref is not None:
            return self.design.r_ref
        return math.sqrt(self.rram.lrs_median(prog) * self.rram.hrs_median(prog))

    def nominal_elements(self, temp_c: float, corner: Corner | str):
        """Threshold magnitudes and specific currents of every transistor at the corner, no variation."""
        tk = celsius_to_kelvin(temp_c)
        self.tech.corner(corner)  # raises for a corner the technology does not have
        vt = np.empty(len(self.tables.mos))
        isp = np.empty(len(self.tables.mos))
        for i, (m, p) in enumerate(zip(self.tables.mos, self.mos_params_at(corner))):
            sh = self.tech.device_shift(m.family, m.size.w, m.size.l, corner)
            vt[i] = p.vt(tk, sh.dvt)
            isp[i] = p.ispec(m.size.w, m.size.l, tk, sh.mu, sh.n)
        return vt, isp

    def mismatch_sigmas(self):
        """(sigma V_T [V], sigma dbeta/beta) per transistor (0 for devices without mismatch)."""
        svt = np.zeros(len(self.tables.mos))
        sb = np.zeros(len(self.tables.mos))
        for i, (m, p) in enumerate(zip(self.tables.mos, self.mos_params)):
            if m.mismatch:
                svt[i] = p.sigma_vt(m.size.w, m.size.l)
                sb[i] = p.sigma_beta(m.size.w, m.size.l)
        return svt, sb

    def read_windows_abs(self, windows) -> np.ndarray:
        """Absolute read instants for sense windows measured from the start of the SE ramp's end."""
        tm = self.design.timing
        w = np.atleast_1d(np.asarray(windows if windows is not None else [tm.t_sense], dtype=float))
        if np.any(w <= 0) or np.any(w > tm.t_sense * (1 + 1e-12)):
            raise ValueError(f"read windows must lie in (0, t_sense = {tm.t_sense:g} s]")
        return np.sort(tm.t_rise + w)

    # ---------------------------------------------------------------------------------------------
    def run(self, vdd: float, temp_c: float, corner: Corner | str, dvt: np.ndarray, dbeta: np.ndarray,
            r_bl: np.ndarray, r_blb: np.ndarray, ohmic_blb: bool = False, windows=None,
            x=None) -> RawReads:
        """Simulate reads of explicit instances at one operating point.

        ``x`` (XNOR circuit only): binary input per instance, 1 or 0 (the pass gates at VDD or 0 V).

        ``dvt``/``dbeta`` (instances x transistors): threshold-magnitude shifts [V] and relative current
        factor shifts added to the corner's nominal values.  ``r_bl``/``r_blb``: low-field resistances at
        the read temperature [Ohm]; ``ohmic_blb`` makes the BLB element an ohmic resistor (1T1R reference).
        """
        vdd = check_vdd(vdd)
        temp_c = check_temp(temp_c)
        r_bl = np.asarray(r_bl, dtype=float)
        r_blb = np.asarray(r_blb, dtype=float)
        ns = r_bl.shape[0]
        if np.any(~np.isfinite(r_bl)) or np.any(r_bl <= 0) or np.any(~np.isfinite(r_blb)) \
                or np.any(r_blb <= 0):
            raise ValueError("resistances must be finite and > 0 Ohm")
        vt0, isp0 = self.nominal_elements(temp_c, corner)
        vt = np.ascontiguousarray(vt0[None, :] + dvt)
        isp = np.ascontiguousarray(isp0[None, :] * (1.0 + dbeta))
        if np.any(isp <= 0):
            raise ValueError("current-factor shifts must keep every beta > 0 (dbeta > -1)")
        r_lf = np.ascontiguousarray(np.stack([r_bl, r_blb], axis=1))
        vnl = np.stack([self.rram.vnl(r_bl), np.zeros(ns) if ohmic_blb else self.rram.vnl(r_blb)], axis=1)
        vnl = np.ascontiguousarray(vnl)
        reads = self.read_windows_abs(windows)
        t = self.tables
        v_guess = np.full(t.nv, 0.5 * vdd)
        v_guess[t.out_nodes] = vdd
        tm = self.design.timing
        out = RawReads(vout=np.empty((ns, reads.size, 2)), tcross=np.empty((ns, 2)),
                       energy=np.empty(ns), status=np.empty(ns, dtype=np.int64),
                       steps=np.empty(ns, dtype=np.int64), tcycle=np.empty(ns), v_dc=np.empty((ns, t.nv)))
        charge = np.empty(ns)
        if x is None or self.circuit != "xnor":
            groups = [(self._vfix(vdd, x), np.arange(ns))]
        else:
            x = np.broadcast_to(np.asarray(x, dtype=int), (ns,))
            if np.any((x != 0) & (x != 1)):
                raise ValueError("the XNOR input x must be 0 or 1")
            groups = [(self._vfix(vdd, xv), np.nonzero(x == xv)[0]) for xv in (0, 1)]
        ut = thermal_voltage(celsius_to_kelvin(temp_c))
        mos_par = self.mos_par_at(temp_c, corner)
        tabs = self.tabs_at(temp_c, corner)
        for vfix, idx in groups:
            if idx.size == 0:
                continue
            g = (slice(None) if idx.size == ns else idx)
            vo, tc, vp, ch = out.vout[g], out.tcross[g], out.v_dc[g], charge[g]
            st, sp, cy = out.status[g], out.steps[g], out.tcycle[g]
            _k.simulate_batch(t.nv, t.mos_nodes, t.mos_pol, mos_par, t.mos_mult,
                              np.ascontiguousarray(vt[g]), np.ascontiguousarray(isp[g]), tabs, t.rr_nodes,
                              np.ascontiguousarray(r_lf[g]), np.ascontiguousarray(vnl[g]), self.cmat_at(corner),
                              self.bse, *self.qch_at(corner), *self.jn_at(corner, temp_c), *self.ov_at(corner),
                              self.design.gmin, ut, vdd, vfix, t.se_idx, t.vdd_idx, t.out_nodes, v_guess,
                              tm.t_rise, tm.t_sense, tm.t_precharge, tm.t_precharge_max,
                              self.tol.settle_rel * vdd, reads, self.tol.rtol, self.tol.atol, self.tol.diff_tol,
                              self.tol.h_max, self.tol.max_steps, self.tol.grow_max,
                              self.tol.dv_rel_max * vdd, vo, tc, vp, ch, st, sp, cy)
            if idx.size != ns:  # fancy indexing gave copies: write back
                out.vout[idx], out.tcross[idx], out.v_dc[idx], charge[idx] = vo, tc, vp, ch
                out.status[idx], out.steps[idx], out.tcycle[idx] = st, sp, cy
        out.energy = charge * vdd
        out.tcross = out.tcross - 0.5 * tm.t_rise
        out.v_pre = out.v_dc[:, t.out_nodes]
        return out

    def waveform(self, vdd, temp_c, corner, r_bl, r_blb, dvt=None, dbeta=None, ohmic_blb=False,
                 max_points=20000, x=None):
        """Trajectory of one instance: dict of time [s], node voltages [V] and supply charge [C]."""
        vdd = check_vdd(vdd)
        temp_c = check_temp(temp_c)
        m = len(self.tables.mos)
        vt0, isp0 = self.nominal_elements(temp_c, corner)
        vt = vt0 + (np.zeros(m) if dvt is None else dvt)
        isp = isp0 * (1.0 + (np.zeros(m) if dbeta is None else dbeta))
        r = np.array([r_bl, r_blb], dtype=float)
        vnl = np.array([self.rram.vnl(r_bl), 0.0 if ohmic_blb else self.rram.vnl(r_blb)])
        t = self.tables
        tm = self.design.timing
        v_guess = np.full(t.nv, 0.5 * vdd)
        v_guess[t.out_nodes] = vdd
        rec_t = np.empty(max_points)
        rec_v = np.empty((max_points, t.nv + 1))
        reads = self.read_windows_abs(None)
        st, q, _, nrec, _ = _k.simulate_read(
            t.nv, t.mos_nodes, t.mos_pol, self.mos_par_at(temp_c, corner), t.mos_mult, vt, isp, self.tabs_at(temp_c, corner),
            t.rr_nodes, r, vnl,
            self.cmat_at(corner), self.bse, *self.qch_at(corner), *self.jn_at(corner, temp_c), *self.ov_at(corner),
            self.design.gmin, thermal_voltage(celsius_to_kelvin(temp_c)), vdd,
            self._vfix(vdd, x), t.se_idx, t.vdd_idx, t.out_nodes, v_guess, tm.t_rise,
            tm.t_sense, tm.t_precharge, tm.t_precharge_max, self.tol.settle_rel * vdd, reads,
            self.tol.rtol, self.tol.atol, self.tol.diff_tol, self.tol.h_max,
            self.tol.max_steps, self.tol.grow_max, self.tol.dv_rel_max * vdd, np.empty((1, 2)), np.empty(2),
            np.empty(t.nv), rec_t, rec_v)
        out = {"t": rec_t[:nrec].copy(), "status": STATUS_TEXT[int(st)]}
        for i, name in enumerate(t.node_names):
            out[name] = rec_v[:nrec, i].copy()
        out["charge"] = rec_v[:nrec, t.nv].copy()
        return out

    def describe(self) -> dict:
        """Every parameter of technology, devices and circuit (for ``arraysim info`` and provenance)."""
        t = self.tables
        tr = []
        caps = node_caps(self.design, self.tech, self.circuit)
        cpl = [{"a": a, "b": b, "c_F": c} for a, b, c in overlap_caps(self.design, self.tech, self.circuit)]
        for m, fam in zip(t.mos, self.mos_params):
            b = self.tech.device_bin(m.family, m.size.w, m.size.l)
            tr.append({"name": m.name, "family": m.family, "d": m.d, "g": m.g, "s": m.s, "b": m.b,
                       "w_m": m.size.w, "l_m": m.size.l, "multiplicity": m.mult, "mismatch": m.mismatch,
                       "parameter_set": (f"bin {b.w * 1e6:g}/{b.l * 1e6:g} um" if b is not None
                                         else "family default"),
                       "sigma_vt_V": fam.sigma_vt(m.size.w, m.size.l) if m.mismatch else 0.0,
                       "sigma_beta": fam.sigma_beta(m.size.w, m.size.l) if m.mismatch else 0.0})
        jn, jp = self.jn_at("tt")
        jl = [{"node": self.tables.node_name(x), "bulk": self.tables.node_name(b), "polarity": int(r[0]), "c0_F": r[1],
               "mj": r[2], "pb_V": r[3], "constant_part_F": r[4]} for (x, b), r in zip(jn, jp)]
        on, op = self.ov_at("tt")
        ol = [{"gate": self.tables.node_name(g), "side": self.tables.node_name(x), "polarity": int(r[0]), "cgdo_W_F": r[1],
               "cgdl_W_F": r[2], "ckappa_V": r[3], "constant_part_F": r[4]} for (g, x), r in zip(on, op)]
        return {
            "circuit": self.circuit,
            "technology": self.tech.to_dict(),
            "rram": self.rram.to_dict(),
            "design": self.design.to_dict(),
            "word_line_voltage_V": self.v_wl,
            "transistors": tr,
            "rram_elements": [{"name": n, "a": self.tables.node_name(r[0]), "b": self.tables.node_name(r[1])}
                              for n, r in zip(t.rr_names, t.rr_nodes)],
            "node_capacitance_F": caps,
            **({"overlap_capacitors_F": cpl} if cpl else {}),
            **({"junction_laws": jl} if jl else {}),
            **({"overlap_laws": ol} if ol else {}),
            "timing_s": dataclasses.asdict(self.design.timing),
            "tolerances": dataclasses.asdict(self.tol),
            **({"iv_tables": {"transistors_tt": list(self.tabulated("tt")), **self.tech.iv_tables.summary()}}
               if self.tech.iv_tables is not None and self.design.iv_tables else {}),
            **({"table_charges_tt": tq} if (tq := [m.name for m in t.mos if charge_tabulated(
                self.design, self.tech, m.family, m.size, "tt")]) else {}),
        }

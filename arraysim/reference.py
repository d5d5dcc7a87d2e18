"""Slow, independent reference simulation of one PCSA read (plain Python / numpy / scipy).

What it is
----------
A second, deliberately simple implementation of exactly the circuit equations that the compiled kernel
(:mod:`arraysim.kernels`) solves, used only to *test* the kernel.  It takes the same inputs as
:meth:`arraysim.montecarlo.engine.ReadSimulator.run` for one instance and returns the same quantities, so
kernel and reference can be compared one to one (``tests/test_reference.py``).

It shares no code with the kernel's equations: it does not import :mod:`arraysim.kernels` (nor
anything from :mod:`arraysim` at all; the simulator object is passed in).  Everything below is written
again from the model statements:

* **MOSFET** -- the EKV-family current of the ``arraysim.kernels.devices`` docstring, in numpy::

      a    = sqrt(V_DS^2 + eps^2) - eps                  (eps = 10 mV)
      x    = V_G - (V_T - eta a)                                       (no body-effect law: kbody NaN)
      x    = V_G - (V_T - eta a) - V_M - K(V_M),                        (body-effect law)
             V_M = (V_S + V_D - a - eps) / 2,  K(V) = kbody V + gamma (sqrt(phi + V) - sqrt(phi))
      v_p  = (0 or V_M) + x / n + (1/n_s - 1/n) tau U_T ln(1 + exp(x / (tau U_T)))   (n_s: n_strong, else n)
      L_f  = ln(1 + exp((v_p - V_S) / (2 U_T))),   L_r = ln(1 + exp((v_p - V_D) / (2 U_T)))
      I_D  = I_spec (L_f^2 - L_r^2) (1 + lambda a) / (1 + theta n_s U_T (L_f + L_r) + k_vsat n_s U_T |L_f - L_r|)
             k_vsat = vsat (l_ref / L) (T / T_NOM)^mob_exp        (velocity saturation)

  with voltages referred to the bulk.  A PMOS is the NMOS equation in the mirrored frame
  (``v -> V_B - v`` for every terminal) with the current sign flipped.  ``I_D`` flows into the drain.
  Only currents are coded: no analytic derivatives anywhere (the ODE solver builds its Jacobian by finite
  differences).
* **Tabulated devices** (``sim.tech.iv_tables`` with ``design.iv_tables``; :mod:`arraysim.cmos.ivtables`) --
  ``I = (1 + dbeta) exp(F(V_GS - dV_T, V_DS, V_SB)) (1 - exp(-V_DS / U_T))`` in the (mirrored) frame with
  source and drain exchanged where V_D < V_S; ``F`` from the table at the read temperature
  (``IVTable.at``), interpolated here by its own Catmull-Rom code in matrix form (:func:`table_interp_ref`);
  a table with junction data gives every junction site of its device size
  (``arraysim.circuits.pcsa.junction_sites``) the diode current ``exp(fj(V_F)) (exp(V_F/U_T) - 1)`` from the
  bulk into the node, times the site's count (:func:`junction_diode_ref`).
* **RRAM** -- ``I = (V_nl / R) sinh(V / V_nl)`` (``V_nl <= 0``: ohmic ``V / R``), current from node a to b.
* **Circuit** -- KCL at every unknown node, written with an incidence matrix built from the *node names*
  of the simulator's element tables (``sim.tables.mos[k].d/g/s/b`` and the RRAM node names; the index
  tables ``mos_nodes``/``rr_nodes`` are only cross-checked against the names)::

      C dV/dt = (sum of element currents into each node - gmin V) + b_se dV_SE/dt,   dq/dt = I drawn from VDD

  with the simulator's capacitance matrix at the read's corner ``C = sim.cmat_at(corner)`` (diagonal unless
  the design has ``overlap_coupling``; then ``dV/dt`` is obtained with ``C``'s inverse) and coupling ``b_se = sim.bse``
  to the sense-enable waveform, whose slope is constant on each integration segment.
* **Channel charges** (``PCSADesign.channel_charge``; the devices and capacitances ``sim.qch_at(corner)``) --
  only their charges are coded, from the model statement (voltages referred to the bulk, mirrored for a
  PMOS)::

      v_P = (V_G - V_T) / n,   Q_x = C_ch 2 n U_T ln(1 + exp((v_P - V_x) / (2 U_T)))   (x = S, D)
      charge of the drain and of the source terminal: -p (Q_S + Q_D) / 4     (p = +1 NMOS, -1 PMOS)

  The node charges are then ``C V + q(V, V_SE)``; the mass matrix ``C + dq/dV`` and the coupling
  ``b_se - dq/dV_SE`` are central differences of ``q`` (the kernel's are analytic), and ``dV/dt`` solves
  ``(C + dq/dV) dV/dt = f + (b_se - dq/dV_SE) dV_SE/dt``.  The supply charge adds the change of the charge
  on the terminals at VDD.
* **Table charges** (``PCSADesign.charge_tables``; a tabulated device whose table has charges) -- the table's
  intrinsic gate, drain and source charges at (V_GS - dV_T, V_DS, V_SB) in the (mirrored) frame, drain and source
  exchanged where V_D < V_S, a PMOS's negated; the bulk holds minus their sum (:func:`table_mos_charges`);
  added to ``q`` and differentiated like the channel charges (such a device has no channel-charge entry and
  no constant gate capacitance in ``C``).
* **Junction charges** (``PCSADesign.junction_charge``; the junctions of ``arraysim.circuits.pcsa.junctions``
  whose parameter set has a law, ``cj0 > 0``) -- the charge ``p Q_j(v_R) - cj W (V_x - V_b)`` at reverse bias
  ``v_R = p (V_x - V_b)``, ``Q_j`` the integral of ``cj0 W (1 + v_R/pb)^-mj`` (forward bias: of its tangent-slope
  extension), added to ``q`` above and differentiated the same way (``C`` holds the constant ``cj W``); at the
  read temperature ``cj0 (1 + tcj dT)`` and ``pb - tpb dT`` (dT from 27 degC).
* **Overlap charges** (``PCSADesign.overlap_charge`` with ``overlap_coupling``; every drain/source side of a
  transistor whose parameter set has an overlap law, ``cgdo > 0``, unless both its nodes are fixed) -- the gate
  side holds ``p Q_ov(p (V_g - V_x)) - cov W (V_g - V_x)`` (BSIM4's ``qgdo``,
  :meth:`arraysim.cmos.params.MosParams.overlap_charge`; ``C`` holds the constant ``cov W``), the other side its
  negative; differentiated the same way.

  Fixed nodes: GND = 0, VDD = vdd, WL = the design's word-line voltage, SE = the piecewise-linear
  sense-enable waveform (0 -> VDD over ``t_rise`` from t = 0, high until ``t_fall = t_rise + t_sense``,
  back to 0 over ``t_rise``, then precharge for at least ``t_precharge`` and then until both outputs are
  within ``settle_rel * VDD`` of their DC values, at most ``t_precharge_max`` -- a terminal event).
* **Initial state** -- the DC operating point with SE = 0 (precharged): found as the steady state of the
  SE = 0 circuit by pseudo-transient continuation (a stiff BDF integration over a long time, which cannot
  jump to a spurious root) and polished by ``scipy.optimize.root`` on the scaled residual ``f_i / C_i``;
  convergence is verified with a full Newton step (finite-difference Jacobian) below ``1e-9`` V.
* **Transient** -- ``scipy.integrate.solve_ivp`` (implicit Radau IIA, order 5, numerical Jacobian, tight
  tolerances), integrated piecewise between the SE breakpoints ``0, t_r, t_fall, t_fall + t_r, t_end``
  so the waveform's kinks never fall inside a step.  ``events`` locate the first time Q and QB fall
  through VDD/2 during the sense phase (``t <= t_fall``).  The supply charge is carried as an extra state
  (scaled by the total node capacitance so that it is error-controlled like a voltage).

Outputs (as :func:`arraysim.api.read_instances`): ``v_q``/``v_qb`` at the end of the sense window,
``t_fall_q``/``t_fall_qb`` measured from SE at 50 % (i.e. minus ``t_rise / 2``; NaN if no fall, also for
an output that already starts below VDD/2), ``delay`` (earlier of the two), ``energy`` = VDD x charge drawn
from VDD over the whole cycle, ``decision`` (+1 Q low & QB high, -1 reverse, 0 both high, 2 both low,
threshold VDD/2).

Cost: about half a second per instance (numpy right-hand side); it is a test oracle, not a simulator.
"""
from __future__ import annotations

import math
import time

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import root

from .circuits.pcsa import DESIGN_DEVICES, device_params, junction_sites, junctions, transistors


__all__ = ["ekv_drain_current", "mos_current", "rram_current", "ReferenceCircuit", "reference_read",
           "reference_read_many", "thermal_voltage_ref"]

EPS_VDS = 0.010  # V, smoothing of |V_DS| in the DIBL / CLM terms (model statement)
_KB = 1.380649e-23  # J/K (exact, SI 2019)
_QE = 1.602176634e-19  # C (exact, SI 2019)


def thermal_voltage_ref(temp_c: float) -> float:
    """kT/q [V] at ``temp_c`` degrees Celsius."""
    return _KB * (temp_c + 273.15) / _QE


# --------------------------------------------------------------------------------------------------
# device equations (currents only)
# --------------------------------------------------------------------------------------------------
def _ln1p_exp(x):
    """ln(1 + e^x), overflow-free (numpy's logaddexp)."""
    return np.logaddexp(0.0, x)


def pinchoff_ref(vg, vd, vs, vt, n, eta, gamma, phi, kbody, ns=None, tau=4.0, ut=0.025, dv0=0.0):
    """Pinch-off voltage (bulk-referred NMOS frame) from the gate drive ``x``: ``V_G - V_T + eta a`` where
    ``kbody`` is NaN (no body law), else ``V_G - V_T + eta a - V_M - K(V_M)`` with ``V_M = (V_S + V_D - a -
    eps) / 2`` and ``K(V) = kbody V + gamma (sqrt(phi + V) - sqrt(phi))``, the root continued along its
    tangent below ``phi + V = phi / 4``.  ``v_p = (0 or V_M) + x / n + (1/ns - 1/n) w ln(1 + e^(x/w))`` with
    ``w = tau ut`` (``ns`` None: ``n``, one slope factor); DIBL ``D(a) = eta a`` (``dv0`` 0) or
    ``eta (sqrt(a + dv0) - sqrt(dv0))``."""
    ns = n if ns is None else ns
    vg, vd, vs, vt, n, eta, gamma, phi, kbody, ns, tau, dv0 = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (vg, vd, vs, vt, n, eta, gamma, phi, kbody, ns, tau, dv0)))
    vds = vd - vs
    a = np.sqrt(vds * vds + EPS_VDS * EPS_VDS) - EPS_VDS
    dib = np.where(dv0 > 0.0, eta * (np.sqrt(a + dv0) - np.sqrt(dv0)), eta * a)
    x = np.array(vg - (vt - dib), dtype=float)
    base = np.zeros_like(x)
    b = ~np.isnan(kbody)
    if np.any(b):
        vm = 0.5 * (vs[b] + vd[b] - np.sqrt(vds[b] ** 2 + EPS_VDS ** 2))
        u = phi[b] + vm
        u0 = 0.25 * phi[b]
        root = np.where(u >= u0, np.sqrt(np.maximum(u, u0)), np.sqrt(u0) + (u - u0) / (2.0 * np.sqrt(u0)))
        k = kbody[b] * vm + gamma[b] * (root - np.sqrt(phi[b]))
        x[b] = x[b] - vm - k
        base[b] = vm
    w = tau * ut
    return base + x / n + (1.0 / ns - 1.0 / n) * w * _ln1p_exp(x / w)


def ekv_drain_current(vg, vd, vs, vt, ispec, n, theta, lam, eta, ut, gamma=0.0, phi=0.8, kbody=np.nan,
                      vsat=0.0, ns=None, tau=4.0, dv0=0.0):
    """NMOS-frame EKV drain current (bulk at 0 V); broadcasts over numpy arrays.  ``ns`` is the
    strong-inversion slope factor (None: ``n``), ``tau`` the blend width in thermal voltages, ``dv0`` the
    knee of the square-root DIBL law (0: linear)."""
    ns = n if ns is None else ns
    vds = vd - vs
    a = np.sqrt(vds * vds + EPS_VDS * EPS_VDS) - EPS_VDS
    vp = pinchoff_ref(vg, vd, vs, vt, n, eta, gamma, phi, kbody, ns, tau, ut, dv0)
    lf = _ln1p_exp((vp - vs) / (2.0 * ut))
    lr = _ln1p_exp((vp - vd) / (2.0 * ut))
    return ispec * (lf * lf - lr * lr) * (1.0 + lam * a) / (1.0 + theta * ns * ut * (lf + lr)
                                                            + vsat * ns * ut * np.abs(lf - lr))


def mos_current(polarity, vd, vg, vs, vb, vt, ispec, n, theta, lam, eta, ut, gamma=0.0, phi=0.8, kbody=np.nan,
                vsat=0.0, ns=None, tau=4.0, dv0=0.0):
    """Current into the drain terminal of an NMOS (``polarity`` +1) or PMOS (-1); ``vt`` is |V_T|.

    A PMOS is the NMOS equation applied to the mirrored voltages ``V_B - v`` with the sign flipped.
    """
    p = np.asarray(polarity, dtype=float)
    # NMOS: v - V_B ; PMOS: V_B - v  ==  p * (v - V_B)
    return p * ekv_drain_current(p * (vg - vb), p * (vd - vb), p * (vs - vb), vt, ispec, n, theta,
                                 lam, eta, ut, gamma, phi, kbody, vsat, ns, tau, dv0)


_CR = 0.5 * np.array([[0.0, 2.0, 0.0, 0.0], [-1.0, 0.0, 1.0, 0.0], [2.0, -5.0, 4.0, -1.0], [-1.0, 3.0, -3.0, 1.0]])
"""Catmull-Rom in matrix form: on the cell (p1, p2) with neighbours p0, p3, ``f(t) = [1 t t^2 t^3] _CR [p0..p3]``."""
_POW = np.arange(4)


def ghost_padded(a):
    """``a`` (3-D, or a stack of 3-D arrays along a leading axis) extended on every side of its last three axes
    by one linearly extrapolated ghost point (``2 a[0] - a[1]``, ``2 a[-1] - a[-2]``), the array
    :func:`table_interp_ref` interpolates."""
    a = np.asarray(a, dtype=float)
    lead = a.ndim - 3
    g = np.pad(a, [(0, 0)] * lead + [(1, 1)] * 3, mode="constant")
    for ax in range(lead, lead + 3):  # ghost points: 2 a[0] - a[1] and 2 a[-1] - a[-2]
        idx = [slice(None)] * a.ndim
        n = a.shape[ax]
        for ghost, e0, e1 in ((0, 1, 2), (n + 1, n, n - 1)):
            i0, i1, ig = list(idx), list(idx), list(idx)
            i0[ax], i1[ax], ig[ax] = e0, e1, ghost
            g[tuple(ig)] = 2 * g[tuple(i0)] - g[tuple(i1)]
    return g


def table_interp_ref(a, x, g=None):
    """Catmull-Rom tensor-product interpolation of the 3-D array ``a`` (unpadded, values at integer index
    coordinates 0..n-1 per axis) at index coordinates ``x`` (3, k): beyond the end points each axis is
    extended by one linearly extrapolated ghost point; outside [0, n-1] the value at the clamped coordinate
    continues along its gradient.  Returns the values (k,).  ``a`` may also be a stack of such arrays along a
    leading axis (m, ...): then the values (m, k).  ``g``: ``ghost_padded(a)`` if at hand (``a`` is then only
    used for its shape)."""
    x = np.asarray(x, dtype=float)
    if g is None:
        g = ghost_padded(a)
    shape = np.shape(a)[-3:]
    c = np.empty_like(x)
    cell = np.empty(x.shape, dtype=int)
    powers = []  # per axis: [1 t t^2 t^3] and its derivative, each (k, 4)
    for ax in range(3):
        n = shape[ax]
        c[ax] = np.clip(x[ax], 0.0, n - 1.0)
        cell[ax] = np.minimum(np.floor(c[ax]).astype(int), n - 2)
        t = (c[ax] - cell[ax])[:, None]
        powers.append((t ** _POW @ _CR, _POW * t ** np.maximum(_POW - 1, 0) @ _CR))
    four = np.arange(4)
    i0, i1, i2 = (cell[ax][:, None] + four for ax in range(3))
    blk = g[..., i0[:, :, None, None], i1[:, None, :, None], i2[:, None, None, :]]  # (m.., k, 4, 4, 4)
    w = [powers[ax][0] for ax in range(3)]
    dw = [powers[ax][1] for ax in range(3)]

    def contract(w0, w1, w2):
        return (blk * (w0[:, :, None, None] * w1[:, None, :, None] * w2[:, None, None, :])).sum(axis=(-3, -2, -1))

    val = contract(*w)
    if np.any(x != c):  # outside the grid: the clamped point's value continued along its gradient
        grads = (contract(dw[0], w[1], w[2]), contract(w[0], dw[1], w[2]), contract(w[0], w[1], dw[2]))
        val = val + sum(gr * (x[ax] - c[ax]) for ax, gr in enumerate(grads))
    return val


def table_channel_current(table_f, grid, vgs, vds, vsb, ut, table_h=None, dvt=0.0, pad=None):
    """Forward channel current of a tabulated device, ``exp(F(V_GS, V_DS, V_SB) + dvt H(...) + dvt^2 H2(...) / 2)
    (1 - exp(-V_DS / U_T))`` (V_DS >= 0; ``table_f`` [vsb, vds, vgs] at the read temperature, ``grid`` its
    IVGrid: V_GS and V_SB uniform, V_DS uniform in sqrt(V_DS + vds_a); ``table_h``: (H, H2), the threshold-shift
    response on the same grid, or None).  ``pad``: ``ghost_padded`` of the stack (F, H, H2), or of (F,)
    without H, if at hand."""
    vgs, vds, vsb = (np.atleast_1d(np.asarray(z, dtype=float)) for z in (vgs, vds, vsb))
    u0 = math.sqrt(grid.vds_a)
    du = (math.sqrt(grid.vds_max + grid.vds_a) - u0) / (grid.nvds - 1)
    x = np.stack([(vsb - grid.vsb0) / grid.dvsb, (np.sqrt(vds + grid.vds_a) - u0) / du,
                  (vgs - grid.vgs0) / grid.dvgs])
    if pad is None:
        pad = ghost_padded(np.stack([table_f] if table_h is None else [table_f, *table_h]))
    r = table_interp_ref(table_f, x, pad)
    f = r[0]
    if r.shape[0] == 3 and dvt != 0.0:
        f = f + dvt * r[1] + 0.5 * dvt ** 2 * r[2]
    return np.exp(f) * -np.expm1(-vds / ut)


def junction_diode_ref(fj, jgrid, vf, ut, vf_lin=0.8):
    """Diode current of one tabulated junction at forward bias ``vf`` (array): ``exp(fj(vf)) (exp(vf/U_T) - 1)``,
    ``fj`` [k] on the grid ``jgrid = (vf0, dvf, n)`` by 1-D Catmull-Rom with linear ghost points (continued
    along its end slope outside the grid); above ``vf_lin`` the current continues along its tangent (a
    numerical guard of the model statement, far outside any read's bias)."""
    vf = np.atleast_1d(np.asarray(vf, dtype=float))
    vf0, dvf, n = jgrid
    g = np.concatenate([[2 * fj[0] - fj[1]], fj, [2 * fj[-1] - fj[-2]]])

    def f_and_slope(v):
        x = (v - vf0) / dvf
        c = np.clip(x, 0.0, n - 1.0)
        i = np.minimum(np.floor(c).astype(int), n - 2)
        t = c - i
        pts = np.stack([g[i + j] for j in range(4)], axis=1)  # (k, 4): ghost-padded i-1 .. i+2
        w = np.stack([np.ones_like(t), t, t * t, t ** 3], axis=1) @ _CR
        dw = np.stack([np.zeros_like(t), np.ones_like(t), 2 * t, 3 * t * t], axis=1) @ _CR
        val, d = np.sum(w * pts, axis=1), np.sum(dw * pts, axis=1)
        return val + d * (x - c), d / dvf

    def current(v):
        f, d = f_and_slope(v)
        e = np.exp(v / ut)
        return np.exp(f) * (e - 1.0), np.exp(f) * (d * (e - 1.0) + e / ut)

    vc = np.minimum(vf, vf_lin)
    j, dj = current(vc)
    return j + np.where(vf > vf_lin, dj * (vf - vf_lin), 0.0)


def table_mos_current(polarity, vd, vg, vs, vb, dvt, bfac, table_f, grid, ut, table_h=None, pad=None):
    """Current into the drain terminal of a tabulated device (arrays of one device's states): the NMOS-frame
    current ``bfac I_ch(V_GS - dvt, V_DS, V_SB)`` (times ``exp(dvt H + dvt^2 H2 / 2)`` there with a threshold-shift
    response ``table_h`` = (H, H2)) in the mirrored frame for a PMOS, source and drain exchanged where V_D < V_S."""
    p = float(polarity)
    g, d, s_ = (p * (np.asarray(z, dtype=float) - vb) for z in (vg, vd, vs))
    fwd = d >= s_
    src = np.where(fwd, s_, d)
    drn = np.where(fwd, d, s_)
    i = bfac * table_channel_current(table_f, grid, g - src - dvt, drn - src, src, ut, table_h, dvt, pad)
    return p * np.where(fwd, i, -i)


def table_mos_charges(polarity, vd, vg, vs, vb, dvt, table_q, grid, pad=None):
    """Terminal charges (drain, gate, source, bulk) [C] of a tabulated device, shape (4, k) for states given as
    arrays (k,) (or floats): ``table_q`` = (qg, qd, qs) [vsb, vds, vgs] at the read temperature, the NMOS-frame
    intrinsic charges at (V_GS - dvt, V_DS >= 0, V_SB), in the mirrored frame for a PMOS (whose terminal
    charges are the negated frame charges), the table's drain and source charges on the source and drain
    terminals where V_D < V_S; the bulk holds minus the sum.  ``pad``: :func:`ghost_padded` of the stack of the
    three arrays, if at hand."""
    p = float(polarity)
    g, d, s_ = (p * (np.atleast_1d(np.asarray(z, dtype=float)) - vb) for z in (vg, vd, vs))
    g, d, s_ = np.broadcast_arrays(g, d, s_)
    fwd = d >= s_
    src = np.where(fwd, s_, d)
    drn = np.where(fwd, d, s_)
    u0 = math.sqrt(grid.vds_a)
    du = (math.sqrt(grid.vds_max + grid.vds_a) - u0) / (grid.nvds - 1)
    x = np.stack([(src - grid.vsb0) / grid.dvsb, (np.sqrt(drn - src + grid.vds_a) - u0) / du,
                  (g - src - dvt - grid.vgs0) / grid.dvgs])
    qg, qd, qs = table_interp_ref(table_q[0], x, ghost_padded(np.stack(table_q)) if pad is None else pad)
    q = np.empty((4, g.size))
    q[0] = np.where(fwd, qd, qs)
    q[1] = qg
    q[2] = np.where(fwd, qs, qd)
    q[:3] *= p
    q[3] = -q[:3].sum(axis=0)
    return q


def rram_current(v, r, vnl):
    """RRAM current a -> b at voltage ``v`` across it: ``(V_nl/R) sinh(V/V_nl)``, ohmic if ``V_nl <= 0``."""
    v = np.asarray(v, dtype=float)
    if vnl <= 0.0:
        return v / r
    return vnl / r * np.sinh(v / vnl)


# --------------------------------------------------------------------------------------------------
# circuit
# --------------------------------------------------------------------------------------------------
class ReferenceCircuit:
    """The read circuit of ``sim`` for one instance, as an ODE ``y' = F(t, y)``, ``y = (V..., q/C_ref)``.

    ``F`` accepts ``y`` of shape (n,) or (n, k) (``solve_ivp``'s ``vectorized`` convention), which makes
    the finite-difference Jacobian one call.
    """

    def __init__(self, sim, vdd, temp_c, corner, r_bl, r_blb, dvt=None, dbeta=None, ohmic_blb=False,
                 x=None):
        tb = sim.tables
        self.vdd = float(vdd)
        self.temp_c = float(temp_c)
        self.ut = thermal_voltage_ref(self.temp_c)
        tm = sim.design.timing
        self.t_r = float(tm.t_rise)
        self.t_sense = float(tm.t_sense)
        self.t_fall = self.t_r + self.t_sense
        self.t_end = self.t_fall + self.t_r + float(tm.t_precharge)
        self.t_end_max = self.t_fall + self.t_r + max(float(tm.t_precharge), float(tm.t_precharge_max))
        self.settle_tol = float(sim.tol.settle_rel) * self.vdd
        self.gmin = float(sim.design.gmin)

        names = list(tb.node_names)
        self.node_names = names
        self.nv = len(names)
        nm = len(tb.mos)
        fixed_value = {"GND": 0.0, "VDD": self.vdd, "WL": float(sim.v_wl), "SE": None}
        if "X" in tb.fixed_names:  # XNOR circuit: input pass gates at VDD * x and VDD * (1 - x)
            if x not in (0, 1):
                raise ValueError("the XNOR circuit needs the input x = 0 or 1")
            fixed_value.update(X=self.vdd * x, XB=self.vdd * (1 - x))
        all_names = list(tb.node_names) + list(tb.fixed_names)
        if set(tb.fixed_names) != set(fixed_value):
            raise ValueError(f"unexpected fixed nodes {tb.fixed_names}")

        # Extended voltage vector: unknown nodes, then the constant fixed nodes, then SE (our own order).
        const_names = [k for k in fixed_value if k != "SE"]
        ext = names + const_names + ["SE"]
        self._ext_index = {nm_: i for i, nm_ in enumerate(ext)}
        self._fixed_const = np.array([fixed_value[k] for k in const_names])

        # --- transistors (from names; index tables only cross-checked) ---
        term = np.empty((4, nm), dtype=int)
        for k, m in enumerate(tb.mos):
            for j, nd in enumerate((m.d, m.g, m.s, m.b)):
                if all_names[tb.mos_nodes[k, j]] != nd:
                    raise ValueError(f"table inconsistency at {m.name} terminal {j}")
                term[j, k] = self._ext_index[nd]
            want_pol = -1 if m.family == "pmos" else 1
            if int(tb.mos_pol[k]) != want_pol or float(tb.mos_mult[k]) != float(m.mult):
                raise ValueError(f"table inconsistency at {m.name}")
        self._term = term
        self.pol = np.asarray(tb.mos_pol, dtype=float)
        self.mult = np.asarray(tb.mos_mult, dtype=float)
        # every parameter from the parameter sets at this corner (a bin's own set there, else its set) and
        # temperature (t_corr, the corner's factor), not from the kernel's table
        tk = self.temp_c + 273.15
        params = sim.mos_params_at(corner)
        shape = np.array([p.shape_params(m.size.l) for p, m in zip(params, tb.mos)], dtype=float)
        self.theta, self.lam, self.eta, self.gamma, self.phi, self.kbody = (shape[:, k] for k in range(1, 7))
        self.gjun = np.array([p.gjun for p in params], dtype=float) * self.mult  # junction shunts, per terminal
        self.vsat = np.array([p.vsat_at(m.size.l, tk) for p, m in zip(params, tb.mos)], dtype=float)
        nf = [sim.tech.device_shift(m.family, m.size.w, m.size.l, corner).n for m in tb.mos]
        self.n = np.array([p.n_at(tk, f) for p, f in zip(params, nf)], dtype=float)
        self.ns = np.array([p.ns_at(tk, f) for p, f in zip(params, nf)], dtype=float)
        self.tau = np.array([p.tau for p in params], dtype=float)
        self.dv0 = np.array([p.dibl_v0 for p in params], dtype=float)
        vt0, isp0 = sim.nominal_elements(temp_c, corner)
        self.vt = np.asarray(vt0, dtype=float) + (0.0 if dvt is None else np.asarray(dvt, dtype=float))
        self.ispec = np.asarray(isp0, dtype=float) * (1.0 + (0.0 if dbeta is None
                                                              else np.asarray(dbeta, dtype=float)))
        if np.any(self.ispec <= 0):
            raise ValueError("ispec must stay > 0")
        # tabulated devices (sim.tech.iv_tables, design.iv_tables): k -> (F at the read temperature, grid, the
        # instance's threshold shift and current factor relative to the nominal device of the corner, H or None)
        self.tab = {}
        self.tabq = {}  # k -> ((qg, qd, qs) at the read temperature, grid, threshold shift, their ghost_padded stack)
        self.jdiode = []
        ivt = sim.tech.iv_tables if sim.design.iv_tables else None
        if ivt is not None:
            for k, m in enumerate(tb.mos):
                t = ivt.find(m.family, m.size.w, m.size.l, corner)
                if t is not None:
                    th = None if t.h is None else (t.at(self.temp_c, data="h"), t.at(self.temp_c, data="h2"))
                    tf = t.at(self.temp_c)
                    self.tab[k] = (tf, t.grid, self.vt[k] - vt0[k], self.ispec[k] / isp0[k], th,
                                   ghost_padded(np.stack([tf] if th is None else [tf, *th])))
                    if t.qg is not None and sim.design.charge_tables:
                        tq = tuple(t.at(self.temp_c, data=q) for q in ("qg", "qd", "qs"))
                        self.tabq[k] = (tq, t.grid, self.vt[k] - vt0[k], ghost_padded(np.stack(tq)))
            # junction diodes: every junction site whose device's table has junction data (node index, bulk
            # name, polarity, count, fj at the read temperature, its grid)
            dev_family = dict(DESIGN_DEVICES)
            for node, bulk, dkey, count in junction_sites(sim.design, sim.circuit):
                sz = getattr(sim.design, dkey)
                t = ivt.find(dev_family[dkey], sz.w, sz.l, corner)
                if t is not None and t.fj is not None:
                    self.jdiode.append((names.index(node), bulk, float(t.polarity), float(count),
                                        t.at(self.temp_c, "fj"), t.jgrid))

        # KCL incidence: current I_k enters drain terminal (leaves the drain node), leaves source terminal
        # (enters the source node).  Row nv = the VDD rail: current drawn from it.
        inc = np.zeros((self.nv + 1, nm))
        for k, m in enumerate(tb.mos):
            if m.d in names:
                inc[names.index(m.d), k] -= self.mult[k]
            if m.s in names:
                inc[names.index(m.s), k] += self.mult[k]
            if m.d == "VDD":
                inc[self.nv, k] += self.mult[k]
            if m.s == "VDD":
                inc[self.nv, k] -= self.mult[k]
        self._inc_mos = inc
        # junction shunts: current gjun (V_x - V_b) from terminal x (drain, source) into the bulk b
        self._inc_jun = []
        for j in (0, 2):
            ij = np.zeros((self.nv + 1, nm))
            for k, m in enumerate(tb.mos):
                x, b = (m.d if j == 0 else m.s), m.b
                for nd, sgn in ((x, -1.0), (b, 1.0)):
                    if nd in names:
                        ij[names.index(nd), k] += sgn
                    elif nd == "VDD":
                        ij[self.nv, k] -= sgn
            self._inc_jun.append(ij)

        # --- RRAM devices ---
        rr_names = list(tb.rr_names)
        if rr_names != ["R_BL", "R_BLB"]:
            raise ValueError(f"unexpected RRAM elements {rr_names}")
        self.r = np.array([float(r_bl), float(r_blb)])
        self.vnl = np.array([float(sim.rram.vnl(r_bl)), 0.0 if ohmic_blb else float(sim.rram.vnl(r_blb))])
        self._rr_term = np.empty((2, 2), dtype=int)
        inc_r = np.zeros((self.nv + 1, 2))
        for k in range(2):
            a_name = all_names[tb.rr_nodes[k, 0]]
            b_name = all_names[tb.rr_nodes[k, 1]]
            self._rr_term[:, k] = [self._ext_index[a_name], self._ext_index[b_name]]
            if a_name in names:
                inc_r[names.index(a_name), k] -= 1.0
            if b_name in names:
                inc_r[names.index(b_name), k] += 1.0
            if a_name == "VDD":
                inc_r[self.nv, k] += 1.0
            if b_name == "VDD":
                inc_r[self.nv, k] -= 1.0
        self._inc_rr = inc_r

        cmat = np.asarray(sim.cmat_at(corner), dtype=float)
        self.bse = np.asarray(sim.bse, dtype=float)
        self.cap = np.diag(cmat).copy()
        if cmat.shape != (self.nv, self.nv) or np.any(self.cap <= 0) or self.bse.shape != (self.nv,):
            raise ValueError("node capacitances must be positive, one per unknown node")
        self.cmat = cmat
        # channel charges: (transistor, C_ch) of the clocked devices
        qi, qc = sim.qch_at(corner)
        self.qch = [(int(k), float(c)) for k, c in zip(qi, qc)]
        # junction charges: (node, bulk, polarity, c0, mj, pb, constant part already in cmat)
        # (from the names and parameter sets of arraysim.circuits.pcsa.junctions, not from the kernel's table)
        self.jn = []
        if sim.design.junction_charge:
            for node, bulk, p, w in junctions(sim.design, sim.tech, sim.circuit, corner):
                if p.junction_law():
                    cj0, mj, pb = p.junction_law_at(temp_c + 273.15)  # at the read temperature
                    self.jn.append((self._ext_index[node], self._ext_index[bulk], float(p.polarity), cj0 * w,
                                    mj, pb, p.cj * w))
        # gate overlap charges: (gate, side, polarity, the device's parameter set, W mult, constant part in cmat)
        # (from the transistor list and parameter sets, not from the kernel's table; sides between two fixed
        # nodes left out, as the kernel does)
        self.ov = []
        d = sim.design
        if d.overlap_coupling and d.overlap_charge:
            for m in transistors(d, sim.circuit):
                p = device_params(sim.tech, m, corner)
                if p.overlap_law():
                    for x in (m.d, m.s):
                        if m.g in names or x in names:
                            self.ov.append((self._ext_index[m.g], self._ext_index[x], float(p.polarity), p,
                                            m.size.w * m.mult, device_params(sim.tech, m).cov * m.size.w * m.mult))
        self.charged = bool(self.qch or self.jn or self.tabq or self.ov)  # state-dependent mass matrix
        self.diagonal = bool(np.all(cmat == np.diag(self.cap))) and not np.any(self.bse) and not self.charged
        self.cinv = None if self.diagonal else np.linalg.inv(cmat)
        self.c_ref = float(self.cap.sum())
        self.iq = names.index("Q")
        self.iqb = names.index("QB")

    # ---------------------------------------------------------------------------------------------
    def se(self, t: float) -> float:
        """Sense-enable waveform [V]."""
        if t <= 0.0:
            return 0.0
        if t <= self.t_r:
            return self.vdd * t / self.t_r
        if t <= self.t_fall:
            return self.vdd
        if t <= self.t_fall + self.t_r:
            return self.vdd * (1.0 - (t - self.t_fall) / self.t_r)
        return 0.0

    def currents(self, v, se):
        """(KCL sum of currents into each unknown node, current drawn from VDD) for node voltages ``v``
        of shape (nv,) or (nv, k) and SE value ``se``."""
        v = np.asarray(v, dtype=float)
        vec = v.ndim == 1
        if vec:
            v = v[:, None]
        vext = self._vext(v, se)
        vd, vg, vs, vb = (vext[self._term[j]] for j in range(4))  # each (nmos, k)
        c = lambda x: x[:, None]  # noqa: E731
        i_mos = mos_current(c(self.pol), vd, vg, vs, vb, c(self.vt), c(self.ispec), c(self.n),
                            c(self.theta), c(self.lam), c(self.eta), self.ut, c(self.gamma), c(self.phi),
                            c(self.kbody), c(self.vsat), c(self.ns), c(self.tau), c(self.dv0))
        for k, (tf, grid, dv, bf, th, pad) in self.tab.items():
            i_mos[k] = table_mos_current(self.pol[k], vd[k], vg[k], vs[k], vb[k], dv, bf, tf, grid, self.ut, th, pad)
        va = vext[self._rr_term[0]]
        vbb = vext[self._rr_term[1]]
        i_rr = np.stack([rram_current(va[j] - vbb[j], self.r[j], self.vnl[j]) for j in range(2)])
        tot = self._inc_mos @ i_mos + self._inc_rr @ i_rr
        if np.any(self.gjun):
            tot += self._inc_jun[0] @ (c(self.gjun) * (vd - vb)) + self._inc_jun[1] @ (c(self.gjun) * (vs - vb))
        for x, bulk, p, count, fj, jg in self.jdiode:  # diode current from the bulk into node x, forward bias
            v_b = self.vdd if bulk == "VDD" else 0.0    # p (V_b - V_x)
            i_xb = -p * count * junction_diode_ref(fj, jg, p * (v_b - v[x]), self.ut)  # from x into the bulk
            tot[x] -= i_xb
            if bulk == "VDD":
                tot[self.nv] -= i_xb
        tot[:self.nv] -= self.gmin * v
        f, ivdd = tot[:self.nv], tot[self.nv]
        if vec:
            return f[:, 0], float(ivdd[0])
        return f, ivdd

    def _vext(self, v, se):
        """Voltages of every node (unknown nodes, constant fixed nodes, SE; the order of ``_term``) for ``v``
        of shape (nv, k) (``se`` a float or one value per state)."""
        nc = self._fixed_const.size
        vext = np.empty((self.nv + nc + 1, v.shape[1]))
        vext[:self.nv] = v
        vext[self.nv:self.nv + nc] = self._fixed_const[:, None]
        vext[self.nv + nc] = se
        return vext

    def channel_charge(self, v, se):
        """(charge [C] held by the channel-charge terminals at every unknown node, charge at the VDD-rail
        terminals) for one state ``v`` (nv,)."""
        vext = self._vext(np.asarray(v, dtype=float)[:, None], se)[:, 0]
        i_vdd = self._ext_index["VDD"]
        qn = np.zeros(self.nv)
        qvdd = 0.0
        for k, cch in self.qch:
            vd, vg, vs, vb = (vext[self._term[j, k]] for j in range(4))
            p = self.pol[k]
            vp = (p * (vg - vb) - self.vt[k]) / self.n[k]
            qx = [cch * 2 * self.n[k] * self.ut * _ln1p_exp((vp - p * (vx - vb)) / (2 * self.ut)) for vx in (vs, vd)]
            q_term = -p * (qx[0] + qx[1]) / 4
            for x in (self._term[0, k], self._term[2, k]):  # drain, source
                if x < self.nv:
                    qn[x] += q_term
                elif x == i_vdd:
                    qvdd += q_term
        return qn, qvdd

    def junction_charge(self, v):
        """(charge [C] the junction law adds at every unknown node beyond ``cmat``'s constant part, charge at the
        VDD-rail bulks) for one state ``v`` (nv,).  A junction at reverse bias v_R holds
        ``Q_j(v_R) = integral_0^v_R C_j``, ``C_j = c0 (1 + v_R/pb)^-mj`` (forward: ``c0 (1 - mj v_R/pb)``); the node
        side holds ``p Q_j``, of which ``cmat`` already has ``cl (V_x - V_b)``."""
        vext = self._vext(np.asarray(v, dtype=float)[:, None], 0.0)[:, 0]
        i_vdd = self._ext_index["VDD"]
        qn = np.zeros(self.nv)
        qvdd = 0.0
        for x, b, p, c0, mj, pb, cl in self.jn:
            vxb = vext[x] - vext[b]
            vr = p * vxb
            if vr >= 0:
                qj = c0 * pb / (1 - mj) * ((1 + vr / pb) ** (1 - mj) - 1)
            else:
                qj = c0 * (vr - mj * vr ** 2 / (2 * pb))
            q = p * qj - cl * vxb
            qn[x] += q
            if b == i_vdd:
                qvdd -= q
        return qn, qvdd

    def overlap_charge(self, v, se):
        """(charge [C] the overlap law adds at every unknown node beyond ``cmat``'s constant part, charge at the
        VDD-rail terminals) for one state ``v`` (nv,): the gate side of an overlap at ``v_gx = V_g - V_x`` holds
        ``p Q_ov(p v_gx)`` (:meth:`arraysim.cmos.params.MosParams.overlap_charge`, BSIM4's ``qgdo``), the other
        side its negative; ``cmat`` already has ``cc v_gx``."""
        vext = self._vext(np.asarray(v, dtype=float)[:, None], se)[:, 0]
        i_vdd = self._ext_index["VDD"]
        qn = np.zeros(self.nv)
        qvdd = 0.0
        for g, x, pol, par, w, cc in self.ov:
            vgx = vext[g] - vext[x]
            q = pol * float(par.overlap_charge(pol * vgx, w)) - cc * vgx
            for node, qq in ((g, q), (x, -q)):
                if node < self.nv:
                    qn[node] += qq
                elif node == i_vdd:
                    qvdd += qq
        return qn, qvdd

    def table_charge(self, v, se):
        """(charge [C] of the tabulated-charge devices' terminals at every unknown node, charge at their VDD-rail
        terminals) for one state ``v`` (nv,), or for states (nv, k) with ``se`` a float or (k,) (then (nv, k),
        (k,)); terminals on other fixed nodes (SE, WL, GND) hold charge that no unknown node sees (SE's enters
        through ``mass``'s differences in ``se``)."""
        v = np.asarray(v, dtype=float)
        one = v.ndim == 1
        vv = v[:, None] if one else v
        vext = self._vext(vv, se)
        i_vdd = self._ext_index["VDD"]
        qn = np.zeros_like(vv)
        qvdd = np.zeros(vv.shape[1])
        for k, (tq, grid, dv, pad) in self.tabq.items():
            vd, vg, vs, vb = (vext[self._term[j, k]] for j in range(4))
            if np.any(vb != vb[0]):
                raise ValueError("a tabulated device's bulk must be a DC rail")
            q = self.mult[k] * table_mos_charges(self.pol[k], vd, vg, vs, float(vb[0]), dv, tq, grid, pad)
            for j in range(4):
                x = self._term[j, k]
                if x < self.nv:
                    qn[x] += q[j]
                elif x == i_vdd:
                    qvdd += q[j]
        return (qn[:, 0], float(qvdd[0])) if one else (qn, qvdd)

    def charges(self, v, se):
        """(state-dependent charge at every unknown node, charge at the VDD-rail terminals): channel, table and
        junction charges."""
        qn, qv = self.channel_charge(v, se)
        if self.tabq:
            qt, qtv = self.table_charge(v, se)
            qn, qv = qn + qt, qv + qtv
        if self.jn:
            qj, qjv = self.junction_charge(v)
            qn, qv = qn + qj, qv + qjv
        if self.ov:
            qo, qov = self.overlap_charge(v, se)
            qn, qv = qn + qo, qv + qov
        return qn, qv

    def mass(self, v, se):
        """(mass matrix C + dq/dV, SE coupling b_se - dq/dV_SE) at state ``v`` (central differences)."""
        if not self.charged:
            return self.cmat, self.bse
        h = 1e-6
        M = self.cmat.copy()
        # the table charges of all 2 nv + 2 perturbed states in one call (columns: +e_j, -e_j, then se +- h)
        nv = self.nv
        e = h * np.eye(nv)
        states = np.concatenate([v[:, None] + e, v[:, None] - e, v[:, None], v[:, None]], axis=1)
        ses = np.concatenate([np.full(2 * nv, float(se)), [se + h, se - h]])
        qt = self.table_charge(states, ses)[0] if self.tabq else np.zeros_like(states)
        for j in range(nv):
            ej = e[:, j]
            M[:, j] += (qt[:, j] - qt[:, nv + j] + self._other_charges(v + ej, se) - self._other_charges(v - ej, se)) \
                / (2 * h)
        b = self.bse - (qt[:, 2 * nv] - qt[:, 2 * nv + 1] + self._other_charges(v, se + h)
                        - self._other_charges(v, se - h)) / (2 * h)
        return M, b

    def _other_charges(self, v, se):
        """Channel plus junction charge at every unknown node (the non-table part of :meth:`charges`)."""
        qn = self.channel_charge(v, se)[0] if self.qch else np.zeros(self.nv)
        if self.jn:
            qn = qn + self.junction_charge(v)[0]
        if self.ov:
            qn = qn + self.overlap_charge(v, se)[0]
        return qn

    def rhs(self, t, y, se_const=None, se_slope=0.0):
        """ODE right-hand side: (dV/dt, d(q/C_ref)/dt); ``se_slope`` = dV_SE/dt on the current segment."""
        y = np.asarray(y, dtype=float)
        se = self.se(t) if se_const is None else se_const
        f, ivdd = self.currents(y[:self.nv], se)
        out = np.empty_like(y)
        if self.diagonal:
            out[:self.nv] = f / (self.cap if y.ndim == 1 else self.cap[:, None])
        elif self.charged:
            yy = y[:self.nv] if y.ndim == 2 else y[:self.nv, None]
            ff = f if f.ndim == 2 else f[:, None]
            res = np.empty_like(yy)
            for c in range(yy.shape[1]):
                M, b = self.mass(yy[:, c], se)
                res[:, c] = np.linalg.solve(M, ff[:, c] + b * se_slope)
            out[:self.nv] = res if y.ndim == 2 else res[:, 0]
        else:
            g = f + (self.bse * se_slope if y.ndim == 1 else (self.bse * se_slope)[:, None])
            out[:self.nv] = self.cinv @ g
        out[self.nv] = ivdd / self.c_ref
        return out

    # ---------------------------------------------------------------------------------------------
    def initial_guess(self) -> np.ndarray:
        v = np.full(self.nv, 0.5 * self.vdd)
        v[[self.iq, self.iqb]] = self.vdd
        return v

    def _newton_step(self, v):
        """Full Newton step of the SE = 0 DC equations (central-difference Jacobian)."""
        f0, _ = self.currents(v, 0.0)
        h = 1e-6
        jac = np.empty((self.nv, self.nv))
        for j in range(self.nv):
            e = np.zeros(self.nv)
            e[j] = h
            jac[:, j] = (self.currents(v + e, 0.0)[0] - self.currents(v - e, 0.0)[0]) / (2 * h)
        return np.linalg.solve(jac, -f0)

    def dc_operating_point(self, t_relax: float = 10.0, vtol: float = 1e-9) -> np.ndarray:
        """Start state with SE = 0: the circuit's own drift from the kernel's guess (Q = QB = VDD, every other node
        VDD/2) over ``t_relax`` (stiff BDF), then root polishing, then verification -- the definition that the
        kernel's :func:`arraysim.kernels.transient.dc_operating_point` takes a Newton shortcut to where the
        precharged state exists and is stable."""
        v = self.initial_guess()
        y0 = np.append(v, 0.0)
        sol = solve_ivp(lambda t, y: self.rhs(t, y, se_const=0.0), (0.0, t_relax), y0, method="BDF",
                        rtol=1e-8, atol=1e-12, vectorized=True, first_step=1e-13)
        if not sol.success:
            raise RuntimeError(f"DC relaxation failed: {sol.message}")
        v = sol.y[:self.nv, -1]
        res = root(lambda x: self.currents(x, 0.0)[0] / self.cap * 1e-9, v, method="hybr",
                   options={"xtol": 1e-13})
        if res.success:
            v = res.x
        for _ in range(5):  # a few Newton corrections if needed; the final step must be tiny
            dx = self._newton_step(v)
            if np.max(np.abs(dx)) < vtol:
                return v
            v = v + dx
        raise RuntimeError(f"DC operating point not converged (last Newton step {np.max(np.abs(dx)):.3g} V)")

    # ---------------------------------------------------------------------------------------------
    def simulate(self, rtol: float = 1e-7, atol: float = 1e-9, method: str = "Radau",
                 keep_trajectory: bool = False):
        """Whole read cycle from the DC state.  Returns a result dict (see module docstring); with
        ``keep_trajectory`` also ``t`` and ``y`` (rows: the node voltages in ``node_names`` order, then the
        charge drawn from VDD [C])."""
        t_start = time.perf_counter()
        v0 = self.dc_operating_point()
        vth = 0.5 * self.vdd
        y = np.append(v0, 0.0)
        breaks = [0.0, self.t_r, self.t_fall, self.t_fall + self.t_r, self.t_end]

        def ev_q(t, yy):
            return yy[self.iq] - vth

        def ev_qb(t, yy):
            return yy[self.iqb] - vth

        ev_q.direction = -1.0
        ev_qb.direction = -1.0
        cross = [math.nan, math.nan]  # an output that starts below VDD/2 has no falling crossing
        v_read = None
        nfev = 0
        traj_t, traj_y = [], []
        slopes = [self.vdd / self.t_r, 0.0, -self.vdd / self.t_r, 0.0]  # SE on each segment
        for seg in range(4):
            t0, t1 = breaks[seg], breaks[seg + 1]
            sense = t1 <= self.t_fall * (1 + 1e-12)
            sol = solve_ivp(lambda t, yy, sl=slopes[seg]: self.rhs(t, yy, se_slope=sl), (t0, t1), y,
                            method=method, rtol=rtol, atol=atol,
                            vectorized=True, events=[ev_q, ev_qb] if sense else None,
                            first_step=min(1e-13, (t1 - t0) / 10))
            if not sol.success:
                raise RuntimeError(f"transient failed on segment {seg}: {sol.message}")
            nfev += sol.nfev
            if sense:
                for j in range(2):
                    if math.isnan(cross[j]) and sol.t_events[j].size:
                        cross[j] = float(sol.t_events[j][0])
            if keep_trajectory:
                traj_t.append(sol.t)
                traj_y.append(sol.y)
            y = sol.y[:, -1].copy()
            if seg == 1:
                v_read = (float(y[self.iq]), float(y[self.iqb]))

        # precharge until both outputs are within settle_tol of their DC values (terminal event)
        def ev_settled(t, yy):
            return max(abs(yy[self.iq] - v0[self.iq]), abs(yy[self.iqb] - v0[self.iqb])) - self.settle_tol

        ev_settled.terminal = True
        ev_settled.direction = -1.0
        t_cycle = self.t_end
        settled = ev_settled(self.t_end, y) <= 0.0
        if not settled:
            sol = solve_ivp(self.rhs, (self.t_end, self.t_end_max), y, method=method, rtol=rtol, atol=atol,
                            vectorized=True, events=[ev_settled], first_step=1e-13)
            if not sol.success:
                raise RuntimeError(f"transient failed on the precharge tail: {sol.message}")
            nfev += sol.nfev
            if keep_trajectory:
                traj_t.append(sol.t)
                traj_y.append(sol.y)
            settled = sol.status == 1
            y = (sol.y_events[0][0] if settled else sol.y[:, -1]).copy()
            t_cycle = float(sol.t_events[0][0]) if settled else float(sol.t[-1])
        q = float(y[self.nv] * self.c_ref)
        qv_start = self.charges(v0, 0.0)[1] if self.charged else 0.0
        if self.charged:  # the change of the charge held at the VDD-rail terminals (SE is back at 0)
            q += self.charges(y[:self.nv], 0.0)[1] - qv_start
        tf = [c - 0.5 * self.t_r for c in cross]
        valid = [c for c in tf if not math.isnan(c)]
        vq, vqb = v_read
        ql, qbl = vq < vth, vqb < vth
        decision = 1 if (ql and not qbl) else (-1 if (qbl and not ql) else (2 if ql and qbl else 0))
        out = {"decision": decision, "v_q": vq, "v_qb": vqb, "t_fall_q": tf[0], "t_fall_qb": tf[1],
               "delay": min(valid) if valid else math.nan, "energy": self.vdd * q, "charge": q,
               "v_dc": v0, "v_end": y[:self.nv].copy(), "nfev": nfev, "t_cycle": t_cycle,
               "precharge_settled": bool(settled),
               "seconds": time.perf_counter() - t_start}
        if keep_trajectory:
            out["t"] = np.concatenate(traj_t)
            out["y"] = np.concatenate(traj_y, axis=1)  # rows: node voltages (node_names), charge [C]
            out["y"][self.nv] *= self.c_ref
            if self.charged:
                out["y"][self.nv] += np.array([self.charges(out["y"][:self.nv, i], self.se(tt))[1]
                                               for i, tt in enumerate(out["t"])]) - qv_start
        return out


def reference_read(sim, vdd, temp_c, corner, r_bl, r_blb, dvt=None, dbeta=None, ohmic_blb=False,
                   rtol: float = 1e-7, atol: float = 1e-9, method: str = "Radau", keep_trajectory=False,
                   x=None):
    """Reference simulation of one read instance (same inputs as one row of ``ReadSimulator.run``).

    ``dvt``/``dbeta``: per-transistor shifts (length = number of transistors) added to the nominal
    threshold magnitudes / relative current factors of ``sim.nominal_elements(temp_c, corner)``.
    ``r_bl``/``r_blb``: low-field resistances at the read temperature; ``ohmic_blb`` makes the BLB
    element an ohmic resistor (1T1R reference); ``x`` is the binary input of the XNOR circuit.  Returns a dict with ``decision``, ``v_q``, ``v_qb``,
    ``t_fall_q``, ``t_fall_qb``, ``delay`` [s], ``energy`` [J], ``charge`` [C] and diagnostics.
    """
    circ = ReferenceCircuit(sim, vdd, temp_c, corner, r_bl, r_blb, dvt=dvt, dbeta=dbeta,
                            ohmic_blb=ohmic_blb, x=x)
    return circ.simulate(rtol=rtol, atol=atol, method=method, keep_trajectory=keep_trajectory)


def _read_one(args):
    sim, kw = args
    return reference_read(sim, **kw)


def reference_read_many(sim, instances, processes: int | None = 1):
    """:func:`reference_read` for a list of keyword dicts (``vdd``, ``temp_c``, ``corner``, ``r_bl``,
    ``r_blb`` and optionally ``dvt``, ``dbeta``, ``ohmic_blb``, ``rtol``, ``atol``, ``method``).

    ``processes`` > 1 spreads the instances over that many worker processes (spawned, so no state of
    the parent's compiled kernels is inherited); ``None`` = ``os.cpu_count()``.  Results keep the order.
    """
    import os

    n = (os.cpu_count() or 1) if processes is None else max(1, int(processes))
    jobs = [(sim, dict(kw)) for kw in instances]
    if n == 1 or len(jobs) < 2:
        return [_read_one(j) for j in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(n, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
        return list(ex.map(_read_one, jobs, chunksize=max(1, len(jobs) // (4 * n))))

"""Compiled transient simulation of one read cycle of a sense-amplifier circuit, and the parallel batch.

Private module.  The circuit is given as element tables (built by :mod:`arraysim.circuits`):

* MOSFETs: ``mos_nodes[m] = (d, g, s, b)``, ``mos_pol[m]`` (+1 NMOS, -1 PMOS), ``mos_par[m] = (n, theta,
  lambda, eta, gamma, phi, kbody, gjun, vsat, n_s, tau, dv0)`` (kbody NaN: no body-effect law; gjun: conductance of each drain
  and source junction to the bulk [S]; vsat: velocity-saturation coefficient [1/V] at the read temperature), then ``n_s, tau`` (strong-inversion slope factor and blend width) and ``dv0`` (knee of the
  square-root DIBL law [V], 0: linear DIBL),
  ``mos_mult[m]`` (number of identical devices in parallel), and per sample ``vt[m]``,
  ``ispec[m]`` (temperature, corner, global variation and mismatch already applied);
* tabulated devices: ``tabs = (mos_tab, tab_ref, tab_f, tab_meta, jd_nodes, jd_par)``: ``mos_tab[m]`` the
  table row of transistor m (-1: the compact model's equation), ``tab_ref[m] = (V_T, I_spec)`` of the nominal
  device its table stands for (the instance's ``vt[m] - V_T`` shifts V_GS and ``ispec[m] / I_spec`` scales
  the current, with the table's threshold-shift response H, H2 where it has one), ``tab_f``/``tab_meta`` the
  padded tables at the read temperature (:func:`arraysim.cmos.ivtables.kernel_rows`); ``jd_nodes[r] = (node, bulk)`` and ``jd_par[r] = (table row,
  count, polarity)`` the junction diodes taken from tables (the node an unknown, the bulk a DC rail);
* RRAM devices / resistors: ``rr_nodes[r] = (a, b)``, per sample ``r_lf[r]`` and ``vnl[r]``;
* the node capacitance matrix ``cmat`` (symmetric; diagonal = every capacitance at the node, off-diagonal =
  minus the coupling capacitance between two nodes), the coupling ``bse[i]`` of each node to the sense-enable
  waveform, and a conductance ``gmin`` from every node to ground (as SPICE).

Node indices ``< nv`` are unknowns; ``nv + k`` is fixed node ``k`` with value ``vfix[k]``, except the sense
enable ``se_idx`` which follows the piecewise-linear SE waveform (0 -> VDD over ``t_r`` starting at t = 0,
high until ``t_fall = t_r + t_sense``, back to 0 over ``t_r``, then precharge until ``t_end``).

Equations: ``C dV/dt = sum of element currents into each node + bse dSE/dt`` plus ``dq/dt = I_VDD``
(charge drawn from the VDD rail, ``vdd_idx``; the kernel has no capacitor to VDD: a capacitance to a DC rail
is grounded).  The initial state is the one the circuit reaches with SE held low
(:func:`dc_operating_point`: the precharged DC point where it exists and is stable, else the end of the SE = 0
drift from the precharged guess).  Integration: the L-stable, linearly implicit Rosenbrock
2(3) pair of Shampine & Reichelt (MATLAB ode23s) with analytic Jacobian, step-size control on the node
voltages, steps clipped to the waveform breakpoints and the read instants.  With the constant mass matrix
``C`` the stages solve ``(C - h d J) k = ...`` (Shampine & Reichelt's mass-matrix form); SE is linear inside
every step (steps never cross a breakpoint), so ``bse dSE/dt`` is a constant forcing per step.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from .devices import borrowed, jit, junction_table_eval, mos_eval, mos_table_charges, mos_table_eval, rram_eval

ST_OK = 0
ST_DC_FAIL = 1
ST_MAX_STEPS = 2
ST_STEP_UNDERFLOW = 3
ST_PRECHARGE_INCOMPLETE = 4  # results valid, but the precharge did not settle by t_pre_max

_D = 1.0 / (2.0 + math.sqrt(2.0))
PRECHARGED = 0.9
"""DC start: Newton's point is taken only where every output is at least this fraction of VDD (else the drift decides)."""
DIFF_TOL = 0.3
"""Default of ``diff_tol`` (``Tolerances.diff_tol``): during the sense the step error of the outputs' difference
V_Q - V_QB is held to diff_tol * (atol + rtol * |V_Q - V_QB|), besides each node's atol + rtol*|V|.  The decision
and the delay come from the difference; in a slowly regenerating read the common-mode sag lets each node's error
reach rtol*VDD, several mV, while the difference that decides when (and which way) the latch tips is a few tens
of mV and the latch amplifies any error of it.  Found against the scipy reference (a 1.17 V ff 125 degC read
whose difference grows to 48 mV and reverses: delay 1.12 % off without this control, 0.92 % with factor 1,
0.48 % with 0.3, 0.31 % with 0.1; accepted steps of a sky130 Monte Carlo +2 %, +6 %, +14 %)."""
DRIFT_T = 10.0
"""DC start: how long [s] SE is held low from the guess when the drift decides (the scipy reference's relaxation)."""
DRIFT_RTOL = 1e-4
DRIFT_ATOL = 1e-6
"""DC drift: local error tolerance [V] (relative, absolute) of its Rosenbrock steps."""
RAMP_SUB = 8  # steps at least per SE ramp when clocked devices carry channel charge (simulate_read)
_E32 = 6.0 + math.sqrt(2.0)


@jit(inline="always")
def _se_wave(t, vdd, t_r, t_fall):
    """SE value and slope on the segment that starts at ``t`` (right derivative)."""
    if t < 0.0:
        return 0.0, 0.0
    if t < t_r:
        return vdd * t / t_r, vdd / t_r
    if t < t_fall:
        return vdd, 0.0
    if t < t_fall + t_r:
        return vdd * (1.0 - (t - t_fall) / t_r), -vdd / t_r
    return 0.0, 0.0


@jit(inline="always")
def _nodev(nd, v, nv, se_idx, se, vfix):
    if nd < nv:
        return v[nd]
    if nd - nv == se_idx:
        return se
    return vfix[nd - nv]


@jit
def _eval(v, se, dse, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl,
          gmin, ut, vfix, se_idx, vdd_idx, want_jac, f, J, T, gq):
    """KCL residual ``f`` (current into each unknown node) and the VDD-rail current.

    With ``want_jac`` also fills ``J = df/dV``, ``T = df/dt`` (through SE), ``gq = dI_VDD/dV`` and returns
    ``dI_VDD/dt`` as the second value.
    """
    # the arrays handed on to the (inlined) node lookups and the device models, as unmanaged views
    # (devices.borrowed; the caller holds them for the call): no atomic reference counting per device
    v, vfix, tf, meta = borrowed(v), borrowed(vfix), borrowed(tabs[2]), borrowed(tabs[3])
    for i in range(nv):
        f[i] = -gmin * v[i]
    if want_jac:
        for i in range(nv):
            T[i] = 0.0
            gq[i] = 0.0
            for j in range(nv):
                J[i, j] = 0.0
            J[i, i] = -gmin
    ivdd = 0.0
    tq = 0.0
    for m in range(mos_nodes.shape[0]):
        vmd = _nodev(mos_nodes[m, 0], v, nv, se_idx, se, vfix)
        vmg = _nodev(mos_nodes[m, 1], v, nv, se_idx, se, vfix)
        vms = _nodev(mos_nodes[m, 2], v, nv, se_idx, se, vfix)
        vmb = _nodev(mos_nodes[m, 3], v, nv, se_idx, se, vfix)
        tb = tabs[0][m]
        if tb >= 0:  # tabulated channel current (arraysim.cmos.ivtables), shifted by the instance's variation
            i, gd, gg, gs, gb = mos_table_eval(mos_pol[m], vmd, vmg, vms, vmb, vt[m] - tabs[1][m, 0],
                                               ispec[m] / tabs[1][m, 1], ut, tf, meta[tb])
        else:
            i, gd, gg, gs, gb = mos_eval(mos_pol[m], vmd, vmg, vms, vmb, vt[m], ispec[m], mos_par[m, 0],
                                         mos_par[m, 1], mos_par[m, 2], mos_par[m, 3], mos_par[m, 4],
                                         mos_par[m, 5], mos_par[m, 6], mos_par[m, 8], mos_par[m, 9],
                                         mos_par[m, 10], mos_par[m, 11], ut)
        mult = mos_mult[m]
        i *= mult
        d = mos_nodes[m, 0]
        s = mos_nodes[m, 2]
        # current i flows into the drain terminal, out of the source terminal
        if d < nv:
            f[d] -= i
        elif d - nv == vdd_idx:
            ivdd += i
        if s < nv:
            f[s] += i
        elif s - nv == vdd_idx:
            ivdd -= i
        if want_jac:
            for k in range(4):
                x = mos_nodes[m, k]
                g = mult * (gd if k == 0 else (gg if k == 1 else (gs if k == 2 else gb)))
                if x < nv:
                    if d < nv:
                        J[d, x] -= g
                    elif d - nv == vdd_idx:
                        gq[x] += g
                    if s < nv:
                        J[s, x] += g
                    elif s - nv == vdd_idx:
                        gq[x] -= g
                elif x - nv == se_idx:
                    if d < nv:
                        T[d] -= g * dse
                    elif d - nv == vdd_idx:
                        tq += g * dse
                    if s < nv:
                        T[s] += g * dse
                    elif s - nv == vdd_idx:
                        tq -= g * dse
        # drain and source junction shunts (mos_par column 7, per device; times the multiplicity): a
        # conductance from each terminal to the bulk, a DC rail (build_tables checks); ngspice adds its gmin
        # to every BSIM4 junction.  A terminal on a rail carries none (same rail, or a supply's own current).
        gj = mos_par[m, 7] * mult
        if gj != 0.0:
            rb = mos_nodes[m, 3] - nv
            vb = vfix[rb]
            for k in (0, 2):
                x = mos_nodes[m, k]
                if x < nv:
                    ij = gj * (v[x] - vb)  # from terminal x into the bulk
                    f[x] -= ij
                    if rb == vdd_idx:
                        ivdd -= ij
                    if want_jac:
                        J[x, x] -= gj
                        if rb == vdd_idx:
                            gq[x] -= gj
    # tabulated junction diodes (tabs[4]: node and bulk rail, tabs[5]: table row, count, polarity): forward
    # bias p (V_b - V_x); the diode current flows from the bulk into the node
    for r in range(tabs[4].shape[0]):
        x = tabs[4][r, 0]
        rb = tabs[4][r, 1] - nv
        pol = tabs[5][r, 2]
        jd, djd = junction_table_eval(tf, meta[int(tabs[5][r, 0])], pol * (vfix[rb] - v[x]), ut)
        ij = -pol * tabs[5][r, 1] * jd  # from x into the bulk
        f[x] -= ij
        if rb == vdd_idx:
            ivdd -= ij
        if want_jac:
            J[x, x] -= tabs[5][r, 1] * djd
            if rb == vdd_idx:
                gq[x] -= tabs[5][r, 1] * djd
    for r in range(rr_nodes.shape[0]):
        a = rr_nodes[r, 0]
        b = rr_nodes[r, 1]
        va = _nodev(a, v, nv, se_idx, se, vfix)
        vb = _nodev(b, v, nv, se_idx, se, vfix)
        i, g = rram_eval(va - vb, r_lf[r], vnl[r])
        if a < nv:
            f[a] -= i
        if b < nv:
            f[b] += i
        if want_jac:
            if a < nv:
                J[a, a] -= g
                if b < nv:
                    J[a, b] += g
            if b < nv:
                J[b, b] -= g
                if a < nv:
                    J[b, a] += g
    return ivdd, tq


N_QSCRATCH = 32
"""Size of the scratch of :func:`_charges` (a tabulated device's charges and their derivatives)."""


@jit
def n_table_charges(tabs):
    """Number of transistors whose intrinsic charges come from their table (a table row with charges)."""
    k = 0
    for m in range(tabs[0].shape[0]):
        tb = tabs[0][m]
        if tb >= 0 and tabs[3][tb, 17] >= 0.0:
            k += 1
    return k


@jit
def _charges(v, se, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, tabs, qch_m, qch_c, jn_nodes, jn_par, ov_nodes,
             ov_par, ut, vfix,
             se_idx, vdd_idx, cmat, bse, M, b, qs):
    """Channel charges of the clocked devices (``qch_m``: transistor indices, ``qch_c``: their inverted-channel
    capacitance C_ch [F]).  Fills the mass matrix ``M = cmat + dq/dV`` (unknown nodes) and the SE coupling
    ``b = bse - dq/dV_SE``; returns the charge of the terminals on the VDD rail (the supply delivers its
    change).

    Model (charge sheet, EKV-style; polarity-mirrored voltages v' = p (V - V_B)): pinch-off
    ``v_P = (v'_G - V_T) / n``; inversion charge at each channel end x = S, D
    ``Q_x = C_ch 2 n U_T ln(1 + exp((v_P - v'_x) / (2 U_T)))`` (strong inversion: C_ch (v'_G - V_T - n v'_x);
    vanishing below threshold); channel charge ``Q_ch = (Q_S + Q_D) / 2``, half of it on each of drain and
    source: the terminal charges are ``q_D = q_S = -p Q_ch / 2`` (the gate holds ``p Q_ch``).

    Junction charges (``jn_nodes[k] = (x, b)``: node and bulk rail; ``jn_par[k] = (p, c0, mj, pb, cl)``, see
    ``arraysim.circuits.pcsa.junction_table``): at reverse bias ``v_R = p (V_x - V_b)`` the junction holds
    ``Q_j = c0 pb / (1 - mj) ((1 + v_R / pb)^(1 - mj) - 1)`` (capacitance ``c0 (1 + v_R / pb)^-mj``;
    forward bias: ``c0 (v_R - mj v_R^2 / (2 pb))``, capacitance ``c0 (1 - mj v_R / pb)``).  ``cmat`` already
    holds the constant ``cl`` at x, so the junction adds the charge ``p Q_j - cl (V_x - V_b)`` between x and
    its bulk (capacitance ``C_j(v_R) - cl``); on a VDD bulk the supply delivers it.

    Gate overlap charges (``ov_nodes[k] = (g, x)``: gate node and drain/source node; ``ov_par[k] = (p, c0, c1,
    kappa, cc)``, see ``arraysim.circuits.pcsa.overlap_table``): at ``v = p (V_g - V_x)`` BSIM4's law gives the
    overlap capacitance ``C_ov = c0 + c1 - c1 (1 - 1/T4) (1/2 - T0 / (2 T1))`` (``T0 = v + 0.02``, ``T1 =
    sqrt(T0^2 + 0.08)``, ``T2 = (T0 - T1) / 2``, ``T4 = sqrt(1 - 4 T2 / kappa)``) and the gate charge ``p ((c0 +
    c1) v - c1 (T2 + kappa/2 (T4 - 1)))``; ``cmat`` already holds the constant ``cc`` between g and x, so the
    overlap adds ``C_ov(v) - cc`` between them (into ``M``, to ``b`` when the other end is SE) and, on a VDD
    end, its charge beyond ``cc (V_g - V_x)`` to the supply's.

    Tabulated charges (``tabs``: every transistor whose table row has charges, ``tab_meta`` column
    ``q_offset``): the terminal charges of :func:`arraysim.kernels.devices.mos_table_charges` (BSIM4's
    intrinsic charges at the instance's threshold shift), times the multiplicity, at every terminal: ``dq_x /
    dV_y`` into ``M`` (x, y unknown), ``-dq_x / dV_SE`` into ``b``, ``q_x`` of a terminal on the VDD rail into
    the supply's charge.  Such a device has no ``qch`` entry and no constant gate capacitance in ``cmat``
    (:func:`arraysim.circuits.pcsa.node_caps`).  ``qs``: scratch of at least :data:`N_QSCRATCH` values."""
    # unmanaged views of what goes on to the node lookups and the device models (as in _eval)
    v, vfix, tf, meta, qs = borrowed(v), borrowed(vfix), borrowed(tabs[2]), borrowed(tabs[3]), borrowed(qs)
    for i in range(nv):
        b[i] = bse[i]
        for j in range(nv):
            M[i, j] = cmat[i, j]
    qvdd = 0.0
    if tabs[0].shape[0] > 0:
        qa = qs[:12].reshape((3, 4))
        qt = qs[12:16]
        dq = qs[16:32].reshape((4, 4))
        for m in range(tabs[0].shape[0]):
            tb = tabs[0][m]
            if tb < 0 or tabs[3][tb, 17] < 0.0:
                continue
            vv0 = _nodev(mos_nodes[m, 0], v, nv, se_idx, se, vfix)
            vv1 = _nodev(mos_nodes[m, 1], v, nv, se_idx, se, vfix)
            vv2 = _nodev(mos_nodes[m, 2], v, nv, se_idx, se, vfix)
            vv3 = _nodev(mos_nodes[m, 3], v, nv, se_idx, se, vfix)
            mos_table_charges(mos_pol[m], vv0, vv1, vv2, vv3, vt[m] - tabs[1][m, 0], tf, meta[tb], qa, qt,
                              dq)
            mult = mos_mult[m]
            for xk in range(4):
                x = mos_nodes[m, xk]
                if x < nv:
                    for yk in range(4):
                        y = mos_nodes[m, yk]
                        if y < nv:
                            M[x, y] += mult * dq[xk, yk]
                        elif y - nv == se_idx:
                            b[x] -= mult * dq[xk, yk]
                elif x - nv == vdd_idx:
                    qvdd += mult * qt[xk]
    for k in range(qch_m.shape[0]):
        m = qch_m[k]
        c = qch_c[k]
        p = mos_pol[m]
        n = mos_par[m, 0]
        vb = _nodev(mos_nodes[m, 3], v, nv, se_idx, se, vfix)
        vgp = p * (_nodev(mos_nodes[m, 1], v, nv, se_idx, se, vfix) - vb)
        vdp = p * (_nodev(mos_nodes[m, 0], v, nv, se_idx, se, vfix) - vb)
        vsp = p * (_nodev(mos_nodes[m, 2], v, nv, se_idx, se, vfix) - vb)
        vp = (vgp - vt[m]) / n
        us = (vp - vsp) / (2.0 * ut)
        ud = (vp - vdp) / (2.0 * ut)
        sps = us + math.log1p(math.exp(-us)) if us > 0.0 else math.log1p(math.exp(us))
        spd = ud + math.log1p(math.exp(-ud)) if ud > 0.0 else math.log1p(math.exp(ud))
        sgs = 1.0 / (1.0 + math.exp(-us)) if us > -700.0 else 0.0
        sgd = 1.0 / (1.0 + math.exp(-ud)) if ud > -700.0 else 0.0
        qterm = -p * c * n * ut * (sps + spd) / 2.0  # -p (Q_S + Q_D) / 4
        dq_g = -c * (sgs + sgd) / 4.0
        dq_d = c * n * sgd / 4.0
        dq_s = c * n * sgs / 4.0
        for side in (0, 2):
            x = mos_nodes[m, side]
            if x < nv:
                for term in (0, 1, 2):
                    y = mos_nodes[m, term]
                    dq = dq_d if term == 0 else (dq_g if term == 1 else dq_s)
                    if y < nv:
                        M[x, y] += dq
                    elif y - nv == se_idx:
                        b[x] -= dq
            elif x - nv == vdd_idx:
                qvdd += qterm
    for k in range(jn_nodes.shape[0]):
        x = jn_nodes[k, 0]
        p = jn_par[k, 0]
        c0 = jn_par[k, 1]
        mj = jn_par[k, 2]
        pb = jn_par[k, 3]
        vxb = _nodev(x, v, nv, se_idx, se, vfix) - _nodev(jn_nodes[k, 1], v, nv, se_idx, se, vfix)
        vr = p * vxb
        if vr >= 0.0:
            a = 1.0 + vr / pb
            cj = c0 * a ** (-mj)
            qj = c0 * pb / (1.0 - mj) * (a * a ** (-mj) - 1.0)
        else:
            cj = c0 * (1.0 - mj * vr / pb)
            qj = c0 * (vr - 0.5 * mj * vr * vr / pb)
        if x < nv:
            M[x, x] += cj - jn_par[k, 4]
        if jn_nodes[k, 1] - nv == vdd_idx:
            qvdd -= p * qj - jn_par[k, 4] * vxb
    for k in range(ov_nodes.shape[0]):
        g = ov_nodes[k, 0]
        x = ov_nodes[k, 1]
        p = ov_par[k, 0]
        cl = ov_par[k, 2]
        kap = ov_par[k, 3]
        cc = ov_par[k, 4]
        vgx = _nodev(g, v, nv, se_idx, se, vfix) - _nodev(x, v, nv, se_idx, se, vfix)
        t0 = p * vgx + 0.02
        t1 = math.sqrt(t0 * t0 + 0.08)
        t2 = 0.5 * (t0 - t1)
        t4 = math.sqrt(1.0 - 4.0 * t2 / kap)
        dc = ov_par[k, 1] + cl - cl * (1.0 - 1.0 / t4) * (0.5 - 0.5 * t0 / t1) - cc  # C_ov(v) - cc
        for a, o in ((g, x), (x, g)):
            if a < nv:
                M[a, a] += dc
                if o < nv:
                    M[a, o] -= dc
                elif o - nv == se_idx:
                    b[a] += dc
        if g - nv == vdd_idx or x - nv == vdd_idx:
            qg = p * ((ov_par[k, 1] + cl) * (p * vgx) - cl * (t2 + 0.5 * kap * (t4 - 1.0))) - cc * vgx
            qvdd += qg if g - nv == vdd_idx else -qg
    return qvdd


@jit
def _mass_solve(M, f, b, dse, Ms, piv, z):
    """``z := M^-1 (f + b dSE/dt)``, ``M`` kept (``Ms``, ``piv``: scratch); False if ``M`` is singular."""
    n = M.shape[0]
    for i in range(n):
        z[i] = f[i] + b[i] * dse
        for j in range(n):
            Ms[i, j] = M[i, j]
    if not _lu_factor(Ms, piv):
        return False
    _lu_solve(Ms, piv, z)
    return True


@jit
def _lu_factor(A, piv):
    n = A.shape[0]
    for k in range(n):
        p = k
        amax = abs(A[k, k])
        for i in range(k + 1, n):
            if abs(A[i, k]) > amax:
                amax = abs(A[i, k])
                p = i
        piv[k] = p
        if amax == 0.0:
            return False
        if p != k:
            for j in range(n):
                tmp = A[k, j]
                A[k, j] = A[p, j]
                A[p, j] = tmp
        inv = 1.0 / A[k, k]
        for i in range(k + 1, n):
            A[i, k] *= inv
            lik = A[i, k]
            if lik != 0.0:
                for j in range(k + 1, n):
                    A[i, j] -= lik * A[k, j]
    return True


@jit
def _lu_solve(A, piv, b):
    n = A.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= A[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= A[i, j] * b[j]
        b[i] = s / A[i, i]


@jit
def dc_operating_point(v, vdd, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf,
                       vnl, gmin, ut, vfix, se_idx, vdd_idx, cmat, bse, qch_m, qch_c, jn_nodes, jn_par, ov_nodes,
                       ov_par, out_nodes,
                       max_iter=200, vtol=1e-10):
    """The state the circuit reaches with SE held low from the guess ``v`` (which receives it).

    The precharged state is defined by the circuit's own drift: SE = 0 for :data:`DRIFT_T` seconds from the
    guess (the outputs at VDD), as the scipy reference's relaxation.  Shortcut (nearly every instance): damped
    Newton from the guess, accepted when it converges to a point where every output (``out_nodes``) is at least
    :data:`PRECHARGED` x VDD and the Jacobian's determinant has the sign of a stable point ((-1)^nv: a saddle
    -- one real eigenvalue of ``M^-1 J`` above zero, the latch's regenerative mode -- flips it).  Otherwise --
    the precharged state has ceased to exist, or Newton found a saddle or nothing -- :func:`drift` follows the
    circuit (with its state-dependent charges) from the guess until it rests (a point the remaining time would
    move by less than 1 nV: an equilibrium for every purpose here) or for :data:`DRIFT_T` at most.  SPICE's
    decks start such an instance from the same drift (:func:`arraysim.spice.netlist.drift_states`).  Returns 1
    (Newton's point), 2 (the drift's end) or 0 (the drift failed).
    (Before stop 22 any Newton point was accepted: on the instances whose precharged state does not exist it
    could be a state the circuit does not reach -- 17 decision misses against ngspice in 3,055.)
    """
    v0 = v.copy()
    sgn = _newton_dc(v, vdd, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl,
                     gmin, ut, vfix, se_idx, vdd_idx, max_iter, vtol)
    if sgn != 0.0:
        ok = sgn == (1.0 if nv % 2 == 0 else -1.0)
        for j in range(out_nodes.shape[0]):
            if v[out_nodes[j]] < PRECHARGED * vdd:
                ok = False
        if ok:
            return 1
    for i in range(nv):
        v[i] = v0[i]
    if not drift(v, DRIFT_T, vdd, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf,
                 vnl, gmin, ut, vfix, se_idx, vdd_idx, cmat, bse, qch_m, qch_c, jn_nodes, jn_par, ov_nodes, ov_par):
        return 0
    return 2


@jit
def drift(v, t_relax, vdd, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl, gmin,
          ut, vfix, se_idx, vdd_idx, cmat, bse, qch_m, qch_c, jn_nodes, jn_par, ov_nodes, ov_par, max_steps=20000):
    """Follow ``M(V) dV/dt = f(V)`` with SE held low from ``v`` (which receives the end state) for ``t_relax``
    seconds or until the state is at rest (its speed times the time left below 1e-9 V).

    The Rosenbrock 2(3) W-method of :func:`simulate_read` with SE constant (stages with ``W = M_0 - h d J_0`` and
    the right-hand side ``M_0 M(y)^-1 f(y)``), its embedded error held below :data:`DRIFT_ATOL` +
    :data:`DRIFT_RTOL` |V| and no node moving more than 5 % of VDD in a step: the step stays short where the
    state moves (a latch leaving its saddle) and grows to seconds where it rests.  False if the steps run out or
    shrink below 1e-18 s."""
    f0 = np.empty(nv)
    J0 = np.empty((nv, nv))
    f1 = np.empty(nv)
    f2 = np.empty(nv)
    J2 = np.empty((nv, nv))
    T = np.empty(nv)
    gq = np.empty(nv)
    M0 = np.empty((nv, nv))
    M2 = np.empty((nv, nv))
    b = np.empty(nv)
    Ms = np.empty((nv, nv))
    W = np.empty((nv, nv))
    piv = np.empty(nv, dtype=np.int64)
    pivm = np.empty(nv, dtype=np.int64)
    k1 = np.empty(nv)
    k2 = np.empty(nv)
    k3 = np.empty(nv)
    ck = np.empty(nv)
    y1 = np.empty(nv)
    ynew = np.empty(nv)
    z = np.empty(nv)
    qs = np.empty(N_QSCRATCH)
    _eval(v, 0.0, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl,
          gmin, ut, vfix, se_idx, vdd_idx, True, f0, J0, T, gq)
    _charges(v, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, tabs, qch_m, qch_c, jn_nodes, jn_par, ov_nodes,
             ov_par, ut, vfix,
             se_idx, vdd_idx, cmat, bse, M0, b, qs)
    if not _mass_solve(M0, f0, b, 0.0, Ms, pivm, z):
        return False
    speed = 0.0
    for i in range(nv):
        speed = max(speed, abs(z[i]))
    dv_max = 0.05 * max(vdd, 0.1)
    t = 0.0
    h = 1e-12
    for it in range(max_steps):
        if t >= t_relax or speed * (t_relax - t) < 1e-9:
            return True
        hs = min(h, t_relax - t)
        if hs < 1e-18:
            return False
        hd = hs * _D
        for i in range(nv):
            for j in range(nv):
                W[i, j] = M0[i, j] - hd * J0[i, j]
        if not _lu_factor(W, piv):
            h = 0.5 * hs
            continue
        for i in range(nv):
            k1[i] = f0[i]
        _lu_solve(W, piv, k1)
        for i in range(nv):
            y1[i] = v[i] + 0.5 * hs * k1[i]
        _eval(y1, 0.0, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl,
              gmin, ut, vfix, se_idx, vdd_idx, False, f1, J2, T, gq)
        _charges(y1, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, tabs, qch_m, qch_c, jn_nodes, jn_par,
                 ov_nodes, ov_par, ut,
                 vfix, se_idx, vdd_idx, cmat, bse, M2, b, qs)
        if not _mass_solve(M2, f1, b, 0.0, Ms, pivm, z):
            h = 0.5 * hs
            continue
        _matvec(M0, z, f1)
        _matvec(M0, k1, ck)
        for i in range(nv):
            k2[i] = f1[i] - ck[i]
        _lu_solve(W, piv, k2)
        for i in range(nv):
            k2[i] += k1[i]
            ynew[i] = v[i] + hs * k2[i]
        _eval(ynew, 0.0, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl,
              gmin, ut, vfix, se_idx, vdd_idx, True, f2, J2, T, gq)
        _charges(ynew, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, tabs, qch_m, qch_c, jn_nodes, jn_par,
                 ov_nodes, ov_par, ut,
                 vfix, se_idx, vdd_idx, cmat, bse, M2, b, qs)
        if not _mass_solve(M2, f2, b, 0.0, Ms, pivm, z):
            h = 0.5 * hs
            continue
        _matvec(M0, k2, k3)
        for i in range(nv):
            k3[i] = -_E32 * (k3[i] - f1[i]) - 2.0 * (ck[i] - f0[i])
        _matvec(M0, z, ck)  # M0 M(ynew)^-1 f(ynew) (ck no longer needed)
        for i in range(nv):
            k3[i] += ck[i]
        _lu_solve(W, piv, k3)
        err = 0.0
        dv = 0.0
        for i in range(nv):
            e = hs / 6.0 * abs(k1[i] - 2.0 * k2[i] + k3[i])
            err = max(err, e / (DRIFT_ATOL + DRIFT_RTOL * max(abs(v[i]), abs(ynew[i]))))
            dv = max(dv, abs(ynew[i] - v[i]))
        if dv > dv_max:
            err = max(err, (dv / dv_max) ** 3)
        if not err <= 1.0:  # (also a NaN estimate: rejected)
            h = hs * max(0.2, 0.8 * err ** (-1.0 / 3.0))
            continue
        t += hs
        speed = 0.0
        for i in range(nv):
            v[i] = ynew[i]
            f0[i] = f2[i]
            speed = max(speed, abs(z[i]))
            for j in range(nv):
                J0[i, j] = J2[i, j]
                M0[i, j] = M2[i, j]
        h = hs * (5.0 if err < 1e-12 else min(5.0, max(0.2, 0.8 * err ** (-1.0 / 3.0))))
    return False


@jit
def _newton_dc(v, vdd, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf,
               vnl, gmin, ut, vfix, se_idx, vdd_idx, max_iter, vtol):
    """Damped Newton on the SE = 0 KCL from ``v`` (which receives the result; steps limited to 10 % of VDD).
    Returns the sign of the Jacobian's determinant at the last factorisation once the update is below ``vtol``,
    0 if it did not converge."""
    f = np.empty(nv)
    J = np.empty((nv, nv))
    T = np.empty(nv)
    gq = np.empty(nv)
    piv = np.empty(nv, dtype=np.int64)
    vmax_step = 0.1 * max(vdd, 0.1)
    for it in range(max_iter):
        _eval(v, 0.0, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl,
              gmin, ut, vfix, se_idx, vdd_idx, True, f, J, T, gq)
        if not _lu_factor(J, piv):
            return 0.0
        for i in range(nv):
            f[i] = -f[i]
        _lu_solve(J, piv, f)
        dmax = 0.0
        for i in range(nv):
            dmax = max(dmax, abs(f[i]))
        scale = 1.0 if dmax <= vmax_step else vmax_step / dmax
        for i in range(nv):
            v[i] += scale * f[i]
        if dmax < vtol:
            sgn = 1.0
            for i in range(nv):
                if piv[i] != i:
                    sgn = -sgn
                if J[i, i] < 0.0:
                    sgn = -sgn
            return sgn
    return 0.0


@jit(inline="always")
def _matvec(A, x, out):
    n = x.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += A[i, j] * x[j]
        out[i] = acc


@jit
def _hermite_cross(t0, h, y0, y1, d0, d1, level):
    """Time in [t0, t0+h] where the cubic Hermite interpolant crosses ``level`` (bisection)."""
    lo = 0.0
    hi = 1.0
    for _ in range(50):
        s = 0.5 * (lo + hi)
        s2 = s * s
        s3 = s2 * s
        p = ((2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * h * d0
             + (-2 * s3 + 3 * s2) * y1 + (s3 - s2) * h * d1)
        if (p - level) * (y0 - level) > 0.0:
            lo = s
        else:
            hi = s
    return t0 + 0.5 * (lo + hi) * h


@jit
def simulate_read(nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl, cmat,
                  bse, qch_m, qch_c, jn_nodes, jn_par, ov_nodes, ov_par, gmin, ut, vdd, vfix, se_idx, vdd_idx,
                  out_nodes, v_guess,
                  t_r, t_sense, t_pre, t_pre_max, settle_tol, read_times, rtol, atol, diff_tol, h_max, max_steps,
                  grow_max, dv_max, vread, tcross, vpre, rec_t, rec_v):
    """Simulate one read cycle.

    Writes ``vread[k, j]`` (voltage of ``out_nodes[j]`` at ``read_times[k]``, absolute times inside the
    sense phase), ``tcross[j]`` (first time ``out_nodes[j]`` falls through VDD/2 during the sense
    phase, NaN if it does not, also for an output that starts below VDD/2) and ``vpre[i]`` (unknown node i
    in the precharged state, the DC operating point with SE = 0; NaN if that was not found).  Returns ``(status, charge
    drawn from VDD, accepted steps, recorded points, cycle length)``.  When ``rec_t`` has non-zero length
    the trajectory (t, V..., q) is recorded.

    The precharge after the sense lasts at least ``t_pre`` and then until both outputs are back within
    ``settle_tol`` (volts) of their precharged DC values, i.e. the sense amplifier is ready for the next
    read.  (The bit lines' own recharge through the cross-coupled NMOS ends in a subthreshold tail that
    gains ~n U_T ln 10 per decade of time and never reaches the DC state; it is not waited for.)  If the
    outputs take longer than ``t_pre_max``, the status is ``ST_PRECHARGE_INCOMPLETE`` (decision, delay
    and the energy drawn until then remain valid).

    Step control: the embedded error estimate against ``atol + rtol*|V|``, and in the sense phase that of
    the two outputs' difference against ``diff_tol * (atol + rtol*|V_Q - V_QB|)`` (:data:`DIFF_TOL`); a step is
    also rejected when any node moves by more than ``dv_max`` (volts) in it, and a step may grow at most
    ``grow_max``-fold.
    The embedded estimate alone under-reports at a long step that lands on the onset of latch
    regeneration; the two guards bound the step there.

    Channel, junction, overlap and table charges (``qch_m``/``qch_c``, ``jn_nodes``/``jn_par``,
    ``ov_nodes``/``ov_par``, the table rows with
    charges in ``tabs``; see :func:`_charges`; none when empty): the mass matrix ``M(V)`` and
    the SE coupling ``b(V)`` then depend on the state, ``M(V) dV/dt = f(V) + b(V) dSE/dt``.  The stages use
    ``W = M_0 - h d J`` of the step's start and the right-hand side ``M_0 M(y)^-1 (f(y) + b(y) dSE/dt)`` at
    each stage point (the formula applied to ``dV/dt = M^-1 (f + b dSE/dt)`` with the Jacobian approximated
    by ``M_0^-1 J``; Shampine & Reichelt's formula is a W-method, of order 2 with any Jacobian).  The
    supply charge adds the change of the charge held at the VDD-rail terminals.
    """
    t_fall = t_r + t_sense
    t_end_min = t_fall + t_r + t_pre
    t_end = t_fall + t_r + max(t_pre, t_pre_max)
    n_out = out_nodes.shape[0]
    for j in range(n_out):
        tcross[j] = np.nan
    for k in range(read_times.shape[0]):
        for j in range(n_out):
            vread[k, j] = np.nan
    for i in range(nv):
        vpre[i] = np.nan

    v = v_guess.copy()
    ok = dc_operating_point(v, vdd, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes,
                            r_lf, vnl, gmin, ut, vfix, se_idx, vdd_idx, cmat, bse, qch_m, qch_c, jn_nodes, jn_par,
                            ov_nodes, ov_par,
                            out_nodes)
    if ok == 0:
        return ST_DC_FAIL, np.nan, 0, 0, np.nan
    v_dc = v.copy()
    for i in range(nv):
        vpre[i] = v[i]

    # breakpoints: ramp corners and read instants
    nrt = read_times.shape[0]
    # with channel charges, RAMP_SUB - 1 more inside each SE ramp: the channel of a clocked device forms or
    # empties within a fraction of the ramp, which the error estimate of one long step (whose Jacobian
    # omits dM/dV) under-reports
    ntq = n_table_charges(tabs)
    nsub = RAMP_SUB - 1 if qch_m.shape[0] + ntq > 0 else 0
    bp = np.empty(nrt + 5 + 2 * nsub)
    bp[0] = t_r
    for k in range(nrt):
        bp[1 + k] = read_times[k]
    bp[nrt + 1] = t_fall
    bp[nrt + 2] = t_fall + t_r
    bp[nrt + 3] = t_end_min
    bp[nrt + 4] = t_end
    for k in range(nsub):
        bp[nrt + 5 + k] = t_r * (k + 1) / RAMP_SUB
        bp[nrt + 5 + nsub + k] = t_fall + t_r * (k + 1) / RAMP_SUB
    bp.sort()

    # inverse of the capacitance matrix (for dV/dt at the step ends: output-crossing interpolation)
    cinv = np.zeros((nv, nv))
    cl = cmat.copy()
    pivc = np.empty(nv, dtype=np.int64)
    if not _lu_factor(cl, pivc):
        return ST_DC_FAIL, np.nan, 0, 0, np.nan
    for j in range(nv):
        cinv[j, j] = 1.0
        col = cinv[:, j].copy()
        _lu_solve(cl, pivc, col)
        for i in range(nv):
            cinv[i, j] = col[i]
    # state at the current point: residual f0, Jacobian J0, d f/d SE (ts0) and the VDD-rail terms
    # (all unscaled currents);
    # the error-estimate stage evaluates the same quantities at the step's end point, which become the
    # next step's start values when the step is accepted (first-same-as-last with Jacobian reuse).
    f0 = np.empty(nv)
    J0 = np.empty((nv, nv))
    ts0 = np.empty(nv)
    gq0 = np.empty(nv)
    f2 = np.empty(nv)
    J2 = np.empty((nv, nv))
    ts2 = np.empty(nv)
    gq2 = np.empty(nv)
    f1 = np.empty(nv)
    W = np.empty((nv, nv))
    T = np.empty(nv)
    piv = np.empty(nv, dtype=np.int64)
    k1 = np.empty(nv)
    k2 = np.empty(nv)
    k3 = np.empty(nv)
    u = np.empty(nv)
    ck = np.empty(nv)
    y1 = np.empty(nv)
    ynew = np.empty(nv)
    vth = 0.5 * vdd  # an output already below it in the precharged state has no falling crossing
    # state-dependent mass matrix and SE coupling (channel charges): at the step start (M0, b0), at a stage
    # point (M2, b2), LU scratch Ms, dV/dt at the step end z2 (at its start z0: output crossings), stage
    # right-hand side g2p
    nq = qch_m.shape[0] + jn_nodes.shape[0] + ov_nodes.shape[0] + ntq
    M0 = cmat.copy()
    b0 = bse.copy()
    M2 = np.empty((nv, nv))
    b2 = np.empty(nv)
    Ms = np.empty((nv, nv))
    pivm = np.empty(nv, dtype=np.int64)
    z2 = np.empty(nv)
    z0 = np.empty(nv)
    g2p = np.empty(nv)
    qs = np.empty(N_QSCRATCH)
    qv_start = 0.0
    if nq > 0:
        qv_start = _charges(v, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, tabs, qch_m, qch_c, jn_nodes,
                            jn_par, ov_nodes, ov_par, ut, vfix, se_idx, vdd_idx, cmat, bse, M0, b0, qs)
    qv0 = qv_start
    qv2 = qv_start

    t = 0.0
    q = 0.0
    qt = 0.0
    q_prev = 0.0
    g_prev = np.inf  # settle distance at the previous step end (inf before t_end_min)
    h = min(1e-12, h_max)
    ibp = 0
    iread = 0
    nrec = 0
    nrec_max = rec_t.shape[0]
    if nrec_max > 0:
        rec_t[0] = 0.0
        for i in range(nv):
            rec_v[0, i] = v[i]
        rec_v[0, nv] = 0.0
        nrec = 1
    steps = 0
    attempts = 0
    iq0, tqs0 = _eval(v, 0.0, 1.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes,
                      r_lf, vnl, gmin, ut, vfix, se_idx, vdd_idx, True, f0, J0, ts0, gq0)
    while t < t_end:
        while ibp < bp.shape[0] and bp[ibp] <= t * (1.0 + 1e-12) + 1e-21:
            ibp += 1
        nxt = bp[ibp] if ibp < bp.shape[0] else t_end
        clipped = False
        hs = h
        if t + hs >= nxt - 1e-21 or t + hs > nxt * (1.0 - 1e-9):
            hs = nxt - t
            clipped = True
        if hs < 1e-20:
            return ST_STEP_UNDERFLOW, np.nan, steps, nrec, t
        attempts += 1
        if attempts > max_steps:
            return ST_MAX_STEPS, np.nan, steps, nrec, t
        _, dse = _se_wave(t + 0.5 * hs, vdd, t_r, t_fall)
        hd = hs * _D
        for i in range(nv):
            T[i] = ts0[i] * dse
            u[i] = b0[i] * dse
            for j in range(nv):
                W[i, j] = M0[i, j] - hd * J0[i, j]
        tq = tqs0 * dse
        if not _lu_factor(W, piv):
            h = 0.5 * hs
            continue
        # stage 1
        for i in range(nv):
            k1[i] = f0[i] + u[i] + hd * T[i]
        _lu_solve(W, piv, k1)
        kq1 = iq0 + hd * tq
        for i in range(nv):
            kq1 += hd * gq0[i] * k1[i]
        # stage 2
        for i in range(nv):
            y1[i] = v[i] + 0.5 * hs * k1[i]
        se1, _ = _se_wave(t + 0.5 * hs, vdd, t_r, t_fall)
        iq1, _ = _eval(y1, se1, 0.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes,
                       r_lf, vnl, gmin, ut, vfix, se_idx, vdd_idx, False, f1, J2, ts2, gq2)
        if nq > 0:  # f1 := M0 M(y1)^-1 (f(y1) + b(y1) dSE/dt)
            _charges(y1, se1, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, tabs, qch_m, qch_c, jn_nodes, jn_par,
                     ov_nodes, ov_par,
                     ut, vfix, se_idx, vdd_idx, cmat, bse, M2, b2, qs)
            if not _mass_solve(M2, f1, b2, dse, Ms, pivm, z2):
                h = 0.5 * hs
                continue
            _matvec(M0, z2, f1)
        else:
            for i in range(nv):
                f1[i] += u[i]
        _matvec(M0, k1, ck)
        for i in range(nv):
            k2[i] = f1[i] - ck[i]
        _lu_solve(W, piv, k2)
        kq2 = iq1 - kq1
        for i in range(nv):
            kq2 += hd * gq0[i] * k2[i]
        for i in range(nv):
            k2[i] += k1[i]
            ynew[i] = v[i] + hs * k2[i]
        kq2 += kq1
        # stage 3 (error estimate) at the end point, with the Jacobian for the next step
        se2, _ = _se_wave(t + hs, vdd, t_r, t_fall)
        iq2, tqs2 = _eval(ynew, se2, 1.0, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs,
                          rr_nodes, r_lf, vnl, gmin, ut, vfix, se_idx, vdd_idx, True, f2, J2, ts2, gq2)
        if nq > 0:  # g2p := M0 M(ynew)^-1 (f(ynew) + b(ynew) dSE/dt); z2 = dV/dt at the end point
            qv2 = _charges(ynew, se2, nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, tabs, qch_m, qch_c, jn_nodes,
                           jn_par, ov_nodes, ov_par, ut, vfix, se_idx, vdd_idx, cmat, bse, M2, b2, qs)
            if not _mass_solve(M2, f2, b2, dse, Ms, pivm, z2):
                h = 0.5 * hs
                continue
            _matvec(M0, z2, g2p)
        else:
            for i in range(nv):
                g2p[i] = f2[i] + u[i]
        _matvec(M0, k2, k3)  # M0 k2 (k3 as scratch)
        for i in range(nv):
            k3[i] = g2p[i] - _E32 * (k3[i] - f1[i]) - 2.0 * (ck[i] - (f0[i] + u[i])) + hd * T[i]
        _lu_solve(W, piv, k3)
        err = 0.0
        dv = 0.0
        for i in range(nv):
            e = hs / 6.0 * abs(k1[i] - 2.0 * k2[i] + k3[i])
            sc = atol + rtol * max(abs(v[i]), abs(ynew[i]))
            err = max(err, e / sc)
            dv = max(dv, abs(ynew[i] - v[i]))
        if n_out == 2 and t + hs <= t_fall * (1.0 + 1e-12):
            # the outputs' difference, which the decision and the delay come from, to its own size (see
            # DIFF_TOL, the default of diff_tol)
            a, b = out_nodes[0], out_nodes[1]
            e = hs / 6.0 * abs(k1[a] - 2.0 * k2[a] + k3[a] - (k1[b] - 2.0 * k2[b] + k3[b]))
            sc = diff_tol * (atol + rtol * max(abs(v[a] - v[b]), abs(ynew[a] - ynew[b])))
            err = max(err, e / sc)
        if dv > dv_max:
            err = max(err, (dv / dv_max) ** 3)  # shrink so that the move fits, same law as the estimate
        if not err <= 1.0:  # (also a NaN estimate: rejected)
            h = hs * max(0.2, 0.8 * err ** (-1.0 / 3.0))
            continue
        # accepted
        steps += 1
        t_new = t + hs
        if t_new <= t_fall * (1.0 + 1e-12):
            for j in range(n_out):
                nd = out_nodes[j]
                if math.isnan(tcross[j]) and v[nd] >= vth and ynew[nd] < vth:
                    d0 = 0.0  # dV/dt = C^-1 (f + bse dSE/dt) at both ends of the step
                    d1 = 0.0
                    if nq > 0:  # M(V)^-1 (f + b(V) dSE/dt); at the step end already in z2
                        _mass_solve(M0, f0, b0, dse, Ms, pivm, z0)
                        d0 = z0[nd]
                        d1 = z2[nd]
                    else:
                        for i in range(nv):
                            d0 += cinv[nd, i] * (f0[i] + u[i])
                            d1 += cinv[nd, i] * (f2[i] + u[i])
                    tcross[j] = _hermite_cross(t, hs, v[nd], ynew[nd], d0, d1, vth)
        q += hs * kq2
        if nq > 0:
            M0, M2 = M2, M0
            b0, b2 = b2, b0
            qv0 = qv2
        qt = q + (qv0 - qv_start)  # supply charge: conduction plus the change held at the VDD terminals
        for i in range(nv):
            v[i] = ynew[i]
        f0, f2 = f2, f0
        J0, J2 = J2, J0
        ts0, ts2 = ts2, ts0
        gq0, gq2 = gq2, gq0
        iq0 = iq2
        tqs0 = tqs2
        t = t_new
        while iread < nrt and read_times[iread] <= t * (1.0 + 1e-12):
            if abs(read_times[iread] - t) <= 1e-9 * t + 1e-21:
                for j in range(n_out):
                    vread[iread, j] = v[out_nodes[j]]
            iread += 1
        if nrec < nrec_max:
            rec_t[nrec] = t
            for i in range(nv):
                rec_v[nrec, i] = v[i]
            rec_v[nrec, nv] = qt
            nrec += 1
        fac = grow_max if err < 1e-12 else min(grow_max, max(0.2, 0.8 * err ** (-1.0 / 3.0)))
        hn = hs * fac
        if clipped and hn < h:
            hn = h
        h = min(hn, h_max)
        if t >= t_end_min * (1.0 - 1e-12):
            g = 0.0
            for j in range(n_out):
                nd = out_nodes[j]
                g = max(g, abs(v[nd] - v_dc[nd]))
            if g <= settle_tol:
                if settle_tol < g_prev < np.inf:  # settled inside this step: interpolate the instant
                    sfrac = (g_prev - settle_tol) / (g_prev - g)
                    return ST_OK, q_prev + sfrac * (qt - q_prev), steps, nrec, t - hs + sfrac * hs
                return ST_OK, qt, steps, nrec, t
            g_prev = g
        q_prev = qt
    return ST_PRECHARGE_INCOMPLETE, qt, steps, nrec, t


@jit(parallel=True)
def simulate_batch(nv, mos_nodes, mos_pol, mos_par, mos_mult, vt, ispec, tabs, rr_nodes, r_lf, vnl, cmat,
                   bse, qch_m, qch_c, jn_nodes, jn_par, ov_nodes, ov_par, gmin, ut, vdd, vfix, se_idx, vdd_idx,
                   out_nodes, v_guess,
                   t_r, t_sense, t_pre, t_pre_max, settle_tol, read_times, rtol, atol, diff_tol, h_max, max_steps,
                   grow_max, dv_max, vread, tcross, vpre, charge, status, nsteps, tcycle):
    """Run ``simulate_read`` for every row of the per-sample arrays (``vt``, ``ispec``, ``r_lf``,
    ``vnl``: shape (samples, elements)); parallel over samples, deterministic per sample."""
    ns = vt.shape[0]
    for s in nb.prange(ns):
        rec_t = np.empty(0)
        rec_v = np.empty((0, nv + 1))
        st, qq, nst, _, tc = simulate_read(nv, mos_nodes, mos_pol, mos_par, mos_mult, vt[s], ispec[s], tabs,
                                           rr_nodes, r_lf[s], vnl[s], cmat, bse, qch_m, qch_c, jn_nodes, jn_par,
                                           ov_nodes, ov_par,
                                           gmin, ut, vdd, vfix, se_idx,
                                           vdd_idx, out_nodes, v_guess, t_r, t_sense, t_pre, t_pre_max,
                                           settle_tol, read_times, rtol, atol, diff_tol, h_max, max_steps,
                                           grow_max, dv_max, vread[s], tcross[s], vpre[s], rec_t, rec_v)
        status[s] = st
        charge[s] = qq
        nsteps[s] = nst
        tcycle[s] = tc

"""Where a kernel read's time goes, and how far the issue's 10^4x target is from what the method can reach.

    python benchmarks/kernel_cost.py [--samples 200] [--vdd 0.8] [--spice-samples 10] [--out FILE]

On one thread: times ``ReadSimulator.run`` on ``--samples`` seeded instances (the time per read and the accepted
steps per read), then the two per-stage evaluations of the kernel's integrator -- the currents with their
Jacobian (``transient._eval``: every transistor's table or compact model, the junction diodes, the RRAMs) and the
charges with the mass matrix (``transient._charges``: the tables' intrinsic charges, junction and overlap
charges) -- and the LU factorisation of one node matrix, each in a compiled loop over 64 states taken from a
recorded read of the first instance (so that the device models see the biases of a real read), and the bare
device models alone (one table current, one table's charges, one junction diode; their tables handed over as
``_eval`` and ``_charges`` hand them on, as unmanaged views: ``arraysim.kernels.devices.borrowed``).  Each
accepted step of the integrator (a W-method, ``arraysim.kernels.transient.simulate_read``) evaluates currents and
charges twice and factorises three matrices (plus its rejected attempts).

Then ngspice (SKY130 when available) on ``--spice-samples`` of the same instances gives the time per read of the
referee, hence the time per read the kernel would need for 10^4x, and how many stage evaluations of *only the
device models* (no circuit assembly, no linear algebra, no step control) fit into it.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from arraysim.kernels.devices import borrowed, junction_table_eval, mos_table_charges, mos_table_eval
from arraysim.kernels.transient import N_QSCRATCH, _charges, _eval, _lu_factor


@njit
def _loop_eval(n, vs, se, args, jac, f, J, T, gq):
    s = 0.0
    for k in range(n):
        i = k % vs.shape[0]
        a, _ = _eval(vs[i], se[i], 1.0, *args, jac, f, J, T, gq)
        s += a + f[0]
    return s


@njit
def _loop_charges(n, vs, se, args, M, b, qs):
    s = 0.0
    for k in range(n):
        i = k % vs.shape[0]
        s += _charges(vs[i], se[i], *args, M, b, qs) + M[0, 0]
    return s


@njit
def _loop_lu(n, A0, A, piv):
    s = 0.0
    for k in range(n):
        A[:] = A0
        A[0, 0] += k * 1e-30
        _lu_factor(A, piv)
        s += A[-1, -1]
    return s


@njit
def _loop_table(n, vs, tf, meta, dvt):
    tf, meta = borrowed(tf), borrowed(meta)  # as the kernel passes them
    s = 0.0
    for k in range(n):
        i = k % vs.shape[0]
        r = mos_table_eval(1, vs[i, 0], vs[i, 1], vs[i, 2], 0.0, dvt, 1.0, 0.0258, tf, meta)
        s += r[0] + r[1]
    return s


@njit
def _loop_table_charges(n, vs, tf, meta, dvt, qa, q, dq):
    tf, meta, qa, q, dq = borrowed(tf), borrowed(meta), borrowed(qa), borrowed(q), borrowed(dq)
    s = 0.0
    for k in range(n):
        i = k % vs.shape[0]
        mos_table_charges(1, vs[i, 0], vs[i, 1], vs[i, 2], 0.0, dvt, tf, meta, qa, q, dq)
        s += q[0] + dq[0, 1]
    return s


@njit
def _loop_junction(n, vs, tf, meta):
    tf, meta = borrowed(tf), borrowed(meta)
    s = 0.0
    for k in range(n):
        r = junction_table_eval(tf, meta, -vs[k % vs.shape[0], 0], 0.0258)
        s += r[0]
    return s


def _per_call(fun, n, *args):
    """Seconds per iteration of the compiled loop ``fun`` (compiled and warmed first; best of 3)."""
    fun(10, *args)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fun(n, *args)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--vdd", type=float, default=0.8)
    p.add_argument("--temp", type=float, default=27.0)
    p.add_argument("--corner", default="tt")
    p.add_argument("--technology", default="auto", help="auto: sky130 when its models are installed, else generic130")
    p.add_argument("--spice-samples", type=int, default=10, help="instances through ngspice (0: skip)")
    p.add_argument("--calls", type=int, default=200000, help="iterations of each timed loop")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the report to this file")
    a = p.parse_args(argv)
    for name in ("samples", "calls"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(a, name)})")
    if a.spice_samples < 0 or a.spice_samples > a.samples:
        p.error(f"--spice-samples must be between 0 and --samples ({a.samples}); got {a.spice_samples}")

    import numba

    from arraysim import __version__
    from arraysim.api import simulator
    from arraysim.devices.rram import Programming
    from arraysim.kernels.transient import _se_wave
    from arraysim.montecarlo.sampling import draw_instances
    from arraysim.options import ALL_VARIABILITY, Cell
    from arraysim.units import celsius_to_kelvin, thermal_voltage

    tech = a.technology
    if tech == "auto":
        from _report import sky130_ready
        tech = "sky130" if sky130_ready() else "generic130"
    model = "sky130" if tech == "sky130" else "compact"
    sim = simulator(tech)
    inst = draw_instances(np.random.default_rng(a.seed), a.samples, sim, a.temp, Programming(), Cell.C2T2R,
                          ALL_VARIABILITY)
    args = (a.vdd, a.temp, a.corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
    numba.set_num_threads(1)
    sim.run(*(args[:3] + tuple(x[:1] for x in args[3:7]) + (args[7],)))  # compile
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        raw = sim.run(*args)
        times.append(time.perf_counter() - t0)
    t_read = min(times) / a.samples
    steps = float(np.mean(raw.steps))

    # 64 states of a recorded read of instance 0 (its own variation), evenly spread over its steps
    w = sim.waveform(a.vdd, a.temp, a.corner, inst.r_bl[0], inst.r_blb[0], inst.dvt[0], inst.dbeta[0],
                     inst.ohmic_blb)
    t = sim.tables
    pick = np.linspace(0, w["t"].size - 1, 64).astype(int)
    vs = np.ascontiguousarray(np.stack([w[n][pick] for n in t.node_names], axis=1))
    tm = sim.design.timing
    se = np.array([_se_wave(float(x), a.vdd, tm.t_rise, tm.t_rise + tm.t_sense)[0] for x in w["t"][pick]])
    vt0, isp0 = sim.nominal_elements(a.temp, a.corner)
    vt = vt0 + inst.dvt[0]
    isp = isp0 * (1.0 + inst.dbeta[0])
    r = np.array([inst.r_bl[0], inst.r_blb[0]])
    vnl = np.array([sim.rram.vnl(inst.r_bl[0]), 0.0 if inst.ohmic_blb else sim.rram.vnl(inst.r_blb[0])])
    ut = thermal_voltage(celsius_to_kelvin(a.temp))
    vfix = sim._vfix(a.vdd, None)
    tabs = sim.tabs_at(a.temp, a.corner)
    mos_par = sim.mos_par_at(a.temp, a.corner)
    nv = t.nv
    eval_args = (nv, t.mos_nodes, t.mos_pol, mos_par, t.mos_mult, vt, isp, tabs, t.rr_nodes, r, vnl,
                 sim.design.gmin, ut, vfix, t.se_idx, t.vdd_idx)
    ch_args = (nv, t.mos_nodes, t.mos_pol, mos_par, t.mos_mult, vt, tabs, *sim.qch_at(a.corner),
               *sim.jn_at(a.corner, a.temp), *sim.ov_at(a.corner), ut, vfix, t.se_idx, t.vdd_idx,
               sim.cmat_at(a.corner), sim.bse)
    n = a.calls
    c_eval, c_eval0 = (_per_call(_loop_eval, n, vs, se, eval_args, jac, np.empty(nv), np.empty((nv, nv)),
                                 np.empty(nv), np.empty(nv)) for jac in (True, False))
    c_ch = _per_call(_loop_charges, n, vs, se, ch_args, np.empty((nv, nv)), np.empty(nv), np.empty(N_QSCRATCH))
    c_lu = _per_call(_loop_lu, n, sim.cmat_at(a.corner) + np.eye(nv) * 1e-15, np.empty((nv, nv)),
                     np.empty(nv, dtype=np.int64))
    n_mos = t.mos_nodes.shape[0]
    n_tab = int(np.sum(tabs[0] >= 0))
    n_tq = int(np.sum([tabs[3][tb, 17] >= 0 for tb in tabs[0] if tb >= 0]))
    lines = [f"arraysim {__version__}, technology {sim.tech.name}, VDD {a.vdd} V, {a.temp} degC, {a.corner}, "
             f"{a.samples} instances (seed {a.seed}), one thread",
             f"read        : {t_read * 1e6:9.1f} us per read ({1 / t_read:.0f} reads/s), {steps:.1f} accepted steps per "
             f"read -> {t_read / steps * 1e6:.1f} us per accepted step",
             f"_eval       : {c_eval * 1e6:9.2f} us per call with the Jacobian, {c_eval0 * 1e6:.2f} without ({n_mos} "
             f"transistors, {n_tab} of them tabulated, {tabs[4].shape[0]} junction diodes, {t.rr_nodes.shape[0]} RRAMs)",
             f"_charges    : {c_ch * 1e6:9.2f} us per call (mass matrix: {n_tq} tabulated transistors' charges, "
             f"{ch_args[7].shape[0]} channel-charge, {ch_args[9].shape[0]} junction and {ch_args[11].shape[0]} overlap "
             f"charge rows)",
             f"LU {nv}x{nv}    : {c_lu * 1e6:9.2f} us per call"]
    # the integrator calls _charges (and factorises the mass matrix) only when the circuit has state-dependent charges
    has_q = n_tq + ch_args[7].shape[0] + ch_args[9].shape[0] + ch_args[11].shape[0] > 0
    per_step = c_eval + c_eval0 + (2 * c_ch + 3 * c_lu if has_q else c_lu)
    lines.append(f"per step    : {per_step * 1e6:9.1f} us in these ("
                 + ("2 x _eval, 2 x _charges, 3 x LU" if has_q else "2 x _eval, 1 x LU; no charges to evaluate") + ") = "
                 f"{100 * per_step * steps / t_read:.0f} % of the read time (timed in isolation on other states; "
                 f"rejected attempts, the stages' vector work, step control and the DC start come on top)")
    c_dev = 0.0
    if n_tab:
        tf = tabs[2]
        # the cross-coupled NMOS on Q (drain Q, gate QB, source BL) at the recorded biases, or else the first
        # tabulated transistor with the same biases
        names = [m.name for m in t.mos]
        m = names.index("MN_X_Q") if "MN_X_Q" in names and tabs[0][names.index("MN_X_Q")] >= 0 \
            else int(np.argmax(tabs[0] >= 0))
        meta = tabs[3][int(tabs[0][m])]
        iq, iqb, ibl = (t.node_names.index(x) for x in ("Q", "QB", "BL"))
        dv = np.ascontiguousarray(np.stack([vs[:, iq], vs[:, iqb], vs[:, ibl]], axis=1))
        c_tab = _per_call(_loop_table, n, dv, tf, meta, 0.01)
        c_tq = _per_call(_loop_table_charges, n, dv, tf, meta, 0.01, np.empty((3, 4)), np.empty(4),
                         np.empty((4, 4)))
        lines.append(f"one table   : {c_tab * 1e9:9.0f} ns current + derivatives, {c_tq * 1e9:.0f} ns charges + "
                     f"derivatives (tricubic, 64 points per array)")
        if tabs[4].shape[0]:
            c_j = _per_call(_loop_junction, n, dv, tf, tabs[3][int(tabs[5][0, 0])])
            lines.append(f"one diode   : {c_j * 1e9:9.0f} ns")
        else:
            c_j = 0.0
        c_dev = n_tab * c_tab + n_tq * c_tq + tabs[4].shape[0] * c_j
        lines.append(f"devices only: {c_dev * 1e6:9.2f} us per stage ({n_tab} table currents, {n_tq} table charges, "
                     f"{tabs[4].shape[0]} diodes): {100 * 2 * c_dev * steps / t_read:.0f} % of the read time")
    if a.spice_samples:
        from arraysim.spice.netlist import simulate
        k = a.spice_samples
        sub = (a.vdd, a.temp, a.corner) + tuple(x[:k] for x in args[3:7]) + (args[7],)
        res = simulate(sim, *sub, model=model, t_cycle=raw.tcycle[:k])
        t_sp = res["seconds"] / k
        budget = t_sp / 1e4
        lines.append(f"ngspice     : {t_sp * 1e3:9.1f} ms per read ({model} models, {k} instances, one process) -> "
                     f"ratio now {t_sp / t_read:.0f}x per core")
        lines.append(f"10^4x needs : {budget * 1e6:9.1f} us per read = {t_read / budget:.0f}x less than now; that is "
                     f"the time of {budget / per_step:.1f} accepted steps at today's per-step cost"
                     + (f", or of {budget / c_dev:.1f} stage evaluations of the device models alone" if c_dev else ""))
    from _report import emit
    emit(lines, a.out)


if __name__ == "__main__":
    main()

"""Compiled device equations: the EKV-family MOSFET and the RRAM I-V law.

Private module: plain floats in, floats out.  The kernels here and in :mod:`arraysim.kernels.transient` are
compiled by :data:`jit`, numba's ``njit`` with ``error_model="numpy"``: a float division by zero gives inf/NaN
instead of a checked exception (the checks cost ~3 % of a read; every divisor on a valid input is non-zero, and
a step whose error estimate is NaN is rejected, so a NaN ends as a non-converged status, never as a result).
The same equations are written independently in plain
Python in :mod:`arraysim.reference` (the slow reference) and in SPICE behavioural form later; tests check
all of them against each other.

MOSFET (charge-based, continuous from weak to strong inversion, physics.md section 2)
-------------------------------------------------------------------------------------
Voltages are referred to the bulk.  For an NMOS with gate, drain, source voltages V_G, V_D, V_S:

    a      = sqrt(V_DS^2 + eps^2) - eps                      (smooth |V_DS|, eps = 10 mV)
    V_G'   = V_G - V_T + D(a)                                (gate drive; D = DIBL, below)
    v_p    = V_G' / n                                        (pinch-off voltage; no body-effect law)
    L_f    = ln(1 + exp((v_p - V_S) / (2 U_T)))               i_f = L_f^2  (forward normalized current)
    L_r    = ln(1 + exp((v_p - V_D) / (2 U_T)))               i_r = L_r^2  (reverse)
    I_D    = I_spec * (i_f - i_r) * (1 + lambda * a) / (1 + theta * n_s * U_T * (L_f + L_r)
                                                          + k_vsat * n_s * U_T * |L_f - L_r|)

DIBL.  ``D(a) = eta a`` (``dv0 = 0``, the form of technology files fitted before the square-root law) or
``D(a) = eta (sqrt(a + dv0) - sqrt(dv0))`` (``dv0 > 0``, a knee of a few mV).  SKY130's short-channel
constant-current threshold falls ~30 mV over the first 0.2 V of V_DS and ~50 mV/V after it (halo implants):
proportional to sqrt(V_DS), not to V_DS.  With one linear coefficient the subthreshold current at low V_DS
(the bit lines, the sense nodes while they resolve) was 10-15 % off where the high-V_DS end fitted; in a
one-temperature fit the square root cut the short NMOS's weak-inversion error 2-4x (``calibrate.prototype_fit``;
the full multi-temperature, multi-V_SB calibration gained less, see the README).

Body effect.  In the form above the threshold referred to a source at V_S (bulk-referred) rises as
``(n - 1) V_S``: the whole slope factor acts as back-gate coupling, linearly and without bound.  A short
channel's slope factor also holds interface-trap and drain coupling, which do not couple to the bulk, and its
depletion charge follows a square root.  With a body-effect law given (``kbody`` not NaN) the pinch-off
voltage is instead

    V_M    = (V_S + V_D - sqrt(V_DS^2 + eps^2)) / 2          (smooth min(V_S, V_D): the source side)
    K(V)   = kbody V + gamma (sqrt(phi + V) - sqrt(phi))     (source-referred threshold shift)
    v_p    = V_M + (V_G' - V_M - K(V_M)) / n

so that ``v_p = V_S`` at ``V_GS = V_T + K(V_SB) - eta a`` (the BSIM K1/K2 law) while ``dv_p/dV_G = 1 / n``
keeps the subthreshold slope.  ``kbody = n - 1, gamma = 0`` is the constant-n form again.  Below
``phi + V = phi / 4`` (a forward-biased source junction, outside any PCSA bias) the square root continues
along its tangent.  ``kbody`` NaN (technology files fitted before the body effect) selects the constant-n
expression itself, bit for bit.

Two slope factors.  One constant ``n`` must serve both the subthreshold slope (interface traps, depletion)
and the strong-inversion current (BSIM's bulk-charge factor A_bulk); SKY130's PMOS has 165-170 mV/dec
(n ~ 2.8) in weak inversion while its strong-inversion current needs n ~ 1.5.  With a strong-inversion
slope factor ``n_s`` given (``n_s == n``: the one-factor form above, exactly), with x the gate drive
(``V_G'`` without, ``V_G' - V_M - K(V_M)`` with a body law) and ``w = tau U_T``,

    v_p    = (0 or V_M) + x / n + (1 / n_s - 1 / n) * w * ln(1 + exp(x / w))

so that ``dv_p/dx`` goes from ``1 / n`` below threshold to ``1 / n_s`` above it over a few ``w``.

``I_spec = 2 n_s beta U_T^2``.  ``n_s U_T (L_f + L_r)`` is the channel-averaged inversion charge expressed
as a voltage (about V_ov/2 in saturation, the mean overdrive in the linear region): ``theta`` is the
mobility reduction by the gate field.  ``n_s U_T |L_f - L_r|`` is the effective drain-source voltage (V_DS/2 in
the linear region, V_DSsat/2 in saturation): ``k_vsat = 1 / (E_c L)`` is velocity saturation, which acts
along the channel and so vanishes at small V_DS.  (With ``k_vsat = 0`` ``theta`` has to lump both, and a short
channel's deep-triode current came out 20-35 % low while its saturation current was too high.)  The kink of
``|L_f - L_r|`` at V_DS = 0 multiplies ``i_f - i_r = 0``: the current stays continuously differentiable.
``I_D`` is the current flowing *into the drain terminal*.
A PMOS is evaluated in the mirrored frame (every voltage v -> V_B - v) and the current sign flipped;
its conductances are then equal to those of the mirrored NMOS (see ``mos_eval``).
"""
from __future__ import annotations

import functools
import math

import numba as nb
from numba.core import types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

jit = functools.partial(nb.njit, cache=True, error_model="numpy")
"""The decorator of every read kernel (module docstring); keyword arguments add to it (``inline``, ``parallel``)."""

@intrinsic
def borrowed(typingctx, arr):
    """``arr`` as an unmanaged view: the same data, shape and strides without its memory-info pointer, so that
    passing it down the call chain of the device models costs no reference counting (numba's ``NRT_incref`` /
    ``NRT_decref`` are atomic operations; on arrays without memory info they return at once).  The view must not
    outlive ``arr``: only for arrays that the caller holds for the whole call (the kernel's arguments)."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        src = make_array(aryty)(context, builder, value=args[0])
        dst = make_array(aryty)(context, builder)
        context.populate_array(dst, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                               meminfo=None)
        return dst._getvalue()

    return arr(arr), codegen


EPS_VDS = 0.01  # V, smoothing of |V_DS| in the DIBL and channel-length-modulation terms


@jit(inline="always")
def _softplus_half(x):
    """Return (ln(1 + e^(x/2)), sigmoid(x/2)) without overflow."""
    h = 0.5 * x
    # beyond |h| = 37, e^-|h| < 1e-16: the shortcuts below are exact to double precision
    if h > 37.0:
        return h, 1.0
    if h < -37.0:
        e = math.exp(h)
        return e, e
    if h > 0.0:
        e = math.exp(-h)
        return h + math.log1p(e), 1.0 / (1.0 + e)
    e = math.exp(h)
    return math.log1p(e), e / (1.0 + e)


@jit(inline="always")
def body_shift(v, kbody, gamma, phi):
    """K(V) = kbody V + gamma (sqrt(phi + V) - sqrt(phi)) and dK/dV (tangent continuation below
    phi + V = phi / 4)."""
    u = phi + v
    u0 = 0.25 * phi
    if u >= u0:
        r = math.sqrt(u)
        return kbody * v + gamma * (r - math.sqrt(phi)), kbody + 0.5 * gamma / r
    r0 = math.sqrt(u0)
    return kbody * v + gamma * (r0 + 0.5 * (u - u0) / r0 - math.sqrt(phi)), kbody + 0.5 * gamma / r0


@jit
def ekv_nframe(vg, vd, vs, vt, ispec, n, theta, lam, eta, gamma, phi, kbody, vsat, ns, tau, dv0, ut):
    """NMOS-frame drain current and its partial derivatives (bulk at 0 V).

    Returns ``(i, di/dvg, di/dvd, di/dvs)``.
    """
    vds = vd - vs
    rt = math.sqrt(vds * vds + EPS_VDS * EPS_VDS)
    a = rt - EPS_VDS
    da = vds / rt  # d a / d vds
    if dv0 > 0.0:  # square-root DIBL law
        r0 = math.sqrt(a + dv0)
        dib = eta * (r0 - math.sqrt(dv0))
        ddib = eta * 0.5 / r0 * da  # d dib / d vds
    else:  # linear DIBL
        dib = eta * a
        ddib = eta * da
    if math.isnan(kbody):  # constant slope factor, the form of technology files without a body law
        base = 0.0
        dbase_dd = 0.0
        dbase_ds = 0.0
        x = vg - vt + dib
        dx_dd = ddib
        dx_ds = -dx_dd
    else:
        vm = 0.5 * (vs + vd - rt)
        dvm_dd = 0.5 * (1.0 - da)
        dvm_ds = 0.5 * (1.0 + da)
        kv, dk = body_shift(vm, kbody, gamma, phi)
        base = vm
        dbase_dd = dvm_dd
        dbase_ds = dvm_ds
        x = vg - vt + dib - vm - kv
        dx_dd = ddib - (1.0 + dk) * dvm_dd
        dx_ds = -ddib - (1.0 + dk) * dvm_ds
    if ns == n:  # one slope factor
        vp = base + x / n
        slope = 1.0 / n
    else:  # weak-inversion slope 1/n, strong-inversion slope 1/ns, blended over tau U_T around x = 0
        w = tau * ut
        sp, sig = _softplus_half(2.0 * x / w)
        dinv = 1.0 / ns - 1.0 / n
        vp = base + x / n + dinv * w * sp
        slope = 1.0 / n + dinv * sig
    dvp_dg = slope
    dvp_dd = dbase_dd + slope * dx_dd
    dvp_ds = dbase_ds + slope * dx_ds
    xf = (vp - vs) / ut
    xr = (vp - vd) / ut
    lf, sf = _softplus_half(xf)
    lr, sr = _softplus_half(xr)
    core = lf * lf - lr * lr
    dl = lf - lr
    sg = 1.0 if dl >= 0.0 else -1.0
    den = 1.0 + theta * ns * ut * (lf + lr) + vsat * ns * ut * sg * dl
    clm = 1.0 + lam * a
    i = ispec * core * clm / den

    # d x / d v for v in (g, d, s)
    dxf_g = dvp_dg / ut
    dxf_d = dvp_dd / ut
    dxf_s = (dvp_ds - 1.0) / ut
    dxr_g = dvp_dg / ut
    dxr_d = (dvp_dd - 1.0) / ut
    dxr_s = dvp_ds / ut
    # d core / dx = L * sigma ; d L / dx = sigma / 2
    cf = lf * sf
    cr = lr * sr
    tf = 0.5 * (theta + vsat * sg) * ns * ut * sf  # d den / d xf
    tr = 0.5 * (theta - vsat * sg) * ns * ut * sr  # d den / d xr
    k = ispec / den
    base = core * clm
    g_g = k * ((cf * dxf_g - cr * dxr_g) * clm - base * (tf * dxf_g + tr * dxr_g) / den)
    g_d = k * ((cf * dxf_d - cr * dxr_d) * clm + core * lam * da
               - base * (tf * dxf_d + tr * dxr_d) / den)
    g_s = k * ((cf * dxf_s - cr * dxr_s) * clm - core * lam * da
               - base * (tf * dxf_s + tr * dxr_s) / den)
    return i, g_g, g_d, g_s


@jit
def mos_eval(polarity, vd, vg, vs, vb, vt, ispec, n, theta, lam, eta, gamma, phi, kbody, vsat, ns, tau, dv0, ut):
    """Current into the drain terminal and (dI/dvd, dI/dvg, dI/dvs, dI/dvb).

    ``polarity`` is +1 for NMOS, -1 for PMOS; ``vt`` is the threshold magnitude; ``kbody`` NaN = no body
    law (constant slope factor); ``vsat`` the velocity-saturation coefficient k_vsat [1/V] (0: none);
    ``ns`` the strong-inversion slope factor (``ns == n``: one slope factor) and ``tau`` the width of the
    weak-to-strong blend in units of U_T; ``dv0`` the knee of the square-root DIBL law [V] (0: linear).
    """
    if polarity > 0:
        i, gg, gd, gs = ekv_nframe(vg - vb, vd - vb, vs - vb, vt, ispec, n, theta, lam, eta, gamma, phi,
                                   kbody, vsat, ns, tau, dv0, ut)
    else:
        i, gg, gd, gs = ekv_nframe(vb - vg, vb - vd, vb - vs, vt, ispec, n, theta, lam, eta, gamma, phi,
                                   kbody, vsat, ns, tau, dv0, ut)
        i = -i  # mirrored frame: d(-I(vb - v))/dv = +dI/dv', so conductances keep their sign
    return i, gd, gg, gs, -(gd + gg + gs)


@jit
def rram_eval(v, r, vnl):
    """Current through an RRAM device (a -> b) at voltage ``v`` and dI/dv.

    ``I = (V_nl / R) sinh(V / V_nl)``: ``R`` is the low-field resistance (dI/dV at V = 0 equals 1/R).
    ``vnl <= 0`` means ohmic (a plain resistor).
    """
    if vnl <= 0.0:
        return v / r, 1.0 / r
    x = v / vnl
    return vnl / r * math.sinh(x), math.cosh(x) / r


# --------------------------------------------------------------------------------------------------
# tabulated channel current (arraysim.cmos.ivtables: grid, F, padding, interpolation statement)
# --------------------------------------------------------------------------------------------------
@jit(inline="always")
def _cr_weights(t):
    """Catmull-Rom weights of the points i-1, i, i+1, i+2 at fraction ``t`` of the cell (i, i+1), and their
    derivatives with respect to t."""
    t2 = t * t
    t3 = t2 * t
    return (0.5 * (-t3 + 2.0 * t2 - t), 0.5 * (3.0 * t3 - 5.0 * t2 + 2.0), 0.5 * (-3.0 * t3 + 4.0 * t2 + t),
            0.5 * (t3 - t2), 0.5 * (-3.0 * t2 + 4.0 * t - 1.0), 0.5 * (9.0 * t2 - 10.0 * t),
            0.5 * (-9.0 * t2 + 8.0 * t + 1.0), 0.5 * (3.0 * t2 - 2.0 * t))


@jit(inline="always")
def _cell(x, n_pad):
    """(clamped coordinate, cell index i in the unpadded grid, fraction) for index coordinate ``x`` on an
    axis whose padded length is ``n_pad`` (unpadded points 0 .. n_pad - 3)."""
    c = min(max(x, 0.0), n_pad - 3.0)
    i = min(int(c), n_pad - 4)
    return c, i, c - i


@jit(inline="always")
def _pt(tf, k, mix):
    """Sample ``k`` of the combined array ``tf[k] + c1 tf[k + d1] + c2 tf[k + d2]`` (``mix = (d1, d2, c1,
    c2)``: F with its threshold-shift terms; ``None``: ``tf[k]`` alone, the branch pruned at compile time)."""
    if mix is None:
        return tf[k]
    return tf[k] + mix[2] * tf[k + mix[0]] + mix[3] * tf[k + mix[1]]


@jit(inline="always")
def _row(tf, k, w, mix):
    """Catmull-Rom along V_GS of the 4 points from ``tf[k]``: (value, d/dx) with weights ``w`` (8-tuple)."""
    p0 = _pt(tf, k, mix)
    p1 = _pt(tf, k + 1, mix)
    p2 = _pt(tf, k + 2, mix)
    p3 = _pt(tf, k + 3, mix)
    return w[0] * p0 + w[1] * p1 + w[2] * p2 + w[3] * p3, w[4] * p0 + w[5] * p1 + w[6] * p2 + w[7] * p3


@jit(inline="always")
def _plane(tf, k, ng, wg, wd, mix):
    """One V_SB plane of the 4x4x4 block: contracted over V_GS (weights ``wg``) and V_DS (``wd``), from
    ``tf[k]`` with rows ``ng`` apart: (value, d/dxg, d/dxd, d2/dxg dxd)."""
    s0, t0 = _row(tf, k, wg, mix)
    s1, t1 = _row(tf, k + ng, wg, mix)
    s2, t2 = _row(tf, k + 2 * ng, wg, mix)
    s3, t3 = _row(tf, k + 3 * ng, wg, mix)
    return (wd[0] * s0 + wd[1] * s1 + wd[2] * s2 + wd[3] * s3, wd[0] * t0 + wd[1] * t1 + wd[2] * t2 + wd[3] * t3,
            wd[4] * s0 + wd[5] * s1 + wd[6] * s2 + wd[7] * s3, wd[4] * t0 + wd[5] * t1 + wd[6] * t2 + wd[7] * t3)


@jit
def table_f(tf, meta, vgs, vds, vsb):
    """``F`` of a padded table (``tf``: every table flattened, ``meta``: this table's row of
    ``arraysim.cmos.ivtables.META_COLS``) at (V_GS, V_DS >= 0, V_SB) and its partial derivatives
    ``(F, dF/dV_GS, dF/dV_DS, dF/dV_SB)``: tensor-product Catmull-Rom; outside the grid the clamped value
    continued along its gradient."""
    return table_f_shifted(tf, meta, vgs, vds, vsb, 0.0)


@jit
def table_f_shifted(tf, meta, vgs, vds, vsb, dvt):
    """As :func:`table_f` for ``F + dvt H + dvt^2 H2 / 2`` (H, H2: the table's threshold-shift response;
    ``F`` alone for ``dvt`` = 0 or a table without one): the three arrays are combined point by point before
    the interpolation, which is linear in the data."""
    off = int(meta[0])
    if dvt != 0.0 and meta[15] >= 0.0:
        mix = (int(meta[15]) - off, int(meta[16]) - off, dvt, 0.5 * dvt * dvt)
    else:
        mix = (0, 0, 0.0, 0.0)
    return _interp(tf, meta, off, mix, vgs, vds, vsb)


@jit(inline="always")
def _interp(tf, meta, off, mix, vgs, vds, vsb):
    """The interpolation of :func:`table_f_shifted` of the padded array at ``tf[off]`` on the grid of ``meta``
    (``mix``: see :func:`_pt`): (value, d/dV_GS, d/dV_DS, d/dV_SB)."""
    ng = int(meta[1])
    nd = int(meta[2])
    nbs = int(meta[3])
    xg = (vgs - meta[4]) / meta[5]
    u = math.sqrt(vds + meta[8])
    xd = (u - meta[6]) / meta[7]
    xb = (vsb - meta[9]) / meta[10]
    cg, ig, tg = _cell(xg, ng)
    cd, idd, td = _cell(xd, nd)
    cb, ib, tb = _cell(xb, nbs)
    g0, g1, g2, g3, dg0, dg1, dg2, dg3 = _cr_weights(tg)
    d0, d1, d2, d3, dd0, dd1, dd2, dd3 = _cr_weights(td)
    b0, b1, b2, b3, db0, db1, db2, db3 = _cr_weights(tb)
    k0 = off + (ib * nd + idd) * ng + ig
    pl = nd * ng
    wg = (g0, g1, g2, g3, dg0, dg1, dg2, dg3)
    wd = (d0, d1, d2, d3, dd0, dd1, dd2, dd3)
    r0, rg0, rd0, rgd0 = _plane(tf, k0, ng, wg, wd, mix)
    r1, rg1, rd1, rgd1 = _plane(tf, k0 + pl, ng, wg, wd, mix)
    r2, rg2, rd2, rgd2 = _plane(tf, k0 + 2 * pl, ng, wg, wd, mix)
    r3, rg3, rd3, rgd3 = _plane(tf, k0 + 3 * pl, ng, wg, wd, mix)
    f = b0 * r0 + b1 * r1 + b2 * r2 + b3 * r3
    fg = b0 * rg0 + b1 * rg1 + b2 * rg2 + b3 * rg3
    fd = b0 * rd0 + b1 * rd1 + b2 * rd2 + b3 * rd3
    fb = db0 * r0 + db1 * r1 + db2 * r2 + db3 * r3
    fgd = b0 * rgd0 + b1 * rgd1 + b2 * rgd2 + b3 * rgd3  # mixed second derivatives (extrapolation gradient)
    fgb = db0 * rg0 + db1 * rg1 + db2 * rg2 + db3 * rg3
    fdb = db0 * rd0 + db1 * rd1 + db2 * rd2 + db3 * rd3
    eg = xg - cg
    ed = xd - cd
    eb = xb - cb
    if eg != 0.0 or ed != 0.0 or eb != 0.0:  # outside: F(c) + grad F(c) . (x - c), c the clamped point
        f += fg * eg + fd * ed + fb * eb
        # d/dx along an axis inside the grid also moves c, hence grad F(c) (mixed derivatives)
        fg2 = fg + (fgd * ed + fgb * eb if eg == 0.0 else 0.0)
        fd2 = fd + (fgd * eg + fdb * eb if ed == 0.0 else 0.0)
        fb2 = fb + (fgb * eg + fdb * ed if eb == 0.0 else 0.0)
        fg, fd, fb = fg2, fd2, fb2
    return f, fg / meta[5], fd / (meta[7] * 2.0 * u), fb / meta[10]


@jit
def _table_g(tf, meta, vgs, vds, vsb, dvt, bfac, ut):
    """Forward channel current ``G = bfac exp(F + dvt H + dvt^2 H2 / 2) (1 - exp(-V_DS / U_T))`` (V_DS >= 0;
    ``vgs`` already shifted by ``dvt``; H, H2: the table's threshold-shift response, where it has one) and
    (dG/dV_GS, dG/dV_DS, dG/dV_SB)."""
    f, fg, fd, fb = table_f_shifted(tf, meta, vgs, vds, vsb, dvt)
    e = bfac * math.exp(f)
    x = math.exp(-vds / ut)
    s = -math.expm1(-vds / ut)
    g = e * s
    return g, g * fg, g * fd + e * x / ut, g * fb


@jit
def table_nframe(vg, vd, vs, dvt, bfac, ut, tf, meta):
    """NMOS-frame drain current of a tabulated device (bulk at 0 V) and ``(di/dvg, di/dvd, di/dvs)``:
    ``bfac I_ch(V_GS - dvt, V_DS, V_SB)`` (with the table's threshold-shift response, :func:`_table_g`), drain
    and source exchanged where V_D < V_S."""
    if vd >= vs:
        g, gg, gd, gb = _table_g(tf, meta, vg - vs - dvt, vd - vs, vs, dvt, bfac, ut)
        return g, gg, gd, -gg - gd + gb
    g, gg, gd, gb = _table_g(tf, meta, vg - vd - dvt, vs - vd, vd, dvt, bfac, ut)
    return -g, -gg, gg + gd - gb, -gd


@jit
def mos_table_eval(polarity, vd, vg, vs, vb, dvt, bfac, ut, tf, meta):
    """As :func:`mos_eval` for a tabulated device: current into the drain and (dI/dvd, dI/dvg, dI/dvs,
    dI/dvb); ``dvt`` the threshold-magnitude shift and ``bfac`` the current factor of the instance."""
    if polarity > 0:
        i, gg, gd, gs = table_nframe(vg - vb, vd - vb, vs - vb, dvt, bfac, ut, tf, meta)
    else:
        i, gg, gd, gs = table_nframe(vb - vg, vb - vd, vb - vs, dvt, bfac, ut, tf, meta)
        i = -i
    return i, gd, gg, gs, -(gd + gg + gs)


VF_LIN = 0.8
"""Forward bias [V] above which a tabulated junction's current continues linearly (its tangent there): a Newton
iterate far into forward bias must not overflow (the circuit's junctions stay within ~0.2 V of zero)."""


@jit
def junction_table_eval(tf, meta, vf, ut):
    """Diode current of one tabulated junction at forward bias ``vf`` and dJ/dvf (``meta``: the table row,
    ``arraysim.cmos.ivtables.META_COLS``): ``J = exp(fj(vf)) (exp(vf / U_T) - 1)``, ``fj`` by 1-D Catmull-Rom
    (continued along its end slopes outside the grid)."""
    v = min(vf, VF_LIN)
    off = int(meta[11])
    n = int(meta[12])
    x = (v - meta[13]) / meta[14]
    c, i, t = _cell(x, n)
    w0, w1, w2, w3, d0, d1, d2, d3 = _cr_weights(t)
    k = off + i
    f = w0 * tf[k] + w1 * tf[k + 1] + w2 * tf[k + 2] + w3 * tf[k + 3]
    fd = (d0 * tf[k] + d1 * tf[k + 1] + d2 * tf[k + 2] + d3 * tf[k + 3])
    f += fd * (x - c)
    fd /= meta[14]
    a = math.exp(f)
    e = math.exp(v / ut)
    j = a * (e - 1.0)
    dj = a * (fd * (e - 1.0) + e / ut)
    if vf > VF_LIN:
        j += dj * (vf - VF_LIN)
    return j, dj


@jit
def table_charges(tf, meta, vgs, vds, vsb, out):
    """Intrinsic charges of a tabulated device (NMOS frame, V_DS >= 0): ``out[k] = (Q, dQ/dV_GS, dQ/dV_DS,
    dQ/dV_SB)`` for k = gate, drain, source (``meta[17]``: the offset of qg, followed by qd and qs)."""
    size = int((meta[1]) * (meta[2]) * (meta[3]))
    off = int(meta[17])
    for k in range(3):
        q, qg, qd, qb = _interp(tf, meta, off + k * size, None, vgs, vds, vsb)
        out[k, 0] = q
        out[k, 1] = qg
        out[k, 2] = qd
        out[k, 3] = qb


@jit
def mos_table_charges(polarity, vd, vg, vs, vb, dvt, tf, meta, qa, q, dq):
    """Terminal charges of a tabulated device [C]: ``q[x]`` for x = drain, gate, source, bulk (they sum to zero)
    and ``dq[x, y] = dq_x / dV_y`` [F] (``qa``: (3, 4) scratch).  The table's charges at ``(V_GS - dvt, V_DS,
    V_SB)`` in the (mirrored) NMOS frame, drain and source exchanged where V_D < V_S; a PMOS's terminal charges
    are the negated frame charges (BSIM4's convention: ``arraysim.cmos.ivtables``), their derivatives with
    respect to the terminal voltages equal the frame's."""
    p = 1.0 if polarity > 0 else -1.0
    g = p * (vg - vb)
    d = p * (vd - vb)
    s = p * (vs - vb)
    swap = d < s
    if swap:
        d, s = s, d
    table_charges(tf, meta, g - s - dvt, d - s, s, qa)
    # frame charges of (gate, table drain, table source) and their derivatives w.r.t. (g, table d, table s)
    for k in range(3):
        a_g = qa[k, 1]
        a_d = qa[k, 2]
        a_b = qa[k, 3]
        x = 1 if k == 0 else ((2 if swap else 0) if k == 1 else (0 if swap else 2))
        q[x] = p * qa[k, 0]
        dq[x, 1] = a_g
        dq[x, 2 if swap else 0] = a_d
        dq[x, 0 if swap else 2] = -a_g - a_d + a_b
        dq[x, 3] = -(dq[x, 0] + dq[x, 1] + dq[x, 2])
    q[3] = -(q[0] + q[1] + q[2])
    for y in range(4):
        dq[3, y] = -(dq[0, y] + dq[1, y] + dq[2, y])

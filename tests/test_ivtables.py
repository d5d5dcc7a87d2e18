"""Tabulated channel currents (arraysim.cmos.ivtables): the kernel's interpolation against the reference's
independent one and against closed forms, derivatives, temperature interpolation, files, and the shipped
sky130 tables.  The comparison with BSIM4 itself is in tests/test_spice.py (needs ngspice)."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from arraysim.cmos.ivtables import (META_COLS, IVGrid, IVTable, IVTableSet, f_of_current, kernel_rows,
                                    load_iv_tables)
from arraysim.kernels.devices import mos_table_eval, table_f
from arraysim.options import Corner
from arraysim.reference import table_interp_ref, table_mos_current

GRID = IVGrid(vgs0=-0.4, dvgs=0.05, nvgs=25, vds_a=0.04, nvds=15, vds_max=1.2, vsb0=-0.2, dvsb=0.15, nvsb=6)


def _table(fun, temps=(27.0,), grid=GRID, family="nmos", polarity=1, corner="tt"):
    """A table whose F is ``fun(vgs, vds, vsb, temp_c)`` on the grid."""
    vsb, vds, vgs = np.meshgrid(grid.vsb(), grid.vds(), grid.vgs(), indexing="ij")
    f = np.stack([fun(vgs, vds, vsb, t) for t in temps])  # float64 (files hold float32)
    return IVTable(family, polarity, 0.6e-6, 0.15e-6, Corner.parse(corner), tuple(temps), grid, f)


def _u(vds, g=GRID):
    return np.sqrt(vds + g.vds_a)


def test_grid_points():
    g = GRID
    v = g.vds()
    assert v[0] == 0.0 and v[-1] == pytest.approx(g.vds_max, rel=1e-12)
    assert np.all(np.diff(v) > 0) and np.diff(v)[0] < np.diff(v)[-1]  # finer at V_DS = 0
    assert np.allclose(np.diff(_u(v)), g.du)
    assert g.vgs()[-1] == pytest.approx(g.vgs0 + (g.nvgs - 1) * g.dvgs)
    with pytest.raises(ValueError, match="nvds"):
        dataclasses.replace(g, nvds=1)


def test_interpolation_is_exact_for_linear_functions_inside_and_outside():
    """A function linear in (V_GS, sqrt(V_DS + a), V_SB) is reproduced everywhere, also outside the grid
    (linear continuation), by the kernel and the reference; so are its derivatives (kernel)."""
    fun = lambda vgs, vds, vsb, t: -20.0 + 12.0 * vgs + 3.0 * _u(vds) - 0.8 * vsb  # noqa: E731
    t = _table(fun)
    tf, meta = kernel_rows([t], 27.0)
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-1.0, 1.8, 300), rng.uniform(0.0, 2.0, 300), rng.uniform(-0.4, 1.5, 300)])
    x = np.stack([(pts[:, 2] - GRID.vsb0) / GRID.dvsb, (_u(pts[:, 1]) - GRID.u0) / GRID.du,
                  (pts[:, 0] - GRID.vgs0) / GRID.dvgs])
    want = fun(pts[:, 0], pts[:, 1], pts[:, 2], 27.0)
    ref = table_interp_ref(t.at(27.0), x)
    np.testing.assert_allclose(ref, want, rtol=0, atol=1e-9)
    for (vgs, vds, vsb), w in zip(pts, want):
        f, fg, fd, fb = table_f(tf, meta[0], vgs, vds, vsb)
        assert f == pytest.approx(w, abs=1e-9)
        assert fg == pytest.approx(12.0, abs=1e-8) and fb == pytest.approx(-0.8, abs=1e-8)
        assert fd == pytest.approx(3.0 / (2 * _u(vds)), rel=1e-8)


def test_interpolation_is_exact_for_quadratics_in_interior_cells():
    """Catmull-Rom reproduces quadratics on a uniform grid wherever the four points are real samples."""
    fun = lambda vgs, vds, vsb, t: 0.5 * vgs ** 2 - 0.3 * vgs * vsb + 2.0 * _u(vds) ** 2  # noqa: E731
    t = _table(fun)
    tf, meta = kernel_rows([t], 27.0)
    rng = np.random.default_rng(1)
    for _ in range(200):
        vgs = rng.uniform(GRID.vgs0 + GRID.dvgs, GRID.vgs()[-2])
        vsb = rng.uniform(GRID.vsb0 + GRID.dvsb, GRID.vsb()[-2])
        u = rng.uniform(GRID.u0 + GRID.du, GRID.u0 + (GRID.nvds - 2) * GRID.du)
        vds = u * u - GRID.vds_a
        assert table_f(tf, meta[0], vgs, vds, vsb)[0] == pytest.approx(fun(vgs, vds, vsb, 0), abs=1e-9)


def test_kernel_and_reference_agree_on_the_shipped_tables():
    """The kernel's current (its interpolation, drain/source exchange, PMOS mirroring, shifts) equals the
    reference's independent code on every shipped table, at random biases inside and outside the grids."""
    from arraysim.cmos.technologies import get_technology
    ivt = get_technology("sky130").iv_tables
    tabs = [t for t in ivt.tables if t.corner in (Corner.TT, Corner.FS)]
    rng = np.random.default_rng(2)
    for temp in (-40.0, 60.0):
        tf, meta = kernel_rows(tabs, temp)
        ut = 1.380649e-23 * (temp + 273.15) / 1.602176634e-19
        for k, t in enumerate(tabs):
            f = t.at(temp)
            assert t.h is not None  # the shipped tables carry BSIM4's threshold-shift response
            h = (t.at(temp, data="h"), t.at(temp, data="h2"))
            for _ in range(40):
                vd, vg, vs = rng.uniform(-0.5, 2.3, 3)
                vb = 0.0 if t.polarity > 0 else 1.8
                dvt, bfac = rng.normal(0, 0.05), 1 + rng.normal(0, 0.02)
                a = mos_table_eval(t.polarity, vd, vg, vs, vb, dvt, bfac, ut, tf, meta[k])[0]
                b = table_mos_current(t.polarity, vd, vg, vs, vb, dvt, bfac, f, t.grid, ut, h)[0]
                assert a == pytest.approx(b, rel=1e-10, abs=1e-30), (t.label(), vd, vg, vs)


def test_threshold_shift_response_enters_to_second_order(tmp_path):
    """With a threshold-shift response (H, H2) the current of a device shifted by dvt is
    exp(F(V_GS - dvt) + dvt H + dvt^2 H2 / 2) (1 - exp(-V_DS/U_T)) (constant H, H2 on a linear F: exact), in the
    kernel and the reference; without it the pure V_GS shift; h and h2 survive a file round trip."""
    fun = lambda vgs, vds, vsb, t: -20.0 + 12.0 * vgs + 3.0 * _u(vds) - 0.8 * vsb  # noqa: E731
    t0 = _table(fun)
    t = dataclasses.replace(t0, h=np.full(t0.f.shape, 0.9), h2=np.full(t0.f.shape, -2.5))
    ut = 0.025852
    for tab, hh, h2 in ((t, 0.9, -2.5), (t0, 0.0, 0.0)):
        tf, meta = kernel_rows([tab], 27.0)
        ref_h = None if tab.h is None else (tab.at(27.0, data="h"), tab.at(27.0, data="h2"))
        for dvt in (-0.12, -0.03, 0.05, 0.1):
            for vg, vd, vsb in ((0.5, 0.3, 0.0), (1.1, 1.0, 0.4)):
                want = math.exp(fun(vg - vsb - dvt, vd - vsb, vsb, 27.0) + dvt * hh + 0.5 * dvt * dvt * h2) \
                    * -math.expm1(-(vd - vsb) / ut)
                a = mos_table_eval(1, vd, vg, vsb, 0.0, dvt, 1.0, ut, tf, meta[0])[0]
                b = table_mos_current(1, vd, vg, vsb, 0.0, dvt, 1.0, tab.at(27.0), tab.grid, ut, ref_h)[0]
                assert a == pytest.approx(want, rel=1e-9) and b == pytest.approx(want, rel=1e-9)
    with pytest.raises(ValueError, match="h and h2 go together"):
        dataclasses.replace(t0, h=np.zeros(t0.f.shape))
    IVTableSet((t, t0)).save(tmp_path / "h.npz")
    back = load_iv_tables(tmp_path / "h.npz").tables
    np.testing.assert_array_equal(back[0].h2, t.h2.astype(np.float32))
    assert back[1].h is None and back[1].h2 is None


def test_kernel_table_derivatives_match_finite_differences():
    from arraysim.cmos.technologies import get_technology
    tabs = [t for t in get_technology("sky130").iv_tables.tables if t.corner == Corner.TT]
    tf, meta = kernel_rows(tabs, 27.0)
    ut = 0.025852
    rng = np.random.default_rng(3)
    for k, t in enumerate(tabs):
        for _ in range(60):
            v = rng.uniform(-0.6, 2.4, 4)  # also outside the grid and with V_D < V_S
            v[3] = 0.0 if t.polarity > 0 else 1.8
            r = mos_table_eval(t.polarity, *v, 0.01, 1.05, ut, tf, meta[k])
            for j in range(4):
                h = 1e-7
                vp, vm = v.copy(), v.copy()
                vp[j] += h
                vm[j] -= h
                fd = (mos_table_eval(t.polarity, *vp, 0.01, 1.05, ut, tf, meta[k])[0]
                      - mos_table_eval(t.polarity, *vm, 0.01, 1.05, ut, tf, meta[k])[0]) / (2 * h)
                assert r[1 + j] == pytest.approx(fd, rel=2e-5, abs=1e-16), (t.label(), v, j)
            assert sum(r[1:]) == pytest.approx(0.0, abs=1e-12 * max(abs(x) for x in r[1:]) + 1e-30)


def test_current_vanishes_and_is_smooth_at_zero_vds():
    """I(V_DS = 0) = 0 and the current is odd in V_DS around 0 for a device at V_SB = 0 (the exchange of drain
    and source is continuous, with a continuous conductance)."""
    from arraysim.cmos.technologies import get_technology
    t = get_technology("sky130").iv_tables.find("nmos", 0.6e-6, 0.15e-6, "tt")
    tf, meta = kernel_rows([t], 27.0)
    ut = 0.025852
    for vg in (0.3, 0.9, 1.8):
        assert mos_table_eval(1, 0.0, vg, 0.0, 0.0, 0.0, 1.0, ut, tf, meta[0])[0] == 0.0
        ip = mos_table_eval(1, 1e-4, vg, 0.0, 0.0, 0.0, 1.0, ut, tf, meta[0])
        im = mos_table_eval(1, -1e-4, vg, 0.0, 0.0, 0.0, 1.0, ut, tf, meta[0])
        assert ip[0] > 0 > im[0] and ip[1] == pytest.approx(im[1], rel=0.02)


def test_temperature_interpolation_is_linear_in_inverse_temperature():
    """F = a + b / T (the subthreshold exponent with a linear V_T(T)) is exact between and beyond the tables."""
    fun = lambda vgs, vds, vsb, t: -10.0 + 3000.0 * (vgs - 0.4) / (t + 273.15)  # noqa: E731
    t = _table(fun, temps=(-40.0, 27.0, 125.0))
    vsb, vds, vgs = np.meshgrid(GRID.vsb(), GRID.vds(), GRID.vgs(), indexing="ij")
    for temp in (-55.0, 0.0, 27.0, 85.0, 150.0):
        np.testing.assert_allclose(t.at(temp), fun(vgs, vds, vsb, temp), atol=1e-9)
    assert t.padded(27.0).shape == (GRID.nvsb + 2, GRID.nvds + 2, GRID.nvgs + 2)


def test_f_of_current_round_trip():
    vds = np.array([1e-6, 0.01, 0.1, 1.0])
    i = np.array([1e-12, 3e-9, 2e-6, 1e-4])
    f = f_of_current(i, vds, 27.0)
    ut = 1.380649e-23 * 300.15 / 1.602176634e-19
    np.testing.assert_allclose(np.exp(f) * -np.expm1(-vds / ut), i, rtol=1e-12)


def test_table_file_round_trip_and_errors(tmp_path):
    t = _table(lambda vgs, vds, vsb, t: -15.0 + vgs + 0.0 * vds + 0.0 * vsb, temps=(27.0, 125.0))
    s = IVTableSet((t, dataclasses.replace(t, corner=Corner.SS)), "test source", {"note": 1})
    p = tmp_path / "t.npz"
    s.save(p)
    assert not (tmp_path / "t.npz.part").exists()
    r = load_iv_tables(p)
    assert len(r.tables) == 2 and r.source == "test source" and r.info == {"note": 1}
    assert r.find("nmos", 0.6e-6, 0.15e-6, "ss").corner == Corner.SS
    assert r.find("nmos", 0.6e-6, 0.15e-6, "ff") is None and r.find("pmos", 0.6e-6, 0.15e-6, "tt") is None
    np.testing.assert_array_equal(r.tables[0].f, t.f.astype(np.float32))
    assert r.tables[0].grid == GRID
    with pytest.raises(ValueError, match="not found"):
        load_iv_tables(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match="not an arraysim IV table file"):
        load_iv_tables(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        load_iv_tables(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="non-finite"):
        _table(lambda vgs, vds, vsb, t: np.where(vgs > 0.5, np.nan, 0.0) + vds + vsb)
    with pytest.raises(ValueError, match="data shape"):
        IVTable("nmos", 1, 1e-6, 1e-6, Corner.TT, (27.0,), GRID, np.zeros((1, 2, 2, 2), dtype=np.float32))


def test_technology_file_names_its_tables(tmp_path):
    """A technology file names its table file relative to itself; saving and loading keeps it; a missing table
    file is a clear error."""
    from arraysim.cmos.techfile import load_technology, save_technology
    from arraysim.cmos.technologies import get_technology
    g = get_technology("generic130")
    t = _table(lambda vgs, vds, vsb, t: -15.0 + vgs + 0.0 * vds + 0.0 * vsb)
    (tmp_path / "tabs").mkdir()
    s = IVTableSet((t,), "src")
    s.save(tmp_path / "tabs" / "x.npz")
    tech = dataclasses.replace(g, iv_tables=load_iv_tables(tmp_path / "tabs" / "x.npz"))
    save_technology(tech, tmp_path / "tech.json")
    d = json.loads((tmp_path / "tech.json").read_text())
    assert d["iv_tables"] == "tabs/x.npz"
    back = load_technology(tmp_path / "tech.json")
    assert back.iv_tables is not None and back.iv_tables.find("nmos", 0.6e-6, 0.15e-6, "tt") is not None
    assert back == tech  # the tables do not take part in equality
    d["iv_tables"] = "nowhere.npz"
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="nowhere.npz.*not found"):
        load_technology(tmp_path / "bad.json")
    d["iv_tables"] = 3
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="iv_tables"):
        load_technology(tmp_path / "bad.json")


def test_shipped_sky130_tabulates_every_transistor():
    """Every device size of the sky130 design has a table in every corner, so every transistor of both
    circuits takes its channel current from BSIM4's; iv_tables=False (or generic130) gives none."""
    from arraysim.montecarlo.engine import ReadSimulator
    s = ReadSimulator("sky130")
    for c in ("tt", "ff", "ss", "fs", "sf"):
        assert s.tabulated(c) == s.transistor_names
        mos_tab, ref, tf, meta, jn, jp = s.tabs_at(27.0, c)
        assert np.all(mos_tab >= 0) and meta.shape == (4, len(META_COLS)) and np.all(meta[:, 11] > 0)
        assert np.all(meta[:, 15] > 0) and np.all(meta[:, 16] > 0)  # threshold-shift response H, H2
        # junction sites: 3 drains on each output, per bit line the latch source, 32 access drains and the cell
        # node, and on the source line the discharge drain and the 2 x 31 unselected cells' sources
        assert jn.shape == (14, 2) and jp[:, 1].sum() == 2 * 3 + 2 * (1 + 32 + 1) + 1 + 2 * 31
        vt0, isp0 = s.nominal_elements(27.0, c)
        np.testing.assert_array_equal(ref[:, 0], vt0)
    assert s.with_circuit("xnor").tabulated() == s.with_circuit("xnor").transistor_names
    off = ReadSimulator("sky130", s.design.with_(iv_tables=False))
    assert off.tabulated() == () and np.all(off.tabs_at(27.0, "tt")[0] == -1)
    assert ReadSimulator("generic130").tabulated() == ()
    info = s.describe()["iv_tables"]
    assert info["corners"] == ["ff", "fs", "sf", "ss", "tt"] and info["temps_c"] == [-40.0, 27.0, 125.0]


def test_tables_change_the_read_as_the_dc_current_does():
    """Physics: the tables replace only the DC channel current.  A nominal SKY130 read at 0.8 V with the
    tables differs from the compact model's by the compact model's DC error there (the calibration's 3-10 %
    near threshold): the delay moves by a few per cent, the precharged state barely."""
    from arraysim.montecarlo.engine import ReadSimulator
    on = ReadSimulator("sky130")
    off = ReadSimulator("sky130", on.design.with_(iv_tables=False))
    m = len(on.transistor_names)
    z = np.zeros((1, m))
    r = [s.run(0.8, 27.0, "tt", z, z, np.array([7.5e3]), np.array([65e3])) for s in (on, off)]
    d_on, d_off = (float(np.nanmin(x.tcross[0])) for x in r)
    assert 0.005 < abs(d_on / d_off - 1) < 0.15
    np.testing.assert_allclose(r[0].v_pre, r[1].v_pre, atol=2e-3)
    assert math.isfinite(d_on) and r[0].status[0] == 0


def test_junction_diode_kernel_matches_reference_and_its_derivative():
    """The tabulated junction diode: kernel and reference agree (inside, outside the grid, and beyond the
    linear continuation at VF_LIN), J(0) = 0, J has the sign of the forward bias, and dJ/dV_F is the derivative."""
    from arraysim.cmos.technologies import get_technology
    from arraysim.kernels.devices import VF_LIN, junction_table_eval
    from arraysim.reference import junction_diode_ref
    tabs = [t for t in get_technology("sky130").iv_tables.tables if t.corner == Corner.TT]
    assert all(t.fj is not None for t in tabs)
    for temp in (27.0, 125.0, 90.0):
        tf, meta = kernel_rows(tabs, temp)
        ut = 1.380649e-23 * (temp + 273.15) / 1.602176634e-19
        for k, t in enumerate(tabs):
            fj = t.at(temp, "fj")
            assert junction_table_eval(tf, meta[k], 0.0, ut)[0] == 0.0
            for vf in (-3.0, -1.2, -0.3, -0.01, 0.01, 0.2, 0.45, 0.6, VF_LIN + 0.3):
                j, dj = junction_table_eval(tf, meta[k], vf, ut)
                assert j == pytest.approx(junction_diode_ref(fj, t.jgrid, vf, ut)[0], rel=1e-10)
                assert np.sign(j) == np.sign(vf) and dj > 0
                h = 1e-6
                fd = (junction_table_eval(tf, meta[k], vf + h, ut)[0] - junction_table_eval(tf, meta[k], vf - h, ut)[0])
                assert dj == pytest.approx(fd / (2 * h), rel=1e-4)


def test_junction_diodes_set_the_hot_precharged_bit_line():
    """Physics: at 125 degC the reverse current of the 32 access-transistor drains and the latch NMOS source on a
    bit line (BSIM4: ~9 pA per core-NMOS junction, ~4 pA per access drain) competes with the sub-threshold
    current that precharges it: the precharged bit line settles tens of mV lower with the diodes (BSIM4 in
    SPICE: 0.4923 V at 0.8 V, tt, nominal instance, since stop 26 with the unselected cells' source junctions
    on SL; 0.511 V before); at 27 degC (~1 fA per junction) it does not move."""
    from arraysim.montecarlo.engine import ReadSimulator
    tech = ReadSimulator("sky130").tech
    ivt = tech.iv_tables
    no_j = dataclasses.replace(ivt, tables=tuple(dataclasses.replace(t, jgrid=None, fj=None) for t in ivt.tables))
    on = ReadSimulator(tech)
    off = ReadSimulator(dataclasses.replace(tech, iv_tables=no_j))
    assert off.tabs_at(125.0, "tt")[4].shape == (0, 2) and on.tabs_at(125.0, "tt")[4].shape[0] == 14
    z = np.zeros((1, len(on.transistor_names)))
    bl = on.tables.node_names.index("BL")

    def level(s, temp):
        return s.run(0.8, temp, "tt", z, z, np.array([7.5e3]), np.array([65e3])).v_dc[0, bl]
    assert 0.03 < level(off, 125.0) - level(on, 125.0) < 0.09
    assert level(on, 125.0) == pytest.approx(0.4923, abs=0.005)
    assert abs(level(off, 27.0) - level(on, 27.0)) < 2e-3


def test_table_file_keeps_junction_data(tmp_path):
    t = _table(lambda vgs, vds, vsb, t: -15.0 + vgs + 0.0 * vds + 0.0 * vsb, temps=(27.0, 125.0))
    fj = np.array([np.linspace(-30, -20, 9), np.linspace(-25, -15, 9)])
    tj = dataclasses.replace(t, jgrid=(-0.2, 0.05, 9), fj=fj)
    IVTableSet((tj, t)).save(tmp_path / "j.npz")
    r = load_iv_tables(tmp_path / "j.npz")
    assert r.tables[0].jgrid == (-0.2, 0.05, 9) and r.tables[1].fj is None
    np.testing.assert_array_equal(r.tables[0].fj, fj.astype(np.float32))
    with pytest.raises(ValueError, match="junction"):
        dataclasses.replace(t, jgrid=(-0.2, 0.05, 9))
    with pytest.raises(ValueError, match="junction data shape"):
        dataclasses.replace(t, jgrid=(-0.2, 0.05, 8), fj=fj)


# --------------------------------------------------------------------------------------------------
# intrinsic charges (IVTable.qg/qd/qs; kernel: devices.mos_table_charges, transient._charges)
# --------------------------------------------------------------------------------------------------
def test_kernel_table_charges_match_reference_and_their_derivatives():
    """On every shipped tt/fs table, inside and outside the grids, with V_D < V_S and a threshold shift: the
    kernel's terminal charges equal the reference's independent code, sum to zero, its capacitance matrix
    equals finite differences of its charges, and a common shift of all four terminals changes nothing."""
    from arraysim.cmos.technologies import get_technology
    from arraysim.kernels.devices import mos_table_charges
    from arraysim.reference import table_mos_charges
    tabs = [t for t in get_technology("sky130").iv_tables.tables if t.corner in (Corner.TT, Corner.FS)]
    assert all(t.qg is not None for t in tabs)  # the shipped tables carry BSIM4's charges
    rng = np.random.default_rng(8)
    qa, q, dq, qp, qm, d2 = np.empty((3, 4)), np.empty(4), np.empty((4, 4)), np.empty(4), np.empty(4), np.empty((4, 4))
    for temp in (-40.0, 60.0):
        tf, meta = kernel_rows(tabs, temp)
        for k, t in enumerate(tabs):
            tq = tuple(t.at(temp, data=n) for n in ("qg", "qd", "qs"))
            for _ in range(25):
                v = rng.uniform(-0.5, 2.3, 4)
                v[3] = 0.0 if t.polarity > 0 else 1.8
                dvt = rng.normal(0, 0.05)
                mos_table_charges(t.polarity, *v, dvt, tf, meta[k], qa, q, dq)
                ref = table_mos_charges(t.polarity, *v, dvt, tq, t.grid)[:, 0]
                np.testing.assert_allclose(q, ref, rtol=1e-10, atol=1e-27)
                assert abs(q.sum()) <= 1e-12 * np.abs(q).max()
                for j in range(4):
                    h = 1e-6
                    vp, vm = v.copy(), v.copy()
                    vp[j] += h
                    vm[j] -= h
                    mos_table_charges(t.polarity, *vp, dvt, tf, meta[k], qa, qp, d2)
                    mos_table_charges(t.polarity, *vm, dvt, tf, meta[k], qa, qm, d2)
                    np.testing.assert_allclose(dq[:, j], (qp - qm) / (2 * h), rtol=1e-4, atol=1e-20)
                np.testing.assert_allclose(dq.sum(axis=1), 0.0, atol=1e-12 * np.abs(dq).max())
                mos_table_charges(t.polarity, *(v + 0.3), dvt, tf, meta[k], qa, qp, d2)
                np.testing.assert_allclose(qp, q, rtol=1e-9, atol=1e-24)


def test_table_charges_survive_a_file_round_trip(tmp_path):
    """Charges are stored as integer multiples of Q_LSB (differenced along V_GS): a round trip changes them by at
    most half of it; a table without charges stays without; qg, qd, qs go together; kernel rows place them."""
    from arraysim.cmos.ivtables import Q_LSB
    t0 = _table(lambda vgs, vds, vsb, t: -15.0 + vgs + 0.0 * vds + 0.0 * vsb)
    rng = np.random.default_rng(1)
    qs = [rng.uniform(-2e-15, 2e-15, t0.f.shape) for _ in range(3)]
    t = dataclasses.replace(t0, qg=qs[0], qd=qs[1], qs=qs[2])
    IVTableSet((t, t0)).save(tmp_path / "q.npz")
    back = load_iv_tables(tmp_path / "q.npz").tables
    for name, a in zip(("qg", "qd", "qs"), qs):
        assert np.abs(getattr(back[0], name) - a).max() <= 0.5 * Q_LSB * (1 + 1e-9)
    assert back[1].qg is None and back[1].qd is None and back[1].qs is None
    with pytest.raises(ValueError, match="qg, qd and qs go together"):
        dataclasses.replace(t0, qg=qs[0])
    tf, meta = kernel_rows([t0, t], 27.0)
    col = META_COLS.index("q_offset")
    assert meta[0, col] == -1 and meta[1, col] > 0
    size = int(meta[1, 1] * meta[1, 2] * meta[1, 3])
    np.testing.assert_allclose(tf[int(meta[1, col]) + size:int(meta[1, col]) + 2 * size],
                               t.padded(27.0, "qd").ravel())
    assert kernel_rows([t], 27.0, charges=False)[1][0, col] == -1

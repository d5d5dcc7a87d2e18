"""SPICE as referee (issue 3): the ngspice runner, the netlists and the kernel-vs-SPICE comparison.

Marked ``spice``; they run whenever ngspice (libngspice) and PySpice are installed and are skipped
otherwise (``apt-get install -y ngspice libngspice0-dev``, ``pip install PySpice==1.5``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arraysim.spice import runner
from arraysim.units import T_NOM
from arraysim.spice.runner import SpiceError, SpiceUnavailable, ngspice_available

GOLDEN = Path(__file__).resolve().parent / "golden"

pytestmark = [pytest.mark.spice,
              pytest.mark.skipif(not ngspice_available(), reason="ngspice/PySpice not installed")]

RC_DECK = """rc test
V1 a 0 PWL(0 0 1p 1)
R1 a b 1k
C1 b 0 1p
.options reltol=1e-6
.tran 10p 5n 0 10p
.end
"""


def test_runner_returns_vectors():
    v = runner.run(RC_DECK)
    for key in ("time", "v(a)", "v(b)", "i(v1)", "b", "v1#branch"):
        assert key in v
    t = v["time"]
    assert t[-1] == pytest.approx(5e-9)
    # RC charging: v(b) = 1 - exp(-t/RC) (the 1 ps ramp shifts it by ~0.5 ps)
    assert v["v(b)"][-1] == pytest.approx(1 - math.exp(-(5e-9 - 0.5e-12) / 1e-9), rel=1e-3)
    assert runner.run(".op test\nV1 a 0 2\nR1 a 0 1k\n.op\n.end")["i(v1)"][0] == pytest.approx(-2e-3)


def test_runner_reports_bad_netlist():
    with pytest.raises(SpiceError, match="unknown subckt|could not|no results"):
        runner.run("bad\nV1 a 0 1\nX1 a b nosuchsubckt\n.tran 1n 10n\n.end")
    # ... and the shared instance still works afterwards
    assert runner.run(RC_DECK)["time"][-1] == pytest.approx(5e-9)


def test_runner_reports_nonconvergence():
    with pytest.raises(SpiceError, match="(?i)timestep too small|aborted"):
        runner.run("nc\nV1 a 0 PWL(0 0 1n 1)\nB1 a b I=exp(1000*v(b))\nC1 b 0 1p\n.tran 1n 10n\n.end")


def test_runner_timeout():
    with pytest.raises(SpiceError, match="timeout"):
        runner.run("slow\nV1 a 0 SIN(0 1 1G)\nR1 a b 1k\nC1 b 0 1p\n.tran 1p 100u 0 1p\n.end",
                   timeout=0.5)
    assert runner.run(RC_DECK, timeout=30)["time"][-1] == pytest.approx(5e-9)


def test_missing_ngspice_gives_install_hint(monkeypatch):
    monkeypatch.setattr(runner, "_NG", None)
    monkeypatch.setattr(runner, "_NG_ERROR", None)
    monkeypatch.setitem(sys.modules, "PySpice.Spice.NgSpice.Shared", None)  # import fails
    with pytest.raises(SpiceUnavailable) as e:
        runner.run(RC_DECK)
    msg = str(e.value)
    assert "apt-get install -y ngspice libngspice0-dev" in msg and "PySpice==1.5" in msg
    assert not runner.ngspice_available()


def test_import_arraysim_does_not_load_spice():
    code = ("import sys, arraysim, arraysim.api, arraysim.cli; "
            "assert 'arraysim.spice' not in sys.modules and 'PySpice' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_deck_uses_the_model_files():
    from arraysim.api import simulator
    from arraysim.spice.netlist import build_deck, model_file

    sim = simulator()
    m = len(sim.transistor_names)
    d = build_deck(sim, 0.8, 27.0, "tt", np.zeros(m), np.zeros(m), [7e3], [1e5])
    for f in ("ekv.lib", "rram.lib", "pcsa_compact.sub", "column_2t2r_compact.sub"):
        assert model_file(f) in d.text
    d1 = build_deck(sim, 0.8, 27.0, "tt", np.zeros(m), np.zeros(m), [7e3], [1e4], ohmic_blb=True)
    assert model_file("column_1t1r_compact.sub") in d1.text and "col1t1r_compact" in d1.text


def test_compact_family_agrees_with_kernel():
    """~20 instances over supply, temperature and corner: same decision outside the metastable band,
    delay within 1 %, energy within 1 %."""
    from arraysim.spice.validate import validate

    v = validate(model="compact", samples=20, vdds=(0.5, 0.8, 1.2), temps=(-40.0, 125.0),
                 corners=("tt", "ss", "ff"), seed=11)
    s = v.summary()
    assert s["n"] == 20 and s["n_spice_failed"] == 0 and s["n_kernel_failed"] == 0, v.to_text()
    assert s["agree_outside_%"] == 100.0, v.to_text()
    assert s["n_metastable"] <= 2, v.to_text()
    assert s["delay_err_max_%"] <= 1.0, v.to_text()
    assert s["energy_err_max_%"] <= 1.0, v.to_text()


def test_compact_family_follows_size_bins(binned_tech):
    """The compact deck passes each device group its own shape parameters, so a technology with size bins
    (the NMOS family has two parameter sets in one PCSA) agrees with the kernel as closely."""
    from arraysim.montecarlo.engine import ReadSimulator
    from arraysim.spice.netlist import build_deck
    from arraysim.spice.validate import validate

    sim = ReadSimulator(binned_tech)
    m = len(sim.transistor_names)
    text = build_deck(sim, 0.8, 27.0, "tt", np.zeros(m), np.zeros(m), [7e3], [1e5]).text
    nb = binned_tech.bins[0].params
    # slope factor at the deck's temperature (the bin's per-temperature correction, interpolated at 27 degC)
    assert f"n_dis={nb.n_at(T_NOM):.12g}" in text and f"n_xn={binned_tech.nmos.n:.12g}" in text
    assert nb.n_at(T_NOM) != nb.n
    # and at the deck's corner (the bin's ff factor)
    text_ff = build_deck(sim, 0.8, 27.0, "ff", np.zeros(m), np.zeros(m), [7e3], [1e5]).text
    assert f"n_dis={nb.n_at(T_NOM, 1.1):.12g}" in text_ff
    # the body-effect law where the technology has one; else the constant-n form kb = n - 1, gamma = 0
    assert "gam_xn=0.7 phi_xn=0.8 kb_xn=-0.18 " in text
    assert f"gam_dis=0 phi_dis=0.8 kb_dis={nb.n_at(T_NOM) - 1:.12g} " in text
    assert "gam_pre=0.4 phi_pre=0.8 kb_pre=-0.1 " in text
    # junction shunts (gjun) where the bin has them: the precharge PMOS and the column's access devices
    assert "kb_pre=-0.1 gj_pre=1e-12 " in text and "gj_t=5e-12 " in text and "gj_xn=0 " in text
    # velocity saturation where the bin has it (the discharge NMOS), at the deck's temperature
    assert f"gj_dis=0 vs_dis={nb.vsat_at(nb.l_ref, T_NOM):.12g} " in text and "vs_xn=0 " in text and nb.vsat > 0
    # two slope factors where the bin has them (the PMOS); elsewhere ns = n, the one-factor form
    assert "vs_pre=0 ns_pre=1.5 tau_pre=2 " in text and f"ns_xn={binned_tech.nmos.n:.12g} tau_xn=4 " in text
    # the square-root DIBL law where the bin has it (the PMOS, the access transistors); elsewhere linear (0)
    assert "tau_pre=2 dv0_pre=0.01 " in text and "tau_xn=4 dv0_xn=0 " in text and "dv0_t=0.005 " in text
    v = validate(model="compact", samples=8, vdds=(0.5, 1.2), temps=(-40.0, 125.0), corners=("ff", "fs"), seed=5,
                 sim=sim)
    s = v.summary()
    assert s["n"] == 8 and s["n_spice_failed"] == 0 and s["n_kernel_failed"] == 0, v.to_text()
    assert s["agree_outside_%"] == 100.0, v.to_text()
    assert s["delay_err_max_%"] <= 1.0 and s["energy_err_max_%"] <= 1.0, v.to_text()


def test_compact_family_with_overlap_coupling():
    """The kernel's coupling capacitors (Miller, to SE) become capacitors in the compact deck: same agreement."""
    from arraysim.api import simulator
    from arraysim.spice.validate import validate

    sim = simulator(overlap_coupling=True)
    v = validate(model="compact", samples=6, vdds=(0.5, 1.2), temps=(-40.0, 125.0), corners=("tt", "ff"),
                 seed=3, sim=sim)
    s = v.summary()
    assert s["n"] == 6 and s["n_spice_failed"] == 0 and s["n_kernel_failed"] == 0, v.to_text()
    assert s["agree_outside_%"] == 100.0, v.to_text()
    assert s["delay_err_max_%"] <= 1.0 and s["energy_err_max_%"] <= 1.0, v.to_text()


def test_failed_instance_is_retried_with_a_shorter_step(monkeypatch):
    """An instance whose run fails is retried once with RETRY_TMAX as the largest step."""
    from arraysim.api import simulator
    from arraysim.spice import netlist

    real = runner.run
    seen = []

    def flaky(text, timeout=None):
        tmax = float(next(ln for ln in text.splitlines() if ln.startswith(".tran")).split()[-1])
        seen.append(tmax)
        if tmax > netlist.RETRY_TMAX * 1.0001:
            raise SpiceError("Error: 7673.25 out of range for sinh")
        return real(text, timeout=timeout)

    monkeypatch.setattr(runner, "run", flaky)
    sim = simulator()
    m = len(sim.transistor_names)
    res = netlist.simulate(sim, 0.8, 27.0, "tt", np.zeros((2, m)), np.zeros((2, m)), [7e3, 1e5], [1e5, 7e3],
                           batch=2)
    assert list(res["status"]) == ["ok", "ok"] and list(res["retried"]) == [True, True]
    assert list(res["decision"]) == [1, -1]
    # the batch deck, instance 0 alone, its retry, instance 1 alone, its retry
    assert len(seen) == 5 and seen[0] == seen[1] == seen[3] > netlist.RETRY_TMAX
    assert seen[2] == seen[4] == pytest.approx(netlist.RETRY_TMAX)


def test_compact_family_with_junction_charge():
    """The junction charges (the sky130 technology's junction law) become ``qj`` elements in the compact deck,
    one per row of the kernel's junction table, on bulk 0 or the instance's VDD, and the deck takes the
    Newton tolerance it needs with them (JUNCTION_OPTIONS); the overlap laws become ``qov`` elements, one per
    row of the kernel's overlap table: kernel and SPICE agree as without them."""
    from arraysim.montecarlo.engine import ReadSimulator
    from arraysim.spice.netlist import JUNCTION_OPTIONS, build_deck
    from arraysim.spice.validate import validate

    sim = ReadSimulator("sky130")
    sim = ReadSimulator("sky130", sim.design.with_(iv_tables=False))  # the compact model's currents, as the deck
    m = len(sim.transistor_names)
    text = build_deck(sim, 1.2, 27.0, "ss", np.zeros(m), np.zeros(m), [7e3], [1e5]).text
    jn, jp = sim.jn_at("ss")
    xj = [ln for ln in text.splitlines() if ln.startswith("XJ")]
    assert len(xj) == jn.shape[0] > 0
    assert sum(" vdd_0 qj " in ln for ln in xj) == int(np.sum(jp[:, 0] < 0)) > 0  # PMOS junctions on VDD
    assert any(ln.startswith("XJ") and "xcol_0.m " in ln for ln in xj)  # the cell nodes inside the column
    assert f"abstol={JUNCTION_OPTIONS['abstol']}" in text
    no_law = build_deck(ReadSimulator("sky130", sim.design.with_(junction_charge=False)), 1.2, 27.0, "ss",
                        np.zeros(m), np.zeros(m), [7e3], [1e5]).text
    assert "XJ" not in no_law and "abstol=1e-15" in no_law
    # the overlap laws (BSIM4's, fitted from the cards) as qov elements, one per row of the kernel's table: the
    # thick devices' on the word line and on ground (the unselected cells' gates), the PMOS's on VDD and SE
    on, _ = sim.ov_at("ss")
    xo = [ln for ln in text.splitlines() if ln.startswith("XO")]
    assert len(xo) == on.shape[0] > 0 and all(" qov " in ln for ln in xo)
    assert {"wl", "0", "vdd_0", "se"} <= {ln.split()[1] for ln in xo} | {ln.split()[2] for ln in xo}
    sim_no = ReadSimulator("sky130", sim.design.with_(overlap_charge=False))
    no_ov = build_deck(sim_no, 1.2, 27.0, "ss", np.zeros(m), np.zeros(m), [7e3], [1e5]).text
    assert "XO" not in no_ov and sim_no.ov_at("ss")[0].shape[0] == 0
    hot = build_deck(sim, 1.2, 125.0, "ss", np.zeros(m), np.zeros(m), [7e3], [1e5]).text
    xj_hot = [ln for ln in hot.splitlines() if ln.startswith("XJ")]
    assert len(xj_hot) == len(xj) and xj_hot != xj  # the law at the deck's temperature (tcj, tpb)
    v = validate(model="compact", samples=4, vdds=(0.8, 1.8), temps=(125.0,), corners=("tt", "ss"), seed=2,
                 sim=sim)
    s = v.summary()
    assert s["n"] == 4 and s["n_spice_failed"] == 0 and s["n_kernel_failed"] == 0, v.to_text()
    assert s["agree_outside_%"] == 100.0, v.to_text()
    assert s["delay_err_max_%"] <= 1.0 and s["energy_err_max_%"] <= 1.0, v.to_text()


def test_compact_family_1t1r():
    from arraysim.spice.validate import validate

    v = validate(model="compact", samples=4, vdds=(0.8,), seed=3, cell="1t1r")
    s = v.summary()
    assert s["n_compared"] == 4 and s["agree_outside_%"] == 100.0 and s["delay_err_max_%"] <= 1.0, v.to_text()


def test_golden():
    """The committed deck regenerates byte for byte and ngspice reproduces the committed outputs."""
    sys.path.insert(0, str(GOLDEN))
    try:
        import make_spice_golden as mk
    finally:
        sys.path.pop(0)
    from arraysim.spice.netlist import measure

    inp = json.loads((GOLDEN / "spice_compact_inputs.json").read_text())
    text = (GOLDEN / "spice_compact.cir").read_text()
    assert mk.deck_for(inp).text == text, "netlist generator output changed: regenerate the golden files"
    deck = mk.deck_for(inp)
    got = measure(deck, runner.run(text))
    with open(GOLDEN / "spice_compact.csv") as fh:
        rows = list(csv.DictReader(ln for ln in fh if not ln.startswith("#")))
    assert len(rows) == deck.n == 2
    for k, row in enumerate(rows):
        assert int(got["decision"][k]) == int(row["decision"])
        for f in ("v_q", "v_qb", "t_fall_q", "t_fall_qb", "delay", "energy"):
            want = float(row[f])
            if math.isnan(want):
                assert math.isnan(got[f][k]), f
            elif f in ("v_q", "v_qb"):
                assert got[f][k] == pytest.approx(want, abs=1e-4), f
            else:
                assert got[f][k] == pytest.approx(want, rel=1e-4), f


def test_cli_validate(tmp_path, capsys):
    from arraysim.cli import main

    out = tmp_path / "v.csv"
    assert main(["validate", "--samples", "2", "--vdd", "0.8", "--seed", "1", "--out", str(out),
                 "--spice-option", "reltol=2e-5", "METHOD=trap"]) == 0
    assert {f.name for f in tmp_path.iterdir()} == {"v.csv", "v_summary.csv", "v_meta.json"}  # no temporary file
    assert "compact family, technology generic130" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2 and {r["spice_status"] for r in rows} == {"ok"}
    summary = list(csv.DictReader(io.StringIO((tmp_path / "v_summary.csv").read_text())))
    assert summary[-1]["vdd"] == "all" and len(summary) == 2
    meta = json.loads((tmp_path / "v_meta.json").read_text())  # provenance of the run
    assert meta["seed"] == 1 and meta["samples"] == 2 and meta["vdd"] == [0.8] and meta["model"] == "compact"
    assert meta["interrupted"] is False and meta["conditions_done"] == 1
    # the kernel's side of the comparison: circuit, technology, design, tolerances
    assert meta["kernel"]["technology"]["name"] == "generic130" and meta["kernel"]["tolerances"]["diff_tol"] == 0.3
    assert meta["kernel"]["design"]["iv_tables"] is False and meta["kernel"]["circuit"] == "pcsa"
    assert meta["spice_options"]["reltol"] == 2e-5 and meta["spice_options"]["trtol"] == 1  # given over defaults
    assert meta["spice_options_given"] == {"reltol": 2e-5, "method": "trap"} and meta["ngspice"].startswith("ngspice")
    # a bad SPICE option: a usage error naming what is allowed, before any work, no file
    for bad, msg in (("chgtol", "NAME=VALUE"), ("bogus=1", "allowed: reltol"), ("reltol=-1", "positive"),
                     ("method=euler", "trap or gear"), ("maxord=2.5", "integer")):
        assert main(["validate", "--samples", "1", "--spice-option", bad, "--out", str(tmp_path / "b.csv")]) == 2
        assert msg in capsys.readouterr().err
        assert not (tmp_path / "b.csv").exists()
    assert main(["validate", "--model", "nonsense"]) == 2
    # --technology: the compact deck with another technology's equations (sky130: junction law, body law,
    # two slope factors, overlap coupling, channel charge); an unknown name is a usage error before any work
    assert main(["validate", "--technology", "sky130", "--samples", "1", "--vdd", "1.2", "--temp", "125",
                 "--seed", "2"]) == 0
    got = capsys.readouterr().out
    assert "compact family, technology sky130" in got
    assert main(["validate", "--technology", "nosuch", "--out", str(tmp_path / "w.csv")]) == 2
    assert "unknown technology 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "w.csv").exists()



def test_cli_validate_interrupted_keeps_the_compared_conditions(tmp_path, capsys, monkeypatch):
    """Ctrl-C during a validate run: the conditions both simulators finished are reported and written (the files
    say interrupted), exit status 130; interrupted before the first condition: nothing written."""
    import arraysim.spice.validate as v
    from arraysim.cli import main

    real = v.simulate
    calls = []
    fail_at = [2]

    def interrupting(*a, **k):  # Ctrl-C while ngspice runs the fail_at-th condition
        calls.append(a[1])
        if len(calls) == fail_at[0]:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(v, "simulate", interrupting)
    out = tmp_path / "v.csv"
    assert main(["validate", "--samples", "2", "--vdd", "0.8", "1.2", "--seed", "1", "--out", str(out)]) == 130
    got = capsys.readouterr()
    assert "INTERRUPTED: only the 1 condition(s) below were compared" in got.out
    assert "interrupted: 1 of 2 condition(s) compared (1 instances)" in got.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 1 and float(rows[0]["vdd"]) == 0.8 and rows[0]["spice_status"] == "ok"
    meta = json.loads((tmp_path / "v_meta.json").read_text())
    assert meta["interrupted"] is True and meta["conditions_done"] == 1
    assert {f.name for f in tmp_path.iterdir()} == {"v.csv", "v_summary.csv", "v_meta.json"}
    calls.clear()
    fail_at[0] = 1
    out2 = tmp_path / "w.csv"
    assert main(["validate", "--samples", "2", "--vdd", "0.8", "1.2", "--seed", "1", "--out", str(out2)]) == 130
    assert "nothing written" in capsys.readouterr().err
    assert not out2.exists() and not (tmp_path / "w_meta.json").exists()


def _sky130_ready():
    try:
        from arraysim.spice.pdk import find_sky130
        find_sky130()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_sky130_smoke():
    """One instance in the SKY130 BSIM4 family runs and gives a decision."""
    from arraysim.api import simulator
    from arraysim.circuits.pcsa import PCSADesign, Size
    from arraysim.spice.netlist import simulate

    try:
        sim = simulator("sky130")
    except Exception:  # technology not (yet) available: the default design with SKY130-legal lengths
        d = PCSADesign().with_(mp_pre=Size(0.42e-6, 0.15e-6), mp_x=Size(0.42e-6, 0.15e-6),
                               mn_x=Size(0.6e-6, 0.15e-6), mn_dis=Size(1e-6, 0.15e-6), v_wl=1.8)
        sim = simulator(design=d)
    m = len(sim.transistor_names)
    res = simulate(sim, 1.2, 27.0, "tt", np.zeros((1, m)), np.zeros((1, m)), [7e3], [1e5], model="sky130")
    assert res["status"][0] == "ok", res["status"][0]
    assert res["decision"][0] == 1  # BL in LRS discharges Q first
    assert 0 < res["delay"][0] < 20e-9 and res["energy"][0] > 0


def test_not_precharged_instances_are_flagged_by_both_simulators():
    """Physics: at 0.6 V and -40 degC in the fs corner the SKY130 precharge PMOS (slow, cold) cannot hold the
    outputs against the fast NMOS's leakage: with SE = 0 the latch has sagged or latched in the kernel and in
    BSIM4 alike (both report the precharged state below 0.9 VDD), while at 1.2 V both hold VDD.  validate
    flags such instances (``not_precharged``) and reports the agreement without them (``agree_precharged_%``)."""
    from arraysim.spice.validate import PRECHARGE_MIN, validate

    v = validate(model="sky130", samples=4, vdds=(0.6, 1.2), temps=(-40.0,), corners=("fs",), seed=1)
    rows = v.rows
    assert all(r["spice_status"] == "ok" and r["kernel_status"] == "ok" for r in rows), v.to_text()
    for r in rows:
        pre = [r[k] for k in ("v_q_pre_kernel", "v_qb_pre_kernel", "v_q_pre_spice", "v_qb_pre_spice")]
        assert r["not_precharged"] == any(x < PRECHARGE_MIN * r["vdd"] for x in pre)
        if r["vdd"] == 1.2:
            assert not r["not_precharged"] and min(pre) > 0.99 * 1.2, r
        else:  # both simulators: an output far below VDD before the read
            assert min(r["v_q_pre_kernel"], r["v_qb_pre_kernel"]) < 0.8 * 0.6, r
            assert min(r["v_q_pre_spice"], r["v_qb_pre_spice"]) < 0.8 * 0.6, r
    s = v.summary()
    assert s["n_not_precharged"] == 2 and s["agree_precharged_%"] == 100.0, v.to_text()
    assert "no_pre" in v.to_text()


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_sky130_read_decks_are_converged_in_time_step():
    """The referee's own time-step error: the SKY130 read decks at their options give the delay and energy of
    the same decks at a 20 ps largest step within 0.5 %, where ngspice's default chgtol 1e-14 drew ~1.7 % less
    energy at 1.2 V 125 degC ff (benchmarks/referee_convergence.py)."""
    from arraysim.api import simulator
    from arraysim.devices.rram import Programming
    from arraysim.montecarlo.sampling import draw_instances
    from arraysim.options import ALL_VARIABILITY, Cell
    from arraysim.spice.netlist import simulate

    sim = simulator("sky130")
    inst = draw_instances(np.random.default_rng(1), 2, sim, 125.0, Programming(), Cell.C2T2R, ALL_VARIABILITY)
    raw = sim.run(1.2, 125.0, "ff", inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
    args = (sim, 1.2, 125.0, "ff", inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, inst.ohmic_blb)
    kw = dict(model="sky130", t_cycle=raw.tcycle)
    now, ref, old = (simulate(*args, **kw), simulate(*args, tmax=2e-11, **kw),
                     simulate(*args, options={"chgtol": 1e-14}, **kw))
    for r in (now, ref, old):
        assert list(r["status"]) == ["ok", "ok"], r["status"]
    assert np.all(np.isfinite(ref["delay"]))
    assert np.max(np.abs(now["delay"] / ref["delay"] - 1)) < 0.005
    assert np.max(np.abs(now["energy"] / ref["energy"] - 1)) < 0.005
    assert np.min(np.abs(old["energy"] / ref["energy"] - 1)) > 0.01  # the check can tell a loose deck


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_not_precharged_instances_start_from_the_drift_in_both_simulators():
    """0.4 V, -40 degC, fs (the six instances ``arraysim validate --model sky130 ... --seed 1`` draws there): no
    precharged state exists.  ngspice's operating point (``.nodeset`` Q = QB = VDD) lands on the latch's saddle
    for two of them (both outputs 0.07-0.1 V), a state the circuit held with SE low does not stay in: from Q = QB =
    VDD it latches (one output ~0.18-0.2 V, the other 7-60 mV).  Both simulators start such an instance from that
    drift: the kernel's start state equals ngspice's (``drift_states``) within 3 mV at every node, and the
    decisions agree (before stop 22 the kernel's Newton also stopped on saddles, and instance 0 disagreed)."""
    from arraysim.api import simulator
    from arraysim.montecarlo.readout import decode_binary
    from arraysim.spice.netlist import simulate
    from arraysim.spice.validate import condition_instances

    sim = simulator("sky130")
    vdd, temp, corner = 0.4, -40.0, "fs"
    inst, _ = condition_instances(sim, (vdd, temp, corner), 450, [0.4, 0.6, 0.8, 1.2, 1.8], [-40, 27, 125],
                                  ["tt", "ff", "ss", "fs", "sf"], seed=1)
    raw = sim.run(vdd, temp, corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb)
    sp = simulate(sim, vdd, temp, corner, inst.dvt, inst.dbeta, inst.r_bl, inst.r_blb, model="sky130",
                  t_cycle=raw.tcycle, batch=6)
    assert np.all(sp["status"] == "ok") and np.all(sp["drift_start"]), sp["status"]
    # the start states: ngspice's drift (v_q0, v_qb0 of the read from it) and the kernel's
    np.testing.assert_allclose(sp["v_q0"], raw.v_pre[:, 0], atol=3e-3)
    np.testing.assert_allclose(sp["v_qb0"], raw.v_pre[:, 1], atol=3e-3)
    assert np.all(np.max(raw.v_pre, axis=1) > 0.17) and np.all(np.min(raw.v_pre, axis=1) < 0.065)
    kd = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd)
    np.testing.assert_array_equal(kd, sp["decision"])
    # ngspice's own operating point: the saddle for instances 2 and 3
    op = simulate(sim, vdd, temp, corner, inst.dvt[2:4], inst.dbeta[2:4], inst.r_bl[2:4], inst.r_blb[2:4],
                  model="sky130", batch=2, drift=False)
    assert np.all(np.abs(op["v_q0"] - op["v_qb0"]) < 0.02) and np.all(op["v_q0"] < 0.11), op
    assert not np.any(op["drift_start"])


def test_drift_also_runs_a_precharged_instance_from_the_drift_to_the_same_state():
    """``simulate(drift_also=...)`` (validate passes the instances whose kernel start is not precharged): an
    instance whose operating point is precharged and stable, run from the SE = 0 drift instead, starts where
    the operating point is (the drift from Q = QB = VDD ends there) and reads the same."""
    from arraysim.api import simulator
    from arraysim.spice.netlist import simulate

    sim = simulator("generic130", iv_tables=False)
    m = len(sim.tables.mos)
    rng = np.random.default_rng(5)
    dvt, dbeta = rng.normal(0, 0.01, (2, m)), np.zeros((2, m))
    dr = simulate(sim, 0.8, 27.0, "tt", dvt, dbeta, [8e3, 6e4], [6e4, 8e3], model="compact", batch=2,
                  drift_also=[True, False])
    # instance 0 from its operating point (instance 1 of ``dr`` is that already)
    op = simulate(sim, 0.8, 27.0, "tt", dvt[:1], dbeta[:1], [8e3], [6e4], model="compact")
    assert np.all(op["status"] == "ok") and np.all(dr["status"] == "ok"), (op["status"], dr["status"])
    assert not np.any(op["drift_start"]) and list(dr["drift_start"]) == [True, False]
    assert op["v_q0"][0] > 0.79 and op["v_qb0"][0] > 0.79 and dr["v_q0"][1] > 0.79 and dr["v_qb0"][1] > 0.79
    np.testing.assert_allclose(dr["v_q0"][0], op["v_q0"][0], atol=1e-4)
    np.testing.assert_allclose(dr["v_qb0"][0], op["v_qb0"][0], atol=1e-4)
    assert dr["decision"][0] == op["decision"][0]
    np.testing.assert_allclose(dr["delay"][0], op["delay"][0], rtol=1e-3)


def test_deck_start_state_and_drift_deck():
    """``v_start`` starts every instance from the given state (``.ic`` on every node, no ``.nodeset``);
    ``drift=True`` holds SE at 0 V for DRIFT_T; a start state of the wrong shape is refused."""
    from arraysim.api import simulator
    from arraysim.kernels.transient import DRIFT_T
    from arraysim.spice.netlist import build_deck

    sim = simulator("generic130", iv_tables=False)
    m = len(sim.tables.mos)
    vs = np.array([[1.0, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1], [1.1, 1.0, 0.6, 0.5, 0.4, 0.3, 0.2]])
    d = build_deck(sim, 1.2, 27.0, "tt", np.zeros((2, m)), np.zeros((2, m)), [8e3, 8e3], [6e4, 6e4], v_start=vs)
    ic = [ln for ln in d.text.splitlines() if ln.startswith(".ic")]
    assert len(ic) == 2 and ".nodeset" not in d.text
    assert ic[1] == (".ic v(q_1)=1.1 v(qb_1)=1 v(bl_1)=0.6 v(blb_1)=0.5 v(xcol_1.m)=0.4 v(xcol_1.mb)=0.3 "
                     "v(sl_1)=0.2")
    d = build_deck(sim, 1.2, 27.0, "tt", np.zeros((2, m)), np.zeros((2, m)), [8e3, 8e3], [6e4, 6e4], v_start=vs,
                   drift=True)
    assert "VSE se 0 0" in d.text.splitlines() and "PWL" not in d.text
    tran = [ln for ln in d.text.splitlines() if ln.startswith(".tran")][0].split()
    assert float(tran[2]) == DRIFT_T
    with pytest.raises(ValueError, match="v_start"):
        build_deck(sim, 1.2, 27.0, "tt", np.zeros((2, m)), np.zeros((2, m)), [8e3, 8e3], [6e4, 6e4],
                   v_start=vs[:1])


@pytest.mark.parametrize("coupling", [False, True])
def test_xnor_compact_spice_matches_kernel(coupling):
    """The XNOR circuit (four input pass transistors) in SPICE with our own model agrees with the kernel
    (with overlap coupling: capacitors to the internal nodes sq/sqb by hierarchical name)."""
    from arraysim.circuits.pcsa import PCSADesign
    from arraysim.cmos.technologies import get_technology
    from arraysim.montecarlo.engine import ReadSimulator
    from arraysim.montecarlo.readout import decode_binary, sense_delay
    from arraysim.spice.netlist import simulate

    d = PCSADesign.for_technology(get_technology("generic130")).with_(overlap_coupling=coupling)
    sim = ReadSimulator(design=d, circuit="xnor")
    rng = np.random.default_rng(5)
    svt, sb = sim.mismatch_sigmas()
    n = 4
    dvt = svt * rng.standard_normal((n, svt.size))
    dbeta = sb * rng.standard_normal((n, sb.size))
    r_bl = np.array([7e3, 60e3, 7e3, 60e3])
    r_blb = np.array([60e3, 7e3, 60e3, 7e3])
    x = np.array([1, 1, 0, 0])
    for vdd in (1.2, 0.5):
        raw = sim.run(vdd, 27, "tt", dvt, dbeta, r_bl, r_blb, x=x)
        sp = simulate(sim, vdd, 27, "tt", dvt, dbeta, r_bl, r_blb, t_cycle=raw.tcycle, x=x)
        assert list(sp["status"]) == ["ok"] * n
        kd = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], vdd)
        np.testing.assert_array_equal(kd, [1, -1, -1, 1])  # XNOR(x, w)
        np.testing.assert_array_equal(sp["decision"], kd)
        np.testing.assert_allclose(sense_delay(raw.tcross), sp["delay"], rtol=0.01)
        np.testing.assert_allclose(raw.energy, sp["energy"], rtol=0.01)
    with pytest.raises(ValueError, match="input x"):
        simulate(sim, 1.2, 27, "tt", dvt, dbeta, r_bl, r_blb)


def test_validate_xnor_and_ternary_readouts():
    """`validate` on the new readouts: same decoded values, delay and energy as the compact SPICE deck."""
    from arraysim.spice.validate import validate

    for readout, window in (("xnor", None), ("ternary", 2e-9)):
        v = validate(model="compact", samples=6, vdds=(0.5, 1.2), seed=4, readout=readout, window=window)
        s = v.summary()
        assert s["n_compared"] == 6 and s["agree_outside_%"] == 100.0, v.to_text()
        assert s["delay_err_max_%"] <= 1.0 and s["energy_err_max_%"] <= 1.0, v.to_text()
        if readout == "xnor":
            assert {r["x"] for r in v.rows} == {0, 1}
            assert all(r["expected"] == (r["weight"] if r["x"] == 1 else -r["weight"]) for r in v.rows)
        else:
            assert 0 in {r["weight"] for r in v.rows}  # p_zero = 1/3: zero weights are drawn
            assert all(r["expected"] == r["weight"] for r in v.rows)


def test_spice_options_reach_the_read_deck():
    """validate's spice_options are the read decks' .options over the family's (checked and normalised)."""
    from arraysim.api import simulator
    from arraysim.spice.netlist import build_deck, check_spice_options, deck_options

    sim = simulator()
    m = len(sim.transistor_names)
    opts = check_spice_options({" RelTol ": "2e-5", "maxord": "2"})
    assert opts == {"reltol": 2e-5, "maxord": 2}
    deck = build_deck(sim, 0.8, 27.0, "tt", np.zeros((1, m)), np.zeros((1, m)), [7e3], [1e5], options=opts)
    line = [x for x in deck.text.splitlines() if x.startswith(".options")][0]
    assert "reltol=2e-05" in line and "maxord=2" in line and "chgtol=1e-20" in line  # the compact family's rest
    assert deck_options("sky130", {"chgtol": 1e-14})["chgtol"] == 1e-14
    assert deck_options("sky130")["chgtol"] == 1e-17 and deck_options("sky130")["method"] == "gear"


def test_ternary_zero_read_in_spice():
    """An HRS/HRS (0) instance read early in the window gives 'both high' (0) in SPICE as in the kernel;
    the output voltages at the read instant agree, so SPICE measures the ternary 0 itself."""
    from arraysim.api import simulator
    from arraysim.montecarlo.readout import decode_binary
    from arraysim.spice.netlist import simulate

    sim = simulator()
    m = len(sim.transistor_names)
    dvt = np.zeros((1, m))
    dvt[0, list(sim.transistor_names).index("MN_X_Q")] = 2e-3
    for window, want in ((0.3e-9, 0), (20e-9, None)):
        raw = sim.run(1.2, 27, "tt", dvt, np.zeros((1, m)), [60e3], [60e3], windows=[window])
        sp = simulate(sim, 1.2, 27, "tt", dvt, np.zeros((1, m)), [60e3], [60e3], t_cycle=raw.tcycle,
                      window=window)
        kd = decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], 1.2)
        assert sp["status"][0] == "ok"
        np.testing.assert_allclose([sp["v_q"][0], sp["v_qb"][0]], raw.vout[0, -1], atol=0.01 * 1.2)
        np.testing.assert_array_equal(sp["decision"], kd)
        if want is not None:
            assert kd[0] == want
        else:
            assert kd[0] in (1, -1)  # resolved by the end of the window


def test_cli_validate_readouts(tmp_path):
    from arraysim.cli import main

    out = tmp_path / "t.csv"
    assert main(["validate", "--samples", "2", "--vdd", "0.8", "--readout", "ternary", "--window", "3",
                 "--out", str(out)]) == 0
    assert "expected" in out.read_text().splitlines()[0]
    assert main(["validate", "--readout", "ternary", "--window", "25"]) == 2
    assert main(["validate", "--readout", "quaternary"]) == 2


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_xnor_sky130_truth_table():
    """The XNOR circuit with SKY130 BSIM4 devices computes XNOR(x, w) as the kernel does."""
    from arraysim.api import simulator
    from arraysim.montecarlo.readout import decode_binary
    from arraysim.spice.netlist import simulate

    sim = simulator("sky130").with_circuit("xnor")
    m = len(sim.transistor_names)
    z = np.zeros((4, m))
    r_bl, r_blb = np.array([7e3, 60e3, 7e3, 60e3]), np.array([60e3, 7e3, 60e3, 7e3])
    x = np.array([1, 1, 0, 0])
    raw = sim.run(1.8, 27, "tt", z, z, r_bl, r_blb, x=x)
    sp = simulate(sim, 1.8, 27, "tt", z, z, r_bl, r_blb, model="sky130", t_cycle=raw.tcycle, x=x, batch=4)
    assert list(sp["status"]) == ["ok"] * 4
    np.testing.assert_array_equal(decode_binary(raw.vout[:, -1, 0], raw.vout[:, -1, 1], 1.8), [1, -1, -1, 1])
    np.testing.assert_array_equal(sp["decision"], [1, -1, -1, 1])


def test_compact_deck_takes_the_corners_junction_capacitances():
    """The compact deck's bit-line capacitor is the kernel's at the deck's corner (sky130: the corner's
    junction-capacitance factors), so kernel and compact SPICE integrate the same circuit at every corner."""
    from arraysim.montecarlo.engine import ReadSimulator
    from arraysim.spice.netlist import build_deck

    sim = ReadSimulator("sky130")
    sim = ReadSimulator("sky130", sim.design.with_(iv_tables=False))  # the compact model's currents, as the deck
    m = len(sim.transistor_names)
    i = list(sim.tables.node_names).index("BL")
    seen = set()
    for corner in ("tt", "ss", "ff"):
        text = build_deck(sim, 1.2, 27.0, corner, np.zeros(m), np.zeros(m), [7e3], [1e5]).text
        line = next(ln for ln in text.splitlines() if ln.upper().startswith("XCOL_0 "))
        cbl = float(line.split(" cbl=")[1].split()[0])
        c = sim.cmat_at(corner)
        want = c[i, i] + sum(c[i, j] for j in range(c.shape[0]) if j != i)  # grounded part
        assert cbl == pytest.approx(want, rel=1e-9), corner
        seen.add(round(cbl * 1e18, 3))
    assert len(seen) == 3


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_iv_tables_are_bsim4s_channel_current():
    """The shipped sky130 tables are what `arraysim iv-tables --pdk sky130` builds (tt, 27 degC rebuilt here:
    identical after the file's float32 rounding, junction diodes, threshold-shift response and charges included), and the
    interpolated current equals BSIM4's channel current ``id`` at biases off the grid (every device size, V_SB > 0
    for the body-biased sizes) within 0.5 %, also for a device shifted by BSIM4's ``delvto`` (+-30..120 mV; a pure
    V_GS shift is 2-6 % off there)."""
    from arraysim.cmos.ivtables import Q_LSB, kernel_rows
    from arraysim.cmos.technologies import get_technology
    from arraysim.kernels.devices import mos_table_eval
    from arraysim.spice.calibrate import _inst, _opvar, run_deck, sky130_source
    from arraysim.spice.ivtables import build_iv_tables
    from arraysim.spice.netlist import pass_instance_params

    src = sky130_source()
    built = build_iv_tables(src, ["tt"], (27.0,))
    shipped = get_technology("sky130").iv_tables
    for t in built.tables:
        s = shipped.find(t.family, t.w, t.l, "tt")
        assert s is not None and s.grid == t.grid
        np.testing.assert_array_equal(s.f[list(s.temps_c).index(27.0)], t.f[0].astype(np.float32))
        assert s.jgrid == t.jgrid  # and the junction diode
        np.testing.assert_array_equal(s.fj[list(s.temps_c).index(27.0)], t.fj[0].astype(np.float32))
        np.testing.assert_array_equal(s.h[list(s.temps_c).index(27.0)], t.h[0].astype(np.float32))
        np.testing.assert_array_equal(s.h2[list(s.temps_c).index(27.0)], t.h2[0].astype(np.float32))
        for q in ("qg", "qd", "qs"):  # and the charges, to the file's resolution (and float32 of an older build)
            np.testing.assert_allclose(getattr(s, q)[list(s.temps_c).index(27.0)], getattr(t, q)[0], rtol=0,
                                       atol=2 * Q_LSB)
    ut = 1.380649e-23 * 300.15 / 1.602176634e-19
    rng = np.random.default_rng(5)
    for dev in src.devices:
        for w, l in dev.sizes:
            t = shipped.find(dev.family, w, l, "tt")
            tf, meta = kernel_rows([t], 27.0)
            body = t.grid.nvsb > 5
            for dvt in (0.0, 0.0, 0.0, rng.choice([-1, 1]) * rng.uniform(0.03, 0.12)):
                vgs, vds = rng.uniform(0.45, 1.7), rng.uniform(0.02, 1.7)
                vsb = rng.uniform(0.05, 1.2) if body else 0.0
                s = dev.polarity
                deck = ["* id", pass_instance_params(src.include["tt"]), ".temp 27", f"vg g 0 {s * (vgs + vsb):.9g}",
                        f"vd d 0 {s * (vds + vsb):.9g}", f"vs s 0 {s * vsb:.9g}",
                        _inst(dev, "c0", "d", "g", "s", "0", w, l, f" delvto={s * dvt:.9g}" if dvt else ""),
                        ".save " + _opvar(dev, 0, "id"), ".op", ".end"]
                i_spice = abs(float(np.ravel(run_deck("\n".join(deck) + "\n")[_opvar(dev, 0, "id").lower()])[0]))
                i_tab = abs(mos_table_eval(s, s * (vds + vsb), s * (vgs + vsb), s * vsb, 0.0, dvt, 1.0, ut, tf,
                                           meta[0])[0])
                assert i_tab == pytest.approx(i_spice, rel=5e-3), (dev.family, w, l, vgs, vds, vsb, dvt)


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_table_charges_are_bsim4s():
    """The kernel's tabulated charges equal BSIM4's intrinsic ``qg``/``qd``/``qs`` at biases off the grid (every
    device size, weak to strong inversion, V_SB > 0 for the body-biased sizes) within 0.1 % of the gate charge,
    and their derivatives BSIM4's ``cgg``, ``cgd``, ``cdd`` within 1 % of ``cgg`` (measured: 0.02 % and 0.4 %)."""
    from arraysim.cmos.ivtables import kernel_rows
    from arraysim.cmos.technologies import get_technology
    from arraysim.kernels.devices import mos_table_charges
    from arraysim.spice.calibrate import _inst, _opvar, run_deck, sky130_source

    src = sky130_source()
    shipped = get_technology("sky130").iv_tables
    rng = np.random.default_rng(7)
    qa, q, dq = np.empty((3, 4)), np.empty(4), np.empty((4, 4))
    for dev in src.devices:
        for w, l in dev.sizes:
            t = shipped.find(dev.family, w, l, "tt")
            tf, meta = kernel_rows([t], 27.0)
            body = t.grid.nvsb > 5
            for _ in range(4):
                vgs, vds = rng.uniform(-0.2, 1.9), rng.uniform(0.0, 1.9)
                vsb = rng.uniform(0.05, 1.2) if body else 0.0
                s = dev.polarity
                names = [_opvar(dev, 0, x).lower() for x in ("qg", "qd", "qs", "cgg", "cgd", "cdd")]
                deck = ["* q", src.include["tt"], ".temp 27", f"vg g 0 {s * (vgs + vsb):.9g}",
                        f"vd d 0 {s * (vds + vsb):.9g}", f"vs s 0 {s * vsb:.9g}",
                        _inst(dev, "c0", "d", "g", "s", "0", w, l), ".save " + " ".join(names), ".op", ".end"]
                vec = run_deck("\n".join(deck) + "\n")
                sp = {n.split("[")[1][:-1]: float(np.ravel(vec[n])[0]) for n in names}
                mos_table_charges(s, s * (vds + vsb), s * (vgs + vsb), s * vsb, 0.0, 0.0, tf, meta[0], qa, q, dq)
                qf = s * q  # BSIM4 reports a PMOS's charges in the NMOS frame
                where = (dev.family, w, l, vgs, vds, vsb)
                for mine, name in ((qf[1], "qg"), (qf[0], "qd"), (qf[2], "qs")):
                    assert mine == pytest.approx(sp[name], abs=1e-3 * abs(sp["qg"])), (name, where)
                for mine, name in ((dq[1, 1], "cgg"), (dq[1, 0], "cgd"), (dq[0, 0], "cdd")):
                    assert mine == pytest.approx(sp[name], abs=1e-2 * sp["cgg"]), (name, where)


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_se_edge_kick_follows_bsim4():
    """When SE rises, the precharge PMOS's channel charge and overlap kick both outputs above VDD: with the tables'
    charges the kernel's kick is BSIM4's within 10 % (measured 0.6 V 125 degC fs / 0.8 V 27 degC tt: 19.9/30.8 mV
    against ngspice's 20.6/31.6; the constant gate capacitance and compact channel charge gave 6.3/20.4)."""
    from arraysim.montecarlo.engine import ReadSimulator
    from arraysim.spice.netlist import build_deck

    sim = ReadSimulator("sky130")
    m = len(sim.tables.mos)
    for vdd, temp, corner in ((0.6, 125.0, "fs"), (0.8, 27.0, "tt")):
        w = sim.waveform(vdd, temp, corner, 5e3, 50e3)
        sel = w["t"] <= 0.3e-9
        deck = build_deck(sim, vdd, temp, corner, np.zeros(m), np.zeros(m), 5e3, 50e3, model="sky130", tmax=2e-12)
        vec = runner.run(deck.text)
        ts = np.asarray(vec["time"]).real
        for node in ("Q", "QB"):
            v = np.asarray(vec[f"v({node.lower()}_0)"]).real
            k_spice = v[ts <= 0.3e-9].max() - v[0]
            k_kernel = w[node][sel].max() - w[node][0]
            assert k_kernel == pytest.approx(k_spice, rel=0.1), (vdd, temp, corner, node, k_kernel, k_spice)


def test_compact_deck_refuses_a_tabulated_simulator():
    """The compact deck carries the compact model's equations: a simulator whose transistors take their current
    from tables is refused with a clear message, and validate(model="compact") turns the tables off itself."""
    from arraysim.montecarlo.engine import ReadSimulator
    from arraysim.spice.netlist import build_deck
    sim = ReadSimulator("sky130")
    m = len(sim.transistor_names)
    with pytest.raises(ValueError, match="iv_tables=False"):
        build_deck(sim, 1.2, 27.0, "tt", np.zeros(m), np.zeros(m), [7e3], [1e5])
    build_deck(ReadSimulator("sky130", sim.design.with_(iv_tables=False)), 1.2, 27.0, "tt", np.zeros(m),
               np.zeros(m), [7e3], [1e5])


@pytest.mark.skipif(not _sky130_ready(), reason="SKY130 models not installed")
def test_source_line_carries_the_unselected_cells():
    """Physics: every unselected cell's node (its access transistor's source and the via to its RRAM) reaches the
    source line through the RRAM, so SL carries 2 (rows - 1) source junctions and cell nodes besides its wire and
    the discharge device -- in the kernel and, through the decks (AS = AD on the lumped unselected transistor,
    the cell nodes in csl), in BSIM4.  The precharge moves BL, BLB and SL together: kernel and ngspice AC agree
    on that capacitance within 1 % (until stop 26 the decks kept BSIM4's gate-edge source sidewall of those
    devices, the kernel none: 1.7-2.7 % short), and SL holds the 62 cells' nodes in both."""
    from arraysim.api import simulator
    from arraysim.spice.capacitance import node_capacitance

    sim = simulator("sky130")
    d = sim.design
    st = dict(Q=1.2, QB=1.2, BL=0.3, BLB=0.3, M=0.3, MB=0.3, SL=0.3)
    k, s = node_capacitance(sim, 1.2, 0.0, st, ("BL", "BLB", "SL"))
    assert s == pytest.approx(k, rel=0.01)
    small = simulator("sky130", rows=2)
    k32, s32 = node_capacitance(sim, 1.2, 0.0, st, ("SL",))
    k2, s2 = node_capacitance(small, 1.2, 0.0, st, ("SL",))
    cells = 2 * (d.rows - 2)  # unselected cells added between 2 and rows rows, both columns
    per_cell_k, per_cell_s = (k32 - k2) / cells, (s32 - s2) / cells
    assert per_cell_s == pytest.approx(per_cell_k, rel=0.02)
    # each added cell brings its wire (c_wire_row), its node (c_cell_node) and its access source junction
    jn = sim.tech.device("nmos_thick", d.access.w, d.access.l).junction_cap(d.access.w)
    assert per_cell_k > d.c_wire_row + d.c_cell_node + 0.5 * jn

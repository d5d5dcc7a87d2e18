"""The command line: ``arraysim ber | read | info`` (in-process through ``main`` and once as a subprocess)."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arraysim.cli import main, parse_values
from arraysim.io.instances import OUTPUT, REQUIRED
from arraysim.io.tables import load_table
from arraysim.montecarlo.result import COLUMNS

SMALL = ["--vdd", "0.6", "1.0", "--samples", "64", "--seed", "3", "--quiet"]
REPO = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_usage_error(rc, err, *mentions):
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("arraysim: error: "), err
    assert "Traceback" not in err
    for m in mentions:
        assert m in lines[0], (m, lines[0])


def assert_tables_equal(a, b):
    assert len(a) == len(b)
    for k in COLUMNS:
        np.testing.assert_array_equal(a.column(k), b.column(k), err_msg=k)


def files(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


# --------------------------------------------------------------------------------------------------
# ber
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ber_run(tmp_path_factory):
    """One small in-process run writing CSV, JSON, NPZ (shared by several tests)."""
    d = tmp_path_factory.mktemp("ber")
    outs = [d / "t.csv", d / "t.json", d / "t.npz"]
    argv = ["ber", *SMALL] + sum((["--out", str(p)] for p in outs), [])
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    try:
        rc = main(argv)
        out, err = sys.stdout.getvalue(), sys.stderr.getvalue()
    finally:
        sys.stdout, sys.stderr = old_out, old_err
    return rc, out, err, outs


def test_ber_writes_three_formats_that_agree(ber_run):
    rc, out, err, outs = ber_run
    assert rc == 0, err
    tables = [load_table(p) for p in outs]
    for t in tables:
        assert len(t) == 2
        assert list(t.column("vdd")) == [0.6, 1.0]
        assert set(t.column("n")) == {64}
        assert t.meta["seed"] == 3 and t.meta["interrupted"] is False
    assert_tables_equal(tables[0], tables[1])
    assert_tables_equal(tables[0], tables[2])
    assert tables[0].meta == tables[1].meta == tables[2].meta
    umask = os.umask(0)
    os.umask(umask)
    for p in outs:  # permissions as from a plain open(), not the 0o600 of a temporary file
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    # the printed table: header plus one line per condition
    lines = out.strip().splitlines()
    assert "BER" in lines[0] and len(lines) == 3
    assert err == ""  # --quiet: no progress bar, no notes


def test_ber_subprocess_matches_in_process(ber_run, tmp_path):
    _, _, _, outs = ber_run
    p = tmp_path / "sub.csv"
    r = subprocess.run([sys.executable, "-m", "arraysim", "ber", *SMALL, "--threads", "1", "--out", str(p)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_tables_equal(load_table(p), load_table(outs[0]))  # same seed, any thread count -> same table
    bad = subprocess.run([sys.executable, "-m", "arraysim", "ber", "--vdd", "7", "--out", "x.csv"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert bad.stderr.startswith("arraysim: error: ") and "7" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.csv").exists()


def test_ber_grid_options(tmp_path, capsys):
    p = tmp_path / "g.json"
    rc, out, err = run(capsys, "ber", "--vdd", "0.8,1.2", "--temp", "27", "85", "--corner", "ff",
                       "--cell", "2t2r", "1t1r", "--ic", "40", "--vreset", "1.6", "--rows", "16",
                       "--vwl", "1.3", "--no-variability", "c2c", "--samples", "16", "--quiet", "--out", p)
    assert rc == 0, err
    t = load_table(p)
    assert len(t) == 2 * 2 * 2
    assert set(t.column("cell")) == {"2t2r", "1t1r"}
    assert set(t.column("temp_c")) == {27.0, 85.0}
    assert set(t.column("corner")) == {"ff"}
    assert np.allclose(t.column("i_compliance"), 40e-6)
    assert np.allclose(t.column("v_reset"), 1.6)
    assert set(t.column("rows")) == {16}
    assert t.meta["variability"] == ["d2d", "global", "mismatch"]
    assert t.meta["model"]["word_line_voltage_V"] == 1.3


def test_ber_variability_selection_and_notes(tmp_path, capsys):
    p = tmp_path / "v.csv"
    rc, out, err = run(capsys, "ber", "--vdd", "1.0", "--samples", "8", "--variability", "mismatch",
                       "global", "--no-variability", "global", "--out", p)
    assert rc == 0
    assert load_table(p).meta["variability"] == ["mismatch"]
    assert f"wrote {p}" in err  # notes (and the progress bar) go to stderr without --quiet
    rc, out, err = run(capsys, "ber", "--vdd", "1.0", "--samples", "8", "--quiet", "--no-variability",
                       "--out", p)
    assert rc == 0 and load_table(p).meta["variability"] == []


def test_parse_values_ranges():
    assert parse_values(["0.4:1.2:0.2"], "VDD", "V") == [0.4, 0.6, 0.8, 1.0, 1.2]
    assert parse_values(["0.4:1.2:0.1"], "VDD", "V")[-1] == 1.2
    assert len(parse_values(["0.4:1.2:0.1"], "VDD", "V")) == 9
    assert parse_values(["0.5,0.7", "0.5", "0.6:0.7:0.1"], "VDD", "V") == [0.5, 0.7, 0.6]


def test_ber_interrupt_writes_partial_table(tmp_path, capsys, monkeypatch):
    from arraysim.montecarlo.engine import ReadSimulator

    real = ReadSimulator.run
    calls = {"n": 0}

    def run_then_interrupt(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # one chunk per condition: the second condition is interrupted
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(ReadSimulator, "run", run_then_interrupt)
    p = tmp_path / "part.npz"
    rc, out, err = run(capsys, "ber", *SMALL, "--out", p)
    assert rc == 130
    t = load_table(p)
    assert len(t) == 1 and t.meta["interrupted"] is True and t.rows[0]["vdd"] == 0.6
    assert "interrupted" in err


# every bad input -> exit 2, one line naming the bad value, no file
BAD_BER = [
    (["--vdd", "0.6", "--corner", "xx"], ["xx", "tt, ff, ss, fs, sf"]),
    (["--vdd", "0.6", "--cell", "3t3r"], ["3t3r", "2t2r, 1t1r"]),
    (["--vdd", "0.6", "--technology", "nosuch"], ["nosuch", "generic130"]),
    (["--vdd", "0.6", "--no-variability", "thermal"], ["thermal", "global, mismatch, d2d, c2c"]),
    (["--vdd", "0.6", "--variability", "thermal"], ["thermal"]),
    (["--vdd", "0.6", "--readout", "quaternary"], ["quaternary", "binary, ternary"]),
    (["--vdd", "0.6", "--readout", "ternary", "--cell", "1t1r"], ["ternary", "2t2r"]),
    (["--vdd", "0.6", "--window", "25"], ["window", "t_sense"]),
    (["--vdd", "0.6", "--window", "0"], ["window"]),
    (["--vdd", "0.6", "--threshold", "1.5"], ["threshold", "(0, 1)"]),
    (["--vdd", "0.6", "--p-zero", "0.3"], ["--p-zero", "ternary"]),
    (["--vdd", "0.6", "--readout", "ternary", "--p-zero", "1"], ["zero weights", "[0, 1)"]),
    (["--vdd", "-0.5"], ["-0.5", "0.1 to 2.5"]),
    (["--vdd", "0.6", "40"], ["40", "0.1 to 2.5"]),
    (["--vdd", "abc"], ["abc"]),
    (["--vdd", "nan"], ["nan"]),
    (["--vdd", "0.4:1.2"], ["0.4:1.2", "start:stop:step"]),
    (["--vdd", "1.2:0.4:0.1"], ["1.2:0.4:0.1"]),
    (["--vdd", "0.4:1.2:0"], ["0.4:1.2:0", "step"]),
    (["--vdd", "0.4:1.2:x"], ["x"]),
    (["--vdd", "0.6", "--temp", "400"], ["400", "degC"]),
    (["--vdd", "0.6", "--ic", "50e-6"], ["5e-05", "uA"]),
    (["--vdd", "0.6", "--vreset", "-2"], ["-2", "V"]),
    (["--vdd", "0.6", "--samples", "0"], ["0", ">= 1"]),
    (["--vdd", "0.6", "--samples", "many"], ["many"]),
    (["--vdd", "0.6", "--seed", "-1"], ["-1"]),
    (["--vdd", "0.6", "--threads", "100000"], ["100000"]),
    (["--vdd", "0.6", "--rows", "0"], ["0"]),
    (["--vdd", "0.6", "--vwl", "12"], ["12"]),
    (["--vdd", "0.6", "--bogus"], ["--bogus"]),
    (["--vdd", "0.6", "--samp", "4"], ["--samp"]),  # no abbreviated options (argparse allows them by default)
    (["--samples", "10"], ["--vdd"]),
]


@pytest.mark.parametrize("args,mentions", BAD_BER, ids=[" ".join(a) for a, _ in BAD_BER])
def test_ber_bad_input(tmp_path, capsys, monkeypatch, args, mentions):
    monkeypatch.chdir(tmp_path)
    extra = [] if "--samples" in args else ["--samples", "4"]
    rc, out, err = run(capsys, "ber", *args, *extra, "--quiet", "--out", "t.csv", "--out", "t.npz",
                       "--plot", "t.png")
    assert_usage_error(rc, err, *mentions)
    assert out == ""
    assert files(tmp_path) == set()


@pytest.mark.parametrize("out,mention", [("t.txt", ".csv, .json, .npz"), ("nodir/t.csv", "nodir"),
                                         ("adir.csv", "directory")])
def test_ber_bad_output(tmp_path, capsys, monkeypatch, out, mention):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir.csv").mkdir()
    rc, _, err = run(capsys, "ber", "--vdd", "0.6", "--samples", "4", "--out", "ok.csv", "--out", out)
    assert_usage_error(rc, err, out, mention)
    assert files(tmp_path) == {"adir.csv"}


def test_ber_bad_plot_and_duplicate_outputs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "ber", "--vdd", "0.6", "--samples", "4", "--out", "a.csv", "--plot", "a.jpg")
    assert_usage_error(rc, err, "a.jpg", ".png")
    rc, _, err = run(capsys, "ber", "--vdd", "0.6", "--samples", "4", "--out", "a.csv", "--out", "./a.csv")
    assert_usage_error(rc, err, "a.csv")
    assert files(tmp_path) == set()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_ber_unwritable_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc, _, err = run(capsys, "ber", "--vdd", "0.6", "--samples", "4", "--out", ro / "t.csv")
        assert_usage_error(rc, err, "not writable")
    finally:
        ro.chmod(0o700)


def test_usage_errors_and_help(capsys):
    rc, _, err = run(capsys)
    assert_usage_error(rc, err, "ber, sweep-vdd, read, info, validate, calibrate, iv-tables or nn")
    rc, _, err = run(capsys, "frobnicate")
    assert_usage_error(rc, err, "frobnicate")
    rc, out, _ = run(capsys, "ber", "--help")
    assert rc == 0 and "--vdd" in out and "start:stop:step" in out
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.startswith("arraysim ")


# --------------------------------------------------------------------------------------------------
# read
# --------------------------------------------------------------------------------------------------
INSTANCES = "vdd,temp,corner,r_bl,r_blb\n1.2,27,tt,7e3,60e3\n1.2,27,tt,60e3,7e3\n"


def test_read_to_stdout_and_file(tmp_path, capsys):
    src = tmp_path / "inst.csv"
    src.write_text(INSTANCES)
    rc, out, err = run(capsys, "read", src)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(REQUIRED) + list(OUTPUT)
    assert [int(r["decision"]) for r in rows] == [1, -1]
    assert all(r["status"] == "ok" for r in rows)
    assert float(rows[0]["delay"]) > 0 and float(rows[0]["energy"]) > 0
    dst = tmp_path / "res.csv"
    rc, out, err = run(capsys, "read", src, "--out", dst, "--rows", "16")
    assert rc == 0 and out == ""
    rows2 = list(csv.DictReader(io.StringIO(dst.read_text())))
    assert [int(r["decision"]) for r in rows2] == [1, -1]
    assert files(tmp_path) == {"inst.csv", "res.csv"}  # no temporary file left


def test_read_optional_columns(tmp_path, capsys):
    src = tmp_path / "inst.csv"
    src.write_text("vdd,temp,corner,r_bl,r_blb,cell,dvt_MN_X_Q,dbeta_MP_X_QB\n"
                   "1.2,27,tt,7e3,60e3,2t2r,0.01,0.05\n1.0,85,ss,60e3,20e3,1t1r,,\n")
    rc, out, err = run(capsys, "read", src)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["decision"]) for r in rows] == [1, -1]
    assert list(rows[0])[:8] == ["vdd", "temp", "corner", "r_bl", "r_blb", "cell", "dvt_MN_X_Q",
                                 "dbeta_MP_X_QB"]


BAD_READ = [
    ("missing.csv", None, ["missing.csv"]),
    ("i.csv", "vdd,temp,corner,r_bl\n1.2,27,tt,7e3\n", ["r_blb"]),
    ("i.csv", "vdd,temp,corner,r_bl,r_blb\n1.2,27,tt,seven,60e3\n", ["seven", "r_bl", "line 2"]),
    ("i.csv", "vdd,temp,corner,r_bl,r_blb\n1.2,27,qq,7e3,60e3\n", ["qq"]),
    ("i.csv", "vdd,temp,corner,r_bl,r_blb\n1.2,27,tt,7e3,60e3\n9,27,tt,7e3,60e3\n", ["line 3", "9"]),
    ("i.csv", "vdd,temp,corner,r_bl,r_blb\n1.2,27,tt,-7e3,60e3\n", ["-7e3"]),
    ("i.csv", "vdd,temp,corner,r_bl,r_blb,dvt_MX_FOO\n1.2,27,tt,7e3,60e3,0\n", ["dvt_MX_FOO"]),
    ("i.csv", "", ["empty"]),
]


@pytest.mark.parametrize("name,text,mentions", BAD_READ, ids=[str(m) for *_, m in BAD_READ])
def test_read_bad_input(tmp_path, capsys, monkeypatch, name, text, mentions):
    monkeypatch.chdir(tmp_path)
    if text is not None:
        Path(name).write_text(text)
    before = files(tmp_path)
    rc, out, err = run(capsys, "read", name, "--out", "res.csv")
    assert_usage_error(rc, err, *mentions)
    assert out == "" and files(tmp_path) == before


def test_read_bad_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("i.csv").write_text(INSTANCES)
    rc, _, err = run(capsys, "read", "i.csv", "--out", "res.json")
    assert_usage_error(rc, err, "res.json", ".csv")
    rc, _, err = run(capsys, "read", "i.csv", "--out", "no/res.csv")
    assert_usage_error(rc, err, "no/res.csv")
    assert files(tmp_path) == {"i.csv"}


# --------------------------------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------------------------------
def test_info_json(capsys):
    from arraysim.api import simulator

    rc, out, err = run(capsys, "info", "--json", "--rows", "64", "--vwl", "1.5")
    assert rc == 0, err
    d = json.loads(out)
    names = simulator().transistor_names
    assert [t["name"] for t in d["transistors"]] == list(names)
    for t in d["transistors"]:
        assert t["w_m"] > 0 and t["l_m"] > 0
    assert set(d["node_capacitance_F"]) >= {"Q", "QB", "BL", "BLB", "SL"}
    assert d["timing_s"]["t_sense"] > 0
    assert {"rtol", "atol", "h_max", "max_steps"} <= set(d["tolerances"])
    assert d["versions"]["arraysim"] and d["versions"]["numba"]
    assert d["technology"]["name"] == "generic130"
    assert d["design"]["rows"] == 64 and d["word_line_voltage_V"] == 1.5


def test_info_text(capsys):
    from arraysim.api import simulator

    rc, out, err = run(capsys, "info")
    assert rc == 0, err
    for name in simulator().transistor_names:
        assert name in out
    for word in ("generic130", "Node capacitances", "Timing", "tolerances", "numba"):
        assert word in out
    rc, _, err = run(capsys, "info", "--technology", "x130")
    assert_usage_error(rc, err, "x130", "generic130")


def test_info_junction_charge_switch(capsys):
    """--junction-charge/--no-junction-charge: the sky130 design with and without the junction law (info
    lists the law's rows at tt); generic130 has no law either way."""
    rc, out, err = run(capsys, "info", "--json", "--technology", "sky130")
    assert rc == 0, err
    d = json.loads(out)
    assert d["design"]["junction_charge"] is True
    rows = d["junction_laws"]
    assert {r["node"] for r in rows} == {"Q", "QB", "BL", "BLB", "M", "MB", "SL"}
    assert all(r["c0_F"] > r["constant_part_F"] > 0 and 0 < r["mj"] < 1 for r in rows)
    assert {r["bulk"] for r in rows if r["polarity"] < 0} == {"VDD"}
    rc, out, err = run(capsys, "info", "--json", "--technology", "sky130", "--no-junction-charge")
    assert rc == 0, err
    d = json.loads(out)
    assert d["design"]["junction_charge"] is False and "junction_laws" not in d
    rc, out, err = run(capsys, "info", "--json")
    assert rc == 0 and "junction_laws" not in json.loads(out)


def test_info_overlap_charge_switch(capsys):
    """--overlap-charge/--no-overlap-charge: the sky130 design with and without BSIM4's overlap law (info lists
    the law's rows at tt: the access devices' on the word line, the unselected cells' on ground, the PMOS's);
    generic130 has no law either way."""
    rc, out, err = run(capsys, "info", "--json", "--technology", "sky130")
    assert rc == 0, err
    d = json.loads(out)
    assert d["design"]["overlap_charge"] is True
    rows = d["overlap_laws"]
    assert {"WL", "GND", "SE", "Q", "QB"} <= {r["gate"] for r in rows}
    thick = [r for r in rows if r["gate"] in ("WL", "GND")]
    assert all(r["cgdl_W_F"] > 0 and r["ckappa_V"] == pytest.approx(0.6, rel=1e-3) for r in thick)
    # the constant part (cov, the law at -VDD/2) lies between the depleted and the accumulated limits of the law
    assert all(r["cgdo_W_F"] < r["constant_part_F"] < r["cgdo_W_F"] + r["cgdl_W_F"] for r in thick)
    rc, out, err = run(capsys, "info", "--json", "--technology", "sky130", "--no-overlap-charge")
    assert rc == 0, err
    d = json.loads(out)
    assert d["design"]["overlap_charge"] is False and "overlap_laws" not in d
    rc, out, err = run(capsys, "info", "--json")
    assert rc == 0 and "overlap_laws" not in json.loads(out)


def test_info_iv_tables_switch(capsys):
    """--iv-tables/--no-iv-tables: the sky130 design takes every transistor's channel current from the shipped
    BSIM4 tables (info names them and the file) or from the compact model; generic130 has none."""
    rc, out, err = run(capsys, "info", "--json", "--technology", "sky130")
    assert rc == 0, err
    d = json.loads(out)
    assert d["design"]["iv_tables"] is True
    assert d["iv_tables"]["file"] == "sky130_iv.npz" and len(d["iv_tables"]["transistors_tt"]) == 11
    assert d["technology"]["iv_tables"]["tables"]
    assert len(d["table_charges_tt"]) == 11 and d["design"]["charge_tables"] is True  # and their charges
    rc, out, err = run(capsys, "info", "--json", "--technology", "sky130", "--no-charge-tables")
    assert rc == 0, err
    d = json.loads(out)
    assert d["design"]["charge_tables"] is False and "table_charges_tt" not in d and d["iv_tables"]
    rc, out, err = run(capsys, "info", "--json", "--technology", "sky130", "--no-iv-tables")
    assert rc == 0, err
    d = json.loads(out)
    assert d["design"]["iv_tables"] is False and "iv_tables" not in d and "table_charges_tt" not in d
    rc, out, err = run(capsys, "info", "--json")
    assert rc == 0 and "iv_tables" not in json.loads(out)


def test_iv_tables_bad_input(tmp_path, capsys):
    """arraysim iv-tables: bad output suffix, a --link file that is no technology file, an unknown corner or a
    temperature out of range: one error line, exit 2, no file written."""
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{}")
    for args, mention in ((["--pdk", "sky130", "--out", tmp_path / "t.txt"], "allowed: .npz"),
                          (["--pdk", "sky130", "--out", tmp_path / "t.npz", "--link", bad_json], "technology file"),
                          (["--pdk", "sky130", "--out", tmp_path / "t.npz", "--temp", "300"], "--temp"),
                          (["--out", tmp_path / "t.npz"], "--pdk sky130 or --model-card")):
        rc, out, err = run(capsys, "iv-tables", *args)
        assert_usage_error(rc, err, mention)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_atomic_write_all_writes_every_file_or_none(tmp_path, monkeypatch):
    """validate's CSV, summary and metadata are written through atomic_write_all: all of them, or (when a rename
    fails half-way) none of them and no temporary file."""
    import arraysim.io.tables as t

    items = [(tmp_path / "a.csv", b"1\n"), (tmp_path / "a_summary.csv", b"2\n"), (tmp_path / "a_meta.json", b"{}")]
    t.atomic_write_all(items)
    assert files(tmp_path) == {"a.csv", "a_summary.csv", "a_meta.json"}
    assert [p.read_bytes() for p, _ in items] == [b"1\n", b"2\n", b"{}"]
    for p, _ in items:
        p.unlink()
    real = os.replace
    calls = []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(t.os, "replace", failing)
    with pytest.raises(OSError, match="No space"):
        t.atomic_write_all(items)
    assert len(calls) == 2 and files(tmp_path) == set()

"""Command line: ``arraysim ber``, ``arraysim read``, ``arraysim info`` (also ``python -m arraysim``).

Every bad input is reported as one line ``arraysim: error: <what was wrong; what is allowed>`` on stderr
with exit status 2, before any simulation is run and before any file is written.  An interrupted ``ber``
run (Ctrl-C) still writes the conditions that finished and exits with status 130; so do ``sweep-vdd`` and
``validate`` (the conditions compared by both simulators).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from .plotting import PLOT_FORMATS  # (imports no matplotlib)

PROG = "arraysim"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MAX_RANGE_POINTS = 10_000
# Guard rails for inputs the library accepts but that are almost certainly a mistake (e.g. a compliance
# current given in A instead of uA).
IC_RANGE_UA = (1.0, 1000.0)
VRESET_RANGE = (0.5, 3.5)
VWL_RANGE = (0.1, 5.0)
ROWS_RANGE = (1, 65536)


class UsageError(Exception):
    """A bad command line or input; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # no abbreviated options: a typo such as ``sweep-vdd --out`` must be an error, not silently
        # ``--out-dir``
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


# --------------------------------------------------------------------------------------------------
# value parsing
# --------------------------------------------------------------------------------------------------
def _tokens(values) -> list[str]:
    """Flatten ``['0.4,0.6', '0.8']`` -> ``['0.4', '0.6', '0.8']``."""
    out = []
    for v in values or ():
        out.extend(t.strip() for t in str(v).split(",") if t.strip())
    return out


def _float(text: str, what: str, unit: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number; give values in {unit}") from None
    if not math.isfinite(v):
        raise ValueError(f"{what} {text!r} must be a finite number in {unit}")
    return v


def _clean(v: float) -> float:
    """Round away accumulated range-step error (0.30000000000000004 -> 0.3)."""
    return float(f"{v:.12g}")


def parse_values(values, what: str, unit: str) -> list[float]:
    """Numbers and inclusive ranges ``start:stop:step``, separated by spaces or commas; duplicates dropped."""
    out: list[float] = []
    for tok in _tokens(values):
        if ":" in tok:
            parts = tok.split(":")
            if len(parts) != 3 or not all(p.strip() for p in parts):
                raise ValueError(f"bad {what} range {tok!r}; expected start:stop:step (inclusive), "
                                 f"e.g. 0.4:1.2:0.1")
            start, stop, step = (_float(p, f"{what} range {tok!r}: value", unit) for p in parts)
            if step <= 0:
                raise ValueError(f"bad {what} range {tok!r}: step must be > 0")
            if stop < start:
                raise ValueError(f"bad {what} range {tok!r}: stop must be >= start")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            if n > MAX_RANGE_POINTS:
                raise ValueError(f"bad {what} range {tok!r}: {n} points; at most {MAX_RANGE_POINTS} allowed")
            out.extend(_clean(start + i * step) for i in range(n))
        else:
            out.append(_float(tok, what, unit))
    seen, uniq = set(), []
    for v in out:
        if v not in seen:
            seen.add(v)
            uniq.append(v)
    return uniq


def _check_range(v: float, lo: float, hi: float, what: str, unit: str, note: str = "") -> float:
    if not lo <= v <= hi:
        raise ValueError(f"{what} {v:g} {unit} out of range; allowed {lo:g} to {hi:g} {unit}{note}")
    return v


def _parse_int(text, what: str, lo: int | None = None, hi: int | None = None) -> int:
    try:
        f = float(text)
        if not (math.isfinite(f) and f == int(f)):
            raise ValueError
        v = int(f)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be an integer, got {text!r}") from None
    if lo is not None and v < lo:
        raise ValueError(f"{what} must be >= {lo}, got {text!r}")
    if hi is not None and v > hi:
        raise ValueError(f"{what} must be <= {hi}, got {text!r}")
    return v


def _parse_choices(values, enum_cls) -> list:
    out = []
    for tok in _tokens(values):
        m = enum_cls.parse(tok)
        if m not in out:
            out.append(m)
    return out


def _check_out_path(path: str, formats: tuple[str, ...], what: str) -> Path:
    from .io.tables import check_writable
    return check_writable(path, formats, what)


def _no_duplicates(paths: list[Path]) -> None:
    seen = set()
    for p in paths:
        key = os.path.abspath(p)
        if key in seen:
            raise ValueError(f"output file {str(p)!r} is given more than once")
        seen.add(key)


def _simulator(args):
    """Technology / rows / word-line voltage shared by every command (validated)."""
    from .api import simulator
    rows = None if args.rows is None else _parse_int(args.rows, "--rows", *ROWS_RANGE)
    v_wl = None
    if args.vwl is not None:
        v_wl = _check_range(_float(args.vwl, "word-line voltage", "V"), *VWL_RANGE, "word-line voltage", "V")
    return simulator(args.technology, rows=rows, v_wl=v_wl,
                     overlap_coupling=getattr(args, "overlap_coupling", None),
                     junction_charge=getattr(args, "junction_charge", None),
                     overlap_charge=getattr(args, "overlap_charge", None),
                     iv_tables=getattr(args, "iv_tables", None),
                     charge_tables=getattr(args, "charge_tables", None))


# --------------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------------
def _allowed(enum_cls) -> str:
    return ", ".join(m.value for m in enum_cls)


def _add_run_options(parser, samples_default: int) -> None:
    """Options every Monte Carlo command takes: temperature, corner, samples, seed, threads, quiet."""
    from .montecarlo.engine import TEMP_RANGE
    from .options import Corner

    parser.add_argument("--temp", nargs="+", action="extend", metavar="C",
                        help=f"temperature [degC], {TEMP_RANGE[0]:g}..{TEMP_RANGE[1]:g} (default 27)")
    parser.add_argument("--corner", nargs="+", action="extend", metavar="NAME",
                        help=f"process corner(s): {_allowed(Corner)} (default tt)")
    parser.add_argument("--samples", default=str(samples_default), metavar="N",
                        help=f"Monte Carlo samples per condition, >= 1 (default {samples_default})")
    parser.add_argument("--seed", default="0", metavar="N", help="random seed, >= 0 (default 0)")
    parser.add_argument("--threads", metavar="N", help="threads of the compiled kernels (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no notes on stderr")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .cmos.technologies import available_technologies
    from .montecarlo.engine import VDD_RANGE
    from .options import Cell, Readout, Variability

    techs = ", ".join(available_technologies())
    common = _Parser(add_help=False)
    g = common.add_argument_group("circuit")
    g.add_argument("--technology", default="generic130", metavar="NAME",
                   help=f"technology parameter set: one of {techs}, or a technology JSON file written "
                        "by 'arraysim calibrate' (default generic130)")
    g.add_argument("--rows", metavar="N",
                   help=f"rows per column (cells on each bit line), {ROWS_RANGE[0]}..{ROWS_RANGE[1]} "
                        "(default 32)")
    g.add_argument("--vwl", metavar="V",
                   help=f"word-line voltage during the read [V], {VWL_RANGE[0]:g}..{VWL_RANGE[1]:g} "
                        "(default: the technology's nominal supply)")
    g.add_argument("--overlap-coupling", action=argparse.BooleanOptionalAction, dest="overlap_coupling",
                   default=None,
                   help="gate overlap capacitances (cov*W per side) as capacitors between gate and drain/"
                        "source (Miller coupling, coupling to SE) instead of lumped at the gate node "
                        "(default: the technology's choice: on for sky130, off for generic130)")
    g.add_argument("--junction-charge", action=argparse.BooleanOptionalAction, dest="junction_charge",
                   default=None,
                   help="drain/source junctions with the technology's voltage-dependent junction law (sky130) "
                        "instead of the constant charge-averaged capacitance (default: on; technologies "
                        "without a law, e.g. generic130, are not affected)")
    g.add_argument("--overlap-charge", action=argparse.BooleanOptionalAction, dest="overlap_charge",
                   default=None,
                   help="with --overlap-coupling, gate overlaps with the technology's bias-dependent overlap law "
                        "(sky130: BSIM4's) instead of the constant cov*W (default: on; technologies without a "
                        "law, e.g. generic130, are not affected)")
    g.add_argument("--iv-tables", action=argparse.BooleanOptionalAction, dest="iv_tables", default=None,
                   help="transistors take their DC channel current from the technology's tables of the foundry "
                        "model (sky130: BSIM4) where it has them, instead of the compact model's equation "
                        "(default: on; technologies without tables, e.g. generic130, are not affected)")
    g.add_argument("--charge-tables", action=argparse.BooleanOptionalAction, dest="charge_tables", default=None,
                   help="tabulated transistors also take their intrinsic gate/drain/source charges from the "
                        "tables (sky130: BSIM4's) instead of constant gate capacitances and the clocked devices' "
                        "channel-charge model (default: on where the tables hold charges)")

    p = _Parser(prog=PROG, description="Circuit-level Monte Carlo of 2T2R/1T1R HfO2 RRAM cells read by a "
                "precharge sense amplifier.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    b = sub.add_parser(
        "ber", parents=[common], help="bit error rate over a grid of conditions",
        description="Monte Carlo bit error rate (95 % Clopper-Pearson interval), sense delay and energy "
                    "over the grid VDD x temperature x corner x programming x cell.  Lists accept "
                    "several values separated by spaces or commas; numeric lists also accept inclusive "
                    "ranges start:stop:step.",
        epilog="example: arraysim ber --vdd 0.4:1.2:0.2 --samples 20000 --seed 1 --out ber.csv "
               "--plot ber.png")
    b.add_argument("--vdd", nargs="+", action="extend", required=True, metavar="V",
                   help=f"sense-amplifier supply [V], {VDD_RANGE[0]:g}..{VDD_RANGE[1]:g}, values and/or "
                        "ranges start:stop:step, e.g. --vdd 0.4:1.2:0.1 or --vdd 0.5 0.8 1.2")
    b.add_argument("--cell", nargs="+", action="extend", metavar="NAME",
                   help=f"cell type(s): {_allowed(Cell)} (default 2t2r)")
    b.add_argument("--ic", nargs="+", action="extend", metavar="UA",
                   help=f"SET compliance current [uA], {IC_RANGE_UA[0]:g}..{IC_RANGE_UA[1]:g} (default 50)")
    b.add_argument("--vreset", nargs="+", action="extend", metavar="V",
                   help=f"RESET voltage [V], {VRESET_RANGE[0]:g}..{VRESET_RANGE[1]:g} (default 1.5)")
    b.add_argument("--readout", default="binary", metavar="MODE",
                   help=f"output decoding: {_allowed(Readout)} (default binary)")
    b.add_argument("--window", nargs="+", action="extend", metavar="NS",
                   help="sense window(s) [ns] at whose end the outputs are read, each in (0, t_sense]; "
                        "one table row per window (default: t_sense = 20 ns)")
    b.add_argument("--threshold", default="0.5", metavar="F",
                   help="an output is low below F * VDD, 0 < F < 1 (default 0.5)")
    b.add_argument("--p-zero", dest="p_zero", metavar="P",
                   help="ternary readout: fraction of zero (HRS/HRS) weights, 0..1 (default 1/3)")
    b.add_argument("--variability", nargs="+", action="extend", metavar="SRC",
                   help=f"use only these variation sources: {_allowed(Variability)} (default: all)")
    b.add_argument("--no-variability", nargs="*", action="extend", metavar="SRC", dest="no_variability",
                   help="switch these variation sources off; without a value: all of them")
    b.add_argument("--out", action="append", default=[], metavar="FILE",
                   help="write the table; the suffix picks the format (.csv, .json, .npz); repeatable")
    b.add_argument("--plot", metavar="FILE",
                   help=f"plot BER, delay and energy vs VDD ({', '.join(PLOT_FORMATS)})")
    _add_run_options(b, samples_default=10000)
    b.set_defaults(func=cmd_ber)

    r = sub.add_parser(
        "read", parents=[common], help="simulate explicit instances from a CSV file",
        description="Simulate explicit read instances.  Input CSV columns: vdd [V], temp [degC], corner, "
                    "r_bl, r_blb [Ohm, low-field at the read temperature]; optional: cell (2t2r|1t1r), "
                    "dvt_<T> [V], dbeta_<T> for transistors <T> listed by 'arraysim info'.  Output: the "
                    "input columns plus decision (+1, -1, 0 both high, 2 both low), v_q, v_qb, t_fall_q, "
                    "t_fall_qb, delay, energy, status, steps.")
    r.add_argument("instances", metavar="INSTANCES.csv", help="instance file ('-' reads stdin)")
    r.add_argument("--out", metavar="OUT.csv", help="result file (default: stdout)")
    r.set_defaults(func=cmd_read)

    v = sub.add_parser(
        "validate", help="kernel versus SPICE (ngspice) on the same Monte Carlo instances",
        description="Draw instances over VDD x temperature x corner (seeded), simulate them with the kernel "
                    "and with ngspice, report decision agreement (outside/inside the metastable band), "
                    "delay and energy errors.  --model compact: the project's own EKV model as SPICE "
                    "behavioural sources (default technology generic130); --model sky130: SkyWater SKY130 "
                    "BSIM4 (needs the calibrated technology sky130).  Needs ngspice and PySpice.",
        epilog="example: arraysim validate --model compact --samples 200 --vdd 0.4:1.2:0.4 --seed 1 "
               "--out validate.csv --plot validate.png")
    v.add_argument("--model", default="compact", metavar="FAMILY", help="compact or sky130 (default compact)")
    v.add_argument("--technology", metavar="NAME",
                   help=f"the kernel's technology: one of {techs}, or a technology JSON file (default: "
                        "generic130 with --model compact, sky130 with --model sky130).  With --model compact "
                        "the SPICE deck carries the same technology's equations; with --model sky130 it "
                        "should be a set calibrated against SKY130 ('arraysim calibrate --pdk sky130')")
    v.add_argument("--samples", default="20", metavar="N", help="instances in total, spread evenly over the "
                   "conditions (default 20)")
    v.add_argument("--vdd", nargs="+", action="extend", metavar="V", help="supply values/ranges [V] (default 0.8)")
    v.add_argument("--temp", nargs="+", action="extend", metavar="C", help="temperatures [degC] (default 27)")
    v.add_argument("--corner", nargs="+", action="extend", metavar="NAME", help="corners (default tt)")
    v.add_argument("--cell", default="2t2r", metavar="CELL", help="2t2r or 1t1r (default 2t2r)")
    v.add_argument("--seed", default="0", metavar="S", help="random seed (default 0)")
    v.add_argument("--batch", metavar="K", help="instances per ngspice deck (default: 1 compact, 4 sky130)")
    v.add_argument("--readout", default="binary", metavar="MODE",
                   help="binary, xnor (a random input x per instance) or ternary "
                        "(default binary)")
    v.add_argument("--window", metavar="NS", help="read the outputs this long [ns] after the end of the SE "
                   "ramp, in (0, t_sense] (default: t_sense = 20 ns)")
    v.add_argument("--threshold", default="0.5", metavar="F",
                   help="an output is low below F*VDD, 0 < F < 1 (default 0.5)")
    v.add_argument("--p-zero", dest="p_zero", metavar="P",
                   help="ternary readout: fraction of zero (HRS/HRS) weights, 0..1 (default 1/3)")
    v.add_argument("--out", metavar="OUT.csv", help="per-instance comparison CSV (a second file "
                   "OUT_summary.csv holds the table)")
    v.add_argument("--plot", metavar="FILE", help="scatter plots and error histograms")
    v.add_argument("--overlap-coupling", action=argparse.BooleanOptionalAction, dest="overlap_coupling",
                   default=None,
                   help="the kernel (and the compact deck) with gate overlap capacitors between gate and "
                        "drain/source (design option overlap_coupling; default: the technology's choice, "
                        "on for sky130, off for generic130)")
    v.add_argument("--junction-charge", action=argparse.BooleanOptionalAction, dest="junction_charge",
                   default=None,
                   help="the kernel (and the compact deck) with the technology's voltage-dependent junction "
                        "law (design option junction_charge; default: on)")
    v.add_argument("--overlap-charge", action=argparse.BooleanOptionalAction, dest="overlap_charge",
                   default=None,
                   help="the kernel (and the compact deck) with the technology's bias-dependent gate overlap law "
                        "(design option overlap_charge; default: on)")
    v.add_argument("--iv-tables", action=argparse.BooleanOptionalAction, dest="iv_tables", default=None,
                   help="the kernel with the technology's DC current tables of the foundry model (design option "
                        "iv_tables; default: on with --model sky130; always off with --model compact, whose deck "
                        "carries the compact model's equations)")
    v.add_argument("--charge-tables", action=argparse.BooleanOptionalAction, dest="charge_tables", default=None,
                   help="the kernel with the tables' intrinsic charges of the foundry model (design option "
                        "charge_tables; default: on where the tables hold them)")
    v.add_argument("--spice-option", dest="spice_option", nargs="+", action="extend", metavar="NAME=VALUE",
                   help="ngspice .options of the read decks over the family's (e.g. chgtol=1e-14 to see the "
                        "referee's own sensitivity); allowed names: reltol abstol vntol chgtol trtol method maxord "
                        "gmin itl1 itl4.  The SE = 0 drift decks keep their own tolerances")
    v.set_defaults(func=cmd_validate)

    i = sub.add_parser("info", parents=[common], help="technology, device and circuit parameters",
                       description="Every parameter of the technology, the RRAM model and the circuit "
                                   "(transistor sizes, node capacitances, timing, tolerances) and the "
                                   "software versions.")
    i.add_argument("--json", action="store_true", help="machine-readable JSON instead of text")
    i.set_defaults(func=cmd_info)

    sw = sub.add_parser(
        "sweep-vdd", parents=[common], help="supply sweep for binary, XNOR and ternary readout, with plots",
        description="Error rates, confusion matrices, sense delay and energy vs VDD for each readout; "
                    "ternary outputs are read at every candidate window and the best window per supply is "
                    "reported.  Writes <out-dir>/sweep_<readout>.{csv,json}, sweep_ternary_best.{csv,json}, "
                    "sweep_ternary_margin.csv (window range with total ternary error <= 5 %) and sweep.png.",
        epilog="example: arraysim sweep-vdd --vdd 0.2:1.2:0.1 --temp -40 27 125 --samples 2000 --out-dir sweep")
    sw.add_argument("--vdd", nargs="+", action="extend", metavar="V",
                    help="supplies [V] (default: the technology's nominal down to 0.2 V in 0.1 V steps)")
    sw.add_argument("--readout", nargs="+", action="extend", metavar="MODE",
                    help=f"readouts to sweep: {_allowed(Readout)} (default: all)")
    sw.add_argument("--window", nargs="+", action="extend", metavar="NS",
                    help="candidate ternary windows [ns] (default: 24 log-spaced from 0.2 ns to t_sense)")
    sw.add_argument("--out-dir", required=True, metavar="DIR", help="existing or new directory for the results")
    _add_run_options(sw, samples_default=2000)
    sw.set_defaults(func=cmd_sweep_vdd)

    c = sub.add_parser("calibrate", help="fit the transistor model to SPICE models (needs ngspice)",
                       description="Fit the compact transistor model (V_T, n, kp, theta, lambda, eta, "
                                   "temperature laws, corner shifts), capacitances and Pelgrom coefficients "
                                   "to DC sweeps of SPICE models run in ngspice; print the fit-error table "
                                   "and write a technology JSON file usable as --technology FILE.json.",
                       epilog="example: arraysim calibrate --pdk sky130 --out sky130.json")
    from .spice.calibrate import add_arguments as _cal_args
    _cal_args(c)
    c.set_defaults(func=cmd_calibrate)
    iv = sub.add_parser("iv-tables", help="tabulate the DC channel currents of SPICE models (needs ngspice)",
                        description="Sample the channel current of every device size of the PCSA in ngspice "
                                    "(V_GS x V_DS x V_SB grid per corner and temperature) and write the tables "
                                    "the kernel interpolates instead of the compact model's current equation "
                                    "(arraysim.cmos.ivtables); --link names the file in a technology JSON.",
                        epilog="example: arraysim iv-tables --pdk sky130 --out sky130_iv.npz --link sky130.json")
    from .spice.ivtables import add_arguments as _iv_args
    _iv_args(iv)
    iv.set_defaults(func=cmd_iv_tables)
    from .nn.cli import add_parser as _nn_add  # `arraysim nn` (dispatches to arraysim.nn.cli.run)
    _nn_add(sub)
    return p


# --------------------------------------------------------------------------------------------------
# ber
# --------------------------------------------------------------------------------------------------
def _prepare_ber(args) -> dict:
    """Validate every input and output path; raises ValueError.  Nothing is simulated or written."""
    from .devices.rram import Programming
    from .io.tables import check_writable
    from .montecarlo.driver import check_readout, make_grid
    from .options import ALL_VARIABILITY, Cell, Corner, Readout, Variability

    vdds = parse_values(args.vdd, "VDD", "V")
    if not vdds:
        raise ValueError("--vdd needs at least one value")
    temps = parse_values(args.temp or ["27"], "temperature", "degC")
    corners = _parse_choices(args.corner or ["tt"], Corner)
    cells = _parse_choices(args.cell or ["2t2r"], Cell)
    ics = [_check_range(v, *IC_RANGE_UA, "SET compliance current", "uA", " (the value is in microamperes)")
           for v in parse_values(args.ic or ["50"], "SET compliance current", "uA")]
    vresets = [_check_range(v, *VRESET_RANGE, "RESET voltage", "V")
               for v in parse_values(args.vreset or ["1.5"], "RESET voltage", "V")]
    if not (temps and corners and cells and ics and vresets):
        raise ValueError("every list option needs at least one value")
    samples = _parse_int(args.samples, "--samples", 1)
    seed = _parse_int(args.seed, "--seed", 0)
    readout = Readout.parse(args.readout)
    windows = [w * 1e-9 for w in parse_values(args.window, "sense window", "ns")] if args.window else None
    threshold = _float(args.threshold, "output threshold", "fractions of VDD")
    p_zero = None if args.p_zero is None else _float(args.p_zero, "fraction of zero weights", "0..1")
    threads = _parse_threads(args)
    variability = set(_parse_choices(args.variability, Variability)) if args.variability else \
        set(ALL_VARIABILITY)
    if args.no_variability is not None:
        off = _parse_choices(args.no_variability, Variability) if args.no_variability else \
            list(ALL_VARIABILITY)
        variability -= set(off)

    sim = _simulator(args)
    progs = [Programming(ic * 1e-6, vr) for ic in ics for vr in vresets]
    grid = make_grid(vdds, temps, corners, progs, cells)

    outs = [check_writable(o) for o in args.out]
    plot = _check_out_path(args.plot, PLOT_FORMATS, "plot file") if args.plot else None
    _no_duplicates(outs + ([plot] if plot else []))
    check_readout(grid, sim, readout, windows, threshold, p_zero)  # the driver's checks, before any work
    return {"grid": grid, "samples": samples, "seed": seed, "sim": sim, "readout": readout,
            "threads": threads, "variability": variability, "outs": outs, "plot": plot,
            "windows": windows, "threshold": threshold, "p_zero": p_zero}


def _parse_threads(args) -> int | None:
    if args.threads is None:
        return None
    import numba
    return _parse_int(args.threads, "--threads", 1, numba.config.NUMBA_NUM_THREADS)


def cmd_ber(args) -> int:
    from .io.tables import save_table
    from .montecarlo.driver import run_ber

    job = _prepare_ber(args)
    note = (lambda msg: None) if args.quiet else (lambda msg: print(f"{PROG}: {msg}", file=sys.stderr))
    table = run_ber(job["grid"], job["samples"], job["seed"], job["sim"], variability=job["variability"],
                    progress=not args.quiet, readout=job["readout"], threads=job["threads"],
                    windows=job["windows"], threshold=job["threshold"], p_zero=job["p_zero"])
    interrupted = bool(table.meta.get("interrupted"))
    print(table.to_text(), flush=True)
    failed = sum(int(r["n_failed"]) for r in table.rows)
    if failed:
        print(f"{PROG}: warning: {failed} instance(s) did not converge; they are counted in n_failed and "
              "excluded from n", file=sys.stderr)
    try:
        for p in job["outs"]:
            save_table(table, p)
            note(f"wrote {p}")
        if job["plot"] is not None:
            if table.rows:
                import matplotlib.pyplot as plt

                from .plotting import plot_ber_vs_vdd
                fig = plot_ber_vs_vdd(table, job["plot"])
                plt.close(fig)
                note(f"wrote {job['plot']}")
            else:
                note(f"no condition finished; {job['plot']} not written")
    except OSError as e:
        print(f"{PROG}: error: cannot write output: {e}", file=sys.stderr)
        return 1
    if interrupted:
        done = len(table.rows)
        print(f"{PROG}: interrupted: {done} of {len(job['grid'])} condition(s) in the table (the last one "
              "may hold fewer samples than requested); the table is marked interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_sweep_vdd(args) -> int:
    """``arraysim sweep-vdd``: validate everything, run the sweep, write tables and the figure."""
    import numpy as np

    from .analysis.sweep import supply_sweep
    from .io.tables import check_writable, save_table
    from .options import Corner, Readout

    sim = _simulator(args)
    if args.vdd:
        vdds = parse_values(args.vdd, "VDD", "V")
    else:
        top = sim.tech.vdd_nominal
        vdds = [round(v, 3) for v in np.arange(top, 0.2 - 1e-9, -0.1)][::-1]
    temps = parse_values(args.temp or ["27"], "temperature", "degC")
    corners = _parse_choices(args.corner or ["tt"], Corner)
    readouts = _parse_choices(args.readout or [m.value for m in Readout], Readout)
    windows = [w * 1e-9 for w in parse_values(args.window, "sense window", "ns")] if args.window else None
    if windows is not None:
        sim.read_windows_abs(windows)
    samples = _parse_int(args.samples, "--samples", 1)
    seed = _parse_int(args.seed, "--seed", 0)
    threads = _parse_threads(args)
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {str(out_dir)!r} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [r.value for r in readouts] + (["ternary_best"] if Readout.TERNARY in readouts else [])
    targets = {k: [check_writable(out_dir / f"sweep_{k}{suf}") for suf in (".csv", ".json")] for k in keys}
    fig_path = _check_out_path(str(out_dir / "sweep.png"), PLOT_FORMATS, "plot file")
    margin_path = check_writable(out_dir / "sweep_ternary_margin.csv", (".csv",))
    from .montecarlo.driver import make_grid
    make_grid(vdds, temps, corners)  # validates the grid before any simulation

    res = supply_sweep(vdds, temps, corners, [r.value for r in readouts], samples, seed, sim,
                       windows=windows, progress=not args.quiet, threads=threads)
    note = (lambda msg: None) if args.quiet else (lambda msg: print(f"{PROG}: {msg}", file=sys.stderr))
    for k, table in res.items():
        print(f"# {k}")
        print(table.to_text(), flush=True)
        for p in targets[k]:
            save_table(table, p)
            note(f"wrote {p}")
    if "ternary" in res and res["ternary"].rows:
        import csv as _csv
        import io as _io

        from .analysis.sweep import window_margin
        from .io.tables import atomic_write
        margin = window_margin(res["ternary"], MARGIN_MAX_ERROR)
        print(f"# ternary window margin: windows around the best one with total error <= "
              f"{MARGIN_MAX_ERROR:.0%}")
        print(f"{'vdd':>5} {'T':>5} {'cor':3} {'best':>8} {'error':>7} {'from':>8} {'to':>8} {'ratio':>6}")
        for m in margin:
            print(f"{m['vdd']:5.2f} {m['temp_c']:5.0f} {m['corner']:3} {m['best_window'] * 1e9:6.2f}ns "
                  f"{m['best_error']:7.4f} {m['w_lo'] * 1e9:6.2f}ns {m['w_hi'] * 1e9:6.2f}ns {m['ratio']:6.2f}")
        buf = _io.StringIO()
        w = _csv.DictWriter(buf, fieldnames=list(margin[0]))
        w.writeheader()
        w.writerows({k: (repr(v) if isinstance(v, float) else v) for k, v in m.items()} for m in margin)
        atomic_write(margin_path, buf.getvalue().encode())
        note(f"wrote {margin_path}")
    if any(t.rows for t in res.values()):
        import matplotlib.pyplot as plt

        from .plotting import plot_supply_sweep
        plt.close(plot_supply_sweep(res, fig_path))
        note(f"wrote {fig_path}")
    if any(t.meta.get("interrupted") for t in res.values()):
        print(f"{PROG}: interrupted: the tables written hold the finished conditions", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


MARGIN_MAX_ERROR = 0.05  # sweep-vdd: total ternary error defining the usable window range

# --------------------------------------------------------------------------------------------------
# read
# --------------------------------------------------------------------------------------------------
def cmd_read(args) -> int:
    from .api import read_instances
    from .io.instances import parse_instances, read_instances_file, results_csv
    from .io.tables import atomic_write
    from .montecarlo.engine import check_temp, check_vdd

    sim = _simulator(args)
    out = _check_out_path(args.out, (".csv",), "output file") if args.out else None
    if args.instances == "-":
        instances = parse_instances(sys.stdin.read(), sim.transistor_names)
    else:
        try:
            instances = read_instances_file(args.instances, sim.transistor_names)
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read instance file {args.instances!r}: "
                             f"{getattr(e, 'strerror', None) or e}") from None
    for inst in instances:
        try:
            check_vdd(inst["vdd"])
            check_temp(inst["temp"])
        except ValueError as e:
            raise ValueError(f"line {inst['line']}: {e}") from None
    results = read_instances(instances, sim=sim)
    text = results_csv(instances, results)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            atomic_write(out, text.encode())
        except OSError as e:
            print(f"{PROG}: error: cannot write {str(out)!r}: {e}", file=sys.stderr)
            return 1
    return 0


# --------------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------------
def cmd_validate(args) -> int:
    from .montecarlo.engine import TEMP_RANGE, VDD_RANGE
    from .options import Cell, Corner, Readout

    model = str(args.model).strip().lower()
    if model not in ("compact", "sky130"):
        raise ValueError(f"unknown --model {args.model!r}; allowed: compact, sky130")
    vdds = [_check_range(v, *VDD_RANGE, "VDD", "V") for v in parse_values(args.vdd or ["0.8"], "VDD", "V")]
    temps = [_check_range(t, *TEMP_RANGE, "temperature", "degC")
             for t in parse_values(args.temp or ["27"], "temperature", "degC")]
    corners = [c.value for c in _parse_choices(args.corner or ["tt"], Corner)]
    cell = Cell.parse(args.cell)
    samples = _parse_int(args.samples, "--samples", 1)
    seed = _parse_int(args.seed, "--seed", 0)
    batch = None if args.batch is None else _parse_int(args.batch, "--batch", 1, 1000)
    readout = Readout.parse(args.readout)
    window = None
    if args.window is not None:
        window = _float(args.window, "sense window", "ns") * 1e-9
    threshold = _float(args.threshold, "output threshold", "fractions of VDD")
    p_zero = None if args.p_zero is None else _float(args.p_zero, "fraction of zero weights", "0..1")
    out = _check_out_path(args.out, (".csv",), "output file") if args.out else None
    plot = _check_out_path(args.plot, PLOT_FORMATS, "plot file") if args.plot else None
    summary = out.with_name(out.stem + "_summary.csv") if out is not None else None
    meta_path = out.with_name(out.stem + "_meta.json") if out is not None else None
    _no_duplicates([p for p in (out, plot, summary, meta_path) if p is not None])
    from .spice.netlist import parse_spice_options
    spice_options = parse_spice_options(args.spice_option)  # before any work
    from .spice.runner import SpiceUnavailable, ngspice_available
    from .spice.validate import technology_for, validate
    from .api import simulator
    from .montecarlo.driver import check_readout, make_grid
    tech = technology_for(model) if args.technology is None else args.technology  # ValueError when sky130
    if model == "compact" and args.iv_tables:
        raise ValueError("--iv-tables needs --model sky130: the compact deck carries the compact model's equations")
    sim = simulator(tech, overlap_coupling=args.overlap_coupling,  # is not registered / an unknown name
                    junction_charge=args.junction_charge, overlap_charge=args.overlap_charge,
                    iv_tables=False if model == "compact" else args.iv_tables,
                    charge_tables=args.charge_tables)
    check_readout(make_grid(vdds, temps, corners, cell=[cell]), sim, readout,
                  None if window is None else [window], threshold, p_zero)  # before any work
    if not ngspice_available():
        try:
            from .spice.runner import _make_shared
            _make_shared()
        except SpiceUnavailable as e:
            print(f"{PROG}: error: SPICE is not available: {e}", file=sys.stderr)
            return 1
    val = validate(model=model, samples=samples, vdds=vdds, temps=temps, corners=corners, seed=seed,
                   cell=cell, batch=batch, readout=readout, window=window, threshold=threshold, p_zero=p_zero,
                   sim=sim, progress=lambda d, n: print(f"{PROG}: {d}/{n} instances", file=sys.stderr),
                   spice_options=spice_options)
    interrupted = bool(val.meta.get("interrupted"))
    if interrupted and not val.rows:
        print(f"{PROG}: interrupted before the first condition was compared; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(val.to_text(), flush=True)
    try:
        if out is not None:  # the three files together or none of them (no partial file)
            import json as _json

            from .io.tables import atomic_write_all, jsonable
            meta = dict(val.meta, kernel_seconds=val.kernel_seconds, spice_seconds=val.spice_seconds,
                        n_spice_retried=val.n_spice_retried)
            atomic_write_all([(out, val.csv_text().encode()), (summary, val.summary_csv_text().encode()),
                              (meta_path, _json.dumps(jsonable(meta), indent=1, allow_nan=False).encode())])
            print(f"{PROG}: wrote {out}, {summary} and {meta_path}", file=sys.stderr)
        if plot is not None:
            val.plot(plot)
            print(f"{PROG}: wrote {plot}", file=sys.stderr)
    except OSError as e:
        print(f"{PROG}: error: cannot write output: {e}", file=sys.stderr)
        return 1
    if interrupted:
        print(f"{PROG}: interrupted: {val.meta['conditions_done']} of {len(vdds) * len(temps) * len(corners)} "
              f"condition(s) compared ({len(val.rows)} instances); the results above and the files written hold "
              "those (meta: interrupted)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


# --------------------------------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------------------------------
_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k"),
             (1e6, "M"), (1e9, "G"))

UNITS = {
    # technology and MOS families
    "vdd_nominal": "V", "sigma_vt_global": "V", "vt0": "V", "kp": "A/V^2", "theta": "1/V", "lam": "1/V",
    "l_ref": "m", "dvt_dt": "V/K", "cox": "F/m^2", "cov": "F/m", "cj": "F/m", "a_vt": "V*m", "a_beta": "1*m",
    # RRAM
    "lrs_v0": "V", "lrs_ic_ref": "A", "hrs_r_ref": "Ohm", "hrs_vr_ref": "V", "hrs_vr_slope": "V",
    "vnl_hrs": "V", "r_knee": "Ohm", "ea_hrs": "eV", "tcr_lrs": "1/K",
    # design
    "c_wire_row": "F", "c_cell_node": "F", "c_load": "F", "v_wl": "V", "r_ref": "Ohm", "gmin": "S",
    "w": "m", "l": "m",
    # timing / tolerances
    "t_rise": "s", "t_sense": "s", "t_precharge": "s", "atol": "V", "h_max": "s",
}


# compound units shown in the customary scale instead of with an SI prefix
_FIXED_DISPLAY = {"F/m": (1e9, "fF/um"), "F/m^2": (1e3, "fF/um^2"), "V*m": (1e9, "mV*um"),
                  "1*m": (1e8, "%*um"), "A/V^2": (1e6, "uA/V^2"), "V/K": (1e3, "mV/K"), "1/V": (1.0, "1/V"),
                  "1/K": (1.0, "1/K")}


def eng(value, unit: str = "") -> str:
    """``5e-11, 's'`` -> ``'50 ps'``."""
    if value is None:
        return "default"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not unit:
        return f"{value:g}"
    if unit in _FIXED_DISPLAY:
        scale, shown = _FIXED_DISPLAY[unit]
        return f"{float(value) * scale:.4g} {shown}"
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return f"{v:g} {unit}"
    scale, prefix = _PREFIXES[0]
    for s, pf in _PREFIXES:
        if abs(v) >= s * (1 - 1e-9):
            scale, prefix = s, pf
    return f"{v / scale:.4g} {prefix}{unit}"


def info_dict(sim) -> dict:
    from .cmos.technologies import available_technologies
    from .config import versions
    from .io.tables import jsonable
    from .montecarlo.engine import TEMP_RANGE, VDD_RANGE
    from .options import Cell, Corner, Readout, Variability

    d = {"versions": versions()}
    d.update(sim.describe())
    d["transistor_names"] = list(sim.transistor_names)
    d["limits"] = {"vdd_V": list(VDD_RANGE), "temp_degC": list(TEMP_RANGE),
                   "i_compliance_uA": list(IC_RANGE_UA), "v_reset_V": list(VRESET_RANGE),
                   "v_wl_V": list(VWL_RANGE), "rows": list(ROWS_RANGE)}
    d["options"] = {"technologies": available_technologies(), "corners": [m.value for m in Corner],
                    "cells": [m.value for m in Cell], "readouts": [m.value for m in Readout],
                    "variability": [m.value for m in Variability]}
    return jsonable(d)


def _kv_lines(d: dict, indent: str = "  ") -> list[str]:
    width = max((len(k) for k in d), default=0)
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            if set(v) == {"w", "l"}:
                out.append(f"{indent}{k:<{width}}  W = {eng(v['w'], 'm')}, L = {eng(v['l'], 'm')}")
            else:
                out.append(f"{indent}{k}:")
                out.extend(_kv_lines(v, indent + "  "))
        else:
            out.append(f"{indent}{k:<{width}}  {eng(v, UNITS.get(k, ''))}")
    return out


def info_text(d: dict) -> str:
    L: list[str] = []
    v = d["versions"]
    L.append(f"arraysim {v.get('arraysim')}  (" + ", ".join(f"{k} {x}" for k, x in v.items()
                                                            if k != "arraysim") + ")")
    tech = dict(d["technology"])
    L += ["", f"Technology: {tech.pop('name')} - {tech.pop('description', '')}",
          f"  source: {tech.pop('source', '')}"]
    fams = {k: tech.pop(k) for k in ("nmos", "pmos", "nmos_thick") if isinstance(tech.get(k), dict)}
    corners = tech.pop("corners", {})
    bins = tech.pop("bins", {}) or {}
    L += _kv_lines(tech)
    if fams:
        keys = list(next(iter(fams.values())))
        sets = dict(fams)
        for fam, lst in bins.items():  # size bins: extra columns "family W/L" (um)
            for b in lst:
                sets[f"{fam} {b['w'] * 1e6:g}/{b['l'] * 1e6:g}"] = b["params"]
        wd = max([16] + [len(n) + 2 for n in sets])
        L += ["", "  MOS families" + (" and size bins (W/L um)" if bins else "")]
        L.append(f"  {'':<12}" + "".join(f"{n:>{wd}}" for n in sets))
        for k in keys:
            u = UNITS.get(k, "")
            L.append(f"  {k:<12}" + "".join(f"{eng(f.get(k), u):>{wd}}" for f in sets.values()))
        for fam, lst in bins.items():
            for b in lst:
                if b.get("corners"):
                    L.append(f"  bin {fam} {b['w'] * 1e6:g}/{b['l'] * 1e6:g} corner shifts (dvt V, mu): " +
                             ", ".join(f"{c} {v['dvt']:+.4g}/{v['mu']:.4g}" for c, v in b["corners"].items()))
    if corners:
        ck = list(next(iter(corners.values())))
        L += ["", "  corner shifts (dvt in V, mu = mobility factor)",
              "  corner" + "".join(f"{k:>10}" for k in ck)]
        for name, c in corners.items():
            L.append(f"  {name:<6}" + "".join(f"{c[k]:>10g}" for k in ck))
    L += ["", "RRAM model:"] + _kv_lines(d["rram"])
    design = {k: x for k, x in d["design"].items() if k != "timing"}
    L += ["", f"Circuit (PCSA): word-line voltage {eng(d['word_line_voltage_V'], 'V')}"] + _kv_lines(design)
    L += ["", "Transistors:",
          f"  {'name':<10} {'family':<10} {'D':<4} {'G':<4} {'S':<4} {'B':<4} {'W[um]':>7} {'L[um]':>7} "
          f"{'mult':>5} {'sVT[mV]':>8} {'sbeta[%]':>8}  parameters"]
    for t in d["transistors"]:
        L.append(f"  {t['name']:<10} {t['family']:<10} {t['d']:<4} {t['g']:<4} {t['s']:<4} {t['b']:<4} "
                 f"{t['w_m'] * 1e6:7.3f} {t['l_m'] * 1e6:7.3f} {t['multiplicity']:5g} "
                 f"{t['sigma_vt_V'] * 1e3:8.2f} {t['sigma_beta'] * 100:8.2f}  {t.get('parameter_set', '')}")
    if d.get("rram_elements"):
        L.append("  RRAM elements: " + ", ".join(f"{e['name']} ({e['a']}-{e['b']})"
                                                 for e in d["rram_elements"]))
    L += ["", "Node capacitances (to ground)" + (", gate overlaps not included:" if d.get("overlap_capacitors_F")
                                                 else ":")]
    L += [f"  {n:<4} {eng(c, 'F')}" for n, c in d["node_capacitance_F"].items()]
    if d.get("table_charges_tt"):
        L += ["", "Intrinsic charges from the tables (no constant gate capacitance, no channel-charge model):",
              "  " + ", ".join(d["table_charges_tt"])]
    if d.get("overlap_capacitors_F"):  # summed per node pair (a DC rail: grounded; SE: coupling to SE)
        pairs: dict = {}
        for c in d["overlap_capacitors_F"]:
            k = tuple(sorted((c["a"], c["b"])))
            pairs[k] = pairs.get(k, 0.0) + c["c_F"]
        L += ["", "Gate overlap capacitors (summed per node pair):"]
        L += [f"  {a}-{b}: {eng(c, 'F')}" for (a, b), c in pairs.items()]
    L += ["", "Timing:"] + _kv_lines(d["timing_s"]) + ["", "Integrator tolerances:"] + \
        _kv_lines(d["tolerances"])
    lim, opt = d["limits"], d["options"]
    L += ["", "Accepted inputs:",
          f"  VDD {lim['vdd_V'][0]:g}..{lim['vdd_V'][1]:g} V, temperature {lim['temp_degC'][0]:g}.."
          f"{lim['temp_degC'][1]:g} degC, I_c {lim['i_compliance_uA'][0]:g}..{lim['i_compliance_uA'][1]:g} "
          f"uA, V_reset {lim['v_reset_V'][0]:g}..{lim['v_reset_V'][1]:g} V",
          "  " + "; ".join(f"{k}: {', '.join(v)}" for k, v in opt.items())]
    return "\n".join(L)


def cmd_info(args) -> int:
    d = info_dict(_simulator(args))
    if args.json:
        print(json.dumps(d, indent=1, allow_nan=False))
    else:
        print(info_text(d))
    return 0


def cmd_calibrate(args) -> int:
    from .spice.calibrate import cli_calibrate
    return cli_calibrate(args)


def cmd_iv_tables(args) -> int:
    from .spice.ivtables import cli_iv_tables
    return cli_iv_tables(args)


# --------------------------------------------------------------------------------------------------
def _error(msg: str) -> int:
    msg = " ".join(str(msg).split())  # always one line
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def main(argv=None) -> int:
    """Entry point of the ``arraysim`` console script; returns the exit status."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help / --version
            return int(e.code or 0) if not isinstance(e.code, str) else _error(e.code)
        if getattr(args, "func", None) is None:
            return _error("a command is required: ber, sweep-vdd, read, info, validate, calibrate, iv-tables or nn "
                          "(see 'arraysim --help')")
        try:
            return args.func(args)
        except ValueError as e:
            return _error(str(e))
    except UsageError as e:
        return _error(str(e))
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `arraysim read x.csv | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

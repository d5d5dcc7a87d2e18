"""SPICE decks of exactly the read instances the kernel simulates, and the kernel's measurements on them.

Two model families:

``compact``
    The project's own EKV MOSFET and RRAM law as ngspice behavioural sources (``spice_models/ekv.lib``,
    ``rram.lib``, ``pcsa_compact.sub``, ``column_2t2r_compact.sub``/``column_1t1r_compact.sub``).  Every
    transistor gets ``vt``/``ispec`` computed as :meth:`ReadSimulator.run` does
    (``sim.nominal_elements(temp, corner)`` plus the instance's ``dvt``, times ``1 + dbeta``), its shape
    parameters from ``sim.mos_par_at(temp, corner)`` (per device group of equal size, so they follow the technology's
    size bins), ``ut`` = kT/q; every unknown node gets its grounded capacitance and ``1/gmin`` to ground,
    and the kernel's coupling capacitors (``sim.cmat``/``sim.bse``, design option ``overlap_coupling``)
    are capacitors between the nodes (internal nodes by hierarchical name, e.g. ``xsa_0.sq``); the channel
    charge of the clocked devices (``qch``) and the junction charges beyond the constant capacitance
    (``qj``, one per row of ``sim.jn_at(corner, temp_c)``, bulk 0 or the instance's VDD) and the gate overlap charges
    beyond the constant overlap capacitors (``qov``, one per row of ``sim.ov_at(corner)``) are the subcircuits of
    ``ekv.lib``.  Kernel and SPICE then solve the same equations; only the integrators differ.
``sky130``
    SkyWater SKY130 BSIM4 cards (``arraysim.spice.pdk.sky130_include(corner)``) instantiated directly as
    MOSFETs of the binned models ``sky130_fd_pr__nfet_01v8__model`` / ``pfet_01v8`` / ``nfet_g5v0d10v5``
    (``spice_models/pcsa_sky130.sub``, ``column_*_sky130.sub``): the PDK's subcircuit wrappers do not
    pass instance parameters through, the M card does, so the kernel's mismatch sample is applied as
    ``delvto`` (NMOS +dvt, PMOS -dvt: dvt is a threshold-*magnitude* shift) and ``mulu0 = 1 + dbeta``.
    W, L in micrometres (the include sets ``.option scale=1.0u``); drain/source areas and perimeters from
    a 0.29 um diffusion extension so that BSIM4 has junction capacitance.  Only the non-device
    capacitances of :func:`arraysim.circuits.pcsa.node_caps` are added (:func:`~arraysim.circuits.pcsa.extra_caps`:
    ``c_load`` on Q/QB, ``rows * c_wire_row`` on BL/BLB, ``c_cell_node`` on M/MB, ``2 * rows * c_wire_row`` and
    the unselected cells' ``2 * (rows - 1) * c_cell_node`` on SL).

Deck structure (both families): one shared ``VSE`` (PWL 0 -> VDD over t_rise from t = 0, high until
t_fall = t_rise + t_sense, back to 0 over t_rise) and ``VWL`` (``sim.v_wl``); per instance k its own supply
``VDD<k>`` (so its current can be integrated alone), one PCSA and one column subcircuit with node names
suffixed ``_<k>``; ``.nodeset`` Q = QB = VDD (the kernel's DC guess).  ``.tran`` starts from the DC
operating point with SE = 0 (the PWL's value at t = 0), exactly as the kernel.

Measurements (as the kernel's): Q, QB at the read instant (default the end of the sense window t_fall;
``window=`` reads earlier; either way a PWL breakpoint of VSE, hence a time point); first falling crossing of VDD/2 by Q and QB with t <= t_fall, linearly interpolated, minus
t_rise/2 (delay from SE at 50 %); energy = VDD * integral of the current drawn from VDD<k> over
[0, t_cycle_k] (trapezoidal on ngspice's time points), where t_cycle_k is the *kernel's* cycle length of
that instance (``RawReads.tcycle``: sense + precharge until settled): both then integrate over the same
interval, so the comparison measures the simulators and not two different settle detectors; decision =
:func:`arraysim.montecarlo.readout.decode_binary` of the read-instant voltages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..circuits.pcsa import extra_caps
from ..kernels.transient import DRIFT_T, PRECHARGED
from ..montecarlo.readout import decode_binary
from ..units import celsius_to_kelvin, thermal_voltage

MODELS = ("compact", "sky130")
MODEL_DIR = Path(__file__).resolve().parents[2] / "spice_models"
DIFF_EXT_UM = 0.29  # drain/source diffusion extension [um] for AD/AS/PD/PS of the sky130 instances

# transistor name -> parameter suffix in the subcircuit files
_PCSA_KEYS = {"MP_PRE_Q": "pre_q", "MP_PRE_QB": "pre_qb", "MP_X_Q": "xp_q", "MP_X_QB": "xp_qb",
              "MN_X_Q": "xn_q", "MN_X_QB": "xn_qb", "MN_DIS": "dis"}
_COL_KEYS = {"MA_BL": "a_bl", "MA_BLB": "a_blb", "ML_BL": "l_bl", "ML_BLB": "l_blb"}
_XNOR_KEYS = {**_PCSA_KEYS, "MX_Q_BL": "px_q_bl", "MX_Q_BLB": "px_q_blb", "MX_QB_BLB": "px_qb_blb",
              "MX_QB_BL": "px_qb_bl"}
# device groups of the compact subcircuits: one set of shape parameters (n, theta, lam, eta, gamma, phi, kb) each
_PCSA_GROUPS = {"pre": ("MP_PRE_Q", "MP_PRE_QB"), "xp": ("MP_X_Q", "MP_X_QB"), "xn": ("MN_X_Q", "MN_X_QB"),
                "dis": ("MN_DIS",)}
_XNOR_GROUPS = {**_PCSA_GROUPS, "px": ("MX_Q_BL", "MX_Q_BLB", "MX_QB_BLB", "MX_QB_BL")}
_COL_GROUP = ("MA_BL", "MA_BLB", "ML_BL", "ML_BLB")

# Measured on the compact family against the scipy reference (arraysim.reference; worst instance of a
# 600-instance run, VDD 0.6 V, 125 degC, sf, delay 3.16 ns with slow regeneration):
#   gear2, reltol 1e-4, trtol 1, tmax 1 ns : delay -2.6 %, energy -0.75 %   1.5 s
#   gear2, reltol 1e-6                     : delay -0.17 %                  3.5 s
#   gear2, reltol 1e-4, tmax 20 ps         : delay -0.03 %, energy  0.0 %   7.2 s
#   trap,  reltol 1e-5, trtol 1, tmax 1 ns : delay -0.38 %, energy -0.10 %  0.9 s   <- default
# (the kernel at its default tolerances: -0.32 % on the same instance).  ngspice's defaults (trtol 7,
# tmax t_stop/50) are worse still.  The error is the time-step (LTE) control, not the Newton tolerance or
# the DC point (identical to 9 digits for reltol 1e-4 .. 1e-9).
DEFAULT_OPTIONS = {"reltol": 1e-5, "abstol": 1e-15, "vntol": 1e-7, "chgtol": 1e-20, "trtol": 1,
                   "method": "trap"}
# BSIM4 (sky130) does not converge at the SE edges with the tight absolute tolerances above ("timestep too
# small" at the body nodes of the thick-oxide devices): SPICE's usual abstol/vntol/trtol there.  chgtol
# (the charge floor of the time-step control) is 1e-17 C, not ngspice's 1e-14: a read moves 5-60 fC, so with
# 1e-14 the step control hardly saw the charges.  Against the same decks with a 20 ps largest step
# (benchmarks/referee_convergence.py, 89 resolved reads of 150 over validate's grid): ngspice's own delay error
# median 0.96 % (max 11.5 %), energy 1.30 % (max 3.1 %, too low at 1.2-1.8 V) with 1e-14; 0.05 % (max 0.91 %)
# and 0.17 % (max 0.64 %) with 1e-17, in the same run time, every instance converging.  chgtol 1e-17 together
# with reltol 1e-5, trtol 1 stops with "timestep too small" at the SE fall.
SKY130_OPTIONS = {"reltol": 1e-4, "abstol": 1e-12, "vntol": 1e-6, "chgtol": 1e-17, "trtol": 7,
                  "method": "gear", "maxord": 2}
DRIFT_OPTIONS = {"reltol": 1e-6, "abstol": 1e-15, "vntol": 1e-9, "chgtol": 1e-20}
"""Tolerances of the SE = 0 drift decks (:func:`drift_states`), over either family's: the drift runs on pA currents
and fF x mV charges, far below SKY130_OPTIONS' abstol (1 pA) and chgtol (10 fC).  Measured on the instance whose
start state is set by 0.4 mV (validate --seed 1, 0.6 V -40 degC fs, index 5; MN_X_Q's threshold shifted in 0.1 mV
steps): ngspice's drift switches between +1 and +2 mV with SKY130_OPTIONS, between -0.2 and -0.1 mV with these
(trtol 1 moves nothing; reltol 1e-7 or abstol 1e-16 stop at 0.2 ps with "timestep too small"), the kernel's
between -0.44 and -0.43 mV."""
JUNCTION_OPTIONS = {"abstol": 1e-12}
"""Override of DEFAULT_OPTIONS for a compact deck carrying junction charges (``qj``): with abstol 1e-15 ngspice
stopped at the end of the SE ramp ("timestep too small" at the ``qj`` branch currents; 3 of 6 SKY130-technology
instances), and ngspice's own behavioural capacitor (``C='expr'``) and a ``ddt()`` form behaved the same or ran
3x slower.  A Newton tolerance, not the time-step control (see above)."""
SPICE_OPTION_NAMES = ("reltol", "abstol", "vntol", "chgtol", "trtol", "method", "maxord", "gmin", "itl1", "itl4")
"""The ngspice ``.options`` a user may override in the read decks (``arraysim validate --spice-option``)."""


def check_spice_options(options) -> dict:
    """``options`` (name -> value, or None) checked and normalised: names from :data:`SPICE_OPTION_NAMES`
    (case-insensitive); ``method`` trap or gear; ``maxord`` an integer 1..6 (gear); ``itl1``/``itl4`` integers
    >= 1; every other value a positive number.  Raises ValueError saying what was wrong and what is allowed."""
    out = {}
    for name, value in dict(options or {}).items():
        key = str(name).strip().lower()
        if key not in SPICE_OPTION_NAMES:
            raise ValueError(f"unknown SPICE option {name!r}; allowed: {', '.join(SPICE_OPTION_NAMES)}")
        if key == "method":
            v = str(value).strip().lower()
            if v not in ("trap", "gear"):
                raise ValueError(f"SPICE option method must be trap or gear, got {value!r}")
            out[key] = v
            continue
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"SPICE option {key} must be a number, got {value!r}") from None
        if key in ("maxord", "itl1", "itl4"):
            lo, hi = (1, 6) if key == "maxord" else (1, 10**6)
            if x != int(x) or not lo <= x <= hi:
                raise ValueError(f"SPICE option {key} must be an integer in {lo}..{hi}, got {value!r}")
            out[key] = int(x)
        else:
            if not (x > 0 and math.isfinite(x)):
                raise ValueError(f"SPICE option {key} must be a positive number, got {value!r}")
            out[key] = x
    return out


def parse_spice_options(items) -> dict:
    """``NAME=VALUE`` strings (``arraysim validate --spice-option``) as checked options
    (:func:`check_spice_options`); ValueError for an item without ``=`` or a name."""
    options = {}
    for item in items or []:
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise ValueError(f"a SPICE option is NAME=VALUE, got {item!r}")
        options[name.strip()] = value.strip()
    return check_spice_options(options)


def deck_options(model: str, options=None) -> dict:
    """The ``.options`` a read deck of family ``model`` runs with: the family's defaults and ``options``."""
    return {**(DEFAULT_OPTIONS if model == "compact" else SKY130_OPTIONS), **check_spice_options(options)}


DEFAULT_TMAX = 1e-9  # largest time step [s] (capped further at t_stop / 50)
RETRY_TMAX = 1e-10
"""Largest time step of the one retry of an instance whose run failed (measured: 3 of 450 SKY130
instances stopped with the RRAM's sinh out of range at the default step; all ran at 0.1 ns)."""


def model_file(name: str) -> str:
    """Text of one file of ``spice_models/`` (these files are what the decks contain)."""
    p = MODEL_DIR / name
    if not p.is_file():
        raise FileNotFoundError(f"SPICE model file {p} is missing (arraysim's spice_models/ directory)")
    return p.read_text()


_PDK_DEVICES = ("nfet_01v8", "pfet_01v8", "nfet_g5v0d10v5")
_PATCH_CACHE: dict[str, str] = {}


def _patch_pdk_file(path: str) -> str:
    """Path of a copy of a SKY130 cell file whose wrapper subcircuits ``sky130_fd_pr__<dev> d g s b`` pass
    ``delvto``, ``mulu0`` and ``mult`` on to their BSIM4 instance (the PDK's wrapper declares ``mult`` but
    does not use it, and has no ``delvto``/``mulu0``).  Nothing else changes.  Copies are cached under
    ``$XDG_CACHE_HOME/arraysim/sky130`` (default ``~/.cache``), keyed by the source path, size and mtime."""
    import hashlib
    import os
    import re

    st = os.stat(path)
    key = hashlib.sha1(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|v1".encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "arraysim" / "sky130" / key
    out = base / Path(path).name
    if out.is_file():
        return str(out)
    text = Path(path).read_text()
    lines = text.splitlines()
    changed = 0
    nested = 0
    cur = None
    for i, ln in enumerate(lines):
        m = re.match(r"^\s*\.subckt\s+sky130_fd_pr__(\w+)\s+d\s+g\s+s\s+b\s*$", ln, flags=re.I)
        if m:
            cur = m.group(1) if m.group(1) in _PDK_DEVICES else None
            continue
        if re.match(r"^\s*\.ends", ln, flags=re.I):
            cur = None
            continue
        inc = re.match(r'^(\s*\.include\s+)"([^"]+)"(.*)$', ln, flags=re.I)
        if inc:  # nested include: patch it too and point to it by absolute path (the copy lives elsewhere)
            src = inc.group(2)
            src = src if os.path.isabs(src) else os.path.join(os.path.dirname(os.path.abspath(path)), src)
            lines[i] = f'{inc.group(1)}"{_patch_pdk_file(src)}"{inc.group(3)}'
            nested += 1
            continue
        if cur is None:
            continue
        if re.match(r"^\s*\.param\s+l\s*=", ln, flags=re.I) and "delvto" not in ln:
            lines[i] = ln + " delvto = 0 mulu0 = 1"
            changed += 1
        elif re.match(rf"^\s*msky130_fd_pr__{cur}\s", ln, flags=re.I) and "delvto" not in ln:
            lines[i] = ln + " delvto = {delvto} mulu0 = {mulu0} m = {mult}"
            changed += 1
    if changed == 0 and not any(_patched_any(x) for x in lines if x.lstrip().lower().startswith(".include")):
        return path  # no wrapper of ours in this file or below
    if changed % 2:
        raise ValueError(f"unexpected wrapper layout in {path}: patched {changed} lines")
    body = "\n".join(lines) + "\n"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable cache: a per-user directory under the system's temporary directory
        import tempfile
        base = Path(tempfile.gettempdir()) / f"arraysim-{os.getuid() if hasattr(os, 'getuid') else 0}" \
            / "sky130" / key
        base.mkdir(parents=True, exist_ok=True)
        out = base / Path(path).name
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(body)
    os.replace(tmp, out)
    return str(out)


def _patched_any(include_line: str) -> bool:
    return "/arraysim/sky130/" in include_line.replace("\\", "/")


def sky130_text(corner: str) -> str:
    """The SKY130 models for arraysim corner ``corner`` (first letter NMOS): the PDK's card of
    ``pdk.ARRAYSIM_TO_SKY130_CORNER[corner]`` -- SKY130's fs/sf cards are named the other way round, as
    measured by the calibration -- with the device files replaced by copies whose wrapper subcircuits pass
    ``delvto``/``mulu0``/``mult`` through (see :func:`_patch_pdk_file`)."""
    from .pdk import ARRAYSIM_TO_SKY130_CORNER, sky130_include
    if corner in _PATCH_CACHE:
        return _PATCH_CACHE[corner]
    text = pass_instance_params(sky130_include(ARRAYSIM_TO_SKY130_CORNER[corner]))
    _PATCH_CACHE[corner] = text
    return text


def pass_instance_params(include_text: str) -> str:
    """``include_text`` with every ``.include "file"`` replaced by :func:`_patch_pdk_file`'s copy (SKY130
    wrapper subcircuits then pass ``delvto``/``mulu0``/``mult`` to their BSIM4 instance; a file without such
    wrappers is left as it is)."""
    import re

    def sub(m):
        return f'{m.group(1)}"{_patch_pdk_file(m.group(2))}"'

    return re.sub(r'^(\s*\.include\s+)"([^"]+)"', sub, include_text, flags=re.M | re.I)


def _f(x: float) -> str:
    return f"{float(x):.12g}"


@dataclass
class Deck:
    """A generated deck and what is needed to measure its result."""

    text: str
    model: str
    n: int
    vdd: float
    t_rise: float
    t_fall: float
    t_stop: float
    t_cycle: np.ndarray
    notes: list[str] = field(default_factory=list)
    t_read: float | None = None  # instant the outputs are read (default t_fall: the end of the window)

    def node(self, name: str, k: int) -> str:
        return f"{name.lower()}_{k}"


def element_values(sim, temp_c, corner, dvt, dbeta):
    """Per-instance vt [V] and ispec [A] of every transistor, exactly as ReadSimulator.run computes them."""
    vt0, isp0 = sim.nominal_elements(temp_c, corner)
    vt = vt0[None, :] + np.atleast_2d(np.asarray(dvt, dtype=float))
    isp = isp0[None, :] * (1.0 + np.atleast_2d(np.asarray(dbeta, dtype=float)))
    return vt, isp


def _group_shape(sim, names, temp_c, corner=None):
    """(n, theta, lam, eta, gamma, phi, kb, gjun, vsat, ns, tau, dv0) at ``temp_c`` and ``corner`` shared by the transistors
    ``names`` (one device group of the subcircuits: same family and size, hence the same parameter set; checked)."""
    all_names = [m.name for m in sim.tables.mos]
    par = sim.mos_par_at(temp_c, corner)
    rows = [par[all_names.index(nm)] for nm in names]
    for nm, r in zip(names[1:], rows[1:]):
        if not np.array_equal(r, rows[0], equal_nan=True):
            raise ValueError(f"transistor {nm} has other shape parameters than {names[0]}; the subcircuits "
                             "take one set per device group")
    n, th, lam, eta, gam, phi, kb, gj, vs, ns, tau, dv0 = rows[0]
    if np.isnan(kb):  # no body-effect law: the constant-n form is kb = n - 1, gamma = 0 (spice_models/ekv.lib)
        if ns != n:  # MosParams allows two slope factors only with a body law
            raise ValueError(f"transistor {names[0]}: two slope factors without a body-effect law have no "
                             "compact SPICE form")
        kb, gam = n - 1.0, 0.0
    return n, th, lam, eta, gam, phi, kb, gj, vs, ns, tau, dv0


def _shape_params(sim, groups, temp_c, corner=None) -> str:
    """``n_<g>=.. th_<g>=.. lam_<g>=.. eta_<g>=.. gam_<g>=.. phi_<g>=.. kb_<g>=.. gj_<g>=.. vs_<g>=.. ns_<g>=..
    tau_<g>=.. dv0_<g>=..`` of every device group ``g`` -> transistor names, at ``temp_c`` and ``corner``."""
    out = []
    for g, names in groups.items():
        n, th, lam, eta, gam, phi, kb, gj, vs, ns, tau, dv0 = _group_shape(sim, names, temp_c, corner)
        out.append(f"n_{g}={_f(n)} th_{g}={_f(th)} lam_{g}={_f(lam)} eta_{g}={_f(eta)} gam_{g}={_f(gam)} "
                   f"phi_{g}={_f(phi)} kb_{g}={_f(kb)} gj_{g}={_f(gj)} vs_{g}={_f(vs)} ns_{g}={_f(ns)} "
                   f"tau_{g}={_f(tau)} dv0_{g}={_f(dv0)}")
    return " ".join(out)


def _split_caps(sim, corner):
    """The kernel's capacitances as SPICE capacitors: (grounded cap per unknown node, [(node a, node b, C)]
    coupling capacitors) from ``sim.cmat_at(corner)`` (off-diagonal = minus the coupling) and ``sim.bse`` (coupling to
    SE); a node's grounded part is its diagonal minus its couplings."""
    names = list(sim.tables.node_names)
    C = np.asarray(sim.cmat_at(corner), dtype=float)
    b = np.asarray(sim.bse, dtype=float)
    ground, cpl = {}, []
    for i, a in enumerate(names):
        ground[a] = float(C[i, i] + sum(C[i, j] for j in range(len(names)) if j != i) - b[i])
        for j in range(i + 1, len(names)):
            if C[i, j] != 0.0:
                cpl.append((a, names[j], float(-C[i, j])))
        if b[i] != 0.0:
            cpl.append((a, "SE", float(b[i])))
    if any(v <= 0 for v in ground.values()) or any(c < 0 for _, _, c in cpl):
        raise ValueError("capacitance matrix with a negative grounded or coupling capacitance")
    return ground, cpl


def _node_ref(name: str, k: int) -> str:
    """SPICE name of node ``name`` of instance k (internal nodes by their hierarchical name)."""
    if name == "SE":
        return "se"
    if name in ("SQ", "SQB"):
        return f"xsa_{k}.{name.lower()}"
    if name in ("M", "MB"):
        return f"xcol_{k}.{name.lower()}"
    return f"{name.lower()}_{k}"


def _deck_node(name: str, k: int) -> str:
    """SPICE node of ``name`` in instance k: :func:`_node_ref`, the fixed nodes as the deck drives them (GND 0,
    VDD the instance's supply, WL, X/XB the XNOR inputs)."""
    fixed = {"GND": "0", "VDD": f"vdd_{k}", "WL": "wl", "X": f"x_{k}", "XB": f"xb_{k}"}
    return fixed[name] if name in fixed else _node_ref(name, k)


def _check_topology(sim):
    names = [m.name for m in sim.tables.mos]
    xnor = getattr(sim, "circuit", "pcsa") == "xnor"
    want = set(_XNOR_KEYS if xnor else _PCSA_KEYS) | set(_COL_KEYS)
    if set(names) != want or len(names) != len(want):
        raise ValueError(f"unexpected transistor list {names}; the SPICE subcircuits have {sorted(want)}")
    nodes = ["Q", "QB", "SQ", "SQB", "BL", "BLB", "M", "MB", "SL"] if xnor else \
        ["Q", "QB", "BL", "BLB", "M", "MB", "SL"]
    if list(sim.tables.node_names) != nodes:
        raise ValueError(f"unexpected node list {sim.tables.node_names}")


def _header(sim, model, vdd, temp_c, corner, n, t_rise, t_fall, t_stop, options, tmax, t_read=None,
            drift=False):
    opts = {**deck_options(model), **(options or {})}  # also JUNCTION_OPTIONS / DRIFT_OPTIONS (internal callers)
    lines = [f"* arraysim read instances ({model} family), VDD={_f(vdd)} V, T={_f(temp_c)} C, "
             f"corner={corner}, {n} instance(s)" + (", SE = 0 drift" if drift else ""),
             f".temp {_f(temp_c)}",
             ".options " + " ".join(f"{k}={v}" for k, v in opts.items())]
    if drift:  # SE held low for DRIFT_T seconds
        lines += ["VSE se 0 0", f"VWL wl 0 {_f(sim.v_wl)}",
                  f".tran {_f(t_rise / 5)} {_f(DRIFT_T)} 0 {_f(DRIFT_T / 20)}"]
        return lines
    # a read instant inside the window is an extra (flat) PWL point: ngspice puts a breakpoint there
    lines += [f"VSE se 0 PWL(0 0 {_f(t_rise)} {_f(vdd)} "
              + (f"{_f(t_read)} {_f(vdd)} " if t_read is not None and t_rise < t_read < t_fall * (1 - 1e-9) else "")
              + f"{_f(t_fall)} {_f(vdd)} {_f(t_fall + t_rise)} 0)",
              f"VWL wl 0 {_f(sim.v_wl)}"]
    step = t_rise / 5
    lines.append(f".tran {_f(step)} {_f(t_stop)} 0 {_f(tmax if tmax else min(t_stop / 50, DEFAULT_TMAX))}")
    return lines


def _start_line(sim, k, vdd, v_start) -> str:
    """How instance k's deck starts: ``.nodeset`` Q = QB = VDD (ngspice's operating point from the kernel's
    guess), or with ``v_start`` (its row k: a value for every node of ``sim.tables.node_names``) ``.ic`` on every
    node (the operating point with those nodes held there, released at t = 0: the run starts from exactly
    that state)."""
    if v_start is None:
        return f".nodeset v(q_{k})={_f(vdd)} v(qb_{k})={_f(vdd)}"
    return ".ic " + " ".join(f"v({_node_ref(nm, k)})={_f(val)}" for nm, val in zip(sim.tables.node_names,
                                                                                    v_start[k]))


def build_deck(sim, vdd, temp_c, corner, dvt, dbeta, r_bl, r_blb, ohmic_blb=False, model="compact",
               t_cycle=None, options=None, tmax=None, x=None, window=None, v_start=None, drift=False) -> Deck:
    """One deck holding every given instance (rows of ``dvt``/``dbeta``/``r_bl``/``r_blb``) as an
    independent copy of the circuit.  ``t_cycle`` (per instance, e.g. the kernel's ``RawReads.tcycle``)
    sets the energy interval and the stop time (their maximum); default: the minimum cycle
    t_rise + t_sense + t_rise + t_precharge.  ``options``: extra/overriding ``.options``; ``tmax``:
    largest time step (default min(t_stop/50, DEFAULT_TMAX)).  ``x``: the binary input of each
    instance for the XNOR circuit.  ``window``: read the outputs this long after
    the end of the SE ramp (as ``ReadSimulator.run(windows=...)``); default the whole sense window.
    ``v_start`` (instances x ``sim.tables.node_names``): start every instance from this state (``.ic``) instead
    of ngspice's operating point.  ``drift``: instead of the read, hold SE low for
    :data:`arraysim.kernels.transient.DRIFT_T` seconds (with ``v_start``: from that state), see
    :func:`drift_states`."""
    if model not in MODELS:
        raise ValueError(f"unknown SPICE model family {model!r}; allowed: {', '.join(MODELS)}")
    _check_topology(sim)
    if model == "compact" and sim.tabulated():
        raise ValueError("the compact deck carries the compact model's equations, but this simulator takes the "
                         f"channel current of {', '.join(sim.tabulated())} from IV tables: use a design with "
                         "iv_tables=False")
    xnor = getattr(sim, "circuit", "pcsa") == "xnor"
    if xnor and x is None:
        raise ValueError("the XNOR circuit needs the binary input x of every instance")
    r_bl = np.atleast_1d(np.asarray(r_bl, dtype=float))
    r_blb = np.atleast_1d(np.asarray(r_blb, dtype=float))
    n = r_bl.size
    dvt = np.broadcast_to(np.atleast_2d(np.asarray(dvt, dtype=float)), (n, len(sim.tables.mos)))
    dbeta = np.broadcast_to(np.atleast_2d(np.asarray(dbeta, dtype=float)), (n, len(sim.tables.mos)))
    tm = sim.design.timing
    t_rise, t_fall = float(tm.t_rise), float(tm.t_rise + tm.t_sense)
    t_min = t_fall + t_rise + float(tm.t_precharge)
    if t_cycle is None:
        tc = np.full(n, t_min)
    else:
        tc = np.atleast_1d(np.asarray(t_cycle, dtype=float)).copy()
        tc[~np.isfinite(tc)] = t_min
        tc = np.maximum(tc, t_fall + t_rise)
    t_stop = float(tc.max())
    vnl_bl = sim.rram.vnl(r_bl)
    vnl_blb = sim.rram.vnl(r_blb)
    ut = thermal_voltage(celsius_to_kelvin(temp_c))
    t_read = float(sim.read_windows_abs(None if window is None else [window])[0])
    tb = sim.tables
    jns = [] if model != "compact" else [(tb.node_name(x), tb.node_name(b), row)
                                         for (x, b), row in zip(*sim.jn_at(corner, temp_c))]
    ovs = [] if model != "compact" else [(tb.node_name(g), tb.node_name(x), row)
                                         for (g, x), row in zip(*sim.ov_at(corner))]
    if jns:  # the compact deck's junction charges (qj) need the looser Newton tolerance
        options = {**JUNCTION_OPTIONS, **(options or {})}
    if v_start is not None:
        v_start = np.asarray(v_start, dtype=float)
        if v_start.shape != (n, sim.tables.nv) or not np.all(np.isfinite(v_start)):
            raise ValueError(f"v_start must hold a finite voltage for each of the {n} instance(s) and each node "
                             f"{list(sim.tables.node_names)} (got shape {v_start.shape})")
    if drift:
        t_stop = DRIFT_T
    lines = _header(sim, model, vdd, temp_c, corner, n, t_rise, t_fall, t_stop, options, tmax, t_read, drift)
    names = [m.name for m in sim.tables.mos]
    cell = "1t1r" if ohmic_blb else "2t2r"
    mult = sim.tables.mos[names.index("ML_BL")].mult
    gmin = sim.design.gmin
    if model == "compact":
        keys = _XNOR_KEYS if xnor else _PCSA_KEYS
        sa = "pcsa_xnor_compact" if xnor else "pcsa_compact"
        lines += [model_file("ekv.lib"), model_file("rram.lib"), model_file(f"{sa}.sub"),
                  model_file(f"column_{cell}_compact.sub")]
        if xnor:
            x = np.broadcast_to(np.atleast_1d(np.asarray(x, dtype=int)), (n,))
        vt, isp = element_values(sim, temp_c, corner, dvt, dbeta)
        if np.any(isp <= 0):
            raise ValueError("current-factor shifts must keep every beta > 0 (dbeta > -1)")
        shapes = _shape_params(sim, _XNOR_GROUPS if xnor else _PCSA_GROUPS, temp_c, corner)
        st = _group_shape(sim, _COL_GROUP, temp_c, corner)
        cap, couplings = _split_caps(sim, corner)
        qi, qc = sim.qch_at(corner)
        cch = {names[int(i)]: float(c) for i, c in zip(qi, qc)}
        if cch and (cch.get("MP_PRE_Q") != cch.get("MP_PRE_QB") or cch.get("MA_BL") != cch.get("MA_BLB")
                    or set(cch) - {"MA_BL", "MA_BLB"} != {"MP_PRE_Q", "MP_PRE_QB", "MN_DIS"}):
            raise ValueError(f"the compact deck carries the channel charge of the precharge pair, the discharge "
                             f"device and the access pair only, each pair alike (got {sorted(cch)})")
        if any(bn not in ("GND", "VDD") for _, bn, _ in jns):
            raise ValueError(f"junction bulks must be GND or VDD (got {sorted({bn for _, bn, _ in jns})})")
        for k in range(n):
            nd = {x: f"{x.lower()}_{k}" for x in ("Q", "QB", "BL", "BLB", "SL")}
            lines.append(f"VDD{k} vdd_{k} 0 {_f(vdd)}")
            p = [f"{pre}_{keys[nm]}={_f(val)}" for nm in keys
                 for pre, val in (("vt", vt[k, names.index(nm)]), ("isp", isp[k, names.index(nm)]))]
            p += [shapes, f"ut={_f(ut)}",
                  f"cq={_f(cap['Q'])} cqb={_f(cap['QB'])} csl={_f(cap['SL'])} gmin={_f(gmin)}",
                  f"cch_pre={_f(cch.get('MP_PRE_Q', 0.0))} cch_dis={_f(cch.get('MN_DIS', 0.0))}"]
            ports = f"{nd['Q']} {nd['QB']} {nd['BL']} {nd['BLB']} {nd['SL']} se vdd_{k}"
            if xnor:
                lines += [f"VX{k} x_{k} 0 {_f(vdd * x[k])}", f"VXB{k} xb_{k} 0 {_f(vdd * (1 - x[k]))}"]
                p.append(f"csq={_f(cap['SQ'])} csqb={_f(cap['SQB'])}")
                ports += f" x_{k} xb_{k}"
            lines.append(f"XSA_{k} {ports} {sa} " + " ".join(p))
            c = [f"{pre}_{_COL_KEYS[nm]}={_f(val)}" for nm in _COL_KEYS
                 for pre, val in (("vt", vt[k, names.index(nm)]), ("isp", isp[k, names.index(nm)]))]
            c += [f"mult={_f(mult)} n_t={_f(st[0])} th_t={_f(st[1])} lam_t={_f(st[2])} eta_t={_f(st[3])} "
                  f"gam_t={_f(st[4])} phi_t={_f(st[5])} kb_t={_f(st[6])} gj_t={_f(st[7])} vs_t={_f(st[8])} "
                  f"ns_t={_f(st[9])} tau_t={_f(st[10])} dv0_t={_f(st[11])} ut={_f(ut)}", f"r_bl={_f(r_bl[k])} vnl_bl={_f(vnl_bl[k])} r_blb={_f(r_blb[k])}"]
            if not ohmic_blb:
                c.append(f"vnl_blb={_f(vnl_blb[k])}")
            c.append(f"cbl={_f(cap['BL'])} cblb={_f(cap['BLB'])} cm={_f(cap['M'])} cmb={_f(cap['MB'])} "
                     f"gmin={_f(gmin)}")
            if cch.get("MA_BL", 0.0):  # (absent: the subcircuit's default 0, and deck texts as before)
                c.append(f"cch_a={_f(cch['MA_BL'])}")
            lines.append(f"XCOL_{k} {nd['BL']} {nd['BLB']} {nd['SL']} wl col{cell}_compact " + " ".join(c))
            for j, (a, b, cval) in enumerate(couplings):
                lines.append(f"CC{j}_{k} {_node_ref(a, k)} {_node_ref(b, k)} {_f(cval)}")
            for j, (xn, bn, jp) in enumerate(jns):
                lines.append(f"XJ{j}_{k} {_deck_node(xn, k)} {_deck_node(bn, k)} qj "
                             f"pol={_f(jp[0])} c0={_f(jp[1])} mj={_f(jp[2])} pb={_f(jp[3])} cl={_f(jp[4])}")
            for j, (gn, xn, op) in enumerate(ovs):
                lines.append(f"XO{j}_{k} {_deck_node(gn, k)} {_deck_node(xn, k)} qov pol={_f(op[0])} c0={_f(op[1])} "
                             f"c1={_f(op[2])} kappa={_f(op[3])} cc={_f(op[4])}")
            lines.append(_start_line(sim, k, vdd, v_start))
    else:
        sa = "pcsa_xnor_sky130" if xnor else "pcsa_sky130"
        keys = _XNOR_KEYS if xnor else _PCSA_KEYS
        lines += [sky130_text(str(corner)), model_file("rram.lib"), model_file(f"{sa}.sub"),
                  model_file(f"column_{cell}_sky130.sub")]
        if xnor:
            x = np.broadcast_to(np.atleast_1d(np.asarray(x, dtype=int)), (n,))
        d = sim.design
        um = 1e6
        geo = {}
        for key, size in (("pre", d.mp_pre), ("xp", d.mp_x), ("xn", d.mn_x), ("dis", d.mn_dis),
                          ("a", d.access), ("px", d.mn_pass)):
            w, l_ = size.w * um, size.l * um
            geo[key] = (f"w_{key}={_f(w)} l_{key}={_f(l_)} ad_{key}={_f(w * DIFF_EXT_UM)} "
                        f"pd_{key}={_f(2 * (w + DIFF_EXT_UM))}")
        pol = {m.name: (-1.0 if m.family == "pmos" else 1.0) for m in sim.tables.mos}
        ec = extra_caps(d)  # the non-device capacitances (BSIM4 has the devices')
        for k in range(n):
            nd = {x: f"{x.lower()}_{k}" for x in ("Q", "QB", "BL", "BLB", "SL")}
            lines.append(f"VDD{k} vdd_{k} 0 {_f(vdd)}")
            p = [f"{pre}_{keys[nm]}={_f(val)}" for nm in keys
                 for pre, val in (("dvt", pol[nm] * dvt[k, names.index(nm)]),
                                  ("mu", 1.0 + dbeta[k, names.index(nm)]))]
            p += [geo["pre"], geo["xp"], geo["xn"], geo["dis"]] + ([geo["px"]] if xnor else []) + [
                  f"cq={_f(ec['Q'])} cqb={_f(ec['QB'])} csl={_f(ec['SL'])} gmin={_f(gmin)}"]
            ports = f"{nd['Q']} {nd['QB']} {nd['BL']} {nd['BLB']} {nd['SL']} se vdd_{k}"
            if xnor:
                lines += [f"VX{k} x_{k} 0 {_f(vdd * x[k])}", f"VXB{k} xb_{k} 0 {_f(vdd * (1 - x[k]))}"]
                ports += f" x_{k} xb_{k}"
            lines.append(f"XSA_{k} {ports} {sa} " + " ".join(p))
            c = [f"{pre}_{_COL_KEYS[nm]}={_f(val)}" for nm in _COL_KEYS
                 for pre, val in (("dvt", dvt[k, names.index(nm)]), ("mu", 1.0 + dbeta[k, names.index(nm)]))]
            c += [geo["a"], f"mult={_f(mult)}",
                  f"r_bl={_f(r_bl[k])} vnl_bl={_f(vnl_bl[k])} r_blb={_f(r_blb[k])}"]
            if not ohmic_blb:
                c.append(f"vnl_blb={_f(vnl_blb[k])}")
            c.append(f"cbl={_f(ec['BL'])} cblb={_f(ec['BLB'])} cm={_f(ec['M'])} cmb={_f(ec['MB'])} gmin={_f(gmin)}")
            lines.append(f"XCOL_{k} {nd['BL']} {nd['BLB']} {nd['SL']} wl col{cell}_sky130 " + " ".join(c))
            lines.append(_start_line(sim, k, vdd, v_start))
    lines.append(".end")
    return Deck(text="\n".join(lines) + "\n", model=model, n=n, vdd=float(vdd), t_rise=t_rise,
                t_fall=t_fall, t_stop=t_stop, t_cycle=tc, t_read=t_read)


def _segments(t, bps):
    """Index ranges of ``t`` between consecutive breakpoints (the waveform is smooth inside each)."""
    cuts = [0] + [int(np.searchsorted(t, b, side="right")) for b in bps] + [t.size]
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        a0 = max(a - 1, 0)  # start at the breakpoint sample itself
        if b - a0 >= 2:
            out.append((a0, b))
    return out


def _spline(t, y):
    from scipy.interpolate import CubicSpline
    if t.size >= 4:
        return CubicSpline(t, y, bc_type="not-a-knot")
    return None


def _first_fall(t, v, level, t_end, bps=()):
    """First time v falls through ``level`` at t <= t_end; NaN if none or if it starts below the level
    (as the kernel).  Located on the bracketing interval with a cubic spline through the time points of
    the smooth segment (between SE breakpoints), as the kernel's Hermite interpolation; linear if the
    segment has fewer than 4 points."""
    m = t <= t_end * (1 + 1e-12)
    t, v = t[m], v[m]
    if v.size < 2 or v[0] < level:
        return math.nan
    idx = np.nonzero((v[:-1] >= level) & (v[1:] < level))[0]
    if idx.size == 0:
        return math.nan
    i = int(idx[0])
    tl = float(t[i] + (level - v[i]) * (t[i + 1] - t[i]) / (v[i + 1] - v[i]))
    for a, b in _segments(t, [x for x in bps if x < t_end]):
        if a <= i and i + 1 < b:
            cs = _spline(t[a:b], v[a:b])
            if cs is None:
                return tl
            lo, hi = float(t[i]), float(t[i + 1])
            flo = float(cs(lo)) - level
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                fm = float(cs(mid)) - level
                if (fm > 0) == (flo > 0):
                    lo, flo = mid, fm
                else:
                    hi = mid
            return 0.5 * (lo + hi)
    return tl


def _integral(t, y, t_end, bps=()):
    """Integral of y over [0, t_end]: cubic spline through the time points of each smooth segment
    (between SE breakpoints), trapezoidal where a segment has fewer than 4 points."""
    total = 0.0
    for a, b in _segments(t, [x for x in bps if x < t_end]):
        ts, ys = t[a:b], y[a:b]
        lo = float(ts[0])
        if lo >= t_end:
            break
        hi = min(float(ts[-1]), t_end)
        cs = _spline(ts, ys)
        if cs is not None:
            total += float(cs.integrate(lo, hi))
        else:
            m = ts < hi
            tt = np.append(ts[m], hi)
            yy = np.append(ys[m], np.interp(hi, ts, ys))
            total += float(np.sum(0.5 * (yy[1:] + yy[:-1]) * np.diff(tt)))
    return total


def measure(deck: Deck, vecs: dict) -> dict:
    """The kernel's outputs from one run's vectors: arrays ``v_q, v_qb, t_fall_q, t_fall_qb, delay,
    energy, decision`` and ``v_q0, v_qb0`` (one entry per instance of the deck).  ``v_q``/``v_qb`` are read
    at ``deck.t_read`` (a breakpoint of the SE source, so a time point of the run); ``v_q0``/``v_qb0`` at
    t = 0, the DC operating point with SE = 0 (the precharged state)."""
    t = np.asarray(vecs["time"], dtype=float).real
    n = deck.n
    out = {k: np.full(n, np.nan) for k in ("v_q", "v_qb", "t_fall_q", "t_fall_qb", "delay", "energy",
                                           "v_q0", "v_qb0")}
    vth = 0.5 * deck.vdd
    t_read = deck.t_fall if deck.t_read is None else deck.t_read
    bps = (deck.t_rise, deck.t_fall, deck.t_fall + deck.t_rise)
    for k in range(n):
        vq = np.asarray(vecs[f"v(q_{k})"]).real
        vqb = np.asarray(vecs[f"v(qb_{k})"]).real
        out["v_q"][k] = np.interp(t_read, t, vq)
        out["v_qb"][k] = np.interp(t_read, t, vqb)
        out["v_q0"][k], out["v_qb0"][k] = vq[0], vqb[0]
        tf = [_first_fall(t, vq, vth, deck.t_fall, bps), _first_fall(t, vqb, vth, deck.t_fall, bps)]
        tf = [x - 0.5 * deck.t_rise for x in tf]
        out["t_fall_q"][k], out["t_fall_qb"][k] = tf
        ok = [x for x in tf if not math.isnan(x)]
        out["delay"][k] = min(ok) if ok else math.nan
        i_drawn = -np.asarray(vecs[f"i(vdd{k})"]).real  # branch current flows + -> - through the source
        out["energy"][k] = deck.vdd * _integral(t, i_drawn, deck.t_cycle[k], bps)
    out["decision"] = decode_binary(out["v_q"], out["v_qb"], deck.vdd).astype(int)
    return out


def drift_states(sim, vdd, temp_c, corner, dvt, dbeta, r_bl, r_blb, ohmic_blb=False, model="compact",
                 options=None, x=None, timeout: float | None = 600.0) -> np.ndarray:
    """The state each instance reaches with SE held low for :data:`arraysim.kernels.transient.DRIFT_T` seconds
    from the kernel's DC guess (Q = QB = VDD, every other node VDD/2; ``.ic`` on every node): the start state
    of an instance whose operating point is not precharged, as the kernel's
    :func:`arraysim.kernels.transient.dc_operating_point` defines it, with :data:`DRIFT_OPTIONS` (``options``
    override them; if that run fails, once more with the family's own tolerances).  Returns (instances x
    ``sim.tables.node_names``) voltages; raises :class:`arraysim.spice.runner.SpiceError` if the run fails."""
    from .runner import run

    n = np.atleast_1d(np.asarray(r_bl)).size
    guess = np.full((n, sim.tables.nv), 0.5 * float(vdd))
    guess[:, sim.tables.out_nodes] = float(vdd)
    from .runner import SpiceError
    try:
        deck = build_deck(sim, vdd, temp_c, corner, dvt, dbeta, r_bl, r_blb, ohmic_blb, model,
                          options={**DRIFT_OPTIONS, **(options or {})}, x=x, v_start=guess, drift=True)
        vecs = run(deck.text, timeout=timeout)
    except SpiceError:  # e.g. "timestep too small" at the tight tolerances: the family's own
        deck = build_deck(sim, vdd, temp_c, corner, dvt, dbeta, r_bl, r_blb, ohmic_blb, model, options=options, x=x,
                          v_start=guess, drift=True)
        vecs = run(deck.text, timeout=timeout)
    return np.array([[float(np.asarray(vecs[f"v({_node_ref(nm, k)})"]).real[-1]) for nm in sim.tables.node_names]
                     for k in range(n)])


def simulate(sim, vdd, temp_c, corner, dvt, dbeta, r_bl, r_blb, ohmic_blb=False, model="compact",
             t_cycle=None, batch: int = 1, timeout: float | None = 600.0, options=None, tmax=None,
             progress=None, x=None, window=None, drift=True, drift_also=None) -> dict:
    """Run instances through ngspice, ``batch`` copies per deck.  Returns arrays ``v_q, v_qb, t_fall_q,
    t_fall_qb, delay, energy, decision, v_q0, v_qb0`` (:func:`measure`) and ``status`` (``'ok'`` or the failure, one line) and
    ``seconds`` (wall time of the ngspice runs).  A deck that fails is retried one instance at a time so
    that a non-converging instance is reported alone, and an instance that fails alone is retried once
    with the largest time step cut to ``RETRY_TMAX`` (``retried``: True for those); failures never raise.

    Start state (as the kernel's): ngspice's operating point (``.nodeset`` Q = QB = VDD) where it is precharged
    (both outputs at least :data:`arraysim.kernels.transient.PRECHARGED` x VDD); an instance whose operating
    point is not is run again from the state the SE = 0 drift reaches (:func:`drift_states`; ``drift_start``:
    True for those; ``drift=False``: never).  ``drift_also``: (instances,) bool, instances to run from the drift
    even where ngspice's operating point is precharged -- e.g. those whose start the kernel found not
    precharged: from Q = QB = VDD the drift ends at the precharged point where that point is the stable one
    reached, so drifting more instances than needed only costs time, and both simulators then start from
    the state the definition gives for their own circuit.  ``options`` (see :func:`build_deck`) apply to the read
    decks; the drift decks keep :data:`DRIFT_OPTIONS`."""
    import time

    from .runner import SpiceError, run

    r_bl = np.atleast_1d(np.asarray(r_bl, dtype=float))
    r_blb = np.atleast_1d(np.asarray(r_blb, dtype=float))
    n = r_bl.size
    m = len(sim.tables.mos)
    dvt = np.broadcast_to(np.atleast_2d(np.asarray(dvt, dtype=float)), (n, m))
    dbeta = np.broadcast_to(np.atleast_2d(np.asarray(dbeta, dtype=float)), (n, m))
    tc = np.full(n, np.nan) if t_cycle is None else np.atleast_1d(np.asarray(t_cycle, dtype=float))
    res = {k: np.full(n, np.nan) for k in ("v_q", "v_qb", "t_fall_q", "t_fall_qb", "delay", "energy",
                                           "v_q0", "v_qb0")}
    res["decision"] = np.zeros(n, dtype=int)
    res["status"] = np.array(["not_run"] * n, dtype=object)
    t0 = time.perf_counter()

    res["retried"] = np.zeros(n, dtype=bool)
    res["drift_start"] = np.zeros(n, dtype=bool)
    xs = None if x is None else np.broadcast_to(np.asarray(x), (n,))
    v_start = np.full((n, sim.tables.nv), np.nan)

    def one(idx, tmax=tmax):
        vs = v_start[idx] if np.all(res["drift_start"][idx]) else None
        deck = build_deck(sim, vdd, temp_c, corner, dvt[idx], dbeta[idx], r_bl[idx], r_blb[idx],
                          ohmic_blb, model, None if t_cycle is None else tc[idx], options, tmax,
                          None if xs is None else xs[idx], window, v_start=vs)
        vecs = run(deck.text, timeout=timeout)
        got = measure(deck, vecs)
        for key in got:
            res[key][idx] = got[key]
        res["status"][idx] = "ok"

    def alone(i, run_first=True):
        try:
            if not run_first:
                raise SpiceError("failed in its own deck")
            one(np.array([i]))
        except SpiceError:
            try:  # e.g. "out of range for sinh": a Newton overshoot on a long step
                one(np.array([i]), tmax=min(tmax or DEFAULT_TMAX, RETRY_TMAX))
                res["retried"][i] = True
            except SpiceError as e1:
                res["status"][i] = "spice_failed: " + " | ".join(str(e1).splitlines()[:4])

    def sweep(todo, report):
        b = max(1, int(batch))
        for s in range(0, todo.size, b):
            idx = todo[s:s + b]
            try:
                one(idx)
            except SpiceError:
                for i in idx:
                    alone(i, run_first=idx.size > 1)
            if report and progress is not None:
                progress(min(n, s + b), n)

    sweep(np.arange(n), True)
    if drift:
        also = np.broadcast_to(np.asarray(False if drift_also is None else drift_also, dtype=bool), (n,))
        redo = np.nonzero((res["status"] == "ok") & ((res["v_q0"] < PRECHARGED * vdd)
                                                     | (res["v_qb0"] < PRECHARGED * vdd) | also))[0]
        for s in range(0, redo.size, max(1, int(batch))):
            idx = redo[s:s + max(1, int(batch))]
            try:
                v_start[idx] = drift_states(sim, vdd, temp_c, corner, dvt[idx], dbeta[idx], r_bl[idx], r_blb[idx],
                                            ohmic_blb, model, None, None if xs is None else xs[idx], timeout)
            except SpiceError as e:
                for i in idx:
                    res["status"][i] = "spice_failed: SE = 0 drift: " + " | ".join(str(e).splitlines()[:4])
                continue
            res["drift_start"][idx] = True
            sweep(idx, False)
    res["seconds"] = time.perf_counter() - t0
    return res

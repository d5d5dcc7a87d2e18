"""The precharge sense amplifier (PCSA) reading a 2T2R cell or a 1T1R cell against a reference.

Topology (physics.md section 1.2; node names as in the SPICE netlists)::

    VDD --MP_PRE_Q(g=SE)-- Q --MN_X_Q(g=QB)-- BL --MA_BL(g=WL)-- M  --R_BL--  SL --MN_DIS(g=SE)-- GND
    VDD --MP_X_Q(g=QB)---- Q
    VDD --MP_PRE_QB(g=SE)- QB --MN_X_QB(g=Q)- BLB --MA_BLB(g=WL)- MB --R_BLB-- SL
    VDD --MP_X_QB(g=Q)---- QB
    BL  --ML_BL (rows-1 unselected access transistors in parallel, g=GND)-- SL   (leakage)
    BLB --ML_BLB(rows-1, g=GND)-- SL

The access transistor's drain sits on the bit line (physics.md: "a bit line with N rows carries N drain
junctions"); its source node M connects through the RRAM to the source line SL, which both columns share
at the drain of the discharge transistor.  The N-1 unselected cells of a column are lumped as one
transistor of multiplicity N-1 with its gate at 0 V from BL to SL; the voltage across their RRAMs is
neglected (their off current is pA..nA, the RRAM drop micro-volts), and so is the time constant with which
their cell nodes follow SL (HRS median 60 kOhm x ~0.45 fF ~ 30 ps against a 5 ns precharge): their source
junctions and cell-node capacitances (``c_cell_node``) are on SL, 2 (N-1) of each.  For a 1T1R read, R_BLB
is an ohmic reference resistor behind an identical access transistor.

XNOR variant (1908.04066, physics.md section 1.3): the sources of the cross-coupled NMOS become their
own nodes SQ/SQB, joined to the bit lines by four pass NMOS driven by the binary input X and its
complement: X = 1 connects SQ-BL and SQB-BLB (the plain read), X = 0 crosses them (SQ-BLB, SQB-BL), so
the latched output is XNOR(X, W).  The pass gates are driven at the sense-amplifier supply.

Capacitances follow from the device sizes and the technology's C_ox, overlap and junction capacitances (see
:func:`node_caps`, :func:`capacitance`): lumped to ground by default, with gate overlaps between gate and
drain/source with ``overlap_coupling``, with voltage-dependent junctions with ``junction_charge``; a device whose
technology table holds the foundry model's intrinsic charges carries those instead of its constant gate
capacitance and channel-charge model (``charge_tables``, :func:`charge_tabulated`).

Every transistor takes the parameter set of its size (:meth:`Technology.device`: the technology's bin for
that family and W x L when it has one, else the family default); see :func:`device_params`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..cmos.params import MosParams, Technology

NODES = ("Q", "QB", "BL", "BLB", "M", "MB", "SL")
FIXED = ("GND", "VDD", "SE", "WL")
NODES_XNOR = ("Q", "QB", "SQ", "SQB", "BL", "BLB", "M", "MB", "SL")
FIXED_XNOR = FIXED + ("X", "XB")
OUT_NODES = ("Q", "QB")
CHANNEL_CHARGE_GATES = ("SE", "WL")
"""Gates of the transistors whose channel charge ``PCSADesign.channel_charge`` models (:func:`channel_charges`)."""
CIRCUITS = ("pcsa", "xnor")


@dataclass(frozen=True)
class Size:
    w: float
    l: float


@dataclass(frozen=True)
class Timing:
    """Read-cycle timing.  SE rises 0 -> VDD in ``t_rise`` starting at t = 0 (sense), stays high for
    ``t_sense`` (the sense window; outputs are read at its end), falls in ``t_rise`` and the circuit
    precharges for at least ``t_precharge`` and then until both outputs are back at their precharged DC
    values (within ``Tolerances.settle_rel * VDD``), at most ``t_precharge_max``."""

    t_rise: float = 50e-12
    t_sense: float = 20e-9
    t_precharge: float = 5e-9
    t_precharge_max: float = 1e-6


@dataclass(frozen=True)
class PCSADesign:
    """Sizes, parasitics, array geometry and timing of the sense amplifier and its column.

    Sizes are typical for a 130 nm PCSA (not from a published layout): minimum-length core devices, the
    cross-coupled NMOS wider than the PMOS for a lower offset, a wide discharge switch, and a thick-oxide
    access transistor (L = 0.5 um).
    """

    mp_pre: Size = Size(0.4e-6, 0.13e-6)
    mp_x: Size = Size(0.4e-6, 0.13e-6)
    mn_x: Size = Size(0.6e-6, 0.13e-6)
    mn_dis: Size = Size(1.0e-6, 0.13e-6)
    mn_pass: Size = Size(0.6e-6, 0.13e-6)
    """XNOR input pass transistors (four, core NMOS)."""
    access: Size = Size(0.6e-6, 0.5e-6)
    rows: int = 32
    """Rows per column (cells on each bit line)."""
    c_wire_row: float = 0.15e-15
    """Bit-line (and source-line) wire capacitance per row [F]."""
    c_cell_node: float = 0.2e-15
    """Extra capacitance of a cell's access-transistor/RRAM node (via, electrode) [F]: on M/MB for the selected
    cell, on SL for the 2 (rows - 1) unselected ones (behind their RRAMs; see the module text)."""
    c_load: float = 1.0e-15
    """Load on each output (next-stage latch/inverter input) [F]."""
    v_wl: float | None = None
    """Word-line voltage during the read [V]; None = the technology's nominal supply (the word-line driver
    has its own supply: thick-oxide access transistors need more than a near-threshold SA supply)."""
    r_ref: float | None = None
    """Reference resistance of a 1T1R read [Ohm]; None = geometric mean of the LRS and HRS medians."""
    gmin: float = 1e-12
    """Conductance from every node to ground [S] (as SPICE's gmin)."""
    timing: Timing = field(default_factory=Timing)
    overlap_coupling: bool = False
    """False: every capacitance lumped to ground, the gate overlaps only at the gate node (inside
    ``gate_cap``).  True: the gate overlap capacitance ``cov * W`` of every transistor on both its drain and
    its source side (times its multiplicity) as a capacitor between gate and drain / source: between two
    unknown nodes a coupling (Miller) capacitor, to a DC rail (GND, VDD, WL, X) a grounded capacitor, to
    SE a coupling to the sense-enable waveform; the gate node's grounded cap keeps only the channel part
    ``cox * W * L``.  See :func:`capacitance`."""
    channel_charge: bool = False
    """True: the transistors whose gate is the sense-enable clock (the two precharge PMOS and the discharge
    NMOS) carry their channel charge, a nonlinear function of their terminal voltages (see
    :func:`channel_charges` and ``arraysim.kernels.transient``): when SE rises the precharge PMOS's channel
    empties into the outputs (charge injection), and the discharge NMOS's channel fills from the source
    line.  A constant capacitance cannot stand for it: the channel exists only while the device is on,
    i.e. for SE below VDD - |V_T| -- most of the SE swing at 1.8 V, a small part of it near threshold.
    False: their channel capacitance is not modelled (the gate is a driven node).  The selected access
    transistors (gate on the word line, strongly inverted during the read) carry theirs too: as the bit line
    and the cell node fall, their channel takes up charge from the word line (stop 19: the delay of a SKY130
    read at 0.8 V, 27 degC, +3 %, closer to BSIM4).  The default follows ``overlap_coupling``
    (:meth:`for_technology`)."""
    junction_charge: bool = True
    """True: every drain/source junction of a device whose parameter set has a junction law
    (``MosParams.cj0``, e.g. the calibrated ``sky130``) holds the charge of that law, a function of its
    reverse bias (see :func:`junction_table`): the bit lines and the source line swing over only part of the
    supply, where the junction capacitance is larger than its 0..VDD average.  Technologies without a law
    (``generic130``) are not affected.  False: the constant ``cj`` everywhere."""
    overlap_charge: bool = True
    """True (with ``overlap_coupling``): every gate overlap of a device whose parameter set has an overlap law
    (``MosParams.cgdo``, e.g. the calibrated ``sky130``) holds the charge of BSIM4's bias-dependent law (see
    :func:`overlap_table`): the overlap of an off device at a low drain voltage is larger than the constant
    ``cov W`` (SKY130's thick NMOS 0.6/0.5 um: 189 aF at V_GD = 0, 176 aF at -0.9 V), which matters on the
    bit lines with their 31 unselected cells each.  Technologies without a law (``generic130``) are not
    affected.  False: the constant ``cov W`` everywhere."""
    iv_tables: bool = True
    """True: a transistor whose family, size and corner have a table in the technology
    (``Technology.iv_tables``, e.g. the calibrated ``sky130``) takes its DC channel current from the table of
    the foundry model (:mod:`arraysim.cmos.ivtables`) instead of the compact model's equation.  Technologies
    without tables (``generic130``) are not affected.  False: the compact model for every transistor."""
    charge_tables: bool = True
    """True (with ``iv_tables``): a transistor whose table also holds the foundry model's intrinsic charges
    (gate, drain, source; BSIM4's ``qg``, ``qd``, ``qs``, :mod:`arraysim.cmos.ivtables`) carries them as
    nonlinear functions of its four terminal voltages, in place of its constant gate capacitance and of the
    channel-charge model of ``channel_charge`` (the overlap and junction capacitances stay as they are):
    see :func:`charge_tabulated`.  False: the constant gate capacitances and ``channel_charge``'s model."""

    def with_(self, **kw) -> "PCSADesign":
        return dataclasses.replace(self, **kw)

    @classmethod
    def for_technology(cls, tech) -> "PCSADesign":
        """The default design with every core length set to ``tech.l_min`` and the access transistor's
        to ``tech.l_min_thick``; widths unchanged except that none is below ``tech.w_min``; the gate overlaps
        and the clocked devices' channel charge as the technology chooses (``tech.overlap_coupling``)."""
        oc = bool(getattr(tech, "overlap_coupling", False))
        d = cls(overlap_coupling=oc, channel_charge=oc)
        wmin = getattr(tech, "w_min", 0.0)
        core = {k: Size(max(getattr(d, k).w, wmin), tech.l_min)
                for k in ("mp_pre", "mp_x", "mn_x", "mn_dis", "mn_pass")}
        return dataclasses.replace(d, access=Size(max(d.access.w, wmin), tech.l_min_thick), **core)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Transistor:
    name: str
    family: str  # "nmos" | "pmos" | "nmos_thick"
    d: str
    g: str
    s: str
    b: str
    size: Size
    mult: float = 1.0
    mismatch: bool = True


def transistors(design: PCSADesign, circuit: str = "pcsa") -> tuple[Transistor, ...]:
    a = design.access
    if circuit == "xnor":
        p = design.mn_pass
        return transistors(design, "pcsa")[:4] + (
            Transistor("MN_X_Q", "nmos", "Q", "QB", "SQ", "GND", design.mn_x),
            Transistor("MN_X_QB", "nmos", "QB", "Q", "SQB", "GND", design.mn_x),
            Transistor("MX_Q_BL", "nmos", "SQ", "X", "BL", "GND", p),
            Transistor("MX_Q_BLB", "nmos", "SQ", "XB", "BLB", "GND", p),
            Transistor("MX_QB_BLB", "nmos", "SQB", "X", "BLB", "GND", p),
            Transistor("MX_QB_BL", "nmos", "SQB", "XB", "BL", "GND", p),
        ) + transistors(design, "pcsa")[6:]
    if circuit != "pcsa":
        raise ValueError(f"unknown circuit {circuit!r}; allowed: {', '.join(CIRCUITS)}")
    return (
        Transistor("MP_PRE_Q", "pmos", "Q", "SE", "VDD", "VDD", design.mp_pre),
        Transistor("MP_PRE_QB", "pmos", "QB", "SE", "VDD", "VDD", design.mp_pre),
        Transistor("MP_X_Q", "pmos", "Q", "QB", "VDD", "VDD", design.mp_x),
        Transistor("MP_X_QB", "pmos", "QB", "Q", "VDD", "VDD", design.mp_x),
        Transistor("MN_X_Q", "nmos", "Q", "QB", "BL", "GND", design.mn_x),
        Transistor("MN_X_QB", "nmos", "QB", "Q", "BLB", "GND", design.mn_x),
        Transistor("MN_DIS", "nmos", "SL", "SE", "GND", "GND", design.mn_dis),
        Transistor("MA_BL", "nmos_thick", "BL", "WL", "M", "GND", a),
        Transistor("MA_BLB", "nmos_thick", "BLB", "WL", "MB", "GND", a),
        Transistor("ML_BL", "nmos_thick", "BL", "GND", "SL", "GND", a, mult=design.rows - 1, mismatch=False),
        Transistor("ML_BLB", "nmos_thick", "BLB", "GND", "SL", "GND", a, mult=design.rows - 1,
                   mismatch=False),
    )


RRAMS = (("R_BL", "M", "SL"), ("R_BLB", "MB", "SL"))


def family(tech: Technology, name: str) -> MosParams:
    """The family default parameter set (not size-specific: use :func:`device_params` for a transistor)."""
    return {"nmos": tech.nmos, "pmos": tech.pmos, "nmos_thick": tech.nmos_thick}[name]


def charge_tabulated(design: PCSADesign, tech: Technology, fam: str, size: Size, corner=None) -> bool:
    """True when the devices of family ``fam`` and ``size`` take their intrinsic charges from the technology's
    table at ``corner`` (None: tt): ``design.iv_tables`` and ``design.charge_tables``, and the table exists and
    holds charges.  Such a device has no constant gate capacitance (:func:`node_caps`) and no channel-charge
    entry (:func:`channel_charges`): the kernel takes its charges from the table."""
    ivt = getattr(tech, "iv_tables", None)
    if ivt is None or not (design.iv_tables and design.charge_tables):
        return False
    t = ivt.find(fam, size.w, size.l, "tt" if corner is None else corner)
    return t is not None and t.qg is not None


def device_params(tech: Technology, m: Transistor, corner=None) -> MosParams:
    """Parameter set of transistor ``m``: the technology's bin for its family and size (the bin's own set at
    ``corner`` when it has one), else the family default."""
    return tech.device(m.family, m.size.w, m.size.l, corner)


# design field -> family (the devices of transistors())
DESIGN_DEVICES = (("mp_pre", "pmos"), ("mp_x", "pmos"), ("mn_x", "nmos"), ("mn_dis", "nmos"),
                  ("mn_pass", "nmos"), ("access", "nmos_thick"))


def device_sizes(design: PCSADesign) -> tuple[tuple[str, float, float], ...]:
    """Distinct (family, W, L) of the design's transistors (both circuits), in the order of
    :data:`DESIGN_DEVICES` (the first size of each family is its cross-coupled / precharge / access
    device)."""
    out: list[tuple[str, float, float]] = []
    for key, fam in DESIGN_DEVICES:
        sz = getattr(design, key)
        if not any(f == fam and abs(w - sz.w) <= 1e-12 and abs(l - sz.l) <= 1e-12 for f, w, l in out):
            out.append((fam, sz.w, sz.l))
    return tuple(out)


def source_on_bulk_sizes(design: PCSADesign) -> tuple[tuple[str, float, float], ...]:
    """The (family, W, L) of :func:`device_sizes` whose every transistor, in every circuit, has its source on
    its bulk rail (an NMOS source on GND, a PMOS source on VDD): such a device only ever works at V_SB = 0
    (the precharge and cross-coupled PMOS, the discharge NMOS; not the cross-coupled NMOS, whose sources are
    the bit lines, nor the access devices)."""
    ts = [m for c in CIRCUITS for m in transistors(design, c)]
    out = []
    for f, w, l in device_sizes(design):
        same = [m for m in ts if m.family == f and abs(m.size.w - w) <= 1e-12 and abs(m.size.l - l) <= 1e-12]
        if same and all(m.s == m.b for m in same):
            out.append((f, w, l))
    return tuple(out)


def junction_sites(design: PCSADesign, circuit: str = "pcsa") -> list[tuple[str, str, str, float]]:
    """Every drain/source junction on an unknown node: (node, bulk rail, design device key of
    :data:`DESIGN_DEVICES`, count of such junctions).  The one list :func:`junctions` (capacitances, charges)
    and the tabulated junction diodes (:meth:`ReadSimulator.tabs_at`) are built from.  The unselected cells'
    sources sit on their own cell nodes, each joined to SL by its RRAM; with the RRAM drop neglected (as for
    their leakage: the lumped transistor runs from BL to SL) their source junctions are on SL, 2 (rows - 1) of
    them (the SPICE decks' lumped unselected transistor carries its source junction, AS = AD)."""
    d = design
    out = []
    for q in ("Q", "QB"):  # precharge PMOS and latch PMOS drains (bulk VDD), latch NMOS drain
        out += [(q, "VDD", "mp_pre", 1.0), (q, "VDD", "mp_x", 1.0), (q, "GND", "mn_x", 1.0)]
    for bl, m in (("BL", "M"), ("BLB", "MB")):
        if circuit == "xnor":  # the latch NMOS source is SQ/SQB, joined to both bit lines by pass devices
            sq = "SQ" if bl == "BL" else "SQB"
            out += [(sq, "GND", "mn_x", 1.0), (sq, "GND", "mn_pass", 2.0), (bl, "GND", "mn_pass", 2.0)]
        else:
            out.append((bl, "GND", "mn_x", 1.0))
        # drains of the column's access transistors (the selected one and the unselected rows)
        out += [(bl, "GND", "access", float(d.rows)), (m, "GND", "access", 1.0)]
    out.append(("SL", "GND", "mn_dis", 1.0))
    if d.rows > 1:  # the unselected cells' sources (cell nodes behind their RRAMs, see above), both columns
        out.append(("SL", "GND", "access", 2.0 * (d.rows - 1)))
    return out


def junctions(design: PCSADesign, tech: Technology, circuit: str = "pcsa",
              corner=None) -> list[tuple[str, str, MosParams, float]]:
    """Every drain/source junction on an unknown node (:func:`junction_sites`): (node, bulk rail, the device's
    parameter set, total width [m] (times the count of such junctions)).  With a ``corner``, each set's junction
    capacitances (``cj``, ``cj0``) take that corner's junction-capacitance factor (``DeviceShift.cj`` of the
    device; 1 for technologies that do not give one)."""
    def dev(key):
        fam = dict(DESIGN_DEVICES)[key]
        sz = getattr(design, key)
        p = tech.device(fam, sz.w, sz.l)
        if corner is None:
            return p
        f = tech.device_shift(fam, sz.w, sz.l, corner).cj
        return p if f == 1.0 else dataclasses.replace(p, cj=p.cj * f, cj0=p.cj0 * f)

    return [(node, bulk, dev(key), count * getattr(design, key).w)
            for node, bulk, key, count in junction_sites(design, circuit)]


def extra_caps(design: PCSADesign) -> dict[str, float]:
    """The non-device capacitances [F] of :func:`node_caps` (what the SKY130 decks add to BSIM4's devices): the
    load on each output, the bit-line wires, the selected cell's node on M/MB, and on SL both columns' wires and
    the unselected cells' nodes, each behind its RRAM (its drop neglected; see the module text)."""
    d = design
    wire_bl = d.rows * d.c_wire_row
    return {"Q": d.c_load, "QB": d.c_load, "BL": wire_bl, "BLB": wire_bl, "M": d.c_cell_node, "MB": d.c_cell_node,
            "SL": 2 * d.rows * d.c_wire_row + 2 * (d.rows - 1) * d.c_cell_node}


def node_caps(design: PCSADesign, tech: Technology, circuit: str = "pcsa", corner=None) -> dict[str, float]:
    """Grounded capacitance of every unknown node [F] (each device with the parameters of its size): gate
    capacitances, the constant junction capacitances ``cj * W`` of :func:`junctions`, wires, cell node and
    load.  With ``design.overlap_coupling`` the gate overlaps are not included here (see
    :func:`capacitance`).  ``corner``: junction capacitances of that corner (:func:`junctions`)."""
    xp = tech.device("pmos", design.mp_x.w, design.mp_x.l)
    xn = tech.device("nmos", design.mn_x.w, design.mn_x.l)

    def gate(p, sz):  # with explicit overlap capacitors (capacitance()) only the channel part is grounded
        return p.cox * sz.w * sz.l if design.overlap_coupling else p.gate_cap(sz.w, sz.l)

    nodes = NODES_XNOR if circuit == "xnor" else NODES
    caps = dict.fromkeys(nodes, 0.0)
    for node, _, p, w in junctions(design, tech, circuit, corner):
        caps[node] += p.junction_cap(w)
    # the cross-coupled gates (on Q and QB), unless their charges come from the tables
    c_gate = sum(gate(p, sz) for p, fam, sz in ((xp, "pmos", design.mp_x), (xn, "nmos", design.mn_x))
                 if not charge_tabulated(design, tech, fam, sz, corner))
    for n, c in extra_caps(design).items():
        caps[n] += (c_gate + c) if n in ("Q", "QB") else c  # the cross-coupled gates sit on the outputs
    return caps


def junction_table(design: PCSADesign, tech: Technology, circuit: str = "pcsa",
                   corner=None, temp_k: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The junctions whose charge the kernel models (``design.junction_charge``; those of :func:`junctions`
    whose parameter set has a junction law): ``nodes`` (k, 2) int -- the junction's node and its bulk rail,
    node indices of :func:`build_tables` -- and ``par`` (k, 5) -- polarity (+1 NMOS, -1 PMOS), zero-bias
    capacitance ``cj0 W`` [F], ``mj``, ``pb`` [V], and the constant capacitance ``cj W`` [F] that
    :func:`node_caps` already puts on the node (the kernel adds ``C_j(V) - cj W``); junctions of the same node,
    bulk and law (``mj``, ``pb``) in one row.  ``cj0`` and ``pb`` at ``temp_k`` (None: T_NOM;
    ``MosParams.junction_law_at``).  Empty when none."""
    tabs = build_tables(design, circuit)
    merged: dict[tuple, list[float]] = {}  # junctions of one node, bulk and law add their capacitances
    if design.junction_charge:
        for node, bulk, p, w in junctions(design, tech, circuit, corner):
            if p.junction_law():
                cj0, mj, pb = p.junction_law_at(temp_k)
                key = (tabs.node_index(node), tabs.node_index(bulk), float(p.polarity), mj, pb)
                c = merged.setdefault(key, [0.0, 0.0])
                c[0] += cj0 * w
                c[1] += p.junction_cap(w)
    idx = [(x, b) for x, b, *_ in merged]
    rows = [(pol, c[0], mj, pb, c[1]) for (_, _, pol, mj, pb), c in merged.items()]
    return (np.array(idx, dtype=np.int64).reshape(-1, 2), np.array(rows, dtype=float).reshape(-1, 5))


def overlap_caps(design: PCSADesign, tech: Technology, circuit: str = "pcsa") -> list[tuple[str, str, float]]:
    """(gate node, drain or source node, cov * W * mult) of every transistor side, in transistor order (empty
    unless ``design.overlap_coupling``)."""
    if not design.overlap_coupling:
        return []
    out = []
    for m in transistors(design, circuit):
        c = device_params(tech, m).cov * m.size.w * m.mult
        out += [(m.g, m.d, c), (m.g, m.s, c)]
    return out


def overlap_table(design: PCSADesign, tech: Technology, circuit: str = "pcsa",
                  corner=None) -> tuple[np.ndarray, np.ndarray]:
    """The gate overlaps whose charge follows the overlap law (``design.overlap_coupling`` and
    ``design.overlap_charge``; the sides of :func:`overlap_caps` whose device's set at ``corner`` has a law,
    ``MosParams.overlap_law``): ``nodes`` (k, 2) int -- gate node and drain/source node, node indices of
    :func:`build_tables` -- and ``par`` (k, 5) -- polarity (+1 NMOS, -1 PMOS), ``cgdo W mult`` [F],
    ``cgdl W mult`` [F], ``ckappa`` [V] and the constant ``cov W mult`` [F] that :func:`capacitance` already
    puts between the two nodes (the kernel adds ``C_ov(V) - cov W mult``); sides of the same node pair, polarity
    and ``ckappa`` in one row.  A side between two fixed nodes (the precharge PMOS's source side, SE to VDD;
    the discharge NMOS's, SE to GND) is left out, as its constant part is: it moves no unknown node, and the
    charge it takes from VDD returns within the cycle.  Empty when none."""
    tabs = build_tables(design, circuit)
    merged: dict[tuple, list[float]] = {}
    if design.overlap_coupling and design.overlap_charge:
        for m in transistors(design, circuit):
            p = device_params(tech, m, corner)
            if not p.overlap_law():
                continue
            w = m.size.w * m.mult
            for x in (m.d, m.s):
                ig, ix = tabs.node_index(m.g), tabs.node_index(x)
                if ig >= tabs.nv and ix >= tabs.nv:
                    continue
                c = merged.setdefault((ig, ix, float(p.polarity), p.ckappa), [0.0, 0.0, 0.0])
                c[0] += p.cgdo * w
                c[1] += p.cgdl * w
                c[2] += device_params(tech, m).cov * w  # as overlap_caps (the constant part in C)
    idx = [(g, x) for g, x, *_ in merged]
    rows = [(pol, c[0], c[1], kap, c[2]) for (_, _, pol, kap), c in merged.items()]
    return (np.array(idx, dtype=np.int64).reshape(-1, 2), np.array(rows, dtype=float).reshape(-1, 5))


def channel_charges(design: PCSADesign, tech: Technology, circuit: str = "pcsa",
                    corner=None) -> tuple[np.ndarray, np.ndarray]:
    """(transistor indices, channel capacitance ``cinv * W * L * mult`` [F]) of the devices whose channel
    charge is modelled: with ``design.channel_charge``, every transistor whose gate is driven from outside the
    circuit -- the clock SE and the word line WL (the selected access transistors; the unselected cells' gates
    are at 0 V, their channels empty); else none.  Each device's set at ``corner`` (:func:`device_params`).
    A device whose charges come from its table (:func:`charge_tabulated`) is not among them."""
    idx, cap = [], []
    if design.channel_charge:
        for k, m in enumerate(transistors(design, circuit)):
            if m.g in CHANNEL_CHARGE_GATES and not charge_tabulated(design, tech, m.family, m.size, corner):
                idx.append(k)
                cap.append(device_params(tech, m, corner).channel_cap(m.size.w, m.size.l) * m.mult)
    return np.array(idx, dtype=np.int64), np.array(cap, dtype=float)


def capacitance(design: PCSADesign, tech: Technology, circuit: str = "pcsa",
                corner=None) -> tuple[np.ndarray, np.ndarray]:
    """The circuit's capacitances as ``C dV/dt = i(V, t) + b_se dV_SE/dt`` over the unknown nodes (order of
    ``build_tables(design, circuit).node_names``): the symmetric capacitance matrix ``C`` [F] and the
    coupling ``b_se`` [F] of every node to the sense-enable waveform.  Without ``overlap_coupling``, ``C``
    is ``diag(node_caps)`` and ``b_se`` zero.  With it, every overlap capacitor ``c`` of
    :func:`overlap_caps` between nodes a and b adds ``c`` to ``C[a, a]`` (a unknown) and, when both are
    unknown, ``-c`` to ``C[a, b]`` and ``C[b, a]`` (and ``c`` to ``C[b, b]``); one to SE also adds ``c``
    to ``b_se[a]``; one to a DC rail is a grounded capacitor.  ``corner``: junction capacitances of that
    corner (:func:`node_caps`)."""
    nodes = NODES_XNOR if circuit == "xnor" else NODES
    caps = node_caps(design, tech, circuit, corner)
    C = np.diag([caps[n] for n in nodes])
    b = np.zeros(len(nodes))
    for g, x, c in overlap_caps(design, tech, circuit):
        ig = nodes.index(g) if g in nodes else None
        ix = nodes.index(x) if x in nodes else None
        for i, other in ((ig, x), (ix, g)):
            if i is None:
                continue
            C[i, i] += c
            if other == "SE":
                b[i] += c
        if ig is not None and ix is not None:
            C[ig, ix] -= c
            C[ix, ig] -= c
    return C, b


@dataclass
class CircuitTables:
    """Element tables in the form the compiled kernel takes (built once per circuit)."""

    nv: int
    node_names: tuple[str, ...]
    fixed_names: tuple[str, ...]
    mos: tuple[Transistor, ...]
    mos_nodes: np.ndarray
    mos_pol: np.ndarray
    mos_mult: np.ndarray
    rr_names: tuple[str, ...]
    rr_nodes: np.ndarray
    out_nodes: np.ndarray
    se_idx: int
    vdd_idx: int

    def node_index(self, name: str) -> int:
        if name in self.node_names:
            return self.node_names.index(name)
        return self.nv + self.fixed_names.index(name)

    def node_name(self, i: int) -> str:
        """The name of node index ``i`` (unknown nodes first, then the fixed ones): the inverse of
        :meth:`node_index`."""
        i = int(i)
        return self.node_names[i] if i < self.nv else self.fixed_names[i - self.nv]


def build_tables(design: PCSADesign, circuit: str = "pcsa") -> CircuitTables:
    mos = transistors(design, circuit)
    nodes, fixed = (NODES_XNOR, FIXED_XNOR) if circuit == "xnor" else (NODES, FIXED)
    nv = len(nodes)

    def idx(name):
        return nodes.index(name) if name in nodes else nv + fixed.index(name)

    for m in mos:  # the kernel's junction shunts take the bulk as a DC rail
        if m.b not in fixed or m.b == "SE":
            raise ValueError(f"{m.name}: bulk {m.b!r} must be a DC rail ({', '.join(f for f in fixed if f != 'SE')})")
    mos_nodes = np.array([[idx(m.d), idx(m.g), idx(m.s), idx(m.b)] for m in mos], dtype=np.int64)
    pol = {"nmos": 1, "pmos": -1, "nmos_thick": 1}
    mos_pol = np.array([pol[m.family] for m in mos], dtype=np.int64)
    mos_mult = np.array([m.mult for m in mos], dtype=float)
    rr_nodes = np.array([[idx(a), idx(b)] for _, a, b in RRAMS], dtype=np.int64)
    out_nodes = np.array([idx(n) for n in OUT_NODES], dtype=np.int64)
    return CircuitTables(nv=nv, node_names=nodes, fixed_names=fixed, mos=mos, mos_nodes=mos_nodes,
                         mos_pol=mos_pol, mos_mult=mos_mult, rr_names=tuple(r[0] for r in RRAMS),
                         rr_nodes=rr_nodes, out_nodes=out_nodes, se_idx=fixed.index("SE"),
                         vdd_idx=fixed.index("VDD"))

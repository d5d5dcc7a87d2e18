"""Plots of BER tables (matplotlib is imported only when a plot is made).

``plot_ber_vs_vdd(table, path)`` draws three panels against VDD: the bit error rate with its 95 %
Clopper-Pearson interval (log scale; a condition without any error is drawn at the interval's upper bound
with an open downward triangle), the median sense delay with its p01-p99 band, and the mean read energy.
One line per group of (cell, temperature, corner, programming) -- every column other than VDD.
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

# columns that identify a group (one line); VDD is the x axis
GROUP_KEYS = ("cell", "readout", "window", "temp_c", "corner", "i_compliance", "v_reset", "rows")
PLOT_FORMATS = (".png", ".pdf", ".svg")


def _pyplot():
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules and sys.platform.startswith("linux") \
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _label_part(key: str, value) -> str:
    if key == "cell":
        return str(value).upper()
    if key == "temp_c":
        return f"{value:g} \N{DEGREE SIGN}C"
    if key == "corner":
        return str(value)
    if key == "i_compliance":
        return f"Ic = {value * 1e6:g} \N{MICRO SIGN}A"
    if key == "v_reset":
        return f"Vreset = {value:g} V"
    if key == "window":
        return f"window {value * 1e9:g} ns"
    if key == "rows":
        return f"{value} rows"
    return str(value)


def _groups(rows):
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in GROUP_KEYS), []).append(r)
    for k in groups:
        groups[k].sort(key=lambda r: r["vdd"])
    return groups


def _scale(values, base_unit, prefixes=((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "\N{MICRO SIGN}"),
                                         (1e-3, "m"), (1.0, ""))):
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return 1.0, base_unit
    ref = float(np.median(v))
    scale, pf = prefixes[0]
    for s, p in prefixes:
        if ref >= s:
            scale, pf = s, p
    return scale, pf + base_unit


def _col(rows, name):
    return np.array([float(r[name]) for r in rows])


def plot_ber_vs_vdd(table, path=None, ax=None):
    """BER (with 95 % interval), median sense delay (p01-p99 band) and mean energy versus VDD.

    ``table``: a :class:`arraysim.BERTable`.  ``path``: save the figure there (PNG, PDF or SVG by suffix;
    written atomically).  ``ax``: draw into existing axes instead of a new figure -- one Axes (BER panel
    only) or a sequence of three (BER, delay, energy).  Returns the matplotlib Figure.
    """
    if path is not None and Path(path).suffix.lower() not in PLOT_FORMATS:
        raise ValueError(f"cannot tell the plot format of {str(path)!r} from its suffix; allowed: "
                         f"{', '.join(PLOT_FORMATS)}")
    rows = [r for r in table.rows if int(r.get("n", 0)) > 0]
    groups = _groups(rows)
    varying = [k for i, k in enumerate(GROUP_KEYS) if len({g[i] for g in groups}) > 1]
    constant = [k for k in GROUP_KEYS if k not in varying and k != "readout"]

    if ax is None:
        plt = _pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), width_ratios=(1.35, 1, 1),
                                 layout="constrained")
        ax_ber, ax_del, ax_en = axes
    elif hasattr(ax, "plot"):
        ax_ber, ax_del, ax_en = ax, None, None
        fig = ax.figure
    else:
        ax_ber, ax_del, ax_en = ax
        fig = ax_ber.figure

    import matplotlib as mpl
    from matplotlib.lines import Line2D
    colors = mpl.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    d_scale, d_unit = _scale([r["delay_median"] for r in rows], "s")
    e_scale, e_unit = _scale([r["energy_mean"] for r in rows], "J")

    handles, any_zero, positive = [], False, []
    band_alpha = 0.18 if len(groups) <= 4 else 0.07
    for gi, (key, grp) in enumerate(groups.items()):
        color = colors[gi % len(colors)]
        label = ", ".join(_label_part(k, key[GROUP_KEYS.index(k)]) for k in varying) or "BER (bars: 95 % CI)"
        vdd = _col(grp, "vdd")
        ber, lo, hi = _col(grp, "ber"), _col(grp, "ber_lo"), _col(grp, "ber_hi")
        err = _col(grp, "errors")
        nz = err > 0
        positive += list(ber[nz]) + list(lo[nz & (lo > 0)]) + list(hi[np.isfinite(hi)])
        # nonzero BER: point with asymmetric 95 % error bars
        ax_ber.errorbar(vdd[nz], ber[nz], yerr=[ber[nz] - lo[nz], hi[nz] - ber[nz]], fmt="o", color=color,
                        ms=5, capsize=3, lw=1.2)
        # zero errors: the 95 % upper bound, open downward triangle
        if np.any(~nz):
            any_zero = True
            ax_ber.plot(vdd[~nz], hi[~nz], ls="none", marker="v", mfc="none", mec=color, ms=8, mew=1.5)
        # joining line: solid between measured BERs, dotted where an end is only an upper bound
        y = np.where(nz, ber, hi)
        for j in range(len(vdd) - 1):
            solid = bool(nz[j] and nz[j + 1])
            ax_ber.plot(vdd[j:j + 2], y[j:j + 2], color=color, ls="-" if solid else ":",
                        lw=1.5 if solid else 1.0)
        handles.append(Line2D([], [], color=color, marker="o", lw=1.5, label=label))

        if ax_del is not None:
            med, p01, p99 = (_col(grp, c) / d_scale for c in ("delay_median", "delay_p01", "delay_p99"))
            ok = np.isfinite(med)
            ax_del.plot(vdd[ok], med[ok], "o-", color=color, ms=4, lw=1.5)
            band = ok & np.isfinite(p01) & np.isfinite(p99)
            ax_del.fill_between(vdd[band], p01[band], p99[band], color=color, alpha=band_alpha, lw=0)
        if ax_en is not None:
            em = _col(grp, "energy_mean") / e_scale
            ok = np.isfinite(em)
            ax_en.plot(vdd[ok], em[ok], "o-", color=color, ms=4, lw=1.5)

    ax_ber.set_yscale("log")
    pos = np.array([p for p in positive if p > 0 and math.isfinite(p)])
    if pos.size:
        ax_ber.set_ylim(10 ** math.floor(math.log10(pos.min()) - 0.3), min(1.6, pos.max() * 3))
    else:
        ax_ber.set_ylim(1e-6, 1.0)
    ax_ber.set_xlabel("VDD [V]")
    ax_ber.set_ylabel("bit error rate")
    ax_ber.set_title("BER with 95 % Clopper-Pearson interval")
    ax_ber.grid(True, which="major", alpha=0.4)
    ax_ber.grid(True, which="minor", alpha=0.12)
    if any_zero:
        handles.append(Line2D([], [], ls="none", marker="v", mfc="none", mec="0.3", ms=8, mew=1.5,
                              label="0 errors: 95 % upper bound"))
    if ax is None and len(handles) > 6:  # many groups: legend below the panels, not over the data
        fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize="small")
    else:
        ax_ber.legend(handles=handles, fontsize="small", loc="best", framealpha=0.85)

    if ax_del is not None:
        dv = np.array([r[c] for r in rows for c in ("delay_p01", "delay_p99")], dtype=float)
        dv = dv[np.isfinite(dv) & (dv > 0)]
        if dv.size and dv.max() > 4 * dv.min():  # log scale only when the delay spans a wide range
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
            ax_del.set_yscale("log")
            decades = math.log10(dv.max() / dv.min())
            subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if decades < 1.2 else (1.0, 2.0, 5.0) if decades < 2.5 \
                else (1.0,)
            ax_del.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
            ax_del.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax_del.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax_del.set_ylim(bottom=0)
        ax_del.set_xlabel("VDD [V]")
        ax_del.set_ylabel(f"sense delay [{d_unit}]")
        ax_del.set_title("median sense delay (band: p01-p99)")
        ax_del.grid(True, which="major", alpha=0.4)
        ax_del.grid(True, which="minor", alpha=0.12)
    if ax_en is not None:
        ax_en.set_xlabel("VDD [V]")
        ax_en.set_ylabel(f"energy per read [{e_unit}]")
        ax_en.set_title("mean read energy (sense + precharge)")
        ax_en.set_ylim(bottom=0)
        ax_en.grid(True, alpha=0.4)

    if ax is None:
        parts = []
        if groups:
            first = next(iter(groups))
            parts = [_label_part(k, first[GROUP_KEYS.index(k)]) for k in constant]
        n = sorted({int(r["samples"]) for r in table.rows})
        meta = table.meta
        extra = [f"{n[0] if len(n) == 1 else 'varying'} samples/condition" if n else "",
                 f"seed {meta['seed']}" if "seed" in meta else ""]
        tech = (meta.get("model") or {}).get("technology", {}).get("name")
        if tech:
            extra.append(tech)
        if meta.get("interrupted"):
            extra.append("INTERRUPTED (partial)")
        fig.suptitle("  |  ".join(p for p in [", ".join(parts)] + extra if p), fontsize="medium")

    if path is not None:
        save_figure(fig, path)
    return fig


def save_figure(fig, path) -> None:
    """Save ``fig`` to ``path`` atomically (no partial file if saving fails)."""
    import io

    from .io.tables import atomic_write

    p = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=p.suffix.lower().lstrip("."), dpi=120)
    atomic_write(p, buf.getvalue())


def plot_supply_sweep(results: dict, path=None):
    """Figure of a supply sweep (:func:`arraysim.analysis.sweep.supply_sweep`), one line per
    (temperature, corner): error rate of each readout (ternary at its best window) with 95 % intervals,
    the ternary error types at the best window, the best window, median delay and mean energy vs VDD."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(16, 9), constrained_layout=True)
    ax_err, ax_types, ax_win, ax_delay, ax_energy, ax_zero = axes.ravel()
    styles = {"binary": "-", "xnor": "--", "ternary_best": "-."}
    labels = {"binary": "binary", "xnor": "XNOR", "ternary_best": "ternary (best window)"}
    colors = {}
    n_groups = len({(r["temp_c"], r["corner"]) for k in styles if k in results for r in results[k].rows})
    palette = ([f"C{i}" for i in range(10)] if n_groups <= 10
               else [plt.get_cmap("tab20")(i % 20) for i in range(n_groups)])
    for key in ("binary", "xnor", "ternary_best"):
        if key not in results:
            continue
        groups: dict[tuple, list] = {}
        for r in results[key].rows:
            groups.setdefault((r["temp_c"], r["corner"]), []).append(r)
        for g, rows in groups.items():
            rows.sort(key=lambda r: r["vdd"])
            c = colors.setdefault(g, palette[len(colors) % len(palette)])
            lab = f"{labels[key]}, {g[0]:g} \N{DEGREE SIGN}C {g[1]}"
            v = _col(rows, "vdd")
            ber, lo, hi = _col(rows, "ber"), _col(rows, "ber_lo"), _col(rows, "ber_hi")
            shown = np.where(ber > 0, ber, hi)  # zero errors: plot the upper bound
            ax_err.errorbar(v, shown, yerr=[shown - np.minimum(lo, shown), hi - shown], ls=styles[key],
                            color=c, marker="o", ms=3, capsize=2, label=lab)
            ax_delay.plot(v, _col(rows, "delay_median") * 1e9, ls=styles[key], color=c, marker="o", ms=3,
                          label=lab)
            ax_energy.plot(v, _col(rows, "energy_mean") * 1e15, ls=styles[key], color=c, marker="o", ms=3,
                           label=lab)
            if key == "ternary_best":
                ax_win.plot(v, _col(rows, "window") * 1e9, color=c, marker="o", ms=3, label=lab)
                for name, ls, what in (("q_zero_zero", "-", "0 read as 0"),
                                       ("q_plus_zero", "--", "+1 read as 0"),
                                       ("q_minus_zero", ":", "-1 read as 0")):
                    ax_types.plot(v, _col(rows, name), ls=ls, color=c, marker="o", ms=3,
                                  label=f"{what}, {g[0]:g} \N{DEGREE SIGN}C {g[1]}")
                sign = (_col(rows, "c_plus_minus") + _col(rows, "c_minus_plus")) / np.maximum(
                    _col(rows, "n_plus") + _col(rows, "n_minus"), 1)
                ax_zero.plot(v, sign, color=c, marker="o", ms=3, label=f"{g[0]:g} \N{DEGREE SIGN}C {g[1]}")
    ax_err.set_yscale("log")
    ax_err.set_title("error rate (95 % CI; zero errors at upper bound)")
    ax_err.set_ylabel("error rate")
    ax_types.set_title("ternary at its best window")
    ax_types.set_ylabel("fraction")
    ax_win.set_title("best ternary sense window")
    ax_win.set_ylabel("window [ns]")
    ax_win.set_yscale("log")
    ax_delay.set_title("median sense delay")
    ax_delay.set_ylabel("delay [ns]")
    ax_delay.set_yscale("log")
    ax_energy.set_title("mean energy per read (sense + precharge)")
    ax_energy.set_ylabel("energy [fJ]")
    ax_zero.set_title("ternary sign errors (+1 <-> -1) at the best window")
    ax_zero.set_ylabel("fraction of +-1 weights")
    many = len(colors) > 3
    for a in axes.ravel():
        a.set_xlabel("VDD [V]")
        a.grid(True, alpha=0.3)
        if not many and a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    if many:  # one colour per condition in a figure legend; line styles explained in two panels
        from matplotlib.lines import Line2D
        ax_err.legend([Line2D([], [], color="k", ls=styles[k]) for k in styles if k in results],
                      [labels[k] for k in styles if k in results], fontsize=7)
        ax_types.legend([Line2D([], [], color="k", ls=ls) for ls in ("-", "--", ":")],
                        ["0 read as 0", "+1 read as 0", "-1 read as 0"], fontsize=7)
        fig.legend([Line2D([], [], color=c, marker="o", ms=3) for c in colors.values()],
                   [f"{g[0]:g} \N{DEGREE SIGN}C {g[1]}" for g in colors], loc="outside right center",
                   fontsize=7, title="condition")
    if path is not None:
        save_figure(fig, path)
    return fig

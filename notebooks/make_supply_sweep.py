"""Writes notebooks/supply_sweep.ipynb (run it, then execute the notebook to fill its outputs)."""
import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
nb.cells = [
    md("""# Supply sweep: binary, XNOR and ternary readout from nominal supply to near threshold

This notebook walks through what `arraysim` says about reading a 2T2R HfO2 RRAM column with a precharge
sense amplifier (PCSA) as the sense-amplifier supply VDD is lowered from the technology's nominal value
(1.2 V for the built-in `generic130` set) towards threshold.  Every number comes from transient
simulations of the circuit (numba kernel), with transistor mismatch, die-to-die variation and RRAM
device/cycle variability switched on.

* **binary**: weight ±1 = (LRS, HRS) / (HRS, LRS); the output that falls decides.
* **XNOR**: four input pass transistors swap the branches, the latch computes XNOR(x, w).
* **ternary**: weight 0 = (HRS, HRS); if *both* outputs are still above VDD/2 at the end of the sense
  window the read is 0.  The window is a design parameter: outputs are sampled at many windows inside one
  transient and, for each supply, the window with the lowest total ternary error is reported.

`ARRAYSIM_NB_SAMPLES` sets the Monte Carlo samples per condition (the test suite runs this notebook with
a small value; the saved outputs were produced with the value printed below)."""),
    code("""%matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
import arraysim
from arraysim.analysis.sweep import supply_sweep, default_windows
from arraysim.plotting import plot_supply_sweep

N = int(os.environ.get("ARRAYSIM_NB_SAMPLES", "1000"))
VDD = [round(float(v), 2) for v in np.arange(0.2, 1.21, 0.1)]
TEMPS = [-40, 27, 125]
sim = arraysim.simulator()          # generic130, 32 rows, word line at the nominal 1.2 V
print("samples per condition:", N, "| supplies:", VDD, "| temperatures:", TEMPS)
print("sense window (t_sense):", sim.design.timing.t_sense * 1e9, "ns; word line:", sim.v_wl, "V")"""),
    md("## 1. The sweep\nOne call runs binary, XNOR and ternary readout over VDD x temperature (corner tt)."),
    code("""res = supply_sweep(VDD, temp_c=TEMPS, corner=["tt"], samples=N, seed=1, sim=sim)
fig = plot_supply_sweep(res)
plt.show()"""),
    md("""Reading the figure: top left, the error rate of each readout (ternary at its best window) with 95 %
Clopper-Pearson intervals; top middle, the ternary error types at the best window (a 0 that stays 0,
±1 read as 0); top right, the best window; bottom, the median sense delay, the mean energy per read
(sense + precharge back to the precharged outputs) and the ternary sign errors (+1 ↔ −1), which the
published scheme says never happen."""),
    code("""print(res["ternary_best"].to_text())"""),
    md("## 2. Where does ternary reading work?\nSupplies at which the best-window ternary error is below 5 % (upper 95 % bound), per temperature."),
    code("""for T in TEMPS:
    ok = [r["vdd"] for r in res["ternary_best"].rows if r["temp_c"] == T and r["ber_hi"] < 0.05]
    best = min((r for r in res["ternary_best"].rows if r["temp_c"] == T), key=lambda r: r["ber"])
    print(f"{T:>4} degC: ternary error < 5 % at VDD = {ok};  lowest error {best['ber']:.3g} "
          f"[{best['ber_lo']:.2g}, {best['ber_hi']:.2g}] at {best['vdd']} V, window {best['window']*1e9:.2f} ns")"""),
    md("## 3. The ternary window\nFraction of 0 weights read as 0 and of ±1 weights read as 0, against the window, at 27 °C."),
    code("""fig, ax = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
rows = [r for r in res["ternary"].rows if r["temp_c"] == 27]
for i, v in enumerate([0.3, 0.4, 0.5, 0.8, 1.2]):
    rr = sorted((r for r in rows if abs(r["vdd"] - v) < 1e-9), key=lambda r: r["window"])
    w = np.array([r["window"] for r in rr]) * 1e9
    ax[0].plot(w, [r["q_zero_zero"] for r in rr], marker="o", ms=3, color=f"C{i}", label=f"{v} V")
    ax[1].plot(w, [(r["c_plus_zero"] + r["c_minus_zero"]) / max(r["n_plus"] + r["n_minus"], 1) for r in rr],
               marker="o", ms=3, color=f"C{i}", label=f"{v} V")
for a, t in zip(ax, ["0 read as 0 (want 1)", "±1 read as 0 (want 0)"]):
    a.set_xscale("log"); a.set_xlabel("sense window [ns]"); a.set_title(t); a.grid(alpha=0.3); a.legend()
plt.show()"""),
    md("## 4. Waveforms of single reads\nHRS/HRS (a ternary 0) and LRS/HRS (+1) at nominal supply and near threshold, no mismatch."),
    code("""fig, axes = plt.subplots(1, 2, figsize=(13, 4), constrained_layout=True, sharey=False)
for ax, vdd in zip(axes, [1.2, 0.4]):
    for (rbl, rblb, lab, c) in [(60e3, 70e3, "HRS/HRS (0)", "C0"), (7e3, 60e3, "LRS/HRS (+1)", "C1")]:
        w = sim.waveform(vdd, 27, "tt", rbl, rblb)
        m = w["t"] < 25e-9
        ax.plot(w["t"][m] * 1e9, w["Q"][m], color=c, label=f"Q  {lab}")
        ax.plot(w["t"][m] * 1e9, w["QB"][m], color=c, ls="--", label=f"QB {lab}")
    ax.axhline(vdd / 2, color="k", lw=0.8, ls=":")
    ax.set_title(f"VDD = {vdd} V"); ax.set_xlabel("time [ns]"); ax.set_ylabel("V"); ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
plt.show()"""),
    md("""## 5. What this shows (and what it does not)

* Every decision above is read from simulated output voltages; nothing is derived from a rule on
  resistances.
* The conclusions depend on the `generic130` parameter set (typical values, not a calibrated foundry
  model), on the word-line voltage (kept at 1.2 V here), on the 20 ns sense phase and on the window grid.
  Compare with the calibrated `sky130` technology once available and vary `v_wl` before drawing
  conclusions about the published claims."""),
]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "notebooks/supply_sweep.ipynb")

"""Writes notebooks/nn_accuracy.ipynb (then execute it to fill its outputs:
``jupyter nbconvert --to notebook --execute --inplace notebooks/nn_accuracy.ipynb`` or nbclient)."""
import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
nb.cells = [
    md("""# What accuracy does the network keep? BNN/TNN inference with arraysim's error tables

The networks shipped with arraysim (`arraysim/nn/models/`, trained on Fashion-MNIST by
`arraysim/nn/train.py`) are evaluated with weight errors:

* **plain BER knob** (physics.md §4): binary weights flip with probability BER; ternary weights follow the
  0 ↔ ±1 rule with the same mean rate (never a sign flip);
* **errors from arraysim tables**: per-state flip probabilities of a binary table, or the full 3×3
  confusion of a ternary table, at a simulated condition (supply, temperature, corner, window).

Every weight of every layer (first and last included) is stored in a 2T2R cell and gets errors.
Mode *chip*: one fixed error pattern per simulated chip, the whole test set evaluated with it; mean ± std
over chips.  sign(0) = +1 throughout.

Sizes are set by environment variables so the test suite can run this notebook quickly:
`ARRAYSIM_NB_EXAMPLES` (test images), `ARRAYSIM_NB_DRAWS` (chips per point), `ARRAYSIM_NB_SAMPLES`
(Monte Carlo reads per circuit condition).  The saved outputs were produced with the values printed below."""),
    code("""%matplotlib inline
import os
import numpy as np
import matplotlib.pyplot as plt
import arraysim
from arraysim.nn.model import load_model, shipped_models
from arraysim.nn.errors import accuracy_vs_ber, accuracy_under_errors, error_model_from_row
from arraysim.nn.datasets import load_fashion_mnist

N_EX = int(os.environ.get("ARRAYSIM_NB_EXAMPLES", "10000"))
DRAWS = int(os.environ.get("ARRAYSIM_NB_DRAWS", "10"))
N_MC = int(os.environ.get("ARRAYSIM_NB_SAMPLES", "4000"))
x, y = load_fashion_mnist("test")
x, y = x[:N_EX], y[:N_EX]
names = [n for n in ("bnn_mlp", "tnn_mlp", "bnn_mlp_ea", "tnn_mlp_ea", "bnn_cnn", "bnn_cnn_ea")
         if n in shipped_models()]
nets = {n: load_model(n) for n in names}
print(f"test images: {N_EX}, chips per point: {DRAWS}, Monte Carlo reads per condition: {N_MC}")
for n, net in nets.items():
    m = net.meta
    print(f"{n:11s} {m['weights']:8s} clean accuracy (10k, recorded) {m['clean_accuracy']:.4f}; on these "
          f"{N_EX}: {net.accuracy(x, y):.4f}; trained with BER {m['training'].get('train_ber', 0)}")"""),
    md("""## 1. Accuracy against BER

The same random numbers are used at every BER for a given chip (common random numbers), so each chip's
curve is monotone and differences between BERs are not sampling noise.  The CNN is ~15× slower per
evaluation than the MLPs; it is included when shipped."""),
    code("""BERS = np.array([1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 4e-2, 0.1, 0.2, 0.3, 0.5])
curves = {}
for n, net in nets.items():
    draws = DRAWS if "cnn" not in n else max(1, DRAWS // 5)
    curves[n] = accuracy_vs_ber(net, x, y, BERS, mode="chip", n_draws=draws, seed=1)
fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
for i, (n, c) in enumerate(curves.items()):
    ax.errorbar(BERS, c["mean"], yerr=c["std"], marker="o", ms=3, capsize=2,
                ls="--" if n.endswith("_ea") else "-", color=f"C{i}", label=f"{n} (clean {c['clean']:.3f})")
ax.axvline(1e-4, color="k", lw=0.8, ls=":"); ax.axvline(4e-2, color="k", lw=0.8, ls=":")
ax.text(1e-4, 0.15, " 1e-4", fontsize=8); ax.text(4e-2, 0.15, " 4e-2", fontsize=8)
ax.set_xscale("log"); ax.set_xlabel("weight error rate (BER)"); ax.set_ylabel("test accuracy")
ax.set_title("Fashion-MNIST accuracy vs BER (mean ± std over chips)"); ax.grid(alpha=0.3); ax.legend(fontsize=8)
plt.show()"""),
    md("""## 2. Where the published tolerances stand in our networks

Papers: a standard BNN tolerates BER up to 1e-4 with little loss; trained with errors it tolerates up to
4e-2 (1904.03652).  Below: accuracy loss (clean − mean) at those rates and the largest BER of the grid at
which the mean loss stays within 1 point."""),
    code("""print(f"{'model':11s} {'clean':>6s} " + " ".join(f"{b:>8.0e}" for b in BERS) + "   max BER with loss <= 1 pt")
for n, c in curves.items():
    loss = c["clean"] - c["mean"]
    ok = BERS[loss <= 0.01]
    print(f"{n:11s} {c['clean']:6.4f} " + " ".join(f"{l * 100:7.2f}%" for l in loss)
          + f"   {ok.max() if ok.size else float('nan'):.0e}")"""),
    md("""## 3. Accuracy at simulated circuit conditions

A supply sweep of the circuit (27 °C, tt, all variability) gives a binary table and a ternary table; the
ternary rows are taken at each supply's best sense window.  The BNN uses the binary table's per-state
flip rates; the TNN uses the ternary 3×3 confusion (a 'both low' read counts as 0)."""),
    code("""from arraysim.analysis.sweep import supply_sweep
VDD = [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.8, 1.0, 1.2]
sw = supply_sweep(VDD, [27.0], ["tt"], ("binary", "ternary"), samples=N_MC, seed=3)
acc = {}
for n, key in (("bnn_mlp", "binary"), ("bnn_mlp_ea", "binary"), ("tnn_mlp", "ternary_best"),
               ("tnn_mlp_ea", "ternary_best")):
    if n not in nets:
        continue
    acc[n] = []
    for row in sorted(sw[key].rows, key=lambda r: r["vdd"]):
        em = error_model_from_row(row)
        a = accuracy_under_errors(nets[n], x, y, em, mode="chip", n_draws=DRAWS, seed=2)
        acc[n].append((row["vdd"], row["ber"], a["mean"], a["std"]))
fig, ax = plt.subplots(1, 2, figsize=(13, 4.5), constrained_layout=True)
for i, (n, rows) in enumerate(acc.items()):
    v, b, m, s = map(np.array, zip(*rows))
    ax[0].errorbar(v, m, yerr=s, marker="o", ms=3, capsize=2, color=f"C{i}", ls="--" if n.endswith("_ea") else "-", label=n)
    ax[1].semilogy(v, np.maximum(b, 1.0 / N_MC), marker="o", ms=3, color=f"C{i}", label=f"{n}: table error rate")
ax[0].set_xlabel("VDD [V]"); ax[0].set_ylabel("test accuracy"); ax[0].set_title("accuracy at the simulated supply (27 °C, tt)")
ax[1].set_xlabel("VDD [V]"); ax[1].set_ylabel("error rate of the read (zero errors plotted at 1/N)")
for a in ax: a.grid(alpha=0.3); a.legend(fontsize=8)
plt.show()
for n, rows in acc.items():
    print(n, "  ".join(f"{v:.2f} V: {m:.4f}±{s:.4f} (err {b:.2g})" for v, b, m, s in rows))"""),
    md("""## 4. Reading these results

* Error rates from the circuit simulation are Monte Carlo estimates with their own uncertainty (see the
  tables' Clopper–Pearson columns); at 1e-3 and below a few thousand reads resolve them only roughly.
* The ternary table's errors are mostly 0 ↔ ±1 (which TNNs tolerate well) at high supply, but near
  threshold sign errors (+1 ↔ −1) appear too; the confusion matrix carries them, the plain-BER rule does
  not.
* The circuit conditions come from the `generic130` parameter set (typical values, not a calibrated
  foundry model)."""),
]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "notebooks/nn_accuracy.ipynb")

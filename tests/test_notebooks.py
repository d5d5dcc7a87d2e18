"""Notebooks run end to end at small sample counts (their saved outputs come from larger runs)."""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["supply_sweep.ipynb", "nn_accuracy.ipynb"])
def test_notebook_executes(name, monkeypatch, tmp_path):
    monkeypatch.setenv("ARRAYSIM_NB_SAMPLES", "40")  # Monte Carlo reads per circuit condition
    monkeypatch.setenv("ARRAYSIM_NB_EXAMPLES", "300")  # test images (nn_accuracy)
    monkeypatch.setenv("ARRAYSIM_NB_DRAWS", "2")  # error draws (chips) per point (nn_accuracy)
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert any(o.get("output_type") == "display_data" for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))

"""notebooks/regret_curves.ipynb runs top to bottom (nbclient) on the small real store of the report tests."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.report_fixtures import small_store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "regret_curves.ipynb"


def _outputs(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    return [o["data"][mime] for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


def test_regret_curves_notebook_executes_on_a_store(tmp_path_factory, monkeypatch):
    small = small_store(tmp_path_factory)
    monkeypatch.setenv("HARNESS_STORE", str(small.store))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    # the "python3" kernel of this environment (jupyter_client starts it with this interpreter)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"{small.store}: 4 runs, 4 finished" in streams
    assert len(_outputs(nb, "image/png")) == 2  # the per-epoch curves and the equal-time curves
    equal_time = _outputs(nb, "text/html")[-1]
    for label in ("DARTS (bilevel)", "GAEA DARTS (ERM)"):
        assert label in equal_time
    assert "regret at budget" in equal_time


"""notebooks/regret_curves.ipynb runs top to bottom with the documented command (docs/reports.md) on the small
real store of the report tests (supernet and black-box runs), and keeps the two kinds of search seconds apart."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from tests.report_fixtures import small_store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "regret_curves.ipynb"


def _outputs(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    return [o["data"][mime] for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if mime in o.get("data", {})]


def documented_notebook_command() -> list[str]:
    """docs/reports.md's command that executes the notebook (the line starting with ``jupyter``)."""
    text = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    lines = [line.split("#")[0].strip() for line in text.splitlines() if line.startswith("jupyter ")]
    assert len(lines) == 1, f"docs/reports.md should give one `jupyter ...` command for the notebook, found {lines}"
    return shlex.split(lines[0])


def test_the_documented_command_executes_the_notebook_on_a_store(tmp_path_factory, tmp_path):
    small = small_store(tmp_path_factory)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    command = documented_notebook_command()
    out_name = next(re.sub(r"^--output=", "", a) for a in command if a.startswith("--output="))
    # run it where the checkout would be, on a copy, so the executed notebook lands in tmp_path
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    bin_dir = str(Path(sys.executable).parent)  # the environment's jupyter (nbclient's `jupyter execute`)
    env = {**os.environ, "HARNESS_STORE": str(small.store), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    copy = nbformat.read(tmp_path / "notebooks" / NOTEBOOK.name, as_version=4)
    assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code"), "the command overwrote the notebook"
    nb = nbformat.read(tmp_path / "notebooks" / f"{out_name}.ipynb", as_version=4)
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"{small.store}: 6 runs, 6 finished" in streams
    assert len(_outputs(nb, "image/png")) == 2  # the per-epoch curves and the equal-time curves
    final, equal_time = _outputs(nb, "text/html")[-2:]
    assert "no: quick+set profile" in final  # the paper-protocol column: no run of this store is comparable
    for label in ("DARTS (bilevel)", "GAEA DARTS (ERM)", "REA"):
        assert label in equal_time
    assert "regret at budget" in equal_time
    # simulated (black-box) and measured (supernet) seconds are separate groups, each with its own budget
    rows = re.findall(r"<td>(measured|simulated)</td>\s*<td>([\d.]+)</td>", equal_time)
    budgets = {kind: {float(b) for k, b in rows if k == kind} for kind in ("measured", "simulated")}
    assert len(budgets["measured"]) == 1 and len(budgets["simulated"]) == 1, rows
    assert budgets["simulated"] != budgets["measured"]

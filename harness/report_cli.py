"""``harness report``: the papers' tables and figures, an overview table and index.html from a store.

Registered on the CLI app by ``harness.cli``; kept in its own module so the report machinery (pandas,
matplotlib, seaborn) loads only when a report is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    store: Annotated[str, typer.Option("--store", help="Results store: a SQLite file path or a SQLAlchemy URL.")]
    = "results.db",
    out: Annotated[Path, typer.Option("--out", help="Directory to write the report into (created).")] = Path("report"),
    oracle_dir_: Annotated[Path | None, typer.Option(
        "--oracle-dir", help="Where imported benchmark tables live, for the Optimal and ResNet-like rows "
        "[env HARNESS_ORACLE_DIR; default $HARNESS_HOME/oracles, else the table bundled with the package].")] = None,
) -> None:
    """Regenerate the papers' tables and figures from the store, with an HTML page.

    Writes GAEA Table 2 and an overview of every method x benchmark x dataset (Markdown, LaTeX, CSV),
    GAEA Figures 1, 2, 4 and 5 (PNG, PDF) and OUT/index.html. Items whose runs the store lacks are
    listed with the `harness run` command that produces them.
    """
    from benchmarks.nb201.oracle import NB201Oracle
    from harness.cli import console, oracle_dir
    from results.reports import build_report
    from results.store import Store

    directory = oracle_dir(oracle_dir_)
    # an explicitly named directory must hold a table (open raises with the import command); by default the
    # imported table is used, else the one bundled with the package, as runs do
    oracle = NB201Oracle.open(NB201Oracle.default_path(directory) if oracle_dir_ is not None
                              else NB201Oracle.locate(directory))
    result = build_report(Store(store, create=False), out, oracle)
    drawn = [name for name, files in result.figures.items() if files]
    console.print(f"report written to {result.index}: {len(result.tables)} tables, "
                  f"figures {', '.join(drawn) or 'none'}")
    runnable = [m for m in result.missing if m.command]
    if result.missing:
        console.print(f"{len(result.missing)} items lack runs ({len(runnable)} can be produced; "
                      f"all listed in {out / 'missing.md'}):")
    for m in runnable:
        console.print(f"  {m.item}: {m.command}", highlight=False, soft_wrap=True)

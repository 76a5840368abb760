"""``harness report``: the papers' tables and figures, an overview table and index.html from a store.

Registered on the CLI app by ``harness.cli``; kept in its own module so the report machinery (pandas,
matplotlib, seaborn) loads only when a report is asked for.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Annotated

import typer

from nasbench_errors import ConfigError


def report(
    store: Annotated[str, typer.Option("--store", help="Results store: a SQLite file path or a SQLAlchemy URL.")]
    = "results.db",
    out: Annotated[Path, typer.Option("--out", help="Directory to write the report into (created).")] = Path("report"),
    oracle_dir_: Annotated[Path | None, typer.Option(
        "--oracle-dir", help="Where imported benchmark tables live, for the Optimal and ResNet-like rows "
        "[env HARNESS_ORACLE_DIR; default $HARNESS_HOME/oracles]; without an imported NAS-Bench-201 table, the one "
        "bundled with the package is used.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Only the runs made with this profile (paper, "
                                                "quick, ...); missing-item commands then use it too "
                                                "[default: every run].")] = None,
    methods: Annotated[str | None, typer.Option("--methods", "-m", help="Only the runs of these methods: a comma "
                                                "list of names or families as for `harness run`; missing items "
                                                "are limited to them [default: every run].")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar per step.")] = True,
) -> None:
    """Regenerate the papers' tables and figures from the store, with an HTML page.

    Writes GAEA Table 2 and an overview of every method x benchmark x dataset (Markdown, LaTeX, CSV),
    GAEA Figures 1, 2, 4 and 5 (PNG, PDF) and OUT/index.html. Items whose runs the store lacks are
    listed with the `harness run` commands that produce them: the paper's protocol and a CPU-sized one.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]report[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True, disable=not progress)
    with bar:
        task = bar.add_task("loading pandas, matplotlib and the oracle", total=None)
        from benchmarks.nb201.oracle import NB201Oracle
        from harness.cli import console, directory_option, oracle_dir
        from results.reports import build_report
        from results.store import Store

        directory_option("--out", out)
        st = Store(store, create=False)
        if st.note:
            Console(stderr=True).print(f"note: {st.note}", highlight=False, soft_wrap=True)
        stored = st.runs_df()
        chosen = None if methods is None else _methods(methods, set(stored["method"]))
        if profile is not None:
            _check_profile(profile, set(stored["profile"]))
        directory = oracle_dir(oracle_dir_)
        # an explicitly named directory must hold a table (open raises with the import command); by default the
        # imported table is used, else the one bundled with the package, as runs do
        oracle = NB201Oracle.open(NB201Oracle.default_path(directory) if oracle_dir_ is not None
                                  else NB201Oracle.locate(directory))
        result = build_report(st, out, oracle, profile, chosen,
                              lambda what, done, total: bar.update(task, description=what, completed=done,
                                                                   total=total))
    drawn = [name for name, files in result.figures.items() if files]
    console.print(f"report written to {result.index}: {len(result.tables)} tables, "
                  f"figures {', '.join(drawn) or 'none'}")
    runnable = [m for m in result.missing if m.command]
    if result.missing:
        console.print(f"{len(result.missing)} items lack runs ({len(runnable)} can be produced; "
                      f"all listed in {out / 'missing.md'}, each also with a CPU-sized command):")
    for m in runnable:
        console.print(f"  {m.item}: {m.command}", highlight=False, soft_wrap=True)


def reproduction(
    manifest: Annotated[Path, typer.Option("--manifest", help="The reproduction stores and the commands that "
                                           "filled them.")] = Path("results/reproduction/manifest.json"),
    page: Annotated[Path, typer.Option("--page", help="The page to write; its figures go beside it, in a folder "
                                       "named after it.")] = Path("docs/reproduction.md"),
) -> None:
    """Regenerate docs/reproduction.md and its figures from the committed reproduction stores.

    For each store: the command, the machine, sizes and wall time from the runs, GAEA's NAS-Bench-201 claims as
    per-seed numbers with their verdicts next to the paper's, and the figures (entropy, learning curves,
    parameter-free operations of the derived cells). The intro is MANIFEST's folder's intro.md.
    """
    from harness.cli import console
    from nasbench_errors import ConfigError
    from results.reports.reproduction import build_page

    if not manifest.is_file():
        raise ConfigError(f"no reproduction manifest at {manifest}; pass --manifest PATH (the committed one is "
                          "results/reproduction/manifest.json)")
    build_page(manifest, page, (manifest.parent / "intro.md").read_text(encoding="utf-8"))
    console.print(f"reproduction page written to {page} (figures in {page.parent / page.stem})")
def _methods(spec: str, stored: Collection[str]) -> list[str]:
    """Registry names (families expanded) and, as written, names of stored runs no longer registered."""
    from methods.registry import resolve_methods

    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--methods {spec!r}: give a comma list of method names or families, e.g. darts,gaea")
    kept = [n for n in names if n in stored]
    rest = [n for n in names if n not in stored]
    return sorted(set(kept) | (set(resolve_methods(rest)) if rest else set()))


def _check_profile(profile: str, stored: Collection[str]) -> None:
    from harness.specs import PROFILES

    if profile not in PROFILES and profile not in stored:
        valid = ", ".join(sorted({*PROFILES, *stored}))
        raise ConfigError(f"unknown profile {profile!r} for --profile; valid: {valid}")

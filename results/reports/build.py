"""Build the whole report directory from a store: tables/, figures/, index.html and missing.md.

Layout of ``out``: ``tables/<name>.{md,tex,csv}``, ``figures/<name>.{png,pdf}``, ``missing.md`` (the
items without runs, each with its command) and ``index.html``. Everything is a function of the store
(and the oracle table, for the reference rows): building twice writes the same tables and page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results.reports import figures, overview, table2
from results.reports.data import ReportData
from results.reports.html import FigureEntry, page
from results.reports.missing import MissingItem, missing_items
from results.reports.paper import TABLE2_SEEDS
from results.reports.render import write_table
from results.store import Store


@dataclass(frozen=True)
class Report:
    out: Path
    index: Path
    tables: dict[str, list[Path]]
    figures: dict[str, list[Path]]  # [] for a figure the store has no runs for
    missing: list[MissingItem]


def _missing_markdown(missing: list[MissingItem]) -> str:
    lines = ["# Missing items", "", "Runs the report needs and the store does not hold.", ""]
    for m in missing:
        lines.append(f"- **{m.item}**: {m.reason}" + (f"\n  `{m.command}`" if m.command else ""))
    return "\n".join(lines) + "\n"


def build_report(store: Store, out: Path, oracle: Any | None = None) -> Report:
    """Write the report for ``store`` into ``out``; ``oracle`` (an NB201Oracle) feeds the reference rows."""
    data = ReportData(store)
    out.mkdir(parents=True, exist_ok=True)
    t2, needs = table2.build(data, table2.reference_from(data, oracle))
    tables = [t2, overview.build(data)]
    table_files = {t.name: write_table(t, out / "tables") for t in tables}
    entries = []
    for spec in figures.SPECS:
        files = figures.render(data, spec, out / "figures")
        needs += figures.needs(data, spec)
        entries.append(FigureEntry(spec.title, files, spec.source))
    missing = missing_items(needs, seeds=TABLE2_SEEDS, profile="paper", store=store.location)
    (out / "missing.md").write_text(_missing_markdown(missing), encoding="utf-8")
    notes = [f"Missing-item commands use the paper profile and {TABLE2_SEEDS} seeds (GAEA's learning curves use 4 "
             "runs; the seeds behind its Table 2 are not stated)."]
    index = out / "index.html"
    index.write_text(page(data, out, [(t, table_files[t.name]) for t in tables], entries, missing, notes),
                     encoding="utf-8")
    return Report(out, index, table_files, {s.name: e.files for s, e in zip(figures.SPECS, entries, strict=True)},
                  missing)

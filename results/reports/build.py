"""Build the whole report directory from a store: tables/, figures/, index.html and missing.md.

Layout of ``out``: ``tables/<name>.{md,tex,csv}``, ``figures/<name>.{png,pdf}``, ``missing.md`` (the
items without runs, each with its command) and ``index.html``. Everything is a function of the store
(and the oracle table, for the reference rows): building twice writes the same tables and page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results.reports import figures, overview, table2
from results.reports.data import ReportData
from results.reports.html import FigureEntry, page
from results.reports.missing import CPU_PROFILE, MissingItem, missing_items
from results.reports.paper import TABLE2_SEEDS
from results.reports.render import write_table
from results.store import Store

#: ``progress(what, done, total)``: the step about to start
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Report:
    out: Path
    index: Path
    tables: dict[str, list[Path]]
    figures: dict[str, list[Path]]  # [] for a figure the store has no runs for
    missing: list[MissingItem]


def _missing_markdown(missing: list[MissingItem], note: str) -> str:
    lines = ["# Missing items", "", "Runs the report needs and the store does not hold.", "", note, "",
             "Each command with `--dry-run` added prints its run count and the time it would take on your machine "
             "(`harness run` times a few steps of each configuration there, so the estimate is for the device and "
             "threads it will use; a report built elsewhere cannot know them).", ""]
    for m in missing:
        lines.append(f"- **{m.item}**: {m.reason}")
        if m.command:
            lines.append(f"  - paper protocol: `{m.command}`")
        if m.cpu_command:
            lines.append(f"  - CPU-sized ({CPU_PROFILE} profile, not comparable with the paper): `{m.cpu_command}`")
    return "\n".join(lines) + "\n"


def build_report(store: Store, out: Path, oracle: Any | None = None, profile: str | None = None,
                 methods: Iterable[str] | None = None, progress: Progress | None = None) -> Report:
    """Write the report for ``store`` into ``out``; ``oracle`` (an NB201Oracle) feeds the reference rows.

    ``profile`` and ``methods`` restrict it to those runs (and the missing items to those methods);
    ``progress(what, done, total)`` is called before each step (reading the store, tables, each figure, page).
    """
    wanted = None if methods is None else set(methods)
    say = progress or (lambda _what, _done, _total: None)
    total = 3 + len(figures.SPECS)
    say("reading the store", 0, total)
    data = ReportData(store, profile, wanted)
    out.mkdir(parents=True, exist_ok=True)
    say("tables", 1, total)
    t2, needs = table2.build(data, table2.reference_from(data, oracle))
    tables = [t2, overview.build(data)]
    table_files = {t.name: write_table(t, out / "tables") for t in tables}
    entries = []
    for i, spec in enumerate(figures.SPECS):
        say(spec.title, 2 + i, total)
        files = figures.render(data, spec, out / "figures")
        needs += figures.needs(data, spec)
        entries.append(FigureEntry(spec.title, files, f"{spec.source} Ours: {figures.BAND_NOTE}; regret and "
                                   "entropy axes start at 0."))
    say("index.html", total - 1, total)
    if wanted is not None:
        needs = [n for n in needs if wanted & set(n.methods)]
    command_profile = profile or "paper"
    missing = missing_items(needs, seeds=TABLE2_SEEDS, profile=command_profile, store=store.location)
    notes = [_commands_note(command_profile)]
    if data.selection:
        notes.insert(0, f"This report shows only the runs of {data.selection}.")
    (out / "missing.md").write_text(_missing_markdown(missing, notes[-1]), encoding="utf-8")
    index = out / "index.html"
    index.write_text(page(data, out, [(t, table_files[t.name]) for t in tables], entries, missing, notes),
                     encoding="utf-8")
    say("done", total, total)
    return Report(out, index, table_files, {s.name: e.files for s, e in zip(figures.SPECS, entries, strict=True)},
                  missing)


def _commands_note(profile: str) -> str:
    seeds = (f"Missing-item commands use {TABLE2_SEEDS} seeds (GAEA's learning curves use 4 runs; the seeds behind "
             "its Table 2 are not stated)")
    if profile == CPU_PROFILE:
        return f"{seeds} and the CPU-sized {CPU_PROFILE} profile of this report, whose numbers are never compared " \
               "with the paper's."
    return (f"{seeds}: first with the {profile} profile" + (" (the papers' protocol: days per supernet run on a "
            "CPU)" if profile == "paper" else "") + f", then the same runs at the CPU-sized {CPU_PROFILE} profile (a "
            "smaller network, fewer images and epochs: minutes), whose numbers the tables show but never compare "
            "with the paper's.")

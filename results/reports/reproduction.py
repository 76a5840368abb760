"""docs/reproduction.md: GAEA's NAS-Bench-201 claims from the committed reproduction stores.

``results/reproduction/manifest.json`` lists the stores (SQLite files beside it) with the command that filled
each and the machine it ran on; everything else on the page is computed from the stores: the sizes (the runs'
resolved configs), the wall times (run timestamps and measured search seconds), the claims
(``results.reports.claims``) and the figures (``results.reports.figures``: entropy, learning curves, and the
parameter-free operations of the derived cells). ``harness reproduction`` regenerates the page; the tests
rebuild it from the committed stores and compare it with the committed page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from results.reports import figures
from results.reports.claims import Claim, nb201_claims, parameter_free_ops
from results.reports.data import ReportData
from results.store import Store

#: figure specs drawn for every store (GAEA Figure 1 and Figure 4)
FIGURES = ("fig1_entropy", "fig4_nb201_darts_gaea")
#: sizes a page names per store (from the runs' resolved configs)
SIZE_KEYS = ("C", "N", "batch_size", "epochs", "train_limit", "eval_limit", "exclude_none", "arch_lr")


@dataclass(frozen=True)
class Entry:
    store: Path
    label: str
    command: str
    machine: str
    role: str  # "main": the documented reproduction; "explored": a size tried on the way


def read_manifest(path: Path) -> list[Entry]:
    items = json.loads(path.read_text())["stores"]
    return [Entry(path.parent / i["store"], i["label"], i["command"], i["machine"], i.get("role", "main"))
            for i in items]


def _wall_seconds(runs: pd.DataFrame) -> float:
    """First run created to last run updated: the grid's wall time."""
    start = min(datetime.fromisoformat(t) for t in runs["created_at"])
    end = max(datetime.fromisoformat(t) for t in runs["updated_at"])
    return (end - start).total_seconds()


def _sizes(runs: pd.DataFrame) -> str:
    parts = []
    for key in SIZE_KEYS:
        values = sorted({str(c.get(key)) for c in runs["config"] if key in c})
        if values:
            parts.append(f"{key} = {' / '.join(values)}")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _claim_rows(claims: list[Claim]) -> list[str]:
    lines = ["| claim | setting | rule (per seed) | per seed | verdict | paper |",
             "| --- | --- | --- | --- | --- | --- |"]
    for c in claims:
        per_seed = "<br>".join(f"seed {r.seed}: " + ", ".join(f"{k} {_num(v)}" for k, v in r.values.items())
                               + (" ✓" if r.holds else " ✗") for r in c.seeds)
        lines.append(f"| {c.statement} | {c.setting} | {c.rule} | {per_seed} | **{c.verdict}** | {c.paper} |")
    return lines


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def _param_free_figure(epochs: pd.DataFrame, runs: pd.DataFrame, out: Path) -> Path | None:
    """Parameter-free ops of the derived cell per epoch, one line per run (the drift claim's quantity)."""
    rows = epochs.dropna(subset=["arch"]).merge(runs[["run_id", "method", "setting", "seed"]], on="run_id")
    if rows.empty:
        return None
    rows = rows.assign(free=rows["arch"].map(parameter_free_ops))
    settings = sorted(rows["setting"].unique())
    fig = Figure(figsize=(6.0 * len(settings), 4.2), layout="constrained")
    axes = fig.subplots(1, len(settings), squeeze=False)[0]
    colors = {"darts": "tab:red", "gaea-darts": "tab:blue"}
    for ax, setting in zip(axes, settings, strict=True):
        part = rows[rows["setting"] == setting]
        for (method, seed), run in part.groupby(["method", "seed"], sort=True):
            run = run.sort_values("epoch")
            ax.step(run["epoch"], run["free"] + (0.06 * seed - 0.03), where="post", color=colors.get(method, "gray"),
                    alpha=0.85, label=f"{method} seed {seed}", marker="o" if seed % 2 else "s", ms=2.5)
        ax.set(title=f"NAS-Bench-201 · CIFAR-10 · {setting}", xlabel="search epoch", ylim=(-0.5, 6.5),
               ylabel="parameter-free ops in the derived cell (of 6)")
        ax.legend(fontsize="small", title="seeds offset by ±0.03 to stay visible", title_fontsize="small")
    fig.suptitle("Drift toward parameter-free operations")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, metadata={"Software": None})
    return out


def open_read_only(path: Path) -> Store:
    """A committed store, opened without writing to it (no journal files appear beside it in the checkout)."""
    return Store(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true", create=False)


def _section(entry: Entry, page_dir: Path, figure_dir: Path) -> list[str]:
    store = open_read_only(entry.store)
    runs, epochs = store.runs_df(), store.epochs_df(with_runs=False)
    claims = nb201_claims(runs, epochs)
    finished = runs[runs["status"] == "finished"]
    lines = [f"## {entry.label}", "", f"- command: `{entry.command}`", f"- machine: {entry.machine}; recorded "
             f"devices: {', '.join(sorted(set(runs['device'].dropna())))}",
             f"- sizes: {_sizes(runs)}",
             f"- runs: {len(finished)} finished of {len(runs)}; grid wall time {_duration(_wall_seconds(runs))}, "
             f"search time per run {_duration(finished['search_seconds'].min())} to "
             f"{_duration(finished['search_seconds'].max())}" if len(finished) else
             f"- runs: none finished of {len(runs)} (the grid was stopped; epochs recorded: {len(epochs)})",
             f"- store: `{entry.store.name}`", ""]
    if claims:
        lines += ["### Claims", "", *_claim_rows(claims), ""]
    drawn = []
    data = ReportData(store)
    stem = entry.store.stem
    for spec in (s for s in figures.SPECS if s.name in FIGURES):
        files = figures.render(data, spec, figure_dir / stem)
        drawn += [f for f in files if f.suffix == ".png"]
    free = _param_free_figure(epochs, runs, figure_dir / stem / "parameter_free_ops.png")
    if free is not None:
        drawn.append(free)
    for f in drawn:
        lines += [f"![{f.stem}]({f.relative_to(page_dir).as_posix()})", ""]
    return lines


def build_page(manifest: Path, page: Path, intro: str) -> str:
    """Write ``page`` (markdown) and its figures (beside it, in ``<page stem>/``) from ``manifest``'s stores."""
    entries = read_manifest(manifest)
    figure_dir = page.parent / page.stem
    lines = [intro.rstrip(), ""]
    for role, title in (("main", None), ("explored", "# Sizes tried on the way")):
        chosen = [e for e in entries if e.role == role]
        if chosen and title:
            lines += [title, ""]
        for entry in chosen:
            lines += _section(entry, page.parent, figure_dir)
    text = "\n".join(lines).rstrip() + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")
    return text

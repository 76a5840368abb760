"""GAEA's figures from the store: per-epoch curves, mean line and min-max band over seeds, one panel each.

All four figures are the same plot with different runs and columns (``FigureSpec``): Figure 1 the
op-weight entropy of each GAEA variant and its base method per benchmark, Figure 2 the 1Shot1 test
regret per search space, Figure 4 the NB201 ground-truth test accuracy of DARTS and GAEA DARTS per
dataset, Figure 5 the same for XNAS. Panels without runs are left out and reported as missing; a figure
without any run is not drawn. Figures are built on ``matplotlib.figure.Figure`` (no pyplot state) and
saved as PNG and PDF without timestamps, so a store regenerates the same files.

What a panel must not suggest: the band spans the seeds' minimum to maximum (a mean ± std band leaves the
quantity's range, e.g. an entropy below 0); regret and entropy axes start at 0, so differences of 1e-5 nats
do not fill the panel; series that coincide are drawn with interleaved dashes and named in the legend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

import benchmarks.registry
from methods.registry import registry
from nasbench_errors import ConfigError
from results.reports.data import BUDGET_NAMES, ReportData, Variant, curve
from results.reports.missing import Need
from results.reports.paper import DATASET_TITLES, FIGURE_SOURCES, NB201_DATASETS, ONESHOT1_BEST_FINAL_REGRET

EPOCH_LABEL = "search epoch"
ENTROPY_LABEL = "mean entropy of op weights (nats)"
REGRET_LABEL = "test regret (percentage points)"
ONESHOT1 = "nb1shot1"
ONESHOT1_SPACES = ("1", "2", "3")
BAND_NOTE = "line: mean over seeds; band: min-max over seeds"
#: quantities whose axis starts at their lower bound (0) when no value lies below it, so that small differences
#: are not blown up to a full panel
AXIS_FLOORS: dict[str, float] = {"regret_test": 0.0, "regret_valid": 0.0, "entropy_ops": 0.0, "entropy_edges": 0.0}
#: mean curves closer than this fraction of the y-axis span at every epoch cannot be told apart by eye
COINCIDE_FRACTION = 0.01
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclass(frozen=True)
class Panel:
    """One subplot: runs of ``benchmark`` on ``dataset`` in search space ``space`` ("" for NB201)."""

    title: str
    benchmark: str
    dataset: str
    space: str = ""


@dataclass(frozen=True)
class Series:
    label: str
    rows: pd.DataFrame  # the epoch rows of the series' runs


@dataclass(frozen=True)
class FigureSpec:
    name: str  # file stem
    title: str
    column: str  # the per-epoch value plotted
    ylabel: str
    methods: Callable[[], list[str]]  # registry names plotted (pairs, families)
    panels: Callable[[ReportData], list[Panel]]
    needs: Callable[[], list[Need]]  # the runs the paper's version of the figure has
    source: str
    references: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # panel space -> dashed line


def _gaea_pairs() -> list[str]:
    """Every GAEA variant with its base method, when both are registered (base first)."""
    names = list(registry())
    out: list[str] = []
    for name in names:
        base = name.removeprefix("gaea-")
        if name != base and base in names:
            out += [base, name]
    return out


def _panel(benchmark: str, space: str) -> Panel:
    """A panel on the dataset GAEA plots: the benchmark's first (CIFAR-10)."""
    try:
        bench = benchmarks.registry.get(benchmark)
        title, dataset = bench.title, bench.datasets[0]
    except ConfigError:
        title, dataset = benchmark, "cifar10"
    where = f" · search space {space}" if space else ""
    return Panel(f"{title}{where} · {DATASET_TITLES.get(dataset, dataset)}", benchmark, dataset, space)


def _entropy_panels(data: ReportData) -> list[Panel]:
    """One panel per benchmark and search space the store has runs on."""
    return [_panel(b, s) for b, s in sorted({(v.benchmark, v.space) for v in data.finished_variants()})]


def _oneshot_panels(data: ReportData) -> list[Panel]:
    """One panel per 1Shot1 search space (1-3)."""
    return [_panel(ONESHOT1, s) for s in ONESHOT1_SPACES]


def _nb201_panels(data: ReportData) -> list[Panel]:
    return [Panel(f"NAS-Bench-201 · {DATASET_TITLES[ds]}", "nb201", ds) for ds in NB201_DATASETS]


def _needs(item: str, methods: list[tuple[str, ...]], setting: str | None, benchmark: str,
           datasets: tuple[str, ...], space: str = "") -> list[Need]:
    return [Need(item, m, setting, benchmark, ds, space) for ds in datasets for m in methods]


SPECS: tuple[FigureSpec, ...] = (
    FigureSpec("fig1_entropy", "Figure 1: entropy of the op weights", "entropy_ops", ENTROPY_LABEL,
               _gaea_pairs, _entropy_panels,
               lambda: (_needs("Figure 1, NB201 panel", [("darts",), ("gaea-darts",)], "bilevel", "nb201",
                               ("cifar10",))
                        + _needs("Figure 1, 1Shot1 panel", [("pc-darts",), ("gaea-pc-darts",)], None,
                                 ONESHOT1, ("cifar10",), "1")
                        + _needs("Figure 1, DARTS CNN space panel", [("pc-darts",), ("gaea-pc-darts",)], None,
                                 "nb301", ("cifar10",))),
               FIGURE_SOURCES["fig1"]),
    FigureSpec("fig2_1shot1_regret", "Figure 2: NAS-Bench-1Shot1 test regret", "regret_test", REGRET_LABEL,
               lambda: ["pc-darts", "gaea-pc-darts"], _oneshot_panels,
               lambda: [n for sp in ONESHOT1_SPACES for n in _needs(f"Figure 2, search space {sp}", [
                   ("pc-darts",), ("gaea-pc-darts",)], None, ONESHOT1, ("cifar10",), sp)],
               FIGURE_SOURCES["fig2"], ONESHOT1_BEST_FINAL_REGRET),
    FigureSpec("fig4_nb201_darts_gaea", "Figure 4: NB201 learning curves, DARTS vs GAEA DARTS",
               "test_acc", "", lambda: ["darts", "gaea-darts"], _nb201_panels,
               lambda: _needs("Figure 4", [("darts",), ("gaea-darts",)], None, "nb201", NB201_DATASETS),
               FIGURE_SOURCES["fig4"]),
    FigureSpec("fig5_nb201_xnas", "Figure 5: NB201 learning curves, XNAS", "test_acc", "",
               lambda: ["xnas"], _nb201_panels,
               lambda: _needs("Figure 5", [("xnas",)], None, "nb201", NB201_DATASETS), FIGURE_SOURCES["fig5"]),
)


def _series(data: ReportData, spec: FigureSpec, panel: Panel) -> list[Series]:
    methods = spec.methods()
    ep = data.epochs
    out = []
    variants: list[Variant] = [v for v in data.finished_variants(panel.benchmark)
                               if v.method in methods and v.space == panel.space]
    for v in sorted(variants, key=lambda v: (methods.index(v.method), v.sort_key)):
        rows = ep[(ep["variant"] == v) & (ep["dataset"] == panel.dataset)]
        if not rows.empty:
            n = rows["run_id"].nunique()
            out.append(Series(f"{v.label} · {v.description} · n={n}", rows))
    return out


def _accuracy_label(series: list[Series]) -> str:
    budgets = sorted({b for s in series for b in s.rows["oracle_budget"].dropna()})
    return f"ground-truth test accuracy (%, {', '.join(BUDGET_NAMES.get(b, b) for b in budgets)})"


def coinciding(curves: Sequence[pd.DataFrame], tolerance: float) -> list[list[int]]:
    """Groups (two or more, by index) of curves over the same epochs whose means differ by at most
    ``tolerance`` at every epoch; each curve is compared with its group's first."""
    groups: list[list[int]] = []
    for i, c in enumerate(curves):
        for group in groups:
            first = curves[group[0]]
            if (np.array_equal(first["epoch"].to_numpy(), c["epoch"].to_numpy())
                    and bool(np.all(np.abs(first["mean"].to_numpy() - c["mean"].to_numpy()) <= tolerance))):
                group.append(i)
                break
        else:
            groups.append([i])
    return [g for g in groups if len(g) > 1]


def _short(label: str) -> str:
    return label.split(" · ")[0]


def draw_panel(ax: Axes, series: list[Series], column: str, title: str, ylabel: str,
               reference: tuple[float, str] | None = None) -> None:
    """Mean line and min-max band over runs per series, per search epoch; coinciding series made visible."""
    palette = sns.color_palette("colorblind", max(len(series), 1))
    curves = [curve(s.rows, column) for s in series]
    lines = []
    for i, (color, s, c) in enumerate(zip(palette, series, curves, strict=False)):
        (line,) = ax.plot(c["epoch"], c["mean"], color=color, lw=2, marker=MARKERS[i % len(MARKERS)], ms=4,
                          label=s.label)
        ax.fill_between(c["epoch"], c["min"], c["max"], color=color, alpha=0.2, lw=0)
        lines.append(line)
    if reference is not None:
        ax.axhline(reference[0], color="0.3", ls="--", lw=1.2, label=reference[1])
    lowest = min((float(c["min"].min()) for c in curves if len(c)), default=0.0)
    if column in AXIS_FLOORS and lowest >= AXIS_FLOORS[column]:  # (a surrogate's regret can fall below 0)
        floor, top = AXIS_FLOORS[column], ax.get_ylim()[1]
        ax.set_ylim(floor, top + 0.05 * (top - floor))  # headroom: a curve at its maximum stays off the frame
    low, high = ax.get_ylim()
    for group in coinciding(curves, COINCIDE_FRACTION * (high - low)):
        cycle = 4 * len(group)  # interleaved dashes: every colour of the group shows along the line
        for rank, i in enumerate(group[1:], start=1):
            lines[i].set_linestyle((cycle - 4 * rank, (4, cycle - 4)))
            lines[i].set_markerfacecolor("none")
            lines[i].set_markersize(4 + 3 * rank)
        ax.plot([], [], " ", label="same curve: " + " = ".join(_short(series[i].label) for i in group))
    ax.set_title(title)
    ax.set_xlabel(EPOCH_LABEL)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))  # absolute values, no "1e-5 + 1.386" offset
    # below the axes: inside, a legend can hide the very lines it names (flat curves at the top of an axis)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), title=BAND_NOTE,
              title_fontsize="small")


def render(data: ReportData, spec: FigureSpec, out_dir: Path) -> list[Path]:
    """Draw ``spec`` into ``<out_dir>/<name>.png`` and ``.pdf``; [] when no panel has runs."""
    panels = [(p, s) for p in spec.panels(data) if (s := _series(data, spec, p))]
    if not panels:
        return []
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(max(7.5, 6.0 * len(panels)), 5.2), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (panel, series) in zip(axes, panels, strict=True):
            ylabel = spec.ylabel or _accuracy_label(series)
            draw_panel(ax, series, spec.column, panel.title, ylabel, spec.references.get(panel.space))
        fig.suptitle(spec.title)
        out_dir.mkdir(parents=True, exist_ok=True)
        png, pdf = out_dir / f"{spec.name}.png", out_dir / f"{spec.name}.pdf"
        fig.savefig(png, dpi=150, metadata={"Software": None})
        fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None, "Creator": None})
    return [png, pdf]


def needs(data: ReportData, spec: FigureSpec) -> list[Need]:
    """The paper's runs of ``spec`` that the store lacks."""
    return [n for n in spec.needs() if not any(data.has_runs(m, n.benchmark, n.dataset, n.setting, n.space)
                                               for m in n.methods)]

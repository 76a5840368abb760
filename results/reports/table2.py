"""GAEA Table 2 (NAS-Bench-201) from the store, each of our numbers beside the paper's and the difference.

Blocks as in the paper: black-box HO searched on CIFAR-10; weight sharing searched on CIFAR-10 and
evaluated on all three datasets through the oracle (transfer, from the runs' per-dataset lookups); weight
sharing run on each dataset (direct, each run's own test accuracy); reference rows (the quoted ResNet
with the ResNet-like cell's oracle value beside it, and the oracle's Optimal). Our numbers are the final
epoch's test accuracy, mean ± population std over seeds. A difference from the paper is a number only for
runs made with the paper's protocol (``results.reports.protocol``); other rows say why they are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from results.reports.data import ReportData, Stat, Variant
from results.reports.missing import Need
from results.reports.paper import (
    BLOCK_TITLES,
    DATASET_TITLES,
    NB201_DATASETS,
    OPTIMAL,
    RESNET,
    RESNET_LIKE_CELL,
    TABLE2,
    TABLE2_SOURCE,
    QuotedRow,
)
from results.reports.protocol import PAPER_BUDGETS, not_comparable
from results.reports.render import Column, ReportTable

BENCHMARK = "nb201"
PAPER_BUDGET = PAPER_BUDGETS[BENCHMARK]


@dataclass(frozen=True)
class Reference:
    """Oracle values for the reference rows: the optimum and the ResNet-like cell per dataset (test, hp200)."""

    optimum: dict[str, float | None]
    resnet_cell: dict[str, float | None]
    source: str  # where the optimum came from (the oracle file, or the optima the runs recorded)


def columns() -> list[Column]:
    cols = [Column("method", "Method"), Column("runs", "Ours: runs"), Column("seeds", "Seeds"),
            Column("search", "Search (s)", 0), Column("search_paper", "Search (s), paper")]
    for ds in NB201_DATASETS:
        title = DATASET_TITLES[ds]
        cols += [Column(ds, f"{title} (test)", 2), Column(f"{ds}_paper", f"{title}, paper", 2),
                 Column(f"{ds}_diff", f"{title} Δ", 2, signed=True, spread=False)]
    return cols


def _paper_cells(row: QuotedRow | None, ours: dict[str, Any], variant: Variant | None) -> dict[str, Any]:
    """The paper's numbers and ours minus the paper's: a number only for runs made with the paper's protocol,
    elsewhere the reason they are not comparable."""
    if row is None:
        return {}
    cells: dict[str, Any] = {"search_paper": row.search_seconds}
    why_not = None if variant is None else not_comparable(variant)
    for ds, quoted in zip(NB201_DATASETS, row.acc, strict=True):
        cells[f"{ds}_paper"] = quoted
        value = ours.get(ds)
        mean = value.mean if isinstance(value, Stat) else value
        if mean is not None:
            cells[f"{ds}_diff"] = mean - quoted.mean if why_not is None else why_not
    return cells


def _our_cells(data: ReportData, variant: Variant, block: str) -> dict[str, Any]:
    """Our numbers for one variant in one block, or {} when the store has no run for that block."""
    c10 = data.runs_of(variant, "cifar10")
    if block in ("hpo", "transfer"):
        if c10.empty:
            return {}
        cells: dict[str, Any] = {ds: data.transfer(variant, ds) for ds in NB201_DATASETS}
        cells["seeds"] = str(len(c10))
        cells["search"] = Stat.of(c10["search_seconds"])
    else:
        per = {ds: data.runs_of(variant, ds) for ds in NB201_DATASETS}
        if all(rows.empty for rows in per.values()):
            return {}
        cells = {ds: Stat.of(rows["test_acc"]) for ds, rows in per.items()}
        cells["seeds"] = " / ".join(str(len(rows)) if len(rows) else "–" for rows in per.values())
        cells["search"] = Stat.of(c10["search_seconds"])
    cells["runs"] = variant.description
    return cells


def _matches(row: QuotedRow, variant: Variant) -> bool:
    return variant.method in row.methods and (row.setting is None or row.setting == variant.setting)


def build(data: ReportData, reference: Reference) -> tuple[ReportTable, list[Need]]:
    """The table, and what it lacks: the datasets each paper row has no finished run on."""
    table = ReportTable("gaea_table2_nb201", "GAEA Table 2 (NAS-Bench-201): test accuracy (%) of the final "
                        "architecture, mean ± std over seeds, ours beside the paper's", columns())
    needs: list[Need] = []
    variants = data.finished_variants(BENCHMARK)
    for block in ("hpo", "transfer", "direct"):
        group = BLOCK_TITLES[block]
        for row in (r for r in TABLE2 if r.block == block):
            shown = False
            for v in (v for v in variants if _matches(row, v)):
                ours = _our_cells(data, v, block)
                if ours:
                    shown = True
                    table.rows.append({"_group": group, "method": row.label, **ours,
                                       **_paper_cells(row, ours, v)})
            if not shown:
                table.rows.append({"_group": group, "method": row.label, **_paper_cells(row, {}, None)})
            needs += _needs_of(row, data)
        if block == "hpo":
            continue  # black-box methods are matched by name only: no unlisted ones to add
        for v in variants:
            ours = {} if any(_matches(r, v) for r in TABLE2) else _our_cells(data, v, block)
            if ours:
                table.rows.append({"_group": group, "method": f"{v.label} (not in the paper)", **ours})
    table.rows += _reference_rows(reference)
    table.notes = [
        f"Paper numbers: {TABLE2_SOURCE}; † search cost on NVIDIA P100, ‡ the GAEA authors' reproduction of a "
        "non-GAEA method; unmarked non-GAEA rows are Dong & Yang (2020).",
        "Ours: final-epoch architecture, NB201 test accuracy (mean over the benchmark's seeds) from the oracle; "
        "mean ± population std over the finished runs (seeds column: runs per dataset). 'Ours: runs' gives the "
        "profile ('+set': settings changed with --set, listed in index.html), search epochs and oracle budget "
        "(hp200 = the 200-epoch table the paper reports).",
        "Δ = ours minus the paper's, only for runs made with the paper's protocol: the paper profile, no setting "
        "changed with --set (channels_last aside) and the 200-epoch table; any other row says why it is not "
        "comparable (e.g. a quick-profile search is a few epochs of a smaller network on fewer images).",
        "Search (s) is the CIFAR-10 search, as in the paper: for weight-sharing rows the wall-clock seconds "
        "measured on our device (see the run metadata; comparable only relatively), for the black-box rows "
        "(Regular HO) the simulated training seconds the benchmark's cost table charges (no network is trained).",
        "Transfer and black-box rows: architectures searched on CIFAR-10, looked up on each dataset; direct rows: "
        "searches run on each dataset.",
        f"ResNet: quoted (a hand-designed network, not a cell of the space); 'ours' beside it is the oracle value "
        f"of the ResNet-like cell {RESNET_LIKE_CELL}. Optimal: {reference.source}.",
    ]
    return table, needs


def _needs_of(row: QuotedRow, data: ReportData) -> list[Need]:
    if not row.methods:
        return []
    datasets = ("cifar10",) if row.block in ("hpo", "transfer") else NB201_DATASETS
    item = "Table 2: " + row.label.replace("[†] ", "").replace("[‡] ", "").replace(" [‡]", "")
    return [Need(item, row.methods, row.setting, BENCHMARK, ds) for ds in datasets
            if not any(data.has_runs(m, BENCHMARK, ds, row.setting) for m in row.methods)]


def _reference_rows(ref: Reference) -> list[dict[str, Any]]:
    group = BLOCK_TITLES["reference"]
    resnet: dict[str, Any] = {"_group": group, "method": "ResNet (quoted; ours: ResNet-like cell, oracle)",
                              "runs": "oracle lookup" if any(ref.resnet_cell.values()) else None,
                              "search_paper": RESNET.search_seconds}
    optimal: dict[str, Any] = {"_group": group, "method": "Optimal (ours: oracle)",
                               "runs": "oracle, hp200" if any(ref.optimum.values()) else None,
                               "search_paper": OPTIMAL.search_seconds}
    for ds, q_res, q_opt in zip(NB201_DATASETS, RESNET.acc, OPTIMAL.acc, strict=True):
        resnet[ds], resnet[f"{ds}_paper"] = ref.resnet_cell.get(ds), q_res
        optimal[ds], optimal[f"{ds}_paper"] = ref.optimum.get(ds), q_opt
        if ref.optimum.get(ds) is not None:
            optimal[f"{ds}_diff"] = ref.optimum[ds] - q_opt.mean
    return [resnet, optimal]


def reference_from(data: ReportData, oracle: Any | None) -> Reference:
    """Optimum and ResNet-like cell from the oracle; without one, the optima the runs recorded."""
    if oracle is not None:
        from benchmarks.nb201.space import NB201Arch

        index = NB201Arch.from_string(RESNET_LIKE_CELL).index
        optimum = {ds: oracle.optimum(ds, "test", PAPER_BUDGET) for ds in NB201_DATASETS}
        cell = {ds: oracle.query(index, ds, "test", PAPER_BUDGET) for ds in NB201_DATASETS}
        return Reference(optimum, cell, f"maximum over all 15,625 cells in the oracle table {oracle.path}")
    optimum = {ds: data.recorded_optimum(ds) for ds in NB201_DATASETS}
    return Reference(optimum, {}, "the optimum the runs recorded with their lookups (no oracle table was opened)")

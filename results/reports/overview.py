"""The table no paper has: every method x benchmark x dataset the store holds, on the same footing.

Per variant and dataset: finished and failed runs, whether they followed the paper's protocol, and over the
finished runs' final epochs the test regret, test accuracy, op-weight entropy, skip-connection count and search
time (mean ± std). Search time is measured wall-clock seconds on the runs' device for supernet searches and
simulated training seconds for black-box baselines: two columns, never one. After the rows of a method on a
benchmark and dataset come the numbers its papers report there, as reference rows marked "quoted: <source>"
(``paper.reference_quotes``): quoted, never computed.
"""

from __future__ import annotations

from typing import Any

import benchmarks.registry
from nasbench_errors import ConfigError
from results.reports.data import ReportData, Stat, Variant
from results.reports.paper import Quoted, reference_quotes
from results.reports.protocol import protocol_text
from results.reports.render import Column, ReportTable
from results.summary import MEASURED, SIMULATED, seconds_kind

COLUMNS = [
    Column("method", "Method"), Column("benchmark", "Benchmark"), Column("dataset", "Dataset"),
    Column("runs", "Runs"), Column("protocol", "Paper protocol"), Column("seeds", "Seeds"), Column("failed", "Failed"),
    Column("regret", "Final test regret (pp)", 2), Column("acc", "Final test acc. (%)", 2),
    Column("entropy", "Final entropy (nats)", 3), Column("skip", "Skip connections", 2),
    Column("seconds", "Search wall-clock (s)", 0), Column("device", "Device"),
    Column("simulated", "Simulated training (s)", 0),
]


def _dataset_order(benchmark: str, dataset: str) -> int:
    try:
        names = benchmarks.registry.get(benchmark).datasets
    except ConfigError:
        return 0
    return names.index(dataset) if dataset in names else len(names)


#: the paper column of quoted DARTS-space numbers (test error after retraining), shown when a quote has one
ERROR_COLUMN = Column("error", "Test error (%), quoted", 2)


def _quoted_rows(variant: Variant, dataset: str) -> list[dict[str, Any]]:
    rows = []
    for q in reference_quotes(variant.method, variant.setting, variant.benchmark, dataset):
        value = Quoted(q.mean, q.std)
        rows.append({"method": f"{variant.label} (quoted: {q.source})", "benchmark": q.benchmark,
                     "dataset": q.dataset, "runs": "quoted",
                     **({"acc": value} if q.metric == "test_acc" else {"error": value})})
    return rows


def build(data: ReportData) -> ReportTable:
    table = ReportTable("overview", "Every method × benchmark × dataset in the store: final-epoch values, "
                        "mean ± std over seeds; the papers' numbers beside them, quoted", list(COLUMNS),
                        sortable=True)
    runs = data.runs
    pairs = {(v, ds) for v, ds in zip(runs["variant"], runs["dataset"], strict=True)}
    ordered = sorted(pairs, key=lambda p: (p[0].sort_key, _dataset_order(p[0].benchmark, p[1]), p[1]))
    # quotes follow the last variant of a method (and setting) on benchmark:dataset, once
    last = {(v.method, v.setting, v.benchmark, ds): i for i, (v, ds) in enumerate(ordered)}
    for i, (variant, dataset) in enumerate(ordered):
        mine = runs[(runs["variant"] == variant) & (runs["dataset"] == dataset)]
        final = data.runs_of(variant, dataset)
        kinds = final["extra"].map(seconds_kind)
        measured = final[kinds == MEASURED]
        table.rows.append({
            "method": variant.label, "benchmark": variant.benchmark, "dataset": dataset,
            "runs": variant.description, "protocol": protocol_text(variant),
            "seeds": ", ".join(str(s) for s in final["seed"]) or None,
            "failed": str(int((mine["status"] == "failed").sum())),
            "regret": Stat.of(final["regret_test"]), "acc": Stat.of(final["test_acc"]),
            "entropy": Stat.of(final["entropy_ops"]), "skip": Stat.of(final["n_skip"]),
            "seconds": Stat.of(measured["search_seconds"]),
            "device": "; ".join(sorted(set(mine.loc[mine["run_id"].isin(measured["run_id"]), "device"].dropna())))
            or None,
            "simulated": Stat.of(final.loc[kinds == SIMULATED, "search_seconds"]),
        })
        if last[(variant.method, variant.setting, variant.benchmark, dataset)] == i:
            table.rows += _quoted_rows(variant, dataset)
    if any("error" in r for r in table.rows):
        acc = next(i for i, c in enumerate(table.columns) if c.key == "acc")
        table.columns.insert(acc + 1, ERROR_COLUMN)
    table.notes = [
        "Finished runs only (failed runs are counted, not averaged); std is the population std over seeds.",
        "Regret = the benchmark optimum of the same metric minus the derived architecture's value, in percentage "
        "points; entropy is the mean over decisions of -Σ p ln p of the op weights; 'Runs' gives the profile "
        "('+set': settings changed with --set, listed in index.html), search epochs and the oracle budget.",
        "Rows marked 'quoted: <source>' are numbers the papers report (test accuracy of the final architecture on "
        "NAS-Bench-201, or the DARTS space's test error after retraining), not computed here; their protocols "
        "(search length, seeds, benchmark version) may differ from our runs'.",
        "Paper protocol: 'paper' where the runs used the paper profile, no setting changed with --set (channels_last "
        "aside) and the table the paper reports; otherwise why a paper's number is not comparable with ours.",
        "Search wall-clock: seconds measured on the device named beside them (supernet searches); simulated "
        "training: the seconds the benchmark's cost table charges a black-box baseline (no network is trained). "
        "The two never share a column.",
    ]
    return table

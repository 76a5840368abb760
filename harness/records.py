"""The parts of an epoch row every kind of run writes: the architecture's oracle values and the entropies.

Shared by the supernet runner (``harness.runner``) and the black-box runner (``harness.blackbox_run``),
so both record an architecture, its lookups and its regrets the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from benchmarks.registry import Benchmark, Oracle
from benchmarks.space import SearchSpace, Selection
from methods.entropy import mean_entropy, normalized_mean_entropy
from nasbench_errors import ConfigError, OracleError

#: what ``oracle_fields`` fills from an architecture (None while a search has none)
ARCH_FIELDS = ("arch", "arch_key", "n_skip", "test_acc", "valid_acc", "regret_test", "regret_valid")
#: every oracle value is an accuracy in percent; NaN means the table lacks it (stored as NULL)
VALID_RANGE = (0.0, 100.0)


def check_oracle_budget(bench: Benchmark, space: SearchSpace, oracle: Oracle, dataset: str, budget: str) -> None:
    """Look up one architecture at ``budget`` so a budget the table lacks is refused before a run is stored."""
    probe = space.uniform_selection_sample(torch.Generator().manual_seed(0))  # its own generator: no RNG drawn
    try:
        oracle.lookups(bench.describe(space, probe).key, budget=budget)
    except OracleError as exc:
        raise ConfigError(f"oracle_budget={budget}: {exc}") from None


def oracle_fields(bench: Benchmark, space: SearchSpace, oracle: Oracle, dataset: str, budget: str,
                  selection: Selection | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(row fields, lookup rows) of ``selection`` at ``budget``; no architecture gives empty fields."""
    if selection is None:
        return {**dict.fromkeys(ARCH_FIELDS), "oracle_budget": budget}, []
    rec = bench.describe(space, selection)
    found = oracle.lookups(rec.key, budget=budget)
    for lk in found:
        _check_value(oracle, rec.arch, lk)
    (test_ds, test_split), (valid_ds, valid_split) = oracle.search_metrics(dataset)
    head = {(lk.dataset, lk.split): lk for lk in found if lk.stat == "mean"}
    test, valid = head.get((test_ds, test_split)), head.get((valid_ds, valid_split))
    row = {
        "arch": rec.arch, "arch_key": str(rec.key), "n_skip": rec.n_skip, "oracle_budget": budget,
        "test_acc": test.value if test else None, "valid_acc": valid.value if valid else None,
        "regret_test": test.regret if test else None, "regret_valid": valid.regret if valid else None,
    }
    lookup_rows = [{"dataset": lk.dataset, "split": lk.split, "budget": lk.budget, "stat": lk.stat,
                    "value": lk.value, "optimum": lk.optimum, "regret": lk.regret} for lk in found]
    return row, lookup_rows


def _check_value(oracle: Oracle, arch: str, lk: Any) -> None:
    """Refuse a value outside the table's range (inf, 1e29, negative): a table changed or damaged under the
    run; a benchmark must never record it."""
    low, high = VALID_RANGE
    for what, value in (("value", lk.value), ("optimum", lk.optimum)):
        if value is not None and not math.isnan(value) and not low <= value <= high:
            where = getattr(oracle, "path", "the benchmark table")
            raise OracleError(f"{where}: {lk.dataset}/{lk.split}/{lk.budget}/{lk.stat} {what} of {arch} is {value:g}, "
                              f"outside {low:g}..{high:g} (the table is damaged or changed); re-import it with "
                              "`harness data import`, then rerun")


def entropy_fields(space: SearchSpace, probs: Mapping[str, torch.Tensor]) -> dict[str, float | None]:
    """Mean row entropy of the op group (raw and normalized by ln #options) and of the edge group.

    Where a space has several groups of a role (DARTS: normal and reduction cell) the first one counts,
    the normal cell that GAEA's Figure 1 plots (spec 6.3.2); ``detail_fields`` gives every group's. A group
    without probabilities (a DARTS cell's inputs, which only edge-normalizing methods weight) gives None.
    """
    ops = [g for g in space.groups if g.role == "ops"][:1]
    edges = [g for g in space.groups if g.role == "edges" and g.name in probs][:1]
    op_rows = torch.cat([probs[g.name].cpu() for g in ops], dim=0)
    return {
        "entropy_ops": mean_entropy(op_rows),
        "entropy_ops_norm": normalized_mean_entropy(op_rows, torch.cat([g.mask for g in ops], dim=0)),
        "entropy_edges": mean_entropy(torch.cat([probs[g.name].cpu() for g in edges], dim=0)) if edges else None,
    }


def detail_fields(bench: Benchmark, space: SearchSpace, probs: Mapping[str, torch.Tensor],
                  selection: Selection) -> dict[str, float]:
    """For the row's ``extra``: the architecture's ``details`` and, where a role has several groups, the mean
    row entropy of each (``entropy_<group>``: DARTS's reduction cell next to the normal one)."""
    out = dict(bench.describe(space, selection).details)
    for role in ("ops", "edges"):
        groups = [g for g in space.groups if g.role == role and g.name in probs]
        if len(groups) > 1:
            out.update({f"entropy_{g.name}": mean_entropy(probs[g.name].cpu()) for g in groups})
    return out

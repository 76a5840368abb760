"""Importer-test helpers over the official-format writers of ``harness.bench.official_files``, and CSV exports of
the bundled table in the formats of the real per-architecture exports (so CSV tests run without ../shared)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.nb201.oracle import NB201Oracle
from benchmarks.nb201.space import N_ARCHS, all_arch_strings
from harness.bench.official_files import (  # noqa: F401 - re-exported for the tests
    DATASETS,
    EPOCHS,
    EVAL_SETS,
    accuracy,
    arch_results,
    hp200_seeds,
    nats_entry,
    pickle_pbz2,
    pth_data,
    write_nats_dir,
    write_nats_file,
    write_pth,
)


def expected(index: int, dataset: str, eval_set: str, budget: str, seeds: Iterable[int],
             epoch: int | None = None) -> float:
    """Mean over ``seeds`` of ``accuracy`` at ``epoch`` (default: the last)."""
    epoch = EPOCHS[budget] - 1 if epoch is None else epoch
    return float(np.mean([accuracy(index, dataset, eval_set, budget, s, epoch) for s in seeds]))


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to a fraction of its size, as an interrupted download would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({"index": np.arange(N_ARCHS), "arch_str": all_arch_strings(), **columns})


def export_means_csv(oracle: NB201Oracle, path: Path, budget: str = "hp200") -> Path:
    """``index, arch_str, <dataset>_<split>...``: the table's means at ``budget``, as the real mean-accuracy CSVs."""
    everything = np.arange(N_ARCHS)
    columns = {f"{k.dataset}_{k.split}": oracle.query(everything, k.dataset, k.split, budget)
               for k in oracle.metrics() if k.budget == budget and k.stat == "mean"}
    _frame(columns).to_csv(path, index=False)
    return path


def export_costs_csv(oracle: NB201Oracle, path: Path) -> Path:
    """``index, arch_str, <dataset>_<quantity>...``: the table's costs, as the real cost CSV."""
    columns = {f"{dataset}_{quantity}": np.array([oracle.cost(i, dataset, quantity) for i in range(N_ARCHS)])
               for dataset, quantity in (name.split("/") for name in oracle.cost_metrics())}
    _frame(columns).to_csv(path, index=False)
    return path

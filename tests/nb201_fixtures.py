"""Importer-test helpers over the official-format writers of ``harness.bench.official_files``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

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

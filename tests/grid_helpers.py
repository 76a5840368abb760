"""Tiny run specs and tasks over the tiny synthetic CIFAR-10, and epoch tables compared without wall-time columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.executors import RunTask
from harness.specs import RunSpec
from results.store import Store
from tests.dataset_fixtures import tiny_cifar10_root
from tests.smoke import TINY

#: columns that depend on wall time, not on the computation
TIMING = ["seconds_arch", "seconds_weights", "seconds_eval", "seconds_epoch", "seconds_total", "written_at"]


def tiny_spec(method: str = "gaea-darts", seed: int = 0, **overrides: Any) -> RunSpec:
    from methods.registry import get

    return RunSpec.create(method, "nb201", "cifar10", get(method).default_setting, seed, "quick",
                          {**TINY, **overrides})


def tiny_task(spec: RunSpec, store: Path | str, oracle_dir: Path, checkpoint_dir: Path) -> RunTask:
    return RunTask(spec, Store(store).url, str(tiny_cifar10_root()), str(oracle_dir), str(checkpoint_dir), "cpu",
                   threads=1)


def epochs_of(store: Path | str, run_id: str) -> pd.DataFrame:
    """A run's stored epochs without timing columns, in epoch order."""
    df = Store(store, create=False).epochs_df(run_ids=[run_id]).drop(columns=TIMING)
    return df.sort_values("epoch").reset_index(drop=True)

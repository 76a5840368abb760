"""Small readers over the store shared by the CLI, reports and notebooks."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from results.store import Store

FINAL_COLUMNS = ("epoch", "arch", "test_acc", "valid_acc", "regret_test", "regret_valid", "entropy_ops", "n_skip")


def final_rows(store: Store, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run: its identity and status plus the values of its last recorded epoch."""
    runs = store.runs_df()
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(list(run_ids))]
    epochs = store.epochs_df(run_ids=list(runs["run_id"]), with_runs=False)
    last = epochs.sort_values("epoch").groupby("run_id", as_index=False).tail(1)
    cols = ["run_id", "method", "benchmark", "dataset", "setting", "seed", "status", "error", "search_seconds"]
    merged = runs[cols].merge(last[["run_id", *FINAL_COLUMNS]], on="run_id", how="left")
    order = {rid: i for i, rid in enumerate(run_ids)} if run_ids is not None else None
    if order is not None:
        merged = merged.sort_values("run_id", key=lambda s: s.map(order))
    return merged.reset_index(drop=True)

"""Small readers over the store shared by the CLI, reports and notebooks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from results.store import Store

FINAL_COLUMNS = ("epoch", "arch", "test_acc", "valid_acc", "regret_test", "regret_valid", "entropy_ops", "n_skip")

#: Two kinds of search seconds that never share an axis or a column: a black-box baseline charges the
#: benchmark's recorded training time of each cell it evaluates (nothing is trained), a supernet search is
#: timed by the wall clock of the device it ran on.
SIMULATED, MEASURED = "simulated", "measured"


def seconds_kind(extra: Mapping[str, Any] | None) -> str:
    """SIMULATED for an epoch row of a black-box run (its ``extra`` carries ``simulated_seconds``), else MEASURED."""
    return SIMULATED if isinstance(extra, Mapping) and "simulated_seconds" in extra else MEASURED


def time_label(kind: str, devices: Iterable[str] = ()) -> str:
    """What a seconds axis or column holds: simulated training time, or wall-clock time on which device(s)."""
    if kind == SIMULATED:
        return "simulated training seconds (the benchmark's cost table; no network trained)"
    where = ", ".join(sorted({d for d in devices if isinstance(d, str) and d}))
    return "measured wall-clock seconds" + (f" on {where}" if where else "")


def no_cell_reason(extra: Mapping[str, Any] | None) -> str:
    """Why an epoch row holds no architecture (``arch`` and ``arch_key`` NULL): a supernet whose ranking is still
    tied before its first architecture step (the runner derives nothing then), or a black-box search that has
    evaluated no cell yet."""
    extra = extra if isinstance(extra, Mapping) else {}
    if extra.get("tied_decisions"):
        return f"no cell derived: {int(extra['tied_decisions'])} tied decisions before any architecture step"
    if extra.get("evaluations") == 0:
        return "no cell evaluated yet"
    return "no cell recorded"


def final_rows(store: Store, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run: its identity and status plus the values of its last recorded epoch.

    ``seconds_kind`` says whether ``search_seconds`` are simulated or measured (None before the first epoch);
    ``arch`` is None where the last epoch holds no cell, and ``no_cell`` then says why (else None).
    """
    runs = store.runs_df()
    if run_ids is not None:
        runs = runs[runs["run_id"].isin(list(run_ids))]
    epochs = store.epochs_df(run_ids=list(runs["run_id"]), with_runs=False)
    last = epochs.sort_values("epoch").groupby("run_id", as_index=False).tail(1)
    last = last.assign(seconds_kind=last["extra"].map(seconds_kind),
                       no_cell=[None if isinstance(a, str) else no_cell_reason(x)
                                for a, x in zip(last["arch"], last["extra"], strict=True)])
    cols = ["run_id", "method", "benchmark", "dataset", "setting", "seed", "profile", "config", "overrides", "status",
            "error", "search_seconds", "device"]
    merged = runs[cols].merge(last[["run_id", *FINAL_COLUMNS, "seconds_kind", "no_cell"]], on="run_id", how="left")
    for col in ("arch", "seconds_kind", "no_cell"):  # None, not NaN, where a run has no such value
        merged[col] = merged[col].astype(object).where(merged[col].notna(), None)
    order = {rid: i for i, rid in enumerate(run_ids)} if run_ids is not None else None
    if order is not None:
        merged = merged.sort_values("run_id", key=lambda s: s.map(order))
    return merged.reset_index(drop=True)

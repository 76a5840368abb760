import json
import sqlite3

import pytest

from nasbench_errors import StoreError
from results.store import SCHEMA_VERSION, Store


def _run(store: Store, run_id: str = "r1", **kw) -> None:
    row = {"run_id": run_id, "method": "darts", "benchmark": "nb201", "dataset": "cifar10", "setting": "bilevel",
           "seed": 0, "profile": "quick", "config": json.dumps({"epochs": 2}), "config_hash": "h",
           "status": "running", "epochs_planned": 2, "versions": "{}", "host": "h", "device": "cpu"}
    row.update(kw)
    store.upsert_run(row)


def _lookups(value: float):
    return [{"dataset": "cifar10", "split": "test", "budget": "hp200", "stat": "mean", "value": value,
             "optimum": 94.37, "regret": 94.37 - value}]


def test_epoch_writes_are_idempotent_and_roundtrip(tmp_path):
    store = Store(tmp_path / "r.db")
    _run(store)
    row = {"arch": "a", "arch_key": "7", "n_skip": 2, "test_acc": 90.0, "regret_test": 4.37,
           "entropy_ops": 1.2, "arch_params": {"raw": {"ops": [[0.5, 0.5]]}}, "extra": {"lr_arch": 0.1}}
    store.write_epoch("r1", 0, row, _lookups(90.0))
    store.write_epoch("r1", 0, {**row, "test_acc": 91.0}, _lookups(91.0))  # rewrite replaces
    store.write_epoch("r1", 1, {**row, "train_loss": float("nan")}, _lookups(92.0))
    df = store.epochs_df()
    assert list(df["epoch"]) == [0, 1]
    assert df.loc[0, "test_acc"] == 91.0 and df.loc[0, "method"] == "darts"
    assert df.loc[0, "arch_params"] == {"raw": {"ops": [[0.5, 0.5]]}} and df.loc[0, "extra"] == {"lr_arch": 0.1}
    assert df["train_loss"].isna().tolist() == [True, True]  # NaN is stored as NULL and read back as NaN
    lk = store.lookups_df()
    assert len(lk) == 2 and lk["value"].tolist() == [91.0, 92.0]
    assert store.runs_df().loc[0, "epochs_done"] == 1


def test_upsert_keeps_created_at_and_updates_status(tmp_path):
    store = Store(tmp_path / "r.db")
    _run(store)
    created = store.runs_df().loc[0, "created_at"]
    _run(store, status="running", device="cuda")
    store.set_status("r1", "failed", error="NaN loss")
    runs = store.runs_df()
    assert len(runs) == 1 and runs.loc[0, "created_at"] == created
    assert runs.loc[0, "status"] == "failed" and runs.loc[0, "error"] == "NaN loss" and runs.loc[0, "device"] == "cuda"
    assert store.run_status(["r1", "nope"]) == {"r1": "failed"}


def test_delete_epochs_after(tmp_path):
    store = Store(tmp_path / "r.db")
    _run(store)
    for e in range(4):
        store.write_epoch("r1", e, {"arch": "a"}, _lookups(90.0 + e))
    store.delete_epochs_after("r1", 1)
    assert store.epochs_df()["epoch"].tolist() == [0, 1]
    assert store.lookups_df()["epoch"].tolist() == [0, 1]


def test_unknown_epoch_field_is_a_bug(tmp_path):
    store = Store(tmp_path / "r.db")
    _run(store)
    with pytest.raises(ValueError, match="unknown epoch fields"):
        store.write_epoch("r1", 0, {"bogus": 1})


def test_not_a_store_and_newer_schema_and_missing(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("hello, not sqlite")
    with pytest.raises(StoreError, match="not a results store"):
        Store(junk)
    newer = tmp_path / "newer.db"
    Store(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this harness"):
        Store(newer)
    with pytest.raises(StoreError, match="no results store"):
        Store(tmp_path / "absent.db", create=False)

"""The store under concurrent writers, and a store that is locked, read-only or not a store."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3

import pytest

from nasbench_errors import StoreError
from results.store import Store

EPOCHS = 40
LOOKUPS = 3


def _run_row(run_id: str) -> dict:
    return {"run_id": run_id, "method": "darts", "benchmark": "nb201", "dataset": "cifar10", "setting": "bilevel",
            "seed": 0, "profile": "quick", "config": json.dumps({"epochs": EPOCHS}), "config_hash": "h",
            "status": "running", "epochs_planned": EPOCHS, "versions": "{}", "host": "h", "device": "cpu"}


def _lookups(epoch: int) -> list[dict]:
    return [{"dataset": ds, "split": "test", "budget": "hp200", "stat": "mean", "value": 50.0 + epoch,
             "optimum": 94.37, "regret": 44.37 - epoch} for ds in ("cifar10", "cifar100", "ImageNet16-120")[:LOOKUPS]]


def _writer(args: tuple[str, list[str]]) -> int:
    """One process: opens the store itself and writes every epoch of its runs, one transaction each."""
    url, run_ids = args
    store = Store(url, timeout=60)
    for run_id in run_ids:
        store.upsert_run(_run_row(run_id))
    for epoch in range(EPOCHS + 1):
        for run_id in run_ids:
            store.write_epoch(run_id, epoch, {"arch": f"a{epoch}", "test_acc": 50.0 + epoch}, _lookups(epoch),
                              search_seconds=float(epoch))
    for run_id in run_ids:
        store.set_status(run_id, "finished")
    return len(run_ids)


def test_four_processes_write_many_epochs_with_no_lost_or_duplicated_rows(tmp_path):
    """4 processes x 41 epochs into one new SQLite store, all opening (and so creating) it at once; two of
    them also write the same shared run, whose rows must end up exactly once."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    jobs = [(url, [f"own{i}"] + (["shared"] if i < 2 else [])) for i in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_writer, jobs) == [2, 2, 1, 1]
    store = Store(url, create=False)
    runs = store.runs_df().set_index("run_id")
    assert sorted(runs.index) == ["own0", "own1", "own2", "own3", "shared"]
    assert set(runs["status"]) == {"finished"} and set(runs["epochs_done"]) == {EPOCHS}
    epochs = store.epochs_df()
    assert len(epochs) == 5 * (EPOCHS + 1) and not epochs.duplicated(["run_id", "epoch"]).any()
    assert (epochs["test_acc"] == 50.0 + epochs["epoch"]).all()
    lookups = store.lookups_df()
    assert len(lookups) == 5 * (EPOCHS + 1) * LOOKUPS
    assert not lookups.duplicated(["run_id", "epoch", "dataset", "split", "budget", "stat"]).any()
    with sqlite3.connect(tmp_path / "shared.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_locked_store_waits_then_says_so_and_loses_nothing(tmp_path):
    path = tmp_path / "r.db"
    store = Store(path, timeout=0.3)
    store.upsert_run(_run_row("r1"))
    store.write_epoch("r1", 0, {"arch": "a"}, _lookups(0))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        with pytest.raises(StoreError, match=r"results store .*r\.db is locked: another process held its write lock"):
            store.write_epoch("r1", 1, {"arch": "b"}, _lookups(1))
        assert store.epochs_df()["epoch"].tolist() == [0]  # readers are not blocked by the writer (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.write_epoch("r1", 1, {"arch": "b"}, _lookups(1))
    assert store.epochs_df()["epoch"].tolist() == [0, 1]


def test_a_read_only_store_reads_but_refuses_writes_with_one_line(tmp_path):
    path = tmp_path / "r.db"
    Store(path).upsert_run(_run_row("r1"))
    read_only = Store(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert read_only.run_status(["r1"]) == {"r1": "running"}
    with pytest.raises(StoreError) as info:
        read_only.set_status("r1", "finished")
    assert "is read-only (attempt to write a readonly database)" in str(info.value) and "\n" not in str(info.value)
    assert Store(path).run_status(["r1"]) == {"r1": "running"}


def test_a_sqlite_database_of_another_program_is_not_taken_over(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="is not a results store \\(a database with other tables\\)"):
        Store(path)
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"customers"}

"""A store written by the first release (schema 1), opened by this harness: read as it is with a note,
migrated in place by a writer (columns added, nothing lost), or read-only with the note; and the provenance
columns a new run records."""

from __future__ import annotations

import json
import sqlite3
import sys

import pytest

from harness.cli import main
from harness.specs import RunSpec
from nasbench_errors import StoreError
from results.reports.data import ReportData
from results.reports.html import metadata_rows
from results.store import ADDED_COLUMNS, SCHEMA_VERSION, Store, runs
from tests.schema1 import old_run, write_schema1_store

RUNS = [old_run("aaaa000000000001", {"epochs": 2, "lr": 0.025}, "h1"),
        old_run("aaaa000000000002", {"epochs": 2, "lr": 0.025}, "h1", seed=1),
        old_run("aaaa000000000003", {"epochs": 2, "lr": 0.025}, "h1", seed=2, status="failed")]
NEW_COLUMNS = ADDED_COLUMNS[2]


def _columns(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute("PRAGMA table_info(runs)")]


def _version(path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]


def _contents(path) -> tuple[list, list, list]:
    """Every schema-1 value of the store, in a stable order."""
    with sqlite3.connect(path) as conn:
        old = [c for c in _columns(path) if c not in NEW_COLUMNS]
        return (conn.execute(f"SELECT {', '.join(old)} FROM runs ORDER BY run_id").fetchall(),
                conn.execute("SELECT * FROM epochs ORDER BY run_id, epoch").fetchall(),
                conn.execute("SELECT * FROM lookups ORDER BY run_id, epoch").fetchall())


def test_a_reader_opens_a_schema1_store_as_it_is_with_a_note(tmp_path):
    path = tmp_path / "old.db"
    write_schema1_store(path, RUNS)
    before = _contents(path)
    store = Store(path, create=False)
    assert store.schema_version == 1 and "schema version 1" in store.note and "harness run" in store.note
    df = store.runs_df()
    assert list(df.columns) == [c.name for c in runs.c]  # every current column, the new ones empty
    assert df["run_id"].tolist() == [r["run_id"] for r in RUNS]
    assert df[list(NEW_COLUMNS)].isna().all().all()
    assert df.loc[0, "config"] == {"epochs": 2, "lr": 0.025} and df.loc[0, "versions"]["harness"] == "0.1.0"
    assert df.loc[0, "overrides"] is None and df.loc[0, "split"] is None
    assert len(store.epochs_df()) == 3 * 3 and len(store.lookups_df()) == 9
    with pytest.raises(StoreError, match="cannot write: .*schema version 1"):
        store.set_status(RUNS[0]["run_id"], "failed")
    assert _version(path) == "1" and _contents(path) == before  # a reader changes nothing

    data = ReportData(store)  # reports read it: no recorded overrides or versions, said so
    (variant,) = set(data.finished["variant"])
    assert variant.overrides is None and variant.method_version is None and "quick+set?" in variant.description
    meta = dict(metadata_rows(data))
    assert meta["store"] == str(path)  # the note has its own row
    assert "schema version 1" in meta["store note"] and "not recorded" in meta["source revisions"]
    assert meta["method and benchmark versions"] == "darts v? on nb201 v?"


def test_a_writer_migrates_a_schema1_store_in_place_and_loses_nothing(tmp_path):
    path = tmp_path / "old.db"
    write_schema1_store(path, RUNS)
    before = _contents(path)
    store = Store(path)
    assert store.note is None and store.schema_version == SCHEMA_VERSION == 2
    assert _version(path) == "2" and _columns(path)[-len(NEW_COLUMNS):] == list(NEW_COLUMNS)
    assert _contents(path) == before  # every schema-1 value as it was
    assert store.runs_df()[list(NEW_COLUMNS)].isna().all().all()
    store.mark_superseded([RUNS[0]["run_id"]], "bbbb000000000001")  # the migrated store takes new writes
    assert store.runs_df().loc[0, "superseded_by"] == "bbbb000000000001"
    Store(path)  # opening a migrated store again is a no-op
    assert _version(path) == "2" and len(_columns(path)) == len(runs.c)


def test_a_read_only_schema1_store_is_read_with_the_note(tmp_path):
    path = tmp_path / "old.db"
    write_schema1_store(path, RUNS)
    store = Store(f"sqlite:///file:{path}?mode=ro&uri=true")  # a writer that cannot migrate
    assert store.schema_version == 1 and "schema version 1" in store.note
    assert len(store.runs_df()) == 3
    with pytest.raises(StoreError, match="cannot write"):
        store.mark_superseded([RUNS[0]["run_id"]], "x")
    assert _version(path) == "1"


def test_status_on_a_schema1_store_prints_the_note_and_the_runs(tmp_path, monkeypatch, capsys):
    path = tmp_path / "old.db"
    write_schema1_store(path, RUNS)
    monkeypatch.setattr(sys, "argv", ["harness", "status", "--store", str(path)])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    out = capsys.readouterr()
    assert out.err.startswith("note: results store") and "schema version 1" in out.err
    assert "3 runs (1 failed, 2 finished)" in out.out
    assert _version(path) == "1"


def test_a_new_run_records_its_provenance(tmp_path):
    from tests.smoke import run_tiny

    outcome, _ = run_tiny("darts", tmp_path, epochs=1, lr=0.03)
    assert outcome.status == "finished"
    row = Store(tmp_path / "results.db", create=False).runs_df().iloc[0]
    spec = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick",
                          {"C": 4, "N": 1, "train_limit": 256, "batch_size": 32, "eval_limit": 64, "epochs": 1,
                           "lr": 0.03})
    assert row["run_id"] == spec.run_id and row["profile"] == "quick"
    assert row["overrides"] == {"C": 4, "N": 1, "train_limit": 256, "batch_size": 32, "eval_limit": 64,
                                "epochs": 1, "lr": 0.03}
    assert row["config"] == json.loads(json.dumps(spec.config)) and row["config"]["lr"] == 0.03
    assert row["method_version"] == 1 and row["benchmark_version"] == 1
    assert row["versions"]["harness"] and row["versions"]["torch"]
    assert row["threads"] == 1 and row["device"].startswith("cpu")
    split = dict(row["split"])
    assert split.pop("description").startswith("seeded stratified 50/50 split of the training set (split_seed 0)")
    assert split == {"setting": "bilevel", "split_seed": 0, "train_images": 256, "weights_images": 128,
                     "arch_images": 128, "arch_source": "train"}
    # the source revision: this checkout's commit, or unknown when the code is not a git checkout
    assert row["source_revision"] is None or len(row["source_revision"]) == 40
    assert row["source_dirty"] in (True, False, None)

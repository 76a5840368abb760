"""Method and benchmark versions: part of the run id, so a fixed method (version bumped) never reuses a run
made before the fix. ``harness run`` shows the older runs as superseded and reruns them; their rows stay in
the store, marked, and are never pooled into a report variant with the new ones."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest
from typer.testing import CliRunner

import benchmarks.registry
from harness.cli import app
from harness.specs import RunSpec
from methods.registry import registry
from results.reports.data import ReportData
from results.store import Store
from tests.dataset_fixtures import tiny_cifar10_root
from tests.schema1 import old_run, write_schema1_store
from tests.smoke import TINY, nb201_oracle_dir

RUN = ["run", "--methods", "darts", "--profile", "quick", "--no-progress",
       *[arg for key, value in {**TINY, "epochs": 1}.items() for arg in ("--set", f"{key}={value}")]]


def _bump_method(monkeypatch, name: str, version: int) -> None:
    monkeypatch.setitem(registry(), name, dataclasses.replace(registry()[name], version=version))


def _bump_nb201(monkeypatch, version: int) -> None:
    """A fixed NB201 plug-in: its ``Benchmark`` with the new version, in the (cached) registry."""
    monkeypatch.setitem(benchmarks.registry.registry(), "nb201",
                        dataclasses.replace(benchmarks.registry.get("nb201"), version=version))


def test_a_version_is_part_of_the_run_id(monkeypatch):
    base = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick")
    assert (base.method_version, base.benchmark_version) == (1, 1)
    _bump_method(monkeypatch, "darts", 2)
    method = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick")
    assert method.method_version == 2 and method.config == base.config and method.config_hash == base.config_hash
    assert method.run_id != base.run_id
    _bump_nb201(monkeypatch, 3)
    both = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick")
    assert both.benchmark_version == 3 and len({base.run_id, method.run_id, both.run_id}) == 3
    assert RunSpec.create("gaea-darts", "nb201", "cifar10", "erm", 0, "quick").method_version == 1


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    monkeypatch.setenv("HARNESS_ORACLE_DIR", str(nb201_oracle_dir(tmp_path / "oracles")))
    return tmp_path


def _run(store, *extra: str):
    result = CliRunner().invoke(app, [*RUN, "--store", str(store), *extra], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_bumped_version_supersedes_and_reruns_finished_runs(env, monkeypatch):
    store = env / "results.db"
    _run(store, "--seeds", "2")
    first = Store(store).runs_df().set_index("seed")
    assert set(first["status"]) == {"finished"} and first["superseded_by"].isna().all()
    assert "0 to run" in _run(store, "--seeds", "2")  # the same code: nothing superseded, nothing rerun

    _bump_method(monkeypatch, "darts", 2)  # a fix to DARTS
    dry = _run(store, "--seeds", "2", "--dry-run")
    assert "2 stored run(s) were made by an older version" in dry and "darts v1 -> v2" in dry
    assert Store(store).runs_df()["superseded_by"].isna().all()  # a dry run marks nothing
    out = _run(store, "--seeds", "2")
    assert "2 runs requested; 0 already in" in out and "2 to run" in out
    for seed in (0, 1):
        assert f"{first.loc[seed, 'run_id']} -> " in out
    runs = Store(store).runs_df()
    old = runs[runs["method_version"] == 1].set_index("seed").sort_index()
    new = runs[runs["method_version"] == 2].set_index("seed").sort_index()
    assert len(old) == len(new) == 2 and set(new["status"]) == {"finished"}
    assert set(old["status"]) == {"finished"}  # the old rows stay as they were, marked
    assert (old["superseded_by"] == new["run_id"]).all() and new["superseded_by"].isna().all()
    epochs = Store(store).epochs_df()
    assert set(epochs["run_id"]) == set(runs["run_id"])  # the old runs' epochs are kept

    data = ReportData(Store(store, create=False))
    assert sorted(data.finished["run_id"]) == sorted(new["run_id"]) and len(data.superseded) == 2
    (variant,) = set(data.finished["variant"])
    assert variant.method_version == 2 and len(data.runs_of(variant, "cifar10")) == 2
    assert {v.method_version for v in data.runs["variant"]} == {1, 2}  # never one variant for both

    _bump_nb201(monkeypatch, 2)  # then a fix to the benchmark: the v2 runs are superseded in turn
    out = _run(store, "--seeds", "1")
    assert "1 stored run(s) were made by an older version" in out and "nb201 v1 -> v2" in out
    runs = Store(store).runs_df().set_index("run_id")
    newest = runs[runs["benchmark_version"] == 2]
    assert len(newest) == 1 and runs.loc[new.loc[0, "run_id"], "superseded_by"] == newest.index[0]
    assert runs.loc[old.loc[0, "run_id"], "superseded_by"] == new.loc[0, "run_id"]  # not re-marked
    status = CliRunner().invoke(app, ["status", "--store", str(store)])
    assert "5 runs (5 finished); 3 superseded by a newer method or benchmark version" in status.output


def test_runs_of_a_schema1_store_are_superseded_by_the_same_request(env):
    """A store from before versions were recorded: its run of the same config is superseded and rerun."""
    spec = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick", {**TINY, "epochs": 1})
    store = env / "old.db"
    write_schema1_store(store, [old_run("0123456789abcdef", dict(spec.config), spec.config_hash, epochs=1),
                                old_run("0123456789abcdee", dict(spec.config), "another-config", seed=0, epochs=1)])
    out = _run(store)
    assert "1 stored run(s) were made by an older version" in out
    assert f"0123456789abcdef -> {spec.run_id}" in out and "(no version recorded) -> v1" in out
    runs = Store(store).runs_df().set_index("run_id")
    assert runs.loc["0123456789abcdef", "superseded_by"] == spec.run_id
    assert runs.loc["0123456789abcdee", "superseded_by"] is None  # another config: not the same request
    assert runs.loc[spec.run_id, "status"] == "finished" and runs.loc[spec.run_id, "method_version"] == 1
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == "2"  # migrated by the writer
        assert conn.execute("SELECT count(*) FROM epochs WHERE run_id = '0123456789abcdef'").fetchone()[0] == 2

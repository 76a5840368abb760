"""The CLI end to end on a tiny supernet with the real CIFAR-10 subset and the real NB201 tables.

Also the kill-and-resume test: a run killed with SIGKILL mid-search and resumed gives exactly the
rows of an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmarks.nb201.importers import import_nb201
from benchmarks.nb201.oracle import NB201Oracle
from harness.cli import app, main
from results.store import Store
from tests.conftest import SHARED_DATA, shared_file

TINY = ["--profile", "quick", "--set", "C=4", "--set", "train_limit=320", "--set", "batch_size=32",
        "--set", "eval_limit=64", "--set", "epochs=3"]
#: columns that depend on wall time, not on the computation
TIMING = ["seconds_arch", "seconds_weights", "seconds_eval", "seconds_epoch", "seconds_total", "written_at"]


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("oracles")
    target = NB201Oracle.default_path(directory)
    import_nb201(shared_file("nb201-hp200-mean-accuracies.csv"), target)
    import_nb201(shared_file("nb201-hp12-mean-accuracies.csv"), target)
    return directory


def _env(oracle_dir: Path) -> dict[str, str]:
    return {**os.environ, "HARNESS_DATA_ROOT": str(SHARED_DATA), "HARNESS_ORACLE_DIR": str(oracle_dir),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_run_writes_every_epoch_and_status_reports_it(tmp_path, oracle_dir, monkeypatch):
    shared_file("cifar-10-batches-py/data_batch_1")
    for k, v in _env(oracle_dir).items():
        monkeypatch.setenv(k, v)
    store = tmp_path / "results.db"
    cli = CliRunner()
    result = cli.invoke(app, ["run", "--methods", "darts,gaea-darts", "--seeds", "2", "--store", str(store),
                              "--no-progress", *TINY])
    assert result.exit_code == 0, result.output
    st = Store(store, create=False)
    runs = st.runs_df()
    assert sorted(zip(runs["method"], runs["setting"], runs["seed"], strict=True)) == [
        ("darts", "bilevel", 0), ("darts", "bilevel", 1), ("gaea-darts", "erm", 0), ("gaea-darts", "erm", 1)]
    assert set(runs["status"]) == {"finished"}
    epochs = st.epochs_df()
    assert epochs.groupby("run_id")["epoch"].apply(list).map(lambda e: e == [0, 1, 2, 3]).all()
    oracle = NB201Oracle.open(NB201Oracle.default_path(oracle_dir))
    for row in epochs.itertuples():
        # the stored accuracy is the oracle's value of the stored architecture, regret against 94.37
        index = int(row.arch_key)
        assert row.test_acc == pytest.approx(oracle.query(index, "cifar10", "test"))
        assert row.regret_test == pytest.approx(oracle.optimum("cifar10", "test") - row.test_acc)
        assert row.valid_acc == pytest.approx(oracle.query(index, "cifar10-valid", "valid"))
        assert row.oracle_budget == "hp200" and "none" not in row.arch  # exclude_none on NB201
        assert 0 <= row.n_skip <= 6
    first = epochs[epochs["epoch"] == 0]
    assert first["entropy_ops"].map(lambda h: math.isclose(h, math.log(4), abs_tol=1e-4)).all()
    trained = epochs[epochs["epoch"] > 0]
    assert trained[["train_loss", "train_acc", "supernet_valid_loss", "supernet_valid_acc"]].notna().all().all()
    assert (trained["arch_steps"] > 0).all() and (trained["weight_steps"] > 0).all()
    gaea = trained[trained["method"] == "gaea-darts"]
    # ERM trains on the whole (320-image) training set: 10 steps of 32; bilevel uses half: 5 steps
    assert set(gaea["weight_steps"]) == {10} and set(trained[trained["method"] == "darts"]["weight_steps"]) == {5}
    lookups = st.lookups_df()
    assert {"cifar10", "cifar100", "ImageNet16-120", "cifar10-valid"} <= set(lookups["dataset"])

    again = cli.invoke(app, ["run", "--methods", "darts,gaea-darts", "--seeds", "2", "--store", str(store),
                             "--no-progress", *TINY])
    assert again.exit_code == 0 and "0 to run" in again.output
    assert len(Store(store).epochs_df()) == len(epochs)  # nothing rerun, nothing duplicated
    status = cli.invoke(app, ["status", "--store", str(store)])
    assert status.exit_code == 0 and "4 finished" in status.output


def test_bad_input_gives_one_line_errors(tmp_path, oracle_dir, monkeypatch, capsys):
    for k, v in _env(oracle_dir).items():
        monkeypatch.setenv(k, v)
    cases = [
        (["run", "--methods", "dartz"], "unknown method 'dartz'"),
        (["run", "--methods", "darts", "--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["run", "--methods", "darts", "--profile", "fast"], "unknown profile 'fast'"),
        (["run", "--methods", "darts", "--set", "epoch=3"], "unknown setting 'epoch'"),
        (["run", "--methods", "darts", "--oracle-dir", str(tmp_path / "none")], "nb201.oracle"),
        (["run", "--methods", "darts", "--data-root", str(tmp_path)], "cifar-10-batches-py"),
        (["status", "--store", str(tmp_path / "absent.db")], "no results store"),
    ]
    for args, expected in cases:
        store = ["--store", str(tmp_path / "s.db")] if args[0] == "run" else []
        monkeypatch.setattr(sys, "argv", ["harness", *args, *store])
        with pytest.raises(SystemExit) as exit_info:
            main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, (args, err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], (args, err)


def _epochs(store: Path) -> pd.DataFrame:
    return Store(store, create=False).epochs_df().drop(columns=TIMING).sort_values(["run_id", "epoch"])


def test_a_killed_run_resumes_to_identical_results(tmp_path, oracle_dir):
    shared_file("cifar-10-batches-py/data_batch_1")
    env = _env(oracle_dir)
    args = [sys.executable, "-m", "harness", "run", "--methods", "gaea-darts", "--no-progress", *TINY,
            "--set", "epochs=4"]
    reference = tmp_path / "reference.db"
    subprocess.run([*args, "--store", str(reference)], env=env, check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed.db"
    proc = subprocess.Popen([*args, "--store", str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until epoch 2 is stored, then kill without warning
        if killed.exists():
            try:
                if Store(killed, create=False).runs_df()["epochs_done"].max() >= 2:
                    break
            except Exception:  # noqa: BLE001 - the store may be mid-creation
                pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    mid = Store(killed, create=False).runs_df()
    assert mid.loc[0, "status"] == "running" and mid.loc[0, "epochs_done"] < 4

    subprocess.run([*args, "--store", str(killed)], env=env, check=True, capture_output=True, timeout=600)
    assert Store(killed, create=False).runs_df().loc[0, "status"] == "finished"
    pd.testing.assert_frame_equal(_epochs(killed).reset_index(drop=True), _epochs(reference).reset_index(drop=True))
    assert not list((tmp_path / "killed.db.checkpoints").glob("*.pt"))  # finished runs drop their checkpoint

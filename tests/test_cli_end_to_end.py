"""The CLI end to end on a tiny supernet with the tiny synthetic CIFAR-10 and the real NB201 tables (bundled).

Also the README's main job on a fresh machine (no data root, no imported table: CIFAR-10 downloaded from a local
HTTP server, the bundled table as the oracle) and the kill-and-resume test: a run killed with SIGKILL mid-search
and resumed gives exactly the rows of an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import harness.cli
from benchmarks.nb201.oracle import BUNDLED, NB201Oracle
from harness.cli import app, main
from results.store import Store
from results.summary import no_cell_reason
from tests.dataset_fixtures import cifar10_archive, serve_directory, tiny_cifar10_root
from tests.smoke import nb201_oracle_dir

TINY = ["--profile", "quick", "--set", "C=4", "--set", "train_limit=320", "--set", "batch_size=32",
        "--set", "eval_limit=64", "--set", "epochs=3"]
#: columns that depend on wall time, not on the computation
TIMING = ["seconds_arch", "seconds_weights", "seconds_eval", "seconds_epoch", "seconds_total", "written_at"]


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory) -> Path:
    return nb201_oracle_dir(tmp_path_factory.mktemp("oracles"))


def _env(oracle_dir: Path) -> dict[str, str]:
    return {**os.environ, "HARNESS_DATA_ROOT": str(tiny_cifar10_root()), "HARNESS_ORACLE_DIR": str(oracle_dir),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _rows_with_a_cell(epochs: pd.DataFrame) -> pd.DataFrame:
    """The epoch rows of a darts,gaea-darts job that hold a cell. The others must be exactly GAEA's epoch-0 rows
    (its uniform simplex ties every decision and no architecture step has been taken), and say so; DARTS's
    random initial logits rank strictly, so its epoch 0 has a cell."""
    no_cell = epochs[epochs["arch_key"].isna()]
    gaea = epochs[epochs["method"] == "gaea-darts"]
    assert sorted(no_cell["run_id"]) == sorted(gaea["run_id"].unique()) and set(no_cell["epoch"]) == {0}
    for row in no_cell.itertuples():
        assert all(pd.isna(getattr(row, c)) for c in ("arch", "test_acc", "valid_acc", "regret_test", "n_skip"))
        assert row.arch_steps == 0 and row.oracle_budget == "hp200"
        assert no_cell_reason(row.extra) == "no cell derived: 6 tied decisions before any architecture step"
    return epochs[epochs["arch_key"].notna()]


def test_run_writes_every_epoch_and_status_reports_it(tmp_path, oracle_dir, monkeypatch):
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
    for row in _rows_with_a_cell(epochs).itertuples():
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
        (["run", "--methods", "darts", "--benchmark", "nb1shot1", "--oracle-dir", str(tmp_path / "none")],
         "nb101.oracle"),
        (["run", "--methods", "darts", "--data-root", str(tmp_path)],
         f"no cifar-10-batches-py/): rerun with --download, or fetch it first with `harness data download cifar10 "
         f"--data-root {tmp_path}`"),
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


#: tiny sizes appended to the README's main-job command (the quick profile's 2,000 images, 3 epochs and batch 64
#: are more than the served archive holds and a test should take)
MAIN_JOB_TINY = ["--set", "C=4", "--set", "train_limit=80", "--set", "batch_size=16", "--set", "eval_limit=16",
                 "--set", "epochs=1", "--no-progress"]


def _readme_main_job() -> list[str]:
    """The README's main-job command: its first `harness run ... --download` line, as arguments."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.search(r"^harness run [^\n#]*--download[^\n#]*", readme, re.MULTILINE)
    assert found, "README.md has no `harness run ... --download` main-job command"
    return shlex.split(found.group(0))[1:]


@pytest.fixture()
def fresh_machine(tmp_path, monkeypatch):
    """No data root, no oracle directory, no imported table (HARNESS_HOME is empty); CIFAR-10 served from
    127.0.0.1 as a tiny archive in the official layout; yields the server's list of requested paths."""
    for name in ("HARNESS_DATA_ROOT", "HARNESS_ORACLE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    tarball, md5 = cifar10_archive(tmp_path / "served", train_per_class=8, test_per_class=2)
    with serve_directory(tarball.parent) as (url, requested):
        monkeypatch.setenv("HARNESS_CIFAR10_URL", f"{url}/{tarball.name}")
        monkeypatch.setenv("HARNESS_CIFAR10_MD5", md5)
        yield requested


def test_the_readme_main_job_runs_on_a_fresh_machine(fresh_machine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default store, results.db, lands here
    args = _readme_main_job()
    assert args[0] == "run" and "--download" in args
    result = CliRunner().invoke(app, [*args, *MAIN_JOB_TINY])
    assert result.exit_code == 0, result.output
    assert fresh_machine == ["/cifar-10-python.tar.gz"] and "md5 verified" in result.output
    assert (tmp_path / "home" / "data" / "cifar-10-batches-py" / "test_batch").is_file()  # the default data root
    assert not (tmp_path / "home" / "oracles").exists()  # nothing imported: the bundled table answered
    runs = Store(tmp_path / "results.db", create=False).runs_df()
    assert len(runs) >= 1 and set(runs["status"]) == {"finished"}
    bundled = NB201Oracle.open(BUNDLED)
    for row in _rows_with_a_cell(Store(tmp_path / "results.db").epochs_df()).itertuples():
        assert row.test_acc == pytest.approx(bundled.query(int(row.arch_key), "cifar10", "test"))
        assert row.regret_test == pytest.approx(94.37 - row.test_acc, abs=0.01)
    again = CliRunner().invoke(app, [*args, *MAIN_JOB_TINY])
    assert again.exit_code == 0 and "0 to run" in again.output and len(fresh_machine) == 1  # nothing fetched again


def test_a_missing_dataset_is_a_one_line_error_without_download_and_fetched_after_a_yes(fresh_machine, tmp_path,
                                                                                       monkeypatch, capsys):
    args = ["run", "--methods", "darts", "--profile", "quick", *MAIN_JOB_TINY, "--store", str(tmp_path / "r.db")]
    root = tmp_path / "home" / "data"
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    with pytest.raises(SystemExit) as failed:
        main()
    err = capsys.readouterr().err.strip()
    assert failed.value.code == 2 and "\n" not in err and err == (
        f"error: cifar10 is not in {root} (no cifar-10-batches-py/): rerun with --download, or fetch it first with "
        f"`harness data download cifar10 --data-root {root}`")
    monkeypatch.setattr(harness.cli, "_interactive", lambda: True)  # a terminal: the user is asked
    declined = CliRunner().invoke(app, args, input="n\n")
    assert declined.exit_code != 0 and "Download it now?" in declined.output and fresh_machine == []
    accepted = CliRunner().invoke(app, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert fresh_machine == ["/cifar-10-python.tar.gz"] and (root / "cifar-10-batches-py").is_dir()
    assert set(Store(tmp_path / "r.db").runs_df()["status"]) == {"finished"}


def test_a_download_with_the_wrong_md5_stops_the_run_and_leaves_nothing(fresh_machine, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CIFAR10_MD5", "0" * 32)
    store = tmp_path / "r.db"
    result = CliRunner().invoke(app, ["run", "--methods", "darts", "--profile", "quick", "--download",
                                      *MAIN_JOB_TINY, "--store", str(store)])
    assert result.exit_code != 0 and "not the expected 00000000" in str(result.exception)
    assert [p.name for p in (tmp_path / "home" / "data").iterdir()] == []  # no half dataset
    assert Store(store).runs_df().empty


def _epochs(store: Path) -> pd.DataFrame:
    return Store(store, create=False).epochs_df().drop(columns=TIMING).sort_values(["run_id", "epoch"])


def test_a_killed_run_resumes_to_identical_results(tmp_path, oracle_dir):
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

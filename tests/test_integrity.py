"""Finished results are never lost or silently corrupted (issue 18): concurrent commands and a Dask
task recomputed after its run finished, damaged checkpoints, a real full file system, a benchmark table
truncated or out of range under a run, interrupts during evaluation and stale states, credentials in
store URLs, a different thread count on resume, and the smaller one-line errors.

Concurrency and interrupt cases use real processes (the CLI, a Dask LocalCluster); the full-disk case
mounts a 4 MB tmpfs and is skipped, with the reason, where mounting is not permitted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import harness.runner
from benchmarks.nb201.oracle import MetricKey, NB201Oracle, OracleUpdate, write_update
from benchmarks.nb201.space import N_ARCHS
from harness.checkpoint import (
    CheckpointDamaged,
    checkpoint_path,
    load_checkpoint,
    lock_holder,
    previous_path,
    run_lock,
)
from harness.cli import main
from harness.executors import InProcessExecutor, RunTask, run_grid
from nasbench_errors import ConfigError, StoreError
from results.store import Store
from tests.dataset_fixtures import tiny_cifar10_root
from tests.grid_helpers import epochs_of, tiny_spec, tiny_task
from tests.integrity_helpers import KEPT, finish_then_die
from tests.smoke import TINY, nb201_oracle_dir

EPOCHS = 4
ROOT = Path(__file__).resolve().parents[1]
CLI_SETS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory):
    return nb201_oracle_dir(tmp_path_factory.mktemp("oracles"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, oracle_dir):
    """An uninterrupted run that the resumed ones must equal exactly (CPU, one thread)."""
    spec = tiny_spec("gaea-darts", 0, epochs=EPOCHS)
    tmp = tmp_path_factory.mktemp("reference")
    outcomes = run_grid([tiny_task(spec, tmp / "ref.db", oracle_dir, tmp / "ckpt")], InProcessExecutor(),
                        Store(tmp / "ref.db"))
    assert [o.status for o in outcomes] == ["finished"]
    return spec, epochs_of(tmp / "ref.db", spec.run_id)


def _cli_env(oracle_dir: Path) -> dict[str, str]:
    return {**os.environ, "HARNESS_DATA_ROOT": str(tiny_cifar10_root()), "HARNESS_ORACLE_DIR": str(oracle_dir),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _main(monkeypatch, capsys, argv: list[str]) -> tuple[int, str, str]:
    """``harness ARGV`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["harness", *argv])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


class _Death(BaseException):
    """Stands for the process dying: nothing in the runner catches it."""


def _killed_at_checkpoint(monkeypatch, spec, store: Path, ckpt: Path, oracle_dir: Path, epoch: int) -> None:
    """Run ``spec`` in this process until it dies while saving the checkpoint of ``epoch``."""
    real_save = harness.runner.save_checkpoint

    def dies(path, state):
        if state["epoch"] == epoch:
            raise _Death
        real_save(path, state)

    with monkeypatch.context() as m:
        m.setattr(harness.runner, "save_checkpoint", dies)
        with pytest.raises(_Death):
            run_grid([tiny_task(spec, store, oracle_dir, ckpt)], InProcessExecutor(), Store(store))


def _resume(spec, store: Path, ckpt: Path, oracle_dir: Path, threads: int = 1) -> list:
    task = RunTask(spec, Store(store).url, str(tiny_cifar10_root()), str(oracle_dir), str(ckpt), "cpu", threads=threads)
    return run_grid([task], InProcessExecutor(), Store(store))


# -- 1. a finished run is never executed again -------------------------------------------------------


def test_a_second_command_on_the_same_grid_never_reruns_a_run_the_first_finished(tmp_path, oracle_dir):
    """P1 holds darts (stopped with SIGSTOP); P2 finds darts busy (and says so with --no-progress), runs gdas
    and finishes it; when P1 continues, it must see gdas finished and leave its rows alone."""
    darts, gdas = tiny_spec("darts"), tiny_spec("gdas")
    store, ckpt = tmp_path / "s.db", tmp_path / "s.db.checkpoints"
    cli = [sys.executable, "-m", "harness", "run", "--methods", "darts,gdas", "--no-progress", "--profile", "quick",
           *CLI_SETS, "--store", str(store)]
    env = _cli_env(oracle_dir)
    p1 = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while lock_holder(ckpt, darts.run_id) != p1.pid:
            assert p1.poll() is None and time.monotonic() < deadline, "P1 never took the darts run"
            time.sleep(0.005)
        p1.send_signal(signal.SIGSTOP)  # P1 is loading the data: it holds no store transaction
        p2 = subprocess.run(cli, env=env, capture_output=True, timeout=300)
        assert p2.returncode == 1, p2.stderr.decode()  # darts did not finish in P2: it was busy
        assert f"is being executed by pid {p1.pid}" in p2.stderr.decode()
        assert Store(store).run_status([gdas.run_id]) == {gdas.run_id: "finished"}
        with sqlite3.connect(store) as conn:
            conn.execute("UPDATE epochs SET written_at = ? WHERE run_id = ?", (KEPT, gdas.run_id))
    finally:
        p1.send_signal(signal.SIGCONT)
    out, err = p1.communicate(timeout=300)
    assert p1.returncode == 0, err.decode()
    rows = Store(store).epochs_df(run_ids=[gdas.run_id])
    assert rows["epoch"].tolist() == list(range(gdas.epochs + 1)) and set(rows["written_at"]) == {KEPT}
    assert Store(store).run_status([darts.run_id, gdas.run_id]) == {darts.run_id: "finished",
                                                                     gdas.run_id: "finished"}


def test_dask_recomputing_the_task_of_a_finished_run_returns_its_outcome_and_keeps_its_rows(tmp_path, oracle_dir,
                                                                                           monkeypatch):
    """A real Dask LocalCluster: the worker that finished the run dies before reporting it, the scheduler
    recomputes the task on a worker, which must find the run finished and touch nothing."""
    distributed = pytest.importorskip("distributed")
    spec = tiny_spec("darts", 0)
    store, marker = tmp_path / "dask.db", tmp_path / "first-try"
    task = tiny_task(spec, store, oracle_dir, tmp_path / "ckpt")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))  # workers
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster, distributed.Client(cluster) as client:
        outcome = client.submit(finish_then_die, task, str(store), str(marker), pure=False).result(timeout=600)
    assert marker.read_text().startswith("finished")  # the first try finished the run, then its worker died
    assert outcome.status == "finished" and outcome.run_id == spec.run_id
    rows = Store(store).epochs_df(run_ids=[spec.run_id])
    assert rows["epoch"].tolist() == list(range(spec.epochs + 1)) and set(rows["written_at"]) == {KEPT}
    assert Store(store).run_status([spec.run_id]) == {spec.run_id: "finished"}


def test_the_store_refuses_to_drop_a_finished_runs_epochs(tmp_path):
    store = Store(tmp_path / "s.db")
    store.upsert_run({"run_id": "r1", "method": "darts", "benchmark": "nb201", "dataset": "cifar10",
                      "setting": "bilevel", "seed": 0, "profile": "quick", "config": "{}", "config_hash": "h",
                      "status": "finished", "epochs_planned": 1})
    store.write_epoch("r1", 0, {"arch": "a"})
    store.write_epoch("r1", 1, {"arch": "b"})
    with pytest.raises(StoreError, match="run r1 is finished .* its epochs are kept"):
        store.delete_epochs_after("r1", -1)
    assert store.epochs_df()["epoch"].tolist() == [0, 1]
    assert store.claim_run({"run_id": "r1", "status": "running"}, keep=("finished",)) == {
        "status": "finished", "error": None}
    assert store.run_status(["r1"]) == {"r1": "finished"}


# -- 2. checkpoints are verified before use -----------------------------------------------------------


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 256] = bytes((b ^ 0xA5) for b in data[middle:middle + 256])
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_is_reported_by_name_and_the_run_resumes_from_the_previous_one(
        tmp_path, oracle_dir, reference, monkeypatch, caplog):
    spec, expected = reference
    store, ckpt = tmp_path / "s.db", tmp_path / "ckpt"
    _killed_at_checkpoint(monkeypatch, spec, store, ckpt, oracle_dir, epoch=3)
    latest = checkpoint_path(ckpt, spec.run_id)
    assert load_checkpoint(latest)["epoch"] == 2 and load_checkpoint(previous_path(latest))["epoch"] == 1
    _damage(latest)
    with pytest.raises(CheckpointDamaged, match=re.escape(str(latest))):
        load_checkpoint(latest)
    with caplog.at_level(logging.WARNING, logger="harness"):
        assert [o.status for o in _resume(spec, store, ckpt, oracle_dir)] == ["finished"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "harness"]
    assert len(warnings) == 1 and str(latest) in warnings[0] and "fails its sha256 check" in warnings[0]
    assert "restarts from its verified epoch 1" in warnings[0]
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)


def test_with_every_checkpoint_damaged_the_run_starts_over_and_says_so(tmp_path, oracle_dir, reference, monkeypatch,
                                                                        caplog):
    spec, expected = reference
    store, ckpt = tmp_path / "s.db", tmp_path / "ckpt"
    _killed_at_checkpoint(monkeypatch, spec, store, ckpt, oracle_dir, epoch=2)
    latest = checkpoint_path(ckpt, spec.run_id)
    _damage(latest)
    previous_path(latest).write_bytes(previous_path(latest).read_bytes()[40:])  # no checksum header left
    with caplog.at_level(logging.WARNING, logger="harness"):
        assert [o.status for o in _resume(spec, store, ckpt, oracle_dir)] == ["finished"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "harness"]
    assert len(warnings) == 2 and all("restarts from scratch (epoch 0)" in w for w in warnings)
    assert "has no checksum header" in warnings[1] and str(previous_path(latest)) in warnings[1]
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)


# -- 3. a full disk: one-line errors naming the directory, nothing lost --------------------------------


@pytest.fixture
def small_fs(tmp_path):
    """A real 4 MB tmpfs, or skip with the reason."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs for the full-disk case ({exc})")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk case: {done.stderr.strip() or done.returncode}")
    yield mount
    if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(directory: Path, name: str) -> Path:
    """Write a file until the file system is full."""
    filler = directory / name
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_a_real_full_disk_gives_one_line_errors_naming_the_directory_and_loses_nothing(
        tmp_path, small_fs, oracle_dir, reference, monkeypatch, capsys):
    """Checkpoints on a 4 MB tmpfs that fills up after the run's first epoch: the checkpoint write fails with
    one line naming the directory; a rerun on the still-full disk fails writing the run lock, again one line;
    once space is freed the rerun resumes and gives exactly the uninterrupted run's rows."""
    spec, expected = reference
    store, ckpt = tmp_path / "s.db", small_fs / "ckpt"
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    monkeypatch.setenv("HARNESS_ORACLE_DIR", str(oracle_dir))
    argv = ["run", "--methods", "gaea-darts", "--no-progress", "--profile", "quick", *CLI_SETS,
            "--set", f"epochs={EPOCHS}", "--store", str(store), "--checkpoint-dir", str(ckpt)]
    filled: list[Path] = []
    reader = Store(store)

    def fill_after_epoch_1() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if (reader.last_epoch(spec.run_id) or 0) >= 1:
                filled.append(_fill(small_fs, "filler"))
                return
            time.sleep(0.01)

    filler = threading.Thread(target=fill_after_epoch_1)
    filler.start()
    code, _, err = _main(monkeypatch, capsys, argv)
    filler.join()
    line = _one_error_line(err)
    assert code == 2 and f"cannot write checkpoint {spec.run_id}.pt in {ckpt}: No space left on device" in line
    runs = Store(store).runs_df().set_index("run_id")
    assert runs.loc[spec.run_id, "status"] == "interrupted" and str(ckpt) in runs.loc[spec.run_id, "error"]
    stored = epochs_of(store, spec.run_id)
    kept = load_checkpoint(checkpoint_path(ckpt, spec.run_id))  # verified: the previous one, intact
    assert kept is not None and kept["epoch"] <= stored["epoch"].max() and not list(ckpt.glob("*.tmp"))

    filled.append(_fill(small_fs, "filler2"))  # what the released lock gave back: the disk is still full
    code, _, err = _main(monkeypatch, capsys, argv)
    line = _one_error_line(err)
    assert code == 2 and f"cannot write a run lock in {ckpt}: no space left on device" in line
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), stored)  # nothing lost

    for path in filled:
        path.unlink()
    code, _, err = _main(monkeypatch, capsys, argv)
    assert code == 0, err
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)


# -- 4. the benchmark table changed under a running run ------------------------------------------------


def test_a_table_truncated_in_place_under_a_running_run_cannot_crash_it(tmp_path, oracle_dir, reference):
    """The CLI runs; after its first epoch the table is truncated to 0 bytes in place. Memory-mapped, the
    next lookup died of SIGBUS and left the run `running`; read at open, the run finishes unchanged."""
    spec, expected = reference
    oracles = tmp_path / "oracles"
    oracles.mkdir()
    table = NB201Oracle.default_path(oracles)
    table.write_bytes(NB201Oracle.default_path(oracle_dir).read_bytes())
    store = tmp_path / "s.db"
    reader = Store(store)
    cli = [sys.executable, "-m", "harness", "run", "--methods", "gaea-darts", "--no-progress", "--profile", "quick",
           *CLI_SETS, "--set", f"epochs={EPOCHS}", "--store", str(store)]
    proc = subprocess.Popen(cli, env=_cli_env(oracles), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if (reader.last_epoch(spec.run_id) or 0) >= 1:
            os.truncate(table, 0)
            break
        time.sleep(0.01)
    assert table.stat().st_size == 0, "the run ended before the table could be truncated"
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (proc.returncode, err.decode())  # -7 would be SIGBUS
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)


def test_a_block_first_read_after_the_table_was_truncated_is_a_one_line_error(tmp_path, oracle_dir):
    """In a subprocess, so that a SIGBUS (a memory-mapped table) cannot take pytest down with it."""
    table = tmp_path / "nb201.oracle"
    table.write_bytes(NB201Oracle.default_path(oracle_dir).read_bytes())
    script = ("import os, sys\nfrom benchmarks.table import Table\nfrom nasbench_errors import OracleError\n"
              f"t = Table.open({str(table)!r})\nos.truncate({str(table)!r}, 100)\n"
              "try:\n    print(float(t['values'].sum()))\nexcept OracleError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.strip().startswith(f"{table}: block 'values' ends after 0 of ")
    assert "the file was truncated while in use" in done.stdout


def test_a_value_outside_the_tables_range_is_never_recorded(tmp_path, oracle_dir, monkeypatch, capsys):
    """A table whose CIFAR-10 test accuracies were overwritten with 1e29 (valid file, valid checksum): the run
    stops with one line naming the table and stores no epoch; it is not left `running`."""
    oracles = tmp_path / "oracles"
    oracles.mkdir()
    table = NB201Oracle.default_path(oracles)
    table.write_bytes(NB201Oracle.default_path(oracle_dir).read_bytes())
    garbage = [1e29] * N_ARCHS
    write_update(table, OracleUpdate(values={MetricKey("cifar10", "test"): garbage}, source={"importer": "test"}))
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    store = tmp_path / "s.db"
    code, _, err = _main(monkeypatch, capsys, ["run", "--methods", "darts", "--no-progress", "--profile", "quick",
                                               *CLI_SETS, "--store", str(store), "--oracle-dir", str(oracles)])
    line = _one_error_line(err)
    assert code == 2 and str(table) in line and "cifar10/test/hp200/mean value of" in line
    assert "is 1e+29, outside 0..100" in line
    runs = Store(store).runs_df()
    assert list(runs["status"]) == ["interrupted"] and Store(store).epochs_df().empty


# -- 5. interrupts during evaluation, and stale states -----------------------------------------------

_SLOW_EVAL = """
import json, sys, time
from pathlib import Path
import harness.runner as runner
marker, argv = sys.argv[1], json.loads(sys.argv[2])
real, calls = runner.evaluate, []
def slow(net, weights, batches):
    calls.append(1)
    if len(calls) == 3:  # epoch 1's first evaluation pass: a long one (the paper profile on a CPU)
        Path(marker).touch()
        for _ in range(1200):
            time.sleep(0.1)
    return real(net, weights, batches)
runner.evaluate = slow
from harness.cli import main
sys.argv = ["harness", *argv]
main()
"""


def _parked_in_evaluation(tmp_path: Path, oracle_dir: Path, store: Path) -> subprocess.Popen:
    """The CLI running a run, stopped in a long evaluation pass of epoch 1 (epoch 0 recorded)."""
    marker = tmp_path / "evaluating"
    argv = ["run", "--methods", "gaea-darts", "--no-progress", "--profile", "quick", *CLI_SETS,
            "--set", f"epochs={EPOCHS}", "--store", str(store)]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_EVAL, str(marker), json.dumps(argv)],
                            env=_cli_env(oracle_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the run never reached epoch 1's evaluation"
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_within_seconds_during_evaluation_and_the_epoch_is_redone(
        tmp_path, oracle_dir, reference, sig):
    spec, expected = reference
    store = tmp_path / "s.db"
    proc = _parked_in_evaluation(tmp_path, oracle_dir, store)
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{sig.name} did not stop the run within 20 s of a long evaluation pass")
    assert time.monotonic() - t0 < 20 and proc.returncode == 130, err.decode()
    assert b"rerun the same command to resume" in err
    assert Store(store).run_status([spec.run_id]) == {spec.run_id: "interrupted"}
    assert epochs_of(store, spec.run_id)["epoch"].tolist() == [0]  # the unfinished epoch 1 was discarded
    assert [o.status for o in _resume(spec, store, store.with_name("s.db.checkpoints"), oracle_dir)] == ["finished"]
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)


def test_a_stop_request_through_the_store_ends_an_evaluation_pass(tmp_path, oracle_dir, monkeypatch):
    """Dask and Ray workers get no signal: the grid marks the run interrupted in the store, and the run
    must see it during a long evaluation pass too, not only between training steps."""
    spec = tiny_spec("gaea-darts", 0, epochs=EPOCHS, eval_limit=256)  # 8 evaluation batches per pass
    store = tmp_path / "s.db"
    monkeypatch.setattr(harness.runner, "STOP_CHECK_SECONDS", 0.05)
    real, calls, evaluating = harness.runner.evaluate, [], threading.Event()

    def slow(net, weights, batches):
        calls.append(1)
        if len(calls) < 3:
            return real(net, weights, batches)
        evaluating.set()

        def one_per_second():
            for batch in batches:
                yield batch
                time.sleep(1.0)
        return real(net, weights, one_per_second())

    monkeypatch.setattr(harness.runner, "evaluate", slow)
    stopped_at: list[float] = []

    def stop_when_evaluating() -> None:
        evaluating.wait(timeout=300)
        Store(store).interrupt_running([spec.run_id], "stopped by the grid")
        stopped_at.append(time.monotonic())

    stopper = threading.Thread(target=stop_when_evaluating)
    stopper.start()
    (outcome,) = run_grid([tiny_task(spec, store, oracle_dir, tmp_path / "ckpt")], InProcessExecutor(), Store(store))
    returned = time.monotonic()
    stopper.join()
    assert outcome.status == "interrupted"
    assert returned - stopped_at[0] < 5.0  # an uninterrupted pass pair takes 16 s
    assert epochs_of(store, spec.run_id)["epoch"].tolist() == [0]


def test_status_tells_a_run_whose_process_is_gone_from_a_running_one(tmp_path, oracle_dir, monkeypatch, capsys):
    spec = tiny_spec("gaea-darts", 0, epochs=EPOCHS)
    store = tmp_path / "s.db"
    proc = _parked_in_evaluation(tmp_path, oracle_dir, store)
    try:
        code, out, _ = _main(monkeypatch, capsys, ["status", "--store", str(store)])
        assert code == 0 and "1 running" in out and " running " in out and "stale" not in out
    finally:
        proc.kill()  # SIGKILL: nothing gets to mark the run
        proc.communicate()
    assert Store(store).run_status([spec.run_id]) == {spec.run_id: "running"}
    code, out, _ = _main(monkeypatch, capsys, ["status", "--store", str(store)])
    assert code == 0 and "1 stale" in out and " stale " in out
    assert "stale: marked running, but no process holds its lock" in out
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    code, out, _ = _main(monkeypatch, capsys, ["run", "--methods", "gaea-darts", "--profile", "quick", *CLI_SETS,
                                               "--set", f"epochs={EPOCHS}", "--store", str(store), "--dry-run"])
    assert code == 0 and re.search(rf"{spec.run_id} .* stale", out), out
    code, out, _ = _main(monkeypatch, capsys, ["status", "--store", str(store), "--checkpoint-dir",
                                               str(tmp_path / "elsewhere")])
    assert code == 0 and "running?" in out and "pass --checkpoint-dir" in out


# -- 6. credentials and exposure ---------------------------------------------------------------------


def test_a_store_password_never_reaches_a_message_or_the_store(tmp_path, monkeypatch, capsys):
    directory = tmp_path / "a-directory"
    directory.mkdir()
    code, _, err = _main(monkeypatch, capsys, ["status", "--store", f"sqlite://me:s3cret@/{directory}"])
    assert code == 2 and "s3cret" not in err and _one_error_line(err)
    code, _, err = _main(monkeypatch, capsys, ["status", "--store", "postgresql+psycopg://me:s3cret@127.0.0.1:1/nas"])
    assert code == 2 and "s3cret" not in err and "me:***@127.0.0.1:1/nas" in _one_error_line(err)
    store = Store(tmp_path / "s.db")
    store.upsert_run({"run_id": "r1", "method": "darts", "benchmark": "nb201", "dataset": "cifar10",
                      "setting": "bilevel", "seed": 0, "profile": "quick", "config": "{}", "config_hash": "h",
                      "status": "running", "epochs_planned": 1})
    store.set_status("r1", "interrupted", error="cannot reach postgresql://me:s3cret@db/nas (password=s3cret)")
    assert store.runs_df()["error"].tolist() == ["cannot reach postgresql://me:***@db/nas (password=***)"]
    task = RunTask(tiny_spec(), "postgresql://me:s3cret@db/nas", "", "", "")
    assert "s3cret" not in repr(task) and "store_url" not in repr(task)


def test_the_documented_cluster_recipes_bind_to_named_addresses_with_dashboards_off_or_on_loopback():
    readme = (ROOT / "docs" / "cluster.md").read_text()
    commands = [line.strip() for line in readme.splitlines()
                if line.strip().startswith(("dask scheduler", "dask worker", "ray start"))]
    schedulers = [c for c in commands if c.startswith("dask scheduler")]
    workers = [c for c in commands if c.startswith("dask worker")]
    rays = [c for c in commands if c.startswith("ray start")]
    assert schedulers and workers and rays, commands
    for c in schedulers:
        assert "--host " in c and ("--no-dashboard" in c or "--dashboard-address 127.0.0.1:" in c), c
    for c in workers:
        assert "--host " in c and "--no-dashboard" in c, c
    for c in rays:
        assert "--node-ip-address " in c, c
        assert "--head" not in c or "--include-dashboard=false" in c or "--dashboard-host 127.0.0.1" in c, c
    assert '"dashboard_address": "127.0.0.1:' in readme and '"--no-dashboard"' in readme  # the SLURM recipe


# -- 7. a different thread count ---------------------------------------------------------------------


def test_a_cpu_run_refuses_to_resume_under_another_thread_count(tmp_path, oracle_dir, reference, monkeypatch):
    spec, expected = reference
    store, ckpt = tmp_path / "s.db", tmp_path / "ckpt"
    _killed_at_checkpoint(monkeypatch, spec, store, ckpt, oracle_dir, epoch=3)
    stored = epochs_of(store, spec.run_id)
    with pytest.raises(ConfigError) as info:
        _resume(spec, store, ckpt, oracle_dir, threads=2)
    message = str(info.value)
    assert "\n" not in message and "was checkpointed with 1 torch thread and this process has 2" in message
    assert "rerun with --threads 1" in message
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), stored)  # nothing dropped
    assert load_checkpoint(checkpoint_path(ckpt, spec.run_id))["epoch"] == 2
    assert [o.status for o in _resume(spec, store, ckpt, oracle_dir, threads=1)] == ["finished"]
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)


# -- 8. the smaller ones -----------------------------------------------------------------------------


def test_a_bad_oracle_budget_is_refused_before_a_run_row_is_stored(tmp_path, oracle_dir, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    store = tmp_path / "s.db"
    code, _, err = _main(monkeypatch, capsys, ["run", "--methods", "darts", "--no-progress", "--profile", "quick",
                                               *CLI_SETS, "--set", "oracle_budget=hp999", "--store", str(store),
                                               "--oracle-dir", str(oracle_dir)])
    assert code == 2 and "oracle_budget=hp999 is not valid (valid: one of hp200, hp12)" in _one_error_line(err)
    assert Store(store).runs_df().empty


@pytest.mark.parametrize(("argv", "expect"), [
    (["run", "--methods", "darts", "--seeds", "abc"], "error: Invalid value for '--seeds'"),
    (["run", "--methods", "darts", "--dataset", ""], "error: no dataset given (--dataset ''); valid datasets"),
    (["run"], "error: Missing option '--methods'"),
])
def test_bad_options_are_one_line_errors(tmp_path, monkeypatch, capsys, argv, expect):
    code, _, err = _main(monkeypatch, capsys, [*argv, "--store", str(tmp_path / "s.db")])
    assert code == 2 and _one_error_line(err).startswith(expect)
    assert not (tmp_path / "s.db").exists()


def test_importing_a_directory_says_what_was_expected(tmp_path, monkeypatch, capsys):
    code, _, err = _main(monkeypatch, capsys, ["data", "import", "nb201", str(tmp_path), "--oracle-dir",
                                               str(tmp_path / "oracles")])
    line = _one_error_line(err)
    assert code == 2 and "not a NATS-tss archive directory" in line and "--trust-pickle" not in line


def test_a_store_truncated_to_zero_bytes_is_not_taken_for_a_new_store(tmp_path, monkeypatch, capsys):
    path = tmp_path / "s.db"
    store = Store(path)
    store.upsert_run({"run_id": "r1", "method": "darts", "benchmark": "nb201", "dataset": "cifar10",
                      "setting": "bilevel", "seed": 0, "profile": "quick", "config": "{}", "config_hash": "h",
                      "status": "finished", "epochs_planned": 1})
    store.close()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.truncate(f"{path}{suffix}", 0)
    for argv in (["status"], ["run", "--methods", "darts"]):
        code, _, err = _main(monkeypatch, capsys, [*argv, "--store", str(path)])
        assert code == 2 and f"{path} is empty (0 bytes): a truncated results store" in _one_error_line(err)
    assert path.stat().st_size == 0


def test_a_busy_run_is_named_with_its_lock_holder_also_without_progress_bars(tmp_path, oracle_dir, monkeypatch,
                                                                               capsys):
    spec = tiny_spec("darts")
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    monkeypatch.setenv("HARNESS_ORACLE_DIR", str(oracle_dir))
    store = tmp_path / "s.db"
    with run_lock(store.with_name("s.db.checkpoints"), spec.run_id):
        code, out, err = _main(monkeypatch, capsys, ["run", "--methods", "darts", "--no-progress", "--profile",
                                                     "quick", *CLI_SETS, "--store", str(store)])
    assert code == 1 and f"busy {spec.label}: run {spec.run_id} is being executed by pid {os.getpid()}" in err
    assert Store(store).runs_df().empty  # nothing touched


"""Fault injection: SIGKILL and Ctrl-C at random points, a death between the store write and the
checkpoint, a full disk while checkpointing, a worker process killed mid-run. After each, rerunning
must give exactly the rows of an uninterrupted run (CPU, one thread: deterministic)."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import harness.checkpoint
import harness.runner
from harness.checkpoint import checkpoint_path, load_checkpoint, lock_holder
from harness.executors import InProcessExecutor, LocalExecutor, run_grid
from harness.runner import _signals_held
from nasbench_errors import HarnessError
from results.store import Store
from tests.dataset_fixtures import tiny_cifar10_root
from tests.grid_helpers import epochs_of, tiny_spec, tiny_task
from tests.smoke import TINY, nb201_oracle_dir

EPOCHS = 6


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory):
    return nb201_oracle_dir(tmp_path_factory.mktemp("oracles"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, oracle_dir):
    """The uninterrupted run every test compares with, executed once in this process."""
    spec = tiny_spec("gaea-darts", 0, epochs=EPOCHS)
    tmp = tmp_path_factory.mktemp("reference")
    outcomes = run_grid([tiny_task(spec, tmp / "ref.db", oracle_dir, tmp / "ckpt")], InProcessExecutor(),
                        Store(tmp / "ref.db"))
    assert [o.status for o in outcomes] == ["finished"]
    return spec, epochs_of(tmp / "ref.db", spec.run_id)


def _resume_and_compare(spec, reference_rows: pd.DataFrame, store: Path, ckpt: Path, oracle_dir: Path) -> None:
    outcome = run_grid([tiny_task(spec, store, oracle_dir, ckpt)], InProcessExecutor(), Store(store))
    assert [o.status for o in outcome] == ["finished"]
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), reference_rows)
    assert not list(ckpt.glob("*.pt")) and not list(ckpt.glob("*.tmp"))


def test_sigkill_and_ctrl_c_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path, oracle_dir, reference):
    """The CLI is killed three times (SIGKILL, SIGINT, SIGKILL), each time after it has recorded a new
    epoch and a random moment later: in training, the store transaction or the checkpoint write. Each
    rerun resumes; the final rows equal the reference exactly."""
    spec, expected = reference
    cli = [sys.executable, "-m", "harness", "run", "--methods", "gaea-darts", "--no-progress", "--profile", "quick",
           *[arg for key, value in {**TINY, "epochs": EPOCHS}.items() for arg in ("--set", f"{key}={value}")]]
    env = {**os.environ, "HARNESS_DATA_ROOT": str(tiny_cifar10_root()), "HARNESS_ORACLE_DIR": str(oracle_dir),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    store, ckpt = tmp_path / "killed.db", tmp_path / "killed.db.checkpoints"
    rng = random.Random(6)
    interrupted_mid_run = 0
    for sig in (signal.SIGKILL, signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen([*cli, "--store", str(store)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if not _wait_for_a_new_epoch(store, ckpt, spec.run_id, proc):
            break  # it finished first: no later point left to kill at
        time.sleep(rng.uniform(0.0, 0.6))  # somewhere inside the next epoch
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        status, done, _ = Store(store, create=False).run_progress([spec.run_id])[spec.run_id]
        if sig == signal.SIGINT and proc.returncode == 130:
            assert status == "interrupted" and b"rerun the same command to resume" in err
        interrupted_mid_run += status != "finished"
    assert interrupted_mid_run >= 2  # the kills really interrupted runs that had stored epochs
    subprocess.run([*cli, "--store", str(store)], env=env, check=True, capture_output=True, timeout=300)
    assert Store(store, create=False).run_status([spec.run_id]) == {spec.run_id: "finished"}
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)
    assert not list(ckpt.glob("*.tmp")) and not list(ckpt.glob("*.pt"))


def _wait_for_a_new_epoch(store: Path, ckpt: Path, run_id: str, proc: subprocess.Popen) -> bool:
    """True once ``proc`` itself holds the run and has stored an epoch; False if it ended first."""
    before = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if lock_holder(ckpt, run_id) == proc.pid:
            reader = Store(store, create=False)
            last = reader.last_epoch(run_id)
            reader.close()
            before = last if before is None else before
            if last is not None and last != before:
                return True
        time.sleep(0.01)
    assert proc.poll() is not None, "no epoch was stored within 180 s"
    return False


class _Death(BaseException):
    """Stands for the process dying: nothing in the runner catches it."""


def test_death_between_the_store_write_and_the_checkpoint_resumes_exactly(tmp_path, oracle_dir, reference,
                                                                           monkeypatch):
    spec, expected = reference
    real_save = harness.runner.save_checkpoint

    def dies_at_epoch_3(path, state):
        if state["epoch"] == 3:
            raise _Death
        real_save(path, state)

    monkeypatch.setattr(harness.runner, "save_checkpoint", dies_at_epoch_3)
    store, ckpt = tmp_path / "s.db", tmp_path / "ckpt"
    with pytest.raises(_Death):
        run_grid([tiny_task(spec, store, oracle_dir, ckpt)], InProcessExecutor(), Store(store))
    assert Store(store).last_epoch(spec.run_id) == 3  # the store is one epoch ahead of the checkpoint
    assert load_checkpoint(checkpoint_path(ckpt, spec.run_id))["epoch"] == 2
    monkeypatch.setattr(harness.runner, "save_checkpoint", real_save)
    _resume_and_compare(spec, expected, store, ckpt, oracle_dir)


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint_and_the_store(tmp_path, oracle_dir,
                                                                                      reference, monkeypatch):
    spec, expected = reference
    real_save = torch.save

    def disk_fills_at_epoch_2(state, f):
        if state["epoch"] == 2:
            f.write(b"\x80partial")  # part of the file reached the disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(state, f)

    monkeypatch.setattr(harness.checkpoint.torch, "save", disk_fills_at_epoch_2)
    store, ckpt = tmp_path / "s.db", tmp_path / "ckpt"
    with pytest.raises(HarnessError) as info:
        run_grid([tiny_task(spec, store, oracle_dir, ckpt)], InProcessExecutor(), Store(store))
    assert "No space left on device; free space and rerun the same command" in str(info.value)
    assert load_checkpoint(checkpoint_path(ckpt, spec.run_id))["epoch"] == 1  # the previous one, intact
    assert not list(ckpt.glob("*.tmp"))
    runs = Store(store).runs_df().set_index("run_id")
    assert runs.loc[spec.run_id, "status"] == "interrupted" and "No space left" in runs.loc[spec.run_id, "error"]
    assert Store(store).epochs_df(run_ids=[spec.run_id])["epoch"].tolist() == [0, 1, 2]
    monkeypatch.setattr(harness.checkpoint.torch, "save", real_save)
    _resume_and_compare(spec, expected, store, ckpt, oracle_dir)


def test_a_worker_killed_mid_run_is_reported_the_grid_goes_on_and_the_run_resumes_exactly(tmp_path, oracle_dir,
                                                                                         reference):
    spec, expected = reference
    other = tiny_spec("darts", 1)
    store, ckpt = tmp_path / "s.db", tmp_path / "ckpt"
    tasks = [tiny_task(s, store, oracle_dir, ckpt) for s in (spec, other)]
    killed: list[int] = []

    def kill_worker_after_epoch_1() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            progress = Store(store).run_progress([spec.run_id]).get(spec.run_id)
            if progress is not None and progress[1] >= 1:
                pid = lock_holder(ckpt, spec.run_id)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    Store(store)
    killer = threading.Thread(target=kill_worker_after_epoch_1)
    killer.start()
    outcomes = {o.run_id: o for o in run_grid(tasks, LocalExecutor(["cpu", "cpu"], threads=1), Store(store))}
    killer.join()
    assert killed and killed[0] != os.getpid()
    assert outcomes[spec.run_id].status == "died" and outcomes[other.run_id].status == "finished"
    runs = Store(store).runs_df().set_index("run_id")
    assert runs.loc[spec.run_id, "status"] == "interrupted"
    assert "worker process died" in runs.loc[spec.run_id, "error"]
    assert 1 <= runs.loc[spec.run_id, "epochs_done"] < EPOCHS
    _resume_and_compare(spec, expected, store, ckpt, oracle_dir)


def test_ctrl_c_while_an_epoch_is_recorded_waits_for_the_record():
    """SIGINT inside the record/checkpoint section is delivered after it, as KeyboardInterrupt."""
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with _signals_held():
            signal.raise_signal(signal.SIGINT)
            finished.append("record and checkpoint written")
    assert finished == ["record and checkpoint written"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

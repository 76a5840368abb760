"""Every bad input and fault of issues 6, 15 and 18 through the real CLI, and docs/errors.md generated from them.

Each case runs ``harness`` (its ``main``) in this process and records what the user sees: one line
on stderr starting with ``error:`` and exit status 2, or, for faults that do not stop the grid (a NaN
loss, a dead worker), the reason stored on the run. The test then writes docs/errors.md from exactly
what the cases produced (paths shortened), so the table follows every change of a message, including
the lists of methods and settings that other modules register.
"""

from __future__ import annotations

import builtins
import errno
import logging
import os
import shutil
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

import benchmarks.datasets
import harness.checkpoint
import harness.runner
from benchmarks.nb201.oracle import BUNDLED, MetricKey, NB201Oracle, OracleUpdate, write_update
from benchmarks.nb201.space import N_ARCHS
from harness.checkpoint import checkpoint_path, lock_holder, run_lock
from harness.cli import main
from harness.executors import LocalExecutor, run_grid
from results.store import SCHEMA_VERSION, Store
from tests.dataset_fixtures import cifar10_archive, serve_directory, tiny_cifar10_root
from tests.grid_helpers import tiny_spec, tiny_task
from tests.nb201_fixtures import export_means_csv
from tests.smoke import TINY, nb201_oracle_dir

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
RUN = ["run", "--methods", "darts", "--no-progress", "--profile", "quick",
       *[arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]]


class Case:
    """``untouched``: a store path the command names, which must not exist afterwards (refused before the store
    is opened); ``patch``: a monkeypatch.context -> None setup for the case."""

    def __init__(self, what: str, shown: str, argv: list[str], expect: str, exit_code: int = 2,
                 untouched: Path | None = None, patch=None) -> None:  # noqa: ANN001 - a setup callable
        self.what, self.shown, self.argv, self.expect, self.exit_code = what, shown, argv, expect, exit_code
        self.untouched, self.patch = untouched, patch


def _cli(monkeypatch, capsys, argv: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["harness", *argv])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def _copy_cifar(tmp: Path, name: str) -> Path:
    """A data root whose CIFAR-10 files link to the tiny set's except ``name``, which is copied to be damaged."""
    root = tmp / f"data-{name}"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for f in (tiny_cifar10_root() / "cifar-10-batches-py").iterdir():
        (folder / f.name).symlink_to(f)
    (folder / name).unlink()
    shutil.copyfile(tiny_cifar10_root() / "cifar-10-batches-py" / name, folder / name)
    return root


def _older_table(tmp: Path, name: str, keep) -> Path:  # noqa: ANN001 - a MetricKey -> bool predicate
    """An oracle directory whose table holds only the bundled metrics ``keep`` accepts: a table imported before
    the bundled one existed (a first import now starts from the bundle, which holds every search metric)."""
    directory = tmp / f"older-{name}"
    bundled = NB201Oracle.open(BUNDLED)
    values = {k: bundled.query(np.arange(N_ARCHS), k.dataset, k.split, k.budget, k.stat)
              for k in bundled.metrics() if keep(k)}
    write_update(NB201Oracle.default_path(directory), OracleUpdate(values=values, source={"importer": "older"}))
    return directory


def _oracle_copy(tmp: Path, oracles: Path, name: str, damage) -> Path:  # noqa: ANN001 - a bytes -> bytes function
    target = tmp / f"oracle-{name}"
    target.mkdir()
    table = next(oracles.glob("*.oracle"))
    (target / table.name).write_bytes(damage(table.read_bytes()))
    return target


def _cases(tmp: Path, oracles: Path) -> list[Case]:
    store = ["--store", str(tmp / "s.db")]
    truncated_cifar = _copy_cifar(tmp, "data_batch_1")
    path = truncated_cifar / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(path.read_bytes()[:100_000])
    corrupt_cifar = _copy_cifar(tmp, "data_batch_2")
    (corrupt_cifar / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"\x00garbage" * 1000)
    foreign_cifar = _copy_cifar(tmp, "test_batch")  # a CIFAR-100 file where CIFAR-10's test batch belongs
    (foreign_cifar / "cifar-10-batches-py" / "test_batch").write_bytes(_cifar100_like())
    missing = tmp / "empty-root"
    missing.mkdir()
    truncated_oracle = _oracle_copy(tmp, oracles, "truncated", lambda b: b[: len(b) // 2])
    corrupt_oracle = _oracle_copy(tmp, oracles, "corrupt", lambda b: b[:20] + b"\xff" * 40 + b[60:])
    newer_oracle = _oracle_copy(tmp, oracles, "newer", lambda b: b[:8] + (99).to_bytes(4, "little") + b[12:])
    junk = tmp / "junk.db"
    junk.write_text("these are my notes, not a results store\n")
    newer = tmp / "newer.db"
    Store(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    read_only = tmp / "ro.db"
    Store(read_only)
    bad_csv = tmp / "nb201-hp200-accuracies.csv"
    bad_csv.write_text("index,arch_str,accuracy\n0,|none~0|,90.0\n")
    return [*_issue6_cases(tmp, store, missing, truncated_cifar, corrupt_cifar, foreign_cifar, truncated_oracle,
                           corrupt_oracle, newer_oracle, junk, newer, read_only, bad_csv),
            *_setting_cases(tmp), *_option_cases(tmp, oracles),
            *_issue18_cases(tmp, store, oracles)]


def _issue6_cases(tmp: Path, store: list[str], missing: Path, truncated_cifar: Path, corrupt_cifar: Path,
                  foreign_cifar: Path, truncated_oracle: Path, corrupt_oracle: Path, newer_oracle: Path, junk: Path,
                  newer: Path, read_only: Path, bad_csv: Path) -> list[Case]:
    report_store = tmp / "report.db"
    Store(report_store)
    return [
        Case("unknown method", "`run --methods dartz`", [*RUN[:2], "dartz", *RUN[3:], *store], "unknown method"),
        Case("declined method", "`run --methods bohb`", [*RUN[:2], "bohb", *RUN[3:], *store],
             "bohb is not available"),
        Case("method the benchmark cannot run", "`run --methods black-box --benchmark nb1shot1`",
             [*RUN[:2], "black-box", *RUN[3:], "--benchmark", "nb1shot1", *store], "is a black-box baseline"),
        Case("unknown benchmark", "`run --benchmark nb999`", [*RUN, "--benchmark", "nb999", *store],
             "unknown benchmark"),
        Case("method that cannot search the benchmark", "`run --methods darts-minus --benchmark nb1shot1`",
             [*RUN[:2], "darts-minus", *RUN[3:], "--benchmark", "nb1shot1", *store], "cannot search nb1shot1"),
        Case("unknown dataset", "`run --dataset mnist`", [*RUN, "--dataset", "mnist", *store], "unknown dataset"),
        Case("unknown profile", "`run --profile fast`", [*RUN, "--profile", "fast", *store], "unknown profile"),
        Case("unknown setting key", "`run --set epoch=3`", [*RUN, "--set", "epoch=3", *store], "unknown setting"),
        Case("unknown sampler", "`run --methods gdas --set edge_sampler=gumbel`",
             [*RUN[:2], "gdas", *RUN[3:], "--set", "edge_sampler=gumbel", *store], "edge_sampler=gumbel is not valid"),
        Case("temperature outside a sampler's range", "`run --methods reinmax --set tau_min=0.5`",
             [*RUN[:2], "reinmax", *RUN[3:], "--set", "tau_min=0.5", *store], "lowest temperature"),
        Case("bad setting value", "`run --set train_portion=1`", [*RUN, "--set", "train_portion=1", *store],
             "train_portion=1"),
        Case("bad setting value", "`run --benchmark nb301 --set cell_ops=some`",
             [*RUN, "--benchmark", "nb301", "--set", "cell_ops=some", *store], "cell_ops=some is not valid"),
        Case("conflicting options", "`run --executor dask --scheduler tcp://h:8786 --jobs 4`",
             [*RUN, "--executor", "dask", "--scheduler", "tcp://h:8786", "--jobs", "4", *store], "--jobs is for"),
        Case("conflicting options", "`run --scheduler tcp://h:8786` (local executor)",
             [*RUN, "--scheduler", "tcp://h:8786", *store], "--scheduler needs"),
        Case("conflicting options", "`run --gpus 0 --device cpu`", [*RUN, "--gpus", "0", "--device", "cpu", *store],
             "--gpus chooses the devices"),
        Case("impossible options", "`run --gpus 0` on a machine without a GPU", [*RUN, "--gpus", "0", *store],
             "CUDA device"),
        Case("impossible options", "`run --set channels_last=true --device cpu`",
             [*RUN, "--set", "channels_last=true", "--device", "cpu", *store], "GPU setting"),
        Case("missing benchmark table", "`run --benchmark nb1shot1 --oracle-dir EMPTY` (NAS-Bench-201 falls back to "
             "the bundled table)", [*RUN, "--benchmark", "nb1shot1", "--oracle-dir", str(missing), *store],
             "harness data import"),
        Case("truncated benchmark table", "table cut in half", [*RUN, "--oracle-dir", str(truncated_oracle), *store],
             "truncated"),
        Case("corrupt benchmark table", "table header overwritten",
             [*RUN, "--oracle-dir", str(corrupt_oracle), *store], "corrupt"),
        Case("wrong-version benchmark table", "table format version 99",
             [*RUN, "--oracle-dir", str(newer_oracle), *store], "newer than this harness"),
        Case("wrong benchmark source file", "`data import nb201` of a CSV with other columns",
             ["data", "import", "nb201", str(bad_csv), "--oracle-dir", str(tmp / "import-target")], "column"),
        Case("missing dataset", "`run --data-root EMPTY` without `--download`, not at a terminal",
             [*RUN, "--data-root", str(missing), *store], "rerun with --download"),
        Case("truncated dataset file", "`data_batch_1` cut to 100 kB",
             [*RUN, "--data-root", str(truncated_cifar), *store], "truncated"),
        Case("corrupt dataset file", "`data_batch_2` overwritten with garbage",
             [*RUN, "--data-root", str(corrupt_cifar), *store], "corrupt"),
        Case("wrong dataset file", "a CIFAR-100 file as CIFAR-10's `test_batch`",
             [*RUN, "--data-root", str(foreign_cifar), *store], "test_batch"),
        Case("store that is not a store", "`--store notes.txt`", [*RUN, "--store", str(junk)], "not a results store"),
        Case("store from a newer schema", f"schema version {SCHEMA_VERSION + 1}", [*RUN, "--store", str(newer)],
             "newer than this harness"),
        Case("read-only store", "`--store 'sqlite:///file:ro.db?mode=ro&uri=true'`",
             [*RUN, "--store", f"sqlite:///file:{read_only}?mode=ro&uri=true"], "read-only"),
        Case("bad thread count", "`run --threads 0`", [*RUN, "--threads", "0", *store], "--threads 0"),
        Case("unknown report profile", "`report --profile fast`",
             ["report", "--profile", "fast", "--store", str(report_store), "--out", str(tmp / "r")], "unknown profile"),
        Case("unknown report method", "`report --methods dartz`",
             ["report", "--methods", "dartz", "--store", str(report_store), "--out", str(tmp / "r")], "unknown method"),
    ]


def _setting_cases(tmp: Path) -> list[Case]:
    """Settings refused before anything runs or is stored (issue 15): type, range, no-op combinations, scopes."""
    cases = []
    for i, (what, argv, expect) in enumerate([
        ("setting out of range", ["--set", "epochs=0"], "epochs=0 is out of range"),
        ("setting out of range", ["--set", "epochs=-3"], "epochs=-3 is out of range"),
        ("setting of the wrong type", ["--set", "epochs=2.5"], "epochs=2.5 is not an integer"),
        ("setting of the wrong type", ["--set", "epochs=true"], "epochs=true is not an integer"),
        ("setting out of range", ["--set", "grad_clip=-1"], "grad_clip=-1 is out of range"),
        ("setting out of range", ["--set", "momentum=5"], "momentum=5 is out of range"),
        ("setting out of range", ["--methods", "pc-darts", "--set", "warmup_epochs=-2"],
         "warmup_epochs=-2 is out of range"),
        ("setting of the wrong type", ["--set", "exclude_none=yes"], "exclude_none=yes is not a boolean"),
        ("setting out of range", ["--set", "eval_limit=0"], "eval_limit=0 is out of range"),
        ("setting out of range", ["--set", "C=0"], "C=0 is out of range"),
        ("setting of the wrong type", ["--set", "lr=abc"], "lr=abc is not a number"),
        ("setting out of range", ["--set", "batch_size=0"], "batch_size=0 is out of range"),
        ("setting that freezes the search", ["--set", "arch_lr=0"], "arch_lr=0 is out of range"),
        ("warm-up covering the whole search", ["--methods", "pc-darts", "--set", "warmup_epochs=5"],
         "covers the whole search"),
        ("too few images for one step", ["--set", "train_limit=40"], "no step would be taken"),
        ("no architecture step in the whole search", ["--methods", "darts-prime-cs10"],
         "the architecture would never be updated"),
        ("setting no method of the grid has", ["--methods", "darts", "--set", "eg_floor=1e-5"],
         "unknown setting 'eg_floor'"),
        ("scoped setting for a method outside the grid", ["--set", "gaea-darts.arch_lr=0.05"],
         "no method of 'gaea-darts' is in the grid"),
        ("unknown scope", ["--set", "gaea-dartz.arch_lr=0.05"], "neither a method nor a family"),
        ("bad seed", ["--first-seed", "-5"], "--first-seed must be at least 0"),
    ]):
        untouched = tmp / f"untouched-{i}.db"
        shown = "`run " + " ".join(argv) + "`"
        cases.append(Case(what, shown, [*RUN, *argv, "--store", str(untouched)], expect, untouched=untouched))
    return cases


def _option_cases(tmp: Path, oracles: Path) -> list[Case]:
    """Options refused before the store is opened (issue 15)."""
    a_file = tmp / "a-file"
    a_file.write_text("not a directory\n")
    store = tmp / "opt.db"
    Store(store)
    partial = tmp / "nb201-hp200-partial.csv"
    frame = pd.read_csv(export_means_csv(NB201Oracle.open(BUNDLED), tmp / "nb201-hp200-means.csv"))
    frame.drop(columns=["cifar10_test"]).to_csv(partial, index=False)
    no_cifar10 = _older_table(tmp, "no-cifar10", lambda k: k.dataset != "cifar10")
    unreadable = tmp / "unreadable-root"
    unreadable.mkdir()
    real_scandir = os.scandir

    def no_permission(m) -> None:  # noqa: ANN001 - a MonkeyPatch
        def scandir(path="."):  # noqa: ANN001, ANN202 - os.scandir's signature
            if Path(path) == unreadable:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_scandir(path)

        m.setattr(benchmarks.datasets.os, "scandir", scandir)

    def case(what: str, shown: str, argv: list[str], expect: str, name: str, patch=None) -> Case:  # noqa: ANN001
        untouched = tmp / f"untouched-{name}.db"
        return Case(what, shown, [*RUN, *argv, "--store", str(untouched)], expect, untouched=untouched, patch=patch)

    return [
        case("unknown device", "`run --device foo`", ["--device", "foo"], "unknown --device 'foo'", "dev"),
        case("impossible options", "`run --device cuda` on a machine without a GPU", ["--device", "cuda"],
             "no CUDA device", "cuda"),
        case("impossible options", "`run --jobs 10000`", ["--jobs", "10000"], "--jobs 10000 exceeds", "jobs"),
        Case("unknown store scheme", "`run --store foo://host/db`", [*RUN, "--store", "foo://host/db"],
             "unknown database scheme 'foo'"),
        Case("missing store driver", "`run --store mysql://me@host/db` without MySQLdb",
             [*RUN, "--store", "mysql://me@host/db"], "database driver for 'mysql' is not installed"),
        case("directory option naming a file", "`run --checkpoint-dir FILE`", ["--checkpoint-dir", str(a_file)],
             "is a file, not a directory", "ckpt"),
        Case("directory option naming a file", "`report --out FILE`",
             ["report", "--store", str(store), "--out", str(a_file)], "--out"),
        case("data root that is a file", "`run --data-root FILE`", ["--data-root", str(a_file)],
             "is a file, not a directory", "root-file"),
        case("unreadable data root", "`run --data-root DIR` that cannot be listed (permission denied)",
             ["--data-root", str(unreadable)], "cannot be read (Permission denied)", "root-perm", no_permission),
        Case("benchmark table missing a column", "`data import nb201` of the hp200 table without `cifar10_test` "
             "into an older table that lacks it too", ["data", "import", "nb201", str(partial), "--oracle-dir",
                                                      str(no_cifar10)], "missing column cifar10_test"),
    ]


def _cifar100_like() -> bytes:
    import pickle

    import numpy as np

    return pickle.dumps({b"data": np.zeros((10, 3072), dtype=np.uint8), b"fine_labels": list(range(10))}, protocol=2)


def _normalize(text: str, tmp: Path) -> str:
    return text.replace(str(tmp), "<tmp>").replace(str(tiny_cifar10_root()), "<data>").strip()


def test_every_bad_input_and_fault_gives_its_one_line_message_and_the_doc_lists_them(tmp_path, monkeypatch,
                                                                                    capsys):
    oracles = nb201_oracle_dir(tmp_path / "oracles")
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    monkeypatch.setenv("HARNESS_ORACLE_DIR", str(oracles))
    rows: list[tuple[str, str, str]] = []
    for case in _cases(tmp_path, oracles):
        with monkeypatch.context() as m:
            if case.patch is not None:
                case.patch(m)
            code, err = _cli(monkeypatch, capsys, case.argv)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == case.exit_code, (case.what, err)
        assert len(lines) == 1 and lines[0].startswith("error: ") and case.expect in lines[0], (case.what, err)
        assert case.untouched is None or not case.untouched.exists(), (case.what, "the store was touched")
        assert "s3cret" not in err
        rows.append((case.what, case.shown, _normalize(lines[0], tmp_path)))
    rows += _bad_download(tmp_path, monkeypatch, capsys)
    rows += _locked_store(tmp_path, monkeypatch, capsys)
    rows += _disk_full(tmp_path, monkeypatch, capsys)
    rows += _lock_on_a_full_disk(tmp_path, monkeypatch, capsys)
    rows += _busy_run(tmp_path, monkeypatch, capsys)
    rows += _other_threads_and_a_damaged_checkpoint(tmp_path, monkeypatch, capsys)
    rows += _nan_loss(tmp_path, monkeypatch, capsys)
    rows += _dead_worker(tmp_path, oracles)
    assert Store(tmp_path / "ro.db").runs_df().empty  # the read-only case wrote nothing
    _check_doc(rows)


def _bad_download(tmp: Path, monkeypatch, capsys) -> list[tuple[str, str, str]]:
    tarball, md5 = cifar10_archive(tmp / "served", train_per_class=2, test_per_class=1)
    root = tmp / "download-root"
    with serve_directory(tarball.parent) as (url, _requested), monkeypatch.context() as m:
        m.setenv("HARNESS_CIFAR10_URL", f"{url}/{tarball.name}")  # a mirror that serves another archive
        code, err = _cli(monkeypatch, capsys, [*RUN, "--download", "--data-root", str(root), "--store",
                                               str(tmp / "dl.db")])
        err = err.replace(url, "http://<mirror>").replace(md5, "<its md5>")  # the archive's md5 varies (mtimes)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("downloading", " "))]
    assert code == 2 and len(lines) == 1 and "not the expected c58f30108f718f92721af3b95e74349a" in lines[0], err
    assert list(root.iterdir()) == []  # nothing half-unpacked
    return [("download that fails the md5 check", "`run --download` from a mirror (`HARNESS_CIFAR10_URL`) serving "
             "another archive", _normalize(lines[0], tmp))]


def _locked_store(tmp: Path, monkeypatch, capsys) -> list[tuple[str, str, str]]:
    path = tmp / "locked.db"
    Store(path)
    monkeypatch.setenv("HARNESS_STORE_TIMEOUT", "0.5")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        code, err = _cli(monkeypatch, capsys, [*RUN, "--store", str(path)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        monkeypatch.delenv("HARNESS_STORE_TIMEOUT")
    assert code == 2 and err.strip().count("\n") == 0 and "is locked" in err, err
    return [("locked store", "another process holds the write lock past the timeout", _normalize(err, tmp))]


def _disk_full(tmp: Path, monkeypatch, capsys) -> list[tuple[str, str, str]]:
    store = tmp / "full.db"

    def no_space(state, f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(harness.checkpoint.torch, "save", no_space)
        code, err = _cli(monkeypatch, capsys, [*RUN, "--store", str(store)])
    assert code == 2 and err.strip().count("\n") == 0 and "No space left on device" in err, err
    row = Store(store).runs_df().iloc[0]
    assert row["status"] == "interrupted" and "No space left" in row["error"]
    return [("disk full while checkpointing", "checkpoint write fails with ENOSPC", _normalize(err, tmp))]


class _FullDisk:
    """A file on a full disk: writes fail with ENOSPC (the real case runs on a tmpfs in test_integrity.py)."""

    def __init__(self, f) -> None:  # noqa: ANN001 - an open file
        self.f = f

    def write(self, _text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str):  # noqa: ANN204 - the file's own attributes
        return getattr(self.f, name)


def _lock_on_a_full_disk(tmp: Path, monkeypatch, capsys) -> list[tuple[str, str, str]]:
    store = tmp / "full-lock.db"
    with monkeypatch.context() as m:
        m.setattr(harness.checkpoint, "open", lambda path, mode: _FullDisk(builtins.open(path, mode)), raising=False)
        code, err = _cli(monkeypatch, capsys, [*RUN, "--store", str(store)])
    assert code == 2 and err.strip().count("\n") == 0 and "cannot write a run lock in" in err, err
    assert Store(store).runs_df().empty
    return [("disk full when a run starts", "the run lock cannot be written (ENOSPC)", _normalize(err, tmp))]


def _busy_run(tmp: Path, monkeypatch, capsys) -> list[tuple[str, str, str]]:
    store = tmp / "busy.db"
    spec = tiny_spec("darts")
    with run_lock(store.with_name(store.name + ".checkpoints"), spec.run_id):
        code, err = _cli(monkeypatch, capsys, [*RUN, "--store", str(store)])
    line = next(ln for ln in err.splitlines() if ln.startswith("busy"))
    assert code == 1 and f"pid {os.getpid()}" in line, err
    return [("a run another process executes", "`run --no-progress` while another command holds the run (exit 1)",
             _normalize(line.replace(f"pid {os.getpid()} on {socket.gethostname()}", "pid PID on HOST"), tmp))]


class _Death(BaseException):
    """Stands for the process dying at a checkpoint."""


def _other_threads_and_a_damaged_checkpoint(tmp: Path, monkeypatch, capsys) -> list[tuple[str, str, str]]:
    import torch

    store = tmp / "resume.db"
    argv = [*RUN, "--set", "epochs=3", "--store", str(store)]
    real_save = harness.runner.save_checkpoint

    def dies_at_epoch_2(path, state):
        if state["epoch"] == 2:
            raise _Death
        real_save(path, state)

    with monkeypatch.context() as m:
        m.setattr(harness.runner, "save_checkpoint", dies_at_epoch_2)
        try:
            _cli(monkeypatch, capsys, argv)
        except _Death:
            capsys.readouterr()
    try:
        code, err = _cli(monkeypatch, capsys, [*argv, "--threads", "2"])  # the CLI sets each run's thread count
    finally:
        torch.set_num_threads(1)
    assert code == 2 and err.strip().count("\n") == 0 and "torch threads" in err, err
    rows = [("resume under another thread count", "a CPU run checkpointed with 1 torch thread, resumed with "
             "`--threads 2`",
             _normalize(err, tmp))]
    ckpt = checkpoint_path(store.with_name(store.name + ".checkpoints"), tiny_spec("darts", epochs=3).run_id)
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    ckpt.write_bytes(bytes(data))
    logger = logging.getLogger("harness")
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        code, err = _cli(monkeypatch, capsys, argv)
    finally:
        logger.removeHandler(handler)
    assert code == 0 and len(seen) == 1 and "fails its sha256 check" in seen[0], (err, seen)
    rows.append(("damaged checkpoint", "one bit of a checkpoint flipped (the run resumes from the previous one; "
                 "exit 0)", f"warning on stderr: {_normalize(seen[0], tmp)}"))
    return rows


def _nan_loss(tmp: Path, monkeypatch, capsys) -> list[tuple[str, str, str]]:
    store = tmp / "nan.db"
    code, err = _cli(monkeypatch, capsys, [*RUN, "--methods", "darts", "--seeds", "2", "--set", "lr=1e8",
                                           "--store", str(store)])
    runs = Store(store).runs_df()
    assert code == 0 and list(runs["status"]) == ["failed", "failed"], err  # both ran: the grid went on
    return [("NaN or inf loss", "`run --set lr=1e8` (exit 0; the grid continues)",
             f"run marked `failed`, error: {runs['error'].iloc[0]}")]


def _dead_worker(tmp: Path, oracles: Path) -> list[tuple[str, str, str]]:
    spec = tiny_spec("darts", 0, epochs=3)
    store, ckpt = tmp / "dead.db", tmp / "dead-ckpt"
    Store(store)

    def kill_it() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pid = lock_holder(ckpt, spec.run_id)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_it)
    killer.start()
    (outcome,) = run_grid([tiny_task(spec, store, oracles, ckpt)], LocalExecutor(["cpu"], threads=1), Store(store))
    killer.join()
    assert outcome.status == "died", outcome
    return [("a worker that dies", "a local worker is killed with SIGKILL (the grid goes on)",
             f"`worker died {spec.label}: {outcome.error}`; the run is marked `interrupted` with that reason")]


def _check_doc(rows: list[tuple[str, str, str]]) -> None:
    lines = ["# Bad input and faults: what the harness says", "",
             "Generated by `pytest tests/test_errors_doc.py`, which runs every case through the `harness` "
             "command and writes this file from what it printed. Errors are one line on stderr with exit "
             "status 2; nothing stored is changed by bad input. `<tmp>` stands for the test's directory.", "",
             "| bad input or fault | how the case is made | what the user sees |", "| --- | --- | --- |"]
    lines += [f"| {what} | {how} | {msg.replace('|', '&#124;')} |" for what, how, msg in rows]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")


def _issue18_cases(tmp: Path, store: list[str], oracles: Path) -> list[Case]:
    """Issue 18's one-line errors: usage errors, a budget the table lacks, a directory that is no archive, an
emptied store, a password in a store URL, out-of-range benchmark values."""
    not_an_archive = tmp / "downloads"
    not_an_archive.mkdir()
    emptied = tmp / "emptied.db"
    Store(emptied).close()
    os.truncate(emptied, 0)
    hp200_only = _older_table(tmp, "hp200", lambda k: k.budget == "hp200")
    out_of_range = tmp / "oracle-1e29"
    out_of_range.mkdir()
    table = NB201Oracle.default_path(out_of_range)
    table.write_bytes(next(oracles.glob("*.oracle")).read_bytes())
    write_update(table, OracleUpdate(values={MetricKey("cifar10", "test"): [1e29] * N_ARCHS}, source={}))
    return [
        Case("bad option value", "`run --seeds abc`", [*RUN, "--seeds", "abc", *store], "Invalid value for '--seeds'"),
        Case("missing option", "`run` without `--methods`", ["run", *store], "Missing option '--methods'"),
        Case("empty dataset list", "`run --dataset ''`", [*RUN, "--dataset", "", *store], "no dataset given"),
        Case("budget the table lacks", "`run --set oracle_budget=hp12` with an older table of hp200 means only (no "
             "run row is stored)", [*RUN, "--set", "oracle_budget=hp12", "--oracle-dir", str(hp200_only), *store],
             "has no hp12 test/valid means"),
        Case("a directory that is no benchmark archive", "`data import nb201 DIR`",
             ["data", "import", "nb201", str(not_an_archive), "--oracle-dir", str(tmp / "import-target")],
             "not a NATS-tss archive directory"),
        Case("store truncated to 0 bytes", "`--store emptied.db` after `truncate -s 0 emptied.db`",
             [*RUN, "--store", str(emptied)], "is empty (0 bytes)"),
        Case("store URL with a password", "`--store postgresql+psycopg://me:s3cret@127.0.0.1:1/nas` (the password "
             "is masked)", ["status", "--store", "postgresql+psycopg://me:s3cret@127.0.0.1:1/nas"], "me:***@"),
        Case("benchmark value out of range", "table's CIFAR-10 test accuracies overwritten with 1e29",
             [*RUN, "--oracle-dir", str(out_of_range), *store], "outside 0..100"),
    ]

"""Every bad input and fault of issue 6 through the real CLI, and docs/errors.md generated from them.

Each case runs ``harness`` (its ``main``) in this process and records what the user sees: one line
on stderr starting with ``error:`` and exit status 2, or, for faults that do not stop the grid (a NaN
loss, a dead worker), the reason stored on the run. The test then writes docs/errors.md from exactly
what the cases produced (paths shortened), so the table follows every change of a message, including
the lists of methods and settings that other modules register.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import harness.checkpoint
from harness.checkpoint import lock_holder
from harness.cli import main
from harness.executors import LocalExecutor, run_grid
from results.store import SCHEMA_VERSION, Store
from tests.dataset_fixtures import cifar10_archive, serve_directory, tiny_cifar10_root
from tests.grid_helpers import tiny_spec, tiny_task
from tests.smoke import TINY, nb201_oracle_dir

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
RUN = ["run", "--methods", "darts", "--no-progress", "--profile", "quick",
       *[arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]]


class Case:
    def __init__(self, what: str, shown: str, argv: list[str], expect: str, exit_code: int = 2) -> None:
        self.what, self.shown, self.argv, self.expect, self.exit_code = what, shown, argv, expect, exit_code


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
    return [
        Case("unknown method", "`run --methods dartz`", [*RUN[:2], "dartz", *RUN[3:], *store], "unknown method"),
        Case("unknown benchmark", "`run --benchmark nb999`", [*RUN, "--benchmark", "nb999", *store],
             "unknown benchmark"),
        Case("unknown dataset", "`run --dataset mnist`", [*RUN, "--dataset", "mnist", *store], "unknown dataset"),
        Case("unknown profile", "`run --profile fast`", [*RUN, "--profile", "fast", *store], "unknown profile"),
        Case("unknown setting key", "`run --set epoch=3`", [*RUN, "--set", "epoch=3", *store], "unknown setting"),
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
        Case("store from a newer schema", "schema version 2", [*RUN, "--store", str(newer)], "newer than this harness"),
        Case("read-only store", "`--store 'sqlite:///file:ro.db?mode=ro&uri=true'`",
             [*RUN, "--store", f"sqlite:///file:{read_only}?mode=ro&uri=true"], "read-only"),
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
        code, err = _cli(monkeypatch, capsys, case.argv)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == case.exit_code, (case.what, err)
        assert len(lines) == 1 and lines[0].startswith("error: ") and case.expect in lines[0], (case.what, err)
        rows.append((case.what, case.shown, _normalize(lines[0], tmp_path)))
    rows += _bad_download(tmp_path, monkeypatch, capsys)
    rows += _locked_store(tmp_path, monkeypatch, capsys)
    rows += _disk_full(tmp_path, monkeypatch, capsys)
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

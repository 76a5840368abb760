"""Per-run checkpoints, written atomically after every recorded epoch, and per-run locks.

A checkpoint is written to a temporary file in the same directory, flushed to disk and renamed over
the previous one (then the directory is synced), so a kill at any moment leaves either the old or the
new checkpoint, never a torn file. A full disk leaves the previous checkpoint in place and stops the
run with a one-line error. A temporary file orphaned by a kill is removed when the run resumes.

A run lock (``flock`` on ``<run_id>.lock``, released by the kernel when its process dies, however it
dies) keeps two processes from executing the same run at once, e.g. two commands over one grid, or a
cluster that reschedules a task whose worker only looked dead.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from nasbench_errors import HarnessError


class RunBusy(HarnessError):
    """Another live process holds the run's lock."""


def checkpoint_path(directory: Path, run_id: str) -> Path:
    return directory / f"{run_id}.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise HarnessError(
            f"cannot write checkpoint {path}: {exc.strerror or exc}; free space and rerun the same command "
            f"to resume from epoch {int(state.get('epoch', 0))}"
        ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)  # gone after the rename; left over only when the write failed


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when the run has no checkpoint yet."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise HarnessError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}); delete it to restart that run from epoch 0"
        ) from None


def remove_checkpoint(path: Path) -> None:
    path.unlink(missing_ok=True)


def remove_orphans(path: Path) -> None:
    """Temporary files of ``path`` left by a process killed mid-write (call only while holding the run lock)."""
    for orphan in path.parent.glob(path.name + ".*.tmp"):
        orphan.unlink(missing_ok=True)


@contextmanager
def run_lock(directory: Path, run_id: str) -> Iterator[None]:
    """Hold the run's lock for the block, or raise RunBusy naming the process that holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id}.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RunBusy(f"run {run_id} is being executed by {holder}; wait for it or stop it, then rerun") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)


def lock_holder(directory: Path, run_id: str) -> int | None:
    """The pid written in a run's lock file (for tests and diagnostics), or None."""
    try:
        text = (directory / f"{run_id}.lock").read_text()
    except FileNotFoundError:
        return None
    parts = text.split()
    return int(parts[1]) if len(parts) >= 2 and parts[0] == "pid" else None


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (a power cut must not bring the old checkpoint back)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

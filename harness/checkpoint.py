"""Per-run checkpoints, written atomically and verified before use after every recorded epoch, and per-run locks.

A checkpoint file is a short header (magic, then the sha256 of the payload) followed by the payload
(``torch.save`` of the run's state, serialized in memory first). It is written to a temporary file in
the same directory, flushed to disk and renamed over the previous one (then the directory is synced),
so a kill at any moment leaves either the old or the new checkpoint, never a torn file; the checkpoint
it replaces is kept as ``<run_id>.prev.pt``. A checkpoint is used only when its checksum matches: a
damaged one (a flipped bit, a file written over) is reported by name and the run resumes from the
previous checkpoint, or starts over when that one is damaged too, never from corrupted state. A full
disk leaves the previous checkpoint in place and stops the run with a one-line error naming the
directory. A temporary file orphaned by a kill is removed when the run resumes.

A run lock (``flock`` on ``<run_id>.lock``, released by the kernel when its process dies, however it
dies) keeps two processes from executing the same run at once, e.g. two commands over one grid, or a
cluster that reschedules a task whose worker only looked dead. ``lock_state`` tells a live run from
one whose process is gone.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from nasbench_errors import HarnessError

log = logging.getLogger("harness")

MAGIC = b"NBHCKPT1"
_DIGEST_SIZE = hashlib.sha256().digest_size
#: how long taking a run lock retries before the run counts as busy (``lock_state`` probes it for an instant)
LOCK_RETRY_SECONDS = 0.5


class RunBusy(HarnessError):
    """Another live process holds the run's lock."""


class CheckpointDamaged(HarnessError):
    """A checkpoint whose checksum does not match (or that has none): never resumed from."""


def checkpoint_path(directory: Path, run_id: str) -> Path:
    return directory / f"{run_id}.pt"


def previous_path(path: Path) -> Path:
    """Where the checkpoint before ``path``'s current one is kept (``<run_id>.prev.pt``)."""
    return path.with_name(path.stem + ".prev" + path.suffix)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with its checksum atomically; the checkpoint it replaces becomes the previous one.

    ``torch.save`` serializes to memory, so a full disk fails only the plain writes below (a short write
    inside torch's own file writer surfaced as a RuntimeError with a traceback)."""
    tmp = None
    try:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getbuffer()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).digest())
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise HarnessError(
            f"cannot write checkpoint {path.name} in {path.parent}: {_reason(exc)}; free space and rerun the same "
            f"command to resume from epoch {int(state.get('epoch', 0))}"
        ) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)  # gone after the rename; left over only when the write failed


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state after checking its checksum, or None when there is no checkpoint at ``path``.

    Raises CheckpointDamaged (naming the file) when the checksum is missing or does not match.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointDamaged(f"checkpoint {path} cannot be read ({_reason(exc)})") from None
    header = len(MAGIC) + _DIGEST_SIZE
    if len(data) < header or not data.startswith(MAGIC):
        raise CheckpointDamaged(f"checkpoint {path} has no checksum header (damaged, or written by an older harness)")
    payload = memoryview(data)[header:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC):header]:
        raise CheckpointDamaged(f"checkpoint {path} fails its sha256 check (the file changed after it was written)")
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an intact file this torch cannot read is no use either
        raise CheckpointDamaged(f"checkpoint {path} cannot be unpickled ({type(exc).__name__})") from None


def load_resume_state(path: Path) -> dict[str, Any] | None:
    """The newest checkpoint of a run that passes its check: ``path``, else the previous one, else None.

    Every damaged checkpoint is logged as a warning that names it and says where the run resumes.
    """
    damaged = []
    for candidate in (path, previous_path(path)):
        try:
            state = load_checkpoint(candidate)
        except CheckpointDamaged as exc:
            damaged.append(str(exc))
            continue
        if state is not None:
            break
    else:
        state = None
    for problem in damaged:
        where = "from scratch (epoch 0)" if state is None else f"from its verified epoch {int(state['epoch'])}"
        log.warning("%s; not using it: the run restarts %s", problem, where)
    return state


def remove_checkpoint(path: Path) -> None:
    path.unlink(missing_ok=True)
    previous_path(path).unlink(missing_ok=True)


def remove_orphans(path: Path) -> None:
    """Temporary files of ``path`` left by a process killed mid-write (call only while holding the run lock)."""
    for orphan in path.parent.glob(path.name + ".*.tmp"):
        orphan.unlink(missing_ok=True)


@contextmanager
def run_lock(directory: Path, run_id: str) -> Iterator[None]:
    """Hold the run's lock for the block, or raise RunBusy naming the process that holds it.

    A lock that cannot even be written (a full disk, a read-only directory) is a one-line HarnessError.
    """
    path = directory / f"{run_id}.lock"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+")  # noqa: SIM115 - closed in the finally below, after the lock is released
    except OSError as exc:
        raise _lock_error(directory, exc) from None
    try:
        _acquire(f, run_id)
        try:
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on {socket.gethostname()}")
            f.flush()
        except OSError as exc:
            fcntl.flock(f, fcntl.LOCK_UN)
            raise _lock_error(directory, exc) from None
        try:
            yield
        finally:
            try:
                f.truncate(0)
            except OSError:
                pass  # the holder's text is informational; the lock itself goes with the descriptor
            fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        try:
            f.close()
        except OSError:
            pass  # a failed flush of a text we already handled (full disk)


def _acquire(f, run_id: str) -> None:  # noqa: ANN001 - an open file
    """Take the lock, retrying briefly: ``lock_state`` of another process may hold it for an instant."""
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise RunBusy(f"run {run_id} is being executed by {holder}; wait for it or stop it, "
                              "then rerun") from None
            time.sleep(0.05)


def _lock_error(directory: Path, exc: OSError) -> HarnessError:
    if exc.errno == errno.ENOSPC:
        return HarnessError(f"cannot write a run lock in {directory}: no space left on device; free space and "
                            "rerun the same command")
    return HarnessError(f"cannot write a run lock in {directory}: {_reason(exc)}; make it writable or pass "
                        "--checkpoint-dir")


def lock_state(directory: Path, run_id: str) -> str:
    """``held`` (a live process executes the run), ``free`` (its process is gone) or ``absent`` (no lock file
    in ``directory``: the run keeps its checkpoints elsewhere, or never started here).

    Probes with a shared lock held for an instant; ``run_lock`` retries over such an instant.
    """
    try:
        f = open(directory / f"{run_id}.lock", "rb")  # noqa: SIM115 - closed right below
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "absent"
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return "held"
        fcntl.flock(f, fcntl.LOCK_UN)
        return "free"


def lock_holder(directory: Path, run_id: str) -> int | None:
    """The pid written in a run's lock file (for tests and diagnostics), or None."""
    try:
        text = (directory / f"{run_id}.lock").read_text()
    except FileNotFoundError:
        return None
    parts = text.split()
    return int(parts[1]) if len(parts) >= 2 and parts[0] == "pid" else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (a power cut must not bring the old checkpoint back)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

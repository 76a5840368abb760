"""Per-run checkpoints, written atomically after every recorded epoch.

A checkpoint is written to a temporary file in the same directory, flushed to disk and renamed over
the previous one, so a kill at any moment leaves either the old or the new checkpoint, never a torn
file. A full disk leaves the previous checkpoint in place and stops the run with a one-line error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from harness.errors import HarnessError


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
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HarnessError(
            f"cannot write checkpoint {path}: {exc.strerror or exc}; free space and rerun the same command "
            f"to resume from epoch {int(state.get('epoch', 0))}"
        ) from None


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

"""How a run was made, as its store row records it: config, overrides, profile, method and benchmark versions,
package versions, source revision, data split, host, device and threads.

Reports and notebooks read these columns and never re-resolve a configuration with today's code.
"""

from __future__ import annotations

import json
import platform
import socket
import subprocess
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.specs import RunSpec

#: the files whose changes change what the harness computes (the dirty flag looks at these only)
SOURCE_PATHS = ("harness", "methods", "benchmarks", "results", "nasbench_errors.py", "nasbench_settings.py",
                "pyproject.toml")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        harness_version = version("nasbench-harness")
    except PackageNotFoundError:
        harness_version = "unknown"
    return {"harness": harness_version, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@lru_cache(maxsize=1)
def source_revision() -> tuple[str | None, bool | None]:
    """(git commit, whether the source has uncommitted changes) of the code this process runs; (None, None)
    when it is not a git checkout of the project (an installed package) or git is unavailable."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return None, None
    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=normal", "--", *SOURCE_PATHS)
    return commit, None if changes is None else bool(changes)


def run_row(spec: RunSpec, device: torch.device, split: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``runs`` row of a run that starts (or resumes) now. ``split`` is the run's ``split_description``
    (which data split the search used, e.g. the NB201 split file or the harness's seeded split), stored in the
    ``split`` column; a split recorded under ``versions["split"]`` by older code is read there too."""
    commit, dirty = source_revision()
    return {
        "run_id": spec.run_id, "method": spec.method, "benchmark": spec.benchmark, "dataset": spec.dataset,
        "setting": spec.setting, "seed": spec.seed, "profile": spec.profile,
        "config": json.dumps(spec.config, sort_keys=True), "config_hash": spec.config_hash,
        "overrides": json.dumps(dict(spec.overrides), sort_keys=True),
        "method_version": spec.method_version, "benchmark_version": spec.benchmark_version,
        "status": "running", "error": None, "epochs_planned": spec.epochs,
        "versions": json.dumps(versions()), "source_revision": commit, "source_dirty": dirty,
        "host": socket.gethostname(), "device": describe_device(device), "threads": torch.get_num_threads(),
        "split": None if split is None else json.dumps(dict(split), sort_keys=True),
    }

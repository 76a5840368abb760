"""End-to-end figures: seconds per search epoch of each method through the real runner, and scaling in C, N, batch.

Each run is ``harness run``'s in-process path (``runner.execute``: data on the device, the method's own
loop, per-epoch evaluation, store write, checkpoint) for one epoch; the figure is that epoch's
``seconds_epoch`` (training + evaluation). Without a data root the bench writes synthetic CIFAR-10 in the
official batch layout (random pixels: fine for timing), and the oracle is a synthetic table.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.datasets import SPECS, dataset_dir
from benchmarks.nb201.oracle import BUDGETS, SEARCH_METRICS, MetricKey, NB201Oracle, OracleUpdate, write_update
from benchmarks.nb201.space import N_ARCHS
from harness.runner import RunEnvironment, execute
from harness.specs import RunSpec
from methods import registry
from nasbench_errors import HarnessError
from results.store import Store

Rows = list[dict[str, Any]]


def write_synthetic_cifar10(root: Path, train_per_class: int, test_per_class: int) -> Path:
    """``cifar-10-batches-py`` with random pixels in the official layout (5 train batches + test)."""
    folder = root / SPECS["cifar10"].dirnames[0]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = [(f, train_per_class * 2) for f in SPECS["cifar10"].train_files] + [("test_batch", test_per_class * 10)]
    for name, per_class in files:
        labels = rng.permutation(np.repeat(np.arange(10), max(1, per_class // 10)))
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        (folder / name).write_bytes(pickle.dumps({b"data": data, b"labels": labels.tolist()}, protocol=4))
    return root


def write_synthetic_oracle(oracle_dir: Path) -> None:
    """A table with random test/valid means for every search metric (the runner looks these up)."""
    rng = np.random.default_rng(0)
    keys = {MetricKey(d, s, budget) for pair in SEARCH_METRICS.values() for d, s in pair for budget in BUDGETS}
    write_update(NB201Oracle.default_path(oracle_dir),
                 OracleUpdate(values={k: rng.uniform(10, 95, N_ARCHS) for k in keys},
                              source={"importer": "bench", "source": "synthetic"}))


def _has_cifar10(root: Path | None) -> bool:
    try:
        return root is not None and dataset_dir("cifar10", root).is_dir()
    except HarnessError:
        return False


def seconds_per_epoch(method: str, overrides: Mapping[str, Any], env: RunEnvironment) -> tuple[float, Mapping]:
    """One run of ``method`` for one epoch: (its epoch-1 ``seconds_epoch``, the resolved config)."""
    entry = registry.get(method)
    spec = RunSpec.create(method, "nb201", "cifar10", entry.default_setting, 0, "quick", dict(overrides))
    outcome = execute(spec, env)
    if outcome.status != "finished":
        raise HarnessError(f"{outcome.status}: {outcome.error}")
    rows = env.store.epochs_df([spec.run_id], with_runs=False)
    return float(rows.loc[rows["epoch"] >= 1, "seconds_epoch"].mean()), spec.config


def epoch_figures(methods: Sequence[str], base: Mapping[str, Any], scaling: Sequence[Mapping[str, Any]],
                  data_root: Path | None, device: str,
                  say: Callable[[str], None]) -> tuple[Rows, Rows, Rows]:
    """(seconds per epoch per method, the scaling table of darts, skipped methods with the reason)."""
    per_method: Rows = []
    table: Rows = []
    skipped: Rows = []
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        work = Path(tmp)
        synthetic = not _has_cifar10(data_root)
        root = write_synthetic_cifar10(work / "data", 200, 50) if synthetic else data_root
        write_synthetic_oracle(work / "oracles")
        env = RunEnvironment(Store(work / "bench.db"), root, work / "oracles", work / "checkpoints",
                             torch.device(device))
        data = "synthetic CIFAR-10 layout" if synthetic else f"CIFAR-10 from {root}"
        for method in methods:
            say(f"epochs: {method}")
            try:
                seconds, _ = seconds_per_epoch(method, base, env)
                per_method.append({"method": method, "seconds_per_epoch": seconds, "data": data})
            except (HarnessError, ValueError, RuntimeError) as e:
                skipped.append({"method": method, "reason": str(e).splitlines()[0]})
        for change in scaling:
            say(f"epochs: darts scaling {dict(change)}")
            seconds, config = seconds_per_epoch("darts", {**base, **change}, env)
            table.append({"C": config["C"], "N": config["N"], "batch": config["batch_size"],
                          "seconds_per_epoch": seconds})
    for row in table:
        row["relative_to_first"] = row["seconds_per_epoch"] / table[0]["seconds_per_epoch"]
    return per_method, table, skipped

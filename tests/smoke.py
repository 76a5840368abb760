"""A tiny real search through the runner, shared by the per-method smoke tests.

Runs one method for a couple of epochs on a 4-channel, 1-cell supernet over 256 images of the tiny synthetic
CIFAR-10 (``tests.dataset_fixtures.tiny_cifar10_root``) and looks the architectures up in the NAS-Bench-201 table
bundled with the package (the real 200- and 12-epoch means and CIFAR-10 costs), as a fresh install does; it
returns the stored epochs. A black-box method (no supernet) runs on the table alone: two checkpoints of its
simulated budget (a quarter of it). Methods with costly inner loops (predictor fits, ENAS's controller)
get smaller ones (``TINY_METHOD``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from benchmarks.nb201.oracle import BUNDLED, NB201Oracle
from harness.runner import RunEnvironment, RunOutcome, execute
from harness.specs import RunSpec
from results.store import Store
from tests.dataset_fixtures import tiny_cifar10_root

TINY: dict[str, Any] = {"C": 4, "N": 1, "train_limit": 256, "batch_size": 32, "eval_limit": 64, "epochs": 2}
#: per-method settings that only shorten a smoke run or keep it a search: the candidate-selection methods score 100
#: candidates per epoch by default (selection with their default counts is tested in tests/test_rsws.py and
#: tests/test_setn.py); SDARTS-ADV's attack costs a forward and backward per PGD step; CS10 steps the architecture
#: once per 10 weight steps, more than a tiny run takes (a search without architecture steps is refused)
FAST: dict[str, dict[str, Any]] = {"rs-ws": {"rsws_candidates": 4}, "setn": {"setn_candidates": 4},
                                   "sdarts-adv": {"pgd_steps": 1}, "darts-prime-cs10": {"arch_every": 2}}
#: black-box searches: a quarter of the simulated budget (about 13 CIFAR-10 cells: the 10 initial ones of the
#: predictor-guided methods and one fitted batch)
TINY_BLACKBOX: dict[str, Any] = {"epochs": 2, "time_budget": 3000.0}
#: per method: what keeps its smoke run to seconds (its own expensive knobs)
TINY_METHOD: dict[str, dict[str, Any]] = {"bananas": {"bananas_epochs": 20}, "npenas": {"npenas_epochs": 50},
                                          "enas": {"enas_train_steps": 2, "enas_aggregate": 2,
                                                   "enas_epoch_samples": 2, "enas_final_samples": 3}}


def nb201_oracle_dir(directory: Path) -> Path:
    """``directory`` holding a copy of the bundled table as an imported one (for tests that damage or extend it)."""
    target = NB201Oracle.default_path(directory)
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BUNDLED, target)
    return directory


def run_tiny(method: str, tmp_path: Path, setting: str | None = None, seed: int = 0,
             benchmark: str = "nb201", dataset: str = "cifar10", oracle_dir: Path | None = None,
             **overrides: Any) -> tuple[RunOutcome, pd.DataFrame]:
    """Run ``method`` end to end on the tiny configuration; returns the outcome and its epoch rows.

    Without ``oracle_dir`` the run gets an empty oracle directory, so NAS-Bench-201 answers from the bundled table.
    """
    from methods.registry import get

    tiny = TINY if get(method).needs_supernet else {**TINY, **TINY_BLACKBOX}
    spec = RunSpec.create(method, benchmark, dataset, setting or get(method).default_setting, seed, "quick",
                          {**tiny, **TINY_METHOD.get(method, {}), **FAST.get(method, {}), **overrides})
    store = Store(tmp_path / "results.db")
    env = RunEnvironment(store=store, data_root=tiny_cifar10_root(), oracle_dir=oracle_dir or tmp_path / "oracles",
                         checkpoint_dir=tmp_path / "ckpt", device=torch.device("cpu"))
    outcome = execute(spec, env)
    return outcome, store.epochs_df(run_ids=[spec.run_id])

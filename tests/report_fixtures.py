"""One small real store for the report and notebook tests, built once per test session.

Four tiny real searches through the runner (the quick profile shrunk further by ``tests.smoke``, 128 training
images): DARTS bilevel and GAEA DARTS ERM on CIFAR-10, seeds 0 and 1, 2 epochs each, looked up in the real
hp200 table; and two black-box REA searches (seeds 0 and 1, simulated training time from the real 12-epoch
and cost tables), so that reports meet both kinds of search seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.smoke import nb201_oracle_dir, run_tiny

TRAIN_LIMIT = 128  # images: 2 weight steps per epoch in either setting, enough for real curves
RUNS = (("darts", "bilevel", 0), ("darts", "bilevel", 1), ("gaea-darts", "erm", 0), ("gaea-darts", "erm", 1),
        ("rea", "bilevel", 0), ("rea", "bilevel", 1))


@dataclass(frozen=True)
class SmallStore:
    root: Path

    @property
    def store(self) -> Path:
        return self.root / "results.db"

    @property
    def oracle_dir(self) -> Path:
        return self.root / "oracles"


_BUILT: dict[str, SmallStore] = {}


def small_store(factory: pytest.TempPathFactory) -> SmallStore:
    """The session's store (built on first use; test modules share it through this module's cache)."""
    if "store" not in _BUILT:
        # module-scoped fixtures run before conftest's per-test thread setting: without this, torch's
        # default thread pool oversubscribes the 2 shared cores and the runs take minutes instead of seconds
        torch.set_num_threads(1)
        root = factory.mktemp("report-store")
        oracle_dir = nb201_oracle_dir(root / "oracles")
        for method, setting, seed in RUNS:
            outcome, _ = run_tiny(method, root, setting=setting, seed=seed, oracle_dir=oracle_dir,
                                  train_limit=TRAIN_LIMIT)
            assert outcome.status == "finished", outcome.error
        _BUILT["store"] = SmallStore(root)
    return _BUILT["store"]

"""ONE black-box search run (``needs_supernet = False``): space, method and oracle; no supernet, no images.

It has the interface ``harness.runner`` drives a run through (``train``, ``measure``, ``state``,
``restore``), so the runner's loop, store transactions, checkpoints, signals and resume logic are the
same code for both kinds of run. An "epoch" is a checkpoint of simulated time (``methods.blackbox``).

Row semantics: the architecture is the best evaluated so far (none before the first evaluation);
``seconds_epoch`` / ``seconds_total`` (and the run's ``search_seconds``) are simulated seconds;
``arch_steps`` counts the evaluations of the epoch; ``extra`` holds the totals (``evaluations``,
``simulated_seconds``), the best search signal and the epoch's wall-clock ``wall_seconds``.
Supernet and training fields stay empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

import benchmarks.registry
from benchmarks.space import Selection
from harness.checkpoint import checkpoint_path
from harness.records import check_oracle_budget, entropy_fields, oracle_fields
from harness.specs import RunSpec
from methods import registry
from methods.blackbox import BlackBoxMethod
from nasbench_errors import ConfigError

if TYPE_CHECKING:
    from harness.runner import RunEnvironment


class BlackBoxRun:
    """The state of one black-box run between checkpoints."""

    steps_per_epoch = 1  # the progress display advances once per checkpoint
    #: no images: the search reads the benchmark table alone (``runs.split``)
    split_description = {"description": "none: a black-box search reads the benchmark table, no images"}

    def __init__(self, spec: RunSpec, env: RunEnvironment) -> None:
        self.spec, self.env, self.cfg = spec, env, spec.config
        self.bench = benchmarks.registry.get(spec.benchmark)
        self.oracle = self.bench.open_oracle(env.oracle_dir, self.cfg)
        if not hasattr(self.oracle, "simulated_training"):
            raise ConfigError(f"{spec.method} needs a benchmark whose table simulates training (nb201); "
                              f"the {spec.benchmark} table has no training costs")
        self.budget = str(self.cfg["signal_budget"])
        self.oracle.simulated_training(0, spec.dataset, self.budget)  # a missing table or cost fails here
        self.space = self.bench.make_space(self.cfg)
        check_oracle_budget(self.bench, self.space, self.oracle, spec.dataset, str(self.cfg["oracle_budget"]))
        self.method: BlackBoxMethod = registry.get(spec.method).create(
            self.space, self.cfg, torch.Generator().manual_seed(spec.seed))
        self.recorded_seconds = 0.0  # simulated seconds at the last recorded checkpoint
        self.evaluations_recorded = 0
        self.ckpt_path = checkpoint_path(env.checkpoint_dir, spec.run_id)

    def evaluate(self, selection: Selection) -> tuple[float, float]:
        """(search signal, simulated seconds) of one cell: the benchmark's simulated training."""
        key = self.bench.describe(self.space, selection).key
        return self.oracle.simulated_training(key, self.spec.dataset, self.budget)

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "method": self.method.state_dict(), "run_id": self.spec.run_id}

    def restore(self, state: Mapping[str, Any]) -> int:
        self.method.load_state_dict(state["method"])
        self.recorded_seconds, self.evaluations_recorded = self.method.elapsed, self.method.evaluations
        return int(state["epoch"])

    # -- one checkpoint ---------------------------------------------------------------------------
    def train(self, epoch: int, on_step: Callable[[], None]) -> None:
        self.method.run_epoch(epoch, self.spec.epochs, self.evaluate)
        on_step()

    def measure(self, epoch: int, stats: None, seconds_train: float,
                check: Callable[[], None]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Look up the best cell so far: the checkpoint's (row, lookup rows)."""
        t0 = time.perf_counter()
        fields, lookup_rows = oracle_fields(self.bench, self.space, self.oracle, self.spec.dataset,
                                            str(self.cfg["oracle_budget"]), self.method.derive())
        probs = self.method.probabilities()
        row = {
            **fields, **entropy_fields(self.space, probs),
            "weight_steps": 0, "arch_steps": self.method.evaluations - self.evaluations_recorded,
            "seconds_epoch": self.method.elapsed - self.recorded_seconds, "seconds_total": self.method.elapsed,
            "arch_params": {"raw": {k: v.detach().cpu().tolist() for k, v in self.method.relaxation.params.items()},
                            "probs": {k: v.cpu().tolist() for k, v in probs.items()}},
            "extra": {**self.method.epoch_fields(), "wall_seconds": seconds_train + time.perf_counter() - t0},
        }
        self.recorded_seconds, self.evaluations_recorded = self.method.elapsed, self.method.evaluations
        return row, lookup_rows

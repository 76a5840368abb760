"""Run-time estimates before a grid starts: seconds per run and for the whole grid, on this device.

A short measurement, not a guess: for each distinct configuration (method, benchmark, dataset, setting and
resolved config; the seeds of a configuration share one) the estimator builds the run exactly as the runner
does (data, split, supernet, method, batch streams) and times the method's own epoch loop on truncated
epochs of 1 and 3 steps (on a GPU after a warm-up step that pays for kernel selection). The two times give a
per-step cost and a per-epoch overhead (RS-WS scores its candidates once per epoch), so

    run seconds = epochs x (overhead + steps per epoch x seconds per step) + (epochs + 1) x evaluation,

with weight-only epochs (a warm-up) timed separately and the evaluation (the continuous and the discrete
supernet over the evaluation set, as ``SearchRun.record`` does) from two timed batches. Measurements run
with the torch thread count the runs will get and are cached per device, threads and package version in
``$HARNESS_HOME/estimates.json`` (delete it to measure again). Measuring stops after ``budget`` seconds (a
paper-size configuration takes seconds per step on a CPU): configurations left are reported as not timed,
the grid total as a lower bound, and the next call times more of them. Black-box baselines only read the
table: seconds, so they are not measured. The grid estimate hands the runs to the parallel slots in grid
order, as the local executor does.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.specs import RunSpec, identity_config
from methods import registry
from methods.loop import evaluate
from nasbench_errors import HarnessError

CACHE_NAME = "estimates.json"
NOT_TIMED = "not timed: the estimate's time budget"
#: steps of the two truncated epochs whose times separate the per-step cost from a per-epoch overhead
SHORT, LONG = 1, 3


@dataclass(frozen=True)
class Timing:
    """Measured costs of one configuration (seconds)."""

    step: float  # one iteration of the method's loop, architecture updating
    overhead: float  # per epoch, independent of the number of steps
    warmup_step: float  # one weight-only iteration (= ``step`` when the method has no warm-up)
    eval_batch: float  # one evaluation batch of the supernet

    def run_seconds(self, epochs: int, warmup: int, steps: int, eval_batches: int) -> float:
        searched = max(epochs - warmup, 0)
        train = searched * (self.overhead + steps * self.step) + min(warmup, epochs) * steps * self.warmup_step
        return train + (epochs + 1) * 2 * eval_batches * self.eval_batch


@dataclass(frozen=True)
class Estimate:
    """A run's estimated wall time; ``seconds`` is None when it could not be measured (``basis`` says why)."""

    seconds: float | None
    basis: str  # "measured", "cached", "table only" or "no estimate: <reason>"


def format_duration(seconds: float | None) -> str:
    """Human units: 40 s, 12 min, 3.4 h, 2.1 days."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def grid_seconds(seconds: Iterable[float], slots: int) -> float:
    """Wall time of runs handed, in grid order, to ``slots`` parallel workers: each run to the slot that frees
    first, as the local executor does."""
    loads = [0.0] * max(slots, 1)
    for s in seconds:
        loads[loads.index(min(loads))] += s
    return max(loads)


class Estimator:
    """Measures (or reads from the cache) the cost of each distinct configuration of a grid.

    ``make_run`` builds a ``SearchRun`` without opening the oracle (``harness.runner.timing_run``); it is
    injected so tests can count what gets built.
    """

    def __init__(self, data_root: Path | None, device: str, threads: int | None, cache_dir: Path | None,
                 make_run: Callable[..., Any] | None = None, budget: float = 60.0) -> None:
        from harness.runner import resolve_device, timing_run

        self.data_root, self.device = data_root, resolve_device(device)
        self.threads = threads or torch.get_num_threads()
        self.cache_path = None if cache_dir is None else cache_dir / CACHE_NAME
        self.make_run = make_run or timing_run
        self.budget, self.spent = budget, 0.0
        self._cache = self._read_cache()

    # -- public ------------------------------------------------------------------------------------
    def estimate(self, specs: Sequence[RunSpec], on_measure: Callable[[str], None] = lambda _: None
                 ) -> dict[str, Estimate]:
        """run id -> estimate, measuring each distinct configuration once."""
        out: dict[str, Estimate] = {}
        by_config: dict[str, Estimate] = {}
        for spec in specs:
            if not registry.get(spec.method).needs_supernet:
                out[spec.run_id] = Estimate(None, "table only")
                continue
            key = self._key(spec)
            if key not in by_config:
                by_config[key] = self._estimate_one(spec, key, on_measure)
            out[spec.run_id] = by_config[key]
        self._write_cache()
        return out

    # -- one configuration -------------------------------------------------------------------------
    def _key(self, spec: RunSpec) -> str:
        from harness.provenance import describe_device, versions

        ident = {"method": spec.method, "benchmark": spec.benchmark, "dataset": spec.dataset,
                 "setting": spec.setting, "config": identity_config(spec.config), "threads": self.threads,
                 "device": describe_device(self.device).split(",")[0], "versions": versions()}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def _estimate_one(self, spec: RunSpec, key: str, on_measure: Callable[[str], None]) -> Estimate:
        cached = self._cache.get(key)
        basis = "cached"
        try:
            if cached is None:
                if self.spent >= self.budget:
                    return Estimate(None, f"{NOT_TIMED} ({self.budget:.0f} s used up; rerun to time more)")
                on_measure(f"{spec.method}/{spec.setting} {spec.benchmark}:{spec.dataset}")
                t0 = time.perf_counter()
                try:
                    cached = self.measure(spec)
                finally:
                    self.spent += time.perf_counter() - t0
                self._cache[key] = cached
                basis = "measured"
            timing = Timing(**cached["timing"])
        except HarnessError as exc:
            return Estimate(None, f"no estimate: {str(exc).splitlines()[0]}")
        seconds = timing.run_seconds(spec.epochs, cached["warmup"], cached["steps"], cached["eval_batches"])
        return Estimate(seconds, basis)

    def measure(self, spec: RunSpec) -> dict[str, Any]:
        """Time ``spec``'s configuration now: the ``Timing`` fields, its warm-up epochs, steps per epoch and
        evaluation batches (what the cache holds)."""
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with tempfile.TemporaryDirectory(prefix="harness-estimate-") as tmp:
                run = self.make_run(spec, self.data_root, self.device, Path(tmp))
                warmup = min(int(run.cfg.get("warmup_epochs", 0) or 0), spec.epochs)
                searched_epoch = warmup + 1
                if self.device.type == "cuda":
                    self._epoch(run, 1, searched_epoch)  # kernel selection (cudnn.benchmark), allocations
                short = self._epoch(run, SHORT, searched_epoch)
                long = self._epoch(run, LONG, searched_epoch)
                step = (long - short) / (LONG - SHORT)
                if step <= 0:  # timer noise on tiny configurations: charge everything per step
                    step, overhead = long / LONG, 0.0
                else:
                    overhead = max(short - SHORT * step, 0.0)
                warmup_step = self._epoch(run, LONG, 1) / LONG if warmup else step
                eval_batch = self._eval_batch(run)
                eval_batches = math.ceil(len(run.eval_set[1]) / int(run.cfg["batch_size"]))
                return {"timing": Timing(step, overhead, warmup_step, eval_batch).__dict__,
                        "warmup": warmup, "steps": run.steps_per_epoch, "eval_batches": eval_batches}
        finally:
            torch.set_num_threads(previous)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _epoch(self, run: Any, steps: int, epoch: int) -> float:
        """Seconds of one truncated epoch of ``steps`` iterations of the method's own loop."""
        ctx = run.epoch_context(epoch, limit=steps)
        self._sync()
        t0 = time.perf_counter()
        with run._precision():
            run.method.train_epoch(ctx)
        self._sync()
        return time.perf_counter() - t0

    def _eval_batch(self, run: Any) -> float:
        batches = list(itertools.islice(run._eval_batches(lambda: None), 3))
        weights = run.method.eval_weights()
        with run._precision():
            evaluate(run.net, weights, batches[:1])
            self._sync()
            t0 = time.perf_counter()
            evaluate(run.net, weights, batches[1:] or batches)
            self._sync()
        return (time.perf_counter() - t0) / max(len(batches) - 1, 1)

    # -- cache -------------------------------------------------------------------------------------
    def _read_cache(self) -> dict[str, Any]:
        if self.cache_path is None or not self.cache_path.exists():
            return {}
        try:
            data = json.loads(self.cache_path.read_text())
        except (OSError, ValueError):
            return {}  # a damaged cache only costs a new measurement
        return data if isinstance(data, dict) else {}

    def _write_cache(self) -> None:
        if self.cache_path is None:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_path.parent, prefix=".estimates-")
            with os.fdopen(fd, "w") as f:
                json.dump(self._cache, f)
            os.replace(tmp, self.cache_path)
        except OSError:
            pass  # no cache (read-only home, full disk): the next estimate measures again


def summarize(specs: Sequence[RunSpec], estimates: Mapping[str, Estimate], slots: int) -> tuple[float, int]:
    """(grid wall seconds on ``slots`` parallel slots, supernet runs without an estimate: with any, the total is
    a lower bound)."""
    known = [estimates[s.run_id].seconds for s in specs if estimates[s.run_id].seconds is not None]
    unknown = sum(1 for s in specs if estimates[s.run_id].seconds is None
                  and estimates[s.run_id].basis != "table only")
    return grid_seconds(known, slots), unknown

"""ONE search run: data, space, supernet, method and oracle; per epoch derive, look up, record, checkpoint.

Reproducibility: the seed fixes the supernet initialization (global torch RNG), the architecture
initialization (the method's own generator) and, with the epoch number, the data order and the
augmentation of every epoch. So a run resumed from its checkpoint continues exactly as an
uninterrupted run would (on the CPU with the same number of torch threads, which the checkpoint
records and a resume insists on; cuDNN may add noise on a GPU).

Order of effects per epoch: train, measure (derive, look up, evaluate the supernet), write the epoch to
the store (one transaction), then replace the checkpoint. A kill between the last two leaves a stored
epoch newer than the checkpoint; the resumed run recomputes it and overwrites the row with identical
values. Ctrl-C (SIGINT) and SIGTERM stop training and the evaluation passes within seconds (the
unfinished epoch is discarded and redone on resume); they are held back only while an epoch is
written and checkpointed, so an epoch is either fully recorded or not at all. A run whose store row
another process marked ``interrupted`` (the grid's Ctrl-C reaching Dask or Ray workers, which get no
signal) stops at its next check, in training or evaluation.

A finished run is never executed again: after taking the run's lock the runner checks the store, so a
second command over the same grid, or a cluster that recomputes a task whose worker died after
finishing, returns the stored outcome without touching its rows.
"""

from __future__ import annotations

import itertools
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import benchmarks.registry
from benchmarks.datasets import BatchStream, ImageData, SearchSplit, eval_batches, load
from benchmarks.space import Selection, one_hot_weights
from harness.blackbox_run import BlackBoxRun
from harness.checkpoint import (
    RunBusy,
    checkpoint_path,
    load_resume_state,
    remove_checkpoint,
    remove_orphans,
    run_lock,
    save_checkpoint,
)
from harness.progress import NullProgress, counted
from harness.provenance import run_row
from harness.records import check_oracle_budget, detail_fields, entropy_fields, oracle_fields
from harness.specs import RunSpec
from methods import registry
from methods.base import EpochContext, EpochStats, SearchMethod
from methods.loop import evaluate
from methods.options import choice
from nasbench_errors import ConfigError, HarnessError, RunFailed
from results.store import Store


@dataclass(frozen=True)
class RunEnvironment:
    """Where a run reads its inputs and writes its outputs."""

    store: Store
    data_root: Path
    oracle_dir: Path
    checkpoint_dir: Path
    device: torch.device
    progress: NullProgress = NullProgress()


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended. ``status``: finished, failed (recorded), interrupted, busy (another process runs
    it), error (bad input: ``error_type`` names the HarnessError class) or died (its worker process died)."""

    run_id: str
    status: str
    error: str | None = None
    final: Mapping[str, Any] | None = None
    error_type: str | None = None


#: seconds between checks of the store for a stop request (one indexed SELECT each)
STOP_CHECK_SECONDS = 5.0
INTERRUPTED = "interrupted by the user; rerun the same command to resume"


class RunStopped(Exception):
    """Another process marked this run interrupted in the store."""


def resolve_device(name: str) -> torch.device:
    """``auto`` picks the GPU when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@lru_cache(maxsize=4)
def _load_data(dataset: str, root: str, device: str, train_limit: int | None, subset_seed: int) -> ImageData:
    """Datasets are shared by all runs of a grid in one process."""
    return load(dataset, Path(root), device=device, train_limit=train_limit, subset_seed=subset_seed)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class SearchRun:
    """The state of one run between epochs."""

    def __init__(self, spec: RunSpec, env: RunEnvironment, with_oracle: bool = True) -> None:
        self.spec, self.env, self.cfg = spec, env, spec.config
        self.bench = benchmarks.registry.get(spec.benchmark)
        self.space = self.bench.make_space(self.cfg)  # a bad space setting fails before the oracle is read
        self.oracle = self.bench.open_oracle(env.oracle_dir, self.cfg) if with_oracle else None
        if self.oracle is not None:
            check_oracle_budget(self.bench, self.space, self.oracle, spec.dataset, str(self.cfg["oracle_budget"]))
        limit = self.cfg["train_limit"]
        with env.progress.phase(f"{spec.label}: loading {spec.dataset}"):
            self.data = _load_data(spec.dataset, str(env.data_root), str(env.device),
                                   None if limit is None else int(limit), int(self.cfg["split_seed"]))
        split = self.bench.search_split(self.data, spec.setting, self.cfg)
        #: the data split this search uses, as the store records it (``runs.split``)
        self.split_description = {
            "description": split.description, "setting": spec.setting, "split_seed": int(self.cfg["split_seed"]),
            "train_images": len(self.data.train_y), "weights_images": len(split.weights_idx),
            "arch_images": len(split.arch_idx), "arch_source": split.arch_source,
        }
        self.channels_last = choice(self.cfg, "channels_last", (False, True))
        if self.channels_last and env.device.type == "cpu":
            raise ConfigError("channels_last=true is a GPU setting: on the CPU, torch's oneDNN weight-gradient "
                              "convolution corrupted the heap with it (docs/performance.md); drop --set channels_last")
        self.bf16 = choice(self.cfg, "bf16", (False, True))
        if env.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        _seed_everything(spec.seed)
        memory = torch.channels_last if self.channels_last else torch.preserve_format
        self.net = self.bench.make_supernet(self.space, self.cfg, self.data.num_classes).to(env.device,
                                                                                             memory_format=memory)
        self.method: SearchMethod = registry.get(spec.method).create(
            self.space, self.cfg, torch.Generator().manual_seed(spec.seed), env.device)
        self.w_opt = torch.optim.SGD(self.net.parameters(), lr=float(self.cfg["lr"]),
                                     momentum=float(self.cfg["momentum"]),
                                     weight_decay=float(self.cfg["weight_decay"]))
        t_max = self.cfg["scheduler_epochs"] or spec.epochs
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, T_max=int(t_max),
                                                                    eta_min=float(self.cfg["lr_min"]))
        d, bs = self.data, int(self.cfg["batch_size"])
        self.weight_stream = BatchStream(d.train_x, d.train_y, split.weights_idx, bs, d.mean, d.std, augment=True,
                                         seed=spec.seed, tag="weights", pad=d.pad, channels_last=self.channels_last)
        arch_x, arch_y = (d.train_x, d.train_y) if split.arch_source == "train" else (d.test_x, d.test_y)
        # full batches, as the reference loaders draw them; an architecture split smaller than one batch (a small
        # portion of a tiny train_limit) gives one smaller batch per pass
        self.arch_stream = BatchStream(arch_x, arch_y, split.arch_idx, bs, d.mean, d.std, augment=True,
                                       seed=spec.seed, tag="arch", drop_last=len(split.arch_idx) >= bs, pad=d.pad,
                                       channels_last=self.channels_last)
        self.eval_set = self._eval_set(split, arch_x, arch_y)
        self.seconds_total = 0.0
        self.ckpt_path = checkpoint_path(env.checkpoint_dir, spec.run_id)

    @property
    def steps_per_epoch(self) -> int:
        """Weight steps per epoch: one pass over the weights' images (what the progress display counts); the
        architecture stream supplies as many batches, in more than one pass where its split is smaller."""
        return len(self.weight_stream)

    def _eval_set(self, split: SearchSplit, arch_x: torch.Tensor,
                  arch_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Held-out images for supernet metrics: the architecture's images (bilevel: the search-valid half, or
        NAS-Bench-201's xvalid) or the test split (ERM)."""
        limit = self.cfg["eval_limit"]
        if self.spec.setting == "bilevel":
            x, y = arch_x[split.arch_idx], arch_y[split.arch_idx]
        else:
            x, y = self.data.test_x, self.data.test_y
        return (x, y) if limit is None else (x[: int(limit)], y[: int(limit)])

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "net": self.net.state_dict(), "w_opt": self.w_opt.state_dict(),
                "scheduler": self.scheduler.state_dict(), "method": self.method.state_dict(),
                "seconds_total": self.seconds_total, "torch_rng": torch.get_rng_state(),
                "run_id": self.spec.run_id, "device_type": self.env.device.type,
                "torch_threads": torch.get_num_threads()}

    def restore(self, state: Mapping[str, Any]) -> int:
        self.net.load_state_dict(state["net"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.method.load_state_dict(state["method"])
        self.seconds_total = float(state["seconds_total"])
        torch.set_rng_state(state["torch_rng"])
        return int(state["epoch"])

    # -- one epoch -------------------------------------------------------------------------------
    def _precision(self) -> torch.autocast:
        """bfloat16 autocast of the forward passes when the run asks for it (``--set bf16=true``)."""
        return torch.autocast(self.env.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _eval_batches(self, check: Callable[[], None]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The held-out batches; ``check`` runs before each (a stop request ends an evaluation pass too)."""
        d = self.data
        return _checked(eval_batches(*self.eval_set, int(self.cfg["batch_size"]), d.mean, d.std,
                                     channels_last=self.channels_last), check)

    def epoch_context(self, epoch: int, on_step=None, limit: int | None = None) -> EpochContext:  # noqa: ANN001
        """Epoch ``epoch``'s batches and settings; ``limit`` keeps its first steps only (what the estimator times)."""
        steps = self.steps_per_epoch
        weights, arch = self.weight_stream.epoch(epoch), self.arch_stream.epoch(epoch, steps)
        if limit is not None:
            weights, arch = itertools.islice(weights, limit), itertools.islice(arch, limit)
        return EpochContext(self.net, self.w_opt, weights, arch, epoch, self.spec.epochs, float(self.cfg["grad_clip"]),
                            on_step, steps_per_epoch=steps)

    def train(self, epoch: int, on_step) -> EpochStats:  # noqa: ANN001 - progress callback
        lr = self.w_opt.param_groups[0]["lr"]
        ctx = self.epoch_context(epoch, on_step)
        with self._precision():
            stats = self.method.train_epoch(ctx)
        self.scheduler.step()
        stats.extra["lr_w"] = lr
        return stats

    def derived(self) -> tuple[Selection | None, int]:
        """(the derived architecture, decisions it broke a tie on). Before any architecture step a tied
        ranking (GAEA's uniform simplex, a warm-up) derives nothing: index order would pick a cell no search
        chose (NB201 without ``none``: all skip connections). Later ties keep the method's documented rule
        (lower option index) and are counted in the row's ``extra``."""
        tied = self.method.tied_decisions()
        if tied and self.method.arch_steps_total == 0:
            return None, tied
        return self.method.derive(), tied

    def measure(self, epoch: int, stats: EpochStats | None, seconds_train: float,
                check: Callable[[], None]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Derive the architecture, look it up and evaluate the supernet: the epoch's (row, lookup rows)."""
        t0 = time.perf_counter()
        selection, tied = self.derived()
        fields, lookup_rows = oracle_fields(self.bench, self.space, self.oracle, self.spec.dataset,
                                            str(self.cfg["oracle_budget"]), selection)
        probs = self.method.probabilities()
        passes = (1 if selection is None else 2) * math.ceil(len(self.eval_set[1]) / int(self.cfg["batch_size"]))
        with (self.env.progress.phase(f"epoch {epoch}: evaluating the supernet (mixture, then derived cell)",
                                      passes) as tick, self._precision()):
            cont = evaluate(self.net, self.method.eval_weights(), counted(self._eval_batches(check), tick))
            disc = (None, None) if selection is None else evaluate(
                self.net, {g.name: one_hot_weights(g, selection[g.name]).to(self.env.device)
                           for g in self.space.groups}, counted(self._eval_batches(check), tick))
        seconds_eval = time.perf_counter() - t0
        self.seconds_total += seconds_train + seconds_eval
        extra = {**self.method.epoch_fields(), **({} if selection is None else
                                                  detail_fields(self.bench, self.space, probs, selection))}
        if tied:
            extra["tied_decisions"] = float(tied)
        if stats is not None:
            extra.update(stats.extra)
        row = {
            **fields, **entropy_fields(self.space, probs),
            "train_loss": stats.train_loss if stats else None, "train_acc": stats.train_acc if stats else None,
            "supernet_valid_loss": cont[0], "supernet_valid_acc": cont[1], "supernet_valid_acc_discrete": disc[1],
            "lr_w": extra.pop("lr_w", None),
            "weight_steps": stats.weight_steps if stats else 0, "arch_steps": stats.arch_steps if stats else 0,
            "seconds_arch": stats.seconds_arch if stats else 0.0,
            "seconds_weights": stats.seconds_weights if stats else 0.0,
            "seconds_eval": seconds_eval, "seconds_epoch": seconds_train + seconds_eval,
            "seconds_total": self.seconds_total,
            "arch_params": {"raw": {k: v.detach().cpu().tolist() for k, v in self.method.relaxation.params.items()},
                            "probs": {k: v.cpu().tolist() for k, v in probs.items()}},
            "extra": extra,
        }
        return row, lookup_rows


def _checked(batches: Iterable[Any], check: Callable[[], None]) -> Iterator[Any]:
    for batch in batches:
        check()
        yield batch


def timing_run(spec: RunSpec, data_root: Path, device: torch.device, scratch: Path) -> SearchRun:
    """A supernet run built as ``execute`` builds it, without an oracle or a store: what ``harness.estimate``
    times. ``scratch`` holds nothing it needs (no checkpoint is written)."""
    env = RunEnvironment(store=None, data_root=data_root, oracle_dir=scratch, checkpoint_dir=scratch,  # type: ignore[arg-type]
                         device=device)
    return SearchRun(spec, env, with_oracle=False)


def make_run(spec: RunSpec, env: RunEnvironment) -> SearchRun | BlackBoxRun:
    """The one place the kinds of run part: a supernet search, or a black-box search on the table alone."""
    if registry.get(spec.method).needs_supernet:
        return SearchRun(spec, env)
    return BlackBoxRun(spec, env)


def _epoch_summary(epoch: int, row: Mapping[str, Any]) -> str:
    regret = row.get("regret_test")
    regret_text = "n/a" if regret is None else f"{regret:.2f}"
    return f"epoch {epoch}: regret {regret_text}  H {row['entropy_ops']:.3f}  skip {row['n_skip']}"


def _try_set_status(store: Store, run_id: str, status: str, error: str) -> None:
    try:
        store.set_status(run_id, status, error=error)
    except HarnessError:
        pass  # the store itself is what failed; the original error is the one to report


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the block and deliver them after it (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: held.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(held):
            signal.raise_signal(sig)  # the restored handler decides: KeyboardInterrupt, exit or ignore


class _StopCheck:
    """Called after every weight step: advances the progress display and, every few seconds, checks
    the store for a stop request (``check`` alone runs before every evaluation batch)."""

    def __init__(self, store: Store, run_id: str, step) -> None:  # noqa: ANN001 - progress callback
        self.store, self.run_id, self.step = store, run_id, step
        self.next_check = time.monotonic() + STOP_CHECK_SECONDS

    def __call__(self) -> None:
        self.step()
        self.check()

    def check(self) -> None:
        if time.monotonic() >= self.next_check:
            self.next_check = time.monotonic() + STOP_CHECK_SECONDS
            if self.store.run_status([self.run_id]).get(self.run_id) == "interrupted":
                raise RunStopped


def execute(spec: RunSpec, env: RunEnvironment, retry_failed: bool = False) -> RunOutcome:
    """Run (or resume) one search to completion; failures are recorded, not raised.

    Bad input raises a HarnessError before anything is stored; a run another process is executing
    returns ``busy`` without touching it; a run the store holds as finished (or failed, unless
    ``retry_failed``) returns that outcome without touching it.
    """
    try:
        with run_lock(env.checkpoint_dir, spec.run_id):
            return _execute_locked(spec, env, ("finished",) if retry_failed else ("finished", "failed"))
    except RunBusy as exc:
        return RunOutcome(spec.run_id, "busy", str(exc))


def _stored_outcome(run_id: str, state: Mapping[str, Any]) -> RunOutcome:
    """The outcome of a run another process (or an earlier try of this task) already ended."""
    return RunOutcome(run_id, str(state["status"]), state.get("error"))


def _check_threads(state: Mapping[str, Any], run_id: str, device: torch.device, path: Path) -> None:
    """Refuse to resume a CPU run under another torch thread count: its numbers would change mid-run."""
    saved = state.get("torch_threads")
    if saved is None or state.get("device_type") != "cpu" or device.type != "cpu":
        return
    if int(saved) != torch.get_num_threads():
        raise ConfigError(
            f"run {run_id} was checkpointed with {_threads(int(saved))} and this process has "
            f"{_threads(torch.get_num_threads())}; CPU results depend on the thread count: rerun with "
            f"--threads {int(saved)} (Dask or Ray workers: OMP_NUM_THREADS={int(saved)} in their environment), "
            f"or delete "
            f"{path.parent / run_id}*.pt to restart the run")


def _threads(n: int) -> str:
    return f"{n} torch thread{'' if n == 1 else 's'}"


def _resume_point(run: SearchRun | BlackBoxRun, env: RunEnvironment) -> dict[str, Any] | None:
    """The verified checkpoint to resume from, or None to start over; stored epochs after it are dropped.

    A damaged checkpoint is skipped for the previous one (logged by name). A checkpoint newer than the
    store's last epoch (only possible if the store lost a committed write) cannot be resumed without a
    gap, so the run starts over; it is deterministic, so nothing changes.
    """
    remove_orphans(run.ckpt_path)
    state = load_resume_state(run.ckpt_path)
    if state is not None:
        _check_threads(state, run.spec.run_id, env.device, run.ckpt_path)
    last = env.store.last_epoch(run.spec.run_id)
    if state is not None and (last is None or last < int(state["epoch"])):
        state = None
    env.store.delete_epochs_after(run.spec.run_id, -1 if state is None else int(state["epoch"]))
    return state


def _record(run: SearchRun | BlackBoxRun, env: RunEnvironment, epoch: int, stats: EpochStats | None,
            seconds_train: float, check: Callable[[], None]) -> dict[str, Any]:
    """Measure the epoch (an interrupt there discards it), then write it and its checkpoint with the
    interrupts held back, so the store and the checkpoint never disagree by more than this epoch."""
    row, lookup_rows = run.measure(epoch, stats, seconds_train, check)
    with _signals_held():
        env.store.write_epoch(run.spec.run_id, epoch, row, lookup_rows, search_seconds=row["seconds_total"])
        save_checkpoint(run.ckpt_path, run.state(epoch))
    return row


def _execute_locked(spec: RunSpec, env: RunEnvironment, keep: tuple[str, ...]) -> RunOutcome:
    stored = env.store.run_state(spec.run_id)
    if stored is not None and stored["status"] in keep:  # e.g. a recomputed cluster task: nothing to load
        return _stored_outcome(spec.run_id, stored)
    run = make_run(spec, env)  # data, oracle and config problems raise here, before anything is stored
    stored = env.store.claim_run(run_row(spec, env.device, run.split_description), keep=keep)
    if stored is not None:  # ended meanwhile by a process that keeps its checkpoints elsewhere
        return _stored_outcome(spec.run_id, stored)
    steps_per_epoch = run.steps_per_epoch
    progress = env.progress
    on_step = _StopCheck(env.store, spec.run_id, progress.step)
    last_row: Mapping[str, Any] | None = None
    try:
        state = _resume_point(run, env)
        start = 1 if state is None else run.restore(state) + 1
        # the bar starts before epoch 0's evaluation: at the paper profile on a CPU that alone takes many minutes
        progress.start_run(spec.label, spec.epochs * steps_per_epoch, (start - 1) * steps_per_epoch)
        if state is None:
            last_row = _record(run, env, 0, None, 0.0, on_step.check)
            progress.epoch(_epoch_summary(0, last_row))
        for epoch in range(start, spec.epochs + 1):
            t0 = time.perf_counter()
            stats = run.train(epoch, on_step)
            last_row = _record(run, env, epoch, stats, time.perf_counter() - t0, on_step.check)
            progress.epoch(_epoch_summary(epoch, last_row))
    except RunFailed as exc:
        env.store.set_status(spec.run_id, "failed", error=str(exc))
        progress.end_run("failed")
        return RunOutcome(spec.run_id, "failed", str(exc))
    except RunStopped:
        progress.end_run("interrupted")
        return RunOutcome(spec.run_id, "interrupted", INTERRUPTED)
    except KeyboardInterrupt:
        _try_set_status(env.store, spec.run_id, "interrupted", INTERRUPTED)
        raise
    except HarnessError as exc:  # e.g. a full disk while checkpointing: resumable once fixed
        _try_set_status(env.store, spec.run_id, "interrupted", str(exc))
        raise
    env.store.set_status(spec.run_id, "finished")
    remove_checkpoint(run.ckpt_path)
    progress.end_run("finished")
    return RunOutcome(spec.run_id, "finished", final=last_row)

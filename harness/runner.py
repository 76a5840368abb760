"""ONE search run: data, space, supernet, method and oracle; per epoch derive, look up, record, checkpoint.

Reproducibility: the seed fixes the supernet initialization (global torch RNG), the architecture
initialization (the method's own generator) and, with the epoch number, the data order and the
augmentation of every epoch. So a run resumed from its checkpoint continues exactly as an
uninterrupted run would (on the CPU; cuDNN may add noise on a GPU).

Order of effects per epoch: train, evaluate, write the epoch to the store (one transaction), then
replace the checkpoint. A kill between the two leaves a stored epoch newer than the checkpoint; the
resumed run recomputes it and overwrites the row with identical values. Ctrl-C (SIGINT) and SIGTERM
are held back while an epoch is written and checkpointed, so an interrupted epoch is either fully
recorded or not at all. A run whose store row another process marked ``interrupted`` (the grid's
Ctrl-C reaching Dask or Ray workers, which get no signal) stops at its next check.
"""

from __future__ import annotations

import json
import math
import platform
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import benchmarks.registry
from benchmarks.datasets import BatchStream, ImageData, eval_batches, load, search_split
from benchmarks.space import one_hot_weights
from harness.blackbox_run import BlackBoxRun
from harness.checkpoint import (
    RunBusy,
    checkpoint_path,
    load_checkpoint,
    remove_checkpoint,
    remove_orphans,
    run_lock,
    save_checkpoint,
)
from harness.progress import NullProgress, counted
from harness.records import detail_fields, entropy_fields, oracle_fields
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


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        harness_version = version("nasbench-harness")
    except PackageNotFoundError:
        harness_version = "unknown"
    return {"harness": harness_version, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def torch_threads() -> int:
    """The torch CPU threads this process computes with (``harness run --threads``, default 1); CPU results are
    bit-identical only for the same count, so every CPU run records it in its device description."""
    return torch.get_num_threads()


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch_threads()} threads)"


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

    def __init__(self, spec: RunSpec, env: RunEnvironment) -> None:
        self.spec, self.env, self.cfg = spec, env, spec.config
        self.bench = benchmarks.registry.get(spec.benchmark)
        self.oracle = self.bench.open_oracle(env.oracle_dir, self.cfg)
        self.space = self.bench.make_space(self.cfg)
        limit = self.cfg["train_limit"]
        with env.progress.phase(f"{spec.label}: loading {spec.dataset}"):
            self.data = _load_data(spec.dataset, str(env.data_root), str(env.device),
                                   None if limit is None else int(limit), int(self.cfg["split_seed"]))
        split = search_split(self.data.train_y, spec.setting, int(self.cfg["split_seed"]))
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
        self.arch_stream = BatchStream(d.train_x, d.train_y, split.arch_idx, bs, d.mean, d.std, augment=True,
                                       seed=spec.seed, tag="arch", pad=d.pad, channels_last=self.channels_last)
        self.eval_set = self._eval_set(split.arch_idx)
        self.seconds_total = 0.0
        self.ckpt_path = checkpoint_path(env.checkpoint_dir, spec.run_id)

    @property
    def steps_per_epoch(self) -> int:
        """Weight steps per epoch: what the progress display counts."""
        return min(len(self.weight_stream), len(self.arch_stream))

    def _eval_set(self, arch_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Held-out images for supernet metrics: the search-valid half (bilevel) or the test split (ERM)."""
        limit = self.cfg["eval_limit"]
        if self.spec.setting == "bilevel":
            x, y = self.data.train_x[arch_idx], self.data.train_y[arch_idx]
        else:
            x, y = self.data.test_x, self.data.test_y
        return (x, y) if limit is None else (x[: int(limit)], y[: int(limit)])

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "net": self.net.state_dict(), "w_opt": self.w_opt.state_dict(),
                "scheduler": self.scheduler.state_dict(), "method": self.method.state_dict(),
                "seconds_total": self.seconds_total, "torch_rng": torch.get_rng_state(),
                "run_id": self.spec.run_id}

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

    def _eval_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        d = self.data
        return eval_batches(*self.eval_set, int(self.cfg["batch_size"]), d.mean, d.std,
                            channels_last=self.channels_last)

    def train(self, epoch: int, on_step) -> EpochStats:  # noqa: ANN001 - progress callback
        lr = self.w_opt.param_groups[0]["lr"]
        ctx = EpochContext(self.net, self.w_opt, self.weight_stream.epoch(epoch), self.arch_stream.epoch(epoch),
                           epoch, self.spec.epochs, float(self.cfg["grad_clip"]), on_step,
                           steps_per_epoch=min(len(self.weight_stream), len(self.arch_stream)))
        with self._precision():
            stats = self.method.train_epoch(ctx)
        self.scheduler.step()
        stats.extra["lr_w"] = lr
        return stats

    def record(self, epoch: int, stats: EpochStats | None, seconds_train: float) -> dict[str, Any]:
        """Derive the architecture, look it up, evaluate the supernet and write the epoch."""
        t0 = time.perf_counter()
        selection = self.method.derive()
        fields, lookup_rows = oracle_fields(self.bench, self.space, self.oracle, self.spec.dataset,
                                            str(self.cfg["oracle_budget"]), selection)
        probs = self.method.probabilities()
        discrete = {g.name: one_hot_weights(g, selection[g.name]).to(self.env.device) for g in self.space.groups}
        passes = 2 * math.ceil(len(self.eval_set[1]) / int(self.cfg["batch_size"]))
        with (self.env.progress.phase(f"epoch {epoch}: evaluating the supernet (mixture, then derived cell)",
                                      passes) as tick, self._precision()):
            cont = evaluate(self.net, self.method.eval_weights(), counted(self._eval_batches(), tick))
            disc = evaluate(self.net, discrete, counted(self._eval_batches(), tick))
        seconds_eval = time.perf_counter() - t0
        self.seconds_total += seconds_train + seconds_eval
        extra = {**self.method.epoch_fields(), **detail_fields(self.bench, self.space, probs, selection)}
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
        self.env.store.write_epoch(self.spec.run_id, epoch, row, lookup_rows, search_seconds=self.seconds_total)
        return row


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
    the store for a stop request."""

    def __init__(self, store: Store, run_id: str, step) -> None:  # noqa: ANN001 - progress callback
        self.store, self.run_id, self.step = store, run_id, step
        self.next_check = time.monotonic() + STOP_CHECK_SECONDS

    def __call__(self) -> None:
        self.step()
        if time.monotonic() >= self.next_check:
            self.next_check = time.monotonic() + STOP_CHECK_SECONDS
            if self.store.run_status([self.run_id]).get(self.run_id) == "interrupted":
                raise RunStopped


def execute(spec: RunSpec, env: RunEnvironment) -> RunOutcome:
    """Run (or resume) one search to completion; failures are recorded, not raised.

    Bad input raises a HarnessError before anything is stored; a run another process is executing
    returns ``busy`` without touching it.
    """
    try:
        with run_lock(env.checkpoint_dir, spec.run_id):
            return _execute_locked(spec, env)
    except RunBusy as exc:
        return RunOutcome(spec.run_id, "busy", str(exc))


def _resume_point(run: SearchRun | BlackBoxRun, env: RunEnvironment) -> dict[str, Any] | None:
    """The checkpoint to resume from, or None to start over (dropping any stored epochs).

    A checkpoint newer than the store's last epoch (only possible if the store lost a committed write)
    cannot be resumed without a gap, so the run starts over; it is deterministic, so nothing changes.
    """
    remove_orphans(run.ckpt_path)
    state = load_checkpoint(run.ckpt_path)
    last = env.store.last_epoch(run.spec.run_id)
    if state is not None and (last is None or last < int(state["epoch"])):
        state = None
    env.store.delete_epochs_after(run.spec.run_id, -1 if state is None else int(state["epoch"]))
    return state


def _execute_locked(spec: RunSpec, env: RunEnvironment) -> RunOutcome:
    run = make_run(spec, env)  # data, oracle and config problems raise here, before anything is stored
    env.store.upsert_run({
        "run_id": spec.run_id, "method": spec.method, "benchmark": spec.benchmark, "dataset": spec.dataset,
        "setting": spec.setting, "seed": spec.seed, "profile": spec.profile,
        "config": json.dumps(spec.config, sort_keys=True), "config_hash": spec.config_hash,
        "status": "running", "error": None, "epochs_planned": spec.epochs,
        "versions": json.dumps(versions()), "host": socket.gethostname(), "device": describe_device(env.device),
    })
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
            with _signals_held():
                last_row = run.record(0, None, 0.0)
                save_checkpoint(run.ckpt_path, run.state(0))
            progress.epoch(_epoch_summary(0, last_row))
        for epoch in range(start, spec.epochs + 1):
            t0 = time.perf_counter()
            stats = run.train(epoch, on_step)
            with _signals_held():
                last_row = run.record(epoch, stats, time.perf_counter() - t0)
                save_checkpoint(run.ckpt_path, run.state(epoch))
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

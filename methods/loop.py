"""The alternating loop shared by the DARTS and GAEA families (spec 1.4, step order of the released code).

Per iteration: first the architecture step on the arch batch (search-valid half for bilevel, a
second shuffled pass over the training set for ERM), then the weight step on the training batch with
gradient-norm clipping; a method whose released code steps the other way round (GDAS: weights, then
architecture) sets the config key ``step_order`` to ``weights_first``. Losses stay on the device and
are read once per epoch, so a GPU is never stalled by a per-step host sync; a NaN or inf loss fails
the run at the end of the epoch, before any checkpoint of the corrupted state is written.
``EpochMeter`` holds that bookkeeping for every epoch loop, so methods with their own schedule
(DARTS-PRIME) reuse it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from nasbench_errors import ConfigError, RunFailed
from nasbench_settings import one_of

if TYPE_CHECKING:
    from methods.base import Batch, EpochContext, EpochStats, SearchMethod


STEP_ORDERS = ("arch_first", "weights_first")
STEP_ORDER_TYPES = {"step_order": one_of(*STEP_ORDERS, help="which step of an iteration comes first")}


def weights_first(config: Mapping[str, Any]) -> bool:
    """Whether the config's ``step_order`` (default ``arch_first``) puts the weight step before the arch step."""
    order = config.get("step_order", "arch_first")
    if order not in STEP_ORDERS:
        raise ConfigError(f"step_order={order!r} is not one of {', '.join(STEP_ORDERS)}; set --set step_order=...")
    return order == "weights_first"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def weight_step_with_norm(ctx: EpochContext, weights: dict[str, torch.Tensor], batch: Batch,
                          optimizer: torch.optim.Optimizer | None = None,
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One SGD step on the shared weights; returns (loss, #correct, L2 norm of the weight gradient before
    clipping) as device tensors. The squared norm is DARTS-PRIME's empirical Fisher trace (spec 2.2).

    ``optimizer`` replaces the run's weight optimizer for a method with its own weight update (GSparsity's
    proximal step, which also trains the architecture's scalars); it steps whatever parameters it holds.
    """
    x, y = batch
    optimizer = optimizer or ctx.weight_optimizer
    optimizer.zero_grad(set_to_none=True)
    logits = ctx.net(x, weights)
    loss = F.cross_entropy(logits, y)
    # parameters a method froze (OLES's early-stopped operations) get no gradient, so no update or decay
    params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
    loss.backward(inputs=params)
    grads = [p.grad for p in params if p.grad is not None]
    if ctx.grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(params, ctx.grad_clip)
    else:
        norm = torch.nn.utils.get_total_norm(grads)
    optimizer.step()
    return loss.detach(), (logits.detach().argmax(dim=1) == y).sum(), norm.detach()


def weight_step(ctx: EpochContext, weights: dict[str, torch.Tensor], batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on the shared weights; returns (loss, #correct) as device tensors."""
    loss, correct, _ = weight_step_with_norm(ctx, weights, batch)
    return loss, correct


class EpochMeter:
    """One epoch's supernet statistics, kept on the device and read once at the end, and its timings.

    Shared by every epoch loop (the alternating loop below, DARTS-PRIME's scheduled loop), so the
    bookkeeping, the per-step device sync for honest timings and the non-finite-loss check exist once.
    """

    def __init__(self, ctx: EpochContext) -> None:
        self.ctx = ctx
        self.device = next(ctx.net.parameters()).device
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device, dtype=torch.long)
        self.seen = self.steps = self.arch_steps = 0
        self.seconds = {"arch": 0.0, "weights": 0.0}

    @contextmanager
    def timed(self, part: str) -> Iterator[None]:
        """Adds the block's wall time (device work included) to ``part``: ``arch`` or ``weights``."""
        t0 = time.perf_counter()
        yield
        _sync(self.device)
        self.seconds[part] += time.perf_counter() - t0

    def arch_step(self, method: SearchMethod, arch_batch: Batch, weight_batch: Batch) -> None:
        with self.timed("arch"):
            method.arch_step(self.ctx, arch_batch, weight_batch)
        self.arch_steps += 1

    def weight_step(self, weights: dict[str, torch.Tensor], batch: Batch,
                    optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
        """The weight step with its bookkeeping; returns the pre-clipping gradient norm (device tensor)."""
        with self.timed("weights"):
            loss, n_correct, norm = weight_step_with_norm(self.ctx, weights, batch, optimizer)
        self.count(loss, n_correct, batch[1].shape[0])
        return norm

    def count(self, loss: torch.Tensor, n_correct: torch.Tensor, n: int, arch_step: bool = False) -> None:
        """Books one training step of ``n`` examples (a joint step that also stepped the architecture counts
        as an architecture step too)."""
        self.loss_sum += loss * n
        self.correct += n_correct
        self.seen += n
        self.steps += 1
        self.arch_steps += int(arch_step)
        if self.ctx.on_step is not None:
            self.ctx.on_step()

    def stats(self) -> EpochStats:
        from methods.base import EpochStats

        if self.seen == 0:
            raise RunFailed("the epoch had no training batches: the training split is smaller than one batch")
        train_loss = float(self.loss_sum) / self.seen
        if not torch.isfinite(torch.tensor(train_loss)):
            raise RunFailed(f"non-finite training loss ({train_loss}) in epoch {self.ctx.epoch}; "
                            "lower the learning rate")
        return EpochStats(
            train_loss=train_loss,
            train_acc=100.0 * float(self.correct) / self.seen,
            weight_steps=self.steps,
            arch_steps=self.arch_steps,
            seconds_weights=self.seconds["weights"],
            seconds_arch=self.seconds["arch"],
        )


def alternating_epoch(method: SearchMethod, ctx: EpochContext) -> EpochStats:
    ctx.net.train()
    meter = EpochMeter(ctx)
    update_arch = method.updates_architecture(ctx.epoch)
    arch_last = weights_first(method.config)
    for weight_batch, arch_batch in zip(ctx.weight_batches, ctx.arch_batches, strict=False):
        if update_arch and not arch_last:
            meter.arch_step(method, arch_batch, weight_batch)
        meter.weight_step(method.step_weights(ctx, weight_batch), weight_batch)
        method.after_weight_step(ctx)
        if update_arch and arch_last:
            meter.arch_step(method, arch_batch, weight_batch)
    return meter.stats()


@torch.no_grad()
def evaluate(net: torch.nn.Module, weights: dict[str, torch.Tensor], batches: Iterable[Batch]) -> tuple[float, float]:
    """(mean loss, accuracy %) of the supernet under fixed mixing weights, BN in inference mode."""
    net.eval()
    device = next(net.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for x, y in batches:
        logits = net(x, weights)
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
        seen += y.shape[0]
    net.train()
    if seen == 0:
        return float("nan"), float("nan")
    return float(loss_sum) / seen, 100.0 * float(correct) / seen

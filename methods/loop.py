"""The alternating loop shared by the DARTS and GAEA families (spec 1.4, step order of the released code).

Per iteration: first the architecture step on the arch batch (search-valid half for bilevel, a
second shuffled pass over the training set for ERM), then the weight step on the training batch with
gradient-norm clipping. Losses stay on the device and are read once per epoch, so a GPU is never
stalled by a per-step host sync; a NaN or inf loss fails the run at the end of the epoch, before any
checkpoint of the corrupted state is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from harness.errors import RunFailed

if TYPE_CHECKING:
    from methods.base import Batch, EpochContext, EpochStats, SearchMethod


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def weight_step(ctx: EpochContext, weights: dict[str, torch.Tensor], batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on the shared weights; returns (loss, #correct) as device tensors."""
    x, y = batch
    ctx.weight_optimizer.zero_grad(set_to_none=True)
    logits = ctx.net(x, weights)
    loss = F.cross_entropy(logits, y)
    params = [p for g in ctx.weight_optimizer.param_groups for p in g["params"]]
    loss.backward(inputs=params)
    if ctx.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, ctx.grad_clip)
    ctx.weight_optimizer.step()
    return loss.detach(), (logits.detach().argmax(dim=1) == y).sum()


def alternating_epoch(method: SearchMethod, ctx: EpochContext) -> EpochStats:
    from methods.base import EpochStats

    ctx.net.train()
    device = next(ctx.net.parameters()).device
    update_arch = method.updates_architecture(ctx.epoch)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = steps = arch_steps = 0
    t_arch = t_weights = 0.0
    for weight_batch, arch_batch in zip(ctx.weight_batches, ctx.arch_batches, strict=False):
        if update_arch:
            t0 = time.perf_counter()
            method.arch_step(ctx, arch_batch, weight_batch)
            _sync(device)
            t_arch += time.perf_counter() - t0
            arch_steps += 1
        t0 = time.perf_counter()
        loss, n_correct = weight_step(ctx, method.training_weights(), weight_batch)
        _sync(device)
        t_weights += time.perf_counter() - t0
        n = weight_batch[1].shape[0]
        loss_sum += loss * n
        correct += n_correct
        seen += n
        steps += 1
        if ctx.on_step is not None:
            ctx.on_step()
    if seen == 0:
        raise RunFailed("the epoch had no training batches: the training split is smaller than one batch")
    train_loss = float(loss_sum) / seen
    if not torch.isfinite(torch.tensor(train_loss)):
        raise RunFailed(f"non-finite training loss ({train_loss}) in epoch {ctx.epoch}; lower the learning rate")
    return EpochStats(
        train_loss=train_loss,
        train_acc=100.0 * float(correct) / seen,
        weight_steps=steps,
        arch_steps=arch_steps,
        seconds_weights=t_weights,
        seconds_arch=t_arch,
    )


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

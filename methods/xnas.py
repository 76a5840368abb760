"""XNAS (Nayman et al. 2019) as GAEA implemented it for NAS-Bench-201 (P0 App. C.4; spec 6.1 row 11).

Each decision is a forecaster whose options are experts. The expert weights are the mixing weights
theta on the decision's simplex (``Simplex``, as GAEA), updated by exponentiated gradient
(``methods.eg``): XNAS's w_i = exp(eta R_i) with cumulative reward R_i = -sum_t grad_i, normalized. The
two ingredients GAEA C.4 names as XNAS's own:

1. **Per-example gradient clipping.** The architecture gradient of every example is clipped to
   [-L, L] entry-wise before the examples are averaged, so every step's reward is bounded by L, the
   loss-gradient bound of XNAS's analysis. Per-example gradients are exact: the gradients of each
   example's loss under the batch forward (batch norm couples the examples, which rules out per-example
   forwards). They are the B x P Jacobian of the batch's losses w.r.t. the P live architecture weights
   (``per_example_grads``), by forward mode when P <= B (one Jacobian-vector product per weight: P = 24 on
   NB201 without ``none``, fewer as wipeout zeroes options, against B = 64) and by reverse mode otherwise
   (one backward pass per example), vectorized in chunks of ``per_example_chunk``. Batch norm's running
   statistics are updated once, as by one forward of the batch; both modes give the same numbers up to
   float rounding (``tests/test_xnas.py``). The cost, about min(B, P) network passes per step, is a floor
   for any exact method while batch norm couples the examples (docs/performance.md).
2. **Wipeout.** After the step, an option whose weight is below its row's leader times
   exp(-2 eta L (T - t)) can no longer overtake it in the T - t remaining steps (the reward gap shrinks by at
   most 2L per step), so it is removed: its weight becomes exactly 0, it stays 0 under EG, and the
   supernet stops computing it.

Learning rate (UNSPECIFIED here, [X] verify against the XNAS paper): by default the regret-optimal
Hedge rate for rewards in [-L, L] over T steps, eta = sqrt(2 ln N / T) / L, N the options of a decision
(the group's width), T the planned architecture steps of the run; ``arch_lr`` fixes it instead (0.1 is
GAEA's EG step). The clipping bound L is not given by GAEA C.4 ([H] default 1.0). Sources: GAEA C.4
(the two ingredients, NB201, Fig. 5) and XNAS Algorithm 1 (rewards, exp(eta R) weights, the wipeout
threshold); the XNAS text itself was not available in the reference corpus, so the threshold and rate
follow the standard prediction-with-expert-advice analysis they come from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jvp, vmap

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, SearchMethod
from methods.eg import ExponentiatedGradient
from methods.options import positive
from methods.relaxations import Relaxation, Simplex


def per_example_grads(net: nn.Module, batch: Batch, weights: Mapping[str, torch.Tensor],
                      chunk: int) -> dict[str, torch.Tensor]:
    """[B, *w.shape] per group: the gradient of each example's cross-entropy w.r.t. the mixing weights ``weights``
    under one forward of the whole batch (batch norm in training mode), exact.

    That is the B x P Jacobian of the losses, P the weights that are not exactly 0 (a zero weight is an op the
    supernet does not compute: its gradient is 0). It costs about min(B, P) passes over the network: forward
    mode when P <= B (``jacobian_forward``: NB201, 24 weights for a batch of 64), reverse mode otherwise
    (``jacobian_reverse``: the DARTS space's 2 x 14 x 8 weights for small batches). ``chunk`` directions or
    examples go through one vectorized pass. ``net``'s buffers end as one forward of the batch leaves them.
    """
    live = sum(int(torch.count_nonzero(w)) for w in weights.values())
    if live <= batch[1].shape[0]:
        return jacobian_forward(net, batch, weights, chunk)
    return jacobian_reverse(net, batch, weights, chunk)


def jacobian_forward(net: nn.Module, batch: Batch, weights: Mapping[str, torch.Tensor],
                     chunk: int) -> dict[str, torch.Tensor]:
    """One Jacobian-vector product per non-zero weight (``torch.func.jvp`` under ``vmap``); each vectorized pass
    updates copies of the buffers, and the first pass's copies are written back."""
    x, y = batch
    names = list(weights)
    shapes = [weights[n].shape for n in names]
    flat = torch.cat([weights[n].detach().flatten() for n in names])
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = dict(net.named_buffers())

    def losses(w: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mixing = dict(zip(names, (part.view(shape) for part, shape in zip(w.split([s.numel() for s in shapes]),
                                                                           shapes, strict=True)), strict=True))
        state = {k: b.clone() for k, b in buffers.items()}  # functorch forbids mutating tensors from outside
        out = functional_call(net, (params, state), (x, mixing))
        return F.cross_entropy(out, y, reduction="none"), state

    def directional(tangent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        (_, state), (d_losses, _) = jvp(losses, (flat,), (tangent,))
        return d_losses, state

    live = flat.nonzero().flatten()
    jac = torch.zeros(x.shape[0], flat.numel(), dtype=flat.dtype, device=flat.device)
    if len(live):
        basis = torch.zeros(len(live), flat.numel(), dtype=flat.dtype, device=flat.device)
        basis[torch.arange(len(live), device=flat.device), live] = 1.0
        d_losses, state = vmap(directional, chunk_size=max(int(chunk), 1))(basis)
        jac[:, live] = d_losses.t().to(jac.dtype)
        with torch.no_grad():
            for k, b in buffers.items():
                b.copy_(state[k][0])
    else:  # nothing to differentiate: the forward still updates the statistics
        with torch.no_grad():
            net(x, {n: weights[n].detach() for n in names})
    return {n: part.view(-1, *shape) for n, part, shape in
            zip(names, jac.split([s.numel() for s in shapes], dim=1), shapes, strict=True)}


def jacobian_reverse(net: nn.Module, batch: Batch, weights: Mapping[str, torch.Tensor],
                     chunk: int) -> dict[str, torch.Tensor]:
    """One reverse pass per example's loss (the unit cotangents, ``chunk`` per vectorized pass: autograd's
    ``is_grads_batched``) through one forward of the batch."""
    x, y = batch
    leaves = {k: v.detach().clone().requires_grad_() for k, v in weights.items()}
    losses = F.cross_entropy(net(x, leaves), y, reduction="none")
    n = losses.shape[0]
    eye = torch.eye(n, dtype=losses.dtype, device=losses.device)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in leaves}
    for start in range(0, n, max(int(chunk), 1)):
        rows = eye[start:start + max(int(chunk), 1)]
        grads = torch.autograd.grad(losses, list(leaves.values()), grad_outputs=rows, is_grads_batched=True,
                                    retain_graph=start + len(rows) < n, allow_unused=True)
        for (k, leaf), g in zip(leaves.items(), grads, strict=True):
            parts[k].append(torch.zeros(len(rows), *leaf.shape, dtype=leaf.dtype, device=leaf.device)
                            if g is None else g)
    return {k: torch.cat(v) for k, v in parts.items()}


def clipped_mean(per_example: torch.Tensor, bound: float) -> torch.Tensor:
    """Entry-wise clip of every example's gradient to [-bound, bound], then the batch mean."""
    return per_example.clamp(-bound, bound).mean(dim=0)


def wipeout(theta: torch.Tensor, lr: float, bound: float, remaining: int) -> torch.Tensor:
    """Zero the options below max_row * exp(-2 lr bound remaining) and renormalize each row."""
    threshold = theta.max(dim=-1, keepdim=True).values * math.exp(-2.0 * lr * bound * remaining)
    kept = torch.where(theta < threshold, torch.zeros_like(theta), theta)
    return kept / kept.sum(dim=-1, keepdim=True)


class Xnas(SearchMethod):
    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        self.bound = positive(self.config, "xnas_clip")
        self.chunk = max(int(positive(self.config, "per_example_chunk")), 1)
        self.horizon = 0  # planned architecture steps T, known once the epoch length is
        self._clipped = self._entries = None

    def build_relaxation(self) -> Relaxation:
        return Simplex(self.space)

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return ExponentiatedGradient([{"params": [p]} for p in self.relaxation.parameters()], lr=1.0, floor=0.0)

    def plan(self, ctx: EpochContext) -> None:
        """T = architecture epochs x steps per epoch; the EG rate of every group (fixed, or the theory rate)."""
        if ctx.steps_per_epoch is None:
            raise RuntimeError("XNAS needs EpochContext.steps_per_epoch (the wipeout horizon)")
        warmup = int(self.config.get("warmup_epochs", 0))
        self.horizon = max(ctx.epochs - warmup, 1) * ctx.steps_per_epoch
        fixed = self.config["arch_lr"]
        for group, g in zip(self.arch_optimizer.param_groups, self.space.groups, strict=True):
            theory = math.sqrt(2 * math.log(g.width) / self.horizon) / self.bound
            group["lr"] = theory if fixed is None else float(fixed)

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.plan(ctx)
        self._clipped = self._entries = None
        return super().train_epoch(ctx)

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        # theta is the mixing weights themselves (Simplex, no edge normalization): d loss / d theta per example
        per_example = per_example_grads(ctx.net, arch_batch, dict(self.relaxation.params.items()), self.chunk)
        params = list(self.relaxation.parameters())
        self.arch_optimizer.zero_grad(set_to_none=True)
        for p, g in zip(params, per_example.values(), strict=True):
            p.grad = clipped_mean(g, self.bound)
            self._count_clipped(g, p)
        self.arch_optimizer.step()
        self.arch_steps_total += 1
        remaining = max(self.horizon - self.arch_steps_total, 0)
        with torch.no_grad():
            for p, group in zip(params, self.arch_optimizer.param_groups, strict=True):
                p.copy_(wipeout(p, group["lr"], self.bound, remaining))

    def _count_clipped(self, per_example: torch.Tensor, theta: torch.Tensor) -> None:
        """Device-side count of clipped entries among the live options (read once per epoch)."""
        live = (theta.detach() > 0).expand_as(per_example)
        clipped = ((per_example.abs() > self.bound) & live).sum()
        entries = live.sum()
        self._clipped = clipped if self._clipped is None else self._clipped + clipped
        self._entries = entries if self._entries is None else self._entries + entries

    def epoch_fields(self) -> dict[str, float]:
        fields = super().epoch_fields()
        if not self.horizon:  # before the first epoch the rate is not planned yet
            fields.pop("lr_arch", None)
        live = sum(int((p > 0).sum()) for p in self.relaxation.parameters())
        real = sum(int(g.mask.sum()) for g in self.space.groups)
        fields["wiped_options"] = float(real - live)
        if self._entries is not None and int(self._entries) > 0:
            fields["clipped_fraction"] = float(self._clipped) / float(self._entries)
        return fields


ENTRIES = (
    MethodEntry(
        name="xnas",
        cls=Xnas,
        families=("xnas",),
        title="XNAS",
        paper="Nayman, Noy, Ridnik, Friedman, Jin, Zelnik-Manor. XNAS: Neural Architecture Search with Expert "
              "Advice. NeurIPS 2019 (as implemented for NB201 in GAEA, P0 App. C.4)",
        relaxation="theta on the per-decision simplex (experts' normalized weights)",
        update_rule="theta <- normalize(theta * exp(-eta mean_b clip(grad_theta l_b, -L, L))); wipe options below "
                    "max * exp(-2 eta L (T - t)); w <- SGD",
        default_setting="bilevel",
        defaults={"arch_lr": None, "xnas_clip": 1.0, "per_example_chunk": 8, "epochs": 50, "warmup_epochs": 0,
                  "exclude_none": False},
        per_benchmark={"nb201": {"exclude_none": True}},
        choices={
            "arch_lr": "null: eta = sqrt(2 ln N / T) / L, the regret-optimal Hedge rate ([X], verify) | a fixed eta "
                       "(0.1: GAEA's EG step)",
            "xnas_clip": "1.0 ([H]; the loss-gradient bound L, not given by GAEA C.4) | any L > 0",
            "per_example_chunk": "8: weights (forward mode) or examples (reverse mode) per vectorized pass (memory "
                                 "only; results are exact either way)",
            "exclude_none": "True on NB201, as GAEA's DARTS-family NB201 runs (P0 C.3) | False",
        },
        order=25,
    ),
)

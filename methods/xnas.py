"""XNAS (Nayman et al. 2019) as GAEA implemented it for NAS-Bench-201 (P0 App. C.4; spec 6.1 row 11).

Each decision is a forecaster whose options are experts. The expert weights are the mixing weights
theta on the decision's simplex (``Simplex``, as GAEA), updated by exponentiated gradient
(``methods.eg``): XNAS's w_i = exp(eta R_i) with cumulative reward R_i = -sum_t grad_i, normalized. The
two ingredients GAEA C.4 names as XNAS's own:

1. **Per-example gradient clipping.** The architecture gradient of every example is clipped to
   [-L, L] entry-wise before the examples are averaged, so every step's reward is bounded by L, the
   loss-gradient bound of XNAS's analysis. Per-example gradients are exact: the gradients of each
   example's loss under the batch forward (batch norm couples the examples, which rules out per-example
   forwards), by reverse mode with the B unit cotangents, vectorized in chunks (autograd's
   ``is_grads_batched``). That costs about B backward passes per architecture step.
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
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, SearchMethod
from methods.eg import ExponentiatedGradient
from methods.options import positive
from methods.relaxations import Relaxation, Simplex
from nasbench_settings import integer, number


def per_example_grads(losses: torch.Tensor, params: Sequence[torch.Tensor], chunk: int) -> list[torch.Tensor]:
    """[B, *p.shape] per parameter: the gradient of each entry of ``losses`` (one backward graph, kept)."""
    n = losses.shape[0]
    eye = torch.eye(n, dtype=losses.dtype, device=losses.device)
    parts: list[list[torch.Tensor]] = [[] for _ in params]
    for start in range(0, n, chunk):
        rows = eye[start:start + chunk]
        out = torch.autograd.grad(losses, list(params), grad_outputs=rows, is_grads_batched=True,
                                  retain_graph=start + chunk < n, allow_unused=True)
        for acc, g, p in zip(parts, out, params, strict=True):
            acc.append(g if g is not None else torch.zeros(rows.shape[0], *p.shape, dtype=p.dtype, device=p.device))
    return [torch.cat(acc) for acc in parts]


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
        for group, g in zip(self.arch_optimizer.param_groups, self.relaxation.param_groups, strict=True):
            theory = math.sqrt(2 * math.log(g.width) / self.horizon) / self.bound
            group["lr"] = theory if fixed is None else float(fixed)

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.plan(ctx)
        self._clipped = self._entries = None
        return super().train_epoch(ctx)

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        x, y = arch_batch
        params = list(self.relaxation.parameters())
        losses = F.cross_entropy(ctx.net(x, self.relaxation.mixing_weights()), y, reduction="none")
        per_example = per_example_grads(losses, params, self.chunk)
        self.arch_optimizer.zero_grad(set_to_none=True)
        for p, g in zip(params, per_example, strict=True):
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
        real = sum(int(g.mask.sum()) for g in self.relaxation.param_groups)
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
        # NB201: GAEA's XNAS runs (Fig. 5) span the 25 epochs of its DARTS-family comparison
        per_benchmark={"nb201": {"exclude_none": True, "epochs": 25}},
        choices={
            "arch_lr": "null: eta = sqrt(2 ln N / T) / L, the regret-optimal Hedge rate (standard Hedge theory, as "
                       "XNAS (Nayman et al., NeurIPS 2019) uses it; not checked against that paper) | a fixed eta "
                       "(0.1: GAEA's EG step)",
            "xnas_clip": "1.0 (a harness choice: the loss-gradient bound L, not given by P0 App. C.4) | any L > 0",
            "per_example_chunk": "8: examples per vectorized backward (memory only; results are exact either way)",
            "exclude_none": "True on NB201, as GAEA's DARTS-family NB201 runs (P0 C.3) | False",
            "epochs": "25 on NB201 (GAEA Fig. 5: the horizon of its DARTS-family comparison, Fig. 4) | 50 on the "
                      "other benchmarks (DARTS's search length)",
        },
        order=25,
        types={"arch_lr": number(gt=0, nullable=True, help="Hedge step size eta (null: sqrt(2 ln N / T) / L)"),
               "xnas_clip": number(gt=0, help="L: per-example gradients are clipped to [-L, L]"),
               "per_example_chunk": integer(ge=1, help="examples per vectorized backward (memory only)")},
    ),
)

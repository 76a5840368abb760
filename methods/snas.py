"""SNAS (Xie, Zheng, Liu, Lin. SNAS: Stochastic Neural Architecture Search. ICLR 2019).

Each step's mixing weights are a soft Gumbel-softmax draw Z = softmax((alpha + g) / tau) per decision row
(the ``gumbel-soft`` sampler; every op is computed, weighted by Z), and, as the paper's abstract puts it,
SNAS "trains neural operation parameters and architecture distribution parameters in same round of
back-propagation": ``snas_update=joint`` (default) takes one training batch, one draw, one backward pass
into both the weights (SGD, gradient clipping) and alpha (Adam), so the architecture learns from the
training loss (single level; the default setting is ERM, and only the weight stream is used).
``snas_update=alternating`` is the bilevel SNAS of the peer libraries (DrNAS's and confopt's): DARTS's
alternating loop with the arch step on the arch stream (use it with ``--setting bilevel``).

The optional resource constraint (``snas_resource`` = lambda, default 0): lambda x E_{Z ~ p_alpha}[C(Z)]
with C(Z) the summed parameter count of the chosen ops (``space.option_costs``) over the operation rows.
SNAS estimates the gradient of this expectation by sampling; a cost additive over rows has it in closed
form, sum_rows sum_o softmax(alpha)_o cost_o, whose gradient is that expectation's exact gradient.

tau decays linearly from ``tau_max`` = 1 to ``tau_min`` = 0.03 over the epochs (confopt's SNASProfile;
the paper gives no initial temperature or annealing rate). Derivation: argmax softmax(alpha).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, QuotedResult
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES, Darts
from methods.loop import EpochMeter
from methods.options import choice, positive
from methods.samplers import SAMPLER_TYPES, TEMPERATURE_TYPES
from nasbench_settings import number, one_of

UPDATES = ("joint", "alternating")


class Snas(Darts):
    """DARTS's logits and Adam with soft Gumbel-softmax draws, both parameter sets updated in one backward pass."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.update = choice(config, "snas_update", UPDATES)
        self.resource = positive(config, "snas_resource", allow_zero=True)
        super().__init__(space, config, generator, device)

    def resource_penalty(self) -> torch.Tensor:
        """lambda x sum over operation rows of sum_o softmax(alpha)_o cost_o: the expected cost of a draw."""
        probs = self.relaxation.mixing_weights()
        total = next(iter(probs.values())).new_zeros(())
        if not self.resource:
            return total
        for g in self.space.groups:
            if g.role == "ops":
                total = total + (probs[g.name] * self.space.option_costs(g.name).to(total.device)).sum()
        return self.resource * total

    def arch_loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return super().arch_loss(net, batch) + self.resource_penalty()

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        if self.update == "alternating":
            return super().train_epoch(ctx)
        self.begin_epoch(ctx.epoch)
        ctx.net.train()
        meter = EpochMeter(ctx)
        for batch in ctx.weight_batches:
            with meter.timed("weights"):
                loss, n_correct = self.joint_step(ctx, batch)
            meter.count(loss, n_correct, batch[1].shape[0], arch_step=True)
        return meter.stats()

    def joint_step(self, ctx: EpochContext, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One draw Z, one backward of L_train(w, Z) (+ the resource term) into w and alpha; the weights' gradient
        clipped as in every weight step; returns (training loss, #correct) as device tensors."""
        x, y = batch
        weights = [p for g in ctx.weight_optimizer.param_groups for p in g["params"]]
        arch = list(self.relaxation.parameters())
        ctx.weight_optimizer.zero_grad(set_to_none=True)
        self.arch_optimizer.zero_grad(set_to_none=True)
        logits = self.run_supernet(ctx.net, x, self.draw_arch_weights())
        loss = F.cross_entropy(logits, y)
        (loss + self.resource_penalty()).backward(inputs=weights + arch)
        if ctx.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(weights, ctx.grad_clip)
        ctx.weight_optimizer.step()
        self.arch_optimizer.step()
        self.arch_steps_total += 1
        return loss.detach(), (logits.detach().argmax(dim=1) == y).sum()


ENTRIES = (
    MethodEntry(
        name="snas",
        cls=Snas,
        families=("snas",),
        title="SNAS",
        paper="Xie, Zheng, Liu, Lin. SNAS: Stochastic Neural Architecture Search. ICLR 2019",
        relaxation="Z = softmax((alpha + g)/tau) per decision (Gumbel-softmax, every op weighted), a fresh draw per "
                   "step; tau 1 -> 0.03",
        update_rule="one backward of L_train(w, Z) [+ lambda E[cost]] into both: w <- SGD, alpha <- Adam (single "
                    "level, same batch)",
        default_setting="erm",
        defaults={**DARTS_ARCH_ADAM, "sampler": "gumbel-soft", "tau_max": 1.0, "tau_min": 0.03,
                  "snas_update": "joint", "snas_resource": 0.0, "epochs": 150, "warmup_epochs": 0,
                  "exclude_none": False},
        choices={
            "snas_update": "joint: one backward pass into weights and alpha on the training batch (paper) | "
                           "alternating: DARTS's loop, arch step on the arch stream (DrNAS's and confopt's SNAS; "
                           "use --setting bilevel)",
            "tau_max, tau_min": "1 -> 0.03 linear (confopt SNASProfile; the paper gives no values) | DrNAS's SNAS: "
                                "10 -> 1",
            "snas_resource": "0: no resource constraint | lambda > 0: lambda x expected parameter count of the ops",
            "epochs": "150 (confopt SNASProfile default; not verified against the paper's text)",
            "arch optimizer": "Adam 3e-4, betas (0.5, 0.999), wd 1e-3 (DARTS's, as the peer libraries use)",
        },
        order=32,
        types={**DARTS_ARCH_ADAM_TYPES, **TEMPERATURE_TYPES, "sampler": SAMPLER_TYPES["sampler"],
               "snas_update": one_of(*UPDATES, help="one joint backward into weights and alpha on the training "
                                                    "batch, or DARTS's alternating steps"),
               "snas_resource": number(ge=0, help="lambda of the resource term: lambda x expected op parameter "
                                                  "count (0: none)")},
        quoted=(
            QuotedResult("nb301", "cifar10", "test_error", 2.85, 0.02,
                         "Xie et al., ICLR 2019 (SNAS), CIFAR-10 test error after retraining, moderate resource "
                         "constraint, with cutout; as quoted in Li et al., ICLR 2021 (GAEA) Table 1 and Yao et al., "
                         "AAAI 2020 (NASP) Table 2 (middle complexity)"),
        ),
    ),
)

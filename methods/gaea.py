"""GAEA (Li et al. 2021, spec 1.4): the base method's relaxation moved onto per-decision simplices.

theta is directly the mixing weight (no softmax) and follows exponentiated gradient, the mirror step
of the entropic geometry, which drives rows towards sparse (low-entropy) distributions. Every GAEA
variant takes its architecture step through ``methods.eg.ExponentiatedGradient``. A config with
``arch_weight_decay`` > 0 adds the released GAEA architects' entropic regularizer, that times the KL
divergence of each op row from uniform, to the architecture loss (GAEA GDAS's released config; the paper
uses none).
"""

from __future__ import annotations

import torch
from torch import nn

from methods.base import Batch, MethodEntry, SearchMethod
from methods.eg import ExponentiatedGradient, kl_to_uniform
from methods.relaxations import Relaxation, Simplex
from nasbench_settings import number


class GaeaDarts(SearchMethod):
    """GAEA DARTS: first-order DARTS mixture with theta on the simplex, updated by EG."""

    def build_relaxation(self) -> Relaxation:
        return Simplex(self.space)

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return ExponentiatedGradient(
            self.relaxation.parameters(), lr=float(self.config["arch_lr"]), floor=float(self.config["eg_floor"])
        )

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        loss = super().arch_loss(net, batch)
        decay = float(self.config.get("arch_weight_decay", 0.0))
        if decay:
            r = self.relaxation
            loss = loss + decay * sum(kl_to_uniform(r.params[g.name], r.mask(g.name)) for g in self.space.groups
                                      if g.role == "ops")
        return loss


#: GAEA's exponentiated-gradient step on the simplex (every GAEA variant)
GAEA_EG_TYPES = {
    "arch_lr": number(gt=0, help="exponentiated-gradient step size of theta (GAEA's eta)"),
    "eg_floor": number(ge=0, lt=1, help="theta is clamped to at least this, then renormalized (0: plain EG)"),
}

ENTRIES = (
    MethodEntry(
        name="gaea-darts",
        cls=GaeaDarts,
        families=("gaea", "darts"),
        title="GAEA DARTS (first order)",
        paper="Li, Khodak, Balcan, Talwalkar. Geometry-Aware Gradient Algorithms for NAS. ICLR 2021",
        relaxation="theta on the per-decision simplex (no softmax)",
        update_rule="theta <- normalize(theta * exp(-0.1 grad_theta L_arch(w, theta))); w <- SGD(grad_w L_train)",
        default_setting="erm",
        defaults={"arch_lr": 0.1, "eg_floor": 0.0, "epochs": 25, "warmup_epochs": 0, "exclude_none": False},
        per_benchmark={"nb201": {"exclude_none": True}},
        choices={
            "eg_floor": "0 (paper Eq. 8) | 1e-5 (released code clamps, then renormalizes)",
            "scheduler_epochs": "= epochs (paper: 'cosine') | 50 (released NB201 command: cosine over 50, search 25)",
            "exclude_none": "True on NB201 (P0 C.3) | False",
        },
        order=20,
        types=GAEA_EG_TYPES,
    ),
)

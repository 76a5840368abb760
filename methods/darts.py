"""DARTS, first order (Liu et al. 2019; spec 6.1 rows 1 and 3).

Per-edge softmax over logits alpha; alpha follows Adam on the loss of the arch batch (validation half
for bilevel, a second minibatch of the training set for ERM), w follows SGD on the training loss.
"""

from __future__ import annotations

import torch

from methods.base import MethodEntry, SearchMethod
from methods.relaxations import Relaxation, SoftmaxLogits
from nasbench_settings import number, numbers


class Darts(SearchMethod):
    def build_relaxation(self) -> Relaxation:
        return SoftmaxLogits(self.space, self.generator, init_scale=float(self.config["arch_init_scale"]))

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.relaxation.parameters(),
            lr=float(self.config["arch_lr"]),
            betas=tuple(self.config["arch_betas"]),
            weight_decay=float(self.config["arch_weight_decay"]),
        )


DARTS_ARCH_ADAM = {"arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3, "arch_init_scale": 1e-3}
DARTS_ARCH_ADAM_TYPES = {
    "arch_lr": number(gt=0, help="Adam step size of the architecture logits"),
    "arch_betas": numbers(2, ge=0, lt=1, help="Adam betas of the architecture optimizer"),
    "arch_weight_decay": number(ge=0, help="Adam weight decay of the architecture logits"),
    "arch_init_scale": number(ge=0, help="std of the initial logits, times N(0, 1) (0: all equal)"),
}

ENTRIES = (
    MethodEntry(
        name="darts",
        cls=Darts,
        families=("darts",),
        title="DARTS (first order)",
        paper="Liu, Simonyan, Yang. DARTS: Differentiable Architecture Search. ICLR 2019",
        relaxation="softmax(alpha) mixture per decision",
        update_rule="alpha <- Adam(grad_alpha L_arch(w, alpha)); w <- SGD(grad_w L_train)",
        default_setting="bilevel",
        defaults={**DARTS_ARCH_ADAM, "epochs": 50, "warmup_epochs": 0, "exclude_none": False},
        # NB201: GAEA's DARTS baseline (Table 2's DARTS † / ‡ rows, Fig. 4) searches 25 epochs, as GAEA DARTS
        per_benchmark={"nb201": {"exclude_none": True, "epochs": 25}},
        choices={
            "exclude_none": "True on NB201 as GAEA ran its DARTS baseline (P0 C.3) | False: full 15,625 cells",
            "epochs": "25 on NB201 (GAEA's DARTS baseline: the 25-epoch horizon of its Fig. 4, Table 2's DARTS "
                      "† / ‡ rows) | 50 (DARTS's own search; Dong & Yang 2020's NB201 DARTS row, "
                      "AutoDL-Projects configs/nas-benchmark/algos/DARTS.config); 50 on the DARTS space",
            "scheduler_epochs": "= epochs | 50 (the released GAEA NB201 command anneals over 50 while searching 25)",
        },
        order=10,
        types=DARTS_ARCH_ADAM_TYPES,
    ),
)

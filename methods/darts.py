"""DARTS, first order (Liu et al. 2019; spec 6.1 rows 1 and 3).

Per-edge softmax over logits alpha; alpha follows Adam on the loss of the arch batch (validation half
for bilevel, a second minibatch of the training set for ERM), w follows SGD on the training loss.
"""

from __future__ import annotations

import torch

from methods.base import SearchMethod
from methods.relaxations import Relaxation, SoftmaxLogits


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

"""GAEA (Li et al. 2021, spec 1.4): the base method's relaxation moved onto per-decision simplices.

theta is directly the mixing weight (no softmax) and follows exponentiated gradient, the mirror step
of the entropic geometry, which drives rows towards sparse (low-entropy) distributions. Every GAEA
variant takes its architecture step through ``methods.eg.ExponentiatedGradient``.
"""

from __future__ import annotations

import torch

from methods.base import SearchMethod
from methods.eg import ExponentiatedGradient
from methods.relaxations import Relaxation, Simplex


class GaeaDarts(SearchMethod):
    """GAEA DARTS: first-order DARTS mixture with theta on the simplex, updated by EG."""

    def build_relaxation(self) -> Relaxation:
        return Simplex(self.space)

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return ExponentiatedGradient(
            self.relaxation.parameters(), lr=float(self.config["arch_lr"]), floor=float(self.config["eg_floor"])
        )

"""DrNAS (Chen, Wang, Cheng, Tang, Hsieh. DrNAS: Dirichlet Neural Architecture Search. ICLR 2021).

The mixing weights of every decision row are a Dirichlet random variable with learned concentration
beta = ELU(alpha) + 1 (``methods.dirichlet``). Every forward, the weight step's and the architecture
step's, draws fresh weights w ~ Dir(beta) (the ``dirichlet`` sampler, from the run's generator), and the
architecture step back-propagates the validation loss through the draw (a pathwise gradient) into
alpha, which follows Adam (lr 3e-4, betas (0.5, 0.999)). The architecture step comes first, as in the
released code's ``train`` loop (xiangning-chen/DrNAS 201-space/train_search.py).

Anchor regularizer: DrNAS pulls beta towards the anchor beta = 1 (the flat Dirichlet). ``drnas_anchor``:
``l2`` (default, the released code's ``reg_type``: Adam weight decay ``drnas_anchor_scale`` = 1e-3 on
alpha, whose zero is beta = 1) | ``kl`` (``drnas_anchor_scale`` x sum over rows of KL(Dir(beta) || Dir(1))
added to the architecture loss, Adam without weight decay; the released code's ``kl``).

The architecture is the argmax (top-k) of the Dirichlet mean beta / sum(beta) per decision, which is also
the supernet's deterministic evaluation mixture. Every decision group the relaxation parameterizes is a
Dirichlet (operations, and inputs with weights of their own, as NAS-Bench-1Shot1's); a DARTS cell's node
inputs have none: they are summed unweighted and a node keeps the 2 inputs with the strongest non-``none`` op
by Dirichlet mean, as the released DARTS-space code (``model_search.py``) does.

Preset: the released NB201 ``train_search.py`` (100 epochs, all channels, arch steps from the first
epoch). Not built: the progressive scheme of ``train_search_progressive.py`` (the README's NB201 command:
two stages of 50 epochs, partial channels K = 4 then 2, pruning to the top 3 ops per edge between them,
architecture frozen for the first 10 epochs of each stage), which needs the supernet's partial-channel
width to change during a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from benchmarks.space import SearchSpace
from methods.base import Batch, MethodEntry, QuotedResult, SearchMethod
from methods.darts import DARTS_ARCH_ADAM_TYPES
from methods.dirichlet import DirichletConcentration, kl_to_flat_dirichlet
from methods.options import choice, positive
from methods.pc_darts import PARTIAL_TYPES
from methods.relaxations import Relaxation
from nasbench_settings import number, one_of

ANCHORS = ("l2", "kl")


class DrNas(SearchMethod):
    """Dirichlet concentrations, pathwise gradients through a fresh draw per forward, the anchor regularizer."""

    sampling = {"sampler": "dirichlet", "edge_sampler": None, "weight_sampler": None}

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.anchor = choice(config, "drnas_anchor", ANCHORS)
        self.anchor_scale = positive(config, "drnas_anchor_scale", allow_zero=True)
        super().__init__(space, config, generator, device)

    def build_relaxation(self) -> Relaxation:
        return DirichletConcentration(self.space, self.generator, init_scale=float(self.config["arch_init_scale"]))

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.relaxation.parameters(), lr=positive(self.config, "arch_lr"),
                                betas=tuple(self.config["arch_betas"]),
                                weight_decay=self.anchor_scale if self.anchor == "l2" else 0.0)

    def anchor_penalty(self) -> torch.Tensor:
        """``kl`` anchor: scale x sum over every row of KL(Dir(beta) || Dir(1)) (0 with the ``l2`` anchor, which
        is Adam's weight decay)."""
        concentrations = self.relaxation.concentrations()
        total = next(iter(concentrations.values())).new_zeros(())
        if self.anchor != "kl":
            return total
        for g in self.relaxation.groups:
            total = total + kl_to_flat_dirichlet(concentrations[g.name], self.relaxation.mask(g.name))
        return self.anchor_scale * total

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return super().arch_loss(net, batch) + self.anchor_penalty()


_NB201 = ("Chen, Wang, Cheng, Tang, Hsieh, ICLR 2021 (DrNAS), NAS-Bench-201 test accuracy, mean +- std; the table "
          "number and whether the search ran on CIFAR-10 or on each dataset are not verified here (values from the "
          "authors' README, whose NB201 command is the progressive search, and the paper's Papers-with-Code entries)")

ENTRIES = (
    MethodEntry(
        name="drnas",
        cls=DrNas,
        families=("drnas",),
        title="DrNAS",
        paper="Chen, Wang, Cheng, Tang, Hsieh. DrNAS: Dirichlet Neural Architecture Search. ICLR 2021",
        relaxation="w ~ Dirichlet(ELU(alpha) + 1) per decision, a fresh draw every forward; derivation by the "
                   "Dirichlet mean",
        update_rule="alpha <- Adam(grad_alpha E_w[L_arch(w_net, w)] by the pathwise gradient of one draw, weight "
                    "decay 1e-3 = the anchor towards beta = 1); w_net <- SGD(grad L_train(w_net, w'))",
        default_setting="bilevel",
        defaults={"arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_init_scale": 1e-3, "drnas_anchor": "l2",
                  "drnas_anchor_scale": 1e-3, "partial_channels": 1, "epochs": 100, "warmup_epochs": 0,
                  "exclude_none": False},
        choices={
            "drnas_anchor": "l2: Adam weight decay on alpha (released code default reg_type) | kl: KL(Dir(beta) || "
                            "Dir(1)) added to the architecture loss (released code reg_type=kl)",
            "drnas_anchor_scale": "1e-3 (released code reg_scale)",
            "epochs": "100 (released 201-space/train_search.py) | progressive 2 x 50 with pruning: not built",
            "partial_channels": "1: every channel (released 201-space/train_search.py, k=1) | K > 1: PC-DARTS's "
                                "partial channels, as the released progressive and DARTS-space searches use",
        },
        order=35,
        types={**{k: DARTS_ARCH_ADAM_TYPES[k] for k in ("arch_lr", "arch_betas")}, **PARTIAL_TYPES,
               "arch_init_scale": number(ge=0, help="std of the initial alpha, times N(0, 1) (0: all equal)"),
               "drnas_anchor": one_of(*ANCHORS, help="regularizer towards Dirichlet(1): Adam weight decay on alpha "
                                                     "(l2) or a KL term in the architecture loss (kl)"),
               "drnas_anchor_scale": number(ge=0, help="weight of the anchor regularizer")},
        quoted=(
            QuotedResult("nb201", "cifar10", "test_acc", 94.36, 0.00, _NB201),
            QuotedResult("nb201", "cifar100", "test_acc", 73.51, 0.00, _NB201),
            QuotedResult("nb201", "ImageNet16-120", "test_acc", 46.34, 0.00, _NB201),
            QuotedResult("nb301", "cifar10", "test_error", 2.46, 0.03,
                         "Chen et al., ICLR 2021 (DrNAS), DARTS space, CIFAR-10 test error after retraining "
                         "(abstract: 2.46%; the std 0.03 from the authors' README)"),
        ),
    ),
)

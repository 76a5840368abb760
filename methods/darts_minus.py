"""DARTS- (Chu, Wang, Zhang, Lu, Wei, Yan. ICLR 2021): DARTS with an auxiliary skip connection on every edge.

Each mixed op gets beta * x added, beta decaying linearly over the search, so that the candidate skip connection
no longer owes its weight to the easier optimization a residual path gives (the paper's "unfair advantage");
the architecture is still softmax(alpha) per decision, derived by its argmax. beta_e = beta_0 (1 - (e - 1)/E)
for the 1-based epoch e of E, beta_0 = 1: the released ``DecayScheduler`` with ``--decay linear --skip_beta 1``
(Meituan-AutoML/DARTS- src/utils.py, scripts/run_darts_minus.sh), stepped once per epoch with the 0-based
epoch, so beta reaches 1/E in the last epoch and 0 after it.

How the auxiliary skip is expressed (no benchmark-specific cell): on an edge whose skip_connect candidate is
the identity, sum_o w_o o(x) + beta x = sum_o w'_o o(x) with w' = w + beta on the skip column, so the method
adds beta to the mixing weight of the op group's ``skip_option`` (the decisions contract names it) in every
forward: the architecture step's and the weight step's. The forward, both gradients and the batch-norm
statistics are then exactly the released model's. That holds on every NAS-Bench-201 edge and on every
stride-1 DARTS edge. On the DARTS reduction cell's eight stride-2 edges the candidate skip_connect is a
FactorizedReduce, and the released code gives the auxiliary path a FactorizedReduce of its own; here the
auxiliary path runs through the candidate's, sharing its weights (a departure, for those eight edges only).
A space whose op decisions have no skip option (NAS-Bench-1Shot1's choice blocks) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, QuotedResult
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES, Darts
from methods.options import positive
from nasbench_errors import ConfigError
from nasbench_settings import number


def skip_beta(epoch: int, epochs: int, beta0: float) -> float:
    """beta during 1-based ``epoch`` of ``epochs``: beta0 (1 - (epoch - 1)/epochs), linear to 0 (released)."""
    return beta0 * (1.0 - (epoch - 1) / epochs)


def with_auxiliary_skip(weights: Mapping[str, torch.Tensor], skip_columns: Mapping[str, int],
                        beta: float) -> dict[str, torch.Tensor]:
    """``weights`` with ``beta`` added to the skip column of each group in ``skip_columns`` (differentiable)."""
    out = dict(weights)
    for name, column in skip_columns.items():
        bump = torch.zeros_like(weights[name])
        bump[:, column] = beta
        out[name] = weights[name] + bump
    return out


class DartsMinus(Darts):
    """First-order DARTS whose every forward adds beta_e to the skip option's mixing weight."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        ops = [g for g in space.groups if g.role == "ops"]
        lacking = [g.name for g in ops if g.skip_option is None]
        if lacking:
            raise ConfigError(f"darts-minus needs a skip_connect option in every op decision; {space.name}'s "
                              f"group {lacking[0]!r} has none: drop darts-minus from --methods for this benchmark")
        super().__init__(space, config, generator, device)
        self.skip_columns = {g.name: g.skip_option for g in ops}
        self.beta0 = positive(self.config, "skip_beta", allow_zero=True)
        self.beta = skip_beta(1, int(self.config["epochs"]), self.beta0)

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.beta = skip_beta(ctx.epoch, ctx.epochs, self.beta0)
        return super().train_epoch(ctx)

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        """softmax(alpha) per decision plus beta on every skip option (differentiable in alpha)."""
        return with_auxiliary_skip(self.relaxation.mixing_weights(), self.skip_columns, self.beta)

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(net(x, self.mixing_weights()), y)

    def training_weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.mixing_weights().items()}

    def epoch_fields(self) -> dict[str, float]:
        return {**super().epoch_fields(), "skip_beta": self.beta}


PAPER = "Chu, Wang, Zhang, Lu, Wei, Yan. DARTS-: Robustly Stepping out of Performance Collapse Without " \
        "Indicators. ICLR 2021"
#: the paper's NAS-Bench-201 results (search on CIFAR-10, test accuracy) as Papers with Code lists them
#: (paperswithcode.com/paper/darts-robustly-stepping-out-of-performance); no std there
QUOTED = tuple(QuotedResult("nb201", ds, "test_acc", acc, None, f"{PAPER}, NAS-Bench-201 table (CIFAR-10 search)")
               for ds, acc in (("cifar10", 93.80), ("cifar100", 71.53), ("ImageNet16-120", 45.12)))

ENTRIES = (
    MethodEntry(
        name="darts-minus",
        cls=DartsMinus,
        families=("darts-minus", "darts"),
        title="DARTS- (auxiliary skip connection)",
        paper=PAPER,
        relaxation="softmax(alpha) mixture per decision, plus beta on the skip option (auxiliary skip)",
        update_rule="w_skip' = softmax(alpha)_skip + beta_e, beta_e = 1 - (e - 1)/E; alpha <- Adam(grad_alpha "
                    "L_val(w, w')); w <- SGD(grad_w L_train(w, w'))",
        default_setting="bilevel",
        defaults={**DARTS_ARCH_ADAM, "skip_beta": 1.0, "epochs": 50, "warmup_epochs": 0, "exclude_none": False},
        choices={
            "skip_beta": "1, linear decay to 0 over the epochs (released run_darts_minus.sh: --skip_beta 1 "
                         "--decay linear) | any beta_0",
            "auxiliary skip on stride-2 DARTS edges": "through the candidate skip_connect's FactorizedReduce "
                                                      "(shared) | released: a separate one (not built)",
        },
        order=84,
        types={**DARTS_ARCH_ADAM_TYPES,
               "skip_beta": number(ge=0, help="beta_0, the auxiliary skip's weight at the first epoch (decays "
                                              "linearly to 0)")},
        quoted=QUOTED,
        refusals={"nb1shot1": "its choice blocks have no skip_connect option for the auxiliary skip to join"},
    ),
)

"""β-DARTS (Ye, Li, Li, Chen, Fan, Ouyang. CVPR 2022): DARTS with the Beta-Decay regularizer on the logits.

The architecture step minimizes L_val(w, alpha) + lambda_e L_beta(alpha) with

    L_beta = mean over decision rows of logsumexp(alpha_row)   (padded options excluded),

the smooth maximum of each row's logits, which keeps the softmax-activated weights from growing large and
their variance small. The coefficient grows linearly with the epoch: lambda_e = lambda_max (e - 1) / E_lambda
for the 1-based epoch e, the released code's ``weights = 0 + 50*epoch/100`` with its 0-based epoch
(Sunshine-Ye/Beta-DARTS optimizers/darts/architect.py ``_backward_step`` and ``mlc_loss``): lambda_max = 50,
E_lambda = 100, whatever the number of search epochs. The regularizer averages over the rows of every group the
relaxation holds (on NB201 the one op group, exactly the released mean over the 6 edges; in the DARTS space the
normal and reduction ops and the input choices). Everything else is first-order DARTS: softmax logits at
1e-3 N(0, 1), Adam lr 3e-4, betas (0.5, 0.999), weight decay 1e-3 (the released architect).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, QuotedResult
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES, Darts
from methods.options import positive
from nasbench_settings import integer, number


def beta_decay(logits: dict[str, torch.Tensor]) -> torch.Tensor:
    """L_beta: the mean over all rows of all groups of logsumexp of the row's logits (-inf on padding)."""
    return torch.cat([torch.logsumexp(v, dim=-1) for v in logits.values()]).mean()


def beta_coefficient(epoch: int, lambda_max: float, horizon: int) -> float:
    """lambda during 1-based ``epoch``: lambda_max (epoch - 1) / horizon (the released 50 * epoch / 100)."""
    return lambda_max * (epoch - 1) / horizon


class BetaDarts(Darts):
    """First-order DARTS whose architecture loss adds lambda_e times the Beta-Decay regularizer."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        self.lambda_max = positive(self.config, "beta_lambda_max", allow_zero=True)
        self.horizon = int(positive(self.config, "beta_lambda_epochs"))
        self.coefficient = beta_coefficient(1, self.lambda_max, self.horizon)

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.coefficient = beta_coefficient(ctx.epoch, self.lambda_max, self.horizon)
        return super().train_epoch(ctx)

    def regularizer(self) -> torch.Tensor:
        return beta_decay(self.relaxation.logits())

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return super().arch_loss(net, batch) + self.coefficient * self.regularizer()

    def epoch_fields(self) -> dict[str, float]:
        with torch.no_grad():
            value = float(self.regularizer())
        return {**super().epoch_fields(), "beta_lambda": self.coefficient, "beta_decay": value}


PAPER = ("Ye, Li, Li, Chen, Fan, Ouyang. beta-DARTS: Beta-Decay Regularization for Differentiable Architecture "
         "Search. CVPR 2022")
#: quoted from the paper's NAS-Bench-201 results as Papers with Code lists them (paperswithcode.com/paper/
#: b-darts-beta-decay-regularization-for): search on CIFAR-10, test accuracy; no std there, and the
#: ImageNet16-120 entry it lists belongs to another variant (beta-RDARTS-L2), so none is quoted for it
QUOTED = (
    QuotedResult("nb201", "cifar10", "test_acc", 94.36, None, f"{PAPER}, NAS-Bench-201 table (CIFAR-10 search)"),
    QuotedResult("nb201", "cifar100", "test_acc", 73.51, None, f"{PAPER}, NAS-Bench-201 table (CIFAR-10 search)"),
)

ENTRIES = (
    MethodEntry(
        name="beta-darts",
        cls=BetaDarts,
        families=("beta-darts", "darts"),
        title="beta-DARTS (Beta-Decay regularization)",
        paper=PAPER,
        relaxation="softmax(alpha) mixture per decision",
        update_rule="alpha <- Adam(grad_alpha [L_val(w, alpha) + lambda_e mean_rows logsumexp(alpha_row)]), "
                    "lambda_e = 50 (e - 1)/100; w <- SGD(grad_w L_train)",
        default_setting="bilevel",
        defaults={**DARTS_ARCH_ADAM, "beta_lambda_max": 50.0, "beta_lambda_epochs": 100, "epochs": 50,
                  "warmup_epochs": 0, "exclude_none": False},
        per_benchmark={"nb201": {"epochs": 100}},
        choices={
            "beta_lambda_max, beta_lambda_epochs": "50 and 100: lambda_e = 50 (e - 1)/100 (released architect.py, "
                                                   "hard-coded 50*epoch/100) | any schedule",
            "epochs": "100 on NB201 (released nasbench201/train_search.py) | 50 elsewhere (released sota/cnn)",
            "regularized groups": "every group the relaxation holds (NB201: the op group, as released) "
                                  "| not an option",
        },
        order=82,
        types={**DARTS_ARCH_ADAM_TYPES,
               "beta_lambda_max": number(ge=0, help="Beta-Decay weight lambda_e = beta_lambda_max (e - 1) / "
                                                    "beta_lambda_epochs at epoch e"),
               "beta_lambda_epochs": integer(ge=1, help="epochs in which lambda_e grows by beta_lambda_max")},
        quoted=QUOTED,
    ),
)

"""OLES (Jiang, Ji, Zhu, Yuan, Huang. Operation-Level Early Stopping for Robustifying Differentiable NAS.
NeurIPS 2023): first-order DARTS that stops training an operation once it starts to overfit.

The paper attributes the collapse of DARTS to skip connections to parametric operations overfitting the
training data while alpha follows the validation data. For every operation instance (one op on one edge of one
cell: each has its own weights) it measures the gradient matching score

    GM = (1/M) sum over the last M iterations of cos(g_train, g_val),

the cosine between the gradient of the op's weights on the training batch (the weight step) and on the
validation batch (the architecture step, which back-propagates to the weights anyway: no extra passes), and
freezes the op's weights for the rest of the search once GM < zeta. Parameter-free ops (skip, pooling, none)
have nothing to freeze. Frozen weights get no gradient, hence no SGD update, weight decay or momentum.

Defaults M = 20, zeta = 0.4: the values hard-coded in the released train_search.py (PasaLab/oles,
``check_grads_cosine``: ``m.count == 20``, ``m.avg / m.count < 0.4``); the paper's own statement of them could
not be read here. Two details of that code differ and are not options: it compares the validation gradient
*accumulated onto* the previous step's (clipped) training gradient with that training gradient, and takes the
cosine of each parameter tensor along its first dimension, averaged; here the two gradients of the same
iteration are compared as whole vectors (the paper's formula), and each window has exactly M samples (the
released check averages 21 samples over 20). Clipping scales a gradient, so the cosine is the same before or
after it. The op instances come from the supernet's ``option_modules`` (one module per cell).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES, Darts
from methods.options import positive
from nasbench_errors import ConfigError
from nasbench_settings import integer, number


def instance_parameters(net: nn.Module) -> list[list[nn.Parameter]]:
    """The weights of every operation instance with weights, in the supernet's ``option_modules`` order."""
    out = []
    for rows in net.option_modules().values():
        for options in rows:
            for modules in options:
                out.extend(params for m in modules if (params := list(m.parameters())))
    return out


def cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, defined) between the concatenations of two gradient lists; undefined (cos 0) when either is zero."""
    dot = sum((x * y).sum() for x, y in zip(a, b, strict=True))
    norm = (sum(x.square().sum() for x in a) * sum(y.square().sum() for y in b)).sqrt()
    defined = norm > 0
    return torch.where(defined, dot / norm.clamp_min(torch.finfo(norm.dtype).tiny), torch.zeros_like(norm)), defined


class Oles(Darts):
    """First-order DARTS with per-operation freezing on the gradient matching score."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.window = int(positive(config, "oles_window"))
        self.zeta = float(config["oles_threshold"])
        if not -1.0 <= self.zeta <= 1.0:
            raise ConfigError(f"oles_threshold={self.zeta} is a cosine: use a value in [-1, 1] "
                              "(--set oles_threshold=0.4)")
        super().__init__(space, config, generator, device)
        self.instances: list[list[nn.Parameter]] | None = None  # bound to the supernet at the first epoch
        self.frozen: set[int] = set()
        self.val_grads: dict[int, list[torch.Tensor]] = {}
        self.score_sum: torch.Tensor | None = None
        self.score_count: torch.Tensor | None = None
        self.steps_in_window = 0

    def bind(self, net: nn.Module) -> None:
        """Find the op instances of ``net`` (once) and re-apply the freezing a checkpoint recorded."""
        if self.instances is None:
            self.instances = instance_parameters(net)
            device = self.instances[0][0].device if self.instances else torch.device("cpu")
            if self.score_sum is None:
                self.score_sum = torch.zeros(len(self.instances), device=device, dtype=torch.float64)
                self.score_count = torch.zeros(len(self.instances), device=device, dtype=torch.float64)
            else:
                self.score_sum, self.score_count = self.score_sum.to(device), self.score_count.to(device)
        for i in self.frozen:
            for p in self.instances[i]:
                p.requires_grad_(False)

    def active(self) -> list[int]:
        return [i for i in range(len(self.instances or [])) if i not in self.frozen]

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.bind(ctx.net)
        return super().train_epoch(ctx)

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        """The DARTS step, whose backward also yields g_val for the active op instances' weights."""
        self.bind(ctx.net)
        self.arch_optimizer.zero_grad(set_to_none=True)
        arch = list(self.relaxation.parameters())
        active = self.active()
        weights = [p for i in active for p in self.instances[i]]
        grads = torch.autograd.grad(self.arch_loss(ctx.net, arch_batch), arch + weights, allow_unused=True)
        for p, g in zip(arch, grads[: len(arch)], strict=True):
            p.grad = g
        self.arch_optimizer.step()
        self.arch_steps_total += 1
        rest = iter(grads[len(arch):])
        self.val_grads = {i: [torch.zeros_like(p) if (g := next(rest)) is None else g for p in self.instances[i]]
                          for i in active}

    def after_weight_step(self, ctx: EpochContext) -> None:
        """Adds cos(g_train, g_val) of this iteration per active instance; every M iterations freezes those
        whose window mean is below zeta (an instance whose op did not run in both passes gets no sample)."""
        if not self.val_grads:
            return
        active = list(self.val_grads)
        pairs = [cosine([torch.zeros_like(p) if p.grad is None else p.grad for p in self.instances[i]],
                        self.val_grads[i]) for i in active]
        cos = torch.stack([c for c, _ in pairs]).to(torch.float64)
        defined = torch.stack([d for _, d in pairs])
        index = torch.tensor(active, device=self.score_sum.device)
        self.score_sum.index_add_(0, index, torch.where(defined, cos, torch.zeros_like(cos)))
        self.score_count.index_add_(0, index, defined.to(torch.float64))
        self.val_grads = {}
        self.steps_in_window += 1
        if self.steps_in_window == self.window:
            self.close_window()

    def close_window(self) -> None:
        """Freeze every active instance whose mean score over the window is below zeta; start a new window."""
        counted = self.score_count > 0
        mean = self.score_sum / self.score_count.clamp_min(1)
        for i in torch.nonzero(counted & (mean < self.zeta)).flatten().tolist():
            if i not in self.frozen:
                self.frozen.add(i)
                for p in self.instances[i]:
                    p.requires_grad_(False)
        self.score_sum.zero_()
        self.score_count.zero_()
        self.steps_in_window = 0

    def epoch_fields(self) -> dict[str, float]:
        fields = {**super().epoch_fields(), "oles_frozen": float(len(self.frozen))}
        if self.instances is not None:
            fields["oles_instances"] = float(len(self.instances))
        return fields

    def state_dict(self) -> dict[str, Any]:
        window = None if self.score_sum is None else (self.score_sum.cpu(), self.score_count.cpu())
        return {**super().state_dict(), "frozen": sorted(self.frozen), "window": window,
                "steps_in_window": self.steps_in_window}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.frozen = set(state["frozen"])
        if state["window"] is not None:
            self.score_sum, self.score_count = (t.clone() for t in state["window"])
        self.steps_in_window = int(state["steps_in_window"])


PAPER = "Jiang, Ji, Zhu, Yuan, Huang. Operation-Level Early Stopping for Robustifying Differentiable NAS. NeurIPS 2023"

ENTRIES = (
    MethodEntry(
        name="oles",
        cls=Oles,
        families=("oles", "darts"),
        title="OLES (operation-level early stopping)",
        paper=PAPER,
        relaxation="softmax(alpha) mixture per decision",
        update_rule="DARTS; an op instance's weights are frozen for good once the mean over 20 iterations of "
                    "cos(grad_w_op L_train, grad_w_op L_val) falls below 0.4",
        default_setting="bilevel",
        defaults={**DARTS_ARCH_ADAM, "oles_window": 20, "oles_threshold": 0.4, "epochs": 50, "warmup_epochs": 0,
                  "exclude_none": False},
        choices={
            "oles_window, oles_threshold": "20 iterations and 0.4 (released train_search.py, hard-coded) | any",
            "score": "cos of the whole gradient vectors of one iteration (paper's GM) | released code's per-tensor, "
                     "accumulated-gradient variant (not built)",
        },
        order=87,
        types={**DARTS_ARCH_ADAM_TYPES,
               "oles_window": integer(ge=1, help="iterations the gradient-matching score is averaged over"),
               "oles_threshold": number(ge=-1, le=1, help="cosine below which an op's weights are frozen")},
    ),
)

"""NASP (Yao et al. 2020, spec 5 and 6.1 rows 15, 15a, 15b) and the two proximal baselines of its Fig. 5.

Per iteration (Algorithm 2, with the "-eps" the extraction lost restored):

1. Abar_t = prox_C(A_t): one op per decision (k ops where the decision keeps k), A_t in [0, 1];
2. g = grad_Abar [L_val(w_t, Abar_t) + eta R(Abar_t)], w_t constant (no second-order term);
3. A_{t+1} = prox_C2(A_t - eps g): the step applied to the continuous A, then clipped to the box;
4. w_{t+1} = SGD step on L_train(w_t, prox_C(A_{t+1})), only the selected ops computed.

``nasp-pa`` (Eq. 10) keeps A itself in C, A <- prox_C(A - eps grad_A F(w(A), A)); ``nasp-pa-lazy``
(Eq. 11) never projects A, A <- A - eps grad_Abar F(w(Abar), Abar) with Abar = prox_C(A). Both take
the gradient with DARTS's second-order approximation (Eq. 6), as the paper says, unless
``pa_order=1``. R is the parameter-count regularizer of Eq. 8 over ``space.option_costs``.

Options (the paper's value first; ``MethodEntry.choices`` lists the sources):

- ``nasp_grad``: ``selected`` (only the selected op is forwarded and back-propagated in the
  architecture step too, so only its entry of A gets a gradient: the literal reading, spec 5.4) |
  ``all`` (released code: the architecture step forwards every op at the binarized weights, so every
  entry gets grad_Abar; here non-selected ops run with weight ``GHOST`` = 1e-30, which the supernet
  computes and which changes no float32 sum);
- ``nasp_prox_value``: ``keep`` (prox_C1 keeps the value, the Euclidean projection) | ``one`` (released
  code binarizes the kept entry to 1);
- ``arch_optimizer``: ``adam`` (released code: Adam lr 3e-4, betas (0.5, 0.999); the paper writes the
  generic step A - eps grad and leaves eps to its missing App. B.2) | ``sgd`` (that plain step);
- ``arch_weight_decay``: 0 [H] | 1e-3 (released code). With the literal one-hot gradient, Adam's
  coupled decay is the only force on the non-selected entries and moves each of them a full step per
  iteration, which freezes the initial argmax; the released code pairs 1e-3 with a dense gradient;
- ``arch_init`` 0.5 (released code) and ``arch_init_noise`` 1e-3 [H] (std of a Gaussian added once,
  as DARTS initializes logits: without it every row starts on a tie and the lowest index wins);
- ``exclude_none``: True (the released code's op lists have no zero op; with the literal gradient a
  selected ``none`` gets no gradient and would never be left) | False;
- ``cell_ops`` (a DARTS-space setting, ``nb301``): ``restricted`` (section 4: normal cells search identity
  and convolutions, reduction cells identity and pooling) | ``all`` (the DARTS space).

On the DARTS space every one of a node's incoming edges runs its one selected op, summed unweighted; the
derived cell keeps the 2 inputs whose edge has the largest A (DARTS's rule on A), as the paper states no
other rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, MethodEntry, SearchMethod
from methods.box import Box, complexity_penalty
from methods.hessian import WeightSpace, grads, unrolled_gradient
from methods.options import choice, positive
from nasbench_settings import number, numbers, one_of

#: weight of the ops that ``nasp_grad=all`` forwards besides the selected one: non-zero, so the supernet
#: computes them and their entries get a gradient, and far below float32 resolution of any activation
GHOST = 1e-30


class Nasp(SearchMethod):
    """Algorithm 2: step on the continuous A with the gradient w.r.t. Abar, then clip A to the box."""

    projection = "box"

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.grad_mode = choice(config, "nasp_grad", ("selected", "all"))
        self.binarize = choice(config, "nasp_prox_value", ("keep", "one")) == "one"
        self.eta = positive(config, "nasp_eta", allow_zero=True)
        self.order = 1
        super().__init__(space, config, generator, device)
        self.relaxation.project_(self.projection)
        self.costs = {g.name: space.option_costs(g.name).to(device) for g in space.groups}

    def build_relaxation(self) -> Box:
        return Box(self.space, self.generator, init=float(self.config["arch_init"]),
                   noise=positive(self.config, "arch_init_noise", allow_zero=True), binarize=self.binarize)

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        params = list(self.relaxation.parameters())
        lr = positive(self.config, "arch_lr")
        wd = positive(self.config, "arch_weight_decay", allow_zero=True)
        if choice(self.config, "arch_optimizer", ("adam", "sgd")) == "sgd":
            return torch.optim.SGD(params, lr=lr, weight_decay=wd)
        return torch.optim.Adam(params, lr=lr, betas=tuple(self.config["arch_betas"]), weight_decay=wd)

    def forward_weights(self, abar: torch.Tensor, group: str) -> torch.Tensor:
        """What the architecture step runs: Abar, plus the ghost weight on the other ops for ``all``."""
        if self.grad_mode == "selected":
            return abar
        return torch.where(abar != 0, abar, GHOST * self.relaxation.mask(group).to(abar.dtype))

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        abar = self.relaxation.discrete()
        leaves = {n: self.forward_weights(a, n).requires_grad_() for n, a in abar.items()}
        loss_grads = dict(zip(leaves, self.loss_gradient(ctx, leaves, arch_batch, weight_batch), strict=True))
        self.arch_optimizer.zero_grad(set_to_none=True)
        for n, a in self.relaxation.params.items():
            a.grad = loss_grads[n] + self.penalty_gradient(abar[n], n)
        self.arch_optimizer.step()
        self.relaxation.project_(self.projection)
        self.arch_steps_total += 1

    def loss_gradient(self, ctx: EpochContext, leaves: dict[str, torch.Tensor], arch_batch: Batch,
                      weight_batch: Batch) -> list[torch.Tensor]:
        """grad of L_val w.r.t. the weights the supernet runs: first order, or DARTS's unrolled Eq. 6
        (virtual step w' = w - xi grad_w L_train with xi the current weight lr, finite-difference term)."""
        if self.order == 1:
            x, y = arch_batch
            return grads(F.cross_entropy(ctx.net(x, leaves), y), list(leaves.values()))
        space = WeightSpace(ctx.net, [p for g in ctx.weight_optimizer.param_groups for p in g["params"]])
        xi = float(ctx.weight_optimizer.param_groups[0]["lr"])
        first, second = unrolled_gradient(lambda w: space.loss(w, leaves, arch_batch),
                                          lambda w: space.loss(w, leaves, weight_batch),
                                          space.current(), list(leaves.values()), xi, None, exact=False)
        return [a + b for a, b in zip(first, second, strict=True)]

    def penalty_gradient(self, abar: torch.Tensor, group: str) -> torch.Tensor:
        """grad of eta R at Abar (F = L_val + eta R, differentiated w.r.t. Abar as in Algorithm 2)."""
        if self.eta == 0:
            return torch.zeros_like(abar)
        leaf = abar.detach().clone().requires_grad_()
        return torch.autograd.grad(self.eta * complexity_penalty(leaf, self.costs[group]), leaf)[0]

    def training_weights(self) -> dict[str, torch.Tensor]:
        return self.relaxation.discrete()

    def epoch_fields(self) -> dict[str, float]:
        penalty = sum(float(complexity_penalty(a, self.costs[n])) for n, a in self.relaxation.discrete().items())
        return {**super().epoch_fields(), "complexity_penalty": penalty}


class NaspPA(Nasp):
    """Standard proximal algorithm (Eq. 10): A itself stays in C."""

    projection = "prox"

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        self.order = int(choice(config, "pa_order", (1, 2)))


class NaspPALazy(NaspPA):
    """Lazy proximal algorithm (Eq. 11): the gradient at Abar = prox_C(A) moves an unconstrained A."""

    projection = "none"


NASP_DEFAULTS = {
    "arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 0.0, "arch_optimizer": "adam",
    "arch_init": 0.5, "arch_init_noise": 1e-3, "nasp_eta": 0.0, "nasp_grad": "selected",
    "nasp_prox_value": "keep", "epochs": 50, "warmup_epochs": 0, "exclude_none": True,
}
NASP_TYPES = {
    "arch_lr": number(gt=0, help="step size of A (Adam or SGD: arch_optimizer)"),
    "arch_betas": numbers(2, ge=0, lt=1, help="Adam betas of the architecture optimizer"),
    "arch_weight_decay": number(ge=0, help="weight decay of A"),
    "arch_optimizer": one_of("adam", "sgd", help="the optimizer of A"),
    "arch_init": number(ge=0, le=1, help="initial value of every entry of A (the box is [0, 1])"),
    "arch_init_noise": number(ge=0, help="std of the noise added to the initial A"),
    "nasp_eta": number(ge=0, help="weight of the complexity regularizer R"),
    "nasp_grad": one_of("selected", "all", help="which entries of A get a gradient"),
    "nasp_prox_value": one_of("keep", "one", help="value of the kept entry after the proximal step"),
}
_PA_ORDER = {"pa_order": one_of(1, 2, help="order of the architecture gradient of the ablations")}
NASP_CHOICES = {
    "nasp_grad": "selected (the literal reading of P4 Alg. 2, §3.2; a harness choice) | all (released "
                 "xujinfan/NASP-codes: dense arch forward)",
    "nasp_prox_value": "keep (Euclidean prox_C1, Eq. 7) | one (released code binarizes to 1)",
    "arch_optimizer": "adam lr 3e-4 betas (0.5, 0.999) (released code; paper: UNSPECIFIED, App. B.2 missing) "
                      "| sgd (Alg. 2's plain step A - eps grad)",
    "arch_weight_decay": "0 (a harness choice): with the one-hot gradient Adam's coupled decay alone moves "
                         "unselected entries | 1e-3 (released code, with its dense gradient)",
    "arch_init": "0.5 (released code: ones/2); UNSPECIFIED in the paper",
    "arch_init_noise": "1e-3 (a harness choice: breaks the all-rows tie, as DARTS's 1e-3 N(0,1)) | 0 (released code)",
    "nasp_eta": "0 (paper main experiments; Fig. 2 varies it, values not given)",
    "epochs": "50 (paper, DARTS space)",
    "exclude_none": "True (released code's op lists have no zero op) | False (all 15,625 cells)",
    "cell_ops": "restricted on the DARTS space (paper section 4: normal cells identity + convolutions, reduction "
                "cells identity + pooling) | all (the unrestricted DARTS space)",
}
#: DARTS space (nb301): the paper's cell-type restriction of the op sets (section 4)
NASP_PER_BENCHMARK = {"nb301": {"cell_ops": "restricted"}}
PAPER = "Yao, Xu, Tu, Zhu. Efficient Neural Architecture Search via Proximal Iterations. AAAI 2020"

ENTRIES = (
    MethodEntry(
        name="nasp", cls=Nasp, families=("nasp",), title="NASP", paper=PAPER,
        relaxation="A in [0,1] (box), Abar = prox_C(A) one-hot (k-hot) support",
        update_rule="A <- clip01(A - eps grad_Abar (L_val(w, Abar) + eta R(Abar))); w <- SGD(grad_w L_train(w, Abar))",
        default_setting="bilevel", defaults=NASP_DEFAULTS, per_benchmark=NASP_PER_BENCHMARK, choices=NASP_CHOICES,
        order=60, types=NASP_TYPES,
    ),
    MethodEntry(
        name="nasp-pa", cls=NaspPA, families=("nasp",), title="NASP ablation: standard proximal algorithm",
        paper=PAPER + " (Eq. 10, Fig. 5)", relaxation="A in C (one nonzero per row, value in [0,1])",
        update_rule="A <- prox_C(A - eps grad_A F(w(A), A)), second-order grad (Eq. 6); w <- SGD(grad_w L_train(w, A))",
        default_setting="bilevel", defaults={**NASP_DEFAULTS, "pa_order": 2}, per_benchmark=NASP_PER_BENCHMARK,
        choices={**NASP_CHOICES, "pa_order": "2 (paper: 'evaluated by (6)') | 1 (first order)"}, order=61,
        types={**NASP_TYPES, **_PA_ORDER},
    ),
    MethodEntry(
        name="nasp-pa-lazy", cls=NaspPALazy, families=("nasp",), title="NASP ablation: lazy proximal algorithm",
        paper=PAPER + " (Eq. 11, Fig. 5)", relaxation="A unconstrained, Abar = prox_C(A)",
        update_rule="A <- A - eps grad_Abar F(w(Abar), Abar), second-order grad (Eq. 6); "
                    "w <- SGD(grad_w L_train(w, Abar))",
        default_setting="bilevel", defaults={**NASP_DEFAULTS, "pa_order": 2}, per_benchmark=NASP_PER_BENCHMARK,
        choices={**NASP_CHOICES, "pa_order": "2 (paper: 'evaluated by (6)') | 1 (first order)"}, order=62,
        types={**NASP_TYPES, **_PA_ORDER},
    ),
)

"""Second-order architecture gradients: DARTS 2nd order (Liu et al. 2019) and Amended-DARTS (P2).

Both keep DARTS's relaxation (softmax logits) and Adam, and the alternating loop (architecture step,
then weight step); only the architecture gradient differs. It is the sum of the first-order term and a
second-order term, both computed by ``methods.hessian`` without copying the network:

- ``darts-2nd`` (spec 6.1 row 2): grad_a L_val(w', a) - xi grad^2_{a,w} L_train(w, a) grad_{w'} L_val(w', a),
  w' = w - xi grad_w L_train(w, a), xi = the current weight learning rate.
- ``amended-darts`` (spec 3.2, row 13): grad_a L_val(w, a) - eta grad^2_{a,w} L_train . H . grad_w L_val at the
  current weights, with the corrected finite-difference formula: the last step differentiates L_train with
  respect to the architecture (the printed grad_w L_val is a dimension error and is not offered).

Amended-DARTS's search/evaluation consistency changes (P2 section 4.1.2: fixed edges, width 36, and cutout,
dropout and an auxiliary tower during search) are not built, except the width (``--set C=36``): runs here
are P2's A_orig setting, the amended gradient alone on the DARTS search network (all 14 edges, C = 16, no
cutout, dropout or auxiliary loss). Cutout would be an augmentation option of the batch stream; dropout and
the auxiliary tower would be options of the DARTS supernet; fixed edges a space variant.

Both are bilevel by construction (L_train on the weight batch, L_val on the search-valid batch). Per
epoch the store gets the mean ratio ||second term|| / ||first term|| and their mean cosine: the size and
direction of the correction that P2's "gradient trap" argument is about. P2 searches with batch 96; the
harness keeps the benchmark's batch (64 on NB201) for every method, ``--set batch_size=96`` gives P2's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES, Darts
from methods.hessian import LossAt, Tensors, WeightSpace, amended_gradient, norm, unrolled_gradient
from methods.options import choice
from nasbench_settings import number, one_of

HVP_MODES = ("finite_difference", "exact")


class SecondOrderDarts(Darts):
    """DARTS with an architecture gradient g = first + second; subclasses define the two terms."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        self.exact = choice(self.config, "hvp", HVP_MODES) == "exact"
        self._ratio = self._cosine = None
        self._terms = 0

    def gradient_terms(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> tuple[Tensors, Tensors]:
        raise NotImplementedError

    def closures(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> tuple[WeightSpace, LossAt, LossAt]:
        """(weights, val_loss, train_loss): the losses at any weights, differentiable in the architecture."""
        space = WeightSpace(ctx.net, [p for g in ctx.weight_optimizer.param_groups for p in g["params"]])

        def val(w: Sequence[torch.Tensor]) -> torch.Tensor:
            return space.loss(w, self.relaxation.mixing_weights(), arch_batch)

        def train(w: Sequence[torch.Tensor]) -> torch.Tensor:
            return space.loss(w, self.relaxation.mixing_weights(), weight_batch)

        return space, val, train

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        first, second = self.gradient_terms(ctx, arch_batch, weight_batch)
        self.arch_optimizer.zero_grad(set_to_none=True)
        for p, a, b in zip(self.relaxation.parameters(), first, second, strict=True):
            p.grad = a + b
        self.arch_optimizer.step()
        self.arch_steps_total += 1
        self._record(first, second)

    def _record(self, first: Tensors, second: Tensors) -> None:
        """Accumulate the per-epoch diagnostics on the device (read once, in ``epoch_fields``)."""
        n1, n2 = norm(first), norm(second)
        dot = sum((a * b).sum() for a, b in zip(first, second, strict=True))
        ratio, cosine = n2 / n1.clamp_min(1e-30), dot / (n1 * n2).clamp_min(1e-30)
        self._ratio = ratio if self._ratio is None else self._ratio + ratio
        self._cosine = cosine if self._cosine is None else self._cosine + cosine
        self._terms += 1

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self._ratio = self._cosine = None
        self._terms = 0
        return super().train_epoch(ctx)

    def epoch_fields(self) -> dict[str, float]:
        fields = super().epoch_fields()
        if self._terms:
            fields["second_order_ratio"] = float(self._ratio) / self._terms
            fields["second_order_cosine"] = float(self._cosine) / self._terms
        return fields


class DartsSecondOrder(SecondOrderDarts):
    """DARTS 2nd order: the unrolled virtual step and the finite-difference implicit term (DARTS Eqs. 6-8)."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        self.code_step = choice(self.config, "unrolled_step", ("gradient", "optimizer")) == "optimizer"

    def gradient_terms(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> tuple[Tensors, Tensors]:
        space, val, train = self.closures(ctx, arch_batch, weight_batch)
        group = ctx.weight_optimizer.param_groups[0]
        xi = float(group["lr"] if self.config["unrolled_lr"] is None else self.config["unrolled_lr"])
        extra = self.optimizer_terms(ctx) if self.code_step else None
        return unrolled_gradient(val, train, space.current(), list(self.relaxation.parameters()), xi, extra,
                                 self.exact)

    @staticmethod
    def optimizer_terms(ctx: EpochContext) -> Tensors:
        """What the DARTS code adds to the virtual step: momentum x momentum buffer + weight decay x w."""
        out = []
        for group in ctx.weight_optimizer.param_groups:
            for p in group["params"]:
                buf = ctx.weight_optimizer.state.get(p, {}).get("momentum_buffer")
                term = group["weight_decay"] * p.detach()
                out.append(term if buf is None else term + group["momentum"] * buf)
        return out


class AmendedDarts(SecondOrderDarts):
    """Amended-DARTS: g1 + g2' with the amending coefficient eta (P2 Eq. 6, corrected App. A.2)."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        self.shared_eps = choice(self.config, "fd_eps", ("per_stage", "shared")) == "shared"

    def gradient_terms(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> tuple[Tensors, Tensors]:
        space, val, train = self.closures(ctx, arch_batch, weight_batch)
        return amended_gradient(val, train, space.current(), list(self.relaxation.parameters()),
                                float(self.config["amend_eta"]), self.exact, self.shared_eps)


HVP_CHOICE = ("finite_difference (the papers: DARTS Eq. 8, P2 App. A.2; eps = 0.01/||v|| as the DARTS code) "
              "| exact (double backpropagation; a harness choice: the exact product the finite differences "
              "approximate)")

ENTRIES = (
    MethodEntry(
        name="darts-2nd",
        cls=DartsSecondOrder,
        families=("darts", "second-order"),
        title="DARTS (second order, unrolled)",
        paper="Liu, Simonyan, Yang. DARTS: Differentiable Architecture Search. ICLR 2019",
        relaxation="softmax(alpha) mixture per decision",
        update_rule="alpha <- Adam(grad_a L_val(w') - xi grad2_{a,w} L_tr(w) grad_w' L_val(w')), "
                    "w' = w - xi grad_w L_tr (finite differences, eps = 0.01/||grad_w' L_val||); w <- SGD",
        default_setting="bilevel",
        settings=("bilevel",),
        defaults={**DARTS_ARCH_ADAM, "epochs": 50, "warmup_epochs": 0, "exclude_none": False,
                  "hvp": "finite_difference", "unrolled_step": "gradient", "unrolled_lr": None},
        per_benchmark={"nb201": {"exclude_none": True}},
        choices={
            "unrolled_step": "gradient (paper Eq. 6: w' = w - xi grad_w L_tr) | optimizer (quark0/darts "
                             "architect.py: w' = w - xi (momentum * buffer + grad + weight_decay * w))",
            "unrolled_lr": "null: xi = the current weight learning rate (paper and code) | a fixed xi",
            "hvp": HVP_CHOICE,
            "exclude_none": "True on NB201, as the harness's DARTS (P0 C.3) | False",
        },
        order=11,
        types={**DARTS_ARCH_ADAM_TYPES, "hvp": one_of(*HVP_MODES, help="how Hessian-vector products are computed"),
               "unrolled_step": one_of("gradient", "optimizer", help="the virtual weight step w'"),
               "unrolled_lr": number(gt=0, nullable=True, help="xi of the virtual step (null: the weight LR)")},
    ),
    MethodEntry(
        name="amended-darts",
        cls=AmendedDarts,
        families=("darts", "second-order"),
        title="Amended-DARTS",
        paper="Stabilizing DARTS with Amended Gradient Estimation on Architectural Parameters (P2, ICLR submission)",
        relaxation="softmax(alpha) mixture per decision, equal initial weights",
        update_rule="alpha <- Adam(g1 + g2'), g1 = grad_a L_val(w), g2' = -eta grad2_{a,w} L_tr . H . grad_w L_val, "
                    "eta = 0.1 (finite differences, corrected last step); w <- SGD",
        default_setting="bilevel",
        settings=("bilevel",),
        defaults={**DARTS_ARCH_ADAM, "arch_init_scale": 0.0, "amend_eta": 0.1, "epochs": 50, "warmup_epochs": 0,
                  "exclude_none": False, "hvp": "finite_difference", "fd_eps": "per_stage"},
        # DARTS space (nb301): P2 4.1 search, batch 96, 100 epochs (all 14 edges: P2's S1 fixes 8, not done here)
        per_benchmark={"nb201": {"exclude_none": True}, "nb301": {"batch_size": 96, "epochs": 100}},
        choices={
            "fd_eps": "per_stage: eps = 0.01/||v|| for v = grad_w L_val, then for H grad_w L_val (DARTS's eps, a "
                      "harness choice: P2 App. A.2 gives none) | shared: one eps for both stages, w3,4 = w +- "
                      "[grad L(w1) - grad L(w2)]/2 as printed in App. A.2",
            "hvp": HVP_CHOICE,
            "arch_init_scale": "0: 'all ops get equal initial weights' (P2 4.1.1) | 1e-3 (DARTS code)",
            "epochs": "50 on NB201 (a harness choice: P2 searches only the DARTS space) | 100 (P2 4.1.1 on the DARTS "
                      "space) | 500 (P2's eta study)",
            "amend_eta": "0.1 (P2 final choice) | 0 (first-order DARTS), 0.001, 0.01, 1 (P2's study)",
            "exclude_none": "True on NB201, as the harness's DARTS (P0 C.3) | False",
            "search/evaluation consistency (P2 4.1.2)": "not built: fixed edges (S1: 8 edges, node i <- i-1 and "
                "c_{k-2}), cutout, dropout and an auxiliary tower during search; width 36 is --set C=36 (the "
                "preset keeps DARTS's 16). Our runs are P2's A_orig setting (eta = 0.1 without the modifications)",
        },
        order=12,
        types={**DARTS_ARCH_ADAM_TYPES, "hvp": one_of(*HVP_MODES, help="how Hessian-vector products are computed"),
               "amend_eta": number(ge=0, help="eta of the amended term g2' (0: first-order DARTS)"),
               "fd_eps": one_of("per_stage", "shared", help="finite-difference epsilon of the two products")},
    ),
)

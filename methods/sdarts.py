"""SDARTS (Chen & Hsieh. Stabilizing Differentiable Architecture Search via Perturbation-based Regularization.
ICML 2020): DARTS whose weight step sees perturbed architecture weights.

The architecture step is first-order DARTS. The weight step trains w on L_train(w, A + delta), A = the mixing
weights softmax(alpha) per decision, delta in the L-inf ball of radius epsilon, which smooths the validation
loss landscape in A (the paper shows it regularizes the Hessian norm):

- ``sdarts-rs`` (random smoothing): delta ~ U(-epsilon, epsilon) per entry, a fresh draw every step from the
  run's seeded generator;
- ``sdarts-adv`` (adversarial): delta maximizes L_train by projected gradient ascent: a random start in the
  ball, then 7 steps A <- A + (2 epsilon / 7) sign(grad_A L_train), each projected back onto the ball around
  the clean A; batch norm in inference mode during the attack; the clean A is kept when the attack ended
  with a lower loss than it started from.

After every perturbation each row is projected back onto the simplex as the released code's ``clip`` does:
clamp to [0, 1], a row left all zero gets 1 at its largest entry, then divide by the row sum (padding stays 0).
epsilon grows linearly per epoch, epsilon_e = 0.03 + (epsilon_max - 0.03)(e - 1)/E for the 1-based epoch e of E,
epsilon_max = 0.3. The values (schedule, 0.3, 7 steps of 2 epsilon/7, random start, the revert rule) are the
released code's (xiangning-chen/SmoothDARTS, reused by Sunshine-Ye/Beta-DARTS: attacker/perturb.py
``Random_alpha`` and ``Linf_PGD_alpha``, sota/cnn/train_search.py ``--epsilon_alpha 0.3``).

During the attack an entry of A that the clamp set to exactly 0 is forwarded with the weight ``GHOST`` (1e-30,
below float32 resolution of any activation), because the supernet skips zero-weight ops and the entry would
otherwise get no gradient, as it does in the released model, which computes every op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES, Darts
from methods.nasp import GHOST
from methods.options import positive
from nasbench_errors import ConfigError
from nasbench_settings import integer, number


def project_rows(a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The released ``clip``: clamp to [0, 1], an all-zero row gets 1 at its largest entry, rows summed to 1."""
    reference = a.masked_fill(~mask, float("-inf"))
    a = a.clamp(0.0, 1.0) * mask
    empty = a.sum(dim=-1, keepdim=True) == 0
    top = torch.zeros_like(a).scatter_(-1, reference.argmax(dim=-1, keepdim=True), 1.0)
    a = torch.where(empty, top, a)
    return a / a.sum(dim=-1, keepdim=True)


def epsilon(epoch: int, epochs: int, eps_max: float, eps_min: float = 0.03) -> float:
    """epsilon during 1-based ``epoch``: eps_min + (eps_max - eps_min)(epoch - 1)/epochs (released schedule)."""
    return eps_min + (eps_max - eps_min) * (epoch - 1) / epochs


def uniform_noise(shape: torch.Size, eps: float, generator: torch.Generator) -> torch.Tensor:
    """U(-eps, eps) on the CPU from the method's generator (checkpointed), so draws do not depend on the device."""
    return (2 * torch.rand(shape, generator=generator) - 1) * eps


class SDarts(Darts):
    """First-order DARTS; subclasses perturb the mixing weights of the weight step."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        self.eps_max = positive(self.config, "epsilon_max", allow_zero=True)
        self.eps_min = positive(self.config, "epsilon_min", allow_zero=True)
        self.eps = epsilon(1, int(self.config["epochs"]), self.eps_max, self.eps_min)

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.eps = epsilon(ctx.epoch, ctx.epochs, self.eps_max, self.eps_min)
        return super().train_epoch(ctx)

    def eval_weights(self) -> dict[str, torch.Tensor]:
        """The clean softmax weights: the supernet metric is not taken at a perturbation."""
        return Darts.training_weights(self)

    def masks(self) -> dict[str, torch.Tensor]:
        return {g.name: self.relaxation.mask(g.name) for g in self.relaxation.groups}

    def random_perturbation(self, clean: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """clean + U(-eps, eps), projected row-wise."""
        masks = self.masks()
        return {n: project_rows(a + uniform_noise(a.shape, self.eps, self.generator).to(a), masks[n])
                for n, a in clean.items()}

    def epoch_fields(self) -> dict[str, float]:
        return {**super().epoch_fields(), "epsilon": self.eps}


class SDartsRS(SDarts):
    """Random smoothing: a fresh uniform perturbation of the weight step's mixing weights every step."""

    def training_weights(self) -> dict[str, torch.Tensor]:
        return self.random_perturbation(super().training_weights())


class SDartsADV(SDarts):
    """Adversarial: the weight step's mixing weights are a PGD attack on the step's training batch."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        if int(config["pgd_steps"]) < 1:
            raise ConfigError(f"pgd_steps={config['pgd_steps']} must be >= 1; set --set pgd_steps=7")
        super().__init__(space, config, generator, device)

    def step_weights(self, ctx: EpochContext, weight_batch: Batch) -> dict[str, torch.Tensor]:
        return self.attack(ctx.net, self.training_weights(), weight_batch)

    def attack(self, net: torch.nn.Module, clean: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        """L-inf PGD on L_train around ``clean``: random start, ``pgd_steps`` signed steps of 2 eps/steps."""
        x, y = batch
        masks, steps = self.masks(), int(self.config["pgd_steps"])
        step_size = 2 * self.eps / steps

        def loss(weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
            ghosted = {n: torch.where(w == 0, GHOST * masks[n].to(w.dtype), w) for n, w in weights.items()}
            return F.cross_entropy(net(x, ghosted), y)

        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                before = loss(clean)
            current = self.random_perturbation(clean)
            for _ in range(steps):
                leaves = {n: w.detach().requires_grad_() for n, w in current.items()}
                grads = torch.autograd.grad(loss(leaves), list(leaves.values()))
                current = {n: project_rows(clean[n] + (leaves[n].detach() + step_size * g.sign() - clean[n])
                                           .clamp(-self.eps, self.eps), masks[n])
                           for (n, _), g in zip(leaves.items(), grads, strict=True)}
            with torch.no_grad():
                after = loss(current)
        finally:
            net.train(was_training)
        return clean if bool(before > after) else current


DEFAULTS = {**DARTS_ARCH_ADAM, "epsilon_max": 0.3, "epsilon_min": 0.03, "epochs": 50, "warmup_epochs": 0,
            "exclude_none": False}
CHOICES = {
    "epsilon_max, epsilon_min": "0.3 and 0.03, linear per epoch (released --epsilon_alpha 0.3 and its schedule) "
                                "| any radii",
    "perturbed weights": "the softmax mixing weights of every decision group, re-projected onto each row's "
                         "simplex (released clip) | not an option",
}
TYPES = {
    **DARTS_ARCH_ADAM_TYPES,
    "epsilon_max": number(ge=0, help="perturbation radius at the end of the search"),
    "epsilon_min": number(ge=0, help="perturbation radius at the first epoch (linear to epsilon_max)"),
}
PAPER = "Chen, Hsieh. Stabilizing Differentiable Architecture Search via Perturbation-based Regularization. ICML 2020"

ENTRIES = (
    MethodEntry(
        name="sdarts-rs",
        cls=SDartsRS,
        families=("sdarts", "darts"),
        title="SDARTS-RS (random smoothing)",
        paper=PAPER,
        relaxation="softmax(alpha) mixture per decision; the weight step sees A + U(-eps, eps), re-projected",
        update_rule="alpha <- Adam(grad_alpha L_val(w, A)); w <- SGD(grad_w L_train(w, clip(A + delta))), "
                    "delta ~ U(-eps, eps), eps 0.03 -> 0.3 linear",
        default_setting="bilevel",
        defaults=DEFAULTS,
        choices=CHOICES,
        order=85,
        types=TYPES,
    ),
    MethodEntry(
        name="sdarts-adv",
        cls=SDartsADV,
        families=("sdarts", "darts"),
        title="SDARTS-ADV (adversarial perturbation)",
        paper=PAPER,
        relaxation="softmax(alpha) mixture per decision; the weight step sees a PGD attack on A, re-projected",
        update_rule="alpha <- Adam(grad_alpha L_val(w, A)); w <- SGD(grad_w L_train(w, A*)), A* = 7-step L-inf "
                    "PGD ascent on L_train within eps of A (step 2 eps/7, random start), eps 0.03 -> 0.3 linear",
        default_setting="bilevel",
        defaults={**DEFAULTS, "pgd_steps": 7},
        choices={**CHOICES, "pgd_steps": "7, step 2 eps/steps (released Linf_PGD_alpha) | any number of steps"},
        order=86,
        types={**TYPES, "pgd_steps": integer(ge=1, help="PGD steps of the attack on the mixing weights")},
    ),
)

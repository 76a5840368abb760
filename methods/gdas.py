"""GDAS (Dong & Yang 2019) and GAEA GDAS (Li et al. 2021): single-path search by hard Gumbel-max sampling.

Every forward draws one op per decision row, h = onehot(argmax p) - sg(p) + p with
p = softmax((logits + g) / tau) (``methods.gumbel``); the supernet computes only the sampled op in the
forward and backward pass. The weight step uses a fresh sample (detached), the architecture step
another one whose straight-through gradient reaches the architecture parameters. tau decays linearly
from ``tau_max`` to ``tau_min`` over the epochs after the warm-up (spec 1.4, GAEA GDAS sampling [C];
AutoDL-Projects GDAS.py ``set_tau``).

The gradient of a non-sampled op's weight (``unsampled_grad``): its op is never computed, so its
output is unknown. ``scalar`` (default) asks the supernet to add the zero weight itself to the edge's
target node (``zero_ops="scalar"``), so the weight's gradient is the sum of the node's upstream
gradient, as the released code does (AutoDL-Projects ``forward_gdas``, also what GAEA's release runs;
the maintainer explains in AutoDL-Projects#36 that this lets the gradient reach every architecture
parameter). ``zero`` gives those weights no gradient, so only the sampled entry's softmax Jacobian row
reaches alpha (AutoDL-Projects ``forward_gdas_v1``, issue #119).

- ``gdas``: logits alpha (init 1e-3 N(0, 1)); Adam lr 3e-4, betas (0.5, 0.999), weight decay 1e-3
  (AutoDL-Projects exps/NAS-Bench-201-algos/GDAS.py and scripts-search/algos/GDAS.sh); 250 epochs
  (P0 C.3: "GDAS in NB201: 250"); the weight step before the arch step (GDAS.py ``search_func``).
- ``gaea-gdas``: theta on the simplex, logits = log theta in the sampler, exponentiated gradient through
  ``methods.eg`` with step 0.1 (P0 C.3); 150 epochs; the arch step first (gaea_release train_search.py).
  The released config (method_egdas_space_nasbench201.yaml) differs: arch lr 0.01, arch_weight_decay
  0.01 (KL-to-uniform regularizer), warmup_epochs 50; each is an option.

``eval_weights`` (the supernet's "continuous" metric) is the probability mixture softmax(alpha) or
theta: deterministic, unlike a sampled path; the discrete metric uses the argmax path as for every method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, SearchMethod
from methods.darts import DARTS_ARCH_ADAM_TYPES, Darts
from methods.eg import kl_to_uniform
from methods.entropy import mean_entropy
from methods.gaea import GAEA_EG_TYPES, GaeaDarts
from methods.gumbel import sample_straight_through
from methods.loop import STEP_ORDERS, weights_first
from nasbench_errors import ConfigError
from nasbench_settings import number, one_of

#: ``unsampled_grad`` option -> the supernet's ``zero_ops`` mode
UNSAMPLED_GRAD = {"scalar": "scalar", "zero": "skip"}


def temperature(epoch: int, epochs: int, tau_max: float, tau_min: float, warmup: int = 0) -> float:
    """tau during 1-based ``epoch``: tau_max - (tau_max - tau_min) * max(epoch - 1 - warmup, 0) / (epochs - 1).

    The released codes' formula with their 0-based epoch; it reaches tau_min in the last epoch only when
    there is no warm-up (with the released GAEA GDAS warm-up of 50 of 150 epochs it ends at 3.42).
    """
    frac = max(epoch - 1 - warmup, 0) / max(epochs - 1, 1)
    return (1 - frac) * tau_max + frac * tau_min  # the same line, written to hit both endpoints exactly


class GumbelSinglePath(SearchMethod):
    """The GDAS sampler on top of any relaxation that gives ``logits()``; subclasses pick the parameterization."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        mode = self.config["unsampled_grad"]
        if mode not in UNSAMPLED_GRAD:
            raise ConfigError(f"unsampled_grad={mode!r} is not one of {', '.join(UNSAMPLED_GRAD)}; "
                              "set --set unsampled_grad=scalar or zero")
        self.zero_ops = UNSAMPLED_GRAD[mode]
        weights_first(self.config)  # a bad step_order fails here, before the run is stored
        if not 0 < float(self.config["tau_min"]) <= float(self.config["tau_max"]):
            raise ConfigError(f"tau_min={self.config['tau_min']} and tau_max={self.config['tau_max']} need "
                              "0 < tau_min <= tau_max; set them with --set tau_min=... tau_max=...")
        self.tau = self.temperature(1)

    def temperature(self, epoch: int) -> float:
        c = self.config
        return temperature(epoch, int(c["epochs"]), float(c["tau_max"]), float(c["tau_min"]),
                           int(c.get("warmup_epochs", 0)))

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.tau = self.temperature(ctx.epoch)
        return super().train_epoch(ctx)

    def sample(self) -> dict[str, torch.Tensor]:
        """A straight-through hard sample per group, noise from ``self.generator``."""
        return {name: sample_straight_through(logits, self.tau, self.generator)
                for name, logits in self.relaxation.logits().items()}

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(net(x, self.sample(), zero_ops=self.zero_ops), y)

    def training_weights(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {k: v.detach() for k, v in self.sample().items()}

    def eval_weights(self) -> dict[str, torch.Tensor]:
        return self.relaxation.probabilities()

    def epoch_fields(self) -> dict[str, float]:
        """Adds tau and H_ops_tau, the mean entropy of softmax(logits / tau) over the op rows (spec 6.3.2)."""
        with torch.no_grad():
            logits = self.relaxation.logits()
            rows = [torch.softmax(logits[g.name] / self.tau, dim=-1).cpu() for g in self.space.groups
                    if g.role == "ops"]
        return {**super().epoch_fields(), "tau": self.tau, "H_ops_tau": mean_entropy(torch.cat(rows))}


class Gdas(GumbelSinglePath, Darts):
    """GDAS: softmax logits alpha (DARTS's relaxation and Adam), sampled single paths."""


class GaeaGdas(GumbelSinglePath, GaeaDarts):
    """GAEA GDAS: theta on the simplex (GAEA's relaxation and EG step), logits = log theta in the sampler."""

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        loss = super().arch_loss(net, batch)
        decay = float(self.config["arch_weight_decay"])
        if decay:
            r = self.relaxation
            loss = loss + decay * sum(kl_to_uniform(r.params[g.name], r.mask(g.name)) for g in self.space.groups
                                      if g.role == "ops")
        return loss


_SCHEDULE = {"tau_max": 10.0, "tau_min": 0.1, "unsampled_grad": "scalar", "exclude_none": False}
#: the temperature schedule tau_max -> tau_min (GDAS, GAEA GDAS and PR-DARTS's hard-concrete gates)
TEMPERATURE_TYPES = {
    "tau_max": number(gt=0, help="temperature at the first searched epoch"),
    "tau_min": number(gt=0, help="temperature at the last epoch (0 < tau_min <= tau_max)"),
}
_SCHEDULE_TYPES = {
    **TEMPERATURE_TYPES,
    "unsampled_grad": one_of(*UNSAMPLED_GRAD, help="gradient of the unsampled options' weights"),
    "step_order": one_of(*STEP_ORDERS, help="which step of an iteration comes first"),
}
_CHOICES = {
    "unsampled_grad": "scalar (released code forward_gdas; AutoDL-Projects#36) | zero (forward_gdas_v1, #119: "
                      "only the sampled weight gets a gradient)",
    "tau_max, tau_min": "10 -> 0.1 linear (GDAS.sh; gaea_release egdas config)",
}

ENTRIES = (
    MethodEntry(
        name="gdas",
        cls=Gdas,
        families=("gdas",),
        title="GDAS",
        paper="Dong, Yang. Searching for A Robust Neural Architecture in Four GPU Hours. CVPR 2019",
        relaxation="categorical softmax(alpha) per decision; one hard Gumbel-max sample per forward",
        update_rule="h = onehot(argmax p) - sg(p) + p, p = softmax((alpha + g)/tau); alpha <- Adam(grad L_arch(w, h)); "
                    "w <- SGD(grad_w L_train(w, h')) through the sampled ops only",
        default_setting="bilevel",
        defaults={"arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3, "arch_init_scale": 1e-3,
                  "epochs": 250, "warmup_epochs": 0, "step_order": "weights_first", **_SCHEDULE},
        choices={
            **_CHOICES,
            "epochs": "250 (P0 C.3, NB201 paper) | 240 (AutoDL configs/nas-benchmark/algos/GDAS.config)",
            "step_order": "weights_first (AutoDL GDAS.py search_func) | arch_first (the GAEA/DARTS/PC-DARTS loop)",
            "weight optimizer": "NB201 preset (wd 3e-4, no Nesterov) | GDAS.config: wd 5e-4, Nesterov (not an option)",
        },
        order=30,
        types={**DARTS_ARCH_ADAM_TYPES, **_SCHEDULE_TYPES},
    ),
    MethodEntry(
        name="gaea-gdas",
        cls=GaeaGdas,
        families=("gaea", "gdas"),
        title="GAEA GDAS",
        paper="Li, Khodak, Balcan, Talwalkar. Geometry-Aware Gradient Algorithms for NAS. ICLR 2021",
        relaxation="theta on the per-decision simplex; one hard Gumbel-max sample of log theta per forward",
        update_rule="h = onehot(argmax p) - sg(p) + p, p = softmax((log theta + g)/tau); "
                    "theta <- normalize(theta * exp(-0.1 grad_theta L_arch(w, h))); w <- SGD through the sampled ops",
        default_setting="bilevel",
        defaults={"arch_lr": 0.1, "eg_floor": 0.0, "arch_weight_decay": 0.0, "epochs": 150, "warmup_epochs": 0,
                  "step_order": "arch_first", **_SCHEDULE},
        choices={
            **_CHOICES,
            "arch_lr": "0.1 (P0 C.3) | 0.01 (released method_egdas_space_nasbench201.yaml; spec 1.4 INCONSISTENT)",
            "arch_weight_decay": "0 (P0 §4: no arch weight decay) | 0.01 (released config: KL-to-uniform regularizer)",
            "warmup_epochs": "0 (paper: GDAS settings) | 50 (released config; tau then starts decaying after it)",
            "eg_floor": "0 (paper Eq. 8) | 1e-5 (released code; its egdas architect clamps after normalizing, "
                        "here clamp then renormalize as methods.eg does: row sums differ by < 5e-5)",
            "step_order": "arch_first (gaea_release train_search.py) | weights_first (GDAS's code)",
        },
        order=31,
        types={**GAEA_EG_TYPES, **_SCHEDULE_TYPES,
               "arch_weight_decay": number(ge=0, help="weight of the KL-to-uniform regularizer of theta (not "
                                                       "Adam's weight decay as in gdas)")},
    ),
)

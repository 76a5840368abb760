"""PR-DARTS (Zhou et al. 2020; spec 4 and 6.1 row 14): path-regularized search with independent gates.

Every option of every decision has its own hard-concrete gate g (``methods.gates``: logit beta,
stretch (-0.1, 1.1), tau linear 10 -> 0.1 over the epochs); a node sums g * op over its inputs, with no
softmax across ops. Per iteration 2 random options per decision are gated and computed (the others
get weight 0 and are skipped, as are gates that come out exactly 0), for the architecture step and,
with a fresh draw, for the weight step. beta follows Adam (DARTS's settings [H], the paper's are in its
missing appendix) on the first-order objective

    F_val(w, g(beta)) + lambda1 L_skip + lambda2 L_non-skip - lambda3 L_path

with P = P(g != 0) = sigmoid(beta - tau ln(-a/b)) per option, zeta = 2 / (h (h - 1)):

- L_skip = zeta sum_rows P_skip; L_non-skip = zeta sum_rows sum_{o != skip} P_o / (r - 1), r = options
  of the row (all options count as non-skip where a group has no ``skip_option``);
- L_path = prod over ``path_rows`` (the input -> node 1 -> ... -> output chain) of sum of P over the
  parameterized options O_p (``path_options``: ``space.option_costs`` > 0, the convolutions, never the skip
  connection: "we do not consider skip connection, zero and pooling operations", P3 section 4.2, so the
  stride-2 skip of a reduction cell, a FactorizedReduce with weights, is not counted), which rewards deep cells.

Reading the curves: the regularizers act through P = sigmoid(beta + 2.398 tau), whose slope in beta is
P (1 - P). At beta near its initial 0 that is 3.9e-11 at tau = 10, 6.2e-6 at tau = 5, 7.5e-4 at tau = 3,
8.1e-3 at tau = 2, 0.076 at tau = 1 and 0.25 at tau = 0.1: with tau annealed linearly 10 -> 0.1, the
regularizers move beta noticeably only once tau is near 2, i.e. in the last ~20% of the epochs. Flat
regularizer and gate-entropy curves before that are what the schedule implies, not a bug (the validation
loss still reaches beta through the sampled gates, damped by 1 / tau).

The skip option and the chain come from the decisions contract (``DecisionGroup.skip_option``,
``path_rows``); h defaults to the number of nodes the rows feed plus the input node (NB201: 4, so
zeta = 1/6) and is the option ``pr_nodes`` (7 for the DARTS cell, spec 4.3). Regularizers apply to the
groups with role ``ops``. Derivation keeps the top-k options per decision by P (on NB201 one op per
edge, ``none`` a candidate; spec 6.8); ``eval_weights`` are Louizos et al.'s deterministic test-time gates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import DecisionGroup, SearchSpace
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, SearchMethod
from methods.darts import DARTS_ARCH_ADAM_TYPES
from methods.gates import HardConcreteGates, bernoulli_entropy
from methods.options import positive
from methods.samplers import TEMPERATURE_TYPES, check_temperatures
from nasbench_errors import ConfigError
from nasbench_settings import integer, number


def zeta(nodes: int) -> float:
    """zeta = 2 / (h (h - 1)): one over the number of edges of a complete DAG on h nodes."""
    return 2.0 / (nodes * (nodes - 1))


def group_sparsity(probs: torch.Tensor, mask: torch.Tensor, skip: int | None,
                   z: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_skip, L_non-skip) of one group from its activation probabilities [rows, width]."""
    real = mask.to(probs.dtype)
    non_skip = real.clone()
    l_skip = probs.new_zeros(())
    if skip is not None:
        non_skip[:, skip] = 0.0
        l_skip = z * probs[:, skip].sum()
    count = non_skip.sum(dim=-1).clamp_min(1.0)
    return l_skip, z * ((probs * non_skip).sum(dim=-1) / count).sum()


def path_options(costs: torch.Tensor, group: DecisionGroup) -> torch.Tensor:
    """Bool [rows, width]: O_p of Eq. 8, the options with weights (cost > 0) other than the skip connection."""
    deep = costs > 0
    if group.skip_option is not None:
        deep[:, group.skip_option] = False
    return deep


def path_depth(probs: torch.Tensor, parameterized: torch.Tensor, path_rows: tuple[int, ...]) -> torch.Tensor:
    """L_path = prod over the chain rows of the summed activation probability of parameterized options."""
    if not path_rows:
        return probs.new_zeros(())
    per_row = (probs * parameterized.to(probs.dtype)).sum(dim=-1)
    return per_row[list(path_rows)].prod()


class PrDarts(SearchMethod):
    """Gates per option, group-sparsity and path-depth regularizers, 2 options sampled per decision."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        check_temperatures(config)
        if int(config["pr_sample_ops"]) < 1:
            raise ConfigError(f"pr_sample_ops={config['pr_sample_ops']} must be >= 1; set --set pr_sample_ops=2")
        self.lambdas = tuple(positive(config, k, allow_zero=True) for k in ("pr_lambda_skip", "pr_lambda_nonskip",
                                                                            "pr_lambda_path"))
        super().__init__(space, config, generator, device)
        self.ops_groups = [g for g in space.groups if g.role == "ops"]
        self.zetas = {g.name: zeta(self.nodes(g)) for g in self.ops_groups}
        self.parameterized = {g.name: path_options(space.option_costs(g.name), g).to(device) for g in self.ops_groups}

    def nodes(self, group: DecisionGroup) -> int:
        """h: the option ``pr_nodes``, else the nodes the rows feed plus one input node (else one row per edge)."""
        if self.config["pr_nodes"] is not None:
            h = int(self.config["pr_nodes"])
        else:
            h = len(group.nodes) + 1 if group.nodes else group.rows + 1
        if h < 2:
            raise ConfigError(f"pr_nodes={h} must be >= 2; set --set pr_nodes=H (the cell's node count)")
        return h

    def build_relaxation(self) -> HardConcreteGates:
        return HardConcreteGates(self.space, self.generator, float(self.config["arch_init_scale"]),
                                 int(self.config["pr_sample_ops"]), self.temperature(1))

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.relaxation.parameters(), lr=positive(self.config, "arch_lr"),
                                betas=tuple(self.config["arch_betas"]),
                                weight_decay=positive(self.config, "arch_weight_decay", allow_zero=True))

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.relaxation.tau = self.temperature(ctx.epoch)
        return super().train_epoch(ctx)

    def regularizer(self) -> torch.Tensor:
        """lambda1 L_skip + lambda2 L_non-skip - lambda3 L_path, summed over the op groups."""
        probs = self.relaxation.activation_probabilities()
        l1, l2, l3 = self.lambdas
        total = next(iter(probs.values())).new_zeros(())
        for g in self.ops_groups:
            skip, non_skip = group_sparsity(probs[g.name], self.relaxation.mask(g.name), g.skip_option,
                                            self.zetas[g.name])
            total = total + l1 * skip + l2 * non_skip - l3 * path_depth(probs[g.name], self.parameterized[g.name],
                                                                        g.path_rows)
        return total

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(net(x, self.relaxation.sample()), y) + self.regularizer()

    def training_weights(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return self.relaxation.sample()

    def eval_weights(self) -> dict[str, torch.Tensor]:
        return self.relaxation.deterministic_gates()

    def epoch_fields(self) -> dict[str, float]:
        """Adds tau, the regularizer value and the mean Bernoulli entropy of the gates (spec 6.3.2)."""
        with torch.no_grad():
            probs = self.relaxation.activation_probabilities()
            entropies = [bernoulli_entropy(probs[g.name])[self.relaxation.mask(g.name)].cpu() for g in self.ops_groups]
            reg = float(self.regularizer())
        return {**super().epoch_fields(), "tau": self.relaxation.tau, "regularizer": reg,
                "gate_entropy": float(torch.cat(entropies).mean())}


ENTRIES = (
    MethodEntry(
        name="pr-darts",
        cls=PrDarts,
        families=("pr-darts",),
        title="PR-DARTS",
        paper="Zhou, Xiong, Socher, Hoi. Theory-Inspired Path-Regularized Differential Network Architecture "
              "Search. NeurIPS 2020",
        relaxation="independent hard-concrete gate per option (beta, a=-0.1, b=1.1, tau 10 -> 0.1)",
        update_rule="beta <- Adam(grad_beta [F_val(w, g) + 0.01 L_skip + 0.005 L_non-skip - 0.005 L_path]), "
                    "2 random options gated per decision; w <- SGD(grad_w L_train(w, g))",
        default_setting="bilevel",
        defaults={"arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3, "arch_init_scale": 1e-3,
                  "tau_max": 10.0, "tau_min": 0.1, "pr_lambda_skip": 0.01, "pr_lambda_nonskip": 0.005,
                  "pr_lambda_path": 0.005, "pr_sample_ops": 2, "pr_nodes": None, "epochs": 50, "warmup_epochs": 0,
                  "exclude_none": False},
        # DARTS space (nb301): P3 section 5, 200 epochs, batch 128; h = 7 nodes (spec 4.3)
        per_benchmark={"nb301": {"epochs": 200, "batch_size": 128, "pr_nodes": 7}},
        choices={
            "arch_lr, arch_betas, arch_weight_decay": "Adam 3e-4, (0.5, 0.999), 1e-3: DARTS defaults, a harness choice "
                                                      "(paper: Adam, settings in its missing appendix)",
            "arch_init_scale": "1e-3 N(0,1) as DARTS (a harness choice; P3 does not state it)",
            "tau_max, tau_min": "10 -> 0.1 linear per epoch (P3 §4.1; it does not say per epoch or per step: "
                                "per epoch as GDAS, a harness choice); the regularizers' gradient P(1-P) is < 1e-2 "
                                "until tau ~ 2, the last ~20% of epochs",
            "pr_nodes": "null: nodes the rows feed + 1 (NB201 4, zeta 1/6) | 7 (DARTS cell: 2 inputs, 4 intermediate "
                        "nodes, 1 output; a harness reading of P3 §4.1's h)",
            "pr_sample_ops": "2 (P3 §4.2, after GDAS; forward and backward through only those: a harness choice) | "
                             ">= #options: all",
            "epochs": "50 on NB201 (a harness choice: P3 searches only the DARTS space) | 200 (P3 §5, DARTS space)",
            "exclude_none": "False: none kept as a candidate (a harness choice for NB201, which P3 does not "
                            "search) | True",
            "regularizers": "op groups only; L_path over DecisionGroup.path_rows, O_p = option cost > 0 except "
                            "the skip connection (paper: no skip, zero or pooling op; the reduction cell's "
                            "FactorizedReduce skip is not counted)",
        },
        order=50,
        types={**DARTS_ARCH_ADAM_TYPES, **TEMPERATURE_TYPES,
               "arch_init_scale": number(ge=0, help="std of the initial gate logits beta"),
               "pr_lambda_skip": number(ge=0, help="weight of the skip-connection gate regularizer"),
               "pr_lambda_nonskip": number(ge=0, help="weight of the non-skip gate regularizer"),
               "pr_lambda_path": number(ge=0, help="weight of the path-depth regularizer (subtracted)"),
               "pr_sample_ops": integer(ge=1, help="options gated (sampled) per decision"),
               "pr_nodes": integer(ge=1, nullable=True, help="h, nodes of the cell (null: from the space)")},
    ),
)

"""GSparsity (Chatzimichailidis et al., "GSparsity: Unifying Network Pruning and Neural Architecture Search by
Group Sparsity"), as NASLib implements it (automl/NASLib naslib/optimizers/oneshot/gsparsity): one-shot search
by a group lasso on the operations' own weights, with no architecture parameters.

The supernet runs every option at weight 1; an option without weights of its own (skip, pooling, none, an input
choice that has weights of its own in the space, as NAS-Bench-1Shot1's) is instead scaled by a learnable scalar s
(initial 1), so that it has something to shrink; a DARTS cell's node inputs have none (the supernet sums them). Only the
training loss is minimized, single-level, by Prox-SGD (Yang et al., ICLR 2020, NASLib ``ProxSGD_for_groups``):

    v <- (1 - rho) v + rho g,   b = x - v,   x_hat = max(0, 1 - a / ||b||_G) b,   x <- x + lr (x_hat - x)

for each group G, with a = mu / dim(G)^0.5 (``normalization = div``, exponent 0.5); parameters outside every
group (stem, cell preprocessing, classifier, batch norms outside the ops) take x_hat = b, momentum SGD. A group
is one option of one decision in all the cells that share it (the same op on the same edge of every cell of a
type, as NASLib's ProxSGD docstring and GSparsity define it), so mu drives whole operations to exactly zero.
The derived cell keeps, per decision, the top-k options by ||G|| / dim(G)^0.5 (the scalar's |s| for an option
without weights), NASLib's ``get_final_architecture``, and a DARTS cell's node the 2 inputs whose strongest
non-``none`` op scores highest (DARTS's rule); the epoch row's probabilities are the scores normalized per decision.
Every Prox-SGD step updates the scalars and the op weights that the scores read, so it counts as an architecture
step too, as SNAS's joint step does.

Departures and options (``gsparsity_groups``): NASLib's released optimizer hands Prox-SGD
``graph.parameters()``, one group holding the whole network, so its prox shrinks every weight by a common
factor; ``network`` reproduces that, ``op`` (default) is the per-operation grouping the method describes. With
``op`` and the div normalization a one-scalar group has a = mu, far above |b| at NASLib's mu (120 on NB201), so
the scalars of weight-free options shrink by the factor (1 - lr) every step whatever their gradient: those
options (and scaled input choices) end near 0 and are derived only on ties. NASLib also
L2-normalizes each edge's summed output over channels (``F.normalize`` in its mixed op), which the shared
supernet has no option for; not done here. The lr follows the run's cosine schedule (NASLib anneals 0.01 to
1e-4 as well); rho = ``momentum`` = 0.8.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from benchmarks.space import SearchSpace
from methods.base import EpochContext, EpochStats, MethodEntry, SearchMethod
from methods.loop import EpochMeter
from methods.options import choice, positive
from methods.relaxations import Relaxation
from nasbench_errors import ConfigError
from nasbench_settings import number, one_of

NORMALIZATIONS = ("div", "mul", "none")
GROUPINGS = ("op", "network")


def group_penalty(mu: float, dim: int, normalization: str, exponent: float) -> float:
    """a of one group: mu / dim^exponent (``div``), mu dim^exponent (``mul``) or mu (``none``)."""
    if normalization == "div":
        return mu / dim**exponent
    if normalization == "mul":
        return mu * dim**exponent
    return mu


class GroupProxSGD(torch.optim.Optimizer):
    """Prox-SGD with a group-lasso prox per parameter group (NASLib ``ProxSGD_for_groups``; see the module).

    Group options: ``penalty`` a (None: no prox, plain momentum SGD), ``elementwise`` (every entry of the
    group's tensors is its own group of dimension 1: the scalars of weight-free options). A parameter without a
    gradient counts a zero gradient (NASLib's mixed op computes every option, so every weight has one).
    """

    def __init__(self, params: Iterable[Any], lr: float, momentum: float) -> None:
        if not 0.0 < momentum <= 1.0:
            raise ConfigError(f"momentum={momentum} must be in (0, 1] for gsparsity's Prox-SGD "
                              "(v <- (1 - rho) v + rho g); set --set momentum=0.8")
        super().__init__(params, dict(lr=lr, momentum=momentum, penalty=None, elementwise=False))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - the torch.optim signature
        loss = None if closure is None else closure()
        for group in self.param_groups:
            rho, lr, a = group["momentum"], group["lr"], group["penalty"]
            bs = []
            for p in group["params"]:
                state = self.state[p]
                if "v" not in state:
                    state["v"] = torch.zeros_like(p)
                grad = torch.zeros_like(p) if p.grad is None else p.grad
                state["v"].mul_(1 - rho).add_(grad, alpha=rho)
                bs.append(p - state["v"])
            if a is None:
                shrink = [torch.ones((), dtype=b.dtype, device=b.device) for b in bs]
            elif group["elementwise"]:
                shrink = [(1 - a / b.abs().clamp_min(torch.finfo(b.dtype).tiny)).clamp_min(0) for b in bs]
            else:
                norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(b) for b in bs]))
                factor = (1 - a / norm.clamp_min(torch.finfo(norm.dtype).tiny)).clamp_min(0)
                shrink = [factor] * len(bs)
            for p, b, s in zip(group["params"], bs, shrink, strict=True):
                p.add_(s * b - p, alpha=lr)
        return loss


class OptionScales(Relaxation):
    """A scalar per weight-free option (initial 1), weight 1 for an option with weights; derivation by ``score``.

    ``score_<group>`` (a checkpointed buffer) holds the last per-option scores the method computed from the
    supernet (all 1 before the first epoch: ties, lowest index).
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space)
        for g in self.groups:
            self.params[g.name] = nn.Parameter(g.mask.to(torch.float32).clone())
            self.register_buffer(f"weighted_{g.name}", space.option_costs(g.name) > 0, persistent=False)
            self.register_buffer(f"score_{g.name}", g.mask.to(torch.float32).clone())

    def weighted(self, group: str) -> torch.Tensor:
        """Bool [rows, width]: the options with weights of their own (no scalar)."""
        return getattr(self, f"weighted_{group}")

    def score(self, group: str) -> torch.Tensor:
        return getattr(self, f"score_{group}")

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        return {n: torch.where(self.weighted(n), torch.ones_like(s), s) * self.mask(n) for n, s in self.params.items()}

    @torch.no_grad()
    def probabilities(self) -> dict[str, torch.Tensor]:
        out = {}
        for g in self.groups:
            s, m = self.score(g.name), self.mask(g.name).to(torch.float32)
            total = s.sum(dim=-1, keepdim=True)
            out[g.name] = torch.where(total > 0, s / total.clamp_min(1e-30), m / m.sum(dim=-1, keepdim=True))
        return out

    def derivation_scores(self) -> dict[str, torch.Tensor]:
        return {g.name: self.score(g.name) for g in self.groups}


class GSparsity(SearchMethod):
    """Single-level training of weights and option scalars by group Prox-SGD; the scores select the cell."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.mu = positive(config, "gsparsity_mu", allow_zero=True)
        self.normalization = choice(config, "gsparsity_normalization", NORMALIZATIONS)
        self.exponent = positive(config, "gsparsity_exponent", allow_zero=True)
        self.grouping = choice(config, "gsparsity_groups", GROUPINGS)
        if float(config["weight_decay"]) != 0:
            raise ConfigError(f"weight_decay={config['weight_decay']}: gsparsity trains the weights by its own "
                              "proximal step, which has no L2 decay (its penalty is gsparsity_mu); "
                              "set --set weight_decay=0")
        super().__init__(space, config, generator, device)
        self.prox: GroupProxSGD | None = None
        self.option_params: dict[str, list[list[list[nn.Parameter]]]] = {}
        self.pending: dict[str, Any] | None = None

    def build_relaxation(self) -> OptionScales:
        return OptionScales(self.space)

    def build_arch_optimizer(self) -> None:
        return None  # the option scalars are trained with the weights, by the proximal step

    def updates_architecture(self, epoch: int) -> bool:
        return False

    def bind(self, net: nn.Module, lr: float) -> GroupProxSGD:
        """Build the Prox-SGD over ``net``'s weights and the option scalars (once), at learning rate ``lr``."""
        if self.prox is None:
            self.option_params = {name: [[[p for m in modules for p in m.parameters()] for modules in options]
                                         for options in rows] for name, rows in net.option_modules().items()}
            self.prox = GroupProxSGD(self.prox_groups(net), lr=lr, momentum=float(self.config["momentum"]))
            if self.pending is not None:
                self.prox.load_state_dict(self.pending)
                self.pending = None
        for group in self.prox.param_groups:
            group["lr"] = lr
        return self.prox

    def penalty(self, params: list[torch.Tensor]) -> float:
        return group_penalty(self.mu, sum(p.numel() for p in params), self.normalization, self.exponent)

    def prox_groups(self, net: nn.Module) -> list[dict[str, Any]]:
        """``op``: one group per option with weights (all its cells), the scalars entry by entry, the rest
        unpenalized; ``network``: everything in one group."""
        scalars = list(self.relaxation.params.values())
        if self.grouping == "network":
            everything = [*net.parameters(), *scalars]
            return [{"params": everything, "penalty": self.penalty(everything)}]
        groups = [{"params": params, "penalty": self.penalty(params)}
                  for rows in self.option_params.values() for options in rows for params in options if params]
        grouped = {id(p) for g in groups for p in g["params"]}
        groups.append({"params": scalars, "penalty": group_penalty(self.mu, 1, self.normalization, self.exponent),
                       "elementwise": True})
        rest = [p for p in net.parameters() if id(p) not in grouped]
        if rest:
            groups.append({"params": rest, "penalty": None})
        return groups

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        prox = self.bind(ctx.net, float(ctx.weight_optimizer.param_groups[0]["lr"]))
        ctx.net.train()
        meter = EpochMeter(ctx)
        for weight_batch in itertools.islice(ctx.weight_batches, ctx.steps_per_epoch):
            meter.weight_step(self.relaxation.mixing_weights(), weight_batch, optimizer=prox)
        with torch.no_grad():
            for name, s in self.relaxation.params.items():
                s.mul_(self.relaxation.mask(name))  # padding stays exactly 0
        self.update_scores()
        # the run's SGD holds no gradients, so stepping it changes nothing; it keeps its lr scheduler's bookkeeping
        ctx.weight_optimizer.zero_grad(set_to_none=True)
        ctx.weight_optimizer.step()
        stats = meter.stats()
        # each Prox-SGD step also moved the scalars and the op weights the scores read: an architecture step too
        stats.arch_steps = stats.weight_steps
        self.arch_steps_total += stats.weight_steps
        return stats

    @torch.no_grad()
    def update_scores(self) -> None:
        """score = ||G|| / dim(G)^exponent per option with weights, |s| per weight-free option (NASLib)."""
        r = self.relaxation
        for g in r.groups:
            score = r.params[g.name].detach().abs() * ~r.weighted(g.name)
            for row, options in enumerate(self.option_params.get(g.name, [])):
                for o, params in enumerate(options):
                    if params and bool(r.weighted(g.name)[row, o]):
                        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p) for p in params]))
                        score[row, o] = norm / sum(p.numel() for p in params) ** self.exponent
            r.score(g.name).copy_(score * r.mask(g.name))

    def epoch_fields(self) -> dict[str, float]:
        """Adds how many options have been pruned to exactly zero (weights or scalar)."""
        zero = sum(int(((self.relaxation.score(g.name) == 0) & self.relaxation.mask(g.name)).sum())
                   for g in self.relaxation.groups)
        return {**super().epoch_fields(), "gsparsity_zero_options": float(zero)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "prox": self.prox.state_dict() if self.prox is not None else self.pending}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.pending = state["prox"]


PAPER = ("Chatzimichailidis et al. GSparsity: Unifying Network Pruning and Neural Architecture Search by Group "
         "Sparsity, as implemented in NASLib (automl/NASLib, naslib/optimizers/oneshot/gsparsity)")

ENTRIES = (
    MethodEntry(
        name="gsparsity",
        cls=GSparsity,
        families=("gsparsity",),
        title="GSparsity (group-sparse one-shot search, NASLib)",
        paper=PAPER,
        relaxation="no architecture parameters: every op at weight 1, a learnable scalar on weight-free options",
        update_rule="Prox-SGD on L_train: v <- 0.2 v + 0.8 g, b = x - v, x <- x + lr (max(0, 1 - a/||b||_G) b - x), "
                    "a = mu/sqrt(dim G), G = one op in all cells; cell = top-k ||G||/sqrt(dim G) per decision",
        default_setting="erm",
        defaults={"gsparsity_mu": 120.0, "gsparsity_normalization": "div", "gsparsity_exponent": 0.5,
                  "gsparsity_groups": "op", "lr": 0.01, "lr_min": 1e-4, "momentum": 0.8, "weight_decay": 0.0,
                  "grad_clip": 0.0, "batch_size": 128, "epochs": 100, "exclude_none": False},
        per_benchmark={"nb301": {"gsparsity_mu": 60.0, "batch_size": 32, "epochs": 50}},
        choices={
            "gsparsity_mu, batch_size, epochs": "120, 128, 100 on NB201; 60, 32, 50 on the DARTS space (NASLib "
                                                "gsparsity/config.yaml, darts_config.yaml) | any",
            "gsparsity_groups": "op: one group per option across cells (the method; NASLib ProxSGD docstring) | "
                                "network: one group, NASLib's optimizer as released (graph.parameters())",
            "gsparsity_normalization, gsparsity_exponent": "div, 0.5 (NASLib configs) | mul, none; any exponent",
            "lr, lr_min, momentum": "0.01 cosine to 1e-4, rho 0.8 (NASLib configs)",
            "setting": "erm: the whole training set (NASLib trains on 95%) | bilevel: the search-train half; "
                       "validation data is never used by the search",
            "edge normalization": "NASLib F.normalize of each edge's output: not built (no supernet option)",
        },
        order=88,
        types={
            "gsparsity_mu": number(ge=0, help="mu, the group-lasso strength of the proximal step"),
            "gsparsity_normalization": one_of(*NORMALIZATIONS, help="a group's penalty: mu divided (div) or "
                                                                    "multiplied (mul) by dim^exponent, or mu (none)"),
            "gsparsity_exponent": number(ge=0, help="exponent of the group dimension in the penalty"),
            "gsparsity_groups": one_of(*GROUPINGS, help="one group per option across cells (op) or one for the "
                                                        "whole network"),
            "momentum": number(gt=0, le=1, help="rho of Prox-SGD's averaged gradient v <- (1 - rho) v + rho g "
                                                "(not SGD momentum)"),
        },
    ),
)

"""DARTS-PRIME (Maile et al. 2022, spec 2): a Fisher-informed schedule of architecture steps and a
proximity regularizer towards the discrete architecture, with the paper's ablations and ADMM variant.

Loop (Algorithm 1): every iteration takes the weight step first; the schedule then decides whether an
architecture step follows, on a freshly drawn search-valid batch:

- FIMT (spec 2.2): F = ||grad_w L_train||^2 of the minibatch (the empirical Fisher trace, before gradient
  clipping), EMA F_n = lam F + (1 - lam) F_{n-1} (F_0 = the first minibatch's F, [H]); an architecture step
  when F_n < h, then h <- h * h_d with h_d = h_i^-r, else h <- h * h_i. With constant F this settles at r
  iterations without an update per update (r + 1 weight steps per architecture step, as Algorithm 1 is
  written; the paper's "ratio r" is the off-by-one the spec flags).
- constant: an architecture step after every ``arch_every``-th weight step (1: DARTS's 1:1; 10: +CS10).

Regularizers on the architecture objective, with Pi_S the projection onto the discrete set: the
architecture ``derive`` returns, as weights (P1: "projection ... equivalent to deriving a discretized
architecture"): 1 on the kept options of every decision (NB201: one-hot argmax per edge), and in the DARTS
cell 1 on the top-2 (source, op) pairs from distinct sources per node and 0 on the other edges' every op.
Pi_S is a constant (stop-gradient) target.

- PR (spec 2.3): L_val + (c rho_p / 2) ||x - Pi_S(x)||_2 over all decisions, c rising linearly from 0 to 1
  over the search; x = softmax(alpha) ([H]) or the raw logits.
- ADMM (spec 2.4, S1-S5): L_val + (rho_a / 2) ||x - z + u||_2^2; every ``admm_every`` architecture steps
  z <- Pi_S(x + u), u <- lam_u u + x - z; z starts at Pi_S(x_0), u at 0 ([H]).

Data split (``train_portion``, the weights' share of the training set in bilevel search): 0.9091 for the
runs with a 10:1 schedule, DARTS-PRIME, +CS10 and +FIMT (P1 section 4.3: "the dataset was split according
to the expected schedule of steps ... 90.91% in the training set and 9.09% in the validation set"), 0.5 for
the 1:1 runs (+PR, ADMM); ``--set train_portion=0.5`` gives the 50/50 split to any of them. The runner's
architecture stream supplies one batch per weight step (more than one pass over a small split), so a
scheduled architecture step always finds a fresh batch.

CRB (clipped-ReLU weights with a non-affine batch norm after each node's edge sum and progressive
pruning) is not offered: the batch norm after the edge sum is a change of the supernet, which the
decisions contract does not let a method make.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from benchmarks.space import SearchSpace, derive_selection, one_hot_weights, used_rows
from methods.base import Batch, EpochContext, EpochStats, MethodEntry
from methods.darts import DARTS_ARCH_ADAM, DARTS_ARCH_ADAM_TYPES, Darts
from methods.loop import EpochMeter
from methods.options import choice, positive
from nasbench_errors import ConfigError
from nasbench_settings import integer, number, one_of

Weights = dict[str, torch.Tensor]


def decrease_factor(h_i: float, r: float) -> float:
    """h_d = exp(-r ln h_i): the threshold factor after an update that balances r increases (spec 2.2)."""
    return math.exp(-r * math.log(h_i))


class FimtSchedule:
    """Algorithm 1's threshold on the EMA of the Fisher trace."""

    needs_fisher = True

    def __init__(self, h0: float, h_i: float, r: float, lam: float) -> None:
        if h_i < 1 or not 0 < lam <= 1 or h0 <= 0:
            raise ConfigError(f"FIMT needs fimt_hi >= 1, 0 < fimt_lambda <= 1 and fimt_h0 > 0; got h_i={h_i}, "
                              f"lambda={lam}, h0={h0}")
        self.h, self.h_i, self.h_d, self.lam = h0, h_i, decrease_factor(h_i, r), lam
        self.ema: float | None = None

    def step(self, fisher: Callable[[], float]) -> bool:
        f = fisher()
        self.ema = f if self.ema is None else self.lam * f + (1 - self.lam) * self.ema
        update = self.ema < self.h
        self.h *= self.h_d if update else self.h_i
        return update

    def state_dict(self) -> dict[str, Any]:
        return {"h": self.h, "ema": self.ema}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.h, self.ema = float(state["h"]), state["ema"]


class ConstantSchedule:
    """An architecture step after every ``every``-th weight step, counted over the whole search."""

    needs_fisher = False

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ConfigError(f"arch_every must be >= 1, got {every}")
        self.every, self.count = every, 0

    def step(self, fisher: Callable[[], float]) -> bool:
        self.count += 1
        return self.count % self.every == 0

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])


def project(space: SearchSpace, scores: Mapping[str, torch.Tensor]) -> Weights:
    """Pi_S: the architecture derived from ``scores`` (``derive_selection``) as weights of the scored groups: 1 on
    each decision's kept options, 0 elsewhere, and 0 on every op row the derived inputs leave out. In the DARTS
    cell that keeps the top-2 (source, op) pairs from distinct sources per node, ``none`` excluded (P1 section
    2), not one op on each of the 14 edges."""
    selection = derive_selection(space, scores)
    used = used_rows(space, selection)
    return {name: (one_hot_weights(g, selection[name]) * used[name][:, None]).to(scores[name])
            for name, g in ((n, space.group(n)) for n in scores)}


def _flat(parts: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([parts[k][masks[k]] for k in sorted(parts)])


def proximity_penalty(x: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                      masks: Mapping[str, torch.Tensor], coef: float, squared: bool) -> torch.Tensor:
    """coef * ||x - target||_2 (``squared``: its square) over the real options of all decisions."""
    diff = _flat({k: x[k] - target[k] for k in x}, masks)
    n = torch.linalg.vector_norm(diff)
    return coef * (n * n if squared else n)


def admm_update(x: Mapping[str, torch.Tensor], u: Mapping[str, torch.Tensor], decay: float,
                projection: Callable[[Mapping[str, torch.Tensor]], Weights]) -> tuple[Weights, Weights]:
    """(S3) z = Pi_S(x + u); (S5) u' = decay u + x - z."""
    z = projection({k: x[k] + u[k] for k in x})
    return z, {k: decay * u[k] + x[k] - z[k] for k in x}


class DartsPrime(Darts):
    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(space, config, generator, device)
        cfg = self.config
        self.schedule = self._schedule(cfg)
        self.regularizer = choice(cfg, "regularizer", ("pr", "admm", "none"))
        self.squared = choice(cfg, "pr_norm", ("l2", "squared")) == "squared"
        self.on_logits = choice(cfg, "pr_space", ("softmax", "logits")) == "logits"
        self.per_epoch_c = choice(cfg, "pr_granularity", ("step", "epoch")) == "epoch"
        self.pr_rho = positive(cfg, "pr_rho", allow_zero=True)
        self.admm_rho = positive(cfg, "admm_rho", allow_zero=True)
        self.admm_every = max(int(positive(cfg, "admm_every")), 1)
        self.iteration = 0  # weight steps over the whole search
        self.coefficient = 0.0  # PR's c at the latest weight step
        self.trace: dict[str, list[float]] = {}
        self.z: Weights = {}
        self.u: Weights = {}
        if self.regularizer == "admm":
            with torch.no_grad():
                x = self.constrained()
                self.z, self.u = self.projection(x), {k: torch.zeros_like(v) for k, v in x.items()}

    @staticmethod
    def _schedule(cfg: Mapping[str, Any]) -> FimtSchedule | ConstantSchedule:
        if choice(cfg, "schedule", ("fimt", "constant")) == "fimt":
            return FimtSchedule(float(cfg["fimt_h0"]), float(cfg["fimt_hi"]), float(cfg["fimt_r"]),
                                float(cfg["fimt_lambda"]))
        return ConstantSchedule(int(cfg["arch_every"]))

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        if choice(self.config, "arch_optimizer", ("adam", "sgd")) == "adam":
            return super().build_arch_optimizer()
        return torch.optim.SGD(self.relaxation.parameters(), lr=float(self.config["arch_lr"]))

    # -- the regularizers --------------------------------------------------------------------------
    def masks(self) -> dict[str, torch.Tensor]:
        return {g.name: self.relaxation.mask(g.name) for g in self.relaxation.groups}

    def constrained(self) -> Weights:
        """The architecture variable the constraint is on: softmax(alpha) ([H] default) or the logits."""
        return dict(self.relaxation.params.items()) if self.on_logits else self.relaxation.mixing_weights()

    def projection(self, x: Mapping[str, torch.Tensor]) -> Weights:
        return project(self.space, {k: v.detach() for k, v in x.items()})

    def penalty(self) -> torch.Tensor | None:
        if self.regularizer == "none":
            return None
        x = self.constrained()
        if self.regularizer == "pr":
            coef = self.coefficient * self.pr_rho / 2
            return proximity_penalty(x, self.projection(x), self.masks(), coef, self.squared)
        target = {k: self.z[k] - self.u[k] for k in x}  # x - target = x - z + u
        return proximity_penalty(x, target, self.masks(), self.admm_rho / 2, squared=True)

    def arch_loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        loss = super().arch_loss(net, batch)
        extra = self.penalty()
        return loss if extra is None else loss + extra

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        super().arch_step(ctx, arch_batch, weight_batch)
        if self.regularizer == "admm" and self.arch_steps_total % self.admm_every == 0:
            with torch.no_grad():
                self.z, self.u = admm_update(self.constrained(), self.u, float(self.config["admm_decay"]),
                                             self.projection)

    # -- the loop ----------------------------------------------------------------------------------
    def pr_coefficient(self, ctx: EpochContext) -> float:
        """c rising linearly from 0 (first step or epoch) to 1 (last) over the search (spec 2.3, [H])."""
        if self.per_epoch_c:
            return (ctx.epoch - 1) / (ctx.epochs - 1) if ctx.epochs > 1 else 1.0
        total = ctx.epochs * ctx.steps_per_epoch
        return min(self.iteration / (total - 1), 1.0) if total > 1 else 1.0

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        if ctx.steps_per_epoch is None:
            raise RuntimeError("DARTS-PRIME needs EpochContext.steps_per_epoch (the PR coefficient's horizon)")
        ctx.net.train()
        meter = EpochMeter(ctx)
        update = self.updates_architecture(ctx.epoch)
        arch_batches = iter(ctx.arch_batches)
        tracing = self.schedule.needs_fisher and ctx.epoch <= int(self.config["fimt_trace_epochs"])
        self.trace = {"trace_fimt_ema": [], "trace_fimt_threshold": [], "trace_arch_update": []} if tracing else {}
        for weight_batch in itertools.islice(ctx.weight_batches, ctx.steps_per_epoch):
            norm = meter.weight_step(self.training_weights(), weight_batch)
            self.coefficient = self.pr_coefficient(ctx)
            self.iteration += 1
            if not update:
                continue
            fire = self.schedule.step(lambda n=norm: float(n) ** 2)
            if fire:  # the search-valid stream has at least steps_per_epoch batches
                meter.arch_step(self, next(arch_batches), weight_batch)
            if tracing:
                self.trace["trace_fimt_ema"].append(self.schedule.ema)
                self.trace["trace_fimt_threshold"].append(self.schedule.h)
                self.trace["trace_arch_update"].append(float(fire))
        return meter.stats()

    # -- what the store and the checkpoint read ----------------------------------------------------
    def epoch_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {**super().epoch_fields(), "weight_steps_total": float(self.iteration)}
        if self.regularizer == "pr":
            fields["pr_coefficient"] = self.coefficient
        if isinstance(self.schedule, FimtSchedule) and self.schedule.ema is not None:
            fields.update(fimt_ema=self.schedule.ema, fimt_threshold=self.schedule.h)
        if self.arch_steps_total:
            fields["weight_steps_per_arch_step"] = self.iteration / self.arch_steps_total
        fields.update(self.trace)
        return fields

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "schedule": self.schedule.state_dict(), "iteration": self.iteration,
                "coefficient": self.coefficient, "admm": {"z": self.z, "u": self.u}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.schedule.load_state_dict(state["schedule"])
        self.iteration, self.coefficient = int(state["iteration"]), float(state["coefficient"])
        self.z, self.u = dict(state["admm"]["z"]), dict(state["admm"]["u"])


PAPER = "Maile, Lecarpentier, Luga, Wilson. DARTS-PRIME: Regularization and Scheduling Improve Constrained " \
        "Optimization in Differentiable NAS. 2022"
BASE: dict[str, Any] = {
    **DARTS_ARCH_ADAM, "epochs": 50, "warmup_epochs": 0, "exclude_none": False, "arch_optimizer": "adam",
    "schedule": "fimt", "arch_every": 1, "fimt_h0": 1.0, "fimt_hi": 1.05, "fimt_r": 10, "fimt_lambda": 0.2,
    "fimt_trace_epochs": 1, "regularizer": "pr", "pr_rho": 0.1, "pr_norm": "l2", "pr_space": "softmax",
    "pr_granularity": "step", "admm_rho": 0.1, "admm_every": 10, "admm_decay": 0.8,
}
TYPES = {
    **DARTS_ARCH_ADAM_TYPES,
    "arch_lr": number(gt=0, help="step size of alpha (Adam or SGD: arch_optimizer)"),
    "arch_optimizer": one_of("adam", "sgd", help="the optimizer of alpha"),
    "schedule": one_of("fimt", "constant", help="when alpha steps: Fisher-informed (FIMT) or every arch_every"),
    "arch_every": integer(ge=1, help="weight steps per alpha step of the constant schedule"),
    "fimt_h0": number(gt=0, help="FIMT initial threshold h_0"),
    "fimt_hi": number(ge=1, help="FIMT threshold growth h_i per weight step without an alpha step"),
    "fimt_r": integer(ge=1, help="FIMT r: the threshold shrinks by h_i^-r after an alpha step"),
    "fimt_lambda": number(ge=0, le=1, help="FIMT EMA factor lambda of ||grad_w L_train||^2"),
    "fimt_trace_epochs": integer(ge=0, help="epochs whose FIMT trace is kept in the row's extra"),
    "regularizer": one_of("pr", "admm", "none", help="proximity regularization, ADMM, or none"),
    "pr_rho": number(ge=0, help="PR weight rho_p"),
    "pr_norm": one_of("l2", "squared", help="norm of the proximity penalty"),
    "pr_space": one_of("softmax", "logits", help="what the proximity penalty constrains"),
    "pr_granularity": one_of("step", "epoch", help="how often PR's coefficient c grows"),
    "admm_rho": number(ge=0, help="ADMM weight rho_a"),
    "admm_every": integer(ge=1, help="alpha steps between ADMM z/u updates"),
    "admm_decay": number(ge=0, le=1, help="ADMM dual decay lambda_u"),
}
CHOICES = {
    "pr_norm": "l2: ||a - Pi_S(a)||_2 as printed in P1 Eq. 8 and Alg. 1 | squared (the printed norm may be a typo: "
               "ADMM's S1 squares it)",
    "pr_space": "softmax: the activated weights, Pi_S a stop-gradient target (a harness choice: P1 §3.2 does not say; "
                "its §2 applies Pi_S to the softmaxed alpha) | logits",
    "pr_granularity": "step: c = step / (total steps - 1) (a harness choice: P1 §3.2 has c rise linearly from 0 "
                      "to 1 without the unit) | epoch: c = (epoch - 1) / (epochs - 1)",
    "arch_optimizer": "adam: 'all protocols and hyperparameters from (Liu, Simonyan, and Yang 2019)' (P1 §4.2; a "
                      "harness reading) | sgd: Alg. 1's plain alpha <- alpha - lr grad",
    "schedule": "fimt: Alg. 1, r + 1 weight steps per alpha step at constant F (as written; the paper says ratio r) "
                "| constant with arch_every = 1 (1:1) or 10 (+CS10)",
    "exclude_none": "True on NB201 (Pi_S never selects none, P1 Fig. 1; as the harness's DARTS) | False",
    "train_portion": "0.9091 for the 10:1 schedules (DARTS-PRIME, +CS10, +FIMT: P1's 90.91/9.09 split) and 0.5 for "
                     "the 1:1 runs (+PR, ADMM) | 0.5: the 50/50 split for any of them",
}
#: P1 section 4.3: the weight/architecture split follows the expected ratio of the 10:1 schedules
TEN_TO_ONE = {"train_portion": 0.9091}


def _entry(name: str, title: str, rule: str, order: int, **defaults: Any) -> MethodEntry:
    return MethodEntry(
        name=name, cls=DartsPrime, families=("darts-prime",), title=title, paper=PAPER,
        relaxation="softmax(alpha) mixture per decision", update_rule=rule, default_setting="bilevel",
        defaults={**BASE, **defaults}, per_benchmark={"nb201": {"exclude_none": True}}, choices=CHOICES, order=order,
        types=TYPES)


ENTRIES = (
    _entry("darts-prime", "DARTS-PRIME (FIMT schedule + proximity regularization)",
           "w <- SGD every step; if EMA ||grad_w L_tr||^2 < h: alpha <- Adam(grad_a [L_val + (c rho/2) "
           "||a - Pi_S(a)||]), h <- h 1.05^-10, else h <- 1.05 h", 70, **TEN_TO_ONE),
    _entry("darts-prime-cs10", "DARTS + CS10 (one alpha step per 10 weight steps)",
           "w <- SGD every step; alpha <- Adam(grad_a L_val) after every 10th weight step", 71,
           schedule="constant", arch_every=10, regularizer="none", **TEN_TO_ONE),
    _entry("darts-prime-fimt", "DARTS + FIMT (Fisher-informed schedule only)",
           "w <- SGD every step; if EMA ||grad_w L_tr||^2 < h: alpha <- Adam(grad_a L_val), h <- h h_d, "
           "else h <- h h_i", 72, regularizer="none", **TEN_TO_ONE),
    _entry("darts-prime-pr", "DARTS + PR (proximity regularization only, 1:1)",
           "w <- SGD; alpha <- Adam(grad_a [L_val + (c rho/2) ||a - Pi_S(a)||]) after every weight step", 73,
           schedule="constant", arch_every=1),
    _entry("darts-prime-admm", "DARTS + ADMM (1:1)",
           "alpha <- Adam(grad_a [L_val + (rho_a/2) ||a - z + u||^2]); every 10 alpha steps z <- Pi_S(a + u), "
           "u <- 0.8 u + a - z", 74, schedule="constant", arch_every=1, regularizer="admm"),
)

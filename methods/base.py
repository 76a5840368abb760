"""What every search method is: a relaxation, samplers, an architecture update rule and an epoch loop.

A method owns its iteration (``train_epoch``) so that second-order and scheduled methods can express
their real loop, while the common alternating loop (``methods.loop``) is written once and reused.
Methods see only the decisions contract: the supernet is called with the mixing weights per group,
which a sampler (``methods.samplers``) draws from the relaxation for each step: dense for the DARTS
family, Gumbel, ReinMax, Dirichlet or uniform single paths for the stochastic methods. A method names its
samplers in its class attribute ``sampling`` or its config (keys ``sampler``, ``edge_sampler``,
``weight_sampler``); a sampler with a temperature gets it from the config's ``tau_max``/``tau_min`` schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import SearchSpace
from methods.entropy import mean_entropy
from methods.loop import weights_first
from methods.options import choice
from methods.relaxations import Relaxation
from methods.samplers import RoleSampler, check_temperatures, temperature
from nasbench_settings import Setting, boolean, integer

Batch = tuple[torch.Tensor, torch.Tensor]

#: ``unsampled_grad`` option -> the supernet's ``zero_ops`` mode: how a one-hot sample's zero weights get a gradient
UNSAMPLED_GRAD = {"scalar": "scalar", "zero": "skip"}
#: config keys that name a method's samplers (they override the class attribute ``sampling``)
SAMPLING_KEYS = ("sampler", "edge_sampler", "weight_sampler")


@dataclass
class EpochContext:
    """Everything one search epoch needs; built by the runner."""

    net: nn.Module
    weight_optimizer: torch.optim.Optimizer
    weight_batches: Iterable[Batch]
    arch_batches: Iterable[Batch]
    epoch: int  # 1-based: the epoch being trained
    epochs: int
    grad_clip: float
    on_step: Callable[[], None] | None = None  # progress: called after every weight step
    #: iterations in this epoch (the shorter of the two streams): what schedules over the whole search
    #: (XNAS's wipeout horizon, DARTS-PRIME's PR coefficient) count in; None when unknown
    steps_per_epoch: int | None = None


@dataclass
class EpochStats:
    """Supernet training statistics of one epoch, plus method-specific fields for the store."""

    train_loss: float
    train_acc: float
    weight_steps: int
    arch_steps: int
    seconds_weights: float
    seconds_arch: float
    extra: dict[str, float] = field(default_factory=dict)


class SearchMethod:
    """Base class; subclasses choose the relaxation and the architecture optimizer."""

    #: False for black-box searches that query the benchmark alone (``methods.blackbox``): the runner then
    #: builds no supernet and loads no images
    needs_supernet: bool = True
    #: sampler names (``methods.samplers``) unless the config names them: ``sampler`` for the architecture step's
    #: rows of role ops, ``edge_sampler`` for rows of role edges (None: as ``sampler``), ``weight_sampler`` for the
    #: weight step (None: a fresh draw of the architecture step's samplers, without gradient)
    sampling: ClassVar[Mapping[str, str | None]] = {"sampler": "dense", "edge_sampler": None, "weight_sampler": None}

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.space = space
        self.config = dict(config)
        self.generator = generator  # CPU generator: initial values and samples do not depend on the device
        self.relaxation = self.build_relaxation().to(device)
        self.arch_optimizer = self.build_arch_optimizer()
        self.arch_steps_total = 0
        names = {**self.sampling, **{k: self.config[k] for k in SAMPLING_KEYS if k in self.config}}
        self.arch_sampler = RoleSampler.named(names["sampler"], names["edge_sampler"])
        self.weight_sampler = (self.arch_sampler if names["weight_sampler"] is None
                               else RoleSampler.named(names["weight_sampler"], key="weight_sampler"))
        self.zero_ops = (UNSAMPLED_GRAD[choice(self.config, "unsampled_grad", tuple(UNSAMPLED_GRAD))]
                         if "unsampled_grad" in self.config else "skip")
        weights_first(self.config)  # a bad step_order fails here, before the run is stored
        self.tau = 1.0
        if self.uses_tau:
            check_temperatures(self.config, (self.arch_sampler, self.weight_sampler))
            self.tau = self.temperature(1)

    # -- what a subclass defines ------------------------------------------------------------------
    def build_relaxation(self) -> Relaxation:
        raise NotImplementedError

    def build_arch_optimizer(self) -> torch.optim.Optimizer | None:
        """None for methods without learned architecture parameters (RS-WS)."""
        raise NotImplementedError

    # -- sampling --------------------------------------------------------------------------------------
    @property
    def uses_tau(self) -> bool:
        """Whether a sampler of this method has a temperature (then scheduled by ``temperature``)."""
        return self.arch_sampler.uses_tau or self.weight_sampler.uses_tau

    def temperature(self, epoch: int) -> float:
        """tau during 1-based ``epoch``: linear from ``tau_max`` to ``tau_min`` after the warm-up (GDAS's schedule)."""
        c = self.config
        return temperature(epoch, int(c["epochs"]), float(c["tau_max"]), float(c["tau_min"]),
                           int(c.get("warmup_epochs", 0)))

    def begin_epoch(self, epoch: int) -> None:
        """Per-epoch schedules; an overriding ``train_epoch`` calls it first."""
        if self.uses_tau:
            self.tau = self.temperature(epoch)

    def draw_arch_weights(self) -> dict[str, torch.Tensor]:
        """This architecture step's mixing weights, differentiable in the architecture parameters."""
        return self.arch_sampler.draw(self.relaxation, self.generator, self.tau)

    def run_supernet(self, net: nn.Module, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The supernet's forward, asking it for zero-weight scalars when ``unsampled_grad`` is ``scalar``."""
        return net(x, weights) if self.zero_ops == "skip" else net(x, weights, zero_ops=self.zero_ops)

    # -- the iteration -----------------------------------------------------------------------------
    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        from methods.loop import alternating_epoch

        self.begin_epoch(ctx.epoch)
        return alternating_epoch(self, ctx)

    def updates_architecture(self, epoch: int) -> bool:
        """False during the warm-up epochs in which only the weights train."""
        return epoch > int(self.config.get("warmup_epochs", 0))

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.run_supernet(net, x, self.draw_arch_weights()), y)

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        """First-order step: the gradient of the loss on ``arch_batch`` w.r.t. the architecture only."""
        self.arch_optimizer.zero_grad(set_to_none=True)
        loss = self.arch_loss(ctx.net, arch_batch)
        loss.backward(inputs=list(self.relaxation.parameters()))
        self.arch_optimizer.step()
        self.arch_steps_total += 1

    def training_weights(self) -> dict[str, torch.Tensor]:
        """Mixing weights for the weight step, a fresh draw of the weight sampler (constants there: no
        architecture gradient)."""
        with torch.no_grad():
            return {k: v.detach() for k, v in self.weight_sampler.draw(self.relaxation, self.generator,
                                                                        self.tau).items()}

    def step_weights(self, ctx: EpochContext, weight_batch: Batch) -> dict[str, torch.Tensor]:
        """Mixing weights of one weight step of the alternating loop: ``training_weights`` unless the method
        needs the step's batch (SDARTS-ADV's adversarial perturbation of them)."""
        return self.training_weights()

    def after_weight_step(self, ctx: EpochContext) -> None:
        """Called by the alternating loop after each weight step, gradients still in place (OLES reads them)."""

    def eval_weights(self) -> dict[str, torch.Tensor]:
        """Mixing weights for evaluating the supernet as a continuous relaxation: the weight step's, or, where
        those are random draws, the relaxation's own deterministic weights (softmax(alpha), theta, a mean)."""
        if not self.weight_sampler.stochastic:
            return self.training_weights()
        with torch.no_grad():
            return {k: v.detach() for k, v in self.relaxation.mixing_weights().items()}

    # -- what the runner reads ---------------------------------------------------------------------
    def derive(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        return self.relaxation.derive()

    def tied_decisions(self) -> int:
        """Decisions ``derive`` had to break a tie on (by index order); the runner records no architecture while
        this is positive and no architecture step has been taken (a uniform start is not a derived cell)."""
        return self.relaxation.tied_decisions()

    def probabilities(self) -> dict[str, torch.Tensor]:
        return self.relaxation.probabilities()

    def epoch_fields(self) -> dict[str, float]:
        """Method-specific per-epoch values for the store (architecture LR, step counts, ...)."""
        fields = {"arch_steps_total": float(self.arch_steps_total)}
        if self.arch_optimizer is not None:
            fields["lr_arch"] = float(self.arch_optimizer.param_groups[0]["lr"])
        if self.arch_sampler.uses_tau:
            fields.update(self.tau_fields())
        return fields

    def tau_fields(self) -> dict[str, float]:
        """tau and H_ops_tau, the mean entropy of softmax(logits / tau) over the op rows (spec 6.3.2)."""
        with torch.no_grad():
            logits = self.relaxation.logits()
            rows = [torch.softmax(logits[g.name] / self.tau, dim=-1).cpu() for g in self.space.groups
                    if g.role == "ops"]
        return {"tau": self.tau, "H_ops_tau": mean_entropy(torch.cat(rows))}

    def state_dict(self) -> dict[str, Any]:
        return {
            "relaxation": self.relaxation.state_dict(),
            "arch_optimizer": None if self.arch_optimizer is None else self.arch_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "arch_steps_total": self.arch_steps_total,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.relaxation.load_state_dict(state["relaxation"])
        if self.arch_optimizer is not None:
            self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.generator.set_state(state["generator"])
        self.arch_steps_total = int(state["arch_steps_total"])


SETTINGS = ("bilevel", "erm")

#: Settings every method defines, declared once here; an entry's ``types`` re-declares one whose meaning differs
#: for it (the black-box baselines' ``epochs`` are checkpoints of a simulated budget).
COMMON_TYPES: dict[str, Setting] = {
    "epochs": integer(ge=1, help="search epochs"),
    "warmup_epochs": integer(ge=0, help="first epochs that train the weights only (must be fewer than epochs)"),
    "exclude_none": boolean(help="drop the 'none' op from the search space"),
}


@dataclass(frozen=True)
class QuotedResult:
    """A number the method's own paper (or a peer library's paper) reports on a benchmark, quoted with its
    source: the cross-method report shows it as a reference row beside our runs. Nothing here is computed."""

    benchmark: str  # nb201, nb301, ...
    dataset: str  # cifar10, cifar100, ImageNet16-120
    metric: str  # "test_acc" (NB201 test accuracy, %) or "test_error" (DARTS space after retraining, %)
    mean: float
    std: float | None
    source: str  # authors, year, venue, table; and the setting when the paper gives several (e.g. "transfer")


@dataclass(frozen=True)
class MethodEntry:
    """A registry row: a method module lists its entries in a module-level ``ENTRIES`` tuple."""

    name: str
    cls: type[SearchMethod]
    families: tuple[str, ...]
    title: str
    paper: str
    relaxation: str
    update_rule: str
    default_setting: str
    defaults: Mapping[str, Any]
    settings: tuple[str, ...] = SETTINGS
    #: benchmark name -> overrides of ``defaults`` that the paper states for that benchmark
    per_benchmark: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: documented choices: option -> "paper value (default) | alternative (source)"
    choices: Mapping[str, str] = field(default_factory=dict)
    #: position in listings (papers' order); ties broken by name
    order: int = 100
    #: numbers the method's paper reports (reference rows of the cross-method report)
    quoted: tuple[QuotedResult, ...] = ()
    #: benchmark name -> why the method cannot search it (its space lacks what the method needs); ``--methods
    #: all`` there skips the method, naming it is an error with this reason
    refusals: Mapping[str, str] = field(default_factory=dict)
    #: type and valid range of each setting in ``defaults`` / ``per_benchmark`` (``COMMON_TYPES`` are implied)
    types: Mapping[str, Setting] = field(default_factory=dict)
    #: bumped whenever what the method computes changes: part of the run id, so older runs are superseded
    version: int = 1

    @property
    def needs_supernet(self) -> bool:
        return self.cls.needs_supernet

    @property
    def setting_types(self) -> dict[str, Setting]:
        """The declarations of this method's settings (common ones included)."""
        return {**COMMON_TYPES, **self.types}

    def create(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
               device: torch.device | str = "cpu") -> SearchMethod:
        return self.cls(space, config, generator, device)

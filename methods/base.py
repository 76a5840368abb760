"""What every search method is: a relaxation, an architecture update rule and an epoch loop.

A method owns its iteration (``train_epoch``) so that second-order and scheduled methods can express
their real loop, while the common alternating loop (``methods.loop``) is written once and reused.
Methods see only the decisions contract: the supernet is called with the mixing weights per group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import SearchSpace
from methods.relaxations import Relaxation
from nasbench_settings import Setting, boolean, integer

Batch = tuple[torch.Tensor, torch.Tensor]


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

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        self.space = space
        self.config = dict(config)
        self.generator = generator  # CPU generator: initial values do not depend on the device
        self.relaxation = self.build_relaxation().to(device)
        self.arch_optimizer = self.build_arch_optimizer()
        self.arch_steps_total = 0

    # -- what a subclass defines ------------------------------------------------------------------
    def build_relaxation(self) -> Relaxation:
        raise NotImplementedError

    def build_arch_optimizer(self) -> torch.optim.Optimizer | None:
        """None for methods without learned architecture parameters (RS-WS)."""
        raise NotImplementedError

    # -- the iteration -----------------------------------------------------------------------------
    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        from methods.loop import alternating_epoch

        return alternating_epoch(self, ctx)

    def updates_architecture(self, epoch: int) -> bool:
        """False during the warm-up epochs in which only the weights train."""
        return epoch > int(self.config.get("warmup_epochs", 0))

    def arch_loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(net(x, self.relaxation.mixing_weights()), y)

    def arch_step(self, ctx: EpochContext, arch_batch: Batch, weight_batch: Batch) -> None:
        """First-order step: the gradient of the loss on ``arch_batch`` w.r.t. the architecture only."""
        self.arch_optimizer.zero_grad(set_to_none=True)
        loss = self.arch_loss(ctx.net, arch_batch)
        loss.backward(inputs=list(self.relaxation.parameters()))
        self.arch_optimizer.step()
        self.arch_steps_total += 1

    def training_weights(self) -> dict[str, torch.Tensor]:
        """Mixing weights for the weight step (constants there: no architecture gradient)."""
        return {k: v.detach() for k, v in self.relaxation.mixing_weights().items()}

    def eval_weights(self) -> dict[str, torch.Tensor]:
        """Mixing weights for evaluating the supernet as a continuous relaxation."""
        return self.training_weights()

    # -- what the runner reads ---------------------------------------------------------------------
    def derive(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        return self.relaxation.derive()

    def probabilities(self) -> dict[str, torch.Tensor]:
        return self.relaxation.probabilities()

    def epoch_fields(self) -> dict[str, float]:
        """Method-specific per-epoch values for the store (architecture LR, step counts, ...)."""
        fields = {"arch_steps_total": float(self.arch_steps_total)}
        if self.arch_optimizer is not None:
            fields["lr_arch"] = float(self.arch_optimizer.param_groups[0]["lr"])
        return fields

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

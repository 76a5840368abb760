"""The one registry of search methods: name -> implementation, paper, update rule and paper preset.

``harness methods`` prints this table; ``--methods`` accepts exact names, families and ``all``.
Defaults are the paper's values; where the spec flags a value AMBIGUOUS or INCONSISTENT, or the
released code differs from the paper, the alternative is a named option listed in ``choices``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmarks.space import SearchSpace
from harness.errors import ConfigError
from methods.base import SearchMethod
from methods.darts import Darts
from methods.gaea import GaeaDarts

SETTINGS = ("bilevel", "erm")


@dataclass(frozen=True)
class MethodEntry:
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

    def create(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
               device: torch.device | str = "cpu") -> SearchMethod:
        return self.cls(space, config, generator, device)


_DARTS_ARCH_ADAM = {"arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3, "arch_init_scale": 1e-3}

_ENTRIES: tuple[MethodEntry, ...] = (
    MethodEntry(
        name="darts",
        cls=Darts,
        families=("darts",),
        title="DARTS (first order)",
        paper="Liu, Simonyan, Yang. DARTS: Differentiable Architecture Search. ICLR 2019",
        relaxation="softmax(alpha) mixture per decision",
        update_rule="alpha <- Adam(grad_alpha L_arch(w, alpha)); w <- SGD(grad_w L_train)",
        default_setting="bilevel",
        defaults={**_DARTS_ARCH_ADAM, "epochs": 50, "warmup_epochs": 0, "exclude_none": False},
        per_benchmark={"nb201": {"exclude_none": True}},
        choices={
            "exclude_none": "True on NB201 as GAEA ran its DARTS baseline (P0 C.3) | False: full 15,625 cells",
        },
    ),
    MethodEntry(
        name="gaea-darts",
        cls=GaeaDarts,
        families=("gaea", "darts"),
        title="GAEA DARTS (first order)",
        paper="Li, Khodak, Balcan, Talwalkar. Geometry-Aware Gradient Algorithms for NAS. ICLR 2021",
        relaxation="theta on the per-decision simplex (no softmax)",
        update_rule="theta <- normalize(theta * exp(-0.1 grad_theta L_arch(w, theta))); w <- SGD(grad_w L_train)",
        default_setting="erm",
        defaults={"arch_lr": 0.1, "eg_floor": 0.0, "epochs": 25, "warmup_epochs": 0, "exclude_none": False},
        per_benchmark={"nb201": {"exclude_none": True}},
        choices={
            "eg_floor": "0 (paper Eq. 8) | 1e-5 (released code clamps, then renormalizes)",
            "scheduler_epochs": "= epochs (paper: 'cosine') | 50 (released NB201 command: cosine over 50, search 25)",
            "exclude_none": "True on NB201 (P0 C.3) | False",
        },
    ),
)

REGISTRY: dict[str, MethodEntry] = {e.name: e for e in _ENTRIES}


def families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in _ENTRIES:
        for f in e.families:
            out.setdefault(f, []).append(e.name)
    return out


def get(name: str) -> MethodEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown method {name!r}; valid methods: {', '.join(REGISTRY)} "
            f"(families: {', '.join(families())}, or 'all')"
        ) from None


def resolve_methods(spec: str | Sequence[str]) -> list[str]:
    """Expand a comma list of names, families and ``all`` into method names, in registry order.

    An exact method name wins over a family of the same name (``darts`` is DARTS itself).
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    fams = families()
    wanted: set[str] = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item == "all":
            wanted.update(REGISTRY)
        elif item in REGISTRY:
            wanted.add(item)
        elif item in fams:
            wanted.update(fams[item])
        else:
            get(item)  # raises the error listing valid names
    if not wanted:
        raise ConfigError("no method given; pass --methods with names, families or 'all' (see `harness methods`)")
    return [n for n in REGISTRY if n in wanted]

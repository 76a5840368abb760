"""How a step's mixing weights are drawn: the sampler component every search method names.

A method's relaxation holds the architecture parameters; a *sampler* turns them into the mixing weights
the supernet runs for one step, one [rows, width] tensor per decision group. Samplers draw their noise
on the CPU from the run's seeded generator (``SearchMethod.generator``, saved in checkpoints), group by
group in the space's order, so a run draws the same weights on any device and after a resume.

Samplers (``SAMPLERS``; the name is what configs and entries use):

============== ============================================================= ================== =========
name           weights of a row                                              reads              tau
============== ============================================================= ================== =========
dense          the relaxation's own mixing weights (softmax(alpha), theta    ``mixing_weights`` no
               on the simplex, edge-normalized): DARTS, GAEA, PC-DARTS
gumbel-hard    h = onehot(argmax p) - sg(p) + p, p = softmax((l + g)/tau):   ``logits``         yes
               one-hot forward, straight-through gradient (GDAS)
gumbel-soft    p = softmax((l + g)/tau), dense (SNAS; GDAS's edge rows)      ``logits``         yes
reinmax        one-hot sample of softmax(l), ReinMax's second-order gradient ``logits``         yes (>= 1)
dirichlet      w ~ Dir(beta), pathwise gradient (DrNAS)                      ``concentrations`` no
uniform-path   one-hot weights of a uniformly drawn valid selection, no      ``mask``           no
               gradient (RS-WS's and SETN's weight steps)
============== ============================================================= ================== =========

``g`` is Gumbel(0, 1) noise, ``l`` the relaxation's ``logits()`` (log-probabilities, -inf on padding).

API (for methods; one object per step kind):

- ``RoleSampler.named(ops, edges=None)``: the sampler for rows of role ``ops`` and for rows of role
  ``edges`` (the decisions contract's ``DecisionGroup.role``; ``None`` = the same as ``ops``). GDAS uses
  ``RoleSampler.named("gumbel-hard", "gumbel-soft")``: one sampled op per operation row, soft input/output
  weights, whatever the benchmark. Unknown names raise ``ConfigError``.
- ``sampler.draw(relaxation, generator, tau=1.0) -> {group: weights}``: differentiable where the sampler is.
- ``sampler.uses_tau`` (a temperature schedule applies) and ``sampler.stochastic``.
- ``SearchMethod`` builds two of them from its class attribute ``sampling`` and the config keys of the same
  names (``sampler``, ``edge_sampler``, ``weight_sampler``; see ``methods.base``): ``method.arch_sampler``
  (``method.draw_arch_weights()``, differentiable, what the default ``arch_loss`` runs through
  ``method.run_supernet``) and ``method.weight_sampler`` (``method.training_weights()``, detached). A sampler
  with a temperature gets ``method.tau``, set each epoch by ``temperature()`` below from the config's
  ``tau_max``/``tau_min`` (``check_temperatures`` validates them). A new stochastic method is then a
  relaxation, an optimizer and these names; a new sampler is a ``Sampler`` subclass added to ``SAMPLERS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from benchmarks.space import DecisionGroup, one_hot_weights
from methods import gumbel
from methods.dirichlet import dirichlet_rsample
from nasbench_errors import ConfigError
from nasbench_settings import number, one_of

if TYPE_CHECKING:
    from methods.relaxations import Relaxation

ROLES = ("ops", "edges")


def temperature(epoch: int, epochs: int, tau_max: float, tau_min: float, warmup: int = 0) -> float:
    """tau during 1-based ``epoch``: tau_max - (tau_max - tau_min) * max(epoch - 1 - warmup, 0) / (epochs - 1).

    The released GDAS codes' formula with their 0-based epoch; it reaches tau_min in the last epoch only when
    there is no warm-up (with the released GAEA GDAS warm-up of 50 of 150 epochs it ends at 3.42).
    """
    frac = max(epoch - 1 - warmup, 0) / max(epochs - 1, 1)
    return (1 - frac) * tau_max + frac * tau_min  # the same line, written to hit both endpoints exactly


def check_temperatures(config: Mapping[str, Any], samplers: Iterable[RoleSampler] = ()) -> None:
    """``0 < tau_min <= tau_max``, and tau_min at least what every sampler in ``samplers`` accepts."""
    low, high = float(config["tau_min"]), float(config["tau_max"])
    if not 0 < low <= high:
        raise ConfigError(f"tau_min={config['tau_min']} and tau_max={config['tau_max']} need "
                          "0 < tau_min <= tau_max; set them with --set tau_min=... tau_max=...")
    for sampler in (s for role_sampler in samplers for s in role_sampler.by_role.values()):
        if low < sampler.min_tau:
            raise ConfigError(f"tau_min={config['tau_min']} is below {sampler.min_tau}, the lowest temperature the "
                              f"{sampler.name} sampler takes; set --set tau_min={sampler.min_tau}")


class Sampler(ABC):
    """Draws one group's mixing weights for a step from what it reads of the relaxation (``source``)."""

    name: ClassVar[str]
    #: the ``Relaxation`` method whose per-group output ``draw`` receives
    source: ClassVar[str]
    stochastic: ClassVar[bool] = True
    uses_tau: ClassVar[bool] = False
    #: the lowest temperature the estimator is defined for
    min_tau: ClassVar[float] = 0.0

    @abstractmethod
    def draw(self, rows: torch.Tensor, group: DecisionGroup, generator: torch.Generator, tau: float) -> torch.Tensor:
        """The group's [rows, width] mixing weights for one step."""


class Dense(Sampler):
    name, source, stochastic = "dense", "mixing_weights", False

    def draw(self, rows: torch.Tensor, group: DecisionGroup, generator: torch.Generator, tau: float) -> torch.Tensor:
        return rows


class _Gumbel(Sampler):
    source, uses_tau = "logits", True
    estimator: ClassVar[gumbel.Estimator]

    def draw(self, rows: torch.Tensor, group: DecisionGroup, generator: torch.Generator, tau: float) -> torch.Tensor:
        return gumbel.sample_with(type(self).estimator, rows, tau, generator)


class GumbelHard(_Gumbel):
    name, estimator = "gumbel-hard", staticmethod(gumbel.straight_through)


class GumbelSoft(_Gumbel):
    name, estimator = "gumbel-soft", staticmethod(gumbel.soft)


class ReinMax(_Gumbel):
    name, estimator, min_tau = "reinmax", staticmethod(gumbel.reinmax), 1.0


class Dirichlet(Sampler):
    name, source = "dirichlet", "concentrations"

    def draw(self, rows: torch.Tensor, group: DecisionGroup, generator: torch.Generator, tau: float) -> torch.Tensor:
        return dirichlet_rsample(rows, group.mask.to(rows.device), generator)


class UniformPath(Sampler):
    name, source = "uniform-path", "mask"

    def draw(self, rows: torch.Tensor, group: DecisionGroup, generator: torch.Generator, tau: float) -> torch.Tensor:
        return one_hot_weights(group, group.uniform_sample(generator)).to(rows.device)


SAMPLERS: dict[str, Sampler] = {s.name: s for s in (Dense(), GumbelHard(), GumbelSoft(), ReinMax(), Dirichlet(),
                                                      UniformPath())}


#: the temperature schedule tau_max -> tau_min (the Gumbel samplers, PR-DARTS's hard-concrete gates)
TEMPERATURE_TYPES = {
    "tau_max": number(gt=0, help="temperature at the first searched epoch"),
    "tau_min": number(gt=0, help="temperature at the last epoch (0 < tau_min <= tau_max)"),
}
#: the config keys that name a method's samplers (``RoleSampler.from_config``)
SAMPLER_TYPES = {
    "sampler": one_of(*SAMPLERS, help="how the architecture step draws the op rows' mixing weights"),
    "edge_sampler": one_of(*SAMPLERS, help="how the architecture step draws the input (edge) rows' weights"),
    "weight_sampler": one_of(*SAMPLERS, help="how the weight step draws its mixing weights"),
}


def get_sampler(name: str, key: str = "sampler") -> Sampler:
    if name not in SAMPLERS:
        raise ConfigError(f"{key}={name!r} is not a sampler; use one of {', '.join(SAMPLERS)} (--set {key}=...)")
    return SAMPLERS[name]


@dataclass(frozen=True)
class RoleSampler:
    """One sampler per decision role: what a step of a method draws for every group of the space."""

    by_role: Mapping[str, Sampler]

    @classmethod
    def named(cls, ops: str, edges: str | None = None, key: str = "sampler") -> RoleSampler:
        op_sampler = get_sampler(ops, key)
        return cls({"ops": op_sampler, "edges": op_sampler if edges is None else get_sampler(edges, "edge_" + key)})

    @property
    def uses_tau(self) -> bool:
        return any(s.uses_tau for s in self.by_role.values())

    @property
    def stochastic(self) -> bool:
        return any(s.stochastic for s in self.by_role.values())

    def sampler_for(self, group: DecisionGroup) -> Sampler:
        return self.by_role[group.role]

    def draw(self, relaxation: Relaxation, generator: torch.Generator, tau: float = 1.0) -> dict[str, torch.Tensor]:
        """{group: weights} for one step, drawn group by group in the space's order."""
        sources: dict[str, Mapping[str, torch.Tensor]] = {}
        out = {}
        for g in relaxation.groups:
            sampler = self.sampler_for(g)
            if sampler.source not in sources:
                sources[sampler.source] = (_masks(relaxation) if sampler.source == "mask"
                                           else getattr(relaxation, sampler.source)())
            out[g.name] = sampler.draw(sources[sampler.source][g.name], g, generator, tau)
        return out


def _masks(relaxation: Relaxation) -> dict[str, torch.Tensor]:
    return {g.name: relaxation.mask(g.name) for g in relaxation.groups}

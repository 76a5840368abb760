"""REA: regularized (aging) evolution, Real et al. AAAI 2019, Algorithm 1, as NAS-Bench-201 runs it.

A population of ``rea_population`` cells is filled with uniform draws; then each cycle samples
``rea_sample`` members with replacement, mutates the best of them (the first on ties) by changing the op
of one edge to a different op, evaluates the child, appends it and removes the oldest member. Defaults
are the reference's (``scripts-search/NAS-Bench-201-algos/R-EA.sh``: population 10, sample size 3).

The mutated edge is drawn as ``R_EA.py`` draws it: a node uniformly, then one of its input edges
(``rea_mutation = node``; edge 1<-0 is picked with probability 1/3, each edge into node 3 with 1/9);
``uniform`` draws the edge uniformly instead. The reported entropy is that of the op frequencies per
edge over the current population (uniform before the first member): how diverse the population is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from benchmarks.space import SearchSpace
from methods.base import MethodEntry
from methods.blackbox import BLACKBOX_CHOICES, BLACKBOX_DEFAULTS, BLACKBOX_TYPES, Arch, BlackBoxMethod
from nasbench_errors import ConfigError
from nasbench_settings import integer, one_of

MUTATIONS = ("node", "uniform")


class RegularizedEvolution(BlackBoxMethod):
    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        for key in ("rea_population", "rea_sample"):
            if int(config[key]) < 1:
                raise ConfigError(f"{key}={config[key]} must be >= 1; fix it with --set {key}=...")
        if config["rea_mutation"] not in MUTATIONS:
            raise ConfigError(f"rea_mutation={config['rea_mutation']!r}; valid: {', '.join(MUTATIONS)}")
        super().__init__(space, config, generator, device)
        self.population: list[tuple[Arch, float]] = []  # oldest first
        self.units = self.mutation_units(str(config["rea_mutation"]))

    def propose(self) -> Arch:
        if len(self.population) < int(self.config["rea_population"]):
            return self.random_arch()
        return self.mutate(self.tournament(), self.units)

    def tournament(self) -> Arch:
        """The best of ``rea_sample`` members drawn with replacement (the first drawn on ties)."""
        sample = [self.population[self.randint(len(self.population))] for _ in range(int(self.config["rea_sample"]))]
        return max(sample, key=lambda member: member[1])[0]

    def observe(self, arch: Arch, score: float) -> None:
        self.population.append((arch, score))
        if len(self.population) > int(self.config["rea_population"]):
            self.population.pop(0)  # aging: the oldest goes, however good

    def probabilities(self) -> dict[str, torch.Tensor]:
        """Op frequencies per edge over the population; the uniform draw distribution while it is empty."""
        return self.frequencies([arch for arch, _ in self.population])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population": [(list(a), s) for a, s in self.population]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = [(tuple(a), float(s)) for a, s in state["population"]]


ENTRIES = (
    MethodEntry(
        name="rea",
        cls=RegularizedEvolution,
        families=("black-box",),
        title="REA (regularized evolution, black-box)",
        paper="Real, Aggarwal, Huang, Le. Regularized Evolution for Image Classifier Architecture Search. AAAI 2019",
        relaxation="none: a population of cells, no supernet",
        update_rule="tournament of 3 from a population of 10, mutate the winner's op on one edge, add the "
                    "child, drop the oldest; hp12 validation accuracy, simulated budget",
        default_setting="bilevel",
        defaults={**BLACKBOX_DEFAULTS, "rea_population": 10, "rea_sample": 3, "rea_mutation": "node"},
        settings=("bilevel",),
        choices={**BLACKBOX_CHOICES,
                 "rea_mutation": "node: a node, then one of its edges (R_EA.py) | uniform: an edge uniformly"},
        order=0,
        types={**BLACKBOX_TYPES, "rea_population": integer(ge=1, help="population size"),
               "rea_sample": integer(ge=1, help="tournament size (drawn with replacement)"),
               "rea_mutation": one_of(*MUTATIONS, help="how the tournament winner is mutated")},
    ),
)

"""Local search (White, Nolen, Savani. Exploring the Loss Landscape in Neural Architecture Search. UAI 2021),
black-box, as the authors' release runs it (naszilla ``nas_algorithms.local_search``).

A round starts from the best of ``ls_init`` new uniform cells. Its neighbourhood is every cell that differs
in the op of exactly one edge, visited in a random order; a neighbour evaluated before (in any round) is
skipped, not re-evaluated. ``ls_improvement = first`` (the release's default, ``query_full_nbhd=False``) moves
to the first neighbour better than the current cell and visits its neighbourhood; ``best`` (the release's
``query_full_nbhd=True``) evaluates the whole neighbourhood and moves to its best cell if that is better.
A neighbourhood with no better cell is a local optimum: the next round restarts from new random cells (the
release's ``stop_at_minimum=True``). Better means a strictly higher search signal (the release: a strictly
lower validation loss). The reported cell is the best evaluated one, as for every black-box method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from benchmarks.space import SearchSpace
from methods.base import MethodEntry
from methods.blackbox import BLACKBOX_CHOICES, BLACKBOX_DEFAULTS, BLACKBOX_TYPES, Arch, BlackBoxMethod
from methods.options import choice
from nasbench_errors import ConfigError
from nasbench_settings import integer, one_of

IMPROVEMENTS = ("first", "best")


class LocalSearch(BlackBoxMethod):
    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        if int(config["ls_init"]) < 1:
            raise ConfigError(f"ls_init={config['ls_init']} must be >= 1; fix it with --set ls_init=10")
        self.first = choice(config, "ls_improvement", IMPROVEMENTS) == "first"
        super().__init__(space, config, generator, device)
        self.evaluated: dict[Arch, float] = {}  # every evaluated cell (never evaluated twice)
        self.starts: list[tuple[Arch, float]] = []  # the random cells of the current round's start
        self.current: tuple[Arch, float] | None = None  # the cell whose neighbourhood is being visited
        self.to_visit: list[Arch] = []  # its neighbours not visited yet, in visiting order
        self.best_neighbour: tuple[Arch, float] | None = None  # ``best``: the best neighbour evaluated so far
        self.rounds = 0
        self.moves = 0

    def propose(self) -> Arch:
        while True:
            if self.current is None:  # starting a round: new random cells
                return self.new_random_arch(self.evaluated)
            while self.to_visit:
                arch = self.to_visit.pop(0)
                if arch not in self.evaluated:
                    return arch
            self.end_of_neighbourhood()

    def observe(self, arch: Arch, score: float) -> None:
        self.evaluated[arch] = score
        if self.current is None:
            self.starts.append((arch, score))
            if len(self.starts) == int(self.config["ls_init"]):
                self.move_to(max(self.starts, key=lambda s: s[1]))  # the first of equals, as Python's sorted
                self.starts = []
            return
        if score > self.current[1]:
            if self.first:
                self.move_to((arch, score))
            elif self.best_neighbour is None or score > self.best_neighbour[1]:
                self.best_neighbour = (arch, score)

    def move_to(self, cell: tuple[Arch, float]) -> None:
        """Visit ``cell``'s neighbourhood next, in a fresh random order."""
        if self.current is not None:
            self.moves += 1
        self.current, self.best_neighbour = cell, None
        self.to_visit = self.shuffled(self.neighbours(cell[0]))

    def end_of_neighbourhood(self) -> None:
        """Move to the best better neighbour (``best``), or restart: a local optimum."""
        if self.best_neighbour is not None:
            self.move_to(self.best_neighbour)
        else:
            self.current, self.to_visit = None, []
            self.rounds += 1

    def probabilities(self) -> dict[str, torch.Tensor]:
        """Op frequencies per edge over the evaluated cells (uniform before the first)."""
        return self.frequencies(list(self.evaluated))

    def epoch_fields(self) -> dict[str, float]:
        return {**super().epoch_fields(), "local_optima": float(self.rounds), "moves": float(self.moves)}

    def state_dict(self) -> dict[str, Any]:
        def cell(c: tuple[Arch, float] | None) -> Any:
            return None if c is None else (list(c[0]), c[1])

        return {**super().state_dict(), "evaluated": [(list(a), s) for a, s in self.evaluated.items()],
                "starts": [cell(c) for c in self.starts], "current": cell(self.current),
                "to_visit": [list(a) for a in self.to_visit], "best_neighbour": cell(self.best_neighbour),
                "rounds": self.rounds, "moves": self.moves}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        def cell(c: Any) -> tuple[Arch, float] | None:
            return None if c is None else (tuple(c[0]), float(c[1]))

        super().load_state_dict(state)
        self.evaluated = {tuple(a): float(s) for a, s in state["evaluated"]}
        self.starts = [cell(c) for c in state["starts"]]
        self.current, self.best_neighbour = cell(state["current"]), cell(state["best_neighbour"])
        self.to_visit = [tuple(a) for a in state["to_visit"]]
        self.rounds, self.moves = int(state["rounds"]), int(state["moves"])


ENTRIES = (
    MethodEntry(
        name="local-search",
        cls=LocalSearch,
        families=("black-box",),
        title="Local search (black-box)",
        paper="White, Nolen, Savani. Exploring the Loss Landscape in Neural Architecture Search. UAI 2021",
        relaxation="none: a current cell and its one-op neighbourhood, no supernet",
        update_rule="start from the best of 10 random cells; visit the one-op neighbours in random order, move "
                    "to the first better one; at a local optimum restart; hp12 validation accuracy, simulated "
                    "budget",
        default_setting="bilevel",
        defaults={**BLACKBOX_DEFAULTS, "ls_init": 10, "ls_improvement": "first"},
        settings=("bilevel",),
        choices={**BLACKBOX_CHOICES,
                 "ls_improvement": "first (release default, query_full_nbhd=False) | best (query_full_nbhd=True: "
                                   "the whole neighbourhood, then its best)"},
        order=3,
        types={**BLACKBOX_TYPES,
               "ls_init": integer(ge=1, help="random cells evaluated to pick each round's start (the best of them)"),
               "ls_improvement": one_of(*IMPROVEMENTS, help="move to the first better neighbour, or to the best "
                                                            "of the whole neighbourhood")},
    ),
)

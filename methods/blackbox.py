"""Black-box baselines (GAEA Table 2, top block): searches that query the benchmark table alone.

No supernet and no images (``needs_supernet = False``): the runner hands ``run_epoch`` an ``Evaluate``
callable that returns, for one cell, the search signal and its simulated cost. On NAS-Bench-201 that is
the benchmark's protocol for these baselines (AutoDL-Projects ``exps/NAS-Bench-201-algos``): the
validation accuracy after the 12-epoch schedule (``signal_budget = hp12``) and 12 x the cell's recorded
training seconds per epoch, against a total simulated budget (``time_budget``, 12,000 s).

Budget convention (the reference's, ``RANDOM.py`` and ``R_EA.py``): candidates are evaluated in order and
the search ends at the first one whose cost would take the total past the budget; that candidate is
not counted. The run's ``epochs`` are checkpoints evenly spaced over the budget: epoch e records the
state after every evaluation that completes by e/epochs x budget, so a kill/resume at any checkpoint
gives the same result (the next candidate, drawn but not yet finished, is part of the state).

The reported architecture is the best evaluated cell by search signal (the first on ties), as in the
reference; the runner looks it up at ``oracle_budget`` (hp200) like any derived architecture.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from benchmarks.space import SearchSpace, Selection
from methods.base import SearchMethod
from methods.relaxations import Relaxation
from methods.rsws import Uniform, space_size
from nasbench_errors import ConfigError, RunFailed
from nasbench_settings import integer, number, one_of

#: One option index per decision, over the space's groups in order (every decision picks one option).
Arch = tuple[int, ...]
#: selection -> (search signal, e.g. validation accuracy in %, simulated seconds of obtaining it)
Evaluate = Callable[[Selection], tuple[float, float]]

#: The NAS-Bench-201 protocol shared by every black-box entry (scripts-search/NAS-Bench-201-algos/*.sh).
BLACKBOX_DEFAULTS: dict[str, Any] = {"epochs": 50, "time_budget": 12000.0, "signal_budget": "hp12",
                                     "exclude_none": False}
BLACKBOX_TYPES = {
    "epochs": integer(ge=1, help="checkpoints (rows) evenly spaced over the simulated budget, not training epochs"),
    "time_budget": number(gt=0, help="simulated seconds of training the search may spend"),
    "signal_budget": one_of("hp12", "hp200", help="training budget of the validation accuracy the search sees"),
}
BLACKBOX_CHOICES: dict[str, str] = {
    "time_budget": "12000 s (NB201 scripts, every dataset) | 20000 s (NATS-Bench algos-v2 default)",
    "epochs": "50 checkpoints of simulated time (harness choice: rows every 240 s of the 12,000 s budget)",
    "cost": "12 x training seconds per epoch (cost table) | the reference also adds one validation pass "
            "(NB201 valid-per-time), which the cost table lacks",
}


class BlackBoxMethod(SearchMethod):
    """Budget accounting and the evaluation loop; a subclass proposes candidates and observes their scores."""

    needs_supernet = False

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        wide = [d.name for g in space.groups for d in g.decisions if d.k != 1]
        if wide:
            raise ConfigError(f"black-box searches need decisions that pick one option; {space.name} decision "
                              f"{wide[0]!r} picks several")
        if not float(config["time_budget"]) > 0:
            raise ConfigError(f"time_budget={config['time_budget']} must be > 0 simulated seconds; "
                              "fix it with --set time_budget=12000")
        super().__init__(space, config, generator, "cpu")  # search state is tiny: it lives on the CPU
        self.rows = [(g, r) for g in space.groups for r in range(g.rows)]
        self.time_budget = float(config["time_budget"])
        self.elapsed = 0.0
        self.evaluations = 0
        self.best: Arch | None = None
        self.best_score = float("-inf")
        self.pending: Arch | None = None  # drawn, not yet affordable before the current checkpoint
        self.exhausted = False

    def build_relaxation(self) -> Relaxation:
        """The distribution candidates are drawn from; uniform unless a subclass learns one."""
        return Uniform(self.space)

    def build_arch_optimizer(self) -> torch.optim.Optimizer | None:
        return None

    # -- what a subclass defines ------------------------------------------------------------------
    def propose(self) -> Arch:
        raise NotImplementedError

    def observe(self, arch: Arch, score: float) -> None:
        """Learn from one finished evaluation (after the budget and the best were updated)."""

    # -- candidates --------------------------------------------------------------------------------
    def options(self, row: int) -> list[int]:
        """The real option indices of flat decision row ``row``."""
        group, r = self.rows[row]
        return [int(i) for i in group.mask[r].nonzero().flatten()]

    def random_arch(self) -> Arch:
        """A uniformly random cell (the space's own sampler, from the method's generator)."""
        return self.from_selection(self.space.uniform_selection_sample(self.generator))

    def randint(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.generator))

    def new_random_arch(self, seen: set[Arch] | dict[Arch, Any]) -> Arch:
        """A uniformly random cell not in ``seen`` (redrawn until it is new)."""
        if len(seen) >= space_size(self.space):
            raise RunFailed(f"every one of the {len(seen)} cells of {self.space.name} was evaluated; "
                            "lower time_budget")
        while True:
            arch = self.random_arch()
            if arch not in seen:
                return arch

    def neighbours(self, arch: Arch) -> list[Arch]:
        """Every cell that differs from ``arch`` in the option of exactly one decision, row by row."""
        return [(*arch[:row], option, *arch[row + 1:]) for row in range(len(self.rows))
                for option in self.options(row) if option != arch[row]]

    def shuffled(self, items: list[Arch]) -> list[Arch]:
        """``items`` in a random order drawn from the method's generator."""
        return [items[int(i)] for i in torch.randperm(len(items), generator=self.generator)]

    def mutation_units(self, mode: str) -> list[list[int]]:
        """Groups of flat rows a mutation first draws one of (then a row in it): per node (``node``, as NB201's
        ``R_EA.py``: a node, then one of its input edges) or one row each (``uniform``)."""
        if mode == "uniform":
            return [[i] for i in range(len(self.rows))]
        units, offset = [], 0
        for g in self.space.groups:
            nodes = g.nodes or tuple((r,) for r in range(g.rows))
            units += [[offset + r for r in node] for node in nodes]
            offset += g.rows
        return units

    def mutate(self, parent: Arch, units: list[list[int]]) -> Arch:
        """``parent`` with the option of one row changed to a different option, drawn uniformly: a unit, a row
        of it, an option."""
        unit = units[self.randint(len(units))]
        row = unit[self.randint(len(unit))]
        others = [o for o in self.options(row) if o != parent[row]]
        child = list(parent)
        child[row] = others[self.randint(len(others))]
        return tuple(child)

    def frequencies(self, archs: list[Arch]) -> dict[str, torch.Tensor]:
        """Option frequencies per decision over ``archs``; the uniform draw distribution when there are none.

        What a population-based search reports as its entropy: how diverse the cells it holds are."""
        if not archs:
            return super().probabilities()
        counts = {g.name: torch.zeros(g.rows, g.width) for g in self.space.groups}
        for arch in archs:
            for (g, r), option in zip(self.rows, arch, strict=True):
                counts[g.name][r, option] += 1
        return {name: c / len(archs) for name, c in counts.items()}

    def to_selection(self, arch: Arch) -> dict[str, tuple[tuple[int, ...], ...]]:
        out: dict[str, list[tuple[int, ...]]] = {g.name: [] for g in self.space.groups}
        for (group, _), option in zip(self.rows, arch, strict=True):
            out[group.name].append((int(option),))
        return {name: tuple(rows) for name, rows in out.items()}

    def from_selection(self, selection: Selection) -> Arch:
        return tuple(int(selection[g.name][r][0]) for g, r in self.rows)

    # -- the loop ----------------------------------------------------------------------------------
    def advance(self, until: float, evaluate: Evaluate) -> None:
        """Evaluate candidates in order while each completes by ``until`` simulated seconds; the search ends
        for good at the first candidate that would overrun ``time_budget``."""
        until = min(until, self.time_budget)
        while not self.exhausted:
            if self.pending is None:
                self.pending = self.propose()
            score, seconds = evaluate(self.to_selection(self.pending))
            if self.elapsed + seconds > self.time_budget:
                self.exhausted = True
            elif self.elapsed + seconds > until:
                return
            else:
                arch, self.pending = self.pending, None
                self.elapsed += seconds
                self.evaluations += 1
                if score > self.best_score:
                    self.best, self.best_score = arch, score
                self.observe(arch, score)

    def run_epoch(self, epoch: int, epochs: int, evaluate: Evaluate) -> None:
        """Advance to checkpoint ``epoch`` of ``epochs`` (the last one is the whole budget)."""
        self.advance(self.time_budget if epoch >= epochs else self.time_budget * epoch / epochs, evaluate)

    # -- what the runner reads ---------------------------------------------------------------------
    def derive(self) -> dict[str, tuple[tuple[int, ...], ...]] | None:
        """The best cell evaluated so far; None before the first evaluation."""
        return None if self.best is None else self.to_selection(self.best)

    def epoch_fields(self) -> dict[str, float]:
        return {"evaluations": float(self.evaluations), "simulated_seconds": self.elapsed,
                "best_search_score": float("nan") if self.best is None else self.best_score}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "elapsed": self.elapsed, "evaluations": self.evaluations,
                "best": self.best, "best_score": self.best_score, "pending": self.pending,
                "exhausted": self.exhausted}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.elapsed, self.evaluations = float(state["elapsed"]), int(state["evaluations"])
        self.best = None if state["best"] is None else tuple(state["best"])
        self.best_score = float(state["best_score"])
        self.pending = None if state["pending"] is None else tuple(state["pending"])
        self.exhausted = bool(state["exhausted"])

"""Regularized evolution (Real et al. 2019) on the surrogate: the regret zero of the NB301 oracle.

The DARTS space (~10^18 genotypes) cannot be enumerated, so the optimum is the best genotype a seeded,
fixed-budget search finds; it is recorded with that provenance. Aging evolution with tournaments of
``sample`` from a population of ``population``; each round breeds ``children`` mutants from as many
tournaments and scores them in one surrogate batch (``children = 1`` is the original sequential
algorithm). A mutation changes, in one cell chosen at random, either the op of one kept edge or one
input of one node (to another valid input), as in NAS-Bench-301's and NASLib's DARTS mutations.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.darts.genotype import CELL_OPS, CELLS, NODES, Genotype, input_pairs


def random_genotype(rng: np.random.Generator) -> Genotype:
    cells = []
    for _ in CELLS:
        pairs = []
        for node in NODES:
            a, b = input_pairs(node)[rng.integers(len(input_pairs(node)))]
            pairs += [(CELL_OPS[rng.integers(len(CELL_OPS))], a), (CELL_OPS[rng.integers(len(CELL_OPS))], b)]
        cells.append(tuple(pairs))
    return Genotype(*cells)


def mutate(genotype: Genotype, rng: np.random.Generator) -> Genotype:
    cells = {c: list(genotype.cell(c)) for c in CELLS}
    cell = cells[CELLS[rng.integers(len(CELLS))]]
    slot = int(rng.integers(len(cell)))
    op, src = cell[slot]
    node = NODES[slot // 2]
    other = cell[slot ^ 1][1]  # the node's other input
    inputs = [s for s in range(node) if s not in (src, other)]
    if inputs and rng.random() < 0.5:
        cell[slot] = (op, inputs[rng.integers(len(inputs))])
    else:
        ops = [o for o in CELL_OPS if o != op]
        cell[slot] = (ops[rng.integers(len(ops))], src)
    return Genotype(tuple(cells["normal"]), tuple(cells["reduce"]))


@dataclass(frozen=True)
class EvolutionResult:
    best: Genotype
    value: float
    queries: int


def regularized_evolution(score: Callable[[Sequence[Genotype]], np.ndarray], budget: int, seed: int,
                          population: int = 100, sample: int = 25, children: int = 50,
                          on_queries: Callable[[int, float], None] | None = None) -> EvolutionResult:
    """Maximize ``score`` (a batch of genotypes -> values) with ``budget`` queries; ``on_queries(done, best)``
    is called after each batch (progress of a search that takes minutes)."""
    report = on_queries or (lambda _done, _best: None)
    if not 0 < sample <= population <= budget or children < 1:
        raise ValueError(f"need 0 < sample ({sample}) <= population ({population}) <= budget ({budget}), "
                         f"children ({children}) >= 1")
    rng = np.random.default_rng(seed)
    first = [random_genotype(rng) for _ in range(population)]
    alive: deque[tuple[Genotype, float]] = deque(zip(first, score(first).tolist(), strict=True))
    best = max(alive, key=lambda gv: gv[1])
    queries = population
    report(queries, best[1])
    while queries < budget:
        members = list(alive)
        brood = []
        for _ in range(min(children, budget - queries)):
            picks = rng.choice(len(members), size=sample, replace=False)
            parent = max((members[i] for i in picks), key=lambda gv: gv[1])[0]
            brood.append(mutate(parent, rng))
        for child in zip(brood, score(brood).tolist(), strict=True):
            alive.append(child)
            alive.popleft()  # aging: the oldest dies, whatever its score
            best = child if child[1] > best[1] else best
        queries += len(brood)
        report(queries, best[1])
    return EvolutionResult(best[0], best[1], queries)

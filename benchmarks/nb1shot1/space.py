"""NAS-Bench-1Shot1 search spaces 1-3 as decisions, and their NAS-Bench-101 cells (spec 6.2.2).

A cell has an input (node 0), ``n`` choice blocks (nodes 1..n) and an output (node n+1). Each choice
block applies one op to the sum of its parents; node j takes exactly ``k_j`` parents among 0..j-1,
and the output ``k_out`` parents among 0..n (automl/nasbench-1shot1 ``num_parents_per_node``).

Decisions (the contract of ``benchmarks.space``):

- group ``ops`` (role ops): one row per choice block, 3 options in the reference's ``PRIMITIVES``
  order (maxpool3x3, conv3x3-bn-relu, conv1x1-bn-relu), k = 1;
- group ``edges`` (role edges): one row per choice block whose parents are a choice, then the output;
  options are the candidate parents (``input``, ``block 1``, ...), k = the required in-degree. Rows
  have different option counts and are padded (``DecisionGroup.mask``). Blocks whose parents are
  fixed (node 1 always; node 2 in space 1, whose parents are {0, 1}) are not decisions.

The NAS-Bench-101 cell of a selection has 7 vertices: spaces 1 and 2 have 4 choice blocks, so a
disconnected ``conv1x1-bn-relu`` dummy vertex is inserted before the output, as the reference's
``upscale_to_nasbench_format`` does; pruning removes it (and every block that does not reach the
output), so the benchmark hash never depends on it.

Every selection has an index (the oracle key): a mixed-radix number over the decisions, the edge
rows most significant and the op rows last, each digit the position of the chosen option set in
``itertools.combinations`` order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from benchmarks.nb101.graph import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, ModelSpec
from benchmarks.space import Decision, DecisionGroup, SearchSpace, Selection
from nasbench_errors import ConfigError

#: Op order of the 1Shot1 reference (``optimizers/darts/genotypes.py`` PRIMITIVES).
OPS: tuple[str, ...] = (MAXPOOL3X3, CONV3X3, CONV1X1)
PARAMETER_FREE: frozenset[str] = frozenset({MAXPOOL3X3})
NB101_VERTICES = 7


@dataclass(frozen=True)
class SpaceDefinition:
    """One 1Shot1 space: required in-degree of nodes 1..n and of the output; the [C] regret zeros."""

    number: int
    in_degrees: tuple[int, ...]  # nodes 1..n, then the output
    #: ``test_min_error`` / ``valid_min_error`` of the reference (minima over single repeats)
    reference_test_min_error: float
    reference_valid_min_error: float

    @property
    def n_blocks(self) -> int:
        return len(self.in_degrees) - 1


SPACES: dict[int, SpaceDefinition] = {
    1: SpaceDefinition(1, (1, 2, 2, 2, 2), 0.05448716878890991, 0.049278855323791504),
    2: SpaceDefinition(2, (1, 1, 2, 2, 3), 0.057592153549194336, 0.051582515239715576),
    3: SpaceDefinition(3, (1, 1, 1, 2, 2, 2), 0.05338543653488159, 0.04847759008407593),
}


def _combinations(n: int, k: int) -> list[tuple[int, ...]]:
    return list(itertools.combinations(range(n), k))


class NB1Shot1Space(SearchSpace):
    """Space 1, 2 or 3 of NAS-Bench-1Shot1."""

    def __init__(self, number: int) -> None:
        if number not in SPACES:
            raise ConfigError(f"unknown NAS-Bench-1Shot1 search space {number!r}; valid: 1, 2, 3 "
                              "(--set search_space=N)")
        self.definition = SPACES[number]
        self.number = number
        self.name = f"nb1shot1-ss{number}"
        n = self.definition.n_blocks
        self.op_names = OPS
        self.output_node = n + 1
        #: nodes (1..n+1) whose parents are chosen, in edge-row order (the output last)
        self.edge_nodes = tuple(j for j in range(1, n + 2) if math.comb(j, self.in_degree(j)) > 1)
        parents = ("input", *(f"block {b}" for b in range(1, n + 1)))
        # No node partitions (each ops row *is* a node, each edges row chooses a node's inputs), so PC-DARTS
        # adds no edge normalization: the input/output weights play that role in the reference. The ops
        # rows form the chain input -> block 1 -> ... -> output (PR-DARTS's path depth); there is no
        # skip op.
        self.groups = (
            DecisionGroup("ops", tuple(Decision(f"block {j} op", OPS, 1) for j in range(1, n + 1)),
                          role="ops", path_rows=tuple(range(n))),
            DecisionGroup("edges", tuple(
                Decision("output parents" if j == self.output_node else f"block {j} parents", parents[:j],
                         self.in_degree(j)) for j in self.edge_nodes), role="edges"),
        )

    @classmethod
    def from_option(cls, value: Any) -> NB1Shot1Space:
        """The space named by the ``search_space`` option (1, 2, 3, or their strings)."""
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = value
        return cls(number)

    @property
    def n_blocks(self) -> int:
        return self.definition.n_blocks

    def in_degree(self, node: int) -> int:
        return self.definition.in_degrees[node - 1]

    # -- selections <-> cells -----------------------------------------------------------------------
    def parents(self, selection: Selection) -> tuple[tuple[int, ...], ...]:
        """Parents of nodes 1..n+1 (fixed ones filled in)."""
        chosen = dict(zip(self.edge_nodes, selection["edges"], strict=True))
        return tuple(chosen.get(j, tuple(range(j))) for j in range(1, self.output_node + 1))

    def block_ops(self, selection: Selection) -> tuple[str, ...]:
        return tuple(OPS[row[0]] for row in selection["ops"])

    def spec(self, selection: Selection) -> ModelSpec:
        """The 7-vertex NAS-Bench-101 cell (with the dummy vertex in spaces 1 and 2), unpruned."""
        self.validate_selection(selection)
        return self.nb101_cell(self.parents(selection), self.block_ops(selection))

    def nb101_cell(self, parents: tuple[tuple[int, ...], ...], block_ops: tuple[str, ...]) -> ModelSpec:
        """The 7-vertex cell of given parents (nodes 1..n+1) and block ops."""
        size = self.output_node + 1
        matrix = [[0] * NB101_VERTICES for _ in range(NB101_VERTICES)]
        vertex = list(range(size))
        vertex[-1] = NB101_VERTICES - 1  # the output is always the last NB101 vertex
        for node, node_parents in enumerate(parents, start=1):
            for p in node_parents:
                matrix[vertex[p]][vertex[node]] = 1
        ops = [INPUT, *block_ops, *([CONV1X1] * (NB101_VERTICES - size)), OUTPUT]
        return ModelSpec.create(matrix, ops)

    def arch_string(self, selection: Selection) -> str:
        """``ss1:ops=a,b,c,d;in=1<0|2<0,1|...|out<2,4;hash=<NAS-Bench-101 hash>``."""
        parents = self.parents(selection)
        names = [*(str(j) for j in range(1, self.output_node)), "out"]
        wiring = "|".join(f"{name}<{','.join(map(str, p))}" for name, p in zip(names, parents, strict=True))
        return (f"ss{self.number}:ops={','.join(self.block_ops(selection))};in={wiring};"
                f"hash={self.spec(selection).spec_hash()}")

    def count_parameter_free(self, selection: Selection) -> int:
        """Choice blocks with a parameter-free op (maxpool): the 1Shot1 analogue of skip collapse."""
        return sum(op in PARAMETER_FREE for op in self.block_ops(selection))

    def option_costs(self, group: str, channels: int = 16) -> torch.Tensor:
        """Parameters of each op at ``channels`` (conv k x k: k^2 C^2; BN is non-affine); edges are free."""
        g = self.group(group)
        if g.role != "ops":
            return torch.zeros(g.rows, g.width)
        per_op = {CONV3X3: 9 * channels * channels, CONV1X1: channels * channels}
        return torch.tensor([float(per_op.get(o, 0)) for o in OPS]).expand(g.rows, -1).clone()

    # -- the index (oracle key) ---------------------------------------------------------------------
    @cached_property
    def _digits(self) -> tuple[tuple[str, int, list[tuple[int, ...]]], ...]:
        """(group, row, option sets in combinations order) per decision, most significant first."""
        out = []
        for gname in ("edges", "ops"):
            for r, d in enumerate(self.group(gname).decisions):
                out.append((gname, r, _combinations(len(d.options), d.k)))
        return tuple(out)

    @property
    def size(self) -> int:
        """Number of selections (distinct decisions; NAS-Bench-101 cells repeat under pruning)."""
        return math.prod(len(sets) for _, _, sets in self._digits)

    @property
    def n_edge_configs(self) -> int:
        return math.prod(len(sets) for g, _, sets in self._digits if g == "edges")

    def index(self, selection: Selection) -> int:
        self.validate_selection(selection)
        index = 0
        for gname, r, sets in self._digits:
            index = index * len(sets) + sets.index(tuple(sorted(selection[gname][r])))
        return index

    def selection_at(self, index: int) -> dict[str, tuple[tuple[int, ...], ...]]:
        if not 0 <= index < self.size:
            raise ValueError(f"{self.name}: index {index} outside 0..{self.size - 1}")
        rows: dict[str, list[tuple[int, ...]]] = {g.name: [()] * g.rows for g in self.groups}
        for gname, r, sets in reversed(self._digits):
            index, digit = divmod(index, len(sets))
            rows[gname][r] = sets[digit]
        return {k: tuple(v) for k, v in rows.items()}

    def edge_configs(self) -> Iterator[tuple[tuple[int, ...], ...]]:
        """Parents of nodes 1..n+1 for every edge configuration, in index order."""
        chosen = [sets for g, _, sets in self._digits if g == "edges"]
        for combo in itertools.product(*chosen):
            by_node = dict(zip(self.edge_nodes, combo, strict=True))
            yield tuple(by_node.get(j, tuple(range(j))) for j in range(1, self.output_node + 1))

    def op_configs(self) -> list[tuple[str, ...]]:
        """Ops of blocks 1..n for every op configuration, in index order (the last block fastest)."""
        return [tuple(OPS[i] for i in combo) for combo in itertools.product(range(len(OPS)), repeat=self.n_blocks)]

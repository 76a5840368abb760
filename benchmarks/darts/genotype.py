"""DARTS cells as genotypes: the ``Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)``
strings of the DARTS code, validated, canonicalized and numbered.

Nodes 0 and 1 are the cell inputs (c_{k-2}, c_{k-1}), nodes 2..5 the intermediate nodes; each takes
two distinct earlier nodes, each through one of the 7 non-zero DARTS ops; the cell output concatenates
nodes 2..5. Edges are numbered as in DARTS and NAS-Bench-301: node 2 <- 0, 1 (edges 0, 1), node 3 <- 0,
1, 2 (edges 2-4), node 4 (5-8), node 5 (9-13).
"""

from __future__ import annotations

import ast
import itertools
import math
from dataclasses import dataclass
from functools import cache

#: DARTS PRIMITIVES order (``none`` first).
OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")
CELL_OPS: tuple[str, ...] = OPS[1:]  # what a derived cell may use: no zero op
CELLS: tuple[str, ...] = ("normal", "reduce")
NODES: tuple[int, ...] = (2, 3, 4, 5)  # intermediate nodes
CONCAT: tuple[int, ...] = NODES
#: edges (source, target) in DARTS / NAS-Bench-301 order
EDGES: tuple[tuple[int, int], ...] = tuple((s, t) for t in NODES for s in range(t))

Cell = tuple[tuple[str, int], ...]  # 8 (op, source) pairs, two per node 2..5


class GenotypeError(ValueError):
    """A cell or genotype string that is not in the DARTS space."""


@cache
def input_pairs(node: int) -> tuple[tuple[int, int], ...]:
    """The candidate input pairs of ``node`` in ``itertools.combinations`` order (NAS-Bench-301's level order)."""
    return tuple(itertools.combinations(range(node), 2))


def _check_cell(name: str, cell: Cell) -> Cell:
    """The cell with each node's pair sorted by source; raises GenotypeError when it is not a DARTS cell."""
    cell = tuple((str(op), int(src)) for op, src in cell)
    if len(cell) != 2 * len(NODES):
        raise GenotypeError(f"{name} cell needs {2 * len(NODES)} (op, input) pairs, got {len(cell)}")
    out: list[tuple[str, int]] = []
    for i, node in enumerate(NODES):
        pair = sorted(cell[2 * i: 2 * i + 2], key=lambda p: (p[1], p[0]))
        (op_a, a), (op_b, b) = pair
        if not (0 <= a < b < node):
            raise GenotypeError(f"{name} cell: node {node} takes inputs {a}, {b}; it needs two distinct nodes "
                                f"among 0..{node - 1}")
        for op in (op_a, op_b):
            if op not in CELL_OPS:
                raise GenotypeError(f"{name} cell: op {op!r} is not a DARTS cell op; valid: {', '.join(CELL_OPS)}")
        out += pair
    return tuple(out)


@dataclass(frozen=True)
class Genotype:
    """A normal and a reduction cell; pairs are stored sorted by input so equal cells compare equal."""

    normal: Cell
    reduce: Cell

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _check_cell("normal", self.normal))
        object.__setattr__(self, "reduce", _check_cell("reduce", self.reduce))

    def cell(self, name: str) -> Cell:
        return self.normal if name == "normal" else self.reduce

    # -- strings ------------------------------------------------------------------------------------
    def to_string(self) -> str:
        """The DARTS ``str(genotype)`` form (concat as a list)."""
        return (f"Genotype(normal={list(self.normal)}, normal_concat={list(CONCAT)}, "
                f"reduce={list(self.reduce)}, reduce_concat={list(CONCAT)})")

    __str__ = to_string

    @classmethod
    def from_string(cls, text: str) -> Genotype:
        """Parse ``Genotype(normal=[('op', i), ...], normal_concat=..., reduce=[...], reduce_concat=...)``
        (concat as a list or ``range(2, 6)``); nothing is evaluated."""
        bad = GenotypeError(f"not a DARTS genotype string: {text[:80]!r}... (expected Genotype(normal=[('op', i), "
                            "...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5]))")
        try:
            call = ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            raise bad from None
        if not isinstance(call, ast.Call) or getattr(call.func, "id", None) != "Genotype" or call.args:
            raise bad
        fields = {kw.arg: kw.value for kw in call.keywords}
        if set(fields) != {"normal", "normal_concat", "reduce", "reduce_concat"}:
            raise bad
        for name in ("normal_concat", "reduce_concat"):
            node = fields[name]
            concat = ([a.value for a in node.args if isinstance(a, ast.Constant)]
                      if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "range" else None)
            ok = (list(range(*concat)) == list(CONCAT) if concat is not None
                  else _literal(node, bad) in (list(CONCAT), tuple(CONCAT)))
            if not ok:
                raise GenotypeError(f"{name} must be nodes 2..5 (the DARTS cell output), got {ast.unparse(node)}")
        cells = {}
        for name in CELLS:
            value = _literal(fields[name], bad)
            if not isinstance(value, list | tuple) or not all(
                    isinstance(p, list | tuple) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int)
                    for p in value):
                raise bad
            cells[name] = tuple((p[0], p[1]) for p in value)
        return cls(cells["normal"], cells["reduce"])

    # -- the index (oracle key) ---------------------------------------------------------------------
    @property
    def index(self) -> int:
        """A mixed-radix number (< CELL_SIZE^2, fits int64): the normal cell most significant."""
        return _cell_index(self.normal) * CELL_SIZE + _cell_index(self.reduce)

    @classmethod
    def from_index(cls, index: int) -> Genotype:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < CELL_SIZE ** 2:
            raise GenotypeError(f"DARTS genotype index {index!r} outside 0..{CELL_SIZE ** 2 - 1}")
        normal, reduce = divmod(index, CELL_SIZE)
        return cls(_cell_at(normal), _cell_at(reduce))

    def count(self, op: str, cell: str) -> int:
        return sum(1 for o, _ in self.cell(cell) if o == op)


#: per cell: input pairs of nodes 3..5 (node 2's are fixed) x 7 ops on each of the 8 kept edges
CELL_SIZE = math.prod(len(input_pairs(n)) for n in NODES) * len(CELL_OPS) ** (2 * len(NODES))


def _cell_index(cell: Cell) -> int:
    index = 0
    for i, node in enumerate(NODES):
        index = index * len(input_pairs(node)) + input_pairs(node).index((cell[2 * i][1], cell[2 * i + 1][1]))
    for op, _ in cell:
        index = index * len(CELL_OPS) + CELL_OPS.index(op)
    return index


def _cell_at(index: int) -> Cell:
    ops = []
    for _ in range(2 * len(NODES)):
        index, o = divmod(index, len(CELL_OPS))
        ops.append(CELL_OPS[o])
    ops.reverse()
    pairs = []
    for node in reversed(NODES):
        index, p = divmod(index, len(input_pairs(node)))
        pairs.append(input_pairs(node)[p])
    pairs.reverse()
    return tuple((op, src) for op, src in zip(ops, (s for pair in pairs for s in pair), strict=True))


def _literal(node: ast.expr, error: GenotypeError) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise error from None


#: DARTS (second order), ``genotypes.DARTS_V2`` of the DARTS code: the reference cell of the surrogate checks
DARTS_V2 = Genotype(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
)

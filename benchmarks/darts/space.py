"""The DARTS CNN search space as decisions (spec 6.2.3), and selections <-> genotypes.

Four decision groups (the contract of ``benchmarks.space``):

- ``normal`` and ``reduce`` (role ops): one row per edge (14, DARTS order), the 8 DARTS ops, k = 1.
  ``none`` is mixed by the supernet but never derived (``not_derived``: DARTS's genotype() skips it);
  ``exclude_none`` drops it altogether (7 ops).
- ``normal_inputs`` and ``reduce_inputs`` (role edges): one row per intermediate node (2..5) over its
  candidate inputs, k = 2. Node 2's row has no choice (both inputs) but carries its edge weights, as
  PC-DARTS's beta and GAEA PC-DARTS's edge simplex do for all 14 edges.

The op groups have no node partition, so PC-DARTS adds no second edge normalization: the input groups
*are* the per-node edge weights (softmax beta for PC-DARTS, a simplex for GAEA PC-DARTS), and the
supernet multiplies each edge by its input weight. Derivation is top-k per decision: the top-2 inputs
of a node by its input weights, and on each kept edge the best non-zero op. DARTS itself ranks edges by
their strongest non-zero op and PC-DARTS by edge weight x op weight (spec 1.5); with explicit input
decisions every method here ranks them by the input weights it learns (DESIGN: "input edges per node
(k=2)").
"""

from __future__ import annotations

import torch

from benchmarks.darts.genotype import CELLS, EDGES, NODES, OPS, Genotype, GenotypeError
from benchmarks.space import Decision, DecisionGroup, SearchSpace, Selection

INPUT_NAMES: tuple[str, ...] = ("c_{k-2}", "c_{k-1}", *(f"node {n}" for n in NODES[:-1]))
#: the deepest chain c_{k-1} -> node 2 -> 3 -> 4 -> 5: one edge per consecutive pair (PR-DARTS's path depth)
PATH_ROWS: tuple[int, ...] = tuple(EDGES.index((n - 1, n)) for n in NODES)
#: the rows of each intermediate node
NODE_ROWS: tuple[tuple[int, ...], ...] = tuple(tuple(r for r, (_, t) in enumerate(EDGES) if t == n) for n in NODES)


def _op_params(op: str, channels: int, stride: int) -> int:
    """Weights of one op at ``channels`` (search-network BN is affine-free, so BN adds none)."""
    c = channels
    per_op = {"sep_conv_3x3": 2 * (9 * c + c * c), "sep_conv_5x5": 2 * (25 * c + c * c),
              "dil_conv_3x3": 9 * c + c * c, "dil_conv_5x5": 25 * c + c * c,
              # a stride-2 identity is a FactorizedReduce: two 1x1 convs to C/2 channels each
              "skip_connect": c * c if stride == 2 else 0}
    return per_op.get(op, 0)


class DartsSpace(SearchSpace):
    """Normal and reduction cells of the DARTS space; ``include_none=False`` drops the zero op."""

    def __init__(self, include_none: bool = True) -> None:
        self.include_none = include_none
        self.op_names: tuple[str, ...] = OPS if include_none else OPS[1:]
        self.name = "darts" if include_none else "darts-no-none"
        none = self.op_names.index("none") if include_none else None
        skip = self.op_names.index("skip_connect")
        ops = tuple(DecisionGroup(cell, tuple(Decision(f"{cell} edge {t}<-{s}", self.op_names) for s, t in EDGES),
                                  role="ops", skip_option=skip, path_rows=PATH_ROWS, not_derived=none)
                    for cell in CELLS)
        inputs = tuple(DecisionGroup(f"{cell}_inputs", tuple(Decision(f"{cell} node {n} inputs", INPUT_NAMES[:n], 2)
                                                             for n in NODES), role="edges")
                       for cell in CELLS)
        self.groups = (*ops, *inputs)

    def option_costs(self, group: str, channels: int = 16) -> torch.Tensor:
        """Parameters of each op on each edge at ``channels``; input weights are free."""
        g = self.group(group)
        if g.role != "ops":
            return torch.zeros(g.rows, g.width)
        return torch.tensor([[float(_op_params(op, channels, 2 if group == "reduce" and s < 2 else 1))
                              for op in self.op_names] for s, _ in EDGES])

    # -- selections <-> genotypes ---------------------------------------------------------------------
    def genotype(self, selection: Selection) -> Genotype:
        """The cells a selection describes (raises GenotypeError when a kept edge's op is ``none``)."""
        self.validate_selection(selection)
        cells = []
        for cell in CELLS:
            pairs = []
            for n, rows, chosen in zip(NODES, NODE_ROWS, selection[f"{cell}_inputs"], strict=True):
                for src in chosen:
                    op = self.op_names[selection[cell][rows[src]][0]]
                    if op == "none":
                        raise GenotypeError(f"{cell} cell: the kept edge {n}<-{src} has the zero op")
                    pairs.append((op, src))
            cells.append(tuple(pairs))
        return Genotype(*cells)

    def selection(self, genotype: Genotype) -> dict[str, tuple[tuple[int, ...], ...]]:
        """A selection of a genotype; edges the cells do not use get the first derivable op."""
        first = 1 if self.include_none else 0
        out: dict[str, tuple[tuple[int, ...], ...]] = {}
        for cell in CELLS:
            ops = [first] * len(EDGES)
            inputs = []
            for i, rows in enumerate(NODE_ROWS):
                pair = genotype.cell(cell)[2 * i: 2 * i + 2]
                for op, src in pair:
                    ops[rows[src]] = self.op_names.index(op)
                inputs.append(tuple(src for _, src in pair))
            out[cell] = tuple((o,) for o in ops)
            out[f"{cell}_inputs"] = tuple(inputs)
        return out

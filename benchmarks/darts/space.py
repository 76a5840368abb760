"""The DARTS CNN search space as decisions (spec 6.2.3), and selections <-> genotypes.

Four decision groups (the contract of ``benchmarks.space``):

- ``normal`` and ``reduce`` (role ops): one row per edge (14, DARTS order), the 8 DARTS ops, k = 1.
  ``none`` is mixed by the supernet but never derived (``not_derived``: DARTS's genotype() skips it);
  ``exclude_none`` drops it altogether (7 ops). ``cell_ops="restricted"`` is NASP's cell-type restriction
  (Yao et al. 2020, AAAI, section 4): normal cells choose among identity and the convolutions, reduction
  cells among identity and the pools.
- ``normal_inputs`` and ``reduce_inputs`` (role edges): one row per intermediate node (2..5) over its
  candidate inputs, k = 2. Their options are the op groups' edges (``DecisionGroup.op_group`` and
  ``option_rows``), so they are not weighted unless a method learns edge weights: as in DARTS
  (Liu et al. 2019, ICLR, section 2.1) a node sums all its incoming edges, and only PC-DARTS's edge
  normalization (beta, Xu et al. 2020, ICLR, section 3.3; GAEA PC-DARTS's edge simplex) scales them.

Derivation (``benchmarks.space.derive_selection``) is DARTS's genotype() rule: a node keeps the 2 inputs
whose edge has the strongest non-``none`` op weight, and each kept edge its strongest non-``none`` op;
with learned edge weights an input is ranked by edge weight x op weight, as PC-DARTS's genotype() does.
"""

from __future__ import annotations

import torch

from benchmarks.darts.genotype import CELLS, EDGES, NODES, OPS, Genotype, GenotypeError
from benchmarks.space import Decision, DecisionGroup, SearchSpace, Selection
from nasbench_errors import ConfigError

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


#: ``cell_ops`` values: the DARTS space, or NASP's restriction of each cell type to identity plus one kind of op
CELL_OPS = ("all", "restricted")
#: NASP's restricted op sets (Yao et al. 2020, section 4): "for normal cell, the search space only consists of
#: identity and convolutional operations; for reduction cell ... identity and pooling operations"
RESTRICTED_OPS: dict[str, tuple[str, ...]] = {
    "normal": ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"),
    "reduce": ("max_pool_3x3", "avg_pool_3x3", "skip_connect"),
}


class DartsSpace(SearchSpace):
    """Normal and reduction cells of the DARTS space; ``include_none=False`` drops the zero op and
    ``cell_ops="restricted"`` gives each cell type NASP's op set."""

    def __init__(self, include_none: bool = True, cell_ops: str = "all") -> None:
        if cell_ops not in CELL_OPS:
            raise ConfigError(f"cell_ops={cell_ops!r} is not one of {', '.join(CELL_OPS)}; set --set cell_ops=all "
                              "(the DARTS space) or restricted (NASP's identity + convolutions / identity + pools)")
        self.include_none, self.cell_ops = include_none, cell_ops
        #: per cell type, its op options in DARTS PRIMITIVES order
        self.cell_op_names: dict[str, tuple[str, ...]] = {
            cell: tuple(o for o in OPS if (o == "none" and include_none)
                        or (o != "none" and (cell_ops == "all" or o in RESTRICTED_OPS[cell])))
            for cell in CELLS}
        self.name = "darts" + ("" if include_none else "-no-none") + ("" if cell_ops == "all" else "-restricted")
        ops = tuple(DecisionGroup(cell, tuple(Decision(f"{cell} edge {t}<-{s}", names) for s, t in EDGES),
                                  role="ops", skip_option=names.index("skip_connect"), path_rows=PATH_ROWS,
                                  not_derived=names.index("none") if include_none else None)
                    for cell, names in self.cell_op_names.items())
        inputs = tuple(DecisionGroup(f"{cell}_inputs", tuple(Decision(f"{cell} node {n} inputs", INPUT_NAMES[:n], 2)
                                                             for n in NODES), role="edges",
                                     op_group=cell, option_rows=NODE_ROWS)
                       for cell in CELLS)
        self.groups = (*ops, *inputs)

    def option_costs(self, group: str, channels: int = 16) -> torch.Tensor:
        """Parameters of each op on each edge at ``channels``; input weights are free."""
        g = self.group(group)
        if g.role != "ops":
            return torch.zeros(g.rows, g.width)
        return torch.tensor([[float(_op_params(op, channels, 2 if group == "reduce" and s < 2 else 1))
                              for op in self.cell_op_names[group]] for s, _ in EDGES])

    # -- selections <-> genotypes ---------------------------------------------------------------------
    def genotype(self, selection: Selection) -> Genotype:
        """The cells a selection describes (raises GenotypeError when a kept edge's op is ``none``)."""
        self.validate_selection(selection)
        cells = []
        for cell in CELLS:
            pairs = []
            for n, rows, chosen in zip(NODES, NODE_ROWS, selection[f"{cell}_inputs"], strict=True):
                for src in chosen:
                    op = self.cell_op_names[cell][selection[cell][rows[src]][0]]
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
            names = self.cell_op_names[cell]
            ops = [first] * len(EDGES)
            inputs = []
            for i, rows in enumerate(NODE_ROWS):
                pair = genotype.cell(cell)[2 * i: 2 * i + 2]
                for op, src in pair:
                    if op not in names:
                        raise GenotypeError(f"{cell} cell: op {op!r} is outside this space's {cell} ops "
                                            f"({', '.join(n for n in names if n != 'none')})")
                    ops[rows[src]] = names.index(op)
                inputs.append(tuple(src for _, src in pair))
            out[cell] = tuple((o,) for o in ops)
            out[f"{cell}_inputs"] = tuple(inputs)
        return out

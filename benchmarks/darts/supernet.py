"""The DARTS search network (DARTS ``model_search.py``), driven by the decisions contract.

Stem conv3x3 (3 -> 3C) + BN; ``3N + 2`` cells (DARTS ``layers = 8`` is N = 2) with reduction cells
(stride 2, doubled channels) at ``layers // 3`` and ``2 * layers // 3``; global pooling and a linear
classifier. A cell preprocesses its inputs c_{k-2} (FactorizedReduce after a reduction cell, else
ReLU-Conv1x1-BN) and c_{k-1} (ReLU-Conv1x1-BN); node j sums the mixed ops of its incoming edges i -> j,
unweighted as in DARTS, or scaled by input weight [j, i] where the weights include the ``<cell>_inputs``
groups (PC-DARTS's edge weights, or the 0/1 inputs of a discrete selection); the output concatenates
nodes 2..5. Search-network BN is affine-free, and pools are followed by an affine-free BN in the mixed op,
as in DARTS. All normal cells share the ``normal`` weights, all reduction cells the ``reduce`` weights; each
cell type runs its own op list (``DartsSpace.cell_op_names``).

Whatever has weight exactly 0 is not computed (an op, or a whole edge whose input weight is 0;
``none`` never is), so single-path methods pay only for the sampled path; one host sync per forward
decides. ``zero_ops="scalar"`` adds every uncomputed zero weight (op or input), as a zero-valued
scalar, to the node it would have fed: GDAS's straight-through gradient, as on NB201.

``partial_channels`` K > 1 is PC-DARTS (``benchmarks.supernet_ops.partial_channel_merge``): the ops
see the first C/K channels, the rest bypass them (2x2 max-pooled on stride-2 edges) and the parts are
channel-shuffled; the input weight then scales the whole edge, bypass included, as PC-DARTS's beta does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.darts.genotype import CELLS, EDGES, NODES
from benchmarks.darts.space import DartsSpace
from benchmarks.space import DecisionGroup
from benchmarks.supernet_ops import OptionModules, ReLUConvBN, option_modules_of, partial_channel_merge
from nasbench_errors import ConfigError

ZERO_OPS = ("skip", "scalar")


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convs (the second offset by one pixel) concatenated, BN: halves H and W."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class SepConv(nn.Sequential):
    """Two stacked (ReLU, depthwise k x k, pointwise 1x1, BN); the first carries the stride."""

    def __init__(self, c: int, kernel: int, stride: int) -> None:
        super().__init__(*(layer for s in (stride, 1) for layer in _relu_dw_pw_bn(c, kernel, s, 1)))


class DilConv(nn.Sequential):
    """ReLU, dilated (2) depthwise k x k, pointwise 1x1, BN."""

    def __init__(self, c: int, kernel: int, stride: int) -> None:
        super().__init__(*_relu_dw_pw_bn(c, kernel, stride, 2))


def _relu_dw_pw_bn(c: int, kernel: int, stride: int, dilation: int) -> list[nn.Module]:
    return [nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=stride, padding=dilation * (kernel // 2), dilation=dilation, groups=c,
                      bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=False)]


def make_op(name: str, c: int, stride: int) -> nn.Module:
    """A DARTS operation other than ``none`` (DARTS ``operations.OPS`` with affine=False)."""
    if name == "max_pool_3x3":
        return nn.Sequential(nn.MaxPool2d(3, stride=stride, padding=1), nn.BatchNorm2d(c, affine=False))
    if name == "avg_pool_3x3":
        return nn.Sequential(nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
                             nn.BatchNorm2d(c, affine=False))
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    kind, _, size = name.rpartition("_")
    if kind in ("sep_conv", "dil_conv") and size in ("3x3", "5x5"):
        return (SepConv if kind == "sep_conv" else DilConv)(c, int(size[0]), stride)
    raise ValueError(f"unknown DARTS op {name!r}")


class MixedOp(nn.Module):
    """One edge: the weighted sum of its active computed ops (on C/K channels with PC-DARTS's K > 1)."""

    def __init__(self, op_names: Sequence[str], channels: int, stride: int, partial_channels: int) -> None:
        super().__init__()
        self.op_names, self.k = tuple(op_names), partial_channels
        self.ops = nn.ModuleDict({o: make_op(o, channels // self.k, stride) for o in self.op_names if o != "none"})
        self.bypass = nn.MaxPool2d(2, 2) if self.k > 1 and stride == 2 else None

    def forward(self, x: torch.Tensor, w: torch.Tensor, active: Sequence[bool]) -> torch.Tensor | None:
        """None when the output is exactly zero (no computed op and no bypass)."""
        part = x if self.k == 1 else x[:, : x.shape[1] // self.k]
        mixed: torch.Tensor | None = None
        for o, name in enumerate(self.op_names):
            if active[o] and name in self.ops:
                out = self.ops[name](part)
                mixed = w[o] * out if mixed is None else torch.addcmul(mixed, w[o], out)
        if self.k == 1 or not any(active):
            return mixed
        return partial_channel_merge(mixed, x, self.k, w.sum(), self.bypass)


@dataclass(frozen=True)
class _CellWeights:
    """One cell type's weights and what of them is computed (shared by all cells of the type)."""

    ops: torch.Tensor  # [14, n_ops]
    inputs: torch.Tensor | None  # [4, 5] input weights per node (padded); None: inputs summed unweighted
    active: list[list[bool]]  # per edge, per op: the op runs
    edges: list[bool]  # per edge: input weight non-zero and some op (or the bypass) runs
    node_bias: list[torch.Tensor] | None  # zero_ops="scalar": per node, its zero weights summed


class Cell(nn.Module):
    def __init__(self, op_names: Sequence[str], c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool,
                 partial_channels: int) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, False, True)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, False, True)
        self.edges = nn.ModuleList(MixedOp(op_names, c, 2 if reduction and s < 2 else 1, partial_channels)
                                   for s, _ in EDGES)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, cw: _CellWeights) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for j, node in enumerate(NODES):
            total: torch.Tensor | None = None
            for e, (src, t) in enumerate(EDGES):
                if t != node or not cw.edges[e]:
                    continue
                out = self.edges[e](states[src], cw.ops[e], cw.active[e])
                if out is None:
                    continue
                if cw.inputs is None:
                    total = out if total is None else total + out
                else:
                    total = cw.inputs[j, src] * out if total is None else torch.addcmul(total, cw.inputs[j, src], out)
            if total is None:
                ref = states[1]
                total = ref.new_zeros(ref.shape[0], ref.shape[1], *(d // 2 if self.reduction else d
                                                                     for d in ref.shape[2:]))
            states.append(total if cw.node_bias is None else total + cw.node_bias[j])
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The DARTS search network at width ``C`` with ``N`` normal cells per stage (3N + 2 cells)."""

    def __init__(self, space: DartsSpace, C: int = 16, N: int = 2, num_classes: int = 10,
                 partial_channels: int = 1, stem_multiplier: int = 3) -> None:
        super().__init__()
        if partial_channels < 1 or C % partial_channels:
            raise ConfigError(f"partial_channels={partial_channels} must be a positive divisor of C={C}; "
                              "set --set partial_channels=K with K dividing C (PC-DARTS uses 4)")
        if N < 1:
            raise ConfigError(f"N={N}: the DARTS network needs N >= 1 normal cells per stage (--set N=2: 8 cells)")
        self.space, self.partial_channels = space, partial_channels
        layers = 3 * N + 2
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c = c_curr, c_curr, C
        cells, reduction_prev = [], False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            c = 2 * c if reduction else c
            cells.append(Cell(space.cell_op_names["reduce" if reduction else "normal"], c_pp, c_p, c, reduction,
                              reduction_prev, partial_channels))
            reduction_prev = reduction
            c_pp, c_p = c_p, len(NODES) * c
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(c_p, num_classes)
        for cell in CELLS:
            self.register_buffer(f"mask_{cell}", space.group(f"{cell}_inputs").mask.clone(), persistent=False)

    def _cell_weights(self, weights: Mapping[str, torch.Tensor], cell: str, zero_ops: str) -> _CellWeights:
        """A missing ``<cell>_inputs`` entry sums every node's inputs unweighted (DARTS's cell)."""
        ops, inputs = weights[cell], weights.get(f"{cell}_inputs")
        for name, w in ((cell, ops), (f"{cell}_inputs", inputs)):
            g = self.space.group(name)
            if w is not None and tuple(w.shape) != (g.rows, g.width):
                raise ValueError(f"{name} weights must be {g.rows}x{g.width}, got {tuple(w.shape)}")
        active = (ops.detach() != 0).tolist()  # one host sync per cell type
        live = (self.space.group(f"{cell}_inputs").mask if inputs is None else inputs.detach() != 0).tolist()
        # an edge runs when its input weight is non-zero and it has output: a computed op, or PC-DARTS's bypass
        runs = [o != "none" or self.partial_channels > 1 for o in self.space.cell_op_names[cell]]
        edges = [live[t - NODES[0]][s] and any(a and r for a, r in zip(active[e], runs, strict=True))
                 for e, (s, t) in enumerate(EDGES)]
        bias = None
        if zero_ops == "scalar":
            mask = getattr(self, f"mask_{cell}")
            zero_ops_sum = (ops * (ops.detach() == 0)).sum(dim=-1)
            zero_inputs = (inputs * ((inputs.detach() == 0) & mask)).sum(dim=-1) if inputs is not None else None
            bias = [zero_ops_sum[[e for e, (_, t) in enumerate(EDGES) if t == n]].sum()
                    + (zero_inputs[j] if zero_inputs is not None else 0.0) for j, n in enumerate(NODES)]
        return _CellWeights(ops, inputs, active, edges, bias)

    def option_modules(self) -> OptionModules:
        """Per cell type, edge and op, the op's module in every cell of that type; the input choices have none."""
        def modules(g: DecisionGroup, row: int, option: int) -> list[nn.Module]:
            if g.name not in CELLS or (name := self.space.cell_op_names[g.name][option]) == "none":
                return []
            return [c.edges[row].ops[name] for c in self.cells if c.reduction == (g.name == "reduce")]
        return option_modules_of(self.space.groups, modules)

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor], zero_ops: str = "skip") -> torch.Tensor:
        if zero_ops not in ZERO_OPS:
            raise ValueError(f"zero_ops must be one of {ZERO_OPS}, got {zero_ops!r}")
        per_type = {cell: self._cell_weights(weights, cell, zero_ops) for cell in CELLS}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, per_type["reduce" if cell.reduction else "normal"])
        return self.classifier(s1.mean(dim=(2, 3)))

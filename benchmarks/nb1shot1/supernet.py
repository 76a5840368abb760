"""The NAS-Bench-1Shot1 one-shot network, driven by the decisions contract (spec 6.2.2).

Follows the reference ``optimizers/darts/model_search.py``: stem ConvBnReLU 3x3 (3 -> C); ``3N``
cells (1Shot1 ``layers: 9`` is N = 3), with a 2x2 max-pool (stride 2, padding 1) and doubled
channels before cells ``layers // 3`` and ``2 * layers // 3``; ReLU-Conv1x1-BN post-processing
(``C * n_blocks`` -> C), global average pooling and a linear classifier.

In a cell every choice block gets a 1x1 ConvBnReLU projection of the cell input plus the outputs of
all earlier blocks; where the block's parents are a decision, each input is scaled by its row of the
``edges`` weights; the inputs are summed and passed through the mixed op (ops applied *per node*,
after aggregation), scaled by the block's row of ``ops``. The cell output is the concatenation of
the block outputs, each scaled by its output weight, plus the output weight of the input times a
1x1 projection of the cell input to ``C * n_blocks`` channels (NAS-Bench-101 adds, not concatenates,
the input edge). A one-hot selection therefore computes exactly the derived cell's paths.

Whatever has weight exactly 0 is not computed: an op, an input, a block whose output nothing uses,
so single-path methods pay for the sampled path only (one host sync per forward decides).
``zero_ops="scalar"`` (as on NB201, for GDAS's straight-through estimator) adds each uncomputed zero
weight of a computed block, as a zero-valued scalar, to what it would have fed: an op weight to the
block's output, an input weight to the block's input sum, an output weight to the cell output.

``partial_channels`` K > 1 is PC-DARTS: the mixed op sees the first C/K channels, the rest bypass it,
and the two are concatenated and channel-shuffled with K groups (the 1Shot1 PC-DARTS uses K = 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.nb1shot1.space import NB1Shot1Space
from benchmarks.nb101.graph import CONV1X1, CONV3X3, MAXPOOL3X3
from benchmarks.supernet_ops import OptionModules, channel_shuffle, option_modules_of
from nasbench_errors import ConfigError


class ConvBnRelu(nn.Sequential):
    """NAS-Bench-101's conv-BN-ReLU (the reference uses affine BN here)."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=False))


def make_op(name: str, channels: int) -> nn.Module:
    if name == CONV3X3:
        return ConvBnRelu(channels, channels, 3)
    if name == CONV1X1:
        return ConvBnRelu(channels, channels, 1)
    if name == MAXPOOL3X3:
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"unknown NAS-Bench-1Shot1 op {name!r}")


ZERO_OPS = ("skip", "scalar")


class ChoiceBlock(nn.Module):
    """The mixed op of one choice block (on the first C/K channels when K > 1)."""

    def __init__(self, op_names: tuple[str, ...], channels: int, partial_channels: int) -> None:
        super().__init__()
        self.k = partial_channels
        self.ops = nn.ModuleList(make_op(name, channels // partial_channels) for name in op_names)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, active: list[bool]) -> torch.Tensor:
        part = x[:, : x.shape[1] // self.k] if self.k > 1 else x
        out: torch.Tensor | None = None
        for o, op in enumerate(self.ops):
            if active[o]:
                term = weights[o] * op(part)
                out = term if out is None else out + term
        if out is None:
            out = torch.zeros_like(part)
        if self.k > 1:
            out = channel_shuffle(torch.cat([out, x[:, x.shape[1] // self.k:]], dim=1), self.k)
        return out


@dataclass(frozen=True)
class _Plan:
    """What a forward computes, from the non-zero pattern of the weights (shared by all cells)."""

    ops: list[list[bool]]  # per block, per op
    inputs: list[list[int]]  # per block: candidates with non-zero weight (0 = cell input, i = block i)
    outputs: list[bool]  # input edge, then each block
    needed: list[bool]  # per block: some used path goes through it


@dataclass(frozen=True)
class _Scalars:
    """``zero_ops="scalar"``: per block, the zero op weights and zero input weights summed; the zero
    output weights summed (each a zero-valued tensor whose gradient reaches those weights)."""

    ops: torch.Tensor  # [n]
    inputs: list[torch.Tensor | None]
    outputs: torch.Tensor


class Cell(nn.Module):
    def __init__(self, space: NB1Shot1Space, c_in: int, channels: int, partial_channels: int) -> None:
        super().__init__()
        n = space.n_blocks
        self.channels = channels
        self.projections = nn.ModuleList(ConvBnRelu(c_in, channels, 1) for _ in range(n))
        self.input_to_output = ConvBnRelu(c_in, channels * n, 1)
        self.blocks = nn.ModuleList(ChoiceBlock(space.op_names, channels, partial_channels) for _ in range(n))

    def forward(self, s0: torch.Tensor, plan: _Plan, ops: torch.Tensor, inputs: list[torch.Tensor | None],
                outputs: torch.Tensor, scalars: _Scalars | None = None) -> torch.Tensor:
        states: list[torch.Tensor | None] = [None] * len(self.blocks)
        for j, block in enumerate(self.blocks):
            if not plan.needed[j]:
                continue
            x: torch.Tensor | None = None
            for cand in plan.inputs[j]:
                term = self.projections[j](s0) if cand == 0 else states[cand - 1]
                if inputs[j] is not None:
                    term = inputs[j][cand] * term
                x = term if x is None else x + term
            if x is None:
                x = s0.new_zeros(s0.shape[0], self.channels, *s0.shape[2:])
            if scalars is not None and scalars.inputs[j] is not None:
                x = x + scalars.inputs[j]
            states[j] = block(x, ops[j], plan.ops[j])
            if scalars is not None:
                states[j] = states[j] + scalars.ops[j]
        zeros = s0.new_zeros(s0.shape[0], self.channels, *s0.shape[2:])
        out = torch.cat([outputs[j + 1] * s if plan.outputs[j + 1] and s is not None else zeros
                         for j, s in enumerate(states)], dim=1)
        if plan.outputs[0]:
            out = out + outputs[0] * self.input_to_output(s0)
        return out if scalars is None else out + scalars.outputs


class NB1Shot1Supernet(nn.Module):
    """The one-shot model of a 1Shot1 space at width ``C`` with ``N`` cells per stage."""

    def __init__(self, space: NB1Shot1Space, C: int = 16, N: int = 3, num_classes: int = 10,
                 partial_channels: int = 1) -> None:
        super().__init__()
        if partial_channels < 1 or C % partial_channels:
            raise ConfigError(f"partial_channels={partial_channels} must be >= 1 and divide C={C}")
        self.space = space
        n = space.n_blocks
        layers = 3 * N
        self.pool_before = {layers // 3, 2 * layers // 3}
        self.stem = ConvBnRelu(3, C, 3)
        cells = []
        c, c_in = C, C
        for i in range(layers):
            if i in self.pool_before:
                c *= 2
            cells.append(Cell(space, c_in, c, partial_channels))
            c_in = c * n
        self.cells = nn.ModuleList(cells)
        self.pool = nn.MaxPool2d(2, stride=2, padding=1)
        self.postprocess = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c * n, c, 1, bias=False),
                                         nn.BatchNorm2d(c, affine=False))
        self.classifier = nn.Linear(c, num_classes)
        self.register_buffer("edge_mask", space.group("edges").mask.clone(), persistent=False)

    def _plan(self, ops: torch.Tensor, edges: torch.Tensor) -> _Plan:
        space, n = self.space, self.space.n_blocks
        op_active = (ops.detach() != 0).tolist()
        edge_active = (edges.detach() != 0).tolist()  # one host sync for both
        rows = {node: r for r, node in enumerate(space.edge_nodes)}
        inputs = []
        for node in range(1, n + 1):
            row = rows.get(node)
            inputs.append([c for c in range(node) if row is None or edge_active[row][c]])
        outputs = edge_active[rows[space.output_node]][: n + 1]
        needed = [bool(outputs[j + 1]) for j in range(n)]
        for j in reversed(range(n)):
            if needed[j]:
                for cand in inputs[j]:
                    if cand > 0:
                        needed[cand - 1] = True
        return _Plan(op_active, inputs, outputs, needed)

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor], zero_ops: str = "skip") -> torch.Tensor:
        space = self.space
        ops, edges = weights["ops"], weights["edges"]
        for name, w in (("ops", ops), ("edges", edges)):
            g = space.group(name)
            if tuple(w.shape) != (g.rows, g.width):
                raise ValueError(f"{name} weights must be {g.rows}x{g.width}, got {tuple(w.shape)}")
        if zero_ops not in ZERO_OPS:
            raise ValueError(f"zero_ops must be one of {ZERO_OPS}, got {zero_ops!r}")
        plan = self._plan(ops, edges)
        rows = {node: r for r, node in enumerate(space.edge_nodes)}
        inputs = [edges[rows[node]] if node in rows else None for node in range(1, space.n_blocks + 1)]
        outputs = edges[rows[space.output_node]]
        scalars = self._scalars(ops, edges, rows) if zero_ops == "scalar" else None
        s = self.stem(x)
        for i, cell in enumerate(self.cells):
            if i in self.pool_before:
                s = self.pool(s)
            s = cell(s, plan, ops, inputs, outputs, scalars)
        s = self.postprocess(s).mean(dim=(2, 3))
        return self.classifier(s)

    def option_modules(self) -> OptionModules:
        """Per choice block and op, the op's module in every cell; the parent choices (``edges``) have none."""
        return option_modules_of(self.space.groups, lambda g, r, o: [cell.blocks[r].ops[o] for cell in self.cells]
                                 if g.name == "ops" else [])

    def _scalars(self, ops: torch.Tensor, edges: torch.Tensor, rows: dict[int, int]) -> _Scalars:
        """Zero weights summed per target, computed once per forward (all cells share the weights)."""
        mask = self.edge_mask.to(edges.device)
        zero_ops = (ops * (ops.detach() == 0)).sum(dim=-1)
        zero_edges = (edges * ((edges.detach() == 0) & mask)).sum(dim=-1)
        inputs = [zero_edges[rows[node]] if node in rows else None for node in range(1, self.space.n_blocks + 1)]
        return _Scalars(zero_ops, inputs, zero_edges[rows[self.space.output_node]])

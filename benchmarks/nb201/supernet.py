"""The NAS-Bench-201 search network: one supernet for every method, driven by mixing weights.

Macro skeleton (spec 6.2.1): stem conv3x3 + BN; N search cells at C channels; a residual reduction
block to 2C; N cells; a residual block to 4C; N cells; BN + ReLU, global pooling, linear. All search
cells share the architecture weights. Search-cell BN is non-affine with running statistics.

The forward takes ``weights = {"ops": Tensor[6, n_ops]}`` from the method: dense rows give the DARTS
mixture, one-hot rows give a single-path forward. An op whose weight is exactly 0 is not computed
(and ``none`` never is: its output is zero whatever its weight), so single-path methods pay only
for the op they sampled.

``zero_ops`` says what an uncomputed zero-weight op contributes to the backward pass:

- ``"skip"`` (default): nothing; its weight gets no gradient.
- ``"scalar"``: its weight (value 0) is added to the edge's target node as a scalar, so the forward is
  unchanged and the weight's gradient is the sum of the node's upstream gradient. This is how the
  released GDAS code (AutoDL-Projects ``forward_gdas``; maintainer's note in AutoDL-Projects#36) lets a
  straight-through estimator reach every option while computing only the sampled one; any single-path
  method can ask for it.

``partial_channels = K > 1`` is PC-DARTS's partial-channel mixed op: only the first C/K channels of an
edge's input go through the ops, the other channels bypass them scaled by the row's total weight, the
two parts are concatenated and channel-shuffled with K groups. The row total is 1 for rows on the
simplex and the edge weight when a method folds edge normalization into the op weights (PC-DARTS
multiplies the whole mixed-op output, bypass included, by the edge weight).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.nb201.space import EDGES
from benchmarks.supernet_ops import OptionModules, ReLUConvBN, partial_channel_merge


class ResidualReduction(nn.Module):
    """The ResNet basic block (stride 2) that doubles channels between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, affine=True, track=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, affine=True, track=True)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class AvgPool3x3(nn.Module):
    """NB201's ``avg_pool_3x3``: 3x3 mean, stride 1, padding 1, padded cells not counted.

    Computed as a depthwise convolution with a ones kernel times 1 / (cells counted), the numbers of
    ``AvgPool2d(3, 1, 1, count_include_pad=False)`` up to float rounding: on the CPU that pooling was a
    third of a DARTS step, its forward + backward 2.6-7x slower than this (docs/performance.md).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.ones(channels, 1, 3, 3), persistent=False)
        self._inv_counts: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = F.conv2d(x, self.kernel.to(x.dtype), padding=1, groups=self.kernel.shape[0])
        return summed * self._inv_count(x.shape[-2], x.shape[-1], x.device, summed.dtype)

    def _inv_count(self, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """1 / (number of in-image cells under each 3x3 window), built once per image size."""
        key = (h, w, device, dtype)
        if key not in self._inv_counts:
            counts = F.conv2d(torch.ones(1, 1, h, w, dtype=torch.float64), torch.ones(1, 1, 3, 3, dtype=torch.float64),
                              padding=1)
            self._inv_counts[key] = (1 / counts).to(device=device, dtype=dtype)
        return self._inv_counts[key]


def make_op(name: str, channels: int) -> nn.Module:
    """A stride-1 NB201 search-cell operation other than ``none`` (BN non-affine, running statistics)."""
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, affine=False, track=True)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, affine=False, track=True)
    if name == "avg_pool_3x3":
        return AvgPool3x3(channels)
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}")


T = TypeVar("T")
ZERO_OPS = ("skip", "scalar")
CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")
#: per-edge rows, indexed by edge: a [6, n_ops] tensor / nested list, or a dict holding some edges
Rows = Mapping[int, T] | Sequence[T]
#: per node 0, 1, 2: the indices of its out-edges in ``EDGES``
OUT_EDGES: tuple[tuple[int, ...], ...] = tuple(tuple(e for e, (s, _) in enumerate(EDGES) if s == n) for n in range(3))


def batched_relu_conv_bn(blocks: Sequence[ReLUConvBN], relu_x: torch.Tensor, scales: torch.Tensor,
                         training: bool) -> list[torch.Tensor]:
    """``scales[i] * blocks[i](x)`` for search-cell ReLUConvBN blocks that share their input, as one conv and one BN.

    ``relu_x`` is ``relu(x)``, computed once by the caller. The blocks' kernels are stacked on the output
    channels, so one convolution serves every out-edge of a node; BN is per channel, so one batch-norm call
    over the stacked channels normalises each block with its own statistics, and its per-channel weight
    applies ``scales`` (the blocks' BN is non-affine). Running statistics are read from and written back to
    each block's own buffers, so the modules' state is what a per-block forward leaves.
    """
    convs = [b[1] for b in blocks]
    norms: list[nn.BatchNorm2d] = [b[2] for b in blocks]
    first, bn = convs[0], norms[0]
    kernel = first.weight if len(convs) == 1 else torch.cat([c.weight for c in convs])
    y = F.conv2d(relu_x, kernel, None, first.stride, first.padding)
    c = first.out_channels
    if len(norms) == 1:
        mean, var = bn.running_mean, bn.running_var
    else:
        mean, var = torch.cat([n.running_mean for n in norms]), torch.cat([n.running_var for n in norms])
    y = F.batch_norm(y, mean, var, scales.repeat_interleave(c), None, training, bn.momentum, bn.eps)
    if training:
        with torch.no_grad():
            for i, n in enumerate(norms):
                if len(norms) > 1:
                    n.running_mean.copy_(mean[i * c:(i + 1) * c])
                    n.running_var.copy_(var[i * c:(i + 1) * c])
                n.num_batches_tracked.add_(1)
    return list(y.split(c, dim=1))


class SearchCell(nn.Module):
    """4-node cell; node j = sum over i < j of the weighted (partial-channel) mixed op on edge i -> j.

    Computed node by node: every out-edge of a node sees the same input, so the node's ReLU and pooling run
    once, and the convolutions of one kernel size on all its out-edges run as one stacked convolution +
    batch norm (``batched_relu_conv_bn``). Each edge keeps its own op modules and parameters.
    """

    def __init__(self, channels: int, op_names: Sequence[str], partial_channels: int = 1) -> None:
        super().__init__()
        if partial_channels < 1 or channels % partial_channels:
            raise ValueError(f"partial_channels={partial_channels} must be a positive divisor of {channels} channels")
        self.op_names = tuple(op_names)
        self.k = partial_channels
        self.op_channels = channels // partial_channels
        # per edge, the computed ops by name (``none`` has no module: its output is always zero)
        self.edges = nn.ModuleList(
            nn.ModuleDict({o: make_op(o, self.op_channels) for o in self.op_names if o != "none"}) for _ in EDGES
        )

    def source_outputs(self, x: torch.Tensor, edges: Sequence[int], weights: Rows[torch.Tensor],
                       active: Rows[Sequence[bool]]) -> dict[int, torch.Tensor | None]:
        """The mixed-op outputs of ``edges``, which all leave the node whose value is ``x``.

        ``weights[e]`` and ``active[e]`` are edge ``e``'s op weights and which of them are non-zero; an
        output is None when it is exactly zero (no computed op and no bypass).
        """
        part = x if self.k == 1 else x[:, : self.op_channels]
        mixed: dict[int, torch.Tensor | None] = dict.fromkeys(edges)
        relu_x: torch.Tensor | None = None

        def add(e: int, term: torch.Tensor) -> None:
            mixed[e] = term if mixed[e] is None else mixed[e] + term

        for o, name in enumerate(self.op_names):
            on = [e for e in edges if active[e][o] and name in self.edges[e]]
            if not on:
                continue
            if name in CONV_OPS:
                relu_x = F.relu(part) if relu_x is None else relu_x
                scales = torch.stack([weights[e][o] for e in on])
                outs = batched_relu_conv_bn([self.edges[e][name] for e in on], relu_x, scales, self.training)
                for e, out in zip(on, outs, strict=True):
                    add(e, out)
            else:
                shared = self.edges[on[0]][name](part)  # parameter-free (skip, pooling): same for every edge
                for e in on:
                    add(e, weights[e][o] * shared)
        if self.k == 1:
            return mixed
        return {e: partial_channel_merge(mixed[e], x, self.k, weights[e].sum()) if any(active[e]) else None
                for e in edges}

    def forward(self, x: torch.Tensor, weights: torch.Tensor, active: Sequence[Sequence[bool]],
                node_bias: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``node_bias[j - 1]`` (a zero-valued scalar) is added to node j: the ``zero_ops="scalar"`` terms.

        Node j's inputs all come from nodes i < j, so it is complete once nodes 0 .. j-1 have run.
        """
        nodes = [x]
        totals: list[torch.Tensor | None] = [None] * 4
        for source in range(3):
            for e, out in self.source_outputs(nodes[source], OUT_EDGES[source], weights, active).items():
                t = EDGES[e][1]
                if out is not None:
                    totals[t] = out if totals[t] is None else totals[t] + out
            total = totals[source + 1] if totals[source + 1] is not None else torch.zeros_like(x)
            nodes.append(total if node_bias is None else total + node_bias[source])
        return nodes[3]


class NB201Skeleton(nn.Module):
    """NB201's macro skeleton (spec 6.2.1) around the cells ``make_cell(channels)`` builds.

    Shared by our supernet and the bench's published reference cell, so that a throughput ratio between
    them measures the cell implementation only.
    """

    def __init__(self, C: int, N: int, num_classes: int, make_cell: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(make_cell(c) for _ in range(N))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def logits(self, x: torch.Tensor, run_cell: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """The network's output, each search cell applied through ``run_cell(cell, input)``."""
        out = self.stem(x)
        for layer in self.layers:
            out = layer(out) if isinstance(layer, ResidualReduction) else run_cell(layer, out)
        return self.classifier(self.head(out).mean(dim=(2, 3)))


class NB201Supernet(NB201Skeleton):
    """The weight-sharing network of NAS-Bench-201 with configurable width ``C`` and depth ``N``."""

    def __init__(self, op_names: Sequence[str], C: int = 16, N: int = 5, num_classes: int = 10,
                 partial_channels: int = 1) -> None:
        names = tuple(op_names)
        super().__init__(C, N, num_classes, lambda c: SearchCell(c, names, partial_channels=partial_channels))
        self.op_names = names
        self.partial_channels = partial_channels

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor], zero_ops: str = "skip") -> torch.Tensor:
        w = weights["ops"]
        if w.shape != (len(EDGES), len(self.op_names)):
            raise ValueError(f"ops weights must be {len(EDGES)}x{len(self.op_names)}, got {tuple(w.shape)}")
        if zero_ops not in ZERO_OPS:
            raise ValueError(f"zero_ops must be one of {ZERO_OPS}, got {zero_ops!r}")
        active = (w.detach() != 0).tolist()  # one host sync per forward decides which ops run
        node_bias = self._zero_weight_scalars(w) if zero_ops == "scalar" else None
        return self.logits(x, lambda cell, out: cell(out, w, active, node_bias))

    @staticmethod
    def _zero_weight_scalars(w: torch.Tensor) -> list[torch.Tensor]:
        """Per target node, the sum of the zero weights on its edges (value 0, gradient 1 per weight).

        Summed once per forward rather than once per op and cell: the gradient is the same because the
        weights are shared by every cell, and it costs three small kernels instead of hundreds.
        """
        zero = w * (w.detach() == 0)
        return [zero[[e for e, (_, t) in enumerate(EDGES) if t == target]].sum() for target in range(1, 4)]

    def option_modules(self) -> OptionModules:
        """Per edge and op, the op's module in every search cell (none for ``none``, which has no module)."""
        cells = [layer for layer in self.layers if isinstance(layer, SearchCell)]
        return {"ops": [[[cell.edges[e][name] for cell in cells] if name != "none" else [] for name in self.op_names]
                        for e in range(len(EDGES))]}

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

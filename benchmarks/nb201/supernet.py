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

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.nb201.space import EDGES
from benchmarks.supernet_ops import ReLUConvBN, partial_channel_merge


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


def make_op(name: str, channels: int, affine: bool, track: bool) -> nn.Module:
    """A stride-1 NB201 operation other than ``none``."""
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, affine, track)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, affine, track)
    if name == "avg_pool_3x3":
        return AvgPool3x3(channels)
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}")


ZERO_OPS = ("skip", "scalar")


class SearchCell(nn.Module):
    """4-node cell; node j = sum over i < j of the weighted (partial-channel) mixed op on edge i -> j."""

    def __init__(self, channels: int, op_names: Sequence[str], affine: bool = False, track: bool = True,
                 partial_channels: int = 1) -> None:
        super().__init__()
        if partial_channels < 1 or channels % partial_channels:
            raise ValueError(f"partial_channels={partial_channels} must be a positive divisor of {channels} channels")
        self.op_names = tuple(op_names)
        self.k = partial_channels
        self.op_channels = channels // partial_channels
        # per edge, the computed ops by name (``none`` has no module: its output is always zero)
        self.edges = nn.ModuleList(
            nn.ModuleDict({o: make_op(o, self.op_channels, affine, track) for o in self.op_names if o != "none"})
            for _ in EDGES
        )

    def mixed_op(self, e: int, x: torch.Tensor, w: torch.Tensor, active: Sequence[bool]) -> torch.Tensor | None:
        """Edge ``e``'s output; None when it is exactly zero (no computed op and no bypass)."""
        ops = self.edges[e]
        part = x if self.k == 1 else x[:, : self.op_channels]
        mixed: torch.Tensor | None = None
        for o, name in enumerate(self.op_names):
            if active[o] and name in ops:
                term = w[o] * ops[name](part)
                mixed = term if mixed is None else mixed + term
        if self.k == 1 or not any(active):
            return mixed
        return partial_channel_merge(mixed, x, self.k, w.sum())

    def forward(self, x: torch.Tensor, weights: torch.Tensor, active: Sequence[Sequence[bool]],
                node_bias: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``node_bias[j - 1]`` (a zero-valued scalar) is added to node j: the ``zero_ops="scalar"`` terms."""
        nodes = [x]
        for target in range(1, 4):
            total: torch.Tensor | None = None
            for e, (source, t) in enumerate(EDGES):
                if t == target:
                    out = self.mixed_op(e, nodes[source], weights[e], active[e])
                    if out is not None:
                        total = out if total is None else total + out
            total = total if total is not None else torch.zeros_like(x)
            nodes.append(total if node_bias is None else total + node_bias[target - 1])
        return nodes[-1]


class NB201Supernet(nn.Module):
    """The weight-sharing network of NAS-Bench-201 with configurable width ``C`` and depth ``N``."""

    def __init__(self, op_names: Sequence[str], C: int = 16, N: int = 5, num_classes: int = 10,
                 partial_channels: int = 1) -> None:
        super().__init__()
        self.op_names = tuple(op_names)
        self.partial_channels = partial_channels
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(SearchCell(c, self.op_names, partial_channels=partial_channels) for _ in range(N))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor], zero_ops: str = "skip") -> torch.Tensor:
        w = weights["ops"]
        if w.shape != (len(EDGES), len(self.op_names)):
            raise ValueError(f"ops weights must be {len(EDGES)}x{len(self.op_names)}, got {tuple(w.shape)}")
        if zero_ops not in ZERO_OPS:
            raise ValueError(f"zero_ops must be one of {ZERO_OPS}, got {zero_ops!r}")
        active = (w.detach() != 0).tolist()  # one host sync per forward decides which ops run
        node_bias = self._zero_weight_scalars(w) if zero_ops == "scalar" else None
        out = self.stem(x)
        for layer in self.layers:
            out = layer(out, w, active, node_bias) if isinstance(layer, SearchCell) else layer(out)
        out = self.head(out).mean(dim=(2, 3))
        return self.classifier(out)

    @staticmethod
    def _zero_weight_scalars(w: torch.Tensor) -> list[torch.Tensor]:
        """Per target node, the sum of the zero weights on its edges (value 0, gradient 1 per weight).

        Summed once per forward rather than once per op and cell: the gradient is the same because the
        weights are shared by every cell, and it costs three small kernels instead of hundreds.
        """
        zero = w * (w.detach() == 0)
        return [zero[[e for e, (_, t) in enumerate(EDGES) if t == target]].sum() for target in range(1, 4)]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

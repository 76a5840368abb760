"""The NAS-Bench-201 search network: one supernet for every method, driven by mixing weights.

Macro skeleton (spec 6.2.1): stem conv3x3 + BN; N search cells at C channels; a residual reduction
block to 2C; N cells; a residual block to 4C; N cells; BN + ReLU, global pooling, linear. All search
cells share the architecture weights. Search-cell BN is non-affine with running statistics.

The forward takes ``weights = {"ops": Tensor[6, n_ops]}`` from the method: dense rows give the DARTS
mixture, one-hot rows give a single-path forward. An op whose weight is exactly 0 is not computed
(and ``none`` never is: its output is zero whatever its weight), so single-path methods pay only
for the op they sampled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from benchmarks.nb201.space import EDGES


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track),
        )


class ResidualReduction(nn.Module):
    """The ResNet basic block (stride 2) that doubles channels between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, affine=True, track=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, affine=True, track=True)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def make_op(name: str, channels: int, affine: bool, track: bool) -> nn.Module:
    """A stride-1 NB201 operation other than ``none``."""
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, affine, track)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, affine, track)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}")


class SearchCell(nn.Module):
    """4-node cell; node j = sum over i < j of the weighted ops on edge i -> j."""

    def __init__(self, channels: int, op_names: Sequence[str], affine: bool = False, track: bool = True) -> None:
        super().__init__()
        self.op_names = tuple(op_names)
        # per edge, the computed ops by name (``none`` has no module: its output is always zero)
        self.edges = nn.ModuleList(
            nn.ModuleDict({o: make_op(o, channels, affine, track) for o in self.op_names if o != "none"})
            for _ in EDGES
        )

    def forward(self, x: torch.Tensor, weights: torch.Tensor, active: Sequence[Sequence[bool]]) -> torch.Tensor:
        nodes = [x]
        for target in range(1, 4):
            total: torch.Tensor | None = None
            for e, (source, t) in enumerate(EDGES):
                if t != target:
                    continue
                ops = self.edges[e]
                for o, name in enumerate(self.op_names):
                    if not active[e][o] or name not in ops:
                        continue
                    term = weights[e, o] * ops[name](nodes[source])
                    total = term if total is None else total + term
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[-1]


class NB201Supernet(nn.Module):
    """The weight-sharing network of NAS-Bench-201 with configurable width ``C`` and depth ``N``."""

    def __init__(self, op_names: Sequence[str], C: int = 16, N: int = 5, num_classes: int = 10) -> None:
        super().__init__()
        self.op_names = tuple(op_names)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(SearchCell(c, self.op_names) for _ in range(N))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        w = weights["ops"]
        if w.shape != (len(EDGES), len(self.op_names)):
            raise ValueError(f"ops weights must be {len(EDGES)}x{len(self.op_names)}, got {tuple(w.shape)}")
        active = (w.detach() != 0).tolist()  # one host sync per forward decides which ops run
        out = self.stem(x)
        for layer in self.layers:
            out = layer(out, w, active) if isinstance(layer, SearchCell) else layer(out)
        out = self.head(out).mean(dim=(2, 3))
        return self.classifier(out)

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

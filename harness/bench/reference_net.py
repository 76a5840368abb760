"""The NAS-Bench-201 search network as published (AutoDL-Projects ``SearchCell``), the supernet bench's reference.

Every op of every edge is computed and the edge output is the plain weighted sum ``sum(op(x) * w)`` in a
per-edge ``nn.ModuleList`` loop; ``none`` is ``x.mul(0.)`` and the pooling is ``AvgPool2d(3, 1, 1,
count_include_pad=False)``, as in the reference code. Same skeleton, widths and op modules as
``benchmarks.nb201.supernet`` otherwise, so a throughput ratio measures the cell implementation only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from benchmarks.nb201.space import EDGES
from benchmarks.nb201.supernet import NB201Skeleton
from benchmarks.supernet_ops import ReLUConvBN


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def reference_op(name: str, channels: int) -> nn.Module:
    ops = {
        "none": Zero,
        "skip_connect": nn.Identity,
        "nor_conv_1x1": lambda: ReLUConvBN(channels, channels, 1, 1, affine=False, track=True),
        "nor_conv_3x3": lambda: ReLUConvBN(channels, channels, 3, 1, affine=False, track=True),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    }
    return ops[name]()


class ReferenceCell(nn.Module):
    def __init__(self, channels: int, op_names: Sequence[str]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(reference_op(o, channels) for o in op_names) for _ in EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, 4):
            inter = [sum(op(nodes[source]) * w for op, w in zip(self.edges[e], weights[e], strict=True))
                     for e, (source, t) in enumerate(EDGES) if t == target]
            nodes.append(sum(inter))
        return nodes[-1]


class ReferenceSupernet(NB201Skeleton):
    def __init__(self, op_names: Sequence[str], C: int, N: int, num_classes: int = 10) -> None:
        super().__init__(C, N, num_classes, lambda c: ReferenceCell(c, op_names))

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.logits(x, lambda cell, out: cell(out, weights["ops"]))

"""A tiny supernet on the decisions contract, for exact checks of update rules (float64, CPU, milliseconds).

Two decisions of three options each, applied in sequence to a feature vector: option 0 is
tanh(Linear), option 1 is a Linear, option 2 the identity (a free "skip"). As in the real supernets, an
option whose mixing weight is exactly 0 is not computed, and a non-affine batch norm with running
statistics sits before the classifier, so batch-norm buffers and uncomputed ops are exercised.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from benchmarks.space import Decision, DecisionGroup, SearchSpace
from methods.base import EpochContext

OPTIONS = ("tanh_linear", "linear", "identity")


class TinySpace(SearchSpace):
    name = "tiny"

    def __init__(self, rows: int = 2) -> None:
        self.groups = (DecisionGroup("ops", tuple(Decision(f"row{r}", OPTIONS) for r in range(rows))),)


class TinyNet(nn.Module):
    def __init__(self, rows: int = 2, d: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.rows = nn.ModuleList(nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d, bias=False)]) for _ in range(rows))
        self.bn = nn.BatchNorm1d(d, affine=False)
        self.head = nn.Linear(d, classes)

    def option_modules(self) -> dict[str, list[list[list[nn.Module]]]]:
        """The supernets' contract: per row and option, the modules computing it (the identity has none)."""
        return {"ops": [[[lin_a], [lin_b], []] for lin_a, lin_b in self.rows]}

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        w = weights["ops"]
        active = (w.detach() != 0).tolist()
        h = x
        for r, (lin_a, lin_b) in enumerate(self.rows):
            outs = [lambda v, lin=lin_a: torch.tanh(lin(v)), lin_b, lambda v: v]
            h = sum(w[r, o] * f(h) for o, f in enumerate(outs) if active[r][o])
        return self.head(self.bn(h))


def batch(n: int, seed: int, d: int = 4, classes: int = 3,
          dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g)


def tiny_setup(seed: int = 0, dtype: torch.dtype = torch.float64, momentum: float = 0.9,
               weight_decay: float = 3e-4) -> tuple[TinySpace, TinyNet, torch.optim.SGD]:
    torch.manual_seed(seed)
    net = TinyNet().to(dtype)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=momentum, weight_decay=weight_decay)
    return TinySpace(), net, opt


def context(net: nn.Module, opt: torch.optim.Optimizer, weight_batches: list, arch_batches: list, epoch: int = 1,
            epochs: int = 2, steps_per_epoch: int | None = None) -> EpochContext:
    return EpochContext(net, opt, weight_batches, arch_batches, epoch, epochs, grad_clip=5.0,
                        steps_per_epoch=steps_per_epoch if steps_per_epoch is not None else len(weight_batches))

"""Building blocks shared by the supernets of several spaces (NB201, 1Shot1, DARTS).

Kept in one place so that PC-DARTS's partial-channel mixed op behaves the same on every space.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from benchmarks.space import DecisionGroup

#: per decision group, per row, per option: the modules computing that option, one per cell that has it (empty
#: where the option has no module, e.g. ``none``, or is not an operation, e.g. an input-edge choice). What methods
#: that act on an operation's own weights read (GSparsity's group lasso, OLES's per-operation early stopping).
OptionModules = dict[str, list[list[list[nn.Module]]]]


def option_modules_of(groups: tuple[DecisionGroup, ...],
                      modules: Callable[[DecisionGroup, int, int], list[nn.Module]]) -> OptionModules:
    """``OptionModules`` of ``groups`` from ``modules(group, row, option)`` (called for real options only)."""
    return {g.name: [[modules(g, r, o) if g.mask[r, o] else [] for o in range(g.width)] for r in range(g.rows)]
            for g in groups}


class ReLUConvBN(nn.Sequential):
    """ReLU, k x k convolution ('same' padding), BN: the cell preprocessing and NB201's conv ops."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, affine: bool, track: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track),
        )


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's shuffle as PC-DARTS uses it: output channel j * groups + g is input channel g * (C / groups) + j."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def partial_channel_merge(mixed: torch.Tensor | None, x: torch.Tensor, k: int, scale: torch.Tensor,
                          bypass: nn.Module | None = None) -> torch.Tensor:
    """PC-DARTS's mixed-op output from the ops' result on the first C/K channels of ``x``.

    ``mixed`` is None when no computed op ran (only ``none``): zeros then. The other channels bypass the
    ops, through ``bypass`` where the edge has stride 2 (PC-DARTS: a 2x2 max-pool), scaled by ``scale``
    (the row's total op weight: 1 on the simplex); both parts are concatenated and shuffled with K groups.
    """
    rest = x[:, x.shape[1] // k:]
    rest = rest if bypass is None else bypass(rest)
    mixed = torch.zeros_like(rest[:, : x.shape[1] // k]) if mixed is None else mixed
    return channel_shuffle(torch.cat([mixed, scale * rest], dim=1), k)

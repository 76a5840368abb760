"""Exponentiated gradient on products of simplices: GAEA's architecture step (spec 1.4, Eq. 8).

One EG step multiplies each entry by exp(-lr * grad) and re-normalizes each row to sum to 1; it is
mirror descent with the entropic mirror map, so weights stay positive and rows stay on the simplex
without any projection. Written as a ``torch.optim.Optimizer`` so every GAEA variant shares it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def eg_update(theta: torch.Tensor, grad: torch.Tensor, lr: float, floor: float = 0.0,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """theta * exp(-lr * grad), row-normalized; ``floor`` > 0 clamps entries from below first.

    ``floor`` reproduces the released GAEA code (clamp at 1e-5, then renormalize); the paper has no
    floor. ``mask`` marks real options: padded entries stay exactly 0.
    """
    new = theta * torch.exp(-lr * grad)
    new = new / new.sum(dim=-1, keepdim=True)
    if floor > 0:
        clamped = new.clamp_min(floor)
        new = torch.where(mask, clamped, torch.zeros_like(new)) if mask is not None else clamped
        new = new / new.sum(dim=-1, keepdim=True)
    return new


class ExponentiatedGradient(torch.optim.Optimizer):
    """EG on parameters whose last dimension indexes the options of a simplex row."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.1, floor: float = 0.0) -> None:
        if lr <= 0:
            raise ValueError(f"EG learning rate must be positive, got {lr}")
        super().__init__(params, dict(lr=lr, floor=floor))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - the torch.optim signature
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                mask = p > 0  # padded entries are exactly 0 and EG can never revive them
                p.copy_(eg_update(p, p.grad, group["lr"], group["floor"], mask))
        return loss


def kl_to_uniform(theta: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over rows of KL(theta_row || uniform over the row's real options), differentiable.

    The released GAEA architects add ``arch_weight_decay`` times this entropic regularizer,
    sum theta log(theta / (1/|O|)), to the architecture loss; the paper uses none (spec 1.4).
    """
    n = mask.sum(dim=-1, keepdim=True).to(theta.dtype)
    safe = torch.where(mask & (theta > 0), theta, torch.ones_like(theta))  # 0 log 0 = 0, padding contributes 0
    return (torch.where(mask, theta, torch.zeros_like(theta)) * torch.log(safe * n)).sum()

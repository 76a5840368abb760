"""Parameterizations of the architecture: one tensor per decision group of the space.

- ``SoftmaxLogits``: DARTS-family logits alpha; mixing weights = softmax(alpha) per decision row.
- ``Simplex``: GAEA's theta, directly the mixing weights, each row on the probability simplex.

A relaxation turns its parameters into the supernet's mixing weights (differentiable), into one
probability row per decision (for entropy), and into a discrete selection (top-k per decision).
Padded columns (decisions of a group with fewer options) get weight 0 and are never selected.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.space import SearchSpace, topk_selection


class Relaxation(nn.Module):
    """Architecture parameters per decision group of ``space``."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.params = nn.ParameterDict()
        for g in space.groups:
            self.register_buffer(f"mask_{g.name}", g.mask.clone(), persistent=False)

    def mask(self, group: str) -> torch.Tensor:
        return getattr(self, f"mask_{group}")

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        """Differentiable [rows, width] weights per group for the supernet forward."""
        raise NotImplementedError

    def probabilities(self) -> dict[str, torch.Tensor]:
        """Detached probability rows per group (what entropy and derivation read)."""
        with torch.no_grad():
            return {k: v.detach() for k, v in self.mixing_weights().items()}

    def derive(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        """Top-k options per decision by probability: the discrete architecture."""
        probs = self.probabilities()
        return {g.name: topk_selection(g, probs[g.name]) for g in self.space.groups}


class SoftmaxLogits(Relaxation):
    """DARTS: logits initialized at 1e-3 * N(0, 1), softmax over the real options of each row."""

    def __init__(self, space: SearchSpace, generator: torch.Generator, init_scale: float = 1e-3) -> None:
        super().__init__(space)
        for g in space.groups:
            alpha = init_scale * torch.randn(g.rows, g.width, generator=generator)
            self.params[g.name] = nn.Parameter(alpha)

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        return {
            name: torch.softmax(alpha.masked_fill(~self.mask(name), float("-inf")), dim=-1)
            for name, alpha in self.params.items()
        }


class Simplex(Relaxation):
    """GAEA: theta on each row's simplex, uniform at init (spec 1.4), updated by exponentiated gradient."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space)
        for g in space.groups:
            m = g.mask.to(torch.float32)
            self.params[g.name] = nn.Parameter(m / m.sum(dim=-1, keepdim=True))

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        return dict(self.params.items())

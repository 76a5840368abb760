"""NASP's box-constrained architecture and its proximal operators (Yao et al. 2020; spec 5.2-5.3).

A stays continuous in the box [0, 1]^{rows x width}; the network runs Abar = prox_C(A), the nearest point
of C = C1 n C2 with C1 = {||a||_0 = k} per row (k = the decision's k: one op per NB201 edge) and
C2 = [0, 1]. Proposition 1 gives prox_C = prox_C1 o prox_C2: clip, then keep the k entries of largest
magnitude. The order matters (clip first), which the tests check against brute force, and so do ties:
``prox_c`` ranks by the unclipped values, the exact projection.
"""

from __future__ import annotations

import torch

from benchmarks.space import SearchSpace
from methods.relaxations import Relaxation


def prox_box(a: torch.Tensor) -> torch.Tensor:
    """prox_C2: the Euclidean projection onto the box, element-wise clip to [0, 1]."""
    return a.clamp(0.0, 1.0)


def _top_k(score: torch.Tensor, mask: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
    """Bool mask of the ``k`` largest scores per row (ties to the lower index; padding never chosen)."""
    order = torch.sort(-score.detach().masked_fill(~mask, float("-inf")), dim=-1, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(score.shape[-1], device=score.device).expand_as(order))
    return rank < ks.to(score.device).unsqueeze(-1)


def _kept(a: torch.Tensor, keep: torch.Tensor, binarize: bool) -> torch.Tensor:
    """``a`` (or 1 with ``binarize``, as the released NASP code does) where kept, 0 elsewhere."""
    return torch.where(keep, torch.ones_like(a) if binarize else a, torch.zeros_like(a))


def prox_sparse(a: torch.Tensor, mask: torch.Tensor, ks: torch.Tensor, binarize: bool = False) -> torch.Tensor:
    """prox_C1 per row: keep the ``k`` entries of largest |a| (ties to the lower index), zero the rest.

    Keeping the values is the Euclidean projection (Eq. 7 scales the op by a_k). Padded columns
    (``mask`` False) are never kept.
    """
    return _kept(a, _top_k(a.abs(), mask, ks), binarize)


def prox_c(a: torch.Tensor, mask: torch.Tensor, ks: torch.Tensor, binarize: bool = False) -> torch.Tensor:
    """prox_C, the exact Euclidean projection onto C: clip to [0, 1], keep the k largest *unclipped* entries.

    This is Proposition 1's prox_C1 o prox_C2 except for ties the clip creates: entries above 1 all clip
    to 1, and keeping the lowest index among them (prox_C1 o prox_C2 read literally) is not the nearest
    point; keeping the largest unclipped one is (brute force in the tests). Inside the box the two agree.
    """
    return _kept(prox_box(a), _top_k(a, mask, ks), binarize)


def complexity_penalty(abar: torch.Tensor, costs: torch.Tensor) -> torch.Tensor:
    """R(A) = sum_k (p_k / p_bar) ||A_{:,k}||^2 (Eq. 8), p_bar = the row's total cost (0 where it has none)."""
    total = costs.sum(dim=-1, keepdim=True)
    weight = torch.where(total > 0, costs / total.clamp_min(1e-12), torch.zeros_like(costs))
    return (weight.to(abar) * abar.square()).sum()


class Box(Relaxation):
    """A in [0, 1] per decision group; the network runs prox_C(A) (one-hot support, or k-hot)."""

    def __init__(self, space: SearchSpace, generator: torch.Generator, init: float, noise: float,
                 binarize: bool) -> None:
        super().__init__(space)
        self.binarize = binarize
        for g in self.groups:
            a = (init + noise * torch.randn(g.rows, g.width, generator=generator)).clamp(0.0, 1.0)
            self.params[g.name] = torch.nn.Parameter(a * g.mask)
            self.register_buffer(f"ks_{g.name}", torch.tensor(g.ks), persistent=False)

    def ks(self, group: str) -> torch.Tensor:
        return getattr(self, f"ks_{group}")

    @torch.no_grad()
    def discrete(self) -> dict[str, torch.Tensor]:
        """Abar = prox_C(A) per group: what the supernet runs."""
        return {n: prox_c(a, self.mask(n), self.ks(n), self.binarize) for n, a in self.params.items()}

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        """Abar (constant: NASP takes gradients w.r.t. Abar explicitly and applies them to A)."""
        return self.discrete()

    @torch.no_grad()
    def project_(self, kind: str) -> None:
        """After a step: ``box`` (NASP: prox_C2), ``prox`` (standard PA: prox_C) or ``none`` (lazy PA)."""
        for n, a in self.params.items():
            if kind == "box":
                a.copy_(prox_box(a))
            elif kind == "prox":
                a.copy_(prox_c(a, self.mask(n), self.ks(n), self.binarize))
            a.mul_(self.mask(n))

    @torch.no_grad()
    def probabilities(self) -> dict[str, torch.Tensor]:
        """p = A_row / sum A_row on the clipped continuous A (spec 6.3.2); a zero row is uniform."""
        out = {}
        for n, a in self.params.items():
            clipped, m = prox_box(a) * self.mask(n), self.mask(n).to(a.dtype)
            total = clipped.sum(dim=-1, keepdim=True)
            uniform = m / m.sum(dim=-1, keepdim=True)
            out[n] = torch.where(total > 0, clipped / total.clamp_min(1e-30), uniform)
        return out

    def derivation_scores(self) -> dict[str, torch.Tensor]:
        """A itself: the support of prox_C(A) is its top-k (ties to the lower index)."""
        return {n: a.detach() for n, a in self.params.items()}

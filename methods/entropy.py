"""Architecture entropy exactly as GAEA computes it (spec 6.3.2).

Per decision row, H(p) = -sum_o p_o ln p_o (natural log, 0 ln 0 = 0); the reported value is the plain
average over rows. Uniform rows over |O| options give ln |O|.
"""

from __future__ import annotations

import torch


def row_entropies(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of each row of a [rows, width] probability matrix (padded zeros contribute 0)."""
    p = probs.detach().to(torch.float64)
    return -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(dim=-1)


def mean_entropy(probs: torch.Tensor) -> float:
    return float(row_entropies(probs).mean())


def normalized_mean_entropy(probs: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over rows of H / ln(#options of that row): 1 at uniform, 0 at one-hot, comparable across spaces."""
    n = mask.sum(dim=-1).to(torch.float64)
    h = row_entropies(probs)
    denom = torch.where(n > 1, torch.log(n), torch.ones_like(n))
    return float((h / denom).mean())

"""DrNAS's relaxation (Chen et al., ICLR 2021): each decision row's mixing weights are a Dirichlet random
variable, sampled with a pathwise (reparameterized) gradient.

Parameters alpha per row (init 1e-3 N(0, 1), as DARTS); concentration beta = ELU(alpha) + 1 > 0 (DrNAS
``process_step_vector``), so alpha = 0 is the flat Dirichlet beta = 1, the anchor of DrNAS's regularizer.
A draw is w = G / sum(G) with G_o ~ Gamma(beta_o, 1) over the row's real options (padding stays exactly 0),
Gamma draws from the method's generator; the gradient of G w.r.t. beta is the implicit reparameterization
gradient (Figurnov et al. 2018; torch's ``_standard_gamma_grad``), which carries through the normalization.
The architecture's probabilities are the Dirichlet mean beta / sum(beta) (the DrNAS README: the current
architecture is "selected by Dirichlet mean"); derivation is top-k by it, which orders options as softmax(alpha)
does (ELU is monotone), the released code's ``genotype``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import SearchSpace
from methods.relaxations import Relaxation


class _StandardGamma(torch.autograd.Function):
    """G ~ Gamma(concentration, 1) drawn on the CPU from ``generator``; backward: the implicit reparameterization
    gradient dG/dconcentration."""

    @staticmethod
    def forward(ctx, concentration: torch.Tensor, generator: torch.Generator) -> torch.Tensor:  # noqa: ANN001
        draw = torch._standard_gamma(concentration.detach().to("cpu", torch.float64), generator=generator)
        draw = draw.to(concentration.device, concentration.dtype)
        ctx.save_for_backward(concentration, draw)
        return draw

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        concentration, draw = ctx.saved_tensors
        return grad * torch._standard_gamma_grad(concentration, draw), None


def dirichlet_rsample(concentration: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One Dirichlet(concentration) draw per row over the options where ``mask`` is True (0 elsewhere), differentiable
    in ``concentration``. Padded entries need any positive concentration (they are drawn, then dropped)."""
    gamma = _StandardGamma.apply(torch.where(mask, concentration, torch.ones_like(concentration)), generator)
    gamma = torch.where(mask, gamma, torch.zeros_like(gamma))
    return gamma / gamma.sum(dim=-1, keepdim=True)


def kl_to_flat_dirichlet(concentration: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over rows of KL(Dir(beta_row) || Dir(1, ..., 1)) over each row's real options (DrNAS's ``kl`` anchor):
    lgamma(B) - sum lgamma(beta) - lgamma(n) + sum (beta - 1)(digamma(beta) - digamma(B)), B = sum beta."""
    beta = torch.where(mask, concentration, torch.ones_like(concentration))
    m = mask.to(beta.dtype)
    total = (beta * m).sum(dim=-1)
    n = m.sum(dim=-1)
    per_option = (-torch.lgamma(beta) + (beta - 1.0) * (torch.digamma(beta) - torch.digamma(total).unsqueeze(-1))) * m
    return (torch.lgamma(total) - torch.lgamma(n) + per_option.sum(dim=-1)).sum()


class DirichletConcentration(Relaxation):
    """alpha per decision group; concentration ELU(alpha) + 1; probabilities = the Dirichlet mean."""

    def __init__(self, space: SearchSpace, generator: torch.Generator, init_scale: float = 1e-3) -> None:
        super().__init__(space)
        for g in self.groups:
            self.params[g.name] = nn.Parameter(init_scale * torch.randn(g.rows, g.width, generator=generator))

    def concentrations(self) -> dict[str, torch.Tensor]:
        """Differentiable beta = ELU(alpha) + 1 per group, 0 on padding."""
        return {g.name: (F.elu(self.params[g.name]) + 1.0) * self.mask(g.name) for g in self.groups}

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        """The Dirichlet mean: the deterministic weights (evaluation of the supernet as a relaxation)."""
        return {name: beta / beta.sum(dim=-1, keepdim=True) for name, beta in self.concentrations().items()}

"""Independent hard-concrete gates per option (Louizos et al. 2018), as PR-DARTS uses them (spec 4.3).

Per gate with logit beta and temperature tau: u ~ U(0, 1), gbar = sigmoid((ln u - ln(1 - u) + beta) / tau),
stretched to (a, b) = (-0.1, 1.1) and clipped to [0, 1], so a gate is exactly 0 or exactly 1 with
positive probability and differentiable in beta in between. There is no softmax across options.
P(g != 0) = sigmoid(beta - tau ln(-a/b)) (Theorem 3): the activation probability that PR-DARTS's
regularizers, pruning and entropy read. Noise is drawn on the CPU from the method's generator, so a run
draws the same gates on any device and after a resume.
"""

from __future__ import annotations

import math

import torch

from benchmarks.space import SearchSpace
from methods.relaxations import Relaxation

#: the stretch interval (a, b) of the paper
STRETCH = (-0.1, 1.1)
#: u is kept inside (U_EPS, 1 - U_EPS) so that ln u and ln(1 - u) stay finite
U_EPS = 1e-7


def activation_probability(beta: torch.Tensor, tau: float, a: float = STRETCH[0],
                           b: float = STRETCH[1]) -> torch.Tensor:
    """P(g != 0) = sigmoid(beta - tau ln(-a / b)) (Theorem 3), differentiable in beta."""
    return torch.sigmoid(beta - tau * math.log(-a / b))


def hard_concrete(beta: torch.Tensor, u: torch.Tensor, tau: float, a: float = STRETCH[0],
                  b: float = STRETCH[1]) -> torch.Tensor:
    """The gate for uniform noise ``u``: clip(a + (b - a) sigmoid((logit u + beta) / tau), 0, 1)."""
    gbar = torch.sigmoid((torch.log(u) - torch.log1p(-u) + beta) / tau)
    return (a + (b - a) * gbar).clamp(0.0, 1.0)


def bernoulli_entropy(p: torch.Tensor) -> torch.Tensor:
    """-p ln p - (1 - p) ln(1 - p) element-wise, with 0 ln 0 = 0."""
    p = p.to(torch.float64)
    q = 1.0 - p
    return -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))
             + torch.where(q > 0, q * torch.log(q), torch.zeros_like(q)))


class HardConcreteGates(Relaxation):
    """Gate logits beta per decision group; ``sample`` draws gates on ``sample_ops`` random options per row.

    ``tau`` is set by the method (its schedule); probabilities are the activation probabilities
    normalized per row (spec 6.3.2), and derivation keeps the top-k options by activation probability,
    computed from beta, which orders them the same way without saturating at 1.
    """

    def __init__(self, space: SearchSpace, generator: torch.Generator, init_scale: float, sample_ops: int,
                 tau: float) -> None:
        super().__init__(space)
        self.generator, self.sample_ops, self.tau = generator, sample_ops, tau
        self.cpu_masks = {g.name: g.mask for g in self.groups}  # subsets are drawn on the CPU generator
        for g in self.groups:
            self.params[g.name] = torch.nn.Parameter(init_scale * torch.randn(g.rows, g.width, generator=generator))

    def activation_probabilities(self) -> dict[str, torch.Tensor]:
        """Differentiable P(g != 0) per option, 0 on padding."""
        return {n: activation_probability(beta, self.tau) * self.mask(n) for n, beta in self.params.items()}

    def subset(self, group: str) -> torch.Tensor:
        """Bool [rows, width]: ``sample_ops`` options per row drawn uniformly without replacement."""
        mask = self.cpu_masks[group]
        keys = torch.rand(mask.shape, generator=self.generator).masked_fill(~mask, -1.0)
        k = min(self.sample_ops, mask.shape[-1])
        chosen = torch.zeros_like(mask).scatter_(-1, keys.topk(k, dim=-1).indices, True) & mask
        return chosen.to(self.mask(group).device)

    def sample(self) -> dict[str, torch.Tensor]:
        """Gates on a random subset of options per row (zero elsewhere), differentiable in beta."""
        out = {}
        for n, beta in self.params.items():
            u = torch.rand(beta.shape, generator=self.generator).clamp(U_EPS, 1 - U_EPS)
            gates = hard_concrete(beta, u.to(beta.device, beta.dtype), self.tau)
            out[n] = torch.where(self.subset(n), gates, torch.zeros_like(gates))
        return out

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        return self.sample()

    @torch.no_grad()
    def deterministic_gates(self) -> dict[str, torch.Tensor]:
        """Louizos et al.'s test-time gate clip(a + (b - a) sigmoid(beta), 0, 1) on every option."""
        a, b = STRETCH
        return {n: (a + (b - a) * torch.sigmoid(beta)).clamp(0.0, 1.0) * self.mask(n)
                for n, beta in self.params.items()}

    @torch.no_grad()
    def probabilities(self) -> dict[str, torch.Tensor]:
        """p_o = P_o / sum_o' P_o' per row (spec 6.3.2)."""
        probs = self.activation_probabilities()
        return {n: p / p.sum(dim=-1, keepdim=True) for n, p in probs.items()}

    def derivation_scores(self) -> dict[str, torch.Tensor]:
        """beta: P(g != 0) is increasing in beta at the common tau, so it ranks options (and a DARTS cell's
        inputs by their strongest op, PR-DARTS's pruning) the same way without saturating."""
        return {n: beta.detach() for n, beta in self.params.items()}

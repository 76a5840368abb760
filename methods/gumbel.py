"""Estimators for sampling one option per categorical row: the math behind the Gumbel and ReinMax samplers.

- ``straight_through`` (GDAS, spec 6.1 row 6): per row p = softmax((logits + g) / tau) with g = -log E,
  E ~ Exp(1) (Gumbel(0, 1) noise), and h = onehot(argmax p) - sg(p) + p. The forward value is exactly
  one-hot (non-sampled entries are exactly 0, so the supernet skips those ops) while the gradient is that
  of p, the softmax Jacobian path. The argmax of p is a sample of softmax(logits) whatever tau is; tau only
  shapes the gradient.
- ``soft`` (SNAS, Xie et al. ICLR 2019; the input/output rows of the NAS-Bench-1Shot1 GDAS reference):
  the Gumbel-softmax p = softmax((logits + g) / tau) itself, dense and differentiable.
- ``reinmax`` (Liu et al., NeurIPS 2023, "Bridging Discrete and Backpropagation: Straight-Through and
  Beyond", Algorithm 2): the same one-hot sample D of softmax(logits) (drawn by Gumbel-max), with the
  second-order gradient dL/dlogits = 2 J(pi_1) g - J(p) g / 2, where g = dL/dD, p = softmax(logits),
  pi_1 = (softmax(logits / tau) + D) / 2 and J(q) = diag(q) - q q^T; ReinMax needs tau >= 1.

Noise is drawn on the CPU from the method's own generator, which checkpoints save, so a run draws the
same architectures on any device and after a resume.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nasbench_errors import RunFailed

#: resampling limit: the released code retries "while inf or NaN" forever, which hangs on NaN logits
MAX_TRIES = 100


def gumbel_noise(shape: torch.Size | tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Gumbel(0, 1) noise -log(Exp(1)) of ``shape`` on the CPU (inf where the exponential draw is 0)."""
    return -torch.empty(shape).exponential_(generator=generator).log()


def straight_through(logits: torch.Tensor, noise: torch.Tensor, tau: float) -> torch.Tensor:
    """h = onehot(argmax p) - sg(p) + p with p = softmax((logits + noise) / tau) over the last dimension."""
    probs = torch.softmax((logits + noise) / tau, dim=-1)
    hard = torch.zeros_like(probs).scatter_(-1, probs.argmax(dim=-1, keepdim=True), 1.0)
    return hard - probs.detach() + probs


def soft(logits: torch.Tensor, noise: torch.Tensor, tau: float) -> torch.Tensor:
    """The Gumbel-softmax sample softmax((logits + noise) / tau) over the last dimension."""
    return torch.softmax((logits + noise) / tau, dim=-1)


def _softmax_jvp(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """J(q) v = q * v - q (q . v) per row: the softmax Jacobian at q (symmetric) applied to v."""
    return q * v - q * (q * v).sum(dim=-1, keepdim=True)


class _ReinMax(torch.autograd.Function):
    """Forward: the one-hot ``sample``; backward: ReinMax's second-order estimate of dL/dlogits."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, sample: torch.Tensor, tau: float) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(logits, sample)
        ctx.tau = tau
        return sample.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # noqa: ANN001
        logits, sample = ctx.saved_tensors
        p = torch.softmax(logits, dim=-1)
        pi_1 = 0.5 * (torch.softmax(logits / ctx.tau, dim=-1) + sample)
        return 2.0 * _softmax_jvp(pi_1, grad) - 0.5 * _softmax_jvp(p, grad), None, None


def reinmax(logits: torch.Tensor, noise: torch.Tensor, tau: float) -> torch.Tensor:
    """D = onehot(argmax(logits + noise)), a sample of softmax(logits), with ReinMax's gradient (tau >= 1)."""
    sample = torch.zeros_like(logits).scatter_(-1, (logits + noise).argmax(dim=-1, keepdim=True), 1.0)
    return _ReinMax.apply(logits, sample.detach(), tau)


Estimator = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def sample_with(estimator: Estimator, logits: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """``estimator(logits, g, tau)`` with fresh Gumbel noise g; redrawn while the noise or the sample is inf/NaN
    (as GDAS does), a ``RunFailed`` after ``MAX_TRIES`` draws."""
    for _ in range(MAX_TRIES):
        noise = gumbel_noise(logits.shape, generator)
        if not torch.isfinite(noise).all():
            continue
        sample = estimator(logits, noise.to(device=logits.device, dtype=logits.dtype), tau)
        if torch.isfinite(sample).all():
            return sample
    raise RunFailed(f"Gumbel sampling gave inf/NaN {MAX_TRIES} times in a row: the architecture parameters are "
                    "not finite; lower the architecture learning rate")


def sample_straight_through(logits: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """A straight-through hard sample of every row (``straight_through`` with fresh noise)."""
    return sample_with(straight_through, logits, tau, generator)

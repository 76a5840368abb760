"""Hard Gumbel-max sampling with a straight-through gradient: GDAS's differentiable sampler (spec 6.1 row 6).

Per decision row, p = softmax((logits + g) / tau) with g = -log E, E ~ Exp(1) (Gumbel(0, 1) noise), and
h = onehot(argmax p) - sg(p) + p: the forward value is exactly one-hot (non-sampled entries are exactly
0, so the supernet skips those ops) while the gradient is that of p, the softmax Jacobian path. The
argmax of p is a sample of softmax(logits) whatever tau is; tau only shapes the gradient.

Noise is drawn on the CPU from the method's own generator, which checkpoints save, so a run draws the
same architectures on any device and after a resume.
"""

from __future__ import annotations

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


def sample_straight_through(logits: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """A straight-through hard sample of every row; redrawn while the noise or p is inf/NaN (as GDAS does)."""
    for _ in range(MAX_TRIES):
        noise = gumbel_noise(logits.shape, generator)
        if not torch.isfinite(noise).all():
            continue
        sample = straight_through(logits, noise.to(device=logits.device, dtype=logits.dtype), tau)
        if torch.isfinite(sample).all():
            return sample
    raise RunFailed(f"Gumbel sampling gave inf/NaN {MAX_TRIES} times in a row: the architecture parameters are "
                    "not finite; lower the architecture learning rate")

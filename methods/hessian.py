"""Second-order machinery shared by DARTS (2nd order) and Amended-DARTS: virtual weights and
Hessian-vector products.

Both methods need the supernet's loss at weights other than the current ones (w' = w - xi grad, or
w +- eps v) and products of second derivatives with a vector. ``WeightSpace`` evaluates the loss at any
weights through ``torch.func.functional_call``: the module is never copied or modified, and the
batch-norm running statistics of virtual forwards go to throw-away copies, so an architecture step
leaves the network exactly as it found it.

``directional_grad`` is the one primitive: the derivative of a gradient along a vector v,
D_v grad_x L(w) = d/dt grad_x L(w + t v) at t = 0, which is the Hessian-vector product H v for x = w and
the mixed product grad^2_{x,w} L v for x = the architecture. It is computed either by the central
finite difference the papers use (DARTS Eq. 8, P2 App. A.2), with eps = 0.01 / ||v|| as in the DARTS
code, or exactly by double backpropagation (the reference the tests compare against).

The two agree on smooth networks (tests: relative error ~1e-5 in float64), but not on the ReLU
supernets: a displacement of norm 0.01 flips ReLUs, so the papers' difference quotient includes the
gradient's jumps at the kinks, which the exact (almost-everywhere) Hessian does not. Measured on the
NB201 supernet (C=8, N=1, batch 32, float64): relative difference 12 (mixed product) and 9 (H v) at
eps = 0.01/||v||, 4e-9 at eps = 1e-6/||v||. The default follows the papers; ``hvp=exact`` is the local one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

Tensors = list[torch.Tensor]
#: the loss at given weights (the architecture parameters are captured by the closure)
LossAt = Callable[[Sequence[torch.Tensor]], torch.Tensor]

FD_SCALE = 0.01  # DARTS code: R = 0.01 / ||v||


class WeightSpace:
    """The supernet's trainable weights as a list, and its loss evaluated at any such list."""

    def __init__(self, net: nn.Module, params: Sequence[torch.Tensor]) -> None:
        names = {id(p): n for n, p in net.named_parameters()}
        self.net = net
        self.params = list(params)
        self.names = [names[id(p)] for p in self.params]

    def current(self) -> Tensors:
        return [p.detach() for p in self.params]

    def loss(self, w: Sequence[torch.Tensor], mixing: dict[str, torch.Tensor],
             batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the supernet with weights ``w`` (BN statistics updated on copies only)."""
        x, y = batch
        state = {n: b.clone() for n, b in self.net.named_buffers()}
        state.update(zip(self.names, w, strict=True))
        return F.cross_entropy(functional_call(self.net, state, (x, mixing)), y)


def grads(loss: torch.Tensor, wrt: Sequence[torch.Tensor], create_graph: bool = False) -> Tensors:
    """d loss / d wrt, with zeros for tensors the loss does not reach (ops that were not computed)."""
    out = torch.autograd.grad(loss, list(wrt), allow_unused=True, create_graph=create_graph)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(out, wrt, strict=True)]


def norm(v: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in v]))


def leaves(w: Sequence[torch.Tensor], requires_grad: bool) -> Tensors:
    return [t.detach().requires_grad_(requires_grad) for t in w]


def directional_grad(loss_at: LossAt, w: Sequence[torch.Tensor], v: Sequence[torch.Tensor],
                     arch: Sequence[torch.Tensor] | None, exact: bool, eps: float | None = None) -> Tensors:
    """D_v grad_x L(w) with x = the weights (``arch`` None: H v) or x = ``arch`` (grad^2_{arch,w} L v).

    Finite differences: [grad_x L(w + eps v) - grad_x L(w - eps v)] / (2 eps), eps = 0.01 / ||v|| unless
    given. Exact: grad_x <grad_w L(w), v> by double backpropagation.
    """
    if exact:
        w0 = leaves(w, True)
        g = grads(loss_at(w0), w0, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, v, strict=True))
        return grads(dot, w0 if arch is None else arch)
    size = float(norm(v))
    if size == 0.0:  # the derivative along the zero vector
        return [torch.zeros_like(t) for t in (w if arch is None else arch)]
    eps = FD_SCALE / size if eps is None else eps
    sides = []
    for sign in (1.0, -1.0):
        shifted = leaves([wi + sign * eps * vi for wi, vi in zip(w, v, strict=True)], arch is None)
        sides.append(grads(loss_at(shifted), shifted if arch is None else arch))
    return [(a - b) / (2 * eps) for a, b in zip(*sides, strict=True)]


def unrolled_gradient(val_loss: LossAt, train_loss: LossAt, w: Sequence[torch.Tensor], arch: Sequence[torch.Tensor],
                      xi: float, extra_step: Sequence[torch.Tensor] | None, exact: bool) -> tuple[Tensors, Tensors]:
    """DARTS second order (Liu et al. 2019, Eqs. 6-8; spec 6.1 row 2): the two terms of the arch gradient.

    w' = w - xi (grad_w L_train(w) + extra_step), where ``extra_step`` is what the DARTS code adds to the
    virtual step (momentum buffer x momentum + weight decay x w; None for the paper's plain gradient).
    Returns (grad_arch L_val(w'), -xi grad^2_{arch,w} L_train(w) grad_{w'} L_val(w')); their sum is the
    exact derivative of L_val(w'(arch), arch) in the limit eps -> 0, since extra_step does not depend on arch.
    """
    w0 = leaves(w, True)
    step = grads(train_loss(w0), w0)
    if extra_step is not None:
        step = [s + e for s, e in zip(step, extra_step, strict=True)]
    w1 = leaves([wi - xi * si for wi, si in zip(w, step, strict=True)], True)
    both = grads(val_loss(w1), [*arch, *w1])
    first, v = both[: len(arch)], both[len(arch):]
    implicit = directional_grad(train_loss, w, v, arch, exact)
    return first, [-xi * t for t in implicit]


def amended_gradient(val_loss: LossAt, train_loss: LossAt, w: Sequence[torch.Tensor], arch: Sequence[torch.Tensor],
                     eta: float, exact: bool, shared_eps: bool = False) -> tuple[Tensors, Tensors]:
    """Amended-DARTS (P2 Eq. 6 and App. A.2 with the corrected last line; spec 3.2): (g1, g2').

    g1 = grad_arch L_val(w); g2' = -eta grad^2_{arch,w} L_train(w) . H . grad_w L_val(w), H = grad^2_w L_train(w),
    at the current weights (no unrolled step). By finite differences: H v from the gradients at w +- eps1 v,
    then the mixed product with H v from grad_arch L_train at w +- eps2 H v. eps2 = 0.01 / ||H v|| (spec [H])
    unless ``shared_eps``: eps2 = eps1 = 0.01 / ||v||, the displacement w +- [grad L(w1) - grad L(w2)] / 2
    as printed in App. A.2.
    """
    w0 = leaves(w, True)
    both = grads(val_loss(w0), [*arch, *w0])
    g1, v = both[: len(arch)], both[len(arch):]
    eps1 = None if exact or not shared_eps else FD_SCALE / max(float(norm(v)), torch.finfo(torch.float64).tiny)
    hv = directional_grad(train_loss, w, v, None, exact, eps1)
    mixed = directional_grad(train_loss, w, hv, arch, exact, eps1)
    return g1, [-eta * t for t in mixed]

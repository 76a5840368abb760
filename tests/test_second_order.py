"""DARTS 2nd order and Amended-DARTS: the finite-difference terms against autograd (float64) and P2's toy."""

import pytest
import torch
from torch.autograd.functional import hessian

from methods.hessian import WeightSpace, amended_gradient, directional_grad, grads, unrolled_gradient
from methods.registry import get
from nasbench_errors import ConfigError
from tests.tiny_supernet import batch, context, tiny_setup


def rel_err(a, b) -> float:
    a = torch.cat([t.reshape(-1) for t in a])
    b = torch.cat([t.reshape(-1) for t in b])
    return float((a - b).norm() / b.norm())


def tiny_problem(seed: int = 0):
    """Weights, logits alpha (float64), and the train / val losses as closures of the weights."""
    space_, net, opt = tiny_setup(seed)
    g = torch.Generator().manual_seed(seed + 1)
    alpha = (0.5 * torch.randn(2, 3, generator=g, dtype=torch.float64)).requires_grad_()
    ws = WeightSpace(net, list(net.parameters()))
    tr, va = batch(16, seed + 2), batch(16, seed + 3)

    def mixing():
        return {"ops": torch.softmax(alpha, dim=-1)}

    return net, ws, alpha, (lambda w: ws.loss(w, mixing(), tr)), (lambda w: ws.loss(w, mixing(), va)), tr


def test_finite_difference_hvp_and_mixed_product_match_autograd():
    _, ws, alpha, train, _, _ = tiny_problem()
    w = ws.current()
    v = [torch.randn_like(t) for t in w]
    for arch in (None, [alpha]):
        fd = directional_grad(train, w, v, arch, exact=False)
        exact = directional_grad(train, w, v, arch, exact=True)
        assert rel_err(fd, exact) < 1e-3
        assert float(torch.cat([t.reshape(-1) for t in exact]).norm()) > 1e-3  # a real, non-zero product


@pytest.mark.parametrize("extra", [False, True])
def test_unrolled_gradient_is_the_derivative_of_the_unrolled_objective(extra):
    """g = first + second must equal d/dalpha L_val(w - xi (grad_w L_tr(w, alpha) + c), alpha), by autograd."""
    _, ws, alpha, train, val, _ = tiny_problem(1)
    w = ws.current()
    xi = 0.05
    const = [0.01 * torch.randn_like(t) for t in w] if extra else None
    first, second = unrolled_gradient(val, train, w, [alpha], xi, const, exact=False)

    w0 = [t.clone().requires_grad_() for t in w]
    step = torch.autograd.grad(train(w0), w0, create_graph=True)
    if const is not None:
        step = [s + c for s, c in zip(step, const, strict=True)]
    reference = torch.autograd.grad(val([a - xi * s for a, s in zip(w0, step, strict=True)]), alpha)
    total = [a + b for a, b in zip(first, second, strict=True)]
    assert rel_err(total, reference) < 1e-3
    assert rel_err(second, [r - f for r, f in zip(reference, first, strict=True)]) < 1e-3
    exact_first, exact_second = unrolled_gradient(val, train, w, [alpha], xi, const, exact=True)
    assert rel_err([a + b for a, b in zip(exact_first, exact_second, strict=True)], reference) < 1e-9


def test_amended_term_matches_explicit_hessian_matrices():
    """g2' = -eta * M @ H @ v with M = d2 L_tr / d alpha d w and H = d2 L_tr / d w2 built as full matrices."""
    net, ws, alpha, train, val, tr = tiny_problem(2)
    w = ws.current()
    sizes = [t.numel() for t in w]
    n_w = sum(sizes)

    def unflatten(flat):
        return [chunk.view_as(t) for chunk, t in zip(flat.split(sizes), w, strict=True)]

    def train_flat(wa):  # L_tr as a function of the concatenated (w, alpha)
        a = wa[n_w:].view(2, 3)
        return ws.loss(unflatten(wa[:n_w]), {"ops": torch.softmax(a, dim=-1)}, tr)

    flat = torch.cat([t.reshape(-1) for t in w] + [alpha.detach().reshape(-1)])
    full = hessian(train_flat, flat)
    h, m = full[:n_w, :n_w], full[n_w:, :n_w]
    w0 = [t.clone().requires_grad_() for t in w]
    v = torch.cat([g.reshape(-1) for g in grads(val(w0), w0)])
    eta = 0.1
    expected = (-eta * m @ (h @ v)).view(2, 3)

    g1, g2 = amended_gradient(val, train, w, [alpha], eta, exact=False)
    assert rel_err(g2, [expected]) < 1e-3
    assert rel_err(g1, torch.autograd.grad(val(w), alpha)) < 1e-12
    _, g2_exact = amended_gradient(val, train, w, [alpha], eta, exact=True)
    assert rel_err(g2_exact, [expected]) < 1e-9
    _, g2_shared = amended_gradient(val, train, w, [alpha], eta, exact=False, shared_eps=True)
    assert rel_err(g2_shared, [expected]) < 1e-2  # the printed single-eps form: same quantity, coarser step
    assert net.bn.num_batches_tracked.item() == 0  # virtual forwards never touch the module's statistics


def toy(alpha_t: float):
    """P2 App. A.1: L(w, a; x) = (w x - a)^2, x_train = 1, x_valid = 2, evaluated at w = w*(a_t) = a_t."""
    alpha = torch.tensor([alpha_t], dtype=torch.float64, requires_grad=True)

    def train(w):
        return (w[0] * 1.0 - alpha).pow(2).sum()

    def val(w):
        return (w[0] * 2.0 - alpha).pow(2).sum()

    return alpha, train, val, [torch.tensor([alpha_t], dtype=torch.float64)]


@pytest.mark.parametrize("exact", [False, True])
def test_amended_toy_of_the_paper(exact):
    a_t, eta = 0.7, 0.1
    alpha, train, val, w = toy(a_t)
    g1, g2 = amended_gradient(val, train, w, [alpha], eta, exact=exact)
    assert g1[0].item() == pytest.approx(-2 * a_t, rel=1e-9)
    assert g2[0].item() == pytest.approx(16 * eta * a_t, rel=1e-6)
    g2_true = 4 * a_t  # -(-2) * (1/2) * (4 a_t) with H^-1: same sign as the amended term
    assert g2[0].item() * g2_true > 0
    assert (g1[0] + g2_true).item() == pytest.approx(2 * a_t)  # the true gradient of L_val(w*(a), a) = a^2


def test_darts_second_order_toy():
    """At w = w*, grad_w L_tr = 0 so w' = w, and DARTS's g2'' = -xi (-2)(4 a_t) = 8 xi a_t (spec 3.3)."""
    a_t, xi = 0.7, 0.05
    alpha, train, val, w = toy(a_t)
    first, second = unrolled_gradient(val, train, w, [alpha], xi, None, exact=False)
    assert first[0].item() == pytest.approx(-2 * a_t, rel=1e-9)
    assert second[0].item() == pytest.approx(8 * xi * a_t, rel=1e-6)


def make_method(name: str, **overrides):
    space, net, opt = tiny_setup(5)
    entry = get(name)
    cfg = {**entry.defaults, **overrides}
    method = entry.create(space, cfg, torch.Generator().manual_seed(0))
    method.relaxation.double()
    return method, net, opt


@pytest.mark.parametrize("name", ["darts-2nd", "amended-darts"])
def test_arch_step_applies_first_plus_second_and_leaves_the_network_untouched(name):
    method, net, opt = make_method(name)
    tr, va = batch(16, 10), batch(16, 11)
    ctx = context(net, opt, [tr], [va])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    alpha0 = method.relaxation.params["ops"].detach().clone()
    first, second = method.gradient_terms(ctx, va, tr)
    method.arch_step(ctx, va, tr)
    grad = method.relaxation.params["ops"].grad
    assert torch.allclose(grad, first[0] + second[0], rtol=1e-6, atol=1e-12)
    assert second[0].abs().max() > 0
    assert not torch.equal(method.relaxation.params["ops"].detach(), alpha0)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    fields = method.epoch_fields()
    assert fields["second_order_ratio"] > 0 and -1 <= fields["second_order_cosine"] <= 1
    assert method.arch_steps_total == 1


def test_optimizer_virtual_step_terms_by_hand():
    """The DARTS code's virtual step adds momentum * buffer + weight_decay * w (architect.py)."""
    method, net, opt = make_method("darts-2nd", unrolled_step="optimizer")
    ctx = context(net, opt, [], [])
    params = list(net.parameters())
    terms = method.optimizer_terms(ctx)
    # no momentum buffer before the first weight step: only the weight decay term
    assert all(torch.allclose(t, 3e-4 * p.detach()) for t, p in zip(terms, params, strict=True))
    for p in params:
        opt.state[p]["momentum_buffer"] = torch.full_like(p, 2.0)
    terms = method.optimizer_terms(ctx)
    assert all(torch.allclose(t, 3e-4 * p.detach() + 0.9 * 2.0) for t, p in zip(terms, params, strict=True))


def test_unknown_hvp_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="hvp"):
        make_method("amended-darts", hvp="cg")

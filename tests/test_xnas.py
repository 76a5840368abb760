"""XNAS: per-example clipping, the exponentiated-gradient step and wipeout, by hand on small cases."""

import math

import pytest
import torch
import torch.nn.functional as F

from methods.registry import get
from methods.xnas import clipped_mean, per_example_grads, wipeout
from nasbench_errors import ConfigError
from tests.tiny_supernet import batch, context, tiny_setup


def test_wipeout_by_hand():
    theta = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    # threshold = max * exp(-2 * 0.5 * 1 * 1) = max / e: row 0 drops 0.1 (< 0.2207), row 1 keeps all (0.1839)
    out = wipeout(theta, lr=0.5, bound=1.0, remaining=1)
    assert torch.allclose(out, torch.tensor([[0.6 / 0.9, 0.3 / 0.9, 0.0], [0.2, 0.5, 0.3]]))
    assert out[0, 2].item() == 0.0  # exactly zero: the supernet skips the op
    assert torch.equal(wipeout(theta, 0.5, 1.0, remaining=0), torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    assert torch.equal(wipeout(theta, 0.5, 1.0, remaining=100), theta)


def test_clipping_is_per_example_before_the_mean():
    per_example = torch.tensor([[2.0, -0.5], [-3.0, 0.1]])
    assert torch.allclose(clipped_mean(per_example, 1.0), torch.tensor([0.0, -0.2]))
    assert not torch.allclose(per_example.mean(0).clamp(-1, 1), clipped_mean(per_example, 1.0))  # not batch clipping


def tiny_losses(theta):
    _, net, _ = tiny_setup(1)
    x, y = batch(6, 3)
    return net, F.cross_entropy(net(x, {"ops": theta}), y, reduction="none")


@pytest.mark.parametrize("chunk", [1, 4, 6])
def test_per_example_gradients_are_exact(chunk):
    theta = torch.full((2, 3), 1 / 3, dtype=torch.float64, requires_grad=True)
    _, losses = tiny_losses(theta)
    expected = torch.stack([torch.autograd.grad(losses[b], theta, retain_graph=True)[0] for b in range(6)])
    mean_grad = torch.autograd.grad(losses.mean(), theta, retain_graph=True)[0]
    got = per_example_grads(losses, [theta], chunk)[0]
    assert got.shape == (6, 2, 3)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert torch.allclose(got.mean(0), mean_grad)
    assert (got - got.mean(0)).abs().max() > 1e-3  # the examples really differ


def make(**overrides):
    space, net, opt = tiny_setup(2)
    entry = get("xnas")
    method = entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))
    method.relaxation.double()
    return method, net, opt


def test_theory_learning_rate_and_horizon():
    method, net, opt = make(xnas_clip=0.5)
    method.plan(context(net, opt, [None] * 7, [], epochs=3))
    assert method.horizon == 21
    assert method.arch_optimizer.param_groups[0]["lr"] == pytest.approx(math.sqrt(2 * math.log(3) / 21) / 0.5)
    fixed, net2, opt2 = make(arch_lr=0.1)
    fixed.plan(context(net2, opt2, [None] * 7, [], epochs=3))
    assert fixed.arch_optimizer.param_groups[0]["lr"] == 0.1


def test_arch_step_by_hand_with_wipeout():
    bound, lr = 0.05, 2.0
    method, net, opt = make(xnas_clip=bound, arch_lr=lr)
    va = batch(8, 20)
    ctx = context(net, opt, [batch(8, 21)], [va], epochs=1)  # horizon T = 1: the only step wipes all but leaders
    method.plan(ctx)
    theta0 = method.relaxation.params["ops"].detach().clone()

    th = theta0.clone().requires_grad_()
    losses = F.cross_entropy(net(va[0], {"ops": th}), va[1], reduction="none")
    per_ex = torch.stack([torch.autograd.grad(losses[b], th, retain_graph=True)[0] for b in range(8)])
    assert (per_ex.abs() > bound).any() and (per_ex.abs() < bound).any()  # the clip binds on some entries only
    g = per_ex.clamp(-bound, bound).mean(0)
    eg = theta0 * torch.exp(-lr * g)
    eg = eg / eg.sum(-1, keepdim=True)
    leaders = eg.argmax(-1)
    expected = torch.zeros_like(eg).scatter_(1, leaders[:, None], 1.0)  # remaining = 0: only each row's leader

    method.arch_step(ctx, va, None)
    theta = method.relaxation.params["ops"].detach()
    assert torch.equal(theta, expected)
    fields = method.epoch_fields()
    assert fields["wiped_options"] == 4.0 and 0 < fields["clipped_fraction"] < 1

    # wiped options stay at exactly 0 under further EG steps and are no longer computed by the supernet
    method.plan(context(net, opt, [None] * 100, [], epochs=1))
    method.arch_step(ctx, va, None)
    assert torch.equal(method.relaxation.params["ops"].detach(), expected)
    opt.zero_grad(set_to_none=True)
    x, y = batch(8, 22)
    F.cross_entropy(net(x, method.training_weights()), y).backward()
    for r, (lin_a, lin_b) in enumerate(net.rows):
        for o, lin in ((0, lin_a), (1, lin_b)):
            assert (lin.weight.grad is None) == (expected[r, o] == 0), (r, o)


def test_eg_step_without_wipeout_matches_the_formula():
    bound, lr = 1.0, 0.3
    method, net, opt = make(xnas_clip=bound, arch_lr=lr)
    va = batch(8, 30)
    ctx = context(net, opt, [None] * 1000, [], epochs=1)  # a long horizon: exp(-2 * 0.3 * 999) wipes nothing
    method.plan(ctx)
    theta0 = method.relaxation.params["ops"].detach().clone()
    th = theta0.clone().requires_grad_()
    losses = F.cross_entropy(net(va[0], {"ops": th}), va[1], reduction="none")
    per_ex = torch.stack([torch.autograd.grad(losses[b], th, retain_graph=True)[0] for b in range(8)])
    eg = theta0 * torch.exp(-lr * per_ex.clamp(-bound, bound).mean(0))
    method.arch_step(ctx, va, None)
    assert torch.allclose(method.relaxation.params["ops"].detach(), eg / eg.sum(-1, keepdim=True), rtol=1e-12)
    assert method.epoch_fields()["wiped_options"] == 0.0


def test_bad_clip_is_a_config_error():
    with pytest.raises(ConfigError, match="xnas_clip"):
        make(xnas_clip=0)


def test_xnas_fields_reach_the_store(tmp_path):
    from tests.smoke import run_tiny

    outcome, epochs = run_tiny("xnas", tmp_path)
    assert outcome.status == "finished", outcome.error
    last = epochs.iloc[-1]["extra"]
    assert "lr_arch" not in epochs.iloc[0]["extra"]  # the rate is planned with the first epoch
    assert last["lr_arch"] == pytest.approx(math.sqrt(2 * math.log(4) / (2 * 4)))  # T = 2 epochs x 4 steps, L = 1
    assert last["wiped_options"] == 18.0  # the last step (t = T) leaves only each of the 6 rows' leader of 4
    assert 0 <= last["clipped_fraction"] <= 1

"""Fair DARTS: sigmoid weights, the zero-one loss and its gradient, one Adam step, derivation, by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks.nb201.space import NB201Space
from methods.fair_darts import zero_one_loss
from methods.registry import get
from tests.tiny_supernet import batch, context, tiny_setup


def _method(space, **overrides):
    entry = get("fair-darts")
    return entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


def test_zero_one_loss_by_hand_skips_padding():
    w = {"ops": torch.tensor([[0.5, 0.9, 0.2], [1.0, 0.0, 0.7]], dtype=torch.float64)}
    mask = {"ops": torch.tensor([[True, True, True], [True, True, False]])}
    # -mean over the five real entries of (w - 1/2)^2 = -(0 + 0.16 + 0.09 + 0.25 + 0.25) / 5
    assert float(zero_one_loss(w, mask)) == pytest.approx(-0.75 / 5)


def test_weights_start_at_one_half_independently_per_option():
    method = _method(NB201Space(include_none=False))
    w = method.relaxation.mixing_weights()["ops"]
    assert w.shape == (6, 4) and torch.equal(w, torch.full((6, 4), 0.5))  # sigmoid(0), no softmax across a row
    assert float(method.zero_one().detach()) == 0.0
    with torch.no_grad():
        method.relaxation.params["ops"][0] = torch.tensor([2.0, -1.0, 0.0, 3.0])
    row = method.relaxation.mixing_weights()["ops"][0].detach()
    assert row.tolist() == pytest.approx([1 / (1 + math.exp(-a)) for a in (2.0, -1.0, 0.0, 3.0)])
    assert float(row.sum()) != pytest.approx(1.0)  # independent weights: rows need not sum to 1


def test_arch_gradient_is_the_chain_rule_through_the_sigmoid_plus_the_zero_one_term_and_adam_steps_by_lr():
    space, net, opt = tiny_setup()
    method = _method(space, arch_lr=0.01, arch_weight_decay=0.0)
    method.relaxation.double()
    alpha = torch.tensor([[0.3, -0.8, 1.1], [0.0, 0.6, -0.4]], dtype=torch.float64)
    with torch.no_grad():
        method.relaxation.params["ops"].copy_(alpha)
    arch = batch(16, seed=3)
    # by hand: dL/dalpha = dL_val/dw * sigma'(alpha) + w01 * d(-mean (sigma - 1/2)^2)/dalpha
    w = torch.sigmoid(alpha).requires_grad_()
    (dl_dw,) = torch.autograd.grad(F.cross_entropy(net(arch[0], {"ops": w}), arch[1]), w)
    s = torch.sigmoid(alpha)
    expected = dl_dw * s * (1 - s) + 10.0 * (-2 * (s - 0.5) * s * (1 - s) / alpha.numel())
    (got,) = torch.autograd.grad(method.arch_loss(net, arch), method.relaxation.params["ops"])
    assert torch.allclose(got, expected, atol=1e-12)
    # Adam's first step (bias-corrected) moves each entry by lr * g / (|g| + eps): lr * sign(g) here
    method.arch_step(context(net, opt, [], []), arch, batch(16, seed=4))
    step = method.relaxation.params["ops"].detach() - alpha
    assert torch.allclose(step, -0.01 * expected / (expected.abs() + 1e-8), atol=1e-12)


def test_derivation_is_top_k_by_sigma_and_the_threshold_count_is_reported():
    method = _method(NB201Space(include_none=False))
    alpha = torch.zeros(6, 4)
    alpha[:, 2] = 2.0  # sigma 0.881 >= 0.85 on edges 0-3 ...
    alpha[4, 2] = alpha[5, 2] = 1.0  # ... 0.731 < 0.85 on edges 4 and 5: the released parser would drop them
    alpha[5, 0] = 1.5  # 0.818: edge 5 keeps option 0
    with torch.no_grad():
        method.relaxation.params["ops"].copy_(alpha)
    assert method.derive() == {"ops": ((2,), (2,), (2,), (2,), (2,), (0,))}
    assert method.below_threshold() == 2
    assert method.epoch_fields()["fair_below_threshold"] == 2.0
    probs = method.probabilities()["ops"]
    assert torch.allclose(probs.sum(dim=-1), torch.ones(6)) and float(probs[0, 2]) == pytest.approx(
        0.8808 / (0.8808 + 3 * 0.5), abs=1e-4)


def test_zero_op_is_excluded_by_default():
    assert get("fair-darts").defaults["exclude_none"] is True

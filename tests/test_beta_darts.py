"""beta-DARTS: the Beta-Decay regularizer, its coefficient schedule and its gradient, by hand."""

import math

import pytest
import torch

from methods.beta_darts import beta_coefficient, beta_decay
from methods.registry import get
from tests.tiny_supernet import batch, context, tiny_setup


def test_beta_decay_is_the_mean_over_rows_of_logsumexp_without_padding():
    logits = {"ops": torch.tensor([[0.0, math.log(2.0), float("-inf")], [1.0, 1.0, 1.0]], dtype=torch.float64),
              "edges": torch.tensor([[0.0, 0.0, float("-inf")]], dtype=torch.float64)}
    # rows: ln(1 + 2) = ln 3, 1 + ln 3, ln 2; their mean
    assert float(beta_decay(logits)) == pytest.approx((2 * math.log(3) + 1 + math.log(2)) / 3)


def test_coefficient_grows_linearly_as_released():
    # released: weights = 50 * epoch / 100 with the 0-based epoch, here the 1-based epoch e
    assert [beta_coefficient(e, 50.0, 100) for e in (1, 2, 51, 101)] == [0.0, 0.5, 25.0, 50.0]


def test_arch_step_adds_lambda_times_the_row_softmax_over_the_row_count():
    space, net, opt = tiny_setup()
    entry = get("beta-darts")
    config = {**entry.defaults, "arch_weight_decay": 0.0}
    beta = entry.create(space, config, torch.Generator().manual_seed(0))
    darts = get("darts").create(space, {**get("darts").defaults, "arch_weight_decay": 0.0},
                                torch.Generator().manual_seed(0))
    alpha = torch.tensor([[0.4, -0.2, 0.9], [0.1, 0.7, -0.5]], dtype=torch.float64)
    beta.relaxation.double()
    beta.train_epoch(context(net, opt, [batch(8, seed=1)], [batch(8, seed=2)], epoch=21))  # sets lambda_21
    assert beta.coefficient == pytest.approx(10.0)
    for m in (beta, darts):
        m.relaxation.double()
        with torch.no_grad():
            m.relaxation.params["ops"].copy_(alpha)
    arch = batch(8, seed=5)
    (g_beta,) = torch.autograd.grad(beta.arch_loss(net, arch), beta.relaxation.params["ops"])
    (g_darts,) = torch.autograd.grad(darts.arch_loss(net, arch), darts.relaxation.params["ops"])
    # d/d alpha of mean_rows logsumexp(alpha_row) = softmax(alpha_row) / rows
    assert torch.allclose(g_beta - g_darts, 10.0 * torch.softmax(alpha, dim=-1) / 2, atol=1e-12)
    assert beta.epoch_fields()["beta_lambda"] == pytest.approx(10.0)

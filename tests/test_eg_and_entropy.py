import math

import pytest
import torch

from benchmarks.nb201.space import NB201Space
from methods.eg import ExponentiatedGradient, eg_update
from methods.entropy import mean_entropy, normalized_mean_entropy, row_entropies
from methods.relaxations import Simplex, SoftmaxLogits


def test_eg_step_hand_computed():
    # theta * exp(-0.1 g) = [0.2e^-0.1, 0.3, 0.5e^0.1] = [0.180967, 0.3, 0.552585], sum 1.033552
    theta = torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64)
    grad = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    new = eg_update(theta, grad, lr=0.1)
    assert new.tolist()[0] == pytest.approx([0.1750926113, 0.2902608929, 0.5346464958], abs=1e-9)


def test_eg_optimizer_rows_sum_to_one_and_stay_positive():
    theta = torch.nn.Parameter(torch.full((6, 5), 0.2))
    opt = ExponentiatedGradient([theta], lr=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        theta.grad = 10 * torch.randn(6, 5, generator=gen)
        opt.step()
    assert torch.allclose(theta.sum(dim=1), torch.ones(6), atol=1e-6)
    assert bool((theta > 0).all())


def test_eg_zero_gradient_leaves_theta_unchanged():
    start = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    theta = torch.nn.Parameter(start.clone())
    theta.grad = torch.zeros_like(start)
    ExponentiatedGradient([theta], lr=0.1).step()
    assert torch.allclose(theta.detach(), start, atol=1e-7)


def test_eg_floor_reproduces_released_code_clamp():
    theta = torch.tensor([[0.5, 0.5, 0.0]])  # third column is padding (mask False)
    grad = torch.tensor([[0.0, 200.0, 0.0]])  # drives the second entry to ~e^-20 * 0.5
    mask = torch.tensor([[True, True, False]])
    plain = eg_update(theta, grad, lr=0.1)
    floored = eg_update(theta, grad, lr=0.1, floor=1e-5, mask=mask)
    assert plain[0, 1] < 1e-8
    assert floored[0, 1] == pytest.approx(1e-5 / (1 + 1e-5), rel=1e-4)
    assert floored[0, 2] == 0 and floored.sum().item() == pytest.approx(1.0)


def test_entropy_at_uniform_init_is_ln_options():
    with_none = Simplex(NB201Space(include_none=True))
    without = Simplex(NB201Space(include_none=False))
    assert mean_entropy(with_none.probabilities()["ops"]) == pytest.approx(math.log(5), abs=1e-7)
    assert mean_entropy(without.probabilities()["ops"]) == pytest.approx(math.log(4), abs=1e-7)
    mask = NB201Space().groups[0].mask
    assert normalized_mean_entropy(with_none.probabilities()["ops"], mask) == pytest.approx(1.0)


def test_entropy_of_softmax_logits_near_uniform_and_one_hot():
    relax = SoftmaxLogits(NB201Space(), torch.Generator().manual_seed(0))
    assert mean_entropy(relax.probabilities()["ops"]) == pytest.approx(math.log(5), abs=1e-5)
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    # 0 ln 0 counts as 0; [0.5, 0.5] has entropy ln 2; the mean over rows is ln2 / 2
    assert row_entropies(one_hot).tolist() == pytest.approx([0.0, math.log(2)])
    assert mean_entropy(one_hot) == pytest.approx(math.log(2) / 2)

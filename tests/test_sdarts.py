"""SDARTS-RS / -ADV: the simplex clip, the epsilon schedule, the random and the adversarial perturbation by hand."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.space import Decision, DecisionGroup, SearchSpace
from methods.registry import get
from methods.sdarts import epsilon, project_rows, uniform_noise
from nasbench_errors import ConfigError
from tests.tiny_supernet import batch, context, tiny_setup


def _method(name, space, **overrides):
    entry = get(name)
    return entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


def test_project_rows_is_the_released_clip():
    a = torch.tensor([[0.5, -0.2, 0.9], [-0.3, -0.1, -0.2], [0.4, 1.6, 7.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True], [True, True, True], [True, True, False]])
    out = project_rows(a, mask)
    assert out[0].tolist() == pytest.approx([0.5 / 1.4, 0.0, 0.9 / 1.4])
    assert out[1].tolist() == [0.0, 1.0, 0.0]  # all clamped to 0: 1 at the largest entry (-0.1)
    assert out[2].tolist() == pytest.approx([0.4 / 1.4, 1.0 / 1.4, 0.0])  # 1.6 clamps to 1; padding stays 0


def test_epsilon_grows_linearly_from_0_03():
    # released: 0.03 + (0.3 - 0.03) * epoch / epochs with the 0-based epoch
    assert [epsilon(e, 50, 0.3) for e in (1, 26, 50)] == pytest.approx([0.03, 0.165, 0.03 + 0.27 * 49 / 50])


def test_random_smoothing_adds_the_generators_uniform_draw_then_clips():
    space, net, opt = tiny_setup()
    method = _method("sdarts-rs", space)
    method.train_epoch(context(net, opt, [batch(8, seed=1)], [batch(8, seed=2)], epoch=26, epochs=50))
    assert method.eps == pytest.approx(0.03 + 0.27 * 25 / 50)
    twin = torch.Generator()
    twin.set_state(method.generator.get_state())
    clean = {k: v.detach() for k, v in method.relaxation.mixing_weights().items()}
    got = method.training_weights()["ops"]
    noise = uniform_noise(clean["ops"].shape, method.eps, twin)
    assert float(noise.abs().max()) <= method.eps
    assert torch.allclose(got, project_rows(clean["ops"] + noise, torch.ones(2, 3, dtype=torch.bool)))
    assert not torch.allclose(method.training_weights()["ops"], got)  # a fresh draw every step
    assert torch.equal(method.eval_weights()["ops"], clean["ops"])  # the supernet metric: unperturbed


class _Softmax2(nn.Module):
    """A 'supernet' whose logits are its two mixing weights: L = CE(w, class 0) rises with w1 and falls with w0."""

    def forward(self, x, weights):
        return weights["ops"][0].expand(x.shape[0], 2)


class _Space2(SearchSpace):
    name = "two"
    groups = (DecisionGroup("ops", (Decision("row", ("a", "b")),)),)


def test_pgd_ends_on_the_ball_boundary_in_the_ascent_direction():
    method = _method("sdarts-adv", _Space2())
    method.eps = 0.1
    net = _Softmax2()
    x, y = torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)
    clean = {"ops": torch.tensor([[0.5, 0.5]])}
    # sign(grad) = (-1, +1) every step and each step keeps the row sum at 1, so 7 steps of 2 eps / 7 from any
    # random start in the ball reach the clamp: w = (0.5 - eps, 0.5 + eps); the attack raised the loss: kept
    out = method.attack(net, clean, (x, y))["ops"]
    assert out.tolist()[0] == pytest.approx([0.4, 0.6])
    assert float(F.cross_entropy(out.expand(4, 2), y)) > float(F.cross_entropy(clean["ops"].expand(4, 2), y))
    assert net.training  # batch norm back in training mode after the attack


class _Flat(nn.Module):
    """Logits that do not depend on the weights (no gradient); from the ``after``-th forward on, class 0 scores
    ``shift`` higher, so the loss the attack ends with is lower than the one it started from."""

    def __init__(self, shift: float, after: int) -> None:
        super().__init__()
        self.shift, self.after, self.calls = shift, after, 0

    def forward(self, x, weights):
        self.calls += 1
        w = weights["ops"][0]
        first = w[0] * 0 + (self.shift if self.calls >= self.after else 0.0)
        return torch.stack([first, w[1] * 0]).expand(x.shape[0], 2)


def test_an_attack_that_lowers_the_loss_is_dropped_for_the_clean_weights():
    method = _method("sdarts-adv", _Space2())
    method.eps = 0.1
    x, y = torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)
    clean = {"ops": torch.tensor([[0.5, 0.5]])}
    assert method.attack(_Flat(1.0, after=2), clean, (x, y)) is clean  # released: loss_before > loss_after
    flat = method.attack(_Flat(0.0, after=2), clean, (x, y))["ops"]  # equal losses: the perturbed start is kept
    assert not torch.equal(flat, clean["ops"]) and float(flat.sum()) == pytest.approx(1.0)


def test_the_weight_step_trains_on_the_attacked_weights():
    space, net, opt = tiny_setup()
    method = _method("sdarts-adv", space, pgd_steps=2)
    seen = []
    original = net.forward
    net.forward = lambda x, weights: (seen.append(weights["ops"].detach().clone()), original(x, weights))[1]
    method.train_epoch(context(net, opt, [batch(8, seed=1)], [batch(8, seed=2)]))
    # forwards: 1 arch step, then the attack (clean loss, 2 steps, final loss), then the weight step
    assert len(seen) == 6
    clean = torch.softmax(method.relaxation.params["ops"].detach(), dim=-1)
    assert not torch.allclose(seen[-1], clean) and torch.allclose(seen[-1].sum(dim=-1), torch.ones(2))


def test_bad_pgd_steps_is_a_config_error():
    with pytest.raises(ConfigError, match="pgd_steps=0"):
        _method("sdarts-adv", tiny_setup()[0], pgd_steps=0)

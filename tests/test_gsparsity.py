"""GSparsity: the Prox-SGD step by hand, the groups, the option scalars and the scores, a checkpoint round trip."""

import math

import pytest
import torch

from benchmarks.nb201.space import NB201Space
from methods.gsparsity import GroupProxSGD, group_penalty
from methods.registry import get
from nasbench_errors import ConfigError
from tests.tiny_supernet import OPTIONS, TinySpace, batch, context, tiny_setup


class CostedSpace(TinySpace):
    """The tiny space with its options' parameter counts (d = 4): tanh(Linear) 20, Linear 16, identity 0."""

    def option_costs(self, group: str) -> torch.Tensor:
        return torch.tensor([[20.0, 16.0, 0.0]] * 2)


def _method(space, **overrides):
    entry = get("gsparsity")
    return entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


def test_group_penalty_normalizations():
    assert group_penalty(120.0, 100, "div", 0.5) == pytest.approx(12.0)
    assert group_penalty(2.0, 16, "mul", 0.5) == pytest.approx(8.0)
    assert group_penalty(3.0, 7, "none", 0.5) == 3.0


def test_prox_sgd_step_by_hand():
    x = torch.nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    y = torch.nn.Parameter(torch.tensor([0.5, -2.0], dtype=torch.float64))  # elementwise groups
    z = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))  # no penalty
    opt = GroupProxSGD([{"params": [x], "penalty": 1.0}, {"params": [y], "penalty": 1.0, "elementwise": True},
                        {"params": [z], "penalty": None}], lr=0.5, momentum=0.8)
    x.grad, y.grad, z.grad = (torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0],
                              dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64))
    opt.step()
    # v = 0.8 g; b = x - v = (2.2, 4); x_hat = (1 - 1/||b||) b; x <- x + 0.5 (x_hat - x)
    nb = math.hypot(2.2, 4.0)
    assert x.tolist() == pytest.approx([3 + 0.5 * ((1 - 1 / nb) * 2.2 - 3), 4 + 0.5 * ((1 - 1 / nb) * 4 - 4)])
    # y: b = (0.5, -2.8); entry 0 has |b| < 1: x_hat 0; entry 1: (1 - 1/2.8) (-2.8) = -1.8
    assert y.tolist() == pytest.approx([0.5 - 0.25, -2.0 + 0.5 * (-1.8 + 2.0)])
    assert z.tolist() == pytest.approx([1.0 - 0.5 * 1.6])  # momentum SGD: x - lr v
    # second step: v <- 0.2 v + 0.8 g
    x_before = x.detach().clone()
    x.grad = torch.tensor([0.0, 1.0], dtype=torch.float64)
    opt.step()
    v = torch.tensor([0.2 * 0.8, 0.8], dtype=torch.float64)
    b = x_before - v
    expected = x_before + 0.5 * ((1 - 1 / float(b.norm())) * b - x_before)
    assert torch.allclose(x.detach(), expected)


def test_option_scalars_mix_only_the_weight_free_options():
    method = _method(NB201Space())
    w = method.relaxation.mixing_weights()["ops"].detach()
    assert torch.equal(w, torch.ones(6, 5))  # all ops at weight 1 at the start
    with torch.no_grad():
        method.relaxation.params["ops"].fill_(0.25)
    w = method.relaxation.mixing_weights()["ops"].detach()
    # none, skip, pool carry the scalar; the two convolutions stay at 1
    assert w[0].tolist() == [0.25, 0.25, 1.0, 1.0, 0.25]
    assert method.derive() == {"ops": ((0,),) * 6}  # scores all 1 before the first epoch: ties, lowest index


def test_groups_scores_and_derivation_on_the_tiny_supernet():
    _, net, _ = tiny_setup()
    method = _method(CostedSpace())
    prox = method.bind(net, lr=0.01)
    groups = prox.param_groups
    # one group per weighted option (tanh-linear: weight+bias, linear: weight) per row, the scalars, the rest
    assert [len(g["params"]) for g in groups] == [2, 1, 2, 1, 1, 2]
    assert groups[0]["penalty"] == pytest.approx(120.0 / math.sqrt(20)) and groups[1]["penalty"] == 30.0
    assert groups[4]["elementwise"] and groups[4]["penalty"] == 120.0 and groups[5]["penalty"] is None
    with torch.no_grad():
        net.rows[0][1].weight.mul_(10.0)  # row 0: the Linear now has the larger norm per sqrt(dim)
        method.relaxation.params["ops"][1, 2] = 5.0  # row 1: the identity's scalar beats both
    method.update_scores()
    score = method.relaxation.score("ops")
    lin_a = torch.linalg.vector_norm(torch.cat([p.detach().flatten() for p in net.rows[0][0].parameters()]))
    assert float(score[0, 0]) == pytest.approx(float(lin_a) / math.sqrt(20))
    assert float(score[0, 1]) == pytest.approx(float(net.rows[0][1].weight.detach().norm()) / 4.0)
    assert float(score[1, 2]) == 5.0
    assert method.derive() == {"ops": ((1,), (2,))}
    assert OPTIONS[2] == "identity"


def test_an_epoch_trains_weights_and_scalars_and_a_checkpoint_resumes_the_velocities():
    _, net, opt = tiny_setup(momentum=0.8, weight_decay=0.0)
    space = CostedSpace()
    method = _method(space, grad_clip=0.0)
    batches = [batch(16, seed=s) for s in range(3)]
    stats = method.train_epoch(context(net, opt, batches, batches))
    # each step moves the option scalars too: three architecture steps (the runner derives a cell after them)
    assert stats.weight_steps == 3 and stats.arch_steps == 3 and method.arch_steps_total == 3
    scalars = method.relaxation.params["ops"].detach()
    # identity scalars: a = mu = 120 dwarfs |b|, so each step sets x_hat = 0: x <- (1 - lr) x, three times
    assert scalars[:, 2].tolist() == pytest.approx([(1 - 0.05) ** 3] * 2)
    state = method.state_dict()
    twin = _method(space, grad_clip=0.0)
    twin.load_state_dict(state)
    twin.bind(net, lr=0.05)
    assert all(torch.equal(twin.prox.state[p]["v"], method.prox.state[p]["v"]) for p in net.parameters())


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="weight_decay=0.0003"):
        _method(NB201Space(), weight_decay=3e-4)
    with pytest.raises(ConfigError, match="gsparsity_groups='cells' is not valid"):
        _method(NB201Space(), gsparsity_groups="cells")

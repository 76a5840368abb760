"""OLES: the gradient matching score by hand, freezing after a window, frozen weights untouched, checkpoints."""

import math

import pytest
import torch
import torch.nn.functional as F

from methods.loop import EpochMeter
from methods.oles import cosine, instance_parameters
from methods.registry import get
from nasbench_errors import ConfigError
from tests.tiny_supernet import batch, context, tiny_setup


def _method(space, **overrides):
    entry = get("oles")
    return entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


def test_cosine_of_the_concatenated_gradients():
    a = [torch.tensor([1.0, 0.0]), torch.tensor([[0.0]])]
    b = [torch.tensor([1.0, 1.0]), torch.tensor([[0.0]])]
    cos, defined = cosine(a, b)
    assert float(cos) == pytest.approx(1 / math.sqrt(2)) and bool(defined)
    cos, defined = cosine(a, [torch.zeros(2), torch.zeros(1, 1)])
    assert float(cos) == 0.0 and not bool(defined)


def test_one_iteration_scores_cos_of_the_train_and_validation_gradients_of_each_op_instance():
    space, net, opt = tiny_setup()
    method = _method(space, oles_window=5)
    train, val = batch(16, seed=1), batch(16, seed=2)
    instances = instance_parameters(net)
    assert [len(p) for p in instances] == [2, 1, 2, 1]  # per row: tanh(Linear) (weight, bias), Linear (weight)
    # by hand, before any step: g_val at softmax(alpha); g_train at the alpha after its Adam step, same w
    flat = [p for ps in instances for p in ps]
    g_val = torch.autograd.grad(F.cross_entropy(net(val[0], method.relaxation.mixing_weights()), val[1]), flat)
    ctx = context(net, opt, [train], [val])
    method.bind(net)
    method.arch_step(ctx, val, train)
    g_train = torch.autograd.grad(F.cross_entropy(net(train[0], method.training_weights()), train[1]), flat)
    expected, k = [], 0
    for ps in instances:
        n = len(ps)
        expected.append(float(cosine(list(g_train[k:k + n]), list(g_val[k:k + n]))[0]))
        k += n
    EpochMeter(ctx).weight_step(method.training_weights(), train)
    method.after_weight_step(ctx)
    assert method.score_sum.tolist() == pytest.approx(expected, abs=1e-10)
    assert method.score_count.tolist() == [1.0] * 4 and method.steps_in_window == 1


def test_instances_below_the_threshold_are_frozen_at_the_window_end_and_stay_put():
    space, net, opt = tiny_setup()
    method = _method(space, oles_window=2, oles_threshold=1.0)  # any score < 1 freezes
    batches = [batch(16, seed=s) for s in range(6)]
    method.train_epoch(context(net, opt, batches[:2], batches[2:4]))
    assert method.frozen == {0, 1, 2, 3} and method.epoch_fields()["oles_frozen"] == 4.0
    frozen = [p.detach().clone() for ps in instance_parameters(net) for p in ps]
    head = net.head.weight.detach().clone()
    method.train_epoch(context(net, opt, batches[4:5], batches[5:6], epoch=2))
    assert all(torch.equal(p, q) for p, q in zip(frozen, [p for ps in instance_parameters(net) for p in ps],
                                                    strict=True))  # no update, no weight decay, no momentum
    assert not torch.equal(net.head.weight, head)  # the rest still trains
    never = _method(space, oles_window=2, oles_threshold=-1.0)
    never.train_epoch(context(*tiny_setup()[1:], batches[:2], batches[2:4]))
    assert never.frozen == set()


def test_freezing_survives_a_checkpoint():
    space, net, opt = tiny_setup()
    method = _method(space, oles_window=2, oles_threshold=1.0)
    batches = [batch(16, seed=s) for s in range(3)]
    method.train_epoch(context(net, opt, batches[:2], batches[1:3]))
    state = method.state_dict()
    space2, net2, opt2 = tiny_setup()
    resumed = _method(space2, oles_window=2, oles_threshold=1.0)
    resumed.load_state_dict(state)
    resumed.bind(net2)
    assert resumed.frozen == method.frozen
    assert all(not p.requires_grad for i in resumed.frozen for p in resumed.instances[i])


def test_bad_threshold_is_a_config_error():
    with pytest.raises(ConfigError, match="oles_threshold=2.0 is a cosine"):
        _method(tiny_setup()[0], oles_threshold=2.0)

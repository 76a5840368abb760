import pytest
import torch

from benchmarks.nb201.space import OPS, NB201Space
from benchmarks.nb201.supernet import NB201Supernet
from benchmarks.space import one_hot_weights


def _net(op_names=OPS, C=4, N=1):
    torch.manual_seed(0)
    return NB201Supernet(op_names, C=C, N=N, num_classes=10).eval()


def test_shapes_and_channel_doubling():
    net = _net(C=4, N=2)
    out = net(torch.randn(2, 3, 32, 32), {"ops": torch.full((6, 5), 0.2)})
    assert out.shape == (2, 10)
    assert net.classifier.in_features == 16  # C -> 2C -> 4C
    assert sum(1 for _ in net.layers) == 3 * 2 + 2


def test_mixture_is_linear_in_the_weights_of_one_edge():
    # the cell output is linear in each edge's weights (other edges fixed): check on the last edge
    net = _net()
    x = torch.randn(2, 3, 32, 32)
    base = torch.full((6, 5), 0.2)
    w1, w2 = base.clone(), base.clone()
    w1[5] = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])
    w2[5] = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0])
    mix = base.clone()
    mix[5] = 0.5 * w1[5] + 0.5 * w2[5]
    cell = net.layers[0]
    h = net.stem(x)
    out_mix = cell(h, mix, (mix != 0).tolist())
    out_avg = 0.5 * cell(h, w1, (w1 != 0).tolist()) + 0.5 * cell(h, w2, (w2 != 0).tolist())
    assert torch.allclose(out_mix, out_avg, atol=1e-5)


def test_zero_weight_ops_are_not_computed():
    net = _net()
    calls = {}
    for e, ops in enumerate(net.layers[0].edges):
        for name, module in ops.items():
            module.register_forward_hook(lambda *_a, key=(e, name): calls.__setitem__(key, calls.get(key, 0) + 1))
    space = NB201Space()
    selection = {"ops": ((3,), (1,), (2,), (0,), (4,), (3,))}
    net(torch.randn(1, 3, 32, 32), {"ops": one_hot_weights(space.groups[0], selection["ops"])})
    expected = {(0, "nor_conv_3x3"), (1, "skip_connect"), (2, "nor_conv_1x1"), (4, "avg_pool_3x3"),
                (5, "nor_conv_3x3")}
    assert set(calls) == expected and all(v == 1 for v in calls.values())


def test_all_none_cell_outputs_zero():
    net = _net()
    cell = net.layers[0]
    w = torch.zeros(6, 5)
    w[:, 0] = 1.0
    out = cell(torch.randn(1, 4, 8, 8), w, (w != 0).tolist())
    assert torch.count_nonzero(out) == 0


def test_gradient_reaches_the_weights_of_computed_ops():
    net = _net(OPS[1:])
    w = torch.full((6, 4), 0.25, requires_grad=True)
    net.train()
    net(torch.randn(4, 3, 32, 32), {"ops": w}).logsumexp(dim=1).mean().backward()
    assert w.grad is not None and bool((w.grad != 0).all())


def test_wrong_weight_shape_is_rejected():
    with pytest.raises(ValueError, match="6x5"):
        _net()(torch.randn(1, 3, 32, 32), {"ops": torch.ones(6, 4)})

import copy
from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from benchmarks.nb201.space import EDGES, OPS, NB201Space
from benchmarks.nb201.supernet import NB201Supernet, SearchCell
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


class _CountOps(TorchDispatchMode):
    """Counts the aten ops a forward dispatches, by name (``convolution``, ``relu``, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _cell_counts(cell, w):
    h = torch.randn(1, 4, 8, 8)
    cell(h, w.detach(), (w != 0).tolist())  # builds the pooling's per-size divisor (itself a convolution) once
    with _CountOps() as ops:
        cell(h, w, (w != 0).tolist())
    return ops.counts


def test_zero_weight_ops_are_not_computed():
    net = _net().train()
    cell = net.layers[0]
    selection = ((3,), (1,), (2,), (0,), (4,), (3,))  # 3x3, skip, 1x1, none, pool, 3x3
    w = one_hot_weights(NB201Space().groups[0], selection).requires_grad_(True)
    counts = _cell_counts(cell, w)
    # node 0: one 3x3 conv (edge 0); node 1: one 1x1 conv (edge 2) + the pooling's depthwise conv; node 2: one 3x3
    assert counts["convolution"] == 4 and counts["relu"] == 3
    cell(torch.randn(2, 4, 8, 8), w, (w != 0).tolist()).square().mean().backward()
    with_grad = {(e, name) for e, ops in enumerate(cell.edges) for name, m in ops.items()
                 if any(p.grad is not None for p in m.parameters())}
    assert with_grad == {(0, "nor_conv_3x3"), (2, "nor_conv_1x1"), (5, "nor_conv_3x3")}


def test_a_node_runs_one_relu_one_pooling_and_one_conv_per_kernel_size_for_all_its_out_edges():
    counts = _cell_counts(_net().layers[0], torch.full((6, 5), 0.2))
    # 3 source nodes x (1x1 conv + 3x3 conv + pooling's depthwise conv); one ReLU per source node
    assert counts["convolution"] == 9 and counts["relu"] == 3


def _per_edge_reference(cell, x, w):
    """The cell as published: every edge's mixed op computed on its own through its op modules."""
    nodes = [x]
    for target in (1, 2, 3):
        nodes.append(sum(w[e, o] * cell.edges[e][name](nodes[s]) for e, (s, t) in enumerate(EDGES) if t == target
                         for o, name in enumerate(OPS) if name != "none"))
    return nodes[-1]


def test_stacked_convolutions_match_the_per_edge_cell_in_output_gradients_and_running_stats():
    torch.manual_seed(0)
    cell = SearchCell(4, OPS).train()
    twin = copy.deepcopy(cell)
    x = torch.randn(3, 4, 8, 8)
    w = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(1)), dim=-1)
    w_ours, w_ref = w.clone().requires_grad_(True), w.clone().requires_grad_(True)
    out = cell(x, w_ours, [[True] * 5] * 6)
    ref = _per_edge_reference(twin, x, w_ref)
    assert torch.allclose(out, ref, atol=1e-5)
    out.square().mean().backward()
    ref.square().mean().backward()
    assert torch.allclose(w_ours.grad, w_ref.grad, atol=1e-5)
    for (name, p), (_, q) in zip(cell.named_parameters(), twin.named_parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name
    for (name, b), (_, c) in zip(cell.named_buffers(), twin.named_buffers(), strict=True):
        assert torch.equal(b, c) if b.dtype == torch.long else torch.allclose(b, c, atol=1e-6), name
    assert int(cell.edges[0]["nor_conv_3x3"][2].num_batches_tracked) == 1
    # eval mode normalises with those running statistics
    assert torch.allclose(cell.eval()(x, w, [[True] * 5] * 6), _per_edge_reference(twin.eval(), x, w), atol=1e-5)


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

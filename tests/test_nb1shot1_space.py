"""NAS-Bench-1Shot1 spaces as decisions, their NAS-Bench-101 cells and enumeration, and the supernet."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from benchmarks.nb1shot1.oracle import enumerate_space
from benchmarks.nb1shot1.space import OPS, NB1Shot1Space
from benchmarks.nb1shot1.supernet import NB1Shot1Supernet, _Plan
from benchmarks.nb101.graph import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, ModelSpec
from benchmarks.space import one_hot_weights, topk_selection
from nasbench_errors import ConfigError


@pytest.mark.parametrize("number,edges,size", [
    (1, [("block 3 parents", 3, 2), ("block 4 parents", 4, 2), ("output parents", 5, 2)], 3 * 6 * 10 * 3**4),
    (2, [("block 2 parents", 2, 1), ("block 3 parents", 3, 2), ("block 4 parents", 4, 2), ("output parents", 5, 3)],
     2 * 3 * 6 * 10 * 3**4),
    (3, [("block 2 parents", 2, 1), ("block 3 parents", 3, 1), ("block 4 parents", 4, 2), ("block 5 parents", 5, 2),
         ("output parents", 6, 2)], 2 * 3 * 6 * 10 * 15 * 3**5),
])
def test_decisions_of_each_space(number, edges, size):
    space = NB1Shot1Space(number)
    ops, edge_group = space.group("ops"), space.group("edges")
    assert ops.role == "ops" and edge_group.role == "edges"
    assert all(d.options == OPS and d.k == 1 for d in ops.decisions)
    assert ops.rows == (4 if number < 3 else 5)
    assert [(d.name, len(d.options), d.k) for d in edge_group.decisions] == edges
    assert space.size == size
    # padded edge rows: a block chooses among the nodes before it
    assert edge_group.mask.sum(dim=1).tolist() == [n for _, n, _ in edges]


def test_unknown_space_is_a_config_error():
    with pytest.raises(ConfigError, match="search space 4"):
        NB1Shot1Space.from_option(4)
    assert NB1Shot1Space.from_option("2").number == 2


@pytest.mark.parametrize("number", [1, 2, 3])
def test_index_round_trips_and_follows_the_enumeration_order(number):
    space = NB1Shot1Space(number)
    g = torch.Generator().manual_seed(number)
    for _ in range(50):
        selection = space.uniform_selection_sample(g)
        assert space.selection_at(space.index(selection)) == selection
    n_ops = len(OPS) ** space.n_blocks
    assert space.size == space.n_edge_configs * n_ops
    for index in (0, 1, n_ops - 1, n_ops, space.size - 1):
        selection = space.selection_at(index)
        edge_index, op_index = divmod(index, n_ops)
        assert space.parents(selection) == list(itertools.islice(space.edge_configs(), edge_index, None))[0]
        assert space.block_ops(selection) == space.op_configs()[op_index]
    with pytest.raises(ValueError):
        space.selection_at(space.size)


def test_cell_of_a_space_1_selection_has_the_dummy_vertex():
    space = NB1Shot1Space(1)
    selection = {"ops": ((1,), (2,), (0,), (1,)), "edges": ((0, 2), (1, 3), (3, 4))}
    assert space.parents(selection) == ((0,), (0, 1), (0, 2), (1, 3), (3, 4))
    spec = space.spec(selection)
    assert spec.ops == (INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV1X1, OUTPUT)  # vertex 5: dummy
    assert spec.matrix == ((0, 1, 1, 1, 0, 0, 0),
                           (0, 0, 1, 0, 1, 0, 0),
                           (0, 0, 0, 1, 0, 0, 0),
                           (0, 0, 0, 0, 1, 0, 1),
                           (0, 0, 0, 0, 0, 0, 1),
                           (0, 0, 0, 0, 0, 0, 0),
                           (0, 0, 0, 0, 0, 0, 0))
    assert spec.pruned().n_vertices == 6  # only the dummy goes
    assert space.arch_string(selection).startswith(
        f"ss1:ops={CONV3X3},{CONV1X1},{MAXPOOL3X3},{CONV3X3};in=1<0|2<0,1|3<0,2|4<1,3|out<3,4;hash=")
    assert space.count_parameter_free(selection) == 1


def _hash_from_output_ancestors(space: NB1Shot1Space, selection) -> str:
    """The reference's construction: wire only the output's ancestors (no loose ends), then hash."""
    parents = dict(enumerate(space.parents(selection), start=1))
    keep, frontier = {space.output_node}, [space.output_node]
    while frontier:
        for p in parents.get(frontier.pop(), ()):
            if p not in keep:
                keep.add(p)
                frontier.append(p)
    order = sorted(keep)
    matrix = [[int(a in parents.get(b, ())) for b in order] for a in order]
    ops = [INPUT, *(space.block_ops(selection)[v - 1] for v in order[1:-1]), OUTPUT]
    return ModelSpec.create(matrix, ops).spec_hash()


@pytest.mark.parametrize("number", [1, 2, 3])
def test_cell_hash_equals_the_references_construction(number):
    space = NB1Shot1Space(number)
    g = torch.Generator().manual_seed(10 + number)
    for _ in range(40):
        selection = space.uniform_selection_sample(g)
        assert space.spec(selection).spec_hash() == _hash_from_output_ancestors(space, selection)


@pytest.mark.parametrize("number,cells", [(1, 2685), (2, 7773)])
def test_enumeration_deduplicates_by_hash(number, cells):
    """Every selection maps to the cell of its own hash; isomorphic and pruned-away variants share cells."""
    space = NB1Shot1Space(number)
    ids, hashes = enumerate_space(space)
    assert ids.shape == (space.size,) and len(hashes) == len(set(hashes)) == cells
    assert set(np.unique(ids).tolist()) == set(range(cells))
    rng = np.random.default_rng(number)
    for index in rng.integers(0, space.size, 150).tolist():
        assert hashes[ids[index]] == space.spec(space.selection_at(index)).spec_hash()


def test_option_costs_count_convolution_weights():
    space = NB1Shot1Space(1)
    costs = space.option_costs("ops", channels=4)
    assert costs.shape == (4, 3) and costs[0].tolist() == [0.0, 9 * 16, 16]
    assert space.option_costs("edges").abs().sum() == 0


# -- the supernet ---------------------------------------------------------------------------------------
def _uniform(space):
    return {g.name: g.mask.float() / g.mask.float().sum(dim=1, keepdim=True) for g in space.groups}


@pytest.mark.parametrize("number", [1, 2, 3])
def test_supernet_forward_on_dense_and_one_hot_weights(number):
    torch.manual_seed(0)
    space = NB1Shot1Space(number)
    net = NB1Shot1Supernet(space, C=4, N=1, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    assert net(x, _uniform(space)).shape == (2, 10)
    selection = space.uniform_selection_sample(torch.Generator().manual_seed(number))
    weights = {g.name: one_hot_weights(g, selection[g.name]) for g in space.groups}
    assert torch.isfinite(net(x, weights)).all()
    with pytest.raises(ValueError, match="weights must be"):
        net(x, {"ops": torch.ones(2, 3), "edges": weights["edges"]})


def test_skipping_zero_weights_changes_nothing_but_the_cost():
    """A one-hot forward equals the forward that computes every op and path with its zero weight."""
    torch.manual_seed(0)
    space = NB1Shot1Space(2)
    net = NB1Shot1Supernet(space, C=4, N=1).eval()
    x = torch.randn(2, 3, 32, 32)
    selection = {"ops": ((1,), (0,), (2,), (1,)), "edges": ((1,), (0, 2), (0, 1), (0, 1, 3))}  # block 4 unused
    weights = {g.name: one_hot_weights(g, selection[g.name]) for g in space.groups}
    plan = net._plan(weights["ops"], weights["edges"])
    assert plan.needed == [True, True, True, False]
    everything = _Plan([[True] * 3] * 4, [list(range(j)) for j in range(1, 5)], [True] * 5, [True] * 4)
    net._plan = lambda ops, edges: everything
    dense_compute = net(x, weights)
    del net._plan
    torch.testing.assert_close(net(x, weights), dense_compute, rtol=0, atol=1e-6)


def test_unselected_ops_get_no_gradient_and_do_not_run():
    torch.manual_seed(0)
    space = NB1Shot1Space(1)
    net = NB1Shot1Supernet(space, C=4, N=1)
    # output <- input, block 4 <- blocks 1, 2 (block 2 <- input, block 1); block 3 feeds nothing used
    selection = {"ops": ((1,), (2,), (0,), (1,)), "edges": ((0, 1), (1, 2), (0, 4))}
    weights = {g.name: one_hot_weights(g, selection[g.name]) for g in space.groups}
    net(torch.randn(2, 3, 32, 32), weights).sum().backward()
    cell = net.cells[0]
    assert cell.blocks[0].ops[1][0].weight.grad is not None  # block 1's conv3x3
    assert cell.blocks[0].ops[2][0].weight.grad is None  # block 1's conv1x1: weight 0
    assert cell.projections[1][0].weight.grad is not None  # block 2's input projection
    assert cell.projections[2][0].weight.grad is None  # block 3 is never computed
    assert cell.blocks[3].ops[1][0].weight.grad is not None


def test_scalar_zero_ops_give_unsampled_weights_a_gradient_without_changing_the_output():
    torch.manual_seed(0)
    space = NB1Shot1Space(3)
    net = NB1Shot1Supernet(space, C=4, N=1).eval()
    x = torch.randn(2, 3, 32, 32)
    selection = space.uniform_selection_sample(torch.Generator().manual_seed(3))
    weights = {g.name: one_hot_weights(g, selection[g.name]).requires_grad_() for g in space.groups}
    out = net(x, weights, zero_ops="scalar")
    torch.testing.assert_close(out, net(x, weights), rtol=0, atol=0)
    out.sum().backward()
    plan = net._plan(weights["ops"], weights["edges"])
    for j, needed in enumerate(plan.needed):
        assert bool((weights["ops"].grad[j] != 0).all()) == needed
    edges_grad = weights["edges"].grad
    assert (edges_grad[-1, : space.n_blocks + 1] != 0).all()  # every output weight
    assert (edges_grad[~space.group("edges").mask] == 0).all()  # padding never
    with pytest.raises(ValueError, match="zero_ops"):
        net(x, weights, zero_ops="maybe")


def test_partial_channels():
    torch.manual_seed(0)
    space = NB1Shot1Space(1)
    net = NB1Shot1Supernet(space, C=8, N=1, partial_channels=4)
    assert net.cells[0].blocks[0].ops[1][0].weight.shape == (2, 2, 3, 3)
    assert net(torch.randn(2, 3, 32, 32), _uniform(space)).shape == (2, 10)
    with pytest.raises(ConfigError, match="partial_channels=3"):
        NB1Shot1Supernet(space, C=8, N=1, partial_channels=3)


def test_stages_match_the_reference_layout():
    """9 cells (N = 3) with max-pool and doubled channels before cells 3 and 6; cells output C * blocks."""
    space = NB1Shot1Space(3)
    net = NB1Shot1Supernet(space, C=16, N=3)
    assert len(net.cells) == 9 and net.pool_before == {3, 6}
    widths = [cell.channels for cell in net.cells]
    assert widths == [16] * 3 + [32] * 3 + [64] * 3
    assert net.cells[3].projections[0][0].in_channels == 16 * 5
    assert net.classifier.in_features == 64


def test_derivation_picks_top_k_parents():
    space = NB1Shot1Space(2)
    group = space.group("edges")
    scores = torch.zeros(group.rows, group.width)
    scores[3, :5] = torch.tensor([0.1, 0.5, 0.2, 0.9, 0.3])
    assert topk_selection(group, scores)[3] == (1, 3, 4)

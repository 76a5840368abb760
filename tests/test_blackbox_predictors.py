"""Local search, BANANAS and NPENAS: their mechanics by hand (neighbourhood, moves and restarts, path
encoding, cell graph, mutation, Thompson sampling on a fixed ensemble, predictor fits), on NAS-Bench-201."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.nb201.space import NB201Space
from methods.bananas import Bananas
from methods.local_search import LocalSearch
from methods.npenas import Npenas
from methods.predictors import CellGraph, GinPredictor, MLPEnsemble, PathEncoding, cell_paths, independent_thompson
from methods.registry import get
from nasbench_errors import ConfigError

SPACE = NB201Space(include_none=True)


def _make(name: str, seed: int = 0, **config):
    entry = get(name)
    return entry.create(SPACE, {**entry.defaults, **config}, torch.Generator().manual_seed(seed))


def _op_sum(arch) -> float:
    return float(sum(arch))


# -- the neighbourhood and local search ------------------------------------------------------------------
def test_neighbourhood_is_every_single_op_change():
    ls = _make("local-search")
    arch = (0, 1, 2, 3, 4, 0)
    nbrs = ls.neighbours(arch)
    assert len(nbrs) == 6 * 4 == len(set(nbrs))  # 6 edges x the 4 other ops
    assert all(sum(a != b for a, b in zip(arch, n, strict=True)) == 1 for n in nbrs)
    assert nbrs[:4] == [(1, 1, 2, 3, 4, 0), (2, 1, 2, 3, 4, 0), (3, 1, 2, 3, 4, 0), (4, 1, 2, 3, 4, 0)]
    assert sorted(ls.shuffled(nbrs)) == sorted(nbrs)


def _climb(ls: LocalSearch, score, steps: int) -> list[tuple]:
    """Drive the search by hand: ``steps`` proposals, each observed with ``score``."""
    asked = []
    for _ in range(steps):
        arch = ls.propose()
        asked.append(arch)
        ls.observe(arch, score(arch))
    return asked


def test_first_improvement_moves_at_the_first_better_neighbour_and_never_repeats_a_cell():
    ls = _make("local-search", ls_init=2)
    asked = _climb(ls, _op_sum, 2)
    start = max(asked, key=_op_sum)
    assert ls.current == (start, _op_sum(start))  # the best of the two random starts
    order = list(ls.to_visit)
    assert sorted(order) == sorted(ls.neighbours(start))
    # the visit follows the shuffled order (skipping cells evaluated before) up to the first neighbour with a
    # higher signal, then moves there
    expected = [n for n in order if n not in asked]
    k = next(i for i, n in enumerate(expected) if _op_sum(n) > _op_sum(start))
    visited = _climb(ls, _op_sum, k + 1)
    assert visited == expected[: k + 1]
    assert ls.current == (visited[-1], _op_sum(visited[-1])) and ls.moves == 1
    more = _climb(ls, _op_sum, 200)
    everything = asked + visited + more
    assert len(everything) == len(set(everything))  # no cell is evaluated twice


def test_a_local_optimum_restarts_from_new_random_cells():
    ls = _make("local-search", ls_init=1)
    peak = (4,) * 6  # the op sum's only local optimum: hill climbing must reach it
    asked = _climb(ls, _op_sum, 400)
    assert peak in asked
    assert ls.rounds >= 1  # the peak's neighbourhood had nothing better: a new round started
    i = asked.index(peak)
    after = asked[i + 1:]
    # the rest of the peak's neighbourhood was visited, then a fresh random start (not a neighbour of it)
    assert len(asked) == len(set(asked))
    restart = next(a for a in after if sum(x != y for x, y in zip(a, peak, strict=True)) != 1)
    assert restart not in ls.neighbours(peak)


def test_best_improvement_visits_the_whole_neighbourhood_then_moves_to_its_best():
    ls = _make("local-search", ls_init=1, ls_improvement="best")
    start = ls.propose()
    ls.observe(start, _op_sum(start))
    nbrs = list(ls.to_visit)
    visited = _climb(ls, _op_sum, len(nbrs))
    assert visited == nbrs and ls.current[0] == start  # still at the start until the neighbourhood is done
    best = max(visited, key=_op_sum)  # the first of equals in visiting order
    assert _op_sum(best) > _op_sum(start)
    following = ls.propose()
    assert ls.current[0] == best and following in ls.neighbours(best)


def test_local_search_options_are_checked():
    with pytest.raises(ConfigError, match="ls_improvement='steepest' is not valid; use one of first, best"):
        _make("local-search", ls_improvement="steepest")
    with pytest.raises(ConfigError, match="ls_init=0 must be >= 1"):
        _make("local-search", ls_init=0)


# -- encodings --------------------------------------------------------------------------------------------
def test_path_encoding_by_hand():
    group = SPACE.groups[0]
    # edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2: paths input -> output are 0-2-5, 0-4, 1-5 and 3
    assert cell_paths(group) == [(0, 2, 5), (0, 4), (1, 5), (3,)]
    enc = PathEncoding(SPACE)
    assert enc.size == 5 + 25 + 125  # every op sequence of length 1, 2, 3
    arch = (0, 1, 2, 3, 4, 0)
    # path 0-2-5 = ops (0, 2, 0): 30 + 0 + 2*5 + 0*25 = 40; 0-4 = (0, 4): 5 + 0 + 4*5 = 25; 1-5 = (1, 0): 5 + 1 = 6;
    # 3 = (3,): 3
    assert sorted(enc.indices(arch)) == [3, 6, 25, 40]
    x = enc.encode([arch, (0,) * 6])
    assert x.shape == (2, 155) and x[0].sum() == 4 and x[0, [3, 6, 25, 40]].tolist() == [1, 1, 1, 1]
    assert x[1].nonzero().flatten().tolist() == [0, 5, 30]  # all-`none`: the two 2-paths share feature 5
    truncated = PathEncoding(SPACE, cutoff=30).encode([arch])
    assert truncated.shape == (1, 30) and truncated[0].nonzero().flatten().tolist() == [3, 6, 25]


def test_cell_graph_puts_the_ops_on_the_nodes():
    graph = CellGraph(SPACE)
    expected = torch.zeros(8, 8)
    # input -> edges leaving node 0 (rows 0, 1, 3); row 0 (-> node 1) -> rows 2, 4; rows 1, 2 (-> node 2) -> row 5;
    # rows 3, 4, 5 (-> node 3, the output node) -> output
    for i, j in [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)]:
        expected[i, j] = 1
    assert torch.equal(graph.adjacency, expected)
    x = graph.encode([(0, 1, 2, 3, 4, 0)])
    assert x.shape == (1, 8, 7)
    assert x[0].argmax(dim=1).tolist() == [0, 1, 2, 3, 4, 5, 1, 6]  # input, ops + 1, output
    assert torch.equal(x[0].sum(dim=1), torch.ones(8))


# -- BANANAS -----------------------------------------------------------------------------------------------
def test_independent_thompson_sampling_on_a_fixed_ensemble():
    predictions = torch.tensor([[10.0, 20.0, 30.0, 5.0],
                                [12.0, 20.0, 26.0, 5.0],
                                [14.0, 20.0, 34.0, 5.0]])
    # mean (12, 20, 30, 5), population std (1.633, 0, 3.266, 0): candidates 1 and 3 are their mean exactly
    z = torch.randn(4, generator=torch.Generator().manual_seed(7))
    draws = torch.tensor([12.0, 20.0, 30.0, 5.0]) + torch.tensor([math.sqrt(8 / 3), 0, math.sqrt(32 / 3), 0]) * z
    order = independent_thompson(predictions, torch.Generator().manual_seed(7))
    assert order.tolist() == torch.argsort(draws).tolist()
    assert order[0] == 3  # 5 is below every draw the others can make here (|z| < 2.1)
    # the spread matters: a candidate with a worse mean but a wide ensemble is sometimes drawn first
    wide = torch.tensor([[10.0, 0.0], [10.0, 24.0]])  # means 10 and 12, stds 0 and 12
    firsts = [int(independent_thompson(wide, torch.Generator().manual_seed(s))[0]) for s in range(400)]
    assert 0.3 < firsts.count(1) / 400 < 0.6  # P(12 + 12 z < 10) = P(z < -1/6) = 0.43


def test_bananas_mutation_and_candidates():
    b = _make("bananas", bananas_mutation_prob=1.0)
    parent = (0, 1, 2, 3, 4, 0)
    assert all(all(x != y for x, y in zip(parent, b.mutant(parent), strict=True)) for _ in range(50))
    b = _make("bananas")  # p = 1/4 per edge: about 1.5 of 6 edges change
    changed = [sum(x != y for x, y in zip(parent, b.mutant(parent), strict=True)) for _ in range(2000)]
    assert sum(changed) / 2000 == pytest.approx(1.5, abs=0.1)
    for i, arch in enumerate([(0,) * 6, (1,) * 6, parent]):
        b.observe(arch, float(i))
    cands = b.candidates()
    assert len(cands) >= 100 and len(set(cands)) == len(cands)
    assert not set(cands) & set(b.evaluated)  # never an evaluated cell
    # mutants of the best cell (``parent``, signal 2) first: within reach of it
    assert sum(x != y for x, y in zip(parent, cands[0], strict=True)) >= 1


def test_bananas_proposes_random_cells_then_the_predicted_best():
    b = _make("bananas", bananas_init=3, bananas_k=2, bananas_epochs=30, bananas_candidates=20)
    first = [b.propose() for _ in range(1)]
    for arch in first:
        b.observe(arch, _op_sum(arch))
    for _ in range(2):
        arch = b.propose()
        b.observe(arch, _op_sum(arch))
    assert len(b.evaluated) == 3 and not b.queue
    chosen = b.propose()  # fits the ensemble, keeps k = 2 of the candidates
    assert len(b.queue) == 1 and chosen not in b.evaluated
    state = b.state_dict()
    again = _make("bananas", seed=5, bananas_init=3, bananas_k=2)
    again.load_state_dict(state)
    assert again.queue == b.queue and again.evaluated == b.evaluated


def test_mlp_ensemble_fits_its_data():
    g = torch.Generator().manual_seed(0)
    x = torch.eye(8)
    y = torch.arange(8.0)
    ens = MLPEnsemble(members=2, layers=3, width=16, epochs=300, batch=4, lr=0.01)
    ens.fit(x, y, g)
    pred = ens.predict(x)
    assert pred.shape == (2, 8)
    assert (pred - y).abs().mean() < 0.5  # MAE on the training points, from 2.0 for the mean predictor
    assert not torch.equal(pred[0], pred[1])  # members differ by initialization and batch order


def test_bananas_options_are_checked():
    with pytest.raises(ConfigError, match="bananas_mutation_prob=0 must be in"):
        _make("bananas", bananas_mutation_prob=0)
    with pytest.raises(ConfigError, match="bananas_ensemble=0 must be >= 1"):
        _make("bananas", bananas_ensemble=0)


# -- NPENAS --------------------------------------------------------------------------------------------------
def test_npenas_candidates_are_new_one_edge_mutants_of_the_best_cells():
    n = _make("npenas")
    best, second, third = (4,) * 6, (1,) * 6, (0,) * 6
    for arch, score in [(third, 0.0), (best, 90.0), (second, 2.0)]:
        n.observe(arch, score)
    cands = n.candidates()
    assert len(cands) == len(set(cands)) and len(cands) <= 100
    assert not set(cands) & set(n.evaluated)
    # each parent (best first) is tried 100 times; a cell has 24 one-edge mutants
    from_best = [c for c in cands if c in set(n.neighbours(best))]
    assert cands[: len(from_best)] == from_best and len(from_best) >= 18
    assert all(any(c in n.neighbours(p) for p in (best, second, third)) for c in cands)
    assert any(c in n.neighbours(second) for c in cands)


def test_gin_predictor_learns_a_graph_property():
    graph = CellGraph(SPACE)
    g = torch.Generator().manual_seed(0)
    archs = [tuple(int(v) for v in torch.randint(5, (6,), generator=g)) for _ in range(40)]
    # target: the fraction of convolution ops (2, 3), a node-feature property the mean pooling can read
    y = torch.tensor([sum(o in (2, 3) for o in a) / 6 * 10 for a in archs])
    model = GinPredictor(graph, torch.Generator().manual_seed(1))
    before = torch.nn.functional.mse_loss(model.predict(graph.encode(archs)), y)
    model.fit(graph.encode(archs), y, epochs=150, batch=10, lr=0.01, weight_decay=1e-4)
    after = torch.nn.functional.mse_loss(model.predict(graph.encode(archs)), y)
    assert after < 0.25 * before
    pred = model.predict(graph.encode(archs))
    assert ((pred > 0) & (pred < 10)).all()  # sigmoid x 10


def test_npenas_chooses_the_lowest_predicted_error(monkeypatch):
    n = _make("npenas", npenas_epochs=1)
    for arch in [(0,) * 6, (1,) * 6]:
        n.observe(arch, 50.0)
    cands = [(2,) * 6, (3,) * 6, (4,) * 6]
    monkeypatch.setattr(GinPredictor, "predict", lambda self, x: torch.tensor([5.0, 1.0, 3.0]))
    assert n.choose(cands, 2) == [(3,) * 6, (4,) * 6]


def test_the_predictors_refuse_spaces_without_a_cell_dag():
    from tests.tiny_supernet import TinySpace

    with pytest.raises(ConfigError, match="the path encoding needs decisions that are the edges of a cell DAG"):
        Bananas(TinySpace(), {**get("bananas").defaults}, torch.Generator())
    with pytest.raises(ConfigError, match="the graph predictor needs decisions that are the edges of a cell DAG"):
        Npenas(TinySpace(), {**get("npenas").defaults}, torch.Generator())
    assert LocalSearch(TinySpace(), {**get("local-search").defaults}, torch.Generator()).neighbours((0, 0)) == [
        (1, 0), (2, 0), (0, 1), (0, 2)]  # local search needs no DAG

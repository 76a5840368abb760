"""SETN: the evaluator's top-K architectures (hand-computed and against brute force), uniform single-path weight
steps, DARTS-mixture evaluator steps, and the epoch's architecture = the best-scoring candidate."""

import itertools
import math

import pytest
import torch
from torch import nn

from benchmarks.nb201.space import NB201Space
from benchmarks.space import Decision, DecisionGroup, SearchSpace, derive_selection
from methods.base import EpochContext
from methods.candidates import top_k_selections
from methods.registry import get
from nasbench_errors import ConfigError


class TwoDecisions(SearchSpace):
    name = "two"
    groups = (DecisionGroup("ops", (Decision("a", ("x", "y", "z")), Decision("b", ("x", "y", "z")))),)


class WithPairs(SearchSpace):
    """A k = 1 decision over 3 options with padding, and a k = 2 decision over 4 options."""

    name = "pairs"
    groups = (DecisionGroup("ops", (Decision("a", ("x", "y")), Decision("b", ("x", "y", "z")))),
              DecisionGroup("edges", (Decision("in", ("p", "q", "r", "s"), 2),), role="edges"))


def test_top_k_by_log_probability_hand_computed():
    # p(a) = [.5, .3, .2], p(b) = [.7, .3, 0 (never)]: .35 (x,x), .21 (y,x), .15 (x,y), .14 (z,x), .09 (y,y), .06 (z,y)
    probs = {"ops": torch.tensor([[0.5, 0.3, 0.2], [0.7, 0.3, 0.0]])}
    space = TwoDecisions()
    got = [s["ops"] for s in top_k_selections(space, probs, 6)]
    assert got == [((0,), (0,)), ((1,), (0,)), ((0,), (1,)), ((2,), (0,)), ((1,), (1,)), ((2,), (1,))]
    assert len(top_k_selections(space, probs, 100)) == 9  # every architecture once, the impossible ones last


def _brute_force(space: SearchSpace, probs: dict[str, torch.Tensor]) -> list[tuple[float, dict]]:
    per_decision = []
    for g in space.groups:
        logp = probs[g.name].double().log()
        for r, d in enumerate(g.decisions):
            per_decision.append([(g.name, r, c, float(sum(logp[r, o] for o in c)))
                                 for c in itertools.combinations(range(len(d.options)), d.k)])
    out = []
    for combo in itertools.product(*per_decision):
        rows = {g.name: [None] * g.rows for g in space.groups}
        for name, r, c, _ in combo:
            rows[name][r] = c
        out.append((sum(x[3] for x in combo), {k: tuple(v) for k, v in rows.items()}))
    return sorted(out, key=lambda t: -t[0])


@pytest.mark.parametrize("space", [NB201Space(include_none=False), WithPairs()])
def test_top_k_matches_sorting_every_architecture(space):
    gen = torch.Generator().manual_seed(0)
    probs = {g.name: torch.softmax(torch.randn(g.rows, g.width, generator=gen), dim=-1) * g.mask for g in space.groups}
    k = 50 if isinstance(space, NB201Space) else 12
    ranked = _brute_force(space, probs)
    got = top_k_selections(space, probs, k)
    assert len({tuple(sorted(s.items())) for s in got}) == k
    scores = [next(sc for sc, sel in ranked if sel == s) for s in got]
    assert scores == pytest.approx([sc for sc, _ in ranked[:k]], abs=1e-12)  # the k best, best first


class MiniCell(SearchSpace):
    """A DARTS-like cell: 5 edges with a never-derived zero op; node x keeps 1 of edges 0-1, node y 2 of edges 2-4."""

    name = "mini-cell"
    groups = (DecisionGroup("cell", tuple(Decision(f"edge {e}", ("none", "a", "b")) for e in range(5)), not_derived=0),
              DecisionGroup("cell_inputs", (Decision("x", ("p", "q")), Decision("y", ("p", "q", "r"), 2)), role="edges",
                            op_group="cell", option_rows=((0, 1), (2, 3, 4))))


def test_top_k_over_inputs_of_op_edges_ranks_distinct_cells_by_their_kept_ops():
    space = MiniCell()
    gen = torch.Generator().manual_seed(1)
    probs = {"cell": torch.softmax(torch.randn(5, 3, generator=gen), dim=-1)}  # the inputs have no parameters
    logp = probs["cell"].double().log()
    # every cell: the kept (edge, op) pairs of both nodes, scored by the sum of their op log-probabilities
    cells = [((x,), y, ops) for x in (0, 1) for y in itertools.combinations((2, 3, 4), 2)
             for ops in itertools.product((1, 2), repeat=3)]
    ranked = sorted(float(sum(logp[e, o] for e, o in zip((*x, *y), ops, strict=True))) for x, y, ops in cells)[::-1]
    got = top_k_selections(space, probs, 100)
    assert len(got) == len(cells) == 48  # each cell once: the ops of the edges it leaves out are not choices
    kept = [tuple((e, s["cell"][e][0]) for e in (s["cell_inputs"][0][0], *(2 + c for c in s["cell_inputs"][1])))
            for s in got]
    assert len(set(kept)) == 48
    assert [float(sum(logp[e, o] for e, o in k)) for k in kept] == pytest.approx(ranked, abs=1e-12)
    best = probs["cell"][:, 1:].argmax(dim=1) + 1
    for s in got:  # edges a cell leaves out keep their most probable derivable op
        used = {s["cell_inputs"][0][0], *(2 + c for c in s["cell_inputs"][1])}
        assert all(s["cell"][e] == (int(best[e]),) for e in range(5) if e not in used)
    assert got[0] == derive_selection(space, probs)  # the most probable cell is the derived one (DARTS's rule)


def _setn(space, **overrides):
    entry = get("setn")
    return entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


class ScoredNet(nn.Module):
    """Class 0 exactly when decision ``a`` runs option 2; records the weights of every forward."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(2))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        self.seen.append(weights["ops"].detach().clone())
        favour = 10.0 * (2 * weights["ops"][0, 2] - 1)
        return torch.stack([favour, -favour]).expand(x.shape[0], 2) + self.bias


def test_epoch_trains_uniform_paths_and_the_mixture_then_picks_the_best_top_k_candidate():
    m = _setn(TwoDecisions(), setn_candidates=4, setn_eval_batches=2)
    alpha = m.relaxation.params["ops"]
    # the evaluator's top 4: (x, x) .49, (z, x) .30, (x, y) .07, (y, x) .07; only a = z is accurate on ScoredNet
    with torch.no_grad():
        alpha.copy_(torch.tensor([[2.0, 0.0, 1.5], [1.0, -1.0, -3.0]]))
    assert m.derive()["ops"] == ((0,), (0,))  # before training: the evaluator's argmax
    net = ScoredNet()
    batches = [(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)) for _ in range(3)]
    ctx = EpochContext(net, torch.optim.SGD(net.parameters(), lr=0.0), batches, iter(batches), 1, 1, 0.0)
    before = alpha.detach().clone()
    stats = m.train_epoch(ctx)
    assert stats.weight_steps == 3 and stats.arch_steps == 3 and stats.extra["candidates"] == 4.0
    # weights first, then the evaluator: one-hot paths and softmax mixtures alternate, then 4 single-path scorings
    training = net.seen[:6]
    assert all(set(w.unique().tolist()) <= {0.0, 1.0} and (w.sum(dim=1) == 1).all() for w in training[0::2])
    assert all((w > 0).all() for w in training[1::2])
    assert not torch.equal(alpha.detach(), before)
    top4 = [s["ops"] for s in top_k_selections(m.space, m.relaxation.probabilities(), 4)]
    scored = [tuple((int(r.argmax()),) for r in w) for w in net.seen[6:]]
    assert scored == top4 and len(net.seen) == 10
    assert top4 == [((0,), (0,)), ((2,), (0,)), ((0,), (1,)), ((1,), (0,))]
    assert m.derive()["ops"] == ((2,), (0,)) and stats.extra["candidate_best_acc"] == 100.0
    assert torch.equal(m.eval_weights()["ops"].argmax(dim=1), torch.tensor([r[0] for r in m.derive()["ops"]]))


def test_the_choice_survives_a_checkpoint_and_bad_counts_are_config_errors():
    m = _setn(NB201Space())
    m.best = {"ops": ((1,),) * 6}
    resumed = _setn(NB201Space())
    resumed.load_state_dict(m.state_dict())
    assert resumed.derive() == m.derive() and math.isnan(resumed.best_accuracy)
    with pytest.raises(ConfigError, match="setn_candidates"):
        _setn(NB201Space(), setn_candidates=0)


def test_quoted_nb201_numbers_are_gaea_table_2s_setn_row():
    from results.reports.paper import NB201_DATASETS, TABLE2

    row = next(r for r in TABLE2 if r.label == "SETN")
    assert "setn" in row.methods and row.block == "transfer"
    quoted = {(q.dataset, q.metric): (q.mean, q.std) for q in get("setn").quoted if q.benchmark == "nb201"}
    assert quoted == {(ds, "test_acc"): (a.mean, a.std) for ds, a in zip(NB201_DATASETS, row.acc, strict=True)}

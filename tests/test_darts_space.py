"""The DARTS space: genotype strings and indices, decisions <-> genotypes, and the search supernet on a tiny
configuration (shapes, skipped zero-weight ops and edges, GDAS's scalar zero terms, PC-DARTS channels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.darts.genotype import CELL_SIZE, DARTS_V2, EDGES, Genotype, GenotypeError
from benchmarks.darts.space import PATH_ROWS, DartsSpace
from benchmarks.darts.supernet import DartsSupernet
from benchmarks.nb301.evolution import random_genotype
from benchmarks.space import one_hot_weights, topk_selection
from methods.registry import registry
from nasbench_errors import ConfigError

#: ``str(genotypes.DARTS_V2)`` as the DARTS code prints it (concat as range, pairs in its order)
DARTS_V2_CODE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
                 "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
                 "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                 "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
                 "('max_pool_3x3', 1)], reduce_concat=range(2, 6))")


def test_genotype_strings_round_trip_and_canonicalize():
    parsed = Genotype.from_string(DARTS_V2_CODE)
    assert parsed == DARTS_V2
    # node 3 of the reduce cell lists input 2 before 1 in DARTS; the canonical form sorts by input
    assert DARTS_V2.reduce[2:4] == (("max_pool_3x3", 1), ("skip_connect", 2))
    assert Genotype.from_string(str(DARTS_V2)) == DARTS_V2
    assert DARTS_V2.count("skip_connect", "normal") == 2 and DARTS_V2.count("skip_connect", "reduce") == 3


def test_index_round_trips_and_fits_int64():
    assert CELL_SIZE ** 2 < 2 ** 63
    rng = np.random.default_rng(0)
    for g in [DARTS_V2, *(random_genotype(rng) for _ in range(200))]:
        assert Genotype.from_index(g.index) == g
    assert Genotype.from_index(0).index == 0 and Genotype.from_index(CELL_SIZE ** 2 - 1).index == CELL_SIZE ** 2 - 1


@pytest.mark.parametrize("text, message", [
    (DARTS_V2_CODE.replace("'dil_conv_3x3', 2", "'none', 2"), "op 'none' is not a DARTS cell op"),
    (DARTS_V2_CODE.replace("'dil_conv_3x3', 2", "'skip_connect', 0"), "node 5 takes inputs 0, 0"),
    (DARTS_V2_CODE.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                           "('sep_conv_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_3x3', 0)", 1), "node 2 takes inputs"),
    (DARTS_V2_CODE.replace("normal_concat=range(2, 6)", "normal_concat=[2, 3]"), "normal_concat must be nodes 2..5"),
    ("Genotype(normal=__import__('os'))", "not a DARTS genotype string"),
    ("|nor_conv_3x3~0|+|none~0|none~1|", "not a DARTS genotype string"),
])
def test_genotypes_outside_the_space_are_one_line_errors(text, message):
    with pytest.raises(GenotypeError, match=message.replace("(", r"\(")) as err:
        Genotype.from_string(text)
    assert "\n" not in str(err.value)
    with pytest.raises(GenotypeError, match="outside"):
        Genotype.from_index(CELL_SIZE ** 2)


def test_space_decisions_follow_the_contract():
    space = DartsSpace()
    names = [(g.name, g.role, g.rows, g.width, g.ks[0]) for g in space.groups]
    assert names == [("normal", "ops", 14, 8, 1), ("reduce", "ops", 14, 8, 1), ("normal_inputs", "edges", 4, 5, 2),
                     ("reduce_inputs", "edges", 4, 5, 2)]
    normal = space.group("normal")
    assert normal.skip_option == 3 and normal.not_derived == 0 and normal.path_rows == PATH_ROWS == (1, 4, 8, 13)
    assert not normal.nodes  # the input groups are the edge weights: PC-DARTS adds no second normalization
    assert space.group("normal_inputs").mask.sum(dim=1).tolist() == [2, 3, 4, 5]
    no_none = DartsSpace(include_none=False)
    assert no_none.group("reduce").width == 7 and no_none.group("reduce").not_derived is None
    assert no_none.genotype(no_none.selection(DARTS_V2)) == DARTS_V2


def test_derivation_and_sampling_never_pick_the_zero_op():
    space = DartsSpace()
    g = space.group("normal")
    scores = torch.rand(g.rows, g.width)
    scores[:, 0] = 10.0  # none strongest everywhere, as in a collapsing DARTS
    assert all(row[0] == int(scores[r, 1:].argmax()) + 1 for r, row in enumerate(topk_selection(g, scores)))
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        space.genotype(space.uniform_selection_sample(gen))  # raises on a kept zero op


def test_selection_and_genotype_convert_both_ways():
    space = DartsSpace()
    selection = space.selection(DARTS_V2)
    assert selection["reduce_inputs"] == ((0, 1), (1, 2), (0, 2), (1, 2))
    assert space.genotype(selection) == DARTS_V2
    rows = list(selection["normal"])
    rows[11] = (0,)  # edge 5 <- 2 is kept by node 5: its op becomes the zero op
    with pytest.raises(GenotypeError, match="zero op"):
        space.genotype({**selection, "normal": tuple(rows)})


def test_option_costs_count_op_weights():
    costs = DartsSpace().option_costs("reduce", channels=16)
    assert costs.shape == (14, 8)
    c = 16
    assert costs[4].tolist() == [0, 0, 0, 0, 2 * (9 * c + c * c), 2 * (25 * c + c * c), 9 * c + c * c, 25 * c + c * c]
    assert costs[0, 3] == c * c  # a stride-2 identity is a FactorizedReduce
    assert DartsSpace().option_costs("normal")[:, 3].eq(0).all()
    assert DartsSpace().option_costs("normal_inputs").eq(0).all()


def _uniform(space: DartsSpace) -> dict[str, torch.Tensor]:
    return {g.name: g.mask.float() / g.mask.sum(dim=-1, keepdim=True) for g in space.groups}


def _one_hot(space: DartsSpace, genotype: Genotype) -> dict[str, torch.Tensor]:
    sel = space.selection(genotype)
    return {g.name: one_hot_weights(g, sel[g.name]) for g in space.groups}


@pytest.mark.parametrize("k", [1, 4])
def test_supernet_shapes_and_cells(k):
    torch.manual_seed(0)
    space = DartsSpace()
    net = DartsSupernet(space, C=4, N=1, num_classes=10, partial_channels=k)
    assert [c.reduction for c in net.cells] == [False, True, False, True, False]  # 3N + 2, reductions at 1/3, 2/3
    out = net(torch.randn(2, 3, 16, 16), _uniform(space))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert net.classifier.in_features == 4 * 4 * 4  # 4 nodes x 4C after two reductions


def test_zero_weight_ops_and_edges_are_not_computed():
    torch.manual_seed(0)
    space = DartsSpace()
    net = DartsSupernet(space, C=4, N=1).eval()
    calls: dict[str, int] = {}
    for name, module in net.named_modules():
        if ".ops." in name and name.count(".") == 5:
            module.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
    net(torch.randn(2, 3, 16, 16), _one_hot(space, DARTS_V2))
    ran = {tuple(n.split(".")[i] for i in (1, 3, 5)) for n in calls}  # (cell, edge, op)
    assert len(calls) == 8 * 5  # 8 kept edges x 1 op in each of the 5 cells
    normal_edges = {(int(e), op) for c, e, op in ran if c == "0"}
    assert normal_edges == {(0, "sep_conv_3x3"), (1, "sep_conv_3x3"), (2, "sep_conv_3x3"), (3, "sep_conv_3x3"),
                            (6, "sep_conv_3x3"), (5, "skip_connect"), (9, "skip_connect"), (11, "dil_conv_3x3")}


def test_scalar_zero_ops_keep_the_forward_and_reach_every_weight():
    torch.manual_seed(0)
    space = DartsSpace()
    net = DartsSupernet(space, C=4, N=1).eval()
    x = torch.randn(2, 3, 16, 16)
    weights = {k: v.clone().requires_grad_(True) for k, v in _one_hot(space, DARTS_V2).items()}
    skip = net(x, weights)
    scalar = net(x, weights, zero_ops="scalar")
    assert torch.allclose(skip, scalar)
    scalar.sum().backward()
    for name, w in weights.items():
        real = space.group(name).mask
        assert (w.grad[real] != 0).float().mean() > 0.9, name


def test_pc_darts_scales_whole_edges_by_their_input_weight():
    torch.manual_seed(0)
    space = DartsSpace()
    net = DartsSupernet(space, C=8, N=1, partial_channels=4).eval()
    x = torch.randn(2, 3, 16, 16)
    w = _uniform(space)
    base = net(x, w)
    zeroed = {**w, "normal_inputs": w["normal_inputs"].clone()}
    zeroed["normal_inputs"][3] = 0.0  # node 5 gets nothing: a zero input weight drops the bypass too
    assert not torch.allclose(base, net(x, zeroed))
    with pytest.raises(ConfigError, match="partial_channels=3"):
        DartsSupernet(space, C=8, N=1, partial_channels=3)


# -- inputs: unweighted sum, DARTS's derivation rule, PC-DARTS's beta x op (issue 14, item 4) -----------------

def _darts_rule(weights: torch.Tensor, op_names: tuple[str, ...],
                edge_weights: torch.Tensor | None = None) -> tuple[tuple[str, int], ...]:
    """DARTS's genotype() (Liu et al. 2019, model_search.py), restated: each node keeps the 2 incoming edges whose
    strongest non-``none`` op weight is largest (PC-DARTS: the op weights times the edge's beta first) and, on each,
    that op. ``weights`` [14, ops] in edge order; ``edge_weights`` [14] or None."""
    w = weights.double().clone()
    if edge_weights is not None:
        w = w * edge_weights.double()[:, None]
    real = [o for o, name in enumerate(op_names) if name != "none"]
    pairs, start = [], 0
    for n in (2, 3, 4, 5):
        rows = w[start:start + n]
        strongest = [max(float(rows[src, o]) for o in real) for src in range(n)]
        for src in sorted(range(n), key=lambda i: -strongest[i])[:2]:
            best = max(real, key=lambda o: float(rows[src, o]))
            pairs.append((op_names[best], src))
        start += n
    return tuple(pairs)


def _method(name: str, **overrides):
    from harness.specs import resolve_config
    from methods.registry import get

    cfg = resolve_config(name, "nb301", "quick", overrides)
    space = DartsSpace(include_none=not cfg["exclude_none"], cell_ops=cfg["cell_ops"])
    return get(name).create(space, cfg, torch.Generator().manual_seed(0)), space


@pytest.mark.parametrize("method", ["darts", "gaea-darts", "xnas", "darts-prime", "amended-darts"])
def test_derivation_is_darts_rule_on_random_draws(method):
    relaxed, space = _method(method)
    names = space.cell_op_names["normal"]
    gen = torch.Generator().manual_seed(1)
    for _ in range(200):
        with torch.no_grad():
            for cell in ("normal", "reduce"):
                p = relaxed.relaxation.params[cell]
                draw = torch.randn(p.shape, generator=gen)
                p.copy_(draw if method in ("darts", "darts-prime", "amended-darts") else torch.softmax(draw, -1))
        probs = relaxed.relaxation.probabilities()
        genotype = space.genotype(relaxed.derive())
        assert genotype == Genotype(_darts_rule(probs["normal"], names), _darts_rule(probs["reduce"], names))


def test_darts_rule_by_hand_ignores_none_and_the_inputs_have_no_weights():
    relaxed, space = _method("darts")
    assert set(relaxed.relaxation.params) == {"normal", "reduce"}  # nothing weights the inputs
    assert set(relaxed.training_weights()) == {"normal", "reduce"}
    w = torch.full((14, 8), 0.01)
    # node 3 (edges 2-4 from inputs 0, 1, 2): edge 2 is mostly none, edge 3 has a 0.3 conv, edge 4 a 0.2 pool
    w[2, 0], w[2, 4] = 0.9, 0.1
    w[3, 5] = 0.3
    w[4, 1] = 0.2
    with torch.no_grad():
        relaxed.relaxation.params["normal"].copy_(w.log())
        relaxed.relaxation.params["reduce"].copy_(w.log())
    selection = relaxed.derive()
    assert selection["normal_inputs"][1] == (1, 2)  # none's 0.9 does not count; 0.3 and 0.2 win over 0.1
    assert selection["normal"][3] == (5,) and selection["normal"][4] == (1,)


def test_pc_darts_ranks_inputs_by_beta_times_op():
    relaxed, space = _method("pc-darts")
    assert set(relaxed.relaxation.params) == {"normal", "reduce", "normal_inputs", "reduce_inputs"}
    ops = torch.full((14, 8), 0.01)
    ops[2, 4], ops[3, 4], ops[4, 4] = 0.6, 0.4, 0.5  # node 3's edges from inputs 0, 1, 2
    beta = torch.full((4, 5), 0.25)
    beta[1, :3] = torch.tensor([0.2, 0.5, 0.3])  # beta x op: 0.12, 0.20, 0.15 -> inputs 1 and 2 (DARTS: 0 and 2)
    with torch.no_grad():
        for cell in ("normal", "reduce"):
            relaxed.relaxation.params[cell].copy_(ops.log())
            relaxed.relaxation.params[f"{cell}_inputs"].copy_(beta.log())
    assert relaxed.derive()["normal_inputs"][1] == (1, 2)
    gen = torch.Generator().manual_seed(2)
    names = space.cell_op_names["normal"]
    for _ in range(100):
        with torch.no_grad():
            for p in relaxed.relaxation.params.values():
                p.copy_(torch.randn(p.shape, generator=gen))
        probs = relaxed.relaxation.probabilities()
        rules = [_darts_rule(probs[cell], names, torch.cat([probs[f"{cell}_inputs"][j, :n]
                                                            for j, n in enumerate((2, 3, 4, 5))]))
                 for cell in ("normal", "reduce")]
        assert space.genotype(relaxed.derive()) == Genotype(*rules)


def test_supernet_sums_inputs_unweighted_without_input_weights():
    torch.manual_seed(0)
    space = DartsSpace()
    net = DartsSupernet(space, C=4, N=1).eval()
    x = torch.randn(2, 3, 16, 16)
    ops = {cell: torch.softmax(torch.randn(14, 8), dim=-1) for cell in ("normal", "reduce")}
    ones = {f"{cell}_inputs": space.group(f"{cell}_inputs").mask.float() for cell in ("normal", "reduce")}
    assert torch.allclose(net(x, ops), net(x, {**ops, **ones}), atol=1e-6)
    halved = {k: 0.5 * v for k, v in ones.items()}
    assert not torch.allclose(net(x, ops), net(x, {**ops, **halved}))


def test_restricted_cell_ops_are_nasps_sets():
    space = DartsSpace(include_none=False, cell_ops="restricted")
    assert space.cell_op_names == {"normal": ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
                                              "dil_conv_5x5"),
                                   "reduce": ("max_pool_3x3", "avg_pool_3x3", "skip_connect")}
    assert space.group("normal").skip_option == 0 and space.group("reduce").skip_option == 2
    assert space.group("reduce").width == 3 and space.option_costs("reduce").shape == (14, 3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        genotype = space.genotype(space.uniform_selection_sample(gen))
        assert {op for op, _ in genotype.normal} <= set(space.cell_op_names["normal"])
        assert {op for op, _ in genotype.reduce} <= {"max_pool_3x3", "avg_pool_3x3", "skip_connect"}
        assert space.genotype(space.selection(genotype)) == genotype
    with pytest.raises(GenotypeError, match="outside this space's reduce ops"):
        space.selection(Genotype(DARTS_V2.normal, DARTS_V2.normal))  # sep convs in a reduction cell
    net = DartsSupernet(space, C=4, N=1)
    assert set(net.cells[0].edges[0].ops) == set(space.cell_op_names["normal"])
    assert set(net.cells[1].edges[0].ops) == set(space.cell_op_names["reduce"])
    with pytest.raises(ConfigError, match="cell_ops='some'"):
        DartsSpace(cell_ops="some")


def test_nasp_defaults_to_the_restricted_space_on_nb301():
    from harness.specs import resolve_config

    assert resolve_config("nasp", "nb301", "paper")["cell_ops"] == "restricted"
    assert resolve_config("nasp", "nb301", "paper", {"cell_ops": "all"})["cell_ops"] == "all"
    assert resolve_config("darts", "nb301", "paper")["cell_ops"] == "all"
    relaxed, space = _method("nasp")
    assert relaxed.relaxation.params["normal"].shape == (14, 5) and relaxed.relaxation.params["reduce"].shape == (14, 3)


def _flat_edges(edge_scores: torch.Tensor) -> torch.Tensor:
    """[4, 5] per-node input scores -> [14] per edge, in edge order."""
    return torch.cat([edge_scores[j, :n] for j, n in enumerate((2, 3, 4, 5))])


def _randomize(relaxation, gen: torch.Generator) -> None:
    """Random non-negative parameters (weights the rule may multiply), and GSparsity's scores, which it derives from."""
    with torch.no_grad():
        for name, p in relaxation.params.items():
            p.copy_(torch.rand(p.shape, generator=gen) * relaxation.mask(name))
        for name, buffer in relaxation.named_buffers():
            if name.startswith("score_"):
                buffer.copy_(torch.rand(buffer.shape, generator=gen))


def _rule_on(space: DartsSpace, scores: dict[str, torch.Tensor]) -> Genotype:
    edges = {cell: None if f"{cell}_inputs" not in scores else _flat_edges(scores[f"{cell}_inputs"])
             for cell in ("normal", "reduce")}
    return Genotype(*(_darts_rule(scores[cell], space.cell_op_names[cell], edges[cell])
                      for cell in ("normal", "reduce")))


#: every supernet method whose architecture is a ranking of its scores (RS-WS's is a random draw; SETN's below;
#: ENAS's is the best of its controller's samples: its relaxation holds no scores)
RANKED = [name for name, entry in registry().items()
          if entry.needs_supernet and name not in ("rs-ws", "setn", "enas")]


@pytest.mark.parametrize("method", RANKED)
def test_every_method_derives_by_darts_rule_from_its_own_scores(method):
    relaxed, space = _method(method)
    relaxation = relaxed.relaxation
    weighted = {f"{cell}_inputs" for cell in ("normal", "reduce")} & set(relaxation.params)
    assert weighted <= relaxation.edge_weight_names  # a cell's inputs have parameters only as learned edge weights
    gen = torch.Generator().manual_seed(3)
    for _ in range(30):
        _randomize(relaxation, gen)
        assert space.genotype(relaxed.derive()) == _rule_on(space, relaxation.derivation_scores())


def test_setn_candidates_are_distinct_cells_led_by_darts_rule():
    from methods.candidates import top_k_selections

    relaxed, space = _method("setn")
    assert set(relaxed.relaxation.params) == {"normal", "reduce"}
    assert space.genotype(relaxed.derive()) == _rule_on(space, relaxed.relaxation.probabilities())  # epoch 0
    gen = torch.Generator().manual_seed(4)
    for _ in range(10):
        _randomize(relaxed.relaxation, gen)
        probs = relaxed.relaxation.probabilities()
        candidates = [space.genotype(s) for s in top_k_selections(space, probs, 20)]
        assert candidates[0] == _rule_on(space, probs) and len(set(candidates)) == 20
        # ranked by the op log-probabilities of the kept (input, op) pairs; pair i of a cell feeds node 2 + i // 2
        scores = [sum(math.log(float(probs[cell][EDGES.index((src, 2 + i // 2)), space.cell_op_names[cell].index(op)]))
                      for cell in ("normal", "reduce") for i, (op, src) in enumerate(g.cell(cell)))
                  for g in candidates]
        assert scores == pytest.approx(sorted(scores, reverse=True), abs=1e-9)

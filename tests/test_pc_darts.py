"""PC-DARTS and GAEA PC-DARTS: partial channels and channel shuffle in the supernet, edge normalization in
the relaxations, the shared EG step on op and edge simplices, and a tiny search with architecture steps."""

import math

import pytest
import torch

import methods.eg
from benchmarks.nb201 import BENCHMARK
from benchmarks.nb201.space import OPS, NB201Space
from benchmarks.nb201.supernet import NB201Supernet, SearchCell
from benchmarks.supernet_ops import channel_shuffle
from harness.specs import resolve_config
from methods.base import EpochContext
from methods.eg import ExponentiatedGradient
from methods.registry import get
from methods.relaxations import Simplex, SoftmaxLogits
from nasbench_errors import ConfigError
from tests.smoke import run_tiny


def _make(method, **overrides):
    cfg = resolve_config(method, "nb201", "quick", {"C": 4, **overrides})
    space = BENCHMARK.make_space(cfg)
    torch.manual_seed(0)
    net = BENCHMARK.make_supernet(space, cfg, 10)
    return get(method).create(space, cfg, torch.Generator().manual_seed(0)), net


def _x(channels=8, seed=0):
    return torch.randn(2, channels, 6, 6, generator=torch.Generator().manual_seed(seed))


# -- partial channels (supernet) -------------------------------------------------------------------

def test_channel_shuffle_is_pc_darts_permutation():
    # 8 channels in 4 groups of 2: view (4, 2), transpose to (2, 4), flatten -> 0 2 4 6 1 3 5 7
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def _cell(k):
    torch.manual_seed(0)
    return SearchCell(8, OPS, partial_channels=k).eval()


def _edge_output(cell, e, x, w):
    """Edge ``e``'s mixed op alone under the op weights ``w`` (ops with weight 0 not computed)."""
    return cell.source_outputs(x, [e], {e: w}, {e: (w != 0).tolist()})[e]


def test_partial_channels_route_c_over_k_channels_through_the_ops_and_bypass_the_rest():
    cell = _cell(4)
    x = _x()
    w = torch.tensor([0.1, 0.2, 0.3, 0.25, 0.15]) * 0.5  # row total 0.5: an edge weight folded in
    out = _edge_output(cell, 0, x, w)
    ops = cell.edges[0]
    assert ops["nor_conv_1x1"][1].in_channels == ops["nor_conv_3x3"][1].in_channels == 2  # C/K channels
    part = x[:, :2]
    mixed = sum(w[o] * ops[name](part) for o, name in enumerate(OPS) if name != "none")
    expected = channel_shuffle(torch.cat([mixed, 0.5 * x[:, 2:]], dim=1), 4)
    assert torch.allclose(out, expected, atol=1e-6)
    # un-shuffling (shuffle with C/K groups inverts it here) recovers [mixed ops | scaled bypass]
    back = channel_shuffle(out, 2)
    assert torch.allclose(back[:, 2:], 0.5 * x[:, 2:]) and torch.allclose(back[:, :2], mixed, atol=1e-6)


def test_a_none_only_edge_still_passes_its_bypass_channels():
    cell = _cell(4)
    x = _x()
    w = torch.tensor([0.7, 0.0, 0.0, 0.0, 0.0])
    back = channel_shuffle(_edge_output(cell, 1, x, w), 2)
    assert torch.count_nonzero(back[:, :2]) == 0 and torch.allclose(back[:, 2:], 0.7 * x[:, 2:])


def test_k_1_is_the_plain_mixture():
    cell = _cell(1)
    x = _x()
    w = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(2)), dim=-1)
    nodes = [x]
    for target in (1, 2, 3):
        nodes.append(sum(w[e, o] * cell.edges[e][name](nodes[s])
                         for e, (s, t) in enumerate(((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))) if t == target
                         for o, name in enumerate(OPS) if name != "none"))
    assert torch.allclose(cell(x, w, (w != 0).tolist()), nodes[-1], atol=1e-6)


def test_partial_channel_supernet_runs_and_its_config_is_checked():
    torch.manual_seed(0)
    net = NB201Supernet(OPS, C=8, N=1, partial_channels=4)
    w = torch.full((6, 5), 0.2, requires_grad=True)
    net(torch.randn(2, 3, 16, 16), {"ops": w}).logsumexp(dim=1).mean().backward()
    assert net.layers[0].edges[0]["nor_conv_3x3"][1].in_channels == 2
    assert w.grad is not None and bool((w.grad != 0).all())  # bypass included: every weight matters
    cfg = resolve_config("pc-darts", "nb201", "quick", {"C": 6})
    with pytest.raises(ConfigError, match="partial_channels=4 must be a positive divisor of C=6"):
        BENCHMARK.make_supernet(BENCHMARK.make_space(cfg), cfg, 10)


# -- edge normalization (relaxations) -------------------------------------------------------------

def test_softmax_edge_normalization_per_node_and_folded_weights():
    relax = SoftmaxLogits(NB201Space(), torch.Generator().manual_seed(0), edge_normalization=True)
    assert relax.params["ops_edges"].shape == (3, 3)  # nodes 1..3 with 1, 2, 3 inputs
    with torch.no_grad():
        relax.params["ops"].zero_()
        relax.params["ops_edges"].copy_(torch.tensor([[5.0, 9.0, 9.0], [0.0, math.log(3), 9.0],
                                                      [0.0, math.log(2), math.log(3)]]))
    edges = relax.distributions()["ops_edges"]
    assert torch.allclose(edges, torch.tensor([[1, 0, 0], [0.25, 0.75, 0], [1 / 6, 2 / 6, 3 / 6]]), atol=1e-6)
    per_row = torch.tensor([1, 0.25, 0.75, 1 / 6, 2 / 6, 3 / 6])  # rows (0->1), (0->2), (1->2), (0->3), ...
    assert torch.allclose(relax.mixing_weights()["ops"], 0.2 * per_row[:, None].expand(6, 5), atol=1e-6)
    assert torch.allclose(relax.probabilities()["ops"], torch.full((6, 5), 0.2))  # entropy reads ops alone
    assert set(relax.mixing_weights()) == {"ops"}  # the supernet gets its groups only


def test_simplex_edges_start_uniform_per_node_and_derivation_ignores_them():
    relax = Simplex(NB201Space(), edge_normalization=True)
    uniform = torch.tensor([[1, 0, 0], [1 / 2, 1 / 2, 0], [1 / 3, 1 / 3, 1 / 3]])
    assert torch.allclose(relax.params["ops_edges"].detach(), uniform)
    with torch.no_grad():
        relax.params["ops"].copy_(torch.eye(5)[[1, 2, 3, 4, 1, 2]] * 0.6 + 0.08)
        relax.params["ops_edges"].copy_(torch.tensor([[1.0, 0, 0], [0.99, 0.01, 0], [0.01, 0.01, 0.98]]))
    assert relax.derive() == {"ops": ((1,), (2,), (3,), (4,), (1,), (2,))}
    assert relax.mixing_weights()["ops"][2, 3].item() == pytest.approx(0.01 * 0.68)


@pytest.mark.parametrize("method", ["pc-darts", "gaea-pc-darts"])
def test_edge_entropy_fields_at_init(method):
    m, _ = _make(method)
    fields = m.epoch_fields()
    # nodes 2 and 3 (1 input has no choice): (ln 2 + ln 3) / 2 at uniform edge weights
    assert fields["H_edges"] == pytest.approx((math.log(2) + math.log(3)) / 2, abs=1e-5)
    assert fields["H_edges_norm"] == pytest.approx(1.0, abs=1e-5)


# -- architecture steps -----------------------------------------------------------------------------

def test_gaea_pc_darts_eg_steps_ops_and_edges_through_the_shared_eg(monkeypatch):
    m, _ = _make("gaea-pc-darts", edge_lr=0.2)
    assert isinstance(m.arch_optimizer, ExponentiatedGradient)
    calls = []
    real = methods.eg.eg_update
    monkeypatch.setattr(methods.eg, "eg_update", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    ops, edges = m.relaxation.params["ops"], m.relaxation.params["ops_edges"]
    ops.grad = torch.zeros(6, 5)
    ops.grad[0] = torch.tensor([1.0, 0.0, 0.0, 0.0, -1.0])
    edges.grad = torch.tensor([[3.0, 0.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    m.arch_optimizer.step()
    assert sorted(calls) == [0.1, 0.2]  # op step 0.1, edge step 0.2, both through methods.eg
    # node 2: [1/2, 1/2] * exp(-0.2 [1, -1]) renormalized; node 1 and node 3 (zero gradient) unchanged
    e1, e2 = math.exp(-0.2), math.exp(0.2)
    expected_edges = torch.tensor([[1, 0, 0], [e1 / (e1 + e2), e2 / (e1 + e2), 0], [1 / 3, 1 / 3, 1 / 3]])
    assert torch.allclose(edges.detach(), expected_edges, atol=1e-6)
    # op row 0: [1/5] * 5 * exp(-0.1 [1, 0, 0, 0, -1]) renormalized; the other rows stay uniform
    a, b = math.exp(-0.1), math.exp(0.1)
    assert torch.allclose(ops.detach()[0], torch.tensor([a, 1, 1, 1, b]) / (a + b + 3), atol=1e-6)
    assert torch.allclose(ops.detach()[1:], torch.full((5, 5), 0.2))


def test_pc_darts_arch_step_moves_alpha_and_beta_with_adam():
    m, net = _make("pc-darts")
    assert isinstance(m.arch_optimizer, torch.optim.Adam) and m.arch_optimizer.param_groups[0]["lr"] == 6e-4
    beta = m.relaxation.params["ops_edges"]
    before = beta.detach().clone()
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 10, (4,), generator=g))
    ctx = EpochContext(net, torch.optim.SGD(net.parameters(), lr=0.01), [], [], 16, 50, 5.0)
    m.arch_step(ctx, batch, batch)
    # nodes 2 and 3 have a choice; node 1's single input (softmax of one logit) and the padding get no gradient
    has_grad = beta.grad != 0
    assert has_grad[1, :2].all() and has_grad[2].all() and not has_grad[0].any() and not has_grad[1, 2]
    assert (beta.detach() != before).any() and m.arch_steps_total == 1


@pytest.mark.parametrize("method", ["pc-darts", "gaea-pc-darts"])
def test_tiny_search_with_architecture_steps(method, tmp_path):
    outcome, epochs = run_tiny(method, tmp_path, warmup_epochs=0)
    assert outcome.status == "finished", outcome.error
    last = epochs.iloc[-1]
    assert last["arch_steps"] > 0 and 0 < last["extra"]["H_edges"] <= (math.log(2) + math.log(3)) / 2 + 1e-6
    assert len(last["arch_params"]["raw"]["ops_edges"]) == 3  # the edge weights are stored with the op weights


def test_warmup_epochs_hold_the_architecture(tmp_path):
    outcome, epochs = run_tiny("pc-darts", tmp_path, warmup_epochs=2, epochs=3)
    assert outcome.status == "finished", outcome.error
    assert epochs["arch_steps"].tolist()[:3] == [0, 0, 0] and epochs["arch_steps"].iloc[-1] > 0
    assert epochs.iloc[0]["arch_params"]["raw"] == epochs.iloc[2]["arch_params"]["raw"]
    assert epochs.iloc[2]["arch_params"]["raw"] != epochs.iloc[3]["arch_params"]["raw"]
    with pytest.raises(ConfigError, match="warmup_epochs=15 covers the whole search"):  # a search that never searches
        run_tiny("pc-darts", tmp_path / "all-warm-up", warmup_epochs=15)
    # the profile's own shortening keeps the warm-up's fraction: 15 of 50 epochs -> 1 of 2, then search
    outcome, scaled = run_tiny("pc-darts", tmp_path / "scaled")
    assert outcome.status == "finished", outcome.error
    assert scaled["arch_steps"].tolist()[:2] == [0, 0] and scaled["arch_steps"].iloc[-1] > 0


def test_gaea_pc_darts_steps_darts_cell_edge_weights_with_the_edge_rate_and_no_floor():
    from benchmarks.darts.space import DartsSpace

    cfg = resolve_config("gaea-pc-darts", "nb301", "quick", {"edge_lr": 0.3, "eg_floor": 1e-5})
    method = get("gaea-pc-darts").create(DartsSpace(), cfg, torch.Generator().manual_seed(0))
    groups = method.arch_optimizer.param_groups
    params = method.relaxation.params
    assert [p is params["normal_inputs"] or p is params["reduce_inputs"] for p in groups[1]["params"]] == [True] * 2
    assert groups[1]["lr"] == 0.3 and groups[1]["floor"] == 0.0
    assert groups[0]["lr"] == 0.1 and groups[0]["floor"] == 1e-5 and len(groups[0]["params"]) == 2

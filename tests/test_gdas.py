"""GDAS and GAEA GDAS: the straight-through Gumbel sampler, the tau schedule, single-path forwards, the
supernet's zero-weight scalar gradient, the shared EG step, step order and resumable sampling."""

import math

import pytest
import torch
import torch.nn.functional as F

import benchmarks.registry
import methods.eg
import methods.gumbel
from benchmarks.nb201 import BENCHMARK
from benchmarks.nb201.supernet import SearchCell
from harness.specs import resolve_config
from methods.base import EpochContext
from methods.eg import ExponentiatedGradient, eg_update, kl_to_uniform
from methods.gumbel import sample_straight_through, straight_through
from methods.loop import alternating_epoch
from methods.registry import get
from methods.samplers import temperature
from nasbench_errors import ConfigError, RunFailed
from tests.op_spy import record_computed_ops
from tests.smoke import run_tiny


def _make(method, seed=0, **overrides):
    cfg = resolve_config(method, "nb201", "quick", {"C": 4, **overrides})
    space = BENCHMARK.make_space(cfg)
    torch.manual_seed(seed)
    net = BENCHMARK.make_supernet(space, cfg, 10)
    return get(method).create(space, cfg, torch.Generator().manual_seed(seed)), net


def _batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g)


def _ctx(net, batches=(), epoch=1):
    batches = list(batches)
    return EpochContext(net, torch.optim.SGD(net.parameters(), lr=0.01), batches, batches, epoch, 2, 5.0)


# -- the estimator -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("tau", "expected"), [(1.0, [-0.25, 0.0, 0.25]), (0.5, [-1 / 3, 0.0, 1 / 3])])
def test_straight_through_value_is_one_hot_and_gradient_is_the_softmax_jacobian(tau, expected):
    # logits [0, ln 2, 0], no noise: p = softmax(logits / tau) = [.25, .5, .25] (tau 1), [1, 4, 1] / 6 (tau 0.5).
    # L = c . h with c = [1, 2, 3]; dL/dlogit_i = (1/tau) p_i (c_i - p . c), and p . c = 2 in both cases.
    logits = torch.tensor([[0.0, math.log(2.0), 0.0]], dtype=torch.float64, requires_grad=True)
    h = straight_through(logits, torch.zeros(1, 3, dtype=torch.float64), tau)
    assert h[0, 0].item() == 0.0 and h[0, 2].item() == 0.0  # exactly 0: the supernet skips those ops
    assert h[0, 1].item() == pytest.approx(1.0, abs=1e-15)
    (h * torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)).sum().backward()
    assert logits.grad[0].tolist() == pytest.approx(expected, abs=1e-12)


def test_sampling_frequencies_match_softmax_of_the_logits():
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5, 2.0], [0.3, 0.3, -0.2, float("-inf"), 0.0]])
    n = 20000
    gen = torch.Generator().manual_seed(0)
    for tau in (10.0, 0.1):  # the argmax of (logits + g) / tau does not depend on tau
        h = sample_straight_through(logits.expand(n, 2, 5), tau, gen)
        freq = h.detach().mean(dim=0)
        # 4 standard errors of a frequency estimate at N = 20,000 are below 0.0142
        assert torch.allclose(freq, torch.softmax(logits, dim=-1), atol=0.0142)
        assert freq[1, 3] == 0  # a masked (padded) option is never drawn


def test_inf_noise_is_redrawn_and_nan_logits_fail_the_run(monkeypatch):
    draws = [torch.tensor([[float("inf"), 0.0]]), torch.tensor([[0.0, 5.0]])]
    monkeypatch.setattr(methods.gumbel, "gumbel_noise", lambda shape, gen: draws.pop(0))
    h = sample_straight_through(torch.zeros(1, 2), 1.0, torch.Generator())
    assert h.tolist() == [[0.0, 1.0]] and not draws
    monkeypatch.undo()
    with pytest.raises(RunFailed, match="not finite"):
        sample_straight_through(torch.full((1, 2), float("nan")), 1.0, torch.Generator().manual_seed(0))


def test_tau_schedule_endpoints_and_warmup():
    assert temperature(1, 250, 10.0, 0.1) == 10.0
    assert temperature(250, 250, 10.0, 0.1) == 0.1
    assert temperature(125, 249, 10.0, 0.1) == pytest.approx(10.0 - 9.9 * 124 / 248)
    # with the released GAEA GDAS warm-up (50 of 150 epochs) tau stays 10 through epoch 51 and ends at 3.42
    assert temperature(51, 150, 10.0, 0.1, warmup=50) == 10.0
    assert temperature(150, 150, 10.0, 0.1, warmup=50) == pytest.approx(10.0 - 9.9 * 99 / 149)
    assert temperature(1, 1, 10.0, 0.1) == 10.0  # a one-epoch run does not divide by zero


# -- single path through the supernet -------------------------------------------------------------

@pytest.mark.parametrize("method", ["gdas", "gaea-gdas"])
def test_single_path_forwards_compute_and_train_only_the_sampled_op(method):
    m, net = _make(method)
    op_names = net.op_names
    forwards = record_computed_ops(net)
    x, y = _batch()
    w = m.training_weights()["ops"]
    net(x, {"ops": w})
    sampled = {(e, op_names[int(w[e].argmax())]) for e in range(6)}
    assert all(((w != 0).sum(dim=1) == 1).tolist())
    assert forwards == [{(e, o) for e, o in sampled if o != "none"}]
    # the architecture step (scalar mode) computes one op per edge in the forward and the backward
    net.zero_grad(set_to_none=True)
    loss = m.arch_loss(net, (x, y))
    loss.backward()
    hard = forwards[-1]
    assert len(forwards) == 2 and len(hard) <= 6
    with_params = 0
    for cell in (mod for mod in net.layers if isinstance(mod, SearchCell)):
        for e, ops in enumerate(cell.edges):
            for name, module in ops.items():
                params = list(module.parameters())
                has_grad = any(p.grad is not None for p in params)
                assert has_grad == ((e, name) in hard and bool(params))  # gradient exactly where drawn
                with_params += has_grad
    assert with_params > 0 or not any("conv" in k[1] for k in hard)


def test_zero_weight_scalars_give_every_unsampled_weight_the_node_gradient():
    _, net = _make("gdas")
    net.train()
    x, y = _batch()
    w0 = torch.zeros(6, 5)
    w0[torch.arange(6), torch.tensor([3, 1, 2, 3, 4, 2])] = 1.0

    def grads(zero_ops):
        w = w0.clone().requires_grad_(True)
        out = net(x, {"ops": w}, zero_ops=zero_ops)
        F.cross_entropy(out, y).backward()
        return out.detach(), w.grad

    out_skip, g_skip = grads("skip")
    out_scalar, g_scalar = grads("scalar")
    sampled = w0 != 0
    assert torch.equal(out_skip, out_scalar)  # the scalars add exact zeros
    assert torch.allclose(g_skip[sampled], g_scalar[sampled], rtol=1e-6, atol=0)
    assert torch.count_nonzero(g_skip[~sampled]) == 0
    # scalar mode: an unsampled weight's gradient is dL/d(bias on its target node), summed over the cells;
    # recompute that with explicit zero biases c_t on nodes 1..3 of every cell
    c = [torch.zeros((), requires_grad=True) for _ in range(3)]
    active = (w0 != 0).tolist()
    h = net.stem(x)
    for layer in net.layers:
        h = layer(h, w0, active, c) if isinstance(layer, SearchCell) else layer(h)
    F.cross_entropy(net.classifier(net.head(h).mean(dim=(2, 3))), y).backward()
    node_of_edge = [0, 1, 1, 2, 2, 2]
    for e in range(6):
        for o in range(5):
            if not sampled[e, o]:
                assert g_scalar[e, o].item() == pytest.approx(c[node_of_edge[e]].grad.item(), rel=1e-5)
    assert all(ci.grad.abs().item() > 0 for ci in c)


def test_unsampled_grad_zero_option_skips_the_scalars():
    m, net = _make("gdas", unsampled_grad="zero")
    assert m.zero_ops == "skip"
    with pytest.raises(ConfigError, match="unsampled_grad"):
        _make("gdas", unsampled_grad="straight")


# -- the GAEA variant -----------------------------------------------------------------------------

def test_gaea_gdas_logits_are_log_theta_and_its_step_is_the_shared_eg(monkeypatch):
    m, net = _make("gaea-gdas")
    theta = m.relaxation.params["ops"]
    with torch.no_grad():
        theta.copy_(torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(1)), dim=-1))
    assert torch.allclose(m.relaxation.logits()["ops"], theta.detach().log())
    assert isinstance(m.arch_optimizer, ExponentiatedGradient)
    calls = []
    real = methods.eg.eg_update
    monkeypatch.setattr(methods.eg, "eg_update", lambda *a, **k: calls.append(a) or real(*a, **k))
    before = theta.detach().clone()
    m.arch_step(_ctx(net), _batch(), _batch(seed=1))
    assert len(calls) == 1
    grad = theta.grad
    assert torch.count_nonzero(grad) > 0
    assert torch.allclose(theta.detach(), eg_update(before, grad, 0.1), atol=1e-7)
    assert m.arch_steps_total == 1


def test_kl_to_uniform_hand_computed():
    # [0.2, 0.8] over 2 options: 0.2 ln 0.4 + 0.8 ln 1.6 = 0.192745; [1, 0]: ln 2; uniform rows: 0
    theta = torch.tensor([[0.2, 0.8, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, False], [True, True, False]])
    expected = 0.2 * math.log(0.4) + 0.8 * math.log(1.6) + math.log(2.0)
    assert kl_to_uniform(theta, mask).item() == pytest.approx(expected, abs=1e-6)


def test_gaea_gdas_arch_weight_decay_adds_the_kl_regularizer():
    losses = []
    for decay in (0.0, 0.01):
        m, net = _make("gaea-gdas", arch_weight_decay=decay)
        with torch.no_grad():
            m.relaxation.params["ops"].copy_(torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1]).expand(6, 5))
        net.eval()
        losses.append(m.arch_loss(net, _batch()).item())  # same seed: same Gumbel draw, same loss
    kl = 6 * sum(p * math.log(5 * p) for p in (0.4, 0.3, 0.1, 0.1, 0.1))
    assert losses[1] - losses[0] == pytest.approx(0.01 * kl, rel=1e-4)


# -- loop order, reproducibility, logging ----------------------------------------------------------

@pytest.mark.parametrize(("method", "order"), [("gdas", ["w", "a", "w", "a"]), ("gaea-gdas", ["a", "w", "a", "w"])])
def test_step_order(method, order, monkeypatch):
    m, net = _make(method)
    seen = []
    arch_step, training_weights = m.arch_step, m.training_weights
    monkeypatch.setattr(m, "arch_step", lambda *a: seen.append("a") or arch_step(*a))
    monkeypatch.setattr(m, "training_weights", lambda: seen.append("w") or training_weights())
    alternating_epoch(m, _ctx(net, [_batch(), _batch(seed=1)]))
    assert seen == order
    with pytest.raises(ConfigError, match="step_order"):
        _make(method, step_order="sideways")


def test_samples_come_from_the_method_generator_and_resume_from_its_checkpoint():
    m, _ = _make("gdas", seed=3)
    m.draw_arch_weights()
    state = m.state_dict()
    torch.manual_seed(123)  # the global RNG plays no part
    after = [m.draw_arch_weights()["ops"] for _ in range(3)]
    resumed, _ = _make("gdas", seed=99)
    resumed.load_state_dict(state)
    torch.manual_seed(7)
    again = [resumed.draw_arch_weights()["ops"] for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(after, again, strict=True))


def test_gdas_tiny_run_logs_tau_and_its_entropy(tmp_path):
    outcome, epochs = run_tiny("gdas", tmp_path)
    assert outcome.status == "finished", outcome.error
    extra = epochs.set_index("epoch")["extra"]
    assert [extra[e]["tau"] for e in (0, 1, 2)] == [10.0, 10.0, 0.1]  # TINY runs 2 epochs: tau 10, then 0.1
    assert extra[2]["arch_steps_total"] == 2 * epochs.iloc[-1]["arch_steps"] > 0
    # at tau = 0.1 softmax(alpha / tau) is sharper than softmax(alpha): lower entropy
    assert extra[2]["H_ops_tau"] < epochs.iloc[-1]["entropy_ops"] <= math.log(5)


# -- operation rows hard, edge rows soft (issue 14 item 3) --------------------------------------------

def _on(benchmark, method, **overrides):
    cfg = resolve_config(method, benchmark, "quick", overrides)
    space = benchmarks.registry.get(benchmark).make_space(cfg)
    return get(method).create(space, cfg, torch.Generator().manual_seed(0)), space


@pytest.mark.parametrize("method", ["gdas", "gaea-gdas"])
def test_op_rows_draw_one_op_and_edge_rows_get_soft_gumbel_weights(method, monkeypatch):
    # as the NAS-Bench-1Shot1 GDAS reference: hard one-hot sampling for the operation rows only, the soft
    # Gumbel-softmax for the input/output rows, so no node is left with a single sampled parent
    m, space = _on("nb1shot1", method)
    monkeypatch.setattr(methods.gumbel, "gumbel_noise", lambda shape, gen: torch.zeros(shape))
    assert m.tau == 10.0
    logits = m.relaxation.logits()
    for weights in (m.draw_arch_weights(), m.training_weights()):
        edge_groups = [g for g in space.groups if g.role == "edges"]
        assert edge_groups
        for g in space.groups:
            w = weights[g.name]
            if g.role == "ops":
                assert ((w != 0).sum(dim=1) == 1).all()
                assert torch.equal(w.detach().max(dim=1).values, torch.ones(g.rows))
                continue
            assert torch.equal(w[~g.mask], torch.zeros(int((~g.mask).sum())))
            assert (w[g.mask] > 0).all()
            # no noise: softmax(logits / tau); GAEA GDAS starts uniform, so every input weighs 1 / #inputs
            assert torch.allclose(w, torch.softmax(logits[g.name] / 10.0, dim=-1), atol=1e-7)
            if method == "gaea-gdas":
                assert torch.allclose(w, g.mask / g.mask.sum(dim=1, keepdim=True), atol=1e-7)
    weights = m.draw_arch_weights()
    sum(weights[g.name].sum(dim=1).pow(2).sum() + weights[g.name][:, 0].sum() for g in edge_groups).backward()
    for g in edge_groups:  # the soft path gives every real input option a gradient
        assert (m.relaxation.params[g.name].grad[g.mask] != 0).all()


@pytest.mark.parametrize("method", ["gdas", "gaea-gdas"])
def test_on_the_darts_space_gdas_draws_ops_only_and_the_inputs_are_summed(method):
    """DARTS's cell sums a node's inputs unweighted for every method without edge normalization (DARTS's rule),
    so GDAS has no input rows to sample there: its draws cover the op rows, one op each."""
    m, space = _on("nb301", method)
    inputs = {g.name for g in space.groups if g.role == "edges"}
    for weights in (m.draw_arch_weights(), m.training_weights()):
        assert inputs and not inputs & set(weights)
        for g in space.groups:
            if g.role == "ops":
                assert ((weights[g.name] != 0).sum(dim=1) == 1).all()


def test_edge_sampler_gumbel_hard_samples_one_parent_per_node():
    m, space = _on("nb1shot1", "gdas", edge_sampler="gumbel-hard")
    w = m.training_weights()["edges"]
    assert ((w != 0).sum(dim=1) == 1).all()
    with pytest.raises(ConfigError, match=r"edge_sampler=gumbel is not valid \(valid: one of dense, gumbel-hard, "):
        _on("nb1shot1", "gdas", edge_sampler="gumbel")

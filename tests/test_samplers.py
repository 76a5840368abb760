"""The sampler component (methods.samplers) and the stochastic methods built on it: hand-computed estimator
values and gradients (Gumbel-softmax, ReinMax, Dirichlet), per-role composition, SNAS's joint step and
resource term, DrNAS's anchor, ReinMax's temperature floor."""

import math

import pytest
import torch
import torch.nn.functional as F

import benchmarks.registry
import methods.gumbel
from benchmarks.space import Decision, DecisionGroup, SearchSpace
from harness.specs import resolve_config
from methods.dirichlet import DirichletConcentration, dirichlet_rsample, kl_to_flat_dirichlet
from methods.gumbel import reinmax, sample_with, soft
from methods.registry import get
from methods.relaxations import SoftmaxLogits
from methods.samplers import SAMPLERS, RoleSampler
from nasbench_errors import ConfigError
from tests.tiny_supernet import batch, context, tiny_setup

C = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)  # L = C . h in the gradient checks


def _logits():
    return torch.tensor([[0.0, math.log(2.0), 0.0]], dtype=torch.float64, requires_grad=True)


# -- estimators ------------------------------------------------------------------------------------

def test_gumbel_soft_value_and_gradient_hand_computed():
    # (logits + g) = [0, ln 2, ln 2]: p = [1, 2, 2] / 5; dL/dlogit_i = p_i (c_i - p . c) / tau, p . c = 2.2
    logits = _logits()
    p = soft(logits, torch.tensor([[0.0, 0.0, math.log(2.0)]], dtype=torch.float64), 1.0)
    assert p.detach()[0].tolist() == pytest.approx([0.2, 0.4, 0.4], abs=1e-15)
    (p * C).sum().backward()
    assert logits.grad[0].tolist() == pytest.approx([0.2 * -1.2, 0.4 * -0.2, 0.4 * 0.8], abs=1e-12)


def test_reinmax_value_is_the_sample_and_gradient_is_the_second_order_estimate():
    # p = softmax([0, ln 2, 0]) = [.25, .5, .25]; noise [0, 0, 1] draws option 2: D = [0, 0, 1].
    # tau = 1: pi_1 = (p + D) / 2 = [.125, .25, .625]; J(q) c = q (c - q . c) with pi_1 . c = 2.5, p . c = 2:
    # 2 J(pi_1) c = [-.375, -.25, .625], -J(p) c / 2 = [.125, 0, -.125]; sum [-.25, -.25, .5]
    logits = _logits()
    d = reinmax(logits, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), 1.0)
    assert d.detach()[0].tolist() == [0.0, 0.0, 1.0]
    (d * C).sum().backward()
    assert logits.grad[0].tolist() == pytest.approx([-0.25, -0.25, 0.5], abs=1e-12)
    # tau = 2: softmax(logits / 2) = [1, sqrt 2, 1] / (2 + sqrt 2), the rest as above
    logits = _logits()
    (reinmax(logits, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), 2.0) * C).sum().backward()
    s = 2 + math.sqrt(2)
    pi = [0.5 / s, 0.5 * math.sqrt(2) / s, 0.5 / s + 0.5]
    dot = sum(q * c for q, c in zip(pi, (1, 2, 3), strict=True))
    expected = [2 * q * (c - dot) + e for q, c, e in zip(pi, (1, 2, 3), (0.125, 0.0, -0.125), strict=True)]
    assert logits.grad[0].tolist() == pytest.approx(expected, abs=1e-12)


def test_reinmax_samples_follow_softmax_of_the_logits():
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5, 2.0], [0.3, 0.3, -0.2, float("-inf"), 0.0]])
    n, gen = 20000, torch.Generator().manual_seed(0)
    freq = sample_with(reinmax, logits.expand(n, 2, 5), 1.0, gen).detach().mean(dim=0)
    assert torch.allclose(freq, torch.softmax(logits, dim=-1), atol=0.0142)  # 4 standard errors at N = 20,000
    assert freq[1, 3] == 0


def test_dirichlet_draws_are_on_the_simplex_with_the_dirichlet_mean_and_its_pathwise_gradient():
    # beta = [1, 2, 3] (and padding): E[w] = beta / 6; d E[w_0] / d beta = [5, -1, -1] / 36
    beta = torch.tensor([1.0, 2.0, 3.0, 7.0], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([True, True, True, False])
    n = 40000
    w = dirichlet_rsample(beta.expand(n, 4), mask.expand(n, 4), torch.Generator().manual_seed(0))
    assert torch.equal(w[:, 3], torch.zeros(n, dtype=torch.float64))
    assert torch.allclose(w.sum(dim=1), torch.ones(n, dtype=torch.float64))
    assert w.detach().mean(dim=0)[:3].tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6], abs=0.005)
    w[:, 0].mean().backward()
    assert beta.grad[:3].tolist() == pytest.approx([5 / 36, -1 / 36, -1 / 36], abs=0.004)
    assert beta.grad[3] == 0


def test_kl_to_the_flat_dirichlet_matches_torch_and_is_zero_at_the_anchor():
    beta = torch.tensor([[2.0, 3.0, 9.0], [1.0, 1.0, 9.0], [0.5, 4.0, 1.5]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, True, False], [True, True, True]])
    dist = torch.distributions
    expected = (dist.kl_divergence(dist.Dirichlet(beta[0, :2]), dist.Dirichlet(torch.ones(2, dtype=torch.float64)))
                + dist.kl_divergence(dist.Dirichlet(beta[2]), dist.Dirichlet(torch.ones(3, dtype=torch.float64))))
    assert kl_to_flat_dirichlet(beta, mask).item() == pytest.approx(expected.item(), abs=1e-12)
    # row 0 by hand: KL(Dir(2, 3) || Dir(1, 1)) = ln(B(1, 1) / B(2, 3)) + (psi(2) - psi(5)) + 2 (psi(3) - psi(5))
    psi = [0.0, -0.5772156649015329, 0.4227843350984671, 0.9227843350984671, 1.2561176684318005, 1.5061176684318005]
    hand = math.log(12.0) + (psi[2] - psi[5]) + 2 * (psi[3] - psi[5])
    assert kl_to_flat_dirichlet(beta[:1], mask[:1]).item() == pytest.approx(hand, abs=1e-12)


def test_concentration_is_elu_plus_one_and_the_probabilities_are_the_dirichlet_mean():
    space = _tiny_space()
    r = DirichletConcentration(space, torch.Generator().manual_seed(0))
    with torch.no_grad():
        r.params["ops"].copy_(torch.tensor([[0.0, -1.0, 2.0], [0.0, 0.0, 0.0]]))
    beta = r.concentrations()["ops"]
    assert beta[0].tolist() == pytest.approx([1.0, math.exp(-1.0), 3.0])
    total = 4 + math.exp(-1)
    assert r.probabilities()["ops"][0].tolist() == pytest.approx([1 / total, math.exp(-1) / total, 3 / total])
    assert r.derive()["ops"] == ((2,), (0,))  # ties go to the lower index


# -- composition -----------------------------------------------------------------------------------

def _tiny_space():
    class Space(SearchSpace):
        groups = (DecisionGroup("ops", (Decision("a", ("x", "y", "z")), Decision("b", ("x", "y", "z")))),
                  DecisionGroup("edges", (Decision("in", ("p", "q")), Decision("out", ("p", "q", "r"), 2)),
                                role="edges"))
    return Space()


def test_role_sampler_draws_per_role_in_the_space_order_from_the_generator(monkeypatch):
    space = _tiny_space()
    relaxation = SoftmaxLogits(space, torch.Generator().manual_seed(0))
    shapes = []
    real = methods.gumbel.gumbel_noise
    monkeypatch.setattr(methods.gumbel, "gumbel_noise",
                        lambda shape, gen: shapes.append(tuple(shape)) or real(shape, gen))
    w = RoleSampler.named("gumbel-hard", "gumbel-soft").draw(relaxation, torch.Generator().manual_seed(1), 1.0)
    assert shapes == [(2, 3), (2, 3)]  # ops first, then edges: the space's order
    assert ((w["ops"] != 0).sum(dim=1) == 1).all()
    assert (w["edges"][space.group("edges").mask] > 0).all() and w["edges"][0, 2] == 0
    again = RoleSampler.named("gumbel-hard", "gumbel-soft").draw(relaxation, torch.Generator().manual_seed(1), 1.0)
    assert all(torch.equal(w[k], again[k]) for k in w)
    dense = RoleSampler.named("dense").draw(relaxation, torch.Generator())
    assert all(torch.equal(dense[k], v) for k, v in relaxation.mixing_weights().items())
    paths = RoleSampler.named("uniform-path").draw(relaxation, torch.Generator().manual_seed(2))
    assert paths["edges"][1].sum() == 2 and set(paths["edges"].unique().tolist()) == {0.0, 1.0}
    assert not RoleSampler.named("dense").stochastic and RoleSampler.named("dense", "dirichlet").stochastic
    with pytest.raises(ConfigError, match="sampler='gumbel' is not a sampler; use one of dense, gumbel-hard"):
        RoleSampler.named("gumbel")
    assert set(SAMPLERS) == {"dense", "gumbel-hard", "gumbel-soft", "reinmax", "dirichlet", "uniform-path"}


def _make(method, benchmark="nb201", seed=0, **overrides):
    cfg = resolve_config(method, benchmark, "quick", overrides)
    space = benchmarks.registry.get(benchmark).make_space(cfg)
    return get(method).create(space, cfg, torch.Generator().manual_seed(seed)), space


def test_reinmax_method_is_gdas_with_the_reinmax_sampler_and_refuses_tau_below_one():
    m, _ = _make("reinmax")
    assert m.arch_sampler.by_role["ops"].name == "reinmax" and m.arch_sampler.by_role["edges"].name == "gumbel-soft"
    assert m.tau == 10.0 and m.temperature(3) == 1.0 and m.zero_ops == "scalar"
    with pytest.raises(ConfigError, match="tau_min=0.5 is below 1.0, the lowest temperature the reinmax sampler"):
        _make("reinmax", tau_min=0.5)
    assert m.training_weights()["ops"].sum(dim=1).tolist() == [1.0] * 6


# -- SNAS --------------------------------------------------------------------------------------------

def test_snas_joint_step_is_one_backward_into_weights_and_alpha(monkeypatch):
    space, net, opt = tiny_setup()
    entry = get("snas")
    m = entry.create(space, {**entry.defaults, "epochs": 2}, torch.Generator().manual_seed(0))
    monkeypatch.setattr(methods.gumbel, "gumbel_noise", lambda shape, gen: torch.zeros(shape))
    alpha = m.relaxation.params["ops"]
    with torch.no_grad():
        alpha.copy_(torch.tensor([[0.0, math.log(2.0), 0.0], [0.5, 0.0, -0.5]]))
    net = net.float()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = batch(8, 0, dtype=torch.float32)
    # expected: Z = softmax(alpha / tau) with tau = 1 (epoch 1), L = CE(net(x, Z)), grads of L w.r.t. both
    reference = {k: v.detach().clone() for k, v in net.state_dict().items()}
    a0 = alpha.detach().clone().requires_grad_(True)
    net_ref = type(net)().float()
    net_ref.load_state_dict(reference)
    loss = F.cross_entropy(net_ref(x, {"ops": torch.softmax(a0, dim=-1)}), y)
    grads = torch.autograd.grad(loss, [a0, *net_ref.parameters()])
    adam = torch.optim.Adam([a0], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    a0.grad = grads[0]
    adam.step()
    stats = m.train_epoch(context(net, opt, [(x, y)], []))
    assert stats.weight_steps == 1 and stats.arch_steps == 1 and m.arch_steps_total == 1
    assert stats.train_loss == pytest.approx(loss.item(), rel=1e-6)
    assert torch.allclose(alpha.detach(), a0.detach(), atol=1e-7)
    for p, p0, g in zip(net.parameters(), net_ref.parameters(), grads[1:], strict=True):
        assert torch.allclose(p.detach(), p0.detach() - 0.05 * g, atol=1e-6)  # norms stay below the clip of 5


def test_snas_resource_term_is_the_expected_parameter_count():
    m, space = _make("snas", snas_resource=0.01)
    with torch.no_grad():
        m.relaxation.params["ops"].zero_()
    # NB201 at C = 16: conv1x1 16^2 + 32 = 288, conv3x3 9 * 16^2 + 32 = 2336; uniform over 5 ops, 6 rows
    assert m.resource_penalty().item() == pytest.approx(0.01 * 6 * (288 + 2336) / 5)
    assert _make("snas")[0].resource_penalty().item() == 0.0
    with pytest.raises(ConfigError, match="snas_update"):
        _make("snas", snas_update="sometimes")


# -- DrNAS -------------------------------------------------------------------------------------------

def test_drnas_anchor_l2_is_adam_weight_decay_and_kl_adds_the_divergence():
    m, space = _make("drnas")
    assert m.arch_optimizer.param_groups[0]["weight_decay"] == 1e-3 and m.anchor_penalty().item() == 0.0
    k, _ = _make("drnas", drnas_anchor="kl", drnas_anchor_scale=0.5)
    assert k.arch_optimizer.param_groups[0]["weight_decay"] == 0.0
    with torch.no_grad():
        k.relaxation.params["ops"].fill_(1.0)  # beta = 2 everywhere: 6 rows of KL(Dir(2,2,2,2,2) || Dir(1,...,1))
    one_row = math.lgamma(10) - 5 * math.lgamma(2) - math.lgamma(5) + 5 * (
        (1.0 - 0.5772156649015329) - (sum(1 / j for j in range(1, 10)) - 0.5772156649015329))
    assert k.anchor_penalty().item() == pytest.approx(0.5 * 6 * one_row, rel=1e-5)
    with pytest.raises(ConfigError, match="drnas_anchor"):
        _make("drnas", drnas_anchor="l1")


def test_drnas_steps_draw_fresh_dirichlet_weights_from_the_run_generator():
    m, space = _make("drnas", seed=3)
    a, b = m.training_weights()["ops"], m.training_weights()["ops"]
    assert not torch.equal(a, b) and (a > 0).all() and torch.allclose(a.sum(dim=1), torch.ones(6))
    state = m.state_dict()
    after = m.draw_arch_weights()["ops"]
    resumed, _ = _make("drnas", seed=99)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.draw_arch_weights()["ops"], after.detach())
    # the supernet's evaluation mixture is the Dirichlet mean, not a draw
    assert torch.equal(m.eval_weights()["ops"], m.relaxation.probabilities()["ops"])
    loss = (m.draw_arch_weights()["ops"] * torch.arange(5.0)).sum()  # alpha reaches it only through the draw
    loss.backward()
    assert torch.isfinite(m.relaxation.params["ops"].grad).all() and m.relaxation.params["ops"].grad.abs().sum() > 0

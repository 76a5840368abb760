"""PR-DARTS: hard-concrete gates by Monte Carlo, the regularizers by hand, the contract fields (spec 4, 6.7)."""

import math

import pytest
import torch

from benchmarks.nb201.space import NB201Space
from benchmarks.nb201.supernet import NB201Supernet
from methods.entropy import mean_entropy
from methods.gates import STRETCH, U_EPS, activation_probability, bernoulli_entropy, hard_concrete
from methods.pr_darts import group_sparsity, path_depth, zeta
from methods.registry import get
from nasbench_errors import ConfigError

N_SAMPLES = 10**6


def _uniform(seed: int) -> torch.Tensor:
    """Stratified uniform draws u_i = (i + v_i) / N, v_i ~ U(0, 1): unbiased Monte Carlo whose error on a
    probability is O(1/N) instead of the 5e-4 standard error of plain sampling at N = 10^6."""
    v = torch.rand(N_SAMPLES, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return ((torch.arange(N_SAMPLES, dtype=torch.float64) + v) / N_SAMPLES).clamp(U_EPS, 1 - U_EPS)


@pytest.mark.parametrize("beta,tau", [(0.0, 1.0), (-2.0, 0.5), (1.0, 0.1), (-20.0, 10.0), (-3.0, 2.0)])
def test_activation_probability_matches_monte_carlo(beta, tau):
    g = hard_concrete(torch.full((N_SAMPLES,), beta, dtype=torch.float64), _uniform(7), tau)
    predicted = float(activation_probability(torch.tensor(beta, dtype=torch.float64), tau))
    # Theorem 3: sigmoid(beta - tau ln(-a/b)) = sigmoid(beta + tau ln 11) for (a, b) = (-0.1, 1.1)
    assert predicted == pytest.approx(1 / (1 + math.exp(-(beta + tau * math.log(11)))), abs=1e-12)
    assert float((g != 0).double().mean()) == pytest.approx(predicted, abs=1e-3)


def test_gates_lie_in_the_unit_interval_with_exact_zeros_and_ones():
    beta, tau = 0.0, 0.5
    g = hard_concrete(torch.full((N_SAMPLES,), beta, dtype=torch.float64), _uniform(11), tau)
    assert bool(((g >= 0) & (g <= 1)).all())
    zeros, ones = float((g == 0).double().mean()), float((g == 1).double().mean())
    # g = 0 iff gbar <= -a/(b-a) = 1/12 and g = 1 iff gbar >= (1-a)/(b-a) = 11/12: probabilities
    # sigmoid(tau logit(1/12) - beta) and sigmoid(beta - tau logit(11/12)), both 1/(1 + 11^0.5) here
    assert zeros == pytest.approx(1 / (1 + math.sqrt(11)), abs=1e-3)
    assert ones == pytest.approx(1 / (1 + math.sqrt(11)), abs=1e-3)
    assert STRETCH == (-0.1, 1.1)


def test_gate_gradient_flows_between_the_clips_only():
    beta = torch.zeros(3, requires_grad=True)
    u = torch.tensor([1e-6, 0.5, 1 - 1e-6])  # clipped to 0, interior, clipped to 1
    g = hard_concrete(beta, u, tau=1.0)
    g.sum().backward()
    assert g.tolist()[0] == 0.0 and g.tolist()[2] == 1.0
    assert beta.grad.tolist()[0] == 0.0 and beta.grad.tolist()[2] == 0.0
    assert beta.grad.tolist()[1] == pytest.approx(1.2 * 0.25)  # (b - a) sigmoid'(0) / tau


def test_zeta_is_one_over_the_edges_of_a_complete_dag():
    assert zeta(4) == pytest.approx(1 / 6) and zeta(7) == pytest.approx(1 / 21)


def test_nb201_contract_names_the_skip_option_and_the_deepest_chain():
    with_none, without = NB201Space(include_none=True).groups[0], NB201Space(include_none=False).groups[0]
    assert with_none.decisions[0].options[with_none.skip_option] == "skip_connect" and with_none.skip_option == 1
    assert without.skip_option == 0
    assert with_none.path_rows == (0, 2, 5)  # edges 1<-0, 2<-1, 3<-2


def _prob_matrix() -> torch.Tensor:
    p = torch.full((6, 5), 0.5, dtype=torch.float64)
    p[0, 2], p[2, 3], p[5, 1] = 0.75, 0.25, 0.75
    return p


def test_regularizers_by_hand():
    # NB201 with none: options (none, skip, conv1x1, conv3x3, pool), skip = 1, zeta = 1/6
    p, mask = _prob_matrix(), torch.ones(6, 5, dtype=torch.bool)
    l_skip, l_non_skip = group_sparsity(p, mask, skip=1, z=1 / 6)
    # L_skip = (5 * 0.5 + 0.75) / 6
    assert float(l_skip) == pytest.approx(3.25 / 6)
    # per row (sum over the 4 non-skip options) / 4: row 0 2.25/4, row 2 1.75/4, the other four 2/4; sum 3.0
    assert float(l_non_skip) == pytest.approx(3.0 / 6)
    parameterized = torch.tensor([False, False, True, True, False]).expand(6, 5)
    # rows 0, 2, 5: (0.75 + 0.5) * (0.5 + 0.25) * (0.5 + 0.5) = 0.9375
    assert float(path_depth(p, parameterized, (0, 2, 5))) == pytest.approx(0.9375)
    assert float(path_depth(p, parameterized, ())) == 0.0
    _, no_skip = group_sparsity(p, mask, skip=None, z=1 / 6)
    assert float(no_skip) == pytest.approx(((2.75 + 2.25 + 2.75) / 5 + 3 * 2.5 / 5) / 6)  # all 5 count


def test_path_regularizer_never_counts_skip_connections_on_the_darts_space():
    from benchmarks.darts.space import PATH_ROWS, DartsSpace
    from harness.specs import resolve_config

    cfg = resolve_config("pr-darts", "nb301", "paper")
    space = DartsSpace()
    method = get("pr-darts").create(space, cfg, torch.Generator().manual_seed(0))
    convs = [o for o, name in enumerate(space.group("reduce").decisions[0].options) if "conv" in name]
    for cell in ("normal", "reduce"):
        deep = method.parameterized[cell]
        assert deep[:, convs].all() and deep.sum() == 14 * 4  # the 4 convolutions, nothing else
    # the reduction cell's first path edge (2 <- 1) has stride 2: its skip is a FactorizedReduce with weights
    assert space.option_costs("reduce")[PATH_ROWS[0], space.group("reduce").skip_option] > 0
    half = torch.full((14, 8), 0.5, dtype=torch.float64)
    # every path row: 4 convolutions at P = 0.5 -> 2.0 per row, 2^4 over the 4-edge chain, in both cell types
    assert float(path_depth(half, method.parameterized["reduce"], PATH_ROWS)) == pytest.approx(16.0)
    assert float(path_depth(half, method.parameterized["normal"], PATH_ROWS)) == pytest.approx(16.0)


def _method(**overrides):
    entry = get("pr-darts")
    return entry.create(NB201Space(), {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


def test_method_regularizer_by_hand():
    method = _method()
    method.relaxation.tau = 1.0
    with torch.no_grad():  # P = sigmoid(beta + ln 11) = k / (1 + k) for beta = ln(k / 11)
        p = _prob_matrix()
        method.relaxation.params["ops"].copy_(torch.log(p / (1 - p) / 11))
    # 0.01 * 3.25/6 + 0.005 * 3.0/6 - 0.005 * 0.9375 = 0.0032291666...
    expected = 0.01 * 3.25 / 6 + 0.005 * 0.5 - 0.005 * 0.9375
    assert float(method.regularizer().detach()) == pytest.approx(expected, abs=1e-7)
    assert method.derive()["ops"] == ((2,), (0,), (0,), (0,), (0,), (1,))


def test_two_options_are_gated_per_row():
    method = _method()
    counts = torch.zeros(6, 5)
    for _ in range(400):
        weights = method.training_weights()["ops"]
        assert ((weights != 0).sum(dim=1) <= 2).all()
        counts += method.relaxation.subset("ops").float()
    assert (counts.sum(dim=1) == 800).all()
    assert float((counts / 400 - 0.4).abs().max()) < 0.1  # each option in 2 of 5 draws


def test_probabilities_entropy_and_epoch_fields():
    method = _method(arch_init_scale=0.0)
    probs = method.probabilities()["ops"]
    assert torch.allclose(probs.sum(dim=1), torch.ones(6)) and mean_entropy(probs) == pytest.approx(math.log(5))
    assert method.epoch_fields()["tau"] == 10.0
    method.relaxation.tau = 1.0
    with torch.no_grad():  # P = sigmoid(-ln 11 + ln 11) = 1/2 for every gate: Bernoulli entropy ln 2
        method.relaxation.params["ops"].fill_(-math.log(11))
    assert method.epoch_fields()["gate_entropy"] == pytest.approx(math.log(2), abs=1e-6)
    assert bernoulli_entropy(torch.tensor([0.0, 1.0])).tolist() == [0.0, 0.0]


def test_temperature_anneals_linearly_per_epoch():
    method = _method(epochs=5)
    assert [method.temperature(e) for e in range(1, 6)] == pytest.approx([10.0, 7.525, 5.05, 2.575, 0.1])


def test_arch_gradient_reaches_beta_through_the_gates_and_the_regularizer():
    method = _method()
    method.relaxation.tau = 1.0  # at tau = 10, P = sigmoid(beta + 24) saturates: no regularizer gradient
    net = NB201Supernet(NB201Space().op_names, C=2, N=1, num_classes=3)
    batch = (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
    method.arch_optimizer.zero_grad()
    method.arch_loss(net, batch).backward()
    grad = method.relaxation.params["ops"].grad
    assert grad is not None and bool((grad != 0).all())  # the regularizer reaches every option


@pytest.mark.parametrize("overrides,key", [({"tau_min": 0.0}, "tau_min"), ({"pr_sample_ops": 0}, "pr_sample_ops"),
                                           ({"pr_lambda_skip": -1.0}, "pr_lambda_skip"), ({"pr_nodes": 1}, "pr_nodes")])
def test_bad_options_are_config_errors(overrides, key):
    with pytest.raises(ConfigError, match=key):
        _method(**overrides)


def test_state_round_trip_resumes_the_same_gate_draws():
    a = _method()
    for _ in range(3):
        a.training_weights()
    b = _method(arch_init_scale=0.5)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.relaxation.params["ops"], b.relaxation.params["ops"])
    for _ in range(3):
        assert torch.equal(a.training_weights()["ops"], b.training_weights()["ops"])

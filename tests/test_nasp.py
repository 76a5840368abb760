"""NASP: proximal operators against brute force, the regularizer and the update steps by hand (spec 5, 6.7)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from benchmarks.nb201.space import NB201Space
from benchmarks.nb201.supernet import NB201Supernet
from methods.base import EpochContext
from methods.box import complexity_penalty, prox_box, prox_c, prox_sparse
from methods.entropy import mean_entropy
from methods.registry import get
from nasbench_errors import ConfigError
from tests.op_spy import record_computed_ops


def _rows(z: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.ones_like(z, dtype=torch.bool), torch.full((z.shape[0],), k)


def test_prox_box_clips_to_the_unit_interval():
    a = torch.tensor([[-0.5, 0.0, 0.3, 1.0, 1.7]], dtype=torch.float64)
    assert prox_box(a).tolist() == [[0.0, 0.0, 0.3, 1.0, 1.0]]


def test_prox_sparse_keeps_exactly_one_entry_per_row_by_largest_magnitude():
    gen = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(200, 5, generator=gen, dtype=torch.float64)
    out = prox_sparse(z, *_rows(z))
    assert ((out != 0).sum(dim=1) == 1).all()
    picked = out.abs().argmax(dim=1)
    assert torch.equal(picked, z.abs().argmax(dim=1))
    assert torch.equal(out[torch.arange(200), picked], z[torch.arange(200), picked])  # the value is kept


def test_prox_sparse_ties_go_to_the_lower_index_and_padding_is_never_kept():
    z = torch.tensor([[0.5, 0.5, 0.2], [0.0, 0.0, 0.0], [0.1, 0.9, 5.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True], [True, True, True], [True, True, False]])
    out = prox_sparse(z, mask, torch.ones(3, dtype=torch.long))
    assert out.tolist() == [[0.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.9, 0.0]]
    assert prox_sparse(z, mask, torch.ones(3, dtype=torch.long), binarize=True).tolist()[2] == [0.0, 1.0, 0.0]


def _brute_force(z: torch.Tensor, k: int, grid: torch.Tensor) -> float:
    """min 1/2 ||y - z||^2 over y with support of size k and values in [0, 1], values searched on ``grid``."""
    best = math.inf
    for support in itertools.combinations(range(z.numel()), k):
        cost = 0.5 * sum(float(z[j]) ** 2 for j in range(z.numel()) if j not in support)
        for j in support:  # the coordinates separate: each kept value is its own 1-D search
            cost += float((0.5 * (grid - z[j]) ** 2).min())
        best = min(best, cost)
    return best


@pytest.mark.parametrize("k", [1, 2])
def test_prox_c_is_the_euclidean_projection_onto_the_constraint_set(k):
    gen = torch.Generator().manual_seed(1)
    grid = torch.linspace(0.0, 1.0, 4001, dtype=torch.float64)  # step 2.5e-4: grid error <= 7.8e-9
    for _ in range(60):
        z = 0.5 + 1.2 * torch.randn(1, 5, generator=gen, dtype=torch.float64)
        y = prox_c(z, *_rows(z, k))
        assert int((y != 0).sum()) <= k and bool(((y >= 0) & (y <= 1)).all())
        ours = float(0.5 * ((y - z) ** 2).sum())
        assert ours == pytest.approx(_brute_force(z[0], k, grid), abs=1e-8)


def test_prox_c_clips_before_sparsifying():
    # sparsify-then-clip would keep -2 (largest magnitude) and clip it to 0: cost 2.125 instead of 2.0
    z = torch.tensor([[-2.0, 0.5]], dtype=torch.float64)
    assert prox_c(z, *_rows(z)).tolist() == [[0.0, 0.5]]
    wrong = prox_box(prox_sparse(z, *_rows(z)))
    assert float(0.5 * ((wrong - z) ** 2).sum()) == pytest.approx(2.125)


def test_prox_c_breaks_ties_at_the_upper_bound_by_the_unclipped_value():
    # clip-then-argmax reads [1, 1] and keeps index 0 (cost 0.125 + 4.5 = 4.625); the projection keeps 3.0 (3.125)
    z = torch.tensor([[1.5, 3.0]], dtype=torch.float64)
    assert prox_c(z, *_rows(z)).tolist() == [[0.0, 1.0]]
    assert prox_sparse(prox_box(z), *_rows(z)).tolist() == [[1.0, 0.0]]


def test_complexity_penalty_by_hand():
    # R = sum_k (p_k / p_bar) ||A_:,k||^2 with p = (0, 10, 30), p_bar = 40:
    # 0.25 * (0.5^2 + 0^2) + 0.75 * (0.1^2 + 0.9^2) = 0.0625 + 0.615 = 0.6775
    a = torch.tensor([[0.2, 0.5, 0.1], [0.3, 0.0, 0.9]], dtype=torch.float64)
    costs = torch.tensor([[0.0, 10.0, 30.0], [0.0, 10.0, 30.0]], dtype=torch.float64)
    assert float(complexity_penalty(a, costs)) == pytest.approx(0.6775, abs=1e-12)
    assert float(complexity_penalty(a, torch.zeros_like(costs))) == 0.0


def test_nb201_costs_give_the_penalty_weights_by_hand():
    # C = 16: conv1x1 16*16 + 2*16 = 288 params, conv3x3 9*256 + 32 = 2336, p_bar = 2624
    costs = NB201Space(include_none=False).option_costs("ops")
    a = torch.zeros(6, 4)
    a[0, 1], a[0, 2] = 1.0, 0.5  # conv1x1 weight 1 (288/2624) and conv3x3 0.5^2 (2336/2624)
    assert float(complexity_penalty(a, costs)) == pytest.approx(288 / 2624 + 0.25 * 2336 / 2624, rel=1e-6)


class ToyNet(nn.Module):
    """logits (s, 0) with s = sum over the computed entries of c * w; entries with w == 0 are skipped,
    as the supernet skips zero-weight ops. With label 0, L = log(1 + e^-s), dL/dw = -c sigmoid(-s)."""

    def __init__(self, coef: torch.Tensor) -> None:
        super().__init__()
        self.coef = coef
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        w = weights["ops"]
        s = (w * self.coef)[w.detach() != 0].sum() + 0 * self.bias
        return torch.stack([s, torch.zeros_like(s)]).expand(x.shape[0], 2)


COEF = torch.tensor([[1.0, 2.0, -1.0, 0.5]] * 6)
A0 = torch.tensor([[0.2, 0.6, 0.4, 0.1], [0.9, 0.3, 0.3, 0.0], [0.5, 0.5, 0.7, 0.2],
                   [0.1, 0.2, 0.3, 0.4], [0.05, 0.0, 0.0, 0.0], [0.3, 0.3, 0.3, 0.35]])
BATCH = (torch.zeros(2, 1), torch.zeros(2, dtype=torch.long))


def _method(name: str, **overrides):
    entry = get(name)
    config = {**entry.defaults, "arch_optimizer": "sgd", "arch_lr": 0.1, "arch_init_noise": 0.0, **overrides}
    method = entry.create(NB201Space(include_none=False), config, torch.Generator().manual_seed(0))
    with torch.no_grad():
        method.relaxation.params["ops"].copy_(A0)
        method.relaxation.project_(method.projection)
    return method


def _step(method, net=None):
    net = net or ToyNet(COEF)
    ctx = EpochContext(net, torch.optim.SGD(net.parameters(), lr=0.1), [], [], 1, 1, 0.0)
    method.arch_step(ctx, BATCH, BATCH)
    return method.relaxation.params["ops"].detach()


def _selected_gradient(abar: torch.Tensor, coef: torch.Tensor = COEF) -> torch.Tensor:
    s = float((abar * coef).sum())
    return torch.where(abar != 0, -coef / (1 + math.exp(s)), torch.zeros_like(abar))


def test_nasp_step_by_hand_only_the_selected_entries_move():
    method = _method("nasp")
    abar = prox_c(A0, torch.ones_like(A0, dtype=torch.bool), torch.ones(6, dtype=torch.long))
    assert method.relaxation.discrete()["ops"].tolist() == abar.tolist()
    # selected: (0, 1) 0.6, (1, 0) 0.9, (2, 2) 0.7, (3, 3) 0.4, (4, 0) 0.05, (5, 3) 0.35
    # s = 2*0.6 + 0.9 - 0.7 + 0.5*0.4 + 0.05 + 0.5*0.35 = 1.825; dL/dabar = -c / (1 + e^1.825)
    assert float((abar * COEF).sum()) == pytest.approx(1.825)
    expected = (A0 - 0.1 * _selected_gradient(abar)).clamp(0, 1)
    assert torch.allclose(_step(method), expected, atol=1e-7)
    assert int((_step(_method("nasp")) != A0).sum()) == 6  # non-selected entries keep their values


def test_nasp_step_with_the_complexity_penalty_by_hand():
    method = _method("nasp", nasp_eta=0.5)
    abar = method.relaxation.discrete()["ops"]
    costs = NB201Space(include_none=False).option_costs("ops")
    grad_r = 2 * costs / costs.sum(dim=1, keepdim=True) * abar  # d/dabar of sum (p/p_bar) abar^2
    expected = (A0 - 0.1 * (_selected_gradient(abar) + 0.5 * grad_r)).clamp(0, 1)
    assert torch.allclose(_step(method), expected, atol=1e-7)


def test_nasp_step_clips_the_continuous_a_to_the_box():
    method = _method("nasp", arch_lr=10.0)
    after = _step(method)
    assert bool(((after >= 0) & (after <= 1)).all()) and float(after[1, 0]) == 1.0  # 0.9 + 10 * 0.14 > 1


def test_nasp_all_mode_gives_every_entry_its_gradient():
    method = _method("nasp", nasp_grad="all")
    abar = method.relaxation.discrete()["ops"]
    s = float((abar * COEF).sum())  # the ghost weights add 1e-30 * c: nothing at float32 precision
    expected = (A0 - 0.1 * (-COEF / (1 + math.exp(s)))).clamp(0, 1)
    assert torch.allclose(_step(method), expected, atol=1e-7)


def test_nasp_binarized_prox_value_runs_ones():
    method = _method("nasp", nasp_prox_value="one")
    abar = method.relaxation.discrete()["ops"]
    assert sorted(set(abar.flatten().tolist())) == [0.0, 1.0] and abar.sum() == 6
    expected = (A0 - 0.1 * _selected_gradient(abar)).clamp(0, 1)
    assert torch.allclose(_step(method), expected, atol=1e-7)


def test_nasp_adam_first_step_moves_each_selected_entry_by_the_learning_rate():
    method = _method("nasp", arch_optimizer="adam", arch_lr=3e-4)
    abar = method.relaxation.discrete()["ops"]
    expected = A0 - 3e-4 * torch.sign(_selected_gradient(abar))  # Adam's first step: lr * g / (|g| + 1e-8)
    assert torch.allclose(_step(method), expected, atol=1e-9)


def test_standard_pa_keeps_a_in_the_constraint_set():
    method = _method("nasp-pa", pa_order=1)
    start = method.relaxation.params["ops"].detach().clone()
    assert ((start != 0).sum(dim=1) == 1).all()  # projected at construction
    expected = prox_c(start - 0.1 * _selected_gradient(start), torch.ones_like(start, dtype=torch.bool),
                      torch.ones(6, dtype=torch.long))
    after = _step(method)
    assert torch.allclose(after, expected, atol=1e-7) and ((after != 0).sum(dim=1) <= 1).all()


def test_lazy_pa_leaves_a_unconstrained():
    method = _method("nasp-pa-lazy", pa_order=1, arch_lr=10.0)
    abar = method.relaxation.discrete()["ops"]
    expected = A0 - 10.0 * _selected_gradient(abar)
    after = _step(method)
    assert torch.allclose(after, expected, atol=1e-6) and float(after.max()) > 1.0


class SmoothNet(nn.Module):
    """A smooth (tanh) stand-in for the supernet, skipping zero-weight options like it: finite differences
    of its gradients converge, so the unrolled gradient can be checked against the exact derivative."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.lin = nn.Linear(5, 3).double()
        self.ops = nn.Parameter(torch.randn(6, 4, 3, generator=gen, dtype=torch.float64))

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        w = weights["ops"]
        h = torch.tanh(self.lin(x))
        out = h
        for r, o in (w.detach() != 0).nonzero().tolist():
            out = out + w[r, o] * torch.tanh(h * self.ops[r, o])
        return out


def test_pa_second_order_gradient_matches_exact_unrolled_derivative():
    """pa_order=2: the finite-difference Eq. 6 gradient equals d/dAbar L_val(w - xi grad_w L_train(w, Abar), Abar)."""
    torch.manual_seed(0)
    net = SmoothNet()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    method = _method("nasp-pa", pa_order=2)
    abar = method.relaxation.discrete()["ops"].double().requires_grad_()
    gen = torch.Generator().manual_seed(3)
    train = (torch.randn(8, 5, generator=gen, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    val = (torch.randn(8, 5, generator=gen, dtype=torch.float64), torch.tensor([2, 1, 0, 1, 2, 0, 0, 1]))
    fd = method.loss_gradient(EpochContext(net, opt, [], [], 1, 1, 0.0), {"ops": abar}, val, train)[0]

    names = [n for n, _ in net.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in net.parameters()]

    def loss(ps, batch):
        return F.cross_entropy(functional_call(net, dict(zip(names, ps, strict=True)), (batch[0], {"ops": abar})),
                               batch[1])

    step = torch.autograd.grad(loss(params, train), params, create_graph=True)
    exact = torch.autograd.grad(loss([p - 0.5 * g for p, g in zip(params, step, strict=True)], val), abar)[0]
    first = torch.autograd.grad(loss(params, val), abar)[0]
    assert torch.allclose(fd, exact, atol=1e-6, rtol=2e-3)  # central differences, eps = 0.01 / ||v||
    assert float((exact - first).abs().max()) > 1e-2  # the second-order term is there
    assert torch.equal(fd != 0, abar != 0)  # only the selected entries get a gradient


def test_arch_step_computes_only_selected_ops_unless_all():
    space = NB201Space(include_none=False)
    net = NB201Supernet(space.op_names, C=2, N=1, num_classes=3)
    forwards = record_computed_ops(net)
    batch = (torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    for mode, expected in (("selected", 6), ("all", 24)):
        method = _method("nasp", nasp_grad=mode)
        method.arch_step(EpochContext(net, torch.optim.SGD(net.parameters(), lr=0.1), [], [], 1, 1, 0.0), batch, batch)
        assert len(forwards[-1]) == expected
    selected = method.derive()["ops"]
    net(batch[0], method.training_weights())
    assert forwards[-1] == {(e, space.op_names[row[0]]) for e, row in enumerate(selected)}


def test_entropy_derivation_and_penalty_field():
    method = _method("nasp")
    probs = method.probabilities()["ops"]
    assert torch.allclose(probs.sum(dim=1), torch.ones(6))
    assert torch.allclose(probs[0], A0[0] / A0[0].sum())
    assert method.derive()["ops"] == ((1,), (0,), (2,), (3,), (0,), (3,))
    flat = get("nasp").create(NB201Space(include_none=False), {**get("nasp").defaults, "arch_init_noise": 0.0},
                              torch.Generator().manual_seed(0))
    assert mean_entropy(flat.probabilities()["ops"]) == pytest.approx(math.log(4), abs=1e-6)
    assert method.epoch_fields()["complexity_penalty"] > 0


def test_initial_noise_breaks_ties_differently_per_seed():
    entry = get("nasp")
    archs = {entry.create(NB201Space(include_none=False), entry.defaults, torch.Generator().manual_seed(s)).derive()
             ["ops"] for s in range(5)}
    assert len(archs) > 1


@pytest.mark.parametrize("key,value", [("nasp_grad", "dense"), ("nasp_prox_value", "half"),
                                       ("arch_optimizer", "rmsprop"), ("arch_lr", 0.0), ("nasp_eta", -1.0)])
def test_bad_options_are_config_errors(key, value):
    entry = get("nasp")
    with pytest.raises(ConfigError, match=key):
        entry.create(NB201Space(include_none=False), {**entry.defaults, key: value}, torch.Generator())


def test_bad_pa_order_is_a_config_error():
    entry = get("nasp-pa")
    with pytest.raises(ConfigError, match="pa_order"):
        entry.create(NB201Space(include_none=False), {**entry.defaults, "pa_order": 3}, torch.Generator())

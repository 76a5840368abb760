"""DARTS-: the beta schedule, the auxiliary skip as a skip-weight shift (exact on NB201, by hand), refusals."""

import pytest
import torch
import torch.nn.functional as F

from benchmarks.darts.space import DartsSpace
from benchmarks.nb1shot1.space import NB1Shot1Space
from benchmarks.nb201.space import EDGES, NB201Space
from benchmarks.nb201.supernet import NB201Supernet, SearchCell
from methods.darts_minus import skip_beta, with_auxiliary_skip
from methods.registry import get
from nasbench_errors import ConfigError
from tests.tiny_supernet import tiny_setup


def _method(space, **overrides):
    entry = get("darts-minus")
    return entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


def test_beta_decays_linearly_to_zero_as_released():
    # released DecayScheduler('linear', T_max = 50), stepped with the 0-based epoch: 1 - epoch / 50
    assert [skip_beta(e, 50, 1.0) for e in (1, 2, 26, 50)] == pytest.approx([1.0, 0.98, 0.5, 0.02])
    assert skip_beta(51, 50, 1.0) == pytest.approx(0.0)


def test_beta_is_added_to_the_skip_column_only_and_leaves_the_alpha_gradient_unchanged():
    alpha = torch.tensor([[0.2, -0.1, 0.5], [0.3, 0.0, -0.4]], dtype=torch.float64, requires_grad=True)
    w = torch.softmax(alpha, dim=-1)
    shifted = with_auxiliary_skip({"ops": w, "edges": w}, {"ops": 2}, 0.75)
    assert torch.equal(shifted["edges"], w)  # groups without a skip option are untouched
    assert torch.allclose(shifted["ops"] - w, torch.tensor([[0, 0, 0.75], [0, 0, 0.75]], dtype=torch.float64))
    c = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype=torch.float64)
    (g_plain,) = torch.autograd.grad((c * w).sum(), alpha, retain_graph=True)
    (g_shift,) = torch.autograd.grad((c * shifted["ops"]).sum(), alpha)
    assert torch.allclose(g_plain, g_shift)


def test_skip_weight_shift_is_the_auxiliary_identity_on_every_nb201_edge():
    """A cell run with w' = w + beta e_skip equals the released cell: sum_o w_o o(x) + beta x on every edge."""
    torch.manual_seed(0)
    space = NB201Space()
    cell = SearchCell(8, space.op_names).double().eval()
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    w = torch.softmax(torch.randn(6, 5, dtype=torch.float64), dim=-1)
    beta = 0.6
    shifted = with_auxiliary_skip({"ops": w}, {"ops": space.groups[0].skip_option}, beta)["ops"]
    out = cell(x, shifted, (shifted != 0).tolist())
    nodes = [x]
    for j in (1, 2, 3):
        total = 0
        for e, (s, t) in enumerate(EDGES):
            if t == j:
                mixed = sum(w[e, o] * cell.edges[e][name](nodes[s]) for o, name in enumerate(space.op_names)
                            if name != "none")
                total = total + mixed + beta * nodes[s]  # the released MixedOp: + auxiliary_op(x) * beta
        nodes.append(total)
    assert torch.allclose(out, nodes[3], atol=1e-12)


def test_both_steps_see_the_auxiliary_skip_and_derivation_ignores_it():
    darts_space = DartsSpace()
    method = _method(darts_space)
    assert method.beta == 1.0
    w = method.training_weights()
    plain = {k: v.detach() for k, v in method.relaxation.mixing_weights().items()}
    assert set(w) == set(plain) == {"normal", "reduce"}  # a DARTS cell sums its inputs unweighted: nothing to shift
    for cell in ("normal", "reduce"):
        skip = darts_space.cell_op_names[cell].index("skip_connect")  # each cell type has its own op list
        assert torch.allclose(w[cell][:, skip] - plain[cell][:, skip], torch.ones(14))
        others = [o for o in range(w[cell].shape[1]) if o != skip]
        assert torch.equal(w[cell][:, others], plain[cell][:, others])
    assert method.derive() == get("darts").create(darts_space, get("darts").defaults,
                                                   torch.Generator().manual_seed(0)).derive()


def test_arch_loss_uses_the_shifted_weights():
    torch.manual_seed(0)
    space = NB201Space()
    net = NB201Supernet(space.op_names, C=4, N=1).double()
    method = _method(space)
    method.relaxation.double()
    x, y = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 3])
    expected = F.cross_entropy(net(x, with_auxiliary_skip(method.relaxation.mixing_weights(), {"ops": 1}, 1.0)), y)
    assert float(method.arch_loss(net, (x, y)).detach()) == pytest.approx(float(expected.detach()), rel=1e-12)


def test_spaces_without_a_skip_option_are_refused():
    with pytest.raises(ConfigError, match="nb1shot1-ss1's group 'ops' has none"):
        _method(NB1Shot1Space(1))
    with pytest.raises(ConfigError, match="needs a skip_connect option"):
        _method(tiny_setup()[0])  # the tiny test space names no skip option either
    assert "nb1shot1" in get("darts-minus").refusals

"""RS-WS: uniform single paths (chi-square), only the sampled ops computed, best-candidate selection."""

import math
from collections import Counter

import pytest
import torch
from torch import nn

from benchmarks.nb201.space import NB201Space
from benchmarks.nb201.supernet import NB201Supernet
from benchmarks.space import Decision, DecisionGroup, SearchSpace
from methods.base import EpochContext
from methods.entropy import mean_entropy
from methods.registry import get
from methods.rsws import space_size
from nasbench_errors import ConfigError
from tests.op_spy import record_computed_ops

#: chi-square critical values at p = 0.001 (df 8 and df 4)
CHI2_DF8, CHI2_DF4 = 26.12, 18.47


class TinySpace(SearchSpace):
    """Two decisions with three options each: 9 architectures."""

    name = "tiny"
    groups = (DecisionGroup("ops", (Decision("a", ("x", "y", "z")), Decision("b", ("x", "y", "z")))),)


def _method(space: SearchSpace, **overrides):
    entry = get("rs-ws")
    return entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))


def _chi_square(counts: list[int], expected: float) -> float:
    return sum((c - expected) ** 2 / expected for c in counts)


def test_training_paths_are_uniform_over_architectures():
    method, n = _method(TinySpace()), 9000
    counts = Counter(tuple(w["ops"].argmax(dim=1).tolist()) for w in (method.training_weights() for _ in range(n)))
    assert len(counts) == 9
    assert _chi_square(list(counts.values()), n / 9) < CHI2_DF8


def test_nb201_paths_are_uniform_per_edge_and_one_hot():
    method, n = _method(NB201Space()), 5000
    counts = torch.zeros(6, 5)
    for _ in range(n):
        w = method.training_weights()["ops"]
        assert torch.equal(w.sum(dim=1), torch.ones(6)) and set(w.unique().tolist()) == {0.0, 1.0}
        counts += w
    for row in counts.tolist():
        assert _chi_square(row, n / 5) < CHI2_DF4


def test_only_the_sampled_ops_are_computed():
    space = NB201Space()
    net = NB201Supernet(space.op_names, C=2, N=1, num_classes=3)
    forwards = record_computed_ops(net)
    method = _method(space)
    for _ in range(20):
        w = method.training_weights()["ops"]
        net(torch.randn(1, 3, 8, 8), {"ops": w})
        sampled = {(e, space.op_names[o]) for e, o in enumerate(w.argmax(dim=1).tolist())}
        assert forwards[-1] == {s for s in sampled if s[1] != "none"}


class ArchScoredNet(nn.Module):
    """Predicts class 0 exactly when decision ``a`` runs option 2 (``z``), else class 1; trainable bias."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        favour = 10.0 * (2 * weights["ops"][0, 2] - 1)
        return torch.stack([favour, -favour]).expand(x.shape[0], 2) + 0 * self.bias


def test_epoch_picks_the_candidate_with_the_best_shared_weight_accuracy():
    method = _method(TinySpace(), rsws_candidates=100, rsws_eval_batches=2)
    net = ArchScoredNet()
    batches = [(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)) for _ in range(3)]
    ctx = EpochContext(net, torch.optim.SGD(net.parameters(), lr=0.1), batches, iter(batches), 1, 1, 0.0)
    stats = method.train_epoch(ctx)
    assert stats.weight_steps == 3 and stats.arch_steps == 0
    assert stats.extra["candidates"] == 9.0  # capped at the 9 architectures of the space
    assert stats.extra["candidate_best_acc"] == 100.0
    assert method.derive()["ops"][0] == (2,)
    assert mean_entropy(method.probabilities()["ops"]) == pytest.approx(math.log(3))


def test_candidates_are_distinct_uniform_draws():
    method = _method(NB201Space(), rsws_candidates=100)
    keys = {tuple(sorted(c.items())) for c in method.candidates()}
    assert len(keys) == 100
    assert space_size(NB201Space()) == 15625 and space_size(NB201Space(include_none=False)) == 4096


def test_state_round_trip_resumes_the_same_draws():
    a = _method(NB201Space())
    for _ in range(3):
        a.training_weights()
    b = _method(NB201Space())
    b.load_state_dict(a.state_dict())
    assert b.derive() == a.derive()
    for _ in range(5):
        assert torch.equal(a.training_weights()["ops"], b.training_weights()["ops"])
    assert "lr_arch" not in a.epoch_fields()


@pytest.mark.parametrize("key", ["rsws_candidates", "rsws_eval_batches"])
def test_bad_counts_are_config_errors(key):
    with pytest.raises(ConfigError, match=key):
        _method(NB201Space(), **{key: 0})

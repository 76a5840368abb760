"""ENAS: the controller's REINFORCE gradient and moving-average baseline by hand, k-of-n sampling, the
best-of-samples derivation, and an epoch through the tiny supernet's decisions contract."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.space import Decision, DecisionGroup, SearchSpace
from methods.enas import Controller, Enas
from methods.registry import get
from nasbench_errors import ConfigError
from tests.tiny_supernet import TinySpace, batch, context, tiny_setup


def _enas(space: SearchSpace | None = None, seed: int = 0, **config) -> Enas:
    entry = get("enas")
    return entry.create(space or TinySpace(), {**entry.defaults, "enas_lstm_size": 4, "enas_lstm_layers": 1,
                                               **config}, torch.Generator().manual_seed(seed))


def _hand_gradient(ctrl: Controller, choices: list[int]) -> torch.Tensor:
    """d log p(choices) / d (output bias), from the LSTM's hidden states: per step t with z = (W h_t + b) / T,
    logits = c tanh(z), d log softmax(logits)[a] / d b = (onehot(a) - p) * c (1 - tanh(z)^2) / T."""
    w, b = ctrl.pred["ops"].weight.detach().double(), ctrl.pred["ops"].bias.detach().double()
    c, temp = ctrl.tanh_constant, ctrl.temperature
    grad = torch.zeros(3, dtype=torch.float64)
    inputs, state = ctrl.input_vars.detach(), None
    with torch.no_grad():
        for a in choices:
            out, state = ctrl.lstm(inputs, state)
            z = (w @ out.view(-1).double() + b) / temp
            p = torch.softmax(c * torch.tanh(z), dim=-1)
            grad += (torch.nn.functional.one_hot(torch.tensor(a), 3).double() - p) * c * (1 - torch.tanh(z) ** 2) / temp
            inputs = ctrl.embed["ops"](torch.tensor([[a]]))
    return grad


def test_reinforce_gradient_and_baseline_by_hand():
    enas = _enas(enas_aggregate=4, enas_baseline_decay=0.9, enas_entropy_weight=0.0)
    ctrl = enas.controller
    forced = [(1,), (2,)]
    expected_log_prob = 0.0
    sample = ctrl([1, 1], forced=forced)
    # log p = sum over the two steps of log softmax(c tanh(z_t))[a_t]
    inputs, state = ctrl.input_vars.detach(), None
    with torch.no_grad():
        for (a,), r in zip(forced, range(2), strict=True):
            out, state = ctrl.lstm(inputs, state)
            expected_log_prob += float(torch.log_softmax(ctrl.step_logits(out, "ops", r, []), -1)[a])
            inputs = ctrl.embed["ops"](torch.tensor([[a]]))
    assert float(sample.log_prob.detach()) == pytest.approx(expected_log_prob, rel=1e-6)

    # first sample: the baseline starts at its accuracy, so the advantage and the gradient are 0
    enas.reinforce(sample, 0.5)
    assert enas.baseline == 0.5
    assert torch.count_nonzero(ctrl.pred["ops"].bias.grad) == 0
    # second sample: b = 0.5 - (1 - 0.9)(0.5 - 0.7) = 0.52, advantage 0.18; grad = -(0.18 / 4) d log p / d bias
    ctrl.zero_grad(set_to_none=True)
    enas.reinforce(ctrl([1, 1], forced=forced), 0.7)
    assert enas.baseline == pytest.approx(0.52)
    expected = -(0.7 - 0.52) / 4 * _hand_gradient(ctrl, [1, 2])
    assert torch.allclose(ctrl.pred["ops"].bias.grad.double(), expected, rtol=1e-5, atol=1e-9)
    assert expected.abs().max() > 1e-4  # a real gradient, not a vacuous comparison


def test_the_entropy_bonus_enters_the_reward_as_a_constant():
    enas = _enas(enas_entropy_weight=0.5)
    sample = enas.controller([1, 1], forced=[(0,), (0,)])
    # entropy of each step's distribution, summed: near ln 3 per row at initialization (small weights)
    assert float(sample.entropy.detach()) == pytest.approx(sum(float(-(p * p.log()).sum()) for p in sample.first_probs))
    assert 2 * math.log(3) - 0.05 < float(sample.entropy.detach()) <= 2 * math.log(3)
    reward = enas.reinforce(sample, 0.25)
    assert reward == pytest.approx(0.25 + 0.5 * float(sample.entropy.detach()))


def test_k_of_n_decisions_take_k_distinct_steps():
    space = SearchSpace()
    space.name = "k2"
    space.groups = (DecisionGroup("inputs", (Decision("node", ("a", "b", "c", "d"), k=2),)),)
    enas = _enas(space)
    for _ in range(20):
        sample = enas.sample()
        assert len(sample.choices[0]) == 2 and len(set(sample.choices[0])) == 2
    # log p of (b, d) taken in that order: step 2 renormalizes over the options left
    s = enas.controller([2], forced=[(1, 3)])
    inputs, state = enas.controller.input_vars.detach(), None
    total = 0.0
    with torch.no_grad():
        for a, taken in ((1, []), (3, [1])):
            out, state = enas.controller.lstm(inputs, state)
            logits = enas.controller.step_logits(out, "inputs", 0, taken)
            assert all(math.isinf(float(logits[t])) for t in taken)  # an option taken is not drawn again
            total += float(torch.log_softmax(logits, -1)[a])
            inputs = enas.controller.embed["inputs"](torch.tensor([[a]]))
    assert float(s.log_prob.detach()) == pytest.approx(total, rel=1e-6)


def test_best_of_samples_is_the_most_accurate_sample(monkeypatch):
    enas = _enas()
    scores = iter([0.3, 0.9, 0.9, 0.1])
    chosen = []

    def fake(net, selection, batch):
        chosen.append(selection)
        return next(scores)

    monkeypatch.setattr(enas, "accuracy", fake)
    best, acc = enas.best_of_samples(None, iter([None] * 4), 4)
    assert acc == 0.9 and best == chosen[1]  # the first of the two best


def test_an_epoch_trains_the_sampled_paths_and_the_controller():
    space, net, opt = tiny_setup(2, dtype=torch.float32)
    enas = _enas(space, enas_train_steps=3, enas_aggregate=2, enas_epoch_samples=2, enas_final_samples=5)
    before = {k: v.clone() for k, v in enas.controller.state_dict().items()}
    weights = [batch(8, i, dtype=torch.float32) for i in range(3)]
    arch = [batch(8, 10 + i, dtype=torch.float32) for i in range(2)]
    stats = enas.train_epoch(context(net, opt, weights, arch, epoch=1, epochs=1))
    assert stats.weight_steps == 3 and enas.arch_steps_total == 3
    assert any(not torch.equal(before[k], v) for k, v in enas.controller.state_dict().items())
    assert enas.baseline is not None and 0 <= enas.best_accuracy <= 1
    probs = enas.probabilities()["ops"]
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(-1), torch.ones(2))
    sel = enas.derive()["ops"]
    assert all(len(r) == 1 for r in sel)
    # checkpoint round trip: the restored search draws the same next architecture
    state = enas.state_dict()
    other = _enas(space, seed=9, enas_train_steps=3, enas_aggregate=2)
    other.load_state_dict(state)
    assert other.sample().choices == enas.sample().choices and other.derive() == enas.derive()


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="enas_baseline_decay=1 must be in"):
        _enas(enas_baseline_decay=1)
    with pytest.raises(ConfigError, match="enas_aggregate=0 must be >= 1"):
        _enas(enas_aggregate=0)

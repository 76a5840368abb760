"""REINFORCE (Williams 1992) as NAS-Bench-201 runs it: a per-edge categorical policy, no supernet.

The policy is softmax(alpha) per edge, alpha initialized at 1e-3 * N(0, 1). Each step samples one op
per edge, evaluates the cell (reward = its 12-epoch validation accuracy in %), updates a bias-corrected
exponential moving average b of the rewards (momentum ``reinforce_ema``) with this reward first, then
takes one Adam step (lr ``reinforce_lr``) on -(r - b) * sum_edges log pi(a_edge). Defaults are the
reference's (``scripts-search/NAS-Bench-201-algos/REINFORCE.sh``: lr 0.001, EMA momentum 0.9).

The result is the best sampled cell by reward (the reference's ``best_arch = max(trace)``), not the
policy's argmax; the reported entropy is the policy's. Departure: the reference appends the sample that
overruns the budget to its trace before stopping; here an evaluation the budget cannot pay is not made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from benchmarks.space import SearchSpace
from methods.base import MethodEntry
from methods.blackbox import BLACKBOX_CHOICES, BLACKBOX_DEFAULTS, BLACKBOX_TYPES, Arch, BlackBoxMethod
from methods.relaxations import Relaxation, SoftmaxLogits
from nasbench_errors import ConfigError
from nasbench_settings import number


class MovingAverage:
    """Bias-corrected EMA: after the first update its value is that update (no pull towards 0)."""

    def __init__(self, momentum: float) -> None:
        self.momentum, self.numerator, self.denominator = momentum, 0.0, 0.0

    def update(self, value: float) -> None:
        self.numerator = self.momentum * self.numerator + (1 - self.momentum) * value
        self.denominator = self.momentum * self.denominator + (1 - self.momentum)

    @property
    def value(self) -> float:
        return self.numerator / self.denominator


class Reinforce(BlackBoxMethod):
    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        if not 0 <= float(config["reinforce_ema"]) < 1:
            raise ConfigError(f"reinforce_ema={config['reinforce_ema']} must be in [0, 1); "
                              "fix it with --set reinforce_ema=0.9")
        if not float(config["reinforce_lr"]) > 0:
            raise ConfigError(f"reinforce_lr={config['reinforce_lr']} must be > 0; "
                              "fix it with --set reinforce_lr=0.001")
        super().__init__(space, config, generator, device)
        self.baseline = MovingAverage(float(config["reinforce_ema"]))

    def build_relaxation(self) -> Relaxation:
        return SoftmaxLogits(self.space, self.generator, init_scale=1e-3)

    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.relaxation.parameters(), lr=float(self.config["reinforce_lr"]))

    def propose(self) -> Arch:
        """One op per edge drawn from the current policy."""
        probs = self.relaxation.probabilities()
        return tuple(int(torch.multinomial(probs[g.name][r], 1, generator=self.generator)) for g, r in self.rows)

    def log_prob(self, arch: Arch) -> torch.Tensor:
        """Differentiable log pi(arch) = sum over edges of log softmax(alpha_edge)[op]."""
        logits = self.relaxation.logits()
        return sum(torch.log_softmax(logits[g.name][r], dim=-1)[op] for (g, r), op in zip(self.rows, arch, strict=True))

    def observe(self, arch: Arch, score: float) -> None:
        self.baseline.update(score)
        advantage = score - self.baseline.value
        self.arch_optimizer.zero_grad(set_to_none=True)
        (-self.log_prob(arch) * advantage).backward()
        self.arch_optimizer.step()
        self.arch_steps_total += 1

    def epoch_fields(self) -> dict[str, float]:
        return {**super().epoch_fields(), "baseline": self.baseline.value if self.evaluations else float("nan"),
                "policy_steps": float(self.arch_steps_total)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "baseline": (self.baseline.numerator, self.baseline.denominator)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.baseline.numerator, self.baseline.denominator = (float(v) for v in state["baseline"])


ENTRIES = (
    MethodEntry(
        name="reinforce",
        cls=Reinforce,
        families=("black-box",),
        title="REINFORCE (policy gradient, black-box)",
        paper="Williams. Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement "
              "Learning. Machine Learning 1992; NAS-Bench-201 protocol",
        relaxation="softmax(alpha) policy per edge, no supernet",
        update_rule="a ~ pi_alpha; alpha <- Adam(-(r - EMA(r)) grad log pi(a)), r = hp12 validation accuracy; "
                    "simulated budget",
        default_setting="bilevel",
        defaults={**BLACKBOX_DEFAULTS, "reinforce_lr": 0.001, "reinforce_ema": 0.9},
        settings=("bilevel",),
        choices={**BLACKBOX_CHOICES,
                 "reinforce_lr": "0.001 (the usage line of REINFORCE.sh) | 0.01 .. 0.5 (the sweep of "
                                 "hps/GRID-RL.sh)"},
        order=2,
        types={**BLACKBOX_TYPES, "reinforce_lr": number(gt=0, help="Adam step size of the policy logits"),
               "reinforce_ema": number(ge=0, lt=1, help="momentum of the reward baseline (EMA)")},
    ),
)

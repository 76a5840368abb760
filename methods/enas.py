"""ENAS (Pham, Guan, Zoph, Le, Dean. Efficient Neural Architecture Search via Parameter Sharing. ICML 2018),
as NAS-Bench-201 runs it (AutoDL-Projects ``exps/NAS-Bench-201-algos/ENAS.py``, ``scripts-search/
NAS-Bench-201-algos/ENAS.sh``, ``configs/nas-benchmark/algos/ENAS.config``).

An LSTM controller (``Controller``) emits the architecture one decision row after the other: per row, logits
= tanh_constant x tanh(W h / temperature) over the row's options, a sample, whose embedding is the next
input (a k-of-n decision takes k steps, each excluding the options already taken). Per epoch:

1. **Shared weights.** For every training batch the controller samples one architecture (no gradient) and
   the supernet trains that single path (one-hot mixing weights: only its ops run).
2. **Controller.** ``enas_train_steps`` x ``enas_aggregate`` samples, each scored on the next batch of the
   arch stream (the search-valid half) with the shared weights in inference mode: reward r = accuracy
   (fraction) + ``enas_entropy_weight`` x the sample's entropy (a constant: the ENAS release stops its
   gradient); baseline b <- b - (1 - ``enas_baseline_decay``)(b - r), updated with every sample before its
   advantage (b starts at the first sample's accuracy, as NB201's ENAS.py); loss = -(r - b) log p(sample) /
   aggregate, accumulated, then every ``enas_aggregate`` samples a clipped (norm 5) Adam step (lr 0.001,
   betas (0, 0.999), eps 0.001).
3. **Derivation.** The epoch's architecture is the best of ``enas_epoch_samples`` (10) controller samples,
   each scored on one arch batch (ENAS.py ``get_best_arch``); after the last epoch, of
   ``enas_final_samples`` (100, ``--controller_num_samples``). Not the controller's argmax: the release
   never takes one. Epoch 0 (before training) records the controller's greedy decoding.

The entropy recorded per epoch is that of the controller's distribution at every row along the derived
architecture (each row conditioned on the rows before it, as the controller generates them).

Departures: NB201's ENAS.py keeps the previous epoch's baseline fixed within an epoch (only the current
reward moves it) and lets the entropy term carry a gradient; here the baseline is the ENAS paper's moving
average over samples and the entropy a constant (the TF release). The weights follow the runner's SGD
(no Nesterov) with ENAS.config's rates on NB201 (lr 0.05 cosine to 0.0005, weight decay 2.5e-4, batch 128).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmarks.space import SearchSpace, Selection, one_hot_weights
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, QuotedResult, SearchMethod
from methods.loop import EpochMeter
from methods.options import positive
from methods.relaxations import Relaxation
from methods.rsws import Uniform
from nasbench_errors import ConfigError
from nasbench_settings import integer, number, numbers


@dataclass
class Sample:
    """One pass of the controller: the options per flat row, its log-probability and entropy (summed over
    steps), and each row's distribution at its first step (what entropy reports read)."""

    choices: list[tuple[int, ...]]
    log_prob: torch.Tensor
    entropy: torch.Tensor
    first_probs: list[torch.Tensor]


class Controller(nn.Module):
    """The ENAS LSTM over the space's decision rows; one embedding table and one output layer per group."""

    def __init__(self, space: SearchSpace, generator: torch.Generator, size: int = 32, layers: int = 2,
                 tanh_constant: float = 2.5, temperature: float = 5.0) -> None:
        super().__init__()
        self.rows = [(g, r) for g in space.groups for r in range(g.rows)]
        self.tanh_constant, self.temperature = tanh_constant, temperature
        self.input_vars = nn.Parameter(torch.empty(1, 1, size))
        self.lstm = nn.LSTM(input_size=size, hidden_size=size, num_layers=layers)
        self.embed = nn.ModuleDict({g.name: nn.Embedding(g.width, size) for g in space.groups})
        self.pred = nn.ModuleDict({g.name: nn.Linear(size, g.width) for g in space.groups})
        for g in space.groups:  # options a derived architecture may use (padding and ``not_derived`` excluded)
            self.register_buffer(f"allowed_{g.name}", g.derivable.clone(), persistent=False)
        # the release: U(-0.1, 0.1) for the input, the first LSTM layer's weights, the embeddings and the output
        # weights; torch's defaults, U(-1/sqrt(size), 1/sqrt(size)), for the rest (drawn from ``generator`` here)
        small = {"input_vars", "lstm.weight_ih_l0", "lstm.weight_hh_l0",
                 *(f"embed.{g.name}.weight" for g in space.groups), *(f"pred.{g.name}.weight" for g in space.groups)}
        with torch.no_grad():
            for name, p in self.named_parameters():
                bound = 0.1 if name in small else 1 / math.sqrt(size)
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)

    def step_logits(self, out: torch.Tensor, group: str, row: int, taken: Sequence[int]) -> torch.Tensor:
        """Logits over the options of ``group``'s ``row`` from the LSTM output; options the row lacks (padding,
        ``not_derived``) and ``taken`` ones get -inf."""
        logits = self.tanh_constant * torch.tanh(self.pred[group](out.view(-1)) / self.temperature)
        allowed = getattr(self, f"allowed_{group}")[row].clone()
        allowed[list(taken)] = False
        return logits.masked_fill(~allowed, float("-inf"))

    def forward(self, ks: Sequence[int], generator: torch.Generator | None = None,
                forced: Sequence[Sequence[int]] | None = None, greedy: bool = False) -> Sample:
        """Generate every row's ``ks[row]`` options: sampled from ``generator``, the ``forced`` ones (teacher
        forcing, in the given order), or the most likely ones (``greedy``)."""
        inputs, state = self.input_vars, None
        choices: list[tuple[int, ...]] = []
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        first: list[torch.Tensor] = []
        for i, ((g, r), k) in enumerate(zip(self.rows, ks, strict=True)):
            taken: list[int] = []
            for j in range(k):
                out, state = self.lstm(inputs, state)
                logits = self.step_logits(out, g.name, r, taken)
                logp = torch.log_softmax(logits, dim=-1)
                p = logp.exp()
                if j == 0:
                    first.append(p.detach())
                if forced is not None:
                    option = int(forced[i][j])
                elif greedy:
                    option = int(torch.argmax(p))
                else:
                    option = int(torch.multinomial(p.detach(), 1, generator=generator))
                log_prob = log_prob + logp[option]
                entropy = entropy - (p * logp.masked_fill(p == 0, 0.0)).sum()
                taken.append(option)
                inputs = self.embed[g.name](torch.tensor([[option]]))
            choices.append(tuple(sorted(taken)))
        return Sample(choices, log_prob, entropy, first)


class Enas(SearchMethod):
    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        for key in ("enas_train_steps", "enas_aggregate", "enas_epoch_samples", "enas_final_samples",
                    "enas_lstm_size", "enas_lstm_layers"):
            if int(config[key]) < 1:
                raise ConfigError(f"{key}={config[key]} must be >= 1; fix it with --set {key}=...")
        if not 0 <= float(config["enas_baseline_decay"]) < 1:
            raise ConfigError(f"enas_baseline_decay={config['enas_baseline_decay']} must be in [0, 1); "
                              "fix it with --set enas_baseline_decay=0.99")
        for key in ("enas_lr", "enas_temperature", "enas_tanh_constant", "enas_grad_clip"):
            positive(config, key)
        positive(config, "enas_entropy_weight", allow_zero=True)
        super().__init__(space, config, generator, device)
        self.device = torch.device(device)
        c = self.config
        self.controller = Controller(space, generator, int(c["enas_lstm_size"]), int(c["enas_lstm_layers"]),
                                     float(c["enas_tanh_constant"]), float(c["enas_temperature"]))
        self.arch_optimizer = torch.optim.Adam(self.controller.parameters(), lr=float(c["enas_lr"]),
                                               betas=tuple(c["enas_betas"]), eps=float(c["enas_eps"]))
        self.ks = [d.k for g in space.groups for d in g.decisions]
        self.baseline: float | None = None
        with torch.no_grad():
            self.best: Selection = self.selection(self.controller(self.ks, greedy=True).choices)
        self.best_accuracy = float("nan")
        self._rewards: list[float] = []

    def build_relaxation(self) -> Relaxation:
        return Uniform(self.space)  # no architecture parameters: the controller is the distribution

    def build_arch_optimizer(self) -> None:
        return None  # the controller's Adam is built once the controller exists

    # -- architectures --------------------------------------------------------------------------------
    def selection(self, choices: Sequence[tuple[int, ...]]) -> dict[str, tuple[tuple[int, ...], ...]]:
        out: dict[str, list[tuple[int, ...]]] = {g.name: [] for g in self.space.groups}
        for (g, _), options in zip(self.controller.rows, choices, strict=True):
            out[g.name].append(tuple(options))
        return {name: tuple(rows) for name, rows in out.items()}

    def one_hot(self, selection: Selection) -> dict[str, torch.Tensor]:
        return {g.name: one_hot_weights(g, selection[g.name]).to(self.device) for g in self.space.groups}

    def sample(self) -> Sample:
        return self.controller(self.ks, self.generator)

    @torch.no_grad()
    def accuracy(self, net: nn.Module, selection: Selection, batch: Batch) -> float:
        """Accuracy (fraction) of the shared weights on one batch with BN in inference mode."""
        net.eval()
        x, y = batch
        acc = float((net(x, self.one_hot(selection)).argmax(dim=1) == y).double().mean())
        net.train()
        return acc

    # -- the update rule ------------------------------------------------------------------------------
    def reinforce(self, sample: Sample, accuracy: float) -> float:
        """Add one sample's REINFORCE gradient, -(r - b) grad log p / aggregate, to the controller's; returns
        the reward. The baseline moves towards r first (it starts at the first sample's accuracy)."""
        reward = accuracy + float(self.config["enas_entropy_weight"]) * float(sample.entropy.detach())
        decay = float(self.config["enas_baseline_decay"])
        self.baseline = accuracy if self.baseline is None else self.baseline - (1 - decay) * (self.baseline - reward)
        loss = -(reward - self.baseline) * sample.log_prob / int(self.config["enas_aggregate"])
        loss.backward()
        return reward

    def controller_step(self) -> None:
        nn.utils.clip_grad_norm_(self.controller.parameters(), float(self.config["enas_grad_clip"]))
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)
        self.arch_steps_total += 1

    def train_controller(self, net: nn.Module, batches: Iterator[Batch]) -> None:
        aggregate = int(self.config["enas_aggregate"])
        self.arch_optimizer.zero_grad(set_to_none=True)
        for step in range(int(self.config["enas_train_steps"]) * aggregate):
            sample = self.sample()
            self._rewards.append(self.reinforce(sample, self.accuracy(net, self.selection(sample.choices),
                                                                      next(batches))))
            if (step + 1) % aggregate == 0:
                self.controller_step()

    @torch.no_grad()
    def best_of_samples(self, net: nn.Module, batches: Iterator[Batch], count: int) -> tuple[Selection, float]:
        """ENAS.py ``get_best_arch``: ``count`` samples, each on the next batch; the most accurate (the first
        on ties)."""
        scored = []
        for _ in range(count):
            selection = self.selection(self.sample().choices)
            scored.append((self.accuracy(net, selection, next(batches)), selection))
        best = max(range(count), key=lambda i: (scored[i][0], -i))
        return scored[best][1], scored[best][0]

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        ctx.net.train()
        meter = EpochMeter(ctx)
        for weight_batch in ctx.weight_batches:
            with torch.no_grad():
                path = self.selection(self.sample().choices)
            meter.weight_step(self.one_hot(path), weight_batch)
        stats = meter.stats()
        with meter.timed("arch"):
            batches = itertools.cycle(ctx.arch_batches)
            self._rewards = []
            self.train_controller(ctx.net, batches)
            samples = self.config["enas_final_samples" if ctx.epoch >= ctx.epochs else "enas_epoch_samples"]
            self.best, self.best_accuracy = self.best_of_samples(ctx.net, batches, int(samples))
        stats.seconds_arch = meter.seconds["arch"]
        stats.arch_steps = int(self.config["enas_train_steps"])
        stats.extra.update({"candidate_best_acc": 100.0 * self.best_accuracy,
                            "mean_reward": sum(self._rewards) / max(len(self._rewards), 1)})
        return stats

    # -- what the runner reads ------------------------------------------------------------------------
    def derive(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        return dict(self.best)

    def eval_weights(self) -> dict[str, torch.Tensor]:
        """The derived architecture (no continuous relaxation exists: the controller samples paths)."""
        return self.one_hot(self.best)

    @torch.no_grad()
    def probabilities(self) -> dict[str, torch.Tensor]:
        """The controller's distribution at every row, teacher-forced along the derived architecture."""
        forced = [self.best[g.name][r] for g, r in self.controller.rows]
        rows = self.controller(self.ks, forced=forced).first_probs
        out = {g.name: torch.zeros(g.rows, g.width) for g in self.space.groups}
        for (g, r), p in zip(self.controller.rows, rows, strict=True):
            out[g.name][r] = p
        return out

    def epoch_fields(self) -> dict[str, float]:
        return {**super().epoch_fields(),
                "baseline": float("nan") if self.baseline is None else self.baseline}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "controller": self.controller.state_dict(), "baseline": self.baseline,
                "best": dict(self.best), "best_accuracy": self.best_accuracy}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.controller.load_state_dict(state["controller"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.best = {k: tuple(tuple(r) for r in v) for k, v in dict(state["best"]).items()}
        self.best_accuracy = float(state["best_accuracy"])


#: NAS-Bench-201's ENAS row (test accuracy %, final architecture): Dong & Yang, ICLR 2020, Table 5, in the version
#: GAEA Table 2 quotes (RSPS 87.66 ± 1.69 there), as reprinted by TE-NAS (Chen, Gong, Wang, ICLR 2021), which
#: prints no std for it. An earlier version of the NB201 table gives 53.89 ± 0.58 / 13.96 ± 2.33 / 14.84 ± 2.10.
NB201_SOURCE = "Dong & Yang, ICLR 2020, Table 5 (as reprinted in TE-NAS, ICLR 2021)"
QUOTED = tuple(QuotedResult("nb201", ds, "test_acc", mean, None, NB201_SOURCE)
               for ds, mean in (("cifar10", 54.30), ("cifar100", 15.61), ("ImageNet16-120", 16.32)))

ENTRIES = (
    MethodEntry(
        name="enas",
        cls=Enas,
        families=("enas", "rl"),
        title="ENAS (LSTM controller + shared weights)",
        paper="Pham, Guan, Zoph, Le, Dean. Efficient Neural Architecture Search via Parameter Sharing. ICML 2018",
        relaxation="an LSTM controller's distribution over architectures; one sampled path per weight step",
        update_rule="w <- SGD on a controller sample per batch; theta_c <- Adam(-(r - b) grad log p(a)), r = "
                    "one-batch valid accuracy + 1e-4 entropy, b = EMA(r, 0.99), 50 steps x 20 samples per "
                    "epoch; architecture = best of 10 samples (100 after the last epoch)",
        default_setting="bilevel",
        defaults={"epochs": 310, "enas_lstm_size": 32, "enas_lstm_layers": 2, "enas_tanh_constant": 2.5,
                  "enas_temperature": 5.0, "enas_lr": 0.001, "enas_betas": (0.0, 0.999), "enas_eps": 0.001,
                  "enas_grad_clip": 5.0, "enas_train_steps": 50, "enas_aggregate": 20, "enas_entropy_weight": 1e-4,
                  "enas_baseline_decay": 0.99, "enas_epoch_samples": 10, "enas_final_samples": 100,
                  "exclude_none": False},
        settings=("bilevel",),
        per_benchmark={"nb201": {"lr": 0.05, "lr_min": 0.0005, "weight_decay": 2.5e-4, "batch_size": 128}},
        choices={
            "epochs": "310 (NB201 configs/nas-benchmark/algos/ENAS.config) | any",
            "baseline": "EMA over samples, constant entropy (ENAS paper / TF release) | NB201 ENAS.py: the "
                        "previous epoch's baseline within an epoch, entropy with a gradient (not an option)",
            "derivation": "best of 10 samples per epoch, 100 after the last (ENAS.py get_best_arch) | the "
                          "controller's argmax (not an option: the release never uses it)",
            "weight optimizer": "ENAS.config rates on NB201; Nesterov and the release's warm-restart scheduler "
                                "are not options of the runner's SGD",
        },
        order=35,
        types={
            "enas_lstm_size": integer(ge=1, help="hidden units of the controller's LSTM"),
            "enas_lstm_layers": integer(ge=1, help="layers of the controller's LSTM"),
            "enas_tanh_constant": number(gt=0, help="c of the controller's logits c tanh(W h / temperature)"),
            "enas_temperature": number(gt=0, help="temperature of the controller's logits"),
            "enas_lr": number(gt=0, help="Adam step size of the controller"),
            "enas_betas": numbers(2, ge=0, lt=1, help="Adam betas of the controller"),
            "enas_eps": number(gt=0, help="Adam epsilon of the controller"),
            "enas_grad_clip": number(gt=0, help="gradient-norm clip of each controller step"),
            "enas_train_steps": integer(ge=1, help="controller steps per epoch"),
            "enas_aggregate": integer(ge=1, help="samples whose REINFORCE losses one controller step accumulates"),
            "enas_entropy_weight": number(ge=0, help="weight of the sample's entropy in the reward"),
            "enas_baseline_decay": number(ge=0, lt=1, help="decay of the reward's moving-average baseline"),
            "enas_epoch_samples": integer(ge=1, help="controller samples the epoch's architecture is the best of"),
            "enas_final_samples": integer(ge=1, help="controller samples the last epoch's architecture is the best "
                                                     "of"),
        },
        quoted=QUOTED,
    ),
)

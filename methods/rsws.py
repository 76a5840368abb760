"""RS-WS / RSPS: random search with weight sharing (Li & Talwalkar 2019; spec 1.1 and 6.1 row 10).

The weights follow SGD on single paths drawn uniformly, one architecture per minibatch, from the
method's own generator (checkpointed, so a resumed run draws the same paths). Nothing about the
architecture is learned: the distribution stays uniform (entropy ln |O| per decision, by design).
After every epoch ``rsws_candidates`` distinct architectures drawn uniformly are scored with the shared
weights on ``rsws_eval_batches`` batches each of the arch stream (the search-valid half in the bilevel
setting; each candidate gets the next batches, cycling over the epoch's pass, joined into one forward,
BN in inference mode), and the most accurate one (the first on ties) is the epoch's architecture.

Defaults follow the NAS-Bench-201 reference code, AutoDL-Projects exps/NATS-algos/search-cell.py
(``--algo random``): 100 candidates (``eval_candidate_num``), each on one valid batch of 512 images
(``test_batch_size`` in weight-sharing.config), i.e. 8 batches of the harness's 64, every epoch. The
RSPS release (liamcli/randomNAS_release ``get_eval_arch``) scores 1000 candidates on 10 batches of 64
once after training, then re-scores the best 10 on the whole validation split; that last stage is not
implemented. The NB201 paper's RSPS row ran 250 epochs (configs/nas-benchmark/algos/RANDOM.config).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from benchmarks.space import SearchSpace, Selection, one_hot_weights
from methods.base import Batch, EpochContext, EpochStats, MethodEntry, SearchMethod
from methods.loop import alternating_epoch
from methods.relaxations import Relaxation
from nasbench_errors import ConfigError
from nasbench_settings import integer


class Uniform(Relaxation):
    """No parameters: every row is the uniform distribution over its real options."""

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        out = {}
        for g in self.space.groups:
            m = self.mask(g.name).to(torch.float32)
            out[g.name] = m / m.sum(dim=-1, keepdim=True)
        return out


def space_size(space: SearchSpace) -> int:
    """Number of valid selections: the product over decisions of C(#options, k)."""
    return math.prod(math.comb(len(d.options), d.k) for g in space.groups for d in g.decisions)


def _key(selection: Selection) -> tuple:
    return tuple(sorted(selection.items()))


class RandomSearchWS(SearchMethod):
    """Uniform single-path weight training; the epoch's architecture is the best sampled candidate."""

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        for key in ("rsws_candidates", "rsws_eval_batches"):
            if int(config[key]) < 1:
                raise ConfigError(f"{key}={config[key]} must be >= 1; fix it with --set {key}=...")
        super().__init__(space, config, generator, device)
        self.device = torch.device(device)
        # the architecture of epoch 0: one uniform draw (the reference code starts from a random genotype)
        self.best: Selection = space.uniform_selection_sample(generator)
        self.best_accuracy = float("nan")

    def build_relaxation(self) -> Relaxation:
        return Uniform(self.space)

    def build_arch_optimizer(self) -> None:
        return None

    def updates_architecture(self, epoch: int) -> bool:
        return False

    def one_hot(self, selection: Selection) -> dict[str, torch.Tensor]:
        return {g.name: one_hot_weights(g, selection[g.name]).to(self.device) for g in self.space.groups}

    def training_weights(self) -> dict[str, torch.Tensor]:
        """A fresh uniformly drawn single path for every weight step."""
        return self.one_hot(self.space.uniform_selection_sample(self.generator))

    def eval_weights(self) -> dict[str, torch.Tensor]:
        """The current architecture: a uniform mixture was never trained, so it is not a meaningful metric."""
        return self.one_hot(self.best)

    def candidates(self) -> list[Selection]:
        """``rsws_candidates`` distinct uniform draws (all architectures when the space is smaller)."""
        wanted = min(int(self.config["rsws_candidates"]), space_size(self.space))
        seen: dict[tuple, Selection] = {}
        while len(seen) < wanted:
            selection = self.space.uniform_selection_sample(self.generator)
            seen.setdefault(_key(selection), selection)
        return list(seen.values())

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        # the weight steps leave the arch stream untouched: it is what the candidates are scored on
        stats = alternating_epoch(self, replace(ctx, arch_batches=itertools.repeat(None)))
        t0 = time.perf_counter()
        candidates = self.candidates()
        accuracy, index = self.score(ctx.net, candidates, itertools.cycle(ctx.arch_batches))
        self.best, self.best_accuracy = candidates[index], accuracy
        stats.seconds_arch = time.perf_counter() - t0
        stats.extra.update({"candidates": float(len(candidates)), "candidate_best_acc": accuracy})
        return stats

    @torch.no_grad()
    def score(self, net: nn.Module, candidates: list[Selection], batches: Iterator[Batch]) -> tuple[float, int]:
        """(accuracy %, index) of the most accurate candidate, the first on ties. Each candidate runs once
        on its next ``rsws_eval_batches`` batches joined into one (the reference's single 512-image
        batch), BN in inference mode; accuracies stay on the device until the end."""
        net.eval()
        per_candidate = int(self.config["rsws_eval_batches"])
        accuracies = []
        for selection in candidates:
            x, y = (torch.cat(t) for t in zip(*itertools.islice(batches, per_candidate), strict=True))
            accuracies.append((net(x, self.one_hot(selection)).argmax(dim=1) == y).double().mean())
        net.train()
        acc = torch.stack(accuracies)
        index = int(torch.nonzero(acc == acc.max())[0, 0])
        return 100.0 * float(acc[index]), index

    def derive(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        return dict(self.best)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best": dict(self.best), "best_accuracy": self.best_accuracy}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = dict(state["best"])
        self.best_accuracy = float(state["best_accuracy"])


ENTRIES = (
    MethodEntry(
        name="rs-ws",
        cls=RandomSearchWS,
        families=("rs-ws", "random"),
        title="RS-WS / RSPS (random search with weight sharing)",
        paper="Li, Talwalkar. Random Search and Reproducibility for Neural Architecture Search. UAI 2019",
        relaxation="fixed uniform distribution over architectures (nothing learned)",
        update_rule="a ~ Unif(A) per minibatch, w <- SGD(grad_w L_train(w, a)); per epoch the best of "
                    "100 uniform candidates by shared-weight accuracy on 512 search-valid images",
        default_setting="bilevel",
        defaults={"rsws_candidates": 100, "rsws_eval_batches": 8, "epochs": 250, "exclude_none": False},
        choices={
            "rsws_candidates": "100 (NB201 reference: NATS-algos/search-cell.py eval_candidate_num) | 1000 "
                               "(RSPS release get_eval_arch)",
            "rsws_eval_batches": "8 x 64 = one 512-image batch (NB201 reference test_batch_size) | 10 (RSPS "
                                 "release: 10 minibatches of 64)",
            "epochs": "250 (NB201 RSPS, configs/nas-benchmark/algos/RANDOM.config) | 100 (NATS weight-sharing.config)",
            "selection stage": "per epoch, one scoring stage (NB201 reference) | RSPS's re-scoring of the top 10 "
                               "on the full validation split is not implemented",
        },
        order=5,
        types={"rsws_candidates": integer(ge=1, help="uniform candidates scored at the end of each epoch"),
               "rsws_eval_batches": integer(ge=1, help="search-valid minibatches each candidate is scored on")},
    ),
)

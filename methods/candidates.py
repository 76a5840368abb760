"""Methods whose epoch ends by choosing among candidate architectures with the shared weights (RS-WS, SETN).

After the epoch's weight (and architecture) steps, ``candidates()`` proposes distinct architectures; each
is scored with the shared weights on its next batches of the arch stream (``rsws_eval_batches`` of them,
SETN's ``setn_eval_batches``; the search-valid half in the bilevel setting), cycling over the epoch's pass:
the batches the architecture steps drew this epoch, then the rest of the pass. A candidate's batches are
joined into one forward with BN in inference mode; the most accurate candidate (the first on ties) is the
epoch's architecture: ``derive()`` returns it and ``eval_weights`` runs it. The choice and its accuracy are
checkpointed.

``top_k_selections`` lists the k most probable architectures under a product of per-decision distributions
(SETN's evaluator), without enumerating the space. Where an input decision's options are edges of an op group
(``DecisionGroup.op_group``: a DARTS cell's node keeps 2 of its incoming edges, which have no weights of their
own), a choice of the node is its kept inputs together with the op on each, scored by the op log-probabilities
of those edges: the ops of edges the cell leaves out do not change the architecture, so each candidate is a
distinct cell (those edges keep their most probable op), and the most probable one is ``derive_selection``'s.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from benchmarks.space import DecisionGroup, SearchSpace, Selection, one_hot_weights, topk_selection
from methods.base import Batch, EpochContext, EpochStats, SearchMethod
from methods.loop import alternating_epoch
from nasbench_errors import ConfigError


def space_size(space: SearchSpace) -> int:
    """Number of valid selections: the product over decisions of C(#options, k)."""
    return math.prod(math.comb(len(d.options), d.k) for g in space.groups for d in g.decisions)


def selection_key(selection: Selection) -> tuple:
    return tuple(sorted(selection.items()))


#: one decision's choices, best first: (log-probability, the (group, row, kept options) it sets)
Choices = list[tuple[float, tuple[tuple[str, int, tuple[int, ...]], ...]]]


def _decision_choices(space: SearchSpace, g: DecisionGroup, r: int, logp: Mapping[str, list[list[float]]]) -> Choices:
    """Decision ``r`` of ``g``: each set of k derivable options with the sum of their log-probabilities; for an input
    decision over an op group's edges, each set of k inputs and a derivable op on each kept edge, with the sum of
    the ops' log-probabilities (plus the inputs' own where the relaxation weighs them). Lexicographic order first,
    then a stable sort, so ties keep the lower indices first."""
    allowed = [int(i) for i in g.derivable[r].nonzero().flatten()]
    own = logp.get(g.name)
    sets: Choices = []
    for combo in itertools.combinations(allowed, g.decisions[r].k):
        base = [own[r][o] for o in combo] if own is not None else []
        if g.op_group is None:
            sets.append((float(sum(base)), ((g.name, r, combo),)))
            continue
        op = space.group(g.op_group)
        rows = [g.option_rows[r][c] for c in combo]
        for ops in itertools.product(*([int(o) for o in op.derivable[row].nonzero().flatten()] for row in rows)):
            kept = tuple(zip(rows, ops, strict=True))
            score = float(sum(base + [logp[op.name][row][o] for row, o in kept]))
            sets.append((score, ((g.name, r, combo), *((op.name, row, (o,)) for row, o in kept))))
    return sorted(sets, key=lambda s: -s[0])


def top_k_selections(space: SearchSpace, probs: Mapping[str, torch.Tensor], k: int) -> list[Selection]:
    """The ``k`` selections of highest log-probability, sum over decisions of the log-probabilities of the kept
    options (for a decision keeping several options, the sum over them; an input decision over an op group's
    edges counts the ops of its kept edges, see the module), most probable first; ties keep the order of a
    lexicographic walk. Padding and ``not_derived`` options are never kept. ``probs`` holds the groups a
    relaxation parameterizes.

    A best-first walk over the sorted per-decision choices (each state expands only at or after the coordinate
    that created it, so each combination is reached once): O(k x decisions) heap operations, however large
    the space (the DARTS space has ~1e18 architectures).
    """
    logp = {name: p.detach().to("cpu", torch.float64).log().tolist() for name, p in probs.items()}
    # op rows an input decision chooses among are set by its choices; those it leaves out keep their best op
    covered = {(g.op_group, row) for g in space.groups if g.op_group is not None for rows in g.option_rows
               for row in rows}
    chosen_by_inputs = {name for name, _ in covered}
    base = {g.name: list(topk_selection(g, probs[g.name])) if g.name in chosen_by_inputs else [()] * g.rows
            for g in space.groups}
    choices = [_decision_choices(space, g, r, logp) for g in space.groups for r in range(g.rows)
               if (g.name, r) not in covered]

    def score(state: tuple[int, ...]) -> float:
        return sum(choices[i][j][0] for i, j in enumerate(state))

    start = (0,) * len(choices)
    heap = [(-score(start), start, 0)]
    out: list[Selection] = []
    while heap and len(out) < k:
        _, state, first = heapq.heappop(heap)
        rows = {name: list(chosen) for name, chosen in base.items()}
        for choice, j in zip(choices, state, strict=True):
            for name, r, kept in choice[j][1]:
                rows[name][r] = kept
        out.append({name: tuple(chosen) for name, chosen in rows.items()})
        for i in range(first, len(choices)):
            if state[i] + 1 < len(choices[i]):
                nxt = (*state[:i], state[i] + 1, *state[i + 1:])
                heapq.heappush(heap, (-score(nxt), nxt, i))
    return out


def _recording(batches: Iterable[Batch], seen: list[Batch]) -> Iterator[Batch]:
    for batch in batches:
        seen.append(batch)
        yield batch


class CandidateSearch(SearchMethod):
    """An epoch of weight (and architecture) steps, then the best of ``candidates()`` by shared-weight accuracy."""

    #: config keys of the number of candidates and of the batches each is scored on
    count_keys: tuple[str, str] = ("rsws_candidates", "rsws_eval_batches")

    def __init__(self, space: SearchSpace, config: Mapping[str, Any], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> None:
        for key in self.count_keys:
            if int(config[key]) < 1:
                raise ConfigError(f"{key}={config[key]} must be >= 1; fix it with --set {key}=...")
        super().__init__(space, config, generator, device)
        self.device = torch.device(device)
        self.best: Selection = self.initial_architecture()
        self.best_accuracy = float("nan")

    def initial_architecture(self) -> Selection:
        """The architecture of epoch 0, before any candidate was scored."""
        raise NotImplementedError

    def candidates(self) -> list[Selection]:
        """Distinct architectures to score at the end of an epoch."""
        raise NotImplementedError

    def one_hot(self, selection: Selection) -> dict[str, torch.Tensor]:
        return {g.name: one_hot_weights(g, selection[g.name]).to(self.device) for g in self.space.groups}

    def eval_weights(self) -> dict[str, torch.Tensor]:
        """The current architecture: the single path whose weights were trained (a mixture never was)."""
        return self.one_hot(self.best)

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.begin_epoch(ctx.epoch)
        arch_batches, seen = iter(ctx.arch_batches), []
        # without architecture steps the arch stream stays untouched for the candidates
        loop_batches = _recording(arch_batches, seen) if self.arch_optimizer is not None else itertools.repeat(None)
        stats = alternating_epoch(self, replace(ctx, arch_batches=loop_batches))
        t0 = time.perf_counter()
        candidates = self.candidates()
        accuracy, index = self.score(ctx.net, candidates, itertools.cycle(itertools.chain(seen, arch_batches)))
        self.best, self.best_accuracy = candidates[index], accuracy
        stats.seconds_arch += time.perf_counter() - t0
        stats.extra.update({"candidates": float(len(candidates)), "candidate_best_acc": accuracy})
        return stats

    @torch.no_grad()
    def score(self, net: nn.Module, candidates: list[Selection], batches: Iterator[Batch]) -> tuple[float, int]:
        """(accuracy %, index) of the most accurate candidate, the first on ties. Each candidate runs once
        on its next ``count_keys[1]`` batches joined into one (the reference's single 512-image
        batch), BN in inference mode; accuracies stay on the device until the end."""
        net.eval()
        per_candidate = int(self.config[self.count_keys[1]])
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

    def tied_decisions(self) -> int:
        """None: the architecture is an explicit choice (at epoch 0 the method's documented start), not a ranking."""
        return 0

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best": dict(self.best), "best_accuracy": self.best_accuracy}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.best = dict(state["best"])
        self.best_accuracy = float(state["best_accuracy"])

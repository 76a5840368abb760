"""Parameterizations of the architecture: one tensor per decision group of the space.

- ``SoftmaxLogits``: DARTS-family logits alpha; mixing weights = softmax(alpha) per decision row.
- ``Simplex``: GAEA's theta, directly the mixing weights, each row on the probability simplex.

A relaxation turns its parameters into the supernet's mixing weights (differentiable), into one
probability row per decision (for entropy), and into a discrete selection (``derive_selection``: top-k
per decision, a DARTS cell's inputs ranked by their strongest op). Padded columns (decisions of a group
with fewer options) get weight 0 and are never selected.

Input groups whose options are edges of an op group (``DecisionGroup.op_group``: the DARTS cell's) get
no parameters unless the method learns edge weights (``edge_normalization``): the supernet then sums a
node's inputs unweighted and derivation ranks them by their op rows, as DARTS does. ``groups`` lists the
space groups a relaxation parameterizes; its weights, probabilities and logits cover those alone.

Edge normalization (PC-DARTS; GAEA PC-DARTS) is an option of both parameterizations: every group with
a node partition (``DecisionGroup.nodes``, NB201) gets a companion group ``<name>_edges`` with one row per
node over the rows feeding it, parameterized like the ops (softmax logits, or a simplex). The mixing
weights fold it in: weight of option o on row r = edge weight of r at its node x op weight [r, o].
Probabilities, entropy and derivation read the op distributions alone. Where the space has input groups
derived from op rows (the DARTS cell), edge normalization parameterizes those groups instead: they are
the per-node edge weights, the supernet scales each edge by them, and derivation ranks a node's inputs by
edge weight x op weight (PC-DARTS's genotype()).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.space import Decision, DecisionGroup, SearchSpace, derive_selection, tied_decisions

EDGES_SUFFIX = "_edges"


def edge_group(group: DecisionGroup) -> DecisionGroup:
    """The input-edge decision of every node of ``group``: node i weighs the rows in ``group.nodes[i]``."""
    if not group.nodes:
        raise ValueError(f"group {group.name!r} has no node partition to normalize edges over")
    return DecisionGroup(
        group.name + EDGES_SUFFIX,
        tuple(Decision(f"{group.name} node {i} inputs", tuple(f"row {r}" for r in rows))
              for i, rows in enumerate(group.nodes)),
        role="edges",
    )


class Relaxation(nn.Module):
    """Architecture parameters per decision group of ``space`` (plus edge groups with ``edge_normalization``)."""

    def __init__(self, space: SearchSpace, edge_normalization: bool = False) -> None:
        super().__init__()
        self.space = space
        self.params = nn.ParameterDict()
        #: the space groups parameterized here: input groups derived from op rows only with edge normalization
        self.groups = tuple(g for g in space.groups if g.op_group is None or edge_normalization)
        self.edge_groups = tuple(edge_group(g) for g in self.groups if g.nodes) if edge_normalization else ()
        for g in self.param_groups:
            self.register_buffer(f"mask_{g.name}", g.mask.clone(), persistent=False)
        for g in self.groups:
            if edge_normalization and g.nodes:
                # (node, slot) of every row: where its edge weight sits in the [nodes, inputs] edge tensor
                where = {r: (i, j) for i, rows in enumerate(g.nodes) for j, r in enumerate(rows)}
                self.register_buffer(f"edge_index_{g.name}", torch.tensor([where[r] for r in range(g.rows)]),
                                     persistent=False)

    @property
    def param_groups(self) -> tuple[DecisionGroup, ...]:
        """The groups that hold parameters: the space's (``groups``), then the edge groups."""
        return (*self.groups, *self.edge_groups)

    @property
    def edge_weight_names(self) -> set[str]:
        """Parameter groups that are per-node edge weights: the edge groups, and the input groups derived from op
        rows that edge normalization parameterizes (the DARTS cell's)."""
        return {g.name for g in self.edge_groups} | {g.name for g in self.groups if g.op_group is not None}

    def mask(self, group: str) -> torch.Tensor:
        return getattr(self, f"mask_{group}")

    def distributions(self) -> dict[str, torch.Tensor]:
        """Differentiable probability rows per parameter group, before edge folding.

        Without edge groups these are the mixing weights, so a subclass defines either this or
        ``mixing_weights``.
        """
        return self.mixing_weights()

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        """Differentiable [rows, width] weights per parameterized space group for the supernet forward."""
        raise NotImplementedError

    def fold_edges(self, dists: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Space-group rows scaled by their node-normalized edge weight (identity without edge groups)."""
        out = {g.name: dists[g.name] for g in self.groups}
        for e in self.edge_groups:
            name = e.name.removesuffix(EDGES_SUFFIX)
            index = getattr(self, f"edge_index_{name}")
            out[name] = out[name] * dists[e.name][index[:, 0], index[:, 1]].unsqueeze(-1)
        return out

    def logits(self) -> dict[str, torch.Tensor]:
        """Differentiable log-probabilities (up to a per-row constant) of each space group's rows, -inf on
        padding: what a Gumbel sampler perturbs."""
        raise NotImplementedError

    def probabilities(self) -> dict[str, torch.Tensor]:
        """Detached probability rows per parameterized space group (what entropy and derivation read)."""
        with torch.no_grad():
            dists = self.distributions()
            return {g.name: dists[g.name].detach() for g in self.groups}

    def edge_probabilities(self) -> dict[str, torch.Tensor]:
        """Detached [nodes, inputs] edge-weight rows per edge group (empty without edge normalization)."""
        with torch.no_grad():
            dists = self.distributions() if self.edge_groups else {}
            return {g.name: dists[g.name].detach() for g in self.edge_groups}

    def derivation_scores(self) -> dict[str, torch.Tensor]:
        """Per parameterized space group, the scores derivation ranks options by: the probabilities."""
        return self.probabilities()

    def derive(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        """The discrete architecture: top-k options per decision by score, a DARTS cell's inputs by their
        strongest op (x their edge weight where learned)."""
        return derive_selection(self.space, self.derivation_scores())

    def tied_decisions(self) -> int:
        """Decisions whose top-k is not strict (``benchmarks.space.tied_decisions``) over the scored groups (an
        input group ranked by its op rows ties exactly when they do)."""
        scores = self.derivation_scores()
        return sum(tied_decisions(g, scores[g.name]) for g in self.space.groups if g.name in scores)


class SoftmaxLogits(Relaxation):
    """DARTS: logits initialized at 1e-3 * N(0, 1), softmax over the real options of each row.

    With ``edge_normalization`` the edge logits (PC-DARTS's beta) get the same initialization.
    """

    def __init__(self, space: SearchSpace, generator: torch.Generator, init_scale: float = 1e-3,
                 edge_normalization: bool = False) -> None:
        super().__init__(space, edge_normalization)
        for g in self.param_groups:
            alpha = init_scale * torch.randn(g.rows, g.width, generator=generator)
            self.params[g.name] = nn.Parameter(alpha)

    def _masked(self, name: str) -> torch.Tensor:
        return self.params[name].masked_fill(~self.mask(name), float("-inf"))

    def distributions(self) -> dict[str, torch.Tensor]:
        return {name: torch.softmax(self._masked(name), dim=-1) for name in self.params}

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        return self.fold_edges(self.distributions())

    def logits(self) -> dict[str, torch.Tensor]:
        return {g.name: self._masked(g.name) for g in self.groups}


class Simplex(Relaxation):
    """GAEA: theta on each row's simplex, uniform at init (spec 1.4), updated by exponentiated gradient.

    With ``edge_normalization`` each node's edge weights are a simplex too, uniform over its inputs
    (spec 1.4, GAEA PC-DARTS edges).
    """

    def __init__(self, space: SearchSpace, edge_normalization: bool = False) -> None:
        super().__init__(space, edge_normalization)
        for g in self.param_groups:
            m = g.mask.to(torch.float32)
            self.params[g.name] = nn.Parameter(m / m.sum(dim=-1, keepdim=True))

    def distributions(self) -> dict[str, torch.Tensor]:
        return dict(self.params.items())

    def mixing_weights(self) -> dict[str, torch.Tensor]:
        return self.fold_edges(self.distributions())

    def logits(self) -> dict[str, torch.Tensor]:
        # the clamp keeps d log / d theta finite on padding, whose gradient is then masked to 0
        tiny = torch.finfo(torch.float32).tiny
        return {g.name: self.params[g.name].clamp_min(tiny).log().masked_fill(~self.mask(g.name), float("-inf"))
                for g in self.groups}

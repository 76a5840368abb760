"""The decisions contract shared by every search space and every method.

A search space is a list of categorical decisions grouped by role. Methods hold one parameter
tensor per group (rows = decisions, columns = options, padded where decisions of a group have
different option counts), derive the top-k options per decision and report one probability row per
decision. Nothing in ``methods/`` needs to know which benchmark a space belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

#: A derived (discrete) architecture as the contract sees it: per group, per decision, the indices of
#: the k kept options (sorted ascending).
Selection = Mapping[str, tuple[tuple[int, ...], ...]]


@dataclass(frozen=True)
class Decision:
    """One categorical choice: pick ``k`` of ``options``."""

    name: str
    options: tuple[str, ...]
    k: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.k <= len(self.options):
            raise ValueError(f"decision {self.name!r}: k={self.k} outside 1..{len(self.options)}")


@dataclass(frozen=True)
class DecisionGroup:
    """Decisions sharing a role; a method parameterizes a group as one padded [rows, width] tensor.

    ``role`` is ``"ops"`` (which operation) or ``"edges"`` (which inputs); entropies are reported per
    role, as GAEA's Figure 1 uses op weights only.
    """

    name: str
    decisions: tuple[Decision, ...]
    role: str = "ops"
    #: rows partitioned by the node they feed, e.g. NB201 ((0,), (1, 2), (3, 4, 5)): what edge
    #: normalization (PC-DARTS) normalizes over; empty when rows do not feed nodes
    nodes: tuple[tuple[int, ...], ...] = ()
    #: column of the identity (skip-connection) option in every row, None when the group has none: the
    #: option PR-DARTS's group-sparsity regularizer penalizes separately
    skip_option: int | None = None
    #: rows forming the deepest chain input -> node 1 -> ... -> output, one edge per consecutive node
    #: pair (NB201 (0, 2, 5)): what PR-DARTS's path-depth regularizer multiplies over; empty when none
    path_rows: tuple[int, ...] = ()
    #: column the supernet mixes but a derived architecture never uses, None when every option can be
    #: derived: DARTS's ``none`` (its genotype() skips it; the NAS-Bench-301 cells have no zero op)
    not_derived: int | None = None
    #: source node of every row (0 = the cell input, i >= 1 = the node fed by ``nodes[i - 1]``); with ``nodes``
    #: the rows are the edges of a cell DAG whose output is the last node, which is what path encodings and
    #: graph predictors read (NB201 (0, 0, 1, 0, 1, 2)); empty when the rows are not such edges
    sources: tuple[int, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.decisions)

    @property
    def width(self) -> int:
        return max(len(d.options) for d in self.decisions)

    @cached_property
    def mask(self) -> torch.Tensor:
        """Bool [rows, width]: True where a column is a real option of that row."""
        m = torch.zeros(self.rows, self.width, dtype=torch.bool)
        for r, d in enumerate(self.decisions):
            m[r, : len(d.options)] = True
        return m

    @cached_property
    def derivable(self) -> torch.Tensor:
        """Bool [rows, width]: ``mask`` without the ``not_derived`` column."""
        m = self.mask.clone()
        if self.not_derived is not None:
            m[:, self.not_derived] = False
        return m

    @property
    def ks(self) -> tuple[int, ...]:
        return tuple(d.k for d in self.decisions)


class SearchSpace:
    """Base of the benchmark spaces: the decision groups plus generic helpers over them."""

    name: str = "space"
    groups: tuple[DecisionGroup, ...] = ()

    def group(self, name: str) -> DecisionGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"space {self.name!r} has no decision group {name!r}")

    def option_costs(self, group: str) -> torch.Tensor:
        """[rows, width] cost of each option (parameter count; 0 where free or padded).

        Read by cost-aware methods (NASP's parameter-count regularizer); spaces without costs give zeros.
        """
        g = self.group(group)
        return torch.zeros(g.rows, g.width)

    def uniform_selection_sample(self, generator: torch.Generator) -> dict[str, tuple[tuple[int, ...], ...]]:
        """A uniformly random valid selection (k distinct derivable options per decision)."""
        out: dict[str, tuple[tuple[int, ...], ...]] = {}
        for g in self.groups:
            rows = []
            for r, d in enumerate(g.decisions):
                allowed = g.derivable[r].nonzero().flatten()
                perm = allowed[torch.randperm(len(allowed), generator=generator)[: d.k]]
                rows.append(tuple(sorted(int(i) for i in perm)))
            out[g.name] = tuple(rows)
        return out

    def validate_selection(self, selection: Selection) -> None:
        """Raise ValueError naming the first decision whose selection is outside the space."""
        for g in self.groups:
            if g.name not in selection:
                raise ValueError(f"selection lacks decision group {g.name!r}")
            rows = selection[g.name]
            if len(rows) != g.rows:
                raise ValueError(f"group {g.name!r}: {len(rows)} rows, space has {g.rows}")
            for d, chosen in zip(g.decisions, rows, strict=True):
                if len(chosen) != d.k or len(set(chosen)) != d.k:
                    raise ValueError(f"decision {d.name!r}: needs {d.k} distinct options, got {chosen}")
                if any(not 0 <= c < len(d.options) for c in chosen):
                    raise ValueError(f"decision {d.name!r}: option index outside 0..{len(d.options) - 1}")


def topk_selection(group: DecisionGroup, scores: torch.Tensor) -> tuple[tuple[int, ...], ...]:
    """Top-k options per decision by score (ties to the lower index); padding and ``not_derived`` never chosen."""
    if scores.shape != (group.rows, group.width):
        raise ValueError(f"scores for group {group.name!r} have shape {tuple(scores.shape)}")
    masked = scores.detach().to("cpu", torch.float64).masked_fill(~group.derivable, float("-inf"))
    rows = []
    for r, d in enumerate(group.decisions):
        # stable sort on the negated scores keeps the lower index first among equal scores
        order = torch.sort(-masked[r], stable=True).indices[: d.k]
        rows.append(tuple(sorted(int(i) for i in order)))
    return tuple(rows)


def one_hot_weights(group: DecisionGroup, chosen: Sequence[Sequence[int]]) -> torch.Tensor:
    """[rows, width] weights with 1 on the chosen options: the single-path forward of a selection."""
    w = torch.zeros(group.rows, group.width)
    for r, cols in enumerate(chosen):
        w[r, list(cols)] = 1.0
    return w

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
    #: for an input decision whose options are edges of an op group (the DARTS cell: node n chooses 2 of its
    #: n incoming edges, each carrying a mixed op): that op group's name, and per decision the op-group row of
    #: each option. Such a group is not weighted in search unless a method learns edge weights (PC-DARTS's
    #: edge normalization): the supernet sums a node's inputs unweighted, and the kept inputs are derived from
    #: the op rows (``derive_selection``). Empty for input decisions with their own weights (1Shot1).
    op_group: str | None = None
    option_rows: tuple[tuple[int, ...], ...] = ()
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

    def uniform_sample(self, generator: torch.Generator) -> tuple[tuple[int, ...], ...]:
        """k distinct derivable options per decision, uniformly at random (one ``randperm`` per row)."""
        rows = []
        for r, d in enumerate(self.decisions):
            allowed = self.derivable[r].nonzero().flatten()
            perm = allowed[torch.randperm(len(allowed), generator=generator)[: d.k]]
            rows.append(tuple(sorted(int(i) for i in perm)))
        return tuple(rows)


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
        return {g.name: g.uniform_sample(generator) for g in self.groups}

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


def tied_decisions(group: DecisionGroup, scores: torch.Tensor) -> int:
    """How many decisions of ``group`` have no strict top-k: the k-th and (k+1)-th best derivable scores are
    equal, so ``topk_selection`` would choose by index order (a uniform architecture ties on every row)."""
    masked = scores.detach().to("cpu", torch.float64).masked_fill(~group.derivable, float("-inf"))
    tied = 0
    for r, d in enumerate(group.decisions):
        ranked = torch.sort(masked[r], descending=True).values
        if d.k < ranked.numel() and torch.isfinite(ranked[d.k]) and ranked[d.k - 1] == ranked[d.k]:
            tied += 1
    return tied


def input_scores(group: DecisionGroup, op_group: DecisionGroup, op_scores: torch.Tensor,
                 edge_scores: torch.Tensor | None = None) -> torch.Tensor:
    """[rows, width] float64 score of each option of an input group (``group.op_group`` = ``op_group``): the
    strongest derivable op score on the option's op row, as DARTS's genotype() ranks a node's incoming edges
    (``none`` never counts), times the option's own edge score where a method learns one (PC-DARTS's beta x op
    weight; op scores are then non-negative weights). Padding scores -inf."""
    ops = op_scores.detach().to("cpu", torch.float64).masked_fill(~op_group.derivable, float("-inf"))
    strongest = ops.amax(dim=-1)
    out = torch.full((group.rows, group.width), float("-inf"), dtype=torch.float64)
    for r, rows in enumerate(group.option_rows):
        out[r, : len(rows)] = strongest[list(rows)]
    if edge_scores is not None:
        out = torch.where(group.mask, out * edge_scores.detach().to("cpu", torch.float64), out)
    return out


def derive_selection(space: SearchSpace, scores: Mapping[str, torch.Tensor]) -> dict[str, tuple[tuple[int, ...], ...]]:
    """The discrete architecture of per-option scores: the top-k options of every decision (``topk_selection``),
    except that an input group derived from op rows (``DecisionGroup.op_group``) keeps the k inputs with the
    strongest derivable op (``input_scores``), weighted by the group's own scores when ``scores`` has them (a
    method that learns edge weights). ``scores`` holds one [rows, width] tensor per group a method scores."""
    out: dict[str, tuple[tuple[int, ...], ...]] = {}
    for g in space.groups:
        if g.op_group is None:
            out[g.name] = topk_selection(g, scores[g.name])
        else:
            op = space.group(g.op_group)
            out[g.name] = topk_selection(g, input_scores(g, op, scores[op.name], scores.get(g.name)))
    return out


def used_rows(space: SearchSpace, selection: Selection) -> dict[str, torch.Tensor]:
    """Bool [rows] per op group: the rows a selection keeps. Every row, except where an input group derived from
    the group's rows keeps only some of them (the DARTS cell keeps 8 of its 14 edges)."""
    out = {g.name: torch.ones(g.rows, dtype=torch.bool) for g in space.groups}
    for g in space.groups:
        if g.op_group is not None:
            kept = out[g.op_group]
            kept[[r for rows in g.option_rows for r in rows]] = False
            kept[[rows[c] for rows, chosen in zip(g.option_rows, selection[g.name], strict=True) for c in chosen]] = 1
    return out


def one_hot_weights(group: DecisionGroup, chosen: Sequence[Sequence[int]]) -> torch.Tensor:
    """[rows, width] weights with 1 on the chosen options: the single-path forward of a selection."""
    w = torch.zeros(group.rows, group.width)
    for r, cols in enumerate(chosen):
        w[r, list(cols)] = 1.0
    return w

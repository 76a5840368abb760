"""NAS-Bench-201 cell space: 6 edges x 5 operations, the official arch strings and indices.

The benchmark numbers its 15,625 cells in the order its generator produced them: the lexicographic
enumeration of op tuples (edge 1<-0 slowest, edge 3<-2 fastest, ops in the order of ``OPS``) shuffled
once by Python's ``random`` seeded with 88. We rebuild that order here so that arch strings, op
tuples and official indices convert without any benchmark file; the tests check all 15,625 against a
table exported from the official file.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from benchmarks.space import Decision, DecisionGroup, SearchSpace, Selection

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (source, target) in arch-string order: node 1 <- 0; node 2 <- 0, 1; node 3 <- 0, 1, 2.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
N_ARCHS = len(OPS) ** len(EDGES)
_SHUFFLE_SEED = 88


@lru_cache(maxsize=1)
def _official_order() -> tuple[np.ndarray, np.ndarray]:
    """(index -> lexicographic code, lexicographic code -> index) of the official enumeration."""
    codes = list(range(N_ARCHS))  # code = base-5 number of the op tuple, edge 1<-0 most significant
    random.Random(_SHUFFLE_SEED).shuffle(codes)
    index_to_code = np.asarray(codes, dtype=np.int32)
    code_to_index = np.empty_like(index_to_code)
    code_to_index[index_to_code] = np.arange(N_ARCHS, dtype=np.int32)
    return index_to_code, code_to_index


class ArchError(ValueError):
    """An architecture that is not a cell of the NAS-Bench-201 space."""


@dataclass(frozen=True)
class NB201Arch:
    """A cell as op names per edge, in ``EDGES`` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES):
            raise ArchError(f"NAS-Bench-201 cell needs {len(EDGES)} ops, got {len(self.ops)}")
        bad = [o for o in self.ops if o not in OPS]
        if bad:
            raise ArchError(f"unknown NAS-Bench-201 op {bad[0]!r}; valid ops: {', '.join(OPS)}")

    @classmethod
    def from_string(cls, arch_str: str) -> NB201Arch:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        nodes = arch_str.strip().split("+")
        ops: list[str] = []
        try:
            if len(nodes) != 3:
                raise ValueError
            for target, node in enumerate(nodes, start=1):
                items = [t for t in node.strip("|").split("|")]
                if len(items) != target:
                    raise ValueError
                for source, item in enumerate(items):
                    op, src = item.split("~")
                    if int(src) != source:
                        raise ValueError
                    ops.append(op)
        except ValueError:
            raise ArchError(
                f"not a NAS-Bench-201 arch string: {arch_str!r} (expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)"
            ) from None
        return cls(tuple(ops))

    @classmethod
    def from_index(cls, index: int) -> NB201Arch:
        if not 0 <= int(index) < N_ARCHS:
            raise ArchError(f"NAS-Bench-201 index {index} outside 0..{N_ARCHS - 1}")
        code = int(_official_order()[0][int(index)])
        digits = []
        for _ in EDGES:
            code, d = divmod(code, len(OPS))
            digits.append(d)
        return cls(tuple(OPS[d] for d in reversed(digits)))

    @property
    def code(self) -> int:
        """Position in the lexicographic enumeration (edge 1<-0 most significant)."""
        c = 0
        for op in self.ops:
            c = c * len(OPS) + OPS.index(op)
        return c

    @property
    def index(self) -> int:
        """The official NAS-Bench-201 index."""
        return int(_official_order()[1][self.code])

    def to_string(self) -> str:
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    def count(self, op: str) -> int:
        return sum(1 for o in self.ops if o == op)

    def __str__(self) -> str:
        return self.to_string()


def all_arch_strings() -> list[str]:
    """Arch strings in official index order."""
    return [NB201Arch.from_index(i).to_string() for i in range(N_ARCHS)]


def none_free_indices() -> np.ndarray:
    """Official indices of the 4^6 = 4096 cells without ``none`` (GAEA's ``exclude_zero`` subspace)."""
    codes = [
        NB201Arch(ops).code for ops in itertools.product(OPS[1:], repeat=len(EDGES))
    ]
    return np.sort(_official_order()[1][np.asarray(codes)])


class NB201Space(SearchSpace):
    """One decision group ``ops``: 6 edges, each picks 1 op; ``include_none=False`` drops ``none``."""

    def __init__(self, include_none: bool = True) -> None:
        self.include_none = include_none
        self.op_names: tuple[str, ...] = OPS if include_none else OPS[1:]
        self.name = "nb201" if include_none else "nb201-no-none"
        self.groups = (
            DecisionGroup(
                "ops",
                tuple(Decision(f"edge {t}<-{s}", self.op_names, 1) for s, t in EDGES),
                role="ops",
                nodes=tuple(tuple(r for r, (_, t) in enumerate(EDGES) if t == node) for node in (1, 2, 3)),
                skip_option=self.op_names.index("skip_connect"),
                path_rows=tuple(EDGES.index((node, node + 1)) for node in (0, 1, 2)),
                sources=tuple(s for s, _ in EDGES),
            ),
        )

    @property
    def size(self) -> int:
        return len(self.op_names) ** len(EDGES)

    def option_costs(self, group: str, channels: int = 16) -> torch.Tensor:
        """Parameters of each op on one edge at ``channels`` (conv k x k: k^2 C^2 weights + 2C BN affine)."""
        per_op = {"nor_conv_1x1": channels * channels + 2 * channels,
                  "nor_conv_3x3": 9 * channels * channels + 2 * channels}
        row = torch.tensor([float(per_op.get(o, 0)) for o in self.op_names])
        return row.expand(self.group(group).rows, -1).clone()

    def arch(self, selection: Selection) -> NB201Arch:
        """The cell a selection describes."""
        self.validate_selection(selection)
        return NB201Arch(tuple(self.op_names[row[0]] for row in selection["ops"]))

    def selection(self, arch: NB201Arch) -> dict[str, tuple[tuple[int, ...], ...]]:
        """The selection of a cell; raises ArchError if the cell uses an op this space excludes."""
        missing = [o for o in arch.ops if o not in self.op_names]
        if missing:
            raise ArchError(f"cell {arch} uses {missing[0]!r}, which this space ({self.name}) excludes")
        return {"ops": tuple((self.op_names.index(o),) for o in arch.ops)}

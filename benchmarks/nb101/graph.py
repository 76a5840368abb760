"""NAS-Bench-101 cells: validation, pruning and the graph hash, bit-identical to the official code.

The benchmark keys every trained cell by an MD5 fingerprint of its *pruned* graph (``nasbench/lib/
model_spec.py`` and ``graph_util.hash_module``): vertices that are not on a path from the input to
the output are deleted, then each vertex starts from md5(str((out_degree, in_degree, label))) and, as
many rounds as there are vertices, is rehashed from the sorted hashes of its in- and out-neighbours
and its own; the fingerprint is md5(str(sorted(vertex hashes))). Labels are -1 (input), -2 (output)
and the op's position in ``AVAILABLE_OPS``. Isomorphic cells therefore share one hash, which is how a
query finds a cell whatever the numbering of its vertices. The string forms (``str`` of a tuple of
ints, of a list of hex strings) are part of the algorithm and are reproduced exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from nasbench_errors import HarnessError

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
#: ``config['available_ops']`` of the official code: the order defines the hash labels.
AVAILABLE_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9


class SpecError(HarnessError, ValueError):
    """A cell that is malformed or outside the NAS-Bench-101 space."""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def hash_module(matrix: Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """``graph_util.hash_module``: the MD5 fingerprint of a labelled directed graph (any graph)."""
    n = len(matrix)
    if len(labels) != n:
        raise SpecError(f"{len(labels)} labels for a {n}-vertex graph")
    ins = [[w for w in range(n) if matrix[w][v]] for v in range(n)]
    outs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    hashes = [_md5(str((len(outs[v]), len(ins[v]), int(labels[v])))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5("".join(sorted(hashes[w] for w in ins[v])) + "|"
                 + "".join(sorted(hashes[w] for w in outs[v])) + "|" + hashes[v])
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


@dataclass(frozen=True)
class ModelSpec:
    """A cell: 0/1 upper-triangular adjacency (row = source) and one op name per vertex.

    Vertex 0 is the input and the last vertex the output; their op names must be ``input`` and
    ``output`` for a cell of the benchmark (``in_space``), as in the official ``ModelSpec``.
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @classmethod
    def create(cls, matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> ModelSpec:
        rows = tuple(tuple(int(x) for x in row) for row in matrix)
        n = len(rows)
        if any(len(r) != n for r in rows):
            raise SpecError("adjacency matrix must be square")
        if len(ops) != n:
            raise SpecError(f"{len(ops)} ops for a {n}-vertex matrix; give one op per vertex")
        for i, r in enumerate(rows):
            if any(x not in (0, 1) for x in r):
                raise SpecError(f"adjacency row {i} has entries other than 0/1")
            if any(r[: i + 1]):
                raise SpecError("adjacency matrix must be strictly upper triangular (edges go forward)")
        return cls(rows, tuple(str(o) for o in ops))

    @property
    def n_vertices(self) -> int:
        return len(self.ops)

    @property
    def n_edges(self) -> int:
        return sum(map(sum, self.matrix))

    def pruned(self) -> ModelSpec | None:
        """``ModelSpec._prune``: keep the vertices on an input -> output path; None if there is none."""
        n = self.n_vertices
        if n == 0:
            return None
        forward = _reach(0, lambda v: (w for w in range(v + 1, n) if self.matrix[v][w]))
        backward = _reach(n - 1, lambda v: (w for w in range(v) if self.matrix[w][v]))
        keep = sorted(forward & backward)
        if len(keep) < 2:
            return None
        return ModelSpec(tuple(tuple(self.matrix[a][b] for b in keep) for a in keep),
                         tuple(self.ops[a] for a in keep))

    def check_in_space(self) -> ModelSpec:
        """The pruned cell if it is in the NAS-Bench-101 space (``NASBench._check_spec``), else SpecError."""
        spec = self.pruned()
        if spec is None:
            raise SpecError("invalid cell: the input is not connected to the output")
        if spec.n_vertices > MAX_VERTICES:
            raise SpecError(f"too many vertices after pruning: {spec.n_vertices} (max {MAX_VERTICES})")
        if spec.n_edges > MAX_EDGES:
            raise SpecError(f"too many edges after pruning: {spec.n_edges} (max {MAX_EDGES})")
        if spec.ops[0] != INPUT or spec.ops[-1] != OUTPUT:
            raise SpecError(f"first op must be {INPUT!r} and last {OUTPUT!r}, got {spec.ops[0]!r}, {spec.ops[-1]!r}")
        bad = [o for o in spec.ops[1:-1] if o not in AVAILABLE_OPS]
        if bad:
            raise SpecError(f"unsupported op {bad[0]!r}; valid ops: {', '.join(AVAILABLE_OPS)}")
        return spec

    def labels(self) -> list[int]:
        """Hash labels (``hash_spec``): -1 input, op index in ``AVAILABLE_OPS``, -2 output."""
        return [-1, *(AVAILABLE_OPS.index(o) for o in self.ops[1:-1]), -2]

    def spec_hash(self) -> str:
        """The benchmark key of this cell: the hash of the pruned cell (``NASBench._hash_spec``)."""
        spec = self.check_in_space()
        return hash_module(spec.matrix, spec.labels())


def _reach(start: int, neighbours) -> set[int]:  # noqa: ANN001 - vertex -> iterable of vertices
    seen, frontier = {start}, [start]
    while frontier:
        for w in neighbours(frontier.pop()):
            if w not in seen:
                seen.add(w)
                frontier.append(w)
    return seen

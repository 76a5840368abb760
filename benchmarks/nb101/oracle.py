"""The NAS-Bench-101 ground truth as one compact table, keyed by the benchmark's spec hash.

File layout (a ``benchmarks.table`` file, meta ``benchmark = "nb101"``), one row per unique cell,
rows sorted by the raw 16 bytes of the MD5 hash so that a hash is found by binary search:

- ``digest`` int32 [n, 4]: the 16 hash bytes, as stored (viewed as ``S16`` for the search);
- ``valid``, ``test`` float32 [n, 3]: accuracy (fraction, as in the official file) of each of the 3
  training repeats at 108 epochs (NAS-Bench-101's values are float32 numbers, so nothing is lost);
- ``train_time`` float32 [n, 3]: training seconds of each repeat; ``params`` int32 [n]: trainable
  parameters;
- ``spec`` int32 [n, 2]: the pruned cell, (adjacency bits, row-major upper triangle) and
  (vertex count * 1000 + base-3 code of the intermediate ops in ``AVAILABLE_OPS`` order);
- meta ``source``: provenance of the import (file, sha256, records read and skipped).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.nb101.graph import AVAILABLE_OPS, INPUT, OUTPUT, ModelSpec
from benchmarks.table import Table
from nasbench_errors import OracleError

BENCHMARK_TAG = "nb101"
SCHEMA = 1
EPOCHS = 108
REPEATS = 3
REMEDY = "import the official file with `harness data import nb101 nasbench_only108.tfrecord`"
_SPEC_BASE = 1000


def encode_spec(spec: ModelSpec) -> tuple[int, int]:
    """(adjacency bits, vertices * 1000 + op code) of a pruned cell: what the ``spec`` block stores."""
    n = spec.n_vertices
    bits = 0
    for a in range(n):
        for b in range(a + 1, n):
            bits = (bits << 1) | spec.matrix[a][b]
    code = 0
    for op in spec.ops[1:-1]:
        code = code * len(AVAILABLE_OPS) + AVAILABLE_OPS.index(op)
    return bits, n * _SPEC_BASE + code


def decode_spec(bits: int, packed: int) -> ModelSpec:
    n, code = divmod(int(packed), _SPEC_BASE)
    ops = []
    for _ in range(n - 2):
        code, digit = divmod(code, len(AVAILABLE_OPS))
        ops.append(AVAILABLE_OPS[digit])
    matrix = [[0] * n for _ in range(n)]
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    for position, (a, b) in enumerate(reversed(pairs)):
        matrix[a][b] = (int(bits) >> position) & 1
    return ModelSpec.create(matrix, [INPUT, *reversed(ops), OUTPUT])


def digest_of(spec_hash: str) -> bytes:
    try:
        raw = bytes.fromhex(spec_hash)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise OracleError(f"not a NAS-Bench-101 hash: {spec_hash!r} (expected 32 hex digits)")
    return raw


@dataclass(frozen=True)
class CellResult:
    """Everything the table holds about one cell (accuracies as fractions, per repeat)."""

    spec_hash: str
    spec: ModelSpec
    valid: tuple[float, ...]
    test: tuple[float, ...]
    train_time: tuple[float, ...]
    params: int


class NB101Table:
    """Read-only view of ``nb101.oracle``; open with ``NB101Table.open``."""

    def __init__(self, table: Table) -> None:
        self.path = table.path
        table.require(BENCHMARK_TAG, "NAS-Bench-101", SCHEMA)
        n = int(table.meta.get("n_cells", -1))
        shapes = {"digest": (n, 4), "valid": (n, REPEATS), "test": (n, REPEATS), "train_time": (n, REPEATS),
                  "params": (n,), "spec": (n, 2)}
        for name, shape in shapes.items():
            if name not in table or table[name].shape != shape:
                raise OracleError(f"{self.path}: block {name!r} is missing or not of shape {shape}; {REMEDY}")
        self._table = table
        self.n_cells = n
        self.valid, self.test = table["valid"], table["test"]
        self.train_time, self.params, self._spec = table["train_time"], table["params"], table["spec"]
        self._digests = np.ascontiguousarray(table["digest"]).view("S16").reshape(n)

    @staticmethod
    def default_path(oracle_dir: str | os.PathLike[str]) -> Path:
        return Path(oracle_dir) / "nb101.oracle"

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> NB101Table:
        return cls(Table.open(path, remedy=REMEDY))

    @property
    def source(self) -> dict[str, Any]:
        return dict(self._table.meta.get("source", {}))

    @property
    def identity(self) -> str:
        """sha256 of the imported file: derived tables (the 1Shot1 enumerations) record and check it."""
        return str(self.source.get("sha256", ""))

    def rows(self, spec_hashes: list[str]) -> np.ndarray:
        """Row of each hash, -1 where the table lacks it."""
        keys = np.array([digest_of(h) for h in spec_hashes], dtype="S16")
        pos = np.searchsorted(self._digests, keys)
        pos = np.minimum(pos, max(self.n_cells - 1, 0))
        found = (self._digests[pos] == keys) if self.n_cells else np.zeros(len(keys), bool)
        return np.where(found, pos, -1).astype(np.int64)

    def row(self, spec_hash: str) -> int:
        row = int(self.rows([spec_hash])[0])
        if row < 0:
            raise OracleError(f"{self.path} has no cell with hash {spec_hash}; the imported file is incomplete: "
                              f"{REMEDY}")
        return row

    def spec_hash(self, row: int) -> str:
        return bytes(self._digests[row]).ljust(16, b"\0").hex()

    def cell(self, row: int) -> CellResult:
        return CellResult(
            spec_hash=self.spec_hash(row), spec=decode_spec(*self._spec[row]),
            valid=tuple(float(v) for v in self.valid[row]), test=tuple(float(v) for v in self.test[row]),
            train_time=tuple(float(v) for v in self.train_time[row]), params=int(self.params[row]))

    def query(self, spec: ModelSpec) -> CellResult:
        """The benchmark's numbers for a cell (pruned and hashed as the official API does)."""
        return self.cell(self.row(spec.spec_hash()))

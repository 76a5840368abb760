"""NAS-Bench-1Shot1 ground truth: every selection of spaces 1-3 mapped to its NAS-Bench-101 cell.

``build`` enumerates each space (all selections, ``NB1Shot1Space.index`` order), prunes and hashes
each distinct cell once (selections that differ only in blocks pruning removes, or that are
isomorphic, share a cell), looks the hashes up in the NAS-Bench-101 table and writes
``nb1shot1.oracle``: per space an int32 block ``rows:ssN`` [selections] -> NAS-Bench-101 row, and in
meta the space's cell count and its optima, recomputed from the table. A query is then two array
reads: selection index -> row -> the 3 repeats.

Statistics (spec 6.3.1). ``mean``: mean over the 3 training repeats at 108 epochs, with the optimum
of the same statistic over the space (the headline regret). ``best-repeat``: the best single repeat,
with its own optimum: the statistic of the reference's ``test_min_error`` / ``valid_min_error``,
which it must reproduce on the official file. ``gaea-constant``: the mean against those reference
constants, for comparability with the curves of Zela et al. and GAEA. Values are accuracies in
percent and regret = optimum - value in percentage points (the papers' error regret x 100).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.nb1shot1.space import OPS, SPACES, NB1Shot1Space
from benchmarks.nb101.graph import AVAILABLE_OPS, ModelSpec, hash_module
from benchmarks.nb101.oracle import EPOCHS, REMEDY, CellResult, NB101Table
from benchmarks.nb201.oracle import Lookup
from benchmarks.table import Table, write_table
from nasbench_errors import OracleError

BENCHMARK_TAG = "nb1shot1"
SCHEMA = 1
BUDGET = f"e{EPOCHS}"
DATASET = "cifar10"
SPLITS = ("test", "valid")
STATS = ("mean", "best-repeat", "gaea-constant")


def enumerate_space(space: NB1Shot1Space) -> tuple[np.ndarray, list[str]]:
    """(cell id of every selection, in index order, read-only; the hash of each cell id)."""
    ids, hashes = _enumeration(space.number)
    return ids, list(hashes)


@lru_cache(maxsize=len(SPACES))
def _enumeration(number: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Computed once per process: a pure function of the space (space 3 takes ~20 s)."""
    space = NB1Shot1Space(number)
    n = space.n_blocks
    op_codes = np.array(list(itertools.product(range(len(OPS)), repeat=n)), dtype=np.int64)  # index order
    n_ops = len(op_codes)
    ids = np.empty(space.size, dtype=np.int32)
    cell_ids: dict[str, int] = {}
    memo: dict[tuple[Any, ...], int] = {}
    for e, parents in enumerate(space.edge_configs()):
        # prune once per wiring, with each vertex labelled by its own position
        wiring = space.nb101_cell(parents, (OPS[0],) * n)
        kept = [int(v) for v in ModelSpec(wiring.matrix, tuple(map(str, range(len(wiring.ops))))).pruned().ops]
        blocks = [v - 1 for v in kept if 1 <= v <= n]  # choice blocks that survive pruning
        weights = len(OPS) ** np.arange(len(blocks))[::-1]
        restricted = op_codes[:, blocks] @ weights if blocks else np.zeros(n_ops, dtype=np.int64)
        pruned = tuple(tuple(wiring.matrix[a][b] for b in kept) for a in kept)
        local: dict[int, int] = {}
        for code in np.unique(restricted).tolist():
            digits = [int(d) for d in np.base_repr(code, len(OPS)).zfill(len(blocks))] if blocks else []
            labels = (-1, *(AVAILABLE_OPS.index(OPS[d]) for d in digits), -2)
            key = (pruned, labels)
            if key not in memo:
                memo[key] = cell_ids.setdefault(hash_module(pruned, labels), len(cell_ids))
            local[code] = memo[key]
        ids[e * n_ops:(e + 1) * n_ops] = np.array([local[c] for c in restricted.tolist()], dtype=np.int32)
    ids.flags.writeable = False
    return ids, tuple(cell_ids)


def _stats(accuracy: np.ndarray) -> dict[str, np.ndarray]:
    """Per row of [rows, 3] repeat accuracies (fractions): the mean and the best repeat (float64)."""
    acc = np.asarray(accuracy, dtype=np.float64)
    return {"mean": acc.mean(axis=-1), "best-repeat": acc.max(axis=-1)}


def _percent(fraction: float) -> float:
    return 100.0 * float(fraction)


@dataclass(frozen=True)
class SpaceSummary:
    number: int
    selections: int
    cells: int
    missing: int
    optima: dict[str, float]  # "split/stat" -> accuracy fraction

    def __str__(self) -> str:
        if self.missing:
            return (f"space {self.number}: {self.missing} of {self.cells} cells are missing from the NAS-Bench-101 "
                    "table; the space is unavailable until the complete file is imported")
        ref = SPACES[self.number]
        best_test, best_valid = 1 - self.optima["test/best-repeat"], 1 - self.optima["valid/best-repeat"]
        return (f"space {self.number}: {self.selections} selections -> {self.cells} cells; min test error "
                f"{best_test:.17g} (reference {ref.reference_test_min_error}, diff "
                f"{best_test - ref.reference_test_min_error:+.2g}), min valid error {best_valid:.17g} (reference "
                f"{ref.reference_valid_min_error}, diff {best_valid - ref.reference_valid_min_error:+.2g}); "
                f"best mean-of-3-repeats test error {1 - self.optima['test/mean']:.6f}")


def build(nb101: NB101Table, target: str | os.PathLike[str], progress: Callable[[str], None] | None = None,
          numbers: tuple[int, ...] = tuple(SPACES)) -> list[SpaceSummary]:
    """Enumerate the spaces (default 1-3) through ``nb101`` and write ``nb1shot1.oracle`` (atomically)."""
    blocks: dict[str, np.ndarray] = {}
    spaces: dict[str, Any] = {}
    summaries = []
    for number in numbers:
        space = NB1Shot1Space(number)
        ids, hashes = enumerate_space(space)
        cell_rows = nb101.rows(hashes)
        missing = np.flatnonzero(cell_rows < 0)
        entry: dict[str, Any] = {"selections": space.size, "cells": len(hashes), "missing": int(missing.size)}
        optima: dict[str, float] = {}
        if missing.size:
            entry["missing_example"] = hashes[int(missing[0])]
        else:
            blocks[f"rows:ss{number}"] = cell_rows[ids].astype(np.int32)
            for split, table in (("test", nb101.test), ("valid", nb101.valid)):
                for stat, values in _stats(table[np.sort(cell_rows)]).items():
                    optima[f"{split}/{stat}"] = float(values.max())
            entry["optima"] = optima
        spaces[str(number)] = entry
        summaries.append(SpaceSummary(number, space.size, len(hashes), int(missing.size), optima))
        if progress is not None:
            progress(f"  {summaries[-1]}")
    meta = {"benchmark": BENCHMARK_TAG, "schema": SCHEMA, "nb101_sha256": nb101.identity,
            "nb101_source": nb101.source.get("source"), "spaces": spaces}
    write_table(target, blocks, meta=meta)
    return summaries


class NB1Shot1Oracle:
    """One space's view of the ground truth; open with ``NB1Shot1Oracle.open(oracle_dir, space)``."""

    def __init__(self, nb101: NB101Table, table: Table, space: NB1Shot1Space) -> None:
        self.nb101, self.space, self.path = nb101, space, table.path
        table.require(BENCHMARK_TAG, "NAS-Bench-1Shot1", SCHEMA)
        meta = table.meta
        if meta.get("nb101_sha256") != nb101.identity:
            raise OracleError(f"{self.path} was built from another NAS-Bench-101 import than {nb101.path}; {REMEDY}")
        entry = meta.get("spaces", {}).get(str(space.number))
        if entry is None:
            raise OracleError(f"{self.path} holds no enumeration of space {space.number}; {REMEDY}")
        if entry["missing"]:
            raise OracleError(f"{self.path}: space {space.number} lacks {entry['missing']} of its {entry['cells']} "
                              f"cells in {nb101.path} (e.g. {entry.get('missing_example')}); the imported file is "
                              f"incomplete: {REMEDY}")
        rows = table[f"rows:ss{space.number}"] if f"rows:ss{space.number}" in table else None
        if rows is None or rows.shape != (space.size,):
            raise OracleError(f"{self.path}: the enumeration of space {space.number} is missing or damaged; {REMEDY}")
        self._rows = rows
        self.cells = int(entry["cells"])
        self._optima = {key: _percent(v) for key, v in entry["optima"].items()}
        ref = space.definition
        for split, error in (("test", ref.reference_test_min_error), ("valid", ref.reference_valid_min_error)):
            self._optima[f"{split}/gaea-constant"] = _percent(1.0 - error)

    @staticmethod
    def default_path(oracle_dir: str | os.PathLike[str]) -> Path:
        return Path(oracle_dir) / "nb1shot1.oracle"

    @classmethod
    def open(cls, oracle_dir: str | os.PathLike[str], space: NB1Shot1Space) -> NB1Shot1Oracle:
        nb101 = NB101Table.open(NB101Table.default_path(oracle_dir))
        return cls(nb101, Table.open(cls.default_path(oracle_dir), remedy=REMEDY), space)

    def row(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < self.space.size:
            raise OracleError(f"not a selection index of {self.space.name}: {index!r} (0..{self.space.size - 1})")
        return int(self._rows[index])

    def cell(self, index: int) -> CellResult:
        """The NAS-Bench-101 record of the cell a selection index denotes."""
        return self.nb101.cell(self.row(index))

    def optimum(self, split: str, stat: str = "mean") -> float:
        """Best accuracy (%) of the statistic over the space (``gaea-constant``: the reference's)."""
        key = f"{split}/{stat}"
        if key not in self._optima:
            raise OracleError(f"no optimum {key!r}; splits: {', '.join(SPLITS)}; stats: {', '.join(STATS)}")
        return self._optima[key]

    @staticmethod
    def search_metrics(dataset: str) -> tuple[tuple[str, str], tuple[str, str]]:
        if dataset != DATASET:
            raise OracleError(f"NAS-Bench-1Shot1 has CIFAR-10 ground truth only, not {dataset!r}")
        return (DATASET, "test"), (DATASET, "valid")

    def lookups(self, index: int, budget: str = BUDGET) -> list[Lookup]:
        """Test and valid accuracy of a selection under every statistic, with optimum and regret."""
        if budget != BUDGET:
            raise OracleError(f"NAS-Bench-1Shot1 tables hold the {BUDGET} budget only, not {budget!r}")
        row = self.row(index)
        found = []
        for split, table in (("test", self.nb101.test), ("valid", self.nb101.valid)):
            stats = {k: _percent(v[0]) for k, v in _stats(table[row:row + 1]).items()}
            stats["gaea-constant"] = stats["mean"]
            for stat in STATS:
                best = self.optimum(split, stat)
                found.append(Lookup(DATASET, split, budget, stat, stats[stat], best, best - stats[stat]))
        return found


def import_nb101_tables(source: str | os.PathLike[str], oracle_dir: str | os.PathLike[str], verify_hashes: bool = True,
                        progress: Callable[[str], None] | None = None,
                        numbers: tuple[int, ...] = tuple(SPACES)) -> list[SpaceSummary]:
    """``harness data import nb101 FILE``: the NAS-Bench-101 table, then the 1Shot1 enumerations from it
    (of the spaces ``numbers``; space 3's 1.3 million selections take the longest, about 20 s)."""
    from benchmarks.nb101.importer import import_nb101

    say = progress or (lambda _text: None)
    target = NB101Table.default_path(oracle_dir)
    say(str(import_nb101(source, target, verify_hashes=verify_hashes, progress=progress)))
    say(f"oracle table: {target}")
    spaces_target = NB1Shot1Oracle.default_path(oracle_dir)
    summaries = build(NB101Table.open(target), spaces_target, progress=progress, numbers=numbers)
    say(f"NAS-Bench-1Shot1 tables: {spaces_target}")
    return summaries

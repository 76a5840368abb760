"""NAS-Bench-201 ground truth as one memory-mapped table: O(1) lookups by official index.

Every value is named by a ``MetricKey``: NAS-Bench-201's dataset name, the split, the training budget
(``hp200`` = the 200-epoch schedule papers report, ``hp12`` = the 12-epoch one) and the statistic
(``mean`` over the benchmark's seeds, or ``seed777``-style single trials). A value always carries its
budget, so 12-epoch numbers can never pass for 200-epoch ones. Accuracies are in percent; archs a
source does not cover read NaN.

File layout (a ``benchmarks.table`` file, meta ``benchmark = "nb201"``):

- ``values``: float32 [n_metrics, 15625], row labels = metric names ``dataset/split/budget/stat``;
- per curve metric ``m`` (mean over seeds): ``curve:m`` float32 [n_rows, epochs] and ``curve_rows:m``
  int32 [15625] (arch index -> row, -1 = no curve), so a 200-arch curve table costs 200 rows;
- meta ``sources``: one provenance record per import (importer, source file, sha256, date, release,
  note, and the metrics/curves it currently provides).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.nb201.space import N_ARCHS
from benchmarks.table import Table, write_table
from harness.errors import OracleError

DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
BUDGETS: tuple[str, ...] = ("hp200", "hp12")
BUDGET_EPOCHS: dict[str, int] = {"hp200": 200, "hp12": 12}
#: Harness dataset -> ((dataset, split) of its test metric, (dataset, split) of its valid metric).
#: CIFAR-10's test number is the ``cifar10`` entry (trained on train+valid, scored on the 10k test set);
#: its validation number only exists for ``cifar10-valid`` (trained on the 25k half).
SEARCH_METRICS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "cifar10": (("cifar10", "test"), ("cifar10-valid", "valid")),
    "cifar100": (("cifar100", "test"), ("cifar100", "valid")),
    "ImageNet16-120": (("ImageNet16-120", "test"), ("ImageNet16-120", "valid")),
}
BENCHMARK_TAG = "nb201"
SCHEMA = 1
VALUES = "values"
_STAT = re.compile(r"mean|seed\d+")
_REMEDY = "re-import it with `harness data import nb201 <source file>`"


@dataclass(frozen=True, order=True)
class MetricKey:
    """What a number is: dataset, split, training budget and statistic."""

    dataset: str
    split: str
    budget: str = "hp200"
    stat: str = "mean"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise OracleError(f"unknown NAS-Bench-201 dataset {self.dataset!r}; valid: {', '.join(DATASETS)}")
        if self.split not in SPLITS:
            raise OracleError(f"unknown split {self.split!r}; valid: {', '.join(SPLITS)}")
        if self.budget not in BUDGETS:
            raise OracleError(f"unknown budget {self.budget!r}; valid: {', '.join(BUDGETS)} (schedules)")
        if not _STAT.fullmatch(self.stat):
            raise OracleError(f"unknown statistic {self.stat!r}; valid: mean, seed<N> (e.g. seed777)")

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.split}/{self.budget}/{self.stat}"

    @classmethod
    def from_name(cls, name: str) -> MetricKey:
        parts = name.split("/")
        if len(parts) != 4:
            raise OracleError(f"not a metric name: {name!r} (expected dataset/split/budget/stat)")
        return cls(*parts)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Lookup:
    """One oracle value of an architecture with the optimum of the same metric (regret = optimum - value)."""

    dataset: str
    split: str
    budget: str
    stat: str
    value: float
    optimum: float
    regret: float


@dataclass
class OracleUpdate:
    """What one import adds: full columns (15,625 values) and dense mean curves [15,625, epochs].

    Curve rows that are all NaN mean "no curve for this arch" and are not stored.
    """

    values: dict[MetricKey, np.ndarray] = field(default_factory=dict)
    curves: dict[MetricKey, np.ndarray] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)


def _curve_blocks(key: MetricKey) -> tuple[str, str]:
    return f"curve_rows:{key.name}", f"curve:{key.name}"


def _import_hint(key: MetricKey, curve: bool = False) -> str:
    command = "`harness data import nb201"
    official = f"{command} NAS-Bench-201-v1_1-096897.pth --trust-pickle` (or a NATS-tss-v1_0 archive)"
    if curve and key.dataset == "cifar10-valid" and key.budget == "hp200":
        return f"{command} nb201-hp200-cifar10valid-curves-200archs.csv` or {official}"
    if curve or key.stat != "mean" or key.split == "train":
        return official
    return f"{command} nb201-{key.budget}-mean-accuracies.csv --budget {key.budget}` or {official}"


class NB201Oracle:
    """Read-only view of an oracle file; open with ``NB201Oracle.open``."""

    def __init__(self, table: Table) -> None:
        self.path = table.path
        if table.meta.get("benchmark") != BENCHMARK_TAG:
            raise OracleError(f"{self.path}: not a NAS-Bench-201 oracle (benchmark "
                              f"{table.meta.get('benchmark')!r}); {_REMEDY}")
        if int(table.meta.get("schema", 0)) > SCHEMA:
            raise OracleError(f"{self.path}: oracle schema {table.meta.get('schema')} is newer than this "
                              f"harness reads ({SCHEMA}); upgrade nasbench-harness, or {_REMEDY}")
        self._table = table
        self._rows: dict[tuple[str, str, str, str], np.ndarray] = {}
        self._keys: list[MetricKey] = []
        if VALUES in table:
            values, labels = table[VALUES], table.blocks[VALUES].labels or ()
            if values.ndim != 2 or values.shape != (len(labels), N_ARCHS):
                raise OracleError(f"{self.path}: values block has shape {values.shape}; {_REMEDY}")
            for label, row in zip(labels, values, strict=True):
                key = MetricKey.from_name(label)
                self._keys.append(key)
                self._rows[(key.dataset, key.split, key.budget, key.stat)] = row
        self._curve_keys = [MetricKey.from_name(n) for n in table.meta.get("curves", [])]
        self._optima: dict[tuple[str, str, str, str], float] = {}

    @staticmethod
    def default_path(oracle_dir: str | os.PathLike[str]) -> Path:
        return Path(oracle_dir) / "nb201.oracle"

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> NB201Oracle:
        """Memory-map the oracle file (reads only its header)."""
        return cls(Table.open(path, remedy=_REMEDY))

    # -- what the table holds ---------------------------------------------------------------------
    def metrics(self) -> list[MetricKey]:
        return list(self._keys)

    def has(self, key: MetricKey) -> bool:
        return (key.dataset, key.split, key.budget, key.stat) in self._rows

    def curve_metrics(self) -> list[MetricKey]:
        return list(self._curve_keys)

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Provenance per import still represented in the file (importer, source, sha256, date, ...)."""
        return [dict(s) for s in self._table.meta.get("sources", [])]

    def source_of(self, key: MetricKey) -> dict[str, Any] | None:
        """The provenance record of the import that provided ``key`` (a value or a curve)."""
        for source in self.sources:
            if key.name in source.get("metrics", []) or key.name in source.get("curves", []):
                return source
        return None

    # -- queries ----------------------------------------------------------------------------------
    def query(self, index: int | np.ndarray, dataset: str, split: str, budget: str = "hp200",
              stat: str = "mean") -> float | np.ndarray:
        """Value(s) of a metric for official index(es); NaN where the source lacks the arch."""
        row = self._rows.get((dataset, split, budget, stat))
        if row is None:
            raise self._missing(MetricKey(dataset, split, budget, stat))
        if isinstance(index, int | np.integer) and not isinstance(index, bool):
            if not 0 <= index < N_ARCHS:
                raise OracleError(f"NAS-Bench-201 index {index} outside 0..{N_ARCHS - 1}")
            return float(row[index])
        return row[_check_indices(index)].astype(np.float64)

    def optimum(self, dataset: str, split: str, budget: str = "hp200", stat: str = "mean") -> float:
        """Best value of the metric over all 15,625 cells (the regret zero point)."""
        ident = (dataset, split, budget, stat)
        if ident not in self._optima:
            row = self._rows.get(ident)
            if row is None:
                raise self._missing(MetricKey(*ident))
            if np.isnan(row).all():
                raise OracleError(f"{self.path}: metric {'/'.join(ident)} has no values; {_REMEDY}")
            self._optima[ident] = float(np.nanmax(row))
        return self._optima[ident]

    def has_curve(self, index: int, dataset: str, split: str, budget: str = "hp200") -> bool:
        key = MetricKey(dataset, split, budget)
        if key not in self._curve_keys:
            return False
        return bool(self._curve(key)[0][_check_index(index)] >= 0)

    def curve(self, index: int, dataset: str, split: str, budget: str = "hp200") -> np.ndarray:
        """Mean-over-seeds accuracy per epoch (length = the budget's epochs), NaN where missing."""
        key = MetricKey(dataset, split, budget)
        if key not in self._curve_keys:
            raise self._missing(key, curve=True)
        rows, data = self._curve(key)
        row = rows[_check_index(index)]
        if row < 0:
            return np.full(data.shape[1], np.nan)
        return data[row].astype(np.float64)

    def _curve(self, key: MetricKey) -> tuple[np.ndarray, np.ndarray]:
        rows_name, data_name = _curve_blocks(key)
        if rows_name not in self._table or data_name not in self._table:
            raise OracleError(f"{self.path}: curve blocks of {key.name} are missing; {_REMEDY}")
        return self._table[rows_name], self._table[data_name]

    def _missing(self, key: MetricKey, curve: bool = False) -> OracleError:
        have = self._curve_keys if curve else self._keys
        what = "per-epoch curve" if curve else "metric"
        names = ", ".join(k.name for k in have) or "none"
        return OracleError(f"{self.path} has no {what} {key.name} (it has: {names}); "
                           f"add it with {_import_hint(key, curve)}")

    # -- what the runner needs --------------------------------------------------------------------
    @staticmethod
    def search_metrics(dataset: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """((dataset, split) of the test metric, (dataset, split) of the valid metric) for a search."""
        if dataset not in SEARCH_METRICS:
            raise OracleError(f"no NAS-Bench-201 metrics for dataset {dataset!r}; valid: "
                              f"{', '.join(SEARCH_METRICS)}")
        return SEARCH_METRICS[dataset]

    def lookups(self, index: int, budget: str = "hp200") -> list[Lookup]:
        """Test and valid value, optimum and regret on every harness dataset the table holds."""
        found: list[Lookup] = []
        for harness_dataset in SEARCH_METRICS:
            for dataset, split in self.search_metrics(harness_dataset):
                if (dataset, split, budget, "mean") in self._rows:
                    value = float(self.query(index, dataset, split, budget))
                    best = self.optimum(dataset, split, budget)
                    found.append(Lookup(dataset, split, budget, "mean", value, best, best - value))
        if not found:
            example = MetricKey("cifar10", "test", budget)
            raise OracleError(f"{self.path} has no {budget} test/valid means; add them with "
                              f"{_import_hint(example)}")
        return found


def _check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < N_ARCHS:
        raise OracleError(f"not a NAS-Bench-201 index: {index!r} (expected an int in 0..{N_ARCHS - 1})")
    return int(index)


def _check_indices(index: Any) -> np.ndarray:
    indices = np.asarray(index)
    if indices.dtype.kind not in "iu":
        raise OracleError(f"NAS-Bench-201 indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= N_ARCHS):
        raise OracleError(f"NAS-Bench-201 indices outside 0..{N_ARCHS - 1}")
    return indices


# -- writing ---------------------------------------------------------------------------------------
def write_update(path: str | os.PathLike[str], update: OracleUpdate) -> None:
    """Merge ``update`` into the oracle at ``path`` (created if absent), atomically.

    Metrics and curves in ``update`` replace those already present; provenance records keep only the
    metrics they still provide, and a record that provides nothing any more is dropped.
    """
    path = Path(path)
    values: dict[MetricKey, np.ndarray] = {}
    curves: dict[MetricKey, tuple[np.ndarray, np.ndarray]] = {}
    sources: list[dict[str, Any]] = []
    if path.exists():
        old = NB201Oracle.open(path)
        values = {k: np.array(old._rows[(k.dataset, k.split, k.budget, k.stat)]) for k in old.metrics()}
        curves = {k: tuple(np.array(a) for a in old._curve(k)) for k in old.curve_metrics()}
        sources = old.sources
    new_values = {k.name for k in update.values}
    new_curves = {k.name for k in update.curves}
    sources = [_prune(s, new_values, new_curves) for s in sources]
    sources = [s for s in sources if s["metrics"] or s["curves"]]
    sources.append({**update.source, "metrics": sorted(new_values), "curves": sorted(new_curves)})
    for key, column in update.values.items():
        values[key] = _column(key, column)
    for key, dense in update.curves.items():
        curves[key] = _sparse(key, dense)
    _write(path, values, curves, sources)


def _prune(source: dict[str, Any], values: set[str], curves: set[str]) -> dict[str, Any]:
    return {
        **source,
        "metrics": [m for m in source.get("metrics", []) if m not in values],
        "curves": [c for c in source.get("curves", []) if c not in curves],
    }


def _column(key: MetricKey, column: np.ndarray) -> np.ndarray:
    column = np.asarray(column, dtype=np.float32)
    if column.shape != (N_ARCHS,):
        raise ValueError(f"{key.name}: expected {N_ARCHS} values, got shape {column.shape}")
    return column


def _sparse(key: MetricKey, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row map, rows with data) from a dense [15,625, epochs] curve array."""
    if key.stat != "mean":
        raise ValueError(f"{key.name}: curves are stored as means over seeds only")
    dense = np.asarray(dense, dtype=np.float32)
    if dense.ndim != 2 or dense.shape[0] != N_ARCHS:
        raise ValueError(f"{key.name}: expected curves of shape ({N_ARCHS}, epochs), got {dense.shape}")
    present = ~np.isnan(dense).all(axis=1)
    rows = np.full(N_ARCHS, -1, dtype=np.int32)
    rows[present] = np.arange(int(present.sum()), dtype=np.int32)
    return rows, dense[present]


def _write(path: Path, values: dict[MetricKey, np.ndarray],
           curves: dict[MetricKey, tuple[np.ndarray, np.ndarray]], sources: list[dict[str, Any]]) -> None:
    keys = sorted(values)
    matrix = np.stack([values[k] for k in keys]) if keys else np.empty((0, N_ARCHS), np.float32)
    blocks: dict[str, np.ndarray] = {VALUES: matrix}
    for key in sorted(curves):
        rows_name, data_name = _curve_blocks(key)
        blocks[rows_name], blocks[data_name] = curves[key]
    meta = {
        "benchmark": BENCHMARK_TAG,
        "schema": SCHEMA,
        "n_archs": N_ARCHS,
        "curves": [k.name for k in sorted(curves)],
        "sources": sources,
    }
    write_table(path, blocks, meta=meta, labels={VALUES: [k.name for k in keys]})

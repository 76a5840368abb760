"""NAS-Bench-201 ground truth as one compact table: O(1) lookups by official index.

Every value is named by a ``MetricKey``: NAS-Bench-201's dataset name, the split, the training budget
(``hp200`` = the 200-epoch schedule papers report, ``hp12`` = the 12-epoch one) and the statistic
(``mean`` over the benchmark's seeds, or ``seed777``-style single trials). A value always carries its
budget, so 12-epoch numbers can never pass for 200-epoch ones. Accuracies are in percent; archs a
source does not cover read NaN.

File layout (a ``benchmarks.table`` file, meta ``benchmark = "nb201"``):

- ``values``: float32 [n_metrics, 15625], row labels = metric names ``dataset/split/budget/stat``;
- per curve metric ``m`` (mean over seeds): ``curve:m`` float32 [n_rows, epochs] and ``curve_rows:m``
  int32 [15625] (arch index -> row, -1 = no curve), so a 200-arch curve table costs 200 rows;
- ``costs``: float32 [n_costs, 15625], row labels = ``dataset/quantity`` (``COST_QUANTITIES``: training
  seconds per epoch, FLOPs, parameters, latency), read by the black-box baselines' simulated time budget;
- meta ``sources``: one provenance record per import (importer, source file, sha256, date, release,
  note, and the metrics/curves/costs it currently provides).
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
from nasbench_errors import OracleError

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
#: Per-architecture cost quantities an import may provide (a cost CSV's ``<dataset>_<quantity>`` columns).
COST_QUANTITIES: tuple[str, ...] = ("train_seconds_per_epoch", "flops_M", "params_M", "latency_s")
TRAIN_SECONDS = "train_seconds_per_epoch"
BENCHMARK_TAG = "nb201"
SCHEMA = 1  # the costs block came later; readers that predate it ignore it, so the schema is unchanged
VALUES = "values"
COSTS = "costs"
#: the table that ships with the package (``benchmarks.nb201.bundle``): the oracle until the user imports one
BUNDLED = Path(__file__).with_name("data") / "nb201-bundled.oracle"
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
    costs: dict[str, np.ndarray] = field(default_factory=dict)  # cost_name(dataset, quantity) -> column
    source: dict[str, Any] = field(default_factory=dict)


def cost_name(dataset: str, quantity: str) -> str:
    """The label of a cost row, after checking both parts: ``cifar10/train_seconds_per_epoch``."""
    if dataset not in DATASETS:
        raise OracleError(f"unknown NAS-Bench-201 dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if quantity not in COST_QUANTITIES:
        raise OracleError(f"unknown cost {quantity!r}; valid: {', '.join(COST_QUANTITIES)}")
    return f"{dataset}/{quantity}"


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
        table.require(BENCHMARK_TAG, "NAS-Bench-201 oracle", SCHEMA)
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
        self._costs: dict[str, np.ndarray] = {}
        if COSTS in table:
            costs, labels = table[COSTS], table.blocks[COSTS].labels or ()
            if costs.ndim != 2 or costs.shape != (len(labels), N_ARCHS):
                raise OracleError(f"{self.path}: costs block has shape {costs.shape}; {_REMEDY}")
            self._costs = dict(zip(labels, costs, strict=True))
        self._optima: dict[tuple[str, str, str, str], float] = {}

    @staticmethod
    def default_path(oracle_dir: str | os.PathLike[str]) -> Path:
        """Where ``harness data import nb201`` writes the table of ``oracle_dir``."""
        return Path(oracle_dir) / "nb201.oracle"

    @classmethod
    def locate(cls, oracle_dir: str | os.PathLike[str]) -> Path:
        """The imported table of ``oracle_dir`` when there is one, else the table bundled with the package."""
        imported = cls.default_path(oracle_dir)
        return imported if imported.exists() else BUNDLED

    @property
    def bundle_info(self) -> dict[str, str]:
        """What the bundled table holds and lacks and how to rebuild it (empty for an imported table)."""
        return dict(self._table.meta.get("bundle", {}))

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> NB201Oracle:
        """Open the oracle file (reads its header, then the values and costs blocks)."""
        return cls(Table.open(path, remedy=_REMEDY))

    # -- what the table holds ---------------------------------------------------------------------
    def metrics(self) -> list[MetricKey]:
        return list(self._keys)

    def has(self, key: MetricKey) -> bool:
        return (key.dataset, key.split, key.budget, key.stat) in self._rows

    def curve_metrics(self) -> list[MetricKey]:
        return list(self._curve_keys)

    def cost_metrics(self) -> list[str]:
        """``dataset/quantity`` of every cost the table holds."""
        return list(self._costs)

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

    def cost(self, index: int, dataset: str, quantity: str = TRAIN_SECONDS) -> float:
        """One architecture's cost (seconds, MFLOPs, M parameters) on ``dataset``; NaN where the source lacks it."""
        name = cost_name(dataset, quantity)
        if name not in self._costs:
            have = ", ".join(self._costs) or "none"
            raise OracleError(f"{self.path} has no cost {name} (it has: {have}); add it with `harness data import "
                              f"nb201 nb201-{dataset}-costs.csv` (columns index, arch_str, {dataset}_{quantity})")
        return float(self._costs[name][_check_index(index)])

    def simulated_training(self, index: int, dataset: str, budget: str = "hp12") -> tuple[float, float]:
        """(validation accuracy, simulated seconds) of training one cell on ``budget``'s schedule: NAS-Bench-201's
        protocol for black-box searches (the valid metric of the search dataset; the budget's epochs times the
        cell's recorded training seconds per epoch). A cell the table lacks is an OracleError."""
        valid = MetricKey(*self.search_metrics(dataset)[1], budget)
        accuracy = float(self.query(int(index), valid.dataset, valid.split, valid.budget))
        seconds = BUDGET_EPOCHS[budget] * self.cost(int(index), dataset)
        if not np.isfinite(accuracy):
            raise OracleError(f"{self.path} has no {valid.name} for cell {index}; add it with {_import_hint(valid)}")
        if not np.isfinite(seconds) or seconds <= 0:
            raise OracleError(f"{self.path}: cell {index} has no usable {cost_name(dataset, TRAIN_SECONDS)} "
                              f"({seconds}); re-import the cost table")
        return accuracy, seconds

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
    costs: dict[str, np.ndarray] = {}
    sources: list[dict[str, Any]] = []
    if path.exists():
        old = NB201Oracle.open(path)
        values = {k: np.array(old._rows[(k.dataset, k.split, k.budget, k.stat)]) for k in old.metrics()}
        curves = {k: tuple(np.array(a) for a in old._curve(k)) for k in old.curve_metrics()}
        costs = {name: np.array(column) for name, column in old._costs.items()}
        sources = old.sources
    new = {"metrics": {k.name for k in update.values}, "curves": {k.name for k in update.curves},
           "costs": set(update.costs)}
    sources = [_prune(s, new) for s in sources]
    sources = [s for s in sources if any(s[kind] for kind in new)]
    sources.append({**update.source, **{kind: sorted(names) for kind, names in new.items()}})
    for key, column in update.values.items():
        values[key] = _column(key.name, column)
    for key, dense in update.curves.items():
        curves[key] = _sparse(key, dense)
    for name, column in update.costs.items():
        costs[name] = _column(name, column)
    _write(path, values, curves, costs, sources)


def _prune(source: dict[str, Any], new: dict[str, set[str]]) -> dict[str, Any]:
    """``source`` without the names an update replaces (per kind: metrics, curves, costs)."""
    return {**source, **{kind: [n for n in source.get(kind, []) if n not in names] for kind, names in new.items()}}


def _column(name: str, column: np.ndarray) -> np.ndarray:
    column = np.asarray(column, dtype=np.float32)
    if column.shape != (N_ARCHS,):
        raise ValueError(f"{name}: expected {N_ARCHS} values, got shape {column.shape}")
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


def _write(path: Path, values: dict[MetricKey, np.ndarray], curves: dict[MetricKey, tuple[np.ndarray, np.ndarray]],
           costs: dict[str, np.ndarray], sources: list[dict[str, Any]]) -> None:
    keys = sorted(values)
    matrix = np.stack([values[k] for k in keys]) if keys else np.empty((0, N_ARCHS), np.float32)
    blocks: dict[str, np.ndarray] = {VALUES: matrix}
    labels = {VALUES: [k.name for k in keys]}
    if costs:
        labels[COSTS] = sorted(costs)
        blocks[COSTS] = np.stack([costs[name] for name in labels[COSTS]])
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
    write_table(path, blocks, meta=meta, labels=labels)

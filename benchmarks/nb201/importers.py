"""Importers that turn NAS-Bench-201 ground truth into the compact oracle file.

Sources: the plain per-arch CSV (one budget, means), the long-format curves CSV, the per-arch cost CSV
(``<dataset>_train_seconds_per_epoch`` and the other ``COST_QUANTITIES``), the official
NAS-Bench-201 ``.pth`` files (v1_0 / v1_1) and the NATS-Bench topology archives. The official files
are Python pickles: they are only read with ``trust_pickle=True`` (the CLI's ``--trust-pickle``), after a
warning, because unpickling a file can run code. Every bad input ends in a one-line ``OracleError``.

The official files hold, per arch, ``{'less': ArchResults, 'full': ArchResults}`` (.pth) or
``{'12': ..., '200': ...}`` (NATS) as *state dicts*: ``dataset_seed`` {dataset: [seeds]} and
``all_results`` {(dataset, seed): ResultsCount state dict with ``epochs``, ``train_acc1es``
{epoch: acc} and ``eval_acc1es`` {'x-valid@199': acc, ...}}. NB201's split names per dataset are in
``EVAL_NAMES``.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib
import logging
import os
import pickle
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.nb201.oracle import (
    BUDGET_EPOCHS,
    BUDGETS,
    COST_QUANTITIES,
    DATASETS,
    SEARCH_METRICS,
    SPLITS,
    MetricKey,
    NB201Oracle,
    OracleUpdate,
    cost_name,
    write_update,
)
from benchmarks.nb201.space import N_ARCHS, all_arch_strings
from nasbench_errors import OracleError

Progress = Callable[[str], None]

#: NB201 semantics: which evaluation set is a dataset's ``valid`` and ``test`` split.
EVAL_NAMES: dict[str, dict[str, str]] = {
    "cifar10-valid": {"valid": "x-valid", "test": "ori-test"},
    "cifar10": {"test": "ori-test"},
    "cifar100": {"valid": "x-valid", "test": "x-test"},
    "ImageNet16-120": {"valid": "x-valid", "test": "x-test"},
}
PTH_HPS = {"less": "hp12", "full": "hp200"}
NATS_HPS = {"12": "hp12", "200": "hp200"}
NATS_NOTE = ("NATS-Bench topology (tss) means: more seeds than NAS-Bench-201 v1_1, so they differ from the "
             "v1_1 means on about 15% of cells (by up to ~2.2 points)")
PTH_NOTES = {
    "v1_0": "NAS-Bench-201 v1_0: its hp12 results cover cifar10-valid only",
    "v1_1": "NAS-Bench-201 v1_1: the numbers most papers report",
}
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportSummary:
    """What an import added to the oracle, for the CLI to print."""

    oracle_path: Path
    source: str
    importer: str
    release: str
    metrics: tuple[MetricKey, ...]
    curves: tuple[MetricKey, ...]
    n_archs: int
    sha256: str
    costs: tuple[str, ...] = ()

    def __str__(self) -> str:
        budgets = sorted({k.budget for k in (*self.metrics, *self.curves)})
        costs = f"{len(self.costs)} costs, " if self.costs else ""
        return (f"imported {self.source} ({self.release}) into {self.oracle_path}: "
                f"{len(self.metrics)} metrics, {len(self.curves)} curves, {costs}{self.n_archs} archs, "
                f"budgets {', '.join(budgets) or 'none'}")


class _Reporter:
    """Progress and warnings through the caller's callback, else the module logger."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def info(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)
        else:
            _LOG.info(message)

    def warning(self, message: str) -> None:
        if self.progress is not None:
            self.progress(f"WARNING: {message}")
        else:
            _LOG.warning(message)


# -- dispatch --------------------------------------------------------------------------------------
#: the file that makes a directory a NATS-Bench topology archive
NATS_META = "meta.pickle.pbz2"


def import_nb201(source_path: str | os.PathLike[str], oracle_path: str | os.PathLike[str],
                 budget: str | None = None, progress: Progress | None = None,
                 trust_pickle: bool = False) -> ImportSummary:
    """Import whatever ``source_path`` is (CSV table, curves CSV, .pth, NATS archive) into the oracle."""
    path = _existing(source_path)
    if _is_nats(path):
        return import_nats(path, oracle_path, budget, progress, trust_pickle)
    if path.suffix == ".pth":
        return import_pth(path, oracle_path, budget, progress, trust_pickle)
    if path.suffix == ".csv":
        columns = _csv_columns(path)
        if "epoch" in columns:
            return import_csv_curves(path, oracle_path, budget, progress)
        if any(_cost_column(c) for c in columns):
            return import_csv_costs(path, oracle_path, progress)
        return import_csv_table(path, oracle_path, budget, progress)
    raise OracleError(f"{path}: unknown NAS-Bench-201 source; expected a .csv export, a NAS-Bench-201 .pth "
                      "or a NATS-tss archive (directory or .pickle.pbz2)")


def needs_pickle(source_path: str | os.PathLike[str]) -> bool:
    """Whether importing ``source_path`` unpickles it (a .pth or NATS archive), so needs --trust-pickle.

    A directory without a NATS archive's ``meta.pickle.pbz2`` is no archive: its import fails saying so
    without asking about pickles first."""
    path = Path(source_path)
    if path.is_dir():
        return (path / NATS_META).is_file()
    return _is_nats(path) or path.suffix == ".pth"


def _not_a_nats_dir(path: Path) -> OracleError:
    return OracleError(f"{path}: a directory without {NATS_META}, so not a NATS-tss archive directory; give the "
                       "unpacked NATS-tss-v1_0-3ffb9-simple (or -full) directory, a NAS-Bench-201 .pth or a "
                       ".csv export")


def _is_nats(path: Path) -> bool:
    return path.is_dir() or path.name.endswith(".pbz2")


def _existing(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.exists():
        raise OracleError(f"{path}: no such file; give the path of the downloaded benchmark file")
    return path


def _budget_for(path: Path, budget: str | None) -> str:
    """The budget given, else the one the file name states (``hp12`` / ``hp200``)."""
    if budget is not None:
        name = budget if budget.startswith("hp") else f"hp{budget}"
        if name not in BUDGETS:
            raise OracleError(f"unknown budget {budget!r}; valid: {', '.join(BUDGETS)}")
        return name
    found = set(re.findall(r"hp(12|200)(?!\d)", path.name))
    if len(found) != 1:
        raise OracleError(f"{path}: cannot tell the training budget from the file name; "
                          "pass --budget hp200 or --budget hp12")
    return f"hp{found.pop()}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


@lru_cache(maxsize=1)
def _arch_strings() -> np.ndarray:
    return np.asarray(all_arch_strings(), dtype=object)


def _commit(path: Path, oracle_path: str | os.PathLike[str], update: OracleUpdate, importer: str,
            digest: str, release: str, note: str) -> ImportSummary:
    """Record provenance, merge the update into the oracle and summarise it."""
    update.source = {
        "importer": importer, "source": path.name, "sha256": digest, "release": release, "note": note,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_update(oracle_path, update)
    covered = np.zeros(N_ARCHS, dtype=bool)
    for column in (*update.values.values(), *update.costs.values()):
        covered |= ~np.isnan(column)
    for dense in update.curves.values():
        covered |= ~np.isnan(dense).all(axis=1)
    return ImportSummary(Path(oracle_path), path.name, importer, release, tuple(sorted(update.values)),
                         tuple(sorted(update.curves)), int(covered.sum()), digest, tuple(sorted(update.costs)))


# -- CSV exports -----------------------------------------------------------------------------------
def import_csv_table(source_path: str | os.PathLike[str], oracle_path: str | os.PathLike[str],
                     budget: str | None = None, progress: Progress | None = None) -> ImportSummary:
    """Per-arch CSV (``index, arch_str, <dataset>_<split>...``, all 15,625 cells, means in percent)."""
    path = _existing(source_path)
    budget = _budget_for(path, budget)
    _Reporter(progress).info(f"reading {path.name} as {budget} means")
    frame = _read_csv(path)
    columns = _metric_columns(path, frame, {"index", "arch_str"})
    _check_search_pairs(path, oracle_path, budget, set(columns.values()))
    index = _complete_index(path, frame)
    update = OracleUpdate()
    for column, (dataset, split) in columns.items():
        values = np.full(N_ARCHS, np.nan)
        values[index] = _accuracies(path, frame, column)
        update.values[MetricKey(dataset, split, budget)] = values
    return _commit(path, oracle_path, update, "csv-table", _sha256(path), "csv",
                   "per-arch CSV export, mean over the benchmark's seeds")


def _check_search_pairs(path: Path, oracle_path: str | os.PathLike[str], budget: str,
                        given: set[tuple[str, str]]) -> None:
    """A search on a dataset reads its test and its valid accuracy together (``SEARCH_METRICS``): a table with
    one of the two columns needs the other, in the file or already in the oracle (a patch of one column is
    fine); otherwise every run on that dataset would record no test (or no valid) regret."""
    have = set(given)
    if Path(oracle_path).exists():
        have |= {(k.dataset, k.split) for k in NB201Oracle.open(oracle_path).metrics()
                 if k.budget == budget and k.stat == "mean"}
    for dataset, pair in SEARCH_METRICS.items():
        present = [p for p in pair if p in given]
        absent = [p for p in pair if p not in have]
        if present and absent:
            raise OracleError(f"{path}: missing column {'_'.join(absent[0])}: a search on {dataset} reads it with "
                              f"{'_'.join(present[0])} ({budget}); use the complete export, or import this one "
                              "into a table that has it")


def import_csv_costs(source_path: str | os.PathLike[str], oracle_path: str | os.PathLike[str],
                     progress: Progress | None = None) -> ImportSummary:
    """Per-arch cost CSV (``index, arch_str, <dataset>_<quantity>...``, quantity in ``COST_QUANTITIES``)."""
    path = _existing(source_path)
    _Reporter(progress).info(f"reading {path.name} as per-architecture costs")
    frame = _read_csv(path)
    missing = {"index", "arch_str"} - set(frame.columns)
    if missing:
        raise OracleError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected index, arch_str "
                          "and <dataset>_<quantity> cost columns")
    index = _complete_index(path, frame)
    update = OracleUpdate()
    for column in frame.columns:
        if column in ("index", "arch_str"):
            continue
        found = _cost_column(str(column))
        if found is None:
            raise OracleError(f"{path}: unexpected column {column!r}; cost columns are <dataset>_<quantity> with "
                              f"quantity in {', '.join(COST_QUANTITIES)}")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row = int(np.argmax(bad))
            raise OracleError(f"{path}: row {row + 2}: {column} = {_cell(frame, str(column), row)} is not a "
                              "non-negative number; check the export")
        column_values = update.costs[cost_name(*found)] = np.full(N_ARCHS, np.nan)
        column_values[index] = values
    return _commit(path, oracle_path, update, "csv-costs", _sha256(path), "csv",
                   "per-arch cost CSV export (training seconds per epoch, FLOPs, parameters, latency)")


def _cost_column(column: str) -> tuple[str, str] | None:
    """(dataset, quantity) of a ``<dataset>_<quantity>`` cost column, None for any other column."""
    for quantity in COST_QUANTITIES:
        dataset = column.removesuffix(f"_{quantity}")
        if dataset != column and dataset in DATASETS:
            return dataset, quantity
    return None


def _complete_index(path: Path, frame: pd.DataFrame) -> np.ndarray:
    """The ``index`` column of a per-arch export, which must hold every cell once under its official string."""
    index = _int_column(path, frame, "index", N_ARCHS)
    if len(np.unique(index)) != N_ARCHS or len(index) != N_ARCHS:
        raise OracleError(f"{path}: expected each of the {N_ARCHS} NAS-Bench-201 indices exactly once, found "
                          f"{len(np.unique(index))} distinct in {len(index)} rows; use the complete export")
    _check_arch_strings(path, frame, index)
    return index


def import_csv_curves(source_path: str | os.PathLike[str], oracle_path: str | os.PathLike[str],
                      budget: str | None = None, progress: Progress | None = None) -> ImportSummary:
    """Long-format curves CSV (``index, arch_str, epoch, <dataset>_<split>...``, means in percent)."""
    path = _existing(source_path)
    budget = _budget_for(path, budget)
    epochs = BUDGET_EPOCHS[budget]
    _Reporter(progress).info(f"reading {path.name} as {budget} curves ({epochs} epochs)")
    frame = _read_csv(path)
    columns = _metric_columns(path, frame, {"index", "arch_str", "epoch"})
    index = _int_column(path, frame, "index", N_ARCHS)
    epoch = _int_column(path, frame, "epoch", epochs)
    if len(np.unique(index * epochs + epoch)) != len(frame):
        raise OracleError(f"{path}: some (index, epoch) pairs appear twice; use the original export")
    _check_arch_strings(path, frame, index)
    update = OracleUpdate()
    for column, (dataset, split) in columns.items():
        dense = np.full((N_ARCHS, epochs), np.nan, dtype=np.float32)
        dense[index, epoch] = _accuracies(path, frame, column)
        update.curves[MetricKey(dataset, split, budget)] = dense
    return _commit(path, oracle_path, update, "csv-curves", _sha256(path), "csv",
                   "per-epoch curves CSV export, mean over the benchmark's seeds")


def _csv_columns(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [c.strip() for c in f.readline().split(",")]
    except (OSError, UnicodeDecodeError) as e:
        raise OracleError(f"{path}: cannot read ({_reason(e)}); give a CSV export") from None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"arch_str": str}, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise OracleError(f"{path}: not a readable CSV ({_reason(e)}); re-export or re-download it") from None


def _metric_columns(path: Path, frame: pd.DataFrame, keys: set[str]) -> dict[str, tuple[str, str]]:
    """``{column: (dataset, split)}`` for every ``<dataset>_<split>`` column; anything else is an error."""
    missing = keys - set(frame.columns)
    if missing:
        raise OracleError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected "
                          f"{', '.join(sorted(keys))} and <dataset>_<split> columns")
    found: dict[str, tuple[str, str]] = {}
    for column in frame.columns:
        if column in keys:
            continue
        dataset, _, split = str(column).rpartition("_")
        if dataset not in DATASETS or split not in SPLITS:
            raise OracleError(f"{path}: unexpected column {column!r}; metric columns are <dataset>_<split> "
                              f"with dataset in {', '.join(DATASETS)} and split in {', '.join(SPLITS)}")
        found[str(column)] = (dataset, split)
    if not found:
        raise OracleError(f"{path}: no <dataset>_<split> accuracy columns; give an accuracy export")
    return found


def _int_column(path: Path, frame: pd.DataFrame, column: str, stop: int) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) | (values != np.round(values)) | (values < 0) | (values >= stop)
    if bad.any():
        row = int(np.argmax(bad))
        raise OracleError(f"{path}: row {row + 2}: {column} {_cell(frame, column, row)} is not an integer in "
                          f"0..{stop - 1}; check the file (and --budget for epochs)")
    return values.astype(np.int64)


def _cell(frame: pd.DataFrame, column: str, row: int) -> str:
    value = frame[column].iloc[row]
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_arch_strings(path: Path, frame: pd.DataFrame, index: np.ndarray) -> None:
    """Every row's arch string must be the official cell of its index (guards against reordered exports)."""
    expected = _arch_strings()[index]
    given = frame["arch_str"].to_numpy(dtype=object)
    wrong = expected != given
    if wrong.any():
        row = int(np.argmax(wrong))
        raise OracleError(f"{path}: row {row + 2}: arch_str {given[row]!r} is not NAS-Bench-201 cell "
                          f"{index[row]} ({expected[row]}); the export does not use the official indices")


def _accuracies(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) | (values < 0) | (values > 100)
    if bad.any():
        row = int(np.argmax(bad))
        raise OracleError(f"{path}: row {row + 2}: {column} = {_cell(frame, column, row)} is not an accuracy "
                          "in percent (0..100); check the export")
    if np.nanmax(values, initial=0.0) <= 1.0:
        raise OracleError(f"{path}: {column} looks like fractions (all <= 1); the oracle stores percent")
    return values


# -- official pickles ------------------------------------------------------------------------------
def import_pth(source_path: str | os.PathLike[str], oracle_path: str | os.PathLike[str],
               budget: str | None = None, progress: Progress | None = None,
               trust_pickle: bool = False) -> ImportSummary:
    """Official ``NAS-Bench-201-v1_[01]-*.pth``: final accuracies per seed and mean, and mean curves."""
    path = _existing(source_path)
    say = _Reporter(progress)
    _trust(path, trust_pickle, say)
    data = _load_pth(path, say)
    meta_archs, arch2infos = _official_top(path, data)
    collector = _Collector(path, PTH_HPS, budget, say)
    for count, index in enumerate(sorted(arch2infos, key=lambda key: _arch_index(path, key))):
        collector.add(_arch_index(path, index), meta_archs, arch2infos[index])
        if (count + 1) % 1000 == 0:
            say.info(f"{count + 1}/{len(arch2infos)} archs read")
    version = _match(r"NAS-Bench-201-(v1_[01])-[0-9a-f]+", path.name)
    release = f"NAS-Bench-201-{version}" if version else "NAS-Bench-201 (unknown version)"
    note = PTH_NOTES.get(version or "", "NAS-Bench-201 .pth of unknown version")
    return _commit(path, oracle_path, collector.update(), "nb201-pth", _sha256(path), release, note)


def import_nats(source_path: str | os.PathLike[str], oracle_path: str | os.PathLike[str],
                budget: str | None = None, progress: Progress | None = None,
                trust_pickle: bool = False) -> ImportSummary:
    """NATS-Bench topology archive: a ``NATS-tss-v1_0-*-simple``/``-full`` directory or one .pickle.pbz2."""
    path = _existing(source_path)
    if "NATS-sss" in path.name:
        raise OracleError(f"{path}: the NATS size search space (sss) is not NAS-Bench-201; "
                          "give a NATS-tss archive")
    if path.is_dir() and not (path / NATS_META).is_file():
        raise _not_a_nats_dir(path)
    say = _Reporter(progress)
    _trust(path, trust_pickle, say)
    digest = hashlib.sha256()
    collector = _Collector(path, NATS_HPS, budget, say)
    for count, (index, entry, meta_archs) in enumerate(_nats_records(path, digest)):
        collector.add(index, meta_archs, entry)
        if (count + 1) % 1000 == 0:
            say.info(f"{count + 1} archs read")
    release = _match(r"NATS-tss-v\d+_\d+-[0-9a-f]+", path.name) or "NATS-tss (unknown version)"
    return _commit(path, oracle_path, collector.update(), "nats-tss", digest.hexdigest(), release, NATS_NOTE)


def _trust(path: Path, trust_pickle: bool, say: _Reporter) -> None:
    """Refuse a pickle unless the caller vouched for it, then warn before anything is unpickled."""
    if not trust_pickle:
        raise OracleError(f"{path}: is a Python pickle, which can run code when loaded; import it only if "
                          "it is the official download, by passing --trust-pickle")
    say.warning(f"{path.name} is a Python pickle: loading it can run arbitrary code. Import only the "
                "official NAS-Bench-201 / NATS-Bench download.")


def _match(pattern: str, name: str) -> str | None:
    """The pattern's first group (else the whole match) in ``name``, or None."""
    found = re.search(pattern, name)
    return None if found is None else found.group(found.lastindex or 0)


def _optional_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _load_pth(path: Path, say: _Reporter) -> Any:
    """Through the official ``nas_201_api`` when installed, else ``torch.load`` of the pickle."""
    api_module = _optional_module("nas_201_api")
    if api_module is not None:
        try:
            return _from_nb201_api(api_module.NASBench201API(str(path), verbose=False))
        except Exception as e:  # the official reader failed: fall back to reading the pickle ourselves
            say.info(f"nas_201_api could not read {path.name} ({_reason(e)}); reading the pickle directly")
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise OracleError(f"{path}: cannot read ({_reason(e)}); the file is truncated or not an official "
                          "NAS-Bench-201 .pth: download it again") from None


def _from_nb201_api(api: Any) -> dict[str, Any]:
    """The file's own structure, rebuilt from a ``NASBench201API`` (hp '12'/'200' -> 'less'/'full')."""
    arch2infos = {
        index: {name: hps[hp].state_dict() for hp, name in (("12", "less"), ("200", "full")) if hp in hps}
        for index, hps in api.arch2infos_dict.items()
    }
    return {"meta_archs": list(api.meta_archs), "arch2infos": arch2infos}


def _official_top(path: Path, data: Any) -> tuple[list[str], Mapping[Any, Any]]:
    """(meta_archs, arch2infos) after checking the top-level structure and the arch strings."""
    if not isinstance(data, Mapping) or not {"meta_archs", "arch2infos"} <= set(data):
        raise OracleError(f"{path}: not a NAS-Bench-201 benchmark file (expected a dict with meta_archs and "
                          "arch2infos); download the official file again")
    if not isinstance(data["arch2infos"], Mapping):
        raise OracleError(f"{path}: arch2infos is not a dict; download the official file again")
    return _check_meta_archs(path, data), data["arch2infos"]


def _check_meta_archs(path: Path, data: Mapping[str, Any]) -> list[str]:
    meta_archs = data["meta_archs"]
    if not isinstance(meta_archs, list | tuple) or len(meta_archs) != N_ARCHS:
        size = len(meta_archs) if isinstance(meta_archs, list | tuple) else type(meta_archs).__name__
        raise OracleError(f"{path}: meta_archs lists {size} archs, NAS-Bench-201 has {N_ARCHS}; "
                          "give the NAS-Bench-201 / NATS topology (tss) file")
    if data.get("total_archs", N_ARCHS) != N_ARCHS:
        raise OracleError(f"{path}: total_archs = {data['total_archs']}, expected {N_ARCHS}; "
                          "wrong benchmark file")
    wrong = _arch_strings() != np.asarray(meta_archs, dtype=object)
    if wrong.any():
        i = int(np.argmax(wrong))
        raise OracleError(f"{path}: meta_archs[{i}] = {meta_archs[i]!r} is not NAS-Bench-201 cell {i} "
                          f"({_arch_strings()[i]}); not the official index order")
    return list(meta_archs)


def _arch_index(path: Path, key: Any) -> int:
    if isinstance(key, bool) or not isinstance(key, int | np.integer) or not 0 <= key < N_ARCHS:
        raise OracleError(f"{path}: arch2infos key {key!r} is not an index in 0..{N_ARCHS - 1}; "
                          "download the official file again")
    return int(key)


def _nats_records(path: Path, digest: Any) -> Iterator[tuple[int, Any, list[str]]]:
    """(index, {hp: ArchResults state}, meta_archs) per arch, from a directory or a single archive file."""
    if path.is_file():
        data = _load_pbz2(path, digest)
        meta_archs, arch2infos = _official_top(path, data)
        for key in sorted(arch2infos, key=lambda k: _arch_index(path, k)):
            yield _arch_index(path, key), arch2infos[key], meta_archs
        return
    meta_path = path / NATS_META
    if not meta_path.is_file():
        raise _not_a_nats_dir(path)
    meta = _load_pbz2(meta_path, digest)
    if not isinstance(meta, Mapping) or "meta_archs" not in meta:
        raise OracleError(f"{meta_path}: no meta_archs; download the official archive again")
    meta_archs = _check_meta_archs(meta_path, meta)
    files = sorted(p for p in path.iterdir() if re.fullmatch(r"\d+\.pickle\.pbz2", p.name))
    for file in files:
        yield _arch_index(file, int(file.name.split(".")[0])), _load_pbz2(file, digest), meta_archs


def _load_pbz2(path: Path, digest: Any) -> Any:
    """One bz2-compressed pickle (official ``pickle_load`` when ``nats_bench`` is installed)."""
    try:
        raw = path.read_bytes()
        digest.update(path.name.encode())
        digest.update(raw)
        utils = _optional_module("nats_bench.api_utils")
        if utils is not None:
            return utils.pickle_load(str(path))
        return pickle.loads(bz2.decompress(raw))
    except Exception as e:
        raise OracleError(f"{path}: cannot read ({_reason(e)}); the archive is truncated or corrupt: "
                          "download and unpack it again") from None


class _Collector:
    """Turns ArchResults state dicts into per-seed and mean columns and mean-over-seeds curves."""

    def __init__(self, path: Path, hps: Mapping[str, str], budget: str | None, say: _Reporter) -> None:
        self.path = path
        self.all_hps = dict(hps)
        wanted = None if budget is None else _budget_for(path, budget)
        self.hps = {key: b for key, b in hps.items() if wanted is None or b == wanted}
        self.say = say
        self.values: dict[MetricKey, np.ndarray] = {}
        self.curves: dict[MetricKey, np.ndarray] = {}
        self.per_epoch: set[MetricKey] = set()
        self.skipped: set[str] = set()

    def add(self, index: int, meta_archs: list[str], entry: Any) -> None:
        """Everything one arch's entry ({hp key: ArchResults state dict}) holds for the wanted budgets."""
        if not isinstance(entry, Mapping) or not set(entry) & set(self.all_hps):
            raise self._error(index, f"expected {{hp: ArchResults}} with hp in {', '.join(self.all_hps)}")
        for hp_key, state in entry.items():
            if hp_key in self.hps:
                self._add_results(index, meta_archs[index], self.hps[hp_key], state)
            elif hp_key not in self.all_hps:
                self._skip(str(hp_key))

    def _skip(self, hp_key: str) -> None:
        if hp_key not in self.skipped:
            self.skipped.add(hp_key)
            self.say.info(f"{self.path.name}: skipping results under hp key {hp_key!r}")

    def _add_results(self, index: int, arch_str: str, budget: str, state: Any) -> None:
        if not isinstance(state, Mapping) or not {"all_results", "dataset_seed"} <= set(state):
            raise self._error(index, f"{budget} entry is not an ArchResults state dict")
        if state.get("arch_str", arch_str) != arch_str:
            raise self._error(index, f"arch_str {state['arch_str']!r} differs from meta_archs ({arch_str})")
        for dataset, seeds in state["dataset_seed"].items():
            if dataset not in EVAL_NAMES:
                raise self._error(index, f"unknown dataset {dataset!r}")
            trials = [self._trial(index, budget, dataset, seed, state["all_results"]) for seed in seeds]
            for split in SPLITS:
                curves = {seed: c[split] for seed, c in trials if split in c}
                if curves:
                    self._store(index, MetricKey(dataset, split, budget), curves)

    def _trial(self, index: int, budget: str, dataset: str, seed: Any,
               all_results: Mapping[Any, Any]) -> tuple[int, dict[str, np.ndarray]]:
        """(seed, {split: accuracy per epoch}) of one training run."""
        result = all_results.get((dataset, seed))
        if not isinstance(result, Mapping) or not {"epochs", "train_acc1es", "eval_acc1es"} <= set(result):
            raise self._error(index, f"no ResultsCount for ({dataset!r}, {seed!r})")
        epochs = result["epochs"]
        if epochs != BUDGET_EPOCHS[budget]:
            raise self._error(index, f"{dataset} seed {seed} ran {epochs} epochs, "
                                     f"{budget} has {BUDGET_EPOCHS[budget]}")
        try:
            curves = {"train": _series(result["train_acc1es"], epochs)}
            evals = result["eval_acc1es"]
            for split, name in EVAL_NAMES[dataset].items():
                curves[split] = np.array([evals.get(f"{name}@{e}", np.nan) for e in range(epochs)], float)
            return int(seed), {s: c for s, c in curves.items() if not np.isnan(c).all()}
        except (TypeError, ValueError, AttributeError) as e:
            problem = f"unreadable accuracies for {dataset} seed {seed} ({_reason(e)})"
            raise self._error(index, problem) from None

    def _store(self, index: int, key: MetricKey, curves: dict[int, np.ndarray]) -> None:
        for seed, curve in curves.items():
            self._column(MetricKey(key.dataset, key.split, key.budget, f"seed{seed}"))[index] = curve[-1]
        mean = _nanmean(np.stack(list(curves.values())))
        self._column(key)[index] = mean[-1]
        if key not in self.curves:
            self.curves[key] = np.full((N_ARCHS, BUDGET_EPOCHS[key.budget]), np.nan, dtype=np.float32)
        self.curves[key][index] = mean
        if np.count_nonzero(~np.isnan(mean)) > 1:
            self.per_epoch.add(key)

    def _column(self, key: MetricKey) -> np.ndarray:
        if key not in self.values:
            self.values[key] = np.full(N_ARCHS, np.nan)
        return self.values[key]

    def _error(self, index: int, problem: str) -> OracleError:
        return OracleError(f"{self.path}: arch {index}: {problem}; the file is not in the official format: "
                           "download it again")

    def update(self) -> OracleUpdate:
        """Final values for every metric seen; curves only where the source has more than the last epoch."""
        if not self.values:
            budgets = ", ".join(self.hps.values()) or "none"
            raise OracleError(f"{self.path}: no results for budget(s) {budgets}; check --budget and the file")
        curves = {k: v for k, v in self.curves.items() if k in self.per_epoch}
        return OracleUpdate(values=self.values, curves=curves)


def _series(values: Any, epochs: int) -> np.ndarray:
    """Accuracy per epoch from ``{epoch: acc}`` or a list, NaN where an epoch is missing."""
    if isinstance(values, Mapping):
        return np.array([values.get(e, np.nan) for e in range(epochs)], dtype=np.float64)
    out = np.full(epochs, np.nan)
    given = np.asarray(values, dtype=np.float64)[:epochs]
    out[: len(given)] = given
    return out


def _nanmean(stacked: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN, NaN (without a warning) where all are NaN."""
    count = np.count_nonzero(~np.isnan(stacked), axis=0)
    total = np.nansum(stacked, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)

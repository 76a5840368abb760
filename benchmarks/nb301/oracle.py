"""The NAS-Bench-301 oracle: the YAHPO Gym surrogate's *predicted* CIFAR-10 validation accuracy of a DARTS
genotype after the surrogate's final epoch (98), against an optimum found by regularized evolution.

These are predictions of a model fitted to NAS-Bench-301's training data, not trained results: they rank
architectures plausibly (DARTS-V2: 92.9 %) but carry the surrogate's error, and there is no test accuracy.

``harness data import nb301 DIR`` checks ``DIR/model_v2.onnx`` and ``DIR/encoding_v2.json`` (the model
loads with the surrogate's inputs and outputs, the encoding has its 34 inputs and codes), copies them to
``<oracle dir>/nb301/``, runs a seeded regularized evolution on the surrogate (50,000 queries by
default) and writes ``nb301.json`` beside them: the source files with their sha256, and the optimum
with its provenance (method, budget, seed, genotype, value). Lookups are cached per genotype, so a
genotype queried twice gets the same number.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.darts.genotype import DARTS_V2, Genotype, GenotypeError
from benchmarks.nb201.oracle import Lookup
from benchmarks.nb301.evolution import regularized_evolution
from benchmarks.nb301.surrogate import FINAL_EPOCH, Surrogate
from benchmarks.table import _atomic_write
from nasbench_errors import OracleError

SCHEMA = 1
DATASET = "cifar10"
BUDGET = f"e{FINAL_EPOCH}"
STAT = "mean"  # the surrogate predicts the expected accuracy of a training run
MODEL, ENCODING, REGISTRATION = "model_v2.onnx", "encoding_v2.json", "nb301.json"
EVOLUTION = {"budget": 50_000, "seed": 0, "population": 100, "sample": 25, "children": 50}


def _remedy(oracle_dir: Path) -> str:
    return f"run `harness data import nb301 DIR --oracle-dir {oracle_dir}` with the YAHPO Gym nb301 folder"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class NB301Oracle:
    """Surrogate lookups of DARTS genotypes, keyed by ``Genotype.index``; open with ``NB301Oracle.open``."""

    def __init__(self, surrogate: Surrogate, optimum: dict[str, Any]) -> None:
        self.surrogate, self.optimum = surrogate, optimum
        self.optimum_percent = 100.0 * float(optimum["value"])
        self._cache: dict[int, float] = {}

    @staticmethod
    def default_path(oracle_dir: str | os.PathLike[str]) -> Path:
        return Path(oracle_dir) / "nb301"

    @classmethod
    def open(cls, oracle_dir: str | os.PathLike[str]) -> NB301Oracle:
        directory = cls.default_path(oracle_dir)
        path = directory / REGISTRATION
        if not path.is_file():
            raise OracleError(f"no NAS-Bench-301 surrogate registered in {directory}; {_remedy(Path(oracle_dir))}")
        try:
            meta = json.loads(path.read_text())
            schema, files, optimum = int(meta["schema"]), meta["files"], meta["optimum"]
            Genotype.from_string(optimum["genotype"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OracleError(f"{path}: damaged registration ({exc}); {_remedy(Path(oracle_dir))}") from None
        if schema > SCHEMA:
            raise OracleError(f"{path}: registration schema {schema} is newer than this harness reads ({SCHEMA}); "
                              "upgrade nasbench-harness")
        for name in (MODEL, ENCODING):
            file = directory / name
            if not file.is_file() or _sha256(file) != files[name]["sha256"]:
                raise OracleError(f"{file} is missing or changed since it was imported; {_remedy(Path(oracle_dir))}")
        return cls(Surrogate(directory / MODEL, directory / ENCODING), optimum)

    @staticmethod
    def search_metrics(dataset: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """The surrogate predicts validation accuracy only: the test metric has no value (test_acc stays empty)."""
        if dataset != DATASET:
            raise OracleError(f"the NAS-Bench-301 surrogate predicts CIFAR-10 only, not {dataset!r}")
        return (DATASET, "test"), (DATASET, "valid")

    def predict(self, index: int) -> float:
        """Predicted validation accuracy (%) at the final epoch of the genotype with ``index`` (cached)."""
        if index not in self._cache:
            try:
                genotype = Genotype.from_index(index)
            except GenotypeError as exc:
                raise OracleError(str(exc)) from None
            self._cache[index] = 100.0 * float(self.surrogate.predict([genotype])[0])
        return self._cache[index]

    def lookups(self, index: int, budget: str = BUDGET) -> list[Lookup]:
        if budget != BUDGET:
            raise OracleError(f"the NAS-Bench-301 oracle answers at the surrogate's final epoch ({BUDGET}), "
                              f"not {budget!r}")
        value = self.predict(index)
        return [Lookup(DATASET, "valid", BUDGET, STAT, value, self.optimum_percent, self.optimum_percent - value)]


def import_nb301(source: str | os.PathLike[str], oracle_dir: str | os.PathLike[str],
                 evolution: dict[str, int] | None = None,
                 progress: Callable[[str], None] | None = None,
                 on_queries: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """``harness data import nb301 DIR``: check and register the surrogate, search its optimum; returns the
    registration. ``on_queries(done, best)`` follows the evolution (see ``regularized_evolution``)."""
    say = progress or (lambda _text: None)
    source = Path(source)
    if not source.is_dir():
        raise OracleError(f"{source}: not a directory; give the YAHPO Gym nb301 folder holding {MODEL} and {ENCODING}")
    surrogate = Surrogate(source / MODEL, source / ENCODING)  # checks both files
    reference = float(surrogate.predict([DARTS_V2])[0])
    say(f"surrogate {source / MODEL}: DARTS-V2 predicted validation accuracy {100 * reference:.2f} % at epoch "
        f"{FINAL_EPOCH}")
    settings = {**EVOLUTION, **(evolution or {})}
    say(f"regularized evolution on the surrogate: {settings['budget']} queries, seed {settings['seed']}")
    found = regularized_evolution(surrogate.predict, **settings, on_queries=on_queries)
    value = float(surrogate.predict([found.best])[0])  # alone, as a lookup queries it
    registration = {
        "schema": SCHEMA, "benchmark": "nb301", "imported": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": str(source.resolve()),
        "files": {name: {"sha256": _sha256(source / name)} for name in (MODEL, ENCODING)},
        "darts_v2": reference,
        "optimum": {"value": value, "epoch": FINAL_EPOCH, "genotype": found.best.to_string(),
                    "method": "regularized evolution (Real et al. 2019), aging, batched rounds",
                    "queries": found.queries, **settings},
    }
    target = NB301Oracle.default_path(oracle_dir)
    for name in (MODEL, ENCODING):
        _atomic_write(target / name, [(source / name).read_bytes()])
    _atomic_write(target / REGISTRATION, [json.dumps(registration, indent=2).encode()])
    say(f"optimum: {100 * value:.2f} % predicted ({found.best})")
    say(f"oracle: {target}")
    return registration

"""NAS-Bench-101 tfrecord fixtures in the official record format, written by the tests.

A record is TFRecord-framed (length, masked CRC-32C of the length, payload, masked CRC-32C of the
payload) and its payload is the UTF-8 JSON row ``[hash, epochs, adjacency, ops, base64(ModelMetrics)]``
that ``nasbench/api.py`` reads. ``space_records`` writes plausible, seeded values for every cell of
NAS-Bench-1Shot1 spaces, so that the real importer and the 1Shot1 enumeration can be run end to end.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.nb1shot1.oracle import enumerate_space
from benchmarks.nb1shot1.space import NB1Shot1Space
from benchmarks.nb101.graph import ModelSpec
from benchmarks.nb101.metrics import ModelMetrics
from benchmarks.nb101.tfrecord import frame


@dataclass(frozen=True)
class Run:
    """One training run of a cell: what a record holds (accuracies as fractions)."""

    valid: float
    test: float
    train_time: float


def payload(spec: ModelSpec, spec_hash: str, epochs: int, run: Run, params: int = 1_000_000) -> bytes:
    """The JSON payload of one record; ``spec`` is written as given (official records hold pruned cells)."""
    metrics = ModelMetrics(trainable_parameters=params, total_time=run.train_time * 1.1)
    for fraction in (0.0, 0.5, 1.0):  # step 0, halfway, final: the API reads index 2 as final
        metrics.evaluation_data.add(current_epoch=epochs * fraction, training_time=run.train_time * fraction,
                                    train_accuracy=min(1.0, run.valid + 0.05) * fraction,
                                    validation_accuracy=run.valid * fraction, test_accuracy=run.test * fraction)
    adjacency = "".join(str(x) for row in spec.matrix for x in row)
    row = [spec_hash, epochs, adjacency, ",".join(spec.ops), base64.b64encode(metrics.SerializeToString()).decode()]
    return json.dumps(row).encode()


def write_tfrecord(path: Path, payloads: Iterable[bytes]) -> Path:
    with open(path, "wb") as f:
        for data in payloads:
            f.write(frame(data))
    return path


def seeded_runs(rng: np.random.Generator, repeats: int = 3) -> list[Run]:
    """Plausible CIFAR-10 numbers, float32-exact like NAS-Bench-101's."""
    base = rng.uniform(0.80, 0.94)
    return [Run(float(np.float32(base + rng.normal(0, 0.004))), float(np.float32(base - 0.006 + rng.normal(0, 0.004))),
                float(np.float32(rng.uniform(1000, 3000)))) for _ in range(repeats)]


def space_cells(numbers: Iterable[int]) -> dict[str, ModelSpec]:
    """Every cell (hash -> pruned cell) of the given 1Shot1 spaces."""
    cells: dict[str, ModelSpec] = {}
    for number in numbers:
        space = NB1Shot1Space(number)
        ids, hashes = enumerate_space(space)
        _, first = np.unique(ids, return_index=True)
        for cell_id, index in enumerate(first.tolist()):
            spec = space.spec(space.selection_at(index)).check_in_space()
            cells.setdefault(hashes[cell_id], spec)
    return cells


def space_records(path: Path, numbers: Iterable[int] = (1,), seed: int = 0,
                  other_epochs: tuple[int, ...] = ()) -> dict[str, list[Run]]:
    """Write 3 runs at 108 epochs (plus one per ``other_epochs``) for every cell of the spaces."""
    rng = np.random.default_rng(seed)
    truth: dict[str, list[Run]] = {}
    payloads = []
    for spec_hash, spec in space_cells(numbers).items():
        runs = truth[spec_hash] = seeded_runs(rng)
        payloads.extend(payload(spec, spec_hash, 108, run) for run in runs)
        payloads.extend(payload(spec, spec_hash, e, runs[0]) for e in other_epochs)
    write_tfrecord(path, payloads)
    return truth

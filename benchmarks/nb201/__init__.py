"""NAS-Bench-201 (Dong & Yang, ICLR 2020): the cell space, its supernet and its tabular oracle.

The plug-in (``benchmarks.registry``): the GAEA weight-training preset, ``harness data import nb201 FILE``
(``benchmarks.nb201.commands``) and the bundled/imported table's ``harness data info``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks.datasets import ImageData, SearchSplit
from benchmarks.registry import SEARCH_SGD, ArchRecord, Benchmark, Importer, ImportRequest, Say
from benchmarks.space import SearchSpace, Selection
from nasbench_errors import ConfigError
from nasbench_settings import one_of, text


def _space(config: Mapping[str, Any]) -> SearchSpace:
    from benchmarks.nb201.space import NB201Space

    return NB201Space(include_none=not bool(config.get("exclude_none", False)))


def _supernet(space: SearchSpace, config: Mapping[str, Any], num_classes: int) -> nn.Module:
    """``partial_channels`` (PC-DARTS's K, set by the PC-DARTS methods; 1 = every channel) must divide C."""
    from benchmarks.nb201.supernet import NB201Supernet

    C, k = int(config["C"]), config.get("partial_channels", 1)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1 or C % k:
        raise ConfigError(f"partial_channels={k} must be a positive divisor of C={C}; "
                          f"set --set partial_channels=K with K dividing C (PC-DARTS uses 4)")
    return NB201Supernet(space.op_names, C=C, N=int(config["N"]), num_classes=num_classes, partial_channels=k)


def _oracle(oracle_dir: Path, config: Mapping[str, Any]):  # noqa: ANN202 - NB201Oracle; one table, config unused
    """The imported table of ``oracle_dir``, else the one bundled with the package."""
    from benchmarks.nb201.oracle import NB201Oracle

    return NB201Oracle.open(NB201Oracle.locate(oracle_dir))


def _search_split(data: ImageData, setting: str, config: Mapping[str, Any]) -> SearchSplit:
    """NAS-Bench-201's official split on the official data, else the seeded stratified one."""
    from benchmarks.nb201.splits import search_split

    return search_split(data, setting, config)


def _describe(space: SearchSpace, selection: Selection) -> ArchRecord:
    arch = space.arch(selection)
    return ArchRecord(arch=arch.to_string(), key=arch.index, n_skip=arch.count("skip_connect"))


def _import(request: ImportRequest) -> None:
    from benchmarks.nb201.commands import import_file

    import_file(request)


def _info(oracle_dir: Path, say: Say) -> None:
    from benchmarks.nb201.commands import info

    info(oracle_dir, say)


IMPORTER = Importer(
    name="nb201",
    source="an official NAS-Bench-201 .pth, a NATS-Bench topology archive directory, or a per-architecture CSV",
    run=_import,
    options={"budget": text(nullable=True, help="training budget of a CSV's numbers (hp200 or hp12); inferred "
                                                "from the file name if absent")},
    defaults={"budget": None},
)

BENCHMARK = Benchmark(
    name="nb201",
    title="NAS-Bench-201",
    datasets=("cifar10", "cifar100", "ImageNet16-120"),
    make_space=_space,
    make_supernet=_supernet,
    open_oracle=_oracle,
    describe=_describe,
    simulates_training=True,
    search_split=_search_split,
    # weight training: GAEA P0 C.3 / spec 1.6.5
    preset={**SEARCH_SGD, "batch_size": 64, "C": 16, "N": 5, "oracle_budget": "hp200"},
    types={"oracle_budget": one_of("hp200", "hp12", help="training budget of the oracle's numbers")},
    importers=(IMPORTER,),
    info=_info,
    order=0,
)

"""NAS-Bench-301 (Siems et al. 2020): the DARTS search space with the YAHPO Gym surrogate as its oracle.

The space and the supernet are ``benchmarks.darts``; the oracle predicts, it does not look up trained
results (``benchmarks.nb301.oracle``). ``harness data import nb301 DIR`` registers the surrogate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks.registry import ArchRecord, Benchmark
from benchmarks.space import SearchSpace, Selection


def _space(config: Mapping[str, Any]) -> SearchSpace:
    """``exclude_none`` drops the zero op; ``cell_ops`` is ``all`` or NASP's ``restricted`` op set per cell type."""
    from benchmarks.darts.space import DartsSpace

    return DartsSpace(include_none=not bool(config.get("exclude_none", False)),
                      cell_ops=str(config.get("cell_ops", "all")))


def _supernet(space: SearchSpace, config: Mapping[str, Any], num_classes: int) -> nn.Module:
    """``N`` normal cells per stage (3N + 2 cells: DARTS's 8 is N = 2); ``partial_channels`` K must divide C."""
    from benchmarks.darts.supernet import DartsSupernet

    return DartsSupernet(space, C=int(config["C"]), N=int(config["N"]), num_classes=num_classes,
                         partial_channels=int(config.get("partial_channels", 1)))


def _oracle(oracle_dir: Path, config: Mapping[str, Any]):  # noqa: ANN202 - NB301Oracle, imported lazily
    from benchmarks.nb301.oracle import NB301Oracle

    return NB301Oracle.open(oracle_dir)


def _describe(space: SearchSpace, selection: Selection) -> ArchRecord:
    """The genotype string, its index (the oracle key), normal-cell skips; skips per cell type in details."""
    genotype = space.genotype(selection)
    skips = {f"n_skip_{cell}": genotype.count("skip_connect", cell) for cell in ("normal", "reduce")}
    return ArchRecord(arch=genotype.to_string(), key=genotype.index, n_skip=skips["n_skip_normal"], details=skips)


BENCHMARK = Benchmark(
    name="nb301",
    title="NAS-Bench-301 (DARTS space, surrogate)",
    datasets=("cifar10",),
    make_space=_space,
    make_supernet=_supernet,
    open_oracle=_oracle,
    describe=_describe,
)

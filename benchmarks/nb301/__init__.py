"""NAS-Bench-301 (Siems et al. 2020): the DARTS search space with the YAHPO Gym surrogate as its oracle.

The space and the supernet are ``benchmarks.darts``; the oracle predicts, it does not look up trained
results (``benchmarks.nb301.oracle``). ``harness data import nb301 DIR`` registers the surrogate.
The plug-in (``benchmarks.registry``): the DARTS search preset, a smaller ``quick`` profile, that importer
and its ``harness data info`` (``benchmarks.nb301.commands``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from benchmarks.darts.space import CELL_OPS
from benchmarks.registry import SEARCH_SGD, ArchRecord, Benchmark, Importer, ImportRequest, Say
from benchmarks.space import SearchSpace, Selection
from nasbench_settings import integer, one_of


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


def _import(request: ImportRequest) -> None:
    from benchmarks.nb301.commands import import_file

    import_file(request)


def _info(oracle_dir: Path, say: Say) -> None:
    from benchmarks.nb301.commands import info

    info(oracle_dir, say)


IMPORTER = Importer(
    name="nb301",
    source="a folder holding the YAHPO Gym surrogate's model_v2.onnx and encoding_v2.json",
    run=_import,
    options={"evolution_budget": integer(ge=100, help="surrogate queries of the regularized evolution that finds "
                                                      "the regret optimum")},
    defaults={"evolution_budget": 50_000},
)

BENCHMARK = Benchmark(
    name="nb301",
    title="NAS-Bench-301 (DARTS space, surrogate)",
    datasets=("cifar10",),
    make_space=_space,
    make_supernet=_supernet,
    open_oracle=_oracle,
    describe=_describe,
    # the DARTS search defaults (spec 2.5 [X], 1.6.1): 8 cells (N = 2 normal cells per stage: 3N + 2), C = 16, batch
    # 64, SGD lr 0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, clip 5. Methods state their own values per
    # benchmark (PC-DARTS batch 256, lr 0.1, K = 4; PR-DARTS 200 epochs, batch 128; Amended-DARTS batch 96, 100
    # epochs). The oracle answers at the surrogate's final epoch (98). No cutout, auxiliary head or drop-path in
    # search (GAEA C.1.1). ``cell_ops``: every DARTS op in both cell types (``all``), or NASP's identity +
    # convolutions / identity + pools (``restricted``).
    preset={**SEARCH_SGD, "batch_size": 64, "C": 16, "N": 2, "oracle_budget": "e98", "cell_ops": "all"},
    types={"oracle_budget": one_of("e98", help="epoch of the surrogate's prediction"),
           "cell_ops": one_of(*CELL_OPS, help="ops each cell type searches: every DARTS op, or NASP's identity + "
                                              "convolutions (normal) / identity + pools (reduce)")},
    # a DARTS-space supernet (5 cells of 14 edges x 7 ops at N = 1) costs ~10x an NB201 one on a CPU, so its
    # quick runs are smaller still
    profile_overrides={"quick": {"C": 4, "batch_size": 16, "train_limit": 256, "eval_limit": 128}},
    importers=(IMPORTER,),
    info=_info,
    order=2,
)

"""Assemble every section of ``harness bench`` into one JSON-able report and print it as tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench.epochs import epoch_figures
from harness.bench.oracle import oracle_figures
from harness.bench.supernet import StepOptions, supernet_figures
from harness.bench.timing import machine
from harness.bench.xnas import epoch_ratio_figure
from methods.registry import resolve_methods

#: Sizes: ``quick`` runs in seconds (CI); the full bench measures the quick profile's real sizes.
SIZES: dict[bool, dict[str, Any]] = {
    False: {"ref_archs": 64, "C": 8, "N": 1, "batch": 64, "repeats": 7,
            "base": {"epochs": 1}, "scaling": [{}, {"C": 16}, {"N": 2}, {"batch_size": 128}]},
    True: {"ref_archs": 4, "C": 4, "N": 1, "batch": 16, "repeats": 2,
           "base": {"epochs": 1, "C": 4, "batch_size": 16, "train_limit": 64, "eval_limit": 32},
           "scaling": [{}, {"C": 8}]},
}
PENDING = ("GPU rows (supernet throughput with GPU-resident data, channels_last, bf16, cudnn.benchmark, "
           "torch.compile; paper-preset seconds per epoch) are pending: no GPU was lent to this run")


@dataclass(frozen=True)
class BenchRequest:
    quick: bool = False
    sections: tuple[str, ...] = ("oracle", "supernet", "epochs")
    methods: str = "all"
    data_root: Path | None = None
    options: StepOptions = StepOptions()


def run_bench(request: BenchRequest, say: Callable[[str], None]) -> dict[str, Any]:
    size = SIZES[request.quick]
    report: dict[str, Any] = {"machine": machine(), "quick": request.quick, "figures": [], "skipped": [],
                              "epochs": [], "scaling": []}
    if "oracle" in request.sections:
        figures, skipped = oracle_figures(size["ref_archs"], say)
        report["figures"] += [f.to_json() for f in figures]
        report["skipped"] += skipped
    if "supernet" in request.sections:
        say("supernet: ours vs the reference, dense and one-hot")
        figures = supernet_figures(size["C"], size["N"], size["batch"], size["repeats"], request.options)
        report["figures"] += [f.to_json() for f in figures]
    if "epochs" in request.sections:
        methods = ["darts"] if request.quick else resolve_methods(request.methods)
        per_method, scaling, skipped = epoch_figures(methods, size["base"], size["scaling"], request.data_root,
                                                     request.options.device, say)
        report["epochs"], report["scaling"] = per_method, scaling
        report["skipped"] += skipped
        ratio = epoch_ratio_figure(per_method)
        if ratio is not None:
            report["figures"].append(ratio.to_json())
    if request.options.device == "cpu":
        report["pending"] = PENDING
    return report

"""NAS-Bench-201's ``harness data import nb201`` and its part of ``harness data info`` (the plug-in's
importer and info, see ``benchmarks.registry``)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from rich.table import Table

from benchmarks.nb201.importers import ImportSummary, import_nb201, needs_pickle
from benchmarks.nb201.oracle import BUNDLED, NB201Oracle
from benchmarks.registry import ImportRequest, Say
from nasbench_errors import HarnessError


def import_file(request: ImportRequest) -> None:
    """An official file (or a CSV export) into the oracle directory's table; a pickle is loaded only with
    ``--trust-pickle`` or the user's yes at the prompt."""
    source, say = request.source, request.say
    if needs_pickle(source) and not request.trust_pickle:
        say(f"[yellow]{source} is a Python pickle: loading it can run arbitrary code.[/yellow] "
            "Only continue for files from the official NAS-Bench-201 / NATS-Bench release.")
        if not request.confirm("Load it?"):
            raise HarnessError(f"not loading the pickle {source}; rerun with --trust-pickle to import it")
    target = NB201Oracle.default_path(request.oracle_dir)
    summary = import_over_bundle(target, lambda path: import_nb201(source, path, budget=request.options["budget"],
                                                                   progress=say, trust_pickle=True), say)
    say(str(summary))
    say(f"oracle table: {target}")


def import_over_bundle(target: Path, do_import: Callable[[Path], ImportSummary], say: Say) -> ImportSummary:
    """The first import into an oracle directory starts from the bundled NAS-Bench-201 table, so what the import
    lacks (the cost table, the 12-epoch means, ...) stays available; every metric it brings replaces the bundled
    one. The table appears at ``target`` only once the import succeeded."""
    if target.exists():
        return do_import(target)
    staged = target.with_name(f".{target.name}.staged")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BUNDLED, staged)
    say(f"starting from the bundled table ({BUNDLED.name}): metrics this import brings replace its own")
    try:
        summary = do_import(staged)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return dataclasses.replace(summary, oracle_path=target)


def info(directory: Path, say: Say) -> None:
    """The table runs use (imported, else the bundled one): metrics, optima and provenance."""
    path = NB201Oracle.locate(directory)
    oracle = NB201Oracle.open(path)
    bundle = oracle.bundle_info
    say(f"NAS-Bench-201 table: {path}" + (" (bundled with the package)" if bundle else ""))
    table = Table(title="metrics (accuracy in %)")
    for col in ("dataset", "split", "budget", "stat", "optimum"):
        table.add_column(col)
    for key in oracle.metrics():
        table.add_row(key.dataset, key.split, key.budget, key.stat,
                      f"{oracle.optimum(key.dataset, key.split, key.budget, key.stat):.2f}")
    say(table)
    for src in oracle.sources:
        what = ", ".join([*src.get("metrics", []), *(f"curve {c}" for c in src.get("curves", [])),
                          *(f"cost {c}" for c in src.get("costs", []))])
        licence = f", licence: {src['licence']}" if src.get("licence") else ""
        say(f"source: {src['source']} ({src['importer']}, {src['release']}, sha256 {src['sha256']}, "
            f"imported {src['date']}{licence}): {what}")
        if src.get("note"):
            say(f"  {src['note']}")
    if bundle:
        say(f"holds: {bundle['holds']}")
        say(f"lacks: {bundle['lacks']}")
        say(f"rebuilt from the source CSVs by `{bundle['rebuild']}`. No table imported in {directory}: "
            "`harness data import nb201 NAS-Bench-201-v1_1-096897.pth --trust-pickle` writes "
            f"{NB201Oracle.default_path(directory)}, which runs then use: it starts from this table and "
            "every metric the import brings replaces the bundled one")

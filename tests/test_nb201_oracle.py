"""NB201Oracle on the real NAS-Bench-201 numbers: published optima, collapse cell, budgets, curves.

The checks run on the table bundled with the package, built from the real exports (``tests/test_nb201_bundle.py``
compares it with them where ../shared/data holds them)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.nb201.bundle import SOURCES
from benchmarks.nb201.importers import import_nb201
from benchmarks.nb201.oracle import BUNDLED, Lookup, MetricKey, NB201Oracle
from benchmarks.nb201.space import N_ARCHS, NB201Arch
from benchmarks.table import Table, write_table
from nasbench_errors import OracleError
from tests.nb201_fixtures import export_means_csv, truncate

HP200, HP12, CURVES, COSTS = (s.name for s in SOURCES)
SKIP_CELL = NB201Arch(("skip_connect",) * 6).index


@pytest.fixture(scope="module")
def oracle_path() -> Path:
    return BUNDLED


@pytest.fixture(scope="module")
def oracle(oracle_path: Path) -> NB201Oracle:
    return NB201Oracle.open(oracle_path)


@pytest.mark.parametrize(
    ("dataset", "split", "best"),
    [("cifar10-valid", "valid", 91.61), ("cifar10", "test", 94.37), ("cifar100", "valid", 73.49),
     ("cifar100", "test", 73.51), ("ImageNet16-120", "valid", 46.73), ("ImageNet16-120", "test", 47.31)],
)
def test_published_hp200_optima(oracle: NB201Oracle, dataset: str, split: str, best: float) -> None:
    assert oracle.optimum(dataset, split) == pytest.approx(best, abs=0.01)
    assert oracle.optimum(dataset, split, "hp200", "mean") == oracle.optimum(dataset, split)


def test_all_skip_connect_cell_is_dartss_collapse(oracle: NB201Oracle) -> None:
    assert oracle.query(SKIP_CELL, "cifar10", "test") == pytest.approx(54.30, abs=0.01)
    assert oracle.query(SKIP_CELL, "cifar100", "test") == pytest.approx(15.61, abs=0.01)
    assert oracle.query(SKIP_CELL, "ImageNet16-120", "test") == pytest.approx(16.32, abs=0.01)


def test_hp12_values_carry_their_budget(oracle: NB201Oracle) -> None:
    assert MetricKey("cifar10", "test", "hp12") in oracle.metrics()
    assert oracle.optimum("cifar10", "test", "hp12") == pytest.approx(89.16, abs=0.01)
    assert oracle.optimum("cifar10", "test", "hp200") == pytest.approx(94.37, abs=0.01)
    hp12 = oracle.lookups(SKIP_CELL, budget="hp12")
    assert {lk.budget for lk in hp12} == {"hp12"}
    cifar10_test = next(lk for lk in hp12 if (lk.dataset, lk.split) == ("cifar10", "test"))
    assert cifar10_test.optimum == pytest.approx(89.16, abs=0.01)
    assert cifar10_test.value == pytest.approx(oracle.query(SKIP_CELL, "cifar10", "test", "hp12"))
    assert cifar10_test.value < oracle.query(SKIP_CELL, "cifar10", "test", "hp200")  # 12 epochs train less


def test_vectorised_queries_equal_scalar_ones(oracle: NB201Oracle) -> None:
    picks = np.array([[0, 1], [SKIP_CELL, 15624]], dtype=np.int32)
    batch = oracle.query(picks, "cifar100", "test")
    assert batch.shape == (2, 2)
    assert batch[1, 0] == oracle.query(int(picks[1, 0]), "cifar100", "test")
    assert oracle.query(np.int64(1), "cifar10", "test") == pytest.approx(93.66, abs=1e-4)


def test_search_metrics_and_lookups_give_transfer_regrets(oracle: NB201Oracle) -> None:
    assert NB201Oracle.search_metrics("cifar10") == (("cifar10", "test"), ("cifar10-valid", "valid"))
    assert oracle.search_metrics("cifar100") == (("cifar100", "test"), ("cifar100", "valid"))
    imagenet = "ImageNet16-120"
    assert oracle.search_metrics(imagenet) == ((imagenet, "test"), (imagenet, "valid"))
    best_cifar10 = int(np.argmax(oracle.query(np.arange(N_ARCHS), "cifar10", "test")))
    found = oracle.lookups(best_cifar10)
    assert [(lk.dataset, lk.split) for lk in found] == [
        ("cifar10", "test"), ("cifar10-valid", "valid"), ("cifar100", "test"), ("cifar100", "valid"),
        ("ImageNet16-120", "test"), ("ImageNet16-120", "valid"),
    ]
    assert found[0] == Lookup("cifar10", "test", "hp200", "mean", found[0].value, found[0].value, 0.0)
    for lk in found:
        assert lk.regret == pytest.approx(lk.optimum - lk.value)
        assert lk.regret >= 0
    collapse = oracle.lookups(SKIP_CELL)
    assert collapse[0].regret == pytest.approx(94.37 - 54.30, abs=0.02)


def test_curves_end_at_the_table_value_and_are_sparse(oracle: NB201Oracle, oracle_path: Path) -> None:
    assert MetricKey("cifar10-valid", "valid", "hp200") in oracle.curve_metrics()
    for index in range(200):
        curve = oracle.curve(index, "cifar10-valid", "valid", "hp200")
        assert curve.shape == (200,)
        assert curve[-1] == pytest.approx(oracle.query(index, "cifar10-valid", "valid"), abs=1e-4)
    assert oracle.curve(0, "cifar10-valid", "valid")[1] == pytest.approx(34.441333, abs=1e-4)
    assert oracle.has_curve(199, "cifar10-valid", "train")
    assert not oracle.has_curve(200, "cifar10-valid", "valid")
    assert not oracle.has_curve(0, "cifar100", "valid")
    assert np.isnan(oracle.curve(5000, "cifar10-valid", "valid")).all()
    table = Table.open(oracle_path)
    assert table["curve:cifar10-valid/valid/hp200/mean"].shape == (200, 200)
    assert table["curve_rows:cifar10-valid/valid/hp200/mean"].shape == (N_ARCHS,)
    with pytest.raises(OracleError, match="no per-epoch curve cifar100/valid/hp200/mean.*data import"):
        oracle.curve(0, "cifar100", "valid")


def test_unknown_metrics_say_what_exists_and_how_to_add_it(oracle: NB201Oracle) -> None:
    with pytest.raises(OracleError) as info:
        oracle.query(0, "cifar100", "test", "hp200", "seed777")
    text = str(info.value)
    assert "cifar100/test/hp200/seed777" in text and "cifar10/test/hp12/mean" in text
    assert "harness data import nb201" in text and "\n" not in text
    with pytest.raises(OracleError, match="harness data import nb201 nb201-hp200-mean-accuracies.csv"):
        oracle.query(0, "cifar10-valid", "test")
    with pytest.raises(OracleError, match="unknown NAS-Bench-201 dataset 'imagenet'"):
        oracle.query(0, "imagenet", "test")
    with pytest.raises(OracleError, match="unknown budget 'hp90'"):
        oracle.optimum("cifar10", "test", "hp90")
    with pytest.raises(OracleError, match="unknown split"):
        oracle.query(0, "cifar10", "val")
    with pytest.raises(OracleError, match="unknown statistic"):
        oracle.query(0, "cifar10", "test", stat="median")
    with pytest.raises(OracleError, match="no NAS-Bench-201 metrics for dataset 'mnist'"):
        oracle.search_metrics("mnist")


@pytest.mark.parametrize("bad", [-1, N_ARCHS, True, 3.0, np.array([0, N_ARCHS]), np.array([0.5])])
def test_bad_indices_raise_oracle_error(oracle: NB201Oracle, bad: object) -> None:
    with pytest.raises(OracleError):
        oracle.query(bad, "cifar10", "test")  # type: ignore[arg-type]


def test_provenance_and_reimport_replaces_metrics(oracle_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "nb201.oracle"
    path.write_bytes(oracle_path.read_bytes())
    first = NB201Oracle.open(path)
    assert [s["source"] for s in first.sources] == [s.name for s in SOURCES]
    assert all(len(s["sha256"]) == 64 and s["importer"].startswith("csv-") and s["date"] for s in first.sources)
    assert first.source_of(MetricKey("cifar10", "test", "hp12"))["source"] == HP12
    assert first.source_of(MetricKey("cifar10-valid", "train", "hp200"))["source"] == CURVES
    # A second export that only has cifar10_test replaces that metric and nothing else.
    full = export_means_csv(first, tmp_path / "nb201-hp200-export.csv")
    frame = pd.read_csv(full)[["index", "arch_str", "cifar10_test"]]
    frame["cifar10_test"] = frame["cifar10_test"] - 1.0
    patch = tmp_path / "patch-hp200.csv"
    frame.to_csv(patch, index=False)
    summary = import_nb201(patch, path)
    assert summary.metrics == (MetricKey("cifar10", "test", "hp200"),)
    merged = NB201Oracle.open(path)
    assert len(merged.metrics()) == len(first.metrics())
    assert merged.optimum("cifar10", "test") == pytest.approx(93.37, abs=0.01)
    assert merged.optimum("cifar100", "test") == pytest.approx(73.51, abs=0.01)
    assert merged.source_of(MetricKey("cifar10", "test"))["source"] == "patch-hp200.csv"
    assert "cifar10/test/hp200/mean" not in merged.sources[0]["metrics"]
    # Re-importing a full export restores it and retires the patch's and the bundle's hp200 provenance records.
    import_nb201(full, path)
    again = NB201Oracle.open(path)
    assert again.optimum("cifar10", "test") == pytest.approx(94.37, abs=0.01)
    assert [s["source"] for s in again.sources] == [HP12, CURVES, COSTS, full.name]
    assert again.sources[-1]["sha256"] == hashlib.sha256(full.read_bytes()).hexdigest()
    np.testing.assert_array_equal(again.query(np.arange(N_ARCHS), "cifar100", "valid"),
                                  first.query(np.arange(N_ARCHS), "cifar100", "valid"))  # the export is exact
    assert first.optimum("cifar10", "test") == pytest.approx(94.37, abs=0.01)  # old mapping stays valid


def test_truncated_or_foreign_tables_raise_oracle_error(tmp_path: Path) -> None:
    missing = tmp_path / "nb201.oracle"
    with pytest.raises(OracleError, match="no such file.*harness data import nb201"):
        NB201Oracle.open(missing)
    write_table(missing, {"values": np.zeros((1, N_ARCHS))}, meta={"benchmark": "nb201"},
                labels={"values": ["cifar10/test/hp200/mean"]})
    assert NB201Oracle.open(missing).query(3, "cifar10", "test") == 0.0
    truncate(missing, 0.7)
    with pytest.raises(OracleError, match="truncated.*re-import it with `harness data import nb201"):
        NB201Oracle.open(missing)
    write_table(missing, {"values": np.zeros((1, 5))}, meta={"benchmark": "nb101"})
    with pytest.raises(OracleError, match="not a NAS-Bench-201 oracle"):
        NB201Oracle.open(missing)
    write_table(missing, {"values": np.zeros((1, N_ARCHS))}, meta={"benchmark": "nb201", "schema": 99},
                labels={"values": ["cifar10/test/hp200/mean"]})
    with pytest.raises(OracleError, match="newer"):
        NB201Oracle.open(missing)
    write_table(missing, {"values": np.zeros((1, 5))}, meta={"benchmark": "nb201"},
                labels={"values": ["cifar10/test/hp200/mean"]})
    with pytest.raises(OracleError, match="shape"):
        NB201Oracle.open(missing)


def test_default_path_and_metric_names() -> None:
    assert NB201Oracle.default_path(Path("/x/oracles")) == Path("/x/oracles/nb201.oracle")
    key = MetricKey("ImageNet16-120", "valid", "hp12", "seed777")
    assert key.name == "ImageNet16-120/valid/hp12/seed777"
    assert MetricKey.from_name(key.name) == key
    with pytest.raises(OracleError):
        MetricKey.from_name("cifar10/test")

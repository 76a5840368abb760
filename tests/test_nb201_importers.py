"""Importers: CSV exports, official NAS-Bench-201 .pth files and NATS-Bench archives (written as fixtures)."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.nb201.importers import import_nb201, needs_pickle
from benchmarks.nb201.oracle import MetricKey, NB201Oracle
from benchmarks.nb201.space import N_ARCHS, all_arch_strings
from nasbench_errors import OracleError
from tests import nb201_fixtures as fx

ARCHS = (0, 1, 2, 1835, 15624)  # 1..3 hp200 seeds each (see fx.hp200_seeds)
ABSENT = 7  # an arch the fixtures do not cover


@pytest.fixture(scope="module")
def strings() -> list[str]:
    return all_arch_strings()


def _table_csv(path: Path, strings: list[str], columns: tuple[str, ...] = (
        "cifar10_test", "cifar100_valid", "cifar10-valid_valid", "cifar100_test")) -> Path:
    """A complete synthetic per-arch export: value = 10 + index / 1000 (+1 per column); each dataset with both
    the test and the valid column a search reads."""
    frame = pd.DataFrame({"index": np.arange(N_ARCHS), "arch_str": strings})
    for k, column in enumerate(columns):
        frame[column] = 10 + frame["index"] / 1000 + k
    frame.to_csv(path, index=False)
    return path


# -- CSV ------------------------------------------------------------------------------------------
def test_csv_table_budget_from_name_and_values(tmp_path: Path, strings: list[str]) -> None:
    source = _table_csv(tmp_path / "export-hp12.csv", strings)
    messages: list[str] = []
    summary = import_nb201(source, tmp_path / "o", progress=messages.append)
    assert summary.metrics == (MetricKey("cifar10", "test", "hp12"), MetricKey("cifar10-valid", "valid", "hp12"),
                               MetricKey("cifar100", "test", "hp12"), MetricKey("cifar100", "valid", "hp12"))
    assert summary.n_archs == N_ARCHS and summary.importer == "csv-table"
    assert summary.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert "export-hp12.csv" in str(summary) and "hp12" in str(summary)
    assert messages == ["reading export-hp12.csv as hp12 means"]
    oracle = NB201Oracle.open(tmp_path / "o")
    assert oracle.query(1234, "cifar10", "test", "hp12") == pytest.approx(11.234, abs=1e-4)
    assert oracle.query(1234, "cifar100", "valid", "hp12") == pytest.approx(12.234, abs=1e-4)
    assert not oracle.has(MetricKey("cifar10", "test", "hp200"))


def test_csv_table_in_shuffled_row_order_is_fine(tmp_path: Path, strings: list[str]) -> None:
    source = _table_csv(tmp_path / "a.csv", strings)
    pd.read_csv(source).sample(frac=1.0, random_state=0).to_csv(source, index=False)
    import_nb201(source, tmp_path / "o", budget="200")
    assert NB201Oracle.open(tmp_path / "o").query(15624, "cifar10", "test") == pytest.approx(25.624, abs=1e-4)


def _swap_rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[3, 4], "arch_str"] = frame.loc[[4, 3], "arch_str"].to_numpy()
    return frame


def _edit_csv(path: Path, edit) -> Path:
    edit(pd.read_csv(path)).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "budget", "message"),
    [
        (None, None, "pass --budget hp200 or --budget hp12"),
        (None, "hp90", "unknown budget 'hp90'"),
        (_swap_rows, "hp200", "row 5: arch_str .* is not NAS-Bench-201 cell 3"),
        (lambda f: f.drop(index=10), "hp200", "exactly once"),
        (lambda f: f.rename(columns={"cifar10_test": "cifar10_top5"}), "hp200",
         "unexpected column 'cifar10_top5'"),
        (lambda f: f.drop(columns=["arch_str"]), "hp200", "missing column"),
        (lambda f: f.drop(columns=["cifar100_test"]), "hp200",
         "missing column cifar100_test: a search on cifar100 reads it with cifar100_valid"),
        (lambda f: f.assign(cifar10_test=f["cifar10_test"].astype(str).where(f.index != 2, "n/a")),
         "hp200", "row 4: cifar10_test = 'n/a' is not an accuracy"),
        (lambda f: f.assign(cifar10_test=f["cifar10_test"].where(f.index != 6)), "hp200",
         "row 8: cifar10_test = nan is not an accuracy"),
        (lambda f: f.assign(cifar10_test=f["cifar10_test"] / 100), "hp200", "fractions"),
        (lambda f: f.assign(index=f["index"] + 0.5), "hp200", "row 2: index 0.5 is not an integer"),
    ],
)
def test_bad_csv_tables_raise_oracle_error(tmp_path: Path, strings: list[str], edit, budget: str | None,
                                           message: str) -> None:
    source = _table_csv(tmp_path / "export.csv", strings)
    if edit is not None:
        _edit_csv(source, edit)
    with pytest.raises(OracleError, match=message) as info:
        import_nb201(source, tmp_path / "o", budget=budget)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "o").exists()


def test_empty_and_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "empty-hp200.csv").write_text("")
    with pytest.raises(OracleError, match="not a readable CSV"):
        import_nb201(tmp_path / "empty-hp200.csv", tmp_path / "o")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(OracleError, match="unknown NAS-Bench-201 source"):
        import_nb201(tmp_path / "x.json", tmp_path / "o")
    with pytest.raises(OracleError, match="no such file"):
        import_nb201(tmp_path / "missing.pth", tmp_path / "o")


def test_curves_csv_is_sparse_and_checks_epochs(tmp_path: Path, strings: list[str]) -> None:
    rows = [(i, strings[i], e, 10.0 + e, 20.0 + i + e) for i in (5, 9) for e in range(12)]
    frame = pd.DataFrame(rows, columns=["index", "arch_str", "epoch", "cifar100_train", "cifar100_valid"])
    source = tmp_path / "curves-hp12.csv"
    frame.to_csv(source, index=False)
    summary = import_nb201(source, tmp_path / "o")
    assert summary.curves == (MetricKey("cifar100", "train", "hp12"), MetricKey("cifar100", "valid", "hp12"))
    assert summary.n_archs == 2 and summary.metrics == ()
    oracle = NB201Oracle.open(tmp_path / "o")
    np.testing.assert_allclose(oracle.curve(9, "cifar100", "valid", "hp12"), 29.0 + np.arange(12))
    assert not oracle.has_curve(6, "cifar100", "valid", "hp12")
    with pytest.raises(OracleError, match=r"row 13: epoch 12 is not an integer in 0\.\.11"):
        frame.assign(epoch=frame["epoch"] + 1).to_csv(source, index=False)
        import_nb201(source, tmp_path / "o")
    with pytest.raises(OracleError, match="appear twice"):
        pd.concat([frame, frame.iloc[:1]]).to_csv(source, index=False)
        import_nb201(source, tmp_path / "o")


# -- official NAS-Bench-201 .pth -------------------------------------------------------------------
#: (dataset, split) -> the evaluation set NB201 semantics read it from.
SEMANTICS = [
    ("cifar10-valid", "valid", "x-valid"), ("cifar10-valid", "test", "ori-test"),
    ("cifar10", "test", "ori-test"), ("cifar100", "test", "x-test"),
    ("ImageNet16-120", "valid", "x-valid"), ("cifar100", "train", "train"),
]


def _check_pth_values(oracle: NB201Oracle, version: str) -> None:
    hp12_seeds = (777,) if version == "v1_0" else (777, 888)
    for i in ARCHS:
        seeds = fx.hp200_seeds(i)
        for dataset, split, eval_set in SEMANTICS:
            want = fx.expected(i, dataset, eval_set, "hp200", seeds)
            assert oracle.query(i, dataset, split) == pytest.approx(want, abs=1e-4), (i, dataset, split)
        assert oracle.query(i, "cifar100", "test", stat="seed777") == pytest.approx(
            fx.accuracy(i, "cifar100", "x-test", "hp200", 777, 199), abs=1e-4)
        has_999 = 999 in seeds
        assert np.isnan(oracle.query(i, "cifar100", "test", stat="seed999")) != has_999
        assert oracle.query(i, "cifar10-valid", "valid", "hp12") == pytest.approx(
            fx.expected(i, "cifar10-valid", "x-valid", "hp12", hp12_seeds), abs=1e-4)
    assert np.isnan(oracle.query(ABSENT, "cifar10", "test"))
    best = fx.expected(1835, "cifar10", "ori-test", "hp200", fx.hp200_seeds(1835))
    assert oracle.optimum("cifar10", "test") == pytest.approx(best, abs=1e-4)


def test_pth_v1_1(tmp_path: Path) -> None:
    source = fx.write_pth(tmp_path, ARCHS, "v1_1")
    messages: list[str] = []
    summary = import_nb201(source, tmp_path / "o", progress=messages.append, trust_pickle=True)
    assert messages[0].startswith("WARNING: NAS-Bench-201-v1_1-096897.pth is a Python pickle")
    assert summary.importer == "nb201-pth" and summary.release == "NAS-Bench-201-v1_1"
    assert summary.n_archs == len(ARCHS)
    oracle = NB201Oracle.open(tmp_path / "o")
    _check_pth_values(oracle, "v1_1")
    assert oracle.query(2, "ImageNet16-120", "test", "hp12") == pytest.approx(
        fx.expected(2, "ImageNet16-120", "x-test", "hp12", (777,)), abs=1e-4)
    stats = {k.stat for k in oracle.metrics() if k.budget == "hp200"}
    assert stats == {"mean", "seed777", "seed888", "seed999"}
    # Curves where the logs have every epoch (x-valid of cifar10-valid, ori-test of cifar10, all train).
    curve = oracle.curve(1835, "cifar10-valid", "valid", "hp200")
    seeds = fx.hp200_seeds(1835)
    want = fx.expected(1835, "cifar10-valid", "x-valid", "hp200", seeds, epoch=49)
    assert curve[49] == pytest.approx(want, abs=1e-4)
    assert oracle.curve(1, "cifar10", "test", "hp12").shape == (12,)
    curves = set(oracle.curve_metrics())
    assert MetricKey("cifar100", "train", "hp200") in curves
    assert MetricKey("cifar100", "test", "hp200") not in curves  # x-test only after the last epoch (old logs)
    assert MetricKey("cifar100", "test", "hp12") in curves
    assert not oracle.has_curve(ABSENT, "cifar10-valid", "valid")
    (record,) = oracle.sources
    assert record["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert "v1_1" in record["note"]


def test_pth_v1_0_has_hp12_for_cifar10_valid_only(tmp_path: Path) -> None:
    source = fx.write_pth(tmp_path, ARCHS, "v1_0")
    summary = import_nb201(source, tmp_path / "o", trust_pickle=True)
    assert summary.release == "NAS-Bench-201-v1_0"
    oracle = NB201Oracle.open(tmp_path / "o")
    _check_pth_values(oracle, "v1_0")
    assert {k.dataset for k in oracle.metrics() if k.budget == "hp12"} == {"cifar10-valid"}
    with pytest.raises(OracleError, match="no metric cifar100/test/hp12/mean"):
        oracle.query(0, "cifar100", "test", "hp12")
    assert "cifar10-valid only" in oracle.sources[0]["note"]


def test_pth_budget_filter_merges_with_csv(tmp_path: Path, strings: list[str]) -> None:
    import_nb201(_table_csv(tmp_path / "x-hp200.csv", strings), tmp_path / "o")
    summary = import_nb201(fx.write_pth(tmp_path, ARCHS), tmp_path / "o", budget="hp12", trust_pickle=True)
    assert {k.budget for k in summary.metrics} == {"hp12"}
    oracle = NB201Oracle.open(tmp_path / "o")
    assert oracle.query(3, "cifar10", "test") == pytest.approx(10.003, abs=1e-4)  # the CSV's hp200 column
    assert oracle.query(1, "cifar10", "test", "hp12") == pytest.approx(
        fx.expected(1, "cifar10", "ori-test", "hp12", (777,)), abs=1e-4)
    assert [s["importer"] for s in oracle.sources] == ["csv-table", "nb201-pth"]


def test_pickles_need_trust(tmp_path: Path) -> None:
    for source in (fx.write_pth(tmp_path, ARCHS[:1]), fx.write_nats_dir(tmp_path, ARCHS[:1])):
        assert needs_pickle(source)
        with pytest.raises(OracleError, match="Python pickle.*--trust-pickle"):
            import_nb201(source, tmp_path / "o")
    assert not (tmp_path / "o").exists()
    assert needs_pickle(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    assert not needs_pickle(tmp_path / "nb201-hp200-mean-accuracies.csv")


def _swap_meta(data: dict) -> dict:
    data["meta_archs"][0], data["meta_archs"][1] = data["meta_archs"][1], data["meta_archs"][0]
    return data


def _wrong_epochs(data: dict) -> dict:
    data["arch2infos"][1]["full"]["all_results"][("cifar10", 777)]["epochs"] = 199
    return data


def _missing_trial(data: dict) -> dict:
    del data["arch2infos"][2]["full"]["all_results"][("cifar100", 888)]
    return data


def _bad_accuracy(data: dict) -> dict:
    data["arch2infos"][1]["less"]["all_results"][("cifar10", 777)]["eval_acc1es"]["ori-test@11"] = "?"
    return data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda d: [1, 2, 3], "not a NAS-Bench-201 benchmark file"),
        (lambda d: {**d, "meta_archs": d["meta_archs"][:100]}, "meta_archs lists 100 archs"),
        (_swap_meta, r"meta_archs\[0\] .* is not NAS-Bench-201 cell 0"),
        (lambda d: {**d, "total_archs": 32768}, "total_archs = 32768"),
        (lambda d: {**d, "arch2infos": {**d["arch2infos"], 99999: {}}}, "key 99999 is not an index"),
        (lambda d: {**d, "arch2infos": {1: {"half": {}}}}, r"arch 1: expected \{hp: ArchResults\}"),
        (lambda d: {**d, "arch2infos": {1: {"full": {"x": 1}}}}, "arch 1: hp200 entry is not an ArchResults"),
        (_wrong_epochs, "cifar10 seed 777 ran 199 epochs, hp200 has 200"),
        (_missing_trial, r"arch 2: no ResultsCount for \('cifar100', 888\)"),
        (_bad_accuracy, "unreadable accuracies for cifar10 seed 777"),
    ],
)
def test_unexpected_pth_structure_raises_oracle_error(tmp_path: Path, content, message: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # the direct reader's checks: nas_201_api (when installed) rebuilds the dict without total_archs
    monkeypatch.setitem(sys.modules, "nas_201_api", None)
    source = fx.write_pth(tmp_path, (1, 2), data=content(fx.pth_data((1, 2))))
    with pytest.raises(OracleError, match=message) as info:
        import_nb201(source, tmp_path / "o", trust_pickle=True)
    assert "\n" not in str(info.value) and str(source) in str(info.value)


def test_truncated_pth_raises_oracle_error(tmp_path: Path) -> None:
    source = fx.truncate(fx.write_pth(tmp_path, ARCHS))
    with pytest.raises(OracleError, match="truncated or not an official NAS-Bench-201 .pth: download it"):
        import_nb201(source, tmp_path / "o", trust_pickle=True)


class _FakeResults:
    def __init__(self, state: dict) -> None:
        self.state = state

    def state_dict(self) -> dict:
        return self.state


def _fake_nb201_api(calls: list[str], fail: bool) -> types.ModuleType:
    """Stands in for ``nas_201_api``: same constructor and the attributes the importer reads."""
    module = types.ModuleType("nas_201_api")

    class NASBench201API:
        def __init__(self, path: str, verbose: bool = True) -> None:
            calls.append(path)
            if fail:
                raise AssertionError("invalid path")
            data = torch.load(path, weights_only=False)
            self.meta_archs = data["meta_archs"]
            self.arch2infos_dict = {i: {"12": _FakeResults(e["less"]), "200": _FakeResults(e["full"])}
                                    for i, e in data["arch2infos"].items()}

    module.NASBench201API = NASBench201API  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize("fail", [False, True])
def test_pth_goes_through_nas_201_api_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     fail: bool) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "nas_201_api", _fake_nb201_api(calls, fail))
    source = fx.write_pth(tmp_path, ARCHS)
    messages: list[str] = []
    import_nb201(source, tmp_path / "o", progress=messages.append, trust_pickle=True)
    assert calls == [str(source)]
    assert any("nas_201_api could not read" in m for m in messages) == fail
    _check_pth_values(NB201Oracle.open(tmp_path / "o"), "v1_1")


# -- NATS-Bench topology archives -------------------------------------------------------------------
def _check_nats_values(oracle: NB201Oracle) -> None:
    for i in ARCHS:
        seeds = fx.hp200_seeds(i)
        assert oracle.query(i, "cifar100", "test") == pytest.approx(
            fx.expected(i, "cifar100", "x-test", "hp200", seeds), abs=1e-4)
        assert oracle.query(i, "ImageNet16-120", "valid", "hp12") == pytest.approx(
            fx.expected(i, "ImageNet16-120", "x-valid", "hp12", (111, 777)), abs=1e-4)
        assert oracle.query(i, "cifar10", "test", "hp12", "seed111") == pytest.approx(
            fx.accuracy(i, "cifar10", "ori-test", "hp12", 111, 11), abs=1e-4)
    assert np.isnan(oracle.query(ABSENT, "cifar100", "test"))
    curve = oracle.curve(2, "cifar100", "valid", "hp12")
    assert curve[3] == pytest.approx(fx.expected(2, "cifar100", "x-valid", "hp12", (111, 777), 3), abs=1e-4)
    (record,) = oracle.sources
    assert record["importer"] == "nats-tss" and record["release"] == "NATS-tss-v1_0-3ffb9"
    assert "15%" in record["note"] and "v1_1" in record["note"]


def test_nats_directory(tmp_path: Path) -> None:
    source = fx.write_nats_dir(tmp_path, ARCHS)
    messages: list[str] = []
    summary = import_nb201(source, tmp_path / "o", progress=messages.append, trust_pickle=True)
    assert "is a Python pickle" in messages[0]
    assert summary.n_archs == len(ARCHS) and summary.release == "NATS-tss-v1_0-3ffb9"
    _check_nats_values(NB201Oracle.open(tmp_path / "o"))


def test_nats_single_file(tmp_path: Path) -> None:
    source = fx.write_nats_file(tmp_path, ARCHS)
    import_nb201(source, tmp_path / "o", trust_pickle=True)
    _check_nats_values(NB201Oracle.open(tmp_path / "o"))


def test_nats_read_through_nats_bench_if_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bz2
    import pickle

    loaded: list[str] = []

    def pickle_load(path: str) -> object:
        loaded.append(Path(path).name)
        with bz2.BZ2File(path, "rb") as f:
            return pickle.load(f)

    module = types.ModuleType("nats_bench.api_utils")
    module.pickle_load = pickle_load  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nats_bench", types.ModuleType("nats_bench"))
    monkeypatch.setitem(sys.modules, "nats_bench.api_utils", module)
    import_nb201(fx.write_nats_dir(tmp_path, ARCHS), tmp_path / "o", trust_pickle=True)
    assert loaded == ["meta.pickle.pbz2", *(f"{i:06d}.pickle.pbz2" for i in ARCHS)]
    _check_nats_values(NB201Oracle.open(tmp_path / "o"))


def test_bad_nats_archives_raise_oracle_error(tmp_path: Path) -> None:
    source = fx.write_nats_dir(tmp_path, ARCHS)
    fx.truncate(source / "001835.pickle.pbz2")
    with pytest.raises(OracleError, match="001835.pickle.pbz2: cannot read .*truncated or corrupt"):
        import_nb201(source, tmp_path / "o", trust_pickle=True)
    (source / "meta.pickle.pbz2").unlink()
    with pytest.raises(OracleError, match="without meta.pickle.pbz2"):
        import_nb201(source, tmp_path / "o", trust_pickle=True)
    sss = fx.write_nats_dir(tmp_path, (), name="NATS-sss-v1_0-50262-simple")
    with pytest.raises(OracleError, match="size search space"):
        import_nb201(sss, tmp_path / "o", trust_pickle=True)
    empty = fx.write_nats_dir(tmp_path, (), name="NATS-tss-v1_0-3ffb9-full")
    with pytest.raises(OracleError, match="no results for budget"):
        import_nb201(empty, tmp_path / "o", trust_pickle=True)
    assert not (tmp_path / "o").exists()


def test_nats_skips_unknown_hp_keys(tmp_path: Path) -> None:
    source = fx.write_nats_dir(tmp_path, ARCHS[:2])
    entry = fx.nats_entry(ARCHS[0])
    entry["01"] = entry["12"]
    fx.pickle_pbz2(entry, source / f"{ARCHS[0]:06d}.pickle.pbz2")
    messages: list[str] = []
    summary = import_nb201(source, tmp_path / "o", "hp200", messages.append, trust_pickle=True)
    assert {k.budget for k in summary.metrics} == {"hp200"}
    assert sum("skipping results under hp key '01'" in m for m in messages) == 1

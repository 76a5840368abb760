"""NAS-Bench-1Shot1 oracle on a fixture tfrecord imported by the real importer; every method runs on it."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks.nb1shot1.oracle import NB1Shot1Oracle, build
from benchmarks.nb1shot1.space import SPACES, NB1Shot1Space
from benchmarks.nb101.importer import import_nb101
from benchmarks.nb101.oracle import NB101Table
from harness.cli import main
from methods.registry import registry
from nasbench_errors import OracleError
from tests.nb101_fixtures import space_records
from tests.smoke import FAST, run_tiny


@pytest.fixture(scope="module")
def fixture_oracle(tmp_path_factory):
    """Spaces 1 and 2: every cell with 3 seeded runs at 108 epochs (plus 12-epoch runs, to be skipped)."""
    directory = tmp_path_factory.mktemp("nb1shot1")
    source = directory / "nasbench_full.tfrecord"
    truth = space_records(source, (1, 2), seed=0, other_epochs=(12,))
    lines: list[str] = []
    lines.append(str(import_nb101(source, NB101Table.default_path(directory))))
    summaries = build(NB101Table.open(NB101Table.default_path(directory)), NB1Shot1Oracle.default_path(directory),
                      progress=lines.append, numbers=(1, 2))
    return directory, truth, summaries, lines


def _all_rows(oracle: NB1Shot1Oracle) -> np.ndarray:
    return np.asarray(oracle._rows)


@pytest.mark.parametrize("number", [1, 2])
def test_lookups_use_the_mean_of_three_repeats_and_the_spaces_own_optimum(fixture_oracle, number):
    directory, truth, summaries, _ = fixture_oracle
    space = NB1Shot1Space(number)
    oracle = NB1Shot1Oracle.open(directory, space)
    rows = _all_rows(oracle)
    assert rows.min() >= 0 and oracle.cells == len(np.unique(rows)) == summaries[number - 1].cells
    test = np.asarray(oracle.nb101.test, dtype=np.float64)[np.unique(rows)]
    best_mean = 100 * test.mean(axis=1).max()
    assert oracle.optimum("test", "mean") == pytest.approx(best_mean, abs=1e-12)
    assert oracle.optimum("test", "best-repeat") == pytest.approx(100 * test.max(), abs=1e-12)
    assert oracle.optimum("test", "gaea-constant") == 100 * (1 - SPACES[number].reference_test_min_error)
    rng = np.random.default_rng(number)
    for index in rng.integers(0, space.size, 25).tolist():
        spec_hash = space.spec(space.selection_at(index)).spec_hash()
        runs = truth[spec_hash]
        found = {(lk.split, lk.stat): lk for lk in oracle.lookups(index)}
        assert len(found) == 6 and {lk.budget for lk in found.values()} == {"e108"}
        mean_test = 100 * np.mean(np.float32([r.test for r in runs]), dtype=np.float64)
        assert found["test", "mean"].value == pytest.approx(mean_test, abs=1e-9)
        assert found["valid", "best-repeat"].value == pytest.approx(100 * max(r.valid for r in runs), abs=1e-5)
        for lk in found.values():
            assert lk.regret == lk.optimum - lk.value
            if lk.stat != "gaea-constant":  # fixture numbers may beat the real space's constants
                assert lk.regret >= 0
        assert oracle.cell(index).spec_hash == spec_hash


def test_the_best_cell_has_zero_regret(fixture_oracle):
    directory, *_ = fixture_oracle
    space = NB1Shot1Space(1)
    oracle = NB1Shot1Oracle.open(directory, space)
    means = np.asarray(oracle.nb101.test, dtype=np.float64).mean(axis=1)
    best_index = int(np.argmax(means[_all_rows(oracle)]))
    found = {(lk.split, lk.stat): lk for lk in oracle.lookups(best_index)}
    assert found["test", "mean"].regret == 0.0


def test_import_summary_compares_recomputed_minima_with_the_references(fixture_oracle):
    _, _, summaries, lines = fixture_oracle
    assert "skipped:" in lines[0] and "at 12 epochs" in lines[0]
    first = summaries[0]
    assert (first.number, first.selections, first.cells, first.missing) == (1, 14580, 2685, 0)
    assert "min test error" in str(first) and "reference 0.05448716878890991" in str(first)


def test_spaces_without_their_cells_are_refused(fixture_oracle):
    directory, *_ = fixture_oracle
    with pytest.raises(OracleError, match="no enumeration of space 3"):
        NB1Shot1Oracle.open(directory, NB1Shot1Space(3))


def test_cli_import_builds_every_space_and_reports_bad_files(tmp_path, monkeypatch, capsys):
    """`harness data import nb101 FILE --spaces 1,2`: the table, then the spaces (only space 1's cells exist).

    (Space 3's enumeration, 1.3 million selections, is left out to keep the suite fast.)"""
    source = tmp_path / "nasbench_only108.tfrecord"
    space_records(source, (1,), seed=1)
    monkeypatch.setattr(sys, "argv", ["harness", "data", "import", "nb101", str(source), "--oracle-dir",
                                      str(tmp_path), "--spaces", "1,2"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "2685 cells x 3 repeats" in out and "space 1: 14580 selections -> 2685 cells" in out
    assert "space 2: 7773 of 7773 cells are missing" in out
    NB1Shot1Oracle.open(tmp_path, NB1Shot1Space(1))
    with pytest.raises(OracleError, match="space 2 lacks 7773 of its 7773 cells"):
        NB1Shot1Oracle.open(tmp_path, NB1Shot1Space(2))
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(err) == 1
    assert err[0].startswith("error:") and "at byte" in err[0] and "truncated" in err[0]


def test_enumeration_built_from_another_import_is_refused(fixture_oracle, tmp_path):
    directory, *_ = fixture_oracle
    (tmp_path / "nb1shot1.oracle").write_bytes(NB1Shot1Oracle.default_path(directory).read_bytes())
    space_records(tmp_path / "other.tfrecord", (1,), seed=2)
    import_nb101(tmp_path / "other.tfrecord", NB101Table.default_path(tmp_path))
    with pytest.raises(OracleError, match="another NAS-Bench-101 import"):
        NB1Shot1Oracle.open(tmp_path, NB1Shot1Space(1))


def test_bad_queries(fixture_oracle):
    directory, *_ = fixture_oracle
    oracle = NB1Shot1Oracle.open(directory, NB1Shot1Space(1))
    with pytest.raises(OracleError, match="e108 budget only"):
        oracle.lookups(0, budget="hp200")
    with pytest.raises(OracleError, match="not a selection index"):
        oracle.lookups(14580)
    with pytest.raises(OracleError, match="CIFAR-10 ground truth only"):
        oracle.search_metrics("cifar100")
    assert oracle.search_metrics("cifar10") == (("cifar10", "test"), ("cifar10", "valid"))


@pytest.mark.parametrize("method", [name for name, entry in registry().items()
                                    if entry.needs_supernet and "nb1shot1" not in entry.refusals])
def test_method_runs_on_nb1shot1(method, fixture_oracle, tmp_path):
    directory, *_ = fixture_oracle
    outcome, epochs = run_tiny(method, tmp_path, benchmark="nb1shot1", oracle_dir=directory, **FAST.get(method, {}))
    assert outcome.status == "finished", outcome.error
    assert epochs["epoch"].tolist() == [0, 1, 2]
    last = epochs.iloc[-1]
    assert last["arch"].startswith("ss1:ops=") and "hash=" in last["arch"]
    assert math.isfinite(last["regret_test"]) and last["regret_test"] >= 0
    assert math.isfinite(last["regret_valid"]) and last["regret_valid"] >= 0
    assert math.isfinite(last["entropy_ops"]) and math.isfinite(last["entropy_edges"])
    assert last["train_loss"] > 0


def test_search_space_option_selects_the_space(fixture_oracle, tmp_path):
    directory, *_ = fixture_oracle
    outcome, epochs = run_tiny("gaea-pc-darts", tmp_path, benchmark="nb1shot1", oracle_dir=directory,
                               search_space=2, epochs=1)
    assert outcome.status == "finished", outcome.error
    assert pd.isna(epochs.iloc[0]["arch"])  # GAEA's uniform start derives no cell yet
    assert epochs.iloc[1:]["arch"].str.startswith("ss2:").all()
    # GAEA's uniform init: ln 3 per choice block at epoch 0 (spec 6.7)
    assert epochs.iloc[0]["entropy_ops"] == pytest.approx(math.log(3), abs=1e-6)


def test_space_option_expands_one_run_per_space_and_rejects_bad_values(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    cli = CliRunner()
    base = ["run", "--methods", "pc-darts", "--benchmark", "nb1shot1", "--store", str(tmp_path / "r.db"),
            "--dry-run", "--no-progress"]
    listed = cli.invoke(app, [*base, "--space", "1,3"])
    assert listed.exit_code == 0, listed.output
    assert "2 runs requested" in listed.output
    everything = cli.invoke(app, [*base, "--space", "all", "--seeds", "2"])
    assert "6 runs requested" in everything.output
    for bad, message in ((["--space", "4"], "has spaces 1, 2 and 3"),
                         (["--space", "1", "--set", "search_space=2"], "conflict")):
        result = cli.invoke(app, [*base, *bad])
        assert result.exit_code != 0 and message in str(result.exception) + result.output
    wrong_bench = cli.invoke(app, ["run", "--methods", "darts", "--space", "1", "--dry-run",
                                   "--store", str(tmp_path / "r.db")])
    assert "applies to --benchmark nb1shot1 only" in str(wrong_bench.exception) + wrong_bench.output


def test_all_means_every_method_that_runs_there_and_a_named_black_box_method_is_refused(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    cli = CliRunner()
    base = ["run", "--benchmark", "nb1shot1", "--store", str(tmp_path / "r.db"), "--dry-run", "--no-progress"]
    listed = cli.invoke(app, [*base, "--methods", "all"])
    runnable = sum(e.needs_supernet and "nb1shot1" not in e.refusals for e in registry().values())
    assert listed.exit_code == 0 and f"{runnable} runs requested" in listed.output, listed.output
    refused = cli.invoke(app, [*base, "--methods", "darts,rea"])
    assert refused.exit_code != 0
    assert "rea is a black-box baseline" in str(refused.exception) + refused.output
    # a method whose entry refuses the benchmark: named, it is an error with the entry's reason
    no_skip = cli.invoke(app, [*base, "--methods", "darts,darts-minus"])
    assert no_skip.exit_code != 0
    assert "darts-minus cannot search nb1shot1: its choice blocks have no skip_connect option" in (
        str(no_skip.exception) + no_skip.output)

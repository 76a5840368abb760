"""Every supernet method searches the DARTS space against a NAS-Bench-301 surrogate: one epoch of a 4-channel,
5-cell supernet over 32 images of the tiny synthetic CIFAR-10 (the per-method smoke test), and the CLI end to end.

The surrogate is the stand-in of ``tests.nb301_fixtures`` (the real one's interface, meaningless numbers), so the
test runs in any clone; ``tests/test_nb301.py`` checks the real surrogate's predictions."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from benchmarks.darts.genotype import Genotype
from benchmarks.nb301.oracle import import_nb301
from harness.cli import app
from methods.registry import registry
from nasbench_errors import ConfigError
from results.store import Store
from tests.dataset_fixtures import tiny_cifar10_root
from tests.nb301_fixtures import write_surrogate
from tests.smoke import FAST, run_tiny

TINY = {"C": 4, "N": 1, "epochs": 1, "train_limit": 32, "batch_size": 16, "eval_limit": 16}
SUPERNET_METHODS = [name for name, entry in registry().items() if entry.needs_supernet]
#: the methods with a distribution over a node's inputs: learned per-node edge weights (edge normalization) or
#: ENAS's controller, which samples each node's inputs; every other method sums a node's inputs
INPUT_DISTRIBUTION = {"pc-darts", "gaea-pc-darts", "enas"}


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("nb301-oracles")
    import_nb301(write_surrogate(tmp_path_factory.mktemp("surrogate")), directory, {"budget": 500})
    return directory


@pytest.mark.parametrize("method", SUPERNET_METHODS)
def test_method_runs_on_nb301(method, oracle_dir, tmp_path):
    one_step = {"arch_every": 1} if method == "darts-prime-cs10" else {}  # the tiny run takes one weight step
    outcome, epochs = run_tiny(method, tmp_path, benchmark="nb301", oracle_dir=oracle_dir,
                               **{**TINY, **FAST.get(method, {}), **one_step})
    assert outcome.status == "finished", outcome.error
    assert epochs["epoch"].tolist() == [0, 1]
    last = epochs.iloc[-1]
    genotype = Genotype.from_string(last["arch"])
    assert int(last["arch_key"]) == genotype.index
    assert 80 < last["valid_acc"] < 100 and math.isfinite(last["regret_valid"])  # a prediction, in %
    assert last["test_acc"] is None or math.isnan(last["test_acc"])  # the surrogate has no test accuracy
    assert math.isfinite(last["entropy_ops"])
    extra = last["extra"]
    assert last["n_skip"] == extra["n_skip_normal"] == genotype.count("skip_connect", "normal")
    assert extra["n_skip_reduce"] == genotype.count("skip_connect", "reduce")
    assert {"entropy_normal", "entropy_reduce"} <= set(extra)
    input_entropies = {"entropy_normal_inputs", "entropy_reduce_inputs"}
    if method in INPUT_DISTRIBUTION:
        assert math.isfinite(last["entropy_edges"]) and input_entropies <= set(extra)
    else:  # nothing weights or chooses the inputs: no edge distribution to report
        assert last["entropy_edges"] is None or math.isnan(last["entropy_edges"])
        assert not input_entropies & set(extra)
    assert last["entropy_ops"] == pytest.approx(extra["entropy_normal"])  # the headline is the normal cell
    assert last["train_loss"] > 0


@pytest.mark.parametrize("method", [n for n, e in registry().items() if not e.needs_supernet])
def test_black_box_methods_are_refused_with_a_reason(method, oracle_dir, tmp_path):
    with pytest.raises(ConfigError):
        run_tiny(method, tmp_path, benchmark="nb301", oracle_dir=oracle_dir)


def test_cli_searches_nb301_end_to_end(oracle_dir, tmp_path):
    store = tmp_path / "r.db"
    args = ["run", "--methods", "pc-darts,gaea-pc-darts", "--benchmark", "nb301", "--dataset", "cifar10",
            "--seeds", "1", "--profile", "quick", "--data-root", str(tiny_cifar10_root()),
            "--oracle-dir", str(oracle_dir), "--store", str(store), "--no-progress",
            *(a for k, v in TINY.items() if k not in ("C", "N") for a in ("--set", f"{k}={v}"))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    epochs = Store(store).epochs_df()
    assert sorted(epochs["method"].unique()) == ["gaea-pc-darts", "pc-darts"] and len(epochs) == 4
    derived = epochs.dropna(subset=["arch"])  # GAEA PC-DARTS's uniform start derives no cell at epoch 0
    assert len(derived) == 3 and derived["arch"].str.startswith("Genotype(normal=").all()
    assert derived["valid_acc"].between(80, 100).all()
    # GAEA PC-DARTS starts uniform: ln 8 per normal edge
    first = epochs[(epochs["method"] == "gaea-pc-darts") & (epochs["epoch"] == 0)].iloc[0]
    assert first["entropy_ops"] == pytest.approx(math.log(8), abs=1e-6)

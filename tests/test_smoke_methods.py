"""Every registered method runs end to end on a tiny supernet, or on the tables alone for the black-box
baselines (the per-method smoke test)."""

import math

import pandas as pd
import pytest

from methods.registry import registry
from nasbench_errors import ConfigError
from tests.smoke import FAST, run_tiny


@pytest.mark.parametrize("method", list(registry()))
def test_method_runs_end_to_end(method, tmp_path):
    outcome, epochs = run_tiny(method, tmp_path, **FAST.get(method, {}))
    assert outcome.status == "finished", outcome.error
    assert epochs["epoch"].tolist() == [0, 1, 2]
    last = epochs.iloc[-1]
    assert isinstance(last["arch"], str) and last["arch"].startswith("|")
    assert math.isfinite(last["regret_test"]) and last["regret_test"] >= 0
    assert math.isfinite(last["entropy_ops"])
    if registry()[method].needs_supernet:
        assert last["train_loss"] > 0
    else:  # a black-box search trains nothing: its rows count evaluations and simulated seconds
        assert pd.isna(last["train_loss"]) and last["extra"]["evaluations"] > 0
        assert last["seconds_total"] == last["extra"]["simulated_seconds"] > 0


def test_bf16_autocast_runs_end_to_end_and_channels_last_is_refused_on_the_cpu(tmp_path):
    _, plain = run_tiny("darts", tmp_path / "plain")
    outcome, bf16 = run_tiny("darts", tmp_path / "bf16", bf16=True)
    assert outcome.status == "finished", outcome.error
    trained_bf16, trained = bf16["train_loss"].tolist()[1:], plain["train_loss"].tolist()[1:]  # row 0: before training
    assert trained_bf16 == pytest.approx(trained, rel=0.05)
    assert trained_bf16 != trained  # autocast really ran in bfloat16
    with pytest.raises(ConfigError, match="bf16=yes is not a boolean"):
        run_tiny("darts", tmp_path / "bad", bf16="yes")
    with pytest.raises(ConfigError, match="channels_last=true is a GPU setting"):
        run_tiny("darts", tmp_path / "cpu", channels_last=True)

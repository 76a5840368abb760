"""Every registered method runs end to end on a tiny supernet, or on the tables alone for the black-box
baselines (the per-method smoke test)."""

import math

import pandas as pd
import pytest

from methods.registry import registry
from tests.smoke import run_tiny


@pytest.mark.parametrize("method", list(registry()))
def test_method_runs_end_to_end(method, tmp_path):
    outcome, epochs = run_tiny(method, tmp_path)
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

"""Every registered method runs end to end on a tiny supernet (the per-method smoke test)."""

import math

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
    assert math.isfinite(last["entropy_ops"]) and last["train_loss"] > 0

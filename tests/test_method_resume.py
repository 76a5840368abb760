"""Methods that keep state beyond their architecture parameters resume exactly: GSparsity's Prox-SGD velocities
and scores, OLES's frozen operations and open window, SDARTS-RS's noise generator (CPU, one thread)."""

from __future__ import annotations

import pandas as pd
import pytest

import harness.runner
from harness.executors import InProcessExecutor, run_grid
from results.store import Store
from tests.grid_helpers import epochs_of, tiny_spec, tiny_task
from tests.smoke import nb201_oracle_dir


class _Death(BaseException):
    """Stands for the process dying: nothing in the runner catches it."""


@pytest.mark.parametrize("method,overrides", [("gsparsity", {}), ("oles", {"oles_window": 3, "oles_threshold": 0.9}),
                                              ("sdarts-rs", {})])
def test_a_run_killed_before_its_second_checkpoint_resumes_to_the_uninterrupted_rows(method, overrides, tmp_path,
                                                                                     monkeypatch):
    oracle_dir = nb201_oracle_dir(tmp_path / "oracles")
    spec = tiny_spec(method, 0, epochs=3, **overrides)
    ref = tmp_path / "ref.db"
    run_grid([tiny_task(spec, ref, oracle_dir, tmp_path / "ref-ckpt")], InProcessExecutor(), Store(ref))
    expected = epochs_of(ref, spec.run_id)
    real_save = harness.runner.save_checkpoint

    def dies_at_epoch_2(path, state):
        if state["epoch"] == 2:
            raise _Death
        real_save(path, state)

    store, ckpt = tmp_path / "s.db", tmp_path / "ckpt"
    monkeypatch.setattr(harness.runner, "save_checkpoint", dies_at_epoch_2)
    with pytest.raises(_Death):
        run_grid([tiny_task(spec, store, oracle_dir, ckpt)], InProcessExecutor(), Store(store))
    monkeypatch.setattr(harness.runner, "save_checkpoint", real_save)
    outcome = run_grid([tiny_task(spec, store, oracle_dir, ckpt)], InProcessExecutor(), Store(store))
    assert [o.status for o in outcome] == ["finished"]
    pd.testing.assert_frame_equal(epochs_of(store, spec.run_id), expected)
    if method == "oles":
        assert expected["extra"].iloc[-1]["oles_frozen"] > 0  # the resumed state included frozen operations

"""GAEA's NAS-Bench-201 claims computed from a store: hand-built trajectories with known verdicts."""

from __future__ import annotations

import json
import math

import pytest

from results.reports.claims import ACC_DROP, ENTROPY_GAP, nb201_claims, parameter_free_ops
from results.store import Store

EDGES = ("|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|")


def _arch(*ops: str) -> str:
    return EDGES.format(*ops)


CONV = _arch(*["nor_conv_3x3"] * 6)
HALF = _arch("skip_connect", "avg_pool_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
SKIP = _arch(*["skip_connect"] * 6)


def test_parameter_free_ops_counts_skip_pool_and_none():
    assert parameter_free_ops(CONV) == 0 and parameter_free_ops(HALF) == 3 and parameter_free_ops(SKIP) == 6
    assert parameter_free_ops(_arch("none", "none", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "none")) == 5


def _fill(store: Store, method: str, seed: int, rows: list[tuple[str | None, float | None, float]],
          setting: str = "bilevel") -> None:
    run_id = f"{method}-{setting}-{seed}"
    store.upsert_run({"run_id": run_id, "method": method, "benchmark": "nb201", "dataset": "cifar10",
                      "setting": setting, "seed": seed, "profile": "repro",
                      "config": json.dumps({"exclude_none": True, "epochs": len(rows) - 1}), "config_hash": "h",
                      "status": "finished", "epochs_planned": len(rows) - 1, "versions": "{}", "host": "h",
                      "device": "cpu"})
    for epoch, (arch, acc, entropy) in enumerate(rows):
        store.write_epoch(run_id, epoch, {"arch": arch, "test_acc": acc, "entropy_ops": entropy})


def test_claims_per_seed_with_hand_computed_verdicts(tmp_path):
    store = Store(tmp_path / "r.db")
    ln4 = math.log(4)
    # seed 0: DARTS drifts conv -> all skip (93.0 best, 54.3 last); GAEA holds 93.5 and its entropy falls to 0.2
    _fill(store, "darts", 0, [(CONV, 92.0, ln4), (HALF, 93.0, 1.35), (SKIP, 54.3, 1.30)])
    _fill(store, "gaea-darts", 0, [(None, None, ln4), (CONV, 93.0, 0.9), (CONV, 93.5, 0.2)])
    # seed 1: DARTS ends better than it started (no drift); GAEA loses 2 points (does not hold); entropy gap
    # 0.10 < 0.1 ln 4 = 0.139 (not clearly below)
    _fill(store, "darts", 1, [(HALF, 80.0, ln4), (CONV, 93.0, 1.2), (CONV, 93.0, 1.1)])
    _fill(store, "gaea-darts", 1, [(None, None, ln4), (CONV, 94.0, 1.1), (HALF, 92.0, 1.0)])
    # seed 2: drift in ops but the accuracy loss is only 0.5 point: no drift by the rule
    _fill(store, "darts", 2, [(CONV, 92.0, ln4), (HALF, 91.5, 1.3)])
    _fill(store, "gaea-darts", 2, [(None, None, ln4), (CONV, 93.0, 0.5)])
    claims = {c.key: c for c in nb201_claims(store.runs_df(), store.epochs_df(with_runs=False))}
    assert set(claims) == {"drift", "holds", "entropy"}
    assert [r.holds for r in claims["drift"].seeds] == [True, False, False]
    assert claims["drift"].seeds[0].values == {"first_free": 0, "last_free": 6, "first_acc": 92.0, "best_acc": 93.0,
                                               "last_acc": 54.3}
    assert [r.holds for r in claims["holds"].seeds] == [True, False, True]
    assert [r.holds for r in claims["entropy"].seeds] == [True, False, True]
    assert claims["entropy"].seeds[1].values["gap"] == pytest.approx(0.1)
    assert ENTROPY_GAP * ln4 > 0.1 and ACC_DROP == 1.0
    assert not claims["drift"].holds and claims["holds"].holds and claims["entropy"].holds
    assert claims["drift"].verdict == "does not hold (1 of 3 seeds)"
    assert claims["holds"].verdict == "holds (2 of 3 seeds)"


def test_claims_need_both_methods_with_the_same_seed(tmp_path):
    store = Store(tmp_path / "r.db")
    _fill(store, "darts", 0, [(CONV, 92.0, 1.3), (SKIP, 54.3, 1.3)])
    _fill(store, "gaea-darts", 1, [(None, None, 1.3), (CONV, 93.0, 0.5)])
    assert nb201_claims(store.runs_df(), store.epochs_df(with_runs=False)) == []

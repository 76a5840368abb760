"""A results store as the first release wrote it (schema version 1), built with that release's DDL.

The SQL below is what SQLAlchemy emitted for the schema-1 tables (``results/store.py`` before provenance was
recorded), kept here verbatim so the tests do not depend on git history.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA1_DDL = """
CREATE TABLE meta (
    "key" VARCHAR(64) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY ("key")
);
CREATE TABLE runs (
    run_id VARCHAR(32) NOT NULL,
    method VARCHAR(64) NOT NULL,
    benchmark VARCHAR(32) NOT NULL,
    dataset VARCHAR(32) NOT NULL,
    setting VARCHAR(16) NOT NULL,
    seed INTEGER NOT NULL,
    profile VARCHAR(32) NOT NULL,
    config TEXT NOT NULL,
    config_hash VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    error TEXT,
    epochs_planned INTEGER NOT NULL,
    epochs_done INTEGER NOT NULL,
    search_seconds FLOAT NOT NULL,
    versions TEXT,
    host VARCHAR(255),
    device VARCHAR(255),
    created_at VARCHAR(32) NOT NULL,
    updated_at VARCHAR(32) NOT NULL,
    PRIMARY KEY (run_id)
);
CREATE TABLE epochs (
    run_id VARCHAR(32) NOT NULL,
    epoch INTEGER NOT NULL,
    arch TEXT, arch_key TEXT, n_skip INTEGER, oracle_budget TEXT,
    test_acc FLOAT, valid_acc FLOAT, regret_test FLOAT, regret_valid FLOAT,
    entropy_ops FLOAT, entropy_ops_norm FLOAT, entropy_edges FLOAT,
    train_loss FLOAT, train_acc FLOAT, supernet_valid_loss FLOAT, supernet_valid_acc FLOAT,
    supernet_valid_acc_discrete FLOAT, lr_w FLOAT, weight_steps INTEGER, arch_steps INTEGER,
    seconds_arch FLOAT, seconds_weights FLOAT, seconds_eval FLOAT, seconds_epoch FLOAT, seconds_total FLOAT,
    arch_params TEXT, extra TEXT,
    written_at VARCHAR(32) NOT NULL,
    PRIMARY KEY (run_id, epoch),
    FOREIGN KEY(run_id) REFERENCES runs (run_id)
);
CREATE TABLE lookups (
    run_id VARCHAR(32) NOT NULL,
    epoch INTEGER NOT NULL,
    dataset VARCHAR(32) NOT NULL,
    split VARCHAR(16) NOT NULL,
    budget VARCHAR(16) NOT NULL,
    stat VARCHAR(16) NOT NULL,
    value FLOAT, optimum FLOAT, regret FLOAT,
    PRIMARY KEY (run_id, epoch, dataset, split, budget, stat),
    FOREIGN KEY(run_id) REFERENCES runs (run_id)
);
INSERT INTO meta VALUES ('schema_version', '1');
"""

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def old_run(run_id: str, config: dict[str, Any], config_hash: str, *, method: str = "darts", seed: int = 0,
            status: str = "finished", epochs: int = 2) -> dict[str, Any]:
    """A schema-1 ``runs`` row (NB201, CIFAR-10, quick profile)."""
    return {"run_id": run_id, "method": method, "benchmark": "nb201", "dataset": "cifar10", "setting": "bilevel",
            "seed": seed, "profile": "quick", "config": json.dumps(config, sort_keys=True),
            "config_hash": config_hash, "status": status, "error": None if status == "finished" else "NaN loss",
            "epochs_planned": epochs, "epochs_done": epochs, "search_seconds": 12.5,
            "versions": json.dumps({"harness": "0.1.0", "torch": "2.13.0"}), "host": "old-host",
            "device": "cpu (x86_64, 1 threads)", "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:10:00+00:00"}


def write_schema1_store(path: Path, runs: list[dict[str, Any]]) -> None:
    """A schema-1 SQLite store holding ``runs``, each with epochs 0..epochs_done and one lookup per epoch."""
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA1_DDL)
        for run in runs:
            conn.execute(f"INSERT INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})",
                         list(run.values()))
            for epoch in range(run["epochs_done"] + 1):
                acc = 90.0 + epoch
                conn.execute("INSERT INTO epochs (run_id, epoch, arch, arch_key, n_skip, oracle_budget, test_acc, "
                             "regret_test, entropy_ops, seconds_total, arch_params, extra, written_at) "
                             "VALUES (?, ?, ?, '1', 1, 'hp200', ?, ?, 1.3, ?, '{}', '{}', '2026-01-01T00:05:00')",
                             (run["run_id"], epoch, ARCH, acc, 94.37 - acc, 5.0 * epoch))
                conn.execute("INSERT INTO lookups VALUES (?, ?, 'cifar10', 'test', 'hp200', 'mean', ?, 94.37, ?)",
                             (run["run_id"], epoch, acc, 94.37 - acc))
    conn.close()

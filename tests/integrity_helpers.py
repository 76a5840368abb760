"""Functions that Dask workers import in tests/test_integrity.py (workers unpickle functions by module name)."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

from harness.executors import RunTask, run_task
from harness.runner import RunOutcome

#: what the first try writes into the finished run's rows: a recomputed task must leave it there
KEPT = "kept by the first try"


def finish_then_die(task: RunTask, store: str, marker: str) -> RunOutcome:
    """The first try runs the task to the end, marks the run's stored rows and kills its own worker before
    the result reaches the scheduler, which then recomputes the task on a worker."""
    outcome = run_task(task)
    if not os.path.exists(marker):
        Path(marker).write_text(f"{outcome.status} in pid {os.getpid()}")
        with sqlite3.connect(store) as conn:
            conn.execute("UPDATE epochs SET written_at = ? WHERE run_id = ?", (KEPT, task.spec.run_id))
        os.kill(os.getpid(), signal.SIGKILL)
    return outcome

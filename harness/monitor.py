"""Progress of parallel runs, read from the store: one bar per run (epochs done of planned).

Workers (local processes, Dask or Ray, on any node) already write every epoch to the store, so the
display polls it instead of receiving events from them: nothing to wire through an executor, and a
worker that dies cannot leave the display waiting; its bar simply stops.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class StoreProgress:
    """A rich display of the runs in flight; ``refresh`` is called by the grid loop about once a second."""

    def __init__(self, console: Console | None = None, interval: float = 1.0) -> None:
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("epochs"), TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                                 console=console or Console(stderr=True))
        self.bars: dict[str, int] = {}
        self.interval, self.last = interval, 0.0

    def __enter__(self) -> StoreProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def due(self) -> bool:
        """Whether a poll of the store is due (at most one per ``interval``)."""
        if time.monotonic() - self.last < self.interval:
            return False
        self.last = time.monotonic()
        return True

    def refresh(self, progress: Mapping[str, tuple[str, int, int]], labels: Mapping[str, str]) -> None:
        """Show a bar for every run that has started; ``progress``: run id -> (status, done, planned)."""
        for run_id, (status, done, planned) in progress.items():
            if run_id not in self.bars:
                if status != "running":
                    continue
                self.bars[run_id] = self.progress.add_task(labels[run_id], total=planned, info="")
            self.progress.update(self.bars[run_id], completed=done, total=planned, info=status)

    def message(self, text: str) -> None:
        self.progress.console.print(text)
